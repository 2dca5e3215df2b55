/**
 * C generators of the extra family (src/tensor/extra.ts): cumsum and cumprod (CumOp) along one
 * axis, or over the whole array in C order (axis=None: a vector), in the output dtype as perform
 * computes them — float32 rounds every step (as NumPy's float32 accumulate), integers wrap
 * (unsigned arithmetic, which C defines), booleans count as 0/1; and sort/argsort (Sort,
 * Argsort) in perform's order: numeric, NaN last, equal elements in index order (qsort on
 * (value, index) pairs, so the result is the stable one), and for sort -0 before +0 as a typed
 * array's sort puts them; and oneHot (OneHot) with a class count the shape phase can compute,
 * every index checked (perform's message) before anything is written.
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { isFloat } from "../../../ndarray/dtype.js";
import { Argsort, CumOp, OneHot, Sort } from "../../../tensor/extra.js";
import type { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type SegmentWriter, contiguousStrides, ctype, errReturn, registerCGenerator, sq } from "../codegen.js";
import { shapeComputable, shapePhaseValue } from "./shape.js";

/** The shape phase of an op over one axis (null: the flattened array, a vector), output C-contiguous. */
function axisShape(w: SegmentWriter, node: Apply, axis: number | null, k: number): void {
  const x = w.name(node.inputs[0]!);
  const o = w.name(node.outputs[0]!);
  const nd = ndimOf(node.inputs[0]!);
  const name = sq(String(node.op));
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  if (axis === null) sh.push(`  ${o}_n[0] = ${[...Array(nd).keys()].map((i) => `${x}_n[${i}]`).join(" * ") || "1"};`, `  ${contiguousStrides(o, 1, k, name)}`);
  else {
    for (let i = 0; i < nd; i++) sh.push(`  ${o}_n[${i}] = ${x}_n[${i}];`);
    sh.push(`  ${contiguousStrides(o, nd, k, name)}`);
  }
  sh.push(`}`);
  w.shape.push(sh.join("\n"));
}

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
    axisShape(w, node, op.axis, k);

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

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof Sort || node.op instanceof Argsort,
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const op = node.op as Sort | Argsort;
    const xv = node.inputs[0]!;
    const x = w.name(xv);
    const o = w.name(node.outputs[0]!);
    const nd = ndimOf(xv);
    const dt = dtypeOf(xv);
    const T = ctype(dt);
    const values = op instanceof Sort;
    axisShape(w, node, op.axis, k);

    const fn = `${w.fn}_k${w.helperCount++}`;
    const pair = `${fn}_pair`;
    // -0 before +0 for sort (a typed array's order); argsort keeps equal values in index order
    const zeros = values && isFloat(dt) ? `{ const int sx = signbit(x) != 0, sy = signbit(y) != 0; if (sx != sy) return sx ? -1 : 1; } ` : "";
    const helper = [
      `typedef struct { ${T} v; int64_t i; } ${pair};`,
      `static int ${fn}_cmp(const void *pa, const void *pb) { /* node ${k}: ${sq(String(op))} */`,
      `  const ${T} x = ((const ${pair} *)pa)->v, y = ((const ${pair} *)pb)->v;`,
      `  const int64_t i = ((const ${pair} *)pa)->i, j = ((const ${pair} *)pb)->i;`,
      `  if (x < y) return -1;`,
      `  if (x > y) return 1;`,
      `  if (x == y) { ${zeros}return i < j ? -1 : i > j; }`,
      `  { const int xn = x != x, yn = y != y; if (xn && yn) return i < j ? -1 : i > j; return xn ? 1 : -1; }`,
      `}`,
    ].join("\n");
    const store = values ? "p[q].v" : "p[q].i";
    const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    const off = [...Array(nd).keys()].map((i) => `i${i} * ${x}_s[${i}]`).join(" + ") || "0";
    if (op.axis === null) {
      r.push(`  const int64_t len = ${o}_n[0];`, `  ${pair} *p = (${pair} *)malloc((size_t)(len > 0 ? len : 1) * sizeof *p); if (!p) goto oom;`, `  int64_t at = 0;`);
      for (let i = 0; i < nd; i++) r.push(`${"  ".repeat(i + 1)}for (int64_t i${i} = 0; i${i} < ${x}_n[${i}]; i${i}++) {`);
      r.push(`${"  ".repeat(nd + 1)}p[at].v = ${x}[${off}]; p[at].i = at; at++;`);
      for (let i = nd - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 1)}}`);
      r.push(`  qsort(p, (size_t)len, sizeof *p, ${fn}_cmp);`, `  for (int64_t q = 0; q < len; q++) ${o}[q] = ${store};`, `  free(p);`);
    } else {
      const ax = op.axis;
      const outer = [...Array(nd).keys()].filter((i) => i !== ax);
      r.push(`  const int64_t len = ${x}_n[${ax}];`, `  ${pair} *p = (${pair} *)malloc((size_t)(len > 0 ? len : 1) * sizeof *p); if (!p) goto oom;`);
      outer.forEach((a, i) => r.push(`${"  ".repeat(i + 1)}for (int64_t i${a} = 0; i${a} < ${x}_n[${a}]; i${a}++) {`));
      const ind = "  ".repeat(outer.length + 1);
      const oBase = outer.map((a) => `i${a} * ${o}_s[${a}]`).join(" + ") || "0";
      r.push(`${ind}for (int64_t i${ax} = 0; i${ax} < len; i${ax}++) { p[i${ax}].v = ${x}[${off}]; p[i${ax}].i = i${ax}; }`);
      r.push(`${ind}qsort(p, (size_t)len, sizeof *p, ${fn}_cmp);`);
      r.push(`${ind}for (int64_t q = 0; q < len; q++) ${o}[${oBase} + q * ${o}_s[${ax}]] = ${store};`);
      for (let i = outer.length - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 1)}}`);
      r.push(`  free(p);`);
    }
    r.push(`}`);
    const entry = r.join("\n");
    w.helpers.set(entry, helper);
    w.run.push(entry);
    return false;
  },
});

registerCGenerator({
  matches: (node: Apply): boolean => node.op instanceof OneHot && shapeComputable(node.inputs[1]!) && dtypeOf(node.inputs[1]!) !== "uint64",
  generate(w: SegmentWriter, node: Apply, k: number): boolean {
    const [yv, nv] = node.inputs as [Variable, Variable];
    const y = w.name(yv);
    const o = w.name(node.outputs[0]!);
    const T = ctype(dtypeOf(node.outputs[0]!));
    const yd = dtypeOf(yv);
    const pre: string[] = [];
    const nc = shapePhaseValue(w, nv, pre, new Map());
    if (nc === null) throw new Error("internal: OneHot: the class count is not known in the shape phase");
    // every index against the count, in perform's order and words; `fail` ends the phase it runs in
    const checks = (fail: string): string => {
      const bad = yd === "uint64" ? "v >= (uint64_t)nc" : "(v < 0 ? v + nc : v) < 0 || (v < 0 ? v + nc : v) >= nc";
      const fmt = yd === "uint64" ? "%llu" : "%lld";
      const cast = yd === "uint64" ? "(unsigned long long)v" : "(long long)v";
      const V = yd === "uint64" ? "uint64_t" : "int64_t";
      return `  { const int64_t nc = ${o}_n[1]; for (int64_t i = 0; i < ${y}_n[0]; i++) { const ${V} v = (${V})${y}[i * ${y}_s[0]]; if (${bad}) { snprintf(err, ${ERR_LEN}, "oneHot: index ${fmt} (position %lld) is out of bounds for %lld classes", ${cast}, (long long)i, (long long)nc); ${fail} } } }`;
    };
    const seg = w.segment;
    const early = !seg || !yv.owner || !seg.nodes.includes(yv.owner);
    const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, ...pre.map((l) => `  ${l}`)];
    sh.push(`  const int64_t nc = (int64_t)(${nc});`);
    sh.push(`  if (nc < 0) { snprintf(err, ${ERR_LEN}, "oneHot: the class count must be non-negative, got %lld", (long long)nc); ${errReturn(k)} }`);
    sh.push(`  ${o}_n[0] = ${y}_n[0]; ${o}_n[1] = nc;`, `  ${contiguousStrides(o, 2, k, sq(String(node.op)))}`);
    if (early) sh.push(checks(errReturn(k)));
    sh.push(`}`);
    w.shape.push(sh.join("\n"));
    const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
    if (!early) r.push(checks(`rcode = ${k + 1}; goto kerr;`));
    r.push(
      `  const int64_t nc = ${o}_n[1];`,
      `  if (${o}_n[0] * nc > 0) memset(${o}, 0, sizeof(*${o}) * (size_t)(${o}_n[0] * nc));`,
      `  for (int64_t i = 0; i < ${o}_n[0]; i++) { const int64_t v = (int64_t)${y}[i * ${y}_s[0]]; ${o}[i * nc + (v < 0 ? v + nc : v)] = (${T})1; }`,
      `}`,
    );
    w.run.push(r.join("\n"));
    return false;
  },
});
