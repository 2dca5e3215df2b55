/**
 * Elemwise and DimShuffle (Theano's `tensor/elemwise.py`).
 *
 * Elemwise lifts a scalar-table row to tensors with Theano's broadcasting: ranks are aligned on
 * the right after the caller pads with DimShuffle, and a dimension stretches only where its
 * static size is 1. A run-time size of 1 on a dimension not declared broadcastable is a
 * ShapeError that says how to declare it. DimShuffle permutes axes, drops broadcastable ones
 * and inserts new broadcastable ones ("x"); it is a view.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, isBigIntDType, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, shapeSize } from "../ndarray/ndarray.js";
import { type ScalarOp } from "../scalar/table.js";
import { currentFloatX } from "./floatx.js";
import { hook } from "./hooks.js";
import { TensorType, formatStaticShape } from "./type.js";

export const tensorType = (v: Variable): TensorType => {
  if (!(v.type instanceof TensorType)) throw new TypeMismatchError(`expected a tensor, got ${v.label} of type ${v.type}`);
  return v.type;
};

/** Output static shape of an elementwise op, with Theano's rule; conflicts fail now. */
export function elemwiseStaticShape(types: readonly TensorType[], opName: string): Array<number | null> {
  const nd = types[0]!.ndim;
  const out: Array<number | null> = [];
  for (let i = 0; i < nd; i++) {
    let d: number | null = 1;
    for (const t of types) {
      const s = t.shape[i]!;
      if (s === 1) continue;
      if (d === 1) d = s;
      else if (s !== null && d !== null && s !== d) {
        throw new ShapeError(`${opName}: static shapes ${types.map((t) => formatStaticShape(t.shape)).join(" and ")} cannot be broadcast together (axis ${i}: ${d} vs ${s})`);
      } else if (d === null) d = s;
    }
    out.push(d);
  }
  return out;
}

export class Elemwise extends Op {
  constructor(
    readonly scalarOp: ScalarOp,
    /** Output dtype override (used by Cast); null = the row's rule. */
    readonly outputDtype: DType | null = null,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { scalar: this.scalarOp.name, dtype: this.outputDtype ?? undefined };
  }

  override get opName(): string {
    return "Elemwise";
  }

  override toString(): string {
    return this.outputDtype && this.scalarOp.name === "identity" ? `Elemwise{cast{${this.outputDtype}}}` : `Elemwise{${this.scalarOp.name}}`;
  }

  makeNode(...inputs: Variable[]): Apply {
    const name = this.scalarOp.name;
    if (inputs.length !== this.scalarOp.arity) {
      throw new TypeMismatchError(`${name} takes ${this.scalarOp.arity} operand(s), got ${inputs.length}`);
    }
    const types = inputs.map(tensorType);
    const nd = types[0]!.ndim;
    if (types.some((t) => t.ndim !== nd)) {
      throw new TypeMismatchError(`${name}: operands of ranks ${types.map((t) => t.ndim).join(", ")} must be padded to one rank first (T.${name} does this)`);
    }
    const dtype = this.outputDtype ?? this.scalarOp.outDtype(types.map((t) => t.dtype), currentFloatX());
    const shape = elemwiseStaticShape(types, name);
    return new Apply(this, inputs, [new TensorType(dtype, shape)]);
  }

  /** Checks run-time shapes with Theano's rule and returns the output shape. */
  static checkShapes(node: Apply, shapes: ReadonlyArray<readonly number[]>): number[] {
    const types = node.inputs.map((v) => v.type as TensorType);
    const nd = types[0]!.ndim;
    const out: number[] = new Array(nd).fill(1);
    for (let i = 0; i < nd; i++) {
      let owner = -1;
      for (let k = 0; k < shapes.length; k++) {
        const s = shapes[k]![i]!;
        if (types[k]!.shape[i] === 1) {
          if (s !== 1) throw new ShapeError(`${node.op}: input ${k} is declared broadcastable on axis ${i} but has size ${s} there`);
          continue;
        }
        if (owner < 0) {
          owner = k;
          out[i] = s;
        } else if (s !== out[i]) {
          const hint =
            s === 1 || out[i] === 1
              ? ` An input of size 1 is only broadcast when its type declares that dimension broadcastable: declare it with T.row/T.col, shape: [1, ...], or x.dimshuffle("x", ...).`
              : "";
          throw new ShapeError(
            `${node.op}: input shapes [${shapes.map((sh) => `(${sh.join(", ")})`).join(", ")}] do not match on axis ${i} (input ${owner} has ${out[i]}, input ${k} has ${s}).${hint}`,
          );
        }
      }
    }
    return out;
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const arrs = inputs as NDArray[];
    const outShape = Elemwise.checkShapes(node, arrs.map((a) => a.shape));
    const outType = node.outputs[0]!.type as TensorType;
    const dtype = outType.dtype;
    const n = shapeSize(outShape);
    const out = new (typedArrayCtor(dtype))(n);
    const nd = outShape.length;
    const big = isBigIntDType(dtype);
    // Per-input strides with broadcast dimensions zeroed.
    const strides = arrs.map((a) => a.strides.map((s, i) => (a.shape[i] === 1 && outShape[i] !== 1 ? 0 : s)));
    const offs = arrs.map((a) => a.offset);
    const idx = new Array<number>(nd).fill(0);
    const vals = new Array<number>(arrs.length);
    const scalarOp = this.scalarOp;
    for (let flat = 0; flat < n; flat++) {
      for (let k = 0; k < arrs.length; k++) vals[k] = Number(arrs[k]!.data[offs[k]!]!);
      const r = scalarOp.impl(vals, dtype);
      if (big) (out as BigInt64Array)[flat] = Number.isFinite(r) ? BigInt(Math.trunc(r)) : 0n;
      // bool is truthiness (NaN and 0.5 are true), not a Uint8Array store (which makes both 0).
      else if (dtype === "bool") (out as Uint8Array)[flat] = r !== 0 ? 1 : 0;
      else (out as Float64Array)[flat] = r;
      for (let ax = nd - 1; ax >= 0; ax--) {
        idx[ax]!++;
        for (let k = 0; k < arrs.length; k++) offs[k]! += strides[k]![ax]!;
        if (idx[ax]! < outShape[ax]!) break;
        for (let k = 0; k < arrs.length; k++) offs[k]! -= idx[ax]! * strides[k]![ax]!;
        idx[ax] = 0;
      }
    }
    return [new NDArray(dtype, outShape, out)];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    // Each output dimension comes from the first input not broadcastable there.
    const types = node.inputs.map((v) => v.type as TensorType);
    const nd = types[0]!.ndim;
    const out: Variable[] = [];
    for (let i = 0; i < nd; i++) {
      const k = types.findIndex((t) => t.shape[i] !== 1);
      out.push(shapes[k < 0 ? 0 : k]![i]!);
    }
    return [out];
  }
}

export type ShufflePattern = ReadonlyArray<number | "x">;

export class DimShuffle extends Op {
  readonly inputNdim: number;
  readonly pattern: ShufflePattern;
  /** Input axes that disappear (they must be broadcastable). */
  readonly drop: number[];

  constructor(inputNdim: number, pattern: ShufflePattern) {
    super();
    this.inputNdim = inputNdim;
    this.pattern = Object.freeze([...pattern]);
    const used = pattern.filter((p): p is number => p !== "x");
    if (new Set(used).size !== used.length || used.some((p) => !Number.isInteger(p) || p < 0 || p >= inputNdim)) {
      throw new ShapeError(`dimshuffle pattern (${pattern.join(", ")}) must name each of ${inputNdim} input axes at most once`);
    }
    this.drop = [...Array(inputNdim).keys()].filter((i) => !used.includes(i));
    this.viewMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { pattern: this.pattern.map(String) };
  }

  override toString(): string {
    return `DimShuffle{${this.pattern.join(",")}}`;
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim !== this.inputNdim) throw new TypeMismatchError(`dimshuffle (${this.pattern.join(", ")}) expects a rank-${this.inputNdim} input, got ${t}`);
    for (const d of this.drop) {
      if (t.shape[d] !== 1) {
        throw new ShapeError(`dimshuffle (${this.pattern.join(", ")}) drops axis ${d} of ${x.label} (${t}), which is not broadcastable (static size 1)`);
      }
    }
    const shape = this.pattern.map((p) => (p === "x" ? 1 : t.shape[p]!));
    return new Apply(this, [x], [new TensorType(t.dtype, shape)]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    for (const d of this.drop) if (a.shape[d] !== 1) throw new ShapeError(`${this}: axis ${d} must have size 1, got shape [${a.shape.join(", ")}]`);
    const shape = this.pattern.map((p) => (p === "x" ? 1 : a.shape[p]!));
    const strides = this.pattern.map((p) => (p === "x" ? 0 : a.strides[p]!));
    return [new NDArray(a.dtype, shape, a.data, strides, a.offset)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [this.pattern.map((p) => (p === "x" ? hook("one")() : s![p]!))];
  }
}
