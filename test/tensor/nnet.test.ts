/**
 * T.nnet (src/tensor/nnet.ts, src/tensor/conv.ts) against NumPy/SciPy references
 * (test/fixtures/nnet_fixtures.json, written by nnet_fixtures.py): softmax/logSoftmax, the
 * cross-entropies, the activations, conv2d and pooling; plus dropout's statistics and
 * determinism, inferShape against computed shapes, non-contiguous/empty/size-1/0-d inputs, and the
 * graph-building and run-time errors of every op.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InputError, ShapeError, TypeMismatchError } from "../../src/errors.js";
import { Variable } from "../../src/graph/basic.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { NDArray, array, ones, zeros } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { convOutputSize, poolOutputSize } from "../../src/tensor/conv.js";
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
  params: Record<string, unknown>;
  expected: Arr;
}
interface Fixture {
  softmax: Case[];
  logSoftmax: Case[];
  xent: Record<string, Case>;
  activations: Record<string, Case>;
  conv2d: Record<string, Case>;
  pool: Record<string, Case>;
}
const fx = JSON.parse(readFileSync(new URL("../fixtures/nnet_fixtures.json", import.meta.url), "utf8")) as Fixture;
const dec = (v: Enc): number | boolean => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : (v as number | boolean));
const nd = (a: Arr): NDArray => array(a.data.map(dec) as never, a.dtype).reshape(a.shape);
const sym = (a: NDArray, name?: string): TensorVariable => T.tensor({ dtype: a.dtype, shape: a.shape.map(() => null), name: name ?? null });
const run = (out: TensorVariable, givens: Array<[TensorVariable, NDArray]>): NDArray => evaluate([out], new Map(givens))[0]!;
const tol = (a: NDArray): { rtol?: number; atol?: number } => (a.dtype === "float32" ? { rtol: 2e-5, atol: 1e-6 } : {});
/** A non-contiguous view holding the same values as `a` (a transposed copy transposed back). */
const strided = (a: NDArray): NDArray => {
  const perm = [...Array(a.ndim).keys()].reverse();
  const v = a.transpose(...perm).copy().transpose(...perm);
  expect(a.ndim < 2 || !v.isContiguous).toBe(true);
  return v;
};
const randn = (shape: number[], seed = 1): NDArray => {
  const n = shape.reduce((a, b) => a * b, 1);
  return new NDArray("float64", shape, Float64Array.from({ length: n }, (_x, i) => Math.sin(seed * 12.9898 + i * 78.233) * 2));
};

// ---------------------------------------------------------------------------------------------
describe.each(["softmax", "logSoftmax"] as const)("%s", (fn) => {
  const f = fn === "softmax" ? T.softmax : T.logSoftmax;

  it("matches scipy.special on every fixture array and axis (NaN/±inf lanes included)", () => {
    for (const c of fx[fn]) {
      const a = nd(c.inputs[0]!);
      const x = sym(a);
      const axis = c.params.axis as number | null;
      const out = f(x, axis);
      const want = nd(c.expected);
      expect(out.dtype, `${c.params.name} axis=${axis}`).toBe(want.dtype);
      try {
        expectClose(run(out, [[x, a]]), want, tol(a));
      } catch (e) {
        throw new Error(`${fn}(${c.params.name}, axis=${axis}): ${(e as Error).message}`);
      }
    }
  });

  it("is stable for large magnitudes", () => {
    const x = T.matrix();
    const v = array([[1000, 1000], [0, -1000]], "float64");
    if (fn === "softmax") expect(run(f(x), [[x, v]]).toArray()).toEqual([[0.5, 0.5], [1, 0]]);
    else {
      const r = run(f(x), [[x, v]]).toArray() as number[][];
      expect(r[1]).toEqual([0, -1000]);
      expect(r[0]![0]).toBeCloseTo(-Math.LN2, 15);
    }
  });

  it("a lane of only -inf gives NaN, as scipy (documented)", () => {
    const x = T.vector();
    const r = run(f(x), [[x, array([-Infinity, -Infinity], "float64")]]).toFlat();
    expect(Array.from(r as Float64Array).every(Number.isNaN)).toBe(true);
  });

  it("reads transposed and step-sliced inputs", () => {
    const c = fx[fn].find((k) => k.params.name === "m35" && k.params.axis === -1)!;
    const a = nd(c.inputs[0]!);
    const x = T.matrix();
    // axis 0 of the transposed view is axis 1 of the original.
    expectClose(run(f(x, 0), [[x, a.transpose()]]), nd(c.expected).transpose().copy());
    const big = randn([6, 10]);
    const view = big.slice([null, null, 2], [1, null, 3]);
    expectClose(run(f(x, 1), [[x, view]]), run(f(x, 1), [[x, view.copy()]]));
  });

  it("handles empty, size-1 and 0-d inputs", () => {
    const x = T.matrix();
    expect(run(f(x, -1), [[x, zeros([3, 0])]]).shape).toEqual([3, 0]); // scipy raises here (amax of nothing)
    expect(run(f(x, -1), [[x, zeros([0, 4])]]).shape).toEqual([0, 4]);
    expect(run(f(x, -1), [[x, array([[7], [-3]], "float64")]]).toArray()).toEqual(fn === "softmax" ? [[1], [1]] : [[0], [0]]);
    const s = T.scalar();
    expect(run(f(s, null), [[s, array(4.5, "float64")]]).item()).toBe(fn === "softmax" ? 1 : 0);
  });

  it("keeps float32, makes ints floatX", () => {
    expect(f(T.fmatrix()).dtype).toBe("float32");
    expect(f(T.imatrix()).dtype).toBe("float64");
  });

  it("inferShape matches the computed shape", () => {
    const x = T.tensor3();
    for (const axis of [0, 1, 2, null]) {
      for (const shape of [[2, 3, 4], [1, 5, 1], [3, 0, 2]]) {
        const g = new Map([[x, randn(shape)]]);
        expect(inferredShapes([f(x, axis)], g)[0]).toEqual(shape);
      }
    }
  });

  it("fails at graph-building time for a bad axis, non-float or non-tensor input", () => {
    expect(() => f(T.matrix(), 2)).toThrow(ShapeError);
    expect(() => f(T.scalar())).toThrow(ShapeError); // axis -1 of a 0-d tensor
    const Op = fn === "softmax" ? T.Softmax : T.LogSoftmax;
    expect(() => new Op(0).makeNode(T.ivector())).toThrow(TypeMismatchError);
    expect(() => new Op(3).makeNode(T.matrix())).toThrow(ShapeError);
    expect(() => new Op(0).makeNode(new Variable({} as never))).toThrow(TypeMismatchError);
  });

  it("fails at run time for a value that does not fit the node's type", () => {
    const node = f(T.matrix(), 1).owner!;
    expect(() => node.op.perform(node, [zeros([3])])).toThrow(ShapeError);
    expect(() => node.op.perform(node, [zeros([2, 2], "float32")])).toThrow(TypeMismatchError);
  });

  it("ops are equal by axis and print it", () => {
    const op = f(T.matrix(), -1).owner!.op;
    expect(op.equals(f(T.matrix(), 1).owner!.op)).toBe(true);
    expect(op.equals(f(T.matrix(), 0).owner!.op)).toBe(false);
    expect(String(op)).toBe(`${fn === "softmax" ? "Softmax" : "LogSoftmax"}{axis=1}`);
  });
});

// ---------------------------------------------------------------------------------------------
describe("cross-entropies", () => {
  const X = (name: string): { ins: NDArray[]; want: NDArray } => ({ ins: fx.xent[name]!.inputs.map(nd), want: nd(fx.xent[name]!.expected) });

  it("categoricalCrossentropy with one-hot rows, soft targets, labels, float32 and rank 3 matches NumPy", () => {
    for (const name of ["categorical_onehot", "categorical_soft", "categorical_labels", "categorical_f32", "categorical_labels_f32", "categorical_rank3_onehot", "categorical_rank3_labels", "categorical_zero_prob"]) {
      const { ins, want } = X(name);
      const p = sym(ins[0]!);
      const t = sym(ins[1]!);
      const out = T.categoricalCrossentropy(p, t);
      expect(out.dtype, name).toBe(want.dtype);
      expect(out.ndim, name).toBe(want.ndim);
      expectClose(run(out, [[p, ins[0]!], [t, ins[1]!]]), want, tol(want));
    }
  });

  it("the label form is one CrossentropyCategorical1Hot node; crossentropyCategorical1Hot is the same op", () => {
    const { ins, want } = X("categorical_labels");
    const p = T.matrix();
    const y = T.ivector();
    const out = T.crossentropyCategorical1Hot(p, y);
    expect(out.owner!.op).toBeInstanceOf(T.CrossentropyCategorical1Hot);
    expect(T.categoricalCrossentropy(p, y).owner!.op.equals(out.owner!.op)).toBe(true);
    expectClose(run(out, [[p, ins[0]!], [y, ins[1]!]]), want);
    // Non-contiguous coding distribution, labels as a JS array (int64 constant).
    expectClose(run(T.crossentropyCategorical1Hot(p, [0, 2, 1, 2]), [[p, strided(ins[0]!)]]), want);
  });

  it("raises a ShapeError at run time for labels out of range or of the wrong length", () => {
    const p = T.matrix();
    const y = T.ivector();
    const out = T.categoricalCrossentropy(p, y);
    const probs = array([[0.5, 0.5], [0.1, 0.9]], "float64");
    expect(() => run(out, [[p, probs], [y, array([0, 2], "int32")]])).toThrow(ShapeError);
    expect(() => run(out, [[p, probs], [y, array([-1, 0], "int32")]])).toThrow(/out of range/);
    expect(() => run(out, [[p, probs], [y, array([0, 1, 1], "int32")]])).toThrow(ShapeError);
  });

  it("fails at graph-building time for float labels, bad ranks and conflicting static shapes", () => {
    expect(() => T.categoricalCrossentropy(T.matrix(), T.vector())).toThrow(TypeMismatchError);
    expect(() => T.categoricalCrossentropy(T.matrix(), T.tensor3())).toThrow(TypeMismatchError);
    expect(() => T.categoricalCrossentropy(T.scalar(), T.scalar())).toThrow(TypeMismatchError);
    const p = T.tensor({ dtype: "float64", shape: [4, 3] });
    expect(() => T.categoricalCrossentropy(p, T.tensor({ dtype: "int32", shape: [5] }))).toThrow(ShapeError);
    expect(() => T.categoricalCrossentropy(p, T.tensor({ dtype: "float64", shape: [4, 5] }))).toThrow(ShapeError);
    expect(T.categoricalCrossentropy(p, T.ivector()).type.shape).toEqual([4]);
  });

  it("the one-hot op handles empty and size-1 inputs, and its inferShape matches", () => {
    const p = T.matrix();
    const y = T.ivector();
    const out = T.crossentropyCategorical1Hot(p, y);
    expect(run(out, [[p, zeros([0, 3])], [y, array([], "int32")]]).shape).toEqual([0]);
    expect(run(out, [[p, array([[1]], "float64")], [y, array([0], "int32")]]).toArray()).toEqual([-0]);
    for (const [n, k] of [[4, 3], [1, 1], [0, 2]] as const) {
      const g = new Map<TensorVariable, NDArray>([[p, ones([n, k])], [y, zeros([n], "int32")]]);
      expect(inferredShapes([out], g)[0]).toEqual([n]);
    }
  });

  it("binaryCrossentropy matches NumPy (float64, float32, edges 0 and 1)", () => {
    for (const name of ["binary", "binary_f32", "binary_edges"]) {
      const { ins, want } = X(name);
      const o = sym(ins[0]!);
      const t = sym(ins[1]!);
      const out = T.binaryCrossentropy(o, t);
      expect(out.dtype).toBe(want.dtype);
      expectClose(run(out, [[o, ins[0]!], [t, ins[1]!]]), want, tol(want));
    }
  });

  it("binaryCrossentropy: conflicting static shapes fail at graph-building time, run-time mismatches raise ShapeError", () => {
    expect(() => T.binaryCrossentropy(T.tensor({ dtype: "float64", shape: [3] }), T.tensor({ dtype: "float64", shape: [4] }))).toThrow(ShapeError);
    const o = T.vector();
    const t = T.vector();
    expect(() => run(T.binaryCrossentropy(o, t), [[o, zeros([3])], [t, zeros([2])]])).toThrow(ShapeError);
  });
});

// ---------------------------------------------------------------------------------------------
describe("activations", () => {
  type Act = (x: TensorVariable, p: Record<string, unknown>) => TensorVariable;
  const ACTS: Record<string, Act> = {
    relu: (x) => T.relu(x),
    relu_leaky: (x, p) => T.relu(x, p.alpha as number),
    elu: (x) => T.elu(x),
    elu_alpha: (x, p) => T.elu(x, p.alpha as number),
    selu: (x) => T.selu(x),
    gelu: (x) => T.gelu(x),
    gelu_tanh: (x, p) => T.gelu(x, p.approximate as boolean),
    sigmoid: (x) => T.nnet.sigmoid(x),
    softplus: (x) => T.nnet.softplus(x),
  };

  it.each(Object.keys(ACTS))("%s matches NumPy on a grid with ±inf, NaN, ±0 (float64, float32, int32)", (name) => {
    const keys = Object.keys(fx.activations).filter((k) => k === `${name}_f64` || k === `${name}_f32` || k === `${name}_int32`);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (const k of keys) {
      const c = fx.activations[k]!;
      const a = nd(c.inputs[0]!);
      const x = sym(a);
      const out = ACTS[name]!(x, c.params);
      const want = nd(c.expected);
      expect(out.dtype, k).toBe(want.dtype);
      try {
        expectClose(run(out, [[x, a]]), want, a.dtype === "float32" ? { rtol: 1e-5, atol: 1e-7 } : { rtol: 1e-14, atol: 1e-300 });
        expectClose(run(out, [[x, strided(a)]]), want, a.dtype === "float32" ? { rtol: 1e-5, atol: 1e-7 } : { rtol: 1e-14, atol: 1e-300 });
      } catch (e) {
        throw new Error(`${k}: ${(e as Error).message}`);
      }
    }
  });

  it("relu maps -inf to 0 (Theano's 0.5 * (x + |x|) would give NaN)", () => {
    const x = T.vector();
    expect(run(T.relu(x), [[x, array([-Infinity], "float64")]]).toArray()).toEqual([0]);
  });

  it("relu takes a symbolic alpha; a run-time shape mismatch of alpha raises ShapeError", () => {
    const c = fx.activations["relu_leaky_f64"]!;
    const a = nd(c.inputs[0]!);
    const x = T.vector();
    const alpha = T.scalar();
    expectClose(run(T.relu(x, alpha), [[x, a], [alpha, array(0.1, "float64")]]), nd(c.expected));
    const av = T.vector();
    expect(() => run(T.relu(x, av), [[x, zeros([3])], [av, zeros([2])]])).toThrow(ShapeError);
  });

  it("activations are elementwise graphs: 0-d, empty and size-1 inputs work and inferShape matches", () => {
    const x = T.matrix();
    for (const act of [T.relu(x), T.elu(x), T.selu(x), T.gelu(x), T.gelu(x, true)]) {
      for (const shape of [[2, 3], [1, 1], [0, 4]]) {
        const g = new Map([[x, randn(shape)]]);
        expect(evaluate([act], g)[0]!.shape).toEqual(shape);
        expect(inferredShapes([act], g)[0]).toEqual(shape);
      }
    }
    const s = T.scalar();
    expect(run(T.elu(s), [[s, array(-1, "float64")]]).item()).toBeCloseTo(Math.expm1(-1), 15);
  });

  it("graph-building failures: a non-tensor operand, an alpha of conflicting static shape", () => {
    expect(() => T.relu(new Variable({} as never) as never)).toThrow(TypeMismatchError);
    expect(() => T.elu(T.tensor({ dtype: "float64", shape: [3] }), T.tensor({ dtype: "float64", shape: [4] }))).toThrow(ShapeError);
    expect(() => T.gelu(T.tensor({ dtype: "bool", shape: [null] }).and(T.tensor({ dtype: "float32", shape: [null] })))).toThrow(TypeMismatchError);
  });
});

// ---------------------------------------------------------------------------------------------
describe("conv2d", () => {
  const optsOf = (p: Record<string, unknown>): T.Conv2dOptions => ({
    borderMode: p.border as T.BorderMode,
    subsample: p.subsample as [number, number] | undefined,
    filterFlip: p.flip as boolean | undefined,
    filterDilation: p.dilation as [number, number] | undefined,
  });

  it.each(Object.keys(fx.conv2d))("%s matches the NumPy reference, with static output shapes", (name) => {
    const c = fx.conv2d[name]!;
    const [a, w] = c.inputs.map(nd) as [NDArray, NDArray];
    const want = nd(c.expected);
    const x = sym(a);
    const f = sym(w);
    const out = T.conv2d(x, f, optsOf(c.params));
    expect(out.dtype).toBe(want.dtype);
    expectClose(run(out, [[x, a], [f, w]]), want, tol(want));
    // Non-contiguous input and filters.
    expectClose(run(out, [[x, strided(a)], [f, strided(w)]]), want, tol(want));
    // Fully known static shapes give a fully known output type.
    const xs = T.tensor({ dtype: a.dtype, shape: a.shape });
    const fs = T.tensor({ dtype: w.dtype, shape: w.shape });
    expect(T.conv2d(xs, fs, optsOf(c.params)).type.shape).toEqual(want.shape);
  });

  it("accepts Theano's snake_case option names", () => {
    const c = fx.conv2d["full_no_flip_sub"]!;
    const [a, w] = c.inputs.map(nd) as [NDArray, NDArray];
    const x = sym(a);
    const f = sym(w);
    const out = T.conv2d(x, f, { border_mode: "full", subsample: [3, 2], filter_flip: false });
    expectClose(run(out, [[x, a], [f, w]]), nd(c.expected));
  });

  it("inferShape matches the computed shape for every border mode, stride and dilation", () => {
    const x = T.tensor4();
    const f = T.tensor4();
    const configs: T.Conv2dOptions[] = [
      {},
      { borderMode: "full" },
      { borderMode: "half" },
      { borderMode: [2, 1], subsample: [2, 3] },
      { borderMode: "half", filterDilation: [2, 3], subsample: [3, 1] },
    ];
    for (const opts of configs) {
      const out = T.conv2d(x, f, opts);
      for (const [xs, fs] of [
        [[2, 3, 9, 8], [4, 3, 3, 2]],
        [[1, 1, 5, 5], [1, 1, 1, 1]],
        [[0, 2, 7, 7], [3, 2, 2, 3]],
      ] as const) {
        const g = new Map<TensorVariable, NDArray>([[x, randn([...xs])], [f, randn([...fs], 2)]]);
        expect(inferredShapes([out], g)[0], JSON.stringify(opts)).toEqual([...evaluate([out], g)[0]!.shape]);
      }
    }
  });

  it("handles an empty batch, zero output channels and 1x1 everything", () => {
    const x = T.tensor4();
    const f = T.tensor4();
    const out = T.conv2d(x, f);
    expect(run(out, [[x, zeros([0, 2, 4, 4])], [f, ones([3, 2, 2, 2])]]).shape).toEqual([0, 3, 3, 3]);
    expect(run(out, [[x, ones([1, 2, 4, 4])], [f, zeros([0, 2, 2, 2])]]).shape).toEqual([1, 0, 3, 3]);
    expect(run(out, [[x, array([[[[3]]]], "float64")], [f, array([[[[-2]]]], "float64")]]).toArray()).toEqual([[[[-6]]]]);
  });

  it("promotes mixed dtypes as NumPy (float32 input, float64 filters -> float64)", () => {
    expect(T.conv2d(T.ftensor4(), T.dtensor4()).dtype).toBe("float64");
    expect(T.conv2d(T.ftensor4(), T.ftensor4()).dtype).toBe("float32");
  });

  it("fails at graph-building time: channel mismatch, rank, bool, kernel larger than input, bad options", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, 3, 5, 5] });
    expect(() => T.conv2d(x, T.tensor({ dtype: "float64", shape: [4, 2, 3, 3] }))).toThrow(ShapeError);
    expect(() => T.conv2d(x, T.tensor({ dtype: "float64", shape: [4, 2, 3, 3] }))).toThrow(/3 channels.*expect 2/);
    expect(() => T.conv2d(T.tensor3(), T.tensor4())).toThrow(TypeMismatchError);
    expect(() => T.conv2d(T.tensor4(), T.matrix())).toThrow(TypeMismatchError);
    const b = T.tensor({ dtype: "bool", shape: [null, null, null, null] });
    expect(() => T.conv2d(b, b)).toThrow(TypeMismatchError);
    expect(() => T.conv2d(x, T.tensor({ dtype: "float64", shape: [1, 3, 6, 1] }))).toThrow(ShapeError);
    expect(() => T.conv2d(x, T.tensor4(), { borderMode: "same" as never })).toThrow(ShapeError);
    expect(() => T.conv2d(x, T.tensor4(), { subsample: [0, 1] })).toThrow(ShapeError);
    expect(() => new T.Conv2d().makeNode(T.ftensor4(), T.dtensor4())).toThrow(TypeMismatchError);
  });

  it("fails at run time with a ShapeError: channel mismatch, kernel larger than input", () => {
    const x = T.tensor4();
    const f = T.tensor4();
    const out = T.conv2d(x, f);
    expect(() => run(out, [[x, ones([1, 3, 5, 5])], [f, ones([2, 2, 3, 3])]])).toThrow(ShapeError);
    expect(() => run(out, [[x, ones([1, 1, 2, 5])], [f, ones([1, 1, 3, 3])]])).toThrow(/does not fit/);
  });

  it("output sizes follow Theano's formula", () => {
    expect(convOutputSize(7, 3, "valid", 0, 1, 1)).toBe(5);
    expect(convOutputSize(7, 3, "full", 0, 1, 1)).toBe(9);
    expect(convOutputSize(7, 2, "half", 0, 1, 1)).toBe(8);
    expect(convOutputSize(7, 3, [2, 0], 0, 2, 2)).toBe(4);
  });
});

// ---------------------------------------------------------------------------------------------
describe("pooling", () => {
  const pool = (x: TensorVariable, p: Record<string, unknown>): TensorVariable => {
    const opts = { ignoreBorder: p.ignore_border as boolean, stride: p.stride as [number, number] | undefined, pad: p.pad as [number, number] | undefined };
    const ws = p.ws as [number, number];
    const mode = p.mode as T.PoolMode;
    if (mode === "max") return T.maxPool2d(x, ws, opts);
    if (mode === "sum") return T.pool2d(x, ws, { ...opts, mode });
    return T.avgPool2d(x, ws, { ...opts, mode });
  };

  it.each(Object.keys(fx.pool))("%s matches the NumPy reference of Theano's pool_2d, with static shapes", (name) => {
    const c = fx.pool[name]!;
    const a = nd(c.inputs[0]!);
    const want = nd(c.expected);
    const x = sym(a);
    const out = pool(x, c.params);
    expect(out.dtype).toBe(want.dtype);
    expectClose(run(out, [[x, a]]), want, tol(want));
    expectClose(run(out, [[x, strided(a)]]), want, tol(want));
    expect(pool(T.tensor({ dtype: a.dtype, shape: a.shape }), c.params).type.shape).toEqual(want.shape);
  });

  it("inferShape matches the computed shape (ignoreBorder both ways, stride < ws and >= ws, padding)", () => {
    const x = T.tensor4();
    const outs = [
      T.maxPool2d(x, [2, 2]),
      T.maxPool2d(x, [2, 3], { ignoreBorder: false }),
      T.maxPool2d(x, [3, 2], { ignoreBorder: false, stride: [1, 1] }),
      T.avgPool2d(x, [3, 3], { pad: [1, 2], stride: [2, 1], mode: "average_exc_pad" }),
      T.pool2d(x, 2, { stride: 3, mode: "sum" }),
    ];
    for (const out of outs) {
      for (const shape of [[2, 3, 7, 6], [1, 1, 1, 1], [0, 2, 5, 4], [1, 1, 3, 9]]) {
        const g = new Map([[x, randn(shape)]]);
        let actual: number[];
        try {
          actual = [...evaluate([out], g)[0]!.shape];
        } catch {
          continue; // a window of only padding: covered below
        }
        expect(inferredShapes([out], g)[0], `${out.owner!.op} on [${shape}]`).toEqual(actual);
      }
    }
  });

  it("pools over the last two axes of any rank >= 2", () => {
    expect(T.maxPool2d(T.matrix(), 2).ndim).toBe(2);
    expect(T.maxPool2d(T.tensor5(), 2).ndim).toBe(5);
    const x = T.tensor({ dtype: "float64", shape: [null, 7, 6] });
    expect(T.maxPool2d(x, [2, 4], { ignoreBorder: false }).type.shape).toEqual([null, 4, 2]);
  });

  it("ints: max keeps the dtype exactly, average is floatX, sum widens as np.sum", () => {
    expect(T.maxPool2d(T.tensor({ dtype: "int64", shape: [null, null] }), 2).dtype).toBe("int64");
    expect(T.avgPool2d(T.imatrix(), 2).dtype).toBe("float64");
    expect(T.pool2d(T.tensor({ dtype: "int8", shape: [null, null] }), 2, { mode: "sum" }).dtype).toBe("int64");
    const x = T.lmatrix();
    const big = new NDArray("int64", [1, 2], BigInt64Array.of(2n ** 60n + 1n, 5n));
    expect(run(T.maxPool2d(x, [1, 2]), [[x, big]]).getBig(0, 0)).toBe(2n ** 60n + 1n);
  });

  it("fails at graph-building time: padding without ignoreBorder, padding >= window, bad sizes, rank < 2, bool", () => {
    expect(() => T.maxPool2d(T.tensor4(), 2, { ignoreBorder: false, pad: 1 })).toThrow(ShapeError);
    expect(() => T.maxPool2d(T.tensor4(), 2, { pad: [2, 0] })).toThrow(ShapeError);
    expect(() => T.maxPool2d(T.tensor4(), [0, 2])).toThrow(ShapeError);
    expect(() => T.maxPool2d(T.tensor4(), 2, { stride: 0 })).toThrow(ShapeError);
    expect(() => T.maxPool2d(T.vector(), 2)).toThrow(TypeMismatchError);
    expect(() => T.maxPool2d(T.tensor({ dtype: "bool", shape: [null, null] }), 2)).toThrow(TypeMismatchError);
    expect(() => T.avgPool2d(T.matrix(), 2, { mode: "max" as never })).toThrow(ShapeError);
    expect(() => new T.Pool(2, true, 2, 0, "average_inc_pad").makeNode(T.imatrix())).toThrow(TypeMismatchError);
  });

  it("fails at run time with a ShapeError: a max window of only padding, a value of the wrong rank", () => {
    const x = T.tensor4();
    const out = T.maxPool2d(x, 2, { pad: 1 });
    expect(() => run(out, [[x, zeros([1, 1, 0, 0])]])).toThrow(ShapeError);
    const node = out.owner!;
    expect(() => node.op.perform(node, [zeros([2, 2])])).toThrow(ShapeError);
  });

  it("output sizes follow Theano's formula", () => {
    expect(poolOutputSize(5, 2, 2, 0, true)).toBe(2);
    expect(poolOutputSize(5, 2, 2, 0, false)).toBe(3);
    expect(poolOutputSize(5, 3, 1, 0, false)).toBe(3);
    expect(poolOutputSize(5, 3, 2, 1, true)).toBe(3);
    expect(poolOutputSize(1, 3, 3, 0, true)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
describe("dropout", () => {
  const x = T.vector("x");
  const n = 20000;
  const data = ones([n]);

  it("keeps about 1 - p of the elements and scales them by 1 / (1 - p) (inverted dropout)", () => {
    for (const p of [0.1, 0.5, 0.8]) {
      const out = run(T.dropout(x, p, { seed: 42 }), [[x, data]]).toFlat() as Float64Array;
      const kept = out.filter((v) => v !== 0);
      expect(kept.every((v) => Math.abs(v - 1 / (1 - p)) < 1e-12)).toBe(true);
      const sigma = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(kept.length / n - (1 - p))).toBeLessThan(5 * sigma);
      // No drift along the array: both halves keep about the same share.
      const firstHalf = out.subarray(0, n / 2).filter((v) => v !== 0).length / (n / 2);
      expect(Math.abs(firstHalf - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / (n / 2)));
    }
  });

  it("is deterministic per seed, differs across seeds and across ops made without a seed", () => {
    const a = run(T.dropout(x, 0.5, { seed: 7 }), [[x, data]]).toFlat();
    const b = run(T.dropout(x, 0.5, { seed: 7 }), [[x, data]]).toFlat();
    const c = run(T.dropout(x, 0.5, { seed: 8 }), [[x, data]]).toFlat();
    expect(Array.from(a as Float64Array)).toEqual(Array.from(b as Float64Array));
    expect(Array.from(a as Float64Array)).not.toEqual(Array.from(c as Float64Array));
    const d1 = T.dropout(x, 0.5);
    const d2 = T.dropout(x, 0.5);
    expect(d1.owner!.op.equals(d2.owner!.op)).toBe(false);
    expect(String(T.dropout(x, 0.25, { seed: 3 }).owner!.op)).toBe("Dropout{p=0.25, seed=3}");
  });

  it("masks by position in C order: a strided input gives the same result as its copy", () => {
    const m = T.matrix();
    const v = randn([30, 40]);
    const out = T.dropout(m, 0.3, { seed: 5 });
    expectClose(run(out, [[m, strided(v)]]), run(out, [[m, v]]));
  });

  it("p = 0 is the identity, p = 1 gives zeros; 0-d, empty and float32 inputs work; ints become floatX", () => {
    const v = randn([5]);
    expectClose(run(T.dropout(x, 0, { seed: 1 }), [[x, v]]), v);
    expect(run(T.dropout(x, 1, { seed: 1 }), [[x, v]]).toArray()).toEqual([0, 0, 0, 0, 0]);
    const s = T.scalar();
    expect([0, 2]).toContain(run(T.dropout(s, 0.5, { seed: 1 }), [[s, array(1, "float64")]]).item());
    expect(run(T.dropout(x, 0.5, { seed: 1 }), [[x, zeros([0])]]).shape).toEqual([0]);
    const f = T.fvector();
    expect(run(T.dropout(f, 0.5, { seed: 1 }), [[f, ones([4], "float32")]]).dtype).toBe("float32");
    expect(T.dropout(T.ivector(), 0.5).dtype).toBe("float64");
  });

  it("inferShape is the input's shape", () => {
    const m = T.matrix();
    const out = T.dropout(m, 0.5, { seed: 1 });
    for (const shape of [[3, 4], [1, 1], [0, 2]]) expect(inferredShapes([out], new Map([[m, randn(shape)]]))[0]).toEqual(shape);
  });

  it("fails at graph-building time for p outside [0, 1], a bad seed or a non-float input to the op", () => {
    expect(() => T.dropout(x, 1.5)).toThrow(InputError);
    expect(() => T.dropout(x, -0.1)).toThrow(InputError);
    expect(() => T.dropout(x, NaN)).toThrow(InputError);
    expect(() => T.dropout(x, 0.5, { seed: -1 })).toThrow(InputError);
    expect(() => T.dropout(x, 0.5, { seed: 1.5 })).toThrow(InputError);
    expect(() => new T.Dropout(0.5, 1).makeNode(T.ivector())).toThrow(TypeMismatchError);
  });

  it("fails at run time for a value that does not fit the node's type", () => {
    const node = T.dropout(x, 0.5, { seed: 1 }).owner!;
    expect(() => node.op.perform(node, [zeros([2, 2])])).toThrow(ShapeError);
    expect(() => node.op.perform(node, [zeros([2], "int64")])).toThrow(TypeMismatchError);
  });
});

describe("the T.nnet namespace", () => {
  it("holds every helper, sigmoid/softplus being the elementwise ones", () => {
    expect(Object.keys(T.nnet).sort()).toEqual(
      ["avgPool2d", "binaryCrossentropy", "categoricalCrossentropy", "conv2d", "crossentropyCategorical1Hot", "dropout", "elu", "gelu", "logSoftmax", "maxPool2d", "pool2d", "relu", "selu", "sigmoid", "softmax", "softplus"].sort(),
    );
    expect(T.nnet.sigmoid).toBe(T.sigmoid);
    expect(T.nnet.softplus).toBe(T.softplus);
    expect(T.nnet.softmax).toBe(T.softmax);
    expect(T.nnet.conv2d).toBe(T.conv2d);
  });
});
