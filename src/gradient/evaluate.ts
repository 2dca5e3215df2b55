/**
 * A reference evaluator for the gradient stage: runs a graph node by node through each op's
 * `perform` (Theano's PerformLinker, without compiling). verifyGrad uses it for finite
 * differences; it needs no linker, so any op with `perform` works.
 */

import { GradientError } from "../errors.js";
import { type Value, type Variable, toposort } from "../graph/basic.js";

/**
 * Values of `outputs` through each op's `perform`. Ownerless variables take their value from
 * `givens`, a constant's data, or (shared variables) their current value.
 */
export function evaluateGraph(outputs: readonly Variable[], givens: ReadonlyMap<Variable, Value>): Value[] {
  const env = new Map<Variable, Value>(givens);
  const valueOf = (v: Variable): Value => {
    if (env.has(v)) return env.get(v);
    if (v.isConstant) return v.constantData;
    // Shared variables (src/compile) carry a value; this module may not import compile.
    const shared = v as unknown as { getValue?: (o: { borrow: boolean }) => Value };
    if (!v.owner && typeof shared.getValue === "function") return shared.getValue({ borrow: true });
    throw new GradientError(`cannot evaluate the graph: ${v.label} (${v.type}) has no value; pass it as an argument (of the function under test, for verifyGrad)`);
  };
  for (const node of toposort(outputs, new Set(givens.keys()))) {
    const outs = node.op.perform(node, node.inputs.map(valueOf));
    node.outputs.forEach((o, i) => env.set(o, outs[i]));
  }
  return outputs.map(valueOf);
}
