/**
 * What the ops with inner graphs (Scan, IfElse) share: compiling an inner graph once per mode
 * with `theano.function`, and copying rows in and out of preallocated histories.
 *
 * An inner graph is compiled with the mode of the outer function that runs the op (src/compile
 * stamps it on the node as `tag.outerMode` before linking), so `linker=py` stays the pure
 * reference all the way down; where no outer function is known (verifyGrad's evaluator, constant
 * folding), the default mode is used.
 */

import { type Mode, getMode } from "../compile/mode.js";
import { STEP_LOOP, type StepLoop, type TheanoFunction, function_ } from "../compile/function.js";
import type { ProfileStats } from "../compile/profile.js";
import type { Apply, Variable } from "../graph/basic.js";
import { NDArray, allocData } from "../ndarray/ndarray.js";

/** Marker the compile stage looks for: ops holding inner graphs get `node.tag.outerMode`. */
export interface HasInnerGraph {
  readonly compilesInnerGraph: true;
  /** Compiles the inner graphs for the outer function being built (its mode is on `node.tag`). */
  compileInnerGraphs(node: Apply): void;
}

/** A compiled inner graph; a loop body's may have its backend's native loop (`stepLoop`). */
export type InnerFn = TheanoFunction<NDArray[]> & { readonly stepLoop?: StepLoop; readonly callRaw?: (args: readonly unknown[]) => readonly NDArray[] };

/** One inner graph, compiled lazily per mode and cached. */
export class InnerGraph {
  // Keyed by what the mode resolves to, so recompiling outer functions reuses inner ones.
  private readonly compiled = new Map<string, InnerFn>();

  constructor(
    readonly inputs: readonly Variable[],
    readonly outputs: readonly Variable[],
    readonly name: string,
    /** A loop's body (Scan's step): compiled with STEP_LOOP, so its backend may loop natively. */
    readonly loopBody = false,
  ) {}

  /** The compiled function for the mode of the outer function running `node`. */
  fn(node: Apply): InnerFn {
    const mode = (node.tag.outerMode as Mode | undefined) ?? getMode(undefined);
    // A profiled outer function profiles its inner graphs too: a separate compile, whose profile
    // joins the outer one's (issue 16.1: "through Scan's inner nodes").
    const outer = node.tag.outerProfiler as ProfileStats | undefined;
    const key = `${mode}|${mode.includeTags.join(":")}|${mode.excludeTags.join(":")}|${mode.requireTags.join(":")}|${outer ? "profile" : ""}`;
    let f = this.compiled.get(key);
    if (!f) {
      const opts = { mode, onUnusedInput: "ignore" as const, name: this.name, profile: outer !== undefined, ...(this.loopBody ? { [STEP_LOOP]: true } : {}) };
      f = function_([...this.inputs], [...this.outputs], opts) as InnerFn;
      this.compiled.set(key, f);
    }
    if (outer && f.profile) outer.addInner(node, f.profile);
    return f;
  }
}

/** Each array's row shape and strides, frozen once (a loop takes a view of a row every step). */
const rowLayouts = new WeakMap<NDArray, readonly [readonly number[], readonly number[]]>();

/** Row i of an array, as a view (no copy); i must lie inside its first axis. */
export function row(a: NDArray, i: number): NDArray {
  let layout = rowLayouts.get(a);
  if (!layout) rowLayouts.set(a, (layout = [Object.freeze(a.shape.slice(1)), Object.freeze(a.strides.slice(1))]));
  return NDArray.rowOf(a, i, layout[0], layout[1]);
}

/** A fresh contiguous array of `shape` and `dtype`. */
export function emptyLike(dtype: NDArray["dtype"], shape: readonly number[]): NDArray {
  return new NDArray(dtype, shape, allocData(dtype, shape));
}

/** Writes `value` (of the row shape) into row i of the contiguous array `buf`. */
export function writeRow(buf: NDArray, i: number, value: NDArray): void {
  const rowSize = buf.shape.slice(1).reduce((a, b) => a * b, 1);
  const dst = buf.data as unknown as { set(src: ArrayLike<number | bigint>, off: number): void };
  const at = buf.offset + i * rowSize;
  if (rowSize <= 16 && value.isContiguous) {
    // A small row element by element: a subarray view would make V8 materialise the ArrayBuffer
    // of a small step result (about a microsecond, most of a tiny step).
    const d = buf.data as unknown as Array<number | bigint>;
    const v = value.data as unknown as ArrayLike<number | bigint>;
    const o = value.offset;
    if (value.dtype === buf.dtype) for (let k = 0; k < rowSize; k++) d[at + k] = v[o + k]!;
    else dst.set(value.toFlat() as unknown as ArrayLike<number>, at);
    return;
  }
  // A contiguous value of the buffer's dtype (the usual step result) is one copy, no flattening.
  const src =
    value.isContiguous && value.dtype === buf.dtype ? (value.data.subarray(value.offset, value.offset + rowSize) as unknown as ArrayLike<number>) : (value.toFlat() as unknown as ArrayLike<number>);
  dst.set(src, at);
}

/** The first `n` rows of a contiguous array, copied. */
export function firstRows(buf: NDArray, n: number): NDArray {
  const rowSize = buf.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = emptyLike(buf.dtype, [n, ...buf.shape.slice(1)]);
  (out.data as unknown as { set(src: unknown, off: number): void }).set(buf.data.subarray(buf.offset, buf.offset + n * rowSize), 0);
  return out;
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
export const fmtShape = (s: readonly number[]): string => `[${s.join(", ")}]`;
