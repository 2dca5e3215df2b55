/**
 * In-place rewrites (Theano's `inplace_elemwise_optimizer`, `local_inplace_setsubtensor`,
 * `InplaceBlasOpt`): at the end of the pipeline, nodes are switched to versions that write
 * their result over one of their inputs, wherever the destroy handler says that input's memory
 * is dead afterwards (not a user input, shared value or constant; no later reader; not an
 * output). The linkers then skip the allocation (and the copy, for IncSubtensor).
 *
 * One mechanism serves every op: an `InplaceSpec` lists, for a node, candidate in-place ops and
 * the input each overwrites; the stage walks the graph once in the destroy handler's order,
 * checking each candidate incrementally (linear time). The catalogue adds GEMM with
 *
 *     registerInplace({ name: "inplace_gemm", tracks: [Gemm],
 *                       candidates: (node) => [{ op: new Gemm({ inplace: true }), destroys: 0 }] }, 70);
 */

import { type Apply, type Op, withTrace } from "../graph/basic.js";
import { destroyHandlerOf } from "../graph/destroy.js";
import { Elemwise } from "../tensor/elemwise.js";
import { AdvancedIncSubtensor, IncSubtensor } from "../tensor/subtensor.js";
import type { TensorType } from "../tensor/type.js";
import { type GraphRewriter, type OpClass, graphRewriter, optdb } from "./engine.js";

/** An in-place version of a node: the op to apply to the same inputs, and the input it overwrites. */
export interface InplaceCandidate {
  readonly op: Op;
  readonly destroys: number;
}

export interface InplaceSpec {
  readonly name: string;
  readonly tags?: readonly string[];
  readonly tracks: readonly OpClass[];
  /** Candidates in order of preference; none when the node is in place already or cannot be. */
  candidates(node: Apply): Iterable<InplaceCandidate>;
}

export function inplaceRewriter(spec: InplaceSpec): GraphRewriter {
  return graphRewriter({
    name: spec.name,
    tags: ["inplace", "fast_run", ...(spec.tags ?? [])],
    apply(fg, ctx) {
      const dh = destroyHandlerOf(fg);
      const plan = dh.planner(fg);
      dh.trusting(() => {
        for (let node of plan.order) {
          if (!fg.nodes.has(node)) continue;
          if (spec.tracks.some((cls) => node.op instanceof cls)) {
            for (const cand of spec.candidates(node)) {
              if (plan.whyNot(node, cand.destroys) !== null) continue;
              const prev = node;
              const next = withTrace(prev.trace, () => cand.op.makeNode(...prev.inputs));
              if (next.outputs.length !== node.outputs.length || next.outputs.some((o, i) => !o.type.equals(node.outputs[i]!.type))) continue;
              if (ctx.replace(fg, node.outputs.map((o, i) => [o, next.outputs[i]!] as const), spec.name) === null) continue;
              plan.replaced(node, next);
              node = next;
              break;
            }
          }
          plan.visit(node);
        }
      });
      // The incremental checks must agree with the full ones; a disagreement is a bug here.
      dh.validate(fg);
    },
  });
}

/** Registers an in-place stage at `position` in optdb (tags: inplace, fast_run, and the spec's). */
export function registerInplace(spec: InplaceSpec, position: number): GraphRewriter {
  return optdb.register(inplaceRewriter(spec), { position });
}

/** Inputs an elementwise output may overwrite: same dtype, and never broadcast into it. */
function elemwiseCandidates(node: Apply): InplaceCandidate[] {
  const op = node.op as Elemwise;
  if (op.inplacePattern.size > 0 || node.outputs.length !== 1) return [];
  const out = node.outputs[0]!.type as TensorType;
  const found: InplaceCandidate[] = [];
  node.inputs.forEach((v, j) => {
    const t = v.type as TensorType;
    if (v.isConstant || t.dtype !== out.dtype || t.ndim !== out.ndim) return;
    if (t.shape.some((d, i) => d === 1 && out.shape[i] !== 1)) return;
    found.push({ op: new Elemwise(op.scalarOp, op.outputDtype, new Map([[0, j]])), destroys: j });
  });
  return found;
}

export const inplaceSetsubtensor = inplaceRewriter({
  name: "local_inplace_setsubtensor",
  tags: ["local_inplace_incsubtensor", "local_inplace_advanced_incsubtensor"],
  tracks: [IncSubtensor, AdvancedIncSubtensor],
  candidates(node) {
    const op = node.op;
    if (op instanceof IncSubtensor && !op.inplace) return [{ op: new IncSubtensor(op.entries, op.mode, true), destroys: 0 }];
    if (op instanceof AdvancedIncSubtensor && !op.inplace) return [{ op: new AdvancedIncSubtensor(op.entries, op.mode, true), destroys: 0 }];
    return [];
  },
});

export const inplaceElemwise = inplaceRewriter({
  name: "inplace_elemwise_optimizer",
  tags: ["inplace_elemwise", "inplace_opt"],
  tracks: [Elemwise],
  candidates: elemwiseCandidates,
});
