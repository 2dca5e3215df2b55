/**
 * Late-bound links between tensor modules that import each other (a leaf: it imports nothing
 * at run time). A family registers its entry here when it loads; TensorVariable methods and
 * other families call through it, so module initialisation order never matters.
 */

import type { Variable } from "../graph/basic.js";
import type { NDArray } from "../ndarray/ndarray.js";
import type { TensorLike, TensorVariable } from "./variable.js";

type Fn<A extends unknown[]> = (...args: A) => TensorVariable;

export const hooks: {
  /** A shared int64 constant 1 (shape inference). */
  one?: () => Variable;
  /** One dimension of x's shape as an int64 scalar. */
  dim?: Fn<[TensorVariable, number]>;
  /** x.get(...) — the subtensor family. */
  get?: Fn<[TensorVariable, unknown[]]>;
  dot?: Fn<[TensorVariable, TensorLike]>;
  sort?: Fn<[TensorVariable, number | null]>;
  argsort?: Fn<[TensorVariable, number | null]>;
  cumsum?: Fn<[TensorVariable, (number | null)?]>;
  cumprod?: Fn<[TensorVariable, (number | null)?]>;
  /** x.eval() — src/compile. */
  eval?: (x: TensorVariable, inputs?: Map<Variable, unknown> | Array<[Variable, unknown]>) => NDArray;
} = {};

/** Calls a hook, with a clear error if its family was not loaded. */
export function hook<K extends keyof typeof hooks>(name: K): NonNullable<(typeof hooks)[K]> {
  const h = hooks[name];
  if (!h) throw new Error(`theano-ts internal: '${name}' is not registered; import theano-ts (the package entry) rather than an inner module`);
  return h as NonNullable<(typeof hooks)[K]>;
}
