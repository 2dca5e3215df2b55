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

import { type Arr, type Case, type Fn, decode, layouts, load, runCase as runFixtureCase } from "../fixture_cases.js";
const tolFor = (d: DType): { rtol: number; atol: number } => (d === "float32" ? { rtol: 1e-5, atol: 2e-5 } : { rtol: 1e-10, atol: 1e-12 });
function runCase(c: Case, fns: Record<string, Fn>, tol: (d: DType) => { rtol: number; atol: number } = tolFor): void {
  runFixtureCase(c, fns, tol);
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
