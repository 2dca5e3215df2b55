/**
 * `theano.distributed` (API.md §13): data-parallel training over MPI. `init()` opens the MPI
 * library found at run time (mpi.ts) once per process and finalises it at exit; `rank`, `size`
 * and `localRank` are live bindings, valid after `init()`; `allReduce`/`allGather` are graph
 * ops (ops.ts); `broadcast` and `barrier` act at once on the host.
 */

import { BackendError, TypeMismatchError } from "../errors.js";
import { SharedVariable } from "../compile/shared.js";
import { NDArray, allocData } from "../ndarray/ndarray.js";
import { DTYPES } from "../ndarray/dtype.js";
import { type InitOptions, MPI_LIBRARIES, currentWorld, initWorld, probeMpi, requireWorld } from "./mpi.js";

export { AllReduce, AllGather, allReduce, allGather } from "./ops.js";
export type { ReduceKind } from "./ops.js";
export type { InitOptions, MpiProbe } from "./mpi.js";
export { MPI_LIBRARIES };

/** This process's rank in MPI_COMM_WORLD (0 before `init`). */
export let rank = 0;
/** The number of processes (1 before `init`). */
export let size = 1;
/** This process's rank among the processes on its host. */
export let localRank = 0;

/**
 * Initialises MPI (MPI_Init_thread, MPI_THREAD_FUNNELED) once; MPI_Finalize runs at process
 * exit. A missing library raises `BackendError` naming what was searched and how to install it.
 */
export function init(opts: InitOptions = {}): void {
  const w = initWorld(opts);
  rank = w.rank;
  size = w.size;
  localRank = w.localRank;
}

/** Whether `init` has run in this process. */
export function initialized(): boolean {
  return currentWorld() !== null;
}

/** The library, its version and the thread level MPI granted (for `theano-ts check` and logs). */
export function info(): { library: string; version: string; threadLevel: string; rank: number; size: number; localRank: number } {
  const w = requireWorld("theano.distributed.info");
  return { library: w.library, version: w.version, threadLevel: w.threadLevel, rank: w.rank, size: w.size, localRank: w.localRank };
}

/**
 * The MPI library and `mpirun` this process would use, found without initialising MPI (what
 * `theano-ts check` reports).
 */
export const probe = probeMpi;

/** Waits until every rank has called it. */
export function barrier(): void {
  requireWorld("theano.distributed.barrier").barrier("barrier");
}

/**
 * Sets every shared variable to its value on `root` (the initial parameters of data-parallel
 * training). Each rank must pass the same variables in the same order; the other ranks take
 * root's shapes.
 */
export function broadcast(sharedVars: readonly SharedVariable[], root = 0): void {
  const w = requireWorld("theano.distributed.broadcast");
  if (!Number.isInteger(root) || root < 0 || root >= w.size) throw new BackendError(`broadcast: root ${root} is not a rank of this world of ${w.size} processes`);
  for (const v of sharedVars) if (!(v instanceof SharedVariable)) throw new TypeMismatchError(`broadcast takes shared variables, got ${String(v)}`);
  // Root's dtypes and shapes first, so the others can allocate and check.
  const values = w.rank === root ? sharedVars.map((v) => v.getValue({ borrow: true }).contiguous()) : [];
  const len = new Float64Array([w.rank === root ? sharedVars.length + values.reduce((n, a) => n + 2 + a.ndim, 0) : 0]);
  w.broadcast(len, "float64", root, "broadcast (header length)");
  const header = new Float64Array(len[0]!);
  if (w.rank === root) {
    let i = 0;
    header[i++] = sharedVars.length;
    for (const a of values) {
      header[i++] = DTYPES.indexOf(a.dtype);
      header[i++] = a.ndim;
      for (const d of a.shape) header[i++] = d;
    }
  }
  w.broadcast(header, "float64", root, "broadcast (header)");
  if (header[0] !== sharedVars.length) {
    throw w.broken ?? new BackendError(`broadcast: rank ${root} broadcasts ${header[0]} shared variables, rank ${w.rank} passed ${sharedVars.length}: every rank must pass the same variables`);
  }
  let i = 1;
  sharedVars.forEach((v, k) => {
    const dtype = DTYPES[header[i++]!]!;
    const shape = Array.from(header.subarray(i + 1, i + 1 + header[i]!));
    i += 1 + shape.length;
    if (dtype !== v.type.dtype) throw new TypeMismatchError(`broadcast: shared variable ${k} (${v.label}) is ${v.type.dtype} on rank ${w.rank} but ${dtype} on rank ${root}`);
    const data = w.rank === root ? values[k]!.data : allocData(dtype, shape);
    w.broadcast(data, dtype, root, `broadcast of ${v.label}`);
    if (w.rank !== root) v.setValue(new NDArray(dtype, shape, data), { borrow: true });
  });
}
