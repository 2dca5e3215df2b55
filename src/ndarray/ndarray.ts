/**
 * NDArray: the host array that goes into and comes out of compiled functions (API.md §2).
 *
 * A dtype, a shape, strides and an offset (both in elements) over one TypedArray, as NumPy's
 * ndarray is a view over a buffer: transposes and basic slices are views, `copy()` and
 * `contiguous()` make C-ordered storage. int64/uint64 live in BigInt64Array/BigUint64Array;
 * every conversion to a JS number is exact or raises. bool is stored one byte per element.
 */

import { InputError, ShapeError } from "../errors.js";
import {
  type DType,
  type TypedArray,
  checkDType,
  dtypeOfTypedArray,
  dtypeRange,
  isBigIntDType,
  isInteger,
  itemsize,
  typedArrayCtor,
} from "./dtype.js";

/** Anything a function accepts where it takes an array value. */
export type ArrayLike = NDArray | TypedArray | number | boolean | bigint | NestedArray;
export interface NestedArray extends ReadonlyArray<number | boolean | bigint | NestedArray> {}
export type Scalar = number | boolean;

/**
 * The most elements an array may have (counting only its non-zero dimensions, as NumPy's
 * "array is too big" check does): 2**53 - 1, the largest integer a JS number holds exactly.
 * Sizes travel between the host and generated code as JS numbers, and a product past this
 * bound is no longer exact: 2**32 * 2**32 elements would silently become a wrong size (and in
 * C's int64 arithmetic, 0). Every size is checked against it before anything is allocated.
 */
export const MAX_ARRAY_ELEMENTS = Number.MAX_SAFE_INTEGER;

/** The number of elements of `shape`; a ShapeError names the shape when it is too large. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  // With every dimension >= 1 the partial products only grow, so a final product within
  // bounds was exact all along; a zero (or a NaN from an overflow times zero) needs a look.
  if (n > 0 && n <= MAX_ARRAY_ELEMENTS) return n;
  if (n === 0 && shape.reduce((a, d) => (d === 0 ? a : a * d), 1) <= MAX_ARRAY_ELEMENTS) return 0;
  throw tooLarge(shape);
}

/** The ShapeError of a shape with more than MAX_ARRAY_ELEMENTS elements (its exact count named). */
export function tooLarge(shape: readonly number[], what = "an array of shape"): ShapeError {
  let exact: string;
  try {
    exact = String(shape.reduce((a, d) => (d === 0 ? a : a * BigInt(d)), 1n));
  } catch {
    exact = "a non-integer number of";
  }
  // Dimensions past 2**53 in full (String(2**62) is "4611686018427388000", not its value).
  const dims = shape.map((d) => (Number.isInteger(d) && !Number.isSafeInteger(d) ? String(BigInt(d)) : String(d)));
  return new ShapeError(
    `${what} [${dims.join(", ")}] is too large: ${exact} elements (zero dimensions left out), more than the ${MAX_ARRAY_ELEMENTS} (2**53 - 1) an array can address`,
  );
}

/**
 * Fresh zeroed storage for an array of `shape`. A size past MAX_ARRAY_ELEMENTS, or memory the
 * runtime will not give (V8 caps a TypedArray at 2**32 elements in Node 20, and a failed
 * allocation is a RangeError), is a ShapeError naming the shape, the dtype and the bytes asked
 * for: never a raw RangeError, never a wrong size.
 */
export function allocData(dtype: DType, shape: readonly number[]): TypedArray {
  const n = shapeSize(shape);
  try {
    return new (typedArrayCtor(dtype))(n);
  } catch (e) {
    if (e instanceof RangeError) throw cannotAllocate(dtype, shape, e);
    throw e;
  }
}

/** The ShapeError of an allocation the runtime refused (`cause`: its RangeError). */
export function cannotAllocate(dtype: DType, shape: readonly number[], cause?: unknown): ShapeError {
  const bytes = shapeSize(shape) * itemsize(dtype);
  return new ShapeError(
    `cannot allocate ${bytes} bytes (${formatBytes(bytes)}) for an array of shape [${shape.join(", ")}] and dtype ${dtype}: ` +
      `more memory than this JavaScript runtime gives one array (${cause instanceof Error ? cause.message : "allocation failed"}); use smaller shapes`,
    { cause },
  );
}

/** Bytes as a short human figure (binary units). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * Whether `buf` was detached (its memory transferred: `structuredClone(b, { transfer: [b] })`,
 * `postMessage`, `ArrayBuffer.prototype.transfer`). Node 20 has no `detached` getter; a detached
 * buffer has byteLength 0 and cannot be viewed, which an empty live buffer can.
 */
export function isDetached(buf: ArrayBufferLike): boolean {
  if (buf.byteLength !== 0) return false;
  const flag = (buf as { detached?: unknown }).detached;
  if (typeof flag === "boolean") return flag;
  try {
    new Uint8Array(buf);
    return false;
  } catch {
    return true;
  }
}

/** C-order (row-major) strides, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i]!, 1);
  }
  return strides;
}

function checkShape(shape: readonly number[], what = "shape"): number[] {
  if (!Array.isArray(shape)) throw new InputError(`${what} must be an array of non-negative integers, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
      throw new InputError(`${what} must hold non-negative integers, got [${shape.join(", ")}]`);
    }
  }
  return [...shape];
}

/** The InputError of an array or TypedArray whose buffer was detached (see `isDetached`). */
function detachedError(what: string): InputError {
  return new InputError(
    `${what} is over a detached ArrayBuffer (its memory was transferred, e.g. by postMessage or structuredClone with transfer), so it holds no values; pass an array over live memory`,
  );
}

/** Converts a stored element to a JS number, exactly or with an InputError. */
export function exactNumber(v: number | bigint, dtype: DType): number {
  if (typeof v === "number") return v;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new InputError(`${dtype} value ${v} cannot be represented exactly as a JS number; read it with getBig()/.data instead`);
  }
  return n;
}

/** The strides of every contiguous 0-d and 1-d array `NDArray.fresh` makes (frozen, shared). */
const NO_AXES: readonly number[] = Object.freeze([]);
const UNIT_STRIDE: readonly number[] = Object.freeze([1]);

/** Set by `NDArray.rowOf` for the one constructor call it makes (-1: a normal, checked construction). */
let trustedEnd = -1;

export class NDArray {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Element strides (not bytes, unlike NumPy). */
  readonly strides: readonly number[];
  readonly offset: number;
  readonly data: TypedArray;
  /** One past the last element of `data` this array addresses (0 when empty): see `checkLive`. */
  readonly #end: number;

  /** Low-level constructor: no copy, checks that every element addressed lies inside `data`. */
  constructor(dtype: DType, shape: readonly number[], data: TypedArray, strides?: readonly number[], offset = 0) {
    if (trustedEnd >= 0) {
      // NDArray.rowOf: a view of an array already checked, its frozen shape and strides reused.
      this.dtype = dtype;
      this.shape = shape;
      this.strides = strides!;
      this.offset = offset;
      this.data = data;
      this.#end = trustedEnd;
      trustedEnd = -1;
      return;
    }
    this.dtype = dtype;
    this.shape = Object.freeze(checkShape(shape));
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.data = data;
    if (this.strides.length !== this.shape.length) {
      throw new ShapeError(`strides [${this.strides.join(", ")}] do not match shape [${this.shape.join(", ")}]`);
    }
    const ctor = typedArrayCtor(dtype);
    if (!(data instanceof ctor)) {
      throw new InputError(`dtype ${dtype} needs a ${ctor.name}, got a ${data.constructor.name}`);
    }
    // `size` checks that the shape is not too large (shapeSize) before anything else uses it.
    this.#end = 0;
    if (this.size > 0) {
      let lo = offset;
      let hi = offset;
      for (let i = 0; i < this.shape.length; i++) {
        const ext = (this.shape[i]! - 1) * this.strides[i]!;
        if (ext < 0) lo += ext;
        else hi += ext;
      }
      // (A detached buffer's views have length 0; reading `data.buffer` otherwise would make V8
      // materialise the ArrayBuffer of every small on-heap typed array, a copy per array.)
      if (data.length === 0 && isDetached(data.buffer)) throw detachedError("an array");
      if (lo < 0 || hi >= data.length) {
        throw new ShapeError(`a view of shape [${this.shape.join(", ")}] with strides [${this.strides.join(", ")}] and offset ${offset} does not fit a buffer of ${data.length} elements`);
      }
      this.#end = hi + 1;
    }
  }

  /**
   * Row `i` of `a` along its first axis, as a view, without the constructor's checks (a loop's
   * per-step views: scan). `rowShape`/`rowStrides` must be `a`'s shape and strides after the first
   * axis, frozen (callers make them once and reuse them); `i` must be inside `a.shape[0]`.
   */
  static rowOf(a: NDArray, i: number, rowShape: readonly number[], rowStrides: readonly number[]): NDArray {
    const offset = a.offset + i * a.strides[0]!;
    let hi = offset;
    let empty = false;
    for (let k = 0; k < rowShape.length; k++) {
      if (rowShape[k] === 0) empty = true;
      const ext = (rowShape[k]! - 1) * rowStrides[k]!;
      if (ext > 0) hi += ext;
    }
    trustedEnd = empty ? 0 : hi + 1;
    return new NDArray(a.dtype, rowShape, a.data, rowStrides, offset);
  }

  /**
   * A C-contiguous array over `data` from element 0, for a linker's result: `data` was sized
   * from this shape (its length is at least the shape's size, each extent a non-negative
   * integer), so the constructor's checks are skipped (they were most of a tiny call's output
   * wrapping: issue 15.5). `shape` becomes the array's (frozen): the caller must not keep it.
   * A buffer shorter than the shape falls back to the checked constructor, which raises.
   */
  static fresh(dtype: DType, shape: number[], data: TypedArray): NDArray {
    const nd = shape.length;
    if (nd <= 1) {
      const size = nd === 0 ? 1 : shape[0]!;
      if (size > data.length) return new NDArray(dtype, shape, data);
      trustedEnd = size;
      return new NDArray(dtype, Object.freeze(shape), data, nd === 0 ? NO_AXES : UNIT_STRIDE, 0);
    }
    const strides = new Array<number>(nd);
    let s = 1;
    let size = 1;
    for (let i = nd - 1; i >= 0; i--) {
      const n = shape[i]!;
      strides[i] = s;
      s *= n > 1 ? n : 1;
      size *= n;
    }
    if (size > data.length) return new NDArray(dtype, shape, data);
    trustedEnd = size;
    return new NDArray(dtype, Object.freeze(shape), data, Object.freeze(strides), 0);
  }

  /**
   * `a`'s shape and strides over its memory at another element offset, without the
   * constructor's checks: a loop's per-step views (src/link/host_loop.ts). The caller has checked
   * that every element the view reaches lies inside `a.data`.
   */
  static viewAt(a: NDArray, offset: number): NDArray {
    let hi = offset;
    let empty = false;
    for (let k = 0; k < a.shape.length; k++) {
      if (a.shape[k] === 0) empty = true;
      const ext = (a.shape[k]! - 1) * a.strides[k]!;
      if (ext > 0) hi += ext;
    }
    trustedEnd = empty ? 0 : hi + 1;
    return new NDArray(a.dtype, a.shape, a.data, a.strides, offset);
  }

  /**
   * Raises an InputError when the memory this array was made over is gone: its buffer was
   * detached (transferred), or a resizable ArrayBuffer under it shrank below the elements the
   * array addresses. JS reads past the end as `undefined`, so computing on such an array would
   * silently give NaNs; every function input and shared value is checked here before a call.
   * (A detached TypedArray given directly is refused by `array`: its length reads 0, so the
   * values it was meant to carry are gone.)
   */
  checkLive(what = "array"): void {
    const data = this.data;
    // An empty array reads nothing: it stays usable whatever happened to its buffer.
    if (data.length >= this.#end) return;
    if (isDetached(data.buffer)) throw detachedError(`${what} of shape [${this.shape.join(", ")}]`);
    throw new InputError(
      `${what} of shape [${this.shape.join(", ")}] addresses ${this.#end} elements of its buffer, which now holds ${data.length}: ` +
        `its resizable ArrayBuffer shrank after the array was made; pass an array over live memory (copy it, or make a new NDArray after resizing)`,
    );
  }

  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return shapeSize(this.shape);
  }

  /** True when the elements are stored in C order without gaps (any offset). */
  get isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const d = this.shape[i]!;
      if (d === 0) return true;
      if (d !== 1 && this.strides[i] !== expected) return false;
      expected *= d;
    }
    return true;
  }

  /** Flat memory offset of an element given by its indices (negative indices count from the end). */
  indexOf(idx: readonly number[]): number {
    if (idx.length !== this.ndim) {
      throw new InputError(`an array of rank ${this.ndim} needs ${this.ndim} indices, got ${idx.length}`);
    }
    let off = this.offset;
    for (let i = 0; i < idx.length; i++) {
      let k = idx[i]!;
      const d = this.shape[i]!;
      if (!Number.isInteger(k)) throw new InputError(`index ${k} on axis ${i} is not an integer`);
      if (k < 0) k += d;
      if (k < 0 || k >= d) throw new ShapeError(`index ${idx[i]} is out of bounds for axis ${i} with size ${d}`);
      off += k * this.strides[i]!;
    }
    return off;
  }

  /** One element as a JS number (bool arrays give booleans). */
  get(...idx: number[]): Scalar {
    const v = this.data[this.indexOf(idx)]!;
    if (this.dtype === "bool") return v !== 0;
    return exactNumber(v, this.dtype);
  }

  /** One element as stored: a bigint for int64/uint64. */
  getBig(...idx: number[]): number | bigint {
    return this.data[this.indexOf(idx)]!;
  }

  /** The value of a 0-d or size-1 array. */
  item(): Scalar {
    if (this.size !== 1) throw new ShapeError(`item() needs an array of size 1, got shape [${this.shape.join(", ")}]`);
    return this.get(...new Array<number>(this.ndim).fill(0));
  }

  /** Memory offsets of every element in C order. */
  *offsets(): Generator<number> {
    const n = this.size;
    if (n === 0) return;
    const nd = this.ndim;
    if (this.isContiguous) {
      for (let i = 0; i < n; i++) yield this.offset + i;
      return;
    }
    const idx = new Array<number>(nd).fill(0);
    let off = this.offset;
    for (let i = 0; i < n; i++) {
      yield off;
      for (let ax = nd - 1; ax >= 0; ax--) {
        idx[ax]!++;
        off += this.strides[ax]!;
        if (idx[ax]! < this.shape[ax]!) break;
        off -= idx[ax]! * this.strides[ax]!;
        idx[ax] = 0;
      }
    }
  }

  /** A C-contiguous array starting at offset 0 with exactly `size` elements: this one or a copy. */
  contiguous(): NDArray {
    if (this.isContiguous && this.offset === 0 && this.data.length === this.size) return this;
    return this.copy();
  }

  /** The elements in C order as a fresh TypedArray of this dtype. */
  toFlat(): TypedArray {
    this.checkLive();
    const out = allocData(this.dtype, this.shape);
    if (out.length === 0) return out; // nothing to read (the buffer may even be detached)
    if (this.isContiguous) {
      (out as Float64Array).set((this.data as Float64Array).subarray(this.offset, this.offset + this.size));
      return out;
    }
    const src = this.data as Float64Array;
    const dst = out as Float64Array;
    let i = 0;
    walkRows(this.shape, this.strides, this.offset, (base, len, step) => {
      for (let k = 0; k < len; k++) dst[i++] = src[base + k * step]!;
    });
    return out;
  }

  /** The offsets of every element in C order (what `offsets()` yields), as one array. */
  offsetArray(): Float64Array {
    const out = new Float64Array(this.size);
    let i = 0;
    walkRows(this.shape, this.strides, this.offset, (base, len, step) => {
      for (let k = 0; k < len; k++) out[i++] = base + k * step;
    });
    return out;
  }

  /** A C-contiguous copy. */
  copy(): NDArray {
    return new NDArray(this.dtype, this.shape, this.toFlat());
  }

  /** NumPy's `astype`: integers wrap, floats to ints truncate toward zero, NaN to int is 0. */
  astype(dtype: DType): NDArray {
    dtype = checkDType(dtype);
    if (dtype === this.dtype) return this.copy();
    this.checkLive();
    const out = allocData(dtype, this.shape);
    const big = isBigIntDType(dtype);
    const toBool = dtype === "bool";
    const fromBig = isBigIntDType(this.dtype);
    const toInt = isInteger(dtype);
    let i = 0;
    for (const o of this.offsets()) {
      const v = this.data[o]!;
      if (toBool) {
        out[i++] = (typeof v === "bigint" ? v !== 0n : v !== 0) ? 1 : 0;
      } else if (big) {
        const b = typeof v === "bigint" ? v : Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
        out[i++] = dtype === "int64" ? BigInt.asIntN(64, b) : BigInt.asUintN(64, b);
      } else {
        // From 64-bit ints, wrap in bigint first: Number() would round away the low bits
        // that a narrower int keeps (int64 2**53+1 -> int32 is 1, as in NumPy).
        if (fromBig && toInt) out[i++] = Number(BigInt.asIntN(32, v as bigint));
        else {
          const n = fromBig ? Number(v) : (v as number);
          out[i++] = toInt ? (Number.isFinite(n) ? Math.trunc(n) : 0) : n;
        }
      }
    }
    return new NDArray(dtype, this.shape, out);
  }

  /** A view with axes permuted (reversed when no axes are given). */
  transpose(...axes: number[]): NDArray {
    const nd = this.ndim;
    const perm = axes.length === 0 ? [...Array(nd).keys()].reverse() : axes.map((a) => normalizeAxis(a, nd));
    if (perm.length !== nd || new Set(perm).size !== nd) {
      throw new ShapeError(`transpose axes [${axes.join(", ")}] are not a permutation of ${nd} axes`);
    }
    return new NDArray(this.dtype, perm.map((p) => this.shape[p]!), this.data, perm.map((p) => this.strides[p]!), this.offset);
  }

  get T(): NDArray {
    return this.transpose();
  }

  /** A view when the layout allows it, else a copy; one dimension may be -1. */
  reshape(shape: readonly number[]): NDArray {
    const newShape = resolveReshape(this.shape, shape);
    const src = this.isContiguous ? this : this.copy();
    return new NDArray(this.dtype, newShape, src.data, contiguousStrides(newShape), src.offset);
  }

  /**
   * A basic-indexing view: one entry per leading axis, a number (drops the axis) or a
   * `[start, stop, step]` slice with NumPy's clamping and negative-index rules.
   */
  slice(...index: Array<number | readonly [number | null, number | null, (number | null)?]>): NDArray {
    if (index.length > this.ndim) throw new ShapeError(`too many indices (${index.length}) for an array of rank ${this.ndim}`);
    const shape: number[] = [];
    const strides: number[] = [];
    let offset = this.offset;
    for (let ax = 0; ax < this.ndim; ax++) {
      const d = this.shape[ax]!;
      const st = this.strides[ax]!;
      const e = index[ax];
      if (e === undefined) {
        shape.push(d);
        strides.push(st);
      } else if (typeof e === "number") {
        const k = e < 0 ? e + d : e;
        if (!Number.isInteger(k) || k < 0 || k >= d) throw new ShapeError(`index ${e} is out of bounds for axis ${ax} with size ${d}`);
        offset += k * st;
      } else {
        const [start, stop, len, step] = sliceIndices(d, e[0], e[1], e[2] ?? null);
        shape.push(len);
        strides.push(st * step);
        if (len > 0) offset += start * st;
        void stop;
      }
    }
    return new NDArray(this.dtype, shape, this.data, strides, shape.includes(0) ? this.offset : offset);
  }

  /** Nested JS arrays; numbers (exact) and booleans. */
  toArray(): NestedArray | Scalar {
    if (this.ndim === 0) return this.item();
    const flat = this.toFlat();
    const dtype = this.dtype;
    const conv = (v: number | bigint): Scalar => (dtype === "bool" ? v !== 0 : exactNumber(v, dtype));
    const build = (ax: number, base: number): NestedArray => {
      const d = this.shape[ax]!;
      const out: Array<Scalar | NestedArray> = new Array(d);
      const stride = shapeSize(this.shape.slice(ax + 1));
      for (let i = 0; i < d; i++) {
        out[i] = ax === this.ndim - 1 ? conv(flat[base + i]!) : build(ax + 1, base + i * stride);
      }
      return out;
    };
    return build(0, 0);
  }

  toString(): string {
    // Elements as text (bigints in full: printing must never fail on a value JS numbers can't
    // hold, nor on an array whose memory is gone).
    let live = true;
    try {
      this.checkLive();
    } catch {
      live = false;
    }
    if (!live) return `array(<memory detached or shrunk>, dtype=${this.dtype}, shape=[${this.shape.join(", ")}])`;
    const flat = this.size > 1000 ? null : Array.from(this.toFlat() as Iterable<number | bigint>, (v) => (this.dtype === "bool" ? String(v !== 0) : String(v)));
    const nest = (ax: number, base: number): string => {
      if (ax === this.ndim) return flat![base]!;
      const stride = shapeSize(this.shape.slice(ax + 1));
      return `[${Array.from({ length: this.shape[ax]! }, (_x, i) => nest(ax + 1, base + i * stride)).join(",")}]`;
    };
    const body = flat === null ? `<${this.size} elements>` : nest(0, 0);
    return `array(${body}, dtype=${this.dtype}, shape=[${this.shape.join(", ")}])`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

export function normalizeAxis(axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1)) {
    throw new ShapeError(`axis ${axis} is out of bounds for an array of rank ${ndim}`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** NumPy's `slice.indices`: [start, stop, length, step] for a dimension of size `d`. */
export function sliceIndices(
  d: number,
  start: number | null,
  stop: number | null,
  step: number | null,
): [number, number, number, number] {
  const st = step ?? 1;
  if (!Number.isInteger(st) || st === 0) throw new ShapeError(`slice step must be a non-zero integer, got ${step}`);
  const clamp = (v: number | null, dflt: number, lo: number, hi: number): number => {
    if (v === null) return dflt;
    if (!Number.isInteger(v)) throw new ShapeError(`slice bound ${v} is not an integer`);
    if (v < 0) v += d;
    return Math.min(Math.max(v, lo), hi);
  };
  let a: number;
  let b: number;
  if (st > 0) {
    a = clamp(start, 0, 0, d);
    b = clamp(stop, d, 0, d);
  } else {
    a = clamp(start, d - 1, -1, d - 1);
    b = clamp(stop, -1, -1, d - 1);
  }
  const len = st > 0 ? Math.max(0, Math.ceil((b - a) / st)) : Math.max(0, Math.ceil((a - b) / -st));
  return [a, b, len, st];
}

/** Resolves a reshape target (one -1 allowed) against the size of `from`. */
export function resolveReshape(from: readonly number[], to: readonly number[]): number[] {
  const size = shapeSize(from);
  const out = [...to];
  let unknown = -1;
  let known = 1;
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    if (d === -1) {
      if (unknown >= 0) throw new ShapeError(`can only specify one unknown dimension in reshape [${to.join(", ")}]`);
      unknown = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`reshape target [${to.join(", ")}] holds an invalid dimension ${d}`);
    } else known *= d;
  }
  if (unknown >= 0) {
    if (known === 0 || size % known !== 0) {
      throw new ShapeError(`cannot reshape an array of size ${size} (shape [${from.join(", ")}]) into shape [${to.join(", ")}]`);
    }
    out[unknown] = size / known;
  } else if (known !== size) {
    throw new ShapeError(`cannot reshape an array of size ${size} (shape [${from.join(", ")}]) into shape [${to.join(", ")}]`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Creation

function inferNested(value: unknown): { shape: number[]; dtype: DType } {
  const shape: number[] = [];
  let v: unknown = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  // Walk every leaf: check raggedness and find the widest kind.
  let kind: 0 | 1 | 2 = 0; // bool, int, float
  let sawBig = false;
  let leaves = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth < shape.length) {
      if (!Array.isArray(node) || node.length !== shape[depth]) {
        throw new InputError(
          `ragged nested array: expected ${shape[depth]} elements at depth ${depth} (shape [${shape.join(", ")}]), got ${Array.isArray(node) ? node.length + " elements" : JSON.stringify(node)}`,
        );
      }
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], depth + 1]);
      continue;
    }
    if (Array.isArray(node)) throw new InputError(`ragged nested array: an array appears where a number was expected at depth ${depth}`);
    leaves++;
    if (typeof node === "boolean") continue;
    if (typeof node === "bigint") {
      sawBig = true;
      kind = Math.max(kind, 1) as 1;
      continue;
    }
    if (typeof node !== "number") throw new InputError(`array elements must be numbers, booleans or bigints, got ${node === null ? "null" : typeof node} (${String(node)})`);
    // A number beyond 2**53 is a float to JS (1e20 has no exact integer reading), so it infers
    // float64 rather than failing int64's range check; exact big integers come as bigints.
    kind = Math.max(kind, Number.isSafeInteger(node) ? 1 : 2) as 0 | 1 | 2;
  }
  void sawBig;
  const dtype: DType = leaves === 0 ? "float64" : kind === 0 ? "bool" : kind === 1 ? "int64" : "float64";
  return { shape, dtype };
}

function storeScalar(out: TypedArray, i: number, v: number | boolean | bigint, dtype: DType): void {
  if (dtype === "bool") {
    // `v !== 0` rather than Boolean(v): NaN is true, as in NumPy.
    out[i] = (typeof v === "bigint" ? v !== 0n : v !== 0 && v !== false) ? 1 : 0;
    return;
  }
  const n = typeof v === "boolean" ? Number(v) : v;
  if (isInteger(dtype)) {
    if (typeof n === "number" && !Number.isFinite(n)) throw new InputError(`cannot store ${n} in an ${dtype} array`);
    const t = typeof n === "bigint" ? n : BigInt(Math.trunc(n));
    const [lo, hi] = dtypeRange(dtype);
    if (t < BigInt(lo) || t > (dtype === "uint64" ? 2n ** 64n - 1n : dtype === "int64" ? 2n ** 63n - 1n : BigInt(hi))) {
      throw new InputError(`value ${String(v)} is out of bounds for ${dtype}`);
    }
    out[i] = isBigIntDType(dtype) ? t : Number(t);
    return;
  }
  out[i] = typeof n === "bigint" ? Number(n) : n;
}

/** `theano.array`: an NDArray from nested arrays, a TypedArray, a number or another NDArray (always a copy). */
export function array(value: ArrayLike, dtype?: DType): NDArray {
  if (dtype !== undefined) dtype = checkDType(dtype);
  if (value instanceof NDArray) return dtype === undefined || dtype === value.dtype ? value.copy() : value.astype(dtype);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const own = dtypeOfTypedArray(value);
    if (own === undefined) throw new InputError(`unsupported TypedArray ${value.constructor.name}`);
    if (isDetached(value.buffer)) throw detachedError(`a ${value.constructor.name}`);
    // A Uint8ClampedArray (canvas pixels) is uint8 data in a class NDArray does not store: view it.
    const view = value as ArrayBufferView as Uint8ClampedArray | TypedArray;
    const data = view instanceof Uint8ClampedArray ? new Uint8Array(view.buffer, view.byteOffset, view.length) : view;
    const src = new NDArray(own, [value.length], data);
    return dtype === undefined || dtype === own ? src.copy() : src.astype(dtype);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    const dt = dtype ?? (typeof value === "boolean" ? "bool" : typeof value === "bigint" || Number.isSafeInteger(value) ? "int64" : "float64");
    const out = allocData(dt, []);
    storeScalar(out, 0, value, dt);
    return new NDArray(dt, [], out);
  }
  if (!Array.isArray(value)) {
    throw new InputError(`cannot make an array from ${value === null ? "null" : typeof value}; pass an NDArray, a TypedArray, a nested array or a number`);
  }
  const { shape, dtype: inferred } = inferNested(value);
  const dt = dtype ?? inferred;
  const out = allocData(dt, shape);
  let i = 0;
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      storeScalar(out, i++, node as number, dt);
      return;
    }
    for (const c of node as unknown[]) walk(c, depth + 1);
  };
  walk(value, 0);
  return new NDArray(dt, shape, out);
}

/** `theano.asarray`: no copy when `x` already is an NDArray of that dtype. */
export function asarray(value: ArrayLike, dtype?: DType): NDArray {
  if (value instanceof NDArray && (dtype === undefined || checkDType(dtype) === value.dtype)) return value;
  return array(value, dtype);
}

export function full(shape: readonly number[] | number, value: number | boolean | bigint, dtype?: DType): NDArray {
  const sh = checkShape(typeof shape === "number" ? [shape] : shape);
  const dt = dtype !== undefined ? checkDType(dtype) : typeof value === "boolean" ? "bool" : Number.isSafeInteger(value) || typeof value === "bigint" ? "int64" : "float64";
  const out = allocData(dt, sh);
  if (out.length > 0) {
    storeScalar(out, 0, value, dt);
    (out as Float64Array).fill((out as Float64Array)[0]!);
  }
  return new NDArray(dt, sh, out);
}

export const zeros = (shape: readonly number[] | number, dtype: DType = "float64"): NDArray => full(shape, 0, dtype);
export const ones = (shape: readonly number[] | number, dtype: DType = "float64"): NDArray => full(shape, 1, dtype);

/**
 * NumPy's `arange`: `arange(stop, dtype?)`, `arange(start, stop, dtype?)`,
 * `arange(start, stop, step, dtype?)`. The default dtype is int64 for integer arguments.
 */
export function arange(...args: Array<number | DType | undefined>): NDArray {
  let dtype: DType | undefined;
  if (typeof args[args.length - 1] === "string") dtype = checkDType(args.pop());
  while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
  const nums = args as number[];
  if (nums.length < 1 || nums.length > 3 || nums.some((n) => typeof n !== "number" || !Number.isFinite(n))) {
    throw new InputError(`arange takes (stop), (start, stop) or (start, stop, step) as finite numbers, got (${args.join(", ")})`);
  }
  const [start, stop, step] = nums.length === 1 ? [0, nums[0]!, 1] : [nums[0]!, nums[1]!, nums[2] ?? 1];
  if (step === 0) throw new InputError("arange step must not be zero");
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dt = dtype ?? (nums.every(Number.isInteger) ? "int64" : "float64");
  const out = allocData(dt, [n]);
  for (let i = 0; i < n; i++) storeScalar(out, i, start + i * step, dt);
  return new NDArray(dt, [n], out);
}

/**
 * Calls `row(base, length, step)` for each run of the last axis of a strided array, in C order
 * (a 0-d array is one run of one element; an empty one has none). Loops over typed arrays read
 * much faster this way than through the `offsets()` generator, one element at a time.
 */
export function walkRows(shape: readonly number[], strides: readonly number[], offset: number, row: (base: number, length: number, step: number) => void): void {
  const nd = shape.length;
  if (nd === 0) return row(offset, 1, 1);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const len = shape[nd - 1]!;
  const step = strides[nd - 1]!;
  const rows = n / len;
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  for (let r = 0; r < rows; r++) {
    row(base, len, step);
    for (let ax = nd - 2; ax >= 0; ax--) {
      idx[ax]!++;
      base += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      base -= idx[ax]! * strides[ax]!;
      idx[ax] = 0;
    }
  }
}
