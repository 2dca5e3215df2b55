/**
 * TensorType: a dtype and a static shape (`null` = unknown), Theano's `tensor/type.py`.
 *
 * A dimension whose static size is 1 is broadcastable; nothing else ever is. `filter` turns a
 * user value into an NDArray of exactly this type or raises an InputError that names the input,
 * what was expected, what came, and how to fix it.
 */

import { InputError } from "../errors.js";
import { Type, type Variable } from "../graph/basic.js";
import { type DType, canCastSafely, checkDType, isFloat, isInteger } from "../ndarray/dtype.js";
import { type ArrayLike, NDArray, array } from "../ndarray/ndarray.js";

export type StaticShape = ReadonlyArray<number | null>;

export const formatStaticShape = (s: StaticShape): string => `(${s.map((d) => (d === null ? "?" : String(d))).join(", ")}${s.length === 1 ? "," : ""})`;

export class TensorType extends Type {
  readonly dtype: DType;
  readonly shape: StaticShape;

  constructor(dtype: DType, shape: StaticShape) {
    super();
    this.dtype = checkDType(dtype);
    for (const d of shape) {
      if (d !== null && (!Number.isInteger(d) || d < 0)) throw new InputError(`static shape entries must be null or non-negative integers, got ${formatStaticShape(shape)}`);
    }
    this.shape = Object.freeze([...shape]);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get broadcastable(): boolean[] {
    return this.shape.map((d) => d === 1);
  }

  equals(other: Type): boolean {
    return other instanceof TensorType && other.dtype === this.dtype && other.shape.length === this.shape.length && other.shape.every((d, i) => d === this.shape[i]);
  }

  /** True when every value of `other` is a value of this type (static shape may be more precise). */
  isSuperOf(other: TensorType): boolean {
    return other.dtype === this.dtype && other.ndim === this.ndim && this.shape.every((d, i) => d === null || d === other.shape[i]);
  }

  withShape(shape: StaticShape): TensorType {
    return new TensorType(this.dtype, shape);
  }

  withDtype(dtype: DType): TensorType {
    return new TensorType(dtype, this.shape);
  }

  toString(): string {
    return `TensorType(${this.dtype}, ${formatStaticShape(this.shape)})`;
  }

  makeVariable(name: string | null = null): Variable {
    return new TensorVariableCtor.ctor(this, null, 0, name);
  }

  /**
   * A user value as an NDArray of this type. `allowDowncast`: true casts anything; false casts
   * only without loss; undefined (Theano's default) also lets plain JS numbers become floatX.
   */
  filter(value: unknown, opts: { allowDowncast?: boolean; what?: string } = {}): NDArray {
    const what = opts.what ?? "value";
    let arr: NDArray;
    if (value instanceof NDArray) {
      arr = value;
    } else {
      try {
        arr = array(value as ArrayLike, isPlainNumbers(value) && !opts.allowDowncast ? undefined : undefined);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`${what}: ${e.message}`);
        throw e;
      }
      // JS numbers are weak: ints fit any dtype whose range holds them, floats any float dtype.
      if (arr.dtype !== this.dtype && opts.allowDowncast !== false) {
        const weakOk = (arr.dtype === "int64" && (isInteger(this.dtype) || isFloat(this.dtype))) || (arr.dtype === "float64" && isFloat(this.dtype)) || (arr.dtype === "bool" && this.dtype === "bool");
        if (weakOk) {
          const cast = arr.astype(this.dtype);
          if (isInteger(this.dtype) && !sameValues(arr, cast)) {
            throw new InputError(`${what}: values do not fit ${this.dtype} (expected ${this}); pass values in range, or allowInputDowncast: true to wrap`);
          }
          arr = cast;
        }
      }
    }
    if (arr.dtype !== this.dtype) {
      if (opts.allowDowncast || canCastSafely(arr.dtype, this.dtype)) {
        arr = arr.astype(this.dtype);
      } else {
        throw new InputError(
          `${what}: expected ${this}, got a ${arr.dtype} array of shape [${arr.shape.join(", ")}]; casting ${arr.dtype} to ${this.dtype} may lose precision. ` +
            `Cast the value first (theano.asarray(value, "${this.dtype}")) or compile with allowInputDowncast: true`,
        );
      }
    }
    if (arr.ndim !== this.ndim) {
      throw new InputError(`${what}: expected ${this} (rank ${this.ndim}), got an array of rank ${arr.ndim} with shape [${arr.shape.join(", ")}]`);
    }
    for (let i = 0; i < this.ndim; i++) {
      const d = this.shape[i];
      if (d !== null && d !== arr.shape[i]) {
        throw new InputError(`${what}: expected ${this}, got shape [${arr.shape.join(", ")}]: dimension ${i} must be ${d}`);
      }
    }
    return arr;
  }
}

function isPlainNumbers(v: unknown): boolean {
  return typeof v === "number" || Array.isArray(v);
}

function sameValues(a: NDArray, b: NDArray): boolean {
  const fa = a.toFlat();
  const fb = b.toFlat();
  for (let i = 0; i < fa.length; i++) if (Number(fa[i]) !== Number(fb[i])) return false;
  return true;
}

/**
 * TensorVariable lives in variable.ts, which imports the ops that import this file; the class
 * is registered here at load time instead of imported, to keep module initialisation acyclic.
 */
export const TensorVariableCtor: {
  ctor: new (type: TensorType, owner: null, index: number, name: string | null) => Variable;
} = {
  ctor: undefined as never,
};
