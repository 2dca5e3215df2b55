/**
 * The collectives as graph ops (issue 19): `AllReduce{op}` and `AllGather{axis}`, so that
 * `theano.grad` + `allReduce(g, "mean")` + SGD updates compile into one function. Each is an
 * ordinary Op: `perform` calls MPI on the host (every backend runs an op without a generator of
 * its own through `perform`; the C backend renders AllReduce and AllGather in its module
 * instead, link/c/ops/distributed.ts, with the same MPI calls), `grad` is again a collective. Neither is constant-folded (the
 * folding rewrite only folds the ops it lists), and every rank runs the same graph in the same
 * topological order, so the ranks enter the same collectives in the same order.
 *
 * Determinism: MPI_Allreduce picks its algorithm from the process count and the message size
 * only, so for a fixed process count every step reduces in the same order and every rank gets
 * the same bits.
 */

import { TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { isFloat } from "../ndarray/dtype.js";
import { NDArray, allocData, normalizeAxis } from "../ndarray/ndarray.js";
import { tensorType } from "../tensor/elemwise.js";
import { cast, eq, mul } from "../tensor/math.js";
import { shapeDims } from "../tensor/shape.js";
import { slice } from "../tensor/subtensor.js";
import { TensorType } from "../tensor/type.js";
import { registerInplace } from "../rewriting/inplace.js";
import { type TensorLike, type TensorVariable, asTensorVariable } from "../tensor/variable.js";
import { requireWorld } from "./mpi.js";

export type ReduceKind = "sum" | "mean" | "max" | "min";
const KINDS: readonly ReduceKind[] = ["sum", "mean", "max", "min"];

/**
 * The elementwise reduction of `x` over all ranks; every rank gets the result. With `inplace`
 * (set by the in-place stage where x's memory is dead afterwards: a gradient, typically) the
 * result is written over x (MPI_IN_PLACE), sparing a fresh output: for a 100 MB gradient that is
 * 25 000 fresh pages a step.
 */
export class AllReduce extends Op {
  constructor(
    readonly op: ReduceKind,
    readonly inplace = false,
  ) {
    super();
    if (inplace) this.destroyMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { op: this.op, inplace: this.inplace || undefined };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if ((this.op === "sum" || this.op === "mean") && t.dtype === "bool") throw new TypeMismatchError(`allReduce(${this.op}) of ${x.label}: bool has no ${this.op}; cast it first`);
    if (this.op === "mean" && !isFloat(t.dtype)) throw new TypeMismatchError(`allReduce(mean) of ${x.label}: ${t.dtype} is not a float dtype; cast it to float32 or float64 first`);
    return new Apply(this, [x], [new TensorType(t.dtype, t.shape)]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = (x as NDArray).contiguous();
    const w = requireWorld(`allReduce(${this.op})`);
    const out = this.inplace ? a.data : allocData(a.dtype, a.shape);
    w.allReduce(this.inplace ? null : a.data, out, a.dtype, this.op === "mean" ? "sum" : this.op, `allReduce{${this.op}} of shape [${a.shape.join(", ")}] ${a.dtype}`);
    if (this.op === "mean") {
      const o = out as Float64Array;
      for (let i = 0; i < o.length; i++) o[i] = o[i]! / w.size; // a Float32Array rounds each store once
    }
    return [this.inplace ? a : new NDArray(a.dtype, a.shape, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }

  /**
   * Every rank's cost depends on every rank's x through the reduction, so the gradient of the
   * total cost with respect to this rank's x gathers every rank's output gradient: a sum for sum,
   * a mean for mean; for max/min it goes to the elements that were the extreme (ties share it).
   */
  override grad([x]: Variable[], [gz]: Variable[], [out]: Variable[]): GradResult[] {
    const g = gz as TensorVariable;
    if (this.op === "sum" || this.op === "mean") return [allReduce(g, this.op)];
    const total = allReduce(g, "sum");
    return [mul(total, cast(eq(x as TensorVariable, out as TensorVariable), total.dtype))];
  }

  override rop(_inputs: Variable[], [ev]: Array<Variable | null>): Array<Variable | null> {
    return [ev && (this.op === "sum" || this.op === "mean") ? allReduce(ev as TensorVariable, this.op) : null];
  }
}

registerInplace(
  {
    name: "inplace_allreduce",
    tags: ["inplace_allreduce"],
    tracks: [AllReduce],
    candidates: (node) => {
      const op = node.op as AllReduce;
      return op.inplace ? [] : [{ op: new AllReduce(op.op, true), destroys: 0 }];
    },
  },
  70,
);

/** Every rank's x concatenated along `axis`, in rank order (all ranks' shapes must agree). */
export class AllGather extends Op {
  constructor(readonly axis: number) {
    super();
  }

  override props(): Record<string, unknown> {
    return { axis: this.axis };
  }

  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim === 0) throw new TypeMismatchError(`allGather of ${x.label}: a scalar has no axis to gather along; reshape it to [1] first`);
    const axis = normalizeAxis(this.axis, t.ndim);
    if (axis !== this.axis) return new AllGather(axis).makeNode(x);
    return new Apply(this, [x], [new TensorType(t.dtype, t.shape.map((d, i) => (i === axis ? null : d)))]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = (x as NDArray).contiguous();
    const w = requireWorld("allGather");
    const stacked = allocData(a.dtype, [w.size, ...a.shape]);
    w.allGather(a.data, stacked, a.dtype, `allGather{axis=${this.axis}} of shape [${a.shape.join(", ")}] ${a.dtype}`);
    // [size, ...shape] -> size moved next to the axis, then merged with it.
    const perm = [...a.shape.keys()].map((i) => i + 1);
    perm.splice(this.axis, 0, 0);
    const shape = a.shape.map((d, i) => (i === this.axis ? d * w.size : d));
    return [new NDArray(a.dtype, [w.size, ...a.shape], stacked).transpose(...perm).copy().reshape(shape)];
  }

  /** This rank's slice of the summed output gradient (every rank's cost sees every rank's x). */
  override grad([x]: Variable[], [gz]: Variable[]): GradResult[] {
    const xv = x as TensorVariable;
    const w = requireWorld("the gradient of allGather");
    const n = shapeDims(xv)[this.axis]!;
    const lo = typeof n === "number" ? n * w.rank : n.mul(w.rank);
    const hi = typeof n === "number" ? n * (w.rank + 1) : n.mul(w.rank + 1);
    const index = [...Array(this.axis).fill(slice(null)), slice(lo, hi)];
    return [allReduce(gz as TensorVariable, "sum").get(...index)];
  }
}

/** `theano.distributed.allReduce(x, op = "sum")`: symbolic, differentiable. */
export function allReduce(x: TensorLike, op: ReduceKind = "sum"): TensorVariable {
  if (!KINDS.includes(op)) throw new TypeMismatchError(`allReduce: op must be one of ${KINDS.join(", ")}, got ${String(op)}`);
  return new AllReduce(op).call(asTensorVariable(x)) as TensorVariable;
}

/** `theano.distributed.allGather(x, axis = 0)`: symbolic, differentiable. */
export function allGather(x: TensorLike, axis = 0): TensorVariable {
  return new AllGather(axis).call(asTensorVariable(x)) as TensorVariable;
}
