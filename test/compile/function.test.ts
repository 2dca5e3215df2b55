/**
 * `theano.function` (API.md §6), through the public entry, in the spirit of Theano's
 * `compile/tests/test_function_module.py`: how inputs are given (positional, `In` defaults,
 * named), how bad calls and bad values are refused (which class, and what the message names),
 * outputs that never alias anything unless borrowed, updates applied after every output and
 * atomically, givens, `copy({ swap })`, `x.eval`, modes and the linker flag, and the error
 * report of a node that fails at run time.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import * as theano from "../../src/index.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";

const { T } = theano;
type NDArray = theano.NDArray;

/** This file's name: creation traces and error reports must point at user code (here). */
const HERE = "function.test.ts";
const HAS_C = cCompilerStatus().ok;

/** Runs `fn`, asserts it throws an instance of `cls` whose message holds every `parts`, returns it. */
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

afterEach(() => {
  vi.restoreAllMocks();
});

describe("inputs", () => {
  it("takes plain variables positionally", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const f = theano.function([x, y], x.sub(y));
    const r = f(f64([5, 7]), f64([1, 2]));
    expect(r).toBeInstanceOf(theano.NDArray);
    expect(r.dtype).toBe("float64");
    expect(vals(r)).toEqual([4, 5]);
  });

  it("compiles a function of no inputs", () => {
    const f = theano.function([], T.constant(f64([1, 2])).mul(3));
    expect(vals(f())).toEqual([3, 6]);
  });

  it("In defaults may be omitted; given values win", () => {
    const x = T.dscalar("x");
    const lr = T.dscalar("lr_var");
    const f = theano.function([x, theano.In(lr, { value: 0.5, name: "lr" })], x.mul(lr));
    expect(f(4).item()).toBe(2);
    expect(f(4, 0.25).item()).toBe(1);
    // the default is not consumed or changed by a call that overrides it
    expect(f(4).item()).toBe(2);
    expect(f.inputs.map((i) => i.name)).toEqual(["x", "lr"]);
    expect(f.inputs[1]!.value!.item()).toBe(0.5);
    expect(f.inputs[1]).toBeInstanceOf(theano.In);
  });

  it("named arguments in a trailing object", () => {
    const x = T.dscalar("x");
    const lr = T.dscalar("lr");
    const mom = T.dscalar();
    const f = theano.function([x, lr, theano.In(mom, { value: 0, name: "momentum" })], x.mul(lr).add(mom));
    expect(f(2, { lr: 0.1 }).item()).toBeCloseTo(0.2, 15);
    expect(f({ x: 2, lr: 3 }).item()).toBe(6);
    expect(f(2, { momentum: 1, lr: 3 }).item()).toBe(7);
    // NDArray values by name
    expect(f({ x: f64(2), lr: f64(5) }).item()).toBe(10);
  });

  it("refuses a wrong count of arguments, naming the inputs", () => {
    const x = T.dscalar("x");
    const y = T.dscalar("y");
    const f = theano.function([x, y], x.add(y));
    expectError(() => f(1, 2, 3), theano.InputError, "takes 2 argument", "input 0 ('x')", "input 1 ('y')", "got 3");
    expectError(() => f(1), theano.InputError, "missing input 1 ('y')", "no default");
    expectError(() => f(), theano.InputError, "missing input 0 ('x')");
  });

  it("refuses unknown names, listing the known ones", () => {
    const x = T.dscalar("x");
    const f = theano.function([x, theano.In(T.dscalar("y"), { value: 1 })], x, { onUnusedInput: "ignore" });
    expect(() => f(1, { y: 2 })).not.toThrow();
    expectError(() => f(1, { z: 2 }), theano.InputError, "unknown argument name 'z'", "'x'", "'y'");
  });

  it("refuses the same input twice in the inputs list", () => {
    const x = T.dscalar("x");
    expectError(() => theano.function([x, x], x.mul(2)), theano.InputError, "input 1", "x", "twice");
    expectError(() => theano.function([x, theano.In(x, { value: 1 })], x.mul(2)), theano.InputError, "twice");
  });

  it("refuses the same argument by position and by name", () => {
    const x = T.dscalar("x");
    const y = T.dscalar("y");
    const f = theano.function([x, y], x.add(y));
    expectError(() => f(1, 2, { y: 3 }), theano.InputError, "input 1 ('y')", "both by position and by name");
    expectError(() => f(1, { x: 3 }), theano.InputError, "input 0 ('x')", "both by position and by name");
  });

  it("refuses an ambiguous name and asks for a position", () => {
    const a = T.dscalar("v");
    const b = T.dscalar("v");
    const f = theano.function([a, b], a.sub(b));
    expect(f(3, 1).item()).toBe(2);
    expectError(() => f(3, { v: 1 }), theano.InputError, "ambiguous");
  });

  it("refuses a shared variable in the inputs list", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    expectError(() => theano.function([w], w.mul(2)), theano.InputError, "input 0", "w", "shared");
  });

  it("refuses a computed variable as an input", () => {
    const x = T.dvector("x");
    const y = x.add(1);
    expectError(() => theano.function([y], y.mul(2)), theano.InputError, "input 0", "givens");
  });

  it("refuses a non-array inputs argument", () => {
    const x = T.dscalar("x");
    expectError(() => theano.function(x as never, x), theano.InputError, "array of input variables");
  });

  it("MissingInputError names the missing variable and where it was created", () => {
    const x = T.dvector("x");
    const y = T.dvector("needed_y"); // the creation line the message must point at
    const err = expectError(() => theano.function([x], x.add(y)), theano.MissingInputError, "needed_y", "not in the inputs list", HERE);
    expect(err.message).toMatch(new RegExp(`${HERE.replace(".", "\\.")}:\\d+:\\d+`));
  });

  it("MissingInputError also for a variable only an update needs", () => {
    const w = theano.shared(f64([1]), { name: "w" });
    const g = T.dvector("g");
    expectError(() => theano.function([], w.mul(1), { updates: [[w, w.sub(g)]] }), theano.MissingInputError, "g");
  });

  it("UnusedInputError by default; 'warn' and 'ignore' compile", () => {
    const x = T.dvector("x");
    const unused = T.dvector("unused");
    expectError(() => theano.function([x, unused], x.mul(2)), theano.UnusedInputError, "input 1", "unused", "onUnusedInput");
    expectError(() => theano.function([x, unused], x.mul(2), { onUnusedInput: "raise" }), theano.UnusedInputError);

    const emit = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const fw = theano.function([x, unused], x.mul(2), { onUnusedInput: "warn" });
    expect(emit).toHaveBeenCalledTimes(1);
    expect(String(emit.mock.calls[0]![0])).toContain("unused");
    // the unused input is still an argument: it is checked and ignored
    expect(vals(fw(f64([1, 2]), f64([9])))).toEqual([2, 4]);

    emit.mockClear();
    const fi = theano.function([x, unused], x.mul(2), { onUnusedInput: "ignore" });
    expect(emit).not.toHaveBeenCalled();
    expect(vals(fi(f64([3]), f64([])))).toEqual([6]);
  });

  it("an input used only through givens is not unused", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const f = theano.function([y], x.mul(2), { givens: [[x, y.add(1)]] });
    expect(vals(f(f64([1, 2])))).toEqual([4, 6]);
  });
});

describe("input values", () => {
  it("wrong rank → InputError naming index, name and the expected type", () => {
    const x = T.fmatrix("x");
    const f = theano.function([x], x.mul(2));
    expectError(() => f(f32([1, 2])), theano.InputError, "input 0", "'x'", "rank 2", "rank 1", "float32");
    expectError(() => f(f32(1)), theano.InputError, "input 0", "rank 0");
  });

  it("a shape contradicting the static shape → InputError", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, 3], name: "x" });
    const f = theano.function([x], x.mul(2));
    expect(f(f64([[1, 2, 3], [4, 5, 6]])).shape).toEqual([2, 3]);
    expectError(() => f(f64([[1, 2, 3, 4], [5, 6, 7, 8]])), theano.InputError, "input 0", "'x'", "[2, 4]", "dimension 1 must be 3");
  });

  it("a lossy dtype → InputError naming both dtypes and both ways out", () => {
    const x = T.fmatrix("x");
    const f = theano.function([x], x.mul(2));
    const err = expectError(() => f(f64([[1.5]])), theano.InputError, "input 0", "'x'", "float32", "float64", "allowInputDowncast");
    expect(err.message).toMatch(/cast|asarray/i);
    // other lossy casts
    const i = T.ivector("i");
    const g = theano.function([i], i.mul(2));
    expectError(() => g(theano.array([1, 2], "int64")), theano.InputError, "int32", "int64");
    expectError(() => g(f64([1, 2])), theano.InputError, "int32", "float64");
    expectError(() => g(theano.array([1, 2], "float32")), theano.InputError, "int32", "float32");
  });

  it("safe casts are accepted (int8 into float32, float32 into float64, bool into int)", () => {
    const x = T.dvector("x");
    const f = theano.function([x], x.mul(2));
    const r = f(f32([1.5, 2]));
    expect(r.dtype).toBe("float64");
    expect(vals(r)).toEqual([3, 4]);
    const y = T.fvector("y");
    expect(vals(theano.function([y], y.add(1))(theano.array([1, 2], "int8")))).toEqual([2, 3]);
    const i = T.ivector("i");
    expect(vals(theano.function([i], i.add(1))(theano.array([true, false], "bool")))).toEqual([2, 1]);
  });

  it("allowInputDowncast: true accepts and casts", () => {
    const x = T.fmatrix("x");
    const f = theano.function([x], x.mul(2), { allowInputDowncast: true });
    const r = f(f64([[0.1, 2]]));
    expect(r.dtype).toBe("float32");
    expect(r.get(0, 0)).toBe(Math.fround(Math.fround(0.1) * 2));
    const i = T.bvector("i");
    const g = theano.function([i], i.add(0), { allowInputDowncast: true });
    expect(vals(g(f64([1.7, -2.9])))).toEqual([1, -2]);
  });

  it("JS numbers and nested arrays are weak: accepted by float32 inputs", () => {
    const x = T.fmatrix("x");
    const s = T.fscalar("s");
    const f = theano.function([x, s], x.mul(s));
    const r = f([[0.1, 2], [3, 4]], 0.5);
    expect(r.dtype).toBe("float32");
    expect(r.get(0, 0)).toBe(Math.fround(Math.fround(0.1) * 0.5));
    expect(vals(r)).toEqual([[Math.fround(Math.fround(0.1) * 0.5), 1], [1.5, 2]]);
    // ints into an int8 input, in range
    const b = T.bvector("b");
    expect(vals(theano.function([b], b.add(1))([1, -128, 126]))).toEqual([2, -127, 127]);
    // JS booleans into a bool input
    const m = T.tensor({ dtype: "bool", shape: [null], name: "m" });
    expect(vals(theano.function([m], m.not())([true, false]))).toEqual([false, true]);
  });

  it("JS ints out of range for int8 → InputError", () => {
    const b = T.bvector("b");
    const f = theano.function([b], b.add(1));
    expectError(() => f([1, 300]), theano.InputError, "input 0", "'b'", "int8");
    expectError(() => f([-129]), theano.InputError, "int8");
    const u = T.tensor({ dtype: "uint8", shape: [null], name: "u" });
    expectError(() => theano.function([u], u.add(1))([-1]), theano.InputError, "uint8");
  });

  it("JS floats into an int input → InputError", () => {
    const i = T.ivector("i");
    const f = theano.function([i], i.add(1));
    expectError(() => f([1.5, 2]), theano.InputError, "input 0", "int32");
    expect(vals(f([1, 2]))).toEqual([2, 3]);
  });

  it("ragged nested arrays and junk → InputError", () => {
    const x = T.dmatrix("x");
    const f = theano.function([x], x.mul(1));
    expectError(() => f([[1, 2], [3]]), theano.InputError, "input 0");
    expectError(() => f("abc" as never), theano.InputError);
    expectError(() => f(null as never), theano.InputError);
  });

  it("non-contiguous inputs (transposed, step-sliced) are accepted as given", () => {
    const x = T.dmatrix("x");
    const f = theano.function([x], x.mul(10));
    const base = f64([[1, 2, 3], [4, 5, 6]]);
    expect(vals(f(base.T))).toEqual([[10, 40], [20, 50], [30, 60]]);
    expect(vals(f(base.slice([null, null], [null, null, 2])))).toEqual([[10, 30], [40, 60]]);
  });
});

describe("outputs", () => {
  it("one variable → one NDArray; an array → an array", () => {
    const x = T.dvector("x");
    const one = theano.function([x], x.add(1));
    const r = one(f64([1]));
    expect(r).toBeInstanceOf(theano.NDArray);
    const arr = theano.function([x], [x.add(1)]);
    const rs = arr(f64([1]));
    expect(Array.isArray(rs)).toBe(true);
    expect(rs).toHaveLength(1);
    const two = theano.function([x], [x.add(1), x.mul(3)]);
    const [a, b] = two(f64([2]));
    expect(vals(a!)).toEqual([3]);
    expect(vals(b!)).toEqual([6]);
    const none = theano.function([x], [], { onUnusedInput: "ignore" });
    expect(none(f64([1]))).toEqual([]);
  });

  it("exposes name, inputs, outputs, fgraph, mode", () => {
    const x = T.dvector("x");
    const f = theano.function([x], [x.add(1), theano.Out(x.mul(2), { borrow: true })], { name: "myfn" });
    expect(f.name).toBe("myfn");
    expect(f.inputs).toHaveLength(1);
    expect(f.inputs[0]!.variable).toBe(x);
    expect(f.outputs).toHaveLength(2);
    expect(f.outputs[0]).toBeInstanceOf(theano.Out);
    expect(f.outputs[0]!.borrow).toBe(false);
    expect(f.outputs[1]!.borrow).toBe(true);
    expect(f.fgraph).toBeInstanceOf(theano.FunctionGraph);
    expect(f.fgraph.outputs).toHaveLength(2);
    expect(f.mode).toBeInstanceOf(theano.Mode);
    expect(typeof f.free).toBe("function");
    expect(() => f.free()).not.toThrow();
    // compiling never changes the user's graph
    expect(f.fgraph.inputs[0]).not.toBe(x);
  });

  it("never aliases an input: function([x], x) returns a copy", () => {
    for (const linker of ["js", "py"] as const) {
      const x = T.dvector("x");
      const f = theano.function([x], x, { mode: new theano.Mode(linker) });
      const a = f64([1, 2, 3]);
      const r = f(a);
      expect(r.data.buffer).not.toBe(a.data.buffer);
      (r.data as Float64Array)[0] = 100;
      expect(vals(a)).toEqual([1, 2, 3]);
    }
  });

  it("never aliases an input through a view (x.T, dimshuffle)", () => {
    const x = T.dmatrix("x");
    const f = theano.function([x], [x.T, x.dimshuffle("x", 0, 1)]);
    const a = f64([[1, 2], [3, 4]]);
    const [t, d] = f(a);
    expect(vals(t!)).toEqual([[1, 3], [2, 4]]);
    expect(t!.data.buffer).not.toBe(a.data.buffer);
    expect(d!.data.buffer).not.toBe(a.data.buffer);
    (t!.data as Float64Array).fill(0);
    (d!.data as Float64Array).fill(0);
    expect(vals(a)).toEqual([[1, 2], [3, 4]]);
  });

  it("never aliases shared storage: function([], w) returns a copy", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    const f = theano.function([], w);
    const r = f();
    expect(vals(r)).toEqual([1, 2]);
    (r.data as Float64Array)[0] = 50;
    expect(vals(w.getValue())).toEqual([1, 2]);
    expect(vals(f())).toEqual([1, 2]);
  });

  it("never aliases another output: function([x], [x, x]) gives two buffers", () => {
    const x = T.dvector("x");
    const f = theano.function([x], [x, x]);
    const a = f64([1, 2]);
    const [r1, r2] = f(a);
    expect(r1!.data.buffer).not.toBe(r2!.data.buffer);
    expect(r1!.data.buffer).not.toBe(a.data.buffer);
    (r1!.data as Float64Array)[0] = 9;
    expect(vals(r2!)).toEqual([1, 2]);
    const y = x.add(1);
    const g = theano.function([x], [y, y, y.T]);
    const [s1, s2, s3] = g(a);
    expect(new Set([s1!.data.buffer, s2!.data.buffer, s3!.data.buffer]).size).toBe(3);
  });

  it("never aliases a constant of the graph (mutating a result cannot change the next call)", () => {
    for (const linker of ["js", "py"] as const) {
      const mode = new theano.Mode(linker, "None");
      const c = T.constant(f64([1, 2]));
      const f = theano.function([], [c, c.dimshuffle("x", 0)], { mode });
      const [r, v] = f();
      (r!.data as Float64Array)[0] = 99;
      (v!.data as Float64Array)[1] = 99;
      const [r2, v2] = f();
      expect(vals(r2!)).toEqual([1, 2]);
      expect(vals(v2!)).toEqual([[1, 2]]);
      expect(vals(c.data)).toEqual([1, 2]);
    }
  });

  it("Out(v, { borrow: true }) may return storage without a copy", () => {
    const x = T.dvector("x");
    const f = theano.function([x], theano.Out(x, { borrow: true }));
    const a = f64([1, 2]);
    const r = f(a);
    expect(vals(r)).toEqual([1, 2]);
    expect(r.data.buffer).toBe(a.data.buffer);
    const g = theano.function([x], [theano.Out(x.mul(2), { borrow: true }), x.add(1)]);
    const [p, q] = g(a);
    expect(vals(p!)).toEqual([2, 4]);
    expect(vals(q!)).toEqual([2, 3]);
  });

  it("results of one call are not changed by the next call", () => {
    for (const linker of ["js", "py"] as const) {
      const x = T.dvector("x");
      const y = x.mul(2).add(1).exp().log();
      const f = theano.function([x], [y, y.sub(1)], { mode: new theano.Mode(linker) });
      const [a1, b1] = f(f64([1, 2, 3]));
      f(f64([10, 20, 30]));
      f(f64([7, 7, 7]));
      expect(vals(a1!)).toEqual([3, 5, 7]);
      expect(vals(b1!)).toEqual([2, 4, 6]);
    }
  });

  it("an output's dtype and shape follow its type (0-d, empty, size-1)", () => {
    const x = T.dvector("x");
    const f = theano.function([x], [x.sum(), x.mul(2)]);
    const [s, m] = f(f64([]));
    expect(s!.shape).toEqual([]);
    expect(s!.item()).toBe(0);
    expect(m!.shape).toEqual([0]);
    const [s1, m1] = f(f64([4]));
    expect(s1!.item()).toBe(4);
    expect(vals(m1!)).toEqual([8]);
  });
});

describe("updates", () => {
  it("outputs see the old values; updates apply after", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    const x = T.dvector("x");
    const f = theano.function([x], [w, w.mul(x)], { updates: [[w, w.add(x)]] });
    const [a, b] = f(f64([10, 10]));
    expect(vals(a!)).toEqual([1, 2]);
    expect(vals(b!)).toEqual([10, 20]);
    expect(vals(w.getValue())).toEqual([11, 12]);
    const [c] = f(f64([1, 1]));
    expect(vals(c!)).toEqual([11, 12]);
    expect(vals(w.getValue())).toEqual([12, 13]);
  });

  it("updates are atomic: [[a, b], [b, a]] swaps", () => {
    for (const linker of ["js", "py"] as const) {
      const a = theano.shared(f64([1, 2]), { name: "a" });
      const b = theano.shared(f64([3, 4]), { name: "b" });
      const f = theano.function([], [], { updates: [[a, b], [b, a]], mode: new theano.Mode(linker) });
      f();
      expect(vals(a.getValue())).toEqual([3, 4]);
      expect(vals(b.getValue())).toEqual([1, 2]);
      f();
      expect(vals(a.getValue())).toEqual([1, 2]);
      expect(vals(b.getValue())).toEqual([3, 4]);
      // the two never share storage afterwards
      (a.getValue({ borrow: true }).data as Float64Array)[0] = -1;
      expect(vals(b.getValue())).toEqual([3, 4]);
    }
  });

  it("takes a Map as well as an array of pairs", () => {
    const c = theano.shared(theano.array(0, "int64"), { name: "c" });
    const f = theano.function([], c, { updates: new Map([[c, c.add(1)]]) });
    expect(f().item()).toBe(0);
    expect(f().item()).toBe(1);
    expect(c.getValue().item()).toBe(2);
  });

  it("an update by a value (constant)", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    const f = theano.function([], w.sum(), { updates: [[w, f64([5, 6])]] });
    expect(f().item()).toBe(3);
    expect(vals(w.getValue())).toEqual([5, 6]);
    expect(f().item()).toBe(11);
  });

  it("two shared variables updated by the same expression do not share storage", () => {
    const a = theano.shared(f64([1, 2]), { name: "a" });
    const b = theano.shared(f64([0, 0]), { name: "b" });
    const e = a.mul(2);
    const f = theano.function([], [], { updates: [[a, e], [b, e]] });
    f();
    expect(vals(a.getValue())).toEqual([2, 4]);
    expect(vals(b.getValue())).toEqual([2, 4]);
    (a.getValue({ borrow: true }).data as Float64Array)[0] = 7;
    expect(vals(b.getValue())).toEqual([2, 4]);
  });

  it("an updated value never aliases an output", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    const y = w.add(1);
    const f = theano.function([], y, { updates: [[w, y]] });
    const r = f();
    expect(vals(r)).toEqual([2, 3]);
    expect(r.data.buffer).not.toBe(w.getValue({ borrow: true }).data.buffer);
    (r.data as Float64Array)[0] = 0;
    expect(vals(w.getValue())).toEqual([2, 3]);
  });

  it("a float64 update of a float32 shared variable → TypeMismatchError with a cast hint", () => {
    const w = theano.shared(f32([1, 2]), { name: "w" });
    const d = T.dvector("d");
    expectError(() => theano.function([d], w.sum(), { updates: [[w, w.add(d)]] }), theano.TypeMismatchError, "w", "float32", "float64", '.astype("float32")');
    // the suggested cast compiles and works
    const f = theano.function([d], w.sum(), { updates: [[w, w.add(d).astype("float32")]] });
    f(f64([1, 1]));
    expect(vals(w.getValue())).toEqual([2, 3]);
    expect(w.getValue().dtype).toBe("float32");
  });

  it("an update of another rank → TypeMismatchError", () => {
    const w = theano.shared(f64([1, 2]), { name: "w" });
    expectError(() => theano.function([], w.sum(), { updates: [[w, w.sum()]] }), theano.TypeMismatchError, "rank");
  });

  it("an update whose static shape contradicts the shared variable's → TypeMismatchError", () => {
    const w = theano.shared(f64([[1, 2]]), { name: "w", shape: [1, null] });
    const m2 = T.tensor({ dtype: "float64", shape: [2, null], name: "m2" });
    expectError(() => theano.function([m2], w.sum(), { updates: [[w, w.add(m2)]] }), theano.TypeMismatchError, "w", "(2, ?)");
  });

  it("an update less precise than the shared variable's static shape is checked at run time", () => {
    for (const linker of ["js", "py"] as const) {
      const w = theano.shared(f64([[1, 2]]), { name: "w", shape: [1, null] });
      const m = T.dmatrix("m");
      // w + m has static shape (?, ?): a value of 3 rows would break w's type
      const f = theano.function([m], w.sum(), { updates: [[w, w.add(m)]], mode: new theano.Mode(linker) });
      expect(f(f64([[1, 1]])).item()).toBe(3);
      expect(vals(w.getValue())).toEqual([[2, 3]]);
      expectError(() => f(f64([[1, 1], [1, 1], [1, 1]])), theano.ShapeError, "(1, ?)");
      expect(vals(w.getValue())).toEqual([[2, 3]]);
      expect(w.type.broadcastable).toEqual([true, false]);
    }
  });

  it("updating a non-shared variable → InputError", () => {
    const x = T.dvector("x");
    expectError(() => theano.function([x], x, { updates: [[x as never, x.add(1)]] }), theano.InputError, "x", "not a shared variable");
  });

  it("updating a shared variable twice → InputError", () => {
    const w = theano.shared(f64([1]), { name: "w" });
    expectError(() => theano.function([], w.mul(1), { updates: [[w, w.add(1)], [w, w.add(2)]] }), theano.InputError, "twice");
  });

  it("a call that throws leaves every shared variable exactly as it was", () => {
    for (const linker of ["js", "py"] as const) {
      const counter = theano.shared(theano.array(0, "int64"), { name: "counter" });
      const w = theano.shared(f64([1, 2, 3]), { name: "w" });
      const x = T.dvector("x");
      const f = theano.function([x], w.add(x).sum(), {
        updates: [
          [counter, counter.add(1)],
          [w, w.add(x)],
        ],
        mode: new theano.Mode(linker),
      });
      const wBefore = w.getValue({ borrow: true });
      expectError(() => f(f64([1, 2, 3, 4])), theano.ShapeError);
      expectError(() => f(theano.array([1, 2, 3], "complex" as never)), theano.TheanoError);
      expectError(() => f(f64([[1, 2, 3]])), theano.InputError);
      expectError(() => f(f64([1, 2, 3]), 5), theano.InputError);
      expect(counter.getValue().item()).toBe(0);
      expect(w.getValue({ borrow: true })).toBe(wBefore);
      expect(vals(w.getValue())).toEqual([1, 2, 3]);
      // and the function still works
      expect(f(f64([1, 1, 1])).item()).toBe(9);
      expect(counter.getValue().item()).toBe(1);
      expect(vals(w.getValue())).toEqual([2, 3, 4]);
    }
  });

  it("In(v, { value, update }) keeps a state in the default", () => {
    const s = T.dscalar("s");
    const inc = T.dscalar("inc");
    const f = theano.function([theano.In(s, { value: 0, update: s.add(inc) }), inc], s.mul(10));
    expect(f({ inc: 1 }).item()).toBe(0);
    expect(f({ inc: 2 }).item()).toBe(10);
    expect(f({ inc: 0 }).item()).toBe(30);
    // given explicitly, the update starts from the given value
    expect(f(100, 1).item()).toBe(1000);
    expect(f({ inc: 0 }).item()).toBe(1010);
    expectError(() => theano.In(T.dscalar("q"), { update: T.dscalar("r") as never }), theano.InputError, "default");
  });

  it("an In update must have the input's type", () => {
    const s = T.dscalar("s");
    expectError(() => theano.function([theano.In(s, { value: 0, update: T.fscalar("t").add(1) }), T.fscalar("t")], s), theano.TypeMismatchError);
  });

  it("a shared variable is shared by every function that uses it", () => {
    const w = theano.shared(f64([1]), { name: "w" });
    const inc = theano.function([], [], { updates: [[w, w.add(1)]] });
    const read = theano.function([], w.mul(1));
    inc();
    inc();
    expect(read().item()).toBe(3);
    w.setValue(f64([10]));
    expect(read().item()).toBe(10);
    inc();
    expect(read().item()).toBe(11);
  });
});

describe("givens", () => {
  it("replaces an input by an expression", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const out = x.mul(2);
    const f = theano.function([y], out, { givens: [[x, y.add(1)]] });
    expect(vals(f(f64([1, 2])))).toEqual([4, 6]);
    // the user's graph is untouched
    expect(out.owner!.inputs[0]).toBe(x);
  });

  it("replaces an input by a value and accepts a Map", () => {
    const x = T.dvector("x");
    const f = theano.function([], x.mul(2), { givens: [[x, f64([1, 5])]] });
    expect(vals(f())).toEqual([2, 10]);
    const g = theano.function([], x.add(1), { givens: new Map([[x, f64([3])]]) });
    expect(vals(g())).toEqual([4]);
  });

  it("replaces by a shared variable (the data-in-shared idiom)", () => {
    const data = theano.shared(f64([[1, 2], [3, 4], [5, 6]]), { name: "data" });
    const x = T.dmatrix("x");
    const f = theano.function([], x.sum(), { givens: [[x, data]] });
    expect(f().item()).toBe(21);
    data.setValue(f64([[1]]));
    expect(f().item()).toBe(1);
  });

  it("replaces an intermediate variable", () => {
    const x = T.dvector("x");
    const y = x.exp();
    const z = y.add(1);
    const f = theano.function([x], z, { givens: [[y, x.mul(10)]] });
    expect(vals(f(f64([1, 2])))).toEqual([11, 21]);
  });

  it("a replacement whose static shape contradicts the variable's → TypeMismatchError", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, 3], name: "x" });
    expectError(() => theano.function([], x.sum(), { givens: [[x, f64([[1, 2, 3, 4]])]] }), theano.TypeMismatchError, "x", "(1, 4)");
    expect(theano.function([], x.sum(), { givens: [[x, f64([[1, 2, 3]])]] })().item()).toBe(6);
  });

  it("a less precise replacement is checked at run time", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, 3], name: "x" });
    const m = T.dmatrix("m");
    const f = theano.function([m], x.sum(0), { givens: [[x, m]] });
    expect(vals(f(f64([[1, 2, 3]])))).toEqual([1, 2, 3]);
    expectError(() => f(f64([[1, 2]])), theano.ShapeError, "(?, 3)");
  });

  it("a replacement that depends on what it replaces → TheanoError", () => {
    const x = T.dvector("x");
    expectError(() => theano.function([], x.mul(2), { givens: [[x, x.add(1)]] }), theano.TheanoError, "x");
  });

  it("a replacement of another type → TypeMismatchError", () => {
    const x = T.dvector("x");
    expectError(() => theano.function([], x.mul(2), { givens: [[x, T.fvector("f")]] }), theano.TypeMismatchError, "x", "float32", "float64");
    expectError(() => theano.function([], x.mul(2), { givens: [[x, T.dmatrix("m")]] }), theano.TypeMismatchError, "x");
  });
});

describe("copy({ swap })", () => {
  it("uses the swapped shared variable and sends its updates there", () => {
    const w1 = theano.shared(f64([1, 2]), { name: "w1" });
    const w2 = theano.shared(f64([10, 20]), { name: "w2" });
    const x = T.dvector("x");
    const f = theano.function([x], w1.mul(x), { updates: [[w1, w1.add(1)]] });
    const g = f.copy({ swap: new Map([[w1, w2]]) });
    expect(vals(g(f64([1, 1])))).toEqual([10, 20]);
    expect(vals(w2.getValue())).toEqual([11, 21]);
    expect(vals(w1.getValue())).toEqual([1, 2]);
    expect(vals(f(f64([1, 1])))).toEqual([1, 2]);
    expect(vals(w1.getValue())).toEqual([2, 3]);
    expect(vals(w2.getValue())).toEqual([11, 21]);
  });

  it("copy() without swap is an independent equivalent function", () => {
    const w = theano.shared(f64([1]), { name: "w" });
    const x = T.dvector("x");
    const f = theano.function([x], w.add(x), { updates: [[w, w.mul(2)]] });
    const g = f.copy();
    expect(vals(g(f64([1])))).toEqual([2]);
    expect(vals(f(f64([1])))).toEqual([3]);
    expect(vals(w.getValue())).toEqual([4]);
  });

  it("a swap of another type → TypeMismatchError", () => {
    const w1 = theano.shared(f64([1, 2]), { name: "w1" });
    const w3 = theano.shared(f32([1, 2]), { name: "w3" });
    const f = theano.function([], w1.mul(2));
    expectError(() => f.copy({ swap: new Map([[w1, w3]]) }), theano.TypeMismatchError, "w1", "w3");
  });
});

describe("x.eval", () => {
  it("evaluates a graph without inputs", () => {
    const c = T.constant(f64([1, 2])).mul(3);
    expect(vals(c.eval())).toEqual([3, 6]);
  });

  it("takes pairs or a Map of input values", () => {
    const x = T.dvector("x");
    const y = T.dscalar("y");
    const z = x.mul(y);
    expect(vals(z.eval([[x, f64([1, 2])], [y, f64(3)]]))).toEqual([3, 6]);
    expect(vals(z.eval(new Map<theano.Variable, unknown>([[x, [4]], [y, 0.5]])))).toEqual([2]);
    // the order of the pairs does not matter
    expect(vals(z.eval([[y, 2], [x, [1]]]))).toEqual([2]);
  });

  it("is cached per variable and input set (no recompilation)", () => {
    const x = T.dvector("x");
    const z = x.add(1);
    expect(vals(z.eval([[x, [1]]]))).toEqual([2]);
    // Every compilation makes variables (the graph is cloned): the id counter shows whether one ran.
    const before = T.dscalar().id;
    expect(vals(z.eval([[x, [5]]]))).toEqual([6]);
    expect(vals(z.eval(new Map([[x, [7]]])))).toEqual([8]);
    const after = T.dscalar().id;
    expect(after - before).toBe(1);
  });

  it("reads the current value of shared variables", () => {
    const w = theano.shared(f64([1]), { name: "w" });
    const z = w.mul(2);
    expect(vals(z.eval())).toEqual([2]);
    w.setValue(f64([5]));
    expect(vals(z.eval())).toEqual([10]);
  });

  it("a missing input → MissingInputError; a bad value → InputError", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    expectError(() => x.add(y).eval([[x, [1]]]), theano.MissingInputError, "y");
    expectError(() => x.add(1).eval([[x, [[1]]]]), theano.InputError, "rank");
  });

  it("a constant result is a copy", () => {
    const c = T.constant(f64([1, 2]));
    const r = c.eval();
    (r.data as Float64Array)[0] = 5;
    expect(vals(c.eval())).toEqual([1, 2]);
  });
});

describe("modes", () => {
  const x = T.dvector("x");
  const y = x.mul(2).add(1).exp();

  it("FAST_COMPILE, FAST_RUN and Mode objects give the same values", () => {
    const want = [Math.exp(3), Math.exp(5)];
    const a = theano.function([x], y, { mode: "FAST_COMPILE" });
    const b = theano.function([x], y, { mode: "FAST_RUN" });
    const c = theano.function([x], y, { mode: new theano.Mode("py", "None") });
    const d = theano.function([x], y, { mode: theano.FAST_RUN.excluding("fusion") });
    for (const f of [a, b, c, d]) expect(vals(f(f64([1, 2])))).toEqual(want);
    expect(a.mode).toBe(theano.FAST_COMPILE);
    expect(b.mode).toBe(theano.FAST_RUN);
    expect(c.mode.linker().name).toBe("py");
    expect(String(c.mode)).toContain("py");
  });

  it("the linker flag picks the py linker (every node through perform)", () => {
    const spy = vi.spyOn(T.Elemwise.prototype, "perform");
    const viaPy = theano.config.change({ linker: "py" }, () => theano.function([x], y));
    expect(vals(viaPy(f64([0])))).toEqual([Math.E]);
    expect(spy).toHaveBeenCalled();
    spy.mockClear();
    const viaJs = theano.config.change({ linker: "js" }, () => theano.function([x], y));
    expect(vals(viaJs(f64([0])))).toEqual([Math.E]);
    expect(spy).not.toHaveBeenCalled();
  });

  it("a Mode's own linker wins over the flag", () => {
    const spy = vi.spyOn(T.Elemwise.prototype, "perform");
    const f = theano.config.change({ linker: "py" }, () => theano.function([x], y, { mode: new theano.Mode("js") }));
    f(f64([0]));
    expect(spy).not.toHaveBeenCalled();
  });

  it("the mode flag is the default mode", () => {
    const f = theano.config.change({ mode: "FAST_COMPILE" }, () => theano.function([x], y));
    expect(f.mode.linker().name).toBe("js");
    expect(vals(f(f64([0])))).toEqual([Math.E]);
  });

  it("DebugMode and NanGuardMode compile (issue 16.2; test/compile/debug_modes.test.ts checks them); unknown modes → ConfigError", () => {
    expect(theano.function([x], y, { mode: "DebugMode" }).mode).toBeInstanceOf(theano.DebugMode);
    expect(theano.function([x], y, { mode: "NanGuardMode" }).mode).toBeInstanceOf(theano.NanGuardMode);
    expectError(() => theano.function([x], y, { mode: "FAST_WALK" as never }), theano.ConfigError, "FAST_WALK", "FAST_RUN");
  });

  it("profile: true records the compile time", () => {
    const f = theano.function([x], y, { profile: true });
    expect(f.profile).toBeDefined();
    const g = theano.function([x], y);
    expect(theano.config.profile ? g.profile : undefined).toBe(g.profile);
  });
});

describe("run-time errors name the node", () => {
  const build = () => {
    const a = T.dvector("a");
    const b = T.dvector("b");
    const sum = a.add(b); // the creation line the report must mention
    return { a, b, f: (linker: "js" | "py") => theano.function([a, b], sum.mul(2), { mode: new theano.Mode(linker, "None") }) };
  };

  for (const linker of ["js", "py"] as const) {
    it(`keeps the class and names the node and the user's line (${linker})`, () => {
      const { f } = build();
      const fn = f(linker);
      const err = theano.config.change({ exception_verbosity: "low" }, () =>
        expectError(() => fn(f64([1, 2, 3]), f64([1, 2])), theano.ShapeError, "Apply node that caused the error", "Elemwise{add}", "(3)", "(2)", HERE),
      );
      expect(err.message).toContain("exception_verbosity=high");
      expect((err as { cause?: unknown }).cause).toBeInstanceOf(theano.ShapeError);
      expect(err.message).not.toContain("Backtrace when the node is created");
    });

    it(`with exception_verbosity=high lists input shapes and the creation backtrace (${linker})`, () => {
      const { f } = build();
      const fn = f(linker);
      const err = theano.config.change({ exception_verbosity: "high" }, () =>
        expectError(() => fn(f64([1, 2, 3]), f64([1, 2])), theano.ShapeError, "Apply node that caused the error", "Backtrace when the node is created", "shape=[3]", "shape=[2]", "dtype=float64", HERE),
      );
      expect(err.message).toContain("input 0 (a)");
      expect(err.message).toContain("input 1 (b)");
    });
  }

  it("the high report of a fused node has its toposort index, every input's value (constants too) and a debugprint, on every linker", () => {
    const linkers = HAS_C ? (["py", "js", "c"] as const) : (["py", "js"] as const);
    for (const linker of linkers) {
      const x = T.fvector("x");
      const y = T.fvector("y");
      const f = theano.function([x, y], T.tanh(T.exp(x).mul(2).add(y)).sum(), { mode: new theano.Mode(linker, "fast_run") });
      const err = theano.config.change({ exception_verbosity: "high" }, () =>
        expectError(() => f(new Float32Array([1, 2, 3]), new Float32Array([1, 2])), theano.ShapeError, "Apply node that caused the error", "toposort index 0 of 1", "Debugprint of the apply node", HERE),
      );
      expect(err.message, linker).toMatch(/input 1 \(2\): shape=\[1\], strides=\[0\], dtype=float32, value=/);
      expect(err.message, linker).not.toContain("undefined");
      expect(err.message, linker).toMatch(/\|y \[id [A-Z]+\] <TensorType\(float32, \(\?,\)\)>/);
    }
  });

  it("a size-1 value on an axis not declared broadcastable → ShapeError with the hint", () => {
    const a = T.dmatrix("a");
    const b = T.dmatrix("b");
    const f = theano.function([a, b], a.add(b));
    expectError(() => f(f64([[1, 2]]), f64([[1, 2], [3, 4]])), theano.ShapeError, "broadcast");
    const r = T.drow("r");
    const g = theano.function([a, r], a.add(r));
    expect(vals(g(f64([[1, 2], [3, 4]]), f64([[10, 20]])))).toEqual([[11, 22], [13, 24]]);
    // a row value of size 2 on its broadcastable axis is refused before running
    expectError(() => g(f64([[1, 2]]), f64([[1, 2], [3, 4]])), theano.InputError, "input 1", "dimension 0 must be 1");
  });
});

describe("issue 12.3: copy({ deleteUpdates }) and unknown option keys", () => {
  it("Theano's accumulator tutorial, line by line (swap, then deleteUpdates)", () => {
    const state = theano.shared(0);
    const inc = T.iscalar("inc");
    const accumulator = theano.function([inc], state, { updates: [[state, state.add(inc)]] });
    expect(accumulator(10).item()).toBe(0);
    expect(state.getValue().item()).toBe(10);
    const newState = theano.shared(0);
    const newAccumulator = accumulator.copy({ swap: new Map([[state, newState]]) });
    expect(newAccumulator(100).item()).toBe(0);
    expect(newState.getValue().item()).toBe(100);
    expect(state.getValue().item()).toBe(10);
    const nullAccumulator = accumulator.copy({ deleteUpdates: true });
    expect(nullAccumulator(9000).item()).toBe(10);
    expect(state.getValue().item()).toBe(10); // Theano's tutorial: 10 (the update is gone)
    expect(nullAccumulator.fgraph.outputs.length).toBe(1);
    // the original keeps its update
    accumulator(1);
    expect(state.getValue().item()).toBe(11);
  });

  it("deleteUpdates also drops In(..., { update }) and composes with swap and name", () => {
    const s = theano.shared(theano.array([1, 2], "float64"), { name: "s" });
    const acc = T.dvector("acc");
    const x = T.dvector("x");
    const f = theano.function([theano.In(acc, { value: theano.array([0, 0], "float64"), update: acc.add(x) }), x], acc.add(s), { updates: [[s, s.mul(2)]] });
    const s2 = theano.shared(theano.array([10, 20], "float64"), { name: "s2" });
    const g = f.copy({ deleteUpdates: true, swap: [[s, s2]], name: "g" });
    expect(g.name).toBe("g");
    expect(g({ x: [1, 1] }).toArray()).toEqual([10, 20]);
    expect(g({ x: [1, 1] }).toArray()).toEqual([10, 20]); // acc's default did not move
    expect(s2.getValue().toArray()).toEqual([10, 20]);
    expect(s.getValue().toArray()).toEqual([1, 2]);
    expect(f({ x: [1, 1] }).toArray()).toEqual([1, 2]);
    expect(f({ x: [1, 1] }).toArray()).toEqual([3, 5]); // acc = [1, 1], s = [2, 4]
  });

  it("an unknown key of copy, function, In, Out or shared is an InputError naming it and the valid ones", () => {
    const state = theano.shared(0);
    const inc = T.iscalar("inc");
    const f = theano.function([inc], state, { updates: [[state, state.add(inc)]] });
    const anyOpts = (o: Record<string, unknown>) => o as never;
    expectError(() => f.copy(anyOpts({ delete_updates: true })), theano.InputError, "f.copy", "'delete_updates'", "swap, deleteUpdates", "spelt 'deleteUpdates'");
    expectError(() => f.copy(anyOpts({ shareMemory: true })), theano.InputError, "'shareMemory'");
    expectError(() => theano.function([inc], inc, anyOpts({ allow_input_downcast: true })), theano.InputError, "theano.function", "'allow_input_downcast'", "allowInputDowncast");
    expectError(() => theano.function([inc], inc, anyOpts({ upates: [] })), theano.InputError, "'upates'", "updates, givens, mode");
    expectError(() => theano.In(inc, anyOpts({ default: 3 })), theano.InputError, "In()", "'default'", "value, name, update, borrow, mutable");
    expectError(() => theano.Out(inc, anyOpts({ borow: true })), theano.InputError, "Out()", "'borow'", "borrow");
    expectError(() => theano.shared(0, anyOpts({ dtpye: "float64" })), theano.InputError, "theano.shared", "'dtpye'", "dtype");
    expectError(() => theano.shared(0, anyOpts({ allow_downcast: true })), theano.InputError, "spelt 'allowDowncast'");
    expectError(() => theano.function([inc], inc, "FAST_RUN" as never), theano.InputError, "must be an object");
    expectError(() => f.copy({ swap: { a: 1 } as never }), theano.InputError, "swap must be a Map");
    expectError(() => f.copy({ deleteUpdates: "yes" as never }), theano.InputError, "true or false");
    // valid keys, explicitly undefined ones included, still pass
    expect(theano.function([inc], inc.mul(2), { name: undefined, mode: undefined })(3).item()).toBe(6);
  });
});
