/**
 * The C generators of convolution and pooling (src/link/c/ops/conv.ts): Conv2d and its two
 * gradient ops, Pool, MaxPoolGrad, MaxPoolGradGrad and AveragePoolGrad agree with the same graph
 * run by `perform` (Mode "py"), for border modes (valid, full, half, explicit pads), strides,
 * dilations, flipped and unflipped filters, every pooling mode with and without ignoreBorder,
 * strides and padding; on contiguous inputs, strided ones (transposed values and dimshuffle views
 * in the graph), size-1 and empty batches, in float32 and float64; on one thread and on OpenMP
 * teams. The compiled graphs have no host node for these ops, and bad shapes give perform's
 * ShapeError (same wording) from the shape phase, before any kernel runs.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Apply, Variable } from "../../../src/graph/basic.js";
import { cSource } from "../../../src/link/c/linker.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { AveragePoolGrad, Conv2d, Conv2dGradInputs, Conv2dGradWeights, MaxPoolGrad, MaxPoolGradGrad, Pool, type Conv2dParams, type PoolMode } from "../../../src/tensor/conv.js";
import { expectClose } from "../../helpers.js";
import { poolFill, rand, requireCompiler, yieldToRunner } from "./agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

const CF = new theano.Mode("c", "fast_run");
const PY = new theano.Mode("py", "fast_run");
const FAMILY = [Conv2d, Conv2dGradInputs, Conv2dGradWeights, Pool, MaxPoolGrad, MaxPoolGradGrad, AveragePoolGrad];
const inFamily = (n: Apply): boolean => FAMILY.some((c) => n.op instanceof c);

/** float32 sums in C accumulate in float32 (perform in float64): a looser tolerance there. */
const tol = (d: DType): { rtol: number; atol: number } => (d === "float32" ? { rtol: 2e-4, atol: 2e-4 } : { rtol: 1e-9, atol: 1e-10 });

/** Compiles `outs` for C (asserting that every conv/pool node is in C) and for perform; compares them on each case. */
function agree(ins: Variable[], outs: TV[], cases: Array<[string, unknown[]]>, dtype: DType, minFamily = 1): void {
  const fc = theano.function(ins, outs, { mode: CF, onUnusedInput: "ignore" });
  const prog = cSource(fc.fgraph);
  const host = prog.steps.flatMap((s) => (s.kind === "host" && inFamily(s.node) ? [String(s.node.op)] : []));
  expect(host, "conv/pool nodes left on the host").toEqual([]);
  const inC = prog.segments.flatMap((s) => s.nodes).filter(inFamily).length;
  expect(inC).toBeGreaterThanOrEqual(minFamily);
  const fp = theano.function(ins, outs, { mode: PY, onUnusedInput: "ignore" });
  for (const [what, values] of cases) {
    const got = fc(...(values as never[])) as NDArray[];
    const want = fp(...(values as never[])) as NDArray[];
    outs.forEach((o, i) => {
      try {
        expectClose(got[i]!, want[i]!, tol(dtype));
      } catch (e) {
        throw new Error(`${what}: output ${i} (${o.owner ? String(o.owner.op) : o.label}): ${(e as Error).message}`);
      }
    });
  }
}

/** The same ShapeError (matching `msg`) from C and from perform. */
function bothFail(ins: Variable[], outs: TV[], values: unknown[], msg: RegExp): void {
  const fc = theano.function(ins, outs, { mode: CF, onUnusedInput: "ignore" });
  const host = cSource(fc.fgraph).steps.flatMap((s) => (s.kind === "host" && inFamily(s.node) ? [String(s.node.op)] : []));
  expect(host).toEqual([]);
  const fp = theano.function(ins, outs, { mode: PY, onUnusedInput: "ignore" });
  for (const f of [fc, fp]) {
    let err: unknown = null;
    try {
      f(...(values as never[]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(theano.ShapeError);
    expect((err as Error).message).toMatch(msg);
  }
}

/** A value of `shape` laid out as asked: contiguous, or a transposed (strided) view of the same logical array. */
function value(dtype: DType, shape: number[], seed: number, layout: "contiguous" | "strided"): NDArray {
  if (layout === "contiguous") return rand(dtype, shape, seed);
  // the last two axes swapped in memory, then swapped back: a view with non-unit inner strides
  const n = shape.length;
  const perm = [...Array(n).keys()];
  [perm[n - 2], perm[n - 1]] = [perm[n - 1]!, perm[n - 2]!];
  return rand(dtype, perm.map((a) => shape[a]!), seed).transpose(...perm);
}

const CONV_OPTIONS: Array<[string, Conv2dParams]> = [
  ["valid", {}],
  ["full, subsample (2, 3), no flip", { borderMode: "full", subsample: [2, 3], filterFlip: false }],
  ["half, dilation (2, 1)", { borderMode: "half", filterDilation: [2, 1] }],
  ["pads (1, 2), subsample 2, dilation 2, no flip", { borderMode: [1, 2], subsample: 2, filterDilation: 2, filterFlip: false }],
  ["pad 1, subsample (1, 2)", { borderMode: 1, subsample: [1, 2] }],
];

/**
 * Conv2d with each option set, and its gradients by theano.grad (Conv2dGradInputs and
 * Conv2dGradWeights whose sizes come from Shape_i arithmetic, computed in the shape phase),
 * on the input as given and on a dimshuffle view of it.
 */
function convGraph(dtype: DType): { ins: Variable[]; outs: TV[] } {
  const x = T.tensor({ dtype, shape: [null, null, null, null], name: "x" });
  const w = T.tensor({ dtype, shape: [null, null, null, null], name: "w" });
  const outs: TV[] = [];
  for (const [, opts] of CONV_OPTIONS) {
    for (const xin of [x, x.dimshuffle(0, 1, 3, 2)]) {
      const out = new Conv2d(opts).call(xin, w) as TV;
      const cost = T.sum(T.sqr(out).mul(0.5).add(out));
      const [gx, gw] = theano.grad(cost, [x, w]) as TV[];
      outs.push(out, gx!, gw!);
    }
  }
  // after a pooling, the gradient's input size is Elemwise arithmetic on shapes (the pooled size)
  const pooled = T.conv2d(T.maxPool2d(x, 2, { ignoreBorder: false }), w, { borderMode: "half" });
  outs.push(pooled, ...(theano.grad(T.sum(T.sqr(pooled)), [x, w]) as TV[]));
  return { ins: [x, w], outs };
}

describe("C generators for conv2d and its gradients", () => {
  it("need a C compiler", () => requireCompiler());

  for (const dtype of ["float64", "float32"] as DType[]) {
    it(`agree with perform: ${CONV_OPTIONS.map(([n]) => n).join("; ")} (${dtype})`, async () => {
      const { ins, outs } = convGraph(dtype);
      const cases: Array<[string, unknown[]]> = [];
      for (const layout of ["contiguous", "strided"] as const) {
        cases.push([`${layout} batch 3`, [value(dtype, [3, 2, 9, 9], 1, layout), value(dtype, [4, 2, 3, 3], 2, layout)]]);
        cases.push([`${layout} batch 1, 1 channel, 1x1 kernel`, [value(dtype, [1, 1, 7, 8], 3, layout), value(dtype, [2, 1, 1, 1], 4, layout)]]);
      }
      cases.push(["empty batch", [rand(dtype, [0, 2, 9, 9], 5), rand(dtype, [4, 2, 3, 3], 6)]]);
      cases.push(["no output channels", [rand(dtype, [2, 2, 9, 9], 5), rand(dtype, [0, 2, 3, 3], 6)]]);
      cases.push(["no input channels", [rand(dtype, [2, 0, 9, 9], 5), rand(dtype, [3, 0, 3, 3], 6)]]);
      cases.push(["non-square kernel, tall image", [rand(dtype, [2, 3, 11, 6], 7), rand(dtype, [2, 3, 2, 4], 8)]]);
      agree(ins, outs, cases, dtype, CONV_OPTIONS.length * 2 * 3 + 5);
      await yieldToRunner();
    });
  }

  it("agrees on OpenMP teams (batch on threads, partial weight gradients added in thread order)", async () => {
    theano.config.change({ openmp_elemwise_minsize: 0 }, () => {
      const { ins, outs } = convGraph("float64");
      agree(ins, outs.slice(0, 6), [
        ["batch 5", [rand("float64", [5, 2, 9, 9], 9), rand("float64", [4, 2, 3, 3], 10)]],
        ["batch 2 strided", [value("float64", [2, 2, 9, 9], 11, "strided"), value("float64", [4, 2, 3, 3], 12, "strided")]],
        ["batch 1", [rand("float64", [1, 2, 9, 9], 13), rand("float64", [4, 2, 3, 3], 14)]],
        // 7x7 outputs: images go to the GEMM ten at a time, in groups of 10, 10 and 3
        ["batch 23 (groups of images)", [rand("float64", [23, 2, 9, 9], 17), rand("float64", [4, 2, 3, 3], 18)]],
        // products big enough for the GEMM's own threads (batch 1: images one by one)
        ["batch 1, 2.4M MACs per image", [rand("float64", [1, 8, 34, 34], 15), rand("float64", [32, 8, 3, 3], 16)]],
      ], "float64");
    });
    await yieldToRunner();
  });

  it("gradient ops with sizes from graph inputs, and odd input sizes that strides leave uncovered", () => {
    const w = T.dtensor4("w");
    const gz = T.dtensor4("gz");
    const x = T.dtensor4("x");
    const [rows, cols] = [T.lscalar("rows"), T.lscalar("cols")];
    const params: Conv2dParams = { borderMode: [1, 0], subsample: [2, 3] };
    const gi = new Conv2dGradInputs(params).call(w, gz, rows, cols) as TV;
    const gw = new Conv2dGradWeights(params).call(x, gz, rows, cols) as TV;
    // w: 3 filters of 2 channels 3x2; an input of 8x7 (rows 8 + 2 pad - 3)/2 + 1 = 4, (7 - 2)/3 + 1 = 2
    const r = (s: number[], k: number): NDArray => rand("float64", s, k);
    agree([w, gz, rows, cols], [gi], [
      ["8x7", [r([3, 2, 3, 2], 1), r([2, 3, 4, 2], 2), theano.array(8, "int64"), theano.array(7, "int64")]],
      ["7x5 (the same output size)", [r([3, 2, 3, 2], 1), r([2, 3, 4, 2], 2), theano.array(7, "int64"), theano.array(5, "int64")]],
    ], "float64");
    agree([x, gz, rows, cols], [gw], [
      ["3x2 kernel", [r([2, 2, 8, 7], 3), r([2, 3, 4, 2], 4), theano.array(3, "int64"), theano.array(2, "int64")]],
      ["transposed x", [r([2, 2, 7, 8], 3).transpose(0, 1, 3, 2), r([2, 3, 4, 2], 4), theano.array(3, "int64"), theano.array(2, "int64")]],
    ], "float64");
  });

  it("gradient ops whose sizes are constants (static input shapes)", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, 3, 10, 9], name: "x" });
    const w = T.tensor({ dtype: "float32", shape: [4, 3, 3, 2], name: "w" });
    const out = T.conv2d(x, w, { borderMode: "full", subsample: 2 });
    const [gx, gw] = theano.grad(T.sum(T.sqr(out)), [x, w]) as TV[];
    agree([x, w], [out, gx!, gw!], [["batch 2", [rand("float32", [2, 3, 10, 9], 1), rand("float32", [4, 3, 3, 2], 2)]]], "float32", 3);
  });

  it("bad shapes: perform's ShapeError, from the shape phase", () => {
    const x = T.dtensor4("x");
    const w = T.dtensor4("w");
    const out = T.conv2d(x, w);
    const d = (s: number[]): NDArray => rand("float64", s, 1);
    bothFail([x, w], [out], [d([2, 3, 5, 5]), d([4, 2, 3, 3])], /has 3 channels but the filters \(shape \[4, 2, 3, 3\]\) expect 2/);
    bothFail([x, w], [out], [d([2, 2, 5, 5]), d([4, 2, 6, 3])], /conv2d: a kernel of 6 \(dilated to 6\) does not fit an input of 5 on spatial axis 0/);
    bothFail([x, w], [T.conv2d(x, w, { borderMode: 1, filterDilation: [1, 3] })], [d([2, 2, 5, 3]), d([4, 2, 3, 3])], /a kernel of 3 \(dilated to 7\) does not fit an input of 3 padded by 1 on spatial axis 1/);
    bothFail([x, w], [out], [d([2, 2, 5, 5]), d([4, 2, 0, 3])], /a kernel of 0 .*does not fit/);
    const gz = T.dtensor4("gz");
    const [rows, cols] = [T.lscalar("rows"), T.lscalar("cols")];
    const L = (n: number): NDArray => theano.array(n, "int64");
    const gi = new Conv2dGradInputs({}).call(w, gz, rows, cols) as TV;
    bothFail([w, gz, rows, cols], [gi], [d([3, 2, 3, 3]), d([2, 3, 4, 4]), L(5), L(6)], /output gradient has shape \[2, 3, 4, 4\] but the convolution's output has shape \[2, 3, 3, 4\]/);
    bothFail([w, gz, rows, cols], [gi], [d([3, 2, 3, 3]), d([2, 4, 3, 3]), L(5), L(5)], /output gradient has shape \[2, 4, 3, 3\] but the convolution's output has shape \[2, 3, 3, 3\]/);
    bothFail([w, gz, rows, cols], [gi], [d([3, 2, 3, 3]), d([2, 3, 1, 1]), L(2), L(3)], /a kernel of 3 \(dilated to 3\) does not fit an input of 2 on spatial axis 0/);
    const gw = new Conv2dGradWeights({}).call(x, gz, rows, cols) as TV;
    bothFail([x, gz, rows, cols], [gw], [d([2, 2, 5, 5]), d([3, 3, 3, 3]), L(3), L(3)], /output gradient has shape \[3, 3, 3, 3\] but the convolution's output has shape \[2, 3, 3, 3\]/);
    // C also rejects what perform leaves to a RangeError: a negative input size that fits with padding
    const full = new Conv2dGradInputs({ borderMode: "full" }).call(w, gz, rows, cols) as TV;
    const fc = theano.function([w, gz, rows, cols], full, { mode: CF });
    expect(() => fc(d([3, 2, 3, 3]), d([2, 3, 1, 1]), L(-1), L(-1))).toThrow(theano.ShapeError);
    expect(() => fc(d([3, 2, 3, 3]), d([2, 3, 1, 1]), L(-1), L(-1))).toThrow(/negative input size \(-1, -1\)/);
  });
});

// ---------------------------------------------------------------------------------------------

type PoolCase = [string, number | [number, number], { ignoreBorder: boolean; stride?: number | [number, number]; pad?: number | [number, number] }];
const POOL_OPTIONS: PoolCase[] = [
  ["2x2", 2, { ignoreBorder: true }],
  ["3x2 stride (1, 2), no ignoreBorder", [3, 2], { ignoreBorder: false, stride: [1, 2] }],
  ["3 stride 2 pad (1, 2)", 3, { ignoreBorder: true, stride: 2, pad: [1, 2] }],
  ["2x3 stride 3, no ignoreBorder", [2, 3], { ignoreBorder: false, stride: 3 }],
  // whole windows with gaps between them (the branch-free loops of whole windows, run-time geometry)
  ["2x3 stride (3, 4)", [2, 3], { ignoreBorder: true, stride: [3, 4] }],
];
const MODES: PoolMode[] = ["max", "sum", "average_inc_pad", "average_exc_pad"];

/**
 * Every pooling mode with each option set, on a 4-d input and on a transposed view of it, with
 * the gradient (MaxPoolGrad / AveragePoolGrad) and, for max, the gradient's own gradient
 * (MaxPoolGradGrad).
 */
function poolGraph(dtype: DType, ndim: number): { ins: Variable[]; outs: TV[] } {
  const x = T.tensor({ dtype, shape: Array(ndim).fill(null), name: "x" });
  const gxIn = T.tensor({ dtype, shape: Array(ndim).fill(null), name: "gx" });
  const outs: TV[] = [];
  const swap = [...Array(ndim).keys()];
  [swap[ndim - 2], swap[ndim - 1]] = [swap[ndim - 1]!, swap[ndim - 2]!];
  for (const [, ws, opts] of POOL_OPTIONS) {
    for (const mode of MODES) {
      const xin = mode === "max" ? x.dimshuffle(...swap) : x;
      const op = new Pool(ws, opts.ignoreBorder, opts.stride, opts.pad ?? 0, mode);
      const out = op.call(xin) as TV;
      const [g] = theano.grad(T.sum(T.sqr(out)), [x]) as TV[];
      outs.push(out, g!);
      if (mode === "max") outs.push(new MaxPoolGradGrad(ws, opts.ignoreBorder, opts.stride, opts.pad ?? 0, "max").call(xin, out, gxIn.dimshuffle(...swap)) as TV);
    }
  }
  return { ins: [x, gxIn], outs };
}

describe("C generators for pooling and its gradients", () => {
  it("need a C compiler", () => requireCompiler());

  for (const dtype of ["float64", "float32"] as DType[]) {
    it(`agree with perform: every mode, ${POOL_OPTIONS.map(([n]) => n).join("; ")} (${dtype})`, async () => {
      const { ins, outs } = poolGraph(dtype, 4);
      const cases: Array<[string, unknown[]]> = [];
      for (const layout of ["contiguous", "strided"] as const) cases.push([`${layout} 2x3x7x8`, [value(dtype, [2, 3, 7, 8], 1, layout), value(dtype, [2, 3, 7, 8], 2, layout)]]);
      // NaN, infinities, ties and signed zeros (max pooling's first maximum; the gradient's ties)
      cases.push(["special values", [poolFill(dtype, [1, 2, 9, 9], 1), poolFill(dtype, [1, 2, 9, 9], 2)]]);
      // 2x2 windows that tile the plane exactly (the vectorised 2x2 loops), and one row short
      cases.push(["special values, 8x8", [poolFill(dtype, [1, 2, 8, 8], 3), poolFill(dtype, [1, 2, 8, 8], 4)]]);
      cases.push(["contiguous 3x2x9x34", [rand(dtype, [3, 2, 9, 34], 9), rand(dtype, [3, 2, 9, 34], 10)]]);
      cases.push(["batch 1", [rand(dtype, [1, 1, 5, 6], 3), rand(dtype, [1, 1, 5, 6], 4)]]);
      cases.push(["empty batch", [rand(dtype, [0, 3, 7, 8], 5), rand(dtype, [0, 3, 7, 8], 6)]]);
      cases.push(["windows bigger than the input", [rand(dtype, [2, 1, 1, 2], 7), rand(dtype, [2, 1, 1, 2], 8)]]);
      agree(ins, outs, cases, dtype, POOL_OPTIONS.length * (MODES.length * 2 + 1));
      await yieldToRunner();
    });
  }

  it("pools the last two axes of a matrix and of a 5-d tensor, on OpenMP teams too", async () => {
    for (const minsize of [65536, 0]) {
      theano.config.change({ openmp_elemwise_minsize: minsize }, () => {
        const m = poolGraph("float64", 2);
        agree(m.ins, m.outs.slice(0, 9), [["7x8", [rand("float64", [7, 8], 1), rand("float64", [7, 8], 2)]]], "float64");
        const t = poolGraph("float64", 5);
        agree(t.ins, t.outs.slice(0, 9), [
          ["2x2x3x6x5", [rand("float64", [2, 2, 3, 6, 5], 3), rand("float64", [2, 2, 3, 6, 5], 4)]],
          ["transposed leading axes", [rand("float64", [3, 2, 2, 6, 5], 3).transpose(2, 1, 0, 3, 4), rand("float64", [2, 2, 3, 6, 5], 4)]],
        ], "float64");
      });
      await yieldToRunner();
    }
  });

  it("bad shapes: perform's ShapeError, from the shape phase", () => {
    const x = T.dtensor4("x");
    const d = (s: number[]): NDArray => rand("float64", s, 1);
    // a window that holds only padding: an empty image padded by 1
    bothFail([x], [T.maxPool2d(x, 2, { pad: 1, stride: 1 })], [d([1, 2, 0, 3])], /output \(0, 0\) of an input of shape \[1, 2, 0, 3\] pools a window that holds only padding/);
    bothFail([x], [T.maxPool2d(x, [2, 3], { ignoreBorder: false, stride: 1 })], [d([1, 1, 4, 0])], /output \(0, 0\) .*holds only padding/);
    const mo = T.dtensor4("maxout");
    const gz = T.dtensor4("gz");
    const mg = new MaxPoolGrad(2).call(x, mo, gz) as TV;
    bothFail([x, mo, gz], [mg], [d([1, 2, 4, 4]), d([1, 2, 2, 3]), d([1, 2, 2, 2])], /the pooled maximum has shape \[1, 2, 2, 3\] but pooling an input of shape \[1, 2, 4, 4\] gives \[1, 2, 2, 2\]/);
    bothFail([x, mo, gz], [mg], [d([1, 2, 4, 4]), d([1, 2, 2, 2]), d([2, 2, 2, 2])], /the output gradient has shape \[2, 2, 2, 2\] but pooling/);
    const gg = new MaxPoolGradGrad(2).call(x, mo, gz) as TV;
    bothFail([x, mo, gz], [gg], [d([1, 2, 4, 4]), d([1, 2, 2, 2]), d([1, 2, 4, 5])], /the gradient has shape \[1, 2, 4, 5\] but the input has \[1, 2, 4, 4\]/);
    const [rows, cols] = [T.lscalar("rows"), T.lscalar("cols")];
    const ag = new AveragePoolGrad(2, true, undefined, 0, "average_inc_pad").call(gz, rows, cols) as TV;
    const L = (n: number): NDArray => theano.array(n, "int64");
    bothFail([gz, rows, cols], [ag], [d([1, 2, 2, 2]), L(-1), L(4)], /negative input size \(-1, 4\)/);
    bothFail([gz, rows, cols], [ag], [d([1, 2, 2, 2]), L(6), L(4)], /the output gradient has shape \[1, 2, 2, 2\] but pooling an input of shape \[1, 2, 6, 4\] gives \[1, 2, 3, 2\]/);
    // a window of 0 is refused when the op is made, as perform's graph is
    expect(() => T.maxPool2d(x, 0)).toThrow(theano.ShapeError);
  });
});
