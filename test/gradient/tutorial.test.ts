/**
 * The examples of Theano's gradient tutorial, end to end through theano.function: a
 * derivative, a logistic-regression gradient against its hand formula, Jacobians and Hessians
 * (unrolled for static lengths, a scan over the rows for unknown ones, as Theano's), and
 * gradients through a Jacobian.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import { Scan } from "../../src/scan/index.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import { expectClose } from "../helpers.js";
import { mulberry32 as rng } from "../../src/ndarray/rng.js";

const { T } = theano;
const G = theano.gradient;


const diag = (d: number[]): number[][] => d.map((v, i) => d.map((_w, j) => (i === j ? v : 0)));
const usesScan = (v: TensorVariable): boolean => v.owner?.op instanceof Scan;

describe("the gradient tutorial", () => {
  it("d/dx x² at 4 is 8", () => {
    const x = T.dscalar("x");
    const gy = theano.grad(x.pow(2), x);
    const f = theano.function([x], gy);
    expectClose(f(4), 8);
    expectClose(f(94.2), 188.4);
  });

  it("the logistic-regression gradient equals the hand formula", () => {
    const N = 7;
    const D = 4;
    const r = rng(3);
    const X = Array.from({ length: N }, () => Array.from({ length: D }, () => r() * 2 - 1));
    const Y = Array.from({ length: N }, () => (r() < 0.5 ? 0 : 1));
    const W = Array.from({ length: D }, () => r() - 0.5);
    const B = 0.3;

    const x = T.dmatrix("x");
    const y = T.dvector("y");
    const w = T.dvector("w");
    const b = T.dscalar("b");
    const p1 = T.constant(1).div(T.exp(T.dot(x, w).neg().sub(b)).add(1));
    const xent = y.neg().mul(T.log(p1)).sub(T.constant(1).sub(y).mul(T.log(T.constant(1).sub(p1))));
    const cost = xent.mean().add(w.pow(2).sum().mul(0.01));
    const [gw, gb] = theano.grad(cost, [w, b]);
    const f = theano.function([x, y, w, b], [gw!, gb!]);
    const [gwv, gbv] = f(X, Y, W, B);

    // By hand: p = σ(Xw + b); ∂cost/∂w = Xᵀ(p − y)/N + 0.02·w; ∂cost/∂b = mean(p − y).
    const hw = new Array<number>(D).fill(0);
    let hb = 0;
    for (let i = 0; i < N; i++) {
      let z = B;
      for (let j = 0; j < D; j++) z += X[i]![j]! * W[j]!;
      const e = 1 / (1 + Math.exp(-z)) - Y[i]!;
      hb += e / N;
      for (let j = 0; j < D; j++) hw[j]! += (X[i]![j]! * e) / N;
    }
    for (let j = 0; j < D; j++) hw[j]! += 0.02 * W[j]!;
    expectClose(gwv!, hw, { rtol: 1e-12, atol: 1e-14 });
    expectClose(gbv!, hb, { rtol: 1e-12, atol: 1e-14 });
  });

  it("the Jacobian of x² is diag(2x), for unknown and static lengths", () => {
    const xs = [1, -2, 3.5];
    const x = T.dvector("x");
    const j = G.jacobian(x.pow(2), x);
    expect(usesScan(j)).toBe(true);
    expect(j.ndim).toBe(2);
    expectClose(theano.function([x], j)(xs), diag(xs.map((v) => 2 * v)));
    const xs3 = T.tensor({ dtype: "float64", shape: [3], name: "x3" });
    const j3 = G.jacobian(xs3.pow(2), xs3);
    expect(usesScan(j3)).toBe(false);
    expect(j3.type.shape).toEqual([3, 3]);
    expectClose(theano.function([xs3], j3)(xs), diag(xs.map((v) => 2 * v)));
  });

  it("the Hessian of sum(x³) is diag(6x), for unknown and static lengths", () => {
    const xs = [1, 2, -0.5, 4];
    const x = T.dvector("x");
    const h = G.hessian(x.pow(3).sum(), x);
    expectClose(theano.function([x], h)(xs), diag(xs.map((v) => 6 * v)));
    const xs4 = T.tensor({ dtype: "float64", shape: [4], name: "x4" });
    const h4 = G.hessian(xs4.pow(3).sum(), xs4);
    expect(h4.type.shape).toEqual([4, 4]);
    expectClose(theano.function([xs4], h4)(xs), diag(xs.map((v) => 6 * v)));
    // A length of zero.
    expect(theano.function([x], h)([]).shape).toEqual([0, 0]);
  });

  it("a Jacobian with respect to a matrix and to several variables", () => {
    const W = T.dmatrix("W");
    const x = T.dvector("x");
    const y = T.dot(W, x); // ∂y[i]/∂W[k, l] = δ(i,k)·x[l]; ∂y/∂x = W
    const [jW, jx] = G.jacobian(y, [W, x]);
    const f = theano.function([W, x], [jW!, jx!]);
    const Wv = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const xv = [7, 8, 9];
    const [a, b] = f(Wv, xv);
    expect(a!.shape).toEqual([2, 2, 3]);
    expectClose(a!, [
      [xv, [0, 0, 0]],
      [[0, 0, 0], xv],
    ]);
    expectClose(b!, Wv);
  });

  it("the Jacobian of a scalar is its gradient", () => {
    const x = T.dvector("x");
    expectClose(theano.function([x], G.jacobian(x.pow(2).sum(), x))([1, 2]), [2, 4]);
    expect(() => G.jacobian(T.dmatrix("m"), x)).toThrow(theano.GradientError);
    expect(() => G.hessian(T.dmatrix("m").sum(), T.dmatrix("m2"))).toThrow(/vector/);
  });

  it("gradients flow through Jacobians and Hessians (through the scan's gradient)", () => {
    // d/dx Σ_ij J_ij·c_ij for J = jacobian(x³) = diag(3x²) is 6x·c_ii.
    G.verifyGrad((a) => G.jacobian(a!.pow(3), a!), [[0.5, -1.5, 2]]);
    G.verifyGrad((a, b) => G.jacobian(a!.mul(b!).sin(), a!), [[0.3, 1.1], [2, -1]]);
    G.verifyGrad((a) => G.hessian(a!.pow(3).sum().add(a!.prod()), a!), [[0.5, 1.5, -2]]);
    // A third derivative, evaluated: d/dx sum(hessian(sum(x⁴))) = d/dx sum(12x²) = 24x.
    const x = T.dvector("x");
    const t = theano.grad(G.hessian(x.pow(4).sum(), x).sum(), x);
    expectClose(theano.function([x], t)([1, -2]), [24, -48]);
  });

  it("Jacobians over shared variables, and their gradients", () => {
    const x = T.dvector("x");
    const s = theano.shared(array([2, 3], "float64"), { name: "s" });
    const j = G.jacobian(x.mul(s).sin(), x); // diag(s·cos(s·x))
    const c = theano.grad(j.sum(), s); // cos(s·x) − s·x·sin(s·x)
    const [jv, cv] = theano.function([x], [j, c])([0.5, 1]);
    expectClose(jv!, diag([2 * Math.cos(1), 3 * Math.cos(3)]), { rtol: 1e-12, atol: 1e-14 });
    expectClose(cv!, [Math.cos(1) - Math.sin(1), Math.cos(3) - 3 * Math.sin(3)], { rtol: 1e-12, atol: 1e-14 });
  });

  it("Rop(f, x, v) equals jacobian(f, x)·v, and Lop(f, x, v) equals vᵀ·jacobian", () => {
    const m = T.dmatrix("m");
    const x = T.dvector("x");
    const v = T.dvector("v"); // along x
    const w = T.dvector("w"); // along f
    const f = T.dot(m, x).tanh();
    const f1 = theano.function([m, x, v, w], [G.Rop(f, x, v), T.dot(G.jacobian(f, x), v), G.Lop(f, x, w), T.dot(w, G.jacobian(f, x))]);
    const [r, jv, l, vj] = f1([[1, 2], [3, 4], [0.5, -1]], [0.1, 0.2], [1, -2], [1, -2, 0.5]);
    expectClose(r!, jv!, { rtol: 1e-12, atol: 1e-14 });
    expectClose(l!, vj!, { rtol: 1e-12, atol: 1e-14 });
  });

  it("runs float32 graphs in float32", () => {
    const x = T.fvector("x");
    const h = G.hessian(x.pow(3).sum(), x);
    expect(h.dtype).toBe("float32");
    const out = theano.function([x], h)(array([1, 2], "float32")) as NDArray;
    expectClose(out, array(diag([6, 12]), "float32"));
  });
});

/** The tutorial's R-op, L-op and Hessian-times-vector blocks, written as the tutorial writes them. */
describe("issue 12.2: the tutorial's Rop and Lop examples run unchanged", () => {
  it("R-operator: Rop(dot(x, W), W, V) compiled over [W, V, x] gives [2, 2]", () => {
    const W = T.dmatrix("W");
    const V = T.dmatrix("V");
    const x = T.dvector("x");
    const y = T.dot(x, W);
    const JV = T.Rop(y, W, V);
    const f = theano.function([W, V, x], JV);
    expectClose(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2, 2]);
  });

  it("L-operator: Lop(dot(x, W), W, v) compiled over [v, x] (W not needed) gives [[0, 0], [2, 2]]", () => {
    const W = T.dmatrix("W");
    const v = T.dvector("v");
    const x = T.dvector("x");
    const y = T.dot(x, W);
    const VJ = T.Lop(y, W, v);
    const f = theano.function([v, x], VJ);
    expectClose(f([2, 2], [0, 1]), [[0, 0], [2, 2]]);
  });

  it("Hessian times a vector, by grad and by Rop (f linear in x: x stays an input), gives [4, 4]", () => {
    const x = T.dvector("x");
    const v = T.dvector("v");
    const y = T.sum(x.pow(2));
    const gy = T.grad(y, x);
    const vH = T.grad(T.sum(gy.mul(v)), x);
    expectClose(theano.function([x, v], vH)([4, 4], [2, 2]), [4, 4]);
    const Hv = T.Rop(gy, x, v);
    expectClose(theano.function([x, v], Hv)([4, 4], [2, 2]), [4, 4]);
  });

  it("a scalar or statically shaped wrt stays an input too, on every linker", () => {
    const b = T.dscalar("b");
    const vb = T.dscalar("vb");
    const x = T.dvector("x");
    const W = T.tensor({ dtype: "float64", shape: [2, 2], name: "W" });
    const V = T.tensor({ dtype: "float64", shape: [2, 2], name: "V" });
    for (const linker of ["py", "js", "c"] as const) {
      theano.config.change({ linker }, () => {
        expectClose(theano.function([x, b, vb], T.Rop(x.mul(b), b, vb))([1, 2], 5, 3), [3, 6]);
        expectClose(theano.function([W, V, x], T.Rop(T.dot(x, W), W, V))([[1, 1], [1, 1]], [[2, 2], [2, 3]], [0, 1]), [2, 3]);
      });
    }
  });

  it("an eval point whose shape is not wrt's raises ShapeError instead of a wrong-shaped result", () => {
    const W = T.dmatrix("W");
    const V = T.dmatrix("V");
    const x = T.dvector("x");
    const f = theano.function([W, V, x], T.Rop(T.dot(x, W), W, V));
    expect(() => f([[1, 1], [1, 1]], [[2, 2, 2], [2, 2, 2]], [0, 1])).toThrow(theano.ShapeError);
  });
});

describe("issue 12.5: an integer shared wrt says how to make it a float", () => {
  it("theano.shared(0) is int64 (NumPy's inference), and grad names both ways to a float", () => {
    const x = T.dmatrix("x");
    const w = theano.shared(theano.zeros([3], "float64"), { name: "w" });
    const b = theano.shared(0, { name: "b" });
    expect(b.dtype).toBe("int64");
    const cost = T.dot(x, w).add(b).sum();
    let err: unknown;
    try {
      theano.grad(cost, [w, b]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(theano.GradientError);
    const msg = (err as Error).message;
    expect(msg).toContain("wrt[1] (b) has the integer dtype int64");
    expect(msg).toContain('theano.shared(0, { dtype: "float64", name: "b" })');
    expect(msg).toContain('theano.shared(theano.asarray(0, theano.config.floatX), { name: "b" })');
    // A symbolic integer variable keeps the plain advice.
    const i = T.lscalar("i");
    expect(() => theano.grad(i.mul(2).astype("float64"), i)).toThrow(/integer dtype int64.*\(cast it first\)$/);
  });

  it("both suggested spellings give a float shared variable the tutorial's gradient works with", () => {
    const b1 = theano.shared(0, { dtype: "float64", name: "b" });
    expect(b1.dtype).toBe("float64");
    const b2 = theano.shared(theano.asarray(0, theano.config.floatX), { name: "b" });
    expect(b2.dtype).toBe(theano.config.floatX);
    expect(theano.shared([1, 2], { dtype: "float32" }).getValue().dtype).toBe("float32");
    expect(theano.shared(theano.array([1, 2], "int32"), { dtype: "float64" }).getValue().toArray()).toEqual([1, 2]);
    const x = T.dvector("x");
    const w = theano.shared(theano.array([1, -1], "float64"), { name: "w" });
    const [gw, gb] = theano.grad(T.sum(T.dot(x, w).add(b1).pow(2)), [w, b1]);
    const [gwv, gbv] = theano.function([x], [gw!, gb!])([1, 2]);
    expectClose(gwv!, [-2, -4]); // 2·(x·w + b)·x with x·w + b = -1
    expectClose(gbv!, -2);
    expect(() => theano.shared(0, { dtype: "float65" as never })).toThrow(theano.TheanoError);
  });
});
