/**
 * Test helpers: a reference evaluator that runs a graph node by node through each op's
 * `perform` (independent of every linker), and dtype-aware closeness checks.
 */

import { expect } from "vitest";
import { type Variable, toposort } from "../src/graph/basic.js";
import type { DType } from "../src/ndarray/dtype.js";
import { NDArray, array } from "../src/ndarray/ndarray.js";

/** Evaluates `outputs` given values for the graph's inputs, with `perform` only. */
export function evaluate(outputs: readonly Variable[], givens: Map<Variable, unknown> = new Map()): NDArray[] {
  const values = new Map<Variable, unknown>();
  for (const [k, v] of givens) values.set(k, v instanceof NDArray ? v : array(v as never, (k.type as unknown as { dtype: DType }).dtype));
  const valueOf = (v: Variable): unknown => {
    if (values.has(v)) return values.get(v);
    if (v.isConstant) return v.constantData;
    throw new Error(`no value for input ${v.label}`);
  };
  for (const node of toposort(outputs, new Set(givens.keys()))) {
    const outs = node.op.perform(node, node.inputs.map(valueOf));
    node.outputs.forEach((o, i) => values.set(o, outs[i]));
  }
  return outputs.map((o) => valueOf(o) as NDArray);
}

/** Evaluates each output's inferShape and returns the shapes as numbers. */
export function inferredShapes(outputs: readonly Variable[], givens: Map<Variable, unknown>): number[][] {
  return outputs.map((out) => {
    const node = out.owner!;
    const inShapes = node.inputs.map((i) => {
      const t = i.type as { ndim?: number };
      if (t.ndim === undefined) return null;
      return [...Array(t.ndim).keys()].map((k) => (i as unknown as { shape: { get(k: number): Variable } }) && shapeOf(i, k));
    });
    const shapes = node.op.inferShape!(node, inShapes as Variable[][]);
    const vars = shapes[out.index]!;
    return evaluate(vars, givens).map((a) => Number(a.getBig()));
  });
}

// Imported lazily so this helper works before src/tensor/index is complete.
import { shape as shapeFn } from "../src/tensor/shape.js";
import type { TensorVariable } from "../src/tensor/variable.js";
const shapeOf = (v: Variable, k: number): Variable => shapeFn(v as TensorVariable, k);

/** Tolerances by dtype (Theano's defaults in spirit). */
export function tolerance(dtype: DType): { rtol: number; atol: number } {
  return dtype === "float32" ? { rtol: 1e-5, atol: 1e-6 } : dtype === "float64" ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 0, atol: 0 };
}

/** Asserts values (NaN equal to NaN, infinities exact) and shape match, within dtype tolerance. */
export function expectClose(actual: NDArray, expected: NDArray | unknown, opts: { rtol?: number; atol?: number; dtype?: boolean; what?: string } = {}): void {
  const exp = expected instanceof NDArray ? expected : array(expected as never, actual.dtype);
  const at = opts.what ? `${opts.what}: ` : "";
  expect([...actual.shape], opts.what).toEqual([...exp.shape]);
  if (opts.dtype !== false && expected instanceof NDArray) expect(actual.dtype, opts.what).toBe(exp.dtype);
  const tol = { ...tolerance(actual.dtype), ...opts };
  const a = actual.toFlat();
  const b = exp.toFlat();
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (Number.isNaN(y)) {
      if (!Number.isNaN(x)) throw new Error(`${at}element ${i}: expected NaN, got ${x}`);
      continue;
    }
    if (!Number.isFinite(y)) {
      if (x !== y) throw new Error(`${at}element ${i}: expected ${y}, got ${x}`);
      continue;
    }
    if (Math.abs(x - y) > tol.atol + tol.rtol * Math.abs(y)) throw new Error(`${at}element ${i}: expected ${y}, got ${x} (rtol ${tol.rtol}, atol ${tol.atol})`);
  }
}

/** The warnings emitted while `fn` runs (process.emitWarning delivers them on a later tick). */
export async function warningsOf(fn: () => void): Promise<string[]> {
  const got: string[] = [];
  const on = (w: Error): void => void got.push(w.message);
  process.on("warning", on);
  try {
    fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off("warning", on);
  }
  return got;
}

/** The error `fn` throws; fails the test when it throws nothing. */
export function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}
