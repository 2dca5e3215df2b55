/**
 * The gradient of every scalar-table row, written as tensor graph (Theano's `grad` methods in
 * `scalar/basic.py` and `scalar/math.py`, lifted to tensors as Elemwise does).
 *
 * A rule receives the tensor operands, the tensor output and the output gradient `gz`, and
 * returns one entry per operand: the gradient at the output's (broadcast) shape, `null` when the
 * operand is disconnected, or a `ScalarGradUndefined` with the reason. Elemwise.grad does the
 * rest: it nulls integer and bool operands, sums over the axes an operand was broadcast along,
 * and casts to the operand's dtype, so the rules here state only the calculus. Rows whose output
 * carries no gradient at all (comparisons, predicates, bitwise and logical rows) are marked
 * `NOT_DIFFERENTIABLE`; rows that are piecewise constant on floats (floor, ceil, trunc, round,
 * sign, intDiv) give zeros, as Theano does, so a cost through them is connected but flat.
 *
 * Numerical choices: where a derivative is a function of the output (exp, sigmoid, tanh, tan,
 * sqrt, inv, erfinv, gamma) it is written from the output, which the forward pass computed
 * anyway and which avoids overflow in the derivative (sigmoid' = s(1 - s) never forms exp(-x)).
 * JS numbers in the rules are weak scalars, so a float32 graph stays float32.
 */

import * as alloc from "./alloc.js";
import * as math from "./math.js";
import type { TensorLike, TensorVariable } from "./variable.js";

/** The marker for rows that have no gradient: every operand is disconnected from the output. */
export const NOT_DIFFERENTIABLE: unique symbol = Symbol("NOT_DIFFERENTIABLE");

/** "This row's derivative exists but is not provided" (becomes a GradUndefined on the node). */
export class ScalarGradUndefined {
  constructor(readonly reason: string) {}
}

export type ScalarGradResult = TensorVariable | null | ScalarGradUndefined;

/** A row's gradient rule: one entry per operand (see the module comment). */
export type ScalarGrad = (inputs: TensorVariable[], output: TensorVariable, gz: TensorVariable) => ScalarGradResult[];

// Called through the namespace at gradient-building time: math.ts imports this module (via
// elemwise.ts), so its bindings may not be initialised yet when this module loads.
const add = (a: TensorLike, b: TensorLike): TensorVariable => math.add(a, b);
const sub = (a: TensorLike, b: TensorLike): TensorVariable => math.sub(a, b);
const mul = (a: TensorLike, b: TensorLike): TensorVariable => math.mul(a, b);
const div = (a: TensorLike, b: TensorLike): TensorVariable => math.trueDiv(a, b);
const where = (c: TensorLike, a: TensorLike, b: TensorLike): TensorVariable => math.where(c, a, b);
const neg = (a: TensorLike): TensorVariable => math.neg(a);
const sqr = (a: TensorLike): TensorVariable => math.sqr(a);
const sqrt = (a: TensorLike): TensorVariable => math.sqrt(a);
const exp = (a: TensorLike): TensorVariable => math.exp(a);
const log = (a: TensorLike): TensorVariable => math.log(a);

const LN2 = Math.LN2;
const LN10 = Math.LN10;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SQRT_PI_OVER_2 = Math.sqrt(Math.PI) / 2;

/** Zero almost everywhere (piecewise constant): Theano returns zeros, not a disconnection. */
const flat: ScalarGrad = (inputs) => inputs.map((x) => alloc.zerosLike(x));

/** `gz * d` for a unary row whose derivative is `d(x, out)`. */
const unary =
  (d: (x: TensorVariable, out: TensorVariable) => TensorVariable): ScalarGrad =>
  ([x], out, gz) => [mul(gz, d(x!, out))];

/**
 * Every row of `src/scalar/table.ts` by name. The tests check that the keys are exactly the
 * table's rows, so a new row without a decision here fails.
 */
export const SCALAR_GRADS: Readonly<Record<string, ScalarGrad | typeof NOT_DIFFERENTIABLE>> = {
  // --- arithmetic ---
  add: (_ins, _out, gz) => [gz, gz],
  sub: (_ins, _out, gz) => [gz, neg(gz)],
  mul: ([x, y], _out, gz) => [mul(gz, y!), mul(gz, x!)],
  trueDiv: ([x, y], _out, gz) => [div(gz, y!), neg(div(mul(gz, x!), sqr(y!)))],
  intDiv: flat,
  // x mod y = x - floor(x / y) * y, so d/dx = 1 and d/dy = -floor(x / y) (Theano's Mod.grad).
  mod: ([x, y], _out, gz) => [gz, neg(mul(gz, math.intDiv(x!, y!)))],
  pow: ([x, y], out, gz) => [
    mul(gz, mul(y!, math.pow(x!, sub(y!, 1)))),
    // d/dy x^y = log(x) x^y; at x == 0 the limit for y > 0 is 0, while log(0) * 0 would be NaN.
    where(math.eq(x!, 0), 0, mul(gz, mul(log(x!), out))),
  ],
  neg: (_ins, _out, gz) => [neg(gz)],
  // The subgradient 0 at x == 0 (sign(0) = 0), as PyTensor; x / |x| would give NaN there.
  abs: unary((x) => math.sign(x)),
  sign: flat,
  inv: unary((_x, out) => neg(sqr(out))),
  sqr: unary((x) => mul(x, 2)),
  // Ties: the gradient goes to every operand equal to the result (PyTensor's choice), so at
  // x == y both get gz; the one-sided derivatives differ there and no choice is exact.
  minimum: ([x, y], out, gz) => [mul(gz, math.eq(x!, out)), mul(gz, math.eq(y!, out))],
  maximum: ([x, y], out, gz) => [mul(gz, math.eq(x!, out)), mul(gz, math.eq(y!, out))],
  // Theano's clip gradient: x gets gz inside [lo, hi] inclusive, a bound where it is the
  // result. The bound conditions are written so each element's gz goes to exactly one operand
  // even when lo > hi (where NumPy's clip returns hi).
  clip: ([x, lo, hi], _out, gz) => [
    where(math.and(math.ge(x!, lo!), math.le(x!, hi!)), gz, 0),
    where(math.and(math.lt(x!, lo!), math.le(lo!, hi!)), gz, 0),
    where(math.gt(math.maximum(x!, lo!), hi!), gz, 0),
  ],
  where: ([c], _out, gz) => [null, where(c!, gz, 0), where(c!, 0, gz)],
  identity: (_ins, _out, gz) => [gz],

  // --- powers, exponentials, logarithms ---
  sqrt: unary((_x, out) => div(0.5, out)),
  exp: unary((_x, out) => out),
  exp2: unary((_x, out) => mul(out, LN2)),
  expm1: unary((_x, out) => add(out, 1)),
  log: ([x], _out, gz) => [div(gz, x!)],
  log2: ([x], _out, gz) => [div(gz, mul(x!, LN2))],
  log10: ([x], _out, gz) => [div(gz, mul(x!, LN10))],
  log1p: ([x], _out, gz) => [div(gz, add(x!, 1))],

  // --- trigonometric and hyperbolic ---
  sin: unary((x) => math.cos(x)),
  cos: unary((x) => neg(math.sin(x))),
  tan: unary((_x, out) => add(sqr(out), 1)),
  arcsin: ([x], _out, gz) => [div(gz, sqrt(sub(1, sqr(x!))))],
  arccos: ([x], _out, gz) => [neg(div(gz, sqrt(sub(1, sqr(x!)))))],
  arctan: ([x], _out, gz) => [div(gz, add(sqr(x!), 1))],
  // arctan2(a, b) is the angle of (b, a): d/da = b / (a² + b²), d/db = -a / (a² + b²).
  arctan2: ([a, b], _out, gz) => {
    const r2 = add(sqr(a!), sqr(b!));
    return [div(mul(gz, b!), r2), neg(div(mul(gz, a!), r2))];
  },
  sinh: unary((x) => math.cosh(x)),
  cosh: unary((x) => math.sinh(x)),
  tanh: unary((_x, out) => sub(1, sqr(out))),
  arcsinh: ([x], _out, gz) => [div(gz, sqrt(add(sqr(x!), 1)))],
  // (x - 1)(x + 1) rather than x² - 1: no cancellation just above x = 1.
  arccosh: ([x], _out, gz) => [div(gz, sqrt(mul(sub(x!, 1), add(x!, 1))))],
  arctanh: ([x], _out, gz) => [div(gz, mul(sub(1, x!), add(x!, 1)))],

  // --- special functions ---
  // s(x) s(-x) rather than s (1 - s): 1 - s(x) rounds to 0 for x > 17 (float32: x > 9) where
  // s(-x) keeps its value, so the derivative's tail stays exact instead of becoming 0.
  sigmoid: unary((x, out) => mul(out, math.sigmoid(neg(x)))),
  // softplus(x) = log(1 + e^x), whose derivative is sigmoid(x): never overflows.
  softplus: unary((x) => math.sigmoid(x)),
  erf: unary((x) => mul(exp(neg(sqr(x))), TWO_OVER_SQRT_PI)),
  erfc: unary((x) => mul(exp(neg(sqr(x))), -TWO_OVER_SQRT_PI)),
  erfinv: unary((_x, out) => mul(exp(sqr(out)), SQRT_PI_OVER_2)),
  gamma: unary((x, out) => mul(out, math.psi(x))),
  gammaln: unary((x) => math.psi(x)),
  psi: unary((x) => math.trigamma(x)),
  // trigamma' is polygamma(2, x), which the table does not have: higher derivatives of psi stop here.
  trigamma: () => [new ScalarGradUndefined("the derivative of trigamma is polygamma(2, x), which has no scalar row")],

  // --- rounding: piecewise constant ---
  floor: flat,
  ceil: flat,
  trunc: flat,
  roundHalfToEven: flat,
  roundHalfAwayFromZero: flat,

  // --- predicates, comparisons, logical and bitwise: boolean or integer results ---
  isnan: NOT_DIFFERENTIABLE,
  isinf: NOT_DIFFERENTIABLE,
  eq: NOT_DIFFERENTIABLE,
  neq: NOT_DIFFERENTIABLE,
  lt: NOT_DIFFERENTIABLE,
  le: NOT_DIFFERENTIABLE,
  gt: NOT_DIFFERENTIABLE,
  ge: NOT_DIFFERENTIABLE,
  and: NOT_DIFFERENTIABLE,
  or: NOT_DIFFERENTIABLE,
  xor: NOT_DIFFERENTIABLE,
  not: NOT_DIFFERENTIABLE,
};
