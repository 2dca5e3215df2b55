/**
 * dtypes (src/ndarray/dtype.ts): promotion against NumPy's own tables, and the weak-scalar rule
 * for JS numbers (NEP 50 / JAX / Theano autocast) that `resultType` adds on top.
 *
 * test/fixtures/promote_types.json is NumPy's `promote_types` and `can_cast(..., "safe")` over
 * all 11 x 11 pairs, written by test/fixtures/make_promote_table.py and committed, so these tests
 * need no Python.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DTYPES, InputError, canCastSafely, promoteTypes, resultType, type DType } from "../../src/index.js";
import {
  checkDType,
  dtypeKind,
  dtypeOfTypedArray,
  dtypeRange,
  isBigIntDType,
  isDType,
  isFloat,
  isInteger,
  isSigned,
  itemsize,
  typedArrayCtor,
  upcastToFloat,
  weakOf,
} from "../../src/ndarray/dtype.js";

interface Fixture {
  numpy: string;
  dtypes: DType[];
  promote: Record<DType, Record<DType, DType>>;
  canCastSafe: Record<DType, Record<DType, boolean>>;
}

const fixture = JSON.parse(readFileSync(new URL("../fixtures/promote_types.json", import.meta.url), "utf8")) as Fixture;

describe("promoteTypes equals np.promote_types", () => {
  it("the fixture covers exactly our dtypes", () => {
    expect([...fixture.dtypes].sort()).toEqual([...DTYPES].sort());
  });

  for (const a of DTYPES) {
    it(`${a} with every dtype (NumPy ${fixture.numpy})`, () => {
      for (const b of DTYPES) {
        expect(`${a} + ${b} -> ${promoteTypes(a, b)}`).toBe(`${a} + ${b} -> ${fixture.promote[a][b]}`);
      }
    });
  }

  it("is symmetric and idempotent", () => {
    for (const a of DTYPES) {
      expect(promoteTypes(a, a)).toBe(a);
      for (const b of DTYPES) expect(promoteTypes(a, b)).toBe(promoteTypes(b, a));
    }
  });
});

describe("canCastSafely equals np.can_cast(a, b, 'safe')", () => {
  for (const a of DTYPES) {
    it(`${a} to every dtype`, () => {
      for (const b of DTYPES) {
        expect(`${a} -> ${b}: ${canCastSafely(a, b)}`).toBe(`${a} -> ${b}: ${fixture.canCastSafe[a][b]}`);
      }
    });
  }

  it("the cases Theano's input checking relies on", () => {
    expect(canCastSafely("float64", "float32")).toBe(false);
    expect(canCastSafely("int64", "int32")).toBe(false);
    expect(canCastSafely("float32", "int64")).toBe(false);
    expect(canCastSafely("int32", "float64")).toBe(true);
    expect(canCastSafely("int32", "float32")).toBe(false);
    expect(canCastSafely("bool", "uint8")).toBe(true);
  });
});

describe("resultType with weak JS scalars", () => {
  const f = weakOf(0.1);
  const i = weakOf(1);
  const b = weakOf(true);

  it("weakOf classifies JS values", () => {
    expect(f).toEqual({ weak: "float" });
    expect(i).toEqual({ weak: "int" });
    expect(weakOf(1n)).toEqual({ weak: "int" });
    expect(weakOf(2.0)).toEqual({ weak: "int" });
    expect(b).toEqual({ weak: "bool" });
  });

  it("a weak scalar never widens a tensor of its kind or above", () => {
    expect(resultType(["float32", f])).toBe("float32");
    expect(resultType(["float32", f], "float64")).toBe("float32");
    expect(resultType(["float32", i])).toBe("float32");
    expect(resultType(["int32", i])).toBe("int32");
    expect(resultType(["int8", i])).toBe("int8");
    expect(resultType(["uint16", i])).toBe("uint16");
    expect(resultType(["float64", f], "float32")).toBe("float64");
    expect(resultType(["int32", b])).toBe("int32");
    expect(resultType(["bool", b])).toBe("bool");
  });

  it("a weak float lifts ints and bools to floatX", () => {
    expect(resultType(["int32", weakOf(1.5)])).toBe("float64");
    expect(resultType(["int32", weakOf(1.5)], "float32")).toBe("float32");
    expect(resultType(["int64", f], "float32")).toBe("float32");
    expect(resultType(["bool", f])).toBe("float64");
    expect(resultType(["uint8", f], "float32")).toBe("float32");
  });

  it("a weak int lifts bool to int64 (np.array([True]) + 1 is int64)", () => {
    expect(resultType(["bool", i])).toBe("int64");
    expect(resultType([i, "bool"])).toBe("int64");
  });

  it("only weak operands: int -> int64, float -> floatX, bool -> bool", () => {
    expect(resultType([i])).toBe("int64");
    expect(resultType([i, i])).toBe("int64");
    expect(resultType([f])).toBe("float64");
    expect(resultType([i, f])).toBe("float64");
    expect(resultType([f], "float32")).toBe("float32");
    expect(resultType([b])).toBe("bool");
    expect(resultType([b, i])).toBe("int64");
  });

  it("strong operands follow promoteTypes, then the weak rule", () => {
    expect(resultType(["int8", "uint8"])).toBe("int16");
    expect(resultType(["int8", "uint8", i])).toBe("int16");
    expect(resultType(["int32", "float32"])).toBe("float64");
    expect(resultType(["int32", "float32", f], "float32")).toBe("float64");
    expect(resultType(["int64", "uint64", i])).toBe("float64");
    expect(resultType(["int16", i, "int32", f], "float32")).toBe("float32");
    expect(resultType(["float32"])).toBe("float32");
  });

  it("no operands is an InputError", () => {
    expect(() => resultType([])).toThrow(InputError);
  });
});

describe("dtype helpers", () => {
  it("sizes, kinds, storage and ranges", () => {
    const expected: Record<DType, [string, number, Function]> = {
      bool: ["b", 1, Uint8Array],
      int8: ["i", 1, Int8Array],
      int16: ["i", 2, Int16Array],
      int32: ["i", 4, Int32Array],
      int64: ["i", 8, BigInt64Array],
      uint8: ["u", 1, Uint8Array],
      uint16: ["u", 2, Uint16Array],
      uint32: ["u", 4, Uint32Array],
      uint64: ["u", 8, BigUint64Array],
      float32: ["f", 4, Float32Array],
      float64: ["f", 8, Float64Array],
    };
    for (const d of DTYPES) {
      const [kind, size, ctor] = expected[d];
      expect(dtypeKind(d)).toBe(kind);
      expect(itemsize(d)).toBe(size);
      expect(typedArrayCtor(d)).toBe(ctor);
      expect(new (typedArrayCtor(d))(1).BYTES_PER_ELEMENT).toBe(size);
      expect(isFloat(d)).toBe(kind === "f");
      expect(isInteger(d)).toBe(kind === "i" || kind === "u");
      expect(isSigned(d)).toBe(kind === "i" || kind === "f");
      expect(isBigIntDType(d)).toBe(d === "int64" || d === "uint64");
      // bool is stored in a Uint8Array, which by itself reads as uint8
      expect(dtypeOfTypedArray(new (typedArrayCtor(d))(0))).toBe(d === "bool" ? "uint8" : d);
    }
    expect(dtypeRange("int8")).toEqual([-128, 127]);
    expect(dtypeRange("uint16")).toEqual([0, 65535]);
    expect(dtypeRange("float32")).toEqual([-Infinity, Infinity]);
    expect(dtypeOfTypedArray(new Uint8Array(0))).toBe("uint8");
    expect(dtypeOfTypedArray(new DataView(new ArrayBuffer(1)))).toBeUndefined();
  });

  it("checkDType validates names, accepts NumPy aliases, lists valid names on error", () => {
    for (const d of DTYPES) expect(checkDType(d)).toBe(d);
    expect(checkDType("float")).toBe("float64");
    expect(checkDType("int")).toBe("int64");
    expect(isDType("float16")).toBe(false);
    expect(isDType("toString")).toBe(false);
    expect(() => checkDType("toString")).toThrow(InputError);
    expect(() => checkDType("float16")).toThrow(/valid dtypes are bool, int8, int16, int32, int64, uint8/);
    expect(() => checkDType(3)).toThrow(InputError);
  });

  it("upcastToFloat: floats stay, the rest become floatX", () => {
    expect(upcastToFloat("float32")).toBe("float32");
    expect(upcastToFloat("float64", "float32")).toBe("float64");
    expect(upcastToFloat("int8")).toBe("float64");
    expect(upcastToFloat("int64", "float32")).toBe("float32");
    expect(upcastToFloat("bool", "float32")).toBe("float32");
  });
});
