/**
 * `x.eval(inputs?)` (Theano's `Variable.eval`): compile once per (variable, input set), cache
 * the function on the variable, and run it.
 */

import type { Variable } from "../graph/basic.js";
import { NDArray } from "../ndarray/ndarray.js";
import { hooks } from "../tensor/hooks.js";
import type { TensorVariable } from "../tensor/variable.js";
import { type TheanoFunction, function_ } from "./function.js";

const cache = new WeakMap<Variable, Map<string, TheanoFunction<NDArray>>>();

hooks.eval = (x: TensorVariable, inputs?: Map<Variable, unknown> | Array<[Variable, unknown]>): NDArray => {
  const pairs = inputs === undefined ? [] : inputs instanceof Map ? [...inputs] : inputs;
  const vars = pairs.map(([v]) => v);
  const key = vars.map((v) => v.id).join(",");
  let byKey = cache.get(x);
  if (!byKey) cache.set(x, (byKey = new Map()));
  let f = byKey.get(key);
  if (!f) {
    f = function_(vars, x, { onUnusedInput: "ignore" });
    byKey.set(key, f);
  }
  return f(...pairs.map(([, v]) => v));
};
