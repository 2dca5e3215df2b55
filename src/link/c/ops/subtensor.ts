/**
 * C generators of the indexing family (src/tensor/subtensor.ts): the gathers `AdvancedSubtensor1`
 * (`x[intVector]`, the embedding lookup) and `AdvancedSubtensor` (integer arrays, broadcast
 * together, mixed with slices), and the scatters `AdvancedIncSubtensor` (its gradient: repeated
 * indices accumulate as NumPy's `np.add.at`, the last write wins for set) and
 * `IncSubtensor`/`SetSubtensor` (integers and slices). A boolean mask is rendered when it is
 * the only index array: its region axis is as long as its count of true values, which a gather
 * needs in the shape phase, so `x[mask]` runs in C only for a mask the shape phase can read (a
 * function input or a constant) and stays on the host when the graph computes the mask; a
 * scatter's output has x's shape, so `x[x < 0] = 0` runs in C with the mask counted in the
 * kernel before anything is written. Masks with other index arrays stay on the host.
 *
 * One plan serves the four ops, as `advancedPlan` serves their `perform`: every axis of x is an
 * integer, a slice (constant bounds or integer scalars readable in the shape phase, see
 * codegen.ts `shapePhaseScalar`) or an index array. The indexed region has the slices' lengths
 * and the index arrays' broadcast shape, placed by NumPy's rule (where the arrays are, when they
 * are adjacent, else first). The shape phase resolves the slices, broadcasts the arrays, checks
 * every index against its axis (with perform's message) and checks the value's shape, so a bad
 * index stops the segment before any kernel writes; an index array that the segment itself
 * computes is checked at the start of the node's kernel instead, still before it writes. The
 * kernel walks the region in C order (the order perform writes in, so repeats accumulate and
 * overwrite identically) with one loop per region axis; the innermost loop is a memcpy or a
 * unit-stride loop gcc vectorises when the layout allows.
 *
 * Scatters write into a copy of x, or over x itself when the op is in place: the linker hands
 * the destroyed operand's buffer over as the output's (linker.ts `inplaceInput`, as for GEMM),
 * and when x is computed by this segment (the zeros an embedding's gradient is scattered into),
 * x's producer is pointed at the output's memory, so nothing is copied. A value or index array
 * that lies in the memory being written is read from a copy.
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { Alloc } from "../../../tensor/alloc.js";
import { Elemwise } from "../../../tensor/elemwise.js";
import { type AdvEntry, AdvancedIncSubtensor, AdvancedSubtensor, AdvancedSubtensor1, type BasicEntry, IncSubtensor, Subtensor } from "../../../tensor/subtensor.js";
import type { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type SegmentWriter, contiguousStrides, ctype, errReturn, registerCGenerator, sq } from "../codegen.js";
import { shapeComputable, shapePhaseValue } from "./shape.js";

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

/** A slice bound: absent, a constant, or an integer scalar read in the shape phase. */
type Bound = null | number | Variable;

/**
 * What one axis of x is indexed by. A boolean mask of rank k indexes k axes: the mask item at the
 * first, "covered" at the others.
 */
type Item =
  | { readonly kind: "int"; readonly v: number | Variable }
  | { readonly kind: "slice"; readonly start: Bound; readonly stop: Bound; readonly step: Bound }
  | { readonly kind: "adv" | "mask"; readonly v: Variable }
  | { readonly kind: "covered" };

/** A node as the generator sees it: read (get) or write (set, inc) a region of x. */
interface Spec {
  readonly mode: "get" | "set" | "inc";
  readonly x: Variable;
  readonly y: Variable | null;
  /** One item per axis of x. */
  readonly items: readonly Item[];
}

const FULL: Item = { kind: "slice", start: null, stop: null, step: null };

/**
 * A symbolic index or bound the shape phase can compute (uint64 would not fit its int64
 * arithmetic): a constant, a graph input, a Shape_i, or integer arithmetic over those, such as
 * the `n - 1` bounds of the slices scan's gradient takes (ops/shape.ts `shapeComputable`).
 */
const scalarOk = (v: Variable): boolean => dtypeOf(v) !== "uint64" && shapeComputable(v);

/** The items of basic or advanced entries over the index inputs `idx`; null when not supported. */
function itemsOf(entries: readonly (BasicEntry | AdvEntry)[], idx: readonly Variable[], nd: number): Item[] | null {
  const items: Item[] = [];
  let k = 0;
  const bound = (b: number | null | string): Bound | undefined => {
    if (b === null || typeof b === "number") return b;
    const v = idx[k++];
    return v && scalarOk(v) ? v : undefined;
  };
  for (const e of entries) {
    if (typeof e === "number") items.push({ kind: "int", v: e });
    else if (e === "array") {
      const v = idx[k++];
      if (!v) return null;
      if (dtypeOf(v) !== "bool") items.push({ kind: "adv", v });
      else {
        if (ndimOf(v) < 1) return null;
        items.push({ kind: "mask", v }, ...new Array<Item>(ndimOf(v) - 1).fill({ kind: "covered" }));
      }
    } else if (typeof e === "string") {
      const v = idx[k++];
      if (!v || !scalarOk(v)) return null;
      items.push({ kind: "int", v });
    } else {
      const start = bound(e.start);
      const stop = bound(e.stop);
      const step = bound(e.step);
      if (start === undefined || stop === undefined || step === undefined) return null;
      items.push({ kind: "slice", start, stop, step });
    }
  }
  if (k !== idx.length || items.length > nd) return null;
  while (items.length < nd) items.push(FULL);
  return items;
}

/** The plan of a node this file renders, or null (the node then runs its `perform` on the host). */
function specOf(node: Apply): Spec | null {
  const op = node.op;
  const [x, a1] = node.inputs;
  if (!x) return null;
  const nd = ndimOf(x);
  let items: Item[] | null = null;
  if (op instanceof AdvancedSubtensor1) items = a1 && dtypeOf(a1) !== "bool" && nd >= 1 ? itemsOf(["array"], [a1], nd) : null;
  else if (op instanceof AdvancedSubtensor) items = itemsOf(op.entries, node.inputs.slice(1), nd);
  else if (op instanceof IncSubtensor || op instanceof AdvancedIncSubtensor) items = itemsOf(op.entries, node.inputs.slice(2), nd);
  // basic indexing with symbolic indices or bounds: a gather (a copy; codegen.ts renders the
  // constant ones as views)
  else if (op instanceof Subtensor && node.inputs.length > 1) items = itemsOf(op.entries, node.inputs.slice(1), nd);
  if (!items) return null;
  // A boolean mask only alone: the region's length along it is the mask's count of true values,
  // which a gather needs in the shape phase (so the mask must be readable there: an input or a
  // constant); a scatter's output is x's shape, and a mask this segment computes is counted in
  // the kernel before anything is written.
  const mask = items.find((it) => it.kind === "mask");
  if (mask && (items.some((it) => it.kind === "adv") || items.filter((it) => it.kind === "mask").length > 1)) return null;
  if (mask && op instanceof AdvancedSubtensor && (mask as { v: Variable }).v.owner !== null) return null;
  if (op instanceof IncSubtensor || op instanceof AdvancedIncSubtensor) {
    if (dtypeOf(a1!) !== dtypeOf(x) || dtypeOf(node.outputs[0]!) !== dtypeOf(x)) return null;
    return { mode: op.mode, x, y: a1!, items };
  }
  return { mode: "get", x, y: null, items };
}

/** C statements appending a shape as JS prints it, "(2, 3)", to the buffer `buf` (length in `<buf>k`). */
function jsShape(buf: string, nd: number, arr: string): string {
  const put = (fmt: string, ...args: string[]): string => `if (${buf}k < sizeof ${buf}) ${buf}k += (size_t)snprintf(${buf} + ${buf}k, sizeof ${buf} - ${buf}k, ${[fmt, ...args].join(", ")});`;
  const dims = nd === 0 ? "" : ` for (int q_ = 0; q_ < ${nd}; q_++) ${put(`q_ ? ", %lld" : "%lld"`, `(long long)${arr}[q_]`)}`;
  return `${put(`"("`)}${dims} ${put(`")"`)}`;
}

/** A bound as a C int64 expression of the shape phase (`values`: the symbolic ones, computed first). */
function boundExpr(values: ReadonlyMap<Variable, string>, b: number | Variable): string {
  return typeof b === "number" ? `INT64_C(${b})` : `(int64_t)(${values.get(b)!})`;
}

/**
 * The checks of index array `a` (the j-th, indexing axis `ax` of size `d`) at every position of
 * the broadcast shape (stored at `rn[first..first+nb)`), in the order perform checks them; `fail`
 * ends the phase the code runs in.
 */
function indexChecks(w: SegmentWriter, a: Variable, ax: number, d: string, rn: string, first: number, nb: number, name: string, fail: string): string {
  const A = w.name(a);
  const ra = ndimOf(a);
  const dt = dtypeOf(a);
  const lines: string[] = [`{ const ${ctype(dt)} *ap = ${A}; const int64_t d = ${d}; (void)d;`];
  for (let b = 0; b < nb; b++) {
    const i = b - (nb - ra);
    lines.push(`  const int64_t st${b} = ${i < 0 ? "0" : `${A}_n[${i}] == 1 ? 0 : ${A}_s[${i}]`};`);
  }
  for (let b = 0; b < nb; b++) lines.push(`  for (int64_t c${b} = 0; c${b} < ${rn}[${first + b}]; c${b}++)`);
  const off = [...Array(nb).keys()].map((b) => `c${b} * st${b}`).join(" + ") || "0";
  const msg = (fmt: string, v: string): string => `{ snprintf(err, ${ERR_LEN}, "${name}: index ${fmt} is out of bounds for axis ${ax} with size %lld", ${v}, (long long)d); ${fail} }`;
  if (dt === "uint64") lines.push(`  { const uint64_t v = ap[${off}]; if (v >= (uint64_t)d) ${msg("%llu", "(unsigned long long)v")} }`);
  else if (dt.startsWith("u")) lines.push(`  { const int64_t v = (int64_t)ap[${off}]; if (v >= d) ${msg("%lld", "(long long)v")} }`);
  else lines.push(`  { const int64_t v = (int64_t)ap[${off}]; if (v < -d || v >= d) ${msg("%lld", "(long long)v")} }`);
  lines.push(`}`);
  return lines.join("\n");
}

/** The element update of a scatter: `d` gets `s` (set) or `d + s` (inc: integers wrap, booleans or). */
function update(mode: "set" | "inc", dt: DType, d: string, s: string): string {
  if (mode === "set") return `${d} = ${s};`;
  if (dt === "bool") return `${d} = (uint8_t)((${d} != 0) | (${s} != 0));`;
  if (dt === "float32" || dt === "float64") return `${d} = ${d} + ${s};`;
  // signed overflow is undefined in C: add in unsigned arithmetic, which wraps as typed arrays do
  const u = dt === "int64" || dt === "uint64" ? "uint64_t" : "uint32_t";
  return `${d} = (${ctype(dt)})((${u})${d} + (${u})${s});`;
}

/**
 * For an in-place scatter over a value computed by this segment and needed by nothing else (not
 * exported, the destroy handler's guarantee for later readers), points that value at this node's
 * output before any kernel runs, so its producer computes straight into it and the scatter
 * finds `o == x` (no copy). Only producers whose kernels read their output pointer when they
 * run: Alloc, Elemwise, and the scatters of this file.
 */
function aliasDestroyed(w: SegmentWriter, node: Apply, x: Variable, k: number): void {
  const op = node.op as IncSubtensor | AdvancedIncSubtensor;
  const seg = w.segment;
  const p = x.owner;
  if (!op.inplace || !seg || !p || !seg.nodes.includes(p) || seg.exports.includes(x) || seg.inputs.includes(x)) return;
  const ok = p.op instanceof Alloc || p.op instanceof Elemwise || ((p.op instanceof IncSubtensor || p.op instanceof AdvancedIncSubtensor) && specOf(p) !== null);
  if (!ok || p.outputs.length !== 1) return;
  w.run.unshift(`${w.name(x)} = ${w.name(node.outputs[0]!)}; /* node ${k} writes over its input ${sq(x.label)}: computed into the node's output */`);
}

function generate(w: SegmentWriter, node: Apply, k: number): boolean {
  const spec = specOf(node)!;
  const { mode, items } = spec;
  const out = node.outputs[0]!;
  const X = w.name(spec.x);
  const O = w.name(out);
  const nd = ndimOf(spec.x);
  const dt = dtypeOf(spec.x);
  const T = ctype(dt);
  const name = sq(String(node.op));
  const write = mode !== "get";
  // Strides of the array the region lives in: x for a gather, the (contiguous) output for a scatter.
  const TS = write ? `${O}_s` : `${X}_s`;
  const fail = errReturn(k);

  // The region's axes: slices before the arrays' place, the broadcast axes, the other slices.
  const advs = items.flatMap((it, ax) => (it.kind === "adv" || it.kind === "mask" ? [{ v: it.v, ax }] : []));
  // a boolean mask (alone, see specOf): one region axis, as long as its count of true values
  const mask = items.some((it) => it.kind === "mask") ? advs[0]! : null;
  const advPos = advs.map((a) => a.ax);
  const adjacent = advPos.every((p, i) => i === 0 || p === advPos[i - 1]! + 1);
  const at = advs.length > 0 && adjacent ? advPos[0]! : 0;
  const nb = mask ? 1 : advs.length > 0 ? Math.max(...advs.map((a) => ndimOf(a.v))) : 0;
  const sliceAxes = items.flatMap((it, ax) => (it.kind === "slice" ? [ax] : []));
  const before = advs.length > 0 ? sliceAxes.filter((ax) => ax < at) : sliceAxes;
  const after = advs.length > 0 ? sliceAxes.filter((ax) => ax >= at) : [];
  const dims: Array<{ ax: number } | { b: number }> = [...before.map((ax) => ({ ax })), ...[...Array(nb).keys()].map((b) => ({ b })), ...after.map((ax) => ({ ax }))];
  const R = dims.length;
  const nBefore = before.length;
  const regionOf = new Map(dims.flatMap((d, r) => ("ax" in d ? [[d.ax, r] as const] : [])));
  const J = advs.length;
  w.field("int64_t", `${O}_tb`);
  w.field("int64_t", `${O}_rn[${Math.max(1, R)}]`);
  w.field("int64_t", `${O}_rx[${Math.max(1, R)}]`);
  if (J > 0) {
    w.field("int64_t", `${O}_ad[${J}]`);
    w.field("int64_t", `${O}_as[${J}]`);
  }
  // Index arrays this segment computes are checked in the kernel: their values do not exist yet.
  const seg = w.segment;
  const early = (v: Variable): boolean => !seg || !v.owner || !seg.nodes.includes(v.owner);
  const lateMask = mask !== null && !early(mask.v);
  // perform's check of the mask's shape, and NumPy's nonzero count of it: the region's length
  const maskCheck = (m: { v: Variable; ax: number }): string => {
    const M = w.name(m.v);
    const km = ndimOf(m.v);
    const bad = [...Array(km).keys()].map((i) => `${M}_n[${i}] != ${X}_n[${m.ax + i}]`).join(" || ");
    return [
      `  if (${bad}) { char sm[96], sd[96], sx[96]; size_t smk = 0, sdk = 0, sxk = 0; ${jsShape("sm", km, `${M}_n`)} ${jsShape("sd", km, `(${X}_n + ${m.ax})`)} ${jsShape("sx", nd, `${X}_n`)}`,
      `    snprintf(err, ${ERR_LEN}, "${name}: a boolean index of shape %s does not match the indexed dimensions %s of shape %s at axis ${m.ax}", sm, sd, sx); ${fail} }`,
    ].join("\n");
  };
  const maskCount = (m: { v: Variable; ax: number }): string => {
    const M = w.name(m.v);
    const km = ndimOf(m.v);
    const loops = [...Array(km).keys()].map((i) => `for (int64_t m${i} = 0; m${i} < ${M}_n[${i}]; m${i}++) `).join("");
    const off = [...Array(km).keys()].map((i) => `m${i} * ${M}_s[${i}]`).join(" + ");
    return `  { int64_t cnt = 0; ${loops}cnt += ${M}[${off}] != 0; ${O}_rn[${nBefore}] = cnt; ${O}_rx[${nBefore}] = 0; }`;
  };

  // ---- shape phase
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, `  int64_t tb = 0; (void)tb;`];
  // the symbolic indices and bounds, evaluated (or recomputed from Shape_i) before anything else
  const values = new Map<Variable, string>();
  const memo = new Map<Variable, string>();
  for (const it of items) {
    const vs = it.kind === "int" ? [it.v] : it.kind === "slice" ? [it.start, it.stop, it.step] : [];
    for (const v of vs) {
      if (v === null || typeof v === "number" || values.has(v)) continue;
      const lines: string[] = [];
      const e = shapePhaseValue(w, v, lines, memo);
      if (e === null) throw new Error(`internal: ${String(node.op)}: an index or bound is not known in the shape phase`);
      sh.push(...lines.map((l) => `  ${l}`));
      values.set(v, e);
    }
  }
  if (write) {
    for (let i = 0; i < nd; i++) sh.push(`  ${O}_n[${i}] = ${X}_n[${i}];`);
    sh.push(`  ${contiguousStrides(O, nd, k, name)}`);
  }
  items.forEach((it, ax) => {
    const n = `${X}_n[${ax}]`;
    if (it.kind === "int") {
      // NDArray.slice's message (Subtensor.view, IncSubtensor's perform)
      sh.push(
        `  { const int64_t n = ${n}, i0 = ${boundExpr(values, it.v)}; const int64_t i = i0 < 0 ? i0 + n : i0; if (i < 0 || i >= n) { snprintf(err, ${ERR_LEN}, "index %lld is out of bounds for axis ${ax} with size %lld", (long long)i0, (long long)n); ${fail} } tb += i * ${TS}[${ax}]; }`,
      );
    } else if (it.kind === "slice") {
      // Python's slice.indices (ndarray.ts sliceIndices), for either sign of a symbolic step
      const r = regionOf.get(ax)!;
      const clamp = (b: Bound, dflt: string, lo: string, hi: string): string =>
        b === null ? dflt : `({ int64_t v = ${boundExpr(values, b)}; if (v < 0) v += n; v < ${lo} ? ${lo} : v > ${hi} ? ${hi} : v; })`;
      sh.push(
        [
          `  { const int64_t n = ${n}, st = ${it.step === null ? "1" : boundExpr(values, it.step)}; int64_t lo, hi, len;`,
          `    if (st == 0) { snprintf(err, ${ERR_LEN}, "slice step must be a non-zero integer, got 0"); ${fail} }`,
          `    if (st > 0) { lo = ${clamp(it.start, "0", "0", "n")}; hi = ${clamp(it.stop, "n", "0", "n")}; len = hi > lo ? (hi - lo - 1) / st + 1 : 0; }`,
          `    else { lo = ${clamp(it.start, "n - 1", "-1", "n - 1")}; hi = ${clamp(it.stop, "-1", "-1", "n - 1")}; len = lo > hi ? (int64_t)(((uint64_t)(lo - hi) - 1) / (0 - (uint64_t)st)) + 1 : 0; }`,
          `    ${O}_rn[${r}] = len; ${O}_rx[${r}] = len > 1 ? ${TS}[${ax}] * st : 0; if (len > 0) tb += lo * ${TS}[${ax}]; }`,
        ].join("\n"),
      );
    } else if (it.kind === "adv") {
      const j = advs.findIndex((a) => a.ax === ax);
      sh.push(`  ${O}_ad[${j}] = ${n}; ${O}_as[${j}] = ${TS}[${ax}];`);
    }
  });
  // a mask this segment computes is counted in the kernel; until then its axis has length 0
  if (mask) sh.push(maskCheck(mask), lateMask ? `  ${O}_rn[${nBefore}] = 0; ${O}_rx[${nBefore}] = 0;` : maskCount(mask));
  else if (J > 0) {
    // NumPy's broadcasting of the index arrays (advancedPlan: broadcastShapes)
    const shapes = advs.map((a) => `${jsShape("sb", ndimOf(a.v), `${w.name(a.v)}_n`)}`).join(` ${"if (sbk < sizeof sb) sbk += (size_t)snprintf(sb + sbk, sizeof sb - sbk, \" \");"} `);
    sh.push(`  { int64_t bn[${Math.max(1, nb)}]; int bad = 0; for (int b = 0; b < ${nb}; b++) bn[b] = 1;`);
    for (const a of advs) {
      const A = w.name(a.v);
      const ra = ndimOf(a.v);
      for (let i = 0; i < ra; i++) sh.push(`    { const int64_t d = ${A}_n[${i}]; int64_t *b = &bn[${nb - ra + i}]; if (d != 1) { if (*b == 1) *b = d; else if (*b != d) bad = 1; } }`);
    }
    sh.push(`    if (bad) { char sb[320]; size_t sbk = 0; ${shapes} snprintf(err, ${ERR_LEN}, "${name}: shape mismatch: indexing arrays could not be broadcast together with shapes %s", sb); ${fail} }`);
    for (let b = 0; b < nb; b++) sh.push(`    ${O}_rn[${nBefore + b}] = bn[${b}]; ${O}_rx[${nBefore + b}] = 0;`);
    sh.push(`  }`);
  }
  // every index, once the region's size is known to be addressable (perform lists its offsets)
  const checks = mask ? [] : advs.flatMap((a, j) => (early(a.v) ? [indexChecks(w, a.v, a.ax, `${O}_ad[${j}]`, `${O}_rn`, nBefore, nb, name, fail)] : []));
  if (write) {
    // the region is never allocated, but perform lists its offsets: past 2**53 elements both fail
    if (R > 0) sh.push(`  if (th_too_large(${R}, ${O}_rn)) { snprintf(err, ${ERR_LEN}, "${name}: the indexed region is too large: more than 2**53 - 1 elements"); ${fail} }`);
    sh.push(...checks);
    // y broadcast to the region (broadcastValue)
    const Y = w.name(spec.y!);
    const yd = ndimOf(spec.y!);
    const conds = [...Array(yd).keys()].filter((i) => !(lateMask && R - yd + i === nBefore)).map((i) => `(${Y}_n[${i}] != ${O}_rn[${R - yd + i}] && ${Y}_n[${i}] != 1)`);
    if (conds.length > 0) {
      sh.push(
        `  if (${conds.join(" || ")}) { char sa[160], sr[160]; size_t sak = 0, srk = 0; ${jsShape("sa", yd, `${Y}_n`)} ${jsShape("sr", R, `${O}_rn`)} snprintf(err, ${ERR_LEN}, "${name}: could not broadcast a value of shape %s to shape %s", sa, sr); ${fail} }`,
      );
    }
  } else {
    for (let r = 0; r < R; r++) sh.push(`  ${O}_n[${r}] = ${O}_rn[${r}];`);
    sh.push(`  ${contiguousStrides(O, R, k, name)}`, ...checks);
  }
  sh.push(`  ${O}_tb = tb;`, `}`);
  w.shape.push(sh.join("\n"));

  // ---- kernel
  const kfail = `{ rcode = ${k + 1}; goto kerr; }`;
  const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  if (!mask) for (const [j, a] of advs.entries()) if (!early(a.v)) r.push(indexChecks(w, a.v, a.ax, `${O}_ad[${j}]`, `${O}_rn`, nBefore, nb, name, kfail));
  if (lateMask) {
    r.push(maskCount(mask));
    const Y = w.name(spec.y!);
    const yd = ndimOf(spec.y!);
    const i = nBefore - (R - yd);
    if (i >= 0) {
      r.push(
        `  if (${Y}_n[${i}] != ${O}_rn[${nBefore}] && ${Y}_n[${i}] != 1) { char sa[160], sr[160]; size_t sak = 0, srk = 0; ${jsShape("sa", yd, `${Y}_n`)} ${jsShape("sr", R, `${O}_rn`)} snprintf(err, ${ERR_LEN}, "${name}: could not broadcast a value of shape %s to shape %s", sa, sr); ${kfail} }`,
      );
    }
  }
  r.push(`  const ${T} *xp = ${X}; ${T} *op = ${O}; (void)xp;`);
  advs.forEach((a, j) => {
    const A = w.name(a.v);
    const ra = ndimOf(a.v);
    r.push(`  const ${ctype(dtypeOf(a.v))} *A${j} = ${A}; int64_t as${j}[${Math.max(1, ra)}]; for (int i = 0; i < ${ra}; i++) as${j}[i] = ${A}_s[i];`);
  });
  const yd = spec.y ? ndimOf(spec.y) : 0;
  const Y = spec.y ? w.name(spec.y) : "";
  if (write) {
    r.push(`  const ${T} *yp = ${Y}; int64_t ys[${Math.max(1, yd)}]; for (int i = 0; i < ${yd}; i++) ys[i] = ${Y}_s[i];`);
    // Operands in the memory being written (x's own, when in place) are read from copies, made
    // before anything is written: one scratch allocation for all of them.
    const ops = [
      { p: "yp", n: `${Y}_n`, s: "ys", nd: yd, es: `sizeof(${T})`, t: T },
      ...advs.map((a, j) => ({ p: `A${j}`, n: `${w.name(a.v)}_n`, s: `as${j}`, nd: ndimOf(a.v), es: `sizeof(*A${j})`, t: ctype(dtypeOf(a.v)) })),
    ];
    r.push(`  { const int64_t ob = th_size(${nd}, ${O}_n) * (int64_t)sizeof(${T}); int64_t need = 0;`);
    ops.forEach((o, i) => r.push(`    const int64_t c${i} = th_overlaps(${o.p}, ${o.nd}, ${o.n}, ${o.s}, ${o.es}, op, ob) ? ((th_size(${o.nd}, ${o.n}) * (int64_t)${o.es} + 63) & ~(int64_t)63) : 0; need += c${i};`));
    r.push(`    if (need > 0) { char *sc = (char *)th_alloc(need); if (!sc) goto oom; tmp[ntmp++] = sc;`);
    ops.forEach((o, i) => {
      r.push(`      if (c${i} > 0) { th_copy_strided(${o.es}, ${o.nd}, ${o.n}, ${o.s}, ${o.p}, sc); ${o.p} = (const ${o.t} *)sc; sc += c${i}; { int64_t m = 1; for (int q = ${o.nd} - 1; q >= 0; q--) { ${o.s}[q] = m; m *= ${o.n}[q]; } } }`);
    });
    r.push(`    }`, `  }`);
    // x copied into the output unless the output is x's own memory (in place)
    r.push(`  if ((const void *)op != (const void *)xp && th_size(${nd}, ${X}_n) > 0) { if (th_contiguous(${nd}, ${X}_n, ${X}_s)) memcpy(op, xp, (size_t)th_size(${nd}, ${X}_n) * sizeof(${T})); else th_copy_strided(sizeof(${T}), ${nd}, ${X}_n, ${X}_s, xp, op); }`);
  }
  // loop constants
  r.push(`  const int64_t tb = ${O}_tb; (void)tb;`);
  for (let q = 0; q < R; q++) r.push(`  const int64_t n${q} = ${O}_rn[${q}], x${q} = ${O}_rx[${q}]; (void)x${q};`);
  advs.forEach((a, j) => {
    const A = w.name(a.v);
    const ra = ndimOf(a.v);
    if (mask) {
      for (let i = 0; i < ra; i++) r.push(`  const int64_t mk${i} = ${TS}[${a.ax + i}];`);
      return;
    }
    r.push(`  const int64_t ad${j} = ${O}_ad[${j}], am${j} = ${O}_as[${j}]; (void)ad${j};`);
    for (let b = 0; b < nb; b++) {
      const i = b - (nb - ra);
      if (i >= 0) r.push(`  const int64_t ab${j}_${b} = ${A}_n[${i}] == 1 ? 0 : as${j}[${i}];`);
    }
  });
  const yAxis = (q: number): number => q - (R - yd);
  if (write) for (let q = 0; q < R; q++) if (yAxis(q) >= 0) r.push(`  const int64_t y${q} = ${Y}_n[${yAxis(q)}] == 1 ? 0 : ys[${yAxis(q)}];`);

  // the loop nest over the region, C order
  const body: string[] = [];
  let ind = "  ";
  let tCur = "tb";
  let qCur = "";
  let uCur = "0";
  const aCur = advs.map(() => "0");
  const advPoint = (): void => {
    const terms = advs.map((a, j) => {
      const dtj = dtypeOf(a.v);
      body.push(`${ind}int64_t w${j} = (int64_t)A${j}[${aCur[j]}];${dtj.startsWith("u") ? "" : ` if (w${j} < 0) w${j} += ad${j};`}`);
      return `w${j} * am${j}`;
    });
    body.push(`${ind}const int64_t tA = ${tCur} + ${terms.join(" + ")};`);
    tCur = "tA";
  };
  const elem = (t: string, q: string, u: string): string => (write ? update(mode as "set" | "inc", dt, `op[${t}]`, `yp[${u}]`) : `op[${q}] = xp[${t}];`);
  // closing braces per opened region axis (a mask's axis opens one loop per mask dimension)
  const closers: number[] = [];
  // 0-d index arrays select one position, the same for the whole region
  if (J > 0 && nb === 0 && !mask) advPoint();
  for (let q = 0; q < R; q++) {
    const d = dims[q]!;
    const isSlice = "ax" in d;
    const last = q === R - 1;
    if (last && isSlice) {
      // innermost slice axis: unit strides get a plain loop (memcpy for a gather)
      const t = `${tCur}`;
      const qb = qCur === "" ? "0" : `(${qCur}) * n${q}`;
      const yq = write && yAxis(q) >= 0 ? `y${q}` : "0";
      body.push(`${ind}if (n${q} > 0) {`);
      if (!write) {
        body.push(`${ind}  if (x${q} == 1) memcpy(op + ${qb}, xp + ${t}, (size_t)n${q} * sizeof(${T}));`);
        body.push(`${ind}  else for (int64_t i${q} = 0; i${q} < n${q}; i${q}++) op[${qb} + i${q}] = xp[${t} + i${q} * x${q}];`);
      } else {
        const m = mode as "set" | "inc";
        body.push(`${ind}  ${T} *restrict dp = op + ${t}; const ${T} *restrict sp = yp + ${uCur};`);
        if (yq !== "0") body.push(`${ind}  if (x${q} == 1 && ${yq} == 1) { for (int64_t i = 0; i < n${q}; i++) ${update(m, dt, "dp[i]", "sp[i]")} }`);
        body.push(`${ind}  ${yq !== "0" ? "else " : ""}if (x${q} == 1 && ${yq} == 0) { const ${T} sv = sp[0]; for (int64_t i = 0; i < n${q}; i++) ${update(m, dt, "dp[i]", "sv")} }`);
        body.push(`${ind}  else for (int64_t i = 0; i < n${q}; i++) ${update(m, dt, `dp[i * x${q}]`, `sp[i * ${yq}]`)}`);
      }
      body.push(`${ind}}`);
      tCur = "";
      break;
    }
    if (mask && !isSlice) {
      // the positions of the mask's true values, in C order, counted into i<q>
      const km = ndimOf(mask.v);
      body.push(`${ind}int64_t cnt${q} = 0;`);
      for (let i = 0; i < km; i++) {
        body.push(`${ind}for (int64_t m${i} = 0; m${i} < ${w.name(mask.v)}_n[${i}]; m${i}++) {`);
        ind += "  ";
      }
      closers.push(km);
      body.push(`${ind}if (!A0[${[...Array(km).keys()].map((i) => `m${i} * as0[${i}]`).join(" + ")}]) continue;`);
      body.push(`${ind}const int64_t i${q} = cnt${q}++;`);
      body.push(`${ind}const int64_t tA = ${tCur} + ${[...Array(km).keys()].map((i) => `m${i} * mk${i}`).join(" + ")};`);
      tCur = "tA";
    } else {
      body.push(`${ind}for (int64_t i${q} = 0; i${q} < n${q}; i${q}++) {`);
      ind += "  ";
      closers.push(1);
    }
    if (isSlice) {
      body.push(`${ind}const int64_t t${q} = ${tCur} + i${q} * x${q};`);
      tCur = `t${q}`;
    } else if (!mask) {
      const b = d.b;
      advs.forEach((a, j) => {
        if (b - (nb - ndimOf(a.v)) < 0) return;
        body.push(`${ind}const int64_t a${j}_${q} = ${aCur[j]} + i${q} * ab${j}_${b};`);
        aCur[j] = `a${j}_${q}`;
      });
    }
    if (!write) {
      body.push(`${ind}const int64_t q${q} = ${qCur === "" ? "" : `(${qCur}) * n${q} + `}i${q};`);
      qCur = `q${q}`;
    } else if (yAxis(q) >= 0) {
      body.push(`${ind}const int64_t u${q} = ${uCur} + i${q} * y${q};`);
      uCur = `u${q}`;
    }
    if (!isSlice && !mask && d.b === nb - 1) advPoint();
  }
  if (tCur !== "") body.push(`${ind}${elem(tCur, qCur === "" ? "0" : qCur, uCur)}`);
  for (const c of closers.reverse()) {
    for (let i = 0; i < c; i++) {
      ind = ind.slice(2);
      body.push(`${ind}}`);
    }
  }
  r.push(`  {`, ...body.map((l) => `  ${l}`), `  }`);
  r.push(`}`);
  w.run.push(r.join("\n"));
  if (write) aliasDestroyed(w, node, spec.x, k);
  return false;
}

/** The gathers and scatters of the indexing family (integer index arrays, or one boolean mask). */
export const subtensorGenerator = {
  matches: (node: Apply): boolean => specOf(node) !== null,
  generate,
};

registerCGenerator(subtensorGenerator);
