/**
 * The numerical-stability battery (issue 12.1, issue 13.6): the logistic and softmax families
 * written by hand as Theano users write them, value and gradient at ±10, ±50, ±100, ±800 in
 * float32 and float64 on the py, js and c linkers, against stable float64 references (the cases
 * live in bench/stability_table.ts, which prints the same table). Then the rewrites that make it
 * pass one by one (sigmoid.ts, nnet.ts), and the Theano tutorial's float32 logistic regression.
 */
import { describe, expect, it } from "vitest";
import { BATTERY, type Dtype, LINKERS, POINTS, runCase, tutorialLogisticRegression } from "../../bench/stability_table.js";
import * as theano from "../../src/index.js";
import { expectClose } from "../helpers.js";
import { stabilize, specialize } from "../../src/rewriting/engine.js";
import { SIGMOID_REWRITES } from "../../src/rewriting/sigmoid.js";
import { checkRewrite, compile, ops, randomValues, run } from "./catalogue_helpers.js";

const { T } = theano;

/** The cells of `name` on every linker that are not finite and equal to the reference. */
function badCells(name: string, dtype: Dtype, linkers = LINKERS): string[] {
  const c = BATTERY.find((b) => b.name === name)!;
  const bad: string[] = [];
  for (const linker of linkers) {
    for (const cell of runCase(c, dtype, linker)) {
      if (!cell.valueOk) bad.push(`${linker} x=${cell.point} value [${cell.value}] want [${cell.refValue}]`);
      if (!cell.gradOk) bad.push(`${linker} x=${cell.point} grad [${cell.grad}] want [${cell.refGrad}]`);
    }
  }
  return bad;
}

describe(`issue 12.1: the stability battery (${POINTS.join(", ")}; ${LINKERS.join(", ")})`, () => {
  for (const c of BATTERY) {
    for (const dtype of ["float32", "float64"] as const) {
      it(`${c.name} (${c.written}), ${dtype}: value and gradient finite and equal to the stable reference`, () => {
        expect(badCells(c.name, dtype)).toEqual([]);
      });
    }
  }

  it("without the product and ratio rewrites the hand-written gradients are NaN or wrong (what the battery catches)", () => {
    const off = ["local_sigm_times_exp", "local_sigm_grad_distribute", "local_softmax_ratio"].join(":");
    theano.config.change({ optimizer_excluding: off } as never, () => {
      expect(badCells("sigmoid", "float32", ["js"]).some((b) => b.includes("grad"))).toBe(true);
      expect(badCells("binary crossentropy", "float32", ["js"]).some((b) => b.includes("grad"))).toBe(true);
      expect(badCells("logSoftmax", "float32", ["js"]).some((b) => b.includes("grad"))).toBe(true);
    });
  });
});

describe("issue 13.6: categoricalCrossentropy(softmax(x), y) from the log-softmax", () => {
  it("x = [[0, -1000]], y = [1] gives 1000 (not Infinity) and the gradient [[1, -1]] on every linker", () => {
    const x = T.dmatrix("x");
    const y = T.lvector("y");
    const cost = T.sum(T.nnet.categoricalCrossentropy(T.nnet.softmax(x), y));
    for (const linker of LINKERS) {
      const f = theano.function([x, y], [cost, theano.grad(cost, x)], { mode: new theano.Mode(linker) });
      const [v, g] = run(f, theano.array([[0, -1000]]), theano.array([1], "int64"));
      expect(v!.get(), linker).toBe(1000);
      expectClose(g!, [[1, -1]]);
      expect(ops(f)).toContain("CrossentropyLogCategorical1Hot");
      // The labels are still checked.
      expect(() => run(f, theano.array([[0, -1000]]), theano.array([2], "int64")), linker).toThrow(theano.ShapeError);
      expect(() => run(f, theano.array([[0, -1000]]), theano.array([-1], "int64")), linker).toThrow(theano.ShapeError);
    }
  });

  it("float32 too, and excluding local_crossentropy_to_logsoftmax brings back -log(0) = inf", () => {
    const x = T.fmatrix("x");
    const y = T.lvector("y");
    const out = T.nnet.categoricalCrossentropy(T.nnet.softmax(x), y);
    const args = [theano.array([[0, -1000], [3, 1]], "float32"), theano.array([1, 0], "int64")];
    const r = run(compile([x, y], out), ...args)[0]!;
    expect(r.dtype).toBe("float32");
    expectClose(r, theano.array([1000, Math.log1p(Math.exp(-2))], "float32"));
    const off = compile([x, y], out, { excluding: ["local_crossentropy_to_logsoftmax"] });
    expect(ops(off)).not.toContain("CrossentropyLogCategorical1Hot");
    expect(run(off, ...args)[0]!.get(0)).toBe(Infinity);
  });
});

describe("the rewrites one by one", () => {
  const v5 = (seed = 1) => randomValues([5], -3, 3, seed);

  it("are registered under their names: the product pair in stabilize and specialize, the softmax pair in stabilize", () => {
    for (const r of SIGMOID_REWRITES) {
      expect(stabilize.names, r.name).toContain(r.name);
      expect(specialize.names, r.name).toContain(r.name);
    }
    for (const n of ["local_softmax_ratio", "local_crossentropy_to_logsoftmax"]) expect(stabilize.names).toContain(n);
  });

  it("local_sigm_times_exp: exp(x) * sigmoid(-x) -> sigmoid(x); exp(-x) / (1 + exp(-x))² -> sigmoid(x) sigmoid(-x)", () => {
    const x = T.dvector("x");
    const got = checkRewrite({ name: "local_sigm_times_exp", inputs: [x], output: T.mul(T.exp(x), T.sigmoid(T.neg(x))), values: [v5()], present: ["sigmoid"], absent: ["exp", "mul"] });
    expect(got).toEqual(["sigmoid"]);
    const d = T.add(1, T.exp(T.neg(x)));
    checkRewrite({ name: "local_sigm_times_exp", inputs: [x], output: T.trueDiv(T.exp(T.neg(x)), T.sqr(d)), values: [v5(2)], present: ["sigmoid"], absent: ["exp", "sqr", "trueDiv"] });
    // The arguments are matched as linear forms: -a - b and a + b are each other's negation.
    const b = T.dvector("b");
    const z = T.sub(T.neg(x), b);
    checkRewrite({ name: "local_sigm_times_exp", inputs: [x, b], output: T.mul(T.exp(z), T.sigmoid(T.add(x, b))), values: [v5(3), v5(4)], present: ["sigmoid"], absent: ["exp"] });
  });

  it("local_sigm_grad_distribute: (a / sigmoid(x) + c / sigmoid(-x)) * sigmoid(x) * sigmoid(-x) is finite at ±800", () => {
    const x = T.dvector("x");
    const a = T.dvector("a");
    const c = T.dvector("c");
    const s = T.add(T.trueDiv(a, T.sigmoid(x)), T.trueDiv(c, T.sigmoid(T.neg(x))));
    const out = T.mul(s, T.mul(T.sigmoid(x), T.sigmoid(T.neg(x))));
    checkRewrite({ name: "local_sigm_grad_distribute", inputs: [x, a, c], output: out, values: [v5(), v5(2), v5(3)], absent: ["trueDiv"] });
    const args = [theano.array([-800, 800]), theano.array([2, 2]), theano.array([3, 3])];
    expectClose(run(compile([x, a, c], out), ...args)[0]!, [2, 3]);
    expect(run(compile([x, a, c], out, { excluding: ["local_sigm_grad_distribute"] }), ...args)[0]!.toArray()).toEqual([NaN, NaN]);
  });

  it("local_softmax_ratio: the gradient of log(sum(exp(x))) becomes Softmax(x)", () => {
    const m = T.dmatrix("m");
    const g = theano.grad(T.sum(T.log(T.sum(T.exp(m), 1))), m);
    const got = checkRewrite({ name: "local_softmax_ratio", inputs: [m], output: g, values: [randomValues([3, 4])], present: ["Softmax{axis=1}"], absent: ["exp"] });
    expect(got).toEqual(["Softmax{axis=1}"]);
    expectClose(run(compile([m], g), [[1000, 1000], [0, -1000]])[0]!, [[0.5, 0.5], [1, 0]]);
  });

  it("sigmoid's own gradient is s(x) s(-x): exact in float32 where 1 - s(x) rounds to 0", () => {
    const x = T.fvector("x");
    const g = theano.grad(T.sum(T.sigmoid(x)), x);
    // optimizer=None: the gradient as SCALAR_GRADS writes it (local_1msigmoid would mend s (1 - s)).
    const r = run(compile([x], g, { optimizer: "None" }), theano.array([20, -20], "float32"))[0]!;
    const want = 1 / (1 + Math.exp(20)) / (1 + Math.exp(-20));
    expectClose(r, theano.array([want, want], "float32"), { rtol: 1e-5, atol: 0 });
  });
});

describe("issue 12.1: the tutorial's float32 logistic regression trains", () => {
  it("no NaN after the first step, >= 99% training accuracy (js linker)", () => {
    const r = tutorialLogisticRegression({ linker: "js", maxSteps: 2000 });
    expect(r.firstStep.nan).toBe(0);
    expect(Number.isFinite(r.firstStep.min) && Number.isFinite(r.firstStep.max)).toBe(true);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.99);
  });
});
