/**
 * Constant folding (Theano's `constant_folding`, tag `constant_folding`): an Elemwise or
 * DimShuffle node whose inputs are all constants is replaced by its value, computed once by
 * the op's `perform`. Ops that would create large constants (Alloc and friends) are left
 * alone, as Theano does, so constants stay small.
 */

import type { FunctionGraph } from "../graph/fgraph.js";
import type { NDArray } from "../ndarray/ndarray.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import { constant } from "../tensor/variable.js";

const FOLD_LIMIT = 1 << 16; // elements; larger results stay computed at run time

export function foldConstants(fg: FunctionGraph): number {
  let count = 0;
  for (const node of fg.toposort()) {
    if (!fg.nodes.has(node)) continue;
    if (!(node.op instanceof Elemwise || node.op instanceof DimShuffle)) continue;
    if (!node.inputs.every((v) => v.isConstant)) continue;
    const [value] = node.op.perform(node, node.inputs.map((v) => v.constantData)) as NDArray[];
    if (!value || value.size > FOLD_LIMIT) continue;
    const c = constant(value.contiguous());
    const out = node.outputs[0]!;
    if (!c.type.equals(out.type)) continue;
    fg.replace(out, c, "constant_folding");
    count++;
  }
  return count;
}
