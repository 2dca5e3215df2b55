/**
 * Merge (Theano's `MergeOptimizer`, tag `merge`): common-subexpression elimination. Equal
 * constants (same type and values, -0 and NaN told apart as NumPy's `array_equal` with
 * `equal_nan` would) become one constant; two nodes applying equal ops to the same inputs become
 * one node. One pass in topological order finds everything (see mergePairs). Nodes that overwrite an input
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
  if (d.size === 1) {
    const x = d.data[d.offset]!;
    return `${d.dtype}|${d.shape.join(",")}|${Object.is(x, -0) ? "-0" : String(x)}`;
  }
  const flat = d.toFlat() as ArrayLike<number | bigint>;
  const parts: string[] = new Array(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const x = flat[i]!;
    parts[i] = Object.is(x, -0) ? "-0" : String(x);
  }
  return `${d.dtype}|${d.shape.join(",")}|${parts.join(",")}`;
}

/**
 * The replacements merge makes, computed without touching the graph: each pair maps a duplicate
 * to its survivor. Keys use the survivors of inputs, so one pass in topological order finds
 * chains of duplicates.
 */
export function mergePairs(fg: FunctionGraph): Array<readonly [Variable, Variable]> {
  const pairs: Array<readonly [Variable, Variable]> = [];
  const canon = new Map<Variable, Variable>();
  const constants = new Map<string, Variable>();
  for (const v of fg.variables) {
    if (!v.isConstant || (fg.clients.get(v)?.length ?? 0) === 0) continue;
    const k = constantKey(v);
    if (k === null) continue;
    const first = constants.get(k);
    if (!first) constants.set(k, v);
    else if (first !== v) {
      canon.set(v, first);
      pairs.push([v, first]);
    }
  }
  const seen = new Map<string, Apply>();
  for (const node of fg.toposort()) {
    if (node.op.destroyMap.size > 0) continue;
    let k = opKey(node.op);
    for (const v of node.inputs) k += `|${(canon.get(v) ?? v).id}`;
    const other = seen.get(k);
    if (other && other.op.equals(node.op)) {
      node.outputs.forEach((o, i) => {
        canon.set(o, other.outputs[i]!);
        pairs.push([o, other.outputs[i]!]);
      });
    } else seen.set(k, node);
  }
  return pairs;
}

/** Merges `fg`, handing the pairs to `replace` (all at once). */
export function mergeGraph(fg: FunctionGraph, replace: (pairs: Array<readonly [Variable, Variable]>) => void): void {
  const pairs = mergePairs(fg);
  if (pairs.length > 0) replace(pairs);
}

/** A merge stage (Theano registers several: merge1 at 0, merge1.2, merge2 at 49, merge3 at 100). */
export const mergeRewriter = (name: string): GraphRewriter =>
  graphRewriter({
    name,
    tags: ["merge", "fast_run", "fast_compile"],
    apply(fg, ctx) {
      const pairs = mergePairs(fg);
      // All at once (one validation); if the destroy handler refuses the batch, one by one.
      if (pairs.length > 0 && ctx.replace(fg, pairs, "merge") === null) for (const p of pairs) ctx.replace(fg, [p], "merge");
    },
  });
