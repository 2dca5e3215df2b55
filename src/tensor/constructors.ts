/**
 * Symbolic tensor constructors (Theano's `T.matrix`, `T.fmatrix`, ...): a name, a dtype
 * (default floatX) and a static shape where null is unknown and 1 is broadcastable.
 */

import { InputError } from "../errors.js";
import { type DType, checkDType } from "../ndarray/dtype.js";
import { currentFloatX } from "./floatx.js";
import { type StaticShape, TensorType } from "./type.js";
import type { TensorVariable } from "./variable.js";

/** `T.tensor({ dtype, shape, name })`. */
export function tensor(opts: { dtype?: DType; shape: StaticShape; name?: string | null }): TensorVariable {
  if (!opts || !Array.isArray(opts.shape)) throw new InputError(`T.tensor needs { shape: [...] } (null for unknown sizes)`);
  return new TensorType(checkDType(opts.dtype ?? currentFloatX()), opts.shape).makeVariable(opts.name ?? null) as TensorVariable;
}

const make =
  (shape: StaticShape, fixed?: DType) =>
  (name?: string | null, dtype?: DType): TensorVariable =>
    tensor({ dtype: fixed ?? dtype, shape, name: name ?? null });

export const scalar = make([]);
export const vector = make([null]);
export const matrix = make([null, null]);
export const row = make([1, null]);
export const col = make([null, 1]);
export const tensor3 = make([null, null, null]);
export const tensor4 = make([null, null, null, null]);
export const tensor5 = make([null, null, null, null, null]);

export const bscalar = make([], "int8");
export const wscalar = make([], "int16");
export const iscalar = make([], "int32");
export const lscalar = make([], "int64");
export const fscalar = make([], "float32");
export const dscalar = make([], "float64");
export const bvector = make([null], "int8");
export const wvector = make([null], "int16");
export const ivector = make([null], "int32");
export const lvector = make([null], "int64");
export const fvector = make([null], "float32");
export const dvector = make([null], "float64");
export const bmatrix = make([null, null], "int8");
export const wmatrix = make([null, null], "int16");
export const imatrix = make([null, null], "int32");
export const lmatrix = make([null, null], "int64");
export const fmatrix = make([null, null], "float32");
export const dmatrix = make([null, null], "float64");
export const frow = make([1, null], "float32");
export const drow = make([1, null], "float64");
export const fcol = make([null, 1], "float32");
export const dcol = make([null, 1], "float64");
export const itensor3 = make([null, null, null], "int32");
export const ftensor3 = make([null, null, null], "float32");
export const dtensor3 = make([null, null, null], "float64");
export const ftensor4 = make([null, null, null, null], "float32");
export const dtensor4 = make([null, null, null, null], "float64");
export const ftensor5 = make([null, null, null, null, null], "float32");
export const dtensor5 = make([null, null, null, null, null], "float64");
