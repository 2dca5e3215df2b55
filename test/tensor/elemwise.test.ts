/**
 * Elemwise and DimShuffle (src/tensor/elemwise.ts) through the functions of src/tensor/math.ts:
 * values against NumPy (test/fixtures/elemwise_fixtures.json, section "elemwise"; the views the
 * generator takes are rebuilt here with NDArray.transpose/slice), Theano's broadcasting rule,
 * weak-scalar promotion, static-shape inference and the errors at graph-building and run time.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ShapeError, TypeMismatchError } from "../../src/errors.js";
import { Apply } from "../../src/graph/basic.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import * as S from "../../src/scalar/table.js";
import * as T from "../../src/tensor/index.js";
import { DimShuffle, Elemwise } from "../../src/tensor/elemwise.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

type Enc = number | boolean | string;
interface Arr {
  dtype: DType;
  shape: number[];
  data: Enc[];
}
interface Case {
  inputs: Arr[];
  expected: Arr;
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/elemwise_fixtures.json", import.meta.url), "utf8")) as { elemwise: Record<string, Case> };
const dec = (v: Enc): number | boolean => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : (v as number | boolean));
const nd = (a: Arr): NDArray => array(a.data.map(dec) as never, a.dtype).reshape(a.shape);
const C = (name: string): { ins: NDArray[]; want: NDArray } => {
  const c = fx.elemwise[name]!;
  return { ins: c.inputs.map(nd), want: nd(c.expected) };
};
const run = (out: TensorVariable, givens: Array<[TensorVariable, NDArray]>): NDArray => evaluate([out], new Map(givens))[0]!;

describe("Elemwise values against NumPy", () => {
  it("T.row + T.col broadcasts both ways", () => {
    const { ins, want } = C("row_plus_col");
    const r = T.row("r");
    const c = T.col("c");
    const out = T.add(r, c);
    expect(out.type.shape).toEqual([null, null]);
    expectClose(run(out, [[r, ins[0]!], [c, ins[1]!]]), want);
  });

  it('dimshuffle("x", 0) makes a vector broadcast over rows', () => {
    const { ins, want } = C("dimshuffle_x0");
    const v = T.vector("v");
    const m = T.matrix("m");
    const out = T.mul(v.dimshuffle("x", 0), m);
    expectClose(run(out, [[v, ins[0]!], [m, ins[1]!]]), want);
  });

  it("reads transposed inputs (a transposed view given as a value, and a symbolic transpose)", () => {
    const { ins, want } = C("transposed");
    const a = T.matrix("a");
    const b = T.matrix("b");
    const view = ins[0]!.transpose();
    expect(view.isContiguous).toBe(false);
    expectClose(run(T.sub(a, b), [[a, view], [b, ins[1]!]]), want);
    expectClose(run(T.sub(a.T, b), [[a, ins[0]!], [b, ins[1]!]]), want);
  });

  it("reads step-sliced and reversed views", () => {
    const s = C("step_sliced");
    const a = T.matrix("a");
    const b = T.matrix("b");
    const view = s.ins[0]!.slice([null, null, 2], [1, null, 3]);
    expect(view.shape).toEqual([3, 3]);
    expectClose(run(T.mul(a, b), [[a, view], [b, s.ins[1]!]]), s.want);
    const r = C("reversed");
    const rev = r.ins[0]!.slice([null, null, -1], [null, null, -2]);
    expectClose(run(T.add(a, 1), [[a, rev]]), r.want);
  });

  it("computes on 0-d operands", () => {
    const { ins, want } = C("zero_d");
    const x = T.scalar("x");
    const y = T.scalar("y");
    const out = T.add(T.pow(x, 2), y);
    expect(out.ndim).toBe(0);
    expectClose(run(out, [[x, ins[0]!], [y, ins[1]!]]), want);
  });

  it("computes on empty operands (a broadcast row against zero rows)", () => {
    const { ins, want } = C("empty");
    const e = T.matrix("e");
    const f = T.row("f");
    const out = run(T.add(e, f), [[e, ins[0]!], [f, ins[1]!]]);
    expect(out.shape).toEqual([0, 3]);
    expectClose(out, want);
  });

  it("promotes mixed dtypes as NumPy: int8 * float32 -> float32, int32 + uint8 -> int32", () => {
    const a = C("int8_times_float32");
    const b8 = T.bvector();
    const f32 = T.fvector();
    expect(T.mul(b8, f32).dtype).toBe("float32");
    expectClose(run(T.mul(b8, f32), [[b8, a.ins[0]!], [f32, a.ins[1]!]]), a.want);
    const b = C("int32_plus_uint8");
    const i32 = T.ivector();
    const u8 = T.tensor({ dtype: "uint8", shape: [null] });
    expectClose(run(T.add(i32, u8), [[i32, b.ins[0]!], [u8, b.ins[1]!]]), b.want);
  });

  it("treats JS numbers as weak scalars (fvector + 0.1 stays float32, ivector + 1.5 is float64, x + 1 keeps dtype)", () => {
    const fv = T.fvector();
    const iv = T.ivector();
    const bv = T.bvector();
    expect(T.add(fv, 0.1).dtype).toBe("float32");
    expect(T.add(iv, 1.5).dtype).toBe("float64");
    expect(T.add(iv, 1).dtype).toBe("int32");
    expect(T.add(bv, 1).dtype).toBe("int8");
    expect(T.mul(2, T.dvector()).dtype).toBe("float64");
    expect(T.add(T.tensor({ dtype: "bool", shape: [null] }), 1).dtype).toBe("int64");
    let c = C("float32_plus_weak_float");
    expectClose(run(T.add(fv, 0.1), [[fv, c.ins[0]!]]), c.want);
    c = C("int32_plus_weak_float");
    expectClose(run(T.add(iv, 1.5), [[iv, c.ins[0]!]]), c.want);
    c = C("int32_plus_weak_int");
    expectClose(run(T.add(iv, 1), [[iv, c.ins[0]!]]), c.want);
    c = C("int8_plus_weak_int_wraps");
    expectClose(run(T.add(bv, 100), [[bv, c.ins[0]!]]), c.want);
  });

  it("keeps int64 exact beyond 2**32 and gives bool for comparisons", () => {
    let c = C("int64_big");
    const lv = T.lvector();
    const out = run(T.sub(T.mul(lv, 3), 1), [[lv, c.ins[0]!]]);
    expect(out.dtype).toBe("int64");
    expect(Array.from(out.toFlat() as BigInt64Array)).toEqual(Array.from(c.want.toFlat() as BigInt64Array));
    c = C("compare_bool");
    const fv = T.fvector();
    expectClose(run(T.gt(fv, 0), [[fv, c.ins[0]!]]), c.want);
  });

  it("broadcasts two axes of rank-3 operands at once; where and clip", () => {
    let c = C("rank3_broadcast");
    const a = T.tensor({ shape: [null, 1, null], dtype: "float64" });
    const b = T.tensor({ shape: [1, null, 1], dtype: "float64" });
    const out = T.maximum(a, b);
    expect(out.type.shape).toEqual([null, null, null]);
    expectClose(run(out, [[a, c.ins[0]!], [b, c.ins[1]!]]), c.want);
    c = C("where_broadcast");
    const cond = T.tensor({ dtype: "bool", shape: [null, null] });
    const m = T.matrix();
    const r = T.row();
    expectClose(run(T.where(cond, m, r), [[cond, c.ins[0]!], [m, c.ins[1]!], [r, c.ins[2]!]]), c.want);
    c = C("clip_matrix");
    expectClose(run(T.clip(m, -1, 0.5), [[m, c.ins[0]!]]), c.want);
  });

  it("returns a fresh contiguous array that never aliases an input", () => {
    const x = T.vector();
    const v = array([1, 2, 3], "float64");
    const out = run(T.tensorCopy(x), [[x, v]]);
    expect(out.data).not.toBe(v.data);
    expect(out.isContiguous).toBe(true);
  });
});

describe("Theano's broadcasting rule", () => {
  it("a run-time size 1 that is not declared broadcastable raises a ShapeError that says how to declare it", () => {
    const a = T.matrix("a");
    const b = T.matrix("b");
    const f = (): unknown => run(T.add(a, b), [[a, array([[1, 2, 3], [4, 5, 6]], "float64")], [b, array([[1, 2, 3]], "float64")]]);
    expect(f).toThrow(ShapeError);
    expect(f).toThrow(/broadcastable/);
  });

  it("a declared-broadcastable axis of size other than 1 at run time raises a ShapeError", () => {
    const r = T.row("r");
    const m = T.matrix("m");
    expect(() => run(T.add(r, m), [[r, array([[1, 2], [3, 4]], "float64")], [m, array([[1, 2], [3, 4]], "float64")]])).toThrow(ShapeError);
  });

  it("mismatched run-time sizes raise a ShapeError naming both shapes", () => {
    const a = T.vector();
    const b = T.vector();
    expect(() => run(T.add(a, b), [[a, array([1, 2, 3], "float64")], [b, array([1, 2], "float64")]])).toThrow(/\(3\).*\(2\)|do not match/);
  });

  it("conflicting static shapes fail at graph-building time", () => {
    const a = T.tensor({ dtype: "float64", shape: [3, null] });
    const b = T.tensor({ dtype: "float64", shape: [4, null] });
    expect(() => T.add(a, b)).toThrow(ShapeError);
    expect(() => T.add(a, b)).toThrow(/3.*4|cannot be broadcast/);
  });

  it("static shapes combine: known sizes win over unknown ones, 1 broadcasts", () => {
    const a = T.tensor({ dtype: "float64", shape: [3, 1, null] });
    const b = T.tensor({ dtype: "float64", shape: [null, 5, 1] });
    expect(T.add(a, b).type.shape).toEqual([3, 5, null]);
    // A scalar is padded to the vector's rank with a broadcastable axis.
    expect(T.add(T.scalar(), T.tensor({ dtype: "float64", shape: [7] })).type.shape).toEqual([7]);
  });
});

describe("Elemwise graph-building errors", () => {
  it("operands of different ranks given straight to the op are a TypeMismatchError", () => {
    const op = new Elemwise(S.add);
    expect(() => op.makeNode(T.vector(), T.matrix())).toThrow(TypeMismatchError);
    expect(() => op.makeNode(T.vector())).toThrow(TypeMismatchError);
  });

  it("dtype rules raise at graph-building time (sub of bools, bitwise on floats)", () => {
    const b = T.tensor({ dtype: "bool", shape: [null] });
    expect(() => T.sub(b, b)).toThrow(TypeMismatchError);
    expect(() => T.and(T.fvector(), T.fvector())).toThrow(TypeMismatchError);
  });

  it("ops compare by props and print their scalar op", () => {
    expect(new Elemwise(S.add).equals(new Elemwise(S.add))).toBe(true);
    expect(new Elemwise(S.add).equals(new Elemwise(S.mul))).toBe(false);
    expect(String(T.add(T.vector(), T.vector()).owner!.op)).toBe("Elemwise{add}");
    expect(String(T.cast(T.vector(), "int32").owner!.op)).toBe("Elemwise{cast{int32}}");
  });
});

describe("DimShuffle", () => {
  it("is a view: output shares the input's data", () => {
    const m = T.matrix();
    const v = array([[1, 2, 3], [4, 5, 6]], "float64");
    const out = run(m.dimshuffle(1, "x", 0), [[m, v]]);
    expect(out.shape).toEqual([3, 1, 2]);
    expect(out.data).toBe(v.data);
    expect(out.toArray()).toEqual([[[1, 4]], [[2, 5]], [[3, 6]]]);
    expect(m.dimshuffle(1, "x", 0).owner!.op.viewMap.get(0)).toEqual([0]);
  });

  it("drops broadcastable axes", () => {
    const r = T.row();
    const out = r.dimshuffle(1);
    expect(out.type.shape).toEqual([null]);
    expect(run(out, [[r, array([[7, 8]], "float64")]]).toArray()).toEqual([7, 8]);
  });

  it("rejects bad patterns, wrong ranks and dropping non-broadcastable axes at graph-building time", () => {
    expect(() => T.matrix().dimshuffle(0, 0)).toThrow(ShapeError);
    expect(() => T.matrix().dimshuffle(0, 2)).toThrow(ShapeError);
    expect(() => T.matrix().dimshuffle(1)).toThrow(ShapeError);
    expect(() => new DimShuffle(2, [1, 0]).makeNode(T.vector())).toThrow(TypeMismatchError);
  });

  it("raises a ShapeError at run time when a dropped axis is not of size 1", () => {
    const r = T.row();
    const node = new DimShuffle(2, [1]).makeNode(r);
    expect(() => node.op.perform(node, [array([[1, 2], [3, 4]], "float64")])).toThrow(ShapeError);
  });
});

describe("inferShape", () => {
  const rand = (shape: number[]): NDArray => {
    const n = shape.reduce((a, b) => a * b, 1);
    return new NDArray("float64", shape, Float64Array.from({ length: n }, (_x, i) => Math.sin(i + 1)));
  };

  it("matches the actual output shape on several inputs", () => {
    const a = T.tensor({ dtype: "float64", shape: [null, 1, null] });
    const b = T.tensor({ dtype: "float64", shape: [1, null, null] });
    const out = T.mul(a, b);
    for (const [s0, s1, s2] of [[2, 3, 4], [1, 5, 1], [0, 2, 3], [4, 1, 2]] as const) {
      const givens = new Map<TensorVariable, NDArray>([[a, rand([s0, 1, s2])], [b, rand([1, s1, s2])]]);
      const actual = evaluate([out], givens)[0]!.shape;
      expect(inferredShapes([out], givens)[0]).toEqual([...actual]);
    }
  });

  it("for DimShuffle, inserted axes have size 1", () => {
    const m = T.matrix();
    const out = m.dimshuffle("x", 1, "x", 0);
    const givens = new Map([[m, rand([3, 5])]]);
    expect(inferredShapes([out], givens)[0]).toEqual([1, 5, 1, 3]);
    expect(out.owner).toBeInstanceOf(Apply);
  });
});
