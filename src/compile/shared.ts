/**
 * Shared variables (Theano's `compile/sharedvalue.py`): a symbolic tensor with a value that
 * lives between calls and is shared by every function that uses it. Functions read it as an
 * implicit input and write it through `updates`. `getValue`/`setValue` copy unless `borrow`.
 *
 * A container is double-buffered for functions that compute an update in place (API.md §6: a
 * call that throws changes no shared variable): such a call runs over a spare buffer holding a
 * copy of the value (`lend`), never over the value's own storage, and commits by swapping; the
 * replaced storage becomes the next spare unless a user may still hold it (`borrow`).
 */

import { InputError, TheanoError } from "../errors.js";
import { type Variable, checkFloat64Variable } from "../graph/basic.js";
import { requireUsableDevice } from "../link/device/index.js";
import { type DType, type TypedArray, checkDType, typedArrayCtor } from "../ndarray/dtype.js";
import { type ArrayLike, NDArray, array, walkRows } from "../ndarray/ndarray.js";
import { type StaticShape, TensorType } from "../tensor/type.js";
import { TensorVariable } from "../tensor/variable.js";
import { checkOptions } from "./options.js";

/**
 * Memory a user may hold: values handed out or taken in with `borrow` (and borrowed outputs).
 * It is never recycled as a spare buffer, so theano-ts never writes into it.
 */
const exposed = new WeakSet<ArrayBufferLike>();

/** Marks `a`'s memory as possibly held by the user (see `exposed`). */
export function expose(a: NDArray): void {
  exposed.add(a.data.buffer);
}

/** Whether `a` owns its whole buffer in C order and no user may hold it: fit to be a spare. */
function recyclable(a: NDArray): boolean {
  const d = a.data;
  return !exposed.has(d.buffer) && a.offset === 0 && d.length === a.size && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && a.isContiguous;
}

/** Where a shared value is kept; functions hold the container, not the value. */
export class Container {
  /** The double buffer: storage of the value's dtype and size that nothing else holds (or null). */
  private spare: NDArray | null = null;

  constructor(
    public value: NDArray | null,
    readonly name: string,
  ) {}

  get(): NDArray {
    if (this.value === null) throw new TheanoError(`shared variable ${this.name} was disposed; create a new one with theano.shared(...)`);
    // A borrowed value whose buffer was detached or shrank reads as NaNs: an InputError (issue 13.4).
    this.value.checkLive(`shared variable ${this.name}`);
    return this.value;
  }

  /**
   * A copy of the value in storage no one else holds (the spare, or a new buffer the first
   * time), C-contiguous from offset 0 so that in-place kernels can write into it. The caller
   * owns it until it hands it back with `settle`.
   */
  lend(): NDArray {
    const v = this.get();
    let s = this.spare;
    this.spare = null;
    if (s === null || s.dtype !== v.dtype || s.data.length !== v.size) s = new NDArray(v.dtype, v.shape, new (typedArrayCtor(v.dtype))(v.size));
    else if (s.shape.length !== v.shape.length || s.shape.some((d, i) => d !== v.shape[i])) s = new NDArray(v.dtype, v.shape, s.data);
    copyInto(s.data, v);
    return s;
  }

  /**
   * Ends a `lend`. `consumed`: the lent buffer now holds a committed value or a returned output.
   * `replaced`: the storage the commit took the value out of (null when the call failed): it
   * becomes the spare when nothing holds it, else the lent buffer stays the spare if it is free.
   */
  settle(lent: NDArray, consumed: boolean, replaced: NDArray | null, held: ReadonlySet<ArrayBufferLike>): void {
    if (this.value === null) return; // disposed meanwhile: keep nothing
    if (!consumed) this.spare = lent;
    else if (replaced !== null && replaced !== this.value && !held.has(replaced.data.buffer) && recyclable(replaced)) this.spare = replaced;
    else this.spare = null;
  }

  /** Releases the value and the spare. */
  clear(): void {
    this.value = null;
    this.spare = null;
  }
}

/** Copies `src`'s elements in C order into `dst` (a buffer of exactly `src.size` elements). */
function copyInto(dst: TypedArray, src: NDArray): void {
  const d = dst as Float64Array;
  const sd = src.data as Float64Array;
  if (src.isContiguous) {
    d.set(src.offset === 0 && sd.length === dst.length ? sd : sd.subarray(src.offset, src.offset + dst.length));
    return;
  }
  let i = 0;
  walkRows(src.shape, src.strides, src.offset, (base, len, step) => {
    for (let k = 0; k < len; k++) d[i++] = sd[base + k * step]!;
  });
}

// `Symbol.dispose` (for `using`) is declared by TypeScript's esnext.disposable lib and by
// @types/node, but a consumer compiling with lib es2022/es2023 and no Node types has neither,
// and the `[Symbol.dispose]()` in this class's emitted .d.ts then fails to type-check (TS2550).
// Declaring it here, as TypeScript's own lib and @types/node do, merges cleanly with both
// (identical `unique symbol` declarations) and makes the published types stand on their own.
// test/consumer/ type-checks the built declarations under those settings (.ci/smoke.sh).
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

export class SharedVariable extends TensorVariable {
  readonly container: Container;
  readonly strict: boolean;
  readonly allowDowncast: boolean | undefined;
  /**
   * Theano's `default_update`: the expression `theano.function` updates this variable with when
   * the caller gives no update of its own (a random generator's next state). Null: none.
   */
  defaultUpdate: Variable | null = null;

  constructor(type: TensorType, value: NDArray, opts: { name?: string | null; strict?: boolean; allowDowncast?: boolean }) {
    super(type, null, 0, opts.name ?? null);
    this.container = new Container(value, opts.name ?? `shared#${this.id}`);
    this.strict = opts.strict ?? false;
    this.allowDowncast = opts.allowDowncast;
  }

  /** The value: a copy unless `borrow` (then mutating it changes the shared storage). */
  getValue(opts: { borrow?: boolean } = {}): NDArray {
    const v = this.container.get();
    if (!opts.borrow) return v.copy();
    expose(v);
    return v;
  }

  /** Sets the value (copied unless `borrow`); it must fit the variable's type. */
  setValue(value: ArrayLike, opts: { borrow?: boolean } = {}): void {
    if (this.container.value === null) this.container.get();
    const what = `setValue of shared variable ${this.label}`;
    if (this.strict && !(value instanceof NDArray && value.dtype === this.type.dtype)) {
      throw new InputError(`${what}: strict shared variables need an NDArray of dtype ${this.type.dtype}`);
    }
    let v: NDArray;
    try {
      v = this.type.filter(value, { allowDowncast: this.allowDowncast, what });
    } catch (e) {
      // The filter's advice names theano.function's option; a shared variable has its own.
      if (e instanceof InputError) throw new InputError(e.message.replace("compile with allowInputDowncast: true", "create the shared variable with allowDowncast: true"));
      throw e;
    }
    if (opts.borrow && v === value) expose(v);
    this.container.value = opts.borrow && v === value ? v : v === value ? v.copy() : v;
  }

  /** Releases the storage now; any later use raises a clear error. */
  dispose(): void {
    this.container.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  override cloneVariable(): SharedVariable {
    return this;
  }
}

/**
 * `theano.shared(value, opts)`. The static shape is unknown in every dimension unless `shape`
 * says otherwise (Theano's default: shared variables are not broadcastable).
 */
export function shared(
  value: ArrayLike,
  opts: { name?: string; borrow?: boolean; strict?: boolean; allowDowncast?: boolean; shape?: StaticShape; dtype?: DType } = {},
): SharedVariable {
  checkOptions("theano.shared", opts, SHARED_OPTIONS);
  requireUsableDevice();
  let v = value instanceof NDArray ? value : array(value, opts.dtype);
  if (opts.dtype !== undefined && v.dtype !== checkDType(opts.dtype)) v = v.astype(opts.dtype);
  else if (!opts.borrow && v === value) v = v.copy();
  const shape = opts.shape ?? v.shape.map(() => null);
  const type = new TensorType(v.dtype, shape);
  const checked = type.filter(v, { what: `theano.shared(${opts.name ?? ""})` });
  if (checked === value) expose(checked);
  const sv = new SharedVariable(type, checked, opts);
  checkFloat64Variable(sv, "the shared variable");
  return sv;
}

/** The keys `shared`'s options accept; any other is an InputError (`dtype` picks the dtype a JS number cannot carry). */
const SHARED_OPTIONS = ["name", "borrow", "strict", "allowDowncast", "shape", "dtype"] as const satisfies ReadonlyArray<keyof NonNullable<Parameters<typeof shared>[1]>>;

export const isShared = (v: unknown): v is SharedVariable => v instanceof SharedVariable;
