/**
 * Elementwise fusion (Theano's `local_elemwise_fusion`, tag `fusion`): an Elemwise whose
 * result feeds exactly one other Elemwise of the same broadcast pattern is folded into it as a
 * Composite, repeatedly, so a chain like tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) becomes one loop
 * that reads x once and writes once.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { Composite, type Ref, type Step } from "../scalar/composite.js";
import { Elemwise } from "../tensor/elemwise.js";
import type { TensorType } from "../tensor/type.js";

/** An Elemwise node as a composite program over its own inputs. */
function asProgram(node: Apply<Elemwise>): Step[] {
  const op = node.op.scalarOp;
  if (op instanceof Composite) return [...op.steps];
  const dtype = (node.outputs[0]!.type as TensorType).dtype;
  return [{ op, args: node.inputs.map((_v, k) => ({ input: k })), dtype }];
}

const sameBroadcast = (a: Variable, b: Variable): boolean => {
  const ta = a.type as TensorType;
  const tb = b.type as TensorType;
  return ta.ndim === tb.ndim && ta.shape.every((d, i) => (d === 1) === (tb.shape[i] === 1));
};

/** Folds producer `p` (feeding input `i` of `n`) into `n`; returns the fused output. */
function fuse(n: Apply<Elemwise>, i: number, p: Apply<Elemwise>): Variable {
  const inputs: Variable[] = [];
  const indexOf = (v: Variable): number => {
    let k = inputs.indexOf(v);
    if (k < 0) k = inputs.push(v) - 1;
    return k;
  };
  const pSteps = asProgram(p);
  const nSteps = asProgram(n);
  const steps: Step[] = [];
  for (const s of pSteps) steps.push({ ...s, args: s.args.map((r): Ref => ("input" in r ? { input: indexOf(p.inputs[r.input]!) } : r)) });
  const pResult: Ref = { step: pSteps.length - 1 };
  for (const s of nSteps) {
    steps.push({
      ...s,
      args: s.args.map((r): Ref => {
        if ("step" in r) return { step: r.step + pSteps.length };
        return r.input === i ? pResult : { input: indexOf(n.inputs[r.input]!) };
      }),
    });
  }
  const composite = new Composite(inputs.map((v) => (v.type as TensorType).dtype), steps);
  return new Elemwise(composite).makeNode(...inputs).outputs[0]!;
}

/** Runs fusion to a fixed point; returns the number of fusions done. */
export function fuseElemwise(fg: FunctionGraph): number {
  let count = 0;
  const outputs = (): Set<Variable> => new Set(fg.outputs);
  for (let changed = true; changed; ) {
    changed = false;
    const outs = outputs();
    for (const node of fg.toposort()) {
      if (!(node.op instanceof Elemwise) || !fg.nodes.has(node)) continue;
      for (let i = 0; i < node.inputs.length; i++) {
        const v = node.inputs[i]!;
        const p = v.owner;
        if (!p || !(p.op instanceof Elemwise) || p.outputs.length !== 1) continue;
        if (outs.has(v) || fg.clientsOf(v).length !== 1) continue;
        if (!sameBroadcast(v, node.outputs[0]!)) continue;
        const fused = fuse(node as Apply<Elemwise>, i, p as Apply<Elemwise>);
        if (!fused.type.equals(node.outputs[0]!.type)) continue;
        fg.replace(node.outputs[0]!, fused, "fusion");
        count++;
        changed = true;
        break;
      }
    }
  }
  return count;
}
