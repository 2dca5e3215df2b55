/**
 * Joining and splitting tensors (Theano's `Join`/`Split` in `tensor/basic.py`; NumPy's
 * `concatenate`, `stack`, `split`).
 *
 * `Join` concatenates along a constant axis; its inputs may differ in dtype, the output takes
 * NumPy's promotion of them (JS numbers and nested arrays are weak, as everywhere in `T`).
 * `stack` is a Join of inputs given a new axis. `Split` cuts one tensor into `nSplits` views
 * whose sizes along the axis come from a (possibly symbolic) integer vector, Theano's
 * signature `split(x, splitsSize, nSplits, axis)`. Each is the other's gradient: Join's gz is
 * split back into the inputs' pieces, Split's output gradients are joined.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { isInteger, promoteTypes, resultType, typedArrayCtor, weakOf } from "../ndarray/dtype.js";
import { NDArray, array, normalizeAxis, shapeSize } from "../ndarray/ndarray.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import { type ShapeLike, asShapeVector, expandDims, shape } from "./shape.js";
import { type SymInt, gradAs, scatterInto, symInt } from "./subtensor.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

/** Tensors and JS values as tensors of one dtype-compatible family: JS values take the tensors' dtype. */
function asJoinOperands(args: readonly TensorLike[]): TensorVariable[] {
  const isWeak = (a: unknown): boolean => typeof a === "number" || typeof a === "boolean" || Array.isArray(a);
  const kinds = args.map((a) => {
    if (!isWeak(a)) return asTensorVariable(a).dtype;
    const v = array(a as never);
    return weakOf(v.dtype === "bool" ? true : v.dtype === "float64" ? 0.5 : 1);
  });
  const common = resultType(kinds, currentFloatX());
  return args.map((a) => (isWeak(a) ? constant(array(a as never), { dtype: common }) : asTensorVariable(a)));
}

/** Concatenation along `axis` (Theano's Join with a constant axis). */
export class Join extends Op {
  constructor(readonly axis: number) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis };
  }

  override toString(): string {
    return `Join{axis=${this.axis}}`;
  }

  makeNode(...tensors: Variable[]): Apply {
    if (tensors.length === 0) throw new TypeMismatchError(`${this}: need at least one tensor to concatenate`);
    const types = tensors.map(tensorType);
    const nd = types[0]!.ndim;
    if (types.some((t) => t.ndim !== nd)) {
      throw new TypeMismatchError(`${this}: all inputs must have the same rank, got ${types.map(String).join(", ")}`);
    }
    if (nd === 0) throw new TypeMismatchError(`${this}: 0-d tensors cannot be concatenated (use T.stack)`);
    if (this.axis < 0 || this.axis >= nd) throw new ShapeError(`${this}: axis ${this.axis} is out of range for rank-${nd} inputs`);
    const dtype = types.map((t) => t.dtype).reduce(promoteTypes);
    const shape: Array<number | null> = [];
    for (let i = 0; i < nd; i++) {
      if (i === this.axis) {
        shape.push(types.every((t) => t.shape[i] !== null) ? types.reduce((s, t) => s + t.shape[i]!, 0) : null);
        continue;
      }
      let d: number | null = null;
      for (const t of types) {
        const s = t.shape[i]!;
        if (s === null) continue;
        if (d !== null && d !== s) {
          throw new ShapeError(`${this}: static shapes ${types.map((t) => formatStaticShape(t.shape)).join(", ")} differ on axis ${i} (${d} vs ${s}); only axis ${this.axis} may differ`);
        }
        d = s;
      }
      shape.push(d);
    }
    return new Apply(this, tensors, [new TensorType(dtype, shape)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const arrs = inputs as NDArray[];
    const dtype = (node.outputs[0]!.type as TensorType).dtype;
    const first = arrs[0]!;
    const ax = this.axis;
    arrs.forEach((a, k) => {
      if (a.ndim !== first.ndim) throw new ShapeError(`${this}: input ${k} has rank ${a.ndim}, input 0 has rank ${first.ndim}`);
      a.shape.forEach((d, i) => {
        if (i !== ax && d !== first.shape[i]) {
          throw new ShapeError(
            `${this}: all input dimensions except the concatenation axis must match exactly, but along dimension ${i} input 0 has size ${first.shape[i]} and input ${k} has size ${d} (shapes ${arrs.map((b) => `(${b.shape.join(", ")})`).join(", ")})`,
          );
        }
      });
    });
    const shape = [...first.shape];
    shape[ax] = arrs.reduce((s, a) => s + a.shape[ax]!, 0);
    const out = new NDArray(dtype, shape, new (typedArrayCtor(dtype))(shapeSize(shape)));
    let off = 0;
    const lead: Array<[null, null]> = new Array(ax).fill([null, null]);
    for (const a of arrs) {
      const len = a.shape[ax]!;
      const region = out.slice(...lead, [off, off + len]);
      scatterInto(out, region.offsetArray(), region.shape, a, "set", String(this));
      off += len;
    }
    return [out];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    const nd = shapes[0]!.length;
    const known = (node.outputs[0]!.type as TensorType).shape;
    const out: Variable[] = [];
    for (let i = 0; i < nd; i++) {
      if (known[i] !== null) out.push(constant(known[i]!, { dtype: "int64" }));
      else if (i === this.axis) out.push(symInt.toVar(shapes.reduce<SymInt>((s, sh) => symInt.add(s, symInt.of(sh![i]!)), 0)));
      else out.push(shapes[0]![i]!);
    }
    return [out];
  }

  /** gz cut back into the inputs' pieces along the axis (a Split), each in its input's dtype. */
  override grad(inputs: Variable[], [gz]: Variable[]): GradResult[] {
    const sizes = inputs.map((x) => tensorType(x).shape[this.axis] ?? shape(x as TensorVariable, this.axis));
    const pieces = inputs.length === 1 ? [gz as TensorVariable] : split(gz as TensorVariable, sizes, inputs.length, this.axis);
    return pieces.map((g, i) => gradAs(g, inputs[i]!));
  }
}

const joinOps = new Map<number, Join>();

/** `T.concatenate(tensors, axis = 0)`: NumPy's concatenate; dtypes promote. */
export function concatenate(tensors: readonly TensorLike[], axis = 0): TensorVariable {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new TypeMismatchError(`concatenate needs a non-empty array of tensors`);
  const vs = asJoinOperands(tensors);
  const nd = vs[0]!.ndim;
  if (nd === 0) throw new TypeMismatchError(`concatenate: 0-d tensors cannot be concatenated (use T.stack)`);
  const ax = normalizeAxis(axis, nd);
  if (vs.length === 1) return vs[0]!;
  let op = joinOps.get(ax);
  if (!op) joinOps.set(ax, (op = new Join(ax)));
  return op.call(...vs) as TensorVariable;
}

/** `T.join(axis, ...tensors)`: Theano's argument order for concatenate. */
export function join(axis: number, ...tensors: TensorLike[]): TensorVariable {
  return concatenate(tensors, axis);
}

/** `T.stack(tensors, axis = 0)`: joins the tensors along a new axis; all must have one shape. */
export function stack(tensors: readonly TensorLike[], axis = 0): TensorVariable {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new TypeMismatchError(`stack needs a non-empty array of tensors`);
  const vs = asJoinOperands(tensors);
  const nd = vs[0]!.ndim;
  if (vs.some((v) => v.ndim !== nd)) throw new TypeMismatchError(`stack: all inputs must have the same rank, got ${vs.map((v) => String(v.type)).join(", ")}`);
  const ax = normalizeAxis(axis, nd + 1);
  const expanded = vs.map((v) => expandDims(v, ax));
  if (expanded.length === 1) return expanded[0]!;
  let op = joinOps.get(ax);
  if (!op) joinOps.set(ax, (op = new Join(ax)));
  return op.call(...expanded) as TensorVariable;
}

/** Cuts `x` along `axis` into `nSplits` views whose sizes are the `splits` vector. */
export class Split extends Op {
  constructor(
    readonly nSplits: number,
    readonly axis: number,
  ) {
    super();
    if (!Number.isInteger(nSplits) || nSplits < 1) throw new TypeMismatchError(`Split: nSplits must be a positive integer, got ${nSplits}`);
    this.viewMap = new Map([...Array(nSplits).keys()].map((i) => [i, [0]] as const));
  }

  override props(): Record<string, unknown> {
    return { nSplits: this.nSplits, axis: this.axis };
  }

  override toString(): string {
    return `Split{${this.nSplits}, axis=${this.axis}}`;
  }

  makeNode(x: Variable, splits: Variable): Apply {
    const xt = tensorType(x);
    const st = tensorType(splits);
    if (st.ndim !== 1 || !isInteger(st.dtype)) throw new TypeMismatchError(`${this}: the split sizes must be an integer vector, got ${splits.label}: ${st}`);
    if (xt.ndim === 0) throw new TypeMismatchError(`${this}: cannot split a 0-d tensor`);
    if (this.axis < 0 || this.axis >= xt.ndim) throw new ShapeError(`${this}: axis ${this.axis} is out of range for ${xt}`);
    if (st.shape[0] !== null && st.shape[0] !== this.nSplits) throw new ShapeError(`${this}: ${st.shape[0]} split sizes given for ${this.nSplits} splits`);
    const c = constantValue(splits);
    const sizes = c ? Array.from(c.toFlat(), Number) : null;
    if (sizes) {
      if (sizes.some((s) => s < 0)) throw new ShapeError(`${this}: split sizes must be non-negative, got [${sizes.join(", ")}]`);
      const total = sizes.reduce((a, b) => a + b, 0);
      const d = xt.shape[this.axis];
      if (d !== null && d !== undefined && total !== d) {
        throw new ShapeError(`${this}: split sizes [${sizes.join(", ")}] sum to ${total} but axis ${this.axis} of ${x.label} (${xt}) has size ${d}`);
      }
    }
    const outs = [...Array(this.nSplits).keys()].map((i) => {
      const shape = [...xt.shape];
      shape[this.axis] = sizes ? sizes[i]! : null;
      return new TensorType(xt.dtype, shape);
    });
    return new Apply(this, [x, splits], outs);
  }

  perform(_node: Apply, [x, splits]: Value[]): Value[] {
    const a = x as NDArray;
    const sizes = Array.from((splits as NDArray).toFlat(), Number);
    const d = a.shape[this.axis]!;
    if (sizes.length !== this.nSplits) throw new ShapeError(`${this}: got ${sizes.length} split sizes for ${this.nSplits} splits`);
    if (sizes.some((s) => s < 0)) throw new ShapeError(`${this}: split sizes must be non-negative, got [${sizes.join(", ")}]`);
    const total = sizes.reduce((s, v) => s + v, 0);
    if (total !== d) throw new ShapeError(`${this}: split sizes [${sizes.join(", ")}] sum to ${total} but axis ${this.axis} has size ${d} (shape (${a.shape.join(", ")}))`);
    const lead: Array<[null, null]> = new Array(this.axis).fill([null, null]);
    let off = 0;
    return sizes.map((s) => {
      const v = a.slice(...lead, [off, off + s]);
      off += s;
      return v;
    });
  }

  override inferShape(node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    const splits = node.inputs[1] as TensorVariable;
    const c = constantValue(splits);
    return node.outputs.map((o, i) => {
      const known = (o.type as TensorType).shape;
      return xs!.map((d, ax) => {
        if (known[ax] !== null) return constant(known[ax]!, { dtype: "int64" });
        if (ax !== this.axis) return d;
        return symInt.toVar(c ? Number(c.toFlat()[i]) : splits.get(i));
      });
    });
  }

  /** The output gradients joined back along the axis; the sizes are integers (disconnected). */
  override grad([x]: Variable[], gs: Variable[]): GradResult[] {
    const gx = gs.length === 1 ? (gs[0] as TensorVariable) : concatenate(gs as TensorVariable[], this.axis);
    return [gradAs(gx, x!), null];
  }
}

/**
 * `T.split(x, splitsSize, nSplits, axis = 0)`: Theano's split, an array of `nSplits` variables.
 * The sizes (numbers, int scalars or an int vector) must sum to the axis length (else a
 * ShapeError when the graph runs, or now when both are known).
 */
export function split(x: TensorLike, splitsSize: ShapeLike, nSplits: number, axis = 0): TensorVariable[] {
  const v = asTensorVariable(x);
  if (v.ndim === 0) throw new TypeMismatchError(`split: cannot split a 0-d tensor (${v.label})`);
  const ax = normalizeAxis(axis, v.ndim);
  const sizes = asShapeVector(splitsSize);
  return new Split(nSplits, ax).makeNode(v, sizes).outputs as TensorVariable[];
}

