/**
 * Sorting, scans and counting (Theano's `tensor/sort.py` and `tensor/extra_ops.py`): `sort`,
 * `argsort`, `cumsum`, `cumprod`, `diff`, `unique`, `bincount`, `nonzero`, `flatnonzero`,
 * `oneHot`.
 *
 * Semantics and dtypes are NumPy's: NaN sorts last, argsort is stable (NumPy's kind="stable"),
 * cumsum/cumprod widen small integers to int64/uint64 and scan float32 in float32 (so results
 * match NumPy bit for bit), `axis = null` flattens, unique sorts and treats all NaNs as one
 * value. Ops whose output length depends on the values (unique, bincount, nonzero) have
 * statically unknown output lengths; their inferShape asks the output itself, as Theano's
 * shape feature does for ops it cannot see through.
 *
 * Gradients: sort scatters gz back by argsort, cumsum/cumprod use reversed cumsums (PyTensor's
 * formulas), diff applies its adjoint, unique sends gz to each value's first occurrence and
 * bincount to the weights; argsort, nonzero and oneHot are not differentiable.
 */

import { InputError, ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, GradUndefined, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, type TypedArray, checkDType, isBigIntDType, isFloat as isFloatDType, isInteger, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, normalizeAxis, shapeSize } from "../ndarray/ndarray.js";
import { tensorType } from "./elemwise.js";
import { arange, flip, zeros, zerosLike } from "./alloc.js";
import { dimshuffle } from "./basic.js";
import { currentFloatX } from "./floatx.js";
import { hooks } from "./hooks.js";
import { concatenate } from "./join.js";
import { cast, maximum, mul, sub, sumDtype, trueDiv } from "./math.js";
import { flatten, reshape, shape, shapeDims } from "./shape.js";
import { AdvancedIncSubtensor, AdvancedSubtensor1, gradAs, slice } from "./subtensor.js";
import { TensorType } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

// ---------------------------------------------------------------------------------------------
// Lanes: an axis moved last, so every 1-d slice along it is a contiguous run

interface Lanes {
  flat: TypedArray;
  /** Length of each lane (the size of the axis). */
  len: number;
  count: number;
  movedShape: number[];
  perm: number[];
}

function lanesOf(a: NDArray, axis: number): Lanes {
  const perm = [...Array(a.ndim).keys()].filter((i) => i !== axis);
  perm.push(axis);
  const t = a.transpose(...perm);
  const len = a.shape[axis]!;
  return { flat: t.toFlat(), len, count: len === 0 ? shapeSize(t.shape.slice(0, -1)) : a.size / len, movedShape: [...t.shape], perm };
}

/** Lane-ordered data back in the original axis order, C-contiguous. */
function fromLanes(dtype: DType, l: Lanes, data: TypedArray, lastLen = l.len): NDArray {
  const shape = [...l.movedShape.slice(0, -1), lastLen];
  const moved = new NDArray(dtype, shape, data);
  const axis = l.perm[l.perm.length - 1]!;
  if (axis === l.perm.length - 1) return moved;
  const inverse = new Array<number>(l.perm.length);
  l.perm.forEach((p, i) => (inverse[p] = i));
  return moved.transpose(...inverse).copy();
}

const int64 = (shape: ReadonlyArray<number | null>): TensorType => new TensorType("int64", shape);
const staticSize = (t: TensorType): number | null => (t.shape.every((d) => d !== null) ? shapeSize(t.shape as number[]) : null);
const outType = (node: Apply, i = 0): TensorType => node.outputs[i]!.type as TensorType;

/** Numeric order with NaN last; equal elements keep their index order. */
function laneComparator(lane: TypedArray): (i: number, j: number) => number {
  return (i, j) => {
    const x = lane[i]!;
    const y = lane[j]!;
    if (x < y) return -1;
    if (x > y) return 1;
    if (x === y) return i - j;
    const xn = x !== x; // NaN (bigints are never NaN)
    const yn = y !== y;
    if (xn && yn) return i - j;
    return xn ? 1 : -1;
  };
}

/** Static shape of an op over one axis (null = the flattened array). */
function axisStaticShape(t: TensorType, axis: number | null): Array<number | null> {
  return axis === null ? [staticSize(t)] : [...t.shape];
}

function checkAxis(op: Op, t: TensorType, axis: number | null): void {
  if (axis !== null && (axis < 0 || axis >= t.ndim)) throw new ShapeError(`${op}: axis ${axis} is out of range for ${t}`);
}

// ---------------------------------------------------------------------------------------------
// Sort and argsort

export class Sort extends Op {
  constructor(readonly axis: number | null) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    checkAxis(this, t, this.axis);
    return new Apply(this, [x], [new TensorType(t.dtype, axisStaticShape(t, this.axis))]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    let a = x as NDArray;
    if (this.axis === null) a = a.reshape([a.size]);
    const l = lanesOf(a, this.axis ?? 0);
    // TypedArray sort is numeric with NaN last: NumPy's order.
    for (let i = 0; i < l.count; i++) l.flat.subarray(i * l.len, (i + 1) * l.len).sort();
    return [fromLanes(a.dtype, l, l.flat)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [this.axis === null ? [product(s!)] : s!];
  }

  /** gz put back where each sorted element came from (a scatter by argsort); ties get one each. */
  override grad([x]: Variable[], [gz]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    const g = gz as TensorVariable;
    if (this.axis !== null) return [gradAs(unsort(xv, g, this.axis), xv)];
    const flat = unsort(flatten(xv, 1), g, 0);
    return [gradAs(xv.ndim === 1 ? flat : reshape(flat, shapeDims(xv), xv.ndim), xv)];
  }
}

/**
 * `g` (laid out like sort(x, axis)) scattered to the positions the sorted elements came from:
 * an advanced index with argsort along `axis` and an arange broadcast along every other axis.
 */
function unsort(x: TensorVariable, g: TensorVariable, axis: number): TensorVariable {
  const order = argsort(x, axis);
  const dims = shapeDims(x);
  const index = dims.map((d, j) => (j === axis ? order : dimshuffle(arange(0, d, 1, "int64"), dims.map((_e, k) => (k === j ? 0 : "x")))));
  const dt = x.dtype === g.dtype || !isFloatDType(x.dtype) ? g.dtype : x.dtype;
  return new AdvancedIncSubtensor(index.map(() => "array" as const), "inc").call(zerosLike(x, dt), cast(g, dt), ...index) as TensorVariable;
}

export class Argsort extends Op {
  override notDifferentiable = "argsort returns integer positions, piecewise constant in x";

  constructor(readonly axis: number | null) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    checkAxis(this, t, this.axis);
    return new Apply(this, [x], [int64(axisStaticShape(t, this.axis))]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    let a = x as NDArray;
    if (this.axis === null) a = a.reshape([a.size]);
    const l = lanesOf(a, this.axis ?? 0);
    const out = new BigInt64Array(l.flat.length);
    const idx = new Array<number>(l.len);
    for (let k = 0; k < l.count; k++) {
      for (let i = 0; i < l.len; i++) idx[i] = i;
      idx.sort(laneComparator(l.flat.subarray(k * l.len, (k + 1) * l.len)));
      for (let i = 0; i < l.len; i++) out[k * l.len + i] = BigInt(idx[i]!);
    }
    return [fromLanes("int64", l, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [this.axis === null ? [product(s!)] : s!];
  }
}

/** The product of shape scalars (the size of a flattened array). */
function product(dims: Variable[]): Variable {
  let p: TensorVariable = constant(1, { dtype: "int64" });
  for (const d of dims) p = p.mul(d as TensorVariable);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Cumulative sum and product

export class CumOp extends Op {
  constructor(
    readonly axis: number | null,
    readonly mode: "add" | "mul",
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis, mode: this.mode };
  }

  override toString(): string {
    return `Cum${this.mode === "add" ? "sum" : "prod"}{axis=${this.axis}}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    checkAxis(this, t, this.axis);
    return new Apply(this, [x], [new TensorType(sumDtype(t.dtype), axisStaticShape(t, this.axis))]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    let a = x as NDArray;
    if (this.axis === null) a = a.reshape([a.size]);
    const dtype = outType(node).dtype;
    const l = lanesOf(a, this.axis ?? 0);
    const src = l.flat;
    const out = new (typedArrayCtor(dtype))(src.length);
    const add = this.mode === "add";
    if (isBigIntDType(dtype)) {
      // Wrap every step, as NumPy's int64 arithmetic does (and to keep the bigints small).
      const wrap = dtype === "int64" ? (v: bigint) => BigInt.asIntN(64, v) : (v: bigint) => BigInt.asUintN(64, v);
      const o = out as BigInt64Array;
      for (let k = 0; k < l.count; k++) {
        let acc = add ? 0n : 1n;
        for (let i = k * l.len; i < (k + 1) * l.len; i++) {
          const v = BigInt(src[i]!);
          acc = wrap(add ? acc + v : acc * v);
          o[i] = acc;
        }
      }
    } else {
      // float32 scans round every step, as NumPy's float32 accumulate does.
      const round = dtype === "float32" ? Math.fround : (v: number) => v;
      const o = out as Float64Array;
      for (let k = 0; k < l.count; k++) {
        let acc = add ? 0 : 1;
        for (let i = k * l.len; i < (k + 1) * l.len; i++) {
          const v = src[i] as number;
          acc = round(add ? acc + v : acc * v);
          o[i] = acc;
        }
      }
    }
    return [fromLanes(dtype, l, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [this.axis === null ? [product(s!)] : s!];
  }

  /**
   * cumsum: the reversed cumsum of gz. cumprod: reversed cumsum of (out·gz), divided by x
   * (PyTensor's formula): where x holds a zero that division gives NaN or ±inf, exactly as in
   * PyTensor, so the gradient of cumprod is only meaningful for inputs without zeros.
   */
  override grad([x]: Variable[], [gz]: Variable[], [out]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    const ax = this.axis ?? 0;
    const revCumsum = (v: TensorVariable): TensorVariable => flip(cumsum(flip(v, ax), ax), ax);
    const g = gz as TensorVariable;
    const base = this.axis === null && xv.ndim !== 1 ? flatten(xv, 1) : xv;
    const gx = this.mode === "add" ? revCumsum(g) : trueDiv(revCumsum(mul(out as TensorVariable, g)), base);
    return [gradAs(this.axis === null && xv.ndim !== 1 ? reshape(gx, shapeDims(xv), xv.ndim) : gx, xv)];
  }
}

// ---------------------------------------------------------------------------------------------
// Diff

/** n-th discrete difference along an axis (NumPy's diff; bool uses !=, as NumPy does). */
export class Diff extends Op {
  constructor(
    readonly n: number,
    readonly axis: number,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { n: this.n, axis: this.axis };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim === 0) throw new TypeMismatchError(`diff needs at least one axis, got ${x.label}: ${t}`);
    checkAxis(this, t, this.axis);
    const d = t.shape[this.axis]!;
    const shape = t.shape.map((s, i) => (i !== this.axis ? s : d === null ? null : Math.max(d - this.n, 0)));
    return new Apply(this, [x], [new TensorType(t.dtype, shape)]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const l = lanesOf(a, this.axis);
    const outLen = Math.max(l.len - this.n, 0);
    const ctor = typedArrayCtor(a.dtype);
    const out = new ctor(l.count * outLen);
    const big = isBigIntDType(a.dtype);
    const isBool = a.dtype === "bool";
    // Each pass stores into an array of the dtype, so every step wraps/rounds as NumPy's does.
    const cur = new ctor(l.len);
    for (let k = 0; k < l.count && outLen > 0; k++) {
      cur.set(l.flat.subarray(k * l.len, (k + 1) * l.len) as never);
      for (let pass = 0, len = l.len; pass < this.n; pass++, len--) {
        for (let i = 0; i < len - 1; i++) {
          if (big) (cur as BigInt64Array)[i] = (cur as BigInt64Array)[i + 1]! - (cur as BigInt64Array)[i]!;
          else if (isBool) cur[i] = cur[i + 1] !== cur[i] ? 1 : 0;
          else (cur as Float64Array)[i] = (cur as Float64Array)[i + 1]! - (cur as Float64Array)[i]!;
        }
      }
      out.set(cur.subarray(0, outLen) as never, k * outLen);
    }
    return [fromLanes(a.dtype, l, out, outLen)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    const d = s![this.axis]! as TensorVariable;
    const reduced = d.isConstant ? constant(Math.max(Number((d.constantData as NDArray).getBig()) - this.n, 0), { dtype: "int64" }) : maximum(d.sub(this.n), 0);
    return [s!.map((v, i) => (i === this.axis ? reduced : v))];
  }

  /**
   * Diff is linear; the adjoint of one difference is gx[j] = g[j-1] - g[j] with g padded by a
   * zero at each end, applied n times. When the axis was shorter than n the output was empty
   * and n passes give n zeros: the result is cut to the axis length.
   */
  override grad([x]: Variable[], [gz]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    let g = gz as TensorVariable;
    if (g.dtype === "bool") return [new GradUndefined(this, 0, "diff of a boolean tensor (a != b) has no gradient")];
    const lead = new Array<string>(this.axis).fill(":");
    for (let k = 0; k < this.n; k++) {
      const z = zeros(shapeDims(g).map((d, i) => (i === this.axis ? 1 : d)), g.dtype);
      const padded = concatenate([z, g, z], this.axis);
      g = sub(padded.get(...lead, ":-1"), padded.get(...lead, "1:"));
    }
    const len = xv.type.shape[this.axis];
    if (len === null || len === undefined || len < this.n) g = g.get(...lead, slice(0, shape(xv, this.axis)));
    return [gradAs(g, xv)];
  }
}


// ---------------------------------------------------------------------------------------------
// Unique

/**
 * The sorted distinct values of the flattened input, and on request the index of each one's
 * first occurrence, the inverse (indices into the unique values that rebuild the input, in
 * the input's shape, as NumPy 2) and the counts. Output order: values, index, inverse, counts.
 */
export class Unique extends Op {
  constructor(
    readonly returnIndex: boolean,
    readonly returnInverse: boolean,
    readonly returnCounts: boolean,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { returnIndex: this.returnIndex, returnInverse: this.returnInverse, returnCounts: this.returnCounts };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    const outs = [new TensorType(t.dtype, [null])];
    if (this.returnIndex) outs.push(int64([null]));
    if (this.returnInverse) outs.push(int64(t.shape));
    if (this.returnCounts) outs.push(int64([null]));
    return new Apply(this, [x], outs);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const flat = a.toFlat();
    const n = flat.length;
    const order = [...Array(n).keys()].sort(laneComparator(flat));
    const values: Array<number | bigint> = [];
    const first: bigint[] = [];
    const counts: bigint[] = [];
    const inverse = new BigInt64Array(n);
    const same = (x: number | bigint, y: number | bigint): boolean => x === y || (x !== x && y !== y); // NaNs are one value
    for (const i of order) {
      const v = flat[i]!;
      if (values.length === 0 || !same(values[values.length - 1]!, v)) {
        values.push(v);
        first.push(BigInt(i));
        counts.push(0n);
      }
      counts[counts.length - 1]!++;
      inverse[i] = BigInt(values.length - 1);
    }
    const out: NDArray[] = [new NDArray(a.dtype, [values.length], (typedArrayCtor(a.dtype) as unknown as { from(v: unknown[]): TypedArray }).from(values))];
    if (this.returnIndex) out.push(new NDArray("int64", [first.length], BigInt64Array.from(first)));
    if (this.returnInverse) out.push(new NDArray("int64", a.shape, inverse));
    if (this.returnCounts) out.push(new NDArray("int64", [counts.length], BigInt64Array.from(counts)));
    return out;
  }

  override inferShape(node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    let k = 1;
    const out: Variable[][] = [[shape(node.outputs[0] as TensorVariable, 0)]];
    if (this.returnIndex) out.push([shape(node.outputs[k++] as TensorVariable, 0)]);
    if (this.returnInverse) {
      out.push(s!);
      k++;
    }
    if (this.returnCounts) out.push([shape(node.outputs[k] as TensorVariable, 0)]);
    return out;
  }

  /**
   * Each distinct value is a copy of its first occurrence, so gz of the values goes there
   * (a subgradient where values repeat, as max picks one element); the other outputs are
   * integer positions and counts, piecewise constant in x.
   */
  override grad([x]: Variable[], [gz]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    const flat = flatten(xv, 1);
    const first = new Unique(true, false, false).makeNode(flat).outputs[1]!;
    const g = gz as TensorVariable;
    const dt = isFloatDType(xv.dtype) ? xv.dtype : g.dtype;
    const gflat = new AdvancedIncSubtensor(["array"], "inc").call(zerosLike(flat, dt), cast(g, dt), first) as TensorVariable;
    return [xv.ndim === 1 ? gflat : reshape(gflat, shapeDims(xv), xv.ndim)];
  }
}

// ---------------------------------------------------------------------------------------------
// Bincount

/** Counts of each non-negative integer (weighted sums with weights), at least `minlength` long. */
export class Bincount extends Op {
  constructor(readonly minlength: number) {
    super();
  }

  override props(): Record<string, unknown> {
    return { minlength: this.minlength };
  }

  makeNode(x: Variable, weights?: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim !== 1 || !(isInteger(t.dtype) || t.dtype === "bool") || t.dtype === "uint64") {
      throw new TypeMismatchError(`bincount takes a vector of non-negative integers (not uint64), got ${x.label}: ${t}`);
    }
    const inputs = [x];
    if (weights) {
      const tw = tensorType(weights);
      if (tw.ndim !== 1) throw new TypeMismatchError(`bincount weights must be a vector, got ${weights.label}: ${tw}`);
      if (t.shape[0] !== null && tw.shape[0] !== null && t.shape[0] !== tw.shape[0]) {
        throw new ShapeError(`bincount: weights of static shape (${tw.shape[0]},) do not match x of static shape (${t.shape[0]},)`);
      }
      inputs.push(weights);
    }
    // NumPy casts weights to float64 whatever their dtype.
    return new Apply(this, inputs, [new TensorType(weights ? "float64" : "int64", [null])]);
  }

  perform(_node: Apply, [x, w]: Value[]): Value[] {
    const a = x as NDArray;
    const flat = a.toFlat();
    let top = -1;
    for (let i = 0; i < flat.length; i++) {
      const v = Number(flat[i]!);
      if (v < 0) throw new ShapeError(`bincount: x holds a negative value (${v} at index ${i}); counts need non-negative integers`);
      if (v > top) top = v;
    }
    const len = Math.max(top + 1, this.minlength);
    if (w === undefined) {
      const counts = new BigInt64Array(len);
      for (let i = 0; i < flat.length; i++) counts[Number(flat[i]!)]!++;
      return [new NDArray("int64", [len], counts)];
    }
    const wa = w as NDArray;
    if (wa.shape[0] !== a.shape[0]) throw new ShapeError(`bincount: weights of shape [${wa.shape.join(", ")}] do not match x of shape [${a.shape.join(", ")}]`);
    const wf = wa.astype("float64").data as Float64Array;
    const sums = new Float64Array(len);
    for (let i = 0; i < flat.length; i++) sums[Number(flat[i]!)]! += wf[i]!;
    return [new NDArray("float64", [len], sums)];
  }

  override inferShape(node: Apply): Variable[][] {
    return [[shape(node.outputs[0] as TensorVariable, 0)]];
  }

  /** out[v] sums the weights w[i] with x[i] = v, so w[i] gets gz[x[i]]; x is integer (disconnected). */
  override grad([x, weights]: Variable[], [gz]: Variable[]): GradResult[] {
    if (!weights) return [null];
    const xv = x as TensorVariable;
    const idx = xv.dtype === "bool" ? cast(xv, "int64") : xv;
    return [null, gradAs(new AdvancedSubtensor1().call(gz!, idx) as TensorVariable, weights)];
  }
}

// ---------------------------------------------------------------------------------------------
// Nonzero

/** Indices of the non-zero elements: one int64 vector per axis (or one into the flattened array). */
export class Nonzero extends Op {
  override notDifferentiable = "nonzero returns integer positions, piecewise constant in x";

  constructor(readonly flat: boolean) {
    super();
  }

  override props(): Record<string, unknown> {
    return { flat: this.flat };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim === 0 && !this.flat) throw new TypeMismatchError(`nonzero of a 0-d tensor (${x.label}) is not allowed (as in NumPy 2); use flatnonzero`);
    const n = this.flat ? 1 : t.ndim;
    return new Apply(this, [x], Array.from({ length: n }, () => int64([null])));
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const flat = a.toFlat();
    const hits: number[] = [];
    for (let i = 0; i < flat.length; i++) if (flat[i] != 0) hits.push(i); // NaN counts as non-zero
    if (this.flat) return [new NDArray("int64", [hits.length], BigInt64Array.from(hits, BigInt))];
    const outs = a.shape.map(() => new BigInt64Array(hits.length));
    hits.forEach((h, k) => {
      for (let ax = a.ndim - 1; ax >= 0; ax--) {
        const d = a.shape[ax]!;
        outs[ax]![k] = BigInt(h % d);
        h = Math.floor(h / d);
      }
    });
    return outs.map((o) => new NDArray("int64", [hits.length], o));
  }

  override inferShape(node: Apply): Variable[][] {
    return node.outputs.map((o) => [shape(o as TensorVariable, 0)]);
  }
}

// ---------------------------------------------------------------------------------------------
// One-hot

/** Theano's `to_one_hot`: an integer vector and a class count into a (len, nClasses) matrix. */
export class OneHot extends Op {
  override notDifferentiable = "oneHot's inputs are integer class indices and a class count";

  constructor(readonly dtype: DType) {
    super();
  }

  override props(): Record<string, unknown> {
    return { dtype: this.dtype };
  }

  makeNode(y: Variable, n: Variable): Apply {
    const ty = tensorType(y);
    const tn = tensorType(n);
    if (ty.ndim !== 1 || !isInteger(ty.dtype)) throw new TypeMismatchError(`oneHot takes an integer vector of class indices, got ${y.label}: ${ty}`);
    if (tn.ndim !== 0 || !isInteger(tn.dtype)) throw new TypeMismatchError(`oneHot takes an integer scalar class count, got ${n.label}: ${tn}`);
    const c = constantValue(n);
    const classes = c ? Number(c.getBig()) : null;
    if (classes !== null && classes < 0) throw new ShapeError(`oneHot: the class count must be non-negative, got ${classes}`);
    return new Apply(this, [y, n], [new TensorType(this.dtype, [ty.shape[0]!, classes])]);
  }

  perform(_node: Apply, [y, n]: Value[]): Value[] {
    const idx = (y as NDArray).toFlat();
    const classes = Number((n as NDArray).getBig());
    if (classes < 0) throw new ShapeError(`oneHot: the class count must be non-negative, got ${classes}`);
    const out = new (typedArrayCtor(this.dtype))(idx.length * classes);
    const one = isBigIntDType(this.dtype) ? 1n : 1;
    for (let i = 0; i < idx.length; i++) {
      let k = Number(idx[i]!);
      // Negative indices count from the end, as Theano's (set_subtensor-based) to_one_hot does.
      if (k < 0) k += classes;
      if (k < 0 || k >= classes) throw new ShapeError(`oneHot: index ${Number(idx[i]!)} (position ${i}) is out of bounds for ${classes} classes`);
      (out as Float64Array)[i * classes + k] = one as number;
    }
    return [new NDArray(this.dtype, [idx.length, classes], out)];
  }

  override inferShape(node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    const n = node.inputs[1] as TensorVariable;
    return [[s![0]!, n.dtype === "int64" ? n : cast(n, "int64")]];
  }
}

// ---------------------------------------------------------------------------------------------
// Public functions

const axisOrNull = (axis: number | null | undefined, v: TensorVariable): number | null => (axis === null || axis === undefined ? null : normalizeAxis(axis, v.ndim));

const cached = <K, O>(make: (k: K) => O): ((k: K) => O) => {
  const m = new Map<string, O>();
  return (k) => {
    const key = JSON.stringify(k);
    let o = m.get(key);
    if (!o) m.set(key, (o = make(k)));
    return o;
  };
};
const sortOp = cached((axis: number | null) => new Sort(axis));
const argsortOp = cached((axis: number | null) => new Argsort(axis));
const cumOp = cached(([axis, mode]: [number | null, "add" | "mul"]) => new CumOp(axis, mode));

/** `T.sort(x, axis = -1)`: sorted along an axis (null sorts the flattened array); NaN last. */
export function sort(x: TensorLike, axis: number | null = -1): TensorVariable {
  const v = asTensorVariable(x);
  return sortOp(axisOrNull(axis, v)).call(v) as TensorVariable;
}

/** `T.argsort(x, axis = -1)`: int64 indices that sort x along an axis, stable, NaN last. */
export function argsort(x: TensorLike, axis: number | null = -1): TensorVariable {
  const v = asTensorVariable(x);
  return argsortOp(axisOrNull(axis, v)).call(v) as TensorVariable;
}

/** `T.cumsum(x, axis?)`: running sums (omitted or null axis: of the flattened array). */
export function cumsum(x: TensorLike, axis?: number | null): TensorVariable {
  const v = asTensorVariable(x);
  return cumOp([axisOrNull(axis, v), "add"]).call(v) as TensorVariable;
}

/** `T.cumprod(x, axis?)`: running products (omitted or null axis: of the flattened array). */
export function cumprod(x: TensorLike, axis?: number | null): TensorVariable {
  const v = asTensorVariable(x);
  return cumOp([axisOrNull(axis, v), "mul"]).call(v) as TensorVariable;
}

/** `T.diff(x, n = 1, axis = -1)`: the n-th discrete difference along an axis; n = 0 gives x. */
export function diff(x: TensorLike, n = 1, axis = -1): TensorVariable {
  const v = asTensorVariable(x);
  if (!Number.isInteger(n) || n < 0) throw new InputError(`diff: the order n must be a non-negative integer, got ${n}`);
  if (v.ndim === 0) throw new TypeMismatchError(`diff needs at least one axis, got ${v.label}: ${v.type}`);
  if (n === 0) return v;
  return new Diff(n, normalizeAxis(axis, v.ndim)).call(v) as TensorVariable;
}

/**
 * `T.unique(x, returnIndex?, returnInverse?, returnCounts?)`: the sorted distinct values of the
 * flattened x; with any flag, an array [values, index?, inverse?, counts?] (Theano's order).
 */
export function unique(x: TensorLike): TensorVariable;
export function unique(x: TensorLike, returnIndex: boolean, returnInverse?: boolean, returnCounts?: boolean): TensorVariable | TensorVariable[];
export function unique(x: TensorLike, returnIndex = false, returnInverse = false, returnCounts = false): TensorVariable | TensorVariable[] {
  const node = new Unique(returnIndex, returnInverse, returnCounts).makeNode(asTensorVariable(x));
  const outs = node.outputs as TensorVariable[];
  return outs.length === 1 ? outs[0]! : outs;
}

/** `T.bincount(x, weights?, minlength = 0)`: occurrences (int64) or weight sums (float64) per value. */
export function bincount(x: TensorLike, weights?: TensorLike | null, minlength = 0): TensorVariable {
  if (!Number.isInteger(minlength) || minlength < 0) throw new InputError(`bincount: minlength must be a non-negative integer, got ${minlength}`);
  const op = new Bincount(minlength);
  const v = asTensorVariable(x);
  return (weights === undefined || weights === null ? op.call(v) : op.call(v, asTensorVariable(weights))) as TensorVariable;
}

/** `T.nonzero(x)`: one int64 index vector per axis, of the elements that are not zero. */
export function nonzero(x: TensorLike): TensorVariable[] {
  return new Nonzero(false).makeNode(asTensorVariable(x)).outputs as TensorVariable[];
}

/** `T.flatnonzero(x)`: indices of the non-zero elements of the flattened x. */
export function flatnonzero(x: TensorLike): TensorVariable {
  return new Nonzero(true).call(asTensorVariable(x)) as TensorVariable;
}

/** `T.oneHot(indices, nClasses, dtype = floatX)`: Theano's to_one_hot. */
export function oneHot(indices: TensorLike, nClasses: number | TensorLike, dtype?: DType): TensorVariable {
  const y = asTensorVariable(indices);
  const n = typeof nClasses === "number" ? constant(nClasses, { dtype: "int64" }) : asTensorVariable(nClasses);
  return new OneHot(dtype === undefined ? currentFloatX() : checkDType(dtype)).call(y, n) as TensorVariable;
}

hooks.sort = (x, axis) => sort(x, axis);
hooks.argsort = (x, axis) => argsort(x, axis);
hooks.cumsum = (x, axis) => cumsum(x, axis);
hooks.cumprod = (x, axis) => cumprod(x, axis);
