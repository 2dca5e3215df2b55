/**
 * TensorType: a dtype and a static shape (`null` = unknown), Theano's `tensor/type.py`.
 *
 * A dimension whose static size is 1 is broadcastable; nothing else ever is. `filter` turns a
 * user value into an NDArray of exactly this type or raises an InputError that names the input,
 * what was expected, what came, and how to fix it.
 */

import { InputError, ShapeError } from "../errors.js";
import { Type, type Variable } from "../graph/basic.js";
import { type DType, canCastSafely, checkDType, isFloat, isInteger } from "../ndarray/dtype.js";
import { type ArrayLike, MAX_ARRAY_ELEMENTS, NDArray, array } from "../ndarray/ndarray.js";

export type StaticShape = ReadonlyArray<number | null>;

export const formatStaticShape = (s: StaticShape): string =>
  `(${s.map((d) => (d === null ? "?" : Number.isInteger(d) && !Number.isSafeInteger(d) ? String(BigInt(d)) : String(d))).join(", ")}${s.length === 1 ? "," : ""})`;

export class TensorType extends Type {
  readonly dtype: DType;
  readonly shape: StaticShape;

  constructor(dtype: DType, shape: StaticShape) {
    super();
    this.dtype = checkDType(dtype);
    for (const d of shape) {
      if (d !== null && (!Number.isInteger(d) || d < 0)) throw new InputError(`static shape entries must be null or non-negative integers, got ${formatStaticShape(shape)}`);
    }
    // Known sizes too large for any array (T.alloc(1, 2**32, 2**32)) fail here, while the graph
    // is built, rather than as a wrong size at run time.
    const known = shape.filter((d): d is number => d !== null && d !== 0);
    if (known.reduce((a, d) => a * d, 1) > MAX_ARRAY_ELEMENTS) {
      throw new ShapeError(
        `static shape ${formatStaticShape(shape)} is too large: its known dimensions make ${String(known.reduce((a, d) => a * BigInt(d), 1n))} elements, more than the ${MAX_ARRAY_ELEMENTS} (2**53 - 1) an array can address`,
      );
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
   * A user value as an NDArray of this type. `allowDowncast`: true casts anything (as NumPy's
   * `astype`: ints wrap, floats past the range become ±Infinity); false casts only without loss;
   * undefined (Theano's default) also lets plain JS numbers (weak, like Python's) become any
   * dtype that holds their values: an int that does not fit, or a finite float that would
   * overflow to ±Infinity, is an InputError naming the value. An NDArray or a TypedArray is
   * typed data and follows the dtype rule (float64 into float32 needs `allowDowncast`). Arrays
   * whose memory was detached or shrank are an InputError (they would read as NaNs).
   */
  filter(value: unknown, opts: { allowDowncast?: boolean; what?: string } = {}): NDArray {
    const what = opts.what ?? "value";
    let arr: NDArray;
    if (value instanceof NDArray) {
      value.checkLive(what);
      arr = value;
    } else {
      try {
        arr = array(value as ArrayLike);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`${what}: ${e.message}`, { cause: e });
        throw e;
      }
      // JS numbers are weak: ints fit any dtype whose range holds them, floats any float dtype
      // whose range holds them (precision may go, as Theano lets Python floats into float32).
      if (isPlainValue(value) && arr.dtype !== this.dtype && opts.allowDowncast !== false) {
        const weakOk = (arr.dtype === "int64" && (isInteger(this.dtype) || isFloat(this.dtype))) || (arr.dtype === "float64" && isFloat(this.dtype)) || (arr.dtype === "bool" && this.dtype === "bool");
        if (weakOk) {
          const cast = arr.astype(this.dtype);
          if (opts.allowDowncast !== true) {
            const bad = firstLost(arr, cast, isInteger(this.dtype));
            if (bad !== undefined) {
              const why = isInteger(this.dtype) ? `is out of range for ${this.dtype}` : `overflows ${this.dtype} (it would become ${Number(bad) > 0 ? "" : "-"}Infinity)`;
              throw new InputError(`${what}: value ${String(bad)} ${why} (expected ${this}); pass values in range, or allowInputDowncast: true to cast anyway (${isInteger(this.dtype) ? "wrapping" : "to ±Infinity"})`);
            }
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

/** A plain JS value (number, bigint, boolean, nested array): weak, as Python scalars are to Theano. */
function isPlainValue(v: unknown): boolean {
  return typeof v === "number" || typeof v === "bigint" || typeof v === "boolean" || Array.isArray(v);
}

/**
 * The first value of `a` that its cast `b` lost: for integers any change; for floats only a
 * finite value that became infinite (rounding is allowed, overflow is not; an explicit
 * Infinity or NaN stays as it is).
 */
function firstLost(a: NDArray, b: NDArray, integer: boolean): number | bigint | undefined {
  const fa = a.toFlat();
  const fb = b.toFlat();
  for (let i = 0; i < fa.length; i++) {
    const x = fa[i]!;
    const y = Number(fb[i]);
    if (integer ? Number(x) !== y && x !== fb[i] : Number.isFinite(Number(x)) && !Number.isFinite(y)) return x;
  }
  return undefined;
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
