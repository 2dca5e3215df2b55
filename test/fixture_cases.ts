/**
 * NumPy-fixture cases shared by the op-family tests: the JSON case format the generators in
 * test/fixtures/*_fixtures.py write, decoding, input layouts (contiguous, transposed view,
 * strided view), and one runner that checks dtype, static shape, values on every layout and
 * inferShape against the computed shapes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { Variable } from "../src/graph/basic.js";
import { type DType, isBigIntDType, typedArrayCtor } from "../src/ndarray/dtype.js";
import { NDArray, array, contiguousStrides } from "../src/ndarray/ndarray.js";
import * as T from "../src/tensor/index.js";
import { evaluate, expectClose, inferredShapes } from "./helpers.js";

export interface Arr {
  dtype: DType;
  shape: number[];
  data: Array<number | boolean | string>;
}
export interface Case {
  name: string;
  fn: string;
  params: Record<string, unknown>;
  inputs: Arr[];
  outputs: Arr[];
  static?: Array<Array<number | null>>;
}

const FIXTURES = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "fixtures");
export const load = (name: string): Case[] => (JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as { cases: Case[] }).cases;

export function decode(a: Arr): NDArray {
  const vals = a.data.map((v) => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v));
  return array(vals as never, a.dtype).reshape(a.shape);
}

/** The same values as a transposed (Fortran-order) view and as a view with doubled strides. */
export function layouts(a: NDArray): Array<[string, NDArray]> {
  const out: Array<[string, NDArray]> = [["contiguous", a]];
  if (a.ndim >= 2) out.push(["transposed view", a.transpose().copy().transpose()]);
  if (a.size > 0 && a.ndim >= 1) {
    const big = new (typedArrayCtor(a.dtype))(2 * a.size + 1);
    const junk = a.dtype.startsWith("float") ? NaN : 99;
    (big as Float64Array).fill((isBigIntDType(a.dtype) ? BigInt(junk) : junk) as number);
    const flat = a.toFlat();
    for (let i = 0; i < a.size; i++) (big as Float64Array)[1 + 2 * i] = flat[i] as number;
    out.push(["strided view", new NDArray(a.dtype, a.shape, big, contiguousStrides(a.shape).map((s) => 2 * s), 1)]);
  }
  return out;
}

export type Fn = (vs: T.TensorVariable[], p: Record<string, unknown>) => T.TensorVariable | T.TensorVariable[];

export function runCase(c: Case, fns: Record<string, Fn>, tol: (d: DType) => { rtol: number; atol: number }): void {
  const ins = c.inputs.map(decode);
  const vars = ins.map((a, i) => T.tensor({ dtype: a.dtype, shape: c.static?.[i] ?? a.shape.map(() => null) }));
  const made = fns[c.fn]!(vars, c.params);
  const outs = Array.isArray(made) ? made : [made];
  const expected = c.outputs.map(decode);
  expect(outs.map((o) => o.dtype)).toEqual(expected.map((e) => e.dtype));
  outs.forEach((o, i) => {
    o.type.shape.forEach((d, k) => {
      if (d !== null) expect(d, `static dim ${k} of output ${i}`).toBe(expected[i]!.shape[k]);
    });
  });
  const variants = ins.map(layouts);
  const nLayouts = Math.max(...variants.map((v) => v.length), 1);
  for (let l = 0; l < nLayouts; l++) {
    const givens = new Map<Variable, unknown>(vars.map((v, i) => [v, (variants[i]![l] ?? variants[i]![0]!)[1]]));
    const got = evaluate(outs, givens);
    got.forEach((g, i) => expectClose(g, expected[i]!, tol(expected[i]!.dtype)));
    if (l === 0) {
      const shapes = inferredShapes(outs.filter((o) => o.owner?.op.inferShape), givens);
      expect(shapes).toEqual(got.filter((_g, i) => outs[i]!.owner?.op.inferShape).map((g) => [...g.shape]));
    }
  }
}
