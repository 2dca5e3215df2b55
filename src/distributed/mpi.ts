/**
 * MPI through the FFI (issue 19): the library found at run time, the few calls data-parallel
 * training needs (all-reduce, all-gather, broadcast, barrier), and the watch that turns a
 * vanished rank into a `BackendError` instead of a hang.
 *
 * There is no build-time MPI: `libmpi` is opened with koffi (`link/c/ffi.ts`) the first time the
 * user asks for distribution, RTLD_GLOBAL because Open MPI's own plug-ins resolve its symbols.
 * Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_ERRORS_RETURN) are not integer
 * constants but the addresses of global objects (`ompi_mpi_comm_world`, ...), found with
 * `dlsym`; every handle is passed as an `intptr_t`. MPICH's integer handles are not wired yet:
 * an MPICH library is refused with a message that says so.
 *
 * Hangs. A blocking MPI collective whose peer has died waits forever (Open MPI without ULFM
 * reports nothing), and a JS timer cannot fire while the main thread sits in C. So every
 * collective here is non-blocking (MPI_Iallreduce, ...) completed by a loop of MPI_Test — what
 * MPI_Wait does inside, so progress is the same — that also watches three things:
 *   1. notices: every rank, when its process exits, sends each peer how many collectives it
 *      entered; a rank waiting in a later one knows that peer will never come;
 *   2. peer processes on this host (their pids are exchanged at init) that are gone (killed);
 *   3. a deadline (`init({ timeoutS })`) for the rest (a rank stuck, or dead on another host).
 * Any of them raises a `BackendError` naming the rank, and the communicator is then marked
 * broken: later collectives raise the same error at once, and the exit skips MPI_Finalize (which
 * would wait for the dead rank), so `mpirun` ends the job.
 *
 * The C backend runs the same loop inside a generated module (link/c/ops/distributed.ts): the
 * watch's state (collective count, peers, exit notices, deadline, the agreement table, the last
 * failure) lives in one Float64Array, `state`, that both sides read and write, and the C side
 * reports a failure as a code that `cFailure` turns into the error this file raises.
 */

import { accessSync, constants as fsConstants, writeSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { inspect } from "node:util";
import { BackendError, ShapeError } from "../errors.js";
import { type NativeFunction, openLibrary } from "../link/c/ffi.js";
import type { DType, TypedArray } from "../ndarray/dtype.js";

/** The reductions of `allReduce` that MPI performs (mean is a sum divided by the size). */
export type MpiReduction = "sum" | "max" | "min";

export interface InitOptions {
  /** A path or soname to open instead of searching `libmpi.so.40`, `libmpi.so.12`, `libmpi.so`. */
  readonly library?: string;
  /** Seconds a collective may wait for the other ranks before it raises (default 300). */
  readonly timeoutS?: number;
}

/** The library searched, in order, when `init` is given none. */
export const MPI_LIBRARIES = ["libmpi.so.40", "libmpi.so.12", "libmpi.so"] as const;
const INSTALL = "install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), or pass init({ library: \"/path/to/libmpi.so\" })";

const THREAD_LEVELS = ["MPI_THREAD_SINGLE", "MPI_THREAD_FUNNELED", "MPI_THREAD_SERIALIZED", "MPI_THREAD_MULTIPLE"] as const;
const MPI_THREAD_FUNNELED = 1;
/** Open MPI's MPI_IN_PLACE, `((void *) 1)` in its mpi.h. */
const MPI_IN_PLACE = 1;
/** The point-to-point tag of exit notices (collectives never match point-to-point messages). */
export const NOTICE_TAG = 0x7eed;
/** Open MPI's MPI_Status: MPI_SOURCE, MPI_TAG, MPI_ERROR, _cancelled (ints), _ucount (size_t). */
const STATUS_BYTES = 32;
/** MPI counts are C ints: larger buffers move in pieces of this many elements. */
export const MAX_COUNT = 2 ** 30;

/**
 * The layout of `MpiWorld.state` (doubles), shared with the C side: the counters and the last
 * failure, then per rank `PEER_FIELDS` values (pid, same host 0/1, collectives entered when its
 * exit notice came or -1, its exit code), then the agreement table (2 per rank).
 */
export const STATE = { collectives: 0, timeoutS: 1, rank: 2, size: 3, broken: 4, failKind: 5, failDetail: 6, failAt: 7, failInAgreement: 8, peers: 9 } as const;
export const PEER_FIELDS = 4;
/** Where the agreement table of a world of `size` ranks starts in `state`. */
export const agreementBase = (size: number): number => STATE.peers + PEER_FIELDS * size;

/** Why a collective failed (`state[STATE.failKind]`; the detail is the MPI code or the rank). */
export const FAIL = { mpiError: 1, departed: 2, gone: 3, timeout: 4, broken: 5, disagree: 6 } as const;

/**
 * The C side's table (`MpiWorld.cTable`): these functions' addresses, then the handles of
 * MPI_COMM_WORLD, MPI_DOUBLE and MPI_IN_PLACE, the reductions (`MpiReduction` order) and the
 * datatypes (`DTYPE_ORDER`).
 */
export const C_FUNCTIONS = ["MPI_Iallreduce", "MPI_Iallgather", "MPI_Test", "MPI_Iprobe", "MPI_Recv"] as const;
export const REDUCTIONS: readonly MpiReduction[] = ["sum", "max", "min"];

const OMPI_DTYPES: Readonly<Record<DType, string>> = {
  bool: "ompi_mpi_uint8_t",
  int8: "ompi_mpi_int8_t",
  int16: "ompi_mpi_int16_t",
  int32: "ompi_mpi_int32_t",
  int64: "ompi_mpi_int64_t",
  uint8: "ompi_mpi_uint8_t",
  uint16: "ompi_mpi_uint16_t",
  uint32: "ompi_mpi_uint32_t",
  uint64: "ompi_mpi_uint64_t",
  float32: "ompi_mpi_float",
  float64: "ompi_mpi_double",
};
export const DTYPE_ORDER = Object.keys(OMPI_DTYPES) as readonly DType[];

/** One initialised MPI world: the process's ranks, its library, and its collectives. */
export class MpiWorld {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  /** What MPI_Get_library_version says (first line). */
  readonly version: string;
  /** The thread level MPI granted (MPI_THREAD_FUNNELED asked). */
  readonly threadLevel: string;
  /** Set once a collective failed: every later one raises this. */
  broken: BackendError | null = null;
  private finalized = false;
  /** The watch's state, shared with generated C (layout: STATE); its memory never moves. */
  readonly state: Float64Array;
  private readonly timeoutMs: number;
  private readonly sym: (name: string) => number;
  private readonly fn: Record<string, NativeFunction>;
  private readonly h: { comm: number; double: number; ops: Record<MpiReduction, number>; dtypes: Record<DType, number> };

  private constructor(
    readonly library: string,
    fn: Record<string, NativeFunction>,
    sym: (name: string) => number,
    timeoutS: number,
  ) {
    this.fn = fn;
    this.sym = sym;
    this.timeoutMs = timeoutS * 1000;
    const dtypes = {} as Record<DType, number>;
    for (const [d, name] of Object.entries(OMPI_DTYPES)) dtypes[d as DType] = sym(name);
    this.h = {
      comm: sym("ompi_mpi_comm_world"),
      double: sym("ompi_mpi_double"),
      ops: { sum: sym("ompi_mpi_op_sum"), max: sym("ompi_mpi_op_max"), min: sym("ompi_mpi_op_min") },
      dtypes,
    };
    const provided = new Int32Array(1);
    this.check(fn.MPI_Init_thread!(null, null, MPI_THREAD_FUNNELED, provided), "MPI_Init_thread");
    this.threadLevel = THREAD_LEVELS[provided[0]!] ?? `thread level ${provided[0]}`;
    // Errors come back as codes (turned into BackendErrors) instead of aborting the job.
    this.check(fn.MPI_Comm_set_errhandler!(this.h.comm, sym("ompi_mpi_errors_return")), "MPI_Comm_set_errhandler");
    const out = new Int32Array(1);
    this.check(fn.MPI_Comm_rank!(this.h.comm, out), "MPI_Comm_rank");
    this.rank = out[0]!;
    this.check(fn.MPI_Comm_size!(this.h.comm, out), "MPI_Comm_size");
    this.size = out[0]!;
    // (at least 9 doubles: more than the 64 bytes V8 keeps on its heap, so the memory is fixed)
    this.state = new Float64Array(agreementBase(this.size) + 2 * this.size);
    this.state[STATE.timeoutS] = timeoutS;
    this.state[STATE.rank] = this.rank;
    this.state[STATE.size] = this.size;
    // no exit notice yet; pids and hosts come from the first exchange below
    for (let r = 0; r < this.size; r++) this.state[STATE.peers + PEER_FIELDS * r + 2] = -1;
    const vbuf = Buffer.alloc(8192);
    fn.MPI_Get_library_version!(vbuf, out);
    this.version = vbuf.toString("utf8", 0, Math.max(0, Math.min(out[0]!, vbuf.length))).split("\n")[0]!.replace(/\0.*$/s, "").trim();
    // Who runs where: pids (for the liveness watch) and a hash of the host name (for localRank).
    const mine = new Float64Array([process.pid, hostHash()]);
    const all = new Float64Array(2 * this.size);
    this.collective("init", (req) => fn.MPI_Iallgather!(mine, 2, this.h.double, all, 2, this.h.double, this.h.comm, req), [mine, all]);
    let localRank = 0;
    let localSize = 0;
    for (let r = 0; r < this.size; r++) {
      const sameHost = all[2 * r + 1] === mine[1];
      this.state.set([all[2 * r]!, sameHost ? 1 : 0], STATE.peers + PEER_FIELDS * r);
      if (sameHost) {
        if (r < this.rank) localRank++;
        localSize++;
      }
    }
    this.localRank = localRank;
    this.localSize = localSize;
  }

  /** Opens the library and initialises MPI; `BackendError` naming every path tried when absent. */
  static open(opts: InitOptions = {}): MpiWorld {
    const timeoutS = opts.timeoutS ?? 300;
    if (!(timeoutS > 0)) throw new BackendError(`theano.distributed.init: timeoutS must be a positive number of seconds, got ${timeoutS}`);
    const candidates = opts.library !== undefined ? [opts.library] : [...MPI_LIBRARIES];
    const tried: string[] = [];
    for (const path of candidates) {
      let lib;
      try {
        lib = openLibrary(path, { global: true });
      } catch (e) {
        tried.push(`${path} (${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message})`);
        continue;
      }
      const dlsym = openLibrary("libc.so.6").func("intptr_t dlsym(intptr_t handle, const char *name)");
      const sym = (name: string): number => {
        const a = Number(dlsym(0, name));
        if (!a) throw new BackendError(`the MPI library ${path} has no symbol ${name}: theano.distributed needs Open MPI 4 or later`);
        return a;
      };
      if (!Number(dlsym(0, "ompi_mpi_comm_world"))) {
        throw new BackendError(
          `the MPI library ${path} is not Open MPI (it has no ompi_mpi_comm_world: MPICH or another MPI), and theano.distributed supports Open MPI only for now: install it (apt-get install openmpi-bin libopenmpi-dev) and pass init({ library: "libmpi.so.40" })`,
        );
      }
      const fn: Record<string, NativeFunction> = {};
      for (const proto of PROTOTYPES) fn[/(MPI_\w+)\(/.exec(proto)![1]!] = lib.func(proto);
      // The in-place form: MPI_IN_PLACE, an address constant, as the send buffer.
      fn.MPI_Iallreduce_inplace = lib.func("int MPI_Iallreduce(intptr_t send, void *recv, int count, intptr_t datatype, intptr_t op, intptr_t comm, void *request)");
      return new MpiWorld(path, fn, sym, timeoutS);
    }
    throw new BackendError(`theano.distributed needs an MPI library at run time and none could be opened; searched: ${tried.join("; ")}. To get one, ${INSTALL}.`);
  }

  /**
   * Before a collective moves data, the ranks compare what each is about to do (Horovod's
   * negotiation, in one small all-gather): the operation (`signature`: op, dtype) and the element
   * count. MPI given different counts truncates, hangs or reads past a buffer; given different
   * operations the ranks are running different graphs. Either raises on every rank, naming them.
   */
  private agree(signature: string, count: number, what: string): void {
    if (this.size === 1) return;
    const mine = new Float64Array([count, fnv1a(signature)]);
    const all = this.state.subarray(agreementBase(this.size));
    this.collective(`${what} (agreement)`, (req) => this.fn.MPI_Iallgather!(mine, 2, this.h.double, all, 2, this.h.double, this.h.comm, req), [mine, all]);
    const e = this.disagreement(what);
    if (e) throw e;
  }

  /**
   * The error of the agreement table in `state` (every rank's [count, signature hash]), or
   * null when all agree. Every rank saw the same table and raises, so the world stays usable.
   */
  private disagreement(what: string): Error | null {
    const all = this.state.subarray(agreementBase(this.size));
    const [count, sig] = [all[2 * this.rank]!, all[2 * this.rank + 1]!];
    const ranks = [...Array(this.size).keys()];
    const odd = ranks.filter((r) => all[2 * r + 1] !== sig);
    if (odd.length > 0) {
      return new BackendError(`${what} on rank ${this.rank}: rank${odd.length > 1 ? "s" : ""} ${odd.join(", ")} called a different collective operation at the same point (collective number ${this.collectives}): the ranks run different graphs or call their functions in a different order`);
    }
    if (ranks.some((r) => all[2 * r] !== count)) {
      return new ShapeError(`${what}: the ranks hold different sizes (${ranks.map((r) => `rank ${r}: ${all[2 * r]} elements`).join(", ")}); every rank must give the collective the same shape`);
    }
    return null;
  }

  /** Collectives this rank has entered, in JS and in C (the notices compare these counts). */
  get collectives(): number {
    return this.state[STATE.collectives]!;
  }

  /**
   * The table generated C calls MPI through (`th_set_mpi`): the addresses of C_FUNCTIONS, then
   * the handles of MPI_COMM_WORLD, MPI_DOUBLE, MPI_IN_PLACE, REDUCTIONS and DTYPE_ORDER.
   */
  cTable(): BigInt64Array {
    const h = this.h;
    const v = [...C_FUNCTIONS.map((f) => this.sym(f)), h.comm, h.double, MPI_IN_PLACE, ...REDUCTIONS.map((o) => h.ops[o]), ...DTYPE_ORDER.map((d) => h.dtypes[d])];
    return BigInt64Array.from(v, (a) => BigInt(a));
  }

  /**
   * The error of a collective that generated C reported failed (it left the reason in `state`);
   * `what` names the collective as the host path names it. Marks the world broken as that does.
   */
  cFailure(what: string): Error {
    const s = this.state;
    const kind = s[STATE.failKind]!;
    s[STATE.failKind] = 0;
    if (kind === FAIL.broken) return this.broken ?? new BackendError(`${what}: MPI was finalised (the process is exiting)`);
    if (kind === FAIL.disagree) return this.disagreement(what) ?? new BackendError(`internal: ${what} reported a disagreement that the table does not show`);
    try {
      this.failure(kind, s[STATE.failDetail]!, s[STATE.failAt]!, s[STATE.failInAgreement] ? `${what} (agreement)` : what);
    } catch (e) {
      return e as Error;
    }
  }

  /** MPI_Allreduce of `send` into `recv` (same length and dtype); `send` null: in place in `recv`. */
  allReduce(send: TypedArray | null, recv: TypedArray, dtype: DType, op: MpiReduction, what: string): void {
    this.agree(`allReduce ${op} ${dtype}`, recv.length, what);
    const [dt, o, comm] = [this.h.dtypes[dtype], this.h.ops[op], this.h.comm];
    for (const [at, n] of pieces(recv.length)) {
      const s = send?.subarray(at, at + n);
      const r = recv.subarray(at, at + n);
      this.collective(what, (req) => (s ? this.fn.MPI_Iallreduce!(s, r, n, dt, o, comm, req) : this.fn.MPI_Iallreduce_inplace!(MPI_IN_PLACE, r, n, dt, o, comm, req)), [s, r]);
    }
  }

  /** MPI_Allgather: `recv` holds every rank's `send` in rank order (all the same length). */
  allGather(send: TypedArray, recv: TypedArray, dtype: DType, what: string): void {
    this.agree(`allGather ${dtype}`, send.length, what);
    if (send.length > MAX_COUNT) throw new BackendError(`${what}: ${send.length} elements on one rank is more than one MPI_Allgather moves (${MAX_COUNT})`);
    this.collective(what, (req) => this.fn.MPI_Iallgather!(send, send.length, this.h.dtypes[dtype], recv, send.length, this.h.dtypes[dtype], this.h.comm, req), [send, recv]);
  }

  /** MPI_Bcast of `buf` from `root`. */
  broadcast(buf: TypedArray, dtype: DType, root: number, what: string): void {
    for (const [at, n] of pieces(buf.length)) {
      const b = buf.subarray(at, at + n);
      this.collective(what, (req) => this.fn.MPI_Ibcast!(b, n, this.h.dtypes[dtype], root, this.h.comm, req), [b]);
    }
  }

  barrier(what: string): void {
    this.collective(what, (req) => this.fn.MPI_Ibarrier!(this.h.comm, req), []);
  }

  /**
   * Starts one non-blocking collective and completes it while watching the other ranks.
   * `buffers` stay referenced until MPI is done with them.
   */
  private collective(what: string, start: (req: BigUint64Array) => unknown, buffers: readonly unknown[]): void {
    if (this.broken) throw this.broken;
    if (this.finalized) throw new BackendError(`${what}: MPI was finalised (the process is exiting)`);
    const k = ++this.state[STATE.collectives]!;
    const req = new BigUint64Array(1);
    this.check(start(req), what);
    const flag = new Int32Array(1);
    const status = new Uint8Array(STATUS_BYTES);
    const t0 = performance.now();
    let nextNotice = t0;
    let nextPid = t0 + 100;
    const test = this.fn.MPI_Test!;
    for (let spin = 1; ; spin++) {
      const code = test(req, flag, status);
      if (code !== 0) this.check(code, what);
      if (flag[0]) {
        void buffers;
        return;
      }
      // The clock is read every 32 tests: the loop is MPI's progress engine, kept tight.
      if ((spin & 31) !== 0) continue;
      const now = performance.now();
      if (now >= nextNotice) {
        this.readNotices(what);
        for (let r = 0; r < this.size; r++) {
          const n = this.departedAfter(r);
          if (n >= 0 && n < k) this.failure(FAIL.departed, r, k, what);
        }
        nextNotice = now + 2;
      }
      if (now >= nextPid) {
        for (let r = 0; r < this.size; r++) {
          const [pid, sameHost] = this.state.subarray(STATE.peers + PEER_FIELDS * r);
          if (r !== this.rank && sameHost && this.departedAfter(r) < 0 && !alive(pid!)) this.failure(FAIL.gone, r, k, what);
        }
        nextPid = now + 100;
      }
      if (now - t0 > this.timeoutMs) this.failure(FAIL.timeout, 0, k, what);
    }
  }

  /** How many collectives rank r had entered when its exit notice came, or -1. */
  private departedAfter(r: number): number {
    return this.state[STATE.peers + PEER_FIELDS * r + 2]!;
  }

  /**
   * Raises the error of a failed collective (collective number k, named `what`) and marks the
   * world broken: the one wording of the host loop above and of generated C (`cFailure`).
   */
  private failure(kind: number, detail: number, k: number, what: string): never {
    switch (kind) {
      case FAIL.mpiError:
        return this.fail(this.mpiError(detail, what));
      case FAIL.departed: {
        const code = this.state[STATE.peers + PEER_FIELDS * detail + 3]!;
        return this.fail(`rank ${detail} (pid ${this.state[STATE.peers + PEER_FIELDS * detail]}) exited with code ${code} after ${this.departedAfter(detail)} collective operations, while rank ${this.rank} waits in ${what} (its collective number ${k}), which that rank will never join (an error ended it there, or the ranks do not run the same functions the same number of times)`);
      }
      case FAIL.gone:
        return this.fail(`rank ${detail} (pid ${this.state[STATE.peers + PEER_FIELDS * detail]}) is no longer running (killed, or it crashed), while rank ${this.rank} waits in ${what} (its collective number ${k})`);
      case FAIL.timeout:
        return this.fail(`${what} on rank ${this.rank} did not complete within ${this.timeoutMs / 1000} s (its collective number ${k}): another rank is stuck, died on another host, or runs different functions; init({ timeoutS }) sets the limit`);
      default:
        return this.fail(`internal: ${what} failed on rank ${this.rank} for an unknown reason (${kind})`);
    }
  }

  /** Receives the exit notices that have arrived. */
  private readNotices(what: string): void {
    const flag = new Int32Array(1);
    const status = new Uint8Array(STATUS_BYTES);
    for (;;) {
      this.check(this.fn.MPI_Iprobe!(-1, NOTICE_TAG, this.h.comm, flag, status), what);
      if (!flag[0]) return;
      const source = new Int32Array(status.buffer, 0, 1)[0]!;
      const msg = new Float64Array(2);
      this.check(this.fn.MPI_Recv!(msg, 2, this.h.double, source, NOTICE_TAG, this.h.comm, status), what);
      if (source >= 0 && source < this.size) this.state.set(msg, STATE.peers + PEER_FIELDS * source + 2);
    }
  }

  private fail(message: string): never {
    this.broken = new BackendError(message);
    // (undefined while MPI_Init and the first calls run)
    if (this.state) this.state[STATE.broken] = 1;
    throw this.broken;
  }

  private check(code: unknown, what: string): void {
    if (code !== 0) this.fail(this.mpiError(code, what));
  }

  private mpiError(code: unknown, what: string): string {
    const buf = Buffer.alloc(512);
    const len = new Int32Array(1);
    const known = this.fn.MPI_Error_string!(code, buf, len) === 0;
    return `${what} failed on rank ${this.rank ?? "?"}: MPI error ${code}${known ? ` (${buf.toString("utf8", 0, len[0]!)})` : ""}`;
  }


  /**
   * At process exit: tell every peer how many collectives this rank entered (so one waiting in a
   * later collective raises instead of hanging), then MPI_Finalize unless the world is broken.
   */
  exit(code: number): void {
    if (this.finalized) return;
    this.finalized = true;
    this.state[STATE.broken] = 1; // generated C refuses collectives from now on
    if (this.size > 1) {
      const msg = new Float64Array([this.collectives, code]);
      const reqs: BigUint64Array[] = [];
      for (let r = 0; r < this.size; r++) {
        if (r === this.rank) continue;
        const req = new BigUint64Array(1);
        if (this.fn.MPI_Isend!(msg, 2, this.h.double, r, NOTICE_TAG, this.h.comm, req) === 0) reqs.push(req);
      }
      // Small messages go out at once (eager); a peer that is gone must not hold the exit up.
      const flag = new Int32Array(1);
      const status = new Uint8Array(STATUS_BYTES);
      const until = performance.now() + 2000;
      for (const req of reqs) {
        do flag[0] = 0, this.fn.MPI_Test!(req, flag, status);
        while (!flag[0] && performance.now() < until);
      }
    }
    if (!this.broken) this.fn.MPI_Finalize!();
  }
}

const PROTOTYPES = [
  "int MPI_Init_thread(void *argc, void *argv, int required, int *provided)",
  "int MPI_Finalize()",
  "int MPI_Comm_set_errhandler(intptr_t comm, intptr_t handler)",
  "int MPI_Comm_rank(intptr_t comm, int *rank)",
  "int MPI_Comm_size(intptr_t comm, int *size)",
  "int MPI_Get_library_version(void *version, int *len)",
  "int MPI_Error_string(int code, void *text, int *len)",
  "int MPI_Iallreduce(void *send, void *recv, int count, intptr_t datatype, intptr_t op, intptr_t comm, void *request)",
  "int MPI_Iallgather(void *send, int scount, intptr_t stype, void *recv, int rcount, intptr_t rtype, intptr_t comm, void *request)",
  "int MPI_Ibcast(void *buf, int count, intptr_t datatype, int root, intptr_t comm, void *request)",
  "int MPI_Ibarrier(intptr_t comm, void *request)",
  "int MPI_Test(void *request, int *flag, void *status)",
  "int MPI_Iprobe(int source, int tag, intptr_t comm, int *flag, void *status)",
  "int MPI_Recv(void *buf, int count, intptr_t datatype, int source, int tag, intptr_t comm, void *status)",
  "int MPI_Isend(void *buf, int count, intptr_t datatype, int dest, int tag, intptr_t comm, void *request)",
];

/** [offset, count] of each piece of a buffer of `length` elements (one, empty, for an empty one). */
function pieces(length: number): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (let at = 0; at === 0 || at < length; at += MAX_COUNT) out.push([at, Math.min(MAX_COUNT, length - at)]);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A 32-bit FNV-1a hash (exact in a double, for the exchanges; generated C embeds its value). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** The host name's hash (ranks with equal ones share a host: localRank, the pid watch). */
function hostHash(): number {
  return fnv1a(hostname());
}

let current: MpiWorld | null = null;

/** The world `init` opened, or null. */
export function currentWorld(): MpiWorld | null {
  return current;
}

/** The world, or a `BackendError` telling `what` needs `init()` first. */
export function requireWorld(what: string): MpiWorld {
  if (!current) throw new BackendError(`${what} needs MPI: call theano.distributed.init() first (and start the program with mpirun -np N)`);
  return current;
}

/** Opens the world once; later calls return it (their options must not ask for another library). */
export function initWorld(opts: InitOptions = {}): MpiWorld {
  if (current) {
    if (opts.library !== undefined && opts.library !== current.library) {
      throw new BackendError(`theano.distributed.init: MPI is already initialised with ${current.library}, not ${opts.library} (MPI can be initialised once per process)`);
    }
    return current;
  }
  const w = MpiWorld.open(opts);
  current = w;
  // Ranks sharing a host share its cores: each gets its part for OpenMP (torchrun's rule), unless
  // the user set OMP_NUM_THREADS. libgomp reads it when the first C module loads, so this holds
  // when init() comes before the first compiled function, as it should.
  if (w.localSize > 1 && process.env.OMP_NUM_THREADS === undefined) {
    process.env.OMP_NUM_THREADS = String(Math.max(1, Math.floor(availableParallelism() / w.localSize)));
  }
  process.on("exit", (code) => w.exit(code));
  // Node runs "exit" listeners before it prints an uncaught exception, and MPI_Finalize waits
  // there for the other ranks (until they notice this one leaving, raise, and mpirun ends the
  // job, which loses what this process had not printed): so the error is printed first, here.
  process.on("uncaughtExceptionMonitor", (err) => {
    if (w.size > 1 && !w.broken) writeSync(2, `theano.distributed: rank ${w.rank} ends on an uncaught exception:\n${inspect(err)}\n`);
  });
  return w;
}

/** What `theano-ts check` reports about MPI, found without initialising it. */
export interface MpiProbe {
  /** The library opened (the first of MPI_LIBRARIES that loads), or null. */
  readonly library: string | null;
  /** MPI_Get_library_version's first line (callable before MPI_Init), or null. */
  readonly version: string | null;
  /** Where `mpirun` is on PATH, or null. */
  readonly mpirun: string | null;
  /** Every path tried that did not load, with why. */
  readonly tried: readonly string[];
}

/** Finds the MPI library and `mpirun` without initialising MPI. */
export function probeMpi(): MpiProbe {
  const tried: string[] = [];
  let library: string | null = null;
  let version: string | null = null;
  for (const path of MPI_LIBRARIES) {
    let lib;
    try {
      lib = openLibrary(path);
    } catch (e) {
      tried.push(`${path} (${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message})`);
      continue;
    }
    library = path;
    try {
      const get = lib.func("int MPI_Get_library_version(_Out_ uint8_t *version, _Out_ int *len)");
      const buf = new Uint8Array(8192);
      const len = [0];
      if (get(buf, len) === 0) version = new TextDecoder().decode(buf.subarray(0, Math.max(0, Math.min(len[0]!, buf.length)))).replace(/\0.*$/s, "").split("\n")[0]!.trim();
    } catch {
      version = null;
    }
    break;
  }
  let mpirun: string | null = null;
  for (const dir of (process.env["PATH"] ?? "").split(":")) {
    if (!dir) continue;
    const p = `${dir}/mpirun`;
    try {
      accessSync(p, fsConstants.X_OK);
      mpirun = p;
      break;
    } catch {
      // not here
    }
  }
  return { library, version, mpirun, tried };
}
