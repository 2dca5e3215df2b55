/**
 * issue 16.4: an error in a node that rewrites fused (a Composite, a FusedReduce) lists every
 * node of the user's graph inside it, each with the line that created it.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";
import { errorOf } from "../helpers.js";

const T = theano.tensor;
const linkers: Array<"py" | "js" | "c"> = ["py", "js", ...(cCompilerStatus().ok ? (["c"] as const) : [])];


describe("errors in fused nodes name the user's nodes inside them", () => {
  for (const linker of linkers) {
    it(`${linker}: a shape mismatch in a fused elementwise expression`, () => {
      const x = T.fvector("x");
      const y = T.fvector("y");
      const a = x.mul(2); // LINE-A
      const b = a.add(y); // LINE-B
      const c = T.tanh(b); // LINE-C
      const f = theano.function([x, y], c, { mode: new theano.Mode(linker, "fast_run") });
      const fusedNodes = f.fgraph.toposort().filter((n) => n.trace.fused.length > 1);
      expect(fusedNodes.length).toBe(1);
      const e = errorOf(() => f(theano.ones([3], "float32"), theano.ones([4], "float32")));
      expect(e).toBeInstanceOf(theano.ShapeError);
      expect(e.message).toMatch(/This node fuses 3 nodes of your graph:/);
      const lines = e.message.split("\n").filter((l) => /^  Elemwise.* created at .*fused_errors\.test\.ts:\d+/.test(l));
      expect(lines.length).toBe(3);
      expect(lines.some((l) => l.includes("mul"))).toBe(true);
      expect(lines.some((l) => l.includes("add"))).toBe(true);
      expect(lines.some((l) => l.includes("tanh"))).toBe(true);
    });
  }

  it("a fused reduction keeps the reduction's line and names the elementwise node it swallowed", () => {
    const x = T.fmatrix("x");
    const s = T.exp(x).sum(1);
    const f = theano.function([x], s, { mode: new theano.Mode("py", "fast_run") });
    const fr = f.fgraph.toposort().find((n) => n.op.constructor.name === "FusedReduce");
    expect(fr).toBeDefined();
    expect(fr!.trace.where).toMatch(/fused_errors\.test\.ts/);
    expect(fr!.trace.fused.map((p) => p.op).join(" ")).toMatch(/exp.*Sum/);
  });
});
