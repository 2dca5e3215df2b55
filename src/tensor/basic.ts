/**
 * Structural helpers shared by every op family: padding ranks, dimshuffle and transpose.
 */

import { TypeMismatchError } from "../errors.js";
import { normalizeAxis } from "../ndarray/ndarray.js";
import { DimShuffle, type ShufflePattern } from "./elemwise.js";
import { type TensorLike, type TensorVariable, asTensorVariable } from "./variable.js";

export function dimshuffle(x: TensorLike, pattern: ShufflePattern): TensorVariable {
  const v = asTensorVariable(x);
  const flat = pattern.length === 1 && Array.isArray(pattern[0]) ? (pattern[0] as ShufflePattern) : pattern;
  if (flat.length === v.ndim && flat.every((p, i) => p === i)) return v;
  return new DimShuffle(v.ndim, flat).call(v) as TensorVariable;
}

/** Reverses the axes, or permutes them as given. */
export function transpose(x: TensorLike, axes?: readonly number[]): TensorVariable {
  const v = asTensorVariable(x);
  const perm = axes === undefined ? [...Array(v.ndim).keys()].reverse() : axes.map((a) => normalizeAxis(a, v.ndim));
  if (perm.length !== v.ndim) throw new TypeMismatchError(`transpose of a rank-${v.ndim} tensor needs ${v.ndim} axes, got (${axes?.join(", ")})`);
  return dimshuffle(v, perm);
}

/** Pads `x` on the left with broadcastable axes up to rank `ndim` (Theano's rule). */
export function padLeft(x: TensorVariable, ndim: number): TensorVariable {
  if (x.ndim >= ndim) return x;
  const pattern: Array<number | "x"> = [];
  for (let i = 0; i < ndim - x.ndim; i++) pattern.push("x");
  for (let i = 0; i < x.ndim; i++) pattern.push(i);
  return dimshuffle(x, pattern);
}
