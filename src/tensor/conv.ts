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
 *
 * Gradients follow Theano's op structure: Conv2d's are Conv2dGradInputs and Conv2dGradWeights
 * (AbstractConv2d_gradInputs/_gradWeights), which run the same loop as the forward op so each
 * is the exact adjoint of it; the three are bilinear and their gradients are each other. Pool's
 * are MaxPoolGrad (the gradient goes to every element equal to its window's maximum, ties
 * included, as Theano's MaxPoolGrad) with its adjoint MaxPoolGradGrad, and AveragePoolGrad for
 * "sum" and both averages, whose gradient is the pooling itself.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, isFloat, isInteger, resultType, upcastToFloat } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import { zerosLike } from "./alloc.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import * as math from "./math.js";
import { shape } from "./shape.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

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

/** The parameters every convolution op carries (forward and both gradients). */
export interface Conv2dParams {
  borderMode?: BorderMode;
  subsample?: number | Pair;
  filterFlip?: boolean;
  filterDilation?: number | Pair;
}

/** Sizes and parameters of one convolution, in numbers (what the loop needs). */
interface ConvGeom {
  B: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  ph: number;
  pw: number;
  flip: boolean;
}

/**
 * The one convolution loop, in three roles. For every output position and kernel tap it pairs an
 * input element xi with a filter element wi (skipping taps that fall in the zero padding):
 * "forward" sums x[xi]·w[wi] into z; "inputs" scatters z·w[wi] into x (the gradient with respect
 * to the input); "weights" scatters z·x[xi] into w (the gradient with respect to the filters).
 * The two gradients are exact adjoints of the forward map, whatever the padding, stride,
 * dilation and flip, because they visit the same pairs.
 */
function convLoop(g: ConvGeom, role: "forward" | "inputs" | "weights", xs: Float64Array, ws: Float64Array, zs: Float64Array): void {
  const { B, C, H, W, O, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw, flip } = g;
  let k = 0;
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < O; o++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++, k++) {
          const gz = role === "forward" ? 0 : zs[k]!;
          let acc = 0;
          for (let c = 0; c < C; c++) {
            const xBase = (b * C + c) * H * W;
            const wBase = (o * C + c) * KH * KW;
            for (let i = 0; i < KH; i++) {
              const iy = oy * sh + i * dh - ph;
              if (iy < 0 || iy >= H) continue;
              const wi = flip ? KH - 1 - i : i;
              for (let j = 0; j < KW; j++) {
                const ix = ox * sw + j * dw - pw;
                if (ix < 0 || ix >= W) continue;
                const xi = xBase + iy * W + ix;
                const wk = wBase + wi * KW + (flip ? KW - 1 - j : j);
                if (role === "forward") acc += xs[xi]! * ws[wk]!;
                else if (role === "inputs") xs[xi]! += gz * ws[wk]!;
                else ws[wk]! += gz * xs[xi]!;
              }
            }
          }
          if (role === "forward") zs[k] = acc;
        }
      }
    }
  }
}

/**
 * What Conv2d and its two gradient ops share: the parameters (props), their validation, and the
 * geometry of one convolution given the input's and the filters' shapes.
 */
abstract class ConvBase extends Op {
  readonly borderMode: "valid" | "full" | "half" | Pair;
  readonly subsample: Pair;
  readonly filterFlip: boolean;
  readonly filterDilation: Pair;

  constructor(opts: Conv2dParams = {}) {
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

  /** The parameters, to make the other ops of the family with. */
  get params(): Conv2dParams {
    return { borderMode: this.borderMode, subsample: this.subsample, filterFlip: this.filterFlip, filterDilation: this.filterDilation };
  }

  /** Static output rows/cols of a convolution of `input` by `filters` (null where unknown). */
  protected staticOutput(input: readonly (number | null)[], filters: readonly (number | null)[]): Array<number | null> {
    return [0, 1].map((a) => {
      const i = input[2 + a]!;
      const k = filters[2 + a]!;
      return i === null || k === null ? null : convOutputSize(i, k, this.borderMode, a as 0 | 1, this.subsample[a]!, this.filterDilation[a]!);
    });
  }

  protected geometry(x: readonly number[], w: readonly number[]): ConvGeom {
    const [B, C, H, W] = x as [number, number, number, number];
    const [O, FC, KH, KW] = w as [number, number, number, number];
    if (C !== FC) throw new ShapeError(`${this}: the input (shape [${x.join(", ")}]) has ${C} channels but the filters (shape [${w.join(", ")}]) expect ${FC}`);
    const [sh, sw] = this.subsample;
    const [dh, dw] = this.filterDilation;
    return {
      B, C, H, W, O, KH, KW, sh, sw, dh, dw,
      OH: convOutputSize(H, KH, this.borderMode, 0, sh, dh),
      OW: convOutputSize(W, KW, this.borderMode, 1, sw, dw),
      ph: padFor(this.borderMode, (KH - 1) * dh + 1, 0),
      pw: padFor(this.borderMode, (KW - 1) * dw + 1, 1),
      flip: this.filterFlip,
    };
  }

  /** The output gradient must have the shape the forward convolution gives. */
  protected checkTopgrad(g: ConvGeom, gz: NDArray): void {
    const want = [g.B, g.O, g.OH, g.OW];
    if (gz.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(`${this}: the output gradient has shape [${gz.shape.join(", ")}] but the convolution's output has shape [${want.join(", ")}]`);
    }
  }
}

/** Checks 4-d operands of one numeric dtype; returns their types. */
function convTypes(what: string, a: Variable, aRole: string, b: Variable, bRole: string): [TensorType, TensorType] {
  const ta = tensorType(a);
  const tb = tensorType(b);
  if (ta.ndim !== 4) throw new TypeMismatchError(`${what}: the ${aRole} must be 4-d, got ${a.label}: ${ta}`);
  if (tb.ndim !== 4) throw new TypeMismatchError(`${what}: the ${bRole} must be 4-d, got ${b.label}: ${tb}`);
  if (ta.dtype !== tb.dtype || ta.dtype === "bool") throw new TypeMismatchError(`${what}: the ${aRole} and the ${bRole} need one numeric dtype, got ${ta.dtype} and ${tb.dtype}`);
  return [ta, tb];
}

/** An integer scalar size input; its value when it is a constant. */
function sizeInput(what: string, v: Variable): number | null {
  const t = tensorType(v);
  if (t.ndim !== 0 || !isInteger(t.dtype)) throw new TypeMismatchError(`${what} must be an integer scalar, got ${v.label}: ${t}`);
  const c = constantValue(v);
  return c ? Number(c.getBig()) : null;
}

const sizeValue = (v: Value): number => Number((v as NDArray).getBig());
const asInt64 = (v: Variable): Variable => (tensorType(v).dtype === "int64" ? v : math.cast(tv(v), "int64"));

/** `conv2d` as an op: Theano's AbstractConv2d with its parameters as props. */
export class Conv2d extends ConvBase {
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
    return new Apply(this, [input, filters], [new TensorType(it.dtype, [it.shape[0]!, ft.shape[0]!, ...this.staticOutput(it.shape, ft.shape)])]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [x, w] = inputs as NDArray[];
    checkInputs(node, [x!, w!]);
    const g = this.geometry(x!.shape, w!.shape);
    const out = new Float64Array(g.B * g.O * g.OH * g.OW);
    convLoop(g, "forward", numbers(x!), numbers(w!), out);
    return [fromFloat64(out, [g.B, g.O, g.OH, g.OW], (node.outputs[0]!.type as TensorType).dtype)];
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

  /** Theano's AbstractConv2d.grad: the two adjoint ops, given the sizes they cannot infer. */
  override grad([x, w]: Variable[], [gz]: Variable[]): GradResult[] {
    return [
      new Conv2dGradInputs(this.params).call(w!, gz!, shape(tv(x!), 2), shape(tv(x!), 3)),
      new Conv2dGradWeights(this.params).call(x!, gz!, shape(tv(w!), 2), shape(tv(w!), 3)),
    ];
  }
}

/**
 * The gradient of Conv2d with respect to its input (Theano's AbstractConv2d_gradInputs):
 * inputs (filters, output gradient, input rows, input cols). The input's size is an input of its
 * own because with strides several sizes give the same output size.
 */
export class Conv2dGradInputs extends ConvBase {
  makeNode(filters: Variable, topgrad: Variable, rows: Variable, cols: Variable): Apply {
    const [ft, gt] = convTypes(`${this}`, filters, "filters", topgrad, "output gradient");
    const h = sizeInput(`${this}: the input rows`, rows);
    const w = sizeInput(`${this}: the input cols`, cols);
    const input = [gt.shape[0]!, ft.shape[1]!, h, w];
    const out = this.staticOutput(input, ft.shape);
    out.forEach((d, a) => {
      const g = gt.shape[2 + a]!;
      if (d !== null && g !== null && d !== g) throw new ShapeError(`${this}: an input of ${formatStaticShape(input)} convolved by filters of ${formatStaticShape(ft.shape)} gives ${d} on spatial axis ${a}, but the output gradient ${formatStaticShape(gt.shape)} has ${g}`);
    });
    return new Apply(this, [filters, topgrad, rows, cols], [new TensorType(ft.dtype, input)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [w, gz] = inputs as NDArray[];
    checkInputs(node, [w!, gz!]);
    const xShape = [gz!.shape[0]!, w!.shape[1]!, sizeValue(inputs[2]), sizeValue(inputs[3])];
    const g = this.geometry(xShape, w!.shape);
    this.checkTopgrad(g, gz!);
    const gx = new Float64Array(g.B * g.C * g.H * g.W);
    convLoop(g, "inputs", gx, numbers(w!), numbers(gz!));
    return [fromFloat64(gx, xShape, (node.outputs[0]!.type as TensorType).dtype)];
  }

  override inferShape(node: Apply, [fs, gs]: Array<Variable[] | null>): Variable[][] {
    return [[gs![0]!, fs![1]!, asInt64(node.inputs[2]!), asInt64(node.inputs[3]!)]];
  }

  /** Bilinear in (filters, gz): <G, gradInputs(w, gz)> = <conv(G, w), gz> = <gradWeights(G, gz), w>. */
  override grad([w, gz]: Variable[], [G]: Variable[]): GradResult[] {
    return [new Conv2dGradWeights(this.params).call(G!, gz!, shape(tv(w!), 2), shape(tv(w!), 3)), new Conv2d(this.params).call(G!, w!), null, null];
  }
}

/**
 * The gradient of Conv2d with respect to its filters (Theano's AbstractConv2d_gradWeights):
 * inputs (input, output gradient, kernel rows, kernel cols).
 */
export class Conv2dGradWeights extends ConvBase {
  makeNode(input: Variable, topgrad: Variable, rows: Variable, cols: Variable): Apply {
    const [it, gt] = convTypes(`${this}`, input, "input", topgrad, "output gradient");
    const kh = sizeInput(`${this}: the kernel rows`, rows);
    const kw = sizeInput(`${this}: the kernel cols`, cols);
    const filters = [gt.shape[1]!, it.shape[1]!, kh, kw];
    const out = this.staticOutput(it.shape, filters);
    out.forEach((d, a) => {
      const g = gt.shape[2 + a]!;
      if (d !== null && g !== null && d !== g) throw new ShapeError(`${this}: an input of ${formatStaticShape(it.shape)} convolved by filters of ${formatStaticShape(filters)} gives ${d} on spatial axis ${a}, but the output gradient ${formatStaticShape(gt.shape)} has ${g}`);
    });
    return new Apply(this, [input, topgrad, rows, cols], [new TensorType(it.dtype, filters)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [x, gz] = inputs as NDArray[];
    checkInputs(node, [x!, gz!]);
    const wShape = [gz!.shape[1]!, x!.shape[1]!, sizeValue(inputs[2]), sizeValue(inputs[3])];
    const g = this.geometry(x!.shape, wShape);
    this.checkTopgrad(g, gz!);
    const gw = new Float64Array(g.O * g.C * g.KH * g.KW);
    convLoop(g, "weights", numbers(x!), gw, numbers(gz!));
    return [fromFloat64(gw, wShape, (node.outputs[0]!.type as TensorType).dtype)];
  }

  override inferShape(node: Apply, [xs, gs]: Array<Variable[] | null>): Variable[][] {
    return [[gs![1]!, xs![1]!, asInt64(node.inputs[2]!), asInt64(node.inputs[3]!)]];
  }

  /** Bilinear in (x, gz): <G, gradWeights(x, gz)> = <conv(x, G), gz> = <gradInputs(G, gz), x>. */
  override grad([x, gz]: Variable[], [G]: Variable[]): GradResult[] {
    return [new Conv2dGradInputs(this.params).call(G!, gz!, shape(tv(x!), 2), shape(tv(x!), 3)), new Conv2d(this.params).call(x!, G!), null, null];
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

/** Where each pooling window lies along one axis, in real (unpadded) coordinates. */
interface AxisWindows {
  /** Number of windows (the pooled size). */
  n: number;
  /** First real index in window i. */
  start: Int32Array;
  /** One past the last real index in window i. */
  end: Int32Array;
  /** The window's length in padded coordinates (clipped at the padded edge): what "average_inc_pad" divides by. */
  span: Int32Array;
}

/**
 * What Pool and its gradient ops share: the parameters (props), their validation, the window
 * geometry, and one loop over (plane, window) pairs.
 */
abstract class PoolBase extends Op {
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
    return `${this.opName}{ws=${formatPair(this.ws)}, ignoreBorder=${this.ignoreBorder}, stride=${formatPair(this.stride)}, pad=${formatPair(this.pad)}, mode=${this.mode}}`;
  }

  /** The constructor arguments, to make the other ops of the family with. */
  protected get args(): [Pair, boolean, Pair, Pair, PoolMode] {
    return [this.ws, this.ignoreBorder, this.stride, this.pad, this.mode];
  }

  protected outSize(size: number, a: 0 | 1): number {
    return poolOutputSize(size, this.ws[a], this.stride[a], this.pad[a], this.ignoreBorder);
  }

  /** Static pooled sizes of a type's last two axes (null where unknown). */
  protected pooledShape(shape: readonly (number | null)[]): Array<number | null> {
    const nd = shape.length;
    return shape.map((d, i) => (i < nd - 2 || d === null ? d : this.outSize(d, (i - (nd - 2)) as 0 | 1)));
  }

  protected axisWindows(size: number, a: 0 | 1): AxisWindows {
    const n = this.outSize(size, a);
    const [ws, st, pad] = [this.ws[a], this.stride[a], this.pad[a]];
    const start = new Int32Array(n);
    const end = new Int32Array(n);
    const span = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      // The window in padded coordinates, then the part that holds real elements.
      const p0 = i * st;
      const p1 = Math.min(p0 + ws, size + 2 * pad);
      start[i] = Math.max(p0, pad) - pad;
      end[i] = Math.min(p1, size + pad) - pad;
      span[i] = p1 - p0;
    }
    return { n, start, end, span };
  }

  /**
   * Calls `visit(k, base, rows, cols)` for every output element k (C order over the leading
   * axes and the pooled rows and cols) with the flat offset of its plane in the input and its
   * window's extent along each axis.
   */
  protected forEachWindow(inShape: readonly number[], visit: (k: number, base: number, r: number, c: number, rows: AxisWindows, cols: AxisWindows) => void): void {
    const nd = inShape.length;
    const H = inShape[nd - 2]!;
    const W = inShape[nd - 1]!;
    const rows = this.axisWindows(H, 0);
    const cols = this.axisWindows(W, 1);
    const planes = inShape.slice(0, -2).reduce((a, b) => a * b, 1);
    let k = 0;
    for (let p = 0; p < planes; p++) for (let r = 0; r < rows.n; r++) for (let c = 0; c < cols.n; c++) visit(k++, p * H * W, r, c, rows, cols);
  }

  /** The divisor of an average (1 for "sum"). */
  protected divisor(r: number, c: number, rows: AxisWindows, cols: AxisWindows): number {
    if (this.mode === "average_inc_pad") return rows.span[r]! * cols.span[c]!;
    if (this.mode === "average_exc_pad") return Math.max(rows.end[r]! - rows.start[r]!, 0) * Math.max(cols.end[c]! - cols.start[c]!, 0);
    return 1;
  }

  /** The pooled shape of an input's shape, for run-time checks of a gradient's shape. */
  protected checkPooled(inShape: readonly number[], g: NDArray, what: string): void {
    const nd = inShape.length;
    const want = [...inShape.slice(0, -2), this.outSize(inShape[nd - 2]!, 0), this.outSize(inShape[nd - 1]!, 1)];
    if (g.ndim !== want.length || g.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(`${this}: the ${what} has shape [${g.shape.join(", ")}] but pooling an input of shape [${inShape.join(", ")}] gives [${want.join(", ")}]`);
    }
  }

  /** Checks a pooled input of rank >= 2; returns its type. */
  protected poolInput(x: Variable, what: string): TensorType {
    const t = tensorType(x);
    if (t.ndim < 2) throw new TypeMismatchError(`${this}: pools the last two axes and needs a ${what} of rank >= 2, got ${x.label}: ${t}`);
    if (t.dtype === "bool") throw new TypeMismatchError(`${this}: bool ${what}; cast it to a numeric dtype first`);
    return t;
  }
}

/** Pooling over the last two axes (Theano's `Pool`). */
export class Pool extends PoolBase {
  makeNode(x: Variable): Apply {
    const t = this.poolInput(x, "tensor");
    if (this.mode.startsWith("average") && !isFloat(t.dtype)) throw new TypeMismatchError(`${this}: average pooling needs a float tensor, got ${t} (T.avgPool2d casts ints to floatX)`);
    return new Apply(this, [x], [new TensorType(this.mode === "sum" ? math.sumDtype(t.dtype) : t.dtype, this.pooledShape(t.shape))]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const x = inputs[0] as NDArray;
    checkInputs(node, [x]);
    const W = x.shape[x.ndim - 1]!;
    const outShape = this.pooledShape(x.shape) as number[];
    const size = outShape.reduce((a, b) => a * b, 1);
    const raw = x.toFlat();
    const xs = numbers(x);
    if (this.mode === "max") {
      // Max pooling copies elements (exact for int64 too): the first maximum, or the first NaN.
      const out = new (raw.constructor as new (n: number) => typeof raw)(size);
      this.forEachWindow(x.shape, (k, base, r, c, rows, cols) => {
        let best = -1;
        let bv = -Infinity;
        for (let i = rows.start[r]!; i < rows.end[r]! && !Number.isNaN(bv); i++) {
          for (let j = cols.start[c]!; j < cols.end[c]!; j++) {
            const v = xs[base + i * W + j]!;
            if (best < 0 || v > bv || Number.isNaN(v)) {
              best = base + i * W + j;
              bv = v;
              if (Number.isNaN(v)) break;
            }
          }
        }
        if (best < 0) throw new ShapeError(`${this}: output (${r}, ${c}) of an input of shape [${x.shape.join(", ")}] pools a window that holds only padding`);
        (out as Float64Array)[k] = (raw as Float64Array)[best]!;
      });
      return [new NDArray(x.dtype, outShape, out)];
    }
    const out = new Float64Array(size);
    this.forEachWindow(x.shape, (k, base, r, c, rows, cols) => {
      let s = 0;
      for (let i = rows.start[r]!; i < rows.end[r]!; i++) for (let j = cols.start[c]!; j < cols.end[c]!; j++) s += xs[base + i * W + j]!;
      out[k] = s / this.divisor(r, c, rows, cols);
    });
    return [fromFloat64(out, outShape, (node.outputs[0]!.type as TensorType).dtype)];
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

  /** Max: MaxPoolGrad routes gz to the maxima; sum and averages: AveragePoolGrad spreads it. */
  override grad([x]: Variable[], [gz]: Variable[], [out]: Variable[]): GradResult[] {
    const v = tv(x!);
    if (this.mode === "max") return [new MaxPoolGrad(...this.args).call(v, out!, gz!)];
    return [new AveragePoolGrad(...this.args).call(gz!, shape(v, v.ndim - 2), shape(v, v.ndim - 1))];
  }
}

/**
 * The gradient of max pooling (Theano's MaxPoolGrad): inputs (x, the pooled maxima, the output
 * gradient). Each window's gradient goes to every element of the window equal to its maximum, as
 * Theano's does: with ties, each tied element receives the full gradient (so the sum over the
 * window is not the output gradient). Elements outside every window, or not maximal, get 0.
 */
export class MaxPoolGrad extends PoolBase {
  makeNode(x: Variable, maxout: Variable, gz: Variable): Apply {
    const t = this.poolInput(x, "input");
    const pooled = this.pooledShape(t.shape);
    for (const [v, what] of [[maxout, "pooled maximum"], [gz, "output gradient"]] as const) {
      const tt = tensorType(v);
      if (tt.ndim !== t.ndim) throw new TypeMismatchError(`${this}: the ${what} must have rank ${t.ndim} like the input, got ${v.label}: ${tt}`);
      tt.shape.forEach((d, i) => {
        if (d !== null && pooled[i] !== null && d !== pooled[i]) throw new ShapeError(`${this}: the ${what} ${formatStaticShape(tt.shape)} does not match the pooled shape ${formatStaticShape(pooled)}`);
      });
    }
    return new Apply(this, [x, maxout, gz], [t]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [x, maxout, gz] = inputs as NDArray[];
    checkInputs(node, [x!, maxout!, gz!]);
    this.checkPooled(x!.shape, maxout!, "pooled maximum");
    this.checkPooled(x!.shape, gz!, "output gradient");
    const W = x!.shape[x!.ndim - 1]!;
    const xs = numbers(x!);
    const ms = numbers(maxout!);
    const gs = numbers(gz!);
    const gx = new Float64Array(xs.length);
    this.forEachWindow(x!.shape, (k, base, r, c, rows, cols) => {
      const m = ms[k]!;
      for (let i = rows.start[r]!; i < rows.end[r]!; i++) {
        for (let j = cols.start[c]!; j < cols.end[c]!; j++) {
          const p = base + i * W + j;
          if (xs[p] === m || (Number.isNaN(m) && Number.isNaN(xs[p]!))) gx[p]! += gs[k]!;
        }
      }
    });
    return [fromFloat64(gx, x!.shape, x!.dtype)];
  }

  override inferShape(_node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    return [xs!];
  }

  /** Linear in gz with the routing fixed by (x, maxout), which is piecewise constant: zero there. */
  override grad([x, maxout]: Variable[], [G]: Variable[]): GradResult[] {
    return [zerosLike(tv(x!)), zerosLike(tv(maxout!)), new MaxPoolGradGrad(...this.args).call(x!, maxout!, G!)];
  }
}

/**
 * The adjoint of MaxPoolGrad (Theano's DownsampleFactorMaxGradGrad): inputs (x, the pooled
 * maxima, a gradient of x's shape); each output element sums that gradient over the elements of
 * its window that equal the maximum (the same elements MaxPoolGrad routes to).
 */
export class MaxPoolGradGrad extends PoolBase {
  makeNode(x: Variable, maxout: Variable, gx: Variable): Apply {
    const t = this.poolInput(x, "input");
    const mt = tensorType(maxout);
    const gt = tensorType(gx);
    if (mt.ndim !== t.ndim || gt.ndim !== t.ndim) throw new TypeMismatchError(`${this}: the pooled maximum and the gradient must have rank ${t.ndim} like the input, got ${maxout.label}: ${mt} and ${gx.label}: ${gt}`);
    return new Apply(this, [x, maxout, gx], [new TensorType(gt.dtype, this.pooledShape(t.shape))]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [x, maxout, gx] = inputs as NDArray[];
    checkInputs(node, [x!, maxout!, gx!]);
    this.checkPooled(x!.shape, maxout!, "pooled maximum");
    if (gx!.shape.some((d, i) => d !== x!.shape[i])) throw new ShapeError(`${this}: the gradient has shape [${gx!.shape.join(", ")}] but the input has [${x!.shape.join(", ")}]`);
    const W = x!.shape[x!.ndim - 1]!;
    const xs = numbers(x!);
    const ms = numbers(maxout!);
    const gs = numbers(gx!);
    const out = new Float64Array(ms.length);
    this.forEachWindow(x!.shape, (k, base, r, c, rows, cols) => {
      const m = ms[k]!;
      let s = 0;
      for (let i = rows.start[r]!; i < rows.end[r]!; i++) {
        for (let j = cols.start[c]!; j < cols.end[c]!; j++) {
          const p = base + i * W + j;
          if (xs[p] === m || (Number.isNaN(m) && Number.isNaN(xs[p]!))) s += gs[p]!;
        }
      }
      out[k] = s;
    });
    return [fromFloat64(out, maxout!.shape, (node.outputs[0]!.type as TensorType).dtype)];
  }

  override inferShape(_node: Apply, [, ms]: Array<Variable[] | null>): Variable[][] {
    return [ms!];
  }

  override grad([x, maxout]: Variable[], [G]: Variable[]): GradResult[] {
    return [zerosLike(tv(x!)), zerosLike(tv(maxout!)), new MaxPoolGrad(...this.args).call(x!, maxout!, G!)];
  }
}

/**
 * The gradient of sum and average pooling (Theano's AveragePoolGrad): inputs (output gradient,
 * input rows, input cols). Each window's gradient, divided by the window's divisor, is added to
 * every real element of the window; the input's size is an input because it is not determined
 * by the pooled size.
 */
export class AveragePoolGrad extends PoolBase {
  makeNode(gz: Variable, rows: Variable, cols: Variable): Apply {
    if (this.mode === "max") throw new TypeMismatchError(`${this}: max pooling's gradient is MaxPoolGrad`);
    const gt = this.poolInput(gz, "output gradient");
    const h = sizeInput(`${this}: the input rows`, rows);
    const w = sizeInput(`${this}: the input cols`, cols);
    const input = [...gt.shape.slice(0, -2), h, w];
    const pooled = this.pooledShape(input);
    gt.shape.forEach((d, i) => {
      if (d !== null && pooled[i] !== null && d !== pooled[i]) throw new ShapeError(`${this}: the output gradient ${formatStaticShape(gt.shape)} does not match the pooled shape ${formatStaticShape(pooled)} of an input of ${formatStaticShape(input)}`);
    });
    return new Apply(this, [gz, rows, cols], [new TensorType(gt.dtype, input)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const gz = inputs[0] as NDArray;
    checkInputs(node, [gz]);
    const inShape = [...gz.shape.slice(0, -2), sizeValue(inputs[1]), sizeValue(inputs[2])];
    if (inShape.slice(-2).some((d) => d < 0)) throw new ShapeError(`${this}: negative input size (${inShape.slice(-2).join(", ")})`);
    this.checkPooled(inShape, gz, "output gradient");
    const W = inShape[inShape.length - 1]!;
    const gs = numbers(gz);
    const gx = new Float64Array(inShape.reduce((a, b) => a * b, 1));
    this.forEachWindow(inShape, (k, base, r, c, rows, cols) => {
      const g = gs[k]! / this.divisor(r, c, rows, cols);
      for (let i = rows.start[r]!; i < rows.end[r]!; i++) for (let j = cols.start[c]!; j < cols.end[c]!; j++) gx[base + i * W + j]! += g;
    });
    return [fromFloat64(gx, inShape, (node.outputs[0]!.type as TensorType).dtype)];
  }

  override inferShape(node: Apply, [gs]: Array<Variable[] | null>): Variable[][] {
    return [[...gs!.slice(0, -2), asInt64(node.inputs[1]!), asInt64(node.inputs[2]!)]];
  }

  /** Linear in gz: its adjoint is the pooling itself. The sizes are integers: disconnected. */
  override grad(_inputs: Variable[], [G]: Variable[]): GradResult[] {
    return [new Pool(...this.args).call(G!), null, null];
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
