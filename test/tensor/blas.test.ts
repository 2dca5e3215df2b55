/**
 * dot, matmul, outer, tensordot, batchedDot against NumPy (test/fixtures/blas_fixtures.json,
 * made by blas_fixtures.py): values, dtypes, static shapes, inferShape, every input layout
 * (contiguous, transposed view, step-strided view), and the errors at graph-building and run
 * time.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ShapeError, TypeMismatchError } from "../../src/errors.js";
import type { Variable } from "../../src/graph/basic.js";
import { type DType, isBigIntDType, typedArrayCtor } from "../../src/ndarray/dtype.js";
import { NDArray, array, contiguousStrides, zeros } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { Dot, TensorDot } from "../../src/tensor/blas.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

// --- fixture plumbing (the same in blas/nlinalg/extra tests) --------------------------------
interface Arr {
  dtype: DType;
  shape: number[];
  data: Array<number | boolean | string>;
}
interface Case {
  name: string;
  fn: string;
  params: Record<string, unknown>;
  inputs: Arr[];
  outputs: Arr[];
  static?: Array<Array<number | null>>;
}

const FIXTURES = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../fixtures");
const load = (name: string): Case[] => (JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as { cases: Case[] }).cases;

function decode(a: Arr): NDArray {
  const vals = a.data.map((v) => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v));
  return array(vals as never, a.dtype).reshape(a.shape);
}

/** The same values as a transposed (Fortran-order) view and as a view with doubled strides. */
function layouts(a: NDArray): Array<[string, NDArray]> {
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

const tolFor = (d: DType): { rtol: number; atol: number } => (d === "float32" ? { rtol: 1e-5, atol: 2e-5 } : { rtol: 1e-10, atol: 1e-12 });

type Fn = (vs: T.TensorVariable[], p: Record<string, unknown>) => T.TensorVariable | T.TensorVariable[];

/** Builds the graph of one case and checks it on every layout of its inputs. */
function runCase(c: Case, fns: Record<string, Fn>, tol: (d: DType) => { rtol: number; atol: number } = tolFor): void {
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
// ---------------------------------------------------------------------------------------------

const FNS: Record<string, Fn> = {
  dot: ([a, b]) => T.dot(a!, b!),
  matmul: ([a, b]) => T.matmul(a!, b!),
  outer: ([a, b]) => T.outer(a!, b!),
  tensordot: ([a, b], p) => T.tensordot(a!, b!, p.axes as T.TensordotAxes),
  batchedDot: ([a, b]) => T.batchedDot(a!, b!),
};

describe("blas against NumPy", () => {
  for (const c of load("blas_fixtures.json")) {
    it(`${c.fn}: ${c.name}`, () => runCase(c, FNS));
  }
});

describe("dot", () => {
  it("raises ShapeError at graph-building time for statically conflicting shapes, naming both", () => {
    const a = T.tensor({ dtype: "float64", shape: [3, 4] });
    const b = T.tensor({ dtype: "float64", shape: [5, 6] });
    expect(() => T.dot(a, b)).toThrow(ShapeError);
    expect(() => T.dot(a, b)).toThrow(/\(3, 4\) and \(5, 6\)/);
    expect(() => T.dot(T.tensor({ dtype: "float64", shape: [4] }), T.tensor({ dtype: "float64", shape: [3] }))).toThrow(ShapeError);
  });

  it("raises ShapeError at run time for misaligned shapes", () => {
    const a = T.dmatrix();
    const b = T.dmatrix();
    const out = T.dot(a, b);
    expect(() => evaluate([out], new Map([[a, T.constant([[1, 2, 3]]).data.astype("float64")], [b, array([[1, 2]], "float64")]]))).toThrow(ShapeError);
    const v = T.dvector();
    expect(() => evaluate([T.dot(a, v)], new Map([[a, array([[1, 2]], "float64")], [v, array([1, 2, 3], "float64")]]))).toThrow(/not aligned/);
  });

  it("infers static shapes and output dtypes", () => {
    const a = T.tensor({ dtype: "float32", shape: [3, null] });
    const b = T.tensor({ dtype: "float32", shape: [null, 7] });
    const o = T.dot(a, b);
    expect(o.type.shape).toEqual([3, 7]);
    expect(o.dtype).toBe("float32");
    expect(T.dot(T.ivector(), T.bvector()).dtype).toBe("int32");
    expect(T.dot(T.ivector(), T.fvector()).dtype).toBe("float64");
    expect(T.dot(T.dvector(), T.dvector()).ndim).toBe(0);
  });

  it("is TensorVariable.dot, and JS numbers/arrays are weak operands", () => {
    const a = T.fmatrix();
    const o = a.dot([[1, 2], [3, 4]]);
    expect(o.dtype).toBe("float32");
    expect(o.owner!.op).toBeInstanceOf(Dot);
    const got = evaluate([o], new Map([[a, array([[1, 0], [0, 1]], "float32")]]))[0]!;
    expectClose(got, array([[1, 2], [3, 4]], "float32"));
    expect(a.dot(2).dtype).toBe("float32");
  });

  it("Dot itself takes only vectors and matrices (a TypeMismatchError otherwise)", () => {
    expect(() => new Dot().makeNode(T.dtensor3(), T.dmatrix())).toThrow(TypeMismatchError);
    expect(() => new Dot().makeNode(T.dscalar(), T.dmatrix())).toThrow(TypeMismatchError);
    expect(new Dot().equals(new Dot())).toBe(true);
    expect(String(T.dot(T.dmatrix(), T.dmatrix()).owner!.op)).toBe("dot");
  });

  it("multiplies big matrices quickly", () => {
    const n = 192;
    const a = T.dmatrix();
    const b = T.dmatrix();
    const va = new NDArray("float64", [n, n], Float64Array.from({ length: n * n }, (_v, i) => (i % 7) - 3));
    const vb = new NDArray("float64", [n, n], Float64Array.from({ length: n * n }, (_v, i) => (i % 5) - 2));
    const t0 = performance.now();
    const [got] = evaluate([T.dot(a, b)], new Map([[a, va], [b, vb]]));
    expect(performance.now() - t0).toBeLessThan(2000);
    let ref = 0;
    for (let k = 0; k < n; k++) ref += ((5 * n + k) % 7 - 3) * ((k * n + 9) % 5 - 2);
    expect(got!.get(5, 9)).toBe(ref);
  });
});

describe("matmul, tensordot, batchedDot errors", () => {
  it("matmul rejects scalars at graph-building time", () => {
    expect(() => T.matmul(T.dscalar(), T.dmatrix())).toThrow(TypeMismatchError);
  });

  it("matmul: static batch conflict is a ShapeError now, a run-time one later", () => {
    const a = T.tensor({ dtype: "float64", shape: [2, null, null] });
    const b = T.tensor({ dtype: "float64", shape: [3, null, null] });
    expect(() => T.matmul(a, b)).toThrow(ShapeError);
    expect(() => T.matmul(T.tensor({ dtype: "float64", shape: [2, 3, 4] }), T.tensor({ dtype: "float64", shape: [2, 5, 6] }))).toThrow(/\(2, 3, 4\).*\(2, 5, 6\)/);
    const x = T.dtensor3();
    const y = T.dtensor3();
    const o = T.matmul(x, y);
    const g = (sa: number[], sb: number[]) => new Map<Variable, unknown>([[x, zeros(sa)], [y, zeros(sb)]]);
    expect(() => evaluate([o], g([2, 3, 4], [3, 4, 5]))).toThrow(ShapeError);
    // A run-time 1 on an axis not declared broadcastable is not stretched (Theano's rule).
    expect(() => evaluate([o], g([1, 3, 4], [3, 4, 5]))).toThrow(/broadcast/);
    expect(() => evaluate([o], g([2, 3, 4], [2, 5, 5]))).toThrow(ShapeError);
  });

  it("tensordot checks every summed axis, statically and at run time", () => {
    expect(() => T.tensordot(T.tensor({ dtype: "float64", shape: [2, 3] }), T.tensor({ dtype: "float64", shape: [4, 5] }), 1)).toThrow(ShapeError);
    expect(() => T.tensordot(T.dmatrix(), T.dvector(), 3)).toThrow(TypeMismatchError);
    expect(() => T.tensordot(T.dmatrix(), T.dmatrix(), [[0], [0, 1]])).toThrow(TypeMismatchError);
    expect(() => T.tensordot(T.dmatrix(), T.dmatrix(), [[0, 0], [0, 1]])).toThrow(ShapeError);
    const a = T.dtensor3();
    const b = T.dtensor3();
    const o = T.tensordot(a, b, 2);
    expect(o.owner!.op).toBeInstanceOf(TensorDot);
    // (2, 3) against (3, 2): the sizes multiply to the same 6, and still must not contract.
    expect(() => evaluate([o], new Map<Variable, unknown>([[a, zeros([4, 2, 3])], [b, zeros([3, 2, 5])]]))).toThrow(/shape-mismatch/);
  });

  it("batchedDot needs a batch axis and equal batch sizes", () => {
    expect(() => T.batchedDot(T.dscalar(), T.dmatrix())).toThrow(TypeMismatchError);
    expect(() => T.batchedDot(T.tensor({ dtype: "float64", shape: [2, 3, 4] }), T.tensor({ dtype: "float64", shape: [3, 4, 5] }))).toThrow(ShapeError);
    const a = T.dtensor3();
    const b = T.dtensor3();
    expect(() => evaluate([T.batchedDot(a, b)], new Map<Variable, unknown>([[a, zeros([2, 3, 4])], [b, zeros([3, 4, 5])]]))).toThrow(ShapeError);
  });

  it("ops with equal props are equal and print their props", () => {
    const o1 = T.tensordot(T.dtensor3(), T.dtensor3(), 2).owner!.op;
    const o2 = T.tensordot(T.dtensor3(), T.dtensor3(), 2).owner!.op;
    expect(o1.equals(o2)).toBe(true);
    expect(String(o1)).toBe("TensorDot{axes=((1, 2), (0, 1)), batch=0}");
  });
});
