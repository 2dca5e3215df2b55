/**
 * C generators of the shape family (src/tensor/shape.ts) beyond codegen.ts's Shape_i and
 * constant-shape Reshape: MakeVector, and Reshape to a shape computed in the graph (a
 * MakeVector of sizes: LeNet's flatten between its convolutions and its dense layers, and the
 * gradient's reshape back), so that such a step is one C segment instead of three with the
 * host running the reshapes between them (issue 15.1). Also the shape-phase evaluation of size
 * scalars (constants, graph inputs, Shape_i and integer Elemwise arithmetic over them) that
 * these and the convolution generators (conv.ts) share.
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { Elemwise } from "../../../tensor/elemwise.js";
import { MakeVector, Reshape, ShapeI } from "../../../tensor/shape.js";
import { TensorType } from "../../../tensor/type.js";
import { type SegmentWriter, contiguousStrides, ctype, elemwiseBody, genReshape, registerCGenerator, sq } from "../codegen.js";

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;

/**
 * Whether the shape phase can compute scalar `v`: a constant or graph input (its memory is
 * readable before any kernel runs), a Shape_i output, or integer Elemwise arithmetic over those
 * (at most `budget` nodes, so the recomputation stays small).
 */
export function shapeComputable(v: Variable, budget = { n: 24 }): boolean {
  const t = v.type;
  if (!(t instanceof TensorType) || t.ndim !== 0) return false;
  const owner = v.owner;
  if (owner === null || owner.op instanceof ShapeI) return true;
  if (owner.op instanceof Elemwise && --budget.n >= 0) return owner.inputs.every((u) => shapeComputable(u, budget));
  return false;
}

/**
 * A C expression of scalar `v`'s value valid in the shape phase (statements it needs are pushed
 * onto `lines`), or null. An Elemwise of this segment is recomputed from its inputs (it runs only
 * in the kernel phase); one that is an input of the segment (computed earlier) is read from its
 * memory, as are constants, graph inputs and another segment's Shape_i. `shapeComputable` proves
 * that one of the two always works: an Elemwise of this segment has inputs that are this
 * segment's Shape_i (w.shapeValues), computable Elemwise, or inputs of the segment.
 */
export function shapePhaseValue(w: SegmentWriter, v: Variable, lines: string[], memo: Map<Variable, string>): string | null {
  const known = w.shapeValues.get(v) ?? memo.get(v);
  if (known !== undefined) return known;
  const owner = v.owner;
  if (owner !== null && owner.op instanceof Elemwise) {
    const mark = lines.length;
    const ins = owner.inputs.map((u) => shapePhaseValue(w, u, lines, memo));
    if (ins.every((e) => e !== null)) {
      const name = `sv${memo.size}`;
      const decl = owner.inputs.map((u, j) => `const ${ctype(dtypeOf(u))} x${j} = ${ins[j]};`).join(" ");
      lines.push(`${ctype(dtypeOf(v))} ${name}; { ${decl} ${elemwiseBody(owner as Apply<Elemwise>)} ${name} = r; }`);
      memo.set(v, name);
      return name;
    }
    lines.length = mark;
  }
  return w.names.has(v) ? `${w.name(v)}[0]` : null;
}

/** The sizes a Reshape's target shape holds, when it is a MakeVector of sizes the shape phase can compute. */
function computedShape(node: Apply): readonly Variable[] | null {
  const v = node.inputs[1]!;
  const mv = v.owner;
  if (mv === null || !(mv.op instanceof MakeVector)) return null;
  const budget = { n: 24 };
  return mv.inputs.every((u) => shapeComputable(u, budget)) ? mv.inputs : null;
}

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof MakeVector,
  // the shape phase knows the length; the values are written when the kernels run
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const o = w.name(node.outputs[0]!);
    const n = node.inputs.length;
    w.shape.push(`{ /* node ${k}: ${sq(node.toString())} */ ${o}_n[0] = ${n}; ${contiguousStrides(o, 1, k, sq(String(node.op)))} }`);
    w.run.push(`{ /* node ${k}: ${sq(node.toString())} */ ${node.inputs.map((v, i) => `${o}[${i}] = (int64_t)${w.name(v)}[0];`).join(" ")} }`);
    return false;
  },
});

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof Reshape && computedShape(node) !== null,
  // the target sizes are evaluated in the shape phase (recomputed from Shape_i and the shape
  // arithmetic, or read from memory the segment is given), then checked as resolveReshape does
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const lines: string[] = [];
    const memo = new Map<Variable, string>();
    const dims = computedShape(node)!.map((v) => {
      const e = shapePhaseValue(w, v, lines, memo);
      if (e === null) throw new Error(`internal: ${String(node.op)}: a size of the target shape is not known in the shape phase`);
      return `(int64_t)(${e})`;
    });
    genReshape(w, node as Apply<Reshape>, k, dims, lines);
    return false;
  },
});
