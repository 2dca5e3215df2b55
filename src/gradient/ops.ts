/**
 * Ops that change only the gradient: `zeroGrad`, `disconnectedGrad`, `gradClip` (Theano's
 * `ZeroGrad`, `DisconnectedGrad`, `GradClip` in `gradient.py`).
 *
 * Each is the identity in the forward direction (a view of its input: the output is the input's
 * array) and rewrites what flows backwards: zeros, nothing at all (disconnected: `grad` then
 * treats the input as not depending on the cost), or the incoming gradient clipped to
 * [lo, hi]. They run through `perform` on every linker; a rewrite may remove them from compiled
 * graphs once gradients have been taken.
 */

import { GradientError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { zerosLike } from "../tensor/alloc.js";
import * as math from "../tensor/math.js";
import { TensorType } from "../tensor/type.js";
import { type TensorLike, type TensorVariable, asTensorVariable } from "../tensor/variable.js";

/** The common part: one tensor in, the same tensor out (a view), shape unchanged. */
abstract class GradientOnlyOp extends Op {
  constructor() {
    super();
    this.viewMap = new Map([[0, [0]]]);
  }

  makeNode(x: Variable): Apply {
    if (!(x.type instanceof TensorType)) throw new TypeMismatchError(`${this.opName} expects a tensor, got ${x.label} of type ${x.type}`);
    return new Apply(this, [x], [x.type]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    return [x];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }
}

/** Identity forward; the gradient through it is zero (Theano's `zero_grad`). */
export class ZeroGrad extends GradientOnlyOp {
  override grad([x]: Variable[]): GradResult[] {
    return [zerosLike(x as TensorVariable)];
  }

  override rop([x]: Variable[], [ex]: Array<Variable | null>): Array<Variable | null> {
    return [ex ? zerosLike(x as TensorVariable) : null];
  }
}

/** Identity forward; the input is disconnected from the output (Theano's `disconnected_grad`). */
export class DisconnectedGrad extends GradientOnlyOp {
  override grad(): GradResult[] {
    return [null];
  }

  override rop(): Array<Variable | null> {
    return [null];
  }
}

/** Identity forward; the gradient is clipped elementwise to [lo, hi] (Theano's `grad_clip`). */
export class GradClip extends GradientOnlyOp {
  constructor(
    readonly lo: number,
    readonly hi: number,
  ) {
    super();
    if (!(lo <= hi)) throw new GradientError(`gradClip: the lower bound ${lo} must not exceed the upper bound ${hi}`);
  }

  override props(): Record<string, unknown> {
    return { lo: this.lo, hi: this.hi };
  }

  override grad(_inputs: Variable[], [gz]: Variable[]): GradResult[] {
    return [math.clip(gz as TensorVariable, this.lo, this.hi)];
  }

  /** Forward mode sees the identity: clipping applies to gradients flowing back only. */
  override rop(_inputs: Variable[], [ex]: Array<Variable | null>): Array<Variable | null> {
    return [ex];
  }
}

const ZERO_GRAD = new ZeroGrad();
const DISCONNECTED_GRAD = new DisconnectedGrad();

/** `x` unchanged, but no gradient flows back through it (it is zero). */
export function zeroGrad(x: TensorLike): TensorVariable {
  return ZERO_GRAD.call(asTensorVariable(x)) as TensorVariable;
}

/** `x` unchanged, but to `grad` the result does not depend on `x` at all. */
export function disconnectedGrad(x: TensorLike): TensorVariable {
  return DISCONNECTED_GRAD.call(asTensorVariable(x)) as TensorVariable;
}

/** `x` unchanged, but the gradient flowing back through it is clipped to [lo, hi]. */
export function gradClip(x: TensorLike, lo: number, hi: number): TensorVariable {
  return new GradClip(lo, hi).call(asTensorVariable(x)) as TensorVariable;
}
