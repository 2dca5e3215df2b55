/**
 * Indexing (src/tensor/subtensor.ts): `x.get(...)`, `T.setSubtensor`, `T.incSubtensor` against
 * NumPy's results (test/fixtures/subtensor.json, written by subtensor_fixtures.py), on
 * contiguous, Fortran-ordered and step-strided inputs, with unknown and known static shapes;
 * inferShape against the actual shapes; graph-building and run-time failures.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ShapeError, TypeMismatchError } from "../../src/errors.js";
import type { Variable } from "../../src/graph/basic.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { NDArray, array, arange, contiguousStrides } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

interface Enc {
  dtype: DType;
  shape: number[];
  data: Array<number | boolean>;
}
type FxEntry = number | string | null | { array: Enc } | { sym: number } | { symvec: Enc } | { symslice: Array<number | null> };
interface GetCase {
  name: string;
  x: Enc;
  index: FxEntry[];
  expected: Enc;
}
interface SetCase extends GetCase {
  y: Enc;
  mode: "set" | "inc";
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/subtensor.json", import.meta.url), "utf8")) as { get: GetCase[]; set: SetCase[] };

const dec = (e: Enc): NDArray => array(e.data as never, e.dtype).reshape(e.shape);

/** The same values in three layouts: C order, Fortran order, and every element two apart. */
function layouts(a: NDArray): Array<[string, NDArray]> {
  const out: Array<[string, NDArray]> = [["contiguous", a]];
  if (a.ndim >= 2) out.push(["fortran", a.transpose().copy().transpose()]);
  if (a.ndim >= 1 && a.size > 0) {
    const flat = a.toFlat();
    const data = new (flat.constructor as new (n: number) => typeof flat)(flat.length * 2);
    for (let i = 0; i < flat.length; i++) (data as Float64Array)[2 * i] = (flat as Float64Array)[i]!;
    out.push(["strided", new NDArray(a.dtype, a.shape, data, contiguousStrides(a.shape).map((s) => 2 * s))]);
  }
  return out;
}

/** The index as `x.get` arguments, with the symbolic entries' run-time values. */
function buildIndex(index: FxEntry[]): { args: unknown[]; givens: Array<[Variable, NDArray]>; symbolic: boolean; mask: boolean } {
  const givens: Array<[Variable, NDArray]> = [];
  let symbolic = false;
  let mask = false;
  const args = index.map((e) => {
    if (e === null || typeof e === "number" || typeof e === "string") return e;
    if ("array" in e) {
      if (e.array.dtype === "bool") mask = true;
      return dec(e.array);
    }
    symbolic = true;
    if ("sym" in e) {
      const v = T.lscalar("i");
      givens.push([v, array(e.sym, "int64")]);
      return v;
    }
    if ("symvec" in e) {
      const v = T.lvector("iv");
      givens.push([v, dec(e.symvec).astype("int64")]);
      return v;
    }
    const bounds = e.symslice.map((b) => {
      if (b === null) return null;
      const v = T.lscalar("b");
      givens.push([v, array(b, "int64")]);
      return v;
    });
    return T.slice(...bounds);
  });
  return { args, givens, symbolic, mask };
}

describe("x.get against NumPy", () => {
  for (const c of fx.get) {
    it(c.name, () => {
      const expected = dec(c.expected);
      for (const staticShape of [false, true]) {
        const x = T.tensor({ dtype: c.x.dtype, shape: staticShape ? c.x.shape : c.x.shape.map(() => null), name: "x" });
        const { args, givens, symbolic, mask } = buildIndex(c.index);
        const out = x.get(...args);
        expect(out.dtype).toBe(c.expected.dtype);
        expect(out.ndim).toBe(c.expected.shape.length);
        if (staticShape && !symbolic && !mask) expect([...out.type.shape]).toEqual(c.expected.shape);
        for (const [layout, xv] of layouts(dec(c.x))) {
          const g = new Map<Variable, unknown>([[x, xv], ...givens]);
          const [r] = evaluate([out], g);
          expectClose(r!, expected);
          out.type.shape.forEach((d, i) => d === null || expect(d, `${layout} static dim ${i}`).toBe(r!.shape[i]));
          expect(inferredShapes([out], g)[0], `${layout} inferShape`).toEqual(c.expected.shape);
        }
      }
    });
  }
});

describe("setSubtensor / incSubtensor against NumPy", () => {
  for (const c of fx.set) {
    it(c.name, () => {
      const expected = dec(c.expected);
      for (const symbolicY of [false, true]) {
        const x = T.tensor({ dtype: c.x.dtype, shape: c.x.shape.map(() => null), name: "x" });
        const { args, givens } = buildIndex(c.index);
        const yv = dec(c.y);
        const y = symbolicY ? T.tensor({ dtype: c.y.dtype, shape: c.y.shape.map(() => null), name: "y" }) : yv;
        const fn = c.mode === "set" ? T.setSubtensor : T.incSubtensor;
        const out = fn(x.get(...args), y);
        expect(out.dtype).toBe(c.x.dtype);
        expect(out.owner!.op.destroyMap.size).toBe(0);
        for (const [layout, xv] of layouts(dec(c.x))) {
          const before = xv.toFlat().slice();
          const g = new Map<Variable, unknown>([[x, xv], ...givens]);
          if (symbolicY) g.set(y as Variable, yv);
          const [r] = evaluate([out], g);
          expectClose(r!, expected);
          expect(xv.toFlat(), `${layout}: x must not be modified`).toEqual(before);
          if (out.owner!.op.inferShape) expect(inferredShapes([out], g)[0]).toEqual(c.x.shape);
        }
      }
    });
  }
});

describe("index vocabulary", () => {
  const xv = arange(12).astype("float64").reshape([3, 4]);
  const x = T.dmatrix("x");
  const run = (v: T.TensorVariable, extra: Array<[Variable, unknown]> = []): NDArray => evaluate([v], new Map<Variable, unknown>([[x, xv], ...extra]))[0]!;

  it("T.slice follows Python's slice: one argument is the stop", () => {
    expect(String(T.slice(2))).toBe(":2");
    expect(String(T.slice(1, null))).toBe("1:");
    expect(String(T.slice(null, null, -1))).toBe("::-1");
    expect(run(x.get(T.slice(2))).shape).toEqual([2, 4]);
    expect(run(x.get(":", T.slice(1, 3))).toArray()).toEqual([[1, 2], [5, 6], [9, 10]]);
  });

  it("constant bounds fold into the op (static shapes)", () => {
    const s = T.tensor({ dtype: "float64", shape: [3, 4] });
    expect([...s.get(T.slice(T.constant(1, { dtype: "int64" }), null)).type.shape]).toEqual([2, 4]);
    expect([...s.get(T.constant(0, { dtype: "int32" })).type.shape]).toEqual([4]);
  });

  it("nested JS arrays are integer indices or masks", () => {
    expect(run(x.get([2, 0])).toArray()).toEqual([[8, 9, 10, 11], [0, 1, 2, 3]]);
    expect(run(x.get([true, false, true], 0)).toArray()).toEqual([0, 8]);
    expect(run(x.get([])).shape).toEqual([0, 4]);
    expect(run(x.get(":", [[0, 1], [2, 3]])).shape).toEqual([3, 2, 2]);
  });

  it("integer strings and bigints are integers", () => {
    expect(run(x.get("-1", "1")).item()).toBe(9);
    expect(run(x.get(1n)).toArray()).toEqual([4, 5, 6, 7]);
  });

  it("x.shape.get(i) is one dimension", () => {
    const v = T.matrix("m");
    const r = evaluate([v.shape.get(1)], new Map<Variable, unknown>([[v, arange(6).astype("float64").reshape([2, 3])]]))[0]!;
    expect(r.dtype).toBe("int64");
    expect(Number(r.getBig())).toBe(3);
  });

  it("picks the op Theano picks", () => {
    expect(x.get("1:").owner!.op).toBeInstanceOf(T.Subtensor);
    expect(x.get([0, 1]).owner!.op).toBeInstanceOf(T.AdvancedSubtensor1);
    expect(x.get([0, 1], ":").owner!.op).toBeInstanceOf(T.AdvancedSubtensor1);
    expect(x.get(":", [0, 1]).owner!.op).toBeInstanceOf(T.AdvancedSubtensor);
    expect(x.get([true, false, true]).owner!.op).toBeInstanceOf(T.AdvancedSubtensor);
    expect(T.setSubtensor(x.get(0), 1).owner!.op).toBeInstanceOf(T.IncSubtensor);
    expect(T.incSubtensor(x.get([0]), 1).owner!.op).toBeInstanceOf(T.AdvancedIncSubtensor);
  });

  it("Subtensor is a view; equal indices give equal ops; ops print NumPy-style", () => {
    const a = x.get("1:3", "::2").owner!.op;
    const b = x.get("1:3", "::2").owner!.op;
    expect(a.viewMap.get(0)).toEqual([0]);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(x.get("1:3").owner!.op)).toBe(false);
    expect(String(a)).toBe("Subtensor{1:3, ::2}");
    expect(String(x.get(T.lscalar("i")).owner!.op)).toBe("Subtensor{int64}");
    const r = run(x.get("1:3", "::2"));
    expect(r.toArray()).toEqual([[4, 6], [8, 10]]);
    expect(r.data).toBe(xv.data);
  });

  it("trailing full slices are dropped (x[0] and x[0, :] are one op)", () => {
    expect(x.get(0).owner!.op.equals(x.get(0, ":").owner!.op)).toBe(true);
  });

  it("JS values given to setSubtensor take x's dtype", () => {
    const iv = T.ivector("iv");
    const out = T.setSubtensor(iv.get("1:"), 2.7);
    expect(out.dtype).toBe("int32");
    expect(evaluate([out], new Map<Variable, unknown>([[iv, array([1, 1, 1], "int32")]]))[0]!.toArray()).toEqual([1, 2, 2]);
    const fv = T.fvector("fv");
    expect(T.incSubtensor(fv.get(0), T.dscalar("d")).dtype).toBe("float32");
  });
});

describe("graph-building failures", () => {
  const x = T.dmatrix("x");
  const s = T.tensor({ dtype: "float64", shape: [3, 4] });
  it("too many indices", () => {
    expect(() => x.get(0, 0, 0)).toThrow(TypeMismatchError);
    expect(() => x.get([true, true], [[true]], 0)).toThrow(TypeMismatchError);
  });
  it("non-integer indices", () => {
    expect(() => x.get(1.5)).toThrow(TypeMismatchError);
    expect(() => x.get(T.dscalar("f"))).toThrow(TypeMismatchError);
    expect(() => x.get([0.5, 1])).toThrow(TypeMismatchError);
    expect(() => x.get(T.slice(T.dscalar("f"), null))).toThrow(TypeMismatchError);
    expect(() => x.get(true)).toThrow(TypeMismatchError);
    expect(() => x.get(undefined)).toThrow(TypeMismatchError);
  });
  it("bad strings and ellipses", () => {
    expect(() => x.get("1:2:3:4")).toThrow(TypeMismatchError);
    expect(() => x.get("a")).toThrow(TypeMismatchError);
    expect(() => x.get("...", "...")).toThrow(TypeMismatchError);
  });
  it("constant index out of a static dimension", () => {
    expect(() => s.get(3)).toThrow(ShapeError);
    expect(() => s.get(0, -5)).toThrow(ShapeError);
    expect(() => x.get(7)).not.toThrow();
  });
  it("zero step", () => {
    expect(() => x.get("::0")).toThrow(ShapeError);
  });
  it("a static mask shape that does not match", () => {
    expect(() => s.get([true, false])).toThrow(ShapeError);
  });
  it("setSubtensor on something that is not an indexing result", () => {
    expect(() => T.setSubtensor(x, 1)).toThrow(TypeMismatchError);
    expect(() => T.incSubtensor(x.add(1), 1)).toThrow(TypeMismatchError);
  });
  it("incSubtensor with a value of a wider kind", () => {
    const iv = T.ivector("iv");
    expect(() => T.incSubtensor(iv.get(0), 1.5)).toThrow(TypeMismatchError);
    expect(() => T.incSubtensor(iv.get(0), T.dscalar("d"))).toThrow(TypeMismatchError);
    expect(() => T.setSubtensor(iv.get(0), T.dscalar("d"))).not.toThrow();
  });
  it("a value of higher rank or a conflicting static shape", () => {
    expect(() => T.setSubtensor(x.get(0), T.dmatrix("y"))).toThrow(TypeMismatchError);
    expect(() => T.setSubtensor(s.get("1:"), T.tensor({ dtype: "float64", shape: [3, 4] }))).toThrow(ShapeError);
  });
  it("ops built directly check their inputs", () => {
    expect(() => new T.Subtensor(["int64"]).makeNode(x)).toThrow(TypeMismatchError);
    expect(() => new T.Subtensor(["int64"]).makeNode(x, T.iscalar("i"))).toThrow(TypeMismatchError);
    expect(() => new T.AdvancedSubtensor1().makeNode(x, T.dvector("f"))).toThrow(TypeMismatchError);
    expect(() => new T.AdvancedSubtensor([{ start: null, stop: null, step: null }]).makeNode(x)).toThrow(TypeMismatchError);
    expect(() => new T.IncSubtensor([0], "set").makeNode(x, T.fvector("y"))).toThrow(TypeMismatchError);
    expect(() => new T.AdvancedIncSubtensor(["array"], "inc").makeNode(x, T.dmatrix("y"), T.lvector("i"))).not.toThrow();
  });
});

describe("run-time failures", () => {
  const x = T.dmatrix("x");
  const xv = arange(12).astype("float64").reshape([3, 4]);
  const i = T.lscalar("i");
  const iv = T.lvector("iv");
  const run = (v: T.TensorVariable, extra: Array<[Variable, unknown]> = []): NDArray => evaluate([v], new Map<Variable, unknown>([[x, xv], ...extra]))[0]!;
  it("out-of-bounds integers (basic and advanced)", () => {
    expect(() => run(x.get(3))).toThrow(ShapeError);
    expect(() => run(x.get(i), [[i, array(-4, "int64")]])).toThrow(ShapeError);
    expect(() => run(x.get([0, 3]))).toThrow(ShapeError);
    expect(() => run(x.get(":", iv), [[iv, array([-5], "int64")]])).toThrow(ShapeError);
    expect(() => run(x.get(iv, iv), [[iv, array([7], "int64")]])).toThrow(ShapeError);
  });
  it("a zero step given at run time", () => {
    expect(() => run(x.get(T.slice(null, null, i)), [[i, array(0, "int64")]])).toThrow(ShapeError);
  });
  it("index arrays that do not broadcast", () => {
    expect(() => run(x.get([0, 1, 2], [0, 1]))).toThrow(ShapeError);
  });
  it("a mask of the wrong shape", () => {
    const m = T.tensor({ dtype: "bool", shape: [null] });
    expect(() => run(x.get(m), [[m, array([true, false], "bool")]])).toThrow(ShapeError);
  });
  it("a value that does not broadcast to the region", () => {
    const y = T.dvector("y");
    expect(() => run(T.setSubtensor(x.get("1:"), y), [[y, array([1, 2, 3], "float64")]])).toThrow(ShapeError);
    expect(() => run(T.incSubtensor(x.get([0, 1]), y), [[y, array([1, 2, 3], "float64")]])).toThrow(ShapeError);
    expect(() => run(T.incSubtensor(x.get(i), y), [[i, array(9, "int64")], [y, array([1, 2, 3, 4], "float64")]])).toThrow(ShapeError);
  });
});

describe("inferShape on random inputs", () => {
  it("matches the actual shape for random slices of random shapes", () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const a = T.lscalar("a");
    const b = T.lscalar("b");
    const c = T.lscalar("c");
    const x = T.dmatrix("x");
    for (let trial = 0; trial < 60; trial++) {
      const shape = [rnd(6), rnd(6)];
      const xv = arange(shape[0]! * shape[1]!).astype("float64").reshape(shape);
      const step = (rnd(5) - 2) || 1;
      const g = new Map<Variable, unknown>([[x, xv], [a, array(rnd(14) - 7, "int64")], [b, array(rnd(14) - 7, "int64")], [c, array(step, "int64")]]);
      for (const out of [x.get(T.slice(a, b, c)), x.get(":", T.slice(a, null, c)), x.get(T.slice(null, b, step), T.slice(a, 3)), T.setSubtensor(x.get(T.slice(a, b)), 1)]) {
        const [r] = evaluate([out], g);
        expect(inferredShapes([out], g)[0]).toEqual([...r!.shape]);
      }
    }
  });
});
