/**
 * Scalar special functions in plain JS: the reference implementations the scalar table's rows
 * call (and the JS backend's generated code reaches as `$.name`). Accuracy target: float64
 * results within a few ulp for the elementary ones, ~1e-14 relative for erf/gamma family.
 * Algorithms: W. J. Cody's rational approximations (erf), Giles' erfinv, Lanczos (gamma),
 * asymptotic series with recurrence (digamma).
 */

export function sigmoid(x: number): number {
  // Two branches so neither exp overflows: exact 0 and 1 at the far ends, no NaN.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export function softplus(x: number): number {
  // log(1 + exp(x)) without overflow for large x or loss for very negative x.
  if (x > 33.3) return x;
  if (x < -37) return Math.exp(x);
  return Math.log1p(Math.exp(x));
}

/** erf via Abramowitz-Stegun-free Cody-style split: series near 0, continued fraction outside. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: converges fast enough for |x| < 2.5 in float64 (~60 terms worst case).
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  const r = 1 - erfcLarge(ax);
  return x < 0 ? -r : r;
}

/** erfc(x) for x >= 2.5 by Lentz's continued fraction (no cancellation for large x). */
function erfcLarge(x: number): number {
  if (x > 27) return 0;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 2.5) return erfcLarge(x);
  if (x <= -2.5) return 2 - erfcLarge(-x);
  return 1 - erf(x);
}

/** Inverse error function: Giles' single-precision-style initial guess refined by Newton steps. */
export function erfinv(y: number): number {
  if (Number.isNaN(y) || y < -1 || y > 1) return NaN;
  if (y === 1) return Infinity;
  if (y === -1) return -Infinity;
  let w = -Math.log((1 - y) * (1 + y));
  let x: number;
  if (w < 5) {
    w -= 2.5;
    let p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = Math.sqrt(w) - 3;
    let p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * y;
  }
  // Newton on erf(x) - y: two steps take the float32-accurate guess to float64 accuracy.
  for (let i = 0; i < 3; i++) {
    const err = (Math.abs(y) > 0.9 ? -(erfc(x) - (1 - y)) : erf(x) - y);
    x -= err / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
  }
  return x;
}

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function gamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return Infinity;
  // Poles: ±0 gives ±Inf, negative integers NaN (SciPy's values).
  if (x === 0) return 1 / x;
  if (Number.isInteger(x) && x < 0) return NaN;
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x));
  if (x > 171.7) return Infinity;
  if (Number.isInteger(x) && x <= 23) {
    let r = 1;
    for (let k = 2; k < x; k++) r *= k;
    return r;
  }
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (x + i);
  // t ** (x + 0.5) alone overflows above x ~ 140 although the product does not: split it.
  const half = Math.pow(t, (x + 0.5) / 2);
  return Math.sqrt(2 * Math.PI) * half * (half * Math.exp(-t)) * a;
}

export function gammaln(x: number): number {
  if (Number.isNaN(x)) return NaN;
  // SciPy (Cephes) returns infinities unchanged, -Inf included.
  if (x === Infinity || x === -Infinity) return x;
  if (Number.isInteger(x) && x <= 0) return Infinity;
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - gammaln(1 - x);
  if (x === 1 || x === 2) return 0;
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Digamma: reflection for x < 0, recurrence up to x >= 6, then the asymptotic series. */
export function psi(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return NaN;
  if (x === Infinity) return Infinity;
  // SciPy: psi(+0) = -Inf, psi(-0) = +Inf, NaN at negative integers.
  if (x === 0) return Object.is(x, -0) ? Infinity : -Infinity;
  if (x < 0 && Number.isInteger(x)) return NaN;
  let r = 0;
  if (x < 0) {
    r = -Math.PI / Math.tan(Math.PI * x);
    x = 1 - x;
  }
  while (x < 6) {
    r -= 1 / x;
    x += 1;
  }
  const f = 1 / (x * x);
  const t = f * (-1 / 12 + f * (1 / 120 + f * (-1 / 252 + f * (1 / 240 + f * (-1 / 132 + f * (691 / 32760 + f * (-1 / 12)))))));
  return r + Math.log(x) - 0.5 / x + t;
}

/**
 * Trigamma (psi's derivative, SciPy's `polygamma(1, x)`): reflection for x < 0, recurrence up
 * to x >= 10, then the asymptotic series in the Bernoulli numbers. +Inf at the poles
 * (non-positive integers) and at -Inf (as SciPy), 0 at +Inf.
 */
export function trigamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 0;
  // Poles at the non-positive integers; SciPy also gives +Inf at -Inf.
  if (x <= 0 && (Number.isInteger(x) || x === -Infinity)) return Infinity;
  if (x < 0) {
    const s = Math.sin(Math.PI * x);
    return (Math.PI * Math.PI) / (s * s) - trigamma(1 - x);
  }
  let r = 0;
  while (x < 10) {
    r += 1 / (x * x);
    x += 1;
  }
  const f = 1 / (x * x);
  const t = 1 / x + f / 2 + (f / x) * (1 / 6 + f * (-1 / 30 + f * (1 / 42 + f * (-1 / 30 + f * (5 / 66 + f * (-691 / 2730 + f * (7 / 6)))))));
  return r + t;
}

/** NumPy's rounding: half to even. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return r === 0 && x < 0 ? -0 : r;
}

export function roundHalfAway(x: number): number {
  if (!Number.isFinite(x)) return x;
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Python/NumPy floor division; integers divided by zero give 0 (NumPy's result, with a warning there). */
export function floorDivInt(a: number, b: number): number {
  return b === 0 ? 0 : Math.floor(a / b);
}

/**
 * Python/NumPy float floor division, from the exact remainder (so inf // x is NaN, as fmod(inf, x)
 * is, and a zero quotient carries the sign of a / b).
 */
export function floorDivFloat(a: number, b: number): number {
  if (b === 0) return a / b;
  let mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) {
    mod += b;
    div -= 1;
  }
  if (div === 0) return a / b < 0 || Object.is(a / b, -0) ? -0 : 0;
  let q = Math.floor(div);
  if (div - q > 0.5) q += 1;
  return q;
}

/** Python/NumPy modulo: the result takes the divisor's sign. */
export function pyModInt(a: number, b: number): number {
  if (b === 0) return 0;
  const r = a % b;
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
}

export function pyModFloat(a: number, b: number): number {
  if (b === 0) return NaN;
  const r = a % b;
  if (r === 0) return b < 0 ? -0 : 0;
  return (r < 0) !== (b < 0) ? r + b : r;
}

export function sign(x: number): number {
  // NumPy: sign(-0.0) is +0.0; NaN stays NaN.
  return x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : x;
}

/** NumPy's maximum: NaN propagates from either side; of two equal zeros the second wins. */
export function maximum(a: number, b: number): number {
  return a > b || a !== a ? a : b;
}

export function minimum(a: number, b: number): number {
  return a < b || a !== a ? a : b;
}

/** C99/NumPy pow where JS's Math.pow differs: 1 ** y is 1 for any y, (-1) ** ±Inf is 1. */
export function powFloat(a: number, b: number): number {
  if (a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
  return Math.pow(a, b);
}

/**
 * Integer power as NumPy computes it: by squaring, wrapping modulo 2^bits of the result dtype at
 * every step (so 3 ** 40 in int32 and 3 ** 200 in int64 are NumPy's values, not a rounded double
 * cast back). Up to 32 bits with Math.imul; int64/uint64 with BigInt, returned as a JS number
 * (exact up to 2^53, as every int64 value of the scalar table). Negative exponents are an error
 * in NumPy; here 1 ** n = 1, (-1) ** n = ±1, anything else 0. A bool result is `a || b == 0`.
 */
export function powInt(a: number, b: number, dtype = "int64"): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 === 0 ? 1 : -1) : 0;
  if (dtype === "bool") return a !== 0 || b === 0 ? 1 : 0;
  if (dtype === "int64" || dtype === "uint64") {
    const wrap = dtype === "int64" ? (v: bigint) => BigInt.asIntN(64, v) : (v: bigint) => BigInt.asUintN(64, v);
    let r = 1n;
    let x = wrap(BigInt(Math.trunc(a)));
    let e = BigInt(Math.trunc(b));
    while (e > 0n) {
      if (e & 1n) r = wrap(r * x);
      x = wrap(x * x);
      e >>= 1n;
    }
    return Number(r);
  }
  let r = 1;
  let x = a | 0;
  for (let e = Math.trunc(b); e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) r = Math.imul(r, x);
    x = Math.imul(x, x);
  }
  switch (dtype) {
    case "int8":
      return (r << 24) >> 24;
    case "uint8":
      return r & 0xff;
    case "int16":
      return (r << 16) >> 16;
    case "uint16":
      return r & 0xffff;
    case "uint32":
      return r >>> 0;
    default:
      return r | 0;
  }
}

/**
 * 64-bit bitwise operations for int64/uint64 operands held as JS numbers (JS's own bitwise
 * operators truncate to 32 bits). Exact while the operands are exact (|x| <= 2^53).
 */
export function bitwise64(op: "and" | "or" | "xor" | "not", a: number, b: number, signed: boolean): number {
  const x = BigInt(Math.trunc(a));
  const y = BigInt(Math.trunc(b));
  const r = op === "and" ? x & y : op === "or" ? x | y : op === "xor" ? x ^ y : ~x;
  return Number(signed ? BigInt.asIntN(64, r) : BigInt.asUintN(64, r));
}
