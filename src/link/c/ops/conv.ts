/**
 * C generators for 2-d convolution and pooling (src/tensor/conv.ts), so a CNN's training step
 * runs in C segments instead of `perform` on the host between them (issue 15.1).
 *
 * Convolution is im2col + GEMM, as Theano's CorrMM (`tensor/nnet/corr.py`, `corr_gemm.c`): per
 * image, the patches of the (zero-padded, strided, dilated) input are unrolled into a temporary
 * matrix `col` of (C·KH·KW) rows by (OH·OW) columns, whose rows follow the filters' memory order
 * (the filter flip is a permutation of those rows, free); then
 *   Conv2d            out[b]  = W · col[b]                   (O × OH·OW, written in place: NCHW)
 *   Conv2dGradInputs  col[b]  = Wᵀ · gz[b], scattered back into gx[b] (col2im)
 *   Conv2dGradWeights gW     += gz[b] · col[b]ᵀ              (summed over the batch)
 * with the module's built-in GEMM (gemm.ts, or the system BLAS behind it). Images go to OpenMP
 * threads, each with its own `col` (and, for the weights' gradient, its own partial sum, added in
 * thread order afterwards) when the batch is big enough; a batch of a few big images runs image
 * by image instead, and the GEMM spreads each product over the threads itself (no nested teams).
 *
 * Pooling (Pool, MaxPoolGrad, MaxPoolGradGrad, AveragePoolGrad) is a direct loop over (plane,
 * window) pairs with perform's window geometry, planes on OpenMP threads; sums and averages
 * accumulate in double as perform does. Leading axes of any rank and any input strides are read
 * in place (no copies).
 *
 * Every size check of the ops' `perform` happens in the segment's shape phase with the same
 * message, before any kernel runs, and a few more that perform leaves to a RangeError (negative
 * sizes). The size scalars of the gradient ops (input rows/cols, kernel rows/cols) must be known
 * in the shape phase: constants, graph inputs, Shape_i, or integer Elemwise arithmetic over those
 * (the shapes the ShapeFeature computes), which is evaluated there; other nodes stay on the host.
 * float32 and float64 only (other dtypes stay on the host).
 */

import type { Apply, Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { AveragePoolGrad, Conv2d, Conv2dGradInputs, Conv2dGradWeights, MaxPoolGrad, MaxPoolGradGrad, Pool } from "../../../tensor/conv.js";
import { TensorType } from "../../../tensor/type.js";
import { ERR_LEN, type SegmentWriter, contiguousStrides, ctype, errReturn, registerCGenerator, registerRuntimeLibrary, sq } from "../codegen.js";
import { shapeComputable, shapePhaseValue } from "./shape.js";

type ConvOp = Conv2d | Conv2dGradInputs | Conv2dGradWeights;
type PoolOp = Pool | MaxPoolGrad | MaxPoolGradGrad | AveragePoolGrad;

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;
const isF = (d: DType): boolean => d === "float32" || d === "float64";
/** The op's integer parameters are rendered as C literals: keep them far from any overflow. */
const small = (xs: readonly number[]): boolean => xs.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 31);
/** Largest size a scalar size input may have (sizes travel as doubles, exact to 2^53). */
const MAX_SIZE = "9007199254740991LL";
/** MACs of a convolution below which its images are not worth threads (about one elementwise op's cost per element). */
const MACS_PER_ELEMENT = 16;
/** Bytes of im2col matrices the threads of one convolution may hold together (one each). */
const COL_BUDGET = 256 * 2 ** 20;
/** Output pixels of the images that share one GEMM (a group: at least one image). */
const IMAGE_COLUMNS = 512;
/** Per-image GEMM size (m·n·k) from which gemm.ts threads one product itself (its TH_GEMM_OMP_MIN). */
const GEMM_OMP_MIN = 2_000_000;

/** `a / b` rounded down (C divides towards zero), for b > 0. */
const fdiv = (a: string, b: string): string => `((${a}) >= 0 ? (${a}) / (${b}) : -((-(${a}) + (${b}) - 1) / (${b})))`;

/** A piece of an error message: text, one int64 value (`{ v }`), or a shape "[a, b]" of C expressions. */
type MsgPart = string | { readonly v: string } | readonly string[];
const dimsOf = (n: string, nd: number): string[] => [...Array(nd).keys()].map((i) => `${n}_n[${i}]`);

/** The statement that writes node `k`'s error message (perform's wording) and ends the shape phase. */
function fail(k: number, parts: readonly MsgPart[]): string {
  let fmt = "";
  const args: string[] = [];
  for (const p of parts) {
    if (typeof p === "string") fmt += sq(p);
    else if ("v" in p) {
      fmt += "%lld";
      args.push(`(long long)(${p.v})`);
    } else {
      fmt += `[${p.map(() => "%lld").join(", ")}]`;
      args.push(...p.map((d) => `(long long)(${d})`));
    }
  }
  return `{ snprintf(err, ${ERR_LEN}, "${fmt}"${args.map((a) => `, ${a}`).join("")}); ${errReturn(k)} }`;
}

// ---------------------------------------------------------------------------------------------
// Size scalars in the shape phase

/**
 * Reads the size scalars `vars` into int64 locals `names` in the shape phase, rejecting values
 * past 2^53 (perform's sizes are doubles; no size arithmetic after this can overflow).
 */
function readSizes(w: SegmentWriter, k: number, op: string, vars: readonly Variable[], names: readonly string[], what: readonly string[]): string[] {
  const lines: string[] = [];
  const memo = new Map<Variable, string>();
  vars.forEach((v, i) => {
    const e = shapePhaseValue(w, v, lines, memo);
    if (e === null) throw new Error(`internal: ${op}: the ${what[i]} are not known in the shape phase`);
    lines.push(`const int64_t ${names[i]} = (int64_t)(${e});`);
    lines.push(`if (${names[i]} > ${MAX_SIZE} || ${names[i]} < -${MAX_SIZE}) ${fail(k, [`${op}: the ${what[i]} `, { v: names[i]! }, " are out of range"])}`);
  });
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Convolution

/** The C expression of the padding along one axis, given the dilated kernel size `dk` (>= 1 in kernels). */
function padC(op: ConvOp, a: 0 | 1, dk: string, double: boolean): string {
  const bm = op.borderMode;
  if (bm === "valid") return "0";
  if (bm === "full") return `(${dk} - 1)`;
  if (bm === "half") return double ? `floor(${dk} / 2)` : `(${dk} / 2)`;
  return String(bm[a]);
}

/**
 * Shape-phase code of `convOutputSize` along axis `a` (perform's check and message, in doubles
 * as perform computes them): sets int64 `out` from input size `size` and kernel size `kern`.
 */
function convAxis(op: ConvOp, k: number, a: 0 | 1, size: string, kern: string, out: string): string {
  const st = op.subsample[a];
  const dil = op.filterDilation[a];
  const dk = `dk${a}`;
  const pad = `pd${a}`;
  return [
    `int64_t ${out}; { const double ${dk} = ((double)${kern} - 1) * ${dil} + 1, ${pad} = ${padC(op, a, dk, true)};`,
    `  if (${kern} < 1 || (double)${size} + 2 * ${pad} < ${dk}) { char pb[64] = ""; if (${pad} != 0) snprintf(pb, sizeof pb, " padded by %.0f", ${pad});`,
    `    snprintf(err, ${ERR_LEN}, "conv2d: a kernel of %lld (dilated to %.0f) does not fit an input of %lld%s on spatial axis ${a}", (long long)${kern}, ${dk}, (long long)${size}, pb); ${errReturn(k)} }`,
    `  ${out} = (int64_t)floor(((double)${size} + 2 * ${pad} - ${dk}) / ${st}) + 1; }`,
  ].join("\n");
}

/** Geometry locals of a kernel: sizes from the operands' shapes, paddings from the kernel sizes. */
function convLocals(op: ConvOp, g: { B: string; C: string; H: string; W: string; O: string; KH: string; KW: string; OH: string; OW: string }): string {
  const [sh, sw] = op.subsample;
  const [dh, dw] = op.filterDilation;
  return [
    `  const int64_t B = ${g.B}, C = ${g.C}, H = ${g.H}, W = ${g.W}, O = ${g.O}, KH = ${g.KH}, KW = ${g.KW}, OH = ${g.OH}, OW = ${g.OW};`,
    `  const int64_t sh = ${sh}, sw = ${sw}, dh = ${dh}, dw = ${dw};`,
    `  const int64_t ph = ${padC(op, 0, "((KH - 1) * dh + 1)", false)}, pw = ${padC(op, 1, "((KW - 1) * dw + 1)", false)};`,
    `  const int64_t CK = C * KH * KW, OHW = OH * OW; (void)B; (void)C; (void)H; (void)W; (void)O; (void)KH; (void)KW; (void)CK; (void)OHW; (void)sh; (void)sw; (void)dh; (void)dw; (void)ph; (void)pw;`,
  ].join("\n");
}

/**
 * im2col and col2im, once per translation unit and dtype (a guard macro, since a module's pieces
 * may be compiled as one unit or several), shared by every convolution node: the geometry is
 * run-time data, so a graph with five convolutions compiles these loops once, not five times.
 * For each (channel, kernel tap, output row), `row` is the col row of the tap in the filters'
 * memory order (flipped taps for a convolution), `iy` the input row, and [ox0, ox1) the output
 * columns whose input column lies inside the image (the rest is zero padding).
 */
function convRuntime(s: string, T: string): string {
  const taps = (inside: string, outside: string): string => `  const int64_t C = g->C, H = g->H, W = g->W, KH = g->KH, KW = g->KW, OH = g->OH, OW = g->OW;
  const int64_t sh = g->sh, sw = g->sw, dh = g->dh, dw = g->dw, ph = g->ph, pw = g->pw;
  for (int64_t c = 0; c < C; c++) for (int64_t i = 0; i < KH; i++) for (int64_t j = 0; j < KW; j++) {
    ${T} *row = col + ((c * KH + (g->flip ? KH - 1 - i : i)) * KW + (g->flip ? KW - 1 - j : j)) * ld;
    const int64_t jo = j * dw - pw; /* input column of output column ox: ox * sw + jo */
    int64_t ox1 = W - jo <= 0 ? 0 : (W - jo - 1) / sw + 1; if (ox1 > OW) ox1 = OW;
    int64_t ox0 = jo >= 0 ? 0 : (-jo + sw - 1) / sw; if (ox0 > ox1) ox0 = ox1;
    for (int64_t oy = 0; oy < OH; oy++) {
      ${T} *r = row + oy * OW; const int64_t iy = oy * sh + i * dh - ph;
      if (iy < 0 || iy >= H) { ${outside} continue; }
      ${inside}
    }
  }`;
  return `#ifndef TH_IM2COL3_${s}
#define TH_IM2COL3_${s}
/* the patches of one image (strides xs1..xs3) as a (C*KH*KW) x (OH*OW) matrix of row stride ld
   (ld > OH*OW: the image's columns in a group of images' matrix) */
TH_CONV_FN void th_im2col_${s}(const th_conv_geom *g, const ${T} *xb, int64_t xs1, int64_t xs2, int64_t xs3, ${T} *restrict col, int64_t ld) {
${taps(`const ${T} *xr = xb + c * xs1 + iy * xs2;
      for (int64_t ox = 0; ox < ox0; ox++) r[ox] = 0;
      if (sw == 1 && xs3 == 1) for (int64_t ox = ox0; ox < ox1; ox++) r[ox] = xr[ox + jo];
      else for (int64_t ox = ox0; ox < ox1; ox++) r[ox] = xr[(ox * sw + jo) * xs3];
      for (int64_t ox = ox1; ox < OW; ox++) r[ox] = 0;`, `for (int64_t ox = 0; ox < OW; ox++) r[ox] = 0;`)}
}
/* the adjoint: the col matrix (row stride ld) added into one contiguous image gradient */
TH_CONV_FN void th_col2im_${s}(const th_conv_geom *g, ${T} *col, int64_t ld, ${T} *restrict gb) {
${taps(`${T} *gr = gb + (c * H + iy) * W; for (int64_t ox = ox0; ox < ox1; ox++) gr[ox * sw + jo] += r[ox];`, "")}
}
/* the transposed patches of one image, (OH*OW) x (C*KH*KW): row p is output pixel p's patch in the
   filters' memory order (the weights' gradient reads it as a row-major operand, in place) */
TH_CONV_FN void th_im2row_${s}(const th_conv_geom *g, const ${T} *xb, int64_t xs1, int64_t xs2, int64_t xs3, ${T} *restrict out) {
  const int64_t C = g->C, H = g->H, W = g->W, KH = g->KH, KW = g->KW, OH = g->OH, OW = g->OW, CK = C * KH * KW;
  const int64_t sh = g->sh, sw = g->sw, dh = g->dh, dw = g->dw, ph = g->ph, pw = g->pw;
  for (int64_t c = 0; c < C; c++) for (int64_t i = 0; i < KH; i++) for (int64_t j = 0; j < KW; j++) {
    ${T} *dq = out + (c * KH + (g->flip ? KH - 1 - i : i)) * KW + (g->flip ? KW - 1 - j : j);
    const int64_t jo = j * dw - pw; /* input column of output column ox: ox * sw + jo */
    int64_t ox1 = W - jo <= 0 ? 0 : (W - jo - 1) / sw + 1; if (ox1 > OW) ox1 = OW;
    int64_t ox0 = jo >= 0 ? 0 : (-jo + sw - 1) / sw; if (ox0 > ox1) ox0 = ox1;
    for (int64_t oy = 0; oy < OH; oy++) {
      ${T} *d = dq + oy * OW * CK; const int64_t iy = oy * sh + i * dh - ph;
      if (iy < 0 || iy >= H) { for (int64_t ox = 0; ox < OW; ox++) d[ox * CK] = 0; continue; }
      const ${T} *xr = xb + c * xs1 + iy * xs2;
      for (int64_t ox = 0; ox < ox0; ox++) d[ox * CK] = 0;
      for (int64_t ox = ox0; ox < ox1; ox++) d[ox * CK] = xr[(ox * sw + jo) * xs3];
      for (int64_t ox = ox1; ox < OW; ox++) d[ox * CK] = 0;
    }
  }
}
#endif`;
}

/**
 * `local` = the operand `n` as a contiguous array: itself, or a copy in `local_c` (GEMM reads the
 * filters and the output gradient as matrices). Sets `fail` when the copy cannot be allocated.
 */
function contiguousOperand(T: string, n: string, nd: number, local: string): string {
  return `const ${T} *${local} = ${n};
    if (!fail && !th_contiguous(${nd}, ${n}_n, ${n}_s)) { ${local}_c = (${T} *)th_alloc((int64_t)sizeof(${T}) * th_size(${nd}, ${n}_n)); if (!${local}_c) fail = 1; else { th_copy_strided(sizeof(${T}), ${nd}, ${n}_n, ${n}_s, ${n}, ${local}_c); ${local} = ${local}_c; } }`;
}

/** The helper's call: in a team of `nth` threads, or directly on this one. */
const teamCall = (call: string): string => [`    if (nth > 1) {`, `#pragma omp parallel num_threads(nth)`, `      ${call}`, `    } else ${call}`].join("\n");

function genConv(w: SegmentWriter, node: Apply, k: number): boolean {
  const op = node.op as ConvOp;
  const name = String(op);
  const o = w.name(node.outputs[0]!);
  const D = dtypeOf(node.outputs[0]!);
  const T = ctype(D);
  const s = D === "float32" ? "f32" : "f64";
  const [a0, a1] = node.inputs.map((v) => w.name(v)) as [string, string];
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  // Shapes, with perform's checks in perform's order.
  let geom: Parameters<typeof convLocals>[1];
  let x = "";
  let wt = "";
  let gz = "";
  const topgrad = (B: string, O: string): string =>
    `  if (${gz}_n[0] != ${B} || ${gz}_n[1] != ${O} || ${gz}_n[2] != oh || ${gz}_n[3] != ow) ${fail(k, [`${name}: the output gradient has shape `, dimsOf(gz, 4), " but the convolution's output has shape ", [B, O, "oh", "ow"]])}`;
  if (op instanceof Conv2d) {
    [x, wt] = [a0, a1];
    sh.push(`  if (${x}_n[1] != ${wt}_n[1]) ${fail(k, [`${name}: the input (shape `, dimsOf(x, 4), ") has ", { v: `${x}_n[1]` }, " channels but the filters (shape ", dimsOf(wt, 4), ") expect ", { v: `${wt}_n[1]` }])}`);
    sh.push(convAxis(op, k, 0, `${x}_n[2]`, `${wt}_n[2]`, "oh"), convAxis(op, k, 1, `${x}_n[3]`, `${wt}_n[3]`, "ow"));
    sh.push(`  ${o}_n[0] = ${x}_n[0]; ${o}_n[1] = ${wt}_n[0]; ${o}_n[2] = oh; ${o}_n[3] = ow;`);
    geom = { B: `${x}_n[0]`, C: `${x}_n[1]`, H: `${x}_n[2]`, W: `${x}_n[3]`, O: `${wt}_n[0]`, KH: `${wt}_n[2]`, KW: `${wt}_n[3]`, OH: `${o}_n[2]`, OW: `${o}_n[3]` };
  } else if (op instanceof Conv2dGradInputs) {
    [wt, gz] = [a0, a1];
    sh.push(...readSizes(w, k, name, node.inputs.slice(2), ["sz0", "sz1"], ["input rows", "input cols"]).map((l) => `  ${l}`));
    // the input's shape: [gz's batch, the filters' channels, sz0, sz1]
    sh.push(convAxis(op, k, 0, "sz0", `${wt}_n[2]`, "oh"), convAxis(op, k, 1, "sz1", `${wt}_n[3]`, "ow"));
    sh.push(topgrad(`${gz}_n[0]`, `${wt}_n[0]`));
    sh.push(`  if (sz0 < 0 || sz1 < 0) ${fail(k, [`${name}: negative input size (`, { v: "sz0" }, ", ", { v: "sz1" }, ")"])}`);
    sh.push(`  ${o}_n[0] = ${gz}_n[0]; ${o}_n[1] = ${wt}_n[1]; ${o}_n[2] = sz0; ${o}_n[3] = sz1;`);
    geom = { B: `${gz}_n[0]`, C: `${wt}_n[1]`, H: `${o}_n[2]`, W: `${o}_n[3]`, O: `${wt}_n[0]`, KH: `${wt}_n[2]`, KW: `${wt}_n[3]`, OH: `${gz}_n[2]`, OW: `${gz}_n[3]` };
  } else {
    [x, gz] = [a0, a1];
    sh.push(...readSizes(w, k, name, node.inputs.slice(2), ["sz0", "sz1"], ["kernel rows", "kernel cols"]).map((l) => `  ${l}`));
    sh.push(convAxis(op, k, 0, `${x}_n[2]`, "sz0", "oh"), convAxis(op, k, 1, `${x}_n[3]`, "sz1", "ow"));
    sh.push(topgrad(`${x}_n[0]`, `${gz}_n[1]`));
    sh.push(`  ${o}_n[0] = ${gz}_n[1]; ${o}_n[1] = ${x}_n[1]; ${o}_n[2] = sz0; ${o}_n[3] = sz1;`);
    geom = { B: `${x}_n[0]`, C: `${x}_n[1]`, H: `${x}_n[2]`, W: `${x}_n[3]`, O: `${gz}_n[1]`, KH: `${o}_n[2]`, KW: `${o}_n[3]`, OH: `${gz}_n[2]`, OW: `${gz}_n[3]` };
  }
  sh.push(`  ${contiguousStrides(o, 4, k, sq(name))}`, `}`);
  w.shape.push(sh.join("\n"));

  // Kernel: a function over one thread's share of the images (an orphaned `omp for`: called in a
  // parallel region it is shared out, called directly it runs whole; see codegen.ts genElemwise).
  // Images are handed out one at a time (a thread the OS preempts holds back no queue of them),
  // except for the weights' gradient, whose per-thread sums need a fixed share for a repeatable
  // result.
  // Temporaries are the node's own (allocated and freed here, whatever happens).
  const fn = `${w.fn}_k${w.helperCount++}`;
  const locals = convLocals(op, geom);
  const xstr = `  const int64_t xs0 = ${x}_s[0], xs1 = ${x}_s[1], xs2 = ${x}_s[2], xs3 = ${x}_s[3];`;
  const geomC = `  const th_conv_geom G = { C, H, W, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw, ${op.filterFlip ? 1 : 0} };`;
  const head = (args: string, what: string): string => `static __attribute__((noinline)) void ${fn}(struct ${w.fn}_st *S, ${T} *colbuf, int64_t colsz, ${args}, int *fail) { /* node ${k}: ${what} */`;
  const gemmFail = [`#pragma omp atomic write`, `      *fail = 1;`];
  const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  r.push(`  ${T} *colbuf = NULL, *wp_c = NULL, *gzp_c = NULL, *parts = NULL; int fail = 0; (void)wp_c; (void)gzp_c; (void)parts;`);
  // An empty batch: the weights' gradient is zero (the others' outputs are empty). Past this,
  // every operand is non-empty, so the products of its sizes below cannot overflow.
  if (op instanceof Conv2dGradWeights) r.push(`  if (${geom.B} == 0) for (int64_t q = 0; q < th_size(4, ${o}_n); q++) ${o}[q] = 0;`);
  r.push(`  if (th_size(4, ${o}_n) > 0 && ${geom.B} > 0) {`, locals);
  // Images go to the GEMM in groups of gnb (IMAGE_COLUMNS output pixels together): one image of
  // a late layer (8x8 pixels) is a product too thin for the GEMM's tiles, and each product packs
  // the filters again. A group's col matrix holds its images side by side (row stride ld =
  // images x OH*OW); its products are gathered from / scattered to NCHW in `tmp`.
  r.push(`    const double macs = (double)O * (double)OHW * (double)CK; const int mt = th_omp_max_threads();`);
  r.push(`    const int64_t gnb = OHW == 0 || OHW >= ${IMAGE_COLUMNS} ? 1 : (B < ${IMAGE_COLUMNS} / OHW ? B : ${IMAGE_COLUMNS} / OHW), NG = (B + gnb - 1) / gnb;`);
  // Threads over the groups when there are enough MACs and either each group's product is too
  // small for the GEMM's own threads or there is a group for every thread.
  r.push(`    int nth = (NG > 1 && (double)B * macs >= ${w.opts.ompMinSize * MACS_PER_ELEMENT}.0 && (macs * (double)gnb < ${GEMM_OMP_MIN}.0 || NG >= mt)) ? (mt < NG ? mt : (int)NG) : 1;`);
  // one col matrix (and tmp) per thread, within COL_BUDGET bytes together (big images: fewer
  // threads, or one group at a time with the GEMM's own threads)
  r.push(`    int64_t colsz = 0, tsz = 0, per = 0, colbytes = 0;`);
  r.push(`    if (__builtin_mul_overflow(CK, gnb * OHW, &colsz) || (gnb > 1 && __builtin_mul_overflow(O, gnb * OHW, &tsz)) || __builtin_add_overflow(colsz, tsz, &per)) fail = 1;`);
  r.push(`    else if (nth > 1 && (double)per * sizeof(${T}) * nth > ${COL_BUDGET}.0) { nth = (int)(${COL_BUDGET}.0 / ((double)per * sizeof(${T}))); if (nth < 1) nth = 1; }`);
  r.push(`    if (!fail && (__builtin_mul_overflow(per, (int64_t)sizeof(${T}) * nth, &colbytes) || !(colbuf = (${T} *)th_alloc(colbytes)))) fail = 1;`);
  const group = [`    const int64_t b0 = g * gnb, nb = B - b0 < gnb ? B - b0 : gnb, ld = nb * OHW;`];
  const thread = `  ${T} *col = colbuf + (int64_t)th_omp_thread_num() * (colsz + tsz), *tmp = col + colsz; (void)tmp;`;
  // gz of the group's images as one O x ld matrix (the image's own when the group is one image)
  const gatherGz = [
    `    const ${T} *gzb = gzp + b0 * O * OHW;`,
    `    if (nb > 1) { for (int64_t j = 0; j < nb; j++) for (int64_t q = 0; q < O; q++) memcpy(tmp + q * ld + j * OHW, gzp + ((b0 + j) * O + q) * OHW, sizeof(${T}) * OHW); gzb = tmp; }`,
  ];
  const im2col = `    for (int64_t j = 0; j < nb; j++) th_im2col_${s}(&G, ${x} + (b0 + j) * xs0, xs1, xs2, xs3, col + j * OHW, ld);`;
  let h: string[];
  if (op instanceof Conv2d) {
    r.push(`    ${contiguousOperand(T, wt, 4, "wp")}`);
    h = [
      head(`const ${T} *wp, int64_t gnb, int64_t NG, int64_t tsz`, "im2col + GEMM per group of images"),
      locals,
      xstr,
      geomC,
      thread,
      `#pragma omp for schedule(dynamic, 1)`,
      `  for (int64_t g = 0; g < NG; g++) {`,
      ...group,
      im2col,
      `    ${T} *ob = nb > 1 ? tmp : ${o} + b0 * O * OHW;`,
      `    if (th_gemm_${s}(O, ld, CK, 1, wp, CK, 1, col, ld, 1, 0, ob)) {`,
      ...gemmFail,
      `      continue;`,
      `    }`,
      `    if (nb > 1) for (int64_t j = 0; j < nb; j++) for (int64_t q = 0; q < O; q++) memcpy(${o} + ((b0 + j) * O + q) * OHW, tmp + q * ld + j * OHW, sizeof(${T}) * OHW);`,
      `  }`,
      `}`,
    ];
    r.push(`    if (!fail) {`, teamCall(`${fn}(S, colbuf, colsz, wp, gnb, NG, tsz, &fail);`), `    }`);
  } else if (op instanceof Conv2dGradInputs) {
    r.push(`    ${contiguousOperand(T, wt, 4, "wp")}`, `    ${contiguousOperand(T, gz, 4, "gzp")}`);
    h = [
      head(`const ${T} *wp, const ${T} *gzp, int64_t gnb, int64_t NG, int64_t tsz`, "GEMM + col2im per group of images"),
      locals,
      geomC,
      thread,
      `#pragma omp for schedule(dynamic, 1)`,
      `  for (int64_t g = 0; g < NG; g++) {`,
      ...group,
      `    for (int64_t q = 0; q < nb * C * H * W; q++) ${o}[b0 * C * H * W + q] = 0;`,
      ...gatherGz,
      `    if (th_gemm_${s}(CK, ld, O, 1, wp, 1, CK, gzb, ld, 1, 0, col)) {`,
      ...gemmFail,
      `      continue;`,
      `    }`,
      `    for (int64_t j = 0; j < nb; j++) th_col2im_${s}(&G, col + j * OHW, ld, ${o} + (b0 + j) * C * H * W);`,
      `  }`,
      `}`,
    ];
    r.push(`    if (!fail) {`, teamCall(`${fn}(S, colbuf, colsz, wp, gzp, gnb, NG, tsz, &fail);`), `    }`);
  } else {
    r.push(`    ${contiguousOperand(T, gz, 4, "gzp")}`);
    // Partial sums per thread (the output itself on one thread), added in thread order.
    r.push(`    const int64_t psz = O * CK; int used = 1; ${T} *acc0 = ${o};`);
    r.push(`    if (!fail && nth > 1 && !(acc0 = parts = (${T} *)th_alloc((int64_t)sizeof(${T}) * psz * nth))) fail = 1;`);
    h = [
      head(`const ${T} *gzp, ${T} *parts, int64_t psz, int *used, int64_t gnb, int64_t NG, int64_t tsz`, "im2row + GEMM per group of images, summed over the batch"),
      locals,
      xstr,
      `  const int th = th_omp_thread_num(), nt = th_omp_num_threads(); if (th == 0) *used = nt;`,
      thread,
      `  ${T} *acc = parts + (int64_t)th * psz;`,
      geomC,
      `  for (int64_t q = 0; q < psz; q++) acc[q] = 0;`,
      `#pragma omp for schedule(static)`,
      `  for (int64_t g = 0; g < NG; g++) {`,
      ...group,
      `    for (int64_t j = 0; j < nb; j++) th_im2row_${s}(&G, ${x} + (b0 + j) * xs0, xs1, xs2, xs3, col + j * OHW * CK);`,
      ...gatherGz,
      `    if (th_gemm_${s}(O, CK, ld, 1, gzb, ld, 1, col, CK, 1, 1, acc)) {`,
      ...gemmFail,
      `    }`,
      `  }`,
      `}`,
    ];
    r.push(`    if (!fail) {`, teamCall(`${fn}(S, colbuf, colsz, gzp, acc0, psz, &used, gnb, NG, tsz, &fail);`));
    r.push(`      if (parts) for (int64_t q = 0; q < psz; q++) { ${T} a = parts[q]; for (int t = 1; t < used; t++) a += parts[(int64_t)t * psz + q]; ${o}[q] = a; }`, `    }`);
  }
  r.push(`  }`, `  free(colbuf); free(wp_c); free(gzp_c); free(parts);`, `  if (fail) goto oom;`, `}`);
  const entry = r.join("\n");
  w.helpers.set(entry, [...(w.opts.runtime ? [] : [convRuntime(s, T)]), ...h].join("\n"));
  w.run.push(entry);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Pooling

/** Shape-phase statement: int64 `out` = the pooled size of `size` along axis `a` (poolOutputSize). */
function poolOutSize(op: PoolOp, a: 0 | 1, size: string, out: string): string {
  const [ws, st, pad] = [op.ws[a], op.stride[a], op.pad[a]];
  if (op.ignoreBorder) return `int64_t ${out} = ${fdiv(`${size} + ${2 * pad} - ${ws}`, String(st))} + 1; if (${out} < 0) ${out} = 0;`;
  if (st >= ws) return `const int64_t ${out} = ${fdiv(`${size} - 1`, String(st))} + 1;`;
  return `int64_t ${out} = ${fdiv(`${size} - 1 - ${ws}`, String(st))} + 1; if (${out} < 0) ${out} = 0; ${out} += 1;`;
}

/**
 * Statements declaring window `idx`'s extent along axis `a` of an input of `size`: real elements
 * [<p>s, <p>e) and the span in padded coordinates <p>n (perform's axisWindows).
 */
function poolWindow(op: PoolOp, a: 0 | 1, idx: string, size: string, p: string): string {
  const [ws, st, pad] = [op.ws[a], op.stride[a], op.pad[a]];
  return `const int64_t ${p}0 = ${idx} * ${st}, ${p}1 = ${p}0 + ${ws} < ${size} + ${2 * pad} ? ${p}0 + ${ws} : ${size} + ${2 * pad};
        const int64_t ${p}s = (${p}0 > ${pad} ? ${p}0 : ${pad}) - ${pad}, ${p}e = (${p}1 < ${size} + ${pad} ? ${p}1 : ${size} + ${pad}) - ${pad}, ${p}n = ${p}1 - ${p}0; (void)${p}n;`;
}

function genPool(w: SegmentWriter, node: Apply, k: number): boolean {
  const op = node.op as PoolOp;
  const name = String(op);
  const out = node.outputs[0]!;
  const o = w.name(out);
  const T = ctype(dtypeOf(out));
  const nd = ndimOf(out);
  const lead = nd - 2;
  const ins = node.inputs.map((v) => w.name(v));
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  // The pooled input's shape (x, or for AveragePoolGrad gz's leading axes and the sizes).
  let inDims: string[];
  if (op instanceof AveragePoolGrad) {
    sh.push(...readSizes(w, k, name, node.inputs.slice(1), ["sz0", "sz1"], ["input rows", "input cols"]).map((l) => `  ${l}`));
    sh.push(`  if (sz0 < 0 || sz1 < 0) ${fail(k, [`${name}: negative input size (`, { v: "sz0" }, ", ", { v: "sz1" }, ")"])}`);
    inDims = [...dimsOf(ins[0]!, nd).slice(0, lead), "sz0", "sz1"];
  } else inDims = dimsOf(ins[0]!, nd);
  const [H, W] = [inDims[lead]!, inDims[lead + 1]!];
  sh.push(`  ${poolOutSize(op, 0, H, "pr")}`, `  ${poolOutSize(op, 1, W, "pc")}`);
  const pooled = [...inDims.slice(0, lead), "pr", "pc"];
  const checkPooled = (v: string, what: string): string => {
    const cond = pooled.map((d, i) => `${v}_n[${i}] != ${d}`).join(" || ");
    return `  if (${cond}) ${fail(k, [`${name}: the ${what} has shape `, dimsOf(v, nd), " but pooling an input of shape ", inDims, " gives ", pooled])}`;
  };
  let outDims: string[];
  if (op instanceof Pool) {
    outDims = pooled;
    if (op.mode === "max") {
      // perform's error for a window that holds only padding, at the first output that has one
      const some = [...inDims.slice(0, lead), "pr", "pc"].map((d) => `${d} > 0`).join(" && ");
      sh.push(`  if (${some}) { int64_t er = -1, ec = -1;`);
      sh.push(`    for (int64_t r = 0; r < pr && er < 0; r++) { ${poolWindow(op, 0, "r", H, "r")} if (re <= rs) er = r; }`);
      sh.push(`    for (int64_t c = 0; c < pc && ec < 0; c++) { ${poolWindow(op, 1, "c", W, "c")} if (ce <= cs) ec = c; }`);
      sh.push(`    if (er >= 0 || ec >= 0) { const int64_t fr = er == 0 || ec >= 0 ? 0 : er, fc = er == 0 ? 0 : ec >= 0 ? ec : 0;`);
      sh.push(`      ${fail(k, [`${name}: output (`, { v: "fr" }, ", ", { v: "fc" }, ") of an input of shape ", inDims, " pools a window that holds only padding"])} } }`);
    }
  } else if (op instanceof MaxPoolGrad) {
    sh.push(checkPooled(ins[1]!, "pooled maximum"), checkPooled(ins[2]!, "output gradient"));
    outDims = inDims;
  } else if (op instanceof MaxPoolGradGrad) {
    sh.push(checkPooled(ins[1]!, "pooled maximum"));
    sh.push(`  if (${inDims.map((d, i) => `${ins[2]}_n[${i}] != ${d}`).join(" || ")}) ${fail(k, [`${name}: the gradient has shape `, dimsOf(ins[2]!, nd), " but the input has ", inDims])}`);
    outDims = pooled;
  } else {
    sh.push(checkPooled(ins[0]!, "output gradient"));
    outDims = inDims;
  }
  outDims.forEach((d, i) => sh.push(`  ${o}_n[${i}] = ${d};`));
  sh.push(`  ${contiguousStrides(o, nd, k, sq(name))}`, `}`);
  w.shape.push(sh.join("\n"));

  // Kernel: planes (the leading axes) on threads, in shrinking chunks (guided: a preempted thread
  // delays the others little); each reads its strided inputs in place.
  const fn = `${w.fn}_k${w.helperCount++}`;
  const s = dtypeOf(out) === "float32" ? "f32" : "f64";
  const kind = poolKind(op);
  const strided = op instanceof AveragePoolGrad ? [0] : [0, 1, 2].slice(0, node.inputs.length);
  const inShape = op instanceof AveragePoolGrad ? `${o}_n` : `${ins[0]}_n`;
  const pooledShape = op instanceof Pool || op instanceof MaxPoolGradGrad ? `${o}_n` : `${ins[op instanceof AveragePoolGrad ? 0 : 1]}_n`;
  const h: string[] = [...(w.opts.runtime ? [] : [poolRuntime(kind, s, T)]), `static __attribute__((noinline)) void ${fn}(struct ${w.fn}_st *S) { /* node ${k}: pooling windows, planes on threads */`];
  const [wr, wc] = op.ws;
  const [sr, sc] = op.stride;
  const [pr, pc] = op.pad;
  h.push(`  const th_pool_geom G = { ${inShape}[${lead}], ${inShape}[${lead + 1}], ${pooledShape}[${lead}], ${pooledShape}[${lead + 1}], ${wr}, ${wc}, ${sr}, ${sc}, ${pr}, ${pc} };`);
  h.push(`  const int64_t planes = th_size(${lead}, ${o}_n), osz = ${kind === "max" || kind === "avg" || kind === "maxgradgrad" ? "G.PR * G.PC" : "G.H * G.W"};`);
  h.push(`#pragma omp for schedule(guided)`);
  h.push(`  for (int64_t p = 0; p < planes; p++) {`);
  h.push(`    int64_t rem = p; ${strided.map((j) => `int64_t off${j} = 0;`).join(" ")} (void)rem;`);
  for (let a = lead - 1; a >= 0; a--) {
    h.push(`    { const int64_t q = rem % ${o}_n[${a}]; rem /= ${o}_n[${a}]; ${strided.map((j) => `off${j} += q * ${ins[j]}_s[${a}];`).join(" ")} }`);
  }
  const args = strided.map((j) => `${ins[j]} + off${j}, ${ins[j]}_s[${lead}], ${ins[j]}_s[${lead + 1}]`);
  const mode = op.mode === "sum" ? 0 : op.mode === "average_inc_pad" ? 1 : 2;
  h.push(`    th_pool_${kind}_${s}(&G, ${args.join(", ")}, ${kind === "avg" || kind === "avggrad" ? `${mode}, ` : ""}${o} + p * osz);`);
  h.push(`  }`, `}`);
  // threads past the elementwise threshold (counting both sides: input and output)
  const big = `th_size(${nd}, ${inShape}) + th_size(${nd}, ${o}_n) >= ${w.opts.ompMinSize} && th_size(${lead}, ${o}_n) > 1`;
  const entry = [`{ /* node ${k}: ${sq(node.toString())} */`, `  if (${big}) {`, `#pragma omp parallel`, `    ${fn}(S);`, `  } else ${fn}(S);`, `}`].join("\n");
  w.helpers.set(entry, h.join("\n"));
  w.run.push(entry);
  return false;
}

type PoolKind = "max" | "avg" | "maxgrad" | "maxgradgrad" | "avggrad";
const poolKind = (op: PoolOp): PoolKind =>
  op instanceof Pool ? (op.mode === "max" ? "max" : "avg") : op instanceof MaxPoolGrad ? "maxgrad" : op instanceof MaxPoolGradGrad ? "maxgradgrad" : "avggrad";

/**
 * The per-plane pooling loops, once per translation unit, kind and dtype (guard macros, as
 * convRuntime), with the window geometry as run-time data (th_pool_geom), so a graph's pooling
 * nodes share one copy of each loop. Windows follow perform's axisWindows: real elements
 * [s, e) and the span n in padded coordinates. Outputs are one contiguous plane.
 */
function poolRuntime(kind: PoolKind, s: string, T: string): string {
  const loops = (body: string): string => `  for (int64_t r = 0; r < g->PR; r++) {
    int64_t rs, re, rn; TH_POOL_WIN(r, g->H, g->wr, g->sr, g->pr, rs, re, rn);
    for (int64_t c = 0; c < g->PC; c++) {
      int64_t cs, ce, cn; TH_POOL_WIN(c, g->W, g->wc, g->sc, g->pc, cs, ce, cn);
      ${body}
    }
  }`;
  const div = `(mode == 1 ? (double)(rn * cn) : mode == 2 ? (double)((re > rs ? re - rs : 0) * (ce > cs ? ce - cs : 0)) : 1.0)`;
  const isMax = `(v == m || (m != m && v != v))`;
  const fn = {
    // the first maximum, or the first NaN (the shape phase proved every window non-empty)
    max: `(const th_pool_geom *g, const ${T} *x, int64_t xr, int64_t xc, ${T} *o) {
  if (TH_POOL_FULL(g)) { th_pool_maxfull_${s}(g, x, xr, xc, o); return; }
${loops(`${T} bv = x[rs * xr + cs * xc];
      for (int64_t i = rs; i < re && bv == bv; i++) for (int64_t j = cs; j < ce; j++) { const ${T} v = x[i * xr + j * xc]; if (v > bv || v != v) { bv = v; if (v != v) break; } }
      o[r * g->PC + c] = bv;`)}`,
    // sums in double, as perform's; mode 0 sum, 1 average_inc_pad, 2 average_exc_pad
    avg: `(const th_pool_geom *g, const ${T} *x, int64_t xr, int64_t xc, int mode, ${T} *o) {
${loops(`double sum = 0; for (int64_t i = rs; i < re; i++) for (int64_t j = cs; j < ce; j++) sum += (double)x[i * xr + j * xc];
      o[r * g->PC + c] = (${T})(sum / ${div});`)}`,
    maxgrad: `(const th_pool_geom *g, const ${T} *x, int64_t xr, int64_t xc, const ${T} *mx, int64_t mr, int64_t mc, const ${T} *gz, int64_t gr, int64_t gc, ${T} *o) {
  if (TH_POOL_FULL(g) && g->sr >= g->wr && g->sc >= g->wc) { th_pool_maxgradfull_${s}(g, x, xr, xc, mx, mr, mc, gz, gr, gc, o); return; }
  for (int64_t q = 0; q < g->H * g->W; q++) o[q] = 0;
${loops(`const ${T} m = mx[r * mr + c * mc], gv = gz[r * gr + c * gc];
      for (int64_t i = rs; i < re; i++) for (int64_t j = cs; j < ce; j++) { const ${T} v = x[i * xr + j * xc]; if ${isMax} o[i * g->W + j] += gv; }`)}`,
    maxgradgrad: `(const th_pool_geom *g, const ${T} *x, int64_t xr, int64_t xc, const ${T} *mx, int64_t mr, int64_t mc, const ${T} *gx, int64_t gr, int64_t gc, ${T} *o) {
${loops(`const ${T} m = mx[r * mr + c * mc]; double sum = 0;
      for (int64_t i = rs; i < re; i++) for (int64_t j = cs; j < ce; j++) { const ${T} v = x[i * xr + j * xc]; if ${isMax} sum += (double)gx[i * gr + j * gc]; }
      o[r * g->PC + c] = (${T})sum;`)}`,
    avggrad: `(const th_pool_geom *g, const ${T} *gz, int64_t gr, int64_t gc, int mode, ${T} *o) {
  for (int64_t q = 0; q < g->H * g->W; q++) o[q] = 0;
${loops(`const ${T} gv = (${T})((double)gz[r * gr + c * gc] / ${div});
      for (int64_t i = rs; i < re; i++) for (int64_t j = cs; j < ce; j++) o[i * g->W + j] += gv;`)}`,
  }[kind];
  const guard = `TH_POOL_${kind.toUpperCase()}_${s}`;
  const full = kind === "max" ? poolFullMax(s, T) : kind === "maxgrad" ? poolFullMaxGrad(s, T) : "";
  return `#ifndef ${guard}
#define ${guard}
${full}
TH_POOL_FN void th_pool_${kind}_${s}${fn}
}
#endif`;
}

/**
 * The loops of whole windows (TH_POOL_FULL), written once with the geometry as C expressions so
 * that the common 2x2 window, stride 2, on unit-stride rows is instantiated with constants, which
 * gcc turns into vector code (deinterleaving loads and stores), and any other geometry with
 * run-time values. Each pass runs along a row of windows for one tap (i, j) of the window, taps
 * in perform's row-major order, so each output sees its window's elements in the same order as
 * perform's loop: the first maximum or the first NaN, with selects instead of branches.
 */
function poolFullMax(s: string, T: string): string {
  const sel = "b == b && (v > b || v != v) ? v : b";
  const body = (wr: string, wc: string, sr: string, sc: string, xc: string): string => `for (int64_t r = 0; r < PR; r++) {
      ${T} *restrict orow = o + r * PC; const ${T} *x0 = x + r * ${sr} * xr;
      for (int64_t c = 0; c < PC; c++) orow[c] = x0[c * ${sc} * ${xc}];
      for (int64_t i = 0; i < ${wr}; i++) for (int64_t j = i == 0; j < ${wc}; j++) {
        const ${T} *xi = x0 + i * xr + j * ${xc};
        for (int64_t c = 0; c < PC; c++) { const ${T} v = xi[c * ${sc} * ${xc}], b = orow[c]; orow[c] = b == b && (v > b || v != v) ? v : b; }
      }
    }`;
  return `/* max over whole windows, one output row at a time */
static __attribute__((noinline, unused)) void th_pool_maxfull_${s}(const th_pool_geom *g, const ${T} *x, int64_t xr, int64_t xc, ${T} *restrict o) {
  const int64_t PR = g->PR, PC = g->PC, wr = g->wr, wc = g->wc, sr = g->sr, sc = g->sc;
  if (wr == 2 && wc == 2 && sr == 2 && sc == 2 && xc == 1) {
    /* one pass: the four taps of each window in order (loads two apart, which gcc deinterleaves) */
    for (int64_t r = 0; r < PR; r++) {
      ${T} *restrict orow = o + r * PC; const ${T} *x0 = x + 2 * r * xr, *x1 = x0 + xr;
      for (int64_t c = 0; c < PC; c++) {
        ${T} b = x0[2 * c]; ${T} v = x0[2 * c + 1]; b = ${sel};
        v = x1[2 * c]; b = ${sel}; v = x1[2 * c + 1]; b = ${sel}; orow[c] = b;
      }
    }
  } else { ${body("wr", "wc", "sr", "sc", "xc")} }
}`;
}

/**
 * MaxPoolGrad over whole windows that do not overlap (stride >= window): each input element lies
 * in at most one window, so the gradient is written once per element, without the zeroing pass
 * and the scattered additions: `gz` of its window where the element equals the window's maximum
 * (perform's test, NaN matching NaN), else 0. `+ 0` keeps perform's sum: 0 + (-0) is +0.
 */
function poolFullMaxGrad(s: string, T: string): string {
  const body = (wr: string, wc: string, sr: string, sc: string, xc: string, mc: string, gc: string): string => `for (int64_t r = 0; r < PR; r++) for (int64_t i = 0; i < ${wr}; i++) {
      ${T} *restrict orow = o + (r * ${sr} + i) * W; const ${T} *xrow = x + (r * ${sr} + i) * xr, *mrow = mx + r * mr, *grow = gz + r * gr;
      for (int64_t j = 0; j < ${wc}; j++) for (int64_t c = 0; c < PC; c++) {
        const ${T} v = xrow[(c * ${sc} + j) * ${xc}], m = mrow[c * ${mc}];
        orow[c * ${sc} + j] = ((v == m || (m != m && v != v)) ? grow[c * ${gc}] : (${T})0) + (${T})0;
      }
    }`;
  return `/* the gradient of max over whole windows that do not overlap */
static __attribute__((noinline, unused)) void th_pool_maxgradfull_${s}(const th_pool_geom *g, const ${T} *x, int64_t xr, int64_t xc, const ${T} *mx, int64_t mr, int64_t mc, const ${T} *gz, int64_t gr, int64_t gc, ${T} *restrict o) {
  const int64_t H = g->H, W = g->W, PR = g->PR, PC = g->PC, wr = g->wr, wc = g->wc, sr = g->sr, sc = g->sc;
  /* what no window covers: whole rows, and in covered rows the gaps and the right edge */
  for (int64_t i = 0; i < H; i++) if (i / sr >= PR || i % sr >= wr) for (int64_t j = 0; j < W; j++) o[i * W + j] = 0;
  if (PC * wc != W) for (int64_t r = 0; r < PR; r++) for (int64_t i = 0; i < wr; i++) for (int64_t j = 0; j < W; j++) if (j / sc >= PC || j % sc >= wc) o[(r * sr + i) * W + j] = 0;
  if (wr == 2 && wc == 2 && sr == 2 && sc == 2 && xc == 1 && mc == 1 && gc == 1) {
    /* both columns of a window in one iteration: contiguous stores (gcc interleaves them) */
    for (int64_t i = 0; i < 2 * PR; i++) {
      ${T} *restrict orow = o + i * W; const ${T} *xrow = x + i * xr, *mrow = mx + (i >> 1) * mr, *grow = gz + (i >> 1) * gr;
      for (int64_t c = 0; c < PC; c++) {
        const ${T} m = mrow[c], gv = grow[c], v0 = xrow[2 * c], v1 = xrow[2 * c + 1];
        orow[2 * c] = ((v0 == m || (m != m && v0 != v0)) ? gv : (${T})0) + (${T})0;
        orow[2 * c + 1] = ((v1 == m || (m != m && v1 != v1)) ? gv : (${T})0) + (${T})0;
      }
    }
  } else { ${body("wr", "wc", "sr", "sc", "xc", "mc", "gc")} }
}`;
}


// ---------------------------------------------------------------------------------------------
// Registration

/** Every operand and the output in one float dtype (the GEMM and the kernels' one element type). */
function oneFloat(node: Apply, tensors: readonly Variable[]): boolean {
  const d = dtypeOf(node.outputs[0]!);
  return isF(d) && tensors.every((v) => v.type instanceof TensorType && dtypeOf(v) === d);
}

/**
 * The convolution and pooling helpers as a runtime library of their own (codegen.ts
 * registerRuntimeLibrary): built once per machine and flags, not in every translation unit of every
 * module that convolves (they were a fifth of a LeNet training step's module, 0.7 s of gcc at -O3,
 * and that module compiles as two units). One piece per dtype; prototypes read from the definitions.
 */
const CONV_LIBRARY_DTYPES: ReadonlyArray<readonly [string, string]> = [
  ["f32", "float"],
  ["f64", "double"],
];
const POOL_KINDS: readonly PoolKind[] = ["max", "avg", "maxgrad", "maxgradgrad", "avggrad"];
const convLibraryPieces = (): string[] => CONV_LIBRARY_DTYPES.map(([s, T]) => [convRuntime(s, T), ...POOL_KINDS.map((k) => poolRuntime(k, s, T))].join("\n"));
registerRuntimeLibrary({
  name: "convolution and pooling",
  pieces: convLibraryPieces,
  entries: convLibraryPieces().flatMap((text) => [...text.matchAll(/^TH_(?:CONV|POOL)_FN void (th_\w+)(\([^{]*\)) \{/gm)].map((m) => [m[1]!, `void ${m[1]!}${m[2]!}`] as const)),
});

registerCGenerator({
  matches(node: Apply): boolean {
    const op = node.op;
    if (!(op instanceof Conv2d || op instanceof Conv2dGradInputs || op instanceof Conv2dGradWeights)) return false;
    const bm = op.borderMode;
    if (!small([...op.subsample, ...op.filterDilation, ...(typeof bm === "string" ? [] : bm)])) return false;
    if (!oneFloat(node, node.inputs.slice(0, 2))) return false;
    return op instanceof Conv2d || node.inputs.slice(2).every((v) => shapeComputable(v));
  },
  generate: genConv,
});

registerCGenerator({
  matches(node: Apply): boolean {
    const op = node.op;
    if (!(op instanceof Pool || op instanceof MaxPoolGrad || op instanceof MaxPoolGradGrad || op instanceof AveragePoolGrad)) return false;
    if (!small([...op.ws, ...op.stride, ...op.pad])) return false;
    if (op instanceof AveragePoolGrad) return oneFloat(node, [node.inputs[0]!]) && node.inputs.slice(1).every((v) => shapeComputable(v));
    return oneFloat(node, node.inputs);
  },
  generate: genPool,
});
