/**
 * The C support header every generated module starts with: the scalar table's C helpers
 * (`th_exp$f`, `th_sigmoid$f`, `th_floordiv_int`, `th_min`, ...), shape helpers and the error
 * plumbing of generated code.
 *
 * Why our own math: glibc's expf/logf/tanhf are scalar calls that stop gcc from vectorising a
 * fused loop, and `-ffast-math` (which would enable libmvec) breaks NaN/Inf semantics that
 * NanGuard relies on. So exp, log, log1p, expm1, tanh, sigmoid, softplus and erf are written
 * branch-free (selects only) so gcc if-converts and vectorises loops calling them.
 * Algorithms: Cody-Waite range reduction with Cephes' minimax polynomials (exp, log, tanh),
 * Goldberg's log1p identity, a Taylor/exp split for expm1, and polynomials fitted here (erf,
 * with numpy against Python's math.erf/erfc, evaluated in double).
 *
 * Accuracy (measured by test/link/c/support.test.ts against the float64 reference over edge
 * values and ~10^5 random points): float32 results within 3 ulp of the correctly rounded value;
 * NaN, ±Inf and ±0 behave as C99 (exp(-inf) = 0, log(0) = -inf, log(-1) = NaN, tanh(-0) = -0).
 * float64 variants: exp and sigmoid are the vectorisable polynomial (≤ 1 ulp); log, log1p,
 * expm1, tanh, erf call libm (correctly rounded or nearly, but scalar). sin/cos use libm in both
 * precisions (correct for every argument; Payne-Hanek reduction is not worth its code here).
 * float32 pow (the table's `powf`) is rendered as the vectorisable `th_powf`: exp(y·log|x|) in
 * double with C99's special cases (≤ 1 ulp); float64 pow stays libm's.
 *
 * `#pragma GCC optimize("no-trapping-math")`: lets gcc if-convert selects whose arms compute
 * floating-point values; results are unchanged (no flag is read), unlike -ffast-math.
 *
 * `UNIT_BREAK` and `TH_UNIT_FN`: a module is a prelude (this header, types, prototypes) and
 * pieces that compiler.ts may build as separate translation units in parallel (cold compiles of
 * big modules; the W3 MLP step went from 1.8 s to 1.05 s on 2 cores). Everything here stays
 * `static inline` in every unit, so fused loops still inline and vectorise the math.
 */

export const SUPPORT_HEADER = String.raw`#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1 /* lgamma_r */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <math.h>

#if defined(__FMA__) || defined(__aarch64__)
#define TH_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))
#define TH_FMA(a, b, c) __builtin_fma((a), (b), (c))
#else
#define TH_FMAF(a, b, c) ((a) * (b) + (c))
#define TH_FMA(a, b, c) ((a) * (b) + (c))
#endif

static inline float th_asfloat(int32_t i) { union { int32_t i; float f; } u; u.i = i; return u.f; }
static inline int32_t th_asint(float f) { union { int32_t i; float f; } u; u.f = f; return u.i; }
static inline double th_asdouble(int64_t i) { union { int64_t i; double f; } u; u.i = i; return u.f; }
static inline int64_t th_aslong(double f) { union { int64_t i; double f; } u; u.f = f; return u.i; }

/* ---- exp ---- */
static inline float th_expf(float x) {
  /* Selects are the costly part of a vectorised loop (a compare and a blend each): NaN needs
     none, it flows through the arithmetic below (the exponent comes from bits, not from a
     float-to-int conversion, so a NaN never reaches an undefined conversion). */
  float xc = x > 89.0f ? 89.0f : x;
  xc = xc < -104.0f ? -104.0f : xc;
  /* n = round(x / ln 2) by the 1.5 * 2^23 trick: the integer is in t's low mantissa bits */
  float t = TH_FMAF(xc, 1.44269504088896341f, 12582912.0f);
  /* unsigned arithmetic: a NaN's bits give a meaningless but defined n (its result is NaN anyway) */
  int32_t i = (int32_t)((uint32_t)th_asint(t) - 0x4b400000u);
  float n = t - 12582912.0f;
  float r = TH_FMAF(n, -0.693359375f, xc);
  r = TH_FMAF(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = TH_FMAF(p, r, 1.3981999507e-3f);
  p = TH_FMAF(p, r, 8.3334519073e-3f);
  p = TH_FMAF(p, r, 4.1665795894e-2f);
  p = TH_FMAF(p, r, 1.6666665459e-1f);
  p = TH_FMAF(p, r, 5.0000001201e-1f);
  float y = TH_FMAF(p * r, r, r) + 1.0f;
  /* 2^n in two factors: n reaches -150 (subnormal results) and 128 (overflow to inf) */
  int32_t i1 = i >> 1, i2 = i - i1;
  return y * th_asfloat((int32_t)((uint32_t)(i1 + 127) << 23)) * th_asfloat((int32_t)((uint32_t)(i2 + 127) << 23));
}

static inline double th_exp(double x) {
  double xc = x > 710.0 ? 710.0 : x;
  xc = xc < -746.0 ? -746.0 : xc;
  double t = TH_FMA(xc, 1.4426950408889634, 6755399441055744.0);
  int64_t i = (int64_t)((uint64_t)th_aslong(t) - 0x4338000000000000ULL);
  double n = t - 6755399441055744.0;
  double r = TH_FMA(n, -6.93147180369123816490e-01, xc);
  r = TH_FMA(n, -1.90821492927058770002e-10, r);
  double p = 1.0 / 6227020800.0;
  p = TH_FMA(p, r, 1.0 / 479001600.0);
  p = TH_FMA(p, r, 1.0 / 39916800.0);
  p = TH_FMA(p, r, 1.0 / 3628800.0);
  p = TH_FMA(p, r, 1.0 / 362880.0);
  p = TH_FMA(p, r, 1.0 / 40320.0);
  p = TH_FMA(p, r, 1.0 / 5040.0);
  p = TH_FMA(p, r, 1.0 / 720.0);
  p = TH_FMA(p, r, 1.0 / 120.0);
  p = TH_FMA(p, r, 1.0 / 24.0);
  p = TH_FMA(p, r, 1.0 / 6.0);
  p = TH_FMA(p, r, 0.5);
  double y = TH_FMA(p * r, r, r) + 1.0;
  int64_t i1 = i >> 1, i2 = i - i1;
  return y * th_asdouble((int64_t)((uint64_t)(i1 + 1023) << 52)) * th_asdouble((int64_t)((uint64_t)(i2 + 1023) << 52));
}

/* ---- log ---- */
static inline float th_logf(float x) {
  /* subnormals: scale into the normal range first */
  int sub = x < 1.17549435e-38f;
  float xs = sub ? x * 8388608.0f : x;
  int32_t ix = th_asint(xs) & 0x7fffffff; /* |x|: negative x ends as NaN below; no overflow in the subtraction */
  int32_t e = (ix - 0x3f3504f3) >> 23;
  float m = th_asfloat(ix - (int32_t)((uint32_t)e << 23)); /* e < 0 here for x < 1: no signed shift */
  float fe = (float)e - (sub ? 23.0f : 0.0f);
  float f = m - 1.0f;
  float z = f * f;
  float y = 7.0376836292e-2f;
  y = TH_FMAF(y, f, -1.1514610310e-1f);
  y = TH_FMAF(y, f, 1.1676998740e-1f);
  y = TH_FMAF(y, f, -1.2420140846e-1f);
  y = TH_FMAF(y, f, 1.4249322787e-1f);
  y = TH_FMAF(y, f, -1.6668057665e-1f);
  y = TH_FMAF(y, f, 2.0000714765e-1f);
  y = TH_FMAF(y, f, -2.4999993993e-1f);
  y = TH_FMAF(y, f, 3.3333331174e-1f);
  y = y * f * z;
  y = TH_FMAF(fe, -2.12194440e-4f, y);
  y = TH_FMAF(-0.5f, z, y);
  float r = f + y;
  r = TH_FMAF(fe, 0.693359375f, r);
  r = x == INFINITY ? x : r;
  r = x == 0.0f ? -INFINITY : r;
  r = ((x < 0.0f) | (x != x)) ? NAN : r;
  return r;
}

static inline double th_log(double x) { return log(x); }

/* ---- log1p, expm1 ---- */
static inline float th_log1pf(float x) {
  /* Goldberg: log(u) * x / (u - 1) with u = 1 + x rounded, exact when u == 1 */
  float u = 1.0f + x;
  float d = u - 1.0f;
  float q = d == 0.0f ? 1.0f : x / d;
  float r = th_logf(u) * q;
  r = d == 0.0f ? x : r;
  r = x == INFINITY ? x : r;
  return r;
}
static inline double th_log1p(double x) { return log1p(x); }

static inline float th_expm1f(float x) {
  /* |x| < 0.5: Taylor series to x^9 (relative error < 1e-9); beyond: exp(x) - 1 */
  float p = 1.0f / 362880.0f;
  p = TH_FMAF(p, x, 1.0f / 40320.0f);
  p = TH_FMAF(p, x, 1.0f / 5040.0f);
  p = TH_FMAF(p, x, 1.0f / 720.0f);
  p = TH_FMAF(p, x, 1.0f / 120.0f);
  p = TH_FMAF(p, x, 1.0f / 24.0f);
  p = TH_FMAF(p, x, 1.0f / 6.0f);
  p = TH_FMAF(p, x, 0.5f);
  float s = TH_FMAF(p * x, x, x);
  float l = th_expf(x) - 1.0f;
  float ax = x < 0.0f ? -x : x;
  float r = ax < 0.5f ? s : l;
  return x == 0.0f ? x : r;
}
static inline double th_expm1(double x) { return expm1(x); }

/* ---- tanh, sigmoid, softplus ---- */
static inline float th_tanhf(float x) {
  /* on |x|, with x's sign put back at the end (tanh is odd): fabs and copysign are bit
     operations, where the selects they replace cost a compare and a blend each */
  float ax = __builtin_fabsf(x);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = TH_FMAF(p, z, 2.06390887954e-2f);
  p = TH_FMAF(p, z, -5.37397155531e-2f);
  p = TH_FMAF(p, z, 1.33314422036e-1f);
  p = TH_FMAF(p, z, -3.33332819422e-1f);
  float small = TH_FMAF(ax * z, p, ax);
  float e = th_expf(2.0f * ax);
  float big = 1.0f - 2.0f / (e + 1.0f);
  float r = ax < 0.625f ? small : big;
  return __builtin_copysignf(r, x);
}
static inline double th_tanh(double x) { return tanh(x); }

static inline float th_sigmoidf(float x) {
  /* NaN: e is NaN and x >= 0 is false, so e * d is NaN */
  float e = th_expf(-__builtin_fabsf(x));
  float d = 1.0f / (1.0f + e);
  return x >= 0.0f ? d : e * d;
}
static inline double th_sigmoid(double x) {
  double e = th_exp(-__builtin_fabs(x));
  double d = 1.0 / (1.0 + e);
  return x >= 0.0 ? d : e * d;
}

static inline float th_softplusf(float x) {
  float ax = __builtin_fabsf(x);
  float m = x > 0.0f ? x : 0.0f;
  return m + th_log1pf(th_expf(-ax));
}
static inline double th_softplus(double x) {
  double ax = __builtin_fabs(x);
  double m = x > 0.0 ? x : 0.0;
  return m + log1p(th_exp(-ax));
}

/* ---- erf: evaluated in double, fitted polynomials (relative error < 2e-9) ---- */
static inline float th_erff(float xf) {
  double x = xf;
  double ax = x < 0.0 ? -x : x;
  double z = x * x;
  double s = 7.8980685378221481e-05;
  s = TH_FMA(s, z, -0.00080243166325291845);
  s = TH_FMA(s, z, 0.0051900499644092725);
  s = TH_FMA(s, z, -0.026854807016273716);
  s = TH_FMA(s, z, 0.11283612402789212);
  s = TH_FMA(s, z, -0.37612628842481638);
  s = TH_FMA(s, z, 1.1283791665105314);
  double small = x * s;
  double axc = ax < 1.0 ? 1.0 : ax;
  axc = axc > 4.0 ? 4.0 : axc;
  double t = 1.0 / axc;
  double g = 0.021029285905702497;
  g = TH_FMA(g, t, -0.17877473634270971);
  g = TH_FMA(g, t, 0.68342448078824791);
  g = TH_FMA(g, t, -1.5439481697824149);
  g = TH_FMA(g, t, 2.2619384008594356);
  g = TH_FMA(g, t, -2.1793876649377806);
  g = TH_FMA(g, t, 1.2571533641659971);
  g = TH_FMA(g, t, -0.20539842390090512);
  g = TH_FMA(g, t, -0.24979669953750949);
  g = TH_FMA(g, t, -0.0029673692500342156);
  g = TH_FMA(g, t, 0.56431110800084094);
  double big = 1.0 - th_exp(-axc * axc) * g * t;
  big = ax > 4.0 ? 1.0 : big;
  big = x < 0.0 ? -big : big;
  double r = ax < 1.0 ? small : big;
  return (float)r;
}
static inline double th_erf(double x) { return erf(x); }

/* ---- a vectorisable float64 log (for pow): atanh series, |s| <= 0.1716, 10 terms, ~1 ulp ---- */
static inline double th_logv(double x) {
  int sub = x < 2.2250738585072014e-308;
  double xs = sub ? x * 4503599627370496.0 : x;
  int64_t ix = th_aslong(xs) & INT64_MAX;
  int64_t e = (ix - INT64_C(0x3fe6a09e667f3bcd)) >> 52;
  double m = th_asdouble(ix - (int64_t)((uint64_t)e << 52));
  double fe = (double)e - (sub ? 52.0 : 0.0);
  double s = (m - 1.0) / (m + 1.0);
  double z = s * s;
  double p = 1.0 / 21;
  p = TH_FMA(p, z, 1.0 / 19); p = TH_FMA(p, z, 1.0 / 17); p = TH_FMA(p, z, 1.0 / 15); p = TH_FMA(p, z, 1.0 / 13);
  p = TH_FMA(p, z, 1.0 / 11); p = TH_FMA(p, z, 1.0 / 9); p = TH_FMA(p, z, 1.0 / 7); p = TH_FMA(p, z, 1.0 / 5);
  p = TH_FMA(p, z, 1.0 / 3);
  double r = TH_FMA(2.0 * s * z, p, 2.0 * s);
  r = TH_FMA(fe, 1.90821492927058770002e-10, r);
  r = TH_FMA(fe, 6.93147180369123816490e-01, r);
  r = x == INFINITY ? x : r;
  r = x == 0.0 ? -INFINITY : r;
  r = ((x < 0.0) | (x != x)) ? NAN : r;
  return r;
}

/* ---- powf = exp(y·log|x|) in double (the error of y·log|x| stays far below a float ulp), with
   C99's special cases as selects: pow(x, ±0) = 1, pow(1, y) = 1, pow(-1, ±inf) = 1, odd integer
   powers keep the sign, a negative finite base to a non-integer power is NaN. ---- */
static inline float th_powf(float xf, float yf) {
  double x = xf, y = yf;
  double ax = x < 0.0 ? -x : x;
  double ay = y < 0.0 ? -y : y;
  double r = th_exp(y * th_logv(ax));
  /* integer and odd-integer tests in double arithmetic only (selects that vectorise): floats
     of magnitude 2^24 and more are even integers */
  const double M = 6755399441055744.0;
  double yr = ay < 16777216.0 ? (y + M) - M : y;
  double half = yr * 0.5;
  double hr = ay < 16777216.0 ? (half + M) - M : half;
  int yint = yr == y;
  int yodd = yint & (hr != half);
  int neg = __builtin_copysign(1.0, x) < 0.0; /* the sign bit: -0 counts */
  r = (neg & yodd) ? -r : r;
  r = ((x < 0.0) & (x != -INFINITY) & !yint) ? NAN : r;
  r = ((ax == 1.0) & (ay == INFINITY)) ? 1.0 : r;
  r = ((y == 0.0) | (x == 1.0)) ? 1.0 : r;
  return (float)r;
}

/* ---- trigonometric: libm (correct for every argument; not vectorised) ---- */
static inline float th_sinf(float x) { return sinf(x); }
static inline double th_sin(double x) { return sin(x); }
static inline float th_cosf(float x) { return cosf(x); }
static inline double th_cos(double x) { return cos(x); }

/* ---- erfinv and digamma, ports of src/scalar/math.ts (float64) ---- */
static inline double th_erfinv(double y) {
  if (y != y || y < -1.0 || y > 1.0) return NAN;
  if (y == 1.0) return INFINITY;
  if (y == -1.0) return -INFINITY;
  double w = -log((1.0 - y) * (1.0 + y)), x, p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-8; p = 3.43273939e-7 + p * w; p = -3.5233877e-6 + p * w; p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w; p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257; p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w; p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  x = p * y;
  for (int i = 0; i < 3; i++) {
    double err = fabs(y) > 0.9 ? -(erfc(x) - (1.0 - y)) : erf(x) - y;
    x -= err / (1.1283791670955126 * exp(-x * x));
  }
  return x;
}
static inline float th_erfinvf(float y) { return (float)th_erfinv(y); }

static inline double th_psi(double x) {
  if (x != x || x == -INFINITY) return NAN;
  if (x == INFINITY) return INFINITY;
  if (x == 0.0) return signbit(x) ? INFINITY : -INFINITY;
  if (x < 0.0 && x == floor(x)) return NAN;
  double r = 0.0;
  if (x < 0.0) { r = -3.141592653589793 / tan(3.141592653589793 * x); x = 1.0 - x; }
  while (x < 6.0) { r -= 1.0 / x; x += 1.0; }
  double f = 1.0 / (x * x);
  double t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132 + f * (691.0 / 32760 + f * (-1.0 / 12)))))));
  return r + log(x) - 0.5 / x + t;
}
static inline float th_psif(float x) { return (float)th_psi(x); }

static inline double th_trigamma_pos(double x) {
  double r = 0.0;
  while (x < 10.0) { r += 1.0 / (x * x); x += 1.0; }
  double f = 1.0 / (x * x);
  return r + 1.0 / x + f / 2.0 + (f / x) * (1.0 / 6 + f * (-1.0 / 30 + f * (1.0 / 42 + f * (-1.0 / 30 + f * (5.0 / 66 + f * (-691.0 / 2730 + f * (7.0 / 6)))))));
}
static inline double th_trigamma(double x) {
  if (x != x) return NAN;
  if (x == INFINITY) return 0.0;
  if (x <= 0.0 && (x == floor(x) || x == -INFINITY)) return INFINITY;
  if (x < 0.0) { double s = sin(3.141592653589793 * x); return 3.141592653589793 * 3.141592653589793 / (s * s) - th_trigamma_pos(1.0 - x); }
  return th_trigamma_pos(x);
}
static inline float th_trigammaf(float x) { return (float)th_trigamma(x); }

/* log|gamma| with SciPy's edges: -inf at -inf, +inf at the poles (0 and negative integers) */
static inline double th_lgamma(double x) {
  if (x == -INFINITY) return -INFINITY;
  if (x <= 0.0 && x == floor(x)) return INFINITY;
#ifdef __GLIBC__
  int sign; /* lgamma writes the global signgam: a data race under OpenMP; lgamma_r does not */
  return lgamma_r(x, &sign);
#else
  return lgamma(x);
#endif
}
static inline float th_lgammaf(float x) { return (float)th_lgamma(x); }

/* ---- NumPy's min/max (NaN propagates; of equal zeros the second), clip = min(max(x, lo), hi) ----
   Operands are always plain locals in generated code, so evaluating them twice is harmless. */
#define th_max(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))
#define th_min(a, b) (((a) < (b) || (a) != (a)) ? (a) : (b))
#define th_clip(x, lo, hi) th_min(th_max((x), (lo)), (hi))

/* ---- Python/NumPy floor division and modulo ---- */
static inline int64_t th_floordiv_i64(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return (int64_t)(0u - (uint64_t)a); /* INT64_MIN / -1 wraps, as NumPy */
  int64_t q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}
static inline uint64_t th_floordiv_u64(uint64_t a, uint64_t b) { return b == 0 ? 0 : a / b; }
static inline int64_t th_mod_i64(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static inline uint64_t th_mod_u64(uint64_t a, uint64_t b) { return b == 0 ? 0 : a % b; }
#define th_floordiv_int(a, b) _Generic((a) + (b), uint64_t: th_floordiv_u64, default: th_floordiv_i64)((a), (b))
#define th_mod_int(a, b) _Generic((a) + (b), uint64_t: th_mod_u64, default: th_mod_i64)((a), (b))

static inline double th_floordiv(double a, double b) {
  if (b == 0.0) return a / b;
  double mod = fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0.0) != (mod < 0.0))) { mod += b; div -= 1.0; }
  if (div == 0.0) return copysign(0.0, a / b);
  double q = floor(div);
  if (div - q > 0.5) q += 1.0;
  return q;
}
static inline float th_floordivf(float a, float b) { return (float)th_floordiv(a, b); }
static inline double th_mod(double a, double b) {
  if (b == 0.0) return NAN;
  double r = fmod(a, b);
  if (r == 0.0) return b < 0.0 ? -0.0 : 0.0;
  return ((r < 0.0) != (b < 0.0)) ? r + b : r;
}
static inline float th_modf(float a, float b) { return (float)th_mod(a, b); }

/* integer power by squaring, wrapping like NumPy; negative exponents give 0 (±1 for bases ±1) */
static inline int64_t th_pow_i64(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
  uint64_t r = 1, x = (uint64_t)a;
  while (b) { if (b & 1) r *= x; x *= x; b >>= 1; }
  return (int64_t)r;
}
static inline uint64_t th_pow_u64(uint64_t a, uint64_t b) {
  uint64_t r = 1;
  while (b) { if (b & 1) r *= a; a *= a; b >>= 1; }
  return r;
}
#define th_pow_int(a, b) _Generic((a) + (b), uint64_t: th_pow_u64, default: th_pow_i64)((a), (b))

/* ---- float -> integer stores as JS typed arrays do them: truncate, wrap modulo 2^64, NaN/Inf -> 0 ---- */
static inline uint64_t th_f2u64(double x) {
  if (!(x == x) || x == INFINITY || x == -INFINITY) return 0;
  double t = trunc(x);
  /* In range, only a positive t is converted directly; zero and negatives go through -t (so -0
     becomes +0). Under no-trapping-math gcc folds (double)(int64_t)t and (double)(uint64_t)t
     back into trunc(x), which keeps the sign of -0 (-0.5 -> -0, where an integer, and perform,
     has +0), and it drops a later "+ 0.0" as a no-op on an integer's conversion. */
  if (t > -9223372036854775808.0 && t < 9223372036854775808.0) return t > 0 ? (uint64_t)t : (uint64_t)0 - (uint64_t)(-t);
  double m = fmod(t, 18446744073709551616.0);
  if (m < 0.0) m += 18446744073709551616.0;
  return m >= 9223372036854775808.0 ? (uint64_t)(m - 9223372036854775808.0) + 9223372036854775808u : (uint64_t)m;
}

/* ---- shapes and errors ---- */
static inline int64_t th_size(int nd, const int64_t *shape) { int64_t n = 1; for (int i = 0; i < nd; i++) n *= shape[i]; return n; }
/* whether a shape has more than 2^53 - 1 elements, counting its non-zero dimensions only (NumPy's
   "array is too big"): sizes travel to the host as doubles, exact up to 2^53, and past it th_size
   and the strides would wrap (2^32 x 2^32 is 0 in int64). Every computed output shape is checked
   with it before its strides, so no size product after it can overflow. */
static inline int th_too_large(int nd, const int64_t *shape) {
  uint64_t n = 1;
  for (int i = 0; i < nd; i++) {
    if (shape[i] == 0) continue;
    if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n) || n > 9007199254740991ull) return 1;
  }
  return 0;
}
/* C-contiguous (dimensions of size 1 may have any stride) */
static inline int th_contiguous(int nd, const int64_t *shape, const int64_t *strides) {
  int64_t want = 1;
  for (int i = nd - 1; i >= 0; i--) { if (shape[i] != 1 && strides[i] != want) return 0; want *= shape[i]; }
  return 1;
}
/* OpenMP's thread count and id; one thread when the module is built without -fopenmp */
#ifdef _OPENMP
#include <omp.h>
static inline int th_omp_max_threads(void) { return omp_get_max_threads(); }
static inline int th_omp_thread_num(void) { return omp_get_thread_num(); }
static inline int th_omp_num_threads(void) { return omp_get_num_threads(); }
#else
static inline int th_omp_max_threads(void) { return 1; }
static inline int th_omp_thread_num(void) { return 0; }
static inline int th_omp_num_threads(void) { return 1; }
#endif
/* Memory for results and scratch. malloc, not posix_memalign: glibc's aligned allocation splits
   blocks so that the freed ones were not reused by the next call, and the heap grew into fresh
   pages on every call (the MLP training step: ~620 page faults a call, about 40 % of its time,
   and 500 MB resident). Every kernel uses unaligned vector loads, so malloc's 16 bytes suffice. */
static inline void *th_alloc(int64_t bytes) {
  size_t n = (size_t)(bytes > 0 ? bytes : 1);
  n = (n + 63) & ~(size_t)63;
  return malloc(n);
}
/* whether a strided array (elements of es bytes) reaches any byte of [q, q + qbytes) */
static inline int th_overlaps(const void *p, int nd, const int64_t *shape, const int64_t *strides, size_t es, const void *q, int64_t qbytes) {
  int64_t lo = 0, hi = 0;
  for (int i = 0; i < nd; i++) {
    if (shape[i] == 0) return 0;
    int64_t e = (shape[i] - 1) * strides[i];
    if (e > 0) hi += e; else lo += e;
  }
  intptr_t a = (intptr_t)p + (intptr_t)(lo * (int64_t)es), b = (intptr_t)p + (intptr_t)((hi + 1) * (int64_t)es);
  return a < (intptr_t)q + (intptr_t)qbytes && (intptr_t)q < b;
}
static inline void th_fmt_shape(char *buf, size_t cap, int nd, const int64_t *s) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, cap - k, "(");
  for (int i = 0; i < nd && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)s[i]);
  if (k < cap) snprintf(buf + k, cap - k, nd == 1 ? ",)" : ")");
}

/* ---- the convolution and pooling helpers' geometry (link/c/ops/conv.ts). The helpers are
   defined in the shared runtime library (TH_HELPER_LINKAGE exported) or, where there is none,
   once per translation unit that calls them (static) ---- */
typedef struct { int64_t C, H, W, KH, KW, OH, OW, sh, sw, dh, dw, ph, pw, flip; } th_conv_geom;
typedef struct { int64_t H, W, PR, PC, wr, wc, sr, sc, pr, pc; } th_pool_geom;
#ifndef TH_HELPER_LINKAGE
#define TH_HELPER_LINKAGE static __attribute__((unused))
#endif
#define TH_CONV_FN TH_HELPER_LINKAGE __attribute__((noinline))
/* gcc vectorises the loops over one pooling window's few columns with masked AVX-512 code whose
   set-up costs far more than the window (MaxPoolGrad 2x2 on 64x20x24x24: 3.0 ms vectorised,
   0.45 ms not) */
#if defined(__GNUC__) && !defined(__clang__)
#define TH_POOL_FN TH_HELPER_LINKAGE __attribute__((noinline, optimize("no-tree-vectorize")))
#else
#define TH_POOL_FN TH_HELPER_LINKAGE __attribute__((noinline))
#endif
/* window i along one axis of an input of size: real elements [s, e), span n in padded
   coordinates (a macro: the pooling loops are compiled with options of their own, and gcc does
   not inline a function compiled with others into them) */
#define TH_POOL_WIN(i, size, ws, st, pad, s, e, n) do { \
    const int64_t p0_ = (i) * (st), p1_ = p0_ + (ws) < (size) + 2 * (pad) ? p0_ + (ws) : (size) + 2 * (pad); \
    s = (p0_ > (pad) ? p0_ : (pad)) - (pad); e = (p1_ < (size) + (pad) ? p1_ : (size) + (pad)) - (pad); n = p1_ - p0_; \
  } while (0)
/* every window whole (no padding, none past the input's edge): the branch-free loops */
#define TH_POOL_FULL(g) ((g)->pr == 0 && (g)->pc == 0 && (g)->PR > 0 && (g)->PC > 0 && ((g)->PR - 1) * (g)->sr + (g)->wr <= (g)->H && ((g)->PC - 1) * (g)->sc + (g)->wc <= (g)->W)

/* ---- functions one piece of a module defines and another calls: static in one translation
   unit; hidden (visible across the module's units, not outside the shared object) when
   compileSharedObject builds the pieces as separate units in parallel (TH_SPLIT) ---- */
#ifdef TH_SPLIT
#define TH_UNIT_FN __attribute__((visibility("hidden")))
#else
#define TH_UNIT_FN static
#endif
`;

/**
 * The line that separates a module's pieces. Everything before the first one (this header, type
 * definitions, prototypes) is the prelude every piece needs; each piece after it may be compiled
 * as its own translation unit (with the prelude and `#define TH_SPLIT`), so a multi-core machine
 * runs gcc on them in parallel and links the objects (compiler.ts `compileSharedObject`). As a
 * comment it leaves the source one valid translation unit, which is how it is kept and keyed.
 */
export const UNIT_BREAK = "\n/* ---- theano-ts: translation unit break ---- */\n";
