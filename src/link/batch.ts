/**
 * Build batches: several native modules' compilers at once.
 *
 * `theano.function` builds every module of a function together: the modules of its inner graphs
 * (a scan's bodies), its own, and the shared runtime library the first time on a machine. Built
 * one after another, each waits for the last, and a module's compile is mostly one gcc process
 * on one core; started together they share the machine's cores. Inside `withBuildBatch`, the
 * compile cache (cache.ts `startModule`) starts a module's compiler and returns at once; the
 * `atBatchEnd` tasks (the C linker's "wait for my module and bind to it") run when the outermost
 * batch ends, before theano.function returns, so a module that fails to compile still fails the
 * theano.function that built it. No Node imports: the browser bundle carries it.
 */

let batchDepth = 0;
let batchTasks: Array<() => void> = [];
let batchCount = 0;
let currentBatch = 0;

/** A number for the open build batch (the outermost), 0 when none is open. */
export function buildBatchId(): number {
  return currentBatch;
}

/** Whether a build batch is open. */
export function inBuildBatch(): boolean {
  return batchDepth > 0;
}

/** Runs `fn` as a build batch (nested batches join the outermost), then the batch's deferred tasks, in order. */
export function withBuildBatch<T>(fn: () => T): T {
  if (batchDepth++ === 0) currentBatch = ++batchCount;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    if (--batchDepth === 0) {
      currentBatch = 0;
      drainBatch(false);
    }
    throw e;
  }
  if (--batchDepth === 0) {
    currentBatch = 0;
    drainBatch(true);
  }
  return result;
}

/** Runs every queued task (each waits for its builds); throws the first failure when `rethrow`. */
function drainBatch(rethrow: boolean): void {
  let first: { error: unknown } | null = null;
  while (batchTasks.length > 0) {
    const tasks = batchTasks;
    batchTasks = [];
    for (const task of tasks) {
      try {
        task();
      } catch (e) {
        first ??= { error: e };
      }
    }
  }
  if (first && rethrow) throw first.error;
}

/** Queues `task` for the end of the current build batch; false (and nothing queued) when none is open. */
export function atBatchEnd(task: () => void): boolean {
  if (batchDepth === 0) return false;
  batchTasks.push(task);
  return true;
}
