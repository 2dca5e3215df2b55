import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const { T } = theano;

describe("debugprint", () => {
  it("prints a variable's graph in Theano's format, shared subgraphs once", () => {
    const x = T.dvector("x");
    const e = T.exp(x);
    const y = T.add(e, e);
    const text = theano.debugprint(y, { print: false });
    expect(text.split("\n")).toEqual([
      "Elemwise{add} [id A] ''",
      " |Elemwise{exp} [id B] ''",
      " | |x [id C]",
      " |Elemwise{exp} [id B] ''",
      "",
    ]);
  });

  it("prints constants by value and types on request", () => {
    const x = T.dscalar("x");
    const text = theano.debugprint(T.mul(x, 2), { print: false, printType: true });
    expect(text).toContain("x [id B] <TensorType(float64, ())>");
    expect(text).toMatch(/TensorConstant\{2\} \[id C\]/);
  });

  it("prints a compiled function's optimized graph with execution order and destroy/view maps", () => {
    const x = T.dmatrix("x");
    const W = theano.shared(theano.zeros([3, 3]), { name: "W" });
    const cost = T.sum(T.dot(x, W));
    const f = theano.function([x], cost, { updates: [[W, T.sub(W, T.mul(0.1, theano.grad(cost, W)))]] });
    const text = theano.debugprint(f, { print: false });
    const lines = text.trim().split("\n");
    // Every node line carries its position in the execution order.
    for (const l of lines.filter((l) => l.includes("''"))) expect(l).toMatch(/''\s+\d+/);
    // The transpose of x is a view; the update is computed in place on W's buffer.
    expect(text).toMatch(/DimShuffle\{1,0\} .* v=\{0: \[0\]\}/);
    expect(text).toMatch(/d=\{0: \[0\]\}/);
  });

  it("limits depth and handles deep graphs without recursion", () => {
    let v = T.dscalar("x");
    for (let i = 0; i < 3_000; i++) v = T.add(v, 1);
    const text = theano.debugprint(v, { print: false, depth: 3 });
    expect(text.trim().split("\n")).toHaveLength(5);
    expect(theano.debugprint(v, { print: false }).split("\n").length).toBeGreaterThan(6_000);
  });
});

describe("debugprint: inner graphs (issue 14)", () => {
  it("prints a Scan's step and an IfElse's branches once each, under the op's id", () => {
    const T = theano.tensor;
    const x = T.fmatrix("x");
    const [ys] = theano.scan({ fn: (row: theano.TensorVariable, acc: theano.TensorVariable) => T.tanh(acc.add(row)), sequences: [x], outputsInfo: [T.zerosLike(x.get(0))] });
    const c = T.fscalar("c");
    const z = theano.ifelse(c.gt(0), (ys as theano.TensorVariable).sum(), T.exp(c));
    const text = theano.printing.debugprint(z as theano.TensorVariable, { print: false });
    expect(text).toContain("Inner graphs:");
    const inner = text.slice(text.indexOf("Inner graphs:"));
    expect(inner).toMatch(/Scan.*\[id [A-Z]+\] \(step\)/);
    expect(inner).toMatch(/ >Elemwise\{tanh\}/);
    expect(inner).toMatch(/\(then\)/);
    expect(inner).toMatch(/\(else\)/);
    expect(inner).toMatch(/ >Elemwise\{exp\}/);
    // the section lists each op once
    expect((inner.match(/\(step\)/g) ?? []).length).toBe(1);
  });
});
