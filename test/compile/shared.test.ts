/**
 * Shared variables (API.md §6; Theano's `compile/tests/test_shared.py`): construction and
 * types (dtype, static shape, broadcastability), copy-unless-borrow on the way in and out,
 * `setValue` validation (dtype, rank, static shape, `strict`, `allowDowncast`), storage that
 * every function sees, and `dispose` / `Symbol.dispose`.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const { T } = theano;
type NDArray = theano.NDArray;

function expectError<E extends Error>(fn: () => unknown, cls: new (...a: never[]) => E, ...parts: string[]): E {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected ${cls.name}, nothing was thrown`);
  if (!(err instanceof cls)) throw new Error(`expected ${cls.name}, got ${String(err)}`, { cause: err });
  expect(err).toBeInstanceOf(theano.TheanoError);
  for (const p of parts) expect(err.message).toContain(p);
  return err;
}

const f64 = (v: unknown): NDArray => theano.array(v as never, "float64");
const f32 = (v: unknown): NDArray => theano.array(v as never, "float32");
const vals = (a: NDArray): unknown => a.toArray();

describe("construction and type", () => {
  it("is a TensorVariable with the value's dtype and rank, unknown static sizes", () => {
    const w = theano.shared(f32([[1, 2, 3]]), { name: "w" });
    expect(w).toBeInstanceOf(theano.SharedVariable);
    expect(w).toBeInstanceOf(theano.TensorVariable);
    expect(w.name).toBe("w");
    expect(w.dtype).toBe("float32");
    expect(w.ndim).toBe(2);
    // Theano's default: shared variables are never broadcastable, even where the size is 1
    expect(w.type.shape).toEqual([null, null]);
    expect(w.broadcastable).toEqual([false, false]);
    expect(w.owner).toBeNull();
  });

  it("infers dtypes from JS values as NumPy does; the dtype option casts", () => {
    expect(theano.shared([1.5, 2]).dtype).toBe("float64");
    expect(theano.shared([1, 2]).dtype).toBe("int64");
    expect(theano.shared(true).dtype).toBe("bool");
    expect(theano.shared(0.5).ndim).toBe(0);
    const w = theano.shared([1, 2], { dtype: "float32" });
    expect(w.dtype).toBe("float32");
    expect(vals(w.getValue())).toEqual([1, 2]);
    const v = theano.shared(f64([1.5]), { dtype: "int32" });
    expect(v.dtype).toBe("int32");
    expect(vals(v.getValue())).toEqual([1]);
  });

  it("the shape option declares static sizes (1 = broadcastable)", () => {
    const b = theano.shared(f64([[1, 2, 3]]), { name: "b", shape: [1, null] });
    expect(b.type.shape).toEqual([1, null]);
    expect(b.broadcastable).toEqual([true, false]);
    // it broadcasts against a matrix
    const m = T.dmatrix("m");
    const f = theano.function([m], m.add(b));
    expect(vals(f(f64([[0, 0, 0], [1, 1, 1]])))).toEqual([[1, 2, 3], [2, 3, 4]]);
    // without it, the size-1 axis is not stretched
    const nb = theano.shared(f64([[1, 2, 3]]), { name: "nb" });
    const g = theano.function([m], m.add(nb));
    expectError(() => g(f64([[0, 0, 0], [1, 1, 1]])), theano.ShapeError, "broadcast");
    // full static shape
    const s = theano.shared(f64([[1, 2, 3]]), { shape: [1, 3] });
    expect(s.type.shape).toEqual([1, 3]);
  });

  it("a shape option the value contradicts → InputError", () => {
    expectError(() => theano.shared(f64([[1, 2], [3, 4]]), { shape: [1, null] }), theano.InputError, "dimension 0 must be 1");
    expectError(() => theano.shared(f64([1, 2]), { shape: [null, null] }), theano.InputError, "rank");
  });

  it("junk values → InputError", () => {
    expectError(() => theano.shared("abc" as never), theano.InputError);
    expectError(() => theano.shared([[1, 2], [3]]), theano.InputError);
  });

  it("unnamed shared variables still have a label", () => {
    const w = theano.shared(f64([1]));
    expect(w.name).toBeNull();
    expect(typeof w.label).toBe("string");
  });
});

describe("copies unless borrow", () => {
  it("shared(value) copies the value; borrow: true keeps it", () => {
    const a = f64([1, 2]);
    const w = theano.shared(a);
    (a.data as Float64Array)[0] = 100;
    expect(vals(w.getValue())).toEqual([1, 2]);
    const b = f64([1, 2]);
    const wb = theano.shared(b, { borrow: true });
    (b.data as Float64Array)[0] = 100;
    expect(vals(wb.getValue())).toEqual([100, 2]);
  });

  it("getValue() returns a copy; getValue({ borrow: true }) the storage", () => {
    const w = theano.shared(f64([1, 2]));
    const c = w.getValue();
    (c.data as Float64Array)[0] = 50;
    expect(vals(w.getValue())).toEqual([1, 2]);
    const s = w.getValue({ borrow: true });
    expect(s).toBe(w.getValue({ borrow: true }));
    (s.data as Float64Array)[0] = 50;
    expect(vals(w.getValue())).toEqual([50, 2]);
    // functions read the storage
    expect(theano.function([], w.mul(1))().get(0)).toBe(50);
  });

  it("setValue copies; setValue(v, { borrow: true }) keeps v", () => {
    const w = theano.shared(f64([0, 0]));
    const a = f64([1, 2]);
    w.setValue(a);
    (a.data as Float64Array)[0] = 9;
    expect(vals(w.getValue())).toEqual([1, 2]);
    const b = f64([3, 4]);
    w.setValue(b, { borrow: true });
    expect(w.getValue({ borrow: true })).toBe(b);
    (b.data as Float64Array)[0] = 9;
    expect(vals(w.getValue())).toEqual([9, 4]);
  });

  it("setValue takes JS values and non-contiguous views", () => {
    const w = theano.shared(f64([[0, 0], [0, 0]]));
    w.setValue([[1, 2], [3, 4]]);
    expect(vals(w.getValue())).toEqual([[1, 2], [3, 4]]);
    const base = f64([[1, 2, 3], [4, 5, 6]]);
    w.setValue(base.slice([null, null], [null, null, 2]));
    expect(vals(w.getValue())).toEqual([[1, 3], [4, 6]]);
    w.setValue(f64([[1, 2], [3, 4]]).T);
    expect(vals(w.getValue())).toEqual([[1, 3], [2, 4]]);
    expect(vals(theano.function([], w.sum(1))())).toEqual([4, 6]);
    // a new shape is fine where the static shape does not say otherwise
    w.setValue(f64([[1, 2, 3]]));
    expect(w.getValue().shape).toEqual([1, 3]);
  });
});

describe("setValue validation", () => {
  it("a lossy dtype → InputError; the value is unchanged", () => {
    const w = theano.shared(f32([1, 2]), { name: "w" });
    expectError(() => w.setValue(f64([3, 4])), theano.InputError, "w", "float32", "float64", "allowDowncast: true", "asarray");
    expect(vals(w.getValue())).toEqual([1, 2]);
    const i = theano.shared(theano.array([1, 2], "int32"), { name: "i" });
    expectError(() => i.setValue(theano.array([1, 2], "int64")), theano.InputError, "int32", "int64");
    expectError(() => i.setValue([1.5]), theano.InputError, "int32");
  });

  it("a safe cast is accepted and stored in the variable's dtype", () => {
    const w = theano.shared(f64([1, 2]));
    w.setValue(f32([0.5, 1.5]));
    expect(w.getValue().dtype).toBe("float64");
    expect(vals(w.getValue())).toEqual([0.5, 1.5]);
    // JS floats are weak: they fit a float32 variable
    const v = theano.shared(f32([0, 0]));
    v.setValue([0.1, 0.2]);
    expect(v.getValue().dtype).toBe("float32");
    expect(v.getValue().get(0)).toBe(Math.fround(0.1));
  });

  it("the wrong rank or a contradicted static shape → InputError", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    expectError(() => w.setValue(f64([[1, 2]])), theano.InputError, "rank");
    expectError(() => w.setValue(f64(1)), theano.InputError, "rank");
    const b = theano.shared(f64([[1, 2]]), { name: "b", shape: [1, null] });
    expectError(() => b.setValue(f64([[1, 2], [3, 4]])), theano.InputError, "dimension 0 must be 1");
    expect(vals(b.getValue())).toEqual([[1, 2]]);
  });

  it("strict: only an NDArray of exactly the dtype", () => {
    const w = theano.shared(f32([1, 2]), { name: "w", strict: true });
    expectError(() => w.setValue([3, 4]), theano.InputError, "strict", "float32");
    expectError(() => w.setValue(theano.array([3, 4], "int8")), theano.InputError, "strict");
    expectError(() => w.setValue(f64([3, 4])), theano.InputError, "strict");
    w.setValue(f32([3, 4]));
    expect(vals(w.getValue())).toEqual([3, 4]);
    expectError(() => w.setValue(f32([[3, 4]])), theano.InputError, "rank");
  });

  it("allowDowncast: true accepts lossy values", () => {
    const w = theano.shared(f32([1, 2]), { allowDowncast: true });
    w.setValue(f64([0.1, 2.5]));
    expect(w.getValue().dtype).toBe("float32");
    expect(w.getValue().get(0)).toBe(Math.fround(0.1));
    const i = theano.shared(theano.array([0], "int8"), { allowDowncast: true });
    i.setValue(f64([3.9]));
    expect(vals(i.getValue())).toEqual([3]);
  });
});

describe("shared storage", () => {
  it("every function sees the current value, and updates are seen by all", () => {
    const w = theano.shared(theano.array(1, "int64"), { name: "w" });
    const double = theano.function([], [], { updates: [[w, w.mul(2)]] });
    const read = theano.function([], w.add(0));
    double();
    double();
    expect(read().item()).toBe(4);
    w.setValue(theano.array(3, "int64"));
    double();
    expect(read().item()).toBe(6);
    expect(w.getValue().item()).toBe(6);
  });

  it("getValue after an update returns the new value; an old borrowed value is not changed", () => {
    const w = theano.shared(f64([1, 2]));
    const old = w.getValue({ borrow: true });
    theano.function([], [], { updates: [[w, w.add(1)]] })();
    expect(vals(w.getValue())).toEqual([2, 3]);
    expect(vals(old)).toEqual([1, 2]);
  });

  it("0-d, int and bool shared variables", () => {
    const s = theano.shared(0.5, { name: "s" });
    const c = theano.shared(theano.array(7, "int32"), { name: "c" });
    const b = theano.shared(theano.array([true, false], "bool"), { name: "b" });
    const f = theano.function([], [s.mul(2), c.add(1), b.not()], { updates: [[c, c.add(1)]] });
    const [r1, r2, r3] = f();
    expect(r1!.item()).toBe(1);
    expect(r2!.item()).toBe(8);
    expect(r2!.dtype).toBe("int32");
    expect(vals(r3!)).toEqual([false, true]);
    expect(c.getValue().item()).toBe(8);
  });

  it("a shared variable used as a constant-like value in x.eval", () => {
    const w = theano.shared(f64([[1, 2], [3, 4]]));
    expect(vals(w.T.eval())).toEqual([[1, 3], [2, 4]]);
  });
});

describe("dispose", () => {
  it("releases the storage; any later use raises a clear TheanoError", () => {
    const w = theano.shared(f64([1, 2]), { name: "wd" });
    const f = theano.function([], w.mul(2));
    const g = theano.function([], [], { updates: [[w, w.add(1)]] });
    expect(vals(f())).toEqual([2, 4]);
    w.dispose();
    expectError(() => w.getValue(), theano.TheanoError, "wd", "disposed");
    expectError(() => w.setValue(f64([1, 2])), theano.TheanoError, "disposed");
    expectError(() => f(), theano.TheanoError, "wd", "disposed");
    expectError(() => g(), theano.TheanoError, "disposed");
    expectError(() => w.eval(), theano.TheanoError, "disposed");
    // disposing twice is harmless
    expect(() => w.dispose()).not.toThrow();
  });

  it("a function that fails on a disposed variable changes no other shared variable", () => {
    const a = theano.shared(f64([1]), { name: "a" });
    const b = theano.shared(f64([1]), { name: "b" });
    const f = theano.function([], [], { updates: [[a, a.add(1)], [b, b.add(1)]] });
    b.dispose();
    expectError(() => f(), theano.TheanoError, "disposed");
    expect(vals(a.getValue())).toEqual([1]);
  });

  it("Symbol.dispose disposes (for `using`)", () => {
    const w = theano.shared(f64([1]));
    expect(typeof w[Symbol.dispose]).toBe("function");
    w[Symbol.dispose]();
    expectError(() => w.getValue(), theano.TheanoError, "disposed");
  });

  it("works with a `using` declaration", () => {
    let escaped: theano.SharedVariable | undefined;
    {
      using w = theano.shared(f64([1, 2]));
      escaped = w;
      expect(vals(w.getValue())).toEqual([1, 2]);
    }
    expectError(() => escaped!.getValue(), theano.TheanoError, "disposed");
  });
});
