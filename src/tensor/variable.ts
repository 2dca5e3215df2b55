/**
 * TensorVariable and TensorConstant: the symbolic tensors users build graphs with
 * (Theano's `_tensor_py_operators` and `TensorConstant`).
 *
 * Every method is a thin call into the op families (`T.add(x, y)` is `x.add(y)`), reached
 * through namespace imports so the families and this class may import each other freely.
 * `asTensorVariable` is the one door through which JS numbers, nested arrays and NDArrays
 * enter a graph as constants.
 */

import { InputError, TypeMismatchError } from "../errors.js";
import { Constant, Variable } from "../graph/basic.js";
import { type DType } from "../ndarray/dtype.js";
import { type ArrayLike, NDArray, array } from "../ndarray/ndarray.js";
import * as basic from "./basic.js";
import { hook, hooks } from "./hooks.js";
import * as math from "./math.js";
import * as shapeOps from "./shape.js";
import { TensorType, TensorVariableCtor } from "./type.js";

export type Axis = number | readonly number[] | null | undefined;
export interface ReduceOpts {
  keepdims?: boolean;
}
/** Anything usable as a tensor operand. */
export type TensorLike = TensorVariable | ArrayLike;

export class TensorVariable extends Variable<TensorType> {
  get dtype(): DType {
    return this.type.dtype;
  }

  get ndim(): number {
    return this.type.ndim;
  }

  get broadcastable(): boolean[] {
    return this.type.broadcastable;
  }

  // --- arithmetic ---
  add(y: TensorLike): TensorVariable { return math.add(this, y); }
  sub(y: TensorLike): TensorVariable { return math.sub(this, y); }
  mul(y: TensorLike): TensorVariable { return math.mul(this, y); }
  div(y: TensorLike): TensorVariable { return math.trueDiv(this, y); }
  trueDiv(y: TensorLike): TensorVariable { return math.trueDiv(this, y); }
  intDiv(y: TensorLike): TensorVariable { return math.intDiv(this, y); }
  mod(y: TensorLike): TensorVariable { return math.mod(this, y); }
  pow(y: TensorLike): TensorVariable { return math.pow(this, y); }
  neg(): TensorVariable { return math.neg(this); }
  abs(): TensorVariable { return math.abs(this); }
  lt(y: TensorLike): TensorVariable { return math.lt(this, y); }
  le(y: TensorLike): TensorVariable { return math.le(this, y); }
  gt(y: TensorLike): TensorVariable { return math.gt(this, y); }
  ge(y: TensorLike): TensorVariable { return math.ge(this, y); }
  eq(y: TensorLike): TensorVariable { return math.eq(this, y); }
  neq(y: TensorLike): TensorVariable { return math.neq(this, y); }
  and(y: TensorLike): TensorVariable { return math.and(this, y); }
  or(y: TensorLike): TensorVariable { return math.or(this, y); }
  xor(y: TensorLike): TensorVariable { return math.xor(this, y); }
  not(): TensorVariable { return math.not(this); }
  clip(lo: TensorLike, hi: TensorLike): TensorVariable { return math.clip(this, lo, hi); }
  round(mode?: "half_to_even" | "half_away_from_zero"): TensorVariable { return math.round(this, mode); }
  astype(dtype: DType): TensorVariable { return math.cast(this, dtype); }
  copy(): TensorVariable { return math.tensorCopy(this); }

  // --- unary elementwise ---
  sign(): TensorVariable { return math.sign(this); }
  inv(): TensorVariable { return math.inv(this); }
  sqr(): TensorVariable { return math.sqr(this); }
  sqrt(): TensorVariable { return math.sqrt(this); }
  exp(): TensorVariable { return math.exp(this); }
  exp2(): TensorVariable { return math.exp2(this); }
  expm1(): TensorVariable { return math.expm1(this); }
  log(): TensorVariable { return math.log(this); }
  log2(): TensorVariable { return math.log2(this); }
  log10(): TensorVariable { return math.log10(this); }
  log1p(): TensorVariable { return math.log1p(this); }
  sin(): TensorVariable { return math.sin(this); }
  cos(): TensorVariable { return math.cos(this); }
  tan(): TensorVariable { return math.tan(this); }
  arcsin(): TensorVariable { return math.arcsin(this); }
  arccos(): TensorVariable { return math.arccos(this); }
  arctan(): TensorVariable { return math.arctan(this); }
  sinh(): TensorVariable { return math.sinh(this); }
  cosh(): TensorVariable { return math.cosh(this); }
  tanh(): TensorVariable { return math.tanh(this); }
  arcsinh(): TensorVariable { return math.arcsinh(this); }
  arccosh(): TensorVariable { return math.arccosh(this); }
  arctanh(): TensorVariable { return math.arctanh(this); }
  sigmoid(): TensorVariable { return math.sigmoid(this); }
  softplus(): TensorVariable { return math.softplus(this); }
  erf(): TensorVariable { return math.erf(this); }
  erfc(): TensorVariable { return math.erfc(this); }
  erfinv(): TensorVariable { return math.erfinv(this); }
  gamma(): TensorVariable { return math.gamma(this); }
  gammaln(): TensorVariable { return math.gammaln(this); }
  psi(): TensorVariable { return math.psi(this); }
  floor(): TensorVariable { return math.floor(this); }
  ceil(): TensorVariable { return math.ceil(this); }
  trunc(): TensorVariable { return math.trunc(this); }
  isnan(): TensorVariable { return math.isnan(this); }
  isinf(): TensorVariable { return math.isinf(this); }

  // --- reductions ---
  sum(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.sum(this, axis, opts); }
  prod(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.prod(this, axis, opts); }
  max(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.max(this, axis, opts); }
  min(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.min(this, axis, opts); }
  all(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.all(this, axis, opts); }
  any(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.any(this, axis, opts); }
  mean(axis?: Axis, opts?: ReduceOpts): TensorVariable { return math.mean(this, axis, opts); }
  var(axis?: Axis, opts?: ReduceOpts & { ddof?: number }): TensorVariable { return math.variance(this, axis, opts); }
  std(axis?: Axis, opts?: ReduceOpts & { ddof?: number }): TensorVariable { return math.std(this, axis, opts); }
  argmax(axis?: number | null, opts?: ReduceOpts): TensorVariable { return math.argmax(this, axis, opts); }
  argmin(axis?: number | null, opts?: ReduceOpts): TensorVariable { return math.argmin(this, axis, opts); }

  // --- shape ---
  dimshuffle(...pattern: Array<number | "x">): TensorVariable { return basic.dimshuffle(this, pattern); }
  transpose(...axes: number[]): TensorVariable { return basic.transpose(this, axes.length > 0 ? axes : undefined); }
  get T(): TensorVariable { return basic.transpose(this); }
  get shape(): TensorVariable & { get(i: number): TensorVariable } { return shapeOps.shape(this) as TensorVariable & { get(i: number): TensorVariable }; }
  reshape(shape: shapeOps.ShapeLike, ndim?: number): TensorVariable { return shapeOps.reshape(this, shape, ndim); }
  flatten(ndim = 1): TensorVariable { return shapeOps.flatten(this, ndim); }
  squeeze(axis?: number | number[]): TensorVariable { return shapeOps.squeeze(this, axis); }

  /** Indexing with NumPy semantics (API.md §5); implemented by the subtensor family. */
  get(...index: unknown[]): TensorVariable {
    return hook("get")(this, index);
  }

  /** The call registered by families added later (dot, sort, cumsum, ...). */
  dot(y: TensorLike): TensorVariable { return hook("dot")(this, y); }
  sort(axis: number | null = -1): TensorVariable { return hook("sort")(this, axis); }
  argsort(axis: number | null = -1): TensorVariable { return hook("argsort")(this, axis); }
  cumsum(axis?: number | null): TensorVariable { return hook("cumsum")(this, axis); }
  cumprod(axis?: number | null): TensorVariable { return hook("cumprod")(this, axis); }

  /** Compiles and runs this variable once (Theano's `Variable.eval`). */
  eval(inputs?: Map<Variable, unknown> | Array<[Variable, unknown]>): NDArray {
    return hook("eval")(this, inputs);
  }

  override toString(): string {
    return this.label;
  }
}

export class TensorConstant extends TensorVariable {
  readonly data: NDArray;

  constructor(type: TensorType, data: NDArray, name: string | null = null) {
    super(type, null, 0, name);
    this.data = data;
  }

  override cloneVariable(): TensorConstant {
    return this;
  }

  override get isConstant(): boolean {
    return true;
  }

  override get constantData(): NDArray {
    return this.data;
  }

  /** The value as a JS number when it has one element. */
  get value(): number | boolean | undefined {
    return this.data.size === 1 ? this.data.item() : undefined;
  }

  override get label(): string {
    if (this.name) return this.name;
    if (this.data.size === 1) return String(this.data.item());
    return `TensorConstant{${this.data.size <= 8 ? JSON.stringify(this.data.toArray()) : `shape=[${this.data.shape.join(",")}]`}}`;
  }
}


TensorVariableCtor.ctor = TensorVariable as never;
hooks.one = () => constant(1, { dtype: "int64" });

/** `isConstant` for tensors: a TensorConstant or a Constant of any type. */
export const isTensorConstant = (v: Variable): v is TensorConstant => v instanceof TensorConstant;
export const constantValue = (v: Variable): NDArray | undefined =>
  v instanceof TensorConstant ? v.data : v instanceof Constant ? (v.data as NDArray) : undefined;

/** `T.constant`: a constant tensor; static shape is the value's shape. */
export function constant(value: ArrayLike, opts: { dtype?: DType; name?: string } = {}): TensorConstant {
  const data = value instanceof NDArray && (opts.dtype === undefined || opts.dtype === value.dtype) ? value : array(value, opts.dtype);
  return new TensorConstant(new TensorType(data.dtype, data.shape), data, opts.name ?? null);
}

/** Anything tensor-like as a TensorVariable (numbers become constants of `dtype` if given). */
export function asTensorVariable(x: unknown, dtype?: DType): TensorVariable {
  if (x instanceof TensorVariable) return x;
  if (x instanceof Variable) throw new TypeMismatchError(`expected a tensor, got ${x.label} of type ${x.type}`);
  if (x === undefined || x === null) throw new InputError(`expected a tensor or a value, got ${String(x)}`);
  return constant(x as ArrayLike, dtype ? { dtype } : {});
}
