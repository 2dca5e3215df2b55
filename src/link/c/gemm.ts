/**
 * The built-in GEMM of the C backend, C = alpha·A·B + beta·C for float32 and float64 with any
 * strides of A and B (so transposed and sliced operands need no copy), used when no system BLAS
 * is linked. alpha and beta are applied where the micro-kernel stores its tile (C is read once,
 * and not at all when beta is 0), so Gemm's update `W + alpha·x·y` is one pass over W, in place.
 *
 * The structure is the Goto/BLIS one (Goto & van de Geijn, "Anatomy of high-performance matrix
 * multiplication", 2008): B is packed into KC×NC panels (shared by all threads, L3), each thread
 * packs MC×KC blocks of A (L2), and a register-blocked MR×NR micro-kernel with explicit FMA
 * intrinsics runs over the packed panels (its B micro-panel stays in L1). Packing zero-pads the
 * edges, so the micro-kernel always runs full tiles and edge tiles are written back through a
 * small buffer. OpenMP splits the MC blocks (or, for short matrices, the NC panels) across
 * threads. Sizes: AVX-512 MR=8 rows × NR=2 vectors; AVX2+FMA MR=6 × NR=2 vectors; otherwise a
 * portable 4×8 scalar kernel that gcc vectorises. Small products skip packing altogether.
 *
 * With a system BLAS (`findBlas()` or `blas.ldflags`) the module is linked against it and
 * `th_gemm_*` calls cblas_{s,d}gemm whenever each operand has a unit stride on one axis.
 */

import { readFileSync } from "node:fs";

/**
 * The micro-kernel the built-in GEMM compiles to on this machine's CPU (modules are built with
 * -march=native): "avx512" or "avx2" (AVX2 with FMA) on x86-64, else null (the portable scalar
 * kernel). Read from /proc/cpuinfo's flags; null where that is not available.
 */
export function builtinGemmKernel(): "avx512" | "avx2" | null {
  if (kernelMemo !== undefined) return kernelMemo;
  kernelMemo = null;
  if (process.arch === "x64" && process.platform === "linux") {
    try {
      const flags = new Set((/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "").trim().split(/\s+/));
      kernelMemo = flags.has("avx512f") ? "avx512" : flags.has("avx2") && flags.has("fma") ? "avx2" : null;
    } catch {
      kernelMemo = null;
    }
  }
  return kernelMemo;
}
let kernelMemo: "avx512" | "avx2" | null | undefined;

/**
 * C source of `th_gemm_f32` / `th_gemm_f64` (after the support header). Their linkage is the
 * macro `TH_RT_th_gemm_<s>` that the module's prelude defines (codegen.ts `runtimeLinkage`):
 * hidden when the generated code calls one from another translation unit, else static.
 */
export function gemmSource(blas: boolean): string {
  const p = gemmPieces(blas);
  return [p.common, p.f32, p.f64].join("\n");
}

/**
 * The same source in three pieces: what both dtypes need (vector ISA macros, the CBLAS
 * declarations), then each dtype's kernel and dispatch, which share nothing and so can be
 * compiled as separate translation units at once (the shared runtime library splits them).
 */
export function gemmPieces(blas: boolean): { common: string; f32: string; f64: string } {
  return {
    common: blas ? `${ISA}\n${CBLAS}` : ISA,
    f32: `${kernel("f32", "float")}\n${dispatch("f32", "float", blas ? "s" : null)}`,
    f64: `${kernel("f64", "double")}\n${dispatch("f64", "double", blas ? "d" : null)}`,
  };
}

const ISA = String.raw`
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
#if defined(__AVX512F__)
#define TH_VL_f32 16
#define TH_VL_f64 8
#define TH_MR 8
typedef __m512 th_v_f32; typedef __m512d th_v_f64;
#define th_vload_f32(p) _mm512_loadu_ps(p)
#define th_vload_f64(p) _mm512_loadu_pd(p)
#define th_vstore_f32(p, v) _mm512_storeu_ps((p), (v))
#define th_vstore_f64(p, v) _mm512_storeu_pd((p), (v))
#define th_vset1_f32(x) _mm512_set1_ps(x)
#define th_vset1_f64(x) _mm512_set1_pd(x)
#define th_vzero_f32() _mm512_setzero_ps()
#define th_vzero_f64() _mm512_setzero_pd()
#define th_vfma_f32(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define th_vfma_f64(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#elif defined(__AVX2__) && defined(__FMA__)
#define TH_VL_f32 8
#define TH_VL_f64 4
#define TH_MR 6
typedef __m256 th_v_f32; typedef __m256d th_v_f64;
#define th_vload_f32(p) _mm256_loadu_ps(p)
#define th_vload_f64(p) _mm256_loadu_pd(p)
#define th_vstore_f32(p, v) _mm256_storeu_ps((p), (v))
#define th_vstore_f64(p, v) _mm256_storeu_pd((p), (v))
#define th_vset1_f32(x) _mm256_set1_ps(x)
#define th_vset1_f64(x) _mm256_set1_pd(x)
#define th_vzero_f32() _mm256_setzero_ps()
#define th_vzero_f64() _mm256_setzero_pd()
#define th_vfma_f32(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define th_vfma_f64(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#else
/* portable: one "vector" is 4 scalars; gcc's vectoriser does the rest */
#define TH_VL_f32 4
#define TH_VL_f64 4
#define TH_MR 4
#define TH_SCALAR_GEMM 1
#endif
#define TH_KC 256
#define TH_MC 128
#define TH_NC 3072
#define TH_GEMM_OMP_MIN 2000000
#define TH_TS_MAX_M 64
#define TH_TS_MAX_K 8192
`;

/**
 * The MR×NR micro-kernel: c[MR×NR] (row stride ldc) = alpha · A rows · b panel + beta · c, c
 * unread when beta is 0; B is an NR-column panel with row stride ldb. `suffix` "" reads A packed
 * (MR values per step of k); "_da" reads MR rows of A in place (row stride lda, unit columns).
 */
function ukernel(s: "f32" | "f64", T: string, suffix: "" | "_da", scalarA: string, vectorA: string, stepA: string): string {
  return String.raw`/* c[MR×NR] = alpha · A · b panel + beta · c (${suffix ? "A read in place, row stride lda" : "A packed"}) */
static inline void th_ukernel${suffix}_${s}(int64_t kc, const ${T} *restrict a, int64_t lda, const ${T} *restrict b, int64_t ldb, ${T} *restrict c, int64_t ldc, ${T} alpha, ${T} beta) {
  (void)lda;
#ifdef TH_SCALAR_GEMM
  ${T} r[TH_MR][TH_NR_${s}];
  for (int i = 0; i < TH_MR; i++) for (int j = 0; j < TH_NR_${s}; j++) r[i][j] = 0;
  for (int64_t p = 0; p < kc; p++)
    for (int i = 0; i < TH_MR; i++)
      for (int j = 0; j < TH_NR_${s}; j++) r[i][j] += ${scalarA} * b[p * ldb + j];
  for (int i = 0; i < TH_MR; i++)
    for (int j = 0; j < TH_NR_${s}; j++) c[i * ldc + j] = beta == 0 ? alpha * r[i][j] : alpha * r[i][j] + beta * c[i * ldc + j];
#else
  th_v_${s} r0[TH_MR], r1[TH_MR];
#pragma GCC unroll 16
  for (int i = 0; i < TH_MR; i++) { r0[i] = th_vzero_${s}(); r1[i] = th_vzero_${s}(); }
  for (int64_t p = 0; p < kc; p++) {
    th_v_${s} b0 = th_vload_${s}(b), b1 = th_vload_${s}(b + TH_VL_${s});
#pragma GCC unroll 16
    for (int i = 0; i < TH_MR; i++) {
      th_v_${s} ai = th_vset1_${s}(${vectorA});
      r0[i] = th_vfma_${s}(ai, b0, r0[i]);
      r1[i] = th_vfma_${s}(ai, b1, r1[i]);
    }
    ${stepA}
    b += ldb;
  }
  const th_v_${s} va = th_vset1_${s}(alpha), vb = th_vset1_${s}(beta);
  if (alpha != 1) {
#pragma GCC unroll 16
    for (int i = 0; i < TH_MR; i++) { r0[i] = r0[i] * va; r1[i] = r1[i] * va; }
  }
  if (beta == 1) {
#pragma GCC unroll 16
    for (int i = 0; i < TH_MR; i++) { ${T} *ci = c + i * ldc; r0[i] += th_vload_${s}(ci); r1[i] += th_vload_${s}(ci + TH_VL_${s}); }
  } else if (beta != 0) {
#pragma GCC unroll 16
    for (int i = 0; i < TH_MR; i++) { ${T} *ci = c + i * ldc; r0[i] = th_vfma_${s}(vb, th_vload_${s}(ci), r0[i]); r1[i] = th_vfma_${s}(vb, th_vload_${s}(ci + TH_VL_${s}), r1[i]); }
  }
#pragma GCC unroll 16
  for (int i = 0; i < TH_MR; i++) {
    ${T} *ci = c + i * ldc;
    th_vstore_${s}(ci, r0[i]);
    th_vstore_${s}(ci + TH_VL_${s}, r1[i]);
  }
#endif
}`;
}

/** One precision's packing routines, micro-kernel and blocked driver. */
function kernel(s: "f32" | "f64", T: string): string {
  return String.raw`
#define TH_NR_${s} (2 * TH_VL_${s})
/* A block (mc×kc, strides rsa/csa) into MR-row panels, p-major; rows past mc are zero */
static void th_pack_a_${s}(int64_t mc, int64_t kc, const ${T} *a, int64_t rsa, int64_t csa, ${T} *restrict dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += TH_MR) {
    int64_t mr = mc - i0 < TH_MR ? mc - i0 : TH_MR;
    for (int64_t p = 0; p < kc; p++) {
      const ${T} *src = a + i0 * rsa + p * csa;
      int64_t i = 0;
      for (; i < mr; i++) dst[i] = src[i * rsa];
      for (; i < TH_MR; i++) dst[i] = 0;
      dst += TH_MR;
    }
  }
}
/* B block (kc×nc, strides rsb/csb) into NR-column panels, p-major; columns past nc are zero */
static void th_pack_b_${s}(int64_t kc, int64_t nc, const ${T} *b, int64_t rsb, int64_t csb, ${T} *restrict dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += TH_NR_${s}) {
    int64_t nr = nc - j0 < TH_NR_${s} ? nc - j0 : TH_NR_${s};
    for (int64_t p = 0; p < kc; p++) {
      const ${T} *src = b + p * rsb + j0 * csb;
      int64_t j = 0;
      if (csb == 1) for (; j < nr; j++) dst[j] = src[j];
      else if (rsb == 1) break; /* a transposed B: packed column by column below */
      else for (; j < nr; j++) dst[j] = src[j * csb];
      for (; j < TH_NR_${s}; j++) dst[j] = 0;
      dst += TH_NR_${s};
    }
    if (csb != 1 && rsb == 1) {
      /* B's columns are contiguous: read each along p (one stream) and scatter into the panel,
         which is kc × NR and stays in L1, instead of gathering across nr columns per row */
      for (int64_t j = 0; j < TH_NR_${s}; j++) {
        ${T} *d = dst + j;
        if (j < nr) {
          const ${T} *col = b + (j0 + j) * csb;
          for (int64_t p = 0; p < kc; p++) d[p * TH_NR_${s}] = col[p];
        } else for (int64_t p = 0; p < kc; p++) d[p * TH_NR_${s}] = 0;
      }
      dst += kc * TH_NR_${s};
    }
  }
}
${ukernel(s, T, "", "a[p * TH_MR + i]", "a[i]", "a += TH_MR;")}
${ukernel(s, T, "_da", "a[i * lda + p]", "a[i * lda]", "a += 1;")}
/* C (row stride ldc) = alpha · packed A block · B + beta · C. B is packed NR-column panels
   (ldb 0), or, for full-width panels, B itself read in place with row stride ldb (unit columns) */
static void th_macro_${s}(int64_t mc, int64_t nc, int64_t kc, const ${T} *pa, const ${T} *pb, int64_t ldb, ${T} *c, int64_t ldc, ${T} alpha, ${T} beta) {
  ${T} tmp[TH_MR * TH_NR_${s}];
  for (int64_t j0 = 0; j0 < nc; j0 += TH_NR_${s}) {
    int64_t nr = nc - j0 < TH_NR_${s} ? nc - j0 : TH_NR_${s};
    for (int64_t i0 = 0; i0 < mc; i0 += TH_MR) {
      int64_t mr = mc - i0 < TH_MR ? mc - i0 : TH_MR;
      const ${T} *ap = pa + i0 * kc, *bp = ldb ? pb + j0 : pb + j0 * kc;
      int64_t bs = ldb ? ldb : TH_NR_${s};
      ${T} *cp = c + i0 * ldc + j0;
      if (mr == TH_MR && nr == TH_NR_${s}) th_ukernel_${s}(kc, ap, 0, bp, bs, cp, ldc, alpha, beta);
      else {
        for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) tmp[i * TH_NR_${s} + j] = beta == 0 ? 0 : cp[i * ldc + j];
        th_ukernel_${s}(kc, ap, 0, bp, bs, tmp, TH_NR_${s}, alpha, beta);
        for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) cp[i * ldc + j] = tmp[i * TH_NR_${s} + j];
      }
    }
  }
}
/* small products: no packing; the inner loop runs along B's rows */
static void th_gemm_small_${s}(int64_t m, int64_t n, int64_t k, ${T} alpha, const ${T} *a, int64_t rsa, int64_t csa, const ${T} *b, int64_t rsb, int64_t csb, ${T} beta, ${T} *c) {
  for (int64_t i = 0; i < m; i++) {
    ${T} *ci = c + i * n;
    if (beta == 0) for (int64_t j = 0; j < n; j++) ci[j] = 0;
    else if (beta != 1) for (int64_t j = 0; j < n; j++) ci[j] *= beta;
    for (int64_t p = 0; p < k; p++) {
      ${T} av = alpha * a[i * rsa + p * csa];
      const ${T} *bp = b + p * rsb;
      if (csb == 1) for (int64_t j = 0; j < n; j++) ci[j] += av * bp[j];
      else for (int64_t j = 0; j < n; j++) ci[j] += av * bp[j * csb];
    }
  }
}
/* A few rows of A times a transposed B (an RNN step's dz·Whᵀ): packing B would move all its
   k·n elements for each product that uses them only m times. The product is done transposed,
   Cᵀ = Bᵀ·Aᵀ: Bᵀ's rows (B's contiguous columns) are read in place as the micro-kernel's A
   operand, the small Aᵀ is packed as its B panels, and each tile is stored transposed. Threads
   split the rows of Bᵀ (the columns of C). */
static int th_gemm_ts_${s}(int64_t m, int64_t n, int64_t k, ${T} alpha, const ${T} *a, int64_t rsa, int64_t csa, const ${T} *b, int64_t csb, ${T} beta, ${T} *c) {
  const int64_t npan = (m + TH_NR_${s} - 1) / TH_NR_${s}, psz = npan * TH_NR_${s} * k;
  int fail = 0;
  int par = m * n * k >= TH_GEMM_OMP_MIN;
  (void)par;
#pragma omp parallel if (par)
  {
    /* per thread: all of Aᵀ as panels (block pc of k at pa + npan·NR·pc), an edge block of Bᵀ's
       rows, and one tile per panel that gathers the whole sum over k before its transposed store */
    ${T} *pa = (${T} *)th_alloc((int64_t)sizeof(${T}) * (psz + TH_MR * TH_KC + npan * TH_MR * TH_NR_${s}));
    if (!pa) {
#pragma omp atomic write
      fail = 1;
    }
    ${T} *edge = pa ? pa + psz : NULL, *tiles = edge ? edge + TH_MR * TH_KC : NULL;
    if (pa) for (int64_t pc = 0; pc < k; pc += TH_KC) {
      int64_t kc = k - pc < TH_KC ? k - pc : TH_KC;
      for (int64_t q = 0; q < npan; q++) {
        int64_t i0 = q * TH_NR_${s}, w = m - i0 < TH_NR_${s} ? m - i0 : TH_NR_${s};
        th_pack_b_${s}(kc, w, a + i0 * rsa + pc * csa, csa, rsa, pa + npan * TH_NR_${s} * pc + i0 * kc);
      }
    }
#pragma omp for schedule(static)
    for (int64_t j0 = 0; j0 < n; j0 += TH_MR) {
      if (!pa) continue;
      int64_t mr = n - j0 < TH_MR ? n - j0 : TH_MR;
      for (int64_t pc = 0; pc < k; pc += TH_KC) {
        int64_t kc = k - pc < TH_KC ? k - pc : TH_KC;
        const ${T} *brows = b + j0 * csb + pc;
        if (mr < TH_MR) { th_pack_a_${s}(mr, kc, brows, csb, 1, edge); brows = edge; }
        for (int64_t q = 0; q < npan; q++) {
          const ${T} *bp = pa + npan * TH_NR_${s} * pc + q * TH_NR_${s} * kc;
          ${T} *tile = tiles + q * TH_MR * TH_NR_${s};
          if (mr < TH_MR) th_ukernel_${s}(kc, brows, 0, bp, TH_NR_${s}, tile, TH_NR_${s}, alpha, pc > 0 ? 1 : 0);
          else th_ukernel_da_${s}(kc, brows, csb, bp, TH_NR_${s}, tile, TH_NR_${s}, alpha, pc > 0 ? 1 : 0);
        }
      }
      for (int64_t q = 0; q < npan; q++) {
        int64_t i0 = q * TH_NR_${s}, w = m - i0 < TH_NR_${s} ? m - i0 : TH_NR_${s};
        const ${T} *tile = tiles + q * TH_MR * TH_NR_${s};
        for (int64_t ii = 0; ii < w; ii++) {
          ${T} *ci = c + (i0 + ii) * n + j0;
          for (int64_t jj = 0; jj < mr; jj++) {
            const ${T} v = tile[jj * TH_NR_${s} + ii];
            ci[jj] = beta == 0 ? v : beta == 1 ? ci[jj] + v : v + beta * ci[jj];
          }
        }
      }
    }
    free(pa);
  }
  return fail;
}
/* c (m×n, contiguous) = alpha · a (m×k) · b (k×n) + beta · c, c unread when beta is 0; returns
   0, or 1 when out of memory */
static int th_gemm_builtin_${s}(int64_t m, int64_t n, int64_t k, ${T} alpha, const ${T} *a, int64_t rsa, int64_t csa, const ${T} *b, int64_t rsb, int64_t csb, ${T} beta, ${T} *c) {
  if (m == 0 || n == 0) return 0;
  if (k == 0) { for (int64_t i = 0; i < m * n; i++) c[i] = beta == 0 ? 0 : beta * c[i]; return 0; }
  if (m * n * k <= 32768 || m < 2 || n < 2) { th_gemm_small_${s}(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c); return 0; }
  if (rsb == 1 && csb != 1 && m <= TH_TS_MAX_M && n >= 4 * m && k <= TH_TS_MAX_K) return th_gemm_ts_${s}(m, n, k, alpha, a, rsa, csa, b, csb, beta, c);
  int64_t ncb = n < TH_NC ? n : TH_NC;
  int64_t kcb = k < TH_KC ? k : TH_KC;
  ${T} *pb = (${T} *)th_alloc((int64_t)sizeof(${T}) * kcb * (ncb + TH_NR_${s}));
  if (!pb) return 1;
  int fail = 0;
  int par = m * n * k >= TH_GEMM_OMP_MIN;
  int64_t mblocks = (m + TH_MC - 1) / TH_MC;
  (void)par; (void)mblocks;
#pragma omp parallel if (par)
  {
    ${T} *pa = (${T} *)th_alloc((int64_t)sizeof(${T}) * (TH_MC + TH_MR) * kcb);
    if (!pa) {
#pragma omp atomic write
      fail = 1;
    }
    for (int64_t jc = 0; jc < n; jc += TH_NC) {
      int64_t nc = n - jc < TH_NC ? n - jc : TH_NC;
      for (int64_t pc = 0; pc < k; pc += TH_KC) {
        int64_t kc = k - pc < TH_KC ? k - pc : TH_KC;
        int64_t npanels = (nc + TH_NR_${s} - 1) / TH_NR_${s};
        if (mblocks >= 2) {
#pragma omp for schedule(static)
          for (int64_t q = 0; q < npanels; q++) {
            int64_t j0 = q * TH_NR_${s};
            int64_t w = nc - j0 < TH_NR_${s} ? nc - j0 : TH_NR_${s};
            th_pack_b_${s}(kc, w, b + pc * rsb + (jc + j0) * csb, rsb, csb, pb + j0 * kc);
          }
          /* implicit barrier: the packed panel is complete */
#pragma omp for schedule(dynamic, 1)
          for (int64_t ib = 0; ib < mblocks; ib++) {
            if (!pa) continue;
            int64_t ic = ib * TH_MC;
            int64_t mc = m - ic < TH_MC ? m - ic : TH_MC;
            th_pack_a_${s}(mc, kc, a + ic * rsa + pc * csa, rsa, csa, pa);
            th_macro_${s}(mc, nc, kc, pa, pb, 0, c + ic * n + jc, n, alpha, pc > 0 ? 1 : beta);
          }
        } else {
          /* one short block of rows (an RNN step's batch): split the columns. Each thread packs
             the whole A block once and runs it over the panels it owns; each B element is used
             only m times, so a full-width panel of a B with contiguous rows is read in place
             rather than packed, and any other panel is packed by its owner alone */
          int64_t mc = m;
          if (pa) th_pack_a_${s}(mc, kc, a + pc * csa, rsa, csa, pa);
#pragma omp for schedule(static)
          for (int64_t q = 0; q < npanels; q++) {
            if (!pa) continue;
            int64_t j0 = q * TH_NR_${s};
            int64_t w = nc - j0 < TH_NR_${s} ? nc - j0 : TH_NR_${s};
            if (csb == 1 && w == TH_NR_${s}) th_macro_${s}(mc, w, kc, pa, b + pc * rsb + jc + j0, rsb, c + jc + j0, n, alpha, pc > 0 ? 1 : beta);
            else {
              th_pack_b_${s}(kc, w, b + pc * rsb + (jc + j0) * csb, rsb, csb, pb + j0 * kc);
              th_macro_${s}(mc, w, kc, pa, pb + j0 * kc, 0, c + jc + j0, n, alpha, pc > 0 ? 1 : beta);
            }
          }
        }
      }
    }
    free(pa);
  }
  free(pb);
  return fail;
}
`;
}

const CBLAS = String.raw`
enum { th_CblasRowMajor = 101, th_CblasNoTrans = 111, th_CblasTrans = 112 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc);
/* a row-major operand as BLAS sees it: unit column stride (no transpose) or unit row stride */
static inline int th_blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, int *trans, int64_t *ld) {
  if ((cs == 1 || cols == 1) && rs >= (cols > 1 ? cols : 1)) { *trans = th_CblasNoTrans; *ld = rs; return 1; }
  if ((rs == 1 || rows == 1) && cs >= (rows > 1 ? rows : 1)) { *trans = th_CblasTrans; *ld = cs; return 1; }
  return 0;
}
`;

function dispatch(s: "f32" | "f64", T: string, blas: "s" | "d" | null): string {
  const blasCall = blas
    ? String.raw`
  {
    int ta, tb; int64_t lda, ldb;
    if (m > 0 && n > 0 && k > 0 && m < 2147483647 && n < 2147483647 && k < 2147483647 &&
        th_blas_layout(m, k, rsa, csa, &ta, &lda) && th_blas_layout(k, n, rsb, csb, &tb, &ldb) && lda < 2147483647 && ldb < 2147483647) {
      cblas_${blas}gemm(th_CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a, (int)(lda > 0 ? lda : 1), b, (int)(ldb > 0 ? ldb : 1), beta, c, (int)(n > 0 ? n : 1));
      return 0;
    }
  }`
    : "";
  return String.raw`
TH_RT_th_gemm_${s} int th_gemm_${s}(int64_t m, int64_t n, int64_t k, ${T} alpha, const ${T} *a, int64_t rsa, int64_t csa, const ${T} *b, int64_t rsb, int64_t csb, ${T} beta, ${T} *c) {${blasCall}
  return th_gemm_builtin_${s}(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c);
}
`;
}
