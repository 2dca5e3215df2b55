/**
 * The C generators of argmax/argmin (src/link/c/ops/math.ts), cumsum/cumprod, sort/argsort and
 * oneHot (src/link/c/ops/extra.ts) and repeat (src/link/c/ops/alloc.ts) against perform (the py
 * linker): every axis and axis=None, on contiguous, transposed, reversed, size-1 and empty data,
 * for float, integer and boolean inputs; NaN positions as perform (the first NaN wins);
 * cumulative sums wrapping as int64 and rounding every step in float32. Each graph runs in C
 * with no host node; bad lanes, counts and indices are perform's ShapeErrors.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Variable } from "../../../src/graph/basic.js";
import type { FunctionGraph } from "../../../src/graph/fgraph.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { cSource } from "../../../src/link/c/linker.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { expectClose } from "../../helpers.js";
import { rand } from "./agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

const C = new theano.Mode("c", "fast_run");
const PY = new theano.Mode("py", "fast_run");

const hostNodes = (f: { fgraph: FunctionGraph }): string[] => cSource(f.fgraph).steps.flatMap((s) => (s.kind === "host" ? [String(s.node.op)] : []));

function agree(ins: Variable[], outs: TV[], cases: Array<[string, NDArray[]]>, what: string): void {
  const fc = theano.function(ins, outs, { mode: C });
  expect(hostNodes(fc), what).toEqual([]);
  const fp = theano.function(ins, outs, { mode: PY });
  for (const [name, values] of cases) {
    const got = fc(...values) as NDArray[];
    const want = fp(...values) as NDArray[];
    outs.forEach((_o, i) => expectClose(got[i]!, want[i]!, { rtol: 0, atol: 0, what: `${what}: output ${i} on ${name}` }));
  }
}

/** Rank-3 data in several layouts. */
function layouts(dt: DType): Array<[string, NDArray[]]> {
  const base = rand(dt, [3, 4, 5], 7);
  return [
    ["contiguous", [base]],
    ["transposed", [rand(dt, [5, 4, 3], 8).transpose(2, 1, 0)]],
    ["reversed", [base.slice([null, null, -1], [null, null], [null, null, -1])]],
    ["size-1", [rand(dt, [1, 1, 1], 9)]],
  ];
}

describe.skipIf(!cCompilerStatus().ok)("argmax, argmin, cumsum, cumprod, sort and argsort in generated C", () => {
  it("argmax/argmin over every axis and axis=None agree with perform on every layout and dtype", () => {
    for (const dt of ["float32", "float64", "int32", "int64", "uint8", "bool"] as DType[]) {
      const x = T.tensor({ dtype: dt, shape: [null, null, null], name: "x" });
      const outs = [null, 0, 1, 2].flatMap((ax) => [T.argmax(x, ax), T.argmin(x, ax)]);
      agree([x], outs, layouts(dt), `arg ${dt}`);
    }
  });

  it("NaN: the first NaN of a lane is its argmax and argmin, as perform", () => {
    const x = T.fmatrix("x");
    const v = theano.asarray([[1, NaN, 3, NaN], [4, 2, 9, 9], [NaN, 0, 0, 1]], "float32");
    agree([x], [T.argmax(x, 1), T.argmin(x, 1), T.argmax(x, 0), T.argmax(x)], [["nan", [v]]], "nan");
    const f = theano.function([x], T.argmax(x, 1), { mode: C });
    expect(Array.from((f(v) as NDArray).toFlat() as BigInt64Array, Number)).toEqual([1, 2, 0]);
  });

  it("an empty lane is perform's ShapeError; an empty outer axis gives an empty result", () => {
    const x = T.fmatrix("x");
    const f = theano.function([x], T.argmax(x, 1), { mode: C });
    expect(() => f(theano.zeros([3, 0], "float32"))).toThrow(theano.ShapeError);
    expect(() => f(theano.zeros([3, 0], "float32"))).toThrow(/argmax of an empty sequence \(shape \[3, 0\]\)/);
    expect((f(theano.zeros([0, 4], "float32")) as NDArray).shape).toEqual([0]);
  });

  it("cumsum/cumprod over every axis and axis=None agree with perform (float32 rounds each step, integers wrap)", () => {
    for (const dt of ["float32", "float64", "int32", "int64", "uint8", "bool"] as DType[]) {
      const x = T.tensor({ dtype: dt, shape: [null, null, null], name: "x" });
      const outs = [null, 0, 1, 2].flatMap((ax) => [T.cumsum(x, ax), T.cumprod(x, ax)]);
      agree([x], outs, [...layouts(dt), ["empty", [theano.zeros([2, 0, 3], dt)]]], `cum ${dt}`);
    }
    // int64 sums and products wrap as NumPy's do
    const y = T.lvector("y");
    const big = theano.array([3n ** 39n, 3n, 3n, 1n, 2n ** 62n, 2n ** 62n], "int64");
    agree([y], [T.cumprod(y), T.cumsum(y)], [["wrap", [big]]], "int64 wrap");
    const fc = theano.function([y], T.cumsum(y), { mode: C });
    expect((fc(theano.array([2n ** 62n, 2n ** 62n], "int64")) as NDArray).toFlat()[1]).toBe(-(2n ** 63n));
  });

  it("a gradient through cumsum runs in C (the reversed cumsum) and agrees", () => {
    const x = T.dmatrix("x");
    const g = theano.grad(T.cumsum(x, 1).mul(x).sum(), x);
    agree([x], [g], [["contiguous", [rand("float64", [3, 6], 2)]]], "cumsum grad");
  });

  it("sort/argsort over every axis and axis=None agree with perform: NaN last, ties in index order, -0 before +0", () => {
    for (const dt of ["float32", "float64", "int32", "int64", "uint8", "bool"] as DType[]) {
      const x = T.tensor({ dtype: dt, shape: [null, null, null], name: "x" });
      const outs = [null, 0, 1, 2].flatMap((ax) => [T.sort(x, ax), T.argsort(x, ax)]);
      agree([x], outs, [...layouts(dt), ["empty", [theano.zeros([2, 0, 3], dt)]]], `sort ${dt}`);
    }
    const v = T.fvector("v");
    const data = theano.asarray([2, NaN, -0, 1, 0, -0, NaN, 1, -5], "float32");
    agree([v], [T.sort(v), T.argsort(v)], [["nan and zeros", [data]]], "nan, ties");
    const f = theano.function([v], [T.sort(v), T.argsort(v)], { mode: C });
    const [sv, iv] = f(data) as NDArray[];
    expect(Array.from(iv!.toFlat() as BigInt64Array, Number)).toEqual([8, 2, 4, 5, 3, 7, 0, 1, 6]);
    expect(Array.from(sv!.toFlat() as Float32Array).map((q) => (Object.is(q, -0) ? "-0" : String(q)))).toEqual(["-5", "-0", "-0", "0", "1", "1", "2", "NaN", "NaN"]);
  });

  it("the gradient of sort (a scatter by argsort) runs in C and agrees", () => {
    const x = T.dmatrix("x");
    const g = theano.grad(T.sort(x, 1).mul(T.arange(4).astype("float64")).sum(), x);
    agree([x], [g], [["contiguous", [rand("float64", [3, 4], 5)]]], "sort grad");
  });

  it("oneHot with a constant, input or computed class count agrees with perform; bad indices and counts are perform's ShapeErrors", () => {
    const y = T.ivector("y");
    const u = T.tensor({ dtype: "uint8", shape: [null], name: "u" });
    const n = T.lscalar("n");
    const x = T.fmatrix("x");
    const outs = [T.oneHot(y, 5), T.oneHot(y, n, "int32"), T.oneHot(u, x.shape.get(1), "bool"), T.oneHot(y.add(1), n.add(1), "float64")];
    const cases: Array<[string, NDArray[]]> = [
      ["contiguous", [theano.array([0, 4, -1, 2], "int32"), theano.array([1, 3, 0], "uint8"), theano.array(5, "int64"), theano.zeros([2, 4], "float32")]],
      ["strided", [theano.array([3, 0, 1, 0, -5, 0], "int32").slice([null, null, 2]), theano.array([2, 2], "uint8"), theano.array(6, "int64"), theano.zeros([1, 3], "float32")]],
      ["empty", [theano.array([], "int32"), theano.array([], "uint8"), theano.array(0, "int64"), theano.zeros([0, 0], "float32")]],
    ];
    agree([y, u, n, x], outs, cases, "oneHot");
    const f = theano.function([y, n], [T.oneHot(y, n), T.oneHot(y.mul(2), n)], { mode: C });
    expect(hostNodes(f)).toEqual([]);
    expect(() => f(theano.array([0, 5], "int32"), theano.array(5, "int64"))).toThrow(/oneHot: index 5 \(position 1\) is out of bounds for 5 classes/);
    // an index this segment computes is checked in the kernel, before anything is written
    expect(() => f(theano.array([0, 3], "int32"), theano.array(5, "int64"))).toThrow(/oneHot: index 6 \(position 1\) is out of bounds for 5 classes/);
    expect(() => f(theano.array([0], "int32"), theano.array(-1, "int64"))).toThrow(/the class count must be non-negative, got -1/);
  });

  it("repeat with one count or one per element, on every axis and layout, agrees with perform (and tile, flip, roll run in C)", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null, null], name: "x" });
    const r = T.lvector("r");
    const c = T.lscalar("c");
    const outs = [T.repeat(x, 2, 0), T.repeat(x, c, 1), T.repeat(x, r, 2), T.repeat(x, c), T.repeat(x, x.shape.get(0), 2), T.tile(x, [2, 1, 3]), T.flip(x, 1), T.roll(x, c, 2)];
    const cases: Array<[string, NDArray[]]> = layouts("float32").map(([n, [v]]) => [n, [v!, theano.array(Array.from({ length: v!.shape[2]! }, (_q, i) => i % 3), "int64"), theano.array(2, "int64")]]);
    cases.push(["zero counts", [rand("float32", [2, 3, 2], 3), theano.array([0, 0], "int64"), theano.array(0, "int64")]]);
    cases.push(["one count for all", [rand("float32", [2, 3, 4], 4), theano.array([3], "int64"), theano.array(1, "int64")]]);
    agree([x, r, c], outs, cases, "repeat");
    const f = theano.function([x, r, c], [T.repeat(x, r, 2), T.repeat(x, c, 0)], { mode: C });
    expect(hostNodes(f)).toEqual([]);
    const v = rand("float32", [2, 2, 3], 1);
    expect(() => f(v, theano.array([1, 2], "int64"), theano.array(1, "int64"))).toThrow(/Repeat\{axis=2\}: 2 repeats given for an axis of size 3 \(shape \(2, 2, 3\)\)/);
    expect(() => f(v, theano.array([1, -2, 0], "int64"), theano.array(1, "int64"))).toThrow(/Repeat\{axis=2\}: repeats may not be negative, got \[1, -2, 0\]/);
    expect(() => f(v, theano.array([1, 1, 1], "int64"), theano.array(-1, "int64"))).toThrow(/Repeat\{axis=0\}: repeats may not be negative, got \[-1\]/);
  });
});
