/**
 * Softmax recognition and the stable log-softmax (src/rewriting/nnet.ts): the cases
 * through `theano.function` with the default mode, the structure after rewriting, values equal
 * to the unrewritten graph, finite gradients, and each rewrite off by `optimizer_excluding`.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { canonicalize, stabilize } from "../../src/rewriting/engine.js";
import { NNET_REWRITES } from "../../src/rewriting/nnet.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";
import { checkRewrite, compile, ops, randomValues, run } from "./catalogue_helpers.js";

const { T } = theano;

function allFinite(a: NDArray): boolean {
  return Array.from(a.toFlat(), Number).every((v) => Number.isFinite(v));
}

const defaultMode = (inputs: theano.TensorVariable[], out: theano.TensorVariable | theano.TensorVariable[]) => compile(inputs, out as never, { structure: false });

describe("registration", () => {
  it("softmax_simplifier is in canonicalize and stabilize, the logsoftmax pair in stabilize", () => {
    expect(canonicalize.names).toContain("softmax_simplifier");
    for (const r of NNET_REWRITES) expect(stabilize.names, r.name).toContain(r.name);
  });
});

describe("softmax_simplifier", () => {
  it("exp(x) / sum(exp(x), axis=1, keepdims) of [[1000, 1000], [0, -1000]] is [[.5, .5], [1, 0]]", () => {
    const x = T.dmatrix("x");
    const e = T.exp(x);
    const out = e.div(T.sum(e, 1, { keepdims: true }));
    const got = checkRewrite({ name: "softmax_simplifier", inputs: [x], output: out, values: [randomValues([3, 4])], present: ["Softmax{axis=1}"], absent: ["exp", "trueDiv"], alsoExcluding: ["local_softmax_ratio"] });
    expect(got).toEqual(["Softmax{axis=1}"]);
    const f = defaultMode([x], out);
    expect(ops(f)).toEqual(["Softmax{axis=1}"]);
    const r = run(f, [[1000, 1000], [0, -1000]])[0]!;
    expectClose(r, [[0.5, 0.5], [1, 0]]);
    expect(allFinite(r)).toBe(true);
    // Off (with local_softmax_ratio, which also finds it): exp(1000) / (exp(1000) + exp(1000)) is inf / inf.
    const off = compile([x], out, { excluding: ["softmax_simplifier", "local_softmax_ratio"] });
    expect(Number.isNaN(run(off, [[1000, 1000], [0, -1000]])[0]!.get(0, 0) as number)).toBe(true);
  });

  it("axis 0, a vector (sum without keepdims), a full reduction, and a float32 input", () => {
    const x = T.dmatrix("x");
    const e = T.exp(x);
    checkRewrite({ name: "softmax_simplifier", inputs: [x], output: e.div(T.sum(e, 0, { keepdims: true })), values: [randomValues([3, 4])], present: ["Softmax{axis=0}"], alsoExcluding: ["local_softmax_ratio"] });
    checkRewrite({ name: "softmax_simplifier", inputs: [x], output: e.div(T.sum(e)), values: [randomValues([3, 4])], present: ["Softmax{axis=null}"], alsoExcluding: ["local_softmax_ratio"] });
    const v = T.fvector("v");
    const ev = T.exp(v);
    checkRewrite({ name: "softmax_simplifier", inputs: [v], output: ev.div(T.sum(ev)), values: [randomValues([5], -2, 2, 3, "float32")], present: ["Softmax{axis=0}"], alsoExcluding: ["local_softmax_ratio"] });
  });

  it("a sum over the wrong lanes is not a softmax", () => {
    const x = T.dmatrix("x");
    const e = T.exp(x);
    const f = compile([x], e.div(T.sum(T.exp(x.mul(2)), 1, { keepdims: true })));
    expect(ops(f).some((o) => o.startsWith("Softmax"))).toBe(false);
  });
});

describe("local_logsoftmax and local_logsoftmax_grad", () => {
  it("log(softmax(x)) of [0, -1000] is [0, -1000] with a finite gradient", () => {
    const x = T.dvector("x");
    const ls = T.log(T.softmax(x));
    const g = theano.grad(T.sum(ls), x);
    const f = defaultMode([x], [ls, g]);
    expect(ops(f)).toContain("LogSoftmax{axis=0}");
    expect(ops(f)).not.toContain("log");
    const [y, gy] = run(f, [0, -1000]);
    expectClose(y!, [0, -1000]);
    expect(allFinite(gy!)).toBe(true);
    // d/dx sum(log softmax(x)) = 1 - n * softmax(x) = [1 - 2, 1 - 0].
    expectClose(gy!, [-1, 1]);
  });

  it("local_logsoftmax: the forward graph is one LogSoftmax", () => {
    const x = T.dmatrix("x");
    const got = checkRewrite({ name: "local_logsoftmax", inputs: [x], output: T.log(T.softmax(x)), values: [randomValues([2, 5])], present: ["LogSoftmax{axis=1}"], absent: ["log"] });
    expect(got).toEqual(["LogSoftmax{axis=1}"]);
    const v = T.dvector("v");
    const off = compile([v], T.log(T.softmax(v)), { excluding: ["local_logsoftmax"] });
    expect(run(off, [0, -1000])[0]!.get(1)).toBe(-Infinity);
  });

  it("local_logsoftmax_grad: no division by the softmax in the gradient; off, the gradient is NaN", () => {
    const x = T.dmatrix("x");
    const w = T.dmatrix("w");
    const cost = T.sum(T.log(T.softmax(x)).mul(w));
    const g = theano.grad(cost, x);
    const got = checkRewrite({ name: "local_logsoftmax_grad", inputs: [x, w], output: g, values: [randomValues([2, 4]), randomValues([2, 4], 0, 1, 5)], absent: ["trueDiv", "inv"] });
    expect(got).toContain("Softmax{axis=1}");
    const big = [[0, -1000, 3, 2]];
    const on = run(defaultMode([x, w], g), big, [[1, 1, 0.5, 2]])[0]!;
    expect(allFinite(on)).toBe(true);
    const off = run(compile([x, w], g, { excluding: ["local_logsoftmax_grad"] }), big, [[1, 1, 0.5, 2]])[0]!;
    expect(allFinite(off)).toBe(false);
  });

  it("log(exp(x) / sum(exp(x))) becomes LogSoftmax (softmax_simplifier, then local_logsoftmax)", () => {
    const x = T.dvector("x");
    const e = T.exp(x);
    const f = compile([x], T.log(e.div(T.sum(e))));
    expect(ops(f)).toEqual(["LogSoftmax{axis=0}"]);
    expectClose(run(f, [0, -1000])[0]!, [0, -1000]);
  });

  it("the one-hot cross-entropy of a softmax has a finite gradient (local_softmax_grad_to_crossentropy_with_softmax_grad)", () => {
    const x = T.dmatrix("x");
    const y = T.ivector("y");
    const cost = T.mean(T.nnet.crossentropyCategorical1Hot(T.softmax(x), y));
    const g = theano.grad(cost, x);
    const got = checkRewrite({ name: "local_softmax_grad_to_crossentropy_with_softmax_grad", fires: "local_logsoftmax_grad", inputs: [x, y], output: g, values: [randomValues([3, 4]), theano.array([0, 3, 1], "int32")], absent: ["trueDiv"] });
    // The cross-entropy node was only kept for its shape: local_shape_i_lift removes it.
    expect(got).not.toContain("CrossentropyCategorical1Hot");
    const vals = [[[0, -1000], [0, 0]], theano.array([1, 0], "int32")];
    const on = run(defaultMode([x, y], g), ...vals)[0]!;
    // d/dx mean(-log softmax(x)[y]) = (softmax(x) - onehot(y)) / n.
    expectClose(on, [[0.5, -0.5], [-0.25, 0.25]]);
    const off = run(compile([x, y], g, { excluding: ["local_logsoftmax_grad"] }), ...vals)[0]!;
    expect(allFinite(off)).toBe(false);
  });

  it("categorical cross-entropy against one-hot rows uses LogSoftmax: finite at extreme logits", () => {
    const x = T.dmatrix("x");
    const t = T.dmatrix("t");
    const cost = T.mean(T.categoricalCrossentropy(T.softmax(x), t));
    const g = theano.grad(cost, x);
    const f = defaultMode([x, t], [cost, g]);
    const [c, gx] = run(f, [[0, -1000], [5, 5]], [[0, 1], [1, 0]]);
    expectClose(c!, theano.array((1000 + Math.LN2) / 2));
    expect(allFinite(gx!)).toBe(true);
    expect(ops(compile([x, t], cost))).toContain("LogSoftmax{axis=1}");
  });
});
