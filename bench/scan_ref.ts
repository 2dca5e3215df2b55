/**
 * The in-run reference of issue 14's W6: the same RNN language-model training step (vocab 65
 * one-hot, sequence 64, batch 32, hidden 512, softmax cross-entropy over every step, BPTT, SGD)
 * written by hand in C around theano-ts's own GEMM (gemm.ts, compiled into this module), as an
 * engineer would write it: the one-hot input projection as a row gather, one GEMM per step
 * forwards (h·Wh) and backwards (dz·Whᵀ), the output layer and the weight gradients as single
 * GEMMs over all steps. bench/scan.ts puts it beside the compiled `theano.scan` step.
 */

import { loadModule } from "../src/link/cache.js";
import { gemmSource } from "../src/link/c/gemm.js";
import { SUPPORT_HEADER } from "../src/link/c/support.js";

const SOURCE = String.raw`
#define TH_RT_th_gemm_f32 static
#define TH_RT_th_gemm_f64 static
${gemmSource(false)}
#include <math.h>
#include <string.h>

/* One training step; hs holds S + 1 states of B x H (hs[0] = h0). Returns the mean loss. */
__attribute__((visibility("default"))) double w6_step(int S, int B, int V, int H, const int32_t *xc, const int32_t *yc,
    float *Wx, float *Wh, float *b, float *Wy, float *by, float *hs, float *logits, float *dz, float *dh, float *dH,
    float *gWx, float *gWh, float *gb, float *gWy, float *gby, float lr) {
  const int64_t N = (int64_t)S * B;
  for (int t = 0; t < S; t++) {
    const float *hp = hs + (int64_t)t * B * H;
    float *hn = hs + (int64_t)(t + 1) * B * H;
    for (int i = 0; i < B; i++) {
      const float *w = Wx + (int64_t)xc[t * B + i] * H;
      for (int j = 0; j < H; j++) hn[(int64_t)i * H + j] = w[j] + b[j];
    }
    th_gemm_f32(B, H, H, 1.0f, hp, H, 1, Wh, H, 1, 1.0f, hn);
    for (int64_t k = 0; k < (int64_t)B * H; k++) hn[k] = tanhf(hn[k]);
  }
  const float *Hs = hs + (int64_t)B * H;
  th_gemm_f32(N, V, H, 1.0f, Hs, H, 1, Wy, V, 1, 0.0f, logits);
  double loss = 0;
  for (int64_t r = 0; r < N; r++) {
    float *l = logits + r * V;
    float m = -INFINITY;
    for (int v = 0; v < V; v++) { l[v] += by[v]; if (l[v] > m) m = l[v]; }
    double s = 0;
    for (int v = 0; v < V; v++) { l[v] = expf(l[v] - m); s += l[v]; }
    const float inv = (float)(1.0 / s);
    loss -= log((double)l[yc[r]] * inv);
    for (int v = 0; v < V; v++) l[v] = (l[v] * inv - (v == yc[r] ? 1.0f : 0.0f)) / (float)N;
  }
  th_gemm_f32(H, V, N, 1.0f, Hs, 1, H, logits, V, 1, 0.0f, gWy);
  memset(gby, 0, sizeof(float) * V);
  for (int64_t r = 0; r < N; r++) for (int v = 0; v < V; v++) gby[v] += logits[r * V + v];
  th_gemm_f32(N, H, V, 1.0f, logits, V, 1, Wy, 1, V, 0.0f, dH);
  memset(dh, 0, sizeof(float) * B * H);
  for (int t = S - 1; t >= 0; t--) {
    const float *hn = hs + (int64_t)(t + 1) * B * H;
    const float *d = dH + (int64_t)t * B * H;
    float *z = dz + (int64_t)t * B * H;
    for (int64_t k = 0; k < (int64_t)B * H; k++) z[k] = (d[k] + dh[k]) * (1.0f - hn[k] * hn[k]);
    if (t > 0) th_gemm_f32(B, H, H, 1.0f, z, H, 1, Wh, 1, H, 0.0f, dh);
  }
  th_gemm_f32(H, H, N, 1.0f, hs, 1, H, dz, H, 1, 0.0f, gWh);
  memset(gb, 0, sizeof(float) * H);
  memset(gWx, 0, sizeof(float) * V * H);
  for (int64_t r = 0; r < N; r++) {
    const float *z = dz + r * H;
    float *g = gWx + (int64_t)xc[r] * H;
    for (int j = 0; j < H; j++) { gb[j] += z[j]; g[j] += z[j]; }
  }
  for (int64_t k = 0; k < (int64_t)V * H; k++) Wx[k] -= lr * gWx[k];
  for (int64_t k = 0; k < (int64_t)H * H; k++) Wh[k] -= lr * gWh[k];
  for (int j = 0; j < H; j++) b[j] -= lr * gb[j];
  for (int64_t k = 0; k < (int64_t)H * V; k++) Wy[k] -= lr * gWy[k];
  for (int v = 0; v < V; v++) by[v] -= lr * gby[v];
  return loss / (double)N;
}
`;

/**
 * Median ms of 15 hand-written steps after 6 (on the data bench/scan.ts gives the compiled step),
 * and the first step's loss (to check it computes the same function).
 */
export function handWrittenW6(chars: readonly number[], S: number, B: number, V: number, H: number, init: (r: number, c: number, seed: number, scale: number) => Float32Array): [number, number] {
  // The built-in GEMM (no system BLAS linked), the one theano-ts's C backend uses by default.
  const mod = loadModule(`${SUPPORT_HEADER}\n${SOURCE}`, { ldflags: [] });
  const step = mod.library.func(
    "double w6_step(int S, int B, int V, int H, int32_t *xc, int32_t *yc, float *Wx, float *Wh, float *b, float *Wy, float *by, float *hs, float *logits, float *dz, float *dh, float *dH, float *gWx, float *gWh, float *gb, float *gWy, float *gby, float lr)",
  );
  const N = S * B;
  const xc = Int32Array.from(chars.slice(0, N));
  const yc = Int32Array.from(chars.slice(B, B + N));
  const Wx = init(V, H, 1, 0.1);
  const Wh = init(H, H, 2, 0.05);
  const b = new Float32Array(H);
  const Wy = init(H, V, 3, 0.05);
  const by = new Float32Array(V);
  const f = (n: number): Float32Array => new Float32Array(n);
  const bufs = [f((S + 1) * B * H), f(N * V), f(N * H), f(B * H), f(N * H), f(V * H), f(H * H), f(H), f(H * V), f(V)];
  const run = (): number => step(S, B, V, H, xc, yc, Wx, Wh, b, Wy, by, ...bufs, 0.1) as number;
  const firstLoss = run();
  for (let i = 0; i < 5; i++) run();
  const ts: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    run();
    ts.push(performance.now() - t0);
  }
  return [ts.sort((x, y) => x - y)[7]!, firstLoss];
}
