/** Gemm (z_out = alpha·dot(x, y) + beta·z): values on strided inputs, in place, shapes, types, gradient. */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { ShapeError, TypeMismatchError } from "../../src/errors.js";
import { verifyGrad } from "../../src/gradient/index.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { GEMM, GEMM_INPLACE, Gemm, gemmKernel } from "../../src/tensor/gemm.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

const { T } = theano;

function rand(shape: number[], seed: number, dtype: "float32" | "float64" = "float64"): NDArray {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 2 ** 32) * 4 - 2;
  }
  return new NDArray("float64", shape, d).astype(dtype);
}

/** alpha·x·y + beta·z computed naively in float64. */
function reference(z: NDArray, alpha: number, x: NDArray, y: NDArray, beta: number): number[][] {
  const [m, k] = x.shape as [number, number];
  const n = y.shape[1]!;
  const out: number[][] = [];
  for (let i = 0; i < m; i++) {
    const row: number[] = [];
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += Number(x.get(i, p)) * Number(y.get(p, j));
      row.push(alpha * s + (beta === 0 ? 0 : beta * Number(z.get(i, j))));
    }
    out.push(row);
  }
  return out;
}

const scalar = (v: number, dtype: "float32" | "float64" = "float64"): NDArray => new NDArray(dtype, [], dtype === "float32" ? new Float32Array([v]) : new Float64Array([v]));

function runGemm(op: Gemm, z: NDArray, alpha: number, x: NDArray, y: NDArray, beta: number): NDArray {
  const t = (a: NDArray): theano.TensorVariable => T.tensor({ dtype: a.dtype, shape: a.shape.map(() => null) });
  const node = op.makeNode(t(z), T.tensor({ dtype: z.dtype, shape: [] }), t(x), t(y), T.tensor({ dtype: z.dtype, shape: [] }));
  return node.op.perform(node, [z, scalar(alpha, z.dtype as "float64"), x, y, scalar(beta, z.dtype as "float64")])[0] as NDArray;
}

describe("Gemm", () => {
  it("computes alpha·dot(x, y) + beta·z (float64 and float32)", () => {
    for (const dtype of ["float64", "float32"] as const) {
      const x = rand([5, 3], 1, dtype);
      const y = rand([3, 4], 2, dtype);
      const z = rand([5, 4], 3, dtype);
      const out = runGemm(GEMM, z, 0.7, x, y, -1.5);
      expect(out.dtype).toBe(dtype);
      expectClose(out, reference(z, 0.7, x, y, -1.5));
    }
  });

  it("handles every blocking case: 4-row blocks, leftover rows, column blocks, k = 0", () => {
    for (const [m, k, n] of [[9, 300, 301], [3, 1, 700], [4, 0, 5], [1, 7, 1], [0, 3, 2]] as const) {
      const x = rand([m, k], 4);
      const y = rand([k, n], 5);
      const z = rand([m, n], 6);
      expectClose(runGemm(GEMM, z, 1.25, x, y, 0.5), new NDArray("float64", [m, n], Float64Array.from(reference(z, 1.25, x, y, 0.5).flat())), { rtol: 1e-12, atol: 1e-12 });
    }
  });

  it("reads strided and offset views of x, y and z", () => {
    const xT = rand([3, 5], 7).transpose(1, 0); // 5×3, column-major
    const yT = rand([4, 3], 8).transpose(1, 0); // 3×4, rows not contiguous
    const zBig = rand([10, 9], 9);
    const z = zBig.slice([1, null, 2], [2, 6]); // 5×4 with row stride 18, offset
    expect(z.isContiguous).toBe(false);
    const out = runGemm(GEMM, z, -2, xT, yT, 3);
    expectClose(out, reference(z, -2, xT, yT, 3));
    // Not in place: z's memory is untouched.
    expectClose(zBig, rand([10, 9], 9), { rtol: 0, atol: 0 });
  });

  it("with beta = 0 does not read z (a NaN in z stays out), as BLAS and Theano", () => {
    const x = rand([2, 2], 10);
    const y = rand([2, 2], 11);
    const z = new NDArray("float64", [2, 2], new Float64Array([NaN, NaN, NaN, NaN]));
    expectClose(runGemm(GEMM, z, 2, x, y, 0), reference(z, 2, x, y, 0));
  });

  it("in place writes the result into z's memory, also through strides and when x is z", () => {
    const z = rand([4, 4], 12);
    const before = z.copy();
    const x = rand([4, 2], 13);
    const y = rand([2, 4], 14);
    const out = runGemm(GEMM_INPLACE, z, 1, x, y, 1);
    expect(out.data).toBe(z.data);
    expectClose(z, reference(before, 1, x, y, 1));
    // z strided (every other column of a wider buffer).
    const wide = rand([3, 6], 15);
    const zs = wide.slice([0, null], [0, null, 2]);
    const zs0 = zs.copy();
    const x2 = rand([3, 3], 16);
    const y2 = rand([3, 3], 17);
    runGemm(GEMM_INPLACE, zs, 0.5, x2, y2, 2);
    expectClose(zs, reference(zs0, 0.5, x2, y2, 2));
    // x and y are z itself: the product must use z's old values.
    const sq = rand([3, 3], 18);
    const sq0 = sq.copy();
    runGemm(GEMM_INPLACE, sq, 1, sq, sq, 1);
    expectClose(sq, reference(sq0, 1, sq0, sq0, 1));
  });

  it("the kernel is exported for backends with a z distinct from the output", () => {
    const x = rand([2, 3], 19);
    const y = rand([3, 2], 20);
    const z = rand([2, 2], 21);
    const o = new Float64Array(4);
    const mat = (a: NDArray) => ({ data: a.data as Float64Array, off: a.offset, s0: a.strides[0]!, s1: a.strides[1]! });
    gemmKernel(2, 3, 2, 1, mat(x), mat(y), 1, mat(z), { data: o, off: 0, s0: 2, s1: 1 });
    expectClose(new NDArray("float64", [2, 2], o), reference(z, 1, x, y, 1));
  });

  it("checks types and static shapes when the node is made, and run-time shapes in perform", () => {
    const z = T.dmatrix("z");
    const a = T.dscalar("a");
    expect(() => GEMM.makeNode(z, a, T.fmatrix("x"), T.dmatrix("y"), a)).toThrow(TypeMismatchError);
    expect(() => GEMM.makeNode(z, a, T.dvector("x"), T.dmatrix("y"), a)).toThrow(TypeMismatchError);
    expect(() => GEMM.makeNode(z, T.dvector("v"), T.dmatrix("x"), T.dmatrix("y"), a)).toThrow(TypeMismatchError);
    expect(() => GEMM.makeNode(T.lmatrix("zi"), T.dscalar(), T.lmatrix("xi"), T.lmatrix("yi"), T.dscalar())).toThrow(TypeMismatchError);
    const xs = T.tensor({ dtype: "float64", shape: [2, 3] });
    const ys = T.tensor({ dtype: "float64", shape: [4, 5] });
    expect(() => GEMM.makeNode(z, a, xs, ys, a)).toThrow(ShapeError);
    const node = GEMM.makeNode(z, a, T.dmatrix("x"), T.dmatrix("y"), a);
    expect(() => node.op.perform(node, [rand([2, 2], 1), scalar(1), rand([2, 3], 2), rand([2, 2], 3), scalar(1)])).toThrow(ShapeError);
    expect(() => node.op.perform(node, [rand([3, 2], 1), scalar(1), rand([2, 3], 2), rand([3, 2], 3), scalar(1)])).toThrow(ShapeError);
  });

  it("knows its static output shape, and infers it symbolically", () => {
    const z = T.tensor({ dtype: "float64", shape: [null, 4] });
    const x = T.tensor({ dtype: "float64", shape: [3, null] });
    const y = T.dmatrix("y");
    const a = T.dscalar("a");
    const out = GEMM.call(z, a, x, y, a);
    expect([...(out.type as theano.TensorType).shape]).toEqual([3, 4]);
    const zv = rand([3, 4], 1);
    const shapes = inferredShapes([out], new Map<theano.Variable, unknown>([[z, zv], [a, scalar(1)], [x, rand([3, 2], 2)], [y, rand([2, 4], 3)]]));
    expect(shapes[0]).toEqual([3, 4]);
  });

  it("prints and compares as Theano's Gemm{inplace} / Gemm{no_inplace}", () => {
    expect(GEMM.toString()).toBe("Gemm{no_inplace}");
    expect(GEMM_INPLACE.toString()).toBe("Gemm{inplace}");
    expect(new Gemm(false).equals(GEMM)).toBe(true);
    expect(GEMM_INPLACE.equals(GEMM)).toBe(false);
    expect([...GEMM_INPLACE.destroyMap]).toEqual([[0, [0]]]);
    expect(GEMM.destroyMap.size).toBe(0);
  });

  it("has the gradient of the unfused alpha·dot(x, y) + beta·z (finite differences)", () => {
    verifyGrad((z, a, x, y, b) => GEMM.call(z!, a!, x!, y!, b!) as theano.TensorVariable, [rand([3, 2], 1), 0.7, rand([3, 4], 2), rand([4, 2], 3), -1.3]);
    // And agrees with the unfused graph's gradient.
    const z = T.dmatrix("z");
    const x = T.dmatrix("x");
    const y = T.dmatrix("y");
    const a = T.dscalar("a");
    const b = T.dscalar("b");
    const fused = T.sum(T.sqr(GEMM.call(z, a, x, y, b) as theano.TensorVariable));
    const plain = T.sum(T.sqr(T.dot(x, y).mul(a).add(z.mul(b))));
    const vals = new Map<theano.Variable, unknown>([[z, rand([2, 2], 4)], [a, scalar(0.5)], [x, rand([2, 3], 5)], [y, rand([3, 2], 6)], [b, scalar(2)]]);
    const gf = evaluate(theano.grad(fused, [z, a, x, y, b]), vals);
    const gp = evaluate(theano.grad(plain, [z, a, x, y, b]), vals);
    gf.forEach((g, i) => expectClose(g, gp[i]!));
  });
});
