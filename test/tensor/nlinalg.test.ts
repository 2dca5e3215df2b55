/**
 * T.nlinalg against numpy.linalg (test/fixtures/nlinalg_fixtures.json, made by
 * nlinalg_fixtures.py): unique results by value (inverse, determinant, solution, Cholesky
 * factor, eigenvalues, singular values, |R|, trace, norms), eigenvectors and singular/QR vectors
 * by their defining identities, on every input layout; and the errors.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError, ShapeError, TypeMismatchError } from "../../src/errors.js";
import type { Variable } from "../../src/graph/basic.js";
import { type DType, isBigIntDType, typedArrayCtor } from "../../src/ndarray/dtype.js";
import { NDArray, array, contiguousStrides } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { MatrixInverse, type NormOrd } from "../../src/tensor/nlinalg.js";
import type { TensorLike } from "../../src/tensor/variable.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

const L = T.nlinalg;

import { type Arr, type Case, type Fn, decode, layouts, load, runCase } from "../fixture_cases.js";
// ---------------------------------------------------------------------------------------------

const tol = (d: DType): { rtol: number; atol: number } => (d === "float32" ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-9, atol: 1e-10 });
const num = (v: unknown): number | string => (v === "inf" ? Infinity : v === "-inf" ? -Infinity : (v as number | string));

const FNS: Record<string, Fn> = {
  inv: ([a]) => L.inv(a!),
  det: ([a]) => L.det(a!),
  solve: ([a, b]) => L.solve(a!, b!),
  cholesky: ([a]) => L.cholesky(a!),
  eigh: ([a]) => L.eigh(a!)[0],
  svd: ([a]) => L.svd(a!, true, false),
  qr: ([a]) => T.abs(L.qr(a!, "r")),
  trace: ([a]) => L.trace(a!),
  norm: ([x], p) => L.norm(x!, num(p.ord) as NormOrd, p.axis as number | [number, number] | null, p.keepdims as boolean),
};

const CASES = load("nlinalg_fixtures.json");

describe("nlinalg against numpy.linalg", () => {
  for (const c of CASES) it(`${c.name}`, () => runCase(c, FNS, tol));
});

// --- identities --------------------------------------------------------------------------------

/** The matrices of a stack as nested number arrays. */
function mats(a: NDArray): number[][][] {
  const m = a.shape[a.ndim - 2]!;
  const n = a.shape[a.ndim - 1]!;
  const flat = Array.from(a.toFlat(), Number);
  const count = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  return Array.from({ length: count }, (_v, b) => Array.from({ length: m }, (_w, i) => flat.slice(b * m * n + i * n, b * m * n + (i + 1) * n)));
}
const vecs = (a: NDArray): number[][] => {
  const n = a.shape[a.ndim - 1]!;
  const flat = Array.from(a.toFlat(), Number);
  const count = a.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  return Array.from({ length: count }, (_v, b) => flat.slice(b * n, (b + 1) * n));
};
const matmul = (a: number[][], b: number[][]): number[][] => a.map((row) => (b[0] ?? []).map((_v, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
const transposeM = (a: number[][], cols: number): number[][] => Array.from({ length: cols }, (_v, j) => a.map((row) => row[j]!));
const eye = (n: number): number[][] => Array.from({ length: n }, (_v, i) => Array.from({ length: n }, (_w, j) => (i === j ? 1 : 0)));

function expectMatClose(a: number[][], b: number[][], atol: number): void {
  expect(a.length).toBe(b.length);
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i]!.length);
    row.forEach((x, j) => {
      if (Math.abs(x - b[i]![j]!) > atol) throw new Error(`entry (${i}, ${j}): ${x} vs ${b[i]![j]} (atol ${atol})`);
    });
  });
}

const inputsOf = (fn: string): Array<[string, NDArray]> => CASES.filter((c) => c.fn === fn).map((c) => [c.name, decode(c.inputs[0]!)]);
const floatOf = (a: NDArray): NDArray => (a.dtype.startsWith("float") ? a : a.astype("float64"));

describe("eigh: A v = w v with orthonormal v", () => {
  for (const [name, a] of inputsOf("eigh")) {
    it(name, () => {
      const x = T.tensor({ dtype: a.dtype, shape: a.shape.map(() => null) });
      const [w, v] = L.eigh(x);
      for (const [, value] of layouts(a)) {
        const [wv, vv] = evaluate([w!, v!], new Map([[x, value]]));
        expect(inferredShapes([w!, v!], new Map([[x, value]]))).toEqual([[...wv!.shape], [...vv!.shape]]);
        const atol = a.dtype === "float32" ? 1e-4 : 1e-10;
        mats(floatOf(a)).forEach((m, b) => {
          const n = m.length;
          const symm = m.map((row, i) => row.map((_x, j) => (j <= i ? m[i]![j]! : m[j]![i]!)));
          const V = mats(vv!)[b]!;
          const W = vecs(wv!)[b] ?? [];
          const scale = Math.max(1, ...W.map(Math.abs));
          expectMatClose(matmul(symm, V), V.map((row) => row.map((x, j) => x * W[j]!)), atol * scale);
          expectMatClose(matmul(transposeM(V, n), V), eye(n), atol);
          for (let i = 1; i < W.length; i++) expect(W[i]!).toBeGreaterThanOrEqual(W[i - 1]!);
        });
      }
    });
  }
});

describe("svd: U diag(s) Vh = A with orthonormal U and Vh", () => {
  for (const [name, a] of inputsOf("svd")) {
    for (const full of [true, false]) {
      it(`${name}, fullMatrices=${full}`, () => {
        const x = T.tensor({ dtype: a.dtype, shape: a.shape.map(() => null) });
        const outs = L.svd(x, full, true);
        const [m, n] = a.shape.slice(-2) as [number, number];
        const k = Math.min(m, n);
        const batch = a.shape.slice(0, -2);
        for (const [, value] of layouts(a)) {
          const [u, s, vh] = evaluate(outs, new Map([[x, value]]));
          expect([u!.shape, s!.shape, vh!.shape]).toEqual([
            [...batch, m, full ? m : k],
            [...batch, k],
            [...batch, full ? n : k, n],
          ]);
          expect(inferredShapes(outs, new Map([[x, value]]))).toEqual([u!.shape, s!.shape, vh!.shape].map((sh) => [...sh]));
          expect(u!.dtype).toBe(a.dtype === "float32" ? "float32" : "float64");
          const atol = a.dtype === "float32" ? 1e-4 : 1e-10;
          const A = mats(floatOf(a));
          const U = mats(u!);
          const VH = mats(vh!);
          const S = vecs(s!);
          A.forEach((am, b) => {
            // Only the first k columns of U and rows of Vh meet a singular value.
            const us = U[b]!.map((row) => row.slice(0, k).map((v, j) => v * S[b]![j]!));
            const prod = matmul(us, VH[b]!.slice(0, k));
            if (m > 0 && n > 0) expectMatClose(prod, am, atol * Math.max(1, S[b]![0]!));
            const uc = U[b]![0]?.length ?? 0;
            expectMatClose(matmul(transposeM(U[b]!, uc), U[b]!), eye(uc), atol);
            expectMatClose(matmul(VH[b]!, transposeM(VH[b]!, n)), eye(VH[b]!.length), atol);
          });
        }
      });
    }
  }
});

describe("qr: Q R = A with orthonormal Q and upper-triangular R", () => {
  for (const [name, a] of inputsOf("qr")) {
    for (const mode of ["reduced", "complete"] as const) {
      it(`${name}, mode=${mode}`, () => {
        const x = T.tensor({ dtype: a.dtype, shape: a.shape.map(() => null) });
        const outs = L.qr(x, mode);
        const [m, n] = a.shape.slice(-2) as [number, number];
        const k = mode === "complete" ? m : Math.min(m, n);
        for (const [, value] of layouts(a)) {
          const [q, r] = evaluate(outs, new Map([[x, value]]));
          expect([q!.shape.slice(-2), r!.shape.slice(-2)]).toEqual([
            [m, k],
            [k, n],
          ]);
          expect(inferredShapes(outs, new Map([[x, value]]))).toEqual([[...q!.shape], [...r!.shape]]);
          const atol = a.dtype === "float32" ? 1e-4 : 1e-10;
          const A = mats(floatOf(a));
          A.forEach((am, b) => {
            const Q = mats(q!)[b]!;
            const R = mats(r!)[b]!;
            if (m > 0 && n > 0) expectMatClose(matmul(Q, R), am, atol * 10);
            expectMatClose(matmul(transposeM(Q, k), Q), eye(k), atol);
            R.forEach((row, i) => row.forEach((v, j) => j < i && expect(v).toBe(0)));
          });
        }
      });
    }
  }

  it("R has LAPACK's signs (NumPy's R exactly, not just |R|)", () => {
    const a = array([[1, 2], [3, 4], [5, 6]], "float64");
    const x = T.dmatrix();
    const [r] = evaluate([L.qr(x, "r")], new Map([[x, a]]));
    expectClose(r!, array([[-5.916079783099616, -7.437357441610946], [0, 0.828078671210825]], "float64"), { rtol: 1e-12 });
  });
});

describe("nlinalg dtypes and static shapes", () => {
  it("casts integers to floatX, keeps float32", () => {
    expect(L.inv(T.imatrix()).dtype).toBe("float64");
    expect(L.det(T.fmatrix()).dtype).toBe("float32");
    expect(L.solve(T.fmatrix(), T.dvector()).dtype).toBe("float64");
    expect(L.trace(T.imatrix()).dtype).toBe("int64");
    expect(L.norm(T.ivector()).dtype).toBe("float64");
    expect(L.norm(T.fmatrix(), 2).dtype).toBe("float32");
  });

  it("infers static shapes", () => {
    const a = T.tensor({ dtype: "float64", shape: [2, null, 3] });
    expect(L.inv(a).type.shape).toEqual([2, 3, 3]);
    expect(L.det(a).type.shape).toEqual([2]);
    const [w, v] = L.eigh(a);
    expect([w!.type.shape, v!.type.shape]).toEqual([
      [2, 3],
      [2, 3, 3],
    ]);
    const [u, s, vh] = L.svd(T.tensor({ dtype: "float64", shape: [5, 3] }), false);
    expect([u!.type.shape, s!.type.shape, vh!.type.shape]).toEqual([
      [5, 3],
      [3],
      [3, 3],
    ]);
    const [q, r] = L.qr(T.tensor({ dtype: "float64", shape: [5, 3] }), "complete");
    expect([q!.type.shape, r!.type.shape]).toEqual([
      [5, 5],
      [5, 3],
    ]);
    expect(L.solve(T.tensor({ dtype: "float64", shape: [4, 4] }), T.tensor({ dtype: "float64", shape: [null, 2] })).type.shape).toEqual([4, 2]);
  });

  it("is T.nlinalg", () => {
    expect(Object.keys(T.nlinalg).sort()).toEqual(["cholesky", "det", "eigh", "inv", "norm", "qr", "solve", "svd", "trace"]);
  });
});

describe("nlinalg errors", () => {
  const run = (out: T.TensorVariable, x: T.TensorVariable, v: NDArray): NDArray => evaluate([out], new Map([[x, v]]))[0]!;
  const nonSquare = array([[1, 2, 3], [4, 5, 6]], "float64");

  it("rank and dtype problems are TypeMismatchErrors at graph-building time", () => {
    for (const f of [L.inv, L.det, L.cholesky, L.eigh, L.trace, (x: TensorLike) => L.svd(x), (x: TensorLike) => L.qr(x)]) {
      expect(() => f(T.dvector())).toThrow(TypeMismatchError);
    }
    expect(() => L.trace(T.dtensor3())).toThrow(TypeMismatchError);
    expect(() => L.solve(T.dmatrix(), T.dtensor3())).toThrow(TypeMismatchError);
    expect(() => new MatrixInverse().makeNode(T.imatrix())).toThrow(TypeMismatchError);
    expect(() => L.norm(T.dtensor3(), 1)).toThrow(TypeMismatchError);
  });

  it("static non-square or mismatched shapes are ShapeErrors at graph-building time", () => {
    const ns = T.tensor({ dtype: "float64", shape: [2, 3] });
    for (const f of [L.inv, L.det, L.cholesky, L.eigh]) expect(() => f(ns)).toThrow(ShapeError);
    expect(() => L.solve(T.tensor({ dtype: "float64", shape: [3, 3] }), T.tensor({ dtype: "float64", shape: [4] }))).toThrow(ShapeError);
  });

  it("run-time non-square input is a ShapeError", () => {
    for (const f of [L.inv, L.det, L.cholesky, (x: TensorLike) => L.eigh(x)[0]!]) {
      const x = T.dmatrix();
      expect(() => run(f(x), x, nonSquare)).toThrow(ShapeError);
    }
    const a = T.dmatrix();
    const b = T.dvector();
    expect(() => evaluate([L.solve(a, b)], new Map<Variable, unknown>([[a, array([[1, 0], [0, 1]], "float64")], [b, array([1, 2, 3], "float64")]]))).toThrow(ShapeError);
  });

  it("singular and non-positive-definite matrices are InputErrors (NumPy's LinAlgError)", () => {
    const x = T.dmatrix();
    const singular = array([[1, 2], [2, 4]], "float64");
    expect(() => run(L.inv(x), x, singular)).toThrow(InputError);
    expect(() => run(L.inv(x), x, singular)).toThrow(/singular/);
    expect(run(L.det(x), x, singular).item()).toBe(0);
    const b = T.dvector();
    expect(() => evaluate([L.solve(x, b)], new Map<Variable, unknown>([[x, singular], [b, array([1, 2], "float64")]]))).toThrow(InputError);
    expect(() => run(L.cholesky(x), x, array([[1, 2], [2, 1]], "float64"))).toThrow(/not positive definite/);
    expect(() => run(L.cholesky(x), x, array([[NaN, 0], [0, 1]], "float64"))).toThrow(InputError);
  });

  it("NaN or infinity given to eigh or svd is an InputError; qr and inv propagate NaN", () => {
    const x = T.dmatrix();
    const bad = array([[1, NaN], [NaN, 1]], "float64");
    expect(() => run(L.eigh(x)[0]!, x, bad)).toThrow(InputError);
    expect(() => run(L.svd(x, true, false), x, bad)).toThrow(InputError);
    expect(() => run(L.svd(x, true, false), x, array([[Infinity, 0], [0, 1]], "float64"))).toThrow(InputError);
    expect(Number.isNaN(run(L.qr(x, "r"), x, bad).get(1, 1) as number)).toBe(true);
    expect(Number.isNaN(run(L.inv(x), x, array([[NaN, 0], [0, 1]], "float64")).get(0, 0) as number)).toBe(true);
  });

  it("bad options are InputErrors; an empty infinity norm fails at run time", () => {
    expect(() => L.qr(T.dmatrix(), "raw" as never)).toThrow(InputError);
    expect(() => L.norm(T.dvector(), "fro")).toThrow(InputError);
    expect(() => L.norm(T.dmatrix(), 3)).toThrow(InputError);
    expect(() => L.norm(T.dmatrix(), null, [0, 0])).toThrow(ShapeError);
    const v = T.dvector();
    expect(() => run(L.norm(v, Infinity), v, array([], "float64"))).toThrow(ShapeError);
  });
});
