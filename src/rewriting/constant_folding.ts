/**
 * Constant folding (Theano's `topo_constant_folding`, tag `constant_folding`): a node whose
 * inputs are all constants is replaced by its value, computed once by the op's `perform`. Only
 * ops listed in FOLDABLE are folded (pure, deterministic, with small results); ops that create
 * large arrays (Alloc and friends) stay, as in Theano, so constants stay small. The catalogue
 * may add op classes to FOLDABLE.
 */

import type { NDArray } from "../ndarray/ndarray.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import { constant } from "../tensor/variable.js";
import { type OpClass, nodeRewriter } from "./engine.js";

const FOLD_LIMIT = 1 << 16; // elements; larger results stay computed at run time

/** Op classes whose all-constant nodes are folded. */
export const FOLDABLE: OpClass[] = [Elemwise, DimShuffle];

export const constantFolding = nodeRewriter({
  name: "constant_folding",
  tags: ["constant_folding", "topo_constant_folding"],
  tracks: null,
  transform(node) {
    if (!FOLDABLE.some((cls) => node.op instanceof cls)) return null;
    if (node.outputs.length !== 1 || node.op.destroyMap.size > 0 || !node.inputs.every((v) => v.isConstant)) return null;
    const [value] = node.op.perform(node, node.inputs.map((v) => v.constantData)) as NDArray[];
    if (!value || value.size > FOLD_LIMIT) return null;
    const c = constant(value.contiguous());
    // A constant's static shape is exact, so it may be more precise than the output's type:
    // the engine accepts that (and refuses a dtype or rank change).
    return [c];
  },
});
