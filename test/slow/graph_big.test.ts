/**
 * The graph IR's promise that every traversal is iterative, at sizes that take seconds by
 * design (moved out of npm test into the slow tier that CI runs, issue 12.6): graphs of 100 000
 * nodes go through every traversal, and a 20 000-node chain compiles and runs on both linkers.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { Apply, ancestors, cloneGraph, graphInputs, toposort } from "../../src/graph/basic.js";
import { FunctionGraph } from "../../src/graph/fgraph.js";
import { NUM, SumOp, num, sum } from "../graph/num_op.js";

const { T } = theano;

describe("100 000-node graphs", () => {
  const N = 100_000;

  it("a chain built through T: toposort, ancestors, graphInputs, FunctionGraph", () => {
    const x = T.dscalar("x");
    let y = x;
    for (let i = 0; i < N; i++) y = y.add(1);
    const order = toposort([y]);
    expect(order).toHaveLength(N);
    expect(order[0]!.inputs[0] === x).toBe(true);
    for (let i = 1; i < N; i++) if (order[i]!.inputs[0] !== order[i - 1]!.outputs[0]) throw new Error(`node ${i} is out of order`);
    expect(order[N - 1]!.outputs[0] === y).toBe(true);
    // N outputs, x, and one constant per step
    expect(ancestors([y])).toHaveLength(2 * N + 1);
    const gi = graphInputs([y]);
    expect(gi.length === 1 && gi[0] === x).toBe(true);
    const fg = new FunctionGraph([x], [y]);
    expect(fg.nodes.size).toBe(N);
    expect(fg.toposort()).toHaveLength(N);
    expect(y.owner!.inputs[0]!.owner).not.toBeNull(); // untouched
  });

  it("a raw chain: cloneGraph with a replacement at the bottom, replace and prune", () => {
    const x = num("x");
    const z = num("z");
    let v = x;
    const op = new SumOp(1);
    for (let i = 0; i < N; i++) v = op.call(v);
    const memo = cloneGraph([z], [v], { replace: new Map([[x, z]]) });
    const v2 = memo.get(v)!;
    // (not `expect(v2).not.toBe(v)`: on objects that differ, vitest's toBe deep-compares them
    // for its message, and a deep compare of two 100 000-node chains recurses 100 000 deep)
    expect(v2 === v).toBe(false);
    expect(graphInputs([v2])[0] === z).toBe(true);
    const shared = cloneGraph([x], [v], { shareUnchanged: true });
    expect(shared.get(v) === v).toBe(true);
    const fg = new FunctionGraph([x], [v]);
    expect(fg.nodes.size).toBe(N);
    // replace the output by the input: the whole chain is pruned (iteratively)
    let pruned = 0;
    fg.attachFeature({ onPrune: () => pruned++ });
    fg.replace(fg.outputs[0]!, fg.inputs[0]!);
    expect(pruned).toBe(N);
    expect(fg.nodes.size).toBe(0);
  });

  it("a wide graph: one node with 100 000 inputs, and 1000 clients of one variable", () => {
    const xs = Array.from({ length: N }, (_, i) => num(`x${i}`));
    const s = new Apply(new SumOp(0), xs, [NUM]).outputs[0]!;
    expect(toposort([s])).toHaveLength(1);
    const fg = new FunctionGraph(xs, [s]);
    expect(fg.nodes.size).toBe(1);
    const x = num("x");
    const outs = Array.from({ length: 1000 }, (_, i) => sum(i, x));
    const total = new Apply(new SumOp(0), outs, [NUM]).outputs[0]!;
    const g = new FunctionGraph([x], [total]);
    expect(g.clientsOf(g.inputs[0]!)).toHaveLength(1000);
  });

  it("importing one node into a big graph does not walk the whole graph", () => {
    const x = num("x");
    let v = x;
    for (let i = 0; i < N; i++) v = sum(1, v);
    const fg = new FunctionGraph([x], [v]);
    const top = fg.outputs[0]!;
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) fg.importNode(new SumOp(i + 2).makeNode(top), "test");
    // quadratic behaviour would take minutes here
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(fg.nodes.size).toBe(N + 2000);
  });
});

describe("a 20 000-node chain compiles and runs", () => {
  const N = 20_000;
  const x = T.dscalar("x");
  let y = x;
  for (let i = 0; i < N; i++) y = y.add(1);

  for (const linker of ["py", "js"] as const) {
    it(`on the ${linker} linker`, () => {
      const f = theano.function([x], y, { mode: new theano.Mode(linker, "None") });
      expect(f(0.5).item()).toBe(N + 0.5);
      expect(f(-N).item()).toBe(0);
    });
  }

  it("with the default mode (rewrites, fusion) on the js linker", () => {
    const f = theano.function([x], y);
    expect(f.fgraph.nodes.size).toBeLessThan(N / 10);
    expect(f(0.5).item()).toBe(N + 0.5);
  });

  it("through the linker flag, a float32 chain of two ops per step", () => {
    const xf = T.fvector("xf");
    let v = xf;
    for (let i = 0; i < N / 2; i++) v = v.mul(1).add(1);
    const f = theano.config.change({ linker: "py", optimizer: "None" }, () => theano.function([xf], v));
    expect(f.fgraph.nodes.size).toBeGreaterThanOrEqual(N);
    const r = f([0, 1]);
    expect(r.dtype).toBe("float32");
    expect(r.toArray()).toEqual([N / 2, N / 2 + 1]);
  });
});
