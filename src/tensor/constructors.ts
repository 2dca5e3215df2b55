/**
 * Symbolic tensor constructors (Theano's `T.matrix`, `T.fmatrix`, ...): a name, a dtype
 * (default floatX) and a static shape where null is unknown and 1 is broadcastable.
 */

import { InputError } from "../errors.js";
import { checkFloat64Variable } from "../graph/basic.js";
import { type DType, checkDType } from "../ndarray/dtype.js";
import { currentFloatX } from "./floatx.js";
import { type StaticShape, TensorType } from "./type.js";
import type { TensorVariable } from "./variable.js";

/** `T.tensor({ dtype, shape, name })`. */
export function tensor(opts: { dtype?: DType; shape: StaticShape; name?: string | null }): TensorVariable {
  if (!opts || !Array.isArray(opts.shape)) throw new InputError(`T.tensor needs { shape: [...] } (null for unknown sizes)`);
  const v = new TensorType(checkDType(opts.dtype ?? currentFloatX()), opts.shape).makeVariable(opts.name ?? null) as TensorVariable;
  checkFloat64Variable(v, "the variable");
  return v;
}

/** Theano's keyword form, `T.vector(name=..., dtype=...)`, spelt as an options object. */
export interface ConstructorOptions {
  name?: string | null;
  dtype?: DType;
}

const make =
  (shape: StaticShape, fixed?: DType) =>
  (name?: string | null | ConstructorOptions, dtype?: DType): TensorVariable => {
    if (name !== null && typeof name === "object") {
      const extra = Object.keys(name).filter((k) => k !== "name" && k !== "dtype");
      if (extra.length > 0) throw new InputError(`tensor constructors take { name, dtype }; unknown option ${extra.map((k) => `'${k}'`).join(", ")}`);
      if (dtype !== undefined) throw new InputError(`give the dtype once: in the options object or as the second argument, not both`);
      ({ name, dtype } = name);
    }
    if (name !== undefined && name !== null && typeof name !== "string") {
      throw new InputError(`a tensor's name must be a string; got ${typeof name} ${String(name)}`);
    }
    if (fixed !== undefined && dtype !== undefined && checkDType(dtype) !== fixed) {
      throw new InputError(`this constructor makes ${fixed} tensors; got dtype ${dtype} (use the untyped form, e.g. T.vector(name, "${dtype}"))`);
    }
    return tensor({ dtype: fixed ?? dtype, shape, name: name ?? null });
  };

/**
 * A plural constructor (Theano's `dscalars('x', 'y')`): names as separate arguments, one string
 * of names separated by commas or spaces (`"x, y"`), or a count of unnamed variables. Always an
 * array, so destructuring is typed; Theano returns a bare variable for one name and splits a
 * single unseparated string into characters (`'xy'` -> x, y), both of which theano-ts does not.
 */
const many =
  (single: (name?: string | null) => TensorVariable) =>
  (...names: Array<string | number>): TensorVariable[] => {
    if (names.length === 1 && typeof names[0] === "number") {
      const n = names[0];
      if (!Number.isInteger(n) || n < 0) throw new InputError(`plural constructors take names or a count; got the count ${n}`);
      return Array.from({ length: n }, () => single());
    }
    const list = names.length === 1 && typeof names[0] === "string" ? names[0].split(/[\s,]+/).filter((s) => s !== "") : names;
    return list.map((nm) => {
      if (typeof nm !== "string") throw new InputError(`plural constructors take names (strings) or one count; got ${String(nm)} among several arguments`);
      return single(nm);
    });
  };

// Theano's single constructors: a name and (untyped forms only) a dtype.
export const scalar = make([]);
export const vector = make([null]);
export const matrix = make([null, null]);
export const row = make([1, null]);
export const col = make([null, 1]);
export const tensor3 = make([null, null, null]);
export const tensor4 = make([null, null, null, null]);
export const tensor5 = make([null, null, null, null, null]);
export const bscalar = make([], "int8"), bvector = make([null], "int8"), bmatrix = make([null, null], "int8"), brow = make([1, null], "int8"), bcol = make([null, 1], "int8"), btensor3 = make([null, null, null], "int8"), btensor4 = make([null, null, null, null], "int8"), btensor5 = make([null, null, null, null, null], "int8");
export const wscalar = make([], "int16"), wvector = make([null], "int16"), wmatrix = make([null, null], "int16"), wrow = make([1, null], "int16"), wcol = make([null, 1], "int16"), wtensor3 = make([null, null, null], "int16"), wtensor4 = make([null, null, null, null], "int16"), wtensor5 = make([null, null, null, null, null], "int16");
export const iscalar = make([], "int32"), ivector = make([null], "int32"), imatrix = make([null, null], "int32"), irow = make([1, null], "int32"), icol = make([null, 1], "int32"), itensor3 = make([null, null, null], "int32"), itensor4 = make([null, null, null, null], "int32"), itensor5 = make([null, null, null, null, null], "int32");
export const lscalar = make([], "int64"), lvector = make([null], "int64"), lmatrix = make([null, null], "int64"), lrow = make([1, null], "int64"), lcol = make([null, 1], "int64"), ltensor3 = make([null, null, null], "int64"), ltensor4 = make([null, null, null, null], "int64"), ltensor5 = make([null, null, null, null, null], "int64");
export const fscalar = make([], "float32"), fvector = make([null], "float32"), fmatrix = make([null, null], "float32"), frow = make([1, null], "float32"), fcol = make([null, 1], "float32"), ftensor3 = make([null, null, null], "float32"), ftensor4 = make([null, null, null, null], "float32"), ftensor5 = make([null, null, null, null, null], "float32");
export const dscalar = make([], "float64"), dvector = make([null], "float64"), dmatrix = make([null, null], "float64"), drow = make([1, null], "float64"), dcol = make([null, 1], "float64"), dtensor3 = make([null, null, null], "float64"), dtensor4 = make([null, null, null, null], "float64"), dtensor5 = make([null, null, null, null, null], "float64");

// The plural forms (Theano's `_multi`): `const [x, y] = T.dscalars("x", "y")`.
export const scalars = many(scalar), vectors = many(vector), matrices = many(matrix), rows = many(row), cols = many(col), tensor3s = many(tensor3), tensor4s = many(tensor4), tensor5s = many(tensor5);
export const bscalars = many(bscalar), bvectors = many(bvector), bmatrices = many(bmatrix), brows = many(brow), bcols = many(bcol), btensor3s = many(btensor3), btensor4s = many(btensor4), btensor5s = many(btensor5);
export const wscalars = many(wscalar), wvectors = many(wvector), wmatrices = many(wmatrix), wrows = many(wrow), wcols = many(wcol), wtensor3s = many(wtensor3), wtensor4s = many(wtensor4), wtensor5s = many(wtensor5);
export const iscalars = many(iscalar), ivectors = many(ivector), imatrices = many(imatrix), irows = many(irow), icols = many(icol), itensor3s = many(itensor3), itensor4s = many(itensor4), itensor5s = many(itensor5);
export const lscalars = many(lscalar), lvectors = many(lvector), lmatrices = many(lmatrix), lrows = many(lrow), lcols = many(lcol), ltensor3s = many(ltensor3), ltensor4s = many(ltensor4), ltensor5s = many(ltensor5);
export const fscalars = many(fscalar), fvectors = many(fvector), fmatrices = many(fmatrix), frows = many(frow), fcols = many(fcol), ftensor3s = many(ftensor3), ftensor4s = many(ftensor4), ftensor5s = many(ftensor5);
export const dscalars = many(dscalar), dvectors = many(dvector), dmatrices = many(dmatrix), drows = many(drow), dcols = many(dcol), dtensor3s = many(dtensor3), dtensor4s = many(dtensor4), dtensor5s = many(dtensor5);
