/**
 * The scalar table: every elementwise operation of API.md §4, defined once (Theano's
 * `scalar/basic.py`, webgpu-torch's `op_table.ts`).
 *
 * A row gives the arity, the output-dtype rule, the reference implementation on JS numbers,
 * and expression templates per backend: `$0`, `$1`, ... are the operands; in C/CUDA templates
 * `$f` becomes `f` for float32 and nothing for float64 (so `exp$f` is `expf` or `exp`) and
 * `$T` the C type of the output. JS templates may call `$.name` from `./math.ts`.
 * Elemwise, fusion (Composite) and every backend are generated from these rows; the gradient
 * issue fills `grad`.
 */

import { TypeMismatchError } from "../errors.js";
import { type DType, type FloatDType, isFloat, isInteger, resultType, upcastToFloat } from "../ndarray/dtype.js";
import * as M from "./math.js";

/** How a row's output dtype follows from its input dtypes. */
export type DTypeRule = (inputs: readonly DType[], floatX: FloatDType) => DType;

export interface ScalarOp {
  readonly name: string;
  readonly arity: number;
  readonly outDtype: DTypeRule;
  /** Reference implementation on JS numbers (bools as 0/1); `dtype` is the output dtype. */
  readonly impl: (args: readonly number[], dtype: DType) => number;
  /** JS expression; a function when it depends on the output dtype. */
  readonly js: string | ((dtype: DType, inputs: readonly DType[]) => string);
  /** C expression (the native backend renders it); CUDA uses it too unless `cuda` is given. */
  readonly c: string | ((dtype: DType, inputs: readonly DType[]) => string);
  readonly cuda?: string | ((dtype: DType, inputs: readonly DType[]) => string);
  /** For reductions: the neutral element, and whether order of operands matters. */
  readonly identity?: number;
  readonly commutative?: boolean;
  readonly associative?: boolean;
  /** The gradient as graph; filled by the gradient issue. */
  grad?: unknown;
}

const upcast: DTypeRule = (ins) => resultType(ins);
const toFloat: DTypeRule = (ins, floatX) => upcastToFloat(resultType(ins), floatX);
const toBool: DTypeRule = () => "bool";

const noBool =
  (name: string, rule: DTypeRule): DTypeRule =>
  (ins, floatX) => {
    if (ins.every((d) => d === "bool")) throw new TypeMismatchError(`${name} is not defined for bool operands; cast them first (x.astype("int8"))`);
    return rule(ins, floatX);
  };

const bitwise =
  (name: string): DTypeRule =>
  (ins) => {
    const bad = ins.find((d) => isFloat(d));
    if (bad) throw new TypeMismatchError(`${name} needs bool or integer operands, got ${ins.join(" and ")}`);
    const r = resultType(ins);
    // Signed ints with uint64 promote to float64: NumPy has no bitwise loop for that pair either.
    if (isFloat(r)) throw new TypeMismatchError(`${name}: ${ins.join(" and ")} have no common integer dtype; cast one operand first`);
    return r;
  };

/** NumPy keeps `abs`, `floor`, `ceil`, `trunc`, `sign` in the input dtype for ints and bools. */
const same: DTypeRule = (ins) => ins[0]!;

const rows: ScalarOp[] = [];
const row = (op: ScalarOp): ScalarOp => {
  rows.push(op);
  return op;
};

/** A unary float function whose JS/C forms are the usual library names. */
function floatFn(name: string, impl: (x: number) => number, js: string, c: string): ScalarOp {
  return row({ name, arity: 1, outDtype: toFloat, impl: ([x]) => impl(x!), js, c });
}

const isIntOut = (d: DType): boolean => isInteger(d) || d === "bool";

// --- arithmetic --------------------------------------------------------------------------------
export const add = row({
  name: "add", arity: 2, outDtype: upcast, identity: 0, commutative: true, associative: true,
  impl: ([a, b], d) => (d === "bool" ? Number(a! || b!) : a! + b!),
  js: (d) => (d === "bool" ? "(($0 || $1) ? 1 : 0)" : "($0 + $1)"),
  c: (d) => (d === "bool" ? "($0 || $1)" : "($0 + $1)"),
});
export const sub = row({
  name: "sub", arity: 2, outDtype: noBool("sub", upcast),
  impl: ([a, b]) => a! - b!, js: "($0 - $1)", c: "($0 - $1)",
});
export const mul = row({
  name: "mul", arity: 2, outDtype: upcast, identity: 1, commutative: true, associative: true,
  impl: ([a, b], d) => (d === "int32" || d === "uint32" ? Math.imul(a!, b!) : d === "bool" ? Number(a! && b!) : a! * b!),
  js: (d) => (d === "int32" || d === "uint32" ? "Math.imul($0, $1)" : d === "bool" ? "(($0 && $1) ? 1 : 0)" : "($0 * $1)"),
  c: (d) => (d === "bool" ? "($0 && $1)" : "($0 * $1)"),
});
export const trueDiv = row({
  name: "trueDiv", arity: 2, outDtype: toFloat,
  impl: ([a, b]) => a! / b!, js: "($0 / $1)", c: "(($T)$0 / ($T)$1)",
});
export const intDiv = row({
  name: "intDiv", arity: 2,
  outDtype: (ins) => (ins.every((d) => d === "bool") ? "int8" : resultType(ins)),
  impl: ([a, b], d) => (isIntOut(d) ? M.floorDivInt(a!, b!) : M.floorDivFloat(a!, b!)),
  js: (d) => (isIntOut(d) ? "$.floorDivInt($0, $1)" : "$.floorDivFloat($0, $1)"),
  c: (d) => (isIntOut(d) ? "th_floordiv_int($0, $1)" : "th_floordiv$f($0, $1)"),
});
export const mod = row({
  name: "mod", arity: 2, outDtype: (ins) => (ins.every((d) => d === "bool") ? "int8" : resultType(ins)),
  impl: ([a, b], d) => (isIntOut(d) ? M.pyModInt(a!, b!) : M.pyModFloat(a!, b!)),
  js: (d) => (isIntOut(d) ? "$.pyModInt($0, $1)" : "$.pyModFloat($0, $1)"),
  c: (d) => (isIntOut(d) ? "th_mod_int($0, $1)" : "th_mod$f($0, $1)"),
});
export const pow = row({
  name: "pow", arity: 2, outDtype: (ins) => (ins.every((d) => d === "bool") ? "int8" : resultType(ins)),
  impl: ([a, b], d) => (isIntOut(d) ? M.powInt(a!, b!, d) : M.powFloat(a!, b!)),
  js: (d) => (isIntOut(d) ? `$.powInt($0, $1, "${d}")` : "$.powFloat($0, $1)"),
  c: (d) => (isIntOut(d) ? "th_pow_int($0, $1)" : "pow$f($0, $1)"),
});
export const neg = row({
  name: "neg", arity: 1, outDtype: noBool("neg", same), impl: ([a]) => -a!, js: "(-$0)", c: "(-$0)",
});
export const abs = row({
  name: "abs", arity: 1, outDtype: same, impl: ([a]) => Math.abs(a!), js: "Math.abs($0)",
  c: (d) => (isFloat(d) ? "fabs$f($0)" : d.startsWith("u") || d === "bool" ? "$0" : "(($0) < 0 ? -($0) : ($0))"),
});
export const sign = row({
  name: "sign", arity: 1, outDtype: noBool("sign", same), impl: ([a]) => M.sign(a!), js: "$.sign($0)",
  c: "(($0) > 0 ? ($T)1 : (($0) < 0 ? ($T)-1 : (($0) == 0 ? ($T)0 : ($0))))",
});
export const inv = row({ name: "inv", arity: 1, outDtype: toFloat, impl: ([a]) => 1 / a!, js: "(1 / $0)", c: "(($T)1 / ($T)$0)" });
export const sqr = row({
  name: "sqr", arity: 1, outDtype: (ins) => (ins[0] === "bool" ? "int8" : ins[0]!),
  impl: ([a], d) => (d === "int32" || d === "uint32" ? Math.imul(a!, a!) : a! * a!),
  js: (d) => (d === "int32" || d === "uint32" ? "Math.imul($0, $0)" : "($0 * $0)"), c: "($0 * $0)",
});
export const minimum = row({
  name: "minimum", arity: 2, outDtype: upcast, identity: Infinity, commutative: true, associative: true,
  // NumPy's definition, which also fixes which zero wins: of two equal zeros the second.
  impl: ([a, b]) => M.minimum(a!, b!),
  js: "(($0 < $1 || $0 !== $0) ? $0 : $1)", c: "th_min($0, $1)",
});
export const maximum = row({
  name: "maximum", arity: 2, outDtype: upcast, identity: -Infinity, commutative: true, associative: true,
  impl: ([a, b]) => M.maximum(a!, b!),
  js: "(($0 > $1 || $0 !== $0) ? $0 : $1)", c: "th_max($0, $1)",
});
export const clip = row({
  name: "clip", arity: 3, outDtype: upcast,
  // NumPy's clip is minimum(maximum(x, lo), hi): hi wins when lo > hi, NaN bounds propagate.
  impl: ([x, lo, hi]) => M.minimum(M.maximum(x!, lo!), hi!),
  js: "$.minimum($.maximum($0, $1), $2)", c: "th_clip($0, $1, $2)",
});
export const where = row({
  name: "where", arity: 3, outDtype: (ins) => resultType(ins.slice(1)),
  impl: ([c, a, b]) => (c ? a! : b!), js: "($0 ? $1 : $2)", c: "($0 ? $1 : $2)",
});
export const identity = row({ name: "identity", arity: 1, outDtype: same, impl: ([a]) => a!, js: "$0", c: "$0" });

// --- powers, exponentials, logarithms ----------------------------------------------------------
export const sqrt = floatFn("sqrt", Math.sqrt, "Math.sqrt($0)", "sqrt$f($0)");
export const exp = floatFn("exp", Math.exp, "Math.exp($0)", "th_exp$f($0)");
export const exp2 = floatFn("exp2", (x) => Math.pow(2, x), "Math.pow(2, $0)", "exp2$f($0)");
export const expm1 = floatFn("expm1", Math.expm1, "Math.expm1($0)", "th_expm1$f($0)");
export const log = floatFn("log", Math.log, "Math.log($0)", "th_log$f($0)");
export const log2 = floatFn("log2", Math.log2, "Math.log2($0)", "log2$f($0)");
export const log10 = floatFn("log10", Math.log10, "Math.log10($0)", "log10$f($0)");
export const log1p = floatFn("log1p", Math.log1p, "Math.log1p($0)", "th_log1p$f($0)");

// --- trigonometric and hyperbolic ----------------------------------------------------------------
export const sin = floatFn("sin", Math.sin, "Math.sin($0)", "th_sin$f($0)");
export const cos = floatFn("cos", Math.cos, "Math.cos($0)", "th_cos$f($0)");
export const tan = floatFn("tan", Math.tan, "Math.tan($0)", "tan$f($0)");
export const arcsin = floatFn("arcsin", Math.asin, "Math.asin($0)", "asin$f($0)");
export const arccos = floatFn("arccos", Math.acos, "Math.acos($0)", "acos$f($0)");
export const arctan = floatFn("arctan", Math.atan, "Math.atan($0)", "atan$f($0)");
export const arctan2 = row({ name: "arctan2", arity: 2, outDtype: toFloat, impl: ([a, b]) => Math.atan2(a!, b!), js: "Math.atan2($0, $1)", c: "atan2$f($0, $1)" });
export const sinh = floatFn("sinh", Math.sinh, "Math.sinh($0)", "sinh$f($0)");
export const cosh = floatFn("cosh", Math.cosh, "Math.cosh($0)", "cosh$f($0)");
export const tanh = floatFn("tanh", Math.tanh, "Math.tanh($0)", "th_tanh$f($0)");
export const arcsinh = floatFn("arcsinh", Math.asinh, "Math.asinh($0)", "asinh$f($0)");
export const arccosh = floatFn("arccosh", Math.acosh, "Math.acosh($0)", "acosh$f($0)");
export const arctanh = floatFn("arctanh", Math.atanh, "Math.atanh($0)", "atanh$f($0)");

// --- special functions ---------------------------------------------------------------------------
export const sigmoid = floatFn("sigmoid", M.sigmoid, "$.sigmoid($0)", "th_sigmoid$f($0)");
export const softplus = floatFn("softplus", M.softplus, "$.softplus($0)", "th_softplus$f($0)");
export const erf = floatFn("erf", M.erf, "$.erf($0)", "th_erf$f($0)");
export const erfc = floatFn("erfc", M.erfc, "$.erfc($0)", "erfc$f($0)");
export const erfinv = floatFn("erfinv", M.erfinv, "$.erfinv($0)", "th_erfinv$f($0)");
export const gamma = floatFn("gamma", M.gamma, "$.gamma($0)", "tgamma$f($0)");
export const gammaln = floatFn("gammaln", M.gammaln, "$.gammaln($0)", "lgamma$f($0)");
export const psi = floatFn("psi", M.psi, "$.psi($0)", "th_psi$f($0)");
export const trigamma = floatFn("trigamma", M.trigamma, "$.trigamma($0)", "th_trigamma$f($0)");

// --- rounding ------------------------------------------------------------------------------------
export const floor = row({ name: "floor", arity: 1, outDtype: same, impl: ([a]) => Math.floor(a!), js: "Math.floor($0)", c: (d) => (isFloat(d) ? "floor$f($0)" : "$0") });
export const ceil = row({ name: "ceil", arity: 1, outDtype: same, impl: ([a]) => Math.ceil(a!), js: "Math.ceil($0)", c: (d) => (isFloat(d) ? "ceil$f($0)" : "$0") });
export const trunc = row({ name: "trunc", arity: 1, outDtype: same, impl: ([a]) => Math.trunc(a!), js: "Math.trunc($0)", c: (d) => (isFloat(d) ? "trunc$f($0)" : "$0") });
export const roundHalfToEven = row({
  name: "roundHalfToEven", arity: 1, outDtype: same, impl: ([a]) => M.roundHalfEven(a!), js: "$.roundHalfEven($0)",
  c: (d) => (isFloat(d) ? "nearbyint$f($0)" : "$0"),
});
export const roundHalfAwayFromZero = row({
  name: "roundHalfAwayFromZero", arity: 1, outDtype: same, impl: ([a]) => M.roundHalfAway(a!), js: "$.roundHalfAway($0)",
  c: (d) => (isFloat(d) ? "round$f($0)" : "$0"),
});

// --- predicates and comparisons -----------------------------------------------------------------
export const isnan = row({ name: "isnan", arity: 1, outDtype: toBool, impl: ([a]) => Number(Number.isNaN(a!)), js: "($0 !== $0 ? 1 : 0)", c: "isnan($0)" });
export const isinf = row({
  name: "isinf", arity: 1, outDtype: toBool, impl: ([a]) => Number(a === Infinity || a === -Infinity),
  js: "(($0 === Infinity || $0 === -Infinity) ? 1 : 0)", c: "isinf($0)",
});
const cmp = (name: string, jsOp: string, f: (a: number, b: number) => boolean): ScalarOp =>
  row({ name, arity: 2, outDtype: toBool, impl: ([a, b]) => Number(f(a!, b!)), js: `($0 ${jsOp} $1 ? 1 : 0)`, c: `($0 ${jsOp === "===" ? "==" : jsOp === "!==" ? "!=" : jsOp} $1)`, commutative: name === "eq" || name === "neq" });
export const eq = cmp("eq", "===", (a, b) => a === b);
export const neq = cmp("neq", "!==", (a, b) => a !== b);
export const lt = cmp("lt", "<", (a, b) => a < b);
export const le = cmp("le", "<=", (a, b) => a <= b);
export const gt = cmp("gt", ">", (a, b) => a > b);
export const ge = cmp("ge", ">=", (a, b) => a >= b);

// --- logical / bitwise (Theano's and/or/xor/invert: logical on bool, bitwise on ints) ------------
export const and = row({
  name: "and", arity: 2, outDtype: bitwise("and"), identity: 1, commutative: true, associative: true,
  impl: ([a, b], d) => (d === "bool" ? Number(Boolean(a) && Boolean(b)) : Number(BigInt(a!) & BigInt(b!))),
  js: (d) => (d === "bool" ? "(($0 && $1) ? 1 : 0)" : is64(d) ? `$.bitwise64("and", $0, $1, ${d === "int64"})` : "($0 & $1)"), c: (d) => (d === "bool" ? "($0 && $1)" : "($0 & $1)"),
});
export const or = row({
  name: "or", arity: 2, outDtype: bitwise("or"), identity: 0, commutative: true, associative: true,
  impl: ([a, b], d) => (d === "bool" ? Number(Boolean(a) || Boolean(b)) : Number(BigInt(a!) | BigInt(b!))),
  js: (d) => (d === "bool" ? "(($0 || $1) ? 1 : 0)" : is64(d) ? `$.bitwise64("or", $0, $1, ${d === "int64"})` : "($0 | $1)"), c: (d) => (d === "bool" ? "($0 || $1)" : "($0 | $1)"),
});
export const xor = row({
  name: "xor", arity: 2, outDtype: bitwise("xor"), identity: 0, commutative: true, associative: true,
  impl: ([a, b], d) => (d === "bool" ? Number(Boolean(a) !== Boolean(b)) : Number(BigInt(a!) ^ BigInt(b!))),
  js: (d) => (d === "bool" ? "((!$0 !== !$1) ? 1 : 0)" : is64(d) ? `$.bitwise64("xor", $0, $1, ${d === "int64"})` : "($0 ^ $1)"), c: (d) => (d === "bool" ? "(!$0 != !$1)" : "($0 ^ $1)"),
});
export const not = row({
  name: "not", arity: 1, outDtype: bitwise("not"),
  // 64-bit: ~ on a JS number would keep 32 bits; -a-1 is exact and wraps to uint64 when stored.
  impl: ([a], d) => (d === "bool" ? Number(!a) : d === "int64" || d === "uint64" ? Number(~BigInt(a!)) : d.startsWith("u") ? Number(BigInt.asUintN(8 * bytesOf(d), ~BigInt(a!))) : ~a!),
  js: (d) => (d === "bool" ? "($0 ? 0 : 1)" : is64(d) ? `$.bitwise64("not", $0, 0, ${d === "int64"})` : "(~$0)"), c: (d) => (d === "bool" ? "(!$0)" : "(~$0)"),
});

const is64 = (d: DType): boolean => d === "int64" || d === "uint64";

function bytesOf(d: DType): number {
  return d === "uint8" ? 1 : d === "uint16" ? 2 : d === "uint32" ? 4 : 8;
}

/** Every row by name. */
export const SCALAR_OPS: ReadonlyMap<string, ScalarOp> = new Map(rows.map((r) => [r.name, r]));

/** Renders a template: operands for `$0..$n`, the float suffix for `$f`, the C type for `$T`. */
export function renderTemplate(
  t: string | ((dtype: DType, inputs: readonly DType[]) => string),
  args: readonly string[],
  dtype: DType,
  inputs: readonly DType[],
  ctype = "",
): string {
  const text = typeof t === "string" ? t : t(dtype, inputs);
  return text.replace(/\$(\d+|f|T)/g, (_m, k: string) => (k === "f" ? (dtype === "float32" ? "f" : "") : k === "T" ? ctype : args[Number(k)]!));
}
