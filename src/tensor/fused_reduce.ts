/**
 * FusedReduce: an elementwise prologue, a reduction and an elementwise epilogue in one node,
 * so `sum(exp(x)*y)` or `sqrt(sum(sqr(x - 0.1), axis=1) / n)` read their inputs once and write
 * only the (small) result: no full-size temporary between the elementwise part and the
 * reduction.
 *
 * Semantics, with the unfused graph it replaces (src/rewriting/reduce_fusion.ts builds it):
 *
 *     p   = Elemwise(prologue)(i_0, ..., i_{n-1})        // broadcast, as Elemwise
 *     r   = CAReduce(kind, axis, dtype, acc)(p)          // float dtype, accumulating in float64
 *     rk  = keepdims ? r with the reduced axes as size 1 : r
 *     out = epilogue ? Elemwise(epilogue)(rk, e_0, ...) : rk   // e_k broadcast to rk's shape
 *
 * Inputs: the n prologue inputs, then the epilogue's extra inputs. Every prologue value is
 * rounded to the prologue's dtype before it is accumulated, and the reduced value to `dtype`
 * before the epilogue reads it, so the result is what the unfused nodes compute, element by
 * element in the same order. PyTensor fuses a producer into CAReduce (`local_careduce_fusion`);
 * the epilogue (consumers of the reduced value) goes further.
 *
 * The gradient unfuses: it rebuilds the three nodes on the inputs and chains their gradients.
 * `perform` runs the generated JS loop (fused_reduce_js.ts), so backends without a generator
 * for this op still run it at JS speed; tests check it against the unfused graph.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, GradUndefined, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, type TypedArray, isFloat, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, shapeSize } from "../ndarray/ndarray.js";
import type { Composite } from "../scalar/composite.js";
import * as M from "../scalar/math.js";
import { DimShuffle, Elemwise, elemwiseStaticShape, tensorType } from "./elemwise.js";
import { fusedReduceKernelSource } from "./fused_reduce_js.js";
import { hook } from "./hooks.js";
import { CAReduce, type ReduceKind, keepDims } from "./math.js";
import { TensorType, formatStaticShape } from "./type.js";
import type { TensorVariable } from "./variable.js";

/** The reductions FusedReduce performs (over float values). */
export type FusedReduceKind = Extract<ReduceKind, "add" | "mul" | "maximum" | "minimum">;

const composedKey = (c: Composite): string => `${c.name}|${c.inputDtypes.join(",")}|${c.steps.map((s) => s.dtype).join(",")}`;

/** Compiled kernels, by source (nodes of one signature share one) and by node. */
const kernelBySource = new Map<string, Kernel>();
const kernelByNode = new WeakMap<Apply, Kernel>();
type Kernel = (node: Apply, ...inputs: NDArray[]) => NDArray;
const PERFORM_RT = { NDArray, pool: { alloc: (dtype: DType, n: number): TypedArray => new (typedArrayCtor(dtype))(n) } };

function kernelFor(node: Apply<FusedReduce>): Kernel {
  let k = kernelByNode.get(node);
  if (!k) {
    const src = fusedReduceKernelSource(node, "fusedReduce");
    k = kernelBySource.get(src);
    if (!k) {
      // eslint-disable-next-line @typescript-eslint/no-implied-eval
      k = new Function("rt", "$", `"use strict"; return ${src};`)(PERFORM_RT, { ...M }) as Kernel;
      kernelBySource.set(src, k);
    }
    kernelByNode.set(node, k);
  }
  return k;
}

/** Run-time layout of one call: shapes, and per input its strides in reduction order. */
export interface ReducePlan {
  /** The broadcast shape of the prologue. */
  readonly inShape: number[];
  readonly outShape: number[];
  /** Number of results, and number of values folded into each. */
  readonly outer: number;
  readonly inner: number;
  /** The prologue's dimensions permuted to (kept axes..., reduced axes...). */
  readonly dims: number[];
  /** Per prologue input, strides in that order (0 where it is broadcast). */
  readonly strides: number[][];
}

export class FusedReduce extends Op {
  readonly nIn: number;

  constructor(
    readonly prologue: Composite,
    readonly kind: FusedReduceKind,
    readonly axis: readonly number[],
    readonly dtype: DType,
    readonly accDtype: DType,
    readonly keepdims: boolean,
    /** Inputs: the reduced value (input 0) and the extra inputs, in order; null = none. */
    readonly epilogue: Composite | null,
    /** As CAReduce's: max/min of an empty lane give -inf/+inf instead of raising. */
    readonly emptyIdentity = false,
  ) {
    super();
    this.nIn = prologue.arity;
    if (!isFloat(dtype)) throw new TypeMismatchError(`FusedReduce reduces float values, not ${dtype}`);
  }

  override props(): Record<string, unknown> {
    return {
      prologue: composedKey(this.prologue),
      op: this.kind,
      axis: this.axis,
      dtype: this.dtype,
      acc: this.accDtype,
      keepdims: this.keepdims,
      epilogue: this.epilogue ? composedKey(this.epilogue) : null,
      emptyIdentity: this.emptyIdentity,
    };
  }

  /** The CAReduce this node performs. */
  get reduceOp(): CAReduce {
    return new CAReduce(this.kind, this.axis, this.dtype, this.accDtype, this.emptyIdentity);
  }

  override toString(): string {
    const parts = [`${this.reduceOp}`, `pre=${this.prologue.name}`];
    if (this.keepdims) parts.push("keepdims");
    if (this.epilogue) parts.push(`post=${this.epilogue.name}`);
    return `FusedReduce{${parts.join(", ")}}`;
  }

  /** The static shape of the reduced value (before the epilogue). */
  private reducedShape(inShape: ReadonlyArray<number | null>): Array<number | null> {
    return this.keepdims ? inShape.map((d, i) => (this.axis.includes(i) ? 1 : d)) : inShape.filter((_d, i) => !this.axis.includes(i));
  }

  makeNode(...inputs: Variable[]): Apply {
    const nExtra = this.epilogue ? this.epilogue.arity - 1 : 0;
    if (inputs.length !== this.nIn + nExtra) throw new TypeMismatchError(`${this} takes ${this.nIn + nExtra} inputs, got ${inputs.length}`);
    const types = inputs.map(tensorType);
    const pt = types.slice(0, this.nIn);
    const nd = pt[0]!.ndim;
    if (pt.some((t) => t.ndim !== nd)) throw new TypeMismatchError(`${this}: prologue inputs must share one rank, got ${pt.map(String).join(", ")}`);
    pt.forEach((t, k) => {
      if (t.dtype !== this.prologue.inputDtypes[k]) throw new TypeMismatchError(`${this}: input ${k} is ${t.dtype}, the prologue expects ${this.prologue.inputDtypes[k]}`);
    });
    if (!isFloat(this.prologue.outDtype([], "float64"))) throw new TypeMismatchError(`${this}: the prologue must produce floats`);
    for (const a of this.axis) if (a < 0 || a >= nd) throw new ShapeError(`${this}: axis ${a} is out of range for rank ${nd}`);
    const inShape = elemwiseStaticShape(pt, "FusedReduce prologue");
    const red = new TensorType(this.dtype, this.reducedShape(inShape));
    if (!this.epilogue) return new Apply(this, inputs, [red]);
    const et = types.slice(this.nIn);
    if (et.some((t) => t.ndim !== red.ndim)) throw new TypeMismatchError(`${this}: epilogue inputs must have the reduced value's rank ${red.ndim}`);
    const shape = elemwiseStaticShape([red, ...et], "FusedReduce epilogue");
    if (shape.some((d, i) => (d === 1) !== (red.shape[i] === 1))) {
      throw new ShapeError(`${this}: epilogue inputs ${et.map((t) => formatStaticShape(t.shape)).join(", ")} would broadcast the reduced value ${formatStaticShape(red.shape)}`);
    }
    const outDtype = this.epilogue.outDtype([], "float64");
    return new Apply(this, inputs, [new TensorType(outDtype, shape)]);
  }

  /** Checks run-time shapes and lays out the iteration (used by perform and the JS kernel). */
  plan(node: Apply, arrays: readonly NDArray[]): ReducePlan {
    const pins = arrays.slice(0, this.nIn);
    const inShape = Elemwise.checkShapes({ op: this, inputs: node.inputs.slice(0, this.nIn) } as unknown as Apply, pins.map((a) => a.shape));
    const nd = inShape.length;
    const keep = [...Array(nd).keys()].filter((i) => !this.axis.includes(i));
    const order = [...keep, ...this.axis];
    const outer = shapeSize(keep.map((i) => inShape[i]!));
    const inner = shapeSize(this.axis.map((i) => inShape[i]!));
    const extremum = this.kind === "maximum" || this.kind === "minimum";
    if (inner === 0 && extremum && outer > 0 && !this.emptyIdentity) {
      throw new ShapeError(`${this}: zero-size reduction over axes (${this.axis.join(", ")}) of shape [${inShape.join(", ")}] has no identity`);
    }
    const outShape = this.keepdims ? inShape.map((d, i) => (this.axis.includes(i) ? 1 : d)) : keep.map((i) => inShape[i]!);
    const strides = pins.map((a) => order.map((ax) => (a.shape[ax] === 1 && inShape[ax] !== 1 ? 0 : a.strides[ax]!)));
    // Extras: same rank as the output, broadcast only where they are size 1.
    arrays.slice(this.nIn).forEach((e, k) => {
      const t = node.inputs[this.nIn + k]!.type as TensorType;
      e.shape.forEach((d, i) => {
        if (d !== outShape[i] && !(d === 1 && t.shape[i] === 1)) {
          throw new ShapeError(`${this}: epilogue input ${k} has shape [${e.shape.join(", ")}] but the reduced value has shape [${outShape.join(", ")}]`);
        }
      });
    });
    return { inShape, outShape, outer, inner, dims: order.map((ax) => inShape[ax]!), strides };
  }

  /** An epilogue input's elements in the output's C order: its own data when laid out so. */
  extraData(e: NDArray, outShape: readonly number[]): { data: TypedArray; off: number } {
    const n = shapeSize(outShape);
    if (e.isContiguous && e.size === n) return { data: e.data, off: e.offset };
    const strides = e.strides.map((s, i) => (e.shape[i] === 1 && outShape[i] !== 1 ? 0 : s));
    return { data: new NDArray(e.dtype, outShape, e.data, strides, e.offset).toFlat(), off: 0 };
  }

  /** Runs the generated JS kernel (src/tensor/fused_reduce_js.ts); the oracle of the tests is the unfused graph. */
  perform(node: Apply, inputs: Value[]): Value[] {
    return [kernelFor(node as Apply<FusedReduce>)(node, ...(inputs as NDArray[]))];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    const types = node.inputs.slice(0, this.nIn).map((v) => v.type as TensorType);
    const nd = types[0]!.ndim;
    const out: Variable[] = [];
    for (let i = 0; i < nd; i++) {
      if (this.axis.includes(i)) {
        if (this.keepdims) out.push(hook("one")());
        continue;
      }
      const k = types.findIndex((t) => t.shape[i] !== 1);
      out.push(shapes[k < 0 ? 0 : k]![i]!);
    }
    return [out];
  }

  /** The unfused graph on the same inputs, node by node (for the gradient, and for tests). */
  unfuse(inputs: readonly Variable[]): { p: Apply; r: Apply; ds: Apply | null; epi: Apply | null } {
    const nd = (inputs[0]!.type as TensorType).ndim;
    const p = new Elemwise(this.prologue).makeNode(...inputs.slice(0, this.nIn));
    const r = this.reduceOp.makeNode(p.outputs[0]!);
    // keepdims with no reduced axis is no DimShuffle at all.
    const rk = this.keepdims ? keepDims(r.outputs[0]! as TensorVariable, nd, this.axis) : r.outputs[0]!;
    const ds = rk.owner && rk.owner.op instanceof DimShuffle ? rk.owner : null;
    const epi = this.epilogue ? new Elemwise(this.epilogue).makeNode(rk, ...inputs.slice(this.nIn)) : null;
    return { p, r, ds, epi };
  }

  override grad(inputs: Variable[], outputGrads: Variable[]): GradResult[] {
    const { p, r, ds, epi } = this.unfuse(inputs);
    const undefinedAll = (why: string): GradResult[] => inputs.map((_v, i) => new GradUndefined(this, i, `${why} (inside ${this})`));
    let g: GradResult = outputGrads[0]!;
    const extraGrads: GradResult[] = [];
    if (epi) {
      const eg = epi.op.grad!(epi.inputs, [g], epi.outputs);
      g = eg[0] ?? null;
      extraGrads.push(...eg.slice(1).map((x, k) => (x instanceof GradUndefined ? new GradUndefined(this, this.nIn + k, x.reason) : x)));
    }
    const prologueGrads = ((): GradResult[] => {
      if (g === null) return inputs.slice(0, this.nIn).map(() => null);
      if (g instanceof GradUndefined) return undefinedAll(g.reason).slice(0, this.nIn);
      if (ds) {
        const dg = ds.op.grad!(ds.inputs, [g], ds.outputs)[0] ?? null;
        if (dg === null) return inputs.slice(0, this.nIn).map(() => null);
        if (dg instanceof GradUndefined) return undefinedAll(dg.reason).slice(0, this.nIn);
        g = dg;
      }
      const rg = r.op.grad!(r.inputs, [g as Variable], r.outputs)[0] ?? null;
      if (rg === null) return inputs.slice(0, this.nIn).map(() => null);
      if (rg instanceof GradUndefined) return undefinedAll(rg.reason).slice(0, this.nIn);
      return p.op.grad!(p.inputs, [rg], p.outputs).map((x, i) => (x instanceof GradUndefined ? new GradUndefined(this, i, x.reason) : x));
    })();
    return [...prologueGrads, ...extraGrads];
  }
}
