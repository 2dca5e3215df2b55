/**
 * Making tensors of a shape, and rearranging them: `alloc`, `zeros`, `ones`, `zerosLike`,
 * `onesLike`, `fill`, `eye`, `identity`, `identityLike`, `arange`, `broadcastTo`, `tile`,
 * `repeat`, `flip`, `roll` (Theano's `Alloc`, `Eye`, `ARange` in `tensor/basic.py`, `RepeatOp`
 * in `tensor/extra_ops.py`; NumPy's semantics for the rest).
 *
 * Shapes may be symbolic: every shape argument takes numbers, int scalar variables, or an int
 * vector of known length. The ops here are Alloc (broadcast a value to a shape, a copy), Eye,
 * ARange and Repeat; `tile`, `flip` and `roll` are built from DimShuffle/Alloc/Reshape,
 * Subtensor and Join, so they inherit those ops' shape inference and gradients. Gradients:
 * Alloc sums over the broadcast axes, Repeat sums the copies (a reshape for one count, a
 * scatter-add for per-element counts), a float ARange feeds start and step; Eye and integer
 * ARange have none.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, checkDType, isBigIntDType, isFloat, isInteger, resultType, typedArrayCtor, weakOf, type WeakScalar } from "../ndarray/dtype.js";
import { NDArray, array, normalizeAxis, shapeSize } from "../ndarray/ndarray.js";
import { dimshuffle, padLeft } from "./basic.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import { concatenate } from "./join.js";
import * as math from "./math.js";
import { flatten, reshape, shape, shapeDims } from "./shape.js";
import { AdvancedIncSubtensor, type SymInt, broadcastValue, gradAs, slice, sumToType, symInt } from "./subtensor.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

/** A scalar integer argument: a number, or an int scalar variable. */
export type IntLike = number | TensorVariable | NDArray;
/** A shape argument: a number, an int scalar, an array of those, or an int vector of known length. */
export type ShapeArg = IntLike | ReadonlyArray<IntLike> | NDArray;

/** An integer scalar argument as a number (when constant) or an integer scalar variable. */
function intScalar(x: unknown, what: string): SymInt {
  if (typeof x === "bigint") return Number(x);
  if (typeof x === "number") {
    if (!Number.isInteger(x)) throw new TypeMismatchError(`${what} must be an integer, got ${x}`);
    return x;
  }
  const v = x instanceof TensorVariable || x instanceof NDArray ? asTensorVariable(x) : undefined;
  if (!v || v.ndim !== 0 || !isInteger(v.dtype)) throw new TypeMismatchError(`${what} must be an integer or an integer scalar variable, got ${v ? `${v.label}: ${v.type}` : String(x)}`);
  return symInt.of(v);
}

/** A shape argument as one SymInt per dimension. */
function shapeArgs(s: unknown, what = "shape"): SymInt[] {
  if (Array.isArray(s)) return s.map((d, i) => intScalar(d, `${what}[${i}]`));
  if (typeof s === "number" || typeof s === "bigint") return [intScalar(s, what)];
  const v = s instanceof TensorVariable || s instanceof NDArray ? asTensorVariable(s) : undefined;
  if (!v || !isInteger(v.dtype) || v.ndim > 1) throw new TypeMismatchError(`${what} must be numbers, int scalars or an int vector, got ${v ? `${v.label}: ${v.type}` : String(s)}`);
  if (v.ndim === 0) return [symInt.of(v)];
  const c = constantValue(v);
  if (c) return Array.from(c.toFlat(), Number);
  const n = v.type.shape[0];
  if (n === null || n === undefined) throw new TypeMismatchError(`${what}: an int vector of unknown length (${v.label}: ${v.type}) cannot give a shape; declare its length (T.specifyShape) or pass scalars`);
  return [...Array(n).keys()].map((i) => symInt.of(v.get(i)));
}

const isWeak = (x: unknown): x is number | boolean | readonly unknown[] => typeof x === "number" || typeof x === "boolean" || Array.isArray(x);
const weakKindOf = (x: number | boolean | readonly unknown[]): WeakScalar => {
  const a = array(x as never);
  return weakOf(a.dtype === "bool" ? true : a.dtype === "float64" ? 0.5 : 1);
};

// ---------------------------------------------------------------------------------------------
// Alloc

/** A value broadcast (NumPy's rule) to a shape given as int scalars; always a fresh array. */
export class Alloc extends Op {
  makeNode(value: Variable, ...dims: Variable[]): Apply {
    const vt = tensorType(value);
    for (const d of dims) {
      const t = tensorType(d);
      if (t.ndim !== 0 || !isInteger(t.dtype)) throw new TypeMismatchError(`Alloc: shape entries must be integer scalars, got ${d.label}: ${t}`);
    }
    if (vt.ndim > dims.length) throw new TypeMismatchError(`Alloc: a rank-${vt.ndim} value (${vt}) cannot be broadcast to ${dims.length} dimension(s)`);
    const pad = dims.length - vt.ndim;
    const shape = dims.map((d, i) => {
      const c = symInt.of(d);
      const vd = i >= pad ? vt.shape[i - pad]! : 1;
      if (typeof c === "number") {
        if (c < 0) throw new ShapeError(`Alloc: negative dimension ${c} in the shape`);
        if (vd !== null && vd !== 1 && vd !== c) throw new ShapeError(`Alloc: a value of static shape ${formatStaticShape(vt.shape)} cannot be broadcast to size ${c} on axis ${i}`);
        return c;
      }
      return vd !== null && vd !== 1 ? vd : null;
    });
    return new Apply(this, [value, ...dims], [new TensorType(vt.dtype, shape)]);
  }

  perform(_node: Apply, [value, ...dims]: Value[]): Value[] {
    const shp = (dims as NDArray[]).map((d) => Number(d.getBig()));
    if (shp.some((d) => d < 0)) throw new ShapeError(`Alloc: negative dimensions are not allowed, got shape (${shp.join(", ")})`);
    return [broadcastValue(value as NDArray, shp, "Alloc").copy()];
  }

  override inferShape(node: Apply): Variable[][] {
    const known = (node.outputs[0]!.type as TensorType).shape;
    return [node.inputs.slice(1).map((d, i) => symInt.toVar(known[i] ?? symInt.of(d)))];
  }

  /**
   * gz summed over the axes the value was broadcast along (leading ones, and those where the
   * value is broadcastable); the shape entries are integers (disconnected).
   */
  override grad([value, ...dims]: Variable[], [gz]: Variable[]): GradResult[] {
    return [sumToType(gz as TensorVariable, tensorType(value!)), ...dims.map(() => null)];
  }
}

const ALLOC = new Alloc();

function allocSym(value: TensorVariable, dims: readonly SymInt[]): TensorVariable {
  return ALLOC.call(value, ...dims.map((d) => symInt.toVar(d))) as TensorVariable;
}

/** A JS value for alloc/zeros: numbers become floatX (Theano's `T.zeros`), booleans bool. */
function allocValue(value: TensorLike): TensorVariable {
  if (isWeak(value)) {
    const a = array(value as never);
    return constant(a, { dtype: a.dtype === "bool" ? "bool" : currentFloatX() });
  }
  return asTensorVariable(value);
}

/**
 * `T.alloc(value, ...shape)`: `value` broadcast to `shape` (Theano's Alloc). The shape is given
 * as separate int arguments, or as one array / int vector. JS numbers become floatX.
 */
export function alloc(value: TensorLike, ...shp: Array<IntLike | ReadonlyArray<IntLike> | NDArray>): TensorVariable {
  const one = shp.length === 1 ? shp[0] : undefined;
  const dims =
    one !== undefined && (Array.isArray(one) || ((one instanceof TensorVariable || one instanceof NDArray) && one.ndim === 1)) ? shapeArgs(one) : shp.map((d, i) => intScalar(d, `alloc: shape[${i}]`));
  return allocSym(allocValue(value), dims);
}

/** `T.zeros(shape, dtype = floatX)`. */
export function zeros(shp: ShapeArg, dtype?: DType): TensorVariable {
  return allocSym(constant(0, { dtype: checkDType(dtype ?? currentFloatX()) }), shapeArgs(shp));
}

/** `T.ones(shape, dtype = floatX)`. */
export function ones(shp: ShapeArg, dtype?: DType): TensorVariable {
  return allocSym(constant(1, { dtype: checkDType(dtype ?? currentFloatX()) }), shapeArgs(shp));
}

const dimsOf = (v: TensorVariable): SymInt[] => [...Array(v.ndim).keys()].map((i) => symInt.of(shape(v, i)));

/** `T.zerosLike(x, dtype = x.dtype)`. */
export function zerosLike(x: TensorLike, dtype?: DType): TensorVariable {
  const v = asTensorVariable(x);
  return allocSym(constant(0, { dtype: checkDType(dtype ?? v.dtype) }), dimsOf(v));
}

/** `T.onesLike(x, dtype = x.dtype)`. */
export function onesLike(x: TensorLike, dtype?: DType): TensorVariable {
  const v = asTensorVariable(x);
  return allocSym(constant(1, { dtype: checkDType(dtype ?? v.dtype) }), dimsOf(v));
}

/**
 * `T.fill(model, value)` (Theano's fill/second): `value` broadcast to the shape of
 * `model` (and `value` together). The dtype is value's; a JS value takes model's dtype.
 */
export function fill(model: TensorLike, value: TensorLike): TensorVariable {
  const m = asTensorVariable(model);
  const v = isWeak(value) ? constant(array(value as never), { dtype: resultType([m.dtype, weakKindOf(value)], currentFloatX()) }) : asTensorVariable(value);
  const nd = Math.max(m.ndim, v.ndim);
  const dims: SymInt[] = [];
  for (let i = 0; i < nd; i++) {
    const mi = i - (nd - m.ndim);
    const vi = i - (nd - v.ndim);
    const ms = mi >= 0 ? m.type.shape[mi] : 1;
    if (ms === 1 && vi >= 0) dims.push(symInt.of(shape(v, vi)));
    else dims.push(mi >= 0 ? symInt.of(shape(m, mi)) : 1);
  }
  return allocSym(v, dims);
}

/** `T.broadcastTo(x, shape)`: NumPy's broadcast_to (a copy here; Alloc). */
export function broadcastTo(x: TensorLike, shp: ShapeArg): TensorVariable {
  return allocSym(asTensorVariable(x), shapeArgs(shp, "broadcastTo: shape"));
}

// ---------------------------------------------------------------------------------------------
// Eye

/** An n×m matrix with ones on the k-th diagonal. */
export class Eye extends Op {
  override notDifferentiable = "Eye's inputs are integer sizes and a diagonal offset";

  constructor(readonly dtype: DType) {
    super();
  }

  override props(): Record<string, unknown> {
    return { dtype: this.dtype };
  }

  override toString(): string {
    return `Eye{${this.dtype}}`;
  }

  makeNode(n: Variable, m: Variable, k: Variable): Apply {
    for (const [v, name] of [[n, "n"], [m, "m"], [k, "k"]] as const) {
      const t = tensorType(v);
      if (t.ndim !== 0 || !isInteger(t.dtype)) throw new TypeMismatchError(`Eye: ${name} must be an integer scalar, got ${v.label}: ${t}`);
    }
    const dims = [symInt.of(n), symInt.of(m)].map((d) => {
      if (typeof d !== "number") return null;
      if (d < 0) throw new ShapeError(`Eye: negative dimension ${d}`);
      return d;
    });
    return new Apply(this, [n, m, k], [new TensorType(this.dtype, dims)]);
  }

  perform(_node: Apply, [n, m, k]: Value[]): Value[] {
    const [rows, cols, diag] = ([n, m, k] as NDArray[]).map((a) => Number(a.getBig())) as [number, number, number];
    if (rows < 0 || cols < 0) throw new ShapeError(`Eye: negative dimensions are not allowed, got (${rows}, ${cols})`);
    const out = new (typedArrayCtor(this.dtype))(rows * cols);
    const one = isBigIntDType(this.dtype) ? 1n : 1;
    for (let i = 0; i < rows; i++) {
      const j = i + diag;
      if (j >= 0 && j < cols) (out as Float64Array)[i * cols + j] = one as number;
    }
    return [new NDArray(this.dtype, [rows, cols], out)];
  }

  override inferShape(node: Apply): Variable[][] {
    return [[symInt.toVar(symInt.of(node.inputs[0]!)), symInt.toVar(symInt.of(node.inputs[1]!))]];
  }
}

/** `T.eye(n, m = n, k = 0, dtype = floatX)`. */
export function eye(n: IntLike, m?: IntLike | null, k: IntLike = 0, dtype?: DType): TensorVariable {
  const nn = intScalar(n, "eye: n");
  const mm = m === null || m === undefined ? nn : intScalar(m, "eye: m");
  const kk = intScalar(k, "eye: k");
  return new Eye(checkDType(dtype ?? currentFloatX())).call(symInt.toVar(nn), symInt.toVar(mm), symInt.toVar(kk)) as TensorVariable;
}

/** `T.identity(n, dtype = floatX)`: NumPy's identity, the n×n eye. */
export function identity(n: IntLike, dtype?: DType): TensorVariable {
  return eye(n, n, 0, dtype);
}

/** `T.identityLike(x, dtype = x.dtype)`: an eye of a matrix's shape. */
export function identityLike(x: TensorLike, dtype?: DType): TensorVariable {
  const v = asTensorVariable(x);
  if (v.ndim !== 2) throw new TypeMismatchError(`identityLike needs a matrix, got ${v.label}: ${v.type}`);
  return eye(shape(v, 0), shape(v, 1), 0, dtype ?? v.dtype);
}

// ---------------------------------------------------------------------------------------------
// ARange

function arangeLength(start: number, stop: number, step: number, owner: string): number {
  if (step === 0) throw new ShapeError(`${owner}: the step must not be zero`);
  const n = Math.ceil((stop - start) / step);
  if (!Number.isFinite(n)) throw new ShapeError(`${owner}: cannot compute a length from start=${start}, stop=${stop}, step=${step}`);
  return Math.max(0, n);
}

/** `[start, stop)` by `step`, NumPy's arange (length ceil((stop - start) / step)). */
export class ARange extends Op {
  constructor(readonly dtype: DType) {
    super();
    if (dtype === "bool") throw new TypeMismatchError(`ARange: bool is not a valid arange dtype`);
    // An integer range is piecewise constant in its bounds: no gradient reaches them.
    if (!isFloat(dtype)) this.notDifferentiable = "an integer arange is piecewise constant in start, stop and step";
  }

  override props(): Record<string, unknown> {
    return { dtype: this.dtype };
  }

  override toString(): string {
    return `ARange{${this.dtype}}`;
  }

  makeNode(start: Variable, stop: Variable, step: Variable): Apply {
    for (const [v, name] of [[start, "start"], [stop, "stop"], [step, "step"]] as const) {
      const t = tensorType(v);
      if (t.ndim !== 0) throw new TypeMismatchError(`ARange: ${name} must be a scalar, got ${v.label}: ${t}`);
    }
    const c = [start, stop, step].map((v) => constantValue(v));
    let len: number | null = null;
    if (c.every((a) => a !== undefined)) {
      const [a, b, s] = c.map((x) => Number(x!.toFlat()[0]));
      len = arangeLength(a!, b!, s!, String(this));
    } else if (c[2] && Number(c[2].toFlat()[0]) === 0) throw new ShapeError(`${this}: the step must not be zero`);
    return new Apply(this, [start, stop, step], [new TensorType(this.dtype, [len])]);
  }

  perform(_node: Apply, inputs: Value[]): Value[] {
    const [start, stop, step] = (inputs as NDArray[]).map((a) => Number(a.toFlat()[0])) as [number, number, number];
    const n = arangeLength(start, stop, step, String(this));
    // NumPy's fill: the first two values are cast to the dtype, then start + i * (v1 - v0) in it.
    const out = new (typedArrayCtor(this.dtype))(n);
    const big = isBigIntDType(this.dtype);
    const cast = (x: number): number => (isFloat(this.dtype) ? (this.dtype === "float32" ? Math.fround(x) : x) : Math.trunc(x));
    const v0 = cast(start);
    const delta = n > 1 ? (this.dtype === "float32" ? Math.fround(cast(start + step) - v0) : cast(start + step) - v0) : 0;
    for (let i = 0; i < n; i++) {
      const v = i === 0 ? v0 : this.dtype === "float32" ? Math.fround(v0 + Math.fround(i * delta)) : v0 + i * delta;
      if (big) (out as BigInt64Array)[i] = BigInt(v);
      else (out as Float64Array)[i] = v;
    }
    return [new NDArray(this.dtype, [n], out)];
  }

  override inferShape(node: Apply): Variable[][] {
    const known = (node.outputs[0]!.type as TensorType).shape[0];
    if (known !== null && known !== undefined) return [[constant(known, { dtype: "int64" })]];
    const [start, stop, step] = node.inputs as TensorVariable[];
    const f64 = (v: TensorVariable): TensorVariable => math.cast(v, "float64");
    const len = math.cast(math.ceil(math.trueDiv(math.sub(f64(stop!), f64(start!)), f64(step!))), "int64");
    return [[math.maximum(len, 0)]];
  }

  /**
   * out[i] = start + i·step, so start gets sum(gz) and step sum(i·gz); stop only sets the
   * length (disconnected), as in PyTensor. An integer range has no gradient at all.
   */
  override grad([start, , step]: Variable[], [gz]: Variable[], [out]: Variable[]): GradResult[] {
    if (!isFloat(this.dtype)) return [null, null, null];
    const g = gz as TensorVariable;
    const i = arange(0, shape(out as TensorVariable, 0), 1, g.dtype);
    return [gradAs(math.sum(g), start!), null, gradAs(math.sum(math.mul(g, i)), step!)];
  }
}

type ScalarArg = number | TensorVariable | NDArray;

/**
 * `T.arange(stop)` / `T.arange(start, stop, step?, dtype?)`: symbolic bounds allowed. The dtype
 * defaults to int64 for integers and floatX for JS floats (a float tensor keeps its dtype).
 */
export function arange(start: ScalarArg, stop?: ScalarArg | DType | null, step?: ScalarArg | null, dtype?: DType): TensorVariable {
  if (typeof stop === "string") {
    dtype = stop;
    stop = undefined;
  }
  const args: ScalarArg[] = stop === undefined || stop === null ? [0, start] : [start, stop];
  args.push(step ?? 1);
  const vars = args.map((a, i) => {
    const what = `arange: ${["start", "stop", "step"][i]}`;
    if (typeof a === "number") {
      if (!Number.isFinite(a)) throw new TypeMismatchError(`${what} must be finite, got ${a}`);
      return a;
    }
    const v = a instanceof TensorVariable || a instanceof NDArray ? asTensorVariable(a) : undefined;
    if (!v || v.ndim !== 0) throw new TypeMismatchError(`${what} must be a number or a scalar variable, got ${v ? `${v.label}: ${v.type}` : String(a)}`);
    return v;
  });
  let dt: DType;
  if (dtype !== undefined) dt = checkDType(dtype);
  else {
    dt = resultType(vars.map((v) => (typeof v === "number" ? weakOf(v) : v.dtype)), currentFloatX());
    // Theano's ARange: no byte-saving for integer ranges.
    if (dt === "bool" || (isInteger(dt) && !dt.startsWith("u"))) dt = "int64";
    else if (isInteger(dt)) dt = "uint64";
  }
  const inputs = vars.map((v) => (typeof v === "number" ? constant(v, { dtype: Number.isInteger(v) ? "int64" : "float64" }) : v));
  return new ARange(dt).call(...inputs) as TensorVariable;
}

// ---------------------------------------------------------------------------------------------
// Repeat

/** Copies of each element along an axis (NumPy's repeat): repeats a scalar or one per element. */
export class Repeat extends Op {
  constructor(readonly axis: number) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis };
  }

  override toString(): string {
    return `Repeat{axis=${this.axis}}`;
  }

  makeNode(x: Variable, repeats: Variable): Apply {
    const xt = tensorType(x);
    const rt = tensorType(repeats);
    if (rt.ndim > 1 || !isInteger(rt.dtype)) throw new TypeMismatchError(`${this}: repeats must be an integer scalar or vector, got ${repeats.label}: ${rt}`);
    if (this.axis < 0 || this.axis >= xt.ndim) throw new ShapeError(`${this}: axis ${this.axis} is out of range for ${xt}`);
    const d = xt.shape[this.axis]!;
    const c = constantValue(repeats);
    const reps = c ? Array.from(c.toFlat(), Number) : null;
    if (reps && reps.some((r) => r < 0)) throw new ShapeError(`${this}: repeats may not be negative, got [${reps.join(", ")}]`);
    const len = rt.ndim === 1 ? rt.shape[0]! : 1;
    if (rt.ndim === 1 && len !== null && d !== null && len !== d && len !== 1) {
      throw new ShapeError(`${this}: ${len} repeats given for an axis of size ${d} (${xt})`);
    }
    let out: number | null = null;
    if (reps && d !== null) out = reps.length === 1 ? reps[0]! * d : reps.reduce((a, b) => a + b, 0);
    else if (reps && rt.ndim === 1 && reps.length !== 1) out = reps.reduce((a, b) => a + b, 0);
    const shp = [...xt.shape];
    shp[this.axis] = out;
    return new Apply(this, [x, repeats], [new TensorType(xt.dtype, shp)]);
  }

  perform(_node: Apply, [x, repeats]: Value[]): Value[] {
    const a = (x as NDArray).contiguous();
    const r = repeats as NDArray;
    const ax = this.axis;
    const d = a.shape[ax]!;
    const reps = Array.from(r.toFlat(), Number);
    if (r.ndim === 1 && reps.length !== d && reps.length !== 1) {
      throw new ShapeError(`${this}: ${reps.length} repeats given for an axis of size ${d} (shape (${a.shape.join(", ")}))`);
    }
    if (reps.some((v) => v < 0)) throw new ShapeError(`${this}: repeats may not be negative, got [${reps.join(", ")}]`);
    const idx: number[] = [];
    for (let i = 0; i < d; i++) for (let j = reps.length === 1 ? reps[0]! : reps[i]!; j > 0; j--) idx.push(i);
    const outer = shapeSize(a.shape.slice(0, ax));
    const inner = shapeSize(a.shape.slice(ax + 1));
    const shp = [...a.shape];
    shp[ax] = idx.length;
    const out = new (typedArrayCtor(a.dtype))(shapeSize(shp));
    const src = a.data as Float64Array;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < idx.length; j++) {
        const from = a.offset + (o * d + idx[j]!) * inner;
        (out as Float64Array).set(src.subarray(from, from + inner), (o * idx.length + j) * inner);
      }
    }
    return [new NDArray(a.dtype, shp, out)];
  }

  override inferShape(node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    const known = (node.outputs[0]!.type as TensorType).shape;
    const r = node.inputs[1] as TensorVariable;
    const d = symInt.of(xs![this.axis]!);
    let len: SymInt;
    if (r.ndim === 0) len = symInt.mul(d, symInt.of(r));
    else {
      const total = math.sum(r);
      const n = r.type.shape[0];
      len = n === 1 ? symInt.mul(d, total) : n !== null ? total : symInt.select(math.eq(shape(r, 0), 1), symInt.mul(d, total), total);
    }
    return [xs!.map((s, i) => (known[i] !== null ? constant(known[i]!, { dtype: "int64" }) : i === this.axis ? symInt.toVar(len) : s))];
  }

  /**
   * Each element's gradient is the sum of gz over its copies. One count for all: gz reshaped
   * to (..., d, r, ...) and summed over the copies' axis. One count per element: gz
   * scatter-added along the axis at `repeat(arange(d), repeats)`, the source of each copy.
   * The counts are integers (disconnected).
   */
  override grad([x, repeats]: Variable[], [gz]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    const g = gz as TensorVariable;
    const r = repeats as TensorVariable;
    const ax = this.axis;
    const dims = shapeDims(xv);
    if (r.ndim === 0) {
      const split = [...dims.slice(0, ax + 1), symInt.of(r), ...dims.slice(ax + 1)];
      return [gradAs(math.sum(reshape(g, split, split.length), ax + 1), xv), null];
    }
    const src = new Repeat(0).call(arange(0, dims[ax]!, 1, "int64"), r);
    const [z, gg] = isFloat(xv.dtype) ? [zerosLike(xv), gradAs(g, xv)] : [zerosLike(xv, g.dtype), g];
    const entries = [...new Array<{ start: null; stop: null; step: null }>(ax).fill({ start: null, stop: null, step: null }), "array" as const];
    return [new AdvancedIncSubtensor(entries, "inc").call(z, gg, src), null];
  }
}

/**
 * `T.repeat(x, repeats, axis?)`: NumPy's repeat. `repeats` is an int or int scalar (every
 * element that many times) or an int vector (one count per element, or a single count);
 * without an axis, x is flattened first.
 */
export function repeat(x: TensorLike, repeats: TensorLike, axis?: number | null): TensorVariable {
  let v = asTensorVariable(x);
  let ax: number;
  if (axis === null || axis === undefined) {
    v = flatten(v, 1);
    ax = 0;
  } else ax = normalizeAxis(axis, v.ndim);
  if (typeof repeats === "number" && !Number.isInteger(repeats)) throw new TypeMismatchError(`repeat: repeats must be integers, got ${repeats}`);
  const r = typeof repeats === "number" || Array.isArray(repeats) ? constant(array(repeats as never), { dtype: "int64" }) : asTensorVariable(repeats);
  return new Repeat(ax).call(v, r) as TensorVariable;
}

// ---------------------------------------------------------------------------------------------
// Built from other ops

/**
 * `T.tile(x, reps)`: NumPy's tile. Shorter reps are padded with ones on the left, a lower-rank
 * x with new axes on the left; built as DimShuffle + Alloc + Reshape (Theano's approach).
 */
export function tile(x: TensorLike, reps: ShapeArg): TensorVariable {
  const v = asTensorVariable(x);
  const r = shapeArgs(reps, "tile: reps");
  for (const k of r) if (typeof k === "number" && k < 0) throw new ShapeError(`tile: reps must be non-negative, got [${r.join(", ")}]`);
  const n = Math.max(v.ndim, r.length);
  const full: SymInt[] = [...new Array<SymInt>(n - r.length).fill(1), ...r];
  const xp = padLeft(v, n);
  if (full.every((k) => k === 1)) return xp;
  const pattern: Array<number | "x"> = [];
  for (let i = 0; i < n; i++) pattern.push("x", i);
  const sizes = dimsOf(xp);
  const big = allocSym(dimshuffle(xp, pattern), full.flatMap((k, i) => [k, sizes[i]!]));
  const target = full.map((k, i) => symInt.mul(k, sizes[i]!));
  return reshape(big, target.every((t) => typeof t === "number") ? (target as number[]) : target.map((t) => symInt.toVar(t)), n);
}

/** `T.flip(x, axis?)`: reverses the order along the given axes (all when omitted); a view. */
export function flip(x: TensorLike, axis?: number | readonly number[] | null): TensorVariable {
  const v = asTensorVariable(x);
  const axes = math.normalizeAxes(axis, v.ndim);
  return v.get(...[...Array(v.ndim).keys()].map((i) => (axes.includes(i) ? "::-1" : ":")));
}

/**
 * `T.roll(x, shift, axis?)`: NumPy's roll. Without an axis, x is rolled flattened and reshaped
 * back. Shifts and axes may be arrays (each axis rolled in turn); shifts may be symbolic.
 */
export function roll(x: TensorLike, shift: IntLike | ReadonlyArray<IntLike>, axis?: number | readonly number[] | null): TensorVariable {
  const v = asTensorVariable(x);
  if (axis === null || axis === undefined) {
    const dims = dimsOf(v);
    const back = dims.every((d) => typeof d === "number") ? (dims as number[]) : dims.map((d) => symInt.toVar(d));
    return reshape(roll(flatten(v, 1), shift, 0), back, v.ndim);
  }
  const shifts = Array.isArray(shift) ? shift : [shift];
  const axes = typeof axis === "number" ? [axis] : [...axis];
  if (shifts.length !== axes.length && shifts.length !== 1 && axes.length !== 1) {
    throw new TypeMismatchError(`roll: ${shifts.length} shifts and ${axes.length} axes do not broadcast together`);
  }
  const n = Math.max(shifts.length, axes.length);
  let r = v;
  for (let i = 0; i < n; i++) {
    const ax = normalizeAxis(axes[axes.length === 1 ? 0 : i]!, v.ndim);
    r = rollAxis(r, intScalar(shifts[shifts.length === 1 ? 0 : i], "roll: shift"), ax);
  }
  return r;
}

function rollAxis(v: TensorVariable, s: SymInt, ax: number): TensorVariable {
  const n = symInt.of(shape(v, ax));
  const m = symInt.mod(s, n);
  if (m === 0) return v;
  const cut = symInt.sub(n, m);
  const lead = new Array<string>(ax).fill(":");
  const front = v.get(...lead, slice(cut, null));
  const back = v.get(...lead, slice(0, cut));
  return concatenate([front, back], ax);
}

