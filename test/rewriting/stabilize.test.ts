/**
 * Numerical-stability rewrites (src/rewriting/stabilize.ts): the stability cases compiled
 * with the default mode through `theano.function`, the structure after rewriting, values equal
 * to the unrewritten graph on random inputs, and `optimizer_excluding=<name>` showing each off
 * (where the naive formula overflows, the excluded graph gives the wrong answer).
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { stabilize } from "../../src/rewriting/engine.js";
import { STABILIZE_REWRITES } from "../../src/rewriting/stabilize.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";
import { checkRewrite, compile, ops, randomValues, run } from "./catalogue_helpers.js";

const { T } = theano;

const v5 = (seed = 1, lo = -3, hi = 3) => randomValues([5], lo, hi, seed);

function noNaN(a: NDArray): void {
  for (const v of a.toFlat()) expect(Number.isNaN(Number(v)), `NaN in [${String(a.toArray())}]`).toBe(false);
}

/** The default mode exactly as a user gets it (fusion and in-place included). */
/** sigmoid.ts's product rewrites, which also find these forms (excluded where one rewrite is checked alone). */
const SIGM_PRODUCTS = ["local_sigm_times_exp", "local_sigm_grad_distribute"];

const defaultMode = (inputs: theano.TensorVariable[], out: theano.TensorVariable) => compile(inputs, out, { structure: false });

describe("registration", () => {
  it("every stability rewrite is in the stabilize database under its Theano name", () => {
    for (const r of STABILIZE_REWRITES) expect(stabilize.names, r.name).toContain(r.name);
  });
});

describe("log1p and expm1", () => {
  it("log(1 + x) at 1e-20 is 1e-20 (local_log1p)", () => {
    const x = T.dvector("x");
    const out = T.log(T.add(1, x));
    checkRewrite({ name: "local_log1p", inputs: [x], output: out, values: [v5(1, -0.5, 3)], present: ["log1p"], absent: ["log"] });
    const f = defaultMode([x], out);
    expect(ops(f)).toEqual(["log1p"]);
    const r = run(f, [1e-20, 0, -0.5])[0]!;
    expect(r.get(0)).toBe(1e-20);
    expectClose(r, [1e-20, 0, Math.log1p(-0.5)]);
    const off = compile([x], out, { excluding: ["local_log1p"] });
    expect(run(off, [1e-20])[0]!.get(0)).toBe(0);
  });

  it("log(x + 1) and log(1 - x) -> log1p(x), log1p(-x); float32 too", () => {
    const x = T.fvector("x");
    checkRewrite({ name: "local_log1p", inputs: [x], output: T.log(x.add(1)), values: [v5(2, -0.5, 3).astype("float32")], present: ["log1p"], absent: ["log"] });
    const got = checkRewrite({ name: "local_log1p", inputs: [x], output: T.log(T.sub(1, x)), values: [v5(3, -3, 0.5).astype("float32")], present: ["log1p", "neg"], absent: ["log"] });
    expect(got).toEqual(["neg", "log1p"]);
    const r = run(defaultMode([x], T.log(x.add(1))), theano.array([1e-20], "float32"))[0]!;
    expect(r.dtype).toBe("float32");
    expectClose(r, theano.array([1e-20], "float32"), { rtol: 1e-6, atol: 0 });
  });

  it("exp(x) - 1 at 1e-20 is 1e-20 (local_expm1)", () => {
    const x = T.dvector("x");
    const out = T.exp(x).sub(1);
    checkRewrite({ name: "local_expm1", inputs: [x], output: out, values: [v5()], present: ["expm1"], absent: ["exp", "sub"] });
    expect(run(defaultMode([x], out), [1e-20])[0]!.get(0)).toBe(1e-20);
    checkRewrite({ name: "local_expm1", inputs: [x], output: T.add(-1, T.exp(x)), values: [v5(4)], present: ["expm1"], absent: ["exp"] });
  });
});

describe("softplus and sigmoid recognition", () => {
  it("log(1 + exp(x)) at [-800, 0, 800] is [0, ln 2, 800] (local_log1p, then log1pexp_to_softplus)", () => {
    const x = T.dvector("x");
    const out = T.log(T.add(1, T.exp(x)));
    const got = checkRewrite({ name: "log1pexp_to_softplus", inputs: [x], output: out, values: [v5()], present: ["softplus"], absent: ["log1p", "exp", "log"] });
    expect(got).toEqual(["softplus"]);
    const f = defaultMode([x], out);
    expect(ops(f)).toEqual(["softplus"]);
    const r = run(f, [-800, 0, 800])[0]!;
    expectClose(r, [0, Math.LN2, 800]);
    noNaN(r);
    // Off, log1p(exp(800)) overflows to inf.
    const off = compile([x], out, { excluding: ["log1pexp_to_softplus"] });
    expect(ops(off)).toEqual(["exp", "log1p"]);
    expect(run(off, [800])[0]!.get(0)).toBe(Infinity);
  });

  it("1 / (1 + exp(-x)) at ±800 is [0, 1] (local_inv_1_plus_exp)", () => {
    const x = T.dvector("x");
    const out = T.trueDiv(1, T.add(1, T.exp(x.neg())));
    const got = checkRewrite({ name: "local_inv_1_plus_exp", inputs: [x], output: out, values: [v5()], present: ["sigmoid"], absent: ["exp", "trueDiv", "inv"], alsoExcluding: SIGM_PRODUCTS });
    expect(got).toEqual(["sigmoid"]);
    const f = defaultMode([x], out);
    expect(ops(f)).toEqual(["sigmoid"]);
    const r = run(f, [-800, 800])[0]!;
    expectClose(r, [0, 1]);
    noNaN(r);
  });

  it("inv(1 + exp(-x)) -> sigmoid(x); 1 / (1 + exp(x)) -> sigmoid(-x)", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_inv_1_plus_exp", inputs: [x], output: T.inv(T.exp(x.neg()).add(1)), values: [v5(2)], present: ["sigmoid"], absent: ["inv", "exp"], alsoExcluding: SIGM_PRODUCTS });
    const got = checkRewrite({ name: "local_inv_1_plus_exp", inputs: [x], output: T.trueDiv(1, T.add(1, T.exp(x))), values: [v5(3)], present: ["sigmoid", "neg"], absent: ["exp"], alsoExcluding: SIGM_PRODUCTS });
    expect(got).toEqual(["neg", "sigmoid"]);
  });

  it("exp(x) / (1 + exp(x)) at ±800 is [0, 1], not NaN (local_exp_over_1_plus_exp)", () => {
    const x = T.dvector("x");
    const e = T.exp(x);
    const out = e.div(e.add(1));
    checkRewrite({ name: "local_exp_over_1_plus_exp", inputs: [x], output: out, values: [v5()], present: ["sigmoid"], absent: ["exp"], alsoExcluding: SIGM_PRODUCTS });
    const r = run(defaultMode([x], out), [-800, 800])[0]!;
    expectClose(r, [0, 1]);
    noNaN(r);
    const off = compile([x], out, { excluding: ["local_exp_over_1_plus_exp", ...SIGM_PRODUCTS] });
    expect(Number.isNaN(run(off, [800])[0]!.get(0) as number)).toBe(true);
  });

  it("1 - sigmoid(x) -> sigmoid(-x) (local_1msigmoid)", () => {
    const x = T.dvector("x");
    const got = checkRewrite({ name: "local_1msigmoid", inputs: [x], output: T.sub(1, T.sigmoid(x)), values: [v5()], present: ["sigmoid", "neg"], absent: ["sub"] });
    expect(got).toEqual(["neg", "sigmoid"]);
    // sigmoid(-40) keeps its tiny value where 1 - sigmoid(40) rounds to 0.
    expect(run(defaultMode([x], T.sub(1, T.sigmoid(x))), [40])[0]!.get(0)).toBeGreaterThan(0);
  });

  it("log(sigmoid(x)) at -800 is -800 (logsigm_to_softplus)", () => {
    const x = T.dvector("x");
    const out = T.log(T.sigmoid(x));
    checkRewrite({ name: "logsigm_to_softplus", inputs: [x], output: out, values: [v5()], present: ["softplus"], absent: ["log", "sigmoid"] });
    const r = run(defaultMode([x], out), [-800, 0, 800])[0]!;
    expectClose(r, [-800, -Math.LN2, 0]);
    const off = compile([x], out, { excluding: ["logsigm_to_softplus"] });
    expect(run(off, [-800])[0]!.get(0)).toBe(-Infinity);
  });

  it("log(1 - sigmoid(x)) at 800 is -800 (log1msigm_to_softplus, also after local_log1p)", () => {
    const x = T.dvector("x");
    const out = T.log(T.sub(1, T.sigmoid(x)));
    // Without local_1msigmoid (which would lead through logsigm_to_softplus instead).
    const got = checkRewrite({ name: "log1msigm_to_softplus", inputs: [x], output: out, values: [v5()], present: ["softplus"], absent: ["sigmoid", "log", "log1p"], alsoExcluding: ["local_1msigmoid"] });
    expect(got).toEqual(["softplus", "neg"]);
    const r = run(defaultMode([x], out), [-800, 0, 800])[0]!;
    expectClose(r, [0, -Math.LN2, -800]);
    noNaN(r);
  });
});

describe("logsumexp", () => {
  const vals = theano.array([[1000, 1000], [0, -1000]]);

  it("log(sum(exp(x), axis=1)) of [[1000, 1000], [0, -1000]] is [1000 + ln 2, 0] (local_log_sum_exp)", () => {
    const m = T.dmatrix("m");
    const out = T.log(T.sum(T.exp(m), 1));
    checkRewrite({ name: "local_log_sum_exp", inputs: [m], output: out, values: [randomValues([3, 4])], present: ["Max{axis=(1)}"] });
    const r = run(defaultMode([m], out), vals)[0]!;
    expectClose(r, [1000 + Math.LN2, 0]);
    const off = compile([m], out, { excluding: ["local_log_sum_exp"] });
    expect(run(off, vals)[0]!.get(0)).toBe(Infinity);
  });

  it("keepdims, a full reduction, and a lane of -inf", () => {
    const m = T.dmatrix("m");
    const out = T.log(T.sum(T.exp(m), 1, { keepdims: true }));
    checkRewrite({ name: "local_log_sum_exp", inputs: [m], output: out, values: [randomValues([3, 4])], present: ["Max{axis=(1)}"] });
    expectClose(run(defaultMode([m], out), vals)[0]!, [[1000 + Math.LN2], [0]]);
    const full = T.log(T.sum(T.exp(m)));
    expectClose(run(defaultMode([m], full), vals)[0]!, theano.array(1000 + Math.LN2));
    expectClose(run(defaultMode([m], out), [[-Infinity, -Infinity], [1, 1]])[0]!, [[-Infinity], [1 + Math.LN2]]);
  });

  it("T.logsumexp's own graph is left alone (no rewrite loop)", () => {
    const m = T.dmatrix("m");
    const f = compile([m], T.logsumexp(m, 1));
    expect(ops(f).filter((o) => o.startsWith("Max"))).toHaveLength(1);
  });
});
