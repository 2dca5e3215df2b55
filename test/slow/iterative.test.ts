/** Graph traversals are iterative: 100 000-node graphs must not overflow the call stack. */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { ancestors, graphInputs, toposort } from "../../src/graph/basic.js";
import { FunctionGraph } from "../../src/graph/fgraph.js";

const { T } = theano;

describe("deep graphs", () => {
  it("toposort, ancestors and FunctionGraph handle a 100 000-node chain", () => {
    const x = T.dvector("x");
    let y: theano.TensorVariable = x;
    for (let i = 0; i < 100_000; i++) y = y.neg();
    const order = toposort([y]);
    expect(order).toHaveLength(100_000);
    expect(graphInputs([y])).toEqual([x]);
    expect(ancestors([y]).length).toBe(100_001);
    const fg = new FunctionGraph([x], [y]);
    expect(fg.nodes.size).toBe(order.length);
  }, 120_000);

  it("a 20 000-node chain compiles and runs on the js and py linkers", () => {
    const x = T.dvector("x");
    let y: theano.TensorVariable = x;
    for (let i = 0; i < 20_000; i++) y = i % 2 === 0 ? y.add(1) : y.neg();
    for (const linker of ["js", "py"] as const) {
      const f = theano.config.change({ linker, optimizer_excluding: "fusion" }, () => theano.function([x], y));
      expect(f([1, 2]).toArray()).toEqual([1, 2]);
      // Pairs of (add 1, negate) leave x unchanged: 10 000 times x -> -(x + 1).
    }
  }, 120_000);

  it("fusion of a 5 000-node chain is linear and splits into bounded composites", () => {
    const x = T.dvector("x");
    let y: theano.TensorVariable = x;
    for (let i = 0; i < 5_000; i++) y = i % 2 === 0 ? y.add(1) : y.neg();
    const f = theano.function([x], y);
    expect(f.fgraph.nodes.size).toBeLessThan(100);
    expect(f([1, 2]).toArray()).toEqual([1, 2]);
  }, 120_000);
});
