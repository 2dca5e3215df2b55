/**
 * `theano.ifelse` (issue 14.5, API.md §8) on the py, js and c linkers (c where a compiler is
 * found): only the taken branch runs (the other holds an out-of-bounds index that would raise),
 * several outputs, NumPy truthiness, the gradient through the taken branch only, bad input.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { findCompiler } from "../../src/link/c/compiler.js";
import { expectClose } from "../helpers.js";

const { T } = theano;
type TV = theano.TensorVariable;
type NDArray = theano.NDArray;

const LINKERS = (["py", "js", "c"] as const).filter((l) => l !== "c" || findCompiler() !== null);
const modeFor = (l: (typeof LINKERS)[number]): theano.Mode => new theano.Mode(l, l === "py" ? "None" : "fast_run");

describe.each(LINKERS)("issue 14.5: ifelse on the %s linker", (linker) => {
  const mode = modeFor(linker);
  const c = T.dscalar("c");
  const x = T.dvector("x");
  const i = T.lscalar("i");

  it("is lazy: the untaken branch's out-of-bounds index never runs", () => {
    const z = theano.ifelse(c, x.get(i).mul(2), x.sum()) as TV;
    const f = theano.function([c, x, i], z, { mode });
    expectClose(f(1, [1, 2, 3], 1), 4);
    expectClose(f(0, [1, 2, 3], 10), 6); // then-branch would index 10 of 3
    expect(() => f(1, [1, 2, 3], 10)).toThrow(theano.ShapeError); // taken: it raises
    expectClose(f(Number.NaN, [1, 2, 3], 0), 2); // NaN is true (NumPy truthiness)
  });

  it("several outputs at once", () => {
    const [a, b] = theano.ifelse(c.gt(0), [x.mul(2), x.sum()], [x.neg(), x.max()]) as TV[];
    const f = theano.function([c, x], [a!, b!], { mode });
    const [p, q] = f(1, [1, 2, 3]) as NDArray[];
    expectClose(p!, [2, 4, 6]);
    expectClose(q!, 6);
    const [r, s] = f(-1, [1, 2, 3]) as NDArray[];
    expectClose(r!, [-1, -2, -3]);
    expectClose(s!, 3);
  });

  it("the gradient flows through the taken branch only (and stays lazy)", () => {
    const z = theano.ifelse(c, x.get(i).mul(x.get(i)), x.mul(3).sum()) as TV;
    const g = theano.grad(z, x);
    const f = theano.function([c, x, i], g, { mode });
    expectClose(f(1, [1, 2, 3], 1), [0, 4, 0]);
    expectClose(f(0, [1, 2, 3], 10), [3, 3, 3]);
    theano.gradient.verifyGrad((xv) => theano.ifelse(T.constant(1, { dtype: "float64" }), xv!.mul(xv!).sum(), xv!.sum()) as TV, [theano.array([0.5, -1, 2])], { seed: 1 });
    theano.gradient.verifyGrad((xv) => theano.ifelse(T.constant(0, { dtype: "float64" }), xv!.mul(xv!).sum(), xv!.exp().sum()) as TV, [theano.array([0.5, -1, 2])], { seed: 1 });
  });
});

describe("issue 14.5 (bad input): ifelse", () => {
  const x = T.dvector("x");
  it("a non-scalar condition is a TypeMismatchError", () => {
    expect(() => theano.ifelse(x, x, x)).toThrow(theano.TypeMismatchError);
    expect(() => theano.ifelse(x, x, x)).toThrow(/condition must be a scalar/);
  });
  it("branches of different types or counts are a TypeMismatchError", () => {
    expect(() => theano.ifelse(T.dscalar(), x, T.dmatrix())).toThrow(/output 0 has type .* in the then branch but .* in the else branch/);
    expect(() => theano.ifelse(T.dscalar(), x, T.fvector())).toThrow(theano.TypeMismatchError);
    expect(() => theano.ifelse(T.dscalar(), [x, x], [x])).toThrow(/2 outputs and the else branch 1/);
    expect(() => theano.ifelse(T.dscalar(), [x], x)).toThrow(theano.TypeMismatchError);
  });
});
