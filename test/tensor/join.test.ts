/**
 * Join family (src/tensor/join.ts): concatenate/join, stack and split against NumPy
 * (test/fixtures/join.json, written by join_fixtures.py), with non-contiguous inputs, output
 * dtypes, inferShape against actual shapes, and graph-building and run-time failures.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
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
interface JoinCase {
  name: string;
  inputs: Enc[];
  axis: number;
  expected: Enc;
}
interface SplitCase {
  name: string;
  x: Enc;
  sizes: number[];
  axis: number;
  expected: Enc[];
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/join.json", import.meta.url), "utf8")) as { concatenate: JoinCase[]; stack: JoinCase[]; split: SplitCase[] };

const dec = (e: Enc): NDArray => array(e.data as never, e.dtype).reshape(e.shape);
/** Non-contiguous copies: Fortran order for rank ≥ 2, a reversed-reversed view for vectors. */
const strange = (a: NDArray): NDArray => (a.ndim >= 2 ? a.transpose().copy().transpose() : a.ndim === 1 ? a.slice([null, null, -1]).copy().slice([null, null, -1]) : a);
const sym = (e: Enc, staticShape: boolean): T.TensorVariable => T.tensor({ dtype: e.dtype, shape: staticShape ? e.shape : e.shape.map(() => null) });

function checkJoin(c: JoinCase, build: (vs: T.TensorVariable[]) => T.TensorVariable): void {
  const expected = dec(c.expected);
  for (const staticShape of [false, true]) {
    const vs = c.inputs.map((e) => sym(e, staticShape));
    const out = build(vs);
    expect(out.dtype).toBe(c.expected.dtype);
    if (staticShape) expect([...out.type.shape]).toEqual(c.expected.shape);
    for (const layout of [(a: NDArray) => a, strange]) {
      const g = new Map<Variable, unknown>(vs.map((v, i) => [v, layout(dec(c.inputs[i]!))]));
      const [r] = evaluate([out], g);
      expectClose(r!, expected);
      expect(inferredShapes([out], g)[0]).toEqual(c.expected.shape);
    }
  }
}

describe("concatenate against NumPy", () => {
  for (const c of fx.concatenate) {
    it(c.name, () => checkJoin(c, (vs) => T.concatenate(vs, c.axis)));
    it(`${c.name} (T.join)`, () => checkJoin(c, (vs) => T.join(c.axis, ...vs)));
  }
});

describe("stack against NumPy", () => {
  for (const c of fx.stack) it(c.name, () => checkJoin(c, (vs) => T.stack(vs, c.axis)));
});

describe("split against NumPy", () => {
  for (const c of fx.split) {
    it(c.name, () => {
      for (const [staticShape, symbolicSizes] of [[false, false], [true, false], [false, true]] as const) {
        const x = sym(c.x, staticShape);
        const sizes = symbolicSizes ? T.lvector("sizes") : c.sizes;
        const outs = T.split(x, sizes, c.sizes.length, c.axis);
        expect(outs.length).toBe(c.sizes.length);
        for (const layout of [(a: NDArray) => a, strange]) {
          const g = new Map<Variable, unknown>([[x, layout(dec(c.x))]]);
          if (symbolicSizes) g.set(sizes as Variable, array(c.sizes, "int64"));
          const rs = evaluate(outs, g);
          rs.forEach((r, i) => expectClose(r, dec(c.expected[i]!)));
          const shapes = inferredShapes(outs, g);
          outs.forEach((o, i) => {
            expect(shapes[i]).toEqual(c.expected[i]!.shape);
            expect(o.dtype).toBe(c.x.dtype);
            if (staticShape && !symbolicSizes) expect([...o.type.shape]).toEqual(c.expected[i]!.shape);
          });
        }
      }
    });
  }

  it("outputs are views of x", () => {
    const x = T.dvector("x");
    const outs = T.split(x, [1, 2], 2);
    const op = outs[0]!.owner!.op;
    expect(op.viewMap.get(0)).toEqual([0]);
    expect(op.viewMap.get(1)).toEqual([0]);
    const xv = arange(3).astype("float64");
    expect(evaluate(outs, new Map<Variable, unknown>([[x, xv]]))[1]!.data).toBe(xv.data);
  });
});

describe("dtype promotion", () => {
  it("JS values are weak: they take the tensors' dtype", () => {
    const f = T.fvector("f");
    expect(T.concatenate([f, [1.5, 2]]).dtype).toBe("float32");
    expect(T.stack([T.fscalar("s"), 1]).dtype).toBe("float32");
    const i = T.ivector("i");
    expect(T.concatenate([i, [1, 2]]).dtype).toBe("int32");
    expect(T.concatenate([i, [1.5]]).dtype).toBe("float64");
  });
  it("one input is returned as it is", () => {
    const f = T.fvector("f");
    expect(T.concatenate([f])).toBe(f);
  });
});

describe("graph-building failures", () => {
  it("rank and type conflicts", () => {
    expect(() => T.concatenate([T.dvector(), T.dmatrix()])).toThrow(TypeMismatchError);
    expect(() => T.concatenate([T.dscalar(), T.dscalar()])).toThrow(TypeMismatchError);
    expect(() => T.concatenate([])).toThrow(TypeMismatchError);
    expect(() => T.stack([T.dvector(), T.dmatrix()])).toThrow(TypeMismatchError);
    expect(() => T.split(T.dscalar(), [1], 1)).toThrow(TypeMismatchError);
    expect(() => T.split(T.dvector(), T.dvector(), 1)).toThrow(TypeMismatchError);
    expect(() => new T.Join(0).makeNode()).toThrow(TypeMismatchError);
  });
  it("axis out of range", () => {
    expect(() => T.concatenate([T.dvector(), T.dvector()], 1)).toThrow(ShapeError);
    expect(() => T.stack([T.dvector(), T.dvector()], 3)).toThrow(ShapeError);
    expect(() => T.split(T.dvector(), [1], 1, 2)).toThrow(ShapeError);
  });
  it("static shape conflicts", () => {
    const a = T.tensor({ dtype: "float64", shape: [2, 3] });
    const b = T.tensor({ dtype: "float64", shape: [2, 4] });
    expect(() => T.concatenate([a, b], 0)).toThrow(ShapeError);
    expect(() => T.concatenate([a, b], 1)).not.toThrow();
    expect(() => T.stack([a, b])).toThrow(ShapeError);
    expect(() => T.split(a, [1, 2], 2, 0)).toThrow(ShapeError);
    expect(() => T.split(a, [1, 2], 3, 1)).toThrow(ShapeError);
    expect(() => T.split(T.dvector(), [-1, 2], 2)).toThrow(ShapeError);
  });
});

describe("run-time failures", () => {
  it("concatenate: dimensions other than the axis differ", () => {
    const a = T.dmatrix("a");
    const b = T.dmatrix("b");
    const g = new Map<Variable, unknown>([[a, arange(6).astype("float64").reshape([2, 3])], [b, arange(4).astype("float64").reshape([2, 2])]]);
    expect(() => evaluate([T.concatenate([a, b], 0)], g)).toThrow(ShapeError);
    expect(() => evaluate([T.stack([a, b])], g)).toThrow(ShapeError);
  });
  it("split: sizes that do not sum to the axis length, or the wrong count", () => {
    const x = T.dvector("x");
    const s = T.lvector("s");
    const g = (sizes: number[]) => new Map<Variable, unknown>([[x, arange(5).astype("float64")], [s, array(sizes, "int64")]]);
    expect(() => evaluate(T.split(x, [2, 2], 2), g([]))).toThrow(ShapeError);
    expect(() => evaluate(T.split(x, s, 2), g([2, 4]))).toThrow(ShapeError);
    expect(() => evaluate(T.split(x, s, 2), g([5]))).toThrow(ShapeError);
    expect(() => evaluate(T.split(x, s, 2), g([6, -1]))).toThrow(ShapeError);
  });
});

describe("inferShape on random inputs", () => {
  it("concatenate and split", () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const a = T.dtensor3("a");
    const b = T.dtensor3("b");
    for (let t = 0; t < 20; t++) {
      const axis = rnd(3);
      const sa = [rnd(4), rnd(4), rnd(4)];
      const sb = [...sa];
      sb[axis] = rnd(4);
      const av = arange(sa.reduce((p, q) => p * q, 1)).astype("float64").reshape(sa);
      const bv = arange(sb.reduce((p, q) => p * q, 1)).astype("float64").reshape(sb);
      const g = new Map<Variable, unknown>([[a, av], [b, bv]]);
      const j = T.concatenate([a, b], axis);
      const [r] = evaluate([j], g);
      expect(inferredShapes([j], g)[0]).toEqual([...r!.shape]);
      const parts = T.split(j, [sa[axis]!, sb[axis]!], 2, axis);
      const rs = evaluate(parts, g);
      expect(inferredShapes(parts, g)).toEqual(rs.map((p) => [...p.shape]));
      expectClose(rs[0]!, av);
      expectClose(rs[1]!, bv);
    }
  });
});
