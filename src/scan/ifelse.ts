/**
 * `theano.ifelse(cond, then, else)`: a lazy branch (Theano's `ifelse.py`, API.md §8).
 *
 * Every linker evaluates every node of a graph, so laziness cannot come from skipping nodes.
 * Instead the IfElse op holds each branch as an inner graph (like Scan): its outer inputs are
 * the condition and the free variables of the two branches, and its `perform` compiles (once per
 * mode, src/scan/inner.ts) and runs only the branch the condition picks. A branch that would
 * raise (an out-of-bounds index, a bad reshape) is never run when it is not taken.
 *
 * The gradient flows through the taken branch only: for an input of the then-branch it is
 * ifelse(cond, ∂then, zeros), for one of the else-branch ifelse(cond, zeros, ∂else), each itself
 * a lazy IfElse.
 */

import { TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable, cloneGraph, graphInputs } from "../graph/basic.js";
import { grad } from "../gradient/grad.js";
import type { NDArray } from "../ndarray/ndarray.js";
import { zerosLike } from "../tensor/alloc.js";
import * as math from "../tensor/math.js";
import { TensorType } from "../tensor/type.js";
import { type TensorVariable, asTensorVariable } from "../tensor/variable.js";
import { type HasInnerGraph, InnerGraph } from "./inner.js";
import { isFloatVar } from "./op.js";

let nextIfElseId = 1;

export class IfElse extends Op implements HasInnerGraph {
  readonly compilesInnerGraph = true as const;

  /** Both branches, as Theano builds both (only the taken one runs). */
  compileInnerGraphs(node: Apply): void {
    this.then.fn(node);
    this.else.fn(node);
  }
  readonly id = nextIfElseId++;
  readonly then: InnerGraph;
  readonly else: InnerGraph;

  /** Both branches, for debugprint's "Inner graphs" section. */
  override innerGraphs(): ReadonlyArray<{ readonly name: string; readonly outputs: readonly Variable[] }> {
    return [
      { name: "then", outputs: this.then.outputs },
      { name: "else", outputs: this.else.outputs },
    ];
  }

  constructor(thenInputs: readonly Variable[], thenOutputs: readonly Variable[], elseInputs: readonly Variable[], elseOutputs: readonly Variable[]) {
    super();
    this.then = new InnerGraph(thenInputs, thenOutputs, "ifelse_then");
    this.else = new InnerGraph(elseInputs, elseOutputs, "ifelse_else");
  }

  /** Each ifelse is its own operation: its branches are its identity. */
  override props(): Record<string, unknown> {
    return { id: this.id };
  }

  override toString(): string {
    return `IfElse{n_outs=${this.then.outputs.length}}`;
  }

  makeNode(cond: Variable, ...rest: Variable[]): Apply {
    const types = this.then.outputs.map((o, k) => {
      const a = o.type as TensorType;
      const b = this.else.outputs[k]!.type as TensorType;
      return new TensorType(a.dtype, a.shape.map((d, i) => (d === b.shape[i] ? d : null)));
    });
    return new Apply(this, [cond, ...rest], types);
  }

  perform(node: Apply, [cond, ...rest]: Value[]): Value[] {
    const nThen = this.then.inputs.length;
    const c = (cond as NDArray).toFlat()[0]!;
    const taken = typeof c === "bigint" ? c !== 0n : c !== 0; // NaN is true, as NumPy's truthiness
    const args = taken ? rest.slice(0, nThen) : rest.slice(nThen);
    return (taken ? this.then : this.else).fn(node)(...args);
  }

  override grad(inputs: Variable[], outputGrads: Variable[]): GradResult[] {
    const cond = inputs[0] as TensorVariable;
    const nThen = this.then.inputs.length;
    const branchGrads = (g: InnerGraph, outer: Variable[]): Array<TensorVariable | null> => {
      const replace = new Map<Variable, Variable>(g.inputs.map((v, k) => [v, outer[k]!]));
      const memo = cloneGraph([], g.outputs, { replace });
      const terms = g.outputs.flatMap((o, k) => (isFloatVar(o) ? [math.sum(math.mul(memo.get(o) as TensorVariable, outputGrads[k] as TensorVariable))] : []));
      const want = outer.filter(isFloatVar);
      if (terms.length === 0 || want.length === 0) return outer.map(() => null);
      const gs = grad(terms.reduce((a, b) => math.add(a, b)), want, { disconnectedInputs: "ignore" });
      return outer.map((v) => (isFloatVar(v) ? math.cast(gs[want.indexOf(v)]!, (v as TensorVariable).dtype) : null));
    };
    const thenOuter = inputs.slice(1, 1 + nThen);
    const elseOuter = inputs.slice(1 + nThen);
    const gThen = branchGrads(this.then, thenOuter);
    const gElse = branchGrads(this.else, elseOuter);
    const lazy = (gs: Array<TensorVariable | null>, outer: Variable[], takenWhenTrue: boolean): GradResult[] => {
      const idx = gs.flatMap((g, k) => (g ? [k] : []));
      if (idx.length === 0) return gs;
      const live = idx.map((k) => gs[k]!);
      const zeros = idx.map((k) => zerosLike(outer[k] as TensorVariable));
      const picked = ifelseList(cond, takenWhenTrue ? live : zeros, takenWhenTrue ? zeros : live);
      const out: GradResult[] = gs.map(() => null);
      idx.forEach((k, j) => (out[k] = picked[j]!));
      return out;
    };
    return [null, ...lazy(gThen, thenOuter, true), ...lazy(gElse, elseOuter, false)];
  }
}

function ifelseList(cond: TensorVariable, thenB: TensorVariable[], elseB: TensorVariable[]): TensorVariable[] {
  const build = (outs: TensorVariable[]): { inputs: Variable[]; inner: Variable[]; outputs: Variable[] } => {
    const free = graphInputs(outs);
    const inner = free.map((v) => v.type.makeVariable(v.name));
    const memo = cloneGraph([], outs, { replace: new Map(free.map((v, k) => [v, inner[k]!])) });
    return { inputs: free, inner, outputs: outs.map((o) => memo.get(o) ?? o) };
  };
  const t = build(thenB);
  const e = build(elseB);
  const op = new IfElse(t.inner, t.outputs, e.inner, e.outputs);
  return op.makeNode(cond, ...t.inputs, ...e.inputs).outputs as TensorVariable[];
}

/**
 * `theano.ifelse(cond, then, else)`: `then` when the scalar `cond` is true (non-zero, NaN
 * included), else `else`; only the taken branch is computed. Branches are a variable each, or
 * arrays of the same length whose entries agree in dtype and rank; the result has the same form.
 */
export function ifelse(cond: unknown, thenBranch: unknown, elseBranch: unknown): TensorVariable | TensorVariable[] {
  const c = asTensorVariable(cond);
  if (c.ndim !== 0) throw new TypeMismatchError(`ifelse: the condition must be a scalar, got ${c.label} of type ${c.type}; reduce it first (e.g. with .any() or .all())`);
  const single = !Array.isArray(thenBranch);
  if (single !== !Array.isArray(elseBranch)) throw new TypeMismatchError("ifelse: give both branches as one variable each, or both as arrays");
  const thenB = (single ? [thenBranch] : (thenBranch as unknown[])).map((v) => asTensorVariable(v));
  const elseB = (single ? [elseBranch] : (elseBranch as unknown[])).map((v) => asTensorVariable(v));
  if (thenB.length !== elseB.length) throw new TypeMismatchError(`ifelse: the then branch has ${thenB.length} outputs and the else branch ${elseB.length}; they must have the same number`);
  if (thenB.length === 0) throw new TypeMismatchError("ifelse: the branches are empty");
  thenB.forEach((a, k) => {
    const b = elseB[k]!;
    if (a.dtype !== b.dtype || a.ndim !== b.ndim) {
      throw new TypeMismatchError(`ifelse: output ${k} has type ${a.type} in the then branch but ${b.type} in the else branch; both branches must give the same dtype and rank (cast one with T.cast(x, "${a.dtype}"))`);
    }
  });
  const outs = ifelseList(c, thenB, elseB);
  return single ? outs[0]! : outs;
}
