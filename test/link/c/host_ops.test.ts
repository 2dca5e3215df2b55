/**
 * C generators for the ops that used to run on the host between C segments in a training step:
 * Shape_i, ARange and Alloc (shapes that depend on values known only at run time, computed in
 * the segment's shape phase) and CrossentropyCategorical1Hot (labels bounds-checked in the
 * kernel: an out-of-range label is a ShapeError, never an out-of-bounds read). Each agrees with
 * `perform` (test/helpers.ts `evaluate`) on contiguous, transposed, step-sliced, broadcast and
 * empty inputs, and the graphs compile to C segments only.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { cSource } from "../../../src/link/c/linker.js";
import type { Variable } from "../../../src/graph/basic.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { evaluate, expectClose } from "../../helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;

const C = new theano.Mode("c", "None");
const hasC = cCompilerStatus().ok;

function seq(dtype: DType, shape: number[], f: (i: number) => number): NDArray {
  const a = theano.zeros(shape, dtype);
  const d = a.data as unknown as Array<number | bigint>;
  for (let i = 0; i < a.size; i++) d[i] = dtype === "int64" || dtype === "uint64" ? BigInt(f(i)) : f(i);
  return a;
}

/** Compiles `outs` for C, checks the plan has no host node, and compares with perform. */
function agree(ins: Variable[], outs: theano.TensorVariable[], values: unknown[]): void {
  const f = theano.function(ins, outs, { mode: C });
  expect(cSource(f.fgraph).steps.map((s) => s.kind)).not.toContain("host");
  const got = f(...(values as never[])) as NDArray[];
  const want = evaluate(outs, new Map(ins.map((v, i) => [v, values[i]])));
  got.forEach((g, i) => {
    expect(g.shape).toEqual(want[i]!.shape);
    expect(g.dtype).toBe(want[i]!.dtype);
    expectClose(g, want[i]!);
  });
}

/** The same failure (a ShapeError) from C and from perform. */
function bothFail(ins: Variable[], outs: theano.TensorVariable[], values: unknown[], msg: RegExp): void {
  const f = theano.function(ins, outs, { mode: C });
  expect(() => f(...(values as never[]))).toThrow(theano.ShapeError);
  expect(() => f(...(values as never[]))).toThrow(msg);
  expect(() => evaluate(outs, new Map(ins.map((v, i) => [v, values[i]])))).toThrow(theano.ShapeError);
}

const base = seq("float64", [6, 5], (i) => i * 0.25 - 3);
const LAYOUTS: Array<[string, NDArray]> = [
  ["contiguous", base],
  ["transposed", base.transpose()],
  ["step-sliced", base.slice([0, null, 2], [4, null, -2])],
  ["empty", theano.zeros([0, 5], "float64")],
  ["1x1", theano.zeros([1, 1], "float64")],
];

describe.skipIf(!hasC)("C generators for Shape_i, ARange, Alloc, CrossentropyCategorical1Hot", () => {
  it.each(LAYOUTS)("Shape_i of a %s matrix", (_name, xv) => {
    const x = T.dmatrix("x");
    agree([x], [T.shape(x, 0), T.shape(x, 1)], [xv]);
  });

  it("ARange from shapes and run-time scalars, every dtype, empty and negative steps", () => {
    const x = T.dmatrix("x");
    for (const dtype of ["int64", "int32", "int8", "float64", "float32"] as DType[]) {
      for (const xv of [base, base.transpose(), theano.zeros([0, 3], "float64")]) {
        agree([x], [T.arange(0, T.shape(x, 0), 1, dtype), T.arange(T.shape(x, 1), -3, -2, dtype)], [xv]);
      }
    }
    const [a, b, s] = [T.dscalar("a"), T.dscalar("b"), T.dscalar("s")];
    for (const [av, bv, sv] of [[0.5, 3.2, 0.3], [2, -1.5, -0.7], [1, 1, 1], [-2.5, 7, 1], [0.1, 0.2, 0.01]]) {
      for (const dtype of ["float64", "float32", "int64", "int16"] as DType[]) {
        agree([a, b, s], [T.arange(a, b, s, dtype)], [theano.array(av!), theano.array(bv!), theano.array(sv!)]);
      }
    }
    bothFail([a, b, s], [T.arange(a, b, s, "float64")], [theano.array(0), theano.array(3), theano.array(0)], /step must not be zero/);
  });

  it.each(LAYOUTS)("Alloc of scalars, rows and columns to a shape read from a %s matrix", (_name, xv) => {
    const x = T.dmatrix("x");
    const n = T.lscalar("n");
    const v = T.dvector("v");
    const r = T.row("r", "float64");
    const s = T.dscalar("s");
    const [d0, d1] = [T.shape(x, 0), T.shape(x, 1)];
    const rv = seq("float64", [1, xv.shape[1]!], (i) => i + 0.5);
    agree([x, n, v, r, s], [T.alloc(s, d0, d1), T.alloc(v, n, d0, d1), T.alloc(r, d0, d1), T.alloc(s, n)], [xv, theano.array(3, "int64"), seq("float64", [xv.shape[1]!], (i) => -i), rv, theano.array(2.5)]);
    // a transposed value: read through its strides
    const m = T.dmatrix("m");
    agree([x, m], [T.alloc(m, 2, d1, d0)], [xv, xv.transpose()]);
  });

  it("Alloc rejects a value that does not broadcast and a negative size", () => {
    const v = T.dvector("v");
    const n = T.lscalar("n");
    bothFail([v, n], [T.alloc(v, n, n)], [seq("float64", [3], (i) => i), theano.array(2, "int64")], /could not broadcast/);
    bothFail([v, n], [T.alloc(v, n, 3)], [seq("float64", [3], (i) => i), theano.array(-1, "int64")], /negative/);
  });

  it("CrossentropyCategorical1Hot: dtypes, layouts, ranks, empty batches", () => {
    for (const pd of ["float64", "float32"] as DType[]) {
      for (const yd of ["int32", "int64", "uint8"] as DType[]) {
        const p = T.matrix("p", pd);
        const y = T.vector("y", yd);
        const pv = seq(pd, [6, 4], (i) => 0.05 + ((i * 7) % 11) / 12);
        const lab = seq(yd, [6], (i) => (i * 3) % 4);
        agree([p, y], [T.crossentropyCategorical1Hot(p, y)], [pv, lab]);
        agree([p, y], [T.crossentropyCategorical1Hot(p, y)], [seq(pd, [4, 6], (i) => 0.1 + i / 30).transpose(), lab]);
        agree([p, y], [T.crossentropyCategorical1Hot(p, y)], [pv.slice([null, null, 2]), lab.slice([1, null, 2])]);
        agree([p, y], [T.crossentropyCategorical1Hot(p, y)], [theano.zeros([0, 4], pd), theano.zeros([0], yd)]);
      }
    }
    const p1 = T.dvector("p1");
    const y0 = T.lscalar("y0");
    agree([p1, y0], [T.crossentropyCategorical1Hot(p1, y0)], [seq("float64", [5], (i) => (i + 1) / 15), theano.array(3, "int64")]);
    const p3 = T.tensor3("p3", "float32");
    const y2 = T.imatrix("y2");
    agree([p3, y2], [T.crossentropyCategorical1Hot(p3, y2)], [seq("float32", [2, 3, 4], (i) => (i + 1) / 30), seq("int32", [2, 3], (i) => i % 4)]);
  });

  it("CrossentropyCategorical1Hot: an out-of-range or negative label and a batch mismatch are ShapeErrors", () => {
    const p = T.dmatrix("p");
    const y = T.ivector("y");
    const pv = seq("float64", [3, 4], (i) => (i + 1) / 20);
    const out = [T.crossentropyCategorical1Hot(p, y)];
    bothFail([p, y], out, [pv, seq("int32", [3], (i) => [0, 4, 1][i]!)], /label 4 .* out of range for 4 classes/);
    bothFail([p, y], out, [pv, seq("int32", [3], (i) => [0, 1, -1][i]!)], /label -1 .* out of range/);
    bothFail([p, y], out, [pv, seq("int32", [2], (i) => i)], /do not match/);
  });

  it("the MLP training step is one C segment and agrees with the JS backend", () => {
    const X = T.fmatrix("X");
    const y = T.ivector("y");
    const mk = (): theano.TensorVariable[] => [theano.shared(seq("float32", [8, 6], (i) => Math.sin(i) * 0.3)), theano.shared(theano.zeros([6], "float32")), theano.shared(seq("float32", [6, 3], (i) => Math.cos(i) * 0.3)), theano.shared(theano.zeros([3], "float32"))] as never;
    const build = (mode: theano.Mode): (() => NDArray) => {
      const ps = mk();
      const h = T.relu(T.dot(X, ps[0]!).add(ps[1]!));
      const pr = T.softmax(T.dot(h, ps[2]!).add(ps[3]!));
      const loss = T.mean(T.crossentropyCategorical1Hot(pr, y));
      const gs = theano.grad(loss, ps) as theano.TensorVariable[];
      const f = theano.function([X, y], loss, { mode, updates: ps.map((w, i) => [w, w.sub(gs[i]!.mul(0.1))]) as never });
      if (mode === FR) expect(cSource(f.fgraph).steps.map((s) => s.kind)).toEqual(["c"]);
      const Xv = seq("float32", [5, 8], (i) => Math.cos(i * 0.7));
      const yv = seq("int32", [5], (i) => i % 3);
      return () => f(Xv, yv) as NDArray;
    };
    const FR = new theano.Mode("c", "fast_run");
    const c = build(FR);
    const js = build(new theano.Mode("js", "fast_run"));
    for (let i = 0; i < 3; i++) expectClose(c(), js());
  });
});

describe.skipIf(!hasC)("views that only host nodes read run on the host", () => {
  it("a slice and a transpose of a C result read by host nodes are views made on the host (no exported copy); a view that is an output stays in C", () => {
    const x = T.dmatrix("x");
    const n = T.lscalar("n");
    const y = T.tanh(x.mul(2)); // C
    const rows = y.get("1:"); // constant slice, read by Diff only
    const cols = y.get(theano.T.slice(0, n)); // symbolic bound (a gather in C), read by Diff only
    const d1 = T.diff(rows, 1, 0); // Diff has no C generator: a host node
    const d2 = T.diff(cols.T, 1, 0); // the transpose too is only read by a host node
    const out = y.get("::2"); // a view that is a function output
    const f = theano.function([x, n], [d1, d2, out], { mode: new theano.Mode("c", "fast_run") });
    const plan = cSource(f.fgraph).steps;
    const hostOps = plan.flatMap((s) => (s.kind === "host" ? [String(s.node.op)] : []));
    expect(hostOps.filter((o) => o.startsWith("Subtensor")).length).toBe(2);
    expect(hostOps.some((o) => o.startsWith("DimShuffle"))).toBe(true);
    // the output slice is made in C (last in the order: a second segment); the host views wait
    // for the host node that reads them, so they split nothing (in C they made three segments)
    expect(plan.map((s) => (s.kind === "c" ? "c" : String(s.node.op).split("{")[0]))).toEqual(["c", "Subtensor", "Diff", "Subtensor", "DimShuffle", "Diff", "c"]);
    const xv = seq("float64", [4, 3], (i) => Math.sin(i));
    const got = f(xv, 3) as NDArray[];
    const want = evaluate([d1, d2, out], new Map<Variable, unknown>([[x, xv], [n, 3]]));
    got.forEach((g, i) => expectClose(g, want[i]!));
  });
});

describe.skipIf(!hasC)("views of what a host node made run on the host", () => {
  it("a reversed slice of a host result read by C and by a host node is a host view that C reads in place; a view of an input stays in C", () => {
    const x = T.dmatrix("x");
    const d = T.diff(T.exp(x), 1, 0); // Diff: a host node
    const r = d.get("::-1").get("1:"); // views of the host result
    const s = T.tanh(r).sum(); // C reads the view
    const e = T.diff(r, 1, 1); // a host node reads it too: in C it would be exported as a copy
    const xt = T.exp(x.T).sum(); // a view of an input, read by C only
    const f = theano.function([x], [s, e, xt], { mode: new theano.Mode("c", "fast_run") });
    const plan = cSource(f.fgraph).steps;
    const segViews = plan.flatMap((st) => (st.kind === "c" ? st.segment.nodes.filter((n) => n.op instanceof theano.tensor.Subtensor) : []));
    expect(segViews).toEqual([]);
    const hostOps = plan.flatMap((st) => (st.kind === "host" ? [String(st.node.op).split("{")[0]] : []));
    expect(hostOps.filter((o) => o === "Subtensor").length).toBe(2);
    expect(hostOps).not.toContain("DimShuffle");
    // the views come right after the Diff that makes them, before the segment that reads them
    const kinds = plan.map((st) => (st.kind === "c" ? "c" : String(st.node.op).split("{")[0]));
    expect(kinds.indexOf("Subtensor")).toBe(kinds.indexOf("Diff") + 1);
    const xv = seq("float64", [5, 4], (i) => Math.cos(i) * 0.3);
    const got = f(xv) as NDArray[];
    const want = evaluate([s, e, xt], new Map<Variable, unknown>([[x, xv]]));
    got.forEach((g, i) => expectClose(g, want[i]!));
  });
});
