/**
 * 2-d convolution and pooling (Theano's `tensor/nnet/abstract_conv.py` `conv2d` and
 * `tensor/signal/pool.py` `pool_2d`), part of `T.nnet`.
 *
 * Layouts are Theano's: input batch x channels x rows x cols, filters outChannels x inChannels x
 * kRows x kCols. `conv2d` flips the kernels by default (a true convolution, `filterFlip: true`);
 * `filterFlip: false` correlates. Pooling works over the last two axes of a tensor of any rank
 * >= 2 with Theano's output-size rules for `ignoreBorder`, strides and zero padding (padding is
 * never part of a max, and is counted by "average_inc_pad" only).
 *
 * `perform` is the plain reference loop (accumulating in float64, so int64 sums are exact only
 * below 2**53; max pooling copies elements and is always exact); backends generate faster code.
 * Output sizes are static wherever the inputs' sizes are, and inconsistent sizes fail at
 * graph-building time when they are known then.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, isFloat, resultType, upcastToFloat } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import * as math from "./math.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant } from "./variable.js";

type Pair = readonly [number, number];
export type BorderMode = "valid" | "full" | "half" | number | Pair;

function pair(v: number | Pair, what: string, min: number): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new ShapeError(`${what} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Int64 scalar arithmetic for inferShape: constants stay constants. */
const int64 = (n: number): TensorVariable => constant(n, { dtype: "int64" });
const tv = (v: Variable): TensorVariable => v as TensorVariable;

// ---------------------------------------------------------------------------------------------
// Convolution

export interface Conv2dOptions {
  /** "valid" (no padding), "full" (kernel - 1), "half" (kernel // 2), or explicit padding. */
  borderMode?: BorderMode;
  border_mode?: BorderMode;
  subsample?: number | Pair;
  /** true (the default): convolution, kernels flipped; false: cross-correlation. */
  filterFlip?: boolean;
  filter_flip?: boolean;
  filterDilation?: number | Pair;
  filter_dilation?: number | Pair;
}

/** Output size along one axis; throws when the (dilated) kernel does not fit the padded input. */
export function convOutputSize(size: number, kernel: number, mode: BorderMode, axis: 0 | 1, stride: number, dilation: number): number {
  const dk = (kernel - 1) * dilation + 1;
  const pad = padFor(mode, dk, axis);
  if (kernel < 1 || size + 2 * pad < dk) {
    throw new ShapeError(`conv2d: a kernel of ${kernel} (dilated to ${dk}) does not fit an input of ${size}${pad ? ` padded by ${pad}` : ""} on spatial axis ${axis}`);
  }
  return Math.floor((size + 2 * pad - dk) / stride) + 1;
}

function padFor(mode: BorderMode, dk: number, axis: 0 | 1): number {
  if (mode === "valid") return 0;
  if (mode === "full") return dk - 1;
  if (mode === "half") return Math.floor(dk / 2);
  return typeof mode === "number" ? mode : mode[axis];
}

/** `conv2d` as an op: Theano's AbstractConv2d with its parameters as props. */
export class Conv2d extends Op {
  readonly borderMode: "valid" | "full" | "half" | Pair;
  readonly subsample: Pair;
  readonly filterFlip: boolean;
  readonly filterDilation: Pair;

  constructor(opts: { borderMode?: BorderMode; subsample?: number | Pair; filterFlip?: boolean; filterDilation?: number | Pair } = {}) {
    super();
    const bm = opts.borderMode ?? "valid";
    if (typeof bm === "string") {
      if (bm !== "valid" && bm !== "full" && bm !== "half") throw new ShapeError(`conv2d: borderMode must be "valid", "full", "half" or padding [ph, pw], got ${JSON.stringify(bm)}`);
      this.borderMode = bm;
    } else this.borderMode = Object.freeze(pair(bm, "conv2d borderMode padding", 0));
    this.subsample = Object.freeze(pair(opts.subsample ?? 1, "conv2d subsample", 1));
    this.filterFlip = opts.filterFlip ?? true;
    this.filterDilation = Object.freeze(pair(opts.filterDilation ?? 1, "conv2d filterDilation", 1));
  }

  override props(): Record<string, unknown> {
    return { borderMode: this.borderMode, subsample: this.subsample, filterFlip: this.filterFlip, filterDilation: this.filterDilation };
  }

  makeNode(input: Variable, filters: Variable): Apply {
    const it = tensorType(input);
    const ft = tensorType(filters);
    if (it.ndim !== 4) throw new TypeMismatchError(`conv2d: the input must be 4-d (batch, channels, rows, cols), got ${input.label}: ${it}`);
    if (ft.ndim !== 4) throw new TypeMismatchError(`conv2d: the filters must be 4-d (outChannels, inChannels, rows, cols), got ${filters.label}: ${ft}`);
    if (it.dtype !== ft.dtype || it.dtype === "bool") throw new TypeMismatchError(`conv2d: input and filters need one numeric dtype, got ${it.dtype} and ${ft.dtype} (T.conv2d promotes them)`);
    const c = it.shape[1]!;
    const fc = ft.shape[1]!;
    if (c !== null && fc !== null && c !== fc) {
      throw new ShapeError(`conv2d: the input has ${c} channels but the filters expect ${fc} (input ${formatStaticShape(it.shape)}, filters ${formatStaticShape(ft.shape)})`);
    }
    const spatial = [0, 1].map((a) => {
      const i = it.shape[2 + a]!;
      const k = ft.shape[2 + a]!;
      return i === null || k === null ? null : convOutputSize(i, k, this.borderMode, a as 0 | 1, this.subsample[a]!, this.filterDilation[a]!);
    });
    return new Apply(this, [input, filters], [new TensorType(it.dtype, [it.shape[0]!, ft.shape[0]!, ...spatial])]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [x, w] = inputs as NDArray[];
    checkInputs(node, [x!, w!]);
    const [B, C, H, W] = x!.shape as [number, number, number, number];
    const [O, FC, KH, KW] = w!.shape as [number, number, number, number];
    if (C !== FC) throw new ShapeError(`${this}: the input (shape [${x!.shape.join(", ")}]) has ${C} channels but the filters (shape [${w!.shape.join(", ")}]) expect ${FC}`);
    const [sh, sw] = this.subsample;
    const [dh, dw] = this.filterDilation;
    const OH = convOutputSize(H, KH, this.borderMode, 0, sh, dh);
    const OW = convOutputSize(W, KW, this.borderMode, 1, sw, dw);
    const ph = padFor(this.borderMode, (KH - 1) * dh + 1, 0);
    const pw = padFor(this.borderMode, (KW - 1) * dw + 1, 1);
    const xs = numbers(x!);
    const ws = numbers(w!);
    const out = new Float64Array(B * O * OH * OW);
    let k = 0;
    for (let b = 0; b < B; b++) {
      for (let o = 0; o < O; o++) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            let acc = 0;
            for (let c = 0; c < C; c++) {
              const xBase = (b * C + c) * H * W;
              const wBase = (o * C + c) * KH * KW;
              for (let i = 0; i < KH; i++) {
                const iy = oy * sh + i * dh - ph;
                if (iy < 0 || iy >= H) continue;
                const wi = this.filterFlip ? KH - 1 - i : i;
                for (let j = 0; j < KW; j++) {
                  const ix = ox * sw + j * dw - pw;
                  if (ix < 0 || ix >= W) continue;
                  const wj = this.filterFlip ? KW - 1 - j : j;
                  acc += xs[xBase + iy * W + ix]! * ws[wBase + wi * KW + wj]!;
                }
              }
            }
            out[k++] = acc;
          }
        }
      }
    }
    return [fromFloat64(out, [B, O, OH, OW], (node.outputs[0]!.type as TensorType).dtype)];
  }

  override inferShape(node: Apply, [xs, fs]: Array<Variable[] | null>): Variable[][] {
    const known = (node.outputs[0]!.type as TensorType).shape;
    const spatial = [0, 1].map((a) => {
      const k = known[2 + a];
      if (k !== null && k !== undefined) return int64(k);
      const i = tv(xs![2 + a]!);
      const d = this.filterDilation[a]!;
      const dk = math.add(math.mul(math.sub(tv(fs![2 + a]!), 1), d), 1);
      const bm = this.borderMode;
      const pad2 = bm === "valid" ? int64(0) : bm === "full" ? math.mul(math.sub(dk, 1), 2) : bm === "half" ? math.mul(math.intDiv(dk, 2), 2) : int64(2 * bm[a]!);
      return math.add(math.intDiv(math.sub(math.add(i, pad2), dk), this.subsample[a]!), 1);
    });
    return [[known[0] !== null ? int64(known[0]!) : xs![0]!, known[1] !== null ? int64(known[1]!) : fs![0]!, ...spatial]];
  }
}

/**
 * `T.conv2d(input, filters, { borderMode, subsample, filterFlip, filterDilation })`, Theano's
 * conv2d (snake_case option names are accepted too). Mixed dtypes promote as NumPy's.
 */
export function conv2d(input: TensorLike, filters: TensorLike, opts: Conv2dOptions = {}): TensorVariable {
  let x = asTensorVariable(input);
  let w = asTensorVariable(filters);
  const dtype = resultType([x.dtype, w.dtype]);
  if (dtype === "bool") throw new TypeMismatchError(`conv2d: bool input and filters; cast them to a numeric dtype first`);
  x = math.cast(x, dtype);
  w = math.cast(w, dtype);
  const op = new Conv2d({
    borderMode: opts.borderMode ?? opts.border_mode,
    subsample: opts.subsample,
    filterFlip: opts.filterFlip ?? opts.filter_flip,
    filterDilation: opts.filterDilation ?? opts.filter_dilation,
  });
  return op.call(x, w) as TensorVariable;
}

// ---------------------------------------------------------------------------------------------
// Pooling

export type PoolMode = "max" | "sum" | "average_inc_pad" | "average_exc_pad";

export interface PoolOptions {
  ignoreBorder?: boolean;
  ignore_border?: boolean;
  /** Distance between windows; defaults to the window size. */
  stride?: number | Pair;
  /** Zero padding on both sides of rows and cols (needs ignoreBorder, must be < ws). */
  pad?: number | Pair;
  mode?: PoolMode;
}

/** Theano's pooled size along one axis. */
export function poolOutputSize(size: number, ws: number, stride: number, pad: number, ignoreBorder: boolean): number {
  const v = size + 2 * pad;
  if (ignoreBorder) return Math.max(Math.floor((v - ws) / stride) + 1, 0);
  if (stride >= ws) return Math.floor((v - 1) / stride) + 1;
  return Math.max(0, Math.floor((v - 1 - ws) / stride) + 1) + 1;
}

/** Pooling over the last two axes (Theano's `Pool`). */
export class Pool extends Op {
  readonly ws: Pair;
  readonly stride: Pair;
  readonly pad: Pair;

  constructor(
    ws: number | Pair,
    readonly ignoreBorder = true,
    stride?: number | Pair,
    pad: number | Pair = 0,
    readonly mode: PoolMode = "max",
  ) {
    super();
    this.ws = Object.freeze(pair(ws, "pool window size ws", 1));
    this.stride = Object.freeze(pair(stride ?? this.ws, "pool stride", 1));
    this.pad = Object.freeze(pair(pad, "pool pad", 0));
    if (!["max", "sum", "average_inc_pad", "average_exc_pad"].includes(mode)) {
      throw new ShapeError(`pool mode must be "max", "sum", "average_inc_pad" or "average_exc_pad", got ${JSON.stringify(mode)}`);
    }
    if ((this.pad[0] || this.pad[1]) && !ignoreBorder) throw new ShapeError(`pool: padding ${formatPair(this.pad)} works only with ignoreBorder: true`);
    if (this.pad[0] >= this.ws[0] || this.pad[1] >= this.ws[1]) throw new ShapeError(`pool: padding ${formatPair(this.pad)} must be smaller than the window ${formatPair(this.ws)}`);
  }

  override props(): Record<string, unknown> {
    return { ws: this.ws, ignoreBorder: this.ignoreBorder, stride: this.stride, pad: this.pad, mode: this.mode };
  }

  override toString(): string {
    return `Pool{ws=${formatPair(this.ws)}, ignoreBorder=${this.ignoreBorder}, stride=${formatPair(this.stride)}, pad=${formatPair(this.pad)}, mode=${this.mode}}`;
  }

  private outSize(size: number, a: 0 | 1): number {
    return poolOutputSize(size, this.ws[a], this.stride[a], this.pad[a], this.ignoreBorder);
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim < 2) throw new TypeMismatchError(`${this}: pools the last two axes and needs a tensor of rank >= 2, got ${x.label}: ${t}`);
    if (t.dtype === "bool") throw new TypeMismatchError(`${this}: bool input; cast it to a numeric dtype first`);
    if (this.mode.startsWith("average") && !isFloat(t.dtype)) throw new TypeMismatchError(`${this}: average pooling needs a float tensor, got ${t} (T.avgPool2d casts ints to floatX)`);
    const nd = t.ndim;
    const shape = t.shape.map((d, i) => (i < nd - 2 || d === null ? d : this.outSize(d, (i - (nd - 2)) as 0 | 1)));
    return new Apply(this, [x], [new TensorType(this.mode === "sum" ? math.sumDtype(t.dtype) : t.dtype, shape)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const x = inputs[0] as NDArray;
    checkInputs(node, [x]);
    const nd = x.ndim;
    const H = x.shape[nd - 2]!;
    const W = x.shape[nd - 1]!;
    const OH = this.outSize(H, 0);
    const OW = this.outSize(W, 1);
    const planes = x.shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const [ph, pw] = this.pad;
    const [sh, sw] = this.stride;
    const [wh, ww] = this.ws;
    const raw = x.toFlat();
    const xs = numbers(x);
    const outShape = [...x.shape.slice(0, -2), OH, OW];
    const outDtype = (node.outputs[0]!.type as TensorType).dtype;
    const isMax = this.mode === "max";
    const maxOut = isMax ? new (raw.constructor as new (n: number) => typeof raw)(planes * OH * OW) : null;
    const out = isMax ? null : new Float64Array(planes * OH * OW);
    let k = 0;
    for (let p = 0; p < planes; p++) {
      const base = p * H * W;
      for (let oy = 0; oy < OH; oy++) {
        // Window rows in padded coordinates, then the part that holds real rows.
        const r0 = oy * sh;
        const r1 = Math.min(r0 + wh, H + 2 * ph);
        const rs = Math.max(r0, ph) - ph;
        const re = Math.min(r1, H + ph) - ph;
        for (let ox = 0; ox < OW; ox++, k++) {
          const c0 = ox * sw;
          const c1 = Math.min(c0 + ww, W + 2 * pw);
          const cs = Math.max(c0, pw) - pw;
          const ce = Math.min(c1, W + pw) - pw;
          if (isMax) {
            let best = -1;
            let bv = -Infinity;
            for (let i = rs; i < re && !Number.isNaN(bv); i++) {
              for (let j = cs; j < ce; j++) {
                const v = xs[base + i * W + j]!;
                if (best < 0 || v > bv || Number.isNaN(v)) {
                  best = base + i * W + j;
                  bv = v;
                  if (Number.isNaN(v)) break;
                }
              }
            }
            if (best < 0) throw new ShapeError(`${this}: output (${oy}, ${ox}) of an input of shape [${x.shape.join(", ")}] pools a window that holds only padding`);
            (maxOut as Float64Array)[k] = (raw as Float64Array)[best]!;
            continue;
          }
          let s = 0;
          for (let i = rs; i < re; i++) for (let j = cs; j < ce; j++) s += xs[base + i * W + j]!;
          const real = Math.max(re - rs, 0) * Math.max(ce - cs, 0);
          out![k] = this.mode === "sum" ? s : this.mode === "average_exc_pad" ? s / real : s / ((r1 - r0) * (c1 - c0));
        }
      }
    }
    if (maxOut) return [new NDArray(x.dtype, outShape, maxOut)];
    return [fromFloat64(out!, outShape, outDtype)];
  }

  override inferShape(node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    const known = (node.outputs[0]!.type as TensorType).shape;
    const nd = known.length;
    return [
      s!.map((d, i) => {
        if (i < nd - 2) return d;
        const kd = known[i];
        if (kd !== null && kd !== undefined) return int64(kd);
        const a = (i - (nd - 2)) as 0 | 1;
        const [ws, st, pad] = [this.ws[a], this.stride[a], this.pad[a]];
        const v = math.add(tv(d), 2 * pad);
        if (this.ignoreBorder) return math.maximum(math.add(math.intDiv(math.sub(v, ws), st), 1), 0);
        if (st >= ws) return math.add(math.intDiv(math.sub(v, 1), st), 1);
        return math.add(math.maximum(math.add(math.intDiv(math.sub(v, 1 + ws), st), 1), 0), 1);
      }),
    ];
  }
}

const formatPair = (p: Pair): string => `(${p[0]}, ${p[1]})`;

function makePool(x: TensorLike, ws: number | Pair, opts: PoolOptions, mode: PoolMode): TensorVariable {
  let v = asTensorVariable(x);
  if (mode.startsWith("average") && !isFloat(v.dtype)) v = math.cast(v, upcastToFloat(v.dtype, currentFloatX()));
  const op = new Pool(ws, opts.ignoreBorder ?? opts.ignore_border ?? true, opts.stride, opts.pad ?? 0, mode);
  return op.call(v) as TensorVariable;
}

/** `T.pool2d(x, ws, { ignoreBorder = true, stride = ws, pad = [0, 0], mode = "max" })`: Theano's pool_2d. */
export function pool2d(x: TensorLike, ws: number | Pair, opts: PoolOptions = {}): TensorVariable {
  return makePool(x, ws, opts, opts.mode ?? "max");
}

/** `T.maxPool2d(x, ws, { ignoreBorder = true, stride = ws, pad = [0, 0] })`. */
export function maxPool2d(x: TensorLike, ws: number | Pair, opts: Omit<PoolOptions, "mode"> = {}): TensorVariable {
  return makePool(x, ws, opts, "max");
}

/**
 * `T.avgPool2d(x, ws, { ignoreBorder = true, stride = ws, pad = [0, 0], mode = "average_inc_pad" })`:
 * "average_inc_pad" divides by the window's area (padding counted), "average_exc_pad" by the
 * number of real elements in it. Ints are averaged in floatX, as `mean` does.
 */
export function avgPool2d(x: TensorLike, ws: number | Pair, opts: PoolOptions & { mode?: "average_inc_pad" | "average_exc_pad" } = {}): TensorVariable {
  const mode = opts.mode ?? "average_inc_pad";
  if (mode !== "average_inc_pad" && mode !== "average_exc_pad") throw new ShapeError(`avgPool2d: mode must be "average_inc_pad" or "average_exc_pad", got ${JSON.stringify(mode)}`);
  return makePool(x, ws, opts, mode);
}

// ---------------------------------------------------------------------------------------------

/** A run-time value that does not fit its node's type is a backend bug or misuse: say so. */
export function checkInputs(node: Apply, values: readonly NDArray[]): void {
  values.forEach((a, k) => {
    const t = node.inputs[k]!.type as TensorType;
    if (!(a instanceof NDArray) || a.dtype !== t.dtype) throw new TypeMismatchError(`${node.op}: input ${k} must be a ${t.dtype} array (its type is ${t}), got ${a instanceof NDArray ? `a ${a.dtype} array` : String(a)}`);
    if (a.ndim !== t.ndim) throw new ShapeError(`${node.op}: input ${k} has shape [${a.shape.join(", ")}] but its type is ${t} (rank ${t.ndim})`);
  });
}

/** The elements of `a` as float64 in C order. */
function numbers(a: NDArray): Float64Array {
  const flat = a.toFlat();
  if (flat instanceof Float64Array) return flat;
  const out = new Float64Array(flat.length);
  for (let i = 0; i < flat.length; i++) out[i] = Number(flat[i]!);
  return out;
}

/** A float64 result written out in `dtype` (NumPy's astype: floats round, ints wrap). */
function fromFloat64(data: Float64Array, shape: readonly number[], dtype: DType): NDArray {
  const a = new NDArray("float64", shape, data);
  if (dtype === "float64") return a;
  if (dtype === "float32") return new NDArray("float32", shape, Float32Array.from(data));
  return a.astype(dtype);
}

export { numbers as numbersOf, fromFloat64 };
