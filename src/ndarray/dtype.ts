/**
 * dtypes: names, storage, and NumPy's promotion rules.
 *
 * Every stage of the pipeline speaks of dtypes by these string names (NumPy's spelling).
 * `resultType` reproduces NumPy's `result_type` table for array operands, and adds the rule
 * NumPy 2 (NEP 50), JAX and Theano's autocasting share for JS numbers: a number is a "weak"
 * scalar that takes the dtype of the tensors it meets and never widens them
 * (`float32 + 0.1` stays float32). Ints meeting a weak float become floatX.
 */

import { InputError } from "../errors.js";

export const DTYPES = [
  "bool",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "float32",
  "float64",
] as const;

export type DType = (typeof DTYPES)[number];
export type FloatDType = "float32" | "float64";
export type IntDType = "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64";

export type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

export type DTypeKind = "b" | "i" | "u" | "f";

interface DTypeInfo {
  readonly kind: DTypeKind;
  readonly itemsize: number;
  readonly ctor: TypedArrayCtor;
  /** Smallest and largest representable value (for integer range checks); floats: ±Infinity. */
  readonly min: number;
  readonly max: number;
}

export type TypedArrayCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

const INFO: Record<DType, DTypeInfo> = {
  bool: { kind: "b", itemsize: 1, ctor: Uint8Array, min: 0, max: 1 },
  int8: { kind: "i", itemsize: 1, ctor: Int8Array, min: -128, max: 127 },
  int16: { kind: "i", itemsize: 2, ctor: Int16Array, min: -32768, max: 32767 },
  int32: { kind: "i", itemsize: 4, ctor: Int32Array, min: -2147483648, max: 2147483647 },
  int64: { kind: "i", itemsize: 8, ctor: BigInt64Array, min: -(2 ** 63), max: 2 ** 63 - 1 },
  uint8: { kind: "u", itemsize: 1, ctor: Uint8Array, min: 0, max: 255 },
  uint16: { kind: "u", itemsize: 2, ctor: Uint16Array, min: 0, max: 65535 },
  uint32: { kind: "u", itemsize: 4, ctor: Uint32Array, min: 0, max: 4294967295 },
  uint64: { kind: "u", itemsize: 8, ctor: BigUint64Array, min: 0, max: 2 ** 64 - 1 },
  float32: { kind: "f", itemsize: 4, ctor: Float32Array, min: -Infinity, max: Infinity },
  float64: { kind: "f", itemsize: 8, ctor: Float64Array, min: -Infinity, max: Infinity },
};

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && Object.prototype.hasOwnProperty.call(INFO, x);
}

/** Validates a user-given dtype name; the error lists the valid names. */
export function checkDType(x: unknown, what = "dtype"): DType {
  if (isDType(x)) return x;
  // Own properties only: a plain-object lookup would answer "toString" with Object.prototype's.
  const alias = typeof x === "string" && Object.prototype.hasOwnProperty.call(DTYPE_ALIASES, x) ? DTYPE_ALIASES[x] : undefined;
  if (alias) return alias;
  throw new InputError(`unknown ${what} ${JSON.stringify(x)}; valid dtypes are ${DTYPES.join(", ")}`);
}

const DTYPE_ALIASES: Record<string, DType> = {
  float: "float64",
  double: "float64",
  single: "float32",
  int: "int64",
  long: "int64",
  uint: "uint64",
  ubyte: "uint8",
  byte: "int8",
  short: "int16",
  boolean: "bool",
};

export const dtypeKind = (d: DType): DTypeKind => INFO[d].kind;
export const itemsize = (d: DType): number => INFO[d].itemsize;
export const typedArrayCtor = (d: DType): TypedArrayCtor => INFO[d].ctor;
export const dtypeRange = (d: DType): readonly [number, number] => [INFO[d].min, INFO[d].max];
export const isFloat = (d: DType): d is FloatDType => INFO[d].kind === "f";
export const isInteger = (d: DType): d is IntDType => INFO[d].kind === "i" || INFO[d].kind === "u";
export const isSigned = (d: DType): boolean => INFO[d].kind === "i" || INFO[d].kind === "f";
export const isBigIntDType = (d: DType): d is "int64" | "uint64" => d === "int64" || d === "uint64";

/** The dtype a TypedArray stores (Uint8Array is uint8; bool arrays must be asked for by name). */
export function dtypeOfTypedArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Int16Array) return "int16";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return "uint8";
  if (a instanceof Uint16Array) return "uint16";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof BigUint64Array) return "uint64";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Promotion

/** A JS number or boolean operand: it has a kind but no width of its own. */
export interface WeakScalar {
  readonly weak: "bool" | "int" | "float";
}

export const weakOf = (v: number | boolean | bigint): WeakScalar =>
  typeof v === "boolean" ? { weak: "bool" } : typeof v === "bigint" || Number.isInteger(v) ? { weak: "int" } : { weak: "float" };

const intOfSize = (signed: boolean, size: number): DType | undefined => {
  const table: Record<number, DType> = signed
    ? { 1: "int8", 2: "int16", 4: "int32", 8: "int64" }
    : { 1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64" };
  return table[size];
};

/** NumPy's `promote_types` for two dtypes. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const ka = INFO[a].kind;
  const kb = INFO[b].kind;
  if (ka === "b") return b;
  if (kb === "b") return a;
  const sa = INFO[a].itemsize;
  const sb = INFO[b].itemsize;
  if (ka === "f" && kb === "f") return sa >= sb ? a : b;
  if (ka === "f" || kb === "f") {
    const [f, i] = ka === "f" ? [a, b] : [b, a];
    // float32 holds int8/int16/uint8/uint16 exactly; anything wider needs float64.
    return f === "float64" || INFO[i].itemsize <= 2 ? f : "float64";
  }
  if (ka === kb) return sa >= sb ? a : b;
  // One signed, one unsigned: a signed type strictly wider than the unsigned one.
  const [s, u] = ka === "i" ? [a, b] : [b, a];
  const size = Math.max(INFO[s].itemsize, 2 * INFO[u].itemsize);
  return intOfSize(true, size) ?? "float64";
}

/**
 * The dtype of an operation over these operands. Strong operands (dtypes) follow NumPy's table;
 * weak scalars only matter by kind: a weak float lifts an integer or bool result to `floatX`, a
 * weak int lifts a bool result to int64; with no strong operand, int → int64 and float → floatX.
 */
export function resultType(operands: ReadonlyArray<DType | WeakScalar>, floatX: FloatDType = "float64"): DType {
  let strong: DType | undefined;
  let weak: WeakScalar["weak"] | undefined;
  const rank = { bool: 0, int: 1, float: 2 } as const;
  for (const op of operands) {
    if (typeof op === "string") strong = strong === undefined ? op : promoteTypes(strong, op);
    else if (weak === undefined || rank[op.weak] > rank[weak]) weak = op.weak;
  }
  if (strong === undefined) {
    if (weak === undefined) throw new InputError("resultType needs at least one operand");
    return weak === "float" ? floatX : weak === "int" ? "int64" : "bool";
  }
  if (weak === undefined) return strong;
  const k = INFO[strong].kind;
  if (weak === "float" && k !== "f") return floatX;
  if (weak === "int" && k === "b") return "int64";
  return strong;
}

/** NumPy's `can_cast(from, to, "safe")`: no value of `from` is lost in `to`. */
export function canCastSafely(from: DType, to: DType): boolean {
  return promoteTypes(from, to) === to;
}

/** The float dtype an op over `d` computes in: floats stay, ints and bools become floatX (API.md §4). */
export function upcastToFloat(d: DType, floatX: FloatDType = "float64"): FloatDType {
  return d === "float32" || d === "float64" ? d : floatX;
}
