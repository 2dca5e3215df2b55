/**
 * `theano.distributed` (API.md §13): data-parallel training over MPI. `init()` opens the MPI
 * library found at run time (mpi.ts) once per process and finalises it at exit; `rank`, `size`
 * and `localRank` are live bindings, valid after `init()`; `allReduce`/`allGather` are graph
 * ops (ops.ts); `broadcast` and `barrier` act at once on the host; `DataParallel`
 * (data_parallel.ts) shards a dataset and trains with one fused gradient all-reduce a step.
 */

import { type InitOptions, MPI_LIBRARIES, type MpiAbiName, currentWorld, initWorld, probeInit as probeInitMpi, probeMpi, requireWorld } from "./mpi.js";

export { AllReduce, AllGather, allReduce, allGather } from "./ops.js";
export { DataParallel, broadcast, epochOrder, shardIndices, stepsPerEpoch } from "./data_parallel.js";
export type { DataParallelOptions, LearningRate, Optimizer, ShardKind, ShardPlan, StepResult } from "./data_parallel.js";
export type { ReduceKind } from "./ops.js";
export type { InitOptions, MpiAbiName, MpiCheck, MpiInitProbe, MpiProbe } from "./mpi.js";
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

/** The library, its ABI and version, and the thread level MPI granted (for logs). */
export function info(): { library: string; abi: MpiAbiName; version: string; threadLevel: string; rank: number; size: number; localRank: number } {
  const w = requireWorld("theano.distributed.info");
  return { library: w.library, abi: w.abi.name, version: w.version, threadLevel: w.threadLevel, rank: w.rank, size: w.size, localRank: w.localRank };
}

/**
 * The MPI library and `mpirun` this process would use, found without initialising MPI (what
 * `theano-ts check` reports).
 */
export const probe = probeMpi;

/**
 * `probe()`'s report and the thread level MPI_Init_thread grants, found in a child process
 * that initialises MPI as a singleton, killed after `timeoutS` (`theano-ts check`); this
 * process loads no MPI library. A failure or timeout comes back as a reason, never a throw.
 */
export const probeInit = probeInitMpi;

/** Waits until every rank has called it. */
export function barrier(): void {
  requireWorld("theano.distributed.barrier").barrier("barrier");
}
