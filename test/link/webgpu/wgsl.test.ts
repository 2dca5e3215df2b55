/**
 * WGSL code generation without a device (runs everywhere): golden sources of an elementwise
 * Composite and of both reduction kernels (a change to generated code shows up as a snapshot
 * diff, tinygrad's process replay in small), the helpers a kernel pulls in, literals and the
 * explicit conversions.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Apply } from "../../../src/graph/basic.js";
import { elemwiseSource } from "../../../src/link/webgpu/ops/elemwise.js";
import { reduceSource } from "../../../src/link/webgpu/ops/reduce.js";
import { convert, helpersFor, literal } from "../../../src/link/webgpu/wgsl.js";

const { T } = theano;

/** The one node of `out` after FAST_RUN rewrites (fusion), on the CPU. */
function rewrittenNode(inputs: ReturnType<typeof T.tensor>[], out: ReturnType<typeof T.tensor>, cls: string): Apply {
  const f = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function(inputs, out));
  const node = f.fgraph.toposort().find((n) => n.op.constructor.name === cls);
  if (!node) throw new Error(`no ${cls} in ${theano.printing.debugprint(f, { print: false })}`);
  return node;
}

describe("WGSL code generation", () => {
  it("a fused Composite: golden source", () => {
    const x = T.fmatrix("x");
    const b = T.tensor({ dtype: "float32", shape: [1, null], name: "b" });
    const node = rewrittenNode([x, b], T.tanh(x.mul(2).add(b)).sub(T.isnan(x).astype("float32")) as ReturnType<typeof T.tensor>, "Elemwise");
    expect(elemwiseSource(node)).toMatchSnapshot();
  });

  it("a Max over axis 1 of an int32 matrix: golden tree and lane kernels", () => {
    const x = T.imatrix("x");
    const node = rewrittenNode([x], x.max(1) as ReturnType<typeof T.tensor>, "CAReduce");
    const srcs = reduceSource(node) as string[];
    expect(srcs).toHaveLength(2);
    expect(srcs[0]).toMatch(/var<workgroup> part/);
    expect(srcs[1]).not.toMatch(/workgroupBarrier/);
    expect(srcs).toMatchSnapshot();
  });

  it("float64 and int64 nodes have no WGSL form and say so (wide)", () => {
    const x = T.dvector("x");
    expect(elemwiseSource(rewrittenNode([x], T.exp(x) as ReturnType<typeof T.tensor>, "Elemwise"))).toEqual({ host: "WGSL has no float64 type", wide: true });
    const i = T.ivector("i");
    expect(reduceSource(rewrittenNode([i], i.sum() as ReturnType<typeof T.tensor>, "CAReduce"))).toMatchObject({ wide: true });
  });

  it("helpers come with those they call, callees first", () => {
    const h = helpersFor("let r = th_max_f32(a, b);");
    expect(h.indexOf("fn th_isnan")).toBeGreaterThanOrEqual(0);
    expect(h.indexOf("fn th_isnan")).toBeLessThan(h.indexOf("fn th_max_f32"));
    expect(helpersFor("let r = a + b;")).toBe("");
  });

  it("literals and conversions", () => {
    expect(literal(2, "f32")).toBe("2.0f");
    expect(literal(-0, "f32")).toBe("-0.0f");
    expect(literal(Infinity, "f32")).toBe("th_f32_bits(0x7f800000u)");
    expect(literal(-2147483648, "i32")).toBe("i32(-2147483647 - 1)");
    expect(literal(4294967295, "u32")).toBe("4294967295u");
    expect(convert("x", "f32", "bool")).toBe("(x != 0.0f || th_isnan(x))");
    expect(convert("x", "bool", "f32")).toBe("f32(x)");
    expect(convert("x", "i32", "i32")).toBe("x");
  });
});
