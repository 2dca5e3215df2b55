/**
 * Reduction fusion (tags fusion, reduction_fusion, fast_run): a float CAReduce absorbs the
 * elementwise node that produces its input (the prologue) and the elementwise node that
 * consumes its result (the epilogue), with a keepdims DimShuffle between them, into one
 * FusedReduce node (src/tensor/fused_reduce.ts). PyTensor's `local_careduce_fusion` does the
 * prologue half; the epilogue half (`mean`'s division, `sqrt` of a sum of squares) is ours.
 *
 * It runs once over the graph at position 49.5, right after elementwise fusion, so prologue
 * and epilogue are each one Composite already: `sum((x*0.5+0.1)**2)` becomes one node.
 * A value is absorbed only when the fused node is its sole reader and it is not an output (so
 * nothing is computed twice), and an epilogue only when it keeps the reduced value's broadcast
 * pattern (it runs once per result, not once per input element).
 */

import { type Apply, CreationTrace, type Variable, withTrace } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { isFloat } from "../ndarray/dtype.js";
import { Composite, type Ref, type Step } from "../scalar/composite.js";
import * as S from "../scalar/table.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import { FusedReduce, type FusedReduceKind } from "../tensor/fused_reduce.js";
import { CAReduce } from "../tensor/math.js";
import type { TensorType } from "../tensor/type.js";
import { type GraphRewriter, graphRewriter, optdb } from "./engine.js";

const ttype = (v: Variable): TensorType => v.type as TensorType;

/** The one node reading `v` (possibly at several inputs), when `v` is not an output. */
function soleReader(fg: FunctionGraph, v: Variable): Apply | null {
  let reader: Apply | null = null;
  for (const [c] of fg.clientsOf(v)) {
    if (c === "output" || (reader !== null && c !== reader)) return null;
    reader = c;
  }
  return reader;
}

/** A plain (not in-place, one output) elementwise node. */
const isPlainElemwise = (n: Apply | null): n is Apply<Elemwise> =>
  n !== null && n.op instanceof Elemwise && n.op.inplacePattern.size === 0 && n.outputs.length === 1;

/** The node's scalar computation as composite steps, its input j read through `refOf(j)`. */
function stepsOf(node: Apply<Elemwise>, refOf: (j: number) => Ref): Step[] {
  const op = node.op.scalarOp;
  const outer = node.inputs.map((_v, j) => refOf(j));
  return op instanceof Composite
    ? op.steps.map((s) => ({ ...s, args: s.args.map((r): Ref => ("input" in r ? outer[r.input]! : r)) }))
    : [{ op, args: outer, dtype: ttype(node.outputs[0]!).dtype }];
}

const KINDS: ReadonlySet<string> = new Set<FusedReduceKind>(["add", "mul", "maximum", "minimum"]);

/** The keepdims DimShuffle of a reduction over `axis` of a rank-`nd` value: axes back as "x". */
function isKeepDims(ds: DimShuffle, nd: number, axis: readonly number[]): boolean {
  if (ds.pattern.length !== nd) return false;
  let k = 0;
  return ds.pattern.every((p, i) => (axis.includes(i) ? p === "x" : p === k++));
}

/** Fuses around one CAReduce node; returns the replacement pair, or null. */
function fuseAround(fg: FunctionGraph, node: Apply<CAReduce>): [Variable, Variable] | null {
  const op = node.op;
  if (!KINDS.has(op.kind) || !isFloat(op.dtype)) return null;
  const x = node.inputs[0]!;
  const nd = ttype(x).ndim;
  // Prologue: the producer of x, or the identity.
  let prologue: Composite;
  let pIns: Variable[];
  let fused = 0;
  const parts: Apply[] = [node];
  const prod = x.owner;
  if (isPlainElemwise(prod) && isFloat(ttype(x).dtype) && soleReader(fg, x) === node) {
    pIns = [...prod.inputs];
    prologue = new Composite(pIns.map((v) => ttype(v).dtype), stepsOf(prod, (j) => ({ input: j })));
    fused++;
    parts.unshift(prod);
  } else {
    if (!isFloat(ttype(x).dtype)) return null;
    pIns = [x];
    prologue = new Composite([ttype(x).dtype], [{ op: S.identity, args: [{ input: 0 }], dtype: ttype(x).dtype }]);
  }
  // keepdims, then the epilogue.
  let r = node.outputs[0]!;
  let keepdims = false;
  let reader = soleReader(fg, r);
  if (reader && reader.op instanceof DimShuffle && op.axis.length > 0 && isKeepDims(reader.op, nd, op.axis)) {
    r = reader.outputs[0]!;
    keepdims = true;
    fused++;
    reader = soleReader(fg, r);
  }
  let epilogue: Composite | null = null;
  let extras: Variable[] = [];
  if (isPlainElemwise(reader)) {
    const out = reader.outputs[0]!;
    const same = ttype(out).shape.every((d, i) => (d === 1) === (ttype(r).shape[i] === 1));
    if (same && isFloat(ttype(out).dtype)) {
      extras = [];
      const slot = new Map<Variable, number>();
      const refOf = (j: number): Ref => {
        const v = reader!.inputs[j]!;
        if (v === r) return { input: 0 };
        let k = slot.get(v);
        if (k === undefined) {
          k = extras.push(v);
          slot.set(v, k);
        }
        return { input: k };
      };
      const steps = stepsOf(reader, refOf); // collects the extras
      epilogue = new Composite([ttype(r).dtype, ...extras.map((v) => ttype(v).dtype)], steps);
      r = out;
      fused++;
      parts.push(reader!);
    }
  }
  if (fused === 0) return null;
  const fr = new FusedReduce(prologue, op.kind as FusedReduceKind, op.axis, op.dtype, op.accDtype, keepdims, epilogue, op.emptyIdentity);
  // The fused node points at the reduction's line, and names every node it fused (issue 16.4).
  const v = withTrace(CreationTrace.fusing(node.trace, parts), () => fr.makeNode(...pIns, ...extras).outputs[0]!);
  return ttype(v).dtype === ttype(r).dtype ? [r, v] : null;
}

export const reductionFusion: GraphRewriter = optdb.register(
  graphRewriter({
    name: "local_careduce_fusion",
    tags: ["fusion", "reduction_fusion", "fast_run"],
    apply(fg, ctx) {
      for (const node of fg.toposort()) {
        if (!fg.nodes.has(node) || !(node.op instanceof CAReduce)) continue;
        const pair = fuseAround(fg, node as Apply<CAReduce>);
        if (pair) ctx.replace(fg, [pair], "local_careduce_fusion");
      }
    },
  }),
  { position: 49.5 },
);
