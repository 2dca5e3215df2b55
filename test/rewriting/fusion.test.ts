/** Elementwise fusion: W2 becomes one Composite node; excluding `fusion` leaves it unfused; values agree. */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { Elemwise } from "../../src/tensor/elemwise.js";
import { Composite } from "../../src/scalar/composite.js";
import { expectClose } from "../helpers.js";

const { T } = theano;

function w2(x: theano.TensorVariable): theano.TensorVariable {
  return T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)));
}

describe("elementwise fusion", () => {
  const xs = theano.array([[-3, -0.5, 0], [0.25, 2, 40]], "float32");

  it("compiles W2 to exactly one fused Elemwise node", () => {
    const x = T.fmatrix("x");
    const f = theano.function([x], w2(x));
    const nodes = [...f.fgraph.nodes];
    expect(nodes).toHaveLength(1);
    expect(nodes[0]!.op).toBeInstanceOf(Elemwise);
    expect((nodes[0]!.op as Elemwise).scalarOp).toBeInstanceOf(Composite);
  });

  it("optimizer_excluding=fusion leaves it unfused, with the same values", () => {
    const x = T.fmatrix("x");
    const fused = theano.function([x], w2(x));
    const plain = theano.config.change({ optimizer_excluding: "fusion" }, () => theano.function([x], w2(x)));
    expect(plain.fgraph.nodes.size).toBeGreaterThan(5);
    expect([...plain.fgraph.nodes].some((n) => (n.op as Elemwise).scalarOp instanceof Composite)).toBe(false);
    // Fused loops coerce every float32 intermediate, so results are bitwise those of the unfused graph.
    expectClose(fused(xs), plain(xs), { rtol: 0, atol: 0 });
    // Against perform: bitwise on the JS linker; the C linker's libm may differ by an ulp.
    const ref = theano.config.change({ linker: "py" }, () => theano.function([x], w2(x)));
    const fusedJs = theano.config.change({ linker: "js" }, () => theano.function([x], w2(x)));
    expectClose(fusedJs(xs), ref(xs), { rtol: 0, atol: 0 });
    expectClose(fused(xs), ref(xs));
  });

  it("does not fuse a value another node or an output still needs", () => {
    const x = T.dvector("x");
    const a = x.mul(2);
    const f = theano.function([x], [a.exp(), a.add(1)]);
    expect(f.fgraph.nodes.size).toBe(3);
    const [e, p] = f([1, 2]);
    expectClose(e!, [Math.exp(2), Math.exp(4)]);
    expectClose(p!, [3, 5]);
  });

  it("fuses across broadcasting only where the producer has the output's pattern", () => {
    const r = T.drow("r");
    const m = T.dmatrix("m");
    const f = theano.function([r, m], r.exp().add(m).mul(2));
    // exp(r) is computed once per row element, so it stays a separate node; add and mul fuse.
    expect(f.fgraph.nodes.size).toBe(2);
    expectClose(f([[0, 1]], [[1, 1], [2, 2]]), [[4, 2 * (Math.E + 1)], [6, 2 * (Math.E + 2)]]);
  });
});
