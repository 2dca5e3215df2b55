/**
 * sort, argsort, cumsum, cumprod, diff, unique, bincount, nonzero, flatnonzero, oneHot against
 * NumPy (test/fixtures/extra_fixtures.json, made by extra_fixtures.py): exact values (these ops
 * compute exactly what NumPy computes, float32 scans included), dtypes, static shapes,
 * inferShape, every input layout, the TensorVariable methods, and the errors.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError, ShapeError, TypeMismatchError } from "../../src/errors.js";
import type { Variable } from "../../src/graph/basic.js";
import { type DType, isBigIntDType, typedArrayCtor } from "../../src/ndarray/dtype.js";
import { NDArray, array, contiguousStrides } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

import { type Arr, type Case, type Fn, decode, layouts, load, runCase } from "../fixture_cases.js";
// ---------------------------------------------------------------------------------------------

const exact = (): { rtol: number; atol: number } => ({ rtol: 0, atol: 0 });

const FNS: Record<string, Fn> = {
  sort: ([x], p) => T.sort(x!, p.axis as number | null),
  argsort: ([x], p) => T.argsort(x!, p.axis as number | null),
  cumsum: ([x], p) => T.cumsum(x!, p.axis as number | null),
  cumprod: ([x], p) => T.cumprod(x!, p.axis as number | null),
  diff: ([x], p) => T.diff(x!, p.n as number, p.axis as number),
  unique: ([x], p) => T.unique(x!, p.returnIndex as boolean, p.returnInverse as boolean, p.returnCounts as boolean),
  bincount: ([x, w], p) => T.bincount(x!, w ?? null, p.minlength as number),
  nonzero: ([x]) => T.nonzero(x!),
  flatnonzero: ([x]) => T.flatnonzero(x!),
  oneHot: ([y], p) => T.oneHot(y!, p.nClasses as number, (p.dtype as DType | null) ?? undefined),
};

describe("extra ops against NumPy", () => {
  for (const c of load("extra_fixtures.json")) it(`${c.fn}: ${c.name}`, () => runCase(c, FNS, exact));
});

const run = (outs: T.TensorVariable[], givens: Array<[Variable, unknown]>): NDArray[] => evaluate(outs, new Map(givens));

describe("sort and argsort", () => {
  it("argsort is stable and puts NaN last, on long inputs too", () => {
    const n = 2000;
    const vals = Float64Array.from({ length: n }, (_v, i) => (i % 17 === 0 ? NaN : (i * 7919) % 13));
    const x = T.dvector();
    const [idx, sorted] = run([T.argsort(x), T.sort(x)], [[x, new NDArray("float64", [n], vals)]]);
    const ref = [...Array(n).keys()].sort((i, j) => {
      const a = vals[i]!;
      const b = vals[j]!;
      if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? i - j : Number.isNaN(a) ? 1 : -1;
      return a - b || i - j;
    });
    expect(Array.from(idx!.toFlat(), Number)).toEqual(ref);
    expectClose(sorted!, new NDArray("float64", [n], Float64Array.from(ref, (i) => vals[i]!)));
  });

  it("static shapes: axis null flattens", () => {
    expect(T.sort(T.tensor({ dtype: "float64", shape: [3, 4] }), null).type.shape).toEqual([12]);
    expect(T.argsort(T.tensor({ dtype: "float64", shape: [3, null] }), null).type.shape).toEqual([null]);
    expect(T.argsort(T.dmatrix()).dtype).toBe("int64");
    expect(T.sort(T.tensor({ dtype: "int8", shape: [3, 4] }), 0).type.shape).toEqual([3, 4]);
  });

  it("are TensorVariable methods", () => {
    const x = T.dmatrix();
    const v = array([[3, 1], [0, 2]], "float64");
    const [s, a, c, p] = run([x.sort(), x.argsort(0), x.cumsum(), x.cumprod(0)], [[x, v]]);
    expect(s!.toArray()).toEqual([[1, 3], [0, 2]]);
    expect(a!.toArray()).toEqual([[1, 0], [0, 1]]);
    expect(c!.toArray()).toEqual([3, 4, 4, 6]);
    expect(p!.toArray()).toEqual([[3, 1], [0, 2]]);
  });

  it("reject an axis out of range at graph-building time", () => {
    expect(() => T.sort(T.dmatrix(), 2)).toThrow(ShapeError);
    expect(() => T.argsort(T.dscalar())).toThrow(ShapeError);
    expect(() => T.cumsum(T.dvector(), 1)).toThrow(ShapeError);
    expect(() => T.cumprod(T.dmatrix(), -3)).toThrow(ShapeError);
  });
});

describe("cumsum and cumprod", () => {
  it("have NumPy's dtypes", () => {
    const dt = (d: DType): [DType, DType] => [T.cumsum(T.tensor({ dtype: d, shape: [null] })).dtype, T.cumprod(T.tensor({ dtype: d, shape: [null] })).dtype];
    expect(dt("int8")).toEqual(["int64", "int64"]);
    expect(dt("uint16")).toEqual(["uint64", "uint64"]);
    expect(dt("bool")).toEqual(["int64", "int64"]);
    expect(dt("float32")).toEqual(["float32", "float32"]);
    expect(dt("uint64")).toEqual(["uint64", "uint64"]);
  });

  it("axis omitted or null flattens", () => {
    const x = T.tensor({ dtype: "float64", shape: [2, 3] });
    expect(T.cumsum(x).type.shape).toEqual([6]);
    expect(T.cumprod(x, null).type.shape).toEqual([6]);
    expect(T.cumsum(x, 1).type.shape).toEqual([2, 3]);
  });
});

describe("diff", () => {
  it("n = 0 is the input itself; static shapes shrink by n", () => {
    const x = T.tensor({ dtype: "float64", shape: [4, 5] });
    expect(T.diff(x, 0)).toBe(x);
    expect(T.diff(x, 2).type.shape).toEqual([4, 3]);
    expect(T.diff(x, 9, 0).type.shape).toEqual([0, 5]);
    expect(T.diff(T.dmatrix(), 1, 0).type.shape).toEqual([null, null]);
  });

  it("rejects a negative order and 0-d input", () => {
    expect(() => T.diff(T.dvector(), -1)).toThrow(InputError);
    expect(() => T.diff(T.dscalar())).toThrow(TypeMismatchError);
    expect(() => T.diff(T.dvector(), 1, 1)).toThrow(ShapeError);
  });
});

describe("unique", () => {
  it("returns one variable without flags, an array with any", () => {
    const x = T.ivector();
    expect(Array.isArray(T.unique(x))).toBe(false);
    const outs = T.unique(x, true, true, true) as T.TensorVariable[];
    expect(outs.map((o) => o.dtype)).toEqual(["int32", "int64", "int64", "int64"]);
    expect((T.unique(T.imatrix(), false, true) as T.TensorVariable[])[1]!.type.shape).toEqual([null, null]);
  });
});

describe("bincount", () => {
  it("type errors at graph-building time", () => {
    expect(() => T.bincount(T.dvector())).toThrow(TypeMismatchError);
    expect(() => T.bincount(T.imatrix())).toThrow(TypeMismatchError);
    expect(() => T.bincount(T.tensor({ dtype: "uint64", shape: [null] }))).toThrow(TypeMismatchError);
    expect(() => T.bincount(T.ivector(), T.dmatrix())).toThrow(TypeMismatchError);
    expect(() => T.bincount(T.tensor({ dtype: "int32", shape: [3] }), T.tensor({ dtype: "float64", shape: [4] }))).toThrow(ShapeError);
    expect(() => T.bincount(T.ivector(), null, -1)).toThrow(InputError);
  });

  it("negative values and mismatched weights fail at run time", () => {
    const x = T.ivector();
    const w = T.dvector();
    expect(() => run([T.bincount(x)], [[x, array([1, -2], "int32")]])).toThrow(ShapeError);
    expect(() => run([T.bincount(x)], [[x, array([1, -2], "int32")]])).toThrow(/negative/);
    expect(() => run([T.bincount(x, w)], [[x, array([1, 2], "int32")], [w, array([1], "float64")]])).toThrow(ShapeError);
  });
});

describe("nonzero and flatnonzero", () => {
  it("one index vector per axis; 0-d only through flatnonzero", () => {
    expect(T.nonzero(T.dtensor3()).length).toBe(3);
    expect(() => T.nonzero(T.dscalar())).toThrow(TypeMismatchError);
    expect(T.flatnonzero(T.dscalar()).dtype).toBe("int64");
  });
});

describe("oneHot", () => {
  it("takes a symbolic class count", () => {
    const y = T.ivector();
    const n = T.lscalar();
    const o = T.oneHot(y, n, "int32");
    expect(o.type.shape).toEqual([null, null]);
    const g: Array<[Variable, unknown]> = [[y, array([1, 0], "int32")], [n, array(3, "int64")]];
    expect(run([o], g)[0]!.toArray()).toEqual([[0, 1, 0], [1, 0, 0]]);
    expect(inferredShapes([o], new Map(g))).toEqual([[2, 3]]);
    expect(T.oneHot(y, 4).type.shape).toEqual([null, 4]);
    expect(T.oneHot(T.tensor({ dtype: "int8", shape: [5] }), 4).dtype).toBe("float64");
  });

  it("type errors at graph-building time, out-of-range indices at run time", () => {
    expect(() => T.oneHot(T.dvector(), 3)).toThrow(TypeMismatchError);
    expect(() => T.oneHot(T.imatrix(), 3)).toThrow(TypeMismatchError);
    expect(() => T.oneHot(T.ivector(), T.dscalar())).toThrow(TypeMismatchError);
    expect(() => T.oneHot(T.ivector(), -1)).toThrow(ShapeError);
    const y = T.ivector();
    expect(() => run([T.oneHot(y, 3)], [[y, array([0, 3], "int32")]])).toThrow(ShapeError);
    expect(() => run([T.oneHot(y, 3)], [[y, array([-4], "int32")]])).toThrow(/out of bounds/);
  });
});
