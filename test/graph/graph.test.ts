/**
 * The graph IR (src/graph): toposort, ancestors and graph inputs, cloneGraph with replacements
 * (what givens use), FunctionGraph (clients, replace, import, pruning, features), Op identity
 * through props. (That every traversal is iterative — 100 000-node graphs, a 20 000-node chain
 * compiled — is checked in test/slow/graph_big.test.ts, which CI runs.)
 * Theano's `graph/tests/test_basic.py` and `test_fg.py` in spirit. Raw graphs are built with a
 * tiny Type/Op defined here, so these tests do not depend on the tensor ops.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { Apply, Op, Type, ancestors, cloneGraph, graphInputs, stableKey, toposort } from "../../src/graph/basic.js";
import { type Feature, FunctionGraph } from "../../src/graph/fgraph.js";
import { SCALAR_OPS } from "../../src/scalar/table.js";
import { OTHER, OtherOp, SumOp, num, sum } from "./num_op.js";

const { T } = theano;


/** Asserts that every node comes after the producers of its inputs. */
function expectTopological(order: readonly Apply[]): void {
  const pos = new Map(order.map((n, i) => [n, i]));
  expect(pos.size).toBe(order.length);
  order.forEach((n, i) => {
    for (const v of n.inputs) if (v.owner && pos.has(v.owner)) expect(pos.get(v.owner)!).toBeLessThan(i);
  });
}

// --- traversals --------------------------------------------------------------------------------

describe("toposort", () => {
  it("orders a diamond: producers first, every node once", () => {
    const x = num("x");
    const a = sum(1, x);
    const b = sum(2, a);
    const c = sum(3, a);
    const d = sum(4, b, c);
    const order = toposort([d]);
    expect(order).toHaveLength(4);
    expect(order[0]).toBe(a.owner);
    expect(order[3]).toBe(d.owner);
    expectTopological(order);
    // deterministic
    expect(toposort([d])).toEqual(order);
  });

  it("covers several outputs once and stops at the given inputs", () => {
    const x = num("x");
    const a = sum(1, x);
    const b = sum(2, a);
    const c = sum(3, a, x);
    const order = toposort([b, c, b]);
    expect(order).toHaveLength(3);
    expectTopological(order);
    const cut = toposort([b, c], new Set([a]));
    expect(cut.map((n) => n.outputs[0])).toEqual([b, c]);
    expect(toposort([x])).toEqual([]);
    expect(toposort([a], new Set([a]))).toEqual([]);
  });

  it("handles a node with several outputs", () => {
    const x = num("x");
    const node = new SumOp(1, 2).makeNode(x);
    const [p, q] = node.outputs;
    const r = sum(0, p!, q!);
    expect(toposort([r, q!])).toEqual([node, r.owner]);
    expect(() => node.out).toThrow(theano.TheanoError);
  });

  it("detects a cycle", () => {
    const x = num("x");
    const a = sum(1, x);
    const b = sum(2, a);
    a.owner!.inputs[0] = b;
    expect(() => toposort([b])).toThrow(/cycle/);
    expect(() => toposort([b])).toThrow(theano.TheanoError);
  });
});

describe("ancestors and graphInputs", () => {
  it("lists every variable once, stopping where asked", () => {
    const x = num("x");
    const y = num("y");
    const a = sum(1, x, y);
    const b = sum(2, a, x);
    const all = ancestors([b]);
    expect(new Set(all)).toEqual(new Set([b, a, x, y]));
    expect(all).toHaveLength(4);
    expect(new Set(ancestors([b], new Set([a])))).toEqual(new Set([b, a, x]));
  });

  it("graphInputs: the ownerless non-constants (and stop variables)", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const out = x.add(y).mul(2).add(T.constant(3));
    expect(new Set(graphInputs([out]))).toEqual(new Set([x, y]));
    const mid = x.add(y);
    const top = mid.exp();
    expect(graphInputs([top], new Set([mid]))).toEqual([mid]);
  });
});

// --- cloneGraph ----------------------------------------------------------------------------------

describe("cloneGraph", () => {
  it("copies every node and leaves the original alone", () => {
    const x = num("x");
    const a = sum(1, x);
    const b = sum(2, a, a);
    const memo = cloneGraph([x], [b]);
    const b2 = memo.get(b)!;
    expect(b2).not.toBe(b);
    expect(b2.owner).not.toBe(b.owner);
    expect(b2.owner!.op).toBe(b.owner!.op);
    expect(b2.owner!.inputs[0]).toBe(memo.get(a));
    expect(b2.owner!.inputs[1]).toBe(memo.get(a));
    expect(memo.get(x)).toBe(x);
    expect(b.owner!.inputs[0]).toBe(a);
    expect(a.owner!.inputs[0]).toBe(x);
  });

  it("copyInputs makes fresh inputs of the same type and name; constants stay", () => {
    const x = T.dvector("x");
    const c = T.constant(2);
    const y = x.mul(c);
    const memo = cloneGraph([x], [y], { copyInputs: true });
    const x2 = memo.get(x)!;
    expect(x2).not.toBe(x);
    expect(x2.name).toBe("x");
    expect(x2.type.equals(x.type)).toBe(true);
    expect(ancestors([memo.get(y)!])).toContain(x2);
    expect(ancestors([memo.get(y)!])).not.toContain(x);
  });

  it("replace: an input by an expression of another input (givens)", () => {
    const x = num("x");
    const y = num("y");
    const out = sum(10, x);
    const repl = sum(1, y);
    const memo = cloneGraph([y], [out], { replace: new Map([[x, repl]]), copyInputs: true });
    const out2 = memo.get(out)!;
    const y2 = memo.get(y)!;
    expect(y2).not.toBe(y);
    // out2 = sum(10, sum(1, y2)) with only copies inside
    const inner = out2.owner!.inputs[0]!;
    expect(inner).toBe(memo.get(x));
    expect(inner).toBe(memo.get(repl));
    expect(inner.owner!.inputs[0]).toBe(y2);
    expect(graphInputs([out2])).toEqual([y2]);
  });

  it("replace: an intermediate variable, and chains of replacements", () => {
    const x = num("x");
    const a = sum(1, x);
    const b = sum(2, a);
    const z = num("z");
    const memo = cloneGraph([x, z], [b], { replace: new Map([[a, z]]) });
    expect(memo.get(b)!.owner!.inputs[0]).toBe(z);
    // p -> q, q -> r: p resolves to r
    const p = num("p");
    const q = num("q");
    const r = num("r");
    const out = sum(0, p, q);
    const m2 = cloneGraph([r], [out], { replace: new Map([[p, q], [q, r]]) });
    expect(m2.get(out)!.owner!.inputs).toEqual([r, r]);
    // a replacement that uses another replaced variable: x -> y + 1, y -> w * 2
    const yv = num("y");
    const w = num("w");
    const o = sum(5, x);
    const m3 = cloneGraph([w], [o], { replace: new Map([[x, sum(1, yv)], [yv, sum(2, w)]]) });
    const o3 = m3.get(o)!;
    expect(graphInputs([o3])).toEqual([w]);
    expect(o3.owner!.inputs[0]!.owner!.inputs[0]!.owner!.inputs[0]).toBe(w);
  });

  it("a replacement that depends on the variable it replaces → TheanoError", () => {
    const x = num("x");
    const out = sum(1, x);
    expect(() => cloneGraph([x], [out], { replace: new Map([[x, sum(2, x)]]) })).toThrow(theano.TheanoError);
    expect(() => cloneGraph([x], [out], { replace: new Map([[x, sum(2, x)]]) })).toThrow(/depends on/);
  });

  it("shareUnchanged reuses the nodes a replacement does not reach", () => {
    const x = num("x");
    const y = num("y");
    const a = sum(1, x);
    const b = sum(2, y);
    const c = sum(3, a, b);
    const y2 = num("y2");
    const memo = cloneGraph([x, y], [c], { replace: new Map([[y, y2]]), shareUnchanged: true });
    expect(memo.get(a)).toBe(a);
    expect(memo.get(b)).not.toBe(b);
    expect(memo.get(c)).not.toBe(c);
    expect(memo.get(c)!.owner!.inputs[0]).toBe(a);
  });
});

// --- FunctionGraph -------------------------------------------------------------------------------

describe("FunctionGraph", () => {
  const build = () => {
    const x = num("x");
    const y = num("y");
    const a = sum(1, x);
    const b = sum(2, a, x);
    const c = sum(3, b, y);
    return { x, y, a, b, c, fg: new FunctionGraph([x, y], [c, b]) };
  };

  it("clones the user's graph and tracks nodes, variables and clients", () => {
    const { x, y, a, b, c, fg } = build();
    expect(fg.inputs).toHaveLength(2);
    expect(fg.inputs[0]).not.toBe(x);
    expect(fg.memo.get(x)).toBe(fg.inputs[0]);
    expect(fg.memo.get(c)).toBe(fg.outputs[0]);
    expect(fg.nodes.size).toBe(3);
    expect(c.owner!.inputs[0]).toBe(b); // the user's graph is untouched
    const [x2, y2] = fg.inputs;
    const a2 = fg.memo.get(a)!;
    const b2 = fg.memo.get(b)!;
    const c2 = fg.memo.get(c)!;
    expect(fg.clientsOf(x2!)).toEqual([
      [a2.owner, 0],
      [b2.owner, 1],
    ]);
    expect(fg.clientsOf(y2!)).toEqual([[c2.owner, 1]]);
    expect(fg.clientsOf(b2)).toEqual([
      [c2.owner, 0],
      ["output", 1],
    ]);
    expect(fg.clientsOf(c2)).toEqual([["output", 0]]);
    for (const v of [x2, y2, a2, b2, c2]) expect(fg.variables.has(v!)).toBe(true);
    expect(fg.toposort()).toEqual([a2.owner, b2.owner, c2.owner]);
    expect(String(fg)).toContain("SumOp");
    void y;
  });

  it("clone: false keeps the given variables", () => {
    const x = num("x");
    const a = sum(1, x);
    const fg = new FunctionGraph([x], [a], { clone: false });
    expect(fg.inputs[0]).toBe(x);
    expect(fg.outputs[0]).toBe(a);
    expect(fg.nodes.has(a.owner!)).toBe(true);
  });

  it("replace moves every client, imports the new nodes and prunes the old ones", () => {
    const { a, b, fg } = build();
    const [x2] = fg.inputs;
    const a2 = fg.memo.get(a)!;
    const b2 = fg.memo.get(b)!;
    const events: string[] = [];
    const feature: Feature = {
      onAttach: () => events.push("attach"),
      onImport: (_fg, node, reason) => events.push(`import ${node.op}:${reason}`),
      onPrune: (_fg, node, reason) => events.push(`prune ${node.op}:${reason}`),
      onChangeInput: (_fg, node, i, _o, _n, reason) => events.push(`change ${node === "output" ? "output" : node.op}[${i}]:${reason}`),
      validate: () => events.push("validate"),
    };
    fg.attachFeature(feature);
    // a -> sum(7, x): a's node goes away, the new one comes in
    const a3 = sum(7, x2!);
    fg.replace(a2, a3, "test");
    expect(fg.nodes.has(a2.owner!)).toBe(false);
    expect(fg.nodes.has(a3.owner!)).toBe(true);
    expect(fg.variables.has(a2)).toBe(false);
    expect(b2.owner!.inputs[0]).toBe(a3);
    expect(fg.clientsOf(a3)).toEqual([[b2.owner, 0]]);
    expect(fg.clientsOf(x2!)).toContainEqual([a3.owner, 0]);
    expect(fg.clientsOf(x2!)).not.toContainEqual([a2.owner, 0]);
    expect(events).toEqual(["attach", "import SumOp{k=7, nout=1}:test", "change SumOp{k=2, nout=1}[0]:test", "prune SumOp{k=1, nout=1}:test"]);
    fg.validate();
    expect(events.at(-1)).toBe("validate");
    expectTopological(fg.toposort());
  });

  it("replacing an output by an input prunes everything behind it", () => {
    const x = num("x");
    let v = x;
    for (let i = 0; i < 10; i++) v = sum(i, v);
    const fg = new FunctionGraph([x], [v]);
    const pruned: Apply[] = [];
    fg.attachFeature({ onPrune: (_fg, n) => pruned.push(n) });
    fg.replace(fg.outputs[0]!, fg.inputs[0]!);
    expect(fg.nodes.size).toBe(0);
    expect(pruned).toHaveLength(10);
    expect(fg.outputs[0]).toBe(fg.inputs[0]);
    expect(fg.clientsOf(fg.inputs[0]!)).toEqual([["output", 0]]);
  });

  it("keeps a node while any of its outputs still has a client", () => {
    const x = num("x");
    const node = new SumOp(1, 2).makeNode(x);
    const [p, q] = node.outputs;
    const fg = new FunctionGraph([x], [sum(0, p!), sum(0, q!)], { clone: false });
    fg.replace(fg.outputs[0]!, x);
    expect(fg.nodes.has(node)).toBe(true);
    fg.replace(fg.outputs[1]!, x);
    expect(fg.nodes.has(node)).toBe(false);
  });

  it("refuses a replacement of another type, and foreign inputs", () => {
    const { a, fg } = build();
    const a2 = fg.memo.get(a)!;
    const wrong = OTHER.makeVariable("w");
    expect(() => fg.replace(a2, wrong)).toThrow(theano.TheanoError);
    expect(() => fg.replace(a2, wrong)).toThrow(/type/);
    const stranger = num("stranger");
    expect(() => fg.replace(a2, sum(0, stranger))).toThrow(/not an input of the graph/);
  });

  it("replace with tensors: a rewrite-like substitution keeps values", () => {
    const x = T.dvector("x");
    const y = x.mul(2).add(1);
    const f = theano.function([x], y, { mode: new theano.Mode("py", "None") });
    const fg = f.fgraph;
    const before = fg.nodes.size;
    const mulOut = [...fg.nodes].find((n) => String(n.op) === "Elemwise{mul}")!.outputs[0]!;
    // x*2 -> x+x, same type
    const xin = fg.inputs[0] as theano.TensorVariable;
    fg.replace(mulOut, xin.add(xin), "mul_to_add");
    expect(fg.nodes.size).toBe(before - 1); // the mul and its DimShuffle'd constant go, an add comes
    expect([...fg.nodes].some((n) => String(n.op) === "Elemwise{mul}")).toBe(false);
  });
});

// --- Op identity ---------------------------------------------------------------------------------

describe("Op equality through props", () => {
  it("same class and props are equal, with the same key; else not", () => {
    expect(new SumOp(1).equals(new SumOp(1))).toBe(true);
    expect(new SumOp(1).key).toBe(new SumOp(1).key);
    expect(new SumOp(1).equals(new SumOp(2))).toBe(false);
    expect(new SumOp(1).equals(new OtherOp(1))).toBe(false);
    const op = new SumOp(3);
    expect(op.equals(op)).toBe(true);
    expect(String(new SumOp(1, 2))).toBe("SumOp{k=1, nout=2}");
  });

  it("Elemwise and DimShuffle compare by their parameters", () => {
    const add = SCALAR_OPS.get("add")!;
    const mul = SCALAR_OPS.get("mul")!;
    const idn = SCALAR_OPS.get("identity")!;
    expect(new T.Elemwise(add).equals(new T.Elemwise(add))).toBe(true);
    expect(new T.Elemwise(add).equals(new T.Elemwise(mul))).toBe(false);
    expect(new T.Elemwise(idn, "float32").equals(new T.Elemwise(idn, "float32"))).toBe(true);
    expect(new T.Elemwise(idn, "float32").equals(new T.Elemwise(idn, "float64"))).toBe(false);
    expect(new T.DimShuffle(2, [1, 0]).equals(new T.DimShuffle(2, [1, 0]))).toBe(true);
    expect(new T.DimShuffle(2, [1, 0]).equals(new T.DimShuffle(2, [0, 1]))).toBe(false);
    expect(new T.DimShuffle(1, ["x", 0]).equals(new T.DimShuffle(1, [0, "x"]))).toBe(false);
    // ops made by the T functions for two separate graphs
    const x = T.dmatrix("x");
    const y = T.dmatrix("y");
    expect(x.add(y).owner!.op.equals(y.add(x).owner!.op)).toBe(true);
    expect(x.add(y).owner!.op.equals(x.mul(y).owner!.op)).toBe(false);
    expect(x.sum(0).owner!.op.equals(y.sum(0).owner!.op)).toBe(true);
    expect(x.sum(0).owner!.op.equals(y.sum(1).owner!.op)).toBe(false);
  });

  it("stableKey: key order does not matter; nested ops, bigints and arrays do", () => {
    expect(stableKey({ a: 1, b: [2, 3] })).toBe(stableKey({ b: [2, 3], a: 1 }));
    expect(stableKey({ a: [1, 2] })).not.toBe(stableKey({ a: [2, 1] }));
    expect(stableKey(5n)).not.toBe(stableKey(5));
    expect(stableKey({ op: new SumOp(1) })).toBe(stableKey({ op: new SumOp(1) }));
    expect(stableKey({ op: new SumOp(1) })).not.toBe(stableKey({ op: new OtherOp(1) }));
    expect(stableKey(null)).not.toBe(stableKey(undefined));
  });
});

describe("serializing graph objects", () => {
  it("variables and nodes describe themselves flatly (JSON, test reporters)", () => {
    const x = T.dvector("x");
    const y = x.add(1).exp();
    const j = JSON.parse(JSON.stringify({ y, node: y.owner }));
    expect(j.y.variable).toBe(y.label);
    expect(j.y.type).toContain("float64");
    expect(j.node.apply).toContain("Elemwise{exp}");
  });
});

// --- big graphs: every traversal iterative -----------------------------------------------------
