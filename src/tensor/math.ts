/**
 * Elementwise functions, casts and reductions (Theano's `tensor/math.py`).
 *
 * Elementwise functions promote operands as API.md §4 says: tensors by NumPy's table, JS
 * numbers (and nested JS arrays) as weak scalars that take the tensors' dtype; then ranks are
 * padded on the left and one Elemwise node is made. Reductions are CAReduce nodes that drop
 * axes (keepdims re-inserts them with a DimShuffle, as Theano does), with NumPy's accumulator
 * and output dtypes: sum/prod of small ints give int64/uint64, float32 accumulates in float64
 * and returns float32. CAReduce's gradient follows Theano's (ties of max/min and zeros in prod
 * included); argmax/argmin are not differentiable.
 */

import { ShapeError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, type WeakScalar, checkDType, dtypeRange, isBigIntDType, isFloat, resultType, typedArrayCtor, upcastToFloat } from "../ndarray/dtype.js";
import { NDArray, array, normalizeAxis, shapeSize } from "../ndarray/ndarray.js";
import * as S from "../scalar/table.js";
import type { ScalarOp } from "../scalar/table.js";
// A namespace import: alloc.ts imports this module; fill is only used when a gradient is built.
import * as alloc from "./alloc.js";
import { dimshuffle, padLeft } from "./basic.js";
import { Elemwise, tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import { hook } from "./hooks.js";
import { TensorType } from "./type.js";
import { type Axis, type ReduceOpts, type TensorLike, type TensorVariable, asTensorVariable, constant } from "./variable.js";

const elemwiseOps = new Map<string, Elemwise>();

export function elemwiseOf(op: ScalarOp, outputDtype: DType | null = null): Elemwise {
  const key = `${op.name}/${outputDtype ?? ""}`;
  let e = elemwiseOps.get(key);
  if (!e) {
    e = new Elemwise(op, outputDtype);
    elemwiseOps.set(key, e);
  }
  return e;
}

function isWeakValue(x: unknown): x is number | boolean | readonly unknown[] {
  return typeof x === "number" || typeof x === "boolean" || Array.isArray(x);
}

function weakKind(x: number | boolean | readonly unknown[]): WeakScalar {
  if (typeof x === "boolean") return { weak: "bool" };
  if (typeof x === "number") return { weak: Number.isInteger(x) ? "int" : "float" };
  const a = array(x as never);
  return { weak: a.dtype === "bool" ? "bool" : a.dtype === "float64" ? "float" : "int" };
}

/** Turns mixed operands into tensors of a common rank, weak values taking the strong dtype. */
export function promoteOperands(args: readonly TensorLike[]): TensorVariable[] {
  const strong: DType[] = [];
  const kinds: Array<DType | WeakScalar> = [];
  for (const a of args) {
    if (isWeakValue(a)) kinds.push(weakKind(a));
    else {
      const d = asTensorVariable(a).dtype;
      strong.push(d);
      kinds.push(d);
    }
  }
  const common = resultType(kinds, currentFloatX());
  const vars = args.map((a) => (isWeakValue(a) ? constant(a as never, { dtype: common }) : asTensorVariable(a)));
  const nd = Math.max(...vars.map((v) => v.ndim));
  return vars.map((v) => padLeft(v, nd));
}

/** Applies a scalar-table row elementwise. */
export function applyElemwise(op: ScalarOp, ...args: TensorLike[]): TensorVariable {
  return elemwiseOf(op).call(...promoteOperands(args)) as TensorVariable;
}

const binary = (op: ScalarOp) => (x: TensorLike, y: TensorLike): TensorVariable => applyElemwise(op, x, y);
const unary = (op: ScalarOp) => (x: TensorLike): TensorVariable => applyElemwise(op, x);

export const add = binary(S.add);
export const sub = binary(S.sub);
export const mul = binary(S.mul);
export const trueDiv = binary(S.trueDiv);
export const div = trueDiv;
export const intDiv = binary(S.intDiv);
export const mod = binary(S.mod);
export const pow = binary(S.pow);
export const minimum = binary(S.minimum);
export const maximum = binary(S.maximum);
export const arctan2 = binary(S.arctan2);
export const eq = binary(S.eq);
export const neq = binary(S.neq);
export const lt = binary(S.lt);
export const le = binary(S.le);
export const gt = binary(S.gt);
export const ge = binary(S.ge);
export const and = binary(S.and);
export const or = binary(S.or);
export const xor = binary(S.xor);
export const not = unary(S.not);
export const neg = unary(S.neg);
export const abs = unary(S.abs);
export const sign = unary(S.sign);
export const inv = unary(S.inv);
export const sqr = unary(S.sqr);
export const sqrt = unary(S.sqrt);
export const exp = unary(S.exp);
export const exp2 = unary(S.exp2);
export const expm1 = unary(S.expm1);
export const log = unary(S.log);
export const log2 = unary(S.log2);
export const log10 = unary(S.log10);
export const log1p = unary(S.log1p);
export const sin = unary(S.sin);
export const cos = unary(S.cos);
export const tan = unary(S.tan);
export const arcsin = unary(S.arcsin);
export const arccos = unary(S.arccos);
export const arctan = unary(S.arctan);
export const sinh = unary(S.sinh);
export const cosh = unary(S.cosh);
export const tanh = unary(S.tanh);
export const arcsinh = unary(S.arcsinh);
export const arccosh = unary(S.arccosh);
export const arctanh = unary(S.arctanh);
export const sigmoid = unary(S.sigmoid);
export const softplus = unary(S.softplus);
export const erf = unary(S.erf);
export const erfc = unary(S.erfc);
export const erfinv = unary(S.erfinv);
export const gamma = unary(S.gamma);
export const gammaln = unary(S.gammaln);
export const psi = unary(S.psi);
export const trigamma = unary(S.trigamma);
export const floor = unary(S.floor);
export const ceil = unary(S.ceil);
export const trunc = unary(S.trunc);
export const isnan = unary(S.isnan);
export const isinf = unary(S.isinf);

export function clip(x: TensorLike, lo: TensorLike, hi: TensorLike): TensorVariable {
  return applyElemwise(S.clip, x, lo, hi);
}

/** `where(cond, a, b)`: the condition is cast to bool; a and b promote together. */
export function where(cond: TensorLike, a: TensorLike, b: TensorLike): TensorVariable {
  let c = asTensorVariable(cond);
  if (c.dtype !== "bool") c = neq(c, 0);
  const [va, vb] = promoteOperands([a, b]);
  const nd = Math.max(c.ndim, va!.ndim, vb!.ndim);
  return elemwiseOf(S.where).call(padLeft(c, nd), padLeft(va!, nd), padLeft(vb!, nd)) as TensorVariable;
}
export const switch_ = where;

/** NumPy rounding (half to even) by default; Theano's half-away-from-zero on request. */
export function round(x: TensorLike, mode: "half_to_even" | "half_away_from_zero" = "half_to_even"): TensorVariable {
  return applyElemwise(mode === "half_to_even" ? S.roundHalfToEven : S.roundHalfAwayFromZero, x);
}

/** `T.cast(x, dtype)`: NumPy's astype semantics; a no-op when the dtype already matches. */
export function cast(x: TensorLike, dtype: DType): TensorVariable {
  const v = asTensorVariable(x);
  const d = checkDType(dtype);
  if (v.dtype === d) return v;
  return elemwiseOf(S.identity, d).call(v) as TensorVariable;
}

/** A copy that never aliases its input (Theano's `tensor_copy`). */
export function tensorCopy(x: TensorLike): TensorVariable {
  return elemwiseOf(S.identity).call(asTensorVariable(x)) as TensorVariable;
}

// ---------------------------------------------------------------------------------------------
// Reductions

/** Normalised, sorted, de-duplicated axes; null = all. */
export function normalizeAxes(axis: Axis, ndim: number): number[] {
  if (axis === null || axis === undefined) return [...Array(ndim).keys()];
  const list = typeof axis === "number" ? [axis] : [...axis];
  const out = list.map((a) => normalizeAxis(a, ndim));
  if (new Set(out).size !== out.length) throw new ShapeError(`duplicate axis in (${list.join(", ")})`);
  return out.sort((a, b) => a - b);
}

export type ReduceKind = "add" | "mul" | "maximum" | "minimum" | "and" | "or";

/** CAReduce: a commutative, associative scalar op folded over some axes. */
export class CAReduce extends Op {
  constructor(
    readonly kind: ReduceKind,
    readonly axis: readonly number[],
    readonly dtype: DType,
    readonly accDtype: DType,
    /** Max/min of an empty lane give the row's identity (-inf/+inf) instead of raising (logsumexp). */
    readonly emptyIdentity = false,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { op: this.kind, axis: this.axis, dtype: this.dtype, acc: this.accDtype, emptyIdentity: this.emptyIdentity || undefined };
  }

  override toString(): string {
    const name = { add: "Sum", mul: "Prod", maximum: "Max", minimum: "Min", and: "All", or: "Any" }[this.kind];
    return `${name}{axis=(${this.axis.join(", ")})}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    for (const a of this.axis) if (a < 0 || a >= t.ndim) throw new ShapeError(`${this}: axis ${a} is out of range for ${t}`);
    const shape = t.shape.filter((_d, i) => !this.axis.includes(i));
    return new Apply(this, [x], [new TensorType(this.dtype, shape)]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const keep = [...Array(a.ndim).keys()].filter((i) => !this.axis.includes(i));
    const outShape = keep.map((i) => a.shape[i]!);
    const inner = shapeSize(this.axis.map((i) => a.shape[i]!));
    const outer = shapeSize(outShape);
    const extremum = this.kind === "maximum" || this.kind === "minimum";
    if (inner === 0 && extremum && outer > 0 && !this.emptyIdentity) {
      throw new ShapeError(`${this}: zero-size reduction over axes (${this.axis.join(", ")}) of shape [${a.shape.join(", ")}] has no identity`);
    }
    const flat = a.transpose(...keep, ...this.axis).toFlat();
    const out = new (typedArrayCtor(this.dtype))(outer);
    const big = isBigIntDType(this.dtype);
    for (let o = 0; o < outer; o++) {
      let acc = this.kind === "add" || this.kind === "or" ? 0 : this.kind === "mul" || this.kind === "and" ? 1 : NaN;
      if (inner === 0 && extremum) {
        const [lo, hi] = isFloat(this.dtype) ? [-Infinity, Infinity] : dtypeRange(this.dtype);
        acc = this.kind === "maximum" ? lo : hi;
      }
      let bacc = this.kind === "mul" ? 1n : 0n;
      const base = o * inner;
      for (let i = 0; i < inner; i++) {
        const raw = flat[base + i]!;
        if (big && (this.kind === "add" || this.kind === "mul")) {
          const b = BigInt(raw);
          bacc = this.kind === "add" ? bacc + b : bacc * b;
          continue;
        }
        const v = Number(raw);
        switch (this.kind) {
          case "add": acc += v; break;
          case "mul": acc *= v; break;
          case "maximum": acc = i === 0 ? v : Number.isNaN(acc) || v > acc || Number.isNaN(v) ? (Number.isNaN(acc) ? acc : v) : acc; break;
          case "minimum": acc = i === 0 ? v : Number.isNaN(acc) || v < acc || Number.isNaN(v) ? (Number.isNaN(acc) ? acc : v) : acc; break;
          // Truthiness as NumPy's: NaN is true.
          case "and": acc = acc !== 0 && v !== 0 ? 1 : 0; break;
          case "or": acc = acc !== 0 || v !== 0 ? 1 : 0; break;
          default: this.kind satisfies never;
        }
      }
      if (big) {
        const val = this.kind === "add" || this.kind === "mul" ? bacc : BigInt(acc);
        (out as BigInt64Array)[o] = this.dtype === "int64" ? BigInt.asIntN(64, val) : BigInt.asUintN(64, val);
      } else (out as Float64Array)[o] = acc;
    }
    return [new NDArray(this.dtype, outShape, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!.filter((_d, i) => !this.axis.includes(i))];
  }

  /**
   * Sum: gz broadcast back over the reduced axes. Max/min: gz goes to every position equal to
   * the result, so tied maxima all receive it (Theano's and PyTensor's choice; no choice is
   * exact at a tie). Prod, Theano's way with zeros: gz·prod/x in a lane without zeros; in a lane
   * with exactly one zero, the product of the other entries at the zero and 0 elsewhere; with
   * two or more zeros, 0 everywhere. All/Any and integer inputs: disconnected.
   */
  override grad(inputs: Variable[], outputGrads: Variable[], outputs: Variable[]): GradResult[] {
    const x = inputs[0] as TensorVariable;
    const kind = this.kind;
    if (!isFloat(x.dtype) || kind === "and" || kind === "or") return [null];
    const nd = x.ndim;
    const gz = keepDims(outputGrads[0] as TensorVariable, nd, this.axis);
    const out = keepDims(outputs[0] as TensorVariable, nd, this.axis);
    let g: TensorVariable;
    switch (kind) {
      case "add":
        g = alloc.fill(x, gz);
        break;
      case "maximum":
      case "minimum":
        g = mul(gz, eq(x, out));
        break;
      case "mul": {
        const isZero = eq(x, 0);
        const nZeros = keepDims(sum(isZero, this.axis), nd, this.axis);
        const othersAtZero = keepDims(prod(where(isZero, 1, x), this.axis), nd, this.axis);
        const noZeros = mul(gz, trueDiv(out, x));
        const oneZero = mul(gz, where(and(eq(nZeros, 1), isZero), othersAtZero, 0));
        g = where(eq(nZeros, 0), noZeros, oneZero);
        break;
      }
      default:
        kind satisfies never;
        throw new ShapeError(`unknown reduction ${String(kind)}`);
    }
    return [g.dtype === x.dtype ? g : cast(g, x.dtype)];
  }
}

/** NumPy's dtype of sum/prod: small signed ints and bool → int64, small unsigned → uint64. */
export function sumDtype(d: DType): DType {
  if (d === "bool" || d === "int8" || d === "int16" || d === "int32") return "int64";
  if (d === "uint8" || d === "uint16" || d === "uint32") return "uint64";
  return d;
}

function reduce(kind: ReduceKind, x: TensorLike, axis: Axis, opts: ReduceOpts | undefined, dtype?: DType): TensorVariable {
  const v = asTensorVariable(x);
  const axes = normalizeAxes(axis, v.ndim);
  const outDtype = dtype ?? (kind === "add" || kind === "mul" ? sumDtype(v.dtype) : kind === "and" || kind === "or" ? "bool" : v.dtype);
  const acc = isFloat(outDtype) ? "float64" : outDtype;
  const r = axes.length === 0 && kind !== "and" && kind !== "or" && outDtype === v.dtype ? v : (new CAReduce(kind, axes, outDtype, acc).call(v) as TensorVariable);
  return opts?.keepdims ? keepDims(r, v.ndim, axes) : r;
}

/** Re-inserts reduced axes as broadcastable ones. */
export function keepDims(r: TensorVariable, ndim: number, axes: readonly number[]): TensorVariable {
  const pattern: Array<number | "x"> = [];
  let k = 0;
  for (let i = 0; i < ndim; i++) pattern.push(axes.includes(i) ? "x" : k++);
  return dimshuffle(r, pattern);
}

export const sum = (x: TensorLike, axis?: Axis, opts?: ReduceOpts & { dtype?: DType }): TensorVariable => reduce("add", x, axis, opts, opts?.dtype);
export const prod = (x: TensorLike, axis?: Axis, opts?: ReduceOpts & { dtype?: DType }): TensorVariable => reduce("mul", x, axis, opts, opts?.dtype);
export const max = (x: TensorLike, axis?: Axis, opts?: ReduceOpts): TensorVariable => reduce("maximum", x, axis, opts);
export const min = (x: TensorLike, axis?: Axis, opts?: ReduceOpts): TensorVariable => reduce("minimum", x, axis, opts);
export const all = (x: TensorLike, axis?: Axis, opts?: ReduceOpts): TensorVariable => reduce("and", x, axis, opts);
export const any = (x: TensorLike, axis?: Axis, opts?: ReduceOpts): TensorVariable => reduce("or", x, axis, opts);

/** The number of elements over `axes`, as a scalar of `dtype`. */
function countOver(v: TensorVariable, axes: readonly number[], dtype: DType): TensorVariable {
  // Imported lazily through the shape family to keep this module free of the Shape op.
  let n: TensorVariable = constant(1, { dtype: "int64" });
  for (const a of axes) n = mul(n, shapeDim(v, a));
  return cast(n, dtype);
}

const shapeDim = (v: TensorVariable, axis: number): TensorVariable => {
  const known = v.type.shape[axis];
  if (known !== null && known !== undefined) return constant(known, { dtype: "int64" });
  return hook("dim")(v, axis);
};

/** Mean in floatX for ints, in the input dtype for floats (accumulating in float64). */
export function mean(x: TensorLike, axis?: Axis, opts?: ReduceOpts): TensorVariable {
  const v = asTensorVariable(x);
  const axes = normalizeAxes(axis, v.ndim);
  const outDtype = upcastToFloat(v.dtype === "bool" ? "int8" : v.dtype, currentFloatX());
  const s = sum(cast(v, outDtype), axes, { dtype: outDtype });
  const m = trueDiv(s, countOver(v, axes, outDtype));
  return opts?.keepdims ? keepDims(m, v.ndim, axes) : m;
}

/** Variance (ddof = 0 by default, as NumPy and Theano). */
export function variance(x: TensorLike, axis?: Axis, opts?: ReduceOpts & { ddof?: number }): TensorVariable {
  const v = asTensorVariable(x);
  const axes = normalizeAxes(axis, v.ndim);
  const outDtype = upcastToFloat(v.dtype === "bool" ? "int8" : v.dtype, currentFloatX());
  const xv = cast(v, outDtype);
  const centered = sub(xv, mean(xv, axes, { keepdims: true }));
  const ss = sum(sqr(centered), axes, { dtype: outDtype });
  const ddof = opts?.ddof ?? 0;
  const n = ddof === 0 ? countOver(v, axes, outDtype) : sub(countOver(v, axes, outDtype), ddof);
  const r = trueDiv(ss, n);
  return opts?.keepdims ? keepDims(r, v.ndim, axes) : r;
}
export const var_ = variance;

export function std(x: TensorLike, axis?: Axis, opts?: ReduceOpts & { ddof?: number }): TensorVariable {
  return sqrt(variance(x, axis, opts));
}

/** log(sum(exp(x))) computed stably: max + log(sum(exp(x - max))); an all -inf slice gives -inf. */
export function logsumexp(x: TensorLike, axis?: Axis, keepdims = false): TensorVariable {
  const v = asTensorVariable(x);
  const axes = normalizeAxes(axis, v.ndim);
  // The shift is the lane max, with -inf for an empty lane (whose logsumexp is log(0) = -inf).
  const m0 = axes.length === 0 ? v : (new CAReduce("maximum", axes, v.dtype, isFloat(v.dtype) ? "float64" : v.dtype, true).call(v) as TensorVariable);
  const m = keepDims(m0, v.ndim, axes);
  const safeM = where(isinf(m), 0, m);
  const r = add(log(sum(exp(sub(v, safeM)), axes, { keepdims: true })), safeM);
  return keepdims ? r : (dimshuffle(r, [...Array(v.ndim).keys()].filter((i) => !axes.includes(i))) as TensorVariable);
}

/** Argmax/Argmin over one axis (null = the flattened array); NaN wins, first index on ties. */
export class Argmax extends Op {
  override readonly notDifferentiable = "argmax/argmin return integer positions, which are piecewise constant in the input";

  constructor(
    readonly axis: number | null,
    readonly kind: "max" | "min",
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis, kind: this.kind };
  }

  override toString(): string {
    return `Arg${this.kind}{axis=${this.axis}}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (this.axis !== null && (this.axis < 0 || this.axis >= t.ndim)) throw new ShapeError(`${this}: axis out of range for ${t}`);
    const shape = this.axis === null ? [] : t.shape.filter((_d, i) => i !== this.axis);
    return new Apply(this, [x], [new TensorType("int64", shape)]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    let a = x as NDArray;
    if (this.axis === null) a = a.reshape([a.size]);
    const ax = this.axis ?? 0;
    const keep = [...Array(a.ndim).keys()].filter((i) => i !== ax);
    const outShape = keep.map((i) => a.shape[i]!);
    const inner = a.shape[ax]!;
    const outer = shapeSize(outShape);
    if (inner === 0) throw new ShapeError(`arg${this.kind} of an empty sequence (shape [${(x as NDArray).shape.join(", ")}])`);
    const flat = a.transpose(...keep, ax).toFlat();
    const out = new BigInt64Array(outer);
    const better = this.kind === "max" ? (v: number, b: number) => v > b : (v: number, b: number) => v < b;
    for (let o = 0; o < outer; o++) {
      let best = Number(flat[o * inner]!);
      let bi = 0;
      for (let i = 1; i < inner && !Number.isNaN(best); i++) {
        const v = Number(flat[o * inner + i]!);
        if (Number.isNaN(v) || better(v, best)) {
          best = v;
          bi = i;
        }
      }
      out[o] = BigInt(bi);
    }
    return [new NDArray("int64", outShape, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [this.axis === null ? [] : s!.filter((_d, i) => i !== this.axis)];
  }
}

function argReduce(kind: "max" | "min", x: TensorLike, axis: number | null | undefined, opts?: ReduceOpts): TensorVariable {
  const v = asTensorVariable(x);
  const ax = axis === null || axis === undefined ? null : normalizeAxis(axis, v.ndim);
  const r = new Argmax(ax, kind).call(v) as TensorVariable;
  if (!opts?.keepdims) return r;
  return keepDims(r, v.ndim, ax === null ? [...Array(v.ndim).keys()] : [ax]);
}

export const argmax = (x: TensorLike, axis?: number | null, opts?: ReduceOpts): TensorVariable => argReduce("max", x, axis, opts);
export const argmin = (x: TensorLike, axis?: number | null, opts?: ReduceOpts): TensorVariable => argReduce("min", x, axis, opts);
