/**
 * Merge (Theano's `MergeOptimizer`, tag `merge`): common-subexpression elimination. Equal
 * constants (same type and values, -0 and NaN told apart as NumPy's `array_equal` with
 * `equal_nan` would) become one constant; two nodes applying equal ops to the same inputs become
 * one node. One pass in topological order suffices: when a node merges, its readers' inputs are
 * the surviving node's outputs by the time they are looked at. Nodes that overwrite an input
 * are never merged (each owns its destruction).
 */

import type { Apply, Op, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { NDArray } from "../ndarray/ndarray.js";
import { type GraphRewriter, graphRewriter } from "./engine.js";

const MERGE_CONSTANT_LIMIT = 4096; // elements; larger constants are rarely equal and costly to compare

const opKeys = new WeakMap<Op, string>();
const opKey = (op: Op): string => {
  let k = opKeys.get(op);
  if (k === undefined) {
    k = op.key;
    opKeys.set(op, k);
  }
  return k;
};

function constantKey(c: Variable): string | null {
  const d = c.constantData;
  if (!(d instanceof NDArray) || d.size > MERGE_CONSTANT_LIMIT) return null;
  const flat = d.toFlat() as ArrayLike<number | bigint>;
  const parts: string[] = new Array(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const x = flat[i]!;
    parts[i] = Object.is(x, -0) ? "-0" : String(x);
  }
  return `${c.type.toString()}|${d.shape.join(",")}|${parts.join(",")}`;
}

export function mergeGraph(fg: FunctionGraph, replace: (pairs: Array<readonly [Variable, Variable]>) => void): void {
  const constants = new Map<string, Variable>();
  for (const v of [...fg.variables]) {
    if (!v.isConstant || !fg.variables.has(v)) continue;
    const k = constantKey(v);
    if (k === null) continue;
    const first = constants.get(k);
    if (!first) constants.set(k, v);
    else if (first !== v) replace([[v, first]]);
  }
  const seen = new Map<string, Apply>();
  for (const node of fg.toposort()) {
    if (!fg.nodes.has(node) || node.op.destroyMap.size > 0) continue;
    let k = opKey(node.op);
    for (const v of node.inputs) k += `|${v.id}`;
    const other = seen.get(k);
    if (other && fg.nodes.has(other) && other.op.equals(node.op) && other.inputs.every((v, i) => v === node.inputs[i])) {
      replace(node.outputs.map((o, i) => [o, other.outputs[i]!] as const));
    } else seen.set(k, node);
  }
}

/** A merge stage (Theano registers several: merge1 at 0, merge1.2, merge2 at 49, merge3 at 100). */
export const mergeRewriter = (name: string): GraphRewriter =>
  graphRewriter({
    name,
    tags: ["merge", "fast_run", "fast_compile"],
    apply(fg, ctx) {
      mergeGraph(fg, (pairs) => ctx.replace(fg, pairs, "merge"));
    },
  });
