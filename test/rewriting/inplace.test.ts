/**
 * In-place rewrites and the destroy handler: values are those of the graph without in-place
 * rewrites; user inputs, shared values that are not updated, and constants are never
 * overwritten; an updated shared variable is updated in its own buffer; readers of a buffer run
 * before the node that overwrites it; both linkers honour destroyMap.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import type { Apply, Variable } from "../../src/graph/basic.js";
import { DestroyHandler, InconsistencyError } from "../../src/graph/destroy.js";
import { FunctionGraph } from "../../src/graph/fgraph.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import * as S from "../../src/scalar/table.js";
import { Elemwise } from "../../src/tensor/elemwise.js";
import { AdvancedIncSubtensor, IncSubtensor } from "../../src/tensor/subtensor.js";
import { expectClose } from "../helpers.js";
import { checkRewrite } from "./check_rewrite.js";

const { T } = theano;
type Fn = (...a: unknown[]) => NDArray | NDArray[];
const LINKERS = ["js", "py"] as const;

const destroyers = (fg: FunctionGraph): Apply[] => [...fg.nodes].filter((n) => n.op.destroyMap.size > 0);
const compile = (linker: string, ins: Array<Variable | theano.In>, outs: Variable | Variable[], opts: Parameters<typeof theano.function>[2] = {}, flags: Record<string, unknown> = {}) =>
  theano.config.change({ linker, ...flags } as never, () => theano.function(ins as never, outs as never, opts)) as unknown as Fn & { fgraph: FunctionGraph };

const mat = (rows: number[][]): NDArray => theano.array(rows, "float64");

describe.each(LINKERS)("in-place elementwise (%s linker)", (linker) => {
  it("overwrites an intermediate, not the user's inputs, with the values of the plain graph", () => {
    const a = T.dmatrix("a");
    const b = T.dmatrix("b");
    const out = T.exp(T.dot(a, b)).mul(0.5).add(1);
    const f = compile(linker, [a, b], out);
    const plain = compile(linker, [a, b], out, {}, { optimizer_excluding: "inplace" });
    expect(destroyers(f.fgraph)).toHaveLength(1);
    expect(destroyers(plain.fgraph)).toHaveLength(0);
    const av = mat([[0.1, 0.2], [0.3, -0.4]]);
    const bv = mat([[1, 0], [0.5, -1]]);
    const [ac, bc] = [av.copy(), bv.copy()];
    const r1 = f(av, bv) as NDArray;
    const r2 = f(av, bv) as NDArray;
    expectClose(r1, plain(av, bv) as NDArray);
    expectClose(r2, r1, { rtol: 0, atol: 0 });
    expectClose(av, ac, { rtol: 0, atol: 0 });
    expectClose(bv, bc, { rtol: 0, atol: 0 });
  });

  it("never overwrites a user input, a constant, or a value read later", () => {
    const x = T.dvector("x");
    const c = theano.tensor.constant(theano.array([1, 2, 3], "float64"));
    const z = T.exp(T.dot(x.dimshuffle(0, "x"), x.dimshuffle("x", 0)).sum(1));
    // z is read by two elementwise nodes: at most one may overwrite it, after the other read it.
    const f = compile(linker, [x], [T.sin(x).add(c), z.add(1), z.mul(c)], {}, { optimizer_excluding: "fusion" });
    const plain = compile(linker, [x], [T.sin(x).add(c), z.add(1), z.mul(c)], {}, { optimizer_excluding: "fusion:inplace" });
    const xv = theano.array([0.1, 0.2, 0.3], "float64");
    const xc = xv.copy();
    for (let k = 0; k < 3; k++) {
      const got = f(xv) as NDArray[];
      const want = plain(xv) as NDArray[];
      got.forEach((g, i) => expectClose(g, want[i]!));
    }
    expectClose(xv, xc, { rtol: 0, atol: 0 });
    expectClose(c.constantData as NDArray, [1, 2, 3], { rtol: 0, atol: 0 });
    const destroyed = destroyers(f.fgraph).map((n) => n.inputs[n.op.destroyMap.get(0)![0]!]!);
    // Never x or c; z (the exp) by exactly one of its two readers.
    expect(destroyed.some((v) => v === f.fgraph.inputs[0] || v.isConstant)).toBe(false);
    expect(destroyed.filter((v) => v.owner?.op.toString().startsWith("Elemwise{exp}"))).toHaveLength(1);
  });

  it("updates a shared variable in place (in the lent copy, swapped in); outputs see the old value; other shared values stay", () => {
    const w = theano.shared(theano.array([1, 2, 3, 4], "float64"), { name: "w" });
    const v = theano.shared(theano.array([10, 20, 30, 40], "float64"), { name: "v" });
    const x = T.dvector("x");
    const f = compile(linker, [x], [w.sum(), v.add(w)], { updates: [[w, w.sub(x.mul(0.5)).add(v.mul(0))]] });
    expect(destroyers(f.fgraph).some((n) => n.inputs.some((i) => i.name === "w"))).toBe(true);
    const before = w.container.value!; // not getValue({ borrow }): that would keep it from being the spare
    const [s, vw] = f(theano.array([2, 2, 2, 2], "float64")) as NDArray[];
    expectClose(s!, 10);
    expectClose(vw!, [11, 22, 33, 44]);
    const after = w.getValue({ borrow: true });
    expectClose(after, [0, 1, 2, 3]);
    // computed in place in the copy lent for w (issue 13.1), which became w; the old storage is
    // untouched and is the spare the next call computes in
    expect(after.data.buffer === before.data.buffer).toBe(false);
    expectClose(before, [1, 2, 3, 4], { rtol: 0, atol: 0 });
    f(theano.array([2, 2, 2, 2], "float64"));
    expect(w.container.value!.data.buffer === before.data.buffer).toBe(true);
    expectClose(w.getValue(), [-1, 0, 1, 2]);
    expectClose(v.getValue(), [10, 20, 30, 40], { rtol: 0, atol: 0 });
    // A second function over w sees the update.
    const g = compile(linker, [], w.mul(1));
    expectClose(g() as NDArray, [-1, 0, 1, 2]);
  });

  it("In(x, { mutable: true }) lets the function overwrite x; outputs still never alias it", () => {
    const x = T.dvector("x");
    const f = compile(linker, [theano.In(x, { mutable: true })], T.exp(x).add(1));
    expect(destroyers(f.fgraph)).toHaveLength(1);
    const xv = theano.array([0, 1], "float64");
    const r = f(xv) as NDArray;
    expectClose(r, [2, Math.E + 1]);
    expect(r.data.buffer === xv.data.buffer).toBe(false);
    const g = compile(linker, [x], T.exp(x).add(1));
    expect(destroyers(g.fgraph)).toHaveLength(0);
  });

  it("a failing node leaves the shared variable untouched (destroyers of inputs run last)", () => {
    const w = theano.shared(theano.array([1, 2, 3], "float64"), { name: "w" });
    const x = T.dvector("x");
    const y = T.dvector("y");
    const f = compile(linker, [x, y], x.add(y), { updates: [[w, w.mul(2)]] });
    expect(() => f(theano.array([1, 2, 3], "float64"), theano.array([1, 2], "float64"))).toThrow(theano.ShapeError);
    expectClose(w.getValue(), [1, 2, 3], { rtol: 0, atol: 0 });
  });
});

describe.each(LINKERS)("in-place inc/set subtensor (%s linker)", (linker) => {
  it("writes into an intermediate, never into the input", () => {
    const x = T.dmatrix("x");
    const z = T.exp(x);
    const out = T.incSubtensor(z.get(0), x.get(1)).mul(2);
    const f = compile(linker, [x], out, {}, { optimizer_excluding: "fusion" });
    const ops = [...f.fgraph.nodes].map((n) => n.op);
    expect(ops.some((op) => op instanceof IncSubtensor && op.inplace)).toBe(true);
    const xv = mat([[0, 1], [2, 3]]);
    const xc = xv.copy();
    expectClose(f(xv) as NDArray, [[2 * (1 + 2), 2 * (Math.E + 3)], [2 * Math.exp(2), 2 * Math.exp(3)]]);
    expectClose(xv, xc, { rtol: 0, atol: 0 });
    // On the input itself: not in place.
    const g = compile(linker, [x], T.setSubtensor(x.get(0), x.get(1)));
    expect([...g.fgraph.nodes].some((n) => n.op.destroyMap.size > 0)).toBe(false);
    expectClose(g(xv) as NDArray, [[2, 3], [2, 3]]);
    expectClose(xv, xc, { rtol: 0, atol: 0 });
  });

  it("advanced inc subtensor in place, with repeated indices", () => {
    const x = T.dvector("x");
    const i = T.lvector("i");
    const out = T.incSubtensor(T.exp(x).get(i), 1);
    const f = compile(linker, [x, i], out);
    expect([...f.fgraph.nodes].some((n) => n.op instanceof AdvancedIncSubtensor && n.op.inplace)).toBe(true);
    expectClose(f(theano.array([0, 0, 0], "float64"), theano.array([0, 2, 0], "int64")) as NDArray, [3, 1, 2]);
  });
});

describe("DestroyHandler", () => {
  const inplaceExp = new Elemwise(S.exp, null, new Map([[0, 0]]));
  const exp = new Elemwise(S.exp);

  it("refuses overwriting an input that is not mutable, and allows a mutable one", () => {
    const x = T.dvector("x");
    const fg = new FunctionGraph([x], [inplaceExp.call(x)]);
    fg.attachFeature(new DestroyHandler());
    expect(() => fg.validate()).toThrow(InconsistencyError);
    expect(() => fg.validate()).toThrow(/would overwrite x, but it is the function input x, which is not mutable/);
    const fg2 = new FunctionGraph([x], [inplaceExp.call(x)]);
    fg2.attachFeature(new DestroyHandler({ mutable: [fg2.inputs[0]!] }));
    expect(() => fg2.validate()).not.toThrow();
  });

  it("refuses overwriting a constant, an output, or a buffer read after the destroyer", () => {
    const x = T.dvector("x");
    const c = theano.tensor.constant(theano.array([1, 2], "float64"));
    const fgc = new FunctionGraph([x], [(inplaceExp.call(c) as theano.TensorVariable).add(x)]);
    fgc.attachFeature(new DestroyHandler());
    expect(() => fgc.validate()).toThrow(/it is the constant/);

    const e = exp.call(x);
    const fgo = new FunctionGraph([x], [e, inplaceExp.call(e)]);
    fgo.attachFeature(new DestroyHandler());
    expect(() => fgo.validate()).toThrow(/which is an output of the function/);

    // A reader of e that needs the destroyer's result cannot run before it: a cycle.
    const e2 = exp.call(x);
    const d = inplaceExp.call(e2);
    const fgr = new FunctionGraph([x], [(e2 as theano.TensorVariable).add(d as theano.TensorVariable)]);
    fgr.attachFeature(new DestroyHandler());
    expect(() => fgr.validate()).toThrow(InconsistencyError);
  });

  it("orders every other reader before the destroyer", () => {
    const x = T.dvector("x");
    const e = exp.call(x);
    const d = inplaceExp.call(e); // overwrites e
    const r = T.sin(e as theano.TensorVariable); // reads e: must run first
    const fg = new FunctionGraph([x], [d, r]);
    fg.attachFeature(new DestroyHandler());
    fg.validate();
    const order = fg.toposort().map((n) => n.op.toString());
    expect(order.indexOf("Elemwise{sin}")).toBeLessThan(order.indexOf("Elemwise{exp}[(0, 0)]"));
  });
});

describe("checkRewrite", () => {
  it("compares values with and without a rewrite and reports what fired", () => {
    const a = T.dmatrix("a");
    const r = checkRewrite([a], T.exp(T.dot(a, a)).add(1), "inplace_elemwise_optimizer", { excluding: ["fusion"] });
    expect(r.applied).toContain("inplace_elemwise_optimizer");
    expect(r.ops.some((o) => o.includes("[(0, 0)]"))).toBe(true);
    expect(destroyers(r.without)).toHaveLength(0);
  });
});
