/**
 * Shared variables (Theano's `compile/sharedvalue.py`): a symbolic tensor with a value that
 * lives between calls and is shared by every function that uses it. Functions read it as an
 * implicit input and write it through `updates`. `getValue`/`setValue` copy unless `borrow`.
 */

import { InputError, TheanoError } from "../errors.js";
import { requireUsableDevice } from "../link/device/index.js";
import { type DType, checkDType } from "../ndarray/dtype.js";
import { type ArrayLike, NDArray, array } from "../ndarray/ndarray.js";
import { type StaticShape, TensorType } from "../tensor/type.js";
import { TensorVariable } from "../tensor/variable.js";

/** Where a shared value is kept; functions hold the container, not the value. */
export class Container {
  constructor(
    public value: NDArray | null,
    readonly name: string,
  ) {}

  get(): NDArray {
    if (this.value === null) throw new TheanoError(`shared variable ${this.name} was disposed; create a new one with theano.shared(...)`);
    return this.value;
  }
}

export class SharedVariable extends TensorVariable {
  readonly container: Container;
  readonly strict: boolean;
  readonly allowDowncast: boolean | undefined;

  constructor(type: TensorType, value: NDArray, opts: { name?: string | null; strict?: boolean; allowDowncast?: boolean }) {
    super(type, null, 0, opts.name ?? null);
    this.container = new Container(value, opts.name ?? `shared#${this.id}`);
    this.strict = opts.strict ?? false;
    this.allowDowncast = opts.allowDowncast;
  }

  /** The value: a copy unless `borrow` (then mutating it changes the shared storage). */
  getValue(opts: { borrow?: boolean } = {}): NDArray {
    const v = this.container.get();
    return opts.borrow ? v : v.copy();
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
    this.container.value = opts.borrow && v === value ? v : v === value ? v.copy() : v;
  }

  /** Releases the storage now; any later use raises a clear error. */
  dispose(): void {
    this.container.value = null;
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
  requireUsableDevice();
  let v = value instanceof NDArray ? value : array(value, opts.dtype);
  if (opts.dtype !== undefined && v.dtype !== checkDType(opts.dtype)) v = v.astype(opts.dtype);
  else if (!opts.borrow && v === value) v = v.copy();
  const shape = opts.shape ?? v.shape.map(() => null);
  const type = new TensorType(v.dtype, shape);
  const checked = type.filter(v, { what: `theano.shared(${opts.name ?? ""})` });
  return new SharedVariable(type, checked, opts);
}

export const isShared = (v: unknown): v is SharedVariable => v instanceof SharedVariable;
