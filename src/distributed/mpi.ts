/**
 * MPI through the FFI (issue 19): the library found at run time, the few calls data-parallel
 * training needs (all-reduce, all-gather, broadcast, barrier), and the watch that turns a
 * vanished rank into a `BackendError` instead of a hang.
 *
 * There is no build-time MPI: `libmpi` is opened with koffi (`link/c/ffi.ts`) the first time the
 * user asks for distribution, RTLD_GLOBAL because Open MPI's own plug-ins resolve its symbols.
 * Two ABIs, told apart by the library once it is loaded (`MpiAbi`): Open MPI's handles
 * (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_ERRORS_RETURN) are the addresses of global objects
 * (`ompi_mpi_comm_world`, ...), found with `dlsym` and passed as `intptr_t`; MPICH's (and those
 * of the libraries sharing its ABI: Intel MPI, MVAPICH) are `int` constants of its mpi.h, passed
 * as `int`. They differ too in MPI_IN_PLACE, MPI_ANY_SOURCE and where MPI_Status keeps the source.
 * Which library: `init({ library })`, else the flag `distributed.mpi_library`, else the launcher
 * the process was started by (its environment), else the first found (`libraryCandidates`).
 *
 * Hangs. A blocking MPI collective whose peer has died waits forever (Open MPI without ULFM
 * reports nothing), and a JS timer cannot fire while the main thread sits in C. So every
 * collective here is non-blocking (MPI_Iallreduce, ...) completed by a loop of MPI_Test — what
 * MPI_Wait does inside, so progress is the same — that also watches three things:
 *   1. notices: every rank, when its process exits, sends each peer how many collectives it
 *      entered; a rank waiting in a later one knows that peer will never come;
 *   2. peer processes on this host (their pids are exchanged at init) that are gone (killed:
 *      no such process, or a zombie its launcher has not reaped);
 *   3. a deadline (`init({ timeoutS })`) for the rest (a rank stuck, or dead on another host).
 * Any of them raises a `BackendError` naming the rank, and the communicator is then marked
 * broken: later collectives raise the same error at once, and the exit skips MPI_Finalize (which
 * would wait for the dead rank), so `mpirun` ends the job; the exit notice says so, and a peer
 * that reads it skips MPI_Finalize too. After SPINS_BEFORE_YIELD tests the loop yields the core
 * at each further one (sched_yield), so a waiting rank does not starve ranks sharing its cores.
 *
 * The C backend runs the same loop inside a generated module (link/c/ops/distributed.ts): the
 * watch's state (collective count, peers, exit notices, deadline, the agreement table, the last
 * failure) lives in one Float64Array, `state`, that both sides read and write, and the C side
 * reports a failure as a code that `cFailure` turns into the error this file raises.
 */

import { spawnSync } from "node:child_process";
import { accessSync, constants as fsConstants, readFileSync, writeSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { BackendError, ShapeError } from "../errors.js";
import { config } from "../config/index.js";
import { type NativeFunction, type NativeLibrary, openLibrary } from "../link/c/ffi.js";
import type { DType, TypedArray } from "../ndarray/dtype.js";

/** The reductions of `allReduce` that MPI performs (mean is a sum divided by the size). */
export type MpiReduction = "sum" | "max" | "min";

export interface InitOptions {
  /** A path or soname to open instead of searching (`libraryCandidates`); its ABI is recognised. */
  readonly library?: string;
  /** Seconds a collective may wait for the other ranks before it raises (default 300). */
  readonly timeoutS?: number;
}

/** The two handle ABIs of MPI libraries. */
export type MpiAbiName = "openmpi" | "mpich";
/** Each ABI's sonames, in the order searched (Debian names MPICH's libmpich.so.12). */
export const MPI_SONAMES: Readonly<Record<MpiAbiName, readonly string[]>> = { openmpi: ["libmpi.so.40"], mpich: ["libmpich.so.12", "libmpi.so.12"] };
/** Every library searched, in order, when nothing says which: Open MPI first, then MPICH, then whatever libmpi.so is. */
export const MPI_LIBRARIES = [...MPI_SONAMES.openmpi, ...MPI_SONAMES.mpich, "libmpi.so"] as const;
const INSTALL =
  "install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) or MPICH (apt-get install mpich libmpich-dev), or pass init({ library: \"/path/to/libmpi.so\" })";

/**
 * The libraries to try, in order, and why those: `library` (init's option) if given, else the
 * flag `distributed.mpi_library`, else the launcher named by the environment (Open MPI's mpirun
 * sets OMPI_COMM_WORLD_SIZE; MPICH's Hydra mpiexec sets PMI_RANK, PMI_SIZE and HYDRA_*
 * variables): a process started by one launcher must not open the other's library, which would
 * start a world of one process. Else every library, Open MPI's first.
 */
export function libraryCandidates(library: string | undefined, flag: "auto" | MpiAbiName, env: Readonly<Record<string, string | undefined>> = process.env): { candidates: readonly string[]; why: string } {
  if (library !== undefined) return { candidates: [library], why: "init({ library })" };
  if (flag !== "auto") return { candidates: MPI_SONAMES[flag], why: `distributed.mpi_library=${flag}` };
  const launcher = launcherOf(env);
  if (launcher) return { candidates: MPI_SONAMES[launcher.abi], why: `started by ${launcher.abi === "openmpi" ? "Open MPI's mpirun" : "MPICH's mpiexec"} (${launcher.variable} is set)` };
  return { candidates: MPI_LIBRARIES, why: "no launcher in the environment: every library, Open MPI's first" };
}

/** The launcher the environment names, its ABI and the world size it started, or null. */
function launcherOf(env: Readonly<Record<string, string | undefined>>): { abi: MpiAbiName; variable: string; size: number | null } | null {
  if (env.OMPI_COMM_WORLD_SIZE !== undefined) return { abi: "openmpi", variable: "OMPI_COMM_WORLD_SIZE", size: Number(env.OMPI_COMM_WORLD_SIZE) };
  const hydra = Object.keys(env).find((k) => k.startsWith("HYDRA_") || k.startsWith("HYDI_"));
  const variable = env.PMI_SIZE !== undefined ? "PMI_SIZE" : env.PMI_RANK !== undefined ? "PMI_RANK" : hydra;
  if (variable) return { abi: "mpich", variable, size: env.PMI_SIZE !== undefined ? Number(env.PMI_SIZE) : null };
  return null;
}

const THREAD_LEVELS = ["MPI_THREAD_SINGLE", "MPI_THREAD_FUNNELED", "MPI_THREAD_SERIALIZED", "MPI_THREAD_MULTIPLE"] as const;
const MPI_THREAD_FUNNELED = 1;
/** The point-to-point tag of exit notices (collectives never match point-to-point messages). */
export const NOTICE_TAG = 0x7eed;
/** Room for an MPI_Status of either ABI (Open MPI's is 24 bytes, MPICH's 20). */
const STATUS_BYTES = 32;
/** MPI_Test calls a waiting rank makes before it yields the core at each further one (sched_yield). */
export const SPINS_BEFORE_YIELD = 256;
/** MPI counts are C ints: larger buffers move in pieces of this many elements. */
export const MAX_COUNT = 2 ** 30;

/**
 * The layout of `MpiWorld.state` (doubles), shared with the C side: the counters and the last
 * failure, then per rank `PEER_FIELDS` values (pid, same host 0/1, then its exit notice's
 * `NOTICE_WORDS`: collectives entered, or -1 until the notice came; its exit code; 1 if it
 * calls MPI_Finalize, 0 if not), then the agreement table (2 per rank).
 */
export const STATE = { collectives: 0, timeoutS: 1, rank: 2, size: 3, broken: 4, failKind: 5, failDetail: 6, failAt: 7, failInAgreement: 8, peers: 9 } as const;
export const PEER_FIELDS = 5;
/** An exit notice's doubles: [collectives entered, exit code, 1 if it calls MPI_Finalize]. */
export const NOTICE_WORDS = 3;
/** Where the agreement table of a world of `size` ranks starts in `state`. */
export const agreementBase = (size: number): number => STATE.peers + PEER_FIELDS * size;

/** Why a collective failed (`state[STATE.failKind]`; the detail is the MPI code or the rank). */
export const FAIL = { mpiError: 1, departed: 2, gone: 3, timeout: 4, broken: 5, disagree: 6, tooLarge: 7 } as const;

/**
 * The C side's table (`MpiWorld.cTable`): these functions' addresses, then the ABI's constants
 * (`C_CONSTANTS`), then the handles of MPI_COMM_WORLD, MPI_DOUBLE and MPI_IN_PLACE, the
 * reductions (`MpiReduction` order) and the datatypes (`DTYPE_ORDER`).
 */
export const C_FUNCTIONS = ["MPI_Iallreduce", "MPI_Iallgather", "MPI_Test", "MPI_Iprobe", "MPI_Recv"] as const;
export const REDUCTIONS: readonly MpiReduction[] = ["sum", "max", "min"];
/** After the functions: handles are ints (MPICH) or addresses, MPI_ANY_SOURCE, MPI_SOURCE's byte offset in MPI_Status. */
export const C_CONSTANTS = ["intHandles", "anySource", "statusSource"] as const;

/**
 * What differs between the ABIs: the handles (numbers: addresses for Open MPI, int constants
 * for MPICH), the C type they are passed as, MPI_IN_PLACE, MPI_ANY_SOURCE, and the byte offset
 * of MPI_SOURCE in MPI_Status.
 */
export interface MpiAbi {
  readonly name: MpiAbiName;
  readonly handle: "intptr_t" | "int";
  readonly comm: number;
  readonly double: number;
  readonly errorsReturn: number;
  readonly ops: Readonly<Record<MpiReduction, number>>;
  readonly dtypes: Readonly<Record<DType, number>>;
  readonly inPlace: number;
  readonly anySource: number;
  readonly statusSource: number;
}

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

/** Open MPI's ABI: its mpi.h's handles are `&ompi_mpi_*` objects; MPI_IN_PLACE `((void *) 1)`, MPI_ANY_SOURCE -1, MPI_SOURCE first in MPI_Status. */
function openMpiAbi(sym: (name: string) => number): MpiAbi {
  const dtypes = {} as Record<DType, number>;
  for (const [d, name] of Object.entries(OMPI_DTYPES)) dtypes[d as DType] = sym(name);
  return {
    name: "openmpi",
    handle: "intptr_t",
    comm: sym("ompi_mpi_comm_world"),
    double: sym("ompi_mpi_double"),
    errorsReturn: sym("ompi_mpi_errors_return"),
    ops: { sum: sym("ompi_mpi_op_sum"), max: sym("ompi_mpi_op_max"), min: sym("ompi_mpi_op_min") },
    dtypes,
    inPlace: 1,
    anySource: -1,
    statusSource: 0,
  };
}

/**
 * MPICH's ABI, the constants of its mpi.h (4.0, /usr/include/x86_64-linux-gnu/mpich/mpi.h; fixed
 * since MPICH 3.1's ABI initiative): `typedef int MPI_Comm` (MPI_COMM_WORLD 0x44000000),
 * MPI_Datatype (MPI_DOUBLE 0x4c00080b, ...), MPI_Op (MPI_MAX 0x58000001, MPI_MIN 0x58000002,
 * MPI_SUM 0x58000003), MPI_Errhandler (MPI_ERRORS_RETURN 0x54000001); MPI_IN_PLACE
 * `(void *) -1`; MPI_ANY_SOURCE -2; MPI_Status { count_lo, count_hi_and_cancelled, MPI_SOURCE,
 * MPI_TAG, MPI_ERROR } (ints: MPI_SOURCE at byte 8). bool travels as MPI_UINT8_T, as on Open MPI.
 */
const MPICH_ABI: MpiAbi = {
  name: "mpich",
  handle: "int",
  comm: 0x44000000,
  double: 0x4c00080b,
  errorsReturn: 0x54000001,
  ops: { sum: 0x58000003, max: 0x58000001, min: 0x58000002 },
  dtypes: {
    bool: 0x4c00013b,
    int8: 0x4c000137,
    int16: 0x4c000238,
    int32: 0x4c000439,
    int64: 0x4c00083a,
    uint8: 0x4c00013b,
    uint16: 0x4c00023c,
    uint32: 0x4c00043d,
    uint64: 0x4c00083e,
    float32: 0x4c00040a,
    float64: 0x4c00080b,
  },
  inPlace: -1,
  anySource: -2,
  statusSource: 8,
};

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
  /** The handles and constants of the library's ABI. */
  readonly abi: MpiAbi;

  private constructor(
    readonly library: string,
    fn: Record<string, NativeFunction>,
    sym: (name: string) => number,
    abi: MpiAbi,
    version: string | null,
    timeoutS: number,
  ) {
    this.fn = fn;
    this.sym = sym;
    this.abi = abi;
    this.timeoutMs = timeoutS * 1000;
    const provided = new Int32Array(1);
    this.check(fn.MPI_Init_thread!(null, null, MPI_THREAD_FUNNELED, provided), "MPI_Init_thread");
    this.threadLevel = THREAD_LEVELS[provided[0]!] ?? `thread level ${provided[0]}`;
    // Errors come back as codes (turned into BackendErrors) instead of aborting the job.
    this.check(fn.MPI_Comm_set_errhandler!(abi.comm, abi.errorsReturn), "MPI_Comm_set_errhandler");
    const out = new Int32Array(1);
    this.check(fn.MPI_Comm_rank!(abi.comm, out), "MPI_Comm_rank");
    this.rank = out[0]!;
    this.check(fn.MPI_Comm_size!(abi.comm, out), "MPI_Comm_size");
    this.size = out[0]!;
    // A launcher's world that this library does not see (Open MPI's mpirun starting a process
    // that opened MPICH's library, or the reverse) makes N worlds of one: said, not trained on.
    const launcher = launcherOf(process.env);
    if (launcher?.size && launcher.size !== this.size) {
      fn.MPI_Finalize!();
      throw new BackendError(
        `theano.distributed.init: the launcher started ${launcher.size} processes (${launcher.variable}=${launcher.size}: ${launcher.abi === "openmpi" ? "Open MPI's mpirun" : "MPICH's mpiexec"}) but ${library} (${abi.name === "openmpi" ? "Open MPI" : "MPICH ABI"}) sees a world of ${this.size}: the library is not the launcher's; start the program with the matching mpirun, or set distributed.mpi_library=${launcher.abi}`,
      );
    }
    // (at least 9 doubles: more than the 64 bytes V8 keeps on its heap, so the memory is fixed)
    this.state = new Float64Array(agreementBase(this.size) + 2 * this.size);
    this.state[STATE.timeoutS] = timeoutS;
    this.state[STATE.rank] = this.rank;
    this.state[STATE.size] = this.size;
    // no exit notice yet; pids and hosts come from the first exchange below
    for (let r = 0; r < this.size; r++) this.state[STATE.peers + PEER_FIELDS * r + 2] = -1;
    this.version = version ?? "(MPI_Get_library_version failed)";
    // Who runs where: pids (for the liveness watch) and a hash of the host name (for localRank).
    const mine = new Float64Array([process.pid, hostHash()]);
    const all = new Float64Array(2 * this.size);
    this.collective("init", (req) => fn.MPI_Iallgather!(mine, 2, abi.double, all, 2, abi.double, abi.comm, req), [mine, all]);
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
    const { candidates, why } = libraryCandidates(opts.library, config.distributed.mpi_library);
    const tried: string[] = [];
    for (const path of candidates) {
      let loaded;
      try {
        loaded = loadMpi(path, true);
      } catch (e) {
        if (!(e instanceof MissingLibrary)) throw e;
        tried.push(e.message);
        continue;
      }
      const { fn, sym, abi, version } = loaded;
      return new MpiWorld(path, fn, sym, abi, version, timeoutS);
    }
    throw new BackendError(`theano.distributed needs an MPI library at run time and none could be opened; searched (${why}): ${tried.join("; ")}. To get one, ${INSTALL}.`);
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
    const h = this.abi;
    this.collective(`${what} (agreement)`, (req) => this.fn.MPI_Iallgather!(mine, 2, h.double, all, 2, h.double, h.comm, req), [mine, all]);
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
   * the ABI's constants (C_CONSTANTS: whether handles are ints, MPI_ANY_SOURCE, the byte offset
   * of MPI_SOURCE in MPI_Status), then the handles of MPI_COMM_WORLD, MPI_DOUBLE, MPI_IN_PLACE,
   * REDUCTIONS and DTYPE_ORDER.
   */
  cTable(): BigInt64Array {
    const h = this.abi;
    const v = [
      ...C_FUNCTIONS.map((f) => this.sym(f)),
      h.handle === "int" ? 1 : 0,
      h.anySource,
      h.statusSource,
      h.comm,
      h.double,
      h.inPlace,
      ...REDUCTIONS.map((o) => h.ops[o]),
      ...DTYPE_ORDER.map((d) => h.dtypes[d]),
    ];
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
    if (kind === FAIL.tooLarge) return tooLarge(what, s[STATE.failDetail]!);
    try {
      this.failure(kind, s[STATE.failDetail]!, s[STATE.failAt]!, s[STATE.failInAgreement] ? `${what} (agreement)` : what);
    } catch (e) {
      return e as Error;
    }
  }

  /** MPI_Allreduce of `send` into `recv` (same length and dtype); `send` null: in place in `recv`. */
  allReduce(send: TypedArray | null, recv: TypedArray, dtype: DType, op: MpiReduction, what: string): void {
    this.agree(`allReduce ${op} ${dtype}`, recv.length, what);
    const [dt, o, comm, inPlace] = [this.abi.dtypes[dtype], this.abi.ops[op], this.abi.comm, this.abi.inPlace];
    for (const [at, n] of pieces(recv.length)) {
      const s = send?.subarray(at, at + n);
      const r = recv.subarray(at, at + n);
      this.collective(what, (req) => (s ? this.fn.MPI_Iallreduce!(s, r, n, dt, o, comm, req) : this.fn.MPI_Iallreduce_inplace!(inPlace, r, n, dt, o, comm, req)), [s, r]);
    }
  }

  /** MPI_Allgather: `recv` holds every rank's `send` in rank order (all the same length). */
  allGather(send: TypedArray, recv: TypedArray, dtype: DType, what: string): void {
    this.agree(`allGather ${dtype}`, send.length, what);
    if (send.length > MAX_COUNT) throw tooLarge(what, send.length);
    const dt = this.abi.dtypes[dtype];
    this.collective(what, (req) => this.fn.MPI_Iallgather!(send, send.length, dt, recv, send.length, dt, this.abi.comm, req), [send, recv]);
  }

  /** MPI_Bcast of `buf` from `root`. */
  broadcast(buf: TypedArray, dtype: DType, root: number, what: string): void {
    for (const [at, n] of pieces(buf.length)) {
      const b = buf.subarray(at, at + n);
      this.collective(what, (req) => this.fn.MPI_Ibcast!(b, n, this.abi.dtypes[dtype], root, this.abi.comm, req), [b]);
    }
  }

  barrier(what: string): void {
    this.collective(what, (req) => this.fn.MPI_Ibarrier!(this.abi.comm, req), []);
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
      // A wait that lasts gives the core to whoever else wants it (a rank oversubscribed on the
      // same cores, the peer it waits for): Open MPI's mpi_yield_when_idle, done here.
      if (spin > SPINS_BEFORE_YIELD) schedYield();
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
    const h = this.abi;
    for (;;) {
      this.check(this.fn.MPI_Iprobe!(h.anySource, NOTICE_TAG, h.comm, flag, status), what);
      if (!flag[0]) return;
      const source = new Int32Array(status.buffer, h.statusSource, 1)[0]!;
      const msg = new Float64Array(NOTICE_WORDS);
      this.check(this.fn.MPI_Recv!(msg, NOTICE_WORDS, h.double, source, NOTICE_TAG, h.comm, status), what);
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
   * later collective raises instead of hanging) and whether it finalises; then MPI_Finalize,
   * unless the world is broken or a peer said it will not finalise (MPI_Finalize waits for
   * every rank: MPICH's Hydra, unlike Open MPI's mpirun, does not end a job whose rank left
   * without it when run with -disable-auto-cleanup).
   */
  exit(code: number): void {
    if (this.finalized) return;
    this.finalized = true;
    this.state[STATE.broken] = 1; // generated C refuses collectives from now on
    let peersFinalize = true;
    if (this.size > 1) {
      const msg = new Float64Array([this.collectives, code, this.broken ? 0 : 1]);
      const reqs: BigUint64Array[] = [];
      for (let r = 0; r < this.size; r++) {
        if (r === this.rank) continue;
        const req = new BigUint64Array(1);
        if (this.fn.MPI_Isend!(msg, NOTICE_WORDS, this.abi.double, r, NOTICE_TAG, this.abi.comm, req) === 0) reqs.push(req);
      }
      // Small messages go out at once (eager); a peer that is gone must not hold the exit up.
      const flag = new Int32Array(1);
      const status = new Uint8Array(STATUS_BYTES);
      const until = performance.now() + 2000;
      for (const req of reqs) {
        do flag[0] = 0, this.fn.MPI_Test!(req, flag, status);
        while (!flag[0] && performance.now() < until);
      }
      // The peers' notices, received before MPI_Finalize (which would wait for a peer that said
      // it will not come; and UCX, under MPICH, warns of messages left unreceived): each for at
      // most a second, as ranks usually exit together.
      if (!this.broken) {
        const peers = [...Array(this.size).keys()].filter((r) => r !== this.rank);
        const until = performance.now() + 1000;
        try {
          while (peers.some((r) => this.departedAfter(r) < 0) && performance.now() < until) {
            this.readNotices("exit");
            schedYield();
          }
        } catch {
          peersFinalize = false; // (the world is broken now)
        }
        peersFinalize &&= peers.every((r) => this.state[STATE.peers + PEER_FIELDS * r + 4] !== 0 || this.departedAfter(r) < 0);
      }
    }
    if (!this.broken && peersFinalize) this.fn.MPI_Finalize!();
  }
}

/**
 * The MPI functions used, `H` standing for the handle type of the ABI (MPI_Comm, MPI_Datatype,
 * MPI_Op, MPI_Errhandler). Requests are written to and read from an 8-byte buffer (`void *`),
 * which holds Open MPI's pointer or MPICH's int.
 */
const PROTOTYPES = [
  "int MPI_Init_thread(void *argc, void *argv, int required, int *provided)",
  "int MPI_Finalize()",
  "int MPI_Comm_set_errhandler(H comm, H handler)",
  "int MPI_Comm_rank(H comm, int *rank)",
  "int MPI_Comm_size(H comm, int *size)",
  "int MPI_Error_string(int code, void *text, int *len)",
  "int MPI_Iallreduce(void *send, void *recv, int count, H datatype, H op, H comm, void *request)",
  "int MPI_Iallgather(void *send, int scount, H stype, void *recv, int rcount, H rtype, H comm, void *request)",
  "int MPI_Ibcast(void *buf, int count, H datatype, int root, H comm, void *request)",
  "int MPI_Ibarrier(H comm, void *request)",
  "int MPI_Test(void *request, int *flag, void *status)",
  "int MPI_Iprobe(int source, int tag, H comm, int *flag, void *status)",
  "int MPI_Recv(void *buf, int count, H datatype, int source, int tag, H comm, void *status)",
  "int MPI_Isend(void *buf, int count, H datatype, int dest, int tag, H comm, void *request)",
];

/**
 * UCX (which Debian's MPICH, and Open MPI's UCX components, load) installs memory hooks when it is
 * loaded: it patches malloc, mmap and friends through the relocation tables so that its RDMA
 * registration cache hears of unmapped memory. Loaded late, into a Node process whose heap glibc's
 * malloc already manages, that crashed now and then inside MPI_Init_thread (CI: SIGSEGV in
 * malloc under PMPI_Init_thread, caught by libucs; upstream: openucx/ucx#3831, where the same crash
 * goes away with UCX_MEM_EVENTS=n). The hooks only serve RDMA transports; shared memory and TCP do
 * not need them. So they are off unless the user set these variables (then their values win). Read
 * when UCX is loaded, so set before the library is opened.
 */
function noUcxMemoryHooks(): void {
  for (const name of ["UCX_MEM_EVENTS", "UCX_MEM_MALLOC_HOOKS", "UCX_MEM_MALLOC_RELOC"]) process.env[name] ??= "no";
}

/** A library that could not be opened (the message says which and why): the search goes on. */
class MissingLibrary extends Error {}

/**
 * Opens `path` (RTLD_GLOBAL when `global`), tells its ABI and declares the functions. Raises
 * `MissingLibrary` when it cannot be opened, `BackendError` when it is not an MPI library of a
 * known ABI.
 */
function loadMpi(path: string, global: boolean): { fn: Record<string, NativeFunction>; sym: (name: string) => number; abi: MpiAbi; version: string | null } {
  noUcxMemoryHooks();
  let lib;
  try {
    lib = openLibrary(path, { global });
  } catch (e) {
    throw new MissingLibrary(`${path} (${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message})`);
  }
  // The library's own handle (already loaded: RTLD_LAZY | RTLD_NOLOAD), so that a symbol is
  // looked up in it and its dependencies, not in whatever else the process holds.
  const libc = openLibrary("libc.so.6");
  const handle = libc.func("intptr_t dlopen(const char *path, int flags)")(path, 1 | 4);
  const dlsym = libc.func("intptr_t dlsym(intptr_t handle, const char *name)");
  const find = (name: string): number => Number(dlsym(handle, name));
  if (!find("MPI_Init_thread")) throw new BackendError(`${path} is not an MPI library (it has no MPI_Init_thread); ${INSTALL}`);
  const version = libraryVersion(lib);
  let abi: MpiAbi;
  const sym = (name: string): number => {
    const a = find(name);
    if (!a) throw new BackendError(`the MPI library ${path} has no symbol ${name}: theano.distributed needs Open MPI 4 or later, or MPICH 3.1 or later`);
    return a;
  };
  if (find("ompi_mpi_comm_world")) abi = openMpiAbi(sym);
  else if (/MPICH|MVAPICH|Intel\(R\) MPI/.test(version ?? "")) abi = MPICH_ABI;
  else {
    throw new BackendError(
      `the MPI library ${path} (${version ?? "no version string"}) is neither Open MPI (it has no ompi_mpi_comm_world) nor of MPICH's ABI (MPICH, Intel MPI, MVAPICH, by its version string): theano.distributed knows those two; ${INSTALL}`,
    );
  }
  const fn: Record<string, NativeFunction> = {};
  for (const proto of PROTOTYPES) fn[/(MPI_\w+)\(/.exec(proto)![1]!] = lib.func(proto.replaceAll(/\bH\b/g, abi.handle));
  // The in-place form: MPI_IN_PLACE, an address constant, as the send buffer.
  fn.MPI_Iallreduce_inplace = lib.func(`int MPI_Iallreduce(intptr_t send, void *recv, int count, ${abi.handle} datatype, ${abi.handle} op, ${abi.handle} comm, void *request)`);
  return { fn, sym, abi, version };
}

/** MPI_Get_library_version's first line (it may be called before MPI_Init), or null. */
function libraryVersion(lib: NativeLibrary): string | null {
  try {
    const get = lib.func("int MPI_Get_library_version(_Out_ uint8_t *version, _Out_ int *len)");
    const buf = new Uint8Array(8192);
    const len = [0];
    if (get(buf, len) !== 0) return null;
    return new TextDecoder().decode(buf.subarray(0, Math.max(0, Math.min(len[0]!, buf.length)))).replace(/\0.*$/s, "").split("\n")[0]!.replace(/\s+/g, " ").trim();
  } catch {
    return null;
  }
}

let schedYieldFn: NativeFunction | null = null;
/** sched_yield(2): the core to another runnable thread, if one waits for it. */
function schedYield(): void {
  (schedYieldFn ??= openLibrary("libc.so.6").func("int sched_yield()"))();
}

/** The error of an all-gather of more elements a rank than MPI's int count holds (the world stays usable). */
function tooLarge(what: string, count: number): BackendError {
  return new BackendError(`${what}: ${count} elements on one rank is more than one MPI_Allgather moves (${MAX_COUNT})`);
}

/** [offset, count] of each piece of a buffer of `length` elements (one, empty, for an empty one). */
function pieces(length: number): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (let at = 0; at === 0 || at < length; at += MAX_COUNT) out.push([at, Math.min(MAX_COUNT, length - at)]);
  return out;
}

/**
 * Whether process `pid` runs. A zombie does not: a rank killed under MPICH's Hydra with
 * -disable-auto-cleanup stays one (its launcher does not reap it), and kill(pid, 0) succeeds on
 * a zombie; Linux's /proc/<pid>/stat says Z (the state follows the command's last ')').
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return true; // no /proc: kill's answer
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
  // MPICH's Hydra, run with -disable-auto-cleanup, tells the other processes of a job that one
  // failed by SIGUSR1, on which Node would open its inspector (a debugger port): the pid watch
  // and the exit notices already tell a waiting rank, so the signal is only noted.
  if (w.abi.name === "mpich") process.on("SIGUSR1", () => {});
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
  /** The library `init()` would open (the first candidate that loads), or null. */
  readonly library: string | null;
  /** Its ABI, or null (none loads, or not a known ABI: `problem` says). */
  readonly abi: MpiAbiName | null;
  /** MPI_Get_library_version's first line (callable before MPI_Init), or null. */
  readonly version: string | null;
  /** Why those candidates (`libraryCandidates`). */
  readonly why: string;
  /** Where `mpirun` is on PATH, or null. */
  readonly mpirun: string | null;
  /** Every path tried that did not load, with why. */
  readonly tried: readonly string[];
  /** The library loads but `init()` would refuse it, and why; or null. */
  readonly problem: string | null;
}

/** Finds the MPI library `init()` would open, and `mpirun`, without initialising MPI. */
export function probeMpi(): MpiProbe {
  const tried: string[] = [];
  const { candidates, why } = libraryCandidates(undefined, config.distributed.mpi_library);
  let found: Pick<MpiProbe, "library" | "abi" | "version" | "problem"> = { library: null, abi: null, version: null, problem: null };
  for (const path of candidates) {
    try {
      const { abi, version } = loadMpi(path, false);
      found = { library: path, abi: abi.name, version, problem: null };
    } catch (e) {
      if (e instanceof MissingLibrary) {
        tried.push(e.message);
        continue;
      }
      found = { library: path, abi: null, version: null, problem: (e as Error).message };
    }
    break;
  }
  return { ...found, why, mpirun: findMpirun(), tried };
}

/** Where `mpirun` is on PATH, or null. */
function findMpirun(): string | null {
  for (const dir of (process.env["PATH"] ?? "").split(":")) {
    if (!dir) continue;
    try {
      accessSync(`${dir}/mpirun`, fsConstants.X_OK);
      return `${dir}/mpirun`;
    } catch {
      // not here
    }
  }
  return null;
}

/** What MPI_Init_thread gave a singleton process (`probeInit`), or why it could not be known. */
export type MpiInitProbe =
  | { readonly ok: true; readonly threadLevel: string; readonly seconds: number }
  | { readonly ok: false; readonly reason: string; readonly seconds: number };

/** `probeMpi`'s report, found by the child process of `probeInit`, with what MPI_Init_thread gave it (null: not tried). */
export type MpiCheck = MpiProbe & { readonly init: MpiInitProbe | null };

/** Environment variables by which a launcher hands a process its world (the probe must start its own). */
const LAUNCHER_VARIABLES = /^(OMPI_|PMIX_|PMI_|HYDRA_|HYDI_|MPI_LOCAL)/;

/**
 * The MPI library `init()` would open and the thread level it grants, known only once
 * MPI_Init_thread ran: a child process (this node, `probe_child`) finds the library as
 * `probeMpi` does, initialises MPI as a singleton (the launcher's variables removed), prints
 * both and exits. This process loads no MPI library (MPICH's brings UCX, whose signal handlers
 * and memory hooks a process that does not use MPI is better without). Killed after `timeoutS`;
 * a failure or timeout comes back as a reason, never a hang or a throw.
 */
export function probeInit(timeoutS = 10): MpiCheck {
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const ts = import.meta.url.endsWith(".ts");
  const child = fileURLToPath(new URL(`./probe_child.${ts ? "ts" : "js"}`, import.meta.url));
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!LAUNCHER_VARIABLES.test(k)) env[k] = v;
  // (in a source checkout the child is TypeScript: run it with tsx, from the package root)
  const r = spawnSync(process.execPath, [...(ts ? ["--import", "tsx"] : []), child], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    env,
    encoding: "utf8",
    timeout: timeoutS * 1000,
    killSignal: "SIGKILL",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const line = (tag: string): string | undefined => r.stdout?.split("\n").find((l) => l.startsWith(`${tag} `))?.slice(tag.length + 1);
  const mpirun = findMpirun();
  const foundLine = line("MPI_FOUND");
  const initLine = line("MPI_INIT");
  const said = `${r.stderr ?? ""}`.trim().split("\n").filter((l) => l.trim()).slice(-1)[0] ?? "";
  const failed =
    r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT"
      ? `the child process did not finish within ${timeoutS} s (killed)`
      : `the child process failed (${r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit code ${r.status}`})${said ? `: ${said}` : ""}`;
  if (!foundLine) return { library: null, abi: null, version: null, why: "unknown", mpirun, tried: [], problem: `could not look for MPI: ${failed}`, init: null };
  const found = { ...(JSON.parse(foundLine) as MpiProbe), mpirun };
  if (!found.library || found.problem) return { ...found, init: null };
  const init: MpiInitProbe = initLine ? { ok: true, threadLevel: (JSON.parse(initLine) as { threadLevel: string }).threadLevel, seconds: seconds() } : { ok: false, reason: `MPI_Init_thread: ${failed}`, seconds: seconds() };
  return { ...found, init };
}
