/**
 * `ifelse_lift_common` (issue 14.5; the idea of Theano's ifelse rewrites): computation that both
 * branches of an IfElse (src/scan/ifelse.ts) perform on the same outer values runs once before
 * the branch, and both branches read its result as a new input. Whichever branch is taken would
 * have computed it, so laziness is kept: only what one branch alone needs stays inside it.
 *
 * Registered in optdb at 0.5 with tags ifelse, fast_run (the gradient of an ifelse is itself an
 * IfElse, so gradients benefit too).
 */

import type { Apply, Variable } from "../graph/basic.js";
import { cloneGraph, toposort } from "../graph/basic.js";
import { NDArray } from "../ndarray/ndarray.js";
import { IfElse } from "../scan/ifelse.js";
import { nodeRewriter, optdb } from "./engine.js";

const CONSTANT_KEY_LIMIT = 4096; // elements; larger constants are keyed by identity

/**
 * A key per variable of a branch: equal keys in the two branches mean the same value (the same
 * op applied to equal keys, rooted at the same outer variables or equal constants).
 */
function branchKeys(inputs: readonly Variable[], outer: readonly Variable[], outputs: readonly Variable[], ids: Map<unknown, number>): { key: Map<Variable, string>; nodes: Apply[] } {
  const id = (x: unknown): number => ids.get(x) ?? (ids.set(x, ids.size), ids.size - 1);
  const key = new Map<Variable, string>();
  inputs.forEach((v, k) => key.set(v, `i${id(outer[k])}`));
  const keyOf = (v: Variable): string => {
    let k = key.get(v);
    if (k !== undefined) return k;
    const d = v.constantData;
    k = d instanceof NDArray && d.size <= CONSTANT_KEY_LIMIT ? `c${id(`${v.type}|${d.shape.join(",")}|${Array.from(d.toFlat() as ArrayLike<number>, (x) => (Object.is(x, -0) ? "-0" : String(x))).join(",")}`)}` : `v${id(v)}`;
    key.set(v, k);
    return k;
  };
  const nodes = toposort(outputs, new Set(inputs));
  for (const n of nodes) {
    const sig = `n${id(`${n.op.key}(${n.inputs.map(keyOf).join(",")})`)}`;
    n.outputs.forEach((o, k) => key.set(o, `${sig}.${k}`));
  }
  return { key, nodes };
}

export const ifelseLiftCommon = nodeRewriter({
  name: "ifelse_lift_common",
  tags: ["ifelse"],
  tracks: [IfElse],
  transform(node) {
    const op = node.op as IfElse;
    const nThen = op.then.inputs.length;
    const thenOuter = node.inputs.slice(1, 1 + nThen);
    const elseOuter = node.inputs.slice(1 + nThen);
    const ids = new Map<unknown, number>();
    const t = branchKeys(op.then.inputs, thenOuter, op.then.outputs, ids);
    const e = branchKeys(op.else.inputs, elseOuter, op.else.outputs, ids);
    // Node outputs computed in both branches (not bare inputs or constants).
    const elseByKey = new Map<string, Variable>();
    for (const n of e.nodes) for (const o of n.outputs) elseByKey.set(e.key.get(o)!, o);
    const common = new Set<string>();
    for (const n of t.nodes) for (const o of n.outputs) if (elseByKey.has(t.key.get(o)!) && n.inputs.some((i) => !i.isConstant)) common.add(t.key.get(o)!);
    if (common.size === 0) return null;
    // The common values some branch reads from outside the common part (or returns).
    const frontier = new Set<string>();
    const scan = (b: { key: Map<Variable, string>; nodes: Apply[] }, outs: readonly Variable[]): void => {
      for (const n of b.nodes) {
        if (n.outputs.every((o) => common.has(b.key.get(o)!))) continue;
        for (const i of n.inputs) if (common.has(b.key.get(i) ?? "")) frontier.add(b.key.get(i)!);
      }
      for (const o of outs) if (common.has(b.key.get(o)!)) frontier.add(b.key.get(o)!);
    };
    scan(t, op.then.outputs);
    scan(e, op.else.outputs);
    if (frontier.size === 0) return null;
    const thenByKey = new Map<string, Variable>();
    for (const n of t.nodes) for (const o of n.outputs) thenByKey.set(t.key.get(o)!, o);
    const lifted = [...frontier].map((k) => thenByKey.get(k)!);
    const outer = cloneGraph([], lifted, { replace: new Map(op.then.inputs.map((v, k) => [v, thenOuter[k]!] as const)) });
    const rebuild = (inputs: readonly Variable[], outputs: readonly Variable[], byKey: Map<string, Variable>): { inputs: Variable[]; outputs: Variable[] } => {
      const fresh = [...frontier].map((k) => byKey.get(k)!.type.makeVariable(byKey.get(k)!.name));
      const memo = cloneGraph([], outputs, { replace: new Map([...frontier].map((k, j) => [byKey.get(k)!, fresh[j]!] as const)), shareUnchanged: true });
      return { inputs: [...inputs, ...fresh], outputs: outputs.map((o) => memo.get(o) ?? o) };
    };
    const nt = rebuild(op.then.inputs, op.then.outputs, thenByKey);
    const ne = rebuild(op.else.inputs, op.else.outputs, elseByKey);
    const extra = lifted.map((v) => outer.get(v)!);
    const replacement = new IfElse(nt.inputs, nt.outputs, ne.inputs, ne.outputs);
    return replacement.makeNode(node.inputs[0]!, ...thenOuter, ...extra, ...elseOuter, ...extra).outputs;
  },
});

optdb.register(ifelseLiftCommon, { position: 0.5, tags: ["fast_run"] });
