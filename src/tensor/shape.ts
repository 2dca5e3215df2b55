/**
 * Shape ops (Theano's `tensor/shape.py`): Shape, ShapeI (one dimension), MakeVector (scalars
 * into an int64 vector), Reshape, SpecifyShape, and the helpers built on them (flatten,
 * squeeze, expandDims).
 *
 * Static shapes flow through: reshape with constant sizes gives a fully known output type, and
 * specifyShape makes a shape known to inference and checks it at run time. Gradients: Reshape
 * reshapes gz back, SpecifyShape passes it on; Shape, Shape_i and MakeVector deal in integer
 * sizes and are not differentiable.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { isInteger } from "../ndarray/dtype.js";
import { NDArray, normalizeAxis, resolveReshape } from "../ndarray/ndarray.js";
import { dimshuffle } from "./basic.js";
import { tensorType } from "./elemwise.js";
import { hooks } from "./hooks.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

const int64Scalar = new TensorType("int64", []);

/** `x.shape`: the run-time shape as an int64 vector. */
export class Shape extends Op {
  override notDifferentiable = "the shape of a tensor does not depend on its values";

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    return new Apply(this, [x], [new TensorType("int64", [t.ndim])]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    return [new NDArray("int64", [a.ndim], BigInt64Array.from(a.shape.map(BigInt)))];
  }

  override inferShape(node: Apply): Variable[][] {
    return [[constant(tensorType(node.inputs[0]!).ndim, { dtype: "int64" })]];
  }
}

/** One dimension of the shape as an int64 scalar (Theano's `Shape_i`). */
export class ShapeI extends Op {
  override notDifferentiable = "the shape of a tensor does not depend on its values";

  constructor(readonly i: number) {
    super();
  }

  override props(): Record<string, unknown> {
    return { i: this.i };
  }

  override toString(): string {
    return `Shape_i{${this.i}}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (this.i >= t.ndim) throw new ShapeError(`Shape_i{${this.i}} of a rank-${t.ndim} tensor`);
    return new Apply(this, [x], [int64Scalar]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    return [new NDArray("int64", [], BigInt64Array.of(BigInt((x as NDArray).shape[this.i]!)))];
  }

  override inferShape(): Variable[][] {
    return [[]];
  }
}

/** Scalars (int64) into one vector. */
export class MakeVector extends Op {
  override notDifferentiable = "MakeVector packs integer scalars (shapes), which carry no gradient";

  makeNode(...xs: Variable[]): Apply {
    for (const x of xs) {
      const t = tensorType(x);
      if (t.ndim !== 0 || !isInteger(t.dtype)) throw new TypeMismatchError(`MakeVector takes integer scalars, got ${x.label}: ${t}`);
    }
    return new Apply(this, xs, [new TensorType("int64", [xs.length])]);
  }

  perform(_node: Apply, xs: Value[]): Value[] {
    return [new NDArray("int64", [xs.length], BigInt64Array.from((xs as NDArray[]).map((a) => BigInt(a.getBig()))))];
  }

  override inferShape(node: Apply): Variable[][] {
    return [[constant(node.inputs.length, { dtype: "int64" })]];
  }
}

const SHAPE = new Shape();
const MAKE_VECTOR = new MakeVector();
const shapeIOps = new Map<number, ShapeI>();

/** `T.shape(x)` or `T.shape(x, i)`; a statically known dimension comes back as a constant. */
export function shape(x: TensorLike, i?: number): TensorVariable {
  const v = asTensorVariable(x);
  if (i === undefined) return SHAPE.call(v) as TensorVariable;
  const ax = normalizeAxis(i, v.ndim);
  const known = v.type.shape[ax];
  if (known !== null && known !== undefined) return constant(known, { dtype: "int64" });
  let op = shapeIOps.get(ax);
  if (!op) shapeIOps.set(ax, (op = new ShapeI(ax)));
  return op.call(v) as TensorVariable;
}
hooks.dim = (v, axis) => shape(v, axis);

export type ShapeLike = TensorLike | ReadonlyArray<number | TensorVariable>;

/**
 * @internal x's shape as one entry per axis: the static size where the type knows it, else a
 * Shape_i scalar. Gradient graphs use it so that statically known shapes stay constants.
 */
export function shapeDims(x: TensorVariable): Array<number | TensorVariable> {
  return x.type.shape.map((d, i) => (d !== null && d !== undefined ? d : shape(x, i)));
}

/** A shape given as numbers and/or scalars, as one int64 vector. */
export function asShapeVector(s: ShapeLike): TensorVariable {
  if (Array.isArray(s)) {
    if (s.every((d) => typeof d === "number")) return constant(s as number[], { dtype: "int64" });
    return MAKE_VECTOR.call(...s.map((d) => (typeof d === "number" ? constant(d, { dtype: "int64" }) : asTensorVariable(d)))) as TensorVariable;
  }
  const v = asTensorVariable(s);
  if (v.ndim !== 1 || !isInteger(v.dtype)) throw new TypeMismatchError(`a shape must be an integer vector, got ${v.label}: ${v.type}`);
  return v;
}

export class Reshape extends Op {
  constructor(readonly ndim: number) {
    super();
    this.viewMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { ndim: this.ndim };
  }

  override toString(): string {
    return `Reshape{${this.ndim}}`;
  }

  makeNode(x: Variable, shp: Variable): Apply {
    const t = tensorType(x);
    const st = tensorType(shp);
    if (st.ndim !== 1 || !isInteger(st.dtype)) throw new TypeMismatchError(`reshape needs an integer shape vector, got ${st}`);
    if (st.shape[0] !== null && st.shape[0] !== this.ndim) throw new ShapeError(`reshape to ${this.ndim} dims got a shape of length ${st.shape[0]}`);
    let out: Array<number | null> = new Array(this.ndim).fill(null);
    const c = constantValue(shp);
    if (c) {
      const dims = Array.from(c.toFlat(), Number);
      const size = t.shape.every((d) => d !== null) ? t.shape.reduce<number>((a, b) => a * b!, 1) : null;
      if (size !== null) out = resolveReshape([size], dims);
      else out = dims.map((d) => (d === -1 ? null : d));
      if (dims.some((d) => d < -1) || dims.filter((d) => d === -1).length > 1) throw new ShapeError(`invalid reshape target [${dims.join(", ")}]`);
    }
    return new Apply(this, [x, shp], [new TensorType(t.dtype, out)]);
  }

  perform(_node: Apply, [x, shp]: Value[]): Value[] {
    const a = x as NDArray;
    const dims = Array.from((shp as NDArray).toFlat(), Number);
    return [a.reshape(dims)];
  }

  override inferShape(node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    const out: Variable[] = [];
    const shp = node.inputs[1]!;
    const c = constantValue(shp);
    for (let i = 0; i < this.ndim; i++) {
      const known = (node.outputs[0]!.type as TensorType).shape[i];
      if (known !== null && known !== undefined) out.push(constant(known, { dtype: "int64" }));
      else if (c && Number(c.toFlat()[i]) !== -1) out.push(constant(Number(c.toFlat()[i]), { dtype: "int64" }));
      else if (c) {
        // The -1 dimension: the input size over the product of the others.
        let total: TensorVariable = constant(1, { dtype: "int64" });
        for (const d of xs!) total = total.mul(d as TensorVariable);
        let others: TensorVariable = constant(1, { dtype: "int64" });
        c.toFlat().forEach((d, k) => {
          if (k !== i) others = others.mul(Number(d));
        });
        out.push(total.intDiv(others));
      } else out.push((shp as TensorVariable).get(i));
    }
    return [out];
  }

  /** The gradient is gz reshaped back to x's shape; the target shape is an integer input. */
  override grad([x]: Variable[], [gz]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    return [reshape(gz as TensorVariable, shapeDims(xv), xv.ndim), null];
  }
}

const reshapeOps = new Map<number, Reshape>();

/** `x.reshape(shape, ndim?)`; one entry may be -1. */
export function reshape(x: TensorLike, shp: ShapeLike, ndim?: number): TensorVariable {
  const v = asTensorVariable(x);
  const sv = asShapeVector(shp);
  const n = ndim ?? sv.type.shape[0];
  if (n === null || n === undefined) throw new ShapeError(`reshape with a symbolic shape of unknown length needs ndim`);
  let op = reshapeOps.get(n);
  if (!op) reshapeOps.set(n, (op = new Reshape(n)));
  return op.call(v, sv) as TensorVariable;
}

/** Keeps the first `ndim - 1` dimensions and collapses the rest (Theano's flatten). */
export function flatten(x: TensorLike, ndim = 1): TensorVariable {
  const v = asTensorVariable(x);
  if (ndim < 1 || ndim > Math.max(v.ndim, 1)) throw new ShapeError(`flatten(ndim=${ndim}) of a rank-${v.ndim} tensor`);
  const dims: Array<number | TensorVariable> = [];
  for (let i = 0; i < ndim - 1; i++) dims.push(shape(v, i));
  dims.push(-1);
  return reshape(v, dims.every((d) => typeof d === "number") ? (dims as number[]) : dims.map((d) => (typeof d === "number" ? constant(d, { dtype: "int64" }) : d)), ndim);
}

/** Removes broadcastable (static size 1) axes, or the given ones (which must be broadcastable). */
export function squeeze(x: TensorLike, axis?: number | readonly number[]): TensorVariable {
  const v = asTensorVariable(x);
  const axes = axis === undefined ? v.type.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : (typeof axis === "number" ? [axis] : [...axis]).map((a) => normalizeAxis(a, v.ndim));
  for (const a of axes) {
    if (v.type.shape[a] !== 1) throw new ShapeError(`cannot squeeze axis ${a} of ${v.label}: ${v.type} (its size is not statically 1; use specifyShape or reshape)`);
  }
  return dimshuffle(v, [...Array(v.ndim).keys()].filter((i) => !axes.includes(i)));
}

/** Inserts a broadcastable axis at `axis`. */
export function expandDims(x: TensorLike, axis: number): TensorVariable {
  const v = asTensorVariable(x);
  const ax = normalizeAxis(axis, v.ndim + 1);
  const pattern: Array<number | "x"> = [...Array(v.ndim).keys()];
  pattern.splice(ax, 0, "x");
  return dimshuffle(v, pattern);
}

/** Asserts a shape at run time and makes it known statically (null entries stay unknown). */
export class SpecifyShape extends Op {
  constructor(readonly shape: ReadonlyArray<number | null>) {
    super();
    this.viewMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { shape: this.shape };
  }

  override toString(): string {
    return `SpecifyShape${formatStaticShape(this.shape)}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim !== this.shape.length) throw new ShapeError(`specifyShape(${x.label}, ${formatStaticShape(this.shape)}): ${x.label} has rank ${t.ndim}`);
    const out = t.shape.map((d, i) => {
      const s = this.shape[i]!;
      if (s !== null && d !== null && s !== d) throw new ShapeError(`specifyShape(${x.label}, ${formatStaticShape(this.shape)}) contradicts its static shape ${formatStaticShape(t.shape)}`);
      return s ?? d;
    });
    return new Apply(this, [x], [new TensorType(t.dtype, out)]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    if (a.ndim !== this.shape.length || this.shape.some((d, i) => d !== null && d !== a.shape[i])) {
      throw new ShapeError(`specifyShape: ${node.inputs[0]!.label} has shape [${a.shape.join(", ")}], expected ${formatStaticShape(this.shape)}`);
    }
    return [a];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [this.shape.map((d, i) => (d === null ? s![i]! : constant(d, { dtype: "int64" })))];
  }

  /** The identity's gradient, with the same shape assertion (Theano's SpecifyShape.grad). */
  override grad(_inputs: Variable[], [gz]: Variable[]): GradResult[] {
    return [specifyShape(gz as TensorVariable, this.shape)];
  }
}

export function specifyShape(x: TensorLike, shp: ReadonlyArray<number | null>): TensorVariable {
  return new SpecifyShape(shp).call(asTensorVariable(x)) as TensorVariable;
}


