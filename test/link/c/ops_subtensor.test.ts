/**
 * The indexing family's C generators (src/link/c/ops/subtensor.ts): AdvancedSubtensor1 (the
 * embedding lookup), AdvancedSubtensor on integer arrays and slices, AdvancedIncSubtensor (set,
 * and inc with repeated indices accumulating as np.add.at: the embedding's gradient) and
 * IncSubtensor/SetSubtensor with constant or symbolic bounds. Each graph runs on the C linker
 * with no host node and agrees exactly with the py linker (perform) on contiguous, transposed,
 * strided, reversed, offset, empty and size-1 data and index layouts, for several data and index
 * dtypes. Out-of-range indices are ShapeErrors with perform's message, raised before anything is
 * written: a shared variable whose in-place scatter fails keeps its value.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Variable } from "../../../src/graph/basic.js";
import { FunctionGraph } from "../../../src/graph/fgraph.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { cLinker, cSource } from "../../../src/link/c/linker.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { AdvancedIncSubtensor } from "../../../src/tensor/subtensor.js";
import { expectClose } from "../../helpers.js";
import { rand, yieldToRunner } from "./agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

const C = new theano.Mode("c", "fast_run");
const PY = new theano.Mode("py", "fast_run");

/** The kinds of the compiled plan's steps: "c" for a segment, "host:<op>" for a node run by perform. */
function hostNodes(f: { fgraph: FunctionGraph }): string[] {
  return cSource(f.fgraph).steps.flatMap((s) => (s.kind === "host" ? [String(s.node.op)] : []));
}

/**
 * Compiles `outs` on the C and py linkers, checks the C plan has no host node, and compares every
 * output exactly for each case (same element order as perform, so even float sums agree bitwise).
 */
function agree(ins: Variable[], outs: TV[], cases: Array<[string, unknown[]]>, what: string): void {
  const fc = theano.function(ins, outs, { mode: C, onUnusedInput: "ignore" });
  expect(hostNodes(fc), what).toEqual([]);
  const fp = theano.function(ins, outs, { mode: PY, onUnusedInput: "ignore" });
  for (const [name, values] of cases) {
    const got = fc(...(values as never[])) as NDArray[];
    const want = fp(...(values as never[])) as NDArray[];
    outs.forEach((o, i) => {
      try {
        expectClose(got[i]!, want[i]!, { rtol: 0, atol: 0 });
      } catch (e) {
        throw new Error(`${what}: output ${i} (${o.owner ? String(o.owner.op) : o.label}) on ${name}: ${(e as Error).message}`);
      }
    });
  }
}

/** An index vector of `dt` holding `vals`, laid out as `layout` (a strided or reversed view of a bigger array). */
function ivec(vals: readonly number[], dt: DType, layout: "contiguous" | "strided" | "reversed" = "contiguous"): NDArray {
  if (layout === "contiguous") return theano.array([...vals], dt);
  if (layout === "strided") return theano.array(vals.flatMap((v) => [v, 0]), dt).slice([null, null, 2]);
  return theano.array([...vals].reverse(), dt).slice([null, null, -1]);
}

/** In-range indices for an axis of size n, with repeats and negatives (empty when n is 0). */
const picks = (n: number): number[] => (n === 0 ? [] : [0, n - 1, -1, -n, 0, Math.floor(n / 2), n - 1]);

/** Rank-2 data layouts of various shapes. */
function xLayouts(dt: DType): Array<[string, NDArray]> {
  return [
    ["contiguous", rand(dt, [4, 5], 1)],
    ["transposed", rand(dt, [5, 4], 2).transpose()],
    ["step-sliced", rand(dt, [4, 10], 3).slice([null, null], [1, null, 2])],
    ["negative step", rand(dt, [8, 5], 4).slice([null, null, -2])],
    ["offset view", rand(dt, [6, 5], 5).slice([2, null])],
    ["empty rows", theano.zeros([0, 5], dt)],
    ["empty columns", rand(dt, [4, 3], 6).slice([null, null], [1, 1])],
    ["size-1", rand(dt, [1, 1], 7)],
  ];
}

describe.skipIf(!cCompilerStatus().ok)("indexing in generated C", () => {

  it("gathers (x[idx], x[:, idx], arrays with slices, broadcast index arrays) agree with perform on every data and index layout", async () => {
    const x = T.dmatrix("x");
    const i0 = T.lvector("i0");
    const i1 = T.ivector("i1");
    const outs = [
      x.get(i0),
      x.get(":", i1),
      x.get(i0, "1:"),
      x.get(i0, "::-2"),
      x.get("1:", i1),
      // an index array this segment computes (a view), broadcast against another: checked in the kernel
      x.get(i0.dimshuffle(0, "x"), i1),
      x.get(i0, i1.get("::-1").get(":1")),
    ];
    const cases: Array<[string, unknown[]]> = [];
    for (const [name, xv] of xLayouts("float64")) {
      for (const layout of ["contiguous", "strided", "reversed"] as const) {
        const a = picks(xv.shape[0]!);
        const b = picks(xv.shape[1]!);
        // the last output broadcasts i0 against one element of i1: both must be non-empty or i0 empty
        cases.push([`${name}, ${layout} indices`, [xv, ivec(a, "int64", layout), ivec(b.length ? b : [], "int32", layout)]]);
      }
    }
    // a (n, 1) x (m,) broadcast needs i1's first element only when i0 is non-empty; drop cases that perform rejects
    const ok = cases.filter(([, v]) => !((v[1] as NDArray).size > 0 && (v[2] as NDArray).size === 0));
    agree([x, i0, i1], outs, ok, "gathers");
    await yieldToRunner();
  });

  // one test per data dtype: each is a module of 24 nodes, minutes to build under ASan (sanitize.sh)
  for (const dt of ["float32", "int32", "int64", "uint8", "bool"] as DType[]) {
    it(`gathers and scatters of ${dt} data agree for every index dtype (integers wrap, booleans or)`, async () => {
      const IDX: DType[] = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"];
      const x = T.tensor({ dtype: dt, shape: [null, null], name: "x" });
      const y = T.tensor({ dtype: dt, shape: [null, null], name: "y" });
      const idx = IDX.map((it) => T.tensor({ dtype: it, shape: [null], name: `i_${it}` }));
      const outs = idx.flatMap((i) => [x.get(i), T.incSubtensor(x.get(i), y), T.setSubtensor(x.get(i), y)]);
      const xv = rand(dt, [6, 3], 11);
      const yv = rand(dt, [5, 3], 12);
      const vals = [0, 5, 2, 5, 1];
      const neg = [0, -1, 2, -1, -6];
      const cases: Array<[string, unknown[]]> = [
        ["non-negative", [xv, yv, ...IDX.map((it) => ivec(vals, it))]],
        ["negative (signed dtypes)", [xv.transpose().transpose(), rand(dt, [3, 5], 13).transpose(), ...IDX.map((it) => ivec(it.startsWith("u") ? vals : neg, it, "reversed"))]],
      ];
      agree([x, y, ...idx], outs, cases, `dtype ${dt}`);
      await yieldToRunner();
    });
  }

  it("inc with repeated indices accumulates as np.add.at; set keeps the last write (hand-computed)", () => {
    const x = T.fmatrix("x");
    const i = T.lvector("i");
    const y = T.fmatrix("y");
    const j = T.bvector("j");
    const f = theano.function([x, i, y, j], [T.incSubtensor(x.get(i), y), T.setSubtensor(x.get(i), y), T.incSubtensor(x.get(":", j), y)], { mode: C });
    expect(hostNodes(f)).toEqual([]);
    const xv = theano.zeros([4, 2], "float32");
    const [inc, set, cols] = f(xv, theano.array([1, 1, 3, -3], "int64"), theano.array([[1, 2], [3, 4], [5, 6], [7, 8]], "float32"), theano.array([1, -1], "int8")) as NDArray[];
    expectClose(inc!, [[0, 0], [11, 14], [0, 0], [5, 6]]);
    expectClose(set!, [[0, 0], [7, 8], [0, 0], [5, 6]]);
    // x[:, [1, 1]] += y: both of y's columns land on column 1
    expectClose(cols!, [[0, 3], [0, 7], [0, 11], [0, 15]]);
  });

  it("scatters with broadcast, strided and transposed values, empty and size-1 index vectors agree with perform", async () => {
    const x = T.dmatrix("x");
    const i0 = T.lvector("i0");
    const i1 = T.lvector("i1");
    const yrow = T.tensor({ dtype: "float64", shape: [1, null], name: "yrow" });
    const ys = T.dscalar("ys");
    const outs = [
      T.incSubtensor(x.get(i0), x.get(i0).mul(3)),
      T.setSubtensor(x.get(i0), ys),
      T.incSubtensor(x.get(i0), ys),
      T.incSubtensor(x.get(":", i1), x.get(":", i1).T.T.add(1)),
      T.setSubtensor(x.get(":", i1), x.get(":", i1).mul(-1)),
      T.incSubtensor(x.get(i0, "1:"), x.get(i0, "1:")),
      T.setSubtensor(x.get("::-1", i1), ys),
      T.incSubtensor(x.get(i0.dimshuffle(0, "x"), i1), ys),
    ];
    const cases: Array<[string, unknown[]]> = [];
    for (const [name, xv] of xLayouts("float64")) {
      for (const layout of ["contiguous", "strided", "reversed"] as const) {
        cases.push([`${name}, ${layout}`, [xv, ivec(picks(xv.shape[0]!), "int64", layout), ivec(picks(xv.shape[1]!), "int64", layout), theano.array(2.5, "float64")]]);
      }
      if (xv.shape[0]! > 0 && xv.shape[1]! > 0) cases.push([`${name}, size-1 indices`, [xv, ivec([-1], "int64"), ivec([0], "int64"), theano.array(-1, "float64")]]);
    }
    agree([x, i0, i1, ys], outs, cases, "scatters");
    // a row value broadcast over the gathered rows, given contiguous and as a strided view
    const f = [T.incSubtensor(x.get(i0), yrow), T.setSubtensor(x.get(i0), yrow)];
    const xv = rand("float64", [5, 4], 21);
    agree(
      [x, i0, yrow],
      f,
      [
        ["row", [xv, ivec([4, 0, 4, -1], "int64"), rand("float64", [1, 4], 22)]],
        ["strided row", [xv, ivec([4, 0, 4, -1], "int64", "strided"), rand("float64", [1, 8], 23).slice([null, null], [null, null, 2])]],
        ["empty index", [xv, ivec([], "int64"), rand("float64", [1, 4], 24)]],
      ],
      "broadcast rows",
    );
    await yieldToRunner();
  });

  it("rank-3 data: adjacent and separated index arrays (NumPy's placement), 0-d indices, gathers and scatters", async () => {
    const x = T.dtensor3("x");
    const i = T.lvector("i");
    const j = T.lmatrix("j");
    const outs = [
      x.get(i, ":", i),
      x.get(":", i, i),
      x.get(j),
      x.get(1, ":", i),
      x.get(":", -1, j),
      x.get(i, "::2", 0),
      T.incSubtensor(x.get(i, ":", i), T.constant(1.5)),
      T.incSubtensor(x.get(":", j), x.get(":", j).mul(2)),
      T.setSubtensor(x.get(1, ":", i), x.get(1, ":", i).add(7)),
    ];
    const xv = rand("float64", [3, 4, 3], 31);
    agree(
      [x, i, j],
      outs,
      [
        ["contiguous", [xv, ivec([0, 2, -1, 2], "int64"), theano.array([[0, 1], [2, 2], [-1, 0]], "int64")]],
        ["transposed", [rand("float64", [3, 4, 3], 32).transpose(2, 1, 0), ivec([1, 1], "int64", "reversed"), theano.array([[0, 1, 2], [2, 2, 1]], "int64").transpose()]],
        ["empty", [xv, ivec([], "int64"), theano.zeros([0, 2], "int64")]],
      ],
      "rank 3",
    );
    await yieldToRunner();
  });

  it("IncSubtensor/SetSubtensor with constant and symbolic bounds and indices agree with perform", async () => {
    const x = T.dmatrix("x");
    const a = T.lscalar("a");
    const b = T.iscalar("b");
    const s = T.lscalar("s");
    const outs = [
      T.incSubtensor(x.get("1:3"), x.get("1:3").mul(2)),
      T.setSubtensor(x.get("::-2", 1), T.constant(9)),
      T.incSubtensor(x.get(-1), x.get(0)),
      T.setSubtensor(x.get(":", "1:4:2"), T.constant(-1)),
      T.incSubtensor(x.get(T.slice(a, b)), T.constant(10)),
      T.setSubtensor(x.get(":", T.slice(null, null, s)), T.constant(3)),
      T.incSubtensor(x.get(a), x.get(0).mul(0.5)),
      T.setSubtensor(x.get(T.slice(b, null), a), T.constant(4)),
    ];
    const cases: Array<[string, unknown[]]> = [];
    for (const [name, xv] of xLayouts("float64")) {
      const n0 = xv.shape[0]!;
      const n1 = xv.shape[1]!;
      if (n0 < 2 || n1 < 2) continue;
      for (const [av, bv, sv] of [[0, 2, 1], [-1, -3, -2], [1, 100, 3], [-100, 1, -1]]) {
        cases.push([`${name}, bounds ${av} ${bv} ${sv}`, [xv, theano.array(Math.max(-n0, Math.min(n0 - 1, av!)), "int64"), theano.array(bv!, "int32"), theano.array(sv!, "int64")]]);
      }
    }
    agree([x, a, b, s], outs, cases, "basic scatters");
    // empty regions and the 1x1 layout, with constant bounds only
    const outs2 = [T.incSubtensor(x.get("1:3"), T.constant(1)), T.setSubtensor(x.get(":", "::-1"), x.get(":", "::-1").mul(2)), T.incSubtensor(x.get("5:"), T.constant(3))];
    agree([x], outs2, xLayouts("float64").map(([n, v]) => [n, [v]]), "basic scatters, any shape");
    await yieldToRunner();
  });

  it("basic indexing with symbolic and computed bounds (x[a:b], x[1:n-1], x[::-s], x[:, n-b:]) and their scatters and gradients run in C and agree with perform", async () => {
    const x = T.fmatrix("x");
    const a = T.lscalar("a");
    const b = T.iscalar("b");
    const n = x.shape.get(0);
    const m = x.shape.get(1);
    const outs = [
      x.get(T.slice(a, b)),
      x.get(T.slice(1, n.sub(1))),
      x.get(a),
      x.get(":", T.slice(null, null, b.neg())),
      x.get(":", T.slice(m.sub(b), null)),
      x.get(T.slice(a, null), T.minimum(T.maximum(a, -1), b)),
      T.incSubtensor(x.get(T.slice(1, n.sub(1))), x.get(T.slice(null, n.sub(2))).mul(2)),
      T.setSubtensor(x.get(":", T.slice(m.sub(1), null, -1)), T.constant(7, { dtype: "float32" })),
      // the gradient of a computed-bound slice: a scatter into zeros, as scan's gradient takes
      theano.grad(T.sqr(x.get(T.slice(1, n.sub(1)))).sum(), x),
    ];
    const cases: Array<[string, unknown[]]> = [];
    for (const [name, xv] of xLayouts("float32")) {
      const n0 = xv.shape[0]!;
      if (n0 < 2 || xv.shape[1]! < 2) continue;
      for (const [av, bv] of [[0, 2], [-1, 1], [1, 100], [-n0, 3]]) cases.push([`${name}, bounds ${av} ${bv}`, [xv, theano.array(av!, "int64"), theano.array(bv!, "int32")]]);
    }
    agree([x, a, b], outs, cases, "symbolic-bound gathers");
    // bad bounds: perform's errors, from the shape phase
    const fc = theano.function([x, a, b], [x.get(a), x.get(":", T.slice(null, null, b))], { mode: C });
    const xv = rand("float32", [3, 4], 1);
    expect(() => fc(xv, theano.array(3, "int64"), theano.array(1, "int32"))).toThrow(/index 3 is out of bounds for axis 0 with size 3/);
    expect(() => fc(xv, theano.array(0, "int64"), theano.array(0, "int32"))).toThrow(/slice step must be a non-zero integer, got 0/);
    await yieldToRunner();
  });

  it("an embedding's lookup and its gradient (scatter-add into zeros) run in C and agree with perform", async () => {
    for (const dt of ["float32", "float64"] as const) {
      const W = theano.shared(rand(dt, [7, 3], 41), { name: "W" });
      const idx = T.lvector("idx");
      const Wv = W as unknown as TV;
      const emb = Wv.get(idx);
      const cost = T.sum(emb.mul(emb.add(1)));
      const g = theano.grad(cost, Wv);
      const fc = theano.function([idx], [emb, g], { mode: C });
      expect(hostNodes(fc)).toEqual([]);
      expect(cSource(fc.fgraph).source).toMatch(/AdvancedIncSubtensor\{array;inplace\}/);
      const fp = theano.function([idx], [emb, g], { mode: PY });
      for (const iv of [[0, 3, 3, 6, -1, 0, 3], [], [2]]) {
        const got = fc(theano.array(iv, "int64")) as NDArray[];
        const want = fp(theano.array(iv, "int64")) as NDArray[];
        expectClose(got[0]!, want[0]!, { rtol: 0, atol: 0 });
        expectClose(got[1]!, want[1]!, { rtol: 0, atol: 0 });
      }
      await yieldToRunner();
    }
  });

  it("an in-place scatter update of a shared variable writes over its buffer and equals perform", () => {
    const run = (mode: theano.Mode, m: "inc" | "set"): { value: NDArray; buffers: number; ops: string[] } => {
      const S = theano.shared(rand("float32", [6, 4], 51), { name: "W" });
      const i = T.lvector("i");
      const y = T.fmatrix("y");
      const W = S as unknown as TV;
      const upd = m === "inc" ? T.incSubtensor(W.get(i), y) : T.setSubtensor(W.get(i), y);
      const f = theano.function([i, y], [], { mode, updates: [[S, upd]] });
      const seen = new Set<ArrayBufferLike>([S.container.value!.data.buffer]);
      for (let k = 0; k < 3; k++) {
        f(theano.array([5, 1, 5, -6], "int64"), rand("float32", [4, 4], 52 + k));
        seen.add(S.container.value!.data.buffer);
      }
      return { value: S.getValue(), buffers: seen.size, ops: [...f.fgraph.nodes].map((n) => String(n.op)) };
    };
    for (const m of ["inc", "set"] as const) {
      const c = run(C, m);
      const p = run(PY, m);
      expect(c.ops).toContain(m === "inc" ? "AdvancedIncSubtensor{array;inplace}" : "AdvancedSetSubtensor{array;inplace}");
      expect(c.buffers).toBe(2);
      expectClose(c.value, p.value, { rtol: 0, atol: 0 });
    }
  });

  it("a value or index array in the memory being written is read from a copy (linker level, in place, no destroy handler)", () => {
    const x = T.lmatrix("x");
    const i = T.lvector("i");
    for (const mode of ["inc", "set"] as const) {
      // y is a view of x's first rows (row 1 is written before y's row 1 is read); the second
      // scatter's index array is row 0 of x, which its first write overwrites (read directly, the
      // next index would be 2 instead of 1)
      const outs = [
        new AdvancedIncSubtensor(["array"], mode, true).makeNode(x, x.get(":2"), i).outputs[0]!,
        new AdvancedIncSubtensor(["array"], mode, true).makeNode(x, x.get(":3", 0).mul(0).add(2), x.get(0)).outputs[0]!,
      ];
      for (const [k, out] of outs.entries()) {
        const thunk = cLinker.make(new FunctionGraph([x, i], [out]));
        const xv = theano.array([[0, 1, 0], [3, 4, 1], [5, 6, 2]], "int64");
        const iv = theano.array([1, 0], "int64");
        const want = out.owner!.op.perform(out.owner!, [xv.copy(), (k === 0 ? xv.slice([0, 2]) : theano.array([2, 2, 2], "int64")).copy(), k === 0 ? iv : xv.slice(0).copy()])[0] as NDArray;
        const got = thunk([xv, iv])[0] as NDArray;
        expect(got.data.buffer === xv.data.buffer).toBe(true);
        expectClose(got, want);
      }
    }
  });

  it("out-of-range indices are ShapeErrors naming the op, axis, index and size, as perform's", () => {
    const x = T.dmatrix("x");
    const i = T.lvector("i");
    const u = T.tensor({ dtype: "uint8", shape: [null], name: "u" });
    const a = T.lscalar("a");
    const cases: Array<[TV, Variable[], unknown[], RegExp]> = [
      [x.get(i), [x, i], [rand("float64", [4, 3], 61), theano.array([0, 4], "int64")], /AdvancedSubtensor1: index 4 is out of bounds for axis 0 with size 4/],
      [x.get(i), [x, i], [rand("float64", [4, 3], 61), theano.array([-5], "int64")], /AdvancedSubtensor1: index -5 is out of bounds for axis 0 with size 4/],
      [x.get(":", u), [x, u], [rand("float64", [4, 3], 61), theano.array([2, 200], "uint8")], /AdvancedSubtensor\{:, array\}: index 200 is out of bounds for axis 1 with size 3/],
      [x.get(i), [x, i], [theano.zeros([0, 3], "float64"), theano.array([0], "int64")], /index 0 is out of bounds for axis 0 with size 0/],
      [T.incSubtensor(x.get(":", i), T.constant(1)), [x, i], [rand("float64", [4, 3], 61), theano.array([1, 3], "int64")], /AdvancedIncSubtensor\{:, array\}: index 3 is out of bounds for axis 1 with size 3/],
      [T.setSubtensor(x.get(a), T.constant(1)), [x, a], [rand("float64", [4, 3], 61), theano.array(-7, "int64")], /index -7 is out of bounds for axis 0 with size 4/],
      [x.get(i.add(1)), [x, i], [rand("float64", [4, 3], 61), theano.array([0, 3], "int64")], /AdvancedSubtensor1: index 4 is out of bounds for axis 0 with size 4/],
      [T.incSubtensor(x.get(i), x.get(":3")), [x, i], [rand("float64", [4, 3], 61), theano.array([0, 1], "int64")], /could not broadcast a value of shape \(3, 3\) to shape \(2, 3\)/],
    ];
    for (const [out, ins, vals, msg] of cases) {
      const fc = theano.function(ins, [out], { mode: C });
      expect(hostNodes(fc)).toEqual([]);
      const fp = theano.function(ins, [out], { mode: PY });
      for (const f of [fc, fp]) {
        expect(() => f(...(vals as never[]))).toThrow(theano.ShapeError);
        expect(() => f(...(vals as never[]))).toThrow(msg);
      }
    }
  });

  it("a shared variable whose in-place scatter gets an out-of-range index is unchanged after the failed call", () => {
    for (const computed of [false, true]) {
      const S = theano.shared(rand("float32", [5, 3], 71), { name: "W" });
      const before = S.getValue();
      const i = T.lvector("i");
      const W = S as unknown as TV;
      // the index as given (checked in the shape phase) or computed by the segment (checked in the kernel)
      const idx = computed ? i.add(1) : i;
      const f = theano.function([i], [], { mode: C, updates: [[S, T.incSubtensor(W.get(idx), T.constant(1, { dtype: "float32" }))]] });
      expect(hostNodes(f)).toEqual([]);
      expect([...f.fgraph.nodes].map((n) => String(n.op))).toContain("AdvancedIncSubtensor{array;inplace}");
      expect(() => f(theano.array([0, 1, 2, 9, 3], "int64"))).toThrow(/index (9|10) is out of bounds for axis 0 with size 5/);
      expectClose(S.getValue(), before, { rtol: 0, atol: 0 });
      f(theano.array([0, 0], "int64"));
      expect((S.getValue().get(computed ? 1 : 0, 0) as number) - (before.get(computed ? 1 : 0, 0) as number)).toBeCloseTo(2, 5);
    }
  });

  it("a scatter writing over its input's buffer writes nothing when an index is out of range, checked before any kernel (linker level)", () => {
    const x = T.fmatrix("x");
    const i = T.lvector("i");
    for (const computed of [false, true]) {
      // rows 0 and 1 come before the bad index: a kernel that checked as it went would have written them
      const out = new AdvancedIncSubtensor(["array"], "inc", true).makeNode(x, T.constant(1, { dtype: "float32" }), computed ? i.add(0) : i).outputs[0]!;
      const thunk = cLinker.make(new FunctionGraph([x, i], [out]));
      const xv = rand("float32", [4, 3], 91);
      const before = xv.copy();
      expect(() => thunk([xv, theano.array([0, 1, 9], "int64")])).toThrow(theano.ShapeError);
      expectClose(xv, before, { rtol: 0, atol: 0 });
      const got = thunk([xv, theano.array([0, 1, 1], "int64")])[0] as NDArray;
      expect(got.data.buffer === xv.data.buffer).toBe(true);
      expect((got.get(1, 0) as number) - (before.get(1, 0) as number)).toBeCloseTo(2, 5);
    }
  });

  it("a boolean mask alone: gathers with a mask given as input, scatters with any mask, in C; a gather by a computed mask stays on the host", async () => {
    const x = T.dmatrix("x");
    const m2 = T.tensor({ dtype: "bool", shape: [null, null], name: "m2" });
    const m0 = T.tensor({ dtype: "bool", shape: [null], name: "m0" });
    const m1 = T.tensor({ dtype: "bool", shape: [null], name: "m1" });
    const s = T.dscalar("s");
    const outs = [
      x.get(m2),
      x.get(m0),
      x.get(":", m1),
      x.get(m0, "::-2"),
      T.setSubtensor(x.get(m2), s),
      T.incSubtensor(x.get(m0), x.get(0).mul(2)),
      T.incSubtensor(x.get(":", m1), s),
      // masks this segment computes: counted in the kernel
      T.setSubtensor(x.get(x.gt(0)), T.constant(0)),
      T.incSubtensor(x.get("1:", x.get(0).lt(0)), s),
    ];
    const cases: Array<[string, unknown[]]> = [];
    // (x[0] in the graph: every layout with rows)
    for (const [name, xv] of xLayouts("float64").filter(([, v]) => v.shape[0]! > 0)) {
      const [a, b] = xv.shape as [number, number];
      const bits = (n: number, k: number): NDArray => theano.array(Array.from({ length: n }, (_v, i) => (i * 7 + k) % 3 === 0), "bool");
      const full = theano.array(Array.from({ length: a }, (_v, i) => Array.from({ length: b }, (_w, j) => (i + 2 * j) % 3 !== 1)), "bool");
      cases.push([name, [xv, a * b > 0 ? full : theano.zeros([a, b], "bool"), bits(a, 1), bits(b, 2), theano.array(-4.5, "float64")]]);
      cases.push([`${name}, reversed masks`, [xv, full, bits(2 * a, 0).slice([null, null, -2]), theano.zeros([b], "bool"), theano.array(3, "float64")]]);
    }
    agree([x, m2, m0, m1, s], outs, cases, "masks");
    // rank 3, a rank-2 mask after a slice; a value as long as the count, checked in the kernel
    const x3 = T.dtensor3("x3");
    const v = T.dvector("v");
    const x3v = rand("float64", [2, 3, 4], 81);
    const cnt = (x3v.toFlat() as Float64Array).filter((e, i) => i < 12 && e > 0).length;
    agree(
      [x3, m2, v],
      [x3.get(":", m2), T.incSubtensor(x3.get(":", m2), T.constant(1)), T.setSubtensor(x3.get(0).get(x3.get(0).gt(0)), v)],
      [["rank 3", [x3v, theano.array([[true, false, true, true], [false, false, false, true], [true, true, true, true]], "bool"), ivec(Array.from({ length: cnt }, (_v, i) => i * 10), "float64")]]],
      "rank-3 masks",
    );
    // a value of the wrong length, a mask of the wrong shape: perform's ShapeErrors
    const bad = theano.function([x3, v], T.setSubtensor(x3.get(0).get(x3.get(0).gt(0)), v), { mode: C });
    expect(() => bad(x3v, ivec([1, 2], "float64"))).toThrow(new RegExp(`could not broadcast a value of shape \\(2\\) to shape \\(${cnt}\\)`));
    const badMask = theano.function([x, m0], x.get(m0), { mode: C });
    expect(() => badMask(rand("float64", [3, 2], 82), theano.array([true, false], "bool"))).toThrow(/a boolean index of shape \(2\) does not match the indexed dimensions \(3\) of shape \(3, 2\) at axis 0/);
    const f = theano.function([x], [x.get(x.gt(0))], { mode: C });
    expect(hostNodes(f).some((h) => h.startsWith("AdvancedSubtensor"))).toBe(true);
    expectClose((f(theano.array([[1, -2, 3]], "float64")) as NDArray[])[0]!, [1, 3]);
    await yieldToRunner();
  });
});
