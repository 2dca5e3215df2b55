/**
 * The built-in GEMM (src/link/c/gemm.ts) on the shapes real models give it, timed in C: the
 * products of an RNN/LSTM step (a batch of 32 rows against a square weight, B as stored and
 * transposed), the weight-gradient products of a scan's gradient, the products of LeNet's
 * convolutions (one image of 8x8 outputs, and a group of images side by side), and square ones.
 * Each shape is checked against a double-precision loop first, then the best of 5 rounds of
 * `reps` products (C += A·B, so no output is fresh) is reported in GFLOP/s, with every thread the
 * OpenMP runtime gives (OMP_NUM_THREADS=1 for one core).
 *
 *   npx tsx bench/gemm_shapes.ts
 */

import { loadModule } from "../src/link/cache.js";
import { gemmSource } from "../src/link/c/gemm.js";
import { SUPPORT_HEADER } from "../src/link/c/support.js";

const SOURCE = String.raw`
#define TH_RT_th_gemm_f32 static
#define TH_RT_th_gemm_f64 static
${gemmSource(false)}
#include <math.h>
#include <time.h>
static double th_now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
/* out[0] = best seconds per product, out[1] = largest |error| against a double loop */
__attribute__((visibility("default"))) int gemm_shape(int64_t m, int64_t n, int64_t k, int ta, int tb, int reps, double *out) {
  float *a = malloc(4 * m * k), *b = malloc(4 * k * n), *c = calloc(m * n, 4), *r = malloc(4 * m * n);
  if (!a || !b || !c || !r) return 1;
  for (int64_t i = 0; i < m * k; i++) a[i] = (float)((i * 7) % 13) / 13 - 0.5f;
  for (int64_t i = 0; i < k * n; i++) b[i] = (float)((i * 5) % 11) / 11 - 0.5f;
  const int64_t rsa = ta ? 1 : k, csa = ta ? m : 1, rsb = tb ? 1 : n, csb = tb ? k : 1;
  for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) {
    double s = 0;
    for (int64_t p = 0; p < k; p++) s += (double)a[i * rsa + p * csa] * b[p * rsb + j * csb];
    r[i * n + j] = (float)s;
  }
  th_gemm_f32(m, n, k, 1.0f, a, rsa, csa, b, rsb, csb, 0.0f, c);
  double err = 0;
  for (int64_t i = 0; i < m * n; i++) { double e = fabs(c[i] - r[i]); if (e > err) err = e; }
  double best = 1e9;
  for (int t = 0; t < 5; t++) {
    double t0 = th_now();
    for (int q = 0; q < reps; q++) th_gemm_f32(m, n, k, 1.0f, a, rsa, csa, b, rsb, csb, 1.0f, c);
    double dt = (th_now() - t0) / reps;
    if (dt < best) best = dt;
  }
  out[0] = best; out[1] = err;
  free(a); free(b); free(c); free(r);
  return 0;
}
`;

const mod = loadModule(`${SUPPORT_HEADER}\n${SOURCE}`, { ldflags: [] });
const shape = mod.library.func("int gemm_shape(int64_t m, int64_t n, int64_t k, int ta, int tb, int reps, _Out_ double *out)");

const SHAPES: Array<[string, number, number, number, 0 | 1, 0 | 1]> = [
  ["RNN step h·Wh (W6, hidden 512)", 32, 512, 512, 0, 0],
  ["RNN step back dz·Whᵀ", 32, 512, 512, 0, 1],
  ["LSTM step h·Wh (hidden 256)", 32, 1024, 256, 0, 0],
  ["LSTM step back dz·Whᵀ", 32, 256, 1024, 0, 1],
  ["scan weight gradient hsᵀ·dz", 512, 512, 2048, 1, 0],
  ["conv2 forward, one image W·col", 50, 64, 500, 0, 0],
  ["conv2 forward, 8 images W·col", 50, 512, 500, 0, 0],
  ["conv2 weights, 8 images gz·colᵀ", 50, 500, 512, 0, 1],
  ["conv2 weights, 8 images gz·rows", 50, 500, 512, 0, 0],
  ["MLP 256x784 · 784x512", 256, 512, 784, 0, 0],
  ["square 1024", 1024, 1024, 1024, 0, 0],
];

console.log("| product | m | n | k | A, B | GFLOP/s | µs | max error |");
console.log("|---|---:|---:|---:|---|---:|---:|---:|");
for (const [what, m, n, k, ta, tb] of SHAPES) {
  const reps = Math.max(3, Math.round(2e9 / (2 * m * n * k)));
  const out = [0, 0];
  if ((shape(m, n, k, ta, tb, reps, out) as number) !== 0) throw new Error(`${what}: out of memory`);
  const [sec, err] = out as [number, number];
  if (err > 1e-3) throw new Error(`${what}: the product is wrong (largest error ${err})`);
  const layout = `${ta ? "Aᵀ" : "A"}, ${tb ? "Bᵀ" : "B"}`;
  console.log(`| ${what} | ${m} | ${n} | ${k} | ${layout} | ${((2 * m * n * k) / sec / 1e9).toFixed(1)} | ${(sec * 1e6).toFixed(1)} | ${err.toExponential(1)} |`);
}
