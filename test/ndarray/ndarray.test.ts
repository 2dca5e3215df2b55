/**
 * NDArray (src/ndarray/ndarray.ts): creation and dtype inference, exact 64-bit conversions,
 * element access, views (transpose, slice, reshape) and copies, astype, and the creation
 * functions. Expected values were taken from NumPy 2.4 (the comments give the NumPy call).
 */

import { describe, expect, it } from "vitest";
import {
  DTYPES,
  InputError,
  NDArray,
  ShapeError,
  TheanoError,
  arange,
  array,
  asarray,
  full,
  ones,
  zeros,
  type DType,
  type NestedArray,
} from "../../src/index.js";
import { sliceIndices } from "../../src/ndarray/ndarray.js";

/** Throws `cls`, and every library error is also a TheanoError. */
function expectThrows(fn: () => unknown, cls: typeof TheanoError, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, "expected a throw").toBeInstanceOf(cls);
  expect(caught).toBeInstanceOf(TheanoError);
  if (message) expect((caught as Error).message).toMatch(message);
}

describe("array: from nested JS arrays", () => {
  it("infers dtypes as NumPy does: bools -> bool, ints -> int64, any float -> float64", () => {
    expect(array([true, false]).dtype).toBe("bool");
    expect(array([1, 2, 3]).dtype).toBe("int64");
    expect(array([1, 2.5]).dtype).toBe("float64");
    expect(array([[1, 2], [3, 4.5]]).dtype).toBe("float64");
    expect(array([true, 2]).dtype).toBe("int64"); // np.array([True, 2]) -> int64
    expect(array([1n, 2n]).dtype).toBe("int64");
    expect(array([1n, 0.5]).dtype).toBe("float64");
    expect(array([]).dtype).toBe("float64"); // np.array([]) -> float64
    expect(array([[], []]).shape).toEqual([2, 0]);
    // JS cannot tell 1e20 from an integer, but it has no exact int reading: a float, not a failure.
    expect(array([1e20]).dtype).toBe("float64");
    expect(array([1e20]).get(0)).toBe(1e20);
  });

  it("keeps shape, ndim, size and row-major data", () => {
    const a = array([[1, 2, 3], [4, 5, 6]], "float32");
    expect(a.shape).toEqual([2, 3]);
    expect(a.ndim).toBe(2);
    expect(a.size).toBe(6);
    expect(a.dtype).toBe("float32");
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(a.strides).toEqual([3, 1]);
    expect(a.isContiguous).toBe(true);
    expect(a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it("stores booleans one byte each and reads them back as booleans", () => {
    const b = array([[true, false], [false, true]]);
    expect(b.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(b.data as Uint8Array)).toEqual([1, 0, 0, 1]);
    expect(b.get(0, 0)).toBe(true);
    expect(b.toArray()).toEqual([[true, false], [false, true]]);
    // np.array([0, 2, -1, nan], dtype=bool) -> [False, True, True, True]
    expect(array([0, 2, -1, NaN], "bool").toArray()).toEqual([false, true, true, true]);
  });

  it("raises InputError on ragged rows", () => {
    expectThrows(() => array([[1, 2], [3]]), InputError, /ragged/);
    expectThrows(() => array([[1], 2] as unknown as NestedArray), InputError, /ragged/);
    expectThrows(() => array([1, [2]] as unknown as NestedArray), InputError, /ragged/);
    expectThrows(() => array([[[1, 2]], [[3, 4], [5, 6]]]), InputError, /ragged/);
  });

  it("raises InputError on leaves that are not numbers, booleans or bigints", () => {
    for (const bad of [["a"], [null], [undefined], [{}], [[1, "2"]]]) {
      expectThrows(() => array(bad as unknown as NestedArray), InputError, /must be numbers/);
    }
    expectThrows(() => array("abc" as unknown as NestedArray), InputError);
    expectThrows(() => array(null as unknown as NestedArray), InputError);
  });

  it("raises InputError for integers out of the dtype's range (np.array([200], np.int8) overflows)", () => {
    expectThrows(() => array([200], "int8"), InputError, /out of bounds for int8/);
    expectThrows(() => array([-1], "uint8"), InputError, /out of bounds/);
    expectThrows(() => array([2 ** 31], "int32"), InputError);
    expectThrows(() => array([65536], "uint16"), InputError);
    expectThrows(() => array([2n ** 63n], "int64"), InputError);
    expectThrows(() => array([2n ** 64n], "uint64"), InputError);
    expectThrows(() => array([-1n], "uint64"), InputError);
    expectThrows(() => array([NaN], "int32"), InputError); // np: cannot convert float NaN to integer
    expectThrows(() => array([Infinity], "int64"), InputError);
    // The range ends themselves fit.
    expect(array([-128, 127], "int8").toArray()).toEqual([-128, 127]);
    expect(array([0, 4294967295], "uint32").toArray()).toEqual([0, 4294967295]);
    expect(array([2n ** 64n - 1n], "uint64").getBig(0)).toBe(2n ** 64n - 1n);
    expect(array([-(2n ** 63n)], "int64").getBig(0)).toBe(-(2n ** 63n));
  });

  it("truncates floats stored into an integer dtype (np.array([1.7, -1.7], np.int32))", () => {
    expect(array([1.7, -1.7], "int32").toArray()).toEqual([1, -1]);
  });

  it("rejects unknown dtypes with the list of valid ones, and accepts NumPy aliases", () => {
    expectThrows(() => array([1], "float128" as DType), InputError, /valid dtypes are bool, int8/);
    expect(array([1], "double" as DType).dtype).toBe("float64");
  });
});

describe("array: from TypedArrays, scalars and NDArrays", () => {
  const cases: Array<[ArrayBufferView, DType]> = [
    [new Int8Array([1, -2]), "int8"],
    [new Int16Array([1, -2]), "int16"],
    [new Int32Array([1, -2]), "int32"],
    [new BigInt64Array([1n, -2n]), "int64"],
    [new Uint8Array([1, 2]), "uint8"],
    [new Uint16Array([1, 2]), "uint16"],
    [new Uint32Array([1, 2]), "uint32"],
    [new BigUint64Array([1n, 2n]), "uint64"],
    [new Float32Array([1.5, -2]), "float32"],
    [new Float64Array([1.5, -2]), "float64"],
  ];
  for (const [ta, dtype] of cases) {
    it(`${ta.constructor.name} -> 1-d ${dtype}, copied`, () => {
      const a = array(ta as Float64Array);
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual([2]);
      expect(a.data).not.toBe(ta);
      expect(a.data.constructor).toBe(ta.constructor);
      const big = ta instanceof BigInt64Array || ta instanceof BigUint64Array;
      expect(a.getBig(0)).toBe(big ? 1n : (ta as Float64Array)[0]);
      if (big) (ta as BigInt64Array)[0] = 7n;
      else (ta as Float64Array)[0] = 7;
      expect(a.getBig(0)).toBe(big ? 1n : ta instanceof Float32Array || ta instanceof Float64Array ? 1.5 : 1);
    });
  }

  it("Uint8ClampedArray is read as uint8", () => {
    const a = array(new Uint8ClampedArray([0, 255]) as unknown as Uint8Array);
    expect(a.dtype).toBe("uint8");
    expect(a.toArray()).toEqual([0, 255]);
  });

  it("a TypedArray with a dtype converts (astype semantics)", () => {
    const a = array(new Float64Array([1.9, -1.9, 0]), "int16");
    expect(a.dtype).toBe("int16");
    expect(a.toArray()).toEqual([1, -1, 0]);
    expect(array(new Uint8Array([0, 3]), "bool").toArray()).toEqual([false, true]);
  });

  it("a subarray keeps only its own elements", () => {
    const base = new Float32Array([0, 1, 2, 3, 4]);
    expect(array(base.subarray(1, 3)).toArray()).toEqual([1, 2]);
  });

  it("numbers, booleans and bigints give 0-d arrays", () => {
    const i = array(3);
    expect(i.shape).toEqual([]);
    expect(i.ndim).toBe(0);
    expect(i.size).toBe(1);
    expect(i.dtype).toBe("int64");
    expect(i.item()).toBe(3);
    expect(i.toArray()).toBe(3);
    expect(array(2.5).dtype).toBe("float64");
    expect(array(true).dtype).toBe("bool");
    expect(array(true).item()).toBe(true);
    expect(array(5n).dtype).toBe("int64");
    expect(array(5n, "uint8").item()).toBe(5);
    expect(array(1.5, "float32").item()).toBe(1.5);
    expect(array(1e300).dtype).toBe("float64");
    expectThrows(() => array(300, "int8"), InputError);
  });

  it("array(NDArray) always copies; with another dtype it converts", () => {
    const a = array([1, 2, 3], "float32");
    const b = array(a);
    expect(b).not.toBe(a);
    expect(b.data).not.toBe(a.data);
    expect(b.dtype).toBe("float32");
    const c = array(a, "int32");
    expect(c.dtype).toBe("int32");
    expect(c.toArray()).toEqual([1, 2, 3]);
  });
});

describe("every dtype", () => {
  const ctors: Record<DType, Function> = {
    bool: Uint8Array,
    int8: Int8Array,
    int16: Int16Array,
    int32: Int32Array,
    int64: BigInt64Array,
    uint8: Uint8Array,
    uint16: Uint16Array,
    uint32: Uint32Array,
    uint64: BigUint64Array,
    float32: Float32Array,
    float64: Float64Array,
  };
  for (const dtype of DTYPES) {
    it(`${dtype}: storage, round trip, zeros/ones/full, astype to every dtype`, () => {
      const vals = dtype === "bool" ? [[true, false], [false, true]] : [[0, 1], [2, 3]];
      const a = array(vals, dtype);
      expect(a.dtype).toBe(dtype);
      expect(a.data).toBeInstanceOf(ctors[dtype]);
      expect(a.toArray()).toEqual(vals);
      expect(a.T.toArray()).toEqual(dtype === "bool" ? [[true, false], [false, true]] : [[0, 2], [1, 3]]);
      expect(zeros([2], dtype).toArray()).toEqual(dtype === "bool" ? [false, false] : [0, 0]);
      expect(ones([2], dtype).toArray()).toEqual(dtype === "bool" ? [true, true] : [1, 1]);
      expect(full([1, 2], 1, dtype).dtype).toBe(dtype);
      for (const to of DTYPES) {
        const b = a.astype(to);
        expect(b.dtype).toBe(to);
        const expected =
          to === "bool" ? (dtype === "bool" ? vals : [[false, true], [true, true]]) : dtype === "bool" ? [[1, 0], [0, 1]] : vals;
        expect(b.toArray()).toEqual(expected);
      }
    });
  }
});

describe("int64 and uint64 are exact", () => {
  it("int64 storage is a BigInt64Array; values beyond 2**53 come back only as bigints", () => {
    const big = 2n ** 53n + 1n;
    const a = array([big, -big, 5n]);
    expect(a.dtype).toBe("int64");
    expect(a.data).toBeInstanceOf(BigInt64Array);
    expect(a.getBig(0)).toBe(big);
    expect(a.getBig(1)).toBe(-big);
    expectThrows(() => a.get(0), InputError, /cannot be represented exactly/);
    expectThrows(() => a.get(1), InputError);
    expect(a.get(2)).toBe(5);
    expectThrows(() => a.toArray(), InputError);
    expectThrows(() => array(big).item(), InputError);
  });

  it("uint64 above int64's range", () => {
    const v = 2n ** 63n + 7n;
    const a = array([v, 1n], "uint64");
    expect(a.getBig(0)).toBe(v);
    expectThrows(() => a.get(0), InputError);
    expect(a.get(1)).toBe(1);
  });

  it("safe integers convert to numbers, ints from numbers store exactly", () => {
    const m = Number.MAX_SAFE_INTEGER;
    const a = array([m, -m]);
    expect(a.getBig(0)).toBe(BigInt(m));
    expect(a.toArray()).toEqual([m, -m]);
  });

  it("getBig gives numbers for non-64-bit dtypes", () => {
    expect(array([1.5]).getBig(0)).toBe(1.5);
  });
});

describe("element access", () => {
  const a = array([[0, 1, 2], [3, 4, 5]], "int32");

  it("get with positive and negative indices", () => {
    expect(a.get(0, 0)).toBe(0);
    expect(a.get(1, 2)).toBe(5);
    expect(a.get(-1, -1)).toBe(5);
    expect(a.get(-2, -3)).toBe(0);
    expect(a.get(1, -2)).toBe(4);
  });

  it("get out of bounds raises ShapeError naming the axis", () => {
    expectThrows(() => a.get(2, 0), ShapeError, /index 2 is out of bounds for axis 0 with size 2/);
    expectThrows(() => a.get(0, 3), ShapeError, /axis 1/);
    expectThrows(() => a.get(-3, 0), ShapeError);
    expectThrows(() => a.get(0, -4), ShapeError);
  });

  it("get with the wrong number of indices or a fractional index raises InputError", () => {
    expectThrows(() => a.get(0), InputError, /needs 2 indices/);
    expectThrows(() => a.get(0, 0, 0), InputError);
    expectThrows(() => a.get(0.5, 0), InputError);
  });

  it("item on size 1 (any rank), ShapeError otherwise", () => {
    expect(array([[7]]).item()).toBe(7);
    expect(array(4.25).item()).toBe(4.25);
    expectThrows(() => a.item(), ShapeError, /size 1/);
    expectThrows(() => array([]).item(), ShapeError);
  });

  it("toArray gives nested arrays of numbers (no bigints) and handles empty axes", () => {
    const x = array([[1n, 2n], [3n, 4n]]).toArray() as number[][];
    expect(x).toEqual([[1, 2], [3, 4]]);
    expect(typeof x[0]![0]).toBe("number");
    expect(zeros([2, 0]).toArray()).toEqual([[], []]);
    expect(zeros([0, 2]).toArray()).toEqual([]);
  });

  it("toString names dtype and shape", () => {
    expect(String(array([1, 2], "int8"))).toBe("array([1,2], dtype=int8, shape=[2])");
  });
});

describe("views share data", () => {
  it("transpose / T are views with permuted strides", () => {
    const a = arange(6, "float64").reshape([2, 3]);
    const t = a.T;
    expect(t.shape).toEqual([3, 2]);
    expect(t.strides).toEqual([1, 3]);
    expect(t.data).toBe(a.data);
    expect(t.isContiguous).toBe(false);
    expect(t.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    (a.data as Float64Array)[1] = 100;
    expect(t.get(1, 0)).toBe(100);
    expect(a.transpose(1, 0).toArray()).toEqual(t.toArray());
    expect(a.transpose(-1, 0).toArray()).toEqual(t.toArray());
  });

  it("transpose with explicit axes in 3-d, and bad permutations", () => {
    const a = arange(24).reshape([2, 3, 4]);
    const p = a.transpose(1, 2, 0);
    expect(p.shape).toEqual([3, 4, 2]);
    // np.arange(24).reshape(2,3,4).transpose(1,2,0)[2,1,1] == 21
    expect(p.get(2, 1, 1)).toBe(21);
    expect(a.T.shape).toEqual([4, 3, 2]);
    expectThrows(() => a.transpose(0, 1), ShapeError);
    expectThrows(() => a.transpose(0, 0, 1), ShapeError);
    expectThrows(() => a.transpose(0, 1, 3), ShapeError);
  });

  it("slice is a view: writes to the base show through", () => {
    const a = arange(12, "int32").reshape([3, 4]);
    const s = a.slice([1, 3], [null, null, 2]);
    expect(s.shape).toEqual([2, 2]);
    expect(s.data).toBe(a.data);
    expect(s.toArray()).toEqual([[4, 6], [8, 10]]);
    (a.data as Int32Array)[6] = -1;
    expect(s.get(0, 1)).toBe(-1);
  });

  it("an integer index drops the axis; missing trailing indices keep whole axes", () => {
    const a = arange(12).reshape([3, 4]);
    expect(a.slice(1).toArray()).toEqual([4, 5, 6, 7]);
    expect(a.slice(-1).toArray()).toEqual([8, 9, 10, 11]);
    expect(a.slice([null, null], 2).toArray()).toEqual([2, 6, 10]);
    expect(a.slice(1, 2).shape).toEqual([]);
    expect(a.slice(1, 2).item()).toBe(6);
    expectThrows(() => a.slice(3), ShapeError, /out of bounds/);
    expectThrows(() => a.slice(0, -5), ShapeError);
    expectThrows(() => a.slice(0, 0, 0), ShapeError, /too many indices/);
  });

  // Each row: [start, stop, step] and np.arange(10)[start:stop:step].
  const numpy: Array<[number | null, number | null, number | null, number[]]> = [
    [null, null, -1, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
    [-3, null, null, [7, 8, 9]],
    [8, 2, -2, [8, 6, 4]],
    [20, -20, -3, [9, 6, 3, 0]],
    [5, 2, null, []],
    [-100, 100, null, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    [null, null, 3, [0, 3, 6, 9]],
    [3, null, -1, [3, 2, 1, 0]],
    [-1, -11, -1, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]],
    [0, 0, null, []],
    [2, 8, 4, [2, 6]],
    [-2, -8, -3, [8, 5]],
    [100, null, null, []],
    [null, -100, null, []],
    [null, 100, -1, []],
  ];
  for (const [start, stop, step, expected] of numpy) {
    it(`slice [${start}:${stop}:${step}] matches NumPy`, () => {
      const s = arange(10).slice([start, stop, step]);
      expect(s.toArray()).toEqual(expected);
      expect(s.shape).toEqual([expected.length]);
      expect(sliceIndices(10, start, stop, step)[2]).toBe(expected.length);
    });
  }

  it("slices of slices, and of transposes, compose", () => {
    const a = arange(20).reshape([4, 5]);
    const s = a.slice([null, null, -1], [1, null]).slice([1, 3], [null, null, 2]);
    // np.arange(20).reshape(4,5)[::-1, 1:][1:3, ::2]
    expect(s.toArray()).toEqual([[11, 13], [6, 8]]);
    expect(a.T.slice([1, 3]).toArray()).toEqual([[1, 6, 11, 16], [2, 7, 12, 17]]);
  });

  it("empty slices have size 0 and still work", () => {
    const e = arange(10).reshape([2, 5]).slice([null, null], [3, 3]);
    expect(e.shape).toEqual([2, 0]);
    expect(e.size).toBe(0);
    expect(e.toArray()).toEqual([[], []]);
    expect(e.copy().shape).toEqual([2, 0]);
    expect(e.isContiguous).toBe(true);
  });

  it("step 0 and non-integer bounds raise ShapeError", () => {
    expectThrows(() => arange(5).slice([null, null, 0]), ShapeError, /step/);
    expectThrows(() => arange(5).slice([0.5, 2]), ShapeError);
  });
});

describe("reshape", () => {
  it("reshapes contiguous arrays as views", () => {
    const a = arange(6);
    const r = a.reshape([2, 3]);
    expect(r.shape).toEqual([2, 3]);
    expect(r.data).toBe(a.data);
    expect(r.toArray()).toEqual([[0, 1, 2], [3, 4, 5]]);
  });

  it("one -1 is inferred", () => {
    expect(arange(12).reshape([-1, 4]).shape).toEqual([3, 4]);
    expect(arange(12).reshape([2, -1, 3]).shape).toEqual([2, 2, 3]);
    expect(arange(12).reshape([-1]).shape).toEqual([12]);
    expect(array(5).reshape([-1]).shape).toEqual([1]);
    expect(array([5]).reshape([]).shape).toEqual([]);
    expect(zeros([0, 3]).reshape([3, 0]).shape).toEqual([3, 0]);
  });

  it("bad targets raise ShapeError", () => {
    expectThrows(() => arange(12).reshape([5, -1]), ShapeError, /cannot reshape an array of size 12/);
    expectThrows(() => arange(12).reshape([5, 2]), ShapeError);
    expectThrows(() => arange(12).reshape([-1, -1]), ShapeError, /one unknown dimension/);
    expectThrows(() => arange(12).reshape([-2, -6]), ShapeError);
    expectThrows(() => arange(12).reshape([2.5, 4]), ShapeError);
    expectThrows(() => zeros([0]).reshape([0, -1]), ShapeError); // NumPy too: 0 * ? is ambiguous
  });

  it("reshaping a non-contiguous view copies and reads in C order of the view", () => {
    const a = arange(6).reshape([2, 3]);
    const r = a.T.reshape([6]);
    expect(r.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(r.data).not.toBe(a.data);
  });

  it("reshaping a contiguous slice with an offset keeps the offset", () => {
    const a = arange(12).reshape([3, 4]);
    const r = a.slice(2).reshape([2, 2]);
    expect(r.data).toBe(a.data);
    expect(r.toArray()).toEqual([[8, 9], [10, 11]]);
  });
});

describe("copy, contiguous, isContiguous, toFlat", () => {
  const base = () => arange(12, "float32").reshape([3, 4]);

  it("on a non-contiguous view", () => {
    const a = base();
    const v = a.slice([null, null, 2], [null, null, -1]); // a[::2, ::-1]
    expect(v.isContiguous).toBe(false);
    const flat = v.toFlat();
    expect(flat).toBeInstanceOf(Float32Array);
    expect(Array.from(flat as Float32Array)).toEqual([3, 2, 1, 0, 11, 10, 9, 8]);
    const c = v.contiguous();
    expect(c).not.toBe(v);
    expect(c.isContiguous).toBe(true);
    expect(c.offset).toBe(0);
    expect(c.data.length).toBe(8);
    expect(c.toArray()).toEqual(v.toArray());
    const k = v.copy();
    expect(k.isContiguous).toBe(true);
    expect(k.data).not.toBe(a.data);
    (a.data as Float32Array)[3] = 99;
    expect(v.get(0, 0)).toBe(99);
    expect(k.get(0, 0)).toBe(3);
  });

  it("contiguous() returns the array itself when it owns exactly its C-ordered data", () => {
    const a = base();
    expect(a.contiguous()).toBe(a);
    // a contiguous row with an offset is contiguous, but contiguous() still gives an offset-0 copy
    const row = a.slice(1);
    expect(row.isContiguous).toBe(true);
    expect(row.offset).toBe(4);
    const c = row.contiguous();
    expect(c).not.toBe(row);
    expect(c.offset).toBe(0);
    expect(Array.from(row.toFlat() as Float32Array)).toEqual([4, 5, 6, 7]);
  });

  it("size-1 axes do not break contiguity", () => {
    const a = arange(3).reshape([3, 1]);
    expect(a.T.isContiguous).toBe(true);
    expect(a.slice([null, null, -1]).isContiguous).toBe(false);
  });

  it("copy of int64 and bool views", () => {
    const a = array([[1n, 2n], [3n, 4n]]).T.copy();
    expect(a.data).toBeInstanceOf(BigInt64Array);
    expect(a.toArray()).toEqual([[1, 3], [2, 4]]);
    const b = array([[true, false], [true, true]]).T.copy();
    expect(b.toArray()).toEqual([[true, true], [false, true]]);
  });

  it("the constructor refuses views that address outside the buffer", () => {
    const data = new Float64Array(4);
    expectThrows(() => new NDArray("float64", [5], data), ShapeError, /does not fit/);
    expectThrows(() => new NDArray("float64", [2], data, [4], 0), ShapeError);
    expectThrows(() => new NDArray("float64", [2], data, [-1], 0), ShapeError);
    expect(new NDArray("float64", [2], data, [-1], 1).size).toBe(2);
    expectThrows(() => new NDArray("float32", [4], data), InputError, /Float32Array/);
    expectThrows(() => new NDArray("float64", [2, 2], data, [1]), ShapeError);
    expectThrows(() => new NDArray("float64", [-1], data), InputError);
  });
});

describe("astype (NumPy's astype)", () => {
  it("float -> int truncates toward zero; NaN and infinities become 0", () => {
    const a = array([1.7, -1.7, 2.5, -2.5, 0.2, -0.2]);
    expect(a.astype("int32").toArray()).toEqual([1, -1, 2, -2, 0, 0]);
    expect(a.astype("int64").toArray()).toEqual([1, -1, 2, -2, 0, 0]);
    // NumPy's result here is platform-defined (INT_MIN on x86); ours is a defined 0.
    expect(array([NaN, Infinity, -Infinity]).astype("int32").toArray()).toEqual([0, 0, 0]);
    expect(array([NaN]).astype("int64").toArray()).toEqual([0]);
  });

  it("int -> narrower int wraps around (np.array([300,-1,128,255,256]).astype(np.int8))", () => {
    expect(array([300, -1, 128, 255, 256]).astype("int8").toArray()).toEqual([44, -1, -128, -1, 0]);
    expect(array([300, -1, 128]).astype("uint8").toArray()).toEqual([44, 255, 128]);
    expect(array([-1]).astype("uint32").toArray()).toEqual([4294967295]);
    expect(array([-1]).astype("uint64").getBig(0)).toBe(2n ** 64n - 1n);
    expect(array([2n ** 64n - 1n], "uint64").astype("int64").toArray()).toEqual([-1]);
    expect(array([-1.5]).astype("uint8").toArray()).toEqual([255]);
  });

  it("int64 -> narrower int wraps exactly, even beyond 2**53", () => {
    // np.array([2**53+1]).astype(np.int32) -> [1]; np.array([2**40+5]).astype(np.uint16) -> [5]
    expect(array([2n ** 53n + 1n]).astype("int32").toArray()).toEqual([1]);
    expect(array([2n ** 40n + 5n]).astype("uint16").toArray()).toEqual([5]);
    expect(array([2n ** 63n + 3n], "uint64").astype("int8").toArray()).toEqual([3]);
  });

  it("to bool: non-zero is true, NaN is true, -0 is false", () => {
    expect(array([0, -0, 0.5, NaN, Infinity, -2]).astype("bool").toArray()).toEqual([false, false, true, true, true, true]);
    expect(array([0n, 5n]).astype("bool").toArray()).toEqual([false, true]);
  });

  it("to float rounds to the nearest representable value", () => {
    expect(array([0.1]).astype("float32").get(0)).toBe(Math.fround(0.1));
    expect(array([2n ** 53n + 1n]).astype("float64").get(0)).toBe(2 ** 53);
    expect(array([true, false]).astype("float32").toArray()).toEqual([1, 0]);
  });

  it("same dtype copies; views are read in logical order", () => {
    const a = arange(4).reshape([2, 2]);
    const b = a.astype("int64");
    expect(b.data).not.toBe(a.data);
    expect(a.T.astype("float32").toArray()).toEqual([[0, 2], [1, 3]]);
  });
});

describe("creation functions", () => {
  it("zeros/ones: shape as array or number, float64 by default", () => {
    const z = zeros([2, 3]);
    expect(z.dtype).toBe("float64");
    expect(z.shape).toEqual([2, 3]);
    expect(z.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(ones(3).toArray()).toEqual([1, 1, 1]);
    expect(ones([2], "int64").data).toBeInstanceOf(BigInt64Array);
    expect(zeros([]).shape).toEqual([]);
    expect(zeros([]).item()).toBe(0);
    expect(zeros([0]).size).toBe(0);
    expectThrows(() => zeros([-1]), InputError);
    expectThrows(() => zeros([1.5]), InputError);
  });

  it("full infers the dtype from the value as NumPy does", () => {
    expect(full([2], 7).dtype).toBe("int64");
    expect(full([2], 7.5).dtype).toBe("float64");
    expect(full([2], true).dtype).toBe("bool");
    expect(full([2], 3n).dtype).toBe("int64");
    expect(full([2, 2], 7.5, "float32").toArray()).toEqual([[7.5, 7.5], [7.5, 7.5]]);
    expect(full([2], 2n ** 60n, "int64").getBig(1)).toBe(2n ** 60n);
    expect(full([0], 1).size).toBe(0);
    expectThrows(() => full([2], 1000, "int8"), InputError);
  });

  it("arange(stop), arange(start, stop), arange(start, stop, step), each with a dtype", () => {
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe("int64");
    expect(arange(5, "float32").dtype).toBe("float32");
    expect(arange(2, 5).toArray()).toEqual([2, 3, 4]);
    expect(arange(2, 5, "uint8").dtype).toBe("uint8");
    expect(arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(0, 1, 0.25).dtype).toBe("float64");
    expect(arange(0, 10, 3, "int16").toArray()).toEqual([0, 3, 6, 9]);
    expect(arange(2.5).toArray()).toEqual([0, 1, 2]);
    expect(arange(2.5).dtype).toBe("float64");
    expect(arange(3, 1).toArray()).toEqual([]);
    expect(arange(0).shape).toEqual([0]);
    expect(arange(-3).size).toBe(0);
  });

  it("arange rejects a zero step and non-numbers", () => {
    expectThrows(() => arange(0, 5, 0), InputError, /step/);
    expectThrows(() => arange(), InputError);
    expectThrows(() => arange(1, 2, 3, 4 as unknown as DType), InputError);
    expectThrows(() => arange(NaN), InputError);
    expectThrows(() => arange(Infinity), InputError);
    expectThrows(() => arange(5, "complex64" as DType), InputError);
  });

  it("asarray does not copy an NDArray of the right dtype", () => {
    const a = array([1, 2], "float32");
    expect(asarray(a)).toBe(a);
    expect(asarray(a, "float32")).toBe(a);
    const b = asarray(a, "float64");
    expect(b).not.toBe(a);
    expect(b.dtype).toBe("float64");
    const c = asarray([[1, 2]], "int8");
    expect(c).toBeInstanceOf(NDArray);
    expect(c.dtype).toBe("int8");
    expect(asarray(3).item()).toBe(3);
  });
});

describe("offsetArray and toFlat walk strided views row by row", () => {
  it("match the offsets() generator and element-wise reads on every layout: 0-d, empty, reversed, transposed, stepped, offset", () => {
    const base = new NDArray("float32", [4, 3, 5], Float32Array.from({ length: 60 }, (_, i) => i * 0.5 - 7));
    const views: NDArray[] = [
      base,
      new NDArray("float32", [], base.data, [], 17),
      new NDArray("float32", [0, 3], base.data, [3, 1], 0),
      new NDArray("float32", [4, 3, 5], base.data, [-15, 5, 1], 45), // reversed first axis
      base.transpose(2, 0, 1),
      new NDArray("float32", [2, 3, 3], base.data, [30, 5, 2], 1), // stepped, offset
      new NDArray("float32", [3, 5], base.data, [0, -1], 59), // broadcast axis, reversed last
    ];
    for (const v of views) {
      const want = [...v.offsets()];
      expect([...v.offsetArray()]).toEqual(want);
      expect([...(v.toFlat() as Float32Array)]).toEqual(want.map((o) => (v.data as Float32Array)[o]));
    }
    const big = new NDArray("int64", [2, 3], BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]), [1, 2], 0);
    expect([...(big.toFlat() as BigInt64Array)]).toEqual([1n, 3n, 5n, 2n, 4n, 6n]);
  });
});
