/**
 * Threads for the wasm linker's matrix products: a product large enough is cut into blocks of
 * rows of its result, which `wasm.num_threads` threads (the calling thread and a pool of Node
 * worker_threads) claim one at a time (`Atomics.add` on a shared counter) and run with the same
 * kernel, each in its own instance of the function's module over the function's memory, which is
 * then a shared `WebAssembly.Memory` (a SharedArrayBuffer). Claiming rather than a fixed share
 * keeps a thread the OS leaves unscheduled on a busy machine from holding up the product. Blocks
 * start at multiples of the kernel's register tile, so every element is computed by the same
 * instructions as on one thread: results are bit for bit the single-threaded ones.
 *
 * Dispatch goes through SharedArrayBuffers of control words, not messages: per worker a sequence
 * number the caller bumps (and `Atomics.notify`s), the command, the function id and its scratch
 * block; for the product, the block counter, the sizes and the kernel's arguments. A worker
 * claims blocks until none is left and stores the sequence number it finished; the caller,
 * having claimed blocks too, blocks in `Atomics.wait` until every worker has (allowed on Node's
 * main thread), so no worker is still in a product when the next one is set up. A function's module and memory reach a worker once, by a message on its port
 * that the worker takes with `receiveMessageOnPort` when told to. Workers are started on the
 * first threaded product of the process (tens of ms once) and `unref`ed: they never keep the
 * process alive.
 *
 * Where the runtime has no SharedArrayBuffer or worker_threads (a browser without cross-origin
 * isolation; this slice drives Node's workers only), products run on one thread after one
 * warning per process.
 */

import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import { config } from "../../config/index.js";
import { BackendError, warn } from "../../errors.js";

/** Products below this many multiply-adds stay on one thread (waking workers costs tens of µs). */
export const THREAD_MIN_FLOPS = 1 << 21;
/** Control words per worker: seq, done, cmd, fid, kernel, status. */
const WORDS = 8;
const ARGS = 16;
const CMD = { init: 1, gemm: 2, drop: 3 } as const;
/** The current product's words: next block to claim, blocks, rows per block, rows in all, kernel. */
const J = { next: 0, nblocks: 1, rows: 2, m: 3, kernel: 4 } as const;
/** How long the caller waits for a worker before declaring it lost. */
const WAIT_MS = 120_000;

const WORKER_SOURCE = `
"use strict";
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const ctl = new Int32Array(workerData.ctl);
const args = new Float64Array(workerData.args);
const job = new Int32Array(workerData.job);
const base = new Float64Array(workerData.base);
const port = workerData.port;
const B = workerData.index * ${WORDS};
const A = workerData.index * ${ARGS};
const instances = new Map();
let seen = 0;
for (;;) {
  Atomics.wait(ctl, B, seen);
  seen = Atomics.load(ctl, B);
  let status = 0;
  try {
    const cmd = ctl[B + 2];
    const fid = ctl[B + 3];
    if (cmd === ${CMD.init}) {
      let got;
      for (let spin = 0; !(got = receiveMessageOnPort(port)) && spin < 1e6; spin++);
      const { module, memory } = got.message;
      const imports = {};
      for (const imp of WebAssembly.Module.imports(module)) {
        (imports[imp.module] ??= {})[imp.name] = imp.kind === "memory" ? memory : () => { throw new Error("a host import was called on a worker"); };
      }
      instances.set(fid, new WebAssembly.Instance(module, imports).exports);
    } else if (cmd === ${CMD.gemm}) {
      // Claim row blocks of the current product until none is left (see ThreadGroup.run).
      const fn = instances.get(fid)["k" + job[${J.kernel}]];
      const a = Array.from(base);
      a[15] = args[A + 15];
      for (let b; (b = Atomics.add(job, ${J.next}, 1)) < job[${J.nblocks}]; ) {
        const r0 = b * job[${J.rows}];
        fn(base[0] + r0 * base[16], Math.min(job[${J.rows}], job[${J.m}] - r0), a[2], a[3], base[4] + r0 * base[5], a[5], a[6], a[7], a[8], a[9],
          base[10] === 0 ? 0 : base[10] + r0 * base[11], a[11], a[12], a[13], a[14], a[15]);
      }
    } else if (cmd === ${CMD.drop}) {
      instances.delete(fid);
    }
  } catch (e) {
    status = 1;
  }
  ctl[B + 5] = status;
  Atomics.store(ctl, B + 1, seen);
  Atomics.notify(ctl, B + 1);
}
`;

interface Pool {
  readonly workers: Worker[];
  readonly ports: MessagePort[];
  readonly ctl: Int32Array;
  readonly args: Float64Array;
  /** The product being split (J words) and its 16 kernel arguments plus the output's row bytes. */
  readonly job: Int32Array;
  readonly base: Float64Array;
}

/** For tests and benchmarks: products split so far, workers started in this process. */
export const threadStats = { splits: 0, workers: 0 };

let pool: Pool | null = null;
/** Bumped when the pool is replaced: a group then sends its module to the new workers. */
let poolGeneration = 0;
let warned = false;

/** `wasm.num_threads`, resolved: 0 means the machine's cores, at most 8. */
export function wasmThreads(): number {
  const n = Number(config.wasm.num_threads);
  if (n > 0) return n;
  // Node's count of cores; a browser's navigator.hardwareConcurrency (threads there are a later slice).
  const cores = typeof process !== "undefined" && typeof process.versions?.node === "string" ? availableParallelism() : ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
  return Math.min(cores, 8);
}

/**
 * Whether products run on several threads here; false (after one warning per process, when
 * more than one thread was asked for) where the runtime cannot share Wasm memory with workers.
 */
export function threadsUsable(): boolean {
  if (wasmThreads() <= 1) return false;
  if (usable !== null) return usable;
  const api = (globalThis as { WebAssembly?: { Memory: new (d: object) => { buffer: unknown } } }).WebAssembly;
  let why: string | null = null;
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") why = "this runtime has no SharedArrayBuffer (a browser page needs cross-origin isolation)";
  else if (typeof process === "undefined" || typeof process.versions?.node !== "string") why = "threads need Node's worker_threads (browsers: a later slice)";
  else {
    try {
      if (!(new api!.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer)) why = "the engine's shared WebAssembly.Memory is not a SharedArrayBuffer";
    } catch (e) {
      why = `the engine has no shared WebAssembly.Memory (${(e as Error).message})`;
    }
  }
  if (why === null) return (usable = true);
  if (!warned) {
    warned = true;
    warn(`theano-ts: wasm.num_threads=${wasmThreads()}, but ${why}; matrix products run on one thread.`);
  }
  return (usable = false);
}
/** Whether the runtime can share Wasm memory with workers (found once). */
let usable: boolean | null = null;

function startPool(n: number): Pool {
  const ctl = new Int32Array(new SharedArrayBuffer(n * WORDS * 4));
  const args = new Float64Array(new SharedArrayBuffer(n * ARGS * 8));
  const job = new Int32Array(new SharedArrayBuffer(8 * 4));
  const base = new Float64Array(new SharedArrayBuffer((ARGS + 1) * 8));
  const workers: Worker[] = [];
  const ports: MessagePort[] = [];
  for (let i = 0; i < n; i++) {
    const { port1, port2 } = new MessageChannel();
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { ctl: ctl.buffer, args: args.buffer, job: job.buffer, base: base.buffer, index: i, port: port2 }, transferList: [port2] });
    w.unref();
    threadStats.workers++;
    port1.unref();
    workers.push(w);
    ports.push(port1);
  }
  return { workers, ports, ctl, args, job, base };
}

/** The pool with at least `n` workers (more are started as needed; none stop). */
function poolOf(n: number): Pool {
  if (!pool || pool.workers.length < n) {
    const old = pool;
    pool = startPool(n);
    // The old workers wait on the old control words forever; they hold nothing of ours.
    if (old) for (const w of old.workers) void w.terminate();
    poolGeneration++;
  }
  return pool;
}

/** Sends command `cmd` to worker `i` (arguments already written) and returns its sequence number. */
function post(p: Pool, i: number, cmd: number, fid: number, kernel = 0): number {
  const B = i * WORDS;
  p.ctl[B + 2] = cmd;
  p.ctl[B + 3] = fid;
  p.ctl[B + 4] = kernel;
  const seq = Atomics.add(p.ctl, B, 1) + 1;
  Atomics.notify(p.ctl, B);
  return seq;
}

/** Waits until worker `i` finished sequence number `seq`; false when it reported an error. */
function await_(p: Pool, i: number, seq: number): boolean {
  const B = i * WORDS;
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const done = Atomics.load(p.ctl, B + 1);
    if (done === seq) return p.ctl[B + 5] === 0;
    const left = deadline - performance.now();
    if (left <= 0) throw new BackendError(`linker=wasm: GEMM worker thread ${i} did not answer in ${WAIT_MS / 1000} s`);
    Atomics.wait(p.ctl, B + 1, done, left);
  }
}

let nextFid = 1;
const dropper = new FinalizationRegistry<number>((fid) => {
  if (!pool) return;
  for (let i = 0; i < pool.workers.length; i++) await_(pool, i, post(pool, i, CMD.drop, fid));
});

/** One compiled function's use of the pool: its module and shared memory, sent to workers once. */
export class ThreadGroup {
  readonly fid = nextFid++;
  /** Workers of pool generation `generation` that hold this function's instance. */
  private ready = 0;
  private generation = -1;

  constructor(
    private readonly module: object,
    private readonly memory: object,
    owner: object,
  ) {
    dropper.register(owner, this.fid);
  }

  /**
   * Runs `kernel` (export k<kernel>) on `args` (its 16 arguments: O, M, N, K, A, as0, as1, B,
   * bs0, bs1, Z, zs0, zs1, alpha, beta, S) as blocks of `rows` rows (a multiple of the register
   * tile), claimed one at a time by this thread and `scratch.length - 1` workers, each with its
   * own scratch block: a thread the OS does not run for a while leaves its blocks to the others,
   * so a busy machine costs little more than one thread. Returns once every block is done and
   * every worker has left the product (none can touch the next one's words).
   */
  run(kernel: number, args: readonly number[], rows: number, outRowBytes: number, scratch: readonly number[], here: (args: readonly number[]) => void): void {
    const helpers = scratch.length - 1;
    const p = poolOf(helpers);
    if (this.generation !== poolGeneration) [this.generation, this.ready] = [poolGeneration, 0];
    for (let i = this.ready; i < helpers; i++) {
      p.ports[i]!.postMessage({ module: this.module, memory: this.memory });
      if (!await_(p, i, post(p, i, CMD.init, this.fid))) throw new BackendError(`linker=wasm: GEMM worker thread ${i} could not instantiate the function's module`);
      this.ready = i + 1;
    }
    const m = args[1]!;
    p.base.set(args);
    p.base[ARGS] = outRowBytes;
    p.job[J.nblocks] = Math.ceil(m / rows);
    p.job[J.rows] = rows;
    p.job[J.m] = m;
    p.job[J.kernel] = kernel;
    Atomics.store(p.job, J.next, 0);
    const seqs = scratch.slice(1).map((s, i) => {
      p.args[i * ARGS + 15] = s;
      return post(p, i, CMD.gemm, this.fid, kernel);
    });
    threadStats.splits++;
    const a = [...args];
    a[15] = scratch[0]!;
    for (let b; (b = Atomics.add(p.job, J.next, 1)) < p.job[J.nblocks]!; ) {
      const r0 = b * rows;
      a[0] = args[0]! + r0 * outRowBytes;
      a[1] = Math.min(rows, m - r0);
      a[4] = args[4]! + r0 * args[5]!;
      a[10] = args[10] === 0 ? 0 : args[10]! + r0 * args[11]!;
      here(a);
    }
    let ok = true;
    seqs.forEach((seq, i) => (ok = await_(p, i, seq) && ok));
    if (!ok) throw new BackendError("linker=wasm: a GEMM worker thread failed (its kernel trapped)");
  }
}
