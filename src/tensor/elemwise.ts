/**
 * Elemwise and DimShuffle (Theano's `tensor/elemwise.py`).
 *
 * Elemwise lifts a scalar-table row to tensors with Theano's broadcasting: ranks are aligned on
 * the right after the caller pads with DimShuffle, and a dimension stretches only where its
 * static size is 1. A run-time size of 1 on a dimension not declared broadcastable is a
 * ShapeError that says how to declare it. DimShuffle permutes axes, drops broadcastable ones
 * and inserts new broadcastable ones ("x"); it is a view. Elemwise's gradient applies the row's
 * rule from `scalar_grads.ts`; DimShuffle's is the inverse shuffle.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, GradUndefined, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, isBigIntDType, isFloat } from "../ndarray/dtype.js";
import { NDArray, allocData, shapeSize } from "../ndarray/ndarray.js";
import { Composite } from "../scalar/composite.js";
import { type ScalarOp } from "../scalar/table.js";
// Namespace imports: these modules import this one, and are only used when a gradient is built.
import * as alloc from "./alloc.js";
import * as math from "./math.js";
import { currentFloatX } from "./floatx.js";
import { hook } from "./hooks.js";
import { NOT_DIFFERENTIABLE, SCALAR_GRADS, ScalarGradUndefined } from "./scalar_grads.js";
import { sumToType } from "./subtensor.js";
import { TensorType, formatStaticShape } from "./type.js";
import type { TensorVariable } from "./variable.js";

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
    /**
     * Theano's `inplace_pattern`: output index -> the input it overwrites (same dtype and shape).
     * Only the in-place rewrite sets it, under the destroy handler's guard.
     */
    readonly inplacePattern: ReadonlyMap<number, number> = new Map(),
  ) {
    super();
    if (inplacePattern.size > 0) this.destroyMap = new Map([...inplacePattern].map(([o, i]) => [o, [i]] as const));
  }

  override props(): Record<string, unknown> {
    const p: Record<string, unknown> = { scalar: this.scalarOp.name, dtype: this.outputDtype ?? undefined };
    if (this.inplacePattern.size > 0) p["inplace"] = [...this.inplacePattern].map(([o, i]) => `${o}:${i}`);
    return p;
  }

  /** The input output 0 is written into, or -1. */
  get inplaceInput(): number {
    return this.inplacePattern.get(0) ?? -1;
  }

  override get opName(): string {
    return "Elemwise";
  }

  override toString(): string {
    const base = this.outputDtype && this.scalarOp.name === "identity" ? `Elemwise{cast{${this.outputDtype}}}` : `Elemwise{${this.scalarOp.name}}`;
    // Theano's spelling of an in-place pattern: Elemwise{add}[(0, 1)].
    return this.inplacePattern.size > 0 ? `${base}[${[...this.inplacePattern].map(([o, i]) => `(${o}, ${i})`).join(", ")}]` : base;
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
    // In place: write over the destroyed input when its memory is laid out as the output (else
    // a fresh buffer; the input is dead either way). Reading element i before writing it is safe.
    const j = this.inplaceInput;
    const dst = j >= 0 ? arrs[j]! : null;
    const out =
      dst && dst.dtype === dtype && dst.isContiguous && dst.offset === 0 && dst.data.length === n && dst.shape.every((d, i) => d === outShape[i])
        ? dst.data
        : allocData(dtype, outShape);
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

  /**
   * The row's rule from `scalar_grads.ts`, then per operand: integer and bool operands are
   * disconnected (null), and the gradient is summed over the axes the operand was broadcast
   * along (known statically: only axes of static size 1 broadcast) and cast to its dtype. An integer or bool output (a cast to int) carries
   * no gradient: float operands get zeros, as Theano's Cast. A Composite (a fusion output) is
   * differentiated step by step through its unfused rows, so graphs taken from a compiled
   * function can be differentiated too.
   */
  override grad(inputs: Variable[], outputGrads: Variable[], outputs: Variable[]): GradResult[] {
    const ins = inputs as TensorVariable[];
    const gz = outputGrads[0] as TensorVariable;
    const out = outputs[0] as TensorVariable;
    const op = this.scalarOp;
    if (op instanceof Composite) return this.compositeGrad(op, ins, gz);
    const rule = SCALAR_GRADS[op.name];
    if (rule === NOT_DIFFERENTIABLE) return ins.map(() => null);
    if (rule === undefined) return ins.map((_x, i) => new GradUndefined(this, i, `the scalar op ${op.name} has no gradient rule in src/tensor/scalar_grads.ts`));
    if (!isFloat(out.dtype)) return ins.map((x) => (isFloat(x.dtype) ? alloc.zerosLike(x) : null));
    const raw = rule(ins, out, gz);
    return ins.map((x, i): GradResult => {
      const r = raw[i];
      if (!isFloat(x.dtype) || r === null || r === undefined) return null;
      if (r instanceof ScalarGradUndefined) return new GradUndefined(this, i, r.reason);
      return sumToType(r, x.type);
    });
  }

  /** Reverse accumulation over a Composite's steps, each step an unfused Elemwise node. */
  private compositeGrad(c: Composite, ins: TensorVariable[], gz: TensorVariable): GradResult[] {
    const vals: TensorVariable[] = [];
    for (const s of c.steps) {
      const args = s.args.map((r) => ("input" in r ? ins[r.input]! : vals[r.step]!));
      const ruleDtype = s.op.outDtype(args.map((a) => a.dtype), currentFloatX());
      vals.push(new Elemwise(s.op, ruleDtype === s.dtype ? null : s.dtype).call(...args) as TensorVariable);
    }
    // Per step and per input: the summed gradient, or why it is undefined.
    const stepG: Array<TensorVariable | undefined> = [];
    const stepWhy: Array<string | undefined> = [];
    const inG: Array<TensorVariable | undefined> = [];
    const inWhy: Array<string | undefined> = [];
    stepG[c.steps.length - 1] = gz;
    for (let k = c.steps.length - 1; k >= 0; k--) {
      const g = stepG[k];
      const why = stepWhy[k];
      if (g === undefined && why === undefined) continue;
      const node = vals[k]!.owner!;
      const results: GradResult[] = why !== undefined ? node.inputs.map((_v, j) => new GradUndefined(this, j, why)) : (node.op as Elemwise).grad(node.inputs, [g!], node.outputs);
      c.steps[k]!.args.forEach((r, j) => {
        const res = results[j];
        if (res === null || res === undefined) return;
        const [gs, whys, at] = "input" in r ? [inG, inWhy, r.input] : [stepG, stepWhy, r.step];
        if (res instanceof GradUndefined) whys[at] ??= res.reason;
        else gs[at] = gs[at] === undefined ? (res as TensorVariable) : math.add(gs[at]!, res as TensorVariable);
      });
    }
    return ins.map((_x, i): GradResult => (inWhy[i] !== undefined ? new GradUndefined(this, i, `${inWhy[i]} (inside ${c.name})`) : (inG[i] ?? null)));
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

  /**
   * The inverse shuffle: input axis j takes the gradient of output axis pattern.indexOf(j), and
   * an axis this op dropped comes back as a new broadcastable one. The axes it inserted ("x") are
   * summed over first when the gradient is not of size 1 there (a gradient that broadcast).
   */
  override grad([x]: Variable[], outputGrads: Variable[]): GradResult[] {
    const xt = tensorType(x!);
    if (!isFloat(xt.dtype)) return [null];
    let g = outputGrads[0] as TensorVariable;
    const inserted = this.pattern.flatMap((p, i) => (p === "x" && g.type.shape[i] !== 1 ? [i] : []));
    if (inserted.length > 0) g = math.sum(g, inserted, { keepdims: true });
    const inverse = [...Array(this.inputNdim).keys()].map((j): number | "x" => {
      const k = this.pattern.indexOf(j);
      return k < 0 ? "x" : k;
    });
    const r = new DimShuffle(g.ndim, inverse).call(g) as TensorVariable;
    return [r.dtype === xt.dtype ? r : math.cast(r, xt.dtype)];
  }
}
