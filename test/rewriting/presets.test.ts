/**
 * The `optimizer` presets Theano has beside fast_run/fast_compile/o1..o4 (issue 12.4):
 * `stabilize` runs fast_run's stages up to and including stabilize (merge, canonicalize,
 * stabilize), and `unsafe` is o3 (no in-place rewrites) plus the rewrites tagged "unsafe".
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { PRESETS, optdb, presetQuery } from "../../src/rewriting/index.js";
import { expectClose } from "../helpers.js";

const { T } = theano;

const opsOf = (f: { fgraph: theano.FunctionGraph }): string[] => f.fgraph.toposort().map((n) => String(n.op));
const destroys = (f: { fgraph: theano.FunctionGraph }): boolean => f.fgraph.toposort().some((n) => n.op.destroyMap.size > 0);

describe("issue 12.4: optimizer presets stabilize and unsafe", () => {
  it("stabilize: stabilized (log(1+exp(x)) -> softplus) but neither specialized nor fused", () => {
    const x = T.dvector("x");
    const y = T.log(T.exp(x).add(1)).add(x.pow(2)).mul(x);
    const xs = [-800, -1, 0, 2, 800];
    const want = xs.map((v) => (Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))) + v * v) * v);
    const f = theano.config.change({ optimizer: "stabilize" }, () => theano.function([x], y));
    const ops = opsOf(f);
    expect(ops).toContain("Elemwise{softplus}");
    expect(ops).toContain("Elemwise{pow}"); // local_pow_specialize (specialize, position 2) did not run
    expect(ops.some((o) => o.includes("Composite"))).toBe(false); // nor fusion (49)
    expectClose(f(xs), want);
    const fr = theano.config.change({ optimizer: "fast_run" }, () => theano.function([x], y));
    expect(opsOf(fr).some((o) => o.includes("Composite"))).toBe(true);
    expectClose(fr(xs), want);
  });

  it("stabilize selects only the stages at positions <= 1.5", () => {
    const q = presetQuery("stabilize");
    expect(q.positionCutoff).toBeCloseTo(1.5000001);
    const names = optdb.select(q).map((s) => (s.kind === "graph" ? s.rewriter.name : s.name));
    expect(names).toContain("stabilize");
    expect(names).toContain("canonicalize");
    expect(names).not.toContain("specialize");
    expect(names).not.toContain("elemwise_fusion");
  });

  it("unsafe: fast_run without in-place rewrites, with the unsafe tag", () => {
    expect(PRESETS.unsafe).toEqual({ include: ["fast_run", "unsafe"], exclude: ["inplace"], require: [] });
    const x = T.dvector("x");
    const y = T.exp(x.mul(2)).add(T.log(x.mul(3)));
    const [fr, fu] = (["fast_run", "unsafe"] as const).map((o) => theano.config.change({ optimizer: o }, () => theano.function([x], y.sum())));
    const [fr2, fu2] = (["fast_run", "unsafe"] as const).map((o) => theano.config.change({ optimizer: o }, () => theano.function([x], T.dot(x.dimshuffle(0, "x"), x.dimshuffle("x", 0)).add(1))));
    expect(destroys(fu!) || destroys(fu2!)).toBe(false);
    expect(destroys(fr!) || destroys(fr2!)).toBe(true);
    expectClose(fu!([1, 2]), fr!([1, 2]));
    expectClose(fu2!([1, 2]), [[2, 3], [3, 5]]);
  });

  it("both are valid values of the optimizer flag; an unknown one still raises ConfigError", () => {
    for (const o of ["stabilize", "unsafe"] as const) theano.config.change({ optimizer: o }, () => expect(theano.config.optimizer).toBe(o));
    expect(() => theano.config.change({ optimizer: "o5" as "o4" }, () => 0)).toThrow(theano.ConfigError);
  });
});
