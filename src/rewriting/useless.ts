/**
 * Removal of useless nodes (Theano's `local_useless_*` family, tag `useless`): nodes that
 * compute their input unchanged.
 *
 * - `local_useless_elemwise`: an identity Elemwise (a cast to the dtype the value already has,
 *   or `tensor_copy`). Removing a copy is safe here because aliasing is handled elsewhere:
 *   `theano.function` copies outputs that would alias inputs or each other, and the destroy
 *   handler never lets an in-place node overwrite an input or a value still needed.
 * - `local_useless_dimshuffle`: a DimShuffle whose pattern is (0, 1, ..., n-1).
 * - `local_useless_specify_shape`: a SpecifyShape that adds nothing to its input's static shape.
 */

import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import { SpecifyShape } from "../tensor/shape.js";
import type { TensorType } from "../tensor/type.js";
import { type NodeRewriter, nodeRewriter } from "./engine.js";

export const localUselessElemwise = nodeRewriter({
  name: "local_useless_elemwise",
  tags: ["useless", "local_useless_cast"],
  tracks: [Elemwise],
  transform(node) {
    const op = node.op as Elemwise;
    if (op.scalarOp.name !== "identity" || op.destroyMap.size > 0) return null;
    const x = node.inputs[0]!;
    return (x.type as TensorType).dtype === (node.outputs[0]!.type as TensorType).dtype ? [x] : null;
  },
});

export const localUselessDimshuffle = nodeRewriter({
  name: "local_useless_dimshuffle",
  tags: ["useless", "local_dimshuffle_lift"],
  tracks: [DimShuffle],
  transform(node) {
    const op = node.op as DimShuffle;
    const n = op.inputNdim;
    return op.pattern.length === n && op.pattern.every((p, i) => p === i) ? [node.inputs[0]!] : null;
  },
});

export const localUselessSpecifyShape = nodeRewriter({
  name: "local_useless_specify_shape",
  tags: ["useless"],
  tracks: [SpecifyShape],
  transform(node) {
    const op = node.op as SpecifyShape;
    const have = (node.inputs[0]!.type as TensorType).shape;
    return op.shape.every((d, i) => d === null || have[i] === d) ? [node.inputs[0]!] : null;
  },
});

export const USELESS: readonly NodeRewriter[] = [localUselessElemwise, localUselessDimshuffle, localUselessSpecifyShape];
