/**
 * No silent wrong results from sizes and inputs (issue 13.3-13.5), on every linker:
 * - 13.3: a size product past 2**53 - 1 elements (T.alloc(1, 2**32, 2**32), broadcasting or an
 *   outer product of stride-0 views) is a ShapeError naming the shape, and an allocation the
 *   runtime refuses (2**40 float64) a ShapeError naming the bytes: never a wrapped size (C gave
 *   0), never a raw RangeError.
 * - 13.4: an array whose memory was detached or shrank (a resizable ArrayBuffer), given as an
 *   input or left in a shared variable, is an InputError (js/py returned NaNs).
 * - 13.5: a Float64Array is float64 data (InputError into float32 without allowInputDowncast),
 *   and a plain JS number that would overflow a float32 input is an InputError naming it.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";

const { T } = theano;
type Linker = "py" | "js" | "c";

const LINKERS: Linker[] = cCompilerStatus().ok ? ["py", "js", "c"] : ["py", "js"];
const mode = (l: Linker): theano.Mode => new theano.Mode(l, "fast_run");
const ONE = new Float64Array([1]);
/** A stride-0 view: `shape` elements over one value (no memory behind the size). */
const spread = (shape: number[]): theano.NDArray => new theano.NDArray("float64", shape, ONE, shape.map(() => 0));

/** The error `fn` throws, checked to be of `cls` and to mention every part. */
function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: Array<string | RegExp>): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a ${cls.name}`).toBeInstanceOf(cls);
  const msg = (caught as Error).message;
  for (const p of parts) {
    if (typeof p === "string") expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
  return caught as Error;
}

/** A buffer whose memory is transferred away (what postMessage does): length 0, detached. */
function detach(buf: ArrayBufferLike): void {
  structuredClone(buf, { transfer: [buf as ArrayBuffer] });
}

type ResizableBuffer = ArrayBuffer & { resize(n: number): void };
const resizable = (bytes: number, max: number): ResizableBuffer =>
  new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ResizableBuffer)(bytes, { maxByteLength: max });

describe("issue 13.3: size products are checked, never wrapped", () => {
  it("issue 13.3: T.alloc with a constant shape past 2**53 elements is a ShapeError naming the shape", () => {
    for (const [a, b, text] of [[2 ** 32, 2 ** 32, "4294967296, 4294967296"], [2 ** 32 + 1, 2 ** 32 - 1, "4294967297, 4294967295"], [2 ** 62, 4, "4611686018427387904, 4"]] as const) {
      expectError(() => T.alloc(1.0, a, b), theano.ShapeError, "too large", text);
    }
    expectError(() => T.tensor({ dtype: "float64", shape: [2 ** 32, null, 2 ** 32] }), theano.ShapeError, "too large");
    expect(T.tensor({ dtype: "float64", shape: [0, 2 ** 40] }).type.shape).toEqual([0, 2 ** 40]);
  });

  it("issue 13.3: NDArrays and host allocations past 2**53 elements are a ShapeError naming the shape", () => {
    expectError(() => spread([2 ** 32, 2 ** 32]), theano.ShapeError, "too large", "4294967296, 4294967296");
    expectError(() => theano.zeros([2 ** 32 + 1, 2 ** 32 - 1]), theano.ShapeError, "too large", "4294967297, 4294967295");
    expectError(() => theano.zeros([2 ** 40], "float64"), theano.ShapeError, "8796093022208 bytes", "1099511627776");
    // zero-size arrays count only their non-zero dimensions (NumPy's rule)
    expect(theano.zeros([0, 2 ** 40]).size).toBe(0);
  });

  for (const l of LINKERS) {
    it(`issue 13.3: [${l}] symbolic alloc sizes that overflow are a ShapeError naming the shape`, () => {
      const n = T.lscalar("n");
      const m = T.lscalar("m");
      const f = theano.function([n, m], T.alloc(1.0, n, m).sum(), { mode: mode(l) });
      expect(f(3, 4).item()).toBe(12);
      expectError(() => f(2 ** 32, 2 ** 32), theano.ShapeError, "too large", "4294967296, 4294967296");
      expectError(() => f(2 ** 32 + 1, 2 ** 32 - 1), theano.ShapeError, "too large", "4294967297, 4294967295");
      expectError(() => f(theano.array(2n ** 62n, "int64"), 4), theano.ShapeError, "too large", "4611686018427387904, 4");
      expect(f(2, 5).item()).toBe(10);
    });

    it(`issue 13.3: [${l}] sizes grown by broadcasting or an outer product are checked`, () => {
      const c = T.dcol("c");
      const r = T.drow("r");
      const add = theano.function([c, r], c.add(r), { mode: mode(l) });
      expectError(() => add(spread([2 ** 30, 1]), spread([1, 2 ** 30])), theano.ShapeError, "too large", "1073741824, 1073741824");
      const u = T.dvector("u");
      const v = T.dvector("v");
      const outer = theano.function([u, v], T.outer(u, v), { mode: mode(l) });
      expectError(() => outer(spread([2 ** 30]), spread([2 ** 30])), theano.ShapeError, "too large", "1073741824, 1073741824");
      expect(outer(theano.array([1, 2], "float64"), theano.array([3, 4], "float64")).toArray()).toEqual([[3, 4], [6, 8]]);
    });

    it(`issue 13.3: [${l}] a huge allocation (2**40 float64) is a ShapeError naming the bytes`, () => {
      const n = T.lscalar("n");
      const f = theano.function([n], T.alloc(1.0, n), { mode: mode(l) });
      expectError(() => f(2 ** 40), theano.ShapeError, "8796093022208 bytes", "1099511627776");
      // an intermediate (C allocates it itself), and an elementwise result
      const g = theano.function([n], T.alloc(1.0, n).sum(), { mode: mode(l) });
      expectError(() => g(2 ** 40), theano.ShapeError, "8796093022208 bytes", "1099511627776");
      const c = T.dcol("c");
      const r = T.drow("r");
      const add = theano.function([c, r], c.add(r), { mode: mode(l) });
      expectError(() => add(spread([2 ** 20, 1]), spread([1, 2 ** 20])), theano.ShapeError, "8796093022208 bytes");
      expect(f(3).toArray()).toEqual([1, 1, 1]);
    });
  }
});

describe("issue 13.4: arrays whose memory is gone are an InputError", () => {
  for (const l of LINKERS) {
    it(`issue 13.4: [${l}] detached and shrunk inputs, detached shared values`, () => {
      const x = T.dvector("x");
      const f = theano.function([x], x.mul(2), { mode: mode(l) });
      // an NDArray whose buffer was transferred away
      const a = theano.array([1, 2, 3, 4], "float64");
      detach(a.data.buffer);
      expectError(() => f(a), theano.InputError, "input 0", "'x'", "detached");
      // a TypedArray whose buffer was transferred away, passed directly
      const t = new Float64Array([1, 2, 3]);
      detach(t.buffer);
      expectError(() => f(t), theano.InputError, "input 0", "detached");
      // an NDArray over a resizable buffer that shrank below its elements
      const rb = resizable(32, 64);
      const s = new theano.NDArray("float64", [4], new Float64Array(rb));
      rb.resize(8);
      expectError(() => f(s), theano.InputError, "input 0", "shrank", "holds 1");
      // ... and a view over it that still fits is fine
      const rb2 = resizable(32, 64);
      const s2 = new theano.NDArray("float64", [2], new Float64Array(rb2));
      new Float64Array(rb2).set([5, 6, 7, 8]);
      rb2.resize(16);
      expect(f(s2).toArray()).toEqual([10, 12]);
      // a shared variable whose borrowed storage was transferred away
      const w = theano.shared(theano.array([1, 2, 3], "float64"), { name: "w" });
      const g = theano.function([], w.mul(2), { mode: mode(l) });
      expect(g().toArray()).toEqual([2, 4, 6]);
      detach(w.getValue({ borrow: true }).data.buffer);
      expectError(() => g(), theano.InputError, "shared variable w", "detached");
      w.setValue(theano.array([1, 1, 1], "float64"));
      expect(g().toArray()).toEqual([2, 2, 2]);
      // an In default value whose buffer was transferred away after compiling
      const dflt = theano.array([1, 2], "float64");
      const h = theano.function([theano.In(x, { value: dflt, name: "x" })], x.mul(2), { mode: mode(l) });
      expect(h().toArray()).toEqual([2, 4]);
      detach(dflt.data.buffer);
      expectError(() => h(), theano.InputError, "default value", "detached");
      expect(h(theano.array([3], "float64")).toArray()).toEqual([6]);
    });
  }

  it("issue 13.4: a detached TypedArray is an InputError even when empty; an empty NDArray reads nothing and runs", () => {
    expect(theano.array(new Float64Array(0)).size).toBe(0);
    const d = new Float64Array(0);
    detach(d.buffer);
    expectError(() => theano.array(d), theano.InputError, "detached");
    const e = new theano.NDArray("float64", [0], new Float64Array(0));
    detach(e.data.buffer);
    const x = T.dvector("x");
    for (const l of LINKERS) expect(theano.function([x], x.sum(), { mode: mode(l) })(e).item()).toBe(0);
  });
});

describe("issue 13.5: float32 inputs never silently overflow", () => {
  for (const l of LINKERS) {
    it(`issue 13.5: [${l}] JS numbers that overflow float32 and Float64Arrays into float32 are an InputError`, () => {
      const v = T.fvector("v");
      const f = theano.function([v], v.mul(1), { mode: mode(l) });
      expectError(() => f([1e300]), theano.InputError, "input 0", "'v'", "1e+300", "float32");
      expectError(() => f([1, -1e39]), theano.InputError, "'v'", "-1e+39", "-Infinity");
      const s = T.fscalar("s");
      expectError(() => theano.function([s], s.add(1), { mode: mode(l) })(4e38), theano.InputError, "4e+38");
      // a Float64Array is float64 data: float64 into float32 needs allowInputDowncast
      expectError(() => f(new Float64Array([1e300])), theano.InputError, "float64", "float32", "allowInputDowncast");
      expectError(() => f(new Float64Array([1.5])), theano.InputError, "float64", "allowInputDowncast");
      // plain numbers in range round as Theano's Python floats do; Infinity and NaN stay allowed
      expect(f([0.1, 3.4e38, 1e-50]).toArray()).toEqual([Math.fround(0.1), Math.fround(3.4e38), 0]);
      const special = f([Infinity, -Infinity, NaN]).toArray() as number[];
      expect(special.slice(0, 2)).toEqual([Infinity, -Infinity]);
      expect(Number.isNaN(special[2])).toBe(true);
      expect(f(new Float32Array([1.5])).toArray()).toEqual([1.5]);
      // allowInputDowncast: true casts as astype does (overflow to Infinity, ints wrap)
      const g = theano.function([v], v.mul(1), { mode: mode(l), allowInputDowncast: true });
      expect(g(new Float64Array([1.5, 1e300])).toArray()).toEqual([1.5, Infinity]);
      expect(g([1e300]).toArray()).toEqual([Infinity]);
      const b = T.bvector("b");
      expect(theano.function([b], b.add(0), { mode: mode(l), allowInputDowncast: true })([300]).toArray()).toEqual([44]);
      expectError(() => theano.function([b], b.add(0), { mode: mode(l) })([1, 300]), theano.InputError, "'b'", "300", "int8");
    });
  }
});
