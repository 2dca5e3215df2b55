/**
 * C generators of the alloc family (src/tensor/alloc.ts) beyond codegen.ts's Alloc: repeat
 * (Repeat), NumPy's `np.repeat` along one axis with one count for every element or one count
 * per element. The counts must be readable in the shape phase (a constant or graph input, or a
 * count computed from shapes): they fix the output's length. Checked as perform checks them,
 * with its messages — the number of counts against the axis, then no negative count — before
 * any kernel runs. (`tile` is an Alloc and a Reshape; `flip` and `roll` are slices and a join:
 * they already run in C.)
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { Repeat } from "../../../tensor/alloc.js";
import type { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type SegmentWriter, contiguousStrides, errReturn, registerCGenerator, sq } from "../codegen.js";
import { shapeComputable, shapePhaseValue } from "./shape.js";

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

/** Whether the counts can be read (or computed) in the shape phase. */
function countsReadable(r: Variable): boolean {
  if (dtypeOf(r) === "uint64") return false;
  return r.owner === null || (ndimOf(r) === 0 && shapeComputable(r));
}

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof Repeat && countsReadable(node.inputs[1]!),
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as Repeat;
    const [xv, rv] = node.inputs as [Variable, Variable];
    const x = w.name(xv);
    const o = w.name(node.outputs[0]!);
    const nd = ndimOf(xv);
    const ax = op.axis;
    const name = sq(String(op));
    const vector = ndimOf(rv) === 1;
    const fail = errReturn(k);
    const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, `  const int64_t d = ${x}_n[${ax}]; int64_t total = 0;`];
    if (vector) {
      const r = w.name(rv);
      sh.push(
        `  if (${r}_n[0] != d && ${r}_n[0] != 1) { char sx[160]; size_t e = 0; sx[0] = 0; for (int i = 0; i < ${nd} && e < sizeof sx; i++) e += (size_t)snprintf(sx + e, sizeof sx - e, i ? ", %lld" : "%lld", (long long)${x}_n[i]); snprintf(err, ${ERR_LEN}, "${name}: %lld repeats given for an axis of size %lld (shape (%s))", (long long)${r}_n[0], (long long)d, sx); ${fail} }`,
        `  { int neg = 0; for (int64_t i = 0; i < ${r}_n[0]; i++) if ((int64_t)${r}[i * ${r}_s[0]] < 0) neg = 1;`,
        `    if (neg) { char sr[200]; size_t e = 0; sr[0] = 0; for (int64_t i = 0; i < ${r}_n[0] && e < sizeof sr; i++) e += (size_t)snprintf(sr + e, sizeof sr - e, i ? ", %lld" : "%lld", (long long)${r}[i * ${r}_s[0]]); snprintf(err, ${ERR_LEN}, "${name}: repeats may not be negative, got [%s]", sr); ${fail} } }`,
        `  for (int64_t i = 0; i < d; i++) total += (int64_t)${r}[(${r}_n[0] == 1 ? 0 : i) * ${r}_s[0]];`,
      );
    } else {
      const pre: string[] = [];
      const e = shapePhaseValue(w, rv, pre, new Map());
      if (e === null) throw new Error(`internal: ${String(op)}: the count is not known in the shape phase`);
      sh.push(...pre.map((l) => `  ${l}`), `  const int64_t rep = (int64_t)(${e});`);
      sh.push(`  if (rep < 0) { snprintf(err, ${ERR_LEN}, "${name}: repeats may not be negative, got [%lld]", (long long)rep); ${fail} }`);
      sh.push(`  total = rep * d; ${o}_rep = rep;`);
      w.field("int64_t", `${o}_rep`);
    }
    for (let i = 0; i < nd; i++) sh.push(`  ${o}_n[${i}] = ${i === ax ? "total" : `${x}_n[${i}]`};`);
    sh.push(`  ${contiguousStrides(o, nd, k, name)}`, `}`);
    w.shape.push(sh.join("\n"));

    const count = vector ? `(int64_t)${w.name(rv)}[(${w.name(rv)}_n[0] == 1 ? 0 : i${ax}) * ${w.name(rv)}_s[0]]` : `${o}_rep`;
    const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    for (let q = 0; q < ax; q++) r.push(`${"  ".repeat(q + 1)}for (int64_t i${q} = 0; i${q} < ${x}_n[${q}]; i${q}++) {`);
    let ind = "  ".repeat(ax + 1);
    r.push(`${ind}int64_t oj = 0;`);
    r.push(`${ind}for (int64_t i${ax} = 0; i${ax} < ${x}_n[${ax}]; i${ax}++) for (int64_t c = ${count}; c > 0; c--, oj++) {`);
    ind += "  ";
    for (let q = ax + 1; q < nd; q++) r.push(`${ind}${"  ".repeat(q - ax - 1)}for (int64_t i${q} = 0; i${q} < ${x}_n[${q}]; i${q}++) {`);
    const src = [...Array(nd).keys()].map((q) => `i${q} * ${x}_s[${q}]`).join(" + ");
    const dst = [...Array(nd).keys()].map((q) => (q === ax ? `oj * ${o}_s[${q}]` : `i${q} * ${o}_s[${q}]`)).join(" + ");
    r.push(`${ind}${"  ".repeat(nd - ax - 1)}${o}[${dst}] = ${x}[${src}];`);
    for (let q = nd - 1; q > ax; q--) r.push(`${ind}${"  ".repeat(q - ax - 1)}}`);
    r.push(`${"  ".repeat(ax + 1)}}`);
    for (let q = ax - 1; q >= 0; q--) r.push(`${"  ".repeat(q + 1)}}`);
    r.push(`}`);
    w.run.push(r.join("\n"));
    return false;
  },
});
