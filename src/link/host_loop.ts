/**
 * A loop body's steps in one JavaScript loop (issue 14.4: Scan's loop on the JS backend): the
 * `StepLoop` of a thunk that has no native loop of its own. Each step calls the thunk on views
 * moved to the step's rows (made without the constructor's checks: every offset is checked here
 * once, before the loop) and copies its results into their rows; a while loop's condition is read
 * after each step. A step that throws, or whose result has another shape, stops the loop there:
 * the caller reruns that step on its own path, which raises the error every backend raises.
 * What it saves against calling the compiled function per step: the input checks of every call,
 * the argument arrays, and the row views' checks.
 */

import type { Type, Value } from "../graph/basic.js";
import { NDArray, shapeSize } from "../ndarray/ndarray.js";
import { TensorType } from "../tensor/type.js";
import type { LoopInput, LoopOutput, LoopResult, StepLoop } from "./types.js";

/** The reach of an array's elements around its offset: [lowest, highest] relative to it. */
function reach(a: NDArray): [number, number] | null {
  let below = 0;
  let above = 0;
  for (let d = 0; d < a.shape.length; d++) {
    const n = a.shape[d]!;
    if (n === 0) return null;
    const st = a.strides[d]!;
    if (st > 0) above += (n - 1) * st;
    else below += (n - 1) * st;
  }
  return [below, above];
}

let loopCalls = 0;
let loopSteps = 0;
/** Loops run by hostStepLoop in this process, and the steps they finished (tests and benchmarks). */
export function hostStepLoopStats(): { calls: number; steps: number } {
  return { calls: loopCalls, steps: loopSteps };
}

/**
 * The StepLoop of `run`, a thunk over inputs of the types `inputTypes` (the values must have
 * exactly those dtypes and ranks: nothing converts them as a function call's checks would).
 */
export function hostStepLoop(inputTypes: readonly Type[], run: (inputs: readonly Value[]) => Value[]): StepLoop {
  const nInputs = inputTypes.length;
  return {
    run(inputs: readonly LoopInput[], outputs: readonly LoopOutput[], t0: number, t1: number): LoopResult | null {
      if (inputs.length !== nInputs) return null;
      if (!(t1 > t0)) return { next: t0, status: "done" };
      // Every offset a step will use, checked once.
      for (const [i, spec] of inputs.entries()) {
        const a = spec.value;
        const type = inputTypes[i];
        if (!(type instanceof TensorType) || !(a instanceof NDArray) || a.dtype !== type.dtype || a.shape.length !== type.ndim) return null;
        if (spec.kind === "fixed") continue;
        const r = reach(a);
        if (r === null) continue;
        const len = a.data.length;
        const fits = (off: number): boolean => off + r[0] >= 0 && off + r[1] < len;
        if (spec.kind === "seq") {
          if (!fits(a.offset + t0 * spec.step) || !fits(a.offset + (t1 - 1) * spec.step)) return null;
        } else if (!(spec.rows > 0) || spec.first < 0 || !fits(spec.base) || !fits(spec.base + (spec.rows - 1) * spec.rowElems)) return null;
      }
      const rowElems = outputs.map((o) => shapeSize(o.rowShape));
      for (const [k, o] of outputs.entries()) {
        if (o.kind !== "ring") continue;
        const b = o.buffer;
        if (b.offset !== 0 || !b.isContiguous || !(o.rows > 0) || o.first < 0 || b.data.length < o.rows * rowElems[k]!) return null;
      }
      const values: Value[] = new Array(nInputs);
      loopCalls++;
      for (let t = t0; t < t1; t++, loopSteps++) {
        for (let i = 0; i < nInputs; i++) {
          const spec = inputs[i]!;
          values[i] =
            spec.kind === "fixed"
              ? spec.value
              : NDArray.viewAt(spec.value as NDArray, spec.kind === "seq" ? (spec.value as NDArray).offset + t * spec.step : spec.base + ((spec.first + t) % spec.rows) * spec.rowElems);
        }
        let outs: Value[];
        try {
          outs = run(values);
        } catch {
          return { next: t, status: "failed" };
        }
        for (let k = 0; k < outputs.length; k++) {
          const o = outputs[k]!;
          const v = outs[k] as NDArray;
          const want = o.rowShape;
          if (!(v instanceof NDArray) || v.shape.length !== want.length) return { next: t, status: "failed" };
          for (let d = 0; d < want.length; d++) if (v.shape[d] !== want[d]) return { next: t, status: "failed" };
          if (o.kind === "until") {
            const x = v.data[v.offset]!;
            if (typeof x === "bigint" ? x !== 0n : x !== 0) {
              // the other outputs of this step are written first (they come before it)
              loopSteps++;
              return { next: t + 1, status: "until" };
            }
            continue;
          }
          const b = o.buffer;
          if (v.dtype !== b.dtype) return { next: t, status: "failed" };
          copyRow(b, ((o.first + t) % o.rows) * rowElems[k]!, v, rowElems[k]!);
        }
      }
      return { next: t1, status: "done" };
    },
  };
}

/** Writes `v` (of `n` elements, the buffer's dtype) at element `at` of the contiguous `b`, in C order. */
function copyRow(b: NDArray, at: number, v: NDArray, n: number): void {
  const dst = b.data as unknown as { [i: number]: number | bigint; set(src: ArrayLike<number | bigint>, off: number): void };
  const src = v.data as unknown as { [i: number]: number | bigint; subarray(a: number, b: number): ArrayLike<number | bigint> };
  if (v.isContiguous) {
    const o = v.offset;
    if (n <= 16) for (let k = 0; k < n; k++) dst[at + k] = src[o + k]!;
    else dst.set(src.subarray(o, o + n), at);
    return;
  }
  const flat = v.toFlat() as unknown as ArrayLike<number | bigint>;
  for (let k = 0; k < n; k++) dst[at + k] = flat[k]!;
}
