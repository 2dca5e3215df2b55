/**
 * C generators of the extra family (src/tensor/extra.ts): cumsum and cumprod (CumOp) along one
 * axis, or over the whole array in C order (axis=None: a vector), in the output dtype as perform
 * computes them — float32 rounds every step (as NumPy's float32 accumulate), integers wrap
 * (unsigned arithmetic, which C defines), booleans count as 0/1.
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { CumOp } from "../../../tensor/extra.js";
import type { TensorType } from "../../../tensor/type.js";
import { type SegmentWriter, contiguousStrides, ctype, registerCGenerator, sq } from "../codegen.js";

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

const OUT_DTYPES = new Set<DType>(["float32", "float64", "int64", "uint64"]);

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof CumOp && OUT_DTYPES.has(dtypeOf(node.outputs[0]!)),
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as CumOp;
    const xv = node.inputs[0]!;
    const x = w.name(xv);
    const o = w.name(node.outputs[0]!);
    const nd = ndimOf(xv);
    const od = dtypeOf(node.outputs[0]!);
    const T = ctype(od);
    const name = sq(String(op));
    const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    if (op.axis === null) sh.push(`  ${o}_n[0] = ${[...Array(nd).keys()].map((i) => `${x}_n[${i}]`).join(" * ") || "1"};`, `  ${contiguousStrides(o, 1, k, name)}`);
    else {
      for (let i = 0; i < nd; i++) sh.push(`  ${o}_n[${i}] = ${x}_n[${i}];`);
      sh.push(`  ${contiguousStrides(o, nd, k, name)}`);
    }
    sh.push(`}`);
    w.shape.push(sh.join("\n"));

    const add = op.mode === "add";
    // integers wrap as NumPy's int64 arithmetic does: compute in uint64_t
    const U = od === "int64" || od === "uint64" ? "uint64_t" : T;
    const step = add ? `acc = (${U})(acc + (${U})v);` : `acc = (${U})(acc * (${U})v);`;
    const xT = ctype(dtypeOf(xv));
    const off = [...Array(nd).keys()].map((i) => `i${i} * ${x}_s[${i}]`).join(" + ") || "0";
    const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    if (op.axis === null) {
      // one lane: every element in C order
      r.push(`  ${U} acc = ${add ? 0 : 1}; int64_t at = 0;`);
      for (let i = 0; i < nd; i++) r.push(`${"  ".repeat(i + 1)}for (int64_t i${i} = 0; i${i} < ${x}_n[${i}]; i${i}++) {`);
      const ind = "  ".repeat(nd + 1);
      r.push(`${ind}const ${xT} v = ${x}[${off}]; ${step} ${o}[at++] = (${T})acc;`);
      for (let i = nd - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 1)}}`);
    } else {
      const ax = op.axis;
      const outer = [...Array(nd).keys()].filter((i) => i !== ax);
      outer.forEach((a, i) => r.push(`${"  ".repeat(i + 1)}for (int64_t i${a} = 0; i${a} < ${x}_n[${a}]; i${a}++) {`));
      const ind = "  ".repeat(outer.length + 1);
      const oOff = [...Array(nd).keys()].map((i) => `i${i} * ${o}_s[${i}]`).join(" + ");
      r.push(`${ind}${U} acc = ${add ? 0 : 1};`);
      r.push(`${ind}for (int64_t i${ax} = 0; i${ax} < ${x}_n[${ax}]; i${ax}++) { const ${xT} v = ${x}[${off}]; ${step} ${o}[${oOff}] = (${T})acc; }`);
      for (let i = outer.length - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 1)}}`);
    }
    r.push(`}`);
    w.run.push(r.join("\n"));
    return false;
  },
});
