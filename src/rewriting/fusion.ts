/**
 * Elementwise fusion (Theano's `local_elemwise_fusion`, tag `fusion`): maximal groups of
 * Elemwise nodes, where every value passed inside the group has exactly one reader and the
 * same broadcast pattern as the group's result, become one Composite node, so a chain like
 * tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) is one loop that reads x once and writes once.
 *
 * One pass in reverse topological order (linear in the graph's size); a group stops growing at
 * MAX_STEPS so generated loops stay a size engines compile well. Registered in optdb at 49
 * (as Theano's `elemwise_fusion`), after the algebraic stages and before in-place.
 */

import { type Apply, CreationTrace, type Variable, withTrace } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { type GraphRewriter, graphRewriter } from "./engine.js";
import { Composite, type Ref, type Step } from "../scalar/composite.js";
import { Elemwise } from "../tensor/elemwise.js";
import type { TensorType } from "../tensor/type.js";

const MAX_STEPS = 128;

const sameBroadcast = (a: Variable, b: Variable): boolean => {
  const ta = a.type as TensorType;
  const tb = b.type as TensorType;
  return ta.ndim === tb.ndim && ta.shape.every((d, i) => (d === 1) === (tb.shape[i] === 1));
};

const stepCount = (node: Apply): number => {
  const op = (node.op as Elemwise).scalarOp;
  return op instanceof Composite ? op.steps.length : 1;
};

/** Builds the Composite node for `group` (nodes in topological order, the root last). */
function buildComposite(group: readonly Apply[]): Variable {
  const inGroup = new Set(group);
  const inputs: Variable[] = [];
  const inputIndex = new Map<Variable, number>();
  const resultStep = new Map<Variable, number>(); // a group node's output -> its last step
  const steps: Step[] = [];
  const refOf = (v: Variable): Ref => {
    const s = resultStep.get(v);
    if (s !== undefined && v.owner && inGroup.has(v.owner)) return { step: s };
    let k = inputIndex.get(v);
    if (k === undefined) {
      k = inputs.push(v) - 1;
      inputIndex.set(v, k);
    }
    return { input: k };
  };
  for (const node of group) {
    const op = (node.op as Elemwise).scalarOp;
    const outerRefs = node.inputs.map(refOf);
    const base = steps.length;
    if (op instanceof Composite) {
      for (const s of op.steps) {
        steps.push({ ...s, args: s.args.map((r): Ref => ("input" in r ? outerRefs[r.input]! : { step: r.step + base })) });
      }
    } else {
      steps.push({ op, args: outerRefs, dtype: (node.outputs[0]!.type as TensorType).dtype });
    }
    resultStep.set(node.outputs[0]!, steps.length - 1);
  }
  const composite = new Composite(inputs.map((v) => (v.type as TensorType).dtype), steps);
  return new Elemwise(composite).makeNode(...inputs).outputs[0]!;
}

/**
 * Fuses every eligible group, handing each replacement to `replace` (which may refuse it);
 * returns the number of nodes folded away.
 */
export function fuseElemwise(fg: FunctionGraph, replace: (old: Variable, fused: Variable) => boolean = (o, n) => (fg.replace(o, n, "fusion"), true)): number {
  const order = fg.toposort();
  const position = new Map(order.map((n, i) => [n, i]));
  const outputs = new Set(fg.outputs);
  const assigned = new Set<Apply>();
  const groups: Apply[][] = [];
  for (let i = order.length - 1; i >= 0; i--) {
    const root = order[i]!;
    if (!(root.op instanceof Elemwise) || assigned.has(root) || root.outputs.length !== 1 || root.op.destroyMap.size > 0) continue;
    const group = [root];
    assigned.add(root);
    let steps = stepCount(root);
    const stack = [root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      for (const v of node.inputs) {
        const p = v.owner;
        if (!p || assigned.has(p) || !(p.op instanceof Elemwise) || p.outputs.length !== 1 || p.op.destroyMap.size > 0) continue;
        if (outputs.has(v) || fg.clientsOf(v).length !== 1) continue;
        if (!sameBroadcast(v, root.outputs[0]!)) continue;
        if (steps + stepCount(p) > MAX_STEPS) continue;
        steps += stepCount(p);
        assigned.add(p);
        group.push(p);
        stack.push(p);
      }
    }
    if (group.length > 1) groups.push(group.sort((a, b) => position.get(a)! - position.get(b)!));
  }
  let folded = 0;
  for (const group of groups) {
    const root = group[group.length - 1]!;
    const fused = withTrace(CreationTrace.fusing(root.trace, group), () => buildComposite(group));
    if (!fused.type.equals(root.outputs[0]!.type)) continue;
    if (replace(root.outputs[0]!, fused)) folded += group.length - 1;
  }
  return folded;
}

export const elemwiseFusion: GraphRewriter = graphRewriter({
  name: "elemwise_fusion",
  tags: ["fusion", "local_elemwise_fusion", "fast_run"],
  apply(fg, ctx) {
    fuseElemwise(fg, (o, n) => ctx.replace(fg, [[o, n]], "elemwise_fusion") !== null);
  },
});
