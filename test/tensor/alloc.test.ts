/**
 * Tensor-making and rearranging functions (src/tensor/alloc.ts): alloc, broadcastTo, zeros,
 * ones, zerosLike, onesLike, fill, eye, identity, identityLike, arange, tile, repeat, flip, roll,
 * against NumPy (test/fixtures/alloc.json, written by alloc_fixtures.py), with symbolic shape
 * arguments, non-contiguous inputs, inferShape against actual shapes, and failures.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { config } from "../../src/config/index.js";
import { ShapeError, TypeMismatchError } from "../../src/errors.js";
import type { Variable } from "../../src/graph/basic.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { NDArray, array, arange } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

interface Enc {
  dtype: DType;
  shape: number[];
  data: Array<number | boolean>;
}
interface Fx {
  alloc: Array<{ name: string; value: Enc; shape: number[]; expected: Enc }>;
  eye: Array<{ name: string; n: number; m: number | null; k: number; dtype: DType; expected: Enc }>;
  arange: Array<{ name: string; args: number[]; dtype: DType | null; expected: Enc }>;
  tile: Array<{ name: string; x: Enc; reps: number | number[]; expected: Enc }>;
  repeat: Array<{ name: string; x: Enc; repeats: number | number[]; axis: number | null; expected: Enc }>;
  flip: Array<{ name: string; x: Enc; axis: number | number[] | null; expected: Enc }>;
  roll: Array<{ name: string; x: Enc; shift: number | number[]; axis: number | number[] | null; expected: Enc }>;
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/alloc.json", import.meta.url), "utf8")) as Fx;

const dec = (e: Enc): NDArray => array(e.data as never, e.dtype).reshape(e.shape);
const strange = (a: NDArray): NDArray => (a.ndim >= 2 ? a.transpose().copy().transpose() : a.ndim === 1 ? a.slice([null, null, -1]).copy().slice([null, null, -1]) : a);
const sym = (e: Enc, staticShape: boolean): T.TensorVariable => T.tensor({ dtype: e.dtype, shape: staticShape ? e.shape : e.shape.map(() => null), name: "x" });
const run = (v: T.TensorVariable, givens: Array<[Variable, unknown]> = []): NDArray => evaluate([v], new Map(givens))[0]!;

/** Evaluates `out`, checks it against `expected` (values, dtype, shape) and its inferred shape. */
function check(out: T.TensorVariable, expected: NDArray, givens: Array<[Variable, unknown]>): void {
  const g = new Map<Variable, unknown>(givens);
  const [r] = evaluate([out], g);
  expectClose(r!, expected);
  expect(out.dtype).toBe(expected.dtype);
  out.type.shape.forEach((d, i) => d === null || expect(d).toBe(r!.shape[i]));
  if (out.owner) expect(inferredShapes([out], g)[0]).toEqual([...expected.shape]);
}

/** Runs `build` on x with unknown and known static shapes, contiguous and not. */
function checkUnary(c: { x: Enc; expected: Enc }, build: (x: T.TensorVariable) => T.TensorVariable): void {
  for (const staticShape of [false, true]) {
    const x = sym(c.x, staticShape);
    const out = build(x);
    if (staticShape) expect(out.type.shape.every((d) => d !== null), `static shape ${out.type}`).toBe(true);
    for (const layout of [(a: NDArray) => a, strange]) check(out, dec(c.expected), [[x, layout(dec(c.x))]]);
  }
}

describe("alloc / broadcastTo against NumPy", () => {
  for (const c of fx.alloc) {
    it(c.name, () => {
      const expected = dec(c.expected);
      const v = sym(c.value, false);
      const n = c.shape.map((_d, i) => T.lscalar(`n${i}`));
      const vec = T.tensor({ dtype: "int64", shape: [c.shape.length], name: "shp" });
      const givens: Array<[Variable, unknown]> = [[v, strange(dec(c.value))], ...n.map((s, i): [Variable, unknown] => [s, array(c.shape[i]!, "int64")]), [vec, array(c.shape, "int64")]];
      const known = T.alloc(v, ...c.shape);
      expect([...known.type.shape]).toEqual(c.shape);
      check(known, expected, givens);
      check(T.alloc(v, c.shape), expected, givens);
      check(T.alloc(v, ...n), expected, givens);
      check(T.alloc(v, vec), expected, givens);
      check(T.broadcastTo(v, c.shape), expected, givens);
      check(T.broadcastTo(dec(c.value), n), expected, givens);
    });
  }

  it("JS numbers become floatX (Theano's T.zeros/T.alloc), booleans bool", () => {
    expect(T.alloc(1, 2).dtype).toBe(config.floatX);
    expect(T.alloc(true, 2).dtype).toBe("bool");
    expect(T.alloc(T.constant(7, { dtype: "int32" }), 2).dtype).toBe("int32");
    config.change({ floatX: "float32" }, () => {
      expect(T.alloc(0.5, 3).dtype).toBe("float32");
      expect(T.zeros([2]).dtype).toBe("float32");
      expect(T.eye(2).dtype).toBe("float32");
    });
  });

  it("statically known value sizes carry into the output", () => {
    const v = T.tensor({ dtype: "float64", shape: [null, 3] });
    expect([...T.alloc(v, T.lscalar(), T.lscalar(), T.lscalar()).type.shape]).toEqual([null, null, 3]);
  });
});

describe("zeros, ones, zerosLike, onesLike, fill, identity", () => {
  it("zeros/ones: floatX by default (np.zeros gives float64, the default floatX)", () => {
    const z = T.zeros([2, 3]);
    expect(z.dtype).toBe("float64");
    expect([...z.type.shape]).toEqual([2, 3]);
    check(z, dec({ dtype: "float64", shape: [2, 3], data: [0, 0, 0, 0, 0, 0] }), []);
    check(T.ones(3, "int32"), array([1, 1, 1], "int32"), []);
    check(T.ones([], "bool"), array(true), []);
    const n = T.lscalar("n");
    check(T.zeros([n, 2], "int8"), array([[0, 0], [0, 0], [0, 0]], "int8"), [[n, array(3, "int64")]]);
    check(T.ones(n), array([1], "float64"), [[n, array(1, "int64")]]);
  });

  it("zerosLike/onesLike keep x's shape and dtype unless told", () => {
    const x = T.fmatrix("x");
    const xv = strange(arange(6).astype("float32").reshape([2, 3]));
    check(T.zerosLike(x), array([[0, 0, 0], [0, 0, 0]], "float32"), [[x, xv]]);
    check(T.onesLike(x, "int64"), array([[1, 1, 1], [1, 1, 1]], "int64"), [[x, xv]]);
    const s = T.tensor({ dtype: "int16", shape: [0, 2] });
    check(T.onesLike(s), array([[], []], "int16").reshape([0, 2]), [[s, array([], "int16").reshape([0, 2])]]);
    const d = T.dscalar("d");
    check(T.zerosLike(d), array(0, "float64"), [[d, array(5, "float64")]]);
  });

  it("fill: value broadcast to the model's shape; a JS value takes the model's dtype", () => {
    const x = T.fmatrix("x");
    const xv = arange(6).astype("float32").reshape([2, 3]);
    check(T.fill(x, 5), array([[5, 5, 5], [5, 5, 5]], "float32"), [[x, xv]]);
    const v = T.dvector("v");
    check(T.fill(x, v), array([[1, 2, 3], [1, 2, 3]], "float64"), [[x, xv], [v, array([1, 2, 3], "float64")]]);
    const r = T.row("r", "float64");
    const c = T.dcol("c");
    const rc = T.fill(r, c);
    expect(rc.type.shape[0]).toBe(null);
    check(rc, array([[7, 7, 7, 7], [8, 8, 8, 8]], "float64"), [[r, array([[0, 0, 0, 0]], "float64")], [c, array([[7], [8]], "float64")]]);
    expect(T.fill(T.imatrix(), 1.5).dtype).toBe("float64");
    expect(T.fill(T.bvector(), true).dtype).toBe("int8");
  });

  it("identity and identityLike", () => {
    check(T.identity(2, "int32"), array([[1, 0], [0, 1]], "int32"), []);
    const x = T.fmatrix("x");
    check(T.identityLike(x), array([[1, 0, 0], [0, 1, 0]], "float32"), [[x, arange(6).astype("float32").reshape([2, 3])]]);
  });
});

describe("eye against NumPy", () => {
  for (const c of fx.eye) {
    it(c.name, () => {
      const expected = dec(c.expected);
      const e = T.eye(c.n, c.m, c.k, c.dtype);
      expect([...e.type.shape]).toEqual(c.expected.shape);
      check(e, expected, []);
      const [n, m, k] = [T.lscalar("n"), T.iscalar("m"), T.lscalar("k")];
      check(T.eye(n, c.m === null ? null : m, k, c.dtype), expected, [[n, array(c.n, "int64")], [m, array(c.m ?? 0, "int32")], [k, array(c.k, "int64")]]);
    });
  }
});

describe("arange against NumPy", () => {
  for (const c of fx.arange) {
    it(c.name, () => {
      const expected = dec(c.expected);
      const args = c.args as [number, number?, number?];
      const a = c.dtype === null ? T.arange(...args) : T.arange(args[0], args[1] ?? null, args[2] ?? null, c.dtype);
      expect([...a.type.shape]).toEqual(c.expected.shape);
      check(a, expected, []);
      // The same with symbolic bounds of NumPy's argument dtypes.
      const isInt = c.args.every(Number.isInteger);
      const vars = c.args.map((_v, i) => (isInt ? T.lscalar(`a${i}`) : T.dscalar(`a${i}`)));
      const sa = T.arange(vars[0]!, vars[1] ?? null, vars[2] ?? null, c.dtype ?? undefined);
      expect(sa.type.shape[0]).toBe(null);
      check(sa, expected, vars.map((v, i): [Variable, unknown] => [v, array(c.args[i]!, isInt ? "int64" : "float64")]));
    });
  }

  it("default dtypes: int64 for ints, floatX for JS floats, a tensor's own float dtype", () => {
    expect(T.arange(3).dtype).toBe("int64");
    expect(T.arange(T.iscalar()).dtype).toBe("int64");
    expect(T.arange(T.constant(3, { dtype: "uint8" })).dtype).toBe("uint64");
    expect(T.arange(0.5).dtype).toBe("float64");
    expect(T.arange(T.fscalar()).dtype).toBe("float32");
    expect(T.arange(5, "int16").dtype).toBe("int16");
    config.change({ floatX: "float32" }, () => expect(T.arange(0, 1, 0.5).dtype).toBe("float32"));
  });
});

describe("tile against NumPy", () => {
  for (const c of fx.tile) {
    it(c.name, () => {
      checkUnary(c, (x) => T.tile(x, c.reps));
      const reps = Array.isArray(c.reps) ? c.reps : [c.reps];
      const r = reps.map((_d, i) => T.lscalar(`r${i}`));
      const x = sym(c.x, false);
      check(T.tile(x, r), dec(c.expected), [[x, dec(c.x)], ...r.map((v, i): [Variable, unknown] => [v, array(reps[i]!, "int64")])]);
    });
  }
});

describe("repeat against NumPy", () => {
  for (const c of fx.repeat) {
    it(c.name, () => {
      checkUnary(c, (x) => T.repeat(x, c.repeats, c.axis));
      const r = Array.isArray(c.repeats) ? T.lvector("r") : T.iscalar("r");
      const x = sym(c.x, false);
      check(T.repeat(x, r, c.axis), dec(c.expected), [[x, strange(dec(c.x))], [r, array(c.repeats, Array.isArray(c.repeats) ? "int64" : "int32")]]);
    });
  }
});

describe("flip against NumPy", () => {
  for (const c of fx.flip) it(c.name, () => checkUnary(c, (x) => T.flip(x, c.axis)));
  it("is a view", () => {
    const x = T.dvector("x");
    const xv = arange(3).astype("float64");
    expect(run(T.flip(x), [[x, xv]]).data).toBe(xv.data);
  });
});

describe("roll against NumPy", () => {
  for (const c of fx.roll) {
    it(c.name, () => {
      checkUnary(c, (x) => T.roll(x, c.shift, c.axis));
      const shifts = Array.isArray(c.shift) ? c.shift : [c.shift];
      const s = shifts.map((_v, i) => T.lscalar(`s${i}`));
      const x = sym(c.x, false);
      check(T.roll(x, Array.isArray(c.shift) ? s : s[0]!, c.axis), dec(c.expected), [[x, strange(dec(c.x))], ...s.map((v, i): [Variable, unknown] => [v, array(shifts[i]!, "int64")])]);
    });
  }
});

describe("graph-building failures", () => {
  it("alloc / broadcastTo", () => {
    expect(() => T.alloc(T.dmatrix(), 3)).toThrow(TypeMismatchError);
    expect(() => T.alloc(0, 2.5)).toThrow(TypeMismatchError);
    expect(() => T.alloc(0, T.dscalar())).toThrow(TypeMismatchError);
    expect(() => T.alloc(0, T.lvector())).toThrow(TypeMismatchError);
    expect(() => T.alloc(0, -1)).toThrow(ShapeError);
    expect(() => T.alloc(T.tensor({ dtype: "float64", shape: [3] }), 2, 4)).toThrow(ShapeError);
    expect(() => T.broadcastTo(T.tensor({ dtype: "float64", shape: [2, 3] }), [3])).toThrow(TypeMismatchError);
    expect(() => new T.Alloc().makeNode(T.dscalar(), T.dvector())).toThrow(TypeMismatchError);
  });
  it("zeros / eye / identityLike", () => {
    expect(() => T.zeros([2, -1])).toThrow(ShapeError);
    expect(() => T.zeros(T.dvector())).toThrow(TypeMismatchError);
    expect(() => T.eye(2.5)).toThrow(TypeMismatchError);
    expect(() => T.eye(T.dscalar())).toThrow(TypeMismatchError);
    expect(() => T.eye(-1)).toThrow(ShapeError);
    expect(() => T.identityLike(T.dvector())).toThrow(TypeMismatchError);
  });
  it("arange", () => {
    expect(() => T.arange(0, 5, 0)).toThrow(ShapeError);
    expect(() => T.arange(T.dvector())).toThrow(TypeMismatchError);
    expect(() => T.arange(Infinity)).toThrow(TypeMismatchError);
    expect(() => T.arange(3, "bool")).toThrow(TypeMismatchError);
  });
  it("tile / repeat / flip / roll", () => {
    expect(() => T.tile(T.dvector(), [-1])).toThrow(ShapeError);
    expect(() => T.tile(T.dvector(), T.dvector())).toThrow(TypeMismatchError);
    expect(() => T.repeat(T.dvector(), 1.5)).toThrow(TypeMismatchError);
    expect(() => T.repeat(T.dvector(), T.dvector())).toThrow(TypeMismatchError);
    expect(() => T.repeat(T.dvector(), -1)).toThrow(ShapeError);
    expect(() => T.repeat(T.tensor({ dtype: "float64", shape: [3] }), [1, 2])).toThrow(ShapeError);
    expect(() => T.repeat(T.dvector(), 2, 1)).toThrow(ShapeError);
    expect(() => T.flip(T.dvector(), 1)).toThrow(ShapeError);
    expect(() => T.flip(T.dmatrix(), [0, 0])).toThrow(ShapeError);
    expect(() => T.roll(T.dmatrix(), [1, 2, 3], [0, 1])).toThrow(TypeMismatchError);
    expect(() => T.roll(T.dmatrix(), T.dscalar(), 0)).toThrow(TypeMismatchError);
    expect(() => T.roll(T.dmatrix(), 1, 2)).toThrow(ShapeError);
  });
});

describe("run-time failures", () => {
  it("alloc: a value that does not broadcast, a negative size", () => {
    const v = T.dvector("v");
    const n = T.lscalar("n");
    expect(() => run(T.alloc(v, 2, 4), [[v, array([1, 2, 3], "float64")]])).toThrow(ShapeError);
    expect(() => run(T.alloc(0, n), [[n, array(-2, "int64")]])).toThrow(ShapeError);
    expect(() => run(T.zeros([n, 2]), [[n, array(-1, "int64")]])).toThrow(ShapeError);
  });
  it("eye with a negative size; arange with a zero step", () => {
    const n = T.lscalar("n");
    expect(() => run(T.eye(n), [[n, array(-3, "int64")]])).toThrow(ShapeError);
    expect(() => run(T.arange(0, 5, n), [[n, array(0, "int64")]])).toThrow(ShapeError);
    const f = T.dscalar("f");
    expect(() => run(T.arange(0, f), [[f, array(Infinity, "float64")]])).toThrow(ShapeError);
  });
  it("repeat: a count vector of the wrong length, negative counts", () => {
    const x = T.dvector("x");
    const r = T.lvector("r");
    const xv = arange(3).astype("float64");
    expect(() => run(T.repeat(x, r, 0), [[x, xv], [r, array([1, 2], "int64")]])).toThrow(ShapeError);
    expect(() => run(T.repeat(x, r, 0), [[x, xv], [r, array([1, -1, 1], "int64")]])).toThrow(ShapeError);
  });
  it("tile with a negative count given at run time", () => {
    const x = T.dvector("x");
    const r = T.lscalar("r");
    expect(() => run(T.tile(x, [r]), [[x, arange(3).astype("float64")], [r, array(-1, "int64")]])).toThrow(ShapeError);
  });
});

describe("inferShape on random inputs", () => {
  it("arange, repeat, tile and roll with random symbolic arguments", () => {
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const [a, b, c] = [T.lscalar("a"), T.lscalar("b"), T.lscalar("c")];
    const f = T.dscalar("f");
    const x = T.dmatrix("x");
    const r = T.lvector("r");
    for (let t = 0; t < 30; t++) {
      const shape = [rnd(4), 1 + rnd(3)];
      const reps = [...Array(shape[0]!)].map(() => rnd(3));
      const g = new Map<Variable, unknown>([
        [a, array(rnd(9) - 4, "int64")],
        [b, array(rnd(9) - 4, "int64")],
        [c, array((rnd(5) - 2) || 1, "int64")],
        [f, array((rnd(20) - 10) / 3, "float64")],
        [x, arange(shape[0]! * shape[1]!).astype("float64").reshape(shape)],
        [r, array(reps, "int64")],
      ]);
      for (const out of [T.arange(a, b, c), T.arange(f, b), T.arange(0, f, 0.25), T.repeat(x, r, 0), T.repeat(x, a.mul(0).add(2), 1), T.tile(x, [c.mul(c), 2]), T.roll(x, a, 1), T.roll(x, b)]) {
        const [v] = evaluate([out], g);
        expect(inferredShapes([out], g)[0], String(out.owner!.op)).toEqual([...v!.shape]);
      }
    }
  });
});
