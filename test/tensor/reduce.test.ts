/**
 * Reductions (src/tensor/math.ts: CAReduce, Argmax and the sum/prod/max/min/all/any/mean/var/
 * std/argmax/argmin/logsumexp functions) against NumPy/SciPy: every function x axis variant
 * (null, each axis, -1, a pair, the empty list) x keepdims on float64/float32/int8/uint8/int64/
 * bool arrays, arrays with NaN and ±Inf, ties, an empty array and a 0-d array
 * (test/fixtures/elemwise_fixtures.json, section "reduce"). A NumPy error is expected as a
 * ShapeError. Also: dtype rules, non-contiguous inputs, inferShape, graph-building errors.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ShapeError, TypeMismatchError } from "../../src/errors.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

type Enc = number | boolean | string;
interface Arr {
  dtype: DType;
  shape: number[];
  data: Enc[];
}
interface ReduceCase {
  array: string;
  fn: string;
  axis: number | number[] | null;
  keepdims: boolean;
  expected?: Arr;
  error?: string;
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/elemwise_fixtures.json", import.meta.url), "utf8")) as {
  reduce: { arrays: Record<string, Arr>; cases: ReduceCase[] };
};
const dec = (v: Enc): number | boolean => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : (v as number | boolean));
const nd = (a: Arr): NDArray => array(a.data.map(dec) as never, a.dtype).reshape(a.shape);
const arrays = Object.fromEntries(Object.entries(fx.reduce.arrays).map(([k, v]) => [k, nd(v)]));

type Reducer = (x: TensorVariable, axis: number | number[] | null, keepdims: boolean) => TensorVariable;
const FNS: Record<string, Reducer> = {
  sum: (x, a, k) => T.sum(x, a, { keepdims: k }),
  prod: (x, a, k) => T.prod(x, a, { keepdims: k }),
  max: (x, a, k) => T.max(x, a, { keepdims: k }),
  min: (x, a, k) => T.min(x, a, { keepdims: k }),
  all: (x, a, k) => T.all(x, a, { keepdims: k }),
  any: (x, a, k) => T.any(x, a, { keepdims: k }),
  mean: (x, a, k) => T.mean(x, a, { keepdims: k }),
  var: (x, a, k) => x.var(a, { keepdims: k }),
  std: (x, a, k) => T.std(x, a, { keepdims: k }),
  argmax: (x, a, k) => T.argmax(x, a as number | null, { keepdims: k }),
  argmin: (x, a, k) => T.argmin(x, a as number | null, { keepdims: k }),
  logsumexp: (x, a, k) => T.logsumexp(x, a, k),
};

const inputFor = (a: NDArray): TensorVariable => T.tensor({ dtype: a.dtype, shape: a.shape.map(() => null) });
const label = (c: ReduceCase): string => `${c.fn}(${c.array}, axis=${JSON.stringify(c.axis)}, keepdims=${c.keepdims})`;

describe("reductions against NumPy", () => {
  it("the fixture covers every reduction", () => {
    expect(new Set(fx.reduce.cases.map((c) => c.fn))).toEqual(new Set(Object.keys(FNS)));
  });

  describe.each(Object.keys(FNS))("%s", (fn) => {
    const cases = fx.reduce.cases.filter((c) => c.fn === fn);

    it("values, dtype and shape for every array x axis x keepdims", () => {
      for (const c of cases) {
        const a = arrays[c.array]!;
        const x = inputFor(a);
        if (c.error) {
          // NumPy refuses (max of an empty axis, argmax of an empty array): a ShapeError, at the
          // latest when the graph runs.
          expect(() => evaluate([FNS[fn]!(x, c.axis, c.keepdims)], new Map([[x, a]])), label(c)).toThrow(ShapeError);
          continue;
        }
        const out = FNS[fn]!(x, c.axis, c.keepdims);
        const want = nd(c.expected!);
        expect(out.dtype, label(c)).toBe(want.dtype);
        expect(out.ndim, label(c)).toBe(want.ndim);
        const got = evaluate([out], new Map([[x, a]]))[0]!;
        try {
          expectClose(got, want, a.dtype === "float32" ? { rtol: 2e-5, atol: 1e-5 } : {});
        } catch (e) {
          throw new Error(`${label(c)}: ${(e as Error).message}`);
        }
      }
    });

    it("inferShape equals the computed shape", () => {
      for (const c of cases) {
        if (c.error) continue;
        const a = arrays[c.array]!;
        const x = inputFor(a);
        const out = FNS[fn]!(x, c.axis, c.keepdims);
        if (out.owner === null) continue; // a reduction over no axes is the input itself
        const givens = new Map([[x, a]]);
        expect(inferredShapes([out], givens)[0], label(c)).toEqual([...nd(c.expected!).shape]);
      }
    });
  });
});

describe("reduction dtypes (NumPy's)", () => {
  it("sum/prod widen small ints to int64/uint64 and keep floats", () => {
    expect(T.sum(T.bvector()).dtype).toBe("int64");
    expect(T.sum(T.tensor({ dtype: "bool", shape: [null] })).dtype).toBe("int64");
    expect(T.prod(T.tensor({ dtype: "uint8", shape: [null] })).dtype).toBe("uint64");
    expect(T.sum(T.fvector()).dtype).toBe("float32");
    expect(T.sum(T.lvector()).dtype).toBe("int64");
  });

  it("mean/var/std of ints are float64 (floatX), of float32 float32; max keeps; argmax is int64; all is bool", () => {
    expect(T.mean(T.ivector()).dtype).toBe("float64");
    expect(T.std(T.bvector()).dtype).toBe("float64");
    expect(T.mean(T.fmatrix(), 0).dtype).toBe("float32");
    expect(T.max(T.bvector()).dtype).toBe("int8");
    expect(T.argmax(T.fmatrix(), 1).dtype).toBe("int64");
    expect(T.all(T.fvector()).dtype).toBe("bool");
  });
});

describe("empty and special inputs", () => {
  const x = T.matrix("x");
  const empty = array([], "float64").reshape([0, 3]);

  it("sum over an empty axis is 0, prod 1, mean NaN", () => {
    expect(evaluate([T.sum(x, 0)], new Map([[x, empty]]))[0]!.toArray()).toEqual([0, 0, 0]);
    expect(evaluate([T.prod(x, 0)], new Map([[x, empty]]))[0]!.toArray()).toEqual([1, 1, 1]);
    expect(Number.isNaN(evaluate([T.mean(x)], new Map([[x, empty]]))[0]!.item() as number)).toBe(true);
  });

  it("max/argmax over an empty axis raise a ShapeError at run time; over the non-empty axis give an empty result", () => {
    expect(() => evaluate([T.max(x, 0)], new Map([[x, empty]]))).toThrow(ShapeError);
    expect(() => evaluate([T.argmax(x, 0)], new Map([[x, empty]]))).toThrow(ShapeError);
    expect(evaluate([T.max(x, 1)], new Map([[x, empty]]))[0]!.shape).toEqual([0]);
  });

  it("max propagates NaN; argmax returns the first NaN; ties give the first index", () => {
    const v = T.vector();
    const g = new Map([[v, array([1, NaN, 5, NaN], "float64")]]);
    expect(Number.isNaN(evaluate([T.max(v)], g)[0]!.item() as number)).toBe(true);
    expect(evaluate([T.argmax(v)], g)[0]!.item()).toBe(1);
    expect(evaluate([T.argmin(v)], g)[0]!.item()).toBe(1);
    expect(evaluate([T.argmax(v)], new Map([[v, array([3, 7, 7, 1], "float64")]]))[0]!.item()).toBe(1);
  });

  it("logsumexp is stable and gives -inf for a lane of only -inf", () => {
    const v = T.vector();
    expect(evaluate([T.logsumexp(v)], new Map([[v, array([1000, 1000], "float64")]]))[0]!.item()).toBeCloseTo(1000 + Math.LN2, 10);
    expect(evaluate([T.logsumexp(v)], new Map([[v, array([-Infinity, -Infinity], "float64")]]))[0]!.item()).toBe(-Infinity);
  });

  it("int64 sums are exact beyond 2**53", () => {
    const v = T.lvector();
    const big = new NDArray("int64", [2], BigInt64Array.of(2n ** 60n, 3n));
    expect(evaluate([T.sum(v)], new Map([[v, big]]))[0]!.getBig()).toBe(2n ** 60n + 3n);
  });
});

describe("non-contiguous inputs", () => {
  const base = arrays["f64_345"]!;
  const sumCase = (axis: number): NDArray => nd(fx.reduce.cases.find((c) => c.array === "f64_345" && c.fn === "sum" && c.axis === axis && !c.keepdims)!.expected!);

  it("a transposed view reduces like NumPy's reduction over the corresponding axis", () => {
    const x = T.tensor3();
    const view = base.transpose(2, 1, 0); // (5, 4, 3)
    const got = evaluate([T.sum(x, 0)], new Map([[x, view]]))[0]!; // = sum over original axis 2, transposed
    expectClose(got, sumCase(2).transpose().copy());
    const m = evaluate([T.max(x, 2)], new Map([[x, view]]))[0]!;
    const ref = evaluate([T.max(x, 0)], new Map([[x, base]]))[0]!;
    expectClose(m, ref.transpose().copy());
  });

  it("a step-sliced view reduces like its contiguous copy", () => {
    const x = T.tensor3();
    const view = base.slice([null, null, 2], [null, null, -1], [1, null, 2]);
    expect(view.isContiguous).toBe(false);
    for (const out of [T.sum(x, [0, 2]), T.argmin(x, 1), T.std(x, -1), T.prod(x, null)]) {
      expectClose(evaluate([out], new Map([[x, view]]))[0]!, evaluate([out], new Map([[x, view.copy()]]))[0]!);
    }
  });
});

describe("graph-building errors", () => {
  it("an axis out of range or repeated is a ShapeError", () => {
    expect(() => T.sum(T.matrix(), 2)).toThrow(ShapeError);
    expect(() => T.sum(T.matrix(), -3)).toThrow(ShapeError);
    expect(() => T.max(T.matrix(), [0, 0])).toThrow(ShapeError);
    expect(() => T.argmax(T.matrix(), 5)).toThrow(ShapeError);
  });

  it("a non-tensor operand is a TypeMismatchError", () => {
    const notTensor = { type: {}, label: "x" } as unknown as TensorVariable;
    expect(() => new T.CAReduce("add", [0], "float64", "float64").makeNode(notTensor)).toThrow(TypeMismatchError);
    expect(() => new T.Argmax(0, "max").makeNode(notTensor)).toThrow(TypeMismatchError);
  });

  it("a CAReduce prints its kind and axes", () => {
    expect(String(T.sum(T.tensor3(), [0, 2]).owner!.op)).toBe("Sum{axis=(0, 2)}");
    expect(String(T.argmax(T.matrix(), 1).owner!.op)).toBe("Argmax{axis=1}");
  });
});
