/**
 * C generators of the math family (src/tensor/math.ts) beyond codegen.ts's reductions: argmax and
 * argmin (Argmax), over one axis or the whole array in C order, with perform's rules — the first
 * position of the extreme value wins, a NaN is the extreme (the first one), and an empty lane is
 * a ShapeError raised in the shape phase, before any kernel runs.
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { isFloat } from "../../../ndarray/dtype.js";
import { Argmax } from "../../../tensor/math.js";
import type { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type SegmentWriter, contiguousStrides, ctype, errReturn, registerCGenerator, sq } from "../codegen.js";

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

/** C statements printing `n` values of the int64 array `a` into `buf` as JS prints a list ("2, 3"). */
export const listInto = (buf: string, n: number, a: string): string =>
  `size_t e = 0; ${buf}[0] = 0; for (int i = 0; i < ${n} && e < sizeof ${buf}; i++) e += (size_t)snprintf(${buf} + e, sizeof ${buf} - e, i ? ", %lld" : "%lld", (long long)${a}[i]);`;

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof Argmax,
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as Argmax;
    const xv = node.inputs[0]!;
    const x = w.name(xv);
    const o = w.name(node.outputs[0]!);
    const nd = ndimOf(xv);
    const T = ctype(dtypeOf(xv));
    const float = isFloat(dtypeOf(xv));
    const name = sq(String(op));
    // lanes: along op.axis, or the whole array in C order (axis=None)
    const keep = op.axis === null ? [] : [...Array(nd).keys()].filter((i) => i !== op.axis);
    const lane = op.axis === null ? [...Array(nd).keys()] : [op.axis];
    const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    const laneLen = lane.map((i) => `${x}_n[${i}]`).join(" * ") || "1";
    sh.push(
      `  if (${laneLen} == 0) { char sx[160]; ${listInto("sx", nd, `${x}_n`)} snprintf(err, ${ERR_LEN}, "arg${op.kind} of an empty sequence (shape [%s])", sx); ${errReturn(k)} }`,
    );
    keep.forEach((ax, i) => sh.push(`  ${o}_n[${i}] = ${x}_n[${ax}];`));
    sh.push(`  ${contiguousStrides(o, keep.length, k, name)}`, `}`);
    w.shape.push(sh.join("\n"));

    const better = op.kind === "max" ? ">" : "<";
    const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, `  int64_t at = 0;`];
    keep.forEach((ax, i) => r.push(`${"  ".repeat(i + 1)}for (int64_t i${ax} = 0; i${ax} < ${x}_n[${ax}]; i${ax}++) {`));
    const ind = "  ".repeat(keep.length + 1);
    r.push(`${ind}int64_t bi = 0, pos = 0; ${T} best = 0; int first = 1, nan = 0;`);
    lane.forEach((ax, i) => r.push(`${ind}${"  ".repeat(i)}for (int64_t i${ax} = 0; i${ax} < ${x}_n[${ax}] && !nan; i${ax}++) {`));
    const li = ind + "  ".repeat(lane.length);
    const off = [...Array(nd).keys()].map((i) => `i${i} * ${x}_s[${i}]`).join(" + ") || "0";
    r.push(`${li}const ${T} v = ${x}[${off}];`);
    if (float) r.push(`${li}if (first || v != v || v ${better} best) { best = v; bi = pos; nan = v != v; }`);
    else r.push(`${li}if (first || v ${better} best) { best = v; bi = pos; }`);
    r.push(`${li}first = 0; pos++;`);
    for (let i = lane.length - 1; i >= 0; i--) r.push(`${ind}${"  ".repeat(i)}}`);
    r.push(`${ind}${o}[at++] = bi;`);
    for (let i = keep.length - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 1)}}`);
    r.push(`  (void)at;`, `}`);
    w.run.push(r.join("\n"));
    return false;
  },
});
