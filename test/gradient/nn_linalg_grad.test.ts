/**
 * Gradients of the op families in src/tensor/blas.ts, nnet.ts, conv.ts and nlinalg.ts, checked by
 * finite differences (`verifyGrad`, float64, relTol 1e-4) at random points in each op's domain:
 * dot and tensordot in every rank combination they support, softmax/logSoftmax along each kind of
 * axis, the cross-entropies (built-in and by composition), dropout, conv2d with every border
 * mode, stride, dilation and flip, pooling (max without ties, sums and averages, strides,
 * padding, ignoreBorder), and the gradient ops' own gradients (second order). Linear algebra
 * runs on matrices that keep each gradient defined: well-conditioned ones for inv/det/solve,
 * SPD ones for cholesky/eigh, distinct singular values for svd. Max pooling's tie rule (every
 * tied element gets the gradient, as Theano's MaxPoolGrad) is checked with hand values; the
 * parts with no gradient (the arbitrary basis of a full svd or a complete qr) raise GradientError.
 */

import { describe, expect, it } from "vitest";
import { GradientError } from "../../src/errors.js";
import { type Op } from "../../src/graph/basic.js";
import { grad, verifyGrad } from "../../src/gradient/index.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { Dot, TensorDot } from "../../src/tensor/blas.js";
import { AveragePoolGrad, Conv2d, Conv2dGradInputs, Conv2dGradWeights, MaxPoolGrad, MaxPoolGradGrad, Pool, type Conv2dParams } from "../../src/tensor/conv.js";
import { Cholesky, Det, Eigh, MatrixInverse, QR, SVD, Solve, Trace } from "../../src/tensor/nlinalg.js";
import { CrossentropyCategorical1Hot, Dropout, LogSoftmax, Softmax } from "../../src/tensor/nnet.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import * as theano from "../../src/index.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";
import { mulberry32 as rng } from "../../src/ndarray/rng.js";

const L = T.nlinalg;
const TOL = { relTol: 1e-4, absTol: 1e-4 };
const check = (fn: (...xs: TensorVariable[]) => TensorVariable, points: NDArray[], seed = 7): void => verifyGrad(fn, points, { ...TOL, seed });

const rand = rng(20260521);
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Uniform values in [lo, hi). */
function uniform(shape: number[], lo = -1, hi = 1): NDArray {
  return new NDArray("float64", shape, Float64Array.from({ length: size(shape) }, () => lo + (hi - lo) * rand()));
}

/** Distinct values (a shuffled grid 0.1 apart plus a little noise): no ties for max pooling. */
function distinct(shape: number[]): NDArray {
  const n = size(shape);
  const v = Float64Array.from({ length: n }, (_, i) => 0.1 * i + 0.02 * rand());
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return new NDArray("float64", shape, v);
}

/** A matrix (or stack) that is comfortably invertible: random plus n on the diagonal. */
function wellConditioned(shape: number[]): NDArray {
  const a = uniform(shape);
  const n = shape[shape.length - 1]!;
  const d = a.data as Float64Array;
  for (let b = 0; b < size(shape) / (n * n); b++) for (let i = 0; i < n; i++) d[b * n * n + i * n + i]! += n;
  return a;
}

/** Symmetric positive definite with well-separated eigenvalues: B Bᵀ + diag(1, 2, ..., n). */
function spd(shape: number[]): NDArray {
  const n = shape[shape.length - 1]!;
  const b = uniform(shape);
  const src = b.data as Float64Array;
  const out = new Float64Array(size(shape));
  for (let s = 0; s < size(shape) / (n * n); s++) {
    const o = s * n * n;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let acc = i === j ? 2 * (i + 1) : 0;
        for (let k = 0; k < n; k++) acc += src[o + i * n + k]! * src[o + j * n + k]!;
        out[o + i * n + j] = acc;
      }
    }
  }
  return new NDArray("float64", shape, out);
}

/** Matrices (or a stack) with singular values far apart: small random entries plus 1, 2.5, 4, ... on the diagonal. */
function separatedSingular(m: number, n: number, batch = 1): NDArray {
  const a = uniform(batch === 1 ? [m, n] : [batch, m, n], -0.3, 0.3);
  const d = a.data as Float64Array;
  for (let b = 0; b < batch; b++) for (let i = 0; i < Math.min(m, n); i++) d[b * m * n + i * n + i]! += 1 + 1.5 * i;
  return a;
}

const ones = (shape: number[]): NDArray => new NDArray("float64", shape, new Float64Array(size(shape)).fill(1));

describe("every op of these families has a gradient or says why not", () => {
  const ops: Array<[string, { prototype: Op }]> = [
    ["Dot", Dot], ["TensorDot", TensorDot], ["Softmax", Softmax], ["LogSoftmax", LogSoftmax],
    ["CrossentropyCategorical1Hot", CrossentropyCategorical1Hot], ["Dropout", Dropout],
    ["Conv2d", Conv2d], ["Conv2dGradInputs", Conv2dGradInputs], ["Conv2dGradWeights", Conv2dGradWeights],
    ["Pool", Pool], ["MaxPoolGrad", MaxPoolGrad], ["MaxPoolGradGrad", MaxPoolGradGrad], ["AveragePoolGrad", AveragePoolGrad],
    ["MatrixInverse", MatrixInverse], ["Det", Det], ["Solve", Solve], ["Cholesky", Cholesky], ["Eigh", Eigh],
    ["SVD", SVD], ["QR", QR], ["Trace", Trace],
  ];
  it.each(ops)("%s defines grad and inferShape", (_name, cls) => {
    expect(typeof cls.prototype.grad).toBe("function");
    expect(typeof cls.prototype.inferShape).toBe("function");
  });

  it("svd with fullMatrices: u and vh of a non-square matrix have no gradient; s has one", () => {
    const x = T.dmatrix("x");
    const [u, s] = L.svd(x);
    expect(() => grad(T.sum(u), x)).toThrow(GradientError);
    expect(() => grad(T.sum(u), x)).toThrow(/fullMatrices/);
    check((a) => L.svd(a)[1], [separatedSingular(4, 3)]);
    expect(grad(T.sum(s), x).ndim).toBe(2);
    // A statically square matrix: full and thin agree, so u has a gradient, the thin one.
    const sq = T.tensor({ dtype: "float64", shape: [3, 3] });
    const a = separatedSingular(3, 3);
    const [full, thin] = evaluate([grad(T.sum(T.sqr(L.svd(sq)[0])), sq), grad(T.sum(T.sqr(L.svd(x, false)[0])), x)], new Map<TensorVariable, unknown>([[sq, a], [x, a]]));
    expectClose(full!, thin!);
  });

  it("qr in complete mode: q has no gradient unless m <= n statically; r has one", () => {
    const x = T.dmatrix("x");
    expect(() => grad(T.sum(L.qr(x, "complete")[0]), x)).toThrow(/complete mode/);
    check((a) => L.qr(a, "complete")[1], [uniform([5, 3])]);
    check((a) => L.qr(a, "complete")[1], [uniform([3, 5])]);
  });

  it("integer labels of the one-hot cross-entropy are disconnected", () => {
    const p = T.dmatrix("p");
    const y = T.lvector("y");
    const g = grad(T.sum(T.crossentropyCategorical1Hot(p, y)), p);
    const [v] = evaluate([g], new Map<TensorVariable, unknown>([[p, [[0.2, 0.8], [0.5, 0.5]]], [y, array([1, 0], "int64")]]));
    expectClose(v!, [[0, -1 / 0.8], [-2, 0]]);
  });
});

describe("dot and tensordot", () => {
  it.each([
    ["matrix·matrix", [3, 4], [4, 2]],
    ["matrix·vector", [3, 4], [4]],
    ["vector·matrix", [4], [4, 2]],
    ["vector·vector", [4], [4]],
    ["scalar·matrix", [], [3, 2]],
    ["tensor3·matrix", [2, 3, 4], [4, 5]],
    ["tensor3·vector", [2, 3, 4], [4]],
    ["matrix·tensor3", [3, 4], [2, 4, 5]],
    ["tensor3·tensor3", [2, 3, 4], [2, 4, 3]],
  ])("dot %s", (_name, sa, sb) => {
    check((a, b) => T.dot(a, b), [uniform(sa as number[]), uniform(sb as number[])]);
  });

  it.each([
    ["batched (2,3,4)@(2,4,5)", [2, 3, 4], [2, 4, 5]],
    ["broadcast (3,4)@(2,4,5)", [3, 4], [2, 4, 5]],
    ["broadcast (2,3,4)@(4,)", [2, 3, 4], [4]],
    ["vector@batched (4,)@(2,4,3)", [4], [2, 4, 3]],
    ["4-d (2,3,3,4)@(2,3,4,2)", [2, 3, 3, 4], [2, 3, 4, 2]],
  ])("matmul %s", (_name, sa, sb) => {
    check((a, b) => T.matmul(a, b), [uniform(sa as number[]), uniform(sb as number[])]);
  });

  it("matmul with a statically broadcast batch axis sums the gradient back", () => {
    const a = T.tensor({ dtype: "float64", shape: [1, 3, 4] });
    const b = T.tensor({ dtype: "float64", shape: [2, 4, 5] });
    const [ga] = evaluate([grad(T.sum(T.matmul(a, b)), a)], new Map<TensorVariable, unknown>([[a, uniform([1, 3, 4])], [b, ones([2, 4, 5])]]));
    expectClose(ga!, new NDArray("float64", [1, 3, 4], new Float64Array(12).fill(10)));
  });

  it.each([
    ["axes=2", [2, 3, 4], [3, 4, 5], 2],
    ["axes=1", [2, 3], [3, 4, 2], 1],
    ["axes=0 (outer)", [2, 3], [2], 0],
    ["axes pair lists [[0,2],[2,0]]", [3, 4, 5], [5, 2, 3], [[0, 2], [2, 0]]],
    ["axes single pair [1, 0]", [3, 4], [4, 2], [1, 0]],
    ["axes [[2,0],[0,1]] permuted", [3, 4, 5], [5, 3, 2], [[2, 0], [0, 1]]],
  ])("tensordot %s", (_name, sa, sb, axes) => {
    check((a, b) => T.tensordot(a, b, axes as T.TensordotAxes), [uniform(sa as number[]), uniform(sb as number[])]);
  });

  it.each([
    ["(B,m,k)·(B,k,n)", [3, 2, 4], [3, 4, 2]],
    ["(B,k)·(B,k)", [3, 4], [3, 4]],
    ["(B,m,k)·(B,k)", [3, 2, 4], [3, 4]],
    ["(B,)·(B,m)", [3], [3, 2]],
  ])("batchedDot %s", (_name, sa, sb) => {
    check((a, b) => T.batchedDot(a, b), [uniform(sa as number[]), uniform(sb as number[])]);
  });

  it("outer", () => check((a, b) => T.outer(a, b), [uniform([3]), uniform([2, 2])]));

  it("second order: the gradient of a dot is differentiable", () => {
    check((a, b) => grad(T.sum(T.sqr(T.dot(a, b))), a), [uniform([3, 4]), uniform([4, 2])]);
  });
});

describe("softmax family and cross-entropies", () => {
  it.each([
    ["matrix, last axis", [3, 4], -1],
    ["matrix, axis 0", [3, 4], 0],
    ["tensor3, axis 1", [2, 3, 4], 1],
    ["vector", [5], -1],
    ["all elements (axis null)", [2, 3], null],
  ])("softmax and logSoftmax: %s", (_name, shape, axis) => {
    const x = uniform(shape as number[], -2, 2);
    check((a) => T.softmax(a, axis as number | null), [x]);
    check((a) => T.logSoftmax(a, axis as number | null), [x]);
  });

  it("second order: softmax's gradient is differentiable", () => {
    check((a) => grad(T.sum(T.mul(T.softmax(a), [[1, 2, 3], [3, 1, 2]])), a), [uniform([2, 3])]);
    check((a) => grad(T.sum(T.mul(T.logSoftmax(a), [[1, 2, 3], [3, 1, 2]])), a), [uniform([2, 3])]);
  });

  it("categoricalCrossentropy with one-hot rows, probability rows, and integer labels", () => {
    const oneHot = new NDArray("float64", [3, 4], Float64Array.from([0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]));
    check((a) => T.categoricalCrossentropy(T.softmax(a), T.constant(oneHot)), [uniform([3, 4])]);
    // The target probability rows are a second differentiable input.
    check((a, t) => T.categoricalCrossentropy(T.softmax(a), t), [uniform([3, 4]), uniform([3, 4], 0, 1)]);
    const labels = T.constant(array([1, 0, 3], "int64"));
    check((a) => T.categoricalCrossentropy(T.softmax(a), labels), [uniform([3, 4])]);
    check((p) => T.crossentropyCategorical1Hot(p, labels), [uniform([3, 4], 0.1, 1)]);
    check((p) => T.crossentropyCategorical1Hot(p, T.constant(array([[0, 2], [1, 1]], "int64"))), [uniform([2, 2, 3], 0.1, 1)]);
  });

  it("binaryCrossentropy through sigmoid, and softplus-based forms", () => {
    check((a, t) => T.binaryCrossentropy(T.sigmoid(a), t), [uniform([3, 2], -2, 2), uniform([3, 2], 0, 1)]);
    check((o, t) => T.binaryCrossentropy(o, t), [uniform([4], 0.1, 0.9), uniform([4], 0, 1)]);
    // The numerically stable logistic loss: softplus(-a) * t + softplus(a) * (1 - t).
    check((a, t) => T.add(T.mul(T.softplus(T.neg(a)), t), T.mul(T.softplus(a), T.sub(1, t))), [uniform([5], -3, 3), uniform([5], 0, 1)]);
  });

  it("activations built by composition", () => {
    const away = (shape: number[]): NDArray => {
      const a = uniform(shape, 0.2, 2);
      const d = a.data as Float64Array;
      for (let i = 0; i < d.length; i += 2) d[i] = -d[i]!; // both signs, never near the kink
      return a;
    };
    check((a) => T.relu(a), [away([6])]);
    check((a) => T.relu(a, 0.1), [away([6])]);
    check((a) => T.elu(a), [away([6])]);
    check((a) => T.selu(a), [away([6])]);
    check((a) => T.gelu(a), [uniform([6], -2, 2)]);
    check((a) => T.gelu(a, true), [uniform([6], -2, 2)]);
  });

  it("dropout: the same mask scales the gradient", () => {
    check((a) => T.dropout(a, 0.3, { seed: 11 }), [uniform([4, 5])]);
    const x = T.dmatrix("x");
    const y = T.dropout(x, 0.5, { seed: 3 });
    const [out, g] = evaluate([y, grad(T.sum(y), x)], new Map<TensorVariable, unknown>([[x, ones([4, 6])]]));
    expectClose(g!, out!); // x = 1 everywhere: the gradient of sum is exactly the output
  });
});

describe("conv2d", () => {
  const cases: Array<[string, Conv2dParams, number[], number[]]> = [
    ["valid", {}, [2, 2, 5, 6], [3, 2, 3, 2]],
    ["full", { borderMode: "full" }, [1, 2, 4, 3], [2, 2, 3, 2]],
    ["half", { borderMode: "half" }, [2, 1, 5, 5], [2, 1, 3, 3]],
    ["half, even kernel", { borderMode: "half" }, [1, 2, 4, 5], [2, 2, 2, 4]],
    ["explicit padding [1, 2]", { borderMode: [1, 2] }, [1, 2, 4, 4], [2, 2, 3, 3]],
    ["subsample [2, 1]", { subsample: [2, 1] }, [2, 2, 6, 5], [2, 2, 3, 2]],
    ["subsample 2 with a left-over row", { subsample: 2 }, [1, 1, 6, 7], [2, 1, 3, 3]],
    ["dilation [2, 1]", { filterDilation: [2, 1] }, [1, 2, 6, 5], [2, 2, 2, 3]],
    ["no flip (correlation)", { filterFlip: false }, [2, 2, 4, 5], [3, 2, 2, 3]],
    ["full, stride and dilation, no flip", { borderMode: "full", subsample: [3, 2], filterDilation: [1, 2], filterFlip: false }, [1, 2, 5, 6], [2, 2, 2, 2]],
  ];
  it.each(cases)("%s", (_name, params, xs, ws) => {
    check((x, w) => T.conv2d(x, w, params), [uniform(xs), uniform(ws)]);
  });

  it.each(cases.slice(0, 6))("second order (%s): the gradient ops' gradients", (_name, params, xs, ws) => {
    const x = uniform(xs);
    const w = uniform(ws);
    const out = evaluate([T.conv2d(T.constant(x), T.constant(w), params)])[0]!;
    const gz = uniform([...out.shape]);
    const sz = (n: number): TensorVariable => T.constant(n, { dtype: "int64" });
    check((f, g) => new Conv2dGradInputs(params).call(f, g, sz(xs[2]!), sz(xs[3]!)) as TensorVariable, [w, gz]);
    check((i, g) => new Conv2dGradWeights(params).call(i, g, sz(ws[2]!), sz(ws[3]!)) as TensorVariable, [x, gz]);
    check((a, b) => grad(T.sum(T.sqr(T.conv2d(a, b, params))), b), [x, w]);
  });

  it("gradient ops check the output gradient's shape", () => {
    const op = new Conv2dGradInputs({});
    const sz = (n: number): TensorVariable => T.constant(n, { dtype: "int64" });
    const node = op.makeNode(T.dtensor4(), T.dtensor4(), sz(5), sz(5));
    expect(() => op.perform(node, [uniform([2, 1, 3, 3]), uniform([1, 2, 4, 4]), array(5, "int64"), array(5, "int64")])).toThrow(/output gradient has shape \[1, 2, 4, 4\].*\[1, 2, 3, 3\]/);
  });
});

describe("pooling", () => {
  const cases: Array<[string, number[], number | [number, number], T.PoolOptions]> = [
    ["2x2", [2, 2, 4, 6], 2, {}],
    ["overlapping stride 1", [1, 2, 4, 5], [2, 3], { stride: 1 }],
    ["stride [2, 1]", [1, 1, 5, 5], [3, 2], { stride: [2, 1] }],
    ["ignoreBorder false", [1, 1, 5, 5], 2, { ignoreBorder: false }],
    ["ignoreBorder false, stride < ws", [1, 1, 5, 6], 3, { ignoreBorder: false, stride: 2 }],
    ["padding [1, 1]", [1, 2, 4, 5], [2, 3], { pad: [1, 1] }],
    ["padding with stride", [2, 1, 5, 5], 3, { pad: 1, stride: 2 }],
    ["3-d input", [3, 4, 6], 2, {}],
    ["matrix input", [5, 4], [2, 2], { stride: 1 }],
  ];
  it.each(cases)("max pooling: %s (no ties)", (_name, shape, ws, opts) => {
    check((x) => T.maxPool2d(x, ws, opts), [distinct(shape)]);
  });
  it.each(cases)("sum and average pooling: %s", (_name, shape, ws, opts) => {
    const x = uniform(shape);
    for (const mode of ["sum", "average_inc_pad", "average_exc_pad"] as const) check((a) => T.pool2d(a, ws, { ...opts, mode }), [x]);
  });

  it("max pooling routes the gradient to every element tied for the maximum (Theano's rule)", () => {
    const x = T.dmatrix("x");
    const y = T.maxPool2d(x, 2);
    const g = grad(T.sum(T.mul(y, [[10, 100]])), x);
    const xv = [
      [3, 3, 1, 2],
      [0, 3, 2, 0],
    ];
    const [gv] = evaluate([g], new Map<TensorVariable, unknown>([[x, xv]]));
    expectClose(gv!, [
      [10, 10, 0, 100],
      [0, 10, 100, 0],
    ]);
    // Overlapping windows add up at a shared maximum.
    const z = T.maxPool2d(x, [1, 2], { stride: 1 });
    const [gz] = evaluate([grad(T.sum(z), x)], new Map<TensorVariable, unknown>([[x, [[1, 5, 2, 5], [4, 4, 4, 0]]]]));
    expectClose(gz!, [
      [0, 2, 0, 1],
      [1, 2, 2, 0],
    ]);
  });

  it("second order: MaxPoolGrad and AveragePoolGrad are differentiable in the output gradient", () => {
    const x = distinct([1, 2, 5, 4]);
    const args = [2, true, 1, 0, "max"] as const;
    const pool = new Pool(...args);
    const maxout = evaluate([pool.call(T.constant(x)) as TensorVariable])[0]!;
    const gz = uniform([...maxout.shape]);
    check((g) => new MaxPoolGrad(...args).call(T.constant(x), T.constant(maxout), g) as TensorVariable, [gz]);
    check((gx) => new MaxPoolGradGrad(...args).call(T.constant(x), T.constant(maxout), gx) as TensorVariable, [uniform([1, 2, 5, 4])]);
    check((a) => grad(T.sum(T.sqr(T.maxPool2d(a, 2, { stride: 1 }))), a), [x]);
    const sz = (n: number): TensorVariable => T.constant(n, { dtype: "int64" });
    for (const mode of ["sum", "average_inc_pad", "average_exc_pad"] as const) {
      const avg = new AveragePoolGrad(3, true, 2, 1, mode);
      check((g) => avg.call(g, sz(5), sz(4)) as TensorVariable, [uniform([1, 2, 3, 2])]);
    }
  });
});

describe("linear algebra", () => {
  it("inv", () => {
    check((a) => L.inv(a), [wellConditioned([3, 3])]);
    check((a) => L.inv(a), [wellConditioned([2, 3, 3])]);
  });

  it("det", () => {
    check((a) => L.det(a), [wellConditioned([3, 3])]);
    check((a) => L.det(a), [wellConditioned([2, 4, 4])]);
  });

  it.each([
    ["matrix, vector", [3, 3], [3]],
    ["matrix, matrix", [3, 3], [3, 2]],
    ["stack, shared vector", [2, 3, 3], [3]],
    ["stack, shared matrix", [2, 3, 3], [3, 2]],
    ["stack, stack", [2, 3, 3], [2, 3, 2]],
  ])("solve: %s", (_name, sa, sb) => {
    check((a, b) => L.solve(a, b), [wellConditioned(sa as number[]), uniform(sb as number[])]);
  });

  it("cholesky (reads the lower triangle; the gradient is lower triangular)", () => {
    check((a) => L.cholesky(a), [spd([3, 3])]);
    check((a) => L.cholesky(a), [spd([2, 4, 4])]);
    // Through a symmetrisation, as users write it.
    check((a) => L.cholesky(T.add(T.dot(a, a.T), T.mul(3, T.identityLike(a)))), [uniform([3, 3])]);
  });

  it("eigh: eigenvalues, and eigenvectors through sign-invariant functions", () => {
    const a = spd([4, 4]);
    check((x) => L.eigh(x)[0], [a]);
    check((x) => T.sqr(L.eigh(x)[1]), [a]);
    // V diag(c) Vᵀ uses values and vectors together.
    check((x) => {
      const [w, v] = L.eigh(x);
      return T.dot(T.mul(v, T.mul(w, [1, -2, 0.5, 3])), v.T);
    }, [a]);
    check((x) => T.sqr(L.eigh(x)[1]), [spd([2, 3, 3])]);
  });

  it.each([
    ["tall", 4, 3],
    ["wide", 3, 4],
    ["square", 3, 3],
  ])("svd (%s): singular values, and thin u and vh through sign-invariant functions", (_name, m, n) => {
    const a = separatedSingular(m, n);
    check((x) => L.svd(x, false, false), [a]);
    check((x) => L.svd(x, true, true)[1], [a]);
    check((x) => T.sqr(L.svd(x, false)[0]), [a]);
    check((x) => T.sqr(L.svd(x, false)[2]), [a]);
    // U diag(c) Vh: invariant to flipping a pair (u_i, v_i) together.
    check((x) => {
      const [u, s, vh] = L.svd(x, false);
      return T.dot(T.mul(u, T.mul(s, [1, -2, 0.5])), vh);
    }, [a]);
  });

  it("svd of a stack of matrices", () => {
    const a = separatedSingular(4, 3, 2);
    check((x) => L.svd(x, false, false), [a]);
    check((x) => T.sqr(L.svd(x, false)[0]), [a]);
    check((x) => T.sqr(L.svd(x, false)[2]), [a]);
  });

  it("norms through svd", () => {
    const a = separatedSingular(4, 3);
    check((x) => L.norm(x, 2), [a]);
    check((x) => L.norm(x, "nuc"), [a]);
    check((x) => L.norm(x, "fro"), [a]);
  });

  it.each([
    ["tall", [5, 3]],
    ["wide", [3, 5]],
    ["square", [4, 4]],
    ["stack of tall", [2, 4, 3]],
  ])("qr (%s): q and r, and r alone", (_name, shape) => {
    const a = uniform(shape);
    check((x) => L.qr(x)[0], [a]);
    check((x) => L.qr(x)[1], [a]);
    check((x) => {
      const [q, r] = L.qr(x);
      return T.add(T.sum(T.mul(q, 0.7)), T.sum(T.sqr(r)));
    }, [a]);
    check((x) => L.qr(x, "r"), [a]);
  });

  it("trace, of square and rectangular matrices", () => {
    check((a) => L.trace(a), [uniform([3, 3])]);
    check((a) => L.trace(a), [uniform([2, 4])]);
  });

  it("second order: the inverse's and the determinant's gradients are differentiable", () => {
    check((a) => grad(L.det(a), a), [wellConditioned([3, 3])]);
    check((a) => grad(T.sum(L.inv(a)), a), [wellConditioned([3, 3])]);
  });
});

describe("the gradient ops' shapes and compiled use", () => {
  const sz = (n: number): TensorVariable => T.constant(n, { dtype: "int64" });

  it("inferShape of the gradient ops matches what perform returns", () => {
    const params: Conv2dParams = { borderMode: [1, 0], subsample: [2, 1], filterDilation: [1, 2] };
    const w = T.dtensor4("w");
    const gz = T.dtensor4("gz");
    const x = T.dtensor4("x");
    const hv = T.lscalar("h");
    const values = new Map<TensorVariable, unknown>([[w, uniform([3, 2, 2, 2])], [gz, uniform([2, 3, 3, 3])], [x, uniform([2, 2, 5, 5])], [hv, array(5, "int64")]]);
    const gi = new Conv2dGradInputs(params).call(w, gz, hv, sz(5)) as TensorVariable;
    const gw = new Conv2dGradWeights(params).call(x, gz, sz(2), sz(2)) as TensorVariable;
    for (const out of [gi, gw]) expect(inferredShapes([out], values)[0]).toEqual([...evaluate([out], values)[0]!.shape]);

    const p = T.dtensor4("p");
    const args = [[2, 3], true, [1, 2], [1, 1], "max"] as const;
    const pv = distinct([2, 1, 4, 5]);
    const maxout = new Pool(...args).call(p) as TensorVariable;
    const g = T.dtensor4("g");
    const pooledShape = [...evaluate([maxout], new Map([[p, pv]]))[0]!.shape];
    const vals = new Map<TensorVariable, unknown>([[p, pv], [g, uniform(pooledShape)]]);
    const mg = new MaxPoolGrad(...args).call(p, maxout, g) as TensorVariable;
    const mgg = new MaxPoolGradGrad(...args).call(p, maxout, T.mul(p, 2)) as TensorVariable;
    const ag = new AveragePoolGrad([2, 3], true, [1, 2], [1, 1], "average_exc_pad").call(g, hv, sz(5)) as TensorVariable;
    vals.set(hv, array(4, "int64"));
    for (const out of [mg, mgg, ag]) expect(inferredShapes([out], vals)[0]).toEqual([...evaluate([out], vals)[0]!.shape]);
  });

  it("float32 graphs keep float32 gradients (default float32 tolerances)", () => {
    const f32 = (a: NDArray): NDArray => a.astype("float32");
    verifyGrad((x, w) => T.conv2d(x, w, { subsample: 2 }), [f32(uniform([1, 2, 5, 5])), f32(uniform([2, 2, 3, 3]))]);
    verifyGrad((x) => T.avgPool2d(T.softmax(x), 2, { pad: 1 }), [f32(uniform([1, 1, 4, 4]))]);
    verifyGrad((a, b) => T.dot(L.inv(a), b), [f32(wellConditioned([3, 3])), f32(uniform([3]))]);
    const x = T.fmatrix("x");
    const y = T.dvector("y");
    const [gx, gy] = grad(T.sum(T.dot(x, y)), [x, y]);
    expect([gx!.dtype, gy!.dtype]).toEqual(["float32", "float64"]);
  });

  it("a compiled function computes conv2d and pooling gradients as perform does", () => {
    const x = T.dtensor4("x");
    const w = T.dtensor4("w");
    const cost = T.sum(T.sqr(T.maxPool2d(T.conv2d(x, w, { borderMode: "half" }), 2)));
    const [gx, gw] = grad(cost, [x, w]);
    const xv = uniform([2, 2, 4, 4]);
    const wv = uniform([3, 2, 3, 3]);
    const f = theano.function([x, w], [gx!, gw!]);
    const got = f(xv, wv) as NDArray[];
    const want = evaluate([gx!, gw!], new Map<TensorVariable, unknown>([[x, xv], [w, wv]]));
    expectClose(got[0]!, want[0]!);
    expectClose(got[1]!, want[1]!);
  });
});
