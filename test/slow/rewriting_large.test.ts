/**
 * A 50 000-node elementwise chain compiles (every rewrite, the destroy handler and the JS
 * linker are iterative and linear) and computes what a plain loop computes. The time is
 * measured by bench/rewrite.ts, not asserted here.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";

const { T } = theano;

describe("a 50 000-node graph", () => {
  it("compiles with fast_run and gives the values of a plain loop", { timeout: 600_000 }, () => {
    // 8 nodes per step (two tanh, add, mul and sub, mul, two DimShuffles of constants): 50 000 nodes.
    const steps = 6_250;
    const x = T.dvector("x");
    let y: theano.TensorVariable = x;
    for (let i = 0; i < steps; i++) {
      const a = T.tanh(y);
      const b = T.tanh(y); // merged with a
      y = a.add(b).mul(0.5).sub(y.mul(1e-3));
    }
    const f = theano.config.change({ linker: "js" }, () => theano.function([x], y));
    // Each step: one tanh and one fused (add, mul, mul, sub) node, the latter in place.
    expect(f.fgraph.nodes.size).toBe(2 * steps);
    expect([...f.fgraph.nodes].filter((n) => n.op.destroyMap.size > 0).length).toBe(steps);
    const xs = [0.3, -0.2, 1.5];
    const want = xs.map((v) => {
      let r = v;
      for (let i = 0; i < steps; i++) r = (2 * Math.tanh(r)) * 0.5 - r * 1e-3;
      return r;
    });
    expectClose(f(theano.array(xs, "float64")) as NDArray, want, { rtol: 1e-9 });
  });
});
