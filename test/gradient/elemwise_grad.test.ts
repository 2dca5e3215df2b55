/**
 * Gradients of the elementwise family: every scalar-table row (src/tensor/scalar_grads.ts),
 * Elemwise (broadcasting, integer operands, casts, Composite), DimShuffle, CAReduce and the
 * reductions built on it. Each differentiable row is checked against finite differences with
 * verifyGrad (float64, relTol 1e-4) at random points inside its domain; the documented choices
 * at non-smooth points (ties of max/min, abs at 0, zeros in prod, clip bounds) are asserted
 * with hand values.
 */

import { afterAll, describe, expect, it } from "vitest";
import { GradientError } from "../../src/errors.js";
import { GradUndefined, type Variable } from "../../src/graph/basic.js";
import { grad, verifyGrad } from "../../src/gradient/index.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import { Composite, type Step } from "../../src/scalar/composite.js";
import * as S from "../../src/scalar/table.js";
import { SCALAR_OPS } from "../../src/scalar/table.js";
import { DimShuffle, Elemwise } from "../../src/tensor/elemwise.js";
import * as T from "../../src/tensor/index.js";
import { Argmax } from "../../src/tensor/math.js";
import { NOT_DIFFERENTIABLE, SCALAR_GRADS } from "../../src/tensor/scalar_grads.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import { evaluate, expectClose } from "../helpers.js";
import { mulberry32 as rng } from "../../src/ndarray/rng.js";

// --- random points -------------------------------------------------------------------------------

const random = rng(1234);

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const fromFn = (shape: readonly number[], f: () => number): NDArray => new NDArray("float64", [...shape], Float64Array.from({ length: size(shape) }, f));
/** Uniform on (lo, hi). */
const uniform = (shape: readonly number[], lo: number, hi: number): NDArray => fromFn(shape, () => lo + (hi - lo) * random());
/** |x| uniform on (lo, hi), random sign: for rows singular or non-smooth at 0. */
const awayFromZero = (shape: readonly number[], lo: number, hi: number): NDArray => fromFn(shape, () => (random() < 0.5 ? -1 : 1) * (lo + (hi - lo) * random()));
/** k + U(0.2, 0.8) for an integer k in [-3, 3]: away from the jumps of rounding rows. */
const offInteger = (shape: readonly number[]): NDArray => fromFn(shape, () => Math.floor(random() * 7) - 3 + 0.2 + 0.6 * random());

const f64 = (v: number[] | number[][]): NDArray => array(v, "float64");

const OPTS = { relTol: 1e-4, absTol: 1e-4 };

// --- row bookkeeping -----------------------------------------------------------------------------

const checkedRows = new Set<string>();
const differentiableRows = [...SCALAR_OPS.keys()].filter((n) => SCALAR_GRADS[n] !== NOT_DIFFERENTIABLE && n !== "trigamma");
const notDifferentiableRows = [...SCALAR_OPS.keys()].filter((n) => SCALAR_GRADS[n] === NOT_DIFFERENTIABLE);

function checkRow(row: string, fn: (...xs: TensorVariable[]) => TensorVariable, points: NDArray[]): void {
  expect(SCALAR_OPS.has(row), `${row} is a table row`).toBe(true);
  verifyGrad(fn, points, OPTS);
  checkedRows.add(row);
}

afterAll(() => {
  console.log(`elemwise_grad: ${checkedRows.size} differentiable rows checked by verifyGrad; ${notDifferentiableRows.length} rows marked NOT_DIFFERENTIABLE; trigamma: GradUndefined`);
});

/** The value of d(sum(out))/d(wrt) evaluated through perform. */
function gradValues(cost: TensorVariable, wrt: TensorVariable[], givens: Array<[Variable, unknown]>): NDArray[] {
  const gs = grad(cost, wrt);
  return evaluate(gs, new Map(givens));
}

// --- the table ------------------------------------------------------------------------------------

describe("SCALAR_GRADS covers the scalar table", () => {
  it("has exactly one entry per row", () => {
    expect(Object.keys(SCALAR_GRADS).sort()).toEqual([...SCALAR_OPS.keys()].sort());
  });

  it("marks comparisons, predicates, logical and bitwise rows NOT_DIFFERENTIABLE", () => {
    expect(notDifferentiableRows.sort()).toEqual(["and", "eq", "ge", "gt", "isinf", "isnan", "le", "lt", "neq", "not", "or", "xor"].sort());
  });
});

describe("unary rows against finite differences", () => {
  const shape = [3, 4];
  const cases: Array<[string, (x: TensorVariable) => TensorVariable, () => NDArray]> = [
    ["neg", T.neg, () => uniform(shape, -2, 2)],
    ["abs", T.abs, () => awayFromZero(shape, 0.2, 2)],
    ["sign", T.sign, () => awayFromZero(shape, 0.2, 2)],
    ["inv", T.inv, () => awayFromZero(shape, 0.5, 2)],
    ["sqr", T.sqr, () => uniform(shape, -2, 2)],
    ["identity", T.tensorCopy, () => uniform(shape, -2, 2)],
    ["sqrt", T.sqrt, () => uniform(shape, 0.5, 3)],
    ["exp", T.exp, () => uniform(shape, -2, 2)],
    ["exp2", T.exp2, () => uniform(shape, -2, 2)],
    ["expm1", T.expm1, () => uniform(shape, -2, 2)],
    ["log", T.log, () => uniform(shape, 0.5, 3)],
    ["log2", T.log2, () => uniform(shape, 0.5, 3)],
    ["log10", T.log10, () => uniform(shape, 0.5, 3)],
    ["log1p", T.log1p, () => uniform(shape, -0.5, 3)],
    ["sin", T.sin, () => uniform(shape, -3, 3)],
    ["cos", T.cos, () => uniform(shape, -3, 3)],
    ["tan", T.tan, () => uniform(shape, -1.2, 1.2)],
    ["arcsin", T.arcsin, () => uniform(shape, -0.9, 0.9)],
    ["arccos", T.arccos, () => uniform(shape, -0.9, 0.9)],
    ["arctan", T.arctan, () => uniform(shape, -3, 3)],
    ["sinh", T.sinh, () => uniform(shape, -2, 2)],
    ["cosh", T.cosh, () => uniform(shape, -2, 2)],
    ["tanh", T.tanh, () => uniform(shape, -2, 2)],
    ["arcsinh", T.arcsinh, () => uniform(shape, -3, 3)],
    ["arccosh", T.arccosh, () => uniform(shape, 1.2, 3)],
    ["arctanh", T.arctanh, () => uniform(shape, -0.9, 0.9)],
    ["sigmoid", T.sigmoid, () => uniform(shape, -4, 4)],
    ["softplus", T.softplus, () => uniform(shape, -4, 4)],
    ["erf", T.erf, () => uniform(shape, -2, 2)],
    ["erfc", T.erfc, () => uniform(shape, -2, 2)],
    ["erfinv", T.erfinv, () => uniform(shape, -0.9, 0.9)],
    ["gamma", T.gamma, () => uniform(shape, 0.5, 3)],
    ["gammaln", T.gammaln, () => uniform(shape, 0.5, 3)],
    ["psi", T.psi, () => uniform(shape, 0.5, 3)],
    ["floor", T.floor, () => offInteger(shape)],
    ["ceil", T.ceil, () => offInteger(shape)],
    ["trunc", T.trunc, () => offInteger(shape)],
    ["roundHalfToEven", (x) => T.round(x), () => offInteger(shape)],
    ["roundHalfAwayFromZero", (x) => T.round(x, "half_away_from_zero"), () => offInteger(shape)],
  ];
  for (const [row, fn, point] of cases) {
    it(row, () => checkRow(row, fn, [point()]));
  }

  it("piecewise-constant rows give zeros (connected, not disconnected)", () => {
    const x = T.dvector("x");
    for (const f of [T.floor, T.ceil, T.trunc, T.sign, (v: TensorVariable) => T.round(v)]) {
      const [g] = gradValues(T.sum(f(x)), [x], [[x, [-1.5, 0.3, 2.7]]]);
      expectClose(g!, f64([0, 0, 0]));
    }
  });

  it("abs at 0 has the subgradient 0", () => {
    const x = T.dvector("x");
    const [g] = gradValues(T.sum(T.abs(x)), [x], [[x, [-2, 0, 3]]]);
    expectClose(g!, f64([-1, 0, 1]));
  });

  it("is sound where the naive formula overflows: sigmoid, softplus, tanh at large |x|", () => {
    const x = T.dvector("x");
    const [gs, gp, gt] = [T.sigmoid, T.softplus, T.tanh].map((f) => gradValues(T.sum(f(x)), [x], [[x, [-800, 800, 0]]])[0]!);
    expectClose(gs!, f64([0, 0, 0.25]));
    expectClose(gp!, f64([0, 1, 0.5]));
    expectClose(gt!, f64([0, 0, 1]));
  });

  it("keeps float32 graphs in float32", () => {
    const x = T.fvector("x");
    const g = grad(T.sum(T.mul(T.exp(x), 2)), x);
    expect(g.dtype).toBe("float32");
    verifyGrad((v) => T.sigmoid(v), [array([0.5, -1, 2], "float32")]);
  });
});

describe("binary and ternary rows, with broadcasting", () => {
  // a is (3,), b is (4,): a.dimshuffle(0, "x") with b.dimshuffle("x", 0) broadcasts to (3, 4),
  // so both operands' gradients are summed over the broadcast axis (and DimShuffle's grad runs).
  const bcast =
    (f: (a: TensorVariable, b: TensorVariable) => TensorVariable) =>
    (a: TensorVariable, b: TensorVariable): TensorVariable =>
      f(a.dimshuffle(0, "x"), b.dimshuffle("x", 0));
  const cases: Array<[string, (a: TensorVariable, b: TensorVariable) => TensorVariable, (shape: number[]) => NDArray, (shape: number[]) => NDArray]> = [
    ["add", T.add, (s) => uniform(s, -2, 2), (s) => uniform(s, -2, 2)],
    ["sub", T.sub, (s) => uniform(s, -2, 2), (s) => uniform(s, -2, 2)],
    ["mul", T.mul, (s) => uniform(s, -2, 2), (s) => uniform(s, -2, 2)],
    ["trueDiv", T.trueDiv, (s) => uniform(s, -2, 2), (s) => awayFromZero(s, 0.5, 2)],
    ["intDiv", T.intDiv, (s) => uniform(s, -3, 3), (s) => uniform(s, 0.5, 2)],
    ["mod", T.mod, (s) => uniform(s, -3, 3), (s) => uniform(s, 0.5, 2)],
    ["pow", T.pow, (s) => uniform(s, 0.5, 2), (s) => uniform(s, -1.5, 1.5)],
    ["minimum", T.minimum, (s) => uniform(s, -2, 2), (s) => uniform(s, -2, 2)],
    ["maximum", T.maximum, (s) => uniform(s, -2, 2), (s) => uniform(s, -2, 2)],
    ["arctan2", T.arctan2, (s) => awayFromZero(s, 0.5, 2), (s) => awayFromZero(s, 0.5, 2)],
  ];
  for (const [row, fn, pa, pb] of cases) {
    it(`${row} (same shapes)`, () => checkRow(row, fn, [pa([2, 3]), pb([2, 3])]));
    it(`${row} ((3,1) with (1,4))`, () => checkRow(row, bcast(fn), [pa([3]), pb([4])]));
  }

  it("clip: x, lo and hi, broadcast", () => {
    const fn = (x: TensorVariable, lo: TensorVariable, hi: TensorVariable): TensorVariable => T.clip(x, lo.dimshuffle(0, "x"), hi.dimshuffle("x", 0));
    checkRow("clip", fn, [uniform([3, 4], -2, 2), uniform([3], -1, -0.2), uniform([4], 0.2, 1)]);
  });

  it("clip passes the gradient to x inside [lo, hi] inclusive, else to the bound that is the result", () => {
    const x = T.dvector("x");
    const lo = T.dvector("lo");
    const hi = T.dvector("hi");
    const [gx, glo, ghi] = gradValues(T.sum(T.clip(x, lo, hi)), [x, lo, hi], [
      [x, [-2, -1, 0, 1, 2, 0]],
      [lo, [-1, -1, -1, -1, -1, 1]],
      [hi, [1, 1, 1, 1, 1, -1]], // the last lane has lo > hi: NumPy's clip gives hi
    ]);
    expectClose(gx!, f64([0, 1, 1, 1, 0, 0]));
    expectClose(glo!, f64([1, 0, 0, 0, 0, 0]));
    expectClose(ghi!, f64([0, 0, 0, 0, 1, 1]));
  });

  it("where: a and b (broadcast), the condition disconnected", () => {
    const cond = T.constant([[true, false, true, false], [false, false, true, true], [true, true, false, false]]);
    checkRow("where", (a, b) => T.where(cond, a.dimshuffle(0, "x"), b), [uniform([3], -2, 2), uniform([3, 4], -2, 2)]);
    const c = T.bvector("c");
    const a = T.dvector("a");
    const node = T.where(c, a, 0).owner!;
    expect(node.op.grad!(node.inputs, [T.dvector()], node.outputs)[0]).toBeNull();
  });

  it("maximum and minimum route a tie to both operands (PyTensor's choice)", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const givens: Array<[Variable, unknown]> = [
      [x, [1, 2, 3]],
      [y, [1, 5, 0]],
    ];
    const [mx, my] = gradValues(T.sum(T.maximum(x, y)), [x, y], givens);
    expectClose(mx!, f64([1, 0, 1]));
    expectClose(my!, f64([1, 1, 0]));
    const [nx, ny] = gradValues(T.sum(T.minimum(x, y)), [x, y], givens);
    expectClose(nx!, f64([1, 1, 0]));
    expectClose(ny!, f64([1, 0, 1]));
  });

  it("pow wrt the exponent is 0 at a zero base (no log(0) NaN)", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const [gx, gy] = gradValues(T.sum(T.pow(x, y)), [x, y], [
      [x, [0, 2]],
      [y, [2, 3]],
    ]);
    expectClose(gx!, f64([0, 12]));
    expectClose(gy!, f64([0, 8 * Math.log(2)]));
  });
});

describe("non-differentiable rows, integer operands, casts", () => {
  it("every NOT_DIFFERENTIABLE row's Elemwise gives null for each operand", () => {
    for (const name of notDifferentiableRows) {
      const op = SCALAR_OPS.get(name)!;
      const boolRow = ["and", "or", "xor", "not"].includes(name);
      const ins = Array.from({ length: op.arity }, () => (boolRow ? T.bvector() : T.dvector()));
      const node = new Elemwise(op).makeNode(...ins);
      const gz = (node.outputs[0] as TensorVariable).type.makeVariable() as TensorVariable;
      expect(node.op.grad!(node.inputs, [gz], node.outputs), name).toEqual(ins.map(() => null));
    }
  });

  it("a comparison cuts the path: only the direct use of x carries gradient", () => {
    const x = T.dvector("x");
    const [g] = gradValues(T.sum(T.mul(T.cast(T.lt(x, 0), "float64"), x)), [x], [[x, [-1, 2, -3]]]);
    expectClose(g!, f64([1, 0, 1]));
    expect(() => grad(T.sum(T.cast(T.gt(x, 0), "float64")), x)).toThrow(GradientError);
  });

  it("integer operands are disconnected; the float operand still gets its gradient", () => {
    const x = T.dvector("x");
    const i = T.ivector("i");
    const node = T.mul(x, i).owner!;
    const gs = node.op.grad!(node.inputs, [T.dvector()], node.outputs);
    expect(gs[0]).not.toBeNull();
    expect(gs[1]).toBeNull();
    const [gx] = gradValues(T.sum(T.pow(x, i)), [x], [
      [x, [2, 3]],
      [i, [3, 2]],
    ]);
    expectClose(gx!, f64([12, 6]));
  });

  it("an integer-only Elemwise gives null even for a differentiable row", () => {
    const i = T.ivector("i");
    const node = T.add(i, i).owner!;
    expect(node.op.grad!(node.inputs, [T.dvector()], node.outputs)).toEqual([null, null]);
  });

  it("a cast to an integer dtype passes zeros (Theano's Cast), a float cast passes gz", () => {
    const x = T.dvector("x");
    const node = T.cast(x, "int32").owner!;
    const [z] = node.op.grad!(node.inputs, [T.dvector()], node.outputs);
    expectClose(evaluate([z as TensorVariable], new Map([[x, [1.5, -2]]]))[0]!, f64([0, 0]));
    const [g] = gradValues(T.sum(T.mul(T.cast(x, "float32"), 3)), [x], [[x, [1.5, -2]]]);
    expect(g!.dtype).toBe("float64");
    expectClose(g!, f64([3, 3]));
  });

  it("trigamma's gradient is undefined (no polygamma row), and grad says so; psi's is trigamma", () => {
    const x = T.dvector("x");
    const node = T.trigamma(x).owner!;
    const [r] = node.op.grad!(node.inputs, [T.dvector()], node.outputs);
    expect(r).toBeInstanceOf(GradUndefined);
    expect((r as GradUndefined).reason).toMatch(/polygamma/);
    expect(() => grad(T.sum(T.trigamma(x)), x)).toThrow(/polygamma/);
    expect(() => grad(T.sum(T.psi(x)), x)).not.toThrow();
  });

  it("Argmax is marked notDifferentiable; a cost through argmax is disconnected", () => {
    expect(new Argmax(0, "max").notDifferentiable).toMatch(/integer positions/);
    const x = T.dmatrix("x");
    expect(() => grad(T.sum(T.cast(T.argmax(x, 0), "float64")), x)).toThrow(GradientError);
  });
});

describe("Composite (a fusion output)", () => {
  // t0 = mul(i0, i1); t1 = tanh(t0); t2 = add(t1, exp(i0))
  const steps = (d: "float64"): Step[] => [
    { op: S.mul, args: [{ input: 0 }, { input: 1 }], dtype: d },
    { op: S.tanh, args: [{ step: 0 }], dtype: d },
    { op: S.exp, args: [{ input: 0 }], dtype: d },
    { op: S.add, args: [{ step: 1 }, { step: 2 }], dtype: d },
  ];

  it("is differentiated through its steps, with broadcasting", () => {
    const comp = new Elemwise(new Composite(["float64", "float64"], steps("float64")));
    verifyGrad((a, b) => comp.call(a.dimshuffle(0, "x"), b.dimshuffle("x", 0)) as TensorVariable, [uniform([3], -1, 1), uniform([4], -1, 1)], OPTS);
    verifyGrad((a, b) => comp.call(a, b) as TensorVariable, [uniform([2, 3], -1, 1), uniform([2, 3], -1, 1)], OPTS);
  });

  it("reports an undefined step gradient with the composite's name, and nulls integer inputs", () => {
    const comp = new Composite(["float64", "int32"], [
      { op: S.trigamma, args: [{ input: 0 }], dtype: "float64" },
      { op: S.mul, args: [{ step: 0 }, { input: 1 }], dtype: "float64" },
    ]);
    const x = T.dvector("x");
    const i = T.ivector("i");
    const node = new Elemwise(comp).makeNode(x, i);
    const [gx, gi] = node.op.grad!(node.inputs, [T.dvector()], node.outputs);
    expect(gx).toBeInstanceOf(GradUndefined);
    expect((gx as GradUndefined).reason).toMatch(/polygamma.*inside Composite/);
    expect(gi).toBeNull();
  });
});

describe("DimShuffle", () => {
  it("permutes, inserts and drops axes", () => {
    verifyGrad((x) => x.dimshuffle(1, "x", 0), [uniform([3, 4], -1, 1)], OPTS);
    verifyGrad((x) => x.dimshuffle(0, "x").dimshuffle(1, 0).dimshuffle(1), [uniform([3], -1, 1)], OPTS);
    verifyGrad((x) => T.mul(x.dimshuffle("x", 1, 0), x.dimshuffle("x", 1, 0)), [uniform([2, 3], -1, 1)], OPTS);
  });

  it("sums a gradient that is not broadcastable on an inserted axis", () => {
    const x = T.dvector("x");
    const node = new DimShuffle(1, [0, "x"]).makeNode(x);
    const gz = T.dmatrix("gz");
    const [g] = node.op.grad!(node.inputs, [gz], node.outputs);
    const [v] = evaluate([g as TensorVariable], new Map<Variable, unknown>([[gz, [[1, 2, 3], [4, 5, 6]]]]));
    expectClose(v!, f64([6, 15]));
  });

  it("an integer input is disconnected", () => {
    const i = T.imatrix("i");
    const node = new DimShuffle(2, [1, 0]).makeNode(i);
    expect(node.op.grad!(node.inputs, [T.imatrix()], node.outputs)).toEqual([null]);
  });
});

describe("reductions", () => {
  const x3 = (): NDArray => uniform([3, 4, 2], -2, 2);
  const axes: Array<number | number[] | null> = [null, 0, 1, -1, [0, 2]];

  for (const axis of axes) {
    const tag = JSON.stringify(axis);
    it(`sum, mean, max, min, prod over ${tag}`, () => {
      verifyGrad((x) => T.sum(x, axis), [x3()], OPTS);
      verifyGrad((x) => T.sum(x, axis, { keepdims: true }), [x3()], OPTS);
      verifyGrad((x) => T.mean(x, axis), [x3()], OPTS);
      verifyGrad((x) => T.max(x, axis), [x3()], OPTS);
      verifyGrad((x) => T.min(x, axis, { keepdims: true }), [x3()], OPTS);
      verifyGrad((x) => T.prod(x, axis), [awayFromZero([3, 4, 2], 0.5, 1.5)], OPTS);
    });
    it(`var, std, logsumexp over ${tag}`, () => {
      verifyGrad((x) => T.variance(x, axis), [x3()], OPTS);
      verifyGrad((x) => T.variance(x, axis, { ddof: 1, keepdims: true }), [x3()], OPTS);
      verifyGrad((x) => T.std(x, axis), [x3()], OPTS);
      verifyGrad((x) => T.logsumexp(x, axis), [x3()], OPTS);
      verifyGrad((x) => T.logsumexp(x, axis, true), [x3()], OPTS);
    });
  }

  it("a float32 sum accumulating into float64 gives a float32 gradient", () => {
    const x = T.fmatrix("x");
    const g = grad(T.sum(T.sum(x, 1, { dtype: "float64" })), x);
    expect(g.dtype).toBe("float32");
    expectClose(evaluate([g], new Map([[x, array([[1, 2]], "float32")]]))[0]!, array([[1, 1]], "float32"));
  });

  it("max and min route a tie to every tied position", () => {
    const x = T.dmatrix("x");
    const v: Array<[Variable, unknown]> = [[x, [[1, 3, 3], [2, 2, 0]]]];
    expectClose(gradValues(T.sum(T.max(x, 1)), [x], v)[0]!, f64([[0, 1, 1], [1, 1, 0]]));
    expectClose(gradValues(T.sum(T.min(x, 1)), [x], v)[0]!, f64([[1, 0, 0], [0, 0, 1]]));
    expectClose(gradValues(T.max(x), [x], v)[0]!, f64([[0, 1, 1], [0, 0, 0]]));
  });

  it("prod with zeros (Theano's rule): one zero gets the product of the others, two zeros give 0", () => {
    const x = T.dmatrix("x");
    const value = [[2, 0, 3], [0, 0, 5], [1, 2, 4]];
    expectClose(gradValues(T.sum(T.prod(x, 1)), [x], [[x, value]])[0]!, f64([[0, 6, 0], [0, 0, 0], [8, 4, 2]]));
    // prod is multilinear, so central differences are exact at zeros too.
    verifyGrad((v) => T.prod(v, 1), [array(value, "float64")], OPTS);
    verifyGrad((v) => T.prod(v, 0), [array(value, "float64")], OPTS);
  });

  it("all/any and integer reductions are disconnected", () => {
    const b = T.bmatrix("b");
    for (const r of [T.all(b, 0), T.any(b), T.sum(b, 1), T.max(b)]) {
      const node = r.owner!;
      expect(node.op.grad!(node.inputs, [T.dvector()], node.outputs)).toEqual([null]);
    }
  });

  it("logsumexp is exact where the shift matters (huge values, a -inf entry)", () => {
    const x = T.dmatrix("x");
    const [g] = gradValues(T.sum(T.logsumexp(x, 1)), [x], [[x, [[1000, 1000], [0, -Infinity]]]]);
    expectClose(g!, f64([[0.5, 0.5], [1, 0]]));
  });
});

describe("second order: gradients of these gradients", () => {
  it("through elementwise rows, broadcasting and reductions", () => {
    const g = (f: (x: TensorVariable) => TensorVariable) => (x: TensorVariable): TensorVariable => grad(T.sum(f(x)), x);
    verifyGrad(g((x) => T.mul(T.tanh(x), x)), [uniform([2, 3], -1, 1)], OPTS);
    verifyGrad(g((x) => T.pow(x, T.sigmoid(x))), [uniform([4], 0.5, 2)], OPTS);
    verifyGrad(g((x) => T.mul(T.exp(x.dimshuffle(0, "x")), T.sin(x.dimshuffle("x", 0)))), [uniform([3], -1, 1)], OPTS);
    verifyGrad(g((x) => T.sqr(T.prod(x, 1))), [awayFromZero([2, 3], 0.5, 1.5)], OPTS);
    verifyGrad(g((x) => T.logsumexp(x, 0)), [uniform([3, 2], -1, 1)], OPTS);
  });
});

describe("compiled", () => {
  it("a gradient graph compiled by theano.function gives the reference values", async () => {
    const theano = await import("../../src/index.js");
    const x = T.dmatrix("x");
    const y = T.dvector("y");
    const cost = T.add(T.sum(T.mul(T.tanh(x), y.dimshuffle("x", 0))), T.max(T.prod(x, 1)));
    const gs = grad(cost, [x, y]);
    const xv = f64([[1, 0, 2], [0.5, 0.2, -1]]);
    const yv = f64([1, 2, 3]);
    const ref = evaluate(gs, new Map<Variable, unknown>([[x, xv], [y, yv]]));
    const out = theano.function([x, y], gs)(xv, yv) as NDArray[];
    // By hand: d/dx01 = tanh'(0)·y1 + (the product of the others in the lane holding the zero).
    expect(ref[0]!.get(0, 1)).toBeCloseTo(2 + 2, 12);
    out.forEach((o, k) => expectClose(o, ref[k]!));
  });
});

describe("every differentiable row was checked", () => {
  it("by verifyGrad above", () => {
    expect([...checkedRows].sort()).toEqual([...differentiableRows].sort());
  });
});
