/**
 * Neural-network helpers, `T.nnet` (Theano's `tensor/nnet/nnet.py`: softmax, the cross-entropies,
 * relu/elu/selu; gelu after Hendrycks & Gimpel; convolution and pooling live in ./conv.ts).
 *
 * Two kinds of function live here. Activations and the cross-entropy built on probabilities
 * (`relu`, `elu`, `selu`, `gelu`, `binaryCrossentropy`, the one-hot form of
 * `categoricalCrossentropy`) are compositions of elementwise ops from math.ts, so fusion and the
 * stabilizing rewrites see ordinary Elemwise nodes. Operations that need a whole lane at once or
 * an index are Ops with their own `perform`: `Softmax`/`LogSoftmax` (stable: the lane maximum is
 * subtracted first, as scipy.special.softmax/log_softmax do), `CrossentropyCategorical1Hot`
 * (-log p[label] with bounds-checked labels) and `Dropout`.
 *
 * Dropout draws its mask from a counter-based hash of (seed, element index) so `perform` is a pure
 * function of its inputs: the same seed gives the same mask on every call. When RandomStreams
 * arrives, dropout switches to drawing its mask from a stream's state (fresh on every call).
 *
 * Gradients (Theano's `SoftmaxGrad`, `LogSoftmax.grad`, `CrossentropyCategorical1HotGrad`) are
 * written as graphs of elementwise ops and reductions, so they are differentiable again:
 * softmax: (gz - sum(gz * sm)) * sm; logSoftmax: gz - exp(out) * sum(gz); the one-hot
 * cross-entropy: -gz / p at each row's label, 0 elsewhere; dropout: the same mask applied to gz
 * (the mask is a function of the seed and the position only, so Dropout(gz) is exactly that).
 */

import { InputError, ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { isFloat, isInteger, typedArrayCtor, upcastToFloat } from "../ndarray/dtype.js";
import { NDArray, normalizeAxis } from "../ndarray/ndarray.js";
import { arange } from "./alloc.js";
import { dimshuffle } from "./basic.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import * as math from "./math.js";
import { shape } from "./shape.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable } from "./variable.js";
import { avgPool2d, checkInputs, conv2d, fromFloat64, maxPool2d, numbersOf, pool2d } from "./conv.js";

export { AveragePoolGrad, Conv2d, Conv2dGradInputs, Conv2dGradWeights, MaxPoolGrad, MaxPoolGradGrad, Pool, conv2d, maxPool2d, avgPool2d, pool2d } from "./conv.js";
export type { BorderMode, Conv2dOptions, PoolMode, PoolOptions } from "./conv.js";

/** Ints and bools become floatX (Theano's rule for ops whose result is a probability or a log). */
function asFloat(x: TensorLike): TensorVariable {
  const v = asTensorVariable(x);
  return isFloat(v.dtype) ? v : math.cast(v, upcastToFloat(v.dtype, currentFloatX()));
}

// ---------------------------------------------------------------------------------------------
// Softmax and LogSoftmax

abstract class SoftmaxBase extends Op {
  /** The axis the lanes run along; null = one lane over every element. */
  constructor(readonly axis: number | null) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis };
  }

  override toString(): string {
    return `${this.opName}{axis=${this.axis}}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (!isFloat(t.dtype)) throw new TypeMismatchError(`${this}: needs a float tensor, got ${x.label}: ${t} (T.${this.fnName} casts ints to floatX)`);
    if (this.axis !== null && (this.axis < 0 || this.axis >= t.ndim)) throw new ShapeError(`${this}: axis ${this.axis} is out of range for ${x.label}: ${t}`);
    return new Apply(this, [x], [t]);
  }

  protected abstract get fnName(): string;

  /** Writes the result for one lane (`n` values of `src` from `base`) into `dst`. */
  protected abstract lane(src: FloatArray, sbase: number, dst: FloatArray, dbase: number, n: number): void;

  perform(node: Apply, inputs: Value[]): Value[] {
    const a = inputs[0] as NDArray;
    checkInputs(node, [a]);
    const last = this.axis === null || this.axis === a.ndim - 1;
    if (last && a.isContiguous && (a.dtype === "float32" || a.dtype === "float64")) {
      // Fast path: lanes are contiguous runs of the input; read and write the typed arrays directly.
      const n = this.axis === null ? a.size : a.shape[a.ndim - 1]!;
      const src = a.data as FloatArray;
      const dst = a.dtype === "float32" ? new Float32Array(a.size) : new Float64Array(a.size);
      if (n > 0) for (let base = 0; base < a.size; base += n) this.lane(src, a.offset + base, dst, base, n);
      return [new NDArray(a.dtype, a.shape, dst)];
    }
    // Move the axis last so each lane is a contiguous run, then move it back.
    const ax = this.axis;
    const keep = ax === null ? [] : [...Array(a.ndim).keys()].filter((i) => i !== ax);
    const perm = ax === null ? [...Array(a.ndim).keys()] : [...keep, ax];
    const xp = a.transpose(...perm);
    const src = numbersOf(xp);
    const n = ax === null ? a.size : a.shape[ax]!;
    const dst = new Float64Array(src.length);
    if (n > 0) for (let base = 0; base < src.length; base += n) this.lane(src, base, dst, base, n);
    const outPermuted = fromFloat64(dst, xp.shape, a.dtype);
    const inverse = perm.map((_p, i) => perm.indexOf(i));
    return [ax === null ? outPermuted : outPermuted.transpose(...inverse).copy()];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }

  /** `sum(v, axis, keepdims)` over this op's lanes. */
  protected laneSum(v: TensorVariable): TensorVariable {
    return math.sum(v, this.axis, { keepdims: true });
  }
}

/** The lane maximum, NaN when any element is NaN (np.amax). */
type FloatArray = Float32Array | Float64Array;

function laneMax(src: FloatArray, base: number, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = src[base + i]!;
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/**
 * `exp(x - max) / sum(exp(x - max))`. Like scipy.special.softmax, a lane that holds NaN, +inf, or
 * only -inf gives NaN (there is no finite shift that makes it a distribution).
 */
export class Softmax extends SoftmaxBase {
  protected get fnName(): string {
    return "softmax";
  }

  protected lane(src: FloatArray, sb: number, dst: FloatArray, db: number, n: number): void {
    const m = laneMax(src, sb, n);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(src[sb + i]! - m);
    // Recompute the exponentials rather than re-reading rounded float32 ones: one rounding only.
    const inv = 1 / s;
    for (let i = 0; i < n; i++) dst[db + i] = Math.exp(src[sb + i]! - m) * inv;
  }

  /** d sm_i / d x_j = sm_i (δij - sm_j): the gradient is (gz - sum(gz * sm)) * sm per lane. */
  override grad(_inputs: Variable[], [gz]: Variable[], [sm]: Variable[]): GradResult[] {
    const g = gz as TensorVariable;
    const y = sm as TensorVariable;
    return [math.mul(math.sub(g, this.laneSum(math.mul(g, y))), y)];
  }
}

/**
 * `x - max - log(sum(exp(x - max)))`, scipy.special.log_softmax's algorithm: a non-finite
 * maximum is replaced by 0 before shifting, so a lane of only -inf gives NaN and -1000 stays -1000.
 */
export class LogSoftmax extends SoftmaxBase {
  protected get fnName(): string {
    return "logSoftmax";
  }

  protected lane(src: FloatArray, sb: number, dst: FloatArray, db: number, n: number): void {
    let m = laneMax(src, sb, n);
    if (!Number.isFinite(m)) m = 0;
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(src[sb + i]! - m);
    const ls = Math.log(s);
    for (let i = 0; i < n; i++) dst[db + i] = src[sb + i]! - m - ls;
  }

  /** d out_i / d x_j = δij - softmax_j: the gradient is gz - exp(out) * sum(gz) per lane. */
  override grad(_inputs: Variable[], [gz]: Variable[], [out]: Variable[]): GradResult[] {
    const g = gz as TensorVariable;
    return [math.sub(g, math.mul(math.exp(out as TensorVariable), this.laneSum(g)))];
  }
}

function softmaxAxis(v: TensorVariable, axis: number | null): number | null {
  return axis === null ? null : normalizeAxis(axis, v.ndim);
}

/** `T.softmax(x, axis = -1)`; `axis: null` normalises over every element (scipy's axis=None). */
export function softmax(x: TensorLike, axis: number | null = -1): TensorVariable {
  const v = asFloat(x);
  return new Softmax(softmaxAxis(v, axis)).call(v) as TensorVariable;
}

/** `T.logSoftmax(x, axis = -1)`, computed stably in one op (never log(softmax(x))). */
export function logSoftmax(x: TensorLike, axis: number | null = -1): TensorVariable {
  const v = asFloat(x);
  return new LogSoftmax(softmaxAxis(v, axis)).call(v) as TensorVariable;
}

// ---------------------------------------------------------------------------------------------
// Cross-entropies

/**
 * `-log(codingDist[..., labels[...]])`: the cross-entropy against one-hot targets given as integer
 * labels over the last axis (Theano's `CrossentropyCategorical1Hot`, generalised from matrices to
 * any rank). A label outside [0, classes) raises a ShapeError naming it.
 */
export class CrossentropyCategorical1Hot extends Op {
  makeNode(coding: Variable, labels: Variable): Apply {
    const ct = tensorType(coding);
    const lt = tensorType(labels);
    if (!isFloat(ct.dtype)) throw new TypeMismatchError(`CrossentropyCategorical1Hot: coding distribution ${coding.label} must be float, got ${ct}`);
    if (!isInteger(lt.dtype)) throw new TypeMismatchError(`CrossentropyCategorical1Hot: labels ${labels.label} must be integers, got ${lt}`);
    if (ct.ndim < 1 || lt.ndim !== ct.ndim - 1) {
      throw new TypeMismatchError(`CrossentropyCategorical1Hot: labels (${lt}) must have one dimension less than the coding distribution (${ct})`);
    }
    const shape = lt.shape.map((d, i) => {
      const c = ct.shape[i]!;
      if (d !== null && c !== null && d !== c) {
        throw new ShapeError(`CrossentropyCategorical1Hot: labels of static shape ${formatStaticShape(lt.shape)} do not match the coding distribution's leading shape ${formatStaticShape(ct.shape)} (axis ${i}: ${d} vs ${c})`);
      }
      return d ?? c;
    });
    return new Apply(this, [coding, labels], [new TensorType(ct.dtype, shape)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [p, y] = inputs as NDArray[];
    checkInputs(node, [p!, y!]);
    const lead = p!.shape.slice(0, -1);
    if (lead.some((d, i) => d !== y!.shape[i])) {
      throw new ShapeError(`CrossentropyCategorical1Hot: labels of shape [${y!.shape.join(", ")}] do not match the coding distribution of shape [${p!.shape.join(", ")}]`);
    }
    const k = p!.shape[p!.ndim - 1]!;
    const probs = numbersOf(p!);
    const labels = y!.toFlat();
    const out = new Float64Array(labels.length);
    for (let i = 0; i < labels.length; i++) {
      const l = Number(labels[i]!);
      if (!(l >= 0 && l < k)) {
        throw new ShapeError(`CrossentropyCategorical1Hot: label ${labels[i]} at flat position ${i} is out of range for ${k} classes (coding distribution of shape [${p!.shape.join(", ")}])`);
      }
      out[i] = this.nll(probs[i * k + l]!);
    }
    return [fromFloat64(out, lead, p!.dtype)];
  }

  override inferShape(_node: Apply, [ps]: Array<Variable[] | null>): Variable[][] {
    return [ps!.slice(0, -1)];
  }

  /**
   * Only p[..., label] enters the output, with derivative -1 / p there: the gradient is
   * `where(label == arange(k), -gz / p, 0)` (a select, not a product with a one-hot mask, so a
   * zero probability away from the label does not turn 0 * inf into NaN). Labels are integers:
   * disconnected.
   */
  override grad([p, labels]: Variable[], [gz]: Variable[]): GradResult[] {
    const coding = p as TensorVariable;
    const y = labels as TensorVariable;
    const nd = coding.ndim;
    const lead = [...Array(nd - 1).keys()];
    const classes = arange(shape(coding, nd - 1));
    const isLabel = math.eq(dimshuffle(y, [...lead, "x"]), classes);
    const g = dimshuffle(gz as TensorVariable, [...lead, "x"]);
    return [math.where(isLabel, this.dNll(g, coding), 0), null];
  }

  /** The loss of one row from its entry at the label: -log p. */
  protected nll(p: number): number {
    return -Math.log(p);
  }

  /** The loss's derivative at the label entry, times gz: -gz / p. */
  protected dNll(gz: TensorVariable, coding: TensorVariable): TensorVariable {
    return math.neg(math.trueDiv(gz, coding));
  }
}

/**
 * `-logp[..., labels[...]]` from log-probabilities: what the stabilize rewrite
 * `local_crossentropy_to_logsoftmax` makes of CrossentropyCategorical1Hot(Softmax(x), y), fed by
 * LogSoftmax(x), so a probability that underflows (softmax([0, -1000])[1] = 0) keeps its loss
 * (1000) instead of -log(0) = inf. The same label checks; the derivative at the label is -gz.
 */
export class CrossentropyLogCategorical1Hot extends CrossentropyCategorical1Hot {
  protected override nll(logp: number): number {
    return -logp;
  }

  // where(isLabel, -gz, 0) broadcasts gz over the classes: no division by a probability.
  protected override dNll(gz: TensorVariable, _coding: TensorVariable): TensorVariable {
    return math.neg(gz);
  }
}

const XENT_1HOT = new CrossentropyCategorical1Hot();

/** `T.nnet.crossentropyCategorical1Hot(codingDist, labels)`: `-log(codingDist[i, labels[i]])`. */
export function crossentropyCategorical1Hot(codingDist: TensorLike, labels: TensorLike): TensorVariable {
  return XENT_1HOT.call(asFloat(codingDist), asTensorVariable(labels)) as TensorVariable;
}

/**
 * `T.categoricalCrossentropy(codingDist, trueDist)`: with probability (one-hot) rows of the same
 * rank, `-sum(trueDist * log(codingDist), axis=-1)`; with integer labels of one rank less, the
 * one-hot op above. Other ranks are a TypeMismatchError, as in Theano.
 */
export function categoricalCrossentropy(codingDist: TensorLike, trueDist: TensorLike): TensorVariable {
  const p = asFloat(codingDist);
  const t = asTensorVariable(trueDist);
  if (p.ndim === 0) throw new TypeMismatchError(`categoricalCrossentropy: the coding distribution must have at least one axis, got ${p.label}: ${p.type}`);
  if (t.ndim === p.ndim) {
    // A JS array target is a weak operand: it takes the coding distribution's dtype.
    const target = Array.isArray(trueDist) || typeof trueDist === "number" ? trueDist : t;
    return math.neg(math.sum(math.mul(target, math.log(p)), -1));
  }
  if (t.ndim === p.ndim - 1) {
    if (!isInteger(t.dtype)) throw new TypeMismatchError(`categoricalCrossentropy: a target of one rank less than the coding distribution holds labels and must be integer, got ${t.label}: ${t.type}`);
    return XENT_1HOT.call(p, t) as TensorVariable;
  }
  throw new TypeMismatchError(`categoricalCrossentropy: rank mismatch between coding distribution ${p.label}: ${p.type} and true distribution ${t.label}: ${t.type} (same rank for one-hot rows, one less for labels)`);
}

/** `T.binaryCrossentropy(output, target)`: `-(t * log(o) + (1 - t) * log(1 - o))`, elementwise. */
export function binaryCrossentropy(output: TensorLike, target: TensorLike): TensorVariable {
  const o = asFloat(output);
  return math.neg(math.add(math.mul(target, math.log(o)), math.mul(math.sub(1, target), math.log(math.sub(1, o)))));
}

// ---------------------------------------------------------------------------------------------
// Activations (elementwise compositions: they fuse)

const isZero = (a: TensorLike): boolean => typeof a === "number" && a === 0;

/**
 * `T.relu(x, alpha = 0)`: `max(x, 0)`, or Theano's leaky form `x > 0 ? x : alpha * x`. Written with
 * maximum/where rather than Theano's `0.5 * (x + |x|)` so -inf maps to 0 instead of NaN.
 */
export function relu(x: TensorLike, alpha: TensorLike = 0): TensorVariable {
  const v = asTensorVariable(x);
  if (isZero(alpha)) return math.maximum(v, 0);
  return math.where(math.gt(v, 0), v, math.mul(alpha, v));
}

/** `T.elu(x, alpha = 1)`: `x > 0 ? x : alpha * (exp(x) - 1)` (expm1 keeps small x exact). */
export function elu(x: TensorLike, alpha: TensorLike = 1): TensorVariable {
  const v = asTensorVariable(x);
  return math.where(math.gt(v, 0), v, math.mul(alpha, math.expm1(v)));
}

/** SELU's constants (Klambauer et al. 2017), as Theano spells them. */
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** `T.selu(x)`: `scale * elu(x, alpha)` with the self-normalising constants. */
export function selu(x: TensorLike): TensorVariable {
  return math.mul(SELU_SCALE, elu(x, SELU_ALPHA));
}

/**
 * `T.gelu(x, approximate = false)`: `x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`, or the tanh form
 * `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` when `approximate`.
 */
export function gelu(x: TensorLike, approximate = false): TensorVariable {
  const v = asTensorVariable(x);
  const half = math.mul(0.5, v);
  if (!approximate) return math.mul(half, math.add(1, math.erf(math.mul(v, Math.SQRT1_2))));
  const inner = math.mul(Math.sqrt(2 / Math.PI), math.add(v, math.mul(0.044715, math.mul(v, math.sqr(v)))));
  return math.mul(half, math.add(1, math.tanh(inner)));
}

// ---------------------------------------------------------------------------------------------
// Dropout

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform draw in [0, 1) for element `i` under `seed`: a pure function (counter-based). */
function dropoutUniform(seed: number, i: number): number {
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 4294967296) >>> 0;
  const lo = i >>> 0;
  const hi = Math.floor(i / 4294967296) >>> 0;
  const h = fmix32(fmix32(fmix32(lo ^ 0x9e3779b9) ^ seedLo) ^ fmix32((hi + Math.imul(seedHi, 0x7feb352d)) >>> 0) ^ 0x632be5ab);
  return fmix32(h ^ seedLo) / 4294967296;
}

/**
 * Inverted dropout: each element is kept with probability 1 - p and scaled by 1 / (1 - p), else 0.
 * The mask depends only on (seed, position in C order), so it is reproducible and equal for a
 * strided input and its contiguous copy. Until RandomStreams exists the mask does not change
 * between calls of a compiled function; then it will come from a stream's state.
 */
export class Dropout extends Op {
  constructor(
    readonly p: number,
    readonly seed: number,
  ) {
    super();
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new InputError(`dropout: p must be a probability in [0, 1], got ${p}`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new InputError(`dropout: seed must be a non-negative integer, got ${seed}`);
  }

  override props(): Record<string, unknown> {
    return { p: this.p, seed: this.seed };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (!isFloat(t.dtype)) throw new TypeMismatchError(`${this}: needs a float tensor, got ${x.label}: ${t} (T.dropout casts ints to floatX)`);
    return new Apply(this, [x], [t]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const a = inputs[0] as NDArray;
    checkInputs(node, [a]);
    const src = numbersOf(a);
    const out = new (typedArrayCtor(a.dtype) as Float64ArrayConstructor)(src.length);
    if (this.p < 1) {
      const scale = 1 / (1 - this.p);
      for (let i = 0; i < src.length; i++) out[i] = dropoutUniform(this.seed, i) >= this.p ? src[i]! * scale : 0;
    }
    return [new NDArray(a.dtype, a.shape, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }

  /** The output is x * mask / (1 - p) with a mask fixed by (seed, position): the same op on gz. */
  override grad(_inputs: Variable[], [gz]: Variable[]): GradResult[] {
    return [this.call(gz)];
  }
}

// Ops made without a seed still differ from each other, and a program gets the same ones each run.
let nextSeed = 0x5eed;

/** `T.dropout(x, p, { seed })`: inverted dropout with drop probability `p`. */
export function dropout(x: TensorLike, p: number, opts: { seed?: number } = {}): TensorVariable {
  const v = asFloat(x);
  const seed = opts.seed ?? nextSeed++;
  return new Dropout(p, seed).call(v) as TensorVariable;
}

/** `T.nnet`: the neural-network namespace (sigmoid and softplus are the elementwise ones). */
export const nnet = {
  sigmoid: math.sigmoid,
  softplus: math.softplus,
  relu,
  elu,
  selu,
  gelu,
  softmax,
  logSoftmax,
  categoricalCrossentropy,
  binaryCrossentropy,
  crossentropyCategorical1Hot,
  conv2d,
  maxPool2d,
  avgPool2d,
  pool2d,
  dropout,
};

