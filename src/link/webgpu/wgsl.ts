/**
 * WGSL for the scalar table: the WGSL expression of each row (as link/c/codegen.ts renders the
 * C templates), the value conversions WGSL makes explicit (it converts nothing implicitly), and
 * the small helper functions the rows call, emitted only when a kernel uses them.
 *
 * Types: WGSL has f32, i32, u32 and bool (f16 with `shader-f16`), no 64-bit types: float64 and
 * int64 nodes stay on the host. A bool is a `bool` inside a kernel and a u32 0/1 in a buffer
 * (storage buffers cannot hold bool). Arithmetic on i32/u32 wraps, as NumPy's does.
 *
 * NaN/Inf (documented in test/link/webgpu/elemwise.test.ts): WGSL lets a compiler assume finite
 * floats in some builtins, so NaN tests are bit tests (`th_isnan`), minimum/maximum/clip
 * propagate NaN as NumPy does, and `pow`/`mod`/`intDiv` follow Python's rules by helpers.
 * Float → int casts of out-of-range values clamp in WGSL (NumPy's are undefined; the host's JS
 * perform wraps), and NaN → int gives 0 on the host and an unspecified value in WGSL.
 */

import { type DType, resultType } from "../../ndarray/dtype.js";

export type WScalar = "f32" | "i32" | "u32" | "bool";

export function wgslScalar(d: DType): WScalar | null {
  switch (d) {
    case "float32":
      return "f32";
    case "int32":
      return "i32";
    case "uint32":
      return "u32";
    case "bool":
      return "bool";
    default:
      return null;
  }
}

/** The element type of a storage buffer holding `w` values. */
export const storageOf = (w: WScalar): "f32" | "i32" | "u32" => (w === "bool" ? "u32" : w);

/** A value read from a storage buffer, as a `w`. */
export const loadAs = (expr: string, w: WScalar): string => (w === "bool" ? `(${expr} != 0u)` : expr);

/** A `w` value as stored in a buffer. */
export const storeAs = (expr: string, w: WScalar): string => (w === "bool" ? `select(0u, 1u, ${expr})` : expr);

export function literal(v: number, w: WScalar): string {
  switch (w) {
    case "bool":
      return v !== 0 ? "true" : "false";
    case "u32":
      return `${v >>> 0}u`;
    case "i32":
      return v === -2147483648 ? "i32(-2147483647 - 1)" : `${v | 0}i`;
    case "f32":
      if (Number.isNaN(v)) return "th_f32_bits(0x7fc00000u)";
      if (v === Infinity) return "th_f32_bits(0x7f800000u)";
      if (v === -Infinity) return "th_f32_bits(0xff800000u)";
      return `${Object.is(v, -0) ? "-0.0" : Number.isInteger(v) ? v.toFixed(1) : String(Math.fround(v))}f`;
    default:
      w satisfies never;
      return String(v);
  }
}

/** Converts `expr` of type `from` to `to` as NumPy's astype would (within WGSL's rules above). */
export function convert(expr: string, from: WScalar, to: WScalar): string {
  if (from === to) return expr;
  // NaN is true (NumPy's truthiness), stated so that no-NaN compilation cannot drop it.
  if (to === "bool") return from === "f32" ? `(${expr} != 0.0f || th_isnan(${expr}))` : `(${expr} != ${literal(0, from)})`;
  return `${to}(${expr})`;
}

/** The types a row's operands are converted to before the row's expression is applied. */
export function operandTypes(name: string, out: WScalar, ins: readonly DType[]): WScalar[] | null {
  switch (name) {
    case "eq":
    case "neq":
    case "lt":
    case "le":
    case "gt":
    case "ge": {
      const c = wgslScalar(resultType(ins));
      if (!c) return null;
      return ins.map(() => (c === "bool" && name !== "eq" && name !== "neq" ? "u32" : c));
    }
    case "isnan":
    case "isinf": {
      const c = wgslScalar(ins[0]!);
      return c ? [c] : null;
    }
    case "where":
      return ["bool", out, out];
    default:
      return ins.map(() => out);
  }
}

/** WGSL helper functions, by name; a kernel includes those its body mentions. */
const HELPERS: Record<string, string> = {
  // NaN and ±Inf: a WGSL constant expression may not be one, a call of a user function is not constant.
  th_f32_bits: "fn th_f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }",
  th_isnan: "fn th_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }",
  th_isinf: "fn th_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }",
  th_min_f32: "fn th_min_f32(a: f32, b: f32) -> f32 { return select(b, a, a < b || th_isnan(a)); }",
  th_max_f32: "fn th_max_f32(a: f32, b: f32) -> f32 { return select(b, a, a > b || th_isnan(a)); }",
  th_sign_f32: "fn th_sign_f32(x: f32) -> f32 { if (x > 0.0) { return 1.0; } if (x < 0.0) { return -1.0; } if (x == 0.0) { return 0.0; } return x; }",
  th_floordiv_i32:
    "fn th_floordiv_i32(a: i32, b: i32) -> i32 { if (b == 0i) { return 0i; } let q = a / b; if ((a % b != 0i) && ((a < 0i) != (b < 0i))) { return q - 1i; } return q; }",
  th_floordiv_u32: "fn th_floordiv_u32(a: u32, b: u32) -> u32 { if (b == 0u) { return 0u; } return a / b; }",
  th_mod_i32: "fn th_mod_i32(a: i32, b: i32) -> i32 { if (b == 0i) { return 0i; } let r = a % b; if (r != 0i && ((r < 0i) != (b < 0i))) { return r + b; } return r; }",
  th_mod_u32: "fn th_mod_u32(a: u32, b: u32) -> u32 { if (b == 0u) { return 0u; } return a % b; }",
  // Python's float remainder: the sign of the divisor; WGSL's % on f32 truncates like fmod.
  th_mod_f32:
    "fn th_mod_f32(a: f32, b: f32) -> f32 { if (b == 0.0) { return th_f32_bits(0x7fc00000u); } let r = a % b; if (r == 0.0) { return select(0.0, -0.0, b < 0.0); } if ((r < 0.0) != (b < 0.0)) { return r + b; } return r; }",
  th_floordiv_f32:
    "fn th_floordiv_f32(a: f32, b: f32) -> f32 { if (b == 0.0) { return a / b; } var m = a % b; var d = (a - m) / b; if (m != 0.0 && ((b < 0.0) != (m < 0.0))) { m = m + b; d = d - 1.0; } if (d == 0.0) { return select(0.0, -0.0, (a < 0.0) != (b < 0.0)); } var q = floor(d); if (d - q > 0.5) { q = q + 1.0; } return q; }",
  // pow with NumPy's results for negative bases with integral exponents (WGSL's pow is exp2(y*log2(x))).
  th_pow_f32:
    "fn th_pow_f32(a: f32, b: f32) -> f32 { if (b == 0.0 || a == 1.0) { return 1.0; } if (th_isnan(a) || th_isnan(b)) { return a + b; } if (a == -1.0 && th_isinf(b)) { return 1.0; } let m = pow(abs(a), b); if (a >= 0.0) { return select(m, select(0.0, th_f32_bits(0x7f800000u), b < 0.0), a == 0.0); } if (trunc(b) != b) { return th_f32_bits(0x7fc00000u); } if (abs(b) < 16777216.0 && (i32(b) & 1) == 1) { return -m; } return m; }",
  th_pow_i32:
    "fn th_pow_i32(a: i32, b: i32) -> i32 { if (b < 0i) { if (a == 1i) { return 1i; } if (a == -1i) { return select(-1i, 1i, (b & 1i) == 0i); } return 0i; } var r = 1i; var x = a; var e = b; loop { if (e == 0i) { break; } if ((e & 1i) == 1i) { r = r * x; } x = x * x; e = e >> 1u; } return r; }",
  th_pow_u32:
    "fn th_pow_u32(a: u32, b: u32) -> u32 { var r = 1u; var x = a; var e = b; loop { if (e == 0u) { break; } if ((e & 1u) == 1u) { r = r * x; } x = x * x; e = e >> 1u; } return r; }",
  // atan after Cephes' atanf (range reduction to |t| <= tan(pi/8), then an odd polynomial): about
  // 1e-7 relative, where drivers' atan may be 4096 ULP off (Vulkan's bound); asin, acos and
  // atan2 are built on it.
  th_atan:
    "fn th_atan(x: f32) -> f32 { let a = abs(x); var y = 0.0; var t = a; if (a > 2.414213562373095) { y = 1.5707963267948966; t = -1.0 / a; } else if (a > 0.41421356237309503) { y = 0.7853981633974483; t = (a - 1.0) / (a + 1.0); } let z = t * t; y = y + (((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * t + t; return select(y, -y, x < 0.0); }",
  th_asin: "fn th_asin(x: f32) -> f32 { let a = abs(x); if (a == 1.0) { return select(1.5707963267948966, -1.5707963267948966, x < 0.0); } if (a > 1.0) { return th_f32_bits(0x7fc00000u); } return th_atan(x / sqrt((1.0 - x) * (1.0 + x))); }",
  th_acos: "fn th_acos(x: f32) -> f32 { if (abs(x) > 1.0) { return th_f32_bits(0x7fc00000u); } if (x == -1.0) { return 3.141592653589793; } return 2.0 * th_atan(sqrt((1.0 - x) / (1.0 + x))); }",
  th_atan2:
    "fn th_atan2(y: f32, x: f32) -> f32 { if (th_isnan(x) || th_isnan(y)) { return x + y; } let xneg = (bitcast<u32>(x) >> 31u) == 1u; let s = select(1.0, -1.0, (bitcast<u32>(y) >> 31u) == 1u); let ay = abs(y); let ax = abs(x); var r = 0.0; " +
    "if (ay == 0.0) { r = select(0.0, 3.141592653589793, xneg); } else if (ax == 0.0) { r = 1.5707963267948966; } else if (th_isinf(ax) && th_isinf(ay)) { r = select(0.7853981633974483, 2.356194490192345, xneg); } " +
    "else if (th_isinf(ax)) { r = select(0.0, 3.141592653589793, xneg); } else if (th_isinf(ay)) { r = 1.5707963267948966; } " +
    "else { let base = select(th_atan(ay / ax), 1.5707963267948966 - th_atan(ax / ay), ay > ax); r = select(base, 3.141592653589793 - base, xneg); } return s * r; }",
  th_expm1: "fn th_expm1(x: f32) -> f32 { if (abs(x) < 1e-5) { return x + 0.5 * x * x; } return exp(x) - 1.0; }",
  th_log1p: "fn th_log1p(x: f32) -> f32 { let u = 1.0 + x; if (u == 1.0) { return x; } if (th_isinf(u)) { return u; } return log(u) * (x / (u - 1.0)); }",
  th_sigmoid: "fn th_sigmoid(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }",
  th_softplus: "fn th_softplus(x: f32) -> f32 { if (x > 33.3) { return x; } if (x < -37.0) { return exp(x); } return th_log1p(exp(x)); }",
  th_round_away: "fn th_round_away(x: f32) -> f32 { let t = trunc(x); if (abs(x - t) >= 0.5) { return t + sign(x); } return t; }",
};

/** The helpers `body` calls, with those they call, in dependency order. */
export function helpersFor(body: string): string {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (text: string): void => {
    for (const name of Object.keys(HELPERS)) {
      if (seen.has(name) || !new RegExp(`\\b${name}\\(`).test(text)) continue;
      seen.add(name);
      visit(HELPERS[name]!.slice(HELPERS[name]!.indexOf("{")));
      out.push(HELPERS[name]!);
    }
  };
  visit(body);
  return out.join("\n");
}

const FLOAT_FNS: Record<string, string> = {
  sqrt: "sqrt($0)", exp: "exp($0)", exp2: "exp2($0)", log: "log($0)", log2: "log2($0)",
  log10: "(log2($0) * 0.30102999566398120f)", expm1: "th_expm1($0)", log1p: "th_log1p($0)",
  sin: "sin($0)", cos: "cos($0)", tan: "tan($0)", arcsin: "th_asin($0)", arccos: "th_acos($0)", arctan: "th_atan($0)",
  sinh: "sinh($0)", cosh: "cosh($0)", tanh: "tanh($0)", arcsinh: "asinh($0)", arccosh: "acosh($0)", arctanh: "atanh($0)",
  sigmoid: "th_sigmoid($0)", softplus: "th_softplus($0)", arctan2: "th_atan2($0, $1)", inv: "(1.0f / $0)", trueDiv: "($0 / $1)",
};

const CMP: Record<string, string> = { eq: "==", lt: "<", le: "<=", gt: ">", ge: ">=" };

/**
 * The WGSL expression of row `name` whose result has type `out`, on operands already converted
 * to `operandTypes`; null when the row has no WGSL form for that type (the node stays on the host).
 */
export function rowExpression(name: string, out: WScalar, args: readonly string[], argTypes: readonly WScalar[]): string | null {
  const t = (s: string): string => s.replace(/\$(\d)/g, (_m, k: string) => args[Number(k)]!);
  const f = out === "f32";
  const b = out === "bool";
  switch (name) {
    case "add":
      return t(b ? "($0 || $1)" : "($0 + $1)");
    case "sub":
      return b ? null : t("($0 - $1)");
    case "mul":
      return t(b ? "($0 && $1)" : "($0 * $1)");
    case "intDiv":
      return b ? null : t(`th_floordiv_${out}($0, $1)`);
    case "mod":
      return b ? null : t(`th_mod_${out}($0, $1)`);
    case "pow":
      return b ? null : t(`th_pow_${out}($0, $1)`);
    case "neg":
      return b ? null : t(out === "u32" ? "(0u - $0)" : "(-$0)");
    case "abs":
      return t(f || out === "i32" ? "abs($0)" : "$0");
    case "sign":
      return b ? null : t(f ? "th_sign_f32($0)" : out === "i32" ? "sign($0)" : "select(0u, 1u, $0 > 0u)");
    case "sqr":
      return b ? null : t("($0 * $0)");
    case "minimum":
      return t(f ? "th_min_f32($0, $1)" : b ? "($0 && $1)" : "min($0, $1)");
    case "maximum":
      return t(f ? "th_max_f32($0, $1)" : b ? "($0 || $1)" : "max($0, $1)");
    case "clip":
      return b ? null : t(f ? "th_min_f32(th_max_f32($0, $1), $2)" : "min(max($0, $1), $2)");
    case "where":
      return t("select($2, $1, $0)");
    case "identity":
      return t("$0");
    case "floor":
    case "ceil":
    case "trunc":
      return t(f ? `${name}($0)` : "$0");
    case "roundHalfToEven":
      return t(f ? "round($0)" : "$0");
    case "roundHalfAwayFromZero":
      return t(f ? "th_round_away($0)" : "$0");
    case "isnan":
      return argTypes[0] === "f32" ? t("th_isnan($0)") : "false";
    case "isinf":
      return argTypes[0] === "f32" ? t("th_isinf($0)") : "false";
    // On f32 the NaN cases are explicit: drivers may compile comparisons assuming no NaN.
    case "eq":
    case "lt":
    case "le":
    case "gt":
    case "ge": {
      const e = t(`($0 ${CMP[name]} $1)`);
      return argTypes[0] === "f32" ? `(${e} && !th_isnan(${args[0]}) && !th_isnan(${args[1]}))` : e;
    }
    case "neq":
      return argTypes[0] === "f32" ? t("(($0 != $1) || th_isnan($0) || th_isnan($1))") : t("($0 != $1)");
    case "and":
      return t(b ? "($0 && $1)" : "($0 & $1)");
    case "or":
      return t(b ? "($0 || $1)" : "($0 | $1)");
    case "xor":
      return t(b ? "($0 != $1)" : "($0 ^ $1)");
    case "not":
      return t(b ? "(!$0)" : "(~$0)");
    default: {
      const e = FLOAT_FNS[name];
      return e && f ? t(e) : null;
    }
  }
}
