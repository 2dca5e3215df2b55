/**
 * The small contract between `theano.function` and a backend: a linker turns a rewritten
 * FunctionGraph into a thunk from input values (in `fgraph.inputs` order) to output values
 * (in `fgraph.outputs` order). Backends own their code generation; shape checks, input
 * validation and updates stay in src/compile.
 */

import type { FunctionGraph } from "../graph/fgraph.js";
import type { Apply, Value, Variable } from "../graph/basic.js";
import type { NDArray } from "../ndarray/ndarray.js";
import type { MemoryPlan } from "./memory.js";

export type Thunk = ((inputs: readonly Value[]) => Value[]) & {
  /** Drops cached buffers and generated code; the thunk must not be called afterwards. */
  free?: () => void;
  /** The generated source, for backends that generate any. */
  source?: string;
  /** Planned and measured memory of the results (src/link/memory.ts). */
  memoryPlan?: MemoryPlan;
  /**
   * The inputs (of `fgraph.inputs`) whose memory this thunk may write, when the backend knows it
   * writes fewer than its graph's in-place nodes name (the C backend computes Elemwise{inplace}
   * into fresh memory). Absent: every input `overwrittenInputs(fgraph)` names. `theano.function`
   * lends these inputs a copy when they are shared variables (API.md §6: atomic updates); a
   * backend that under-reports breaks that promise, so a new backend leaves this out.
   */
  writes?: ReadonlySet<Variable>;
  /**
   * Per entry of `fgraph.outputs`: true when every call returns that value in memory allocated
   * during the call that no input, constant or other output shares. When all are, `theano.function`
   * skips its aliasing checks (each needs the value's ArrayBuffer, which V8 materialises for a
   * small typed array at about 1 µs apiece: most of a tiny call). Absent or false: checked.
   */
  freshOutputs?: readonly boolean[];
  /** How the thunk was made, for the profiler's compile-time split (milliseconds). */
  linkStats?: LinkStats;
  /** Given when `LinkOptions.stepLoop` was asked and the backend can run the steps natively. */
  stepLoop?: StepLoop;
};

/**
 * Runs a loop body's steps natively (src/scan's loop on the C backend, src/link/c/step_loop.ts):
 * steps t0..t1-1 of the thunk, each input's value moving per step as its `LoopInput` says and
 * each output written where its `LoopOutput` says. Null when these arguments cannot run there
 * (another dtype, memory that the offsets would leave): the caller runs the steps itself.
 */
export interface StepLoop {
  run(inputs: readonly LoopInput[], outputs: readonly LoopOutput[], t0: number, t1: number): LoopResult | null;
}

/**
 * How an input of a loop body moves: "fixed" (the same value every step), "seq" (the value is
 * step 0's row view: step t reads it `step` elements further on), "ring" (the rows of a history
 * buffer: step t reads row (first + t) mod rows, i.e. the view `value`'s shape and strides at
 * element offset base + that row times rowElems).
 */
export type LoopInput =
  | { readonly kind: "fixed"; readonly value: Value }
  | { readonly kind: "seq"; readonly value: Value; readonly step: number }
  | { readonly kind: "ring"; readonly value: Value; readonly base: number; readonly rowElems: number; readonly rows: number; readonly first: number };

/**
 * Where a loop body's output goes: row (first + t) mod rows of a contiguous buffer (offset 0)
 * whose rows have `rowShape`, or, for a while loop's condition (a scalar), nowhere but the test
 * that ends the loop when it is true.
 */
export type LoopOutput =
  | { readonly kind: "ring"; readonly buffer: NDArray; readonly rows: number; readonly first: number; readonly rowShape: readonly number[] }
  | { readonly kind: "until"; readonly rowShape: readonly number[] };

/**
 * Where a native loop stopped: "done" (next = t1), "until" (the condition was true at step
 * next - 1), "failed" (step `next` raised or gave a result of another shape; nothing after it ran:
 * the caller reruns that step on its own path for the error).
 */
export interface LoopResult {
  readonly next: number;
  readonly status: "done" | "until" | "failed";
}

/** Where the linker's time went while making a thunk. */
export interface LinkStats {
  /** Generating code (JS source, C source). */
  readonly codegenMs: number;
  /** Compiling it (the C compiler); 0 when it came from the cache. */
  readonly compileMs: number;
  /** Loading compiled modules from the compile cache (disk or this process's memo). */
  readonly cacheLoadMs: number;
  /** Modules compiled and modules loaded from the cache. */
  readonly compiled: number;
  readonly cacheLoads: number;
}

/**
 * Receives per-node timings when `theano.function` profiles (API.md §10): a backend reports
 * each node it ran, on every call, with the call's clock (`performance.now()`) at its start and
 * its duration in milliseconds. Nodes a backend fused into one kernel report the kernel's time.
 */
export interface NodeProfiler {
  /** `inputs`: the node's input values, where the backend has them (not inside a C segment). */
  record(node: Apply, startMs: number, ms: number, inputs?: readonly Value[]): void;
}

/** What `theano.function` tells a linker about how its results are used. */
export interface LinkOptions {
  /**
   * Per entry of `fgraph.outputs` (missing = false): the caller gave `Out(v, { borrow: true })`,
   * so the backend may hand out memory it overwrites on the next call (Theano's borrow).
   */
  readonly borrowed?: readonly boolean[];
  /** Set when the function is profiled: the backend times its nodes (and only then). */
  readonly profiler?: NodeProfiler;
  /** The thunk is a loop body (src/scan): give it a `stepLoop` where the backend can. */
  readonly stepLoop?: boolean;
  /** The function's name, for what the backend records (the compile cache's `cache list`). */
  readonly name?: string;
}

export interface Linker {
  readonly name: "py" | "js" | "c" | "wasm" | "cuda" | "webgpu";
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk;
}
