/**
 * Memory planning after rewriting: the planned and measured peak bytes of results
 * (`f.memoryPlan`), with views and in-place results counted once; buffer reuse stays correct
 * across calls with in-place kernels and views.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";

const { T } = theano;
type Fn = ((...a: unknown[]) => NDArray | NDArray[]) & { memoryPlan?: { staticPeakBytes: number | null; lastPeakBytes: number | null; buffers: number } };

describe.each(["js", "py"] as const)("memoryPlan (%s linker)", (linker) => {
  const compile = (ins: unknown[], outs: unknown, flags: Record<string, unknown> = {}): Fn =>
    theano.config.change({ linker, ...flags } as never, () => theano.function(ins as never, outs as never)) as unknown as Fn;

  it("plans the peak from static shapes and measures it per call; in-place results cost nothing extra", () => {
    const a = T.tensor({ dtype: "float64", shape: [4, 4], name: "a" });
    const b = T.tensor({ dtype: "float64", shape: [4, 4], name: "b" });
    // dot (128 B) -> exp in place -> +1 in place: one buffer of 4*4*8 bytes.
    const f = compile([a, b], T.exp(T.dot(a, b)).add(1), { optimizer_excluding: "fusion" });
    expect(f.memoryPlan!.staticPeakBytes).toBe(128);
    expect(f.memoryPlan!.lastPeakBytes).toBeNull();
    const av = theano.array(Array.from({ length: 4 }, (_, i) => [i, 1, 0, -1].map((v) => v * 0.1)), "float64");
    f(av, av);
    expect(f.memoryPlan!.lastPeakBytes).toBe(128);
    // Without in-place: dot, exp and add results; dot dies after exp, so the peak is two buffers.
    const g = compile([a, b], T.exp(T.dot(a, b)).add(1), { optimizer_excluding: "fusion:inplace" });
    expect(g.memoryPlan!.staticPeakBytes).toBe(256);
    g(av, av);
    expect(g.memoryPlan!.lastPeakBytes).toBe(256);
    expectClose(f(av, av) as NDArray, g(av, av) as NDArray);
  });

  it("is null when sizes are known only at run time, and then measured", () => {
    const x = T.dvector("x");
    const f = compile([x], T.exp(x).mul(T.sin(x)), { optimizer_excluding: "fusion" });
    expect(f.memoryPlan!.staticPeakBytes).toBeNull();
    f(theano.array([1, 2, 3, 4, 5], "float64"));
    // exp and sin (40 B each) alive together, then the product written over one of them.
    expect(f.memoryPlan!.lastPeakBytes).toBe(80);
  });

  it("views keep their root alive; reuse across calls gives the same values", () => {
    const x = T.dmatrix("x");
    const e = T.exp(x);
    const out = [e.T.mul(2), T.sin(x).add(e.T.sum())];
    const f = compile([x], out);
    const plain = compile([x], out, { optimizer: "None" });
    const xv = theano.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], "float64");
    for (let k = 0; k < 3; k++) {
      const got = f(xv) as NDArray[];
      const want = plain(xv) as NDArray[];
      got.forEach((v, i) => expectClose(v, want[i]!));
    }
  });
});
