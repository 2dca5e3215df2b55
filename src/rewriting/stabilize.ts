/**
 * Numerical-stability rewrites (Theano's `stabilize` database: `tensor/opt.py` and
 * `tensor/nnet/sigm.py`; PyTensor's `tensor/rewriting/math.py`). Each replaces a formula that
 * overflows, underflows or cancels in floating point with one computed accurately on the whole
 * line, under Theano's name:
 *
 *   local_log1p            log(1 + x) -> log1p(x), log(1 - x) -> log1p(-x)   (x = 1e-20 stays 1e-20)
 *   local_expm1            exp(x) - 1 -> expm1(x)
 *   log1pexp_to_softplus   log1p(exp(x)) -> softplus(x)   (so log(1 + exp(800)) is 800, not inf)
 *   local_inv_1_plus_exp   1 / (1 + exp(-x)) and inv(1 + exp(-x)) -> sigmoid(x); 1 / (1 + exp(x)) -> sigmoid(-x)
 *   local_exp_over_1_plus_exp   exp(x) / (1 + exp(x)) -> sigmoid(x)   (inf / inf would be NaN)
 *   local_1msigmoid        1 - sigmoid(x) -> sigmoid(-x)
 *   logsigm_to_softplus    log(sigmoid(x)) -> -softplus(-x)
 *   log1msigm_to_softplus  log(1 - sigmoid(x)) and log1p(-sigmoid(x)) -> -softplus(x)
 *   local_log_sum_exp      log(sum(exp(x), axes)) -> max + log(sum(exp(x - max))) (T.logsumexp's graph)
 *
 * They run in the stabilize stage (after canonicalize, so the add/mul canonizers have put
 * constants where these look for them); the ones Theano also registers in specialize are there
 * too, to catch forms that later stages create.
 */

import type { Variable } from "../graph/basic.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import * as M from "../tensor/math.js";
import { CAReduce } from "../tensor/math.js";
import type { TensorType } from "../tensor/type.js";
import type { TensorVariable } from "../tensor/variable.js";
import { type NodeRewriter, nodeRewriter, registerSpecialize, registerStabilize } from "./engine.js";
import { elemwiseName, finish, opInputs, scalarConstant } from "./math.js";

const tv = (v: Variable): TensorVariable => v as TensorVariable;
const dtypeOf = (v: Variable): string => (v.type as TensorType).dtype;

/** `-x`, without stacking a second negation on a first. */
function negate(x: Variable): TensorVariable {
  const inner = opInputs(x, "neg");
  return inner ? tv(inner[0]!) : M.neg(tv(x));
}

/**
 * The other operand when `v` is `c + other` or `other + c` (c the scalar constant `c`), or, with
 * `sub`, `c - other` (then `negated` is true).
 */
function splitConstant(v: Variable, c: number): { other: Variable; negated: boolean } | null {
  const add = opInputs(v, "add");
  if (add) {
    if (scalarConstant(add[0]!) === c && scalarConstant(add[1]!) === null) return { other: add[1]!, negated: false };
    if (scalarConstant(add[1]!) === c && scalarConstant(add[0]!) === null) return { other: add[0]!, negated: false };
  }
  const sub = opInputs(v, "sub");
  if (sub && scalarConstant(sub[0]!) === c && scalarConstant(sub[1]!) === null) return { other: sub[1]!, negated: true };
  return null;
}

const done = (r: TensorVariable | null): TensorVariable[] | null => (r ? [r] : null);

/** The float operand of an exp node, cast to the exp's dtype (exp of an int is a float). */
function expArg(v: Variable): TensorVariable | null {
  const e = opInputs(v, "exp");
  return e ? M.cast(tv(e[0]!), dtypeOf(v) as never) : null;
}

/** `local_log1p`: log(1 + x) -> log1p(x), log(1 - x) -> log1p(-x). */
export const localLog1p = nodeRewriter({
  name: "local_log1p",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "log") return null;
    const s = splitConstant(node.inputs[0]!, 1);
    if (!s) return null;
    const x = s.negated ? negate(s.other) : tv(s.other);
    return done(finish(M.log1p(x), node.outputs[0]!, node.inputs[0]!.owner!.inputs));
  },
});

/** `local_expm1`: exp(x) - 1, exp(x) + -1 and -1 + exp(x) -> expm1(x). */
export const localExpm1 = nodeRewriter({
  name: "local_expm1",
  tracks: [Elemwise],
  transform(node) {
    const name = elemwiseName(node);
    const [a, b] = node.inputs;
    let e: Variable | null = null;
    if (name === "sub" && scalarConstant(b!) === 1) e = a!;
    else if (name === "add") e = scalarConstant(b!) === -1 ? a! : scalarConstant(a!) === -1 ? b! : null;
    const x = e ? expArg(e) : null;
    return x ? done(finish(M.expm1(x), node.outputs[0]!, node.inputs)) : null;
  },
});

/** `log1pexp_to_softplus`: log1p(exp(x)) -> softplus(x). */
export const log1pexpToSoftplus = nodeRewriter({
  name: "log1pexp_to_softplus",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "log1p") return null;
    const x = expArg(node.inputs[0]!);
    return x ? done(finish(M.softplus(x), node.outputs[0]!)) : null;
  },
});

/** The `x` of `1 + exp(x)` (either order), or null. */
function onePlusExpArg(v: Variable): TensorVariable | null {
  const s = splitConstant(v, 1);
  return s && !s.negated ? expArg(s.other) : null;
}

/**
 * `local_inv_1_plus_exp`: inv(1 + exp(-x)) and 1 / (1 + exp(-x)) -> sigmoid(x);
 * with exp(x) in the denominator, sigmoid(-x).
 */
export const localInv1PlusExp = nodeRewriter({
  name: "local_inv_1_plus_exp",
  tracks: [Elemwise],
  transform(node) {
    const name = elemwiseName(node);
    let den: Variable | null = null;
    if (name === "inv") den = node.inputs[0]!;
    else if (name === "trueDiv" && scalarConstant(node.inputs[0]!) === 1) den = node.inputs[1]!;
    const x = den ? onePlusExpArg(den) : null;
    return x ? done(finish(M.sigmoid(negate(x)), node.outputs[0]!, node.inputs)) : null;
  },
});

/** `local_exp_over_1_plus_exp`: exp(x) / (1 + exp(x)) -> sigmoid(x). */
export const localExpOver1PlusExp = nodeRewriter({
  name: "local_exp_over_1_plus_exp",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "trueDiv") return null;
    const num = opInputs(node.inputs[0]!, "exp");
    const den = splitConstant(node.inputs[1]!, 1);
    const denExp = den && !den.negated ? opInputs(den.other, "exp") : null;
    if (!num || !denExp || num[0] !== denExp[0]) return null;
    return done(finish(M.sigmoid(expArg(node.inputs[0]!)!), node.outputs[0]!, node.inputs));
  },
});

/** `local_1msigmoid`: 1 - sigmoid(x) -> sigmoid(-x). */
export const local1mSigmoid = nodeRewriter({
  name: "local_1msigmoid",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "sub" || scalarConstant(node.inputs[0]!) !== 1) return null;
    const s = opInputs(node.inputs[1]!, "sigmoid");
    return s ? done(finish(M.sigmoid(negate(s[0]!)), node.outputs[0]!, node.inputs)) : null;
  },
});

/** `logsigm_to_softplus`: log(sigmoid(x)) -> -softplus(-x). */
export const logsigmToSoftplus = nodeRewriter({
  name: "logsigm_to_softplus",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "log") return null;
    const s = opInputs(node.inputs[0]!, "sigmoid");
    return s ? done(finish(M.neg(M.softplus(negate(s[0]!))), node.outputs[0]!)) : null;
  },
});

/** `log1msigm_to_softplus`: log(1 - sigmoid(x)) and log1p(-sigmoid(x)) -> -softplus(x). */
export const log1msigmToSoftplus = nodeRewriter({
  name: "log1msigm_to_softplus",
  tracks: [Elemwise],
  transform(node) {
    const name = elemwiseName(node);
    let sig: Variable | null = null;
    if (name === "log") {
      const s = splitConstant(node.inputs[0]!, 1);
      if (s?.negated) sig = s.other;
    } else if (name === "log1p") {
      const n = opInputs(node.inputs[0]!, "neg");
      if (n) sig = n[0]!;
    }
    const s = sig ? opInputs(sig, "sigmoid") : null;
    return s ? done(finish(M.neg(M.softplus(tv(s[0]!))), node.outputs[0]!, node.inputs[0]!.owner!.inputs)) : null;
  },
});

/** `v` without the DimShuffles on top of it. */
function throughShuffles(v: Variable): Variable {
  let cur = v;
  while (cur.owner?.op instanceof DimShuffle) cur = cur.owner.inputs[0]!;
  return cur;
}

/** Whether `shift` is a lane maximum (what T.logsumexp subtracts): max(...), possibly made finite by where. */
function isMaxShift(shift: Variable): boolean {
  let s = throughShuffles(shift);
  const w = opInputs(s, "where");
  if (w) s = throughShuffles(w[2]!);
  return s.owner?.op instanceof CAReduce && s.owner.op.kind === "maximum";
}

/**
 * `local_log_sum_exp`: log(sum(exp(x), axes)) -> T.logsumexp(x, axes): the lane maximum m is
 * subtracted before exp and added back after log (made 0 where it is infinite, so a lane of -inf
 * gives -inf). A DimShuffle between the log and the sum (keepdims) is kept on top. The result's
 * own log(sum(exp(x - m))) is recognised by its shift and left alone.
 */
export const localLogSumExp = nodeRewriter({
  name: "local_log_sum_exp",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "log") return null;
    let s = node.inputs[0]!;
    const shuffle = s.owner?.op instanceof DimShuffle ? (s.owner.op as DimShuffle) : null;
    if (shuffle) s = s.owner!.inputs[0]!;
    const red = s.owner;
    if (!red || !(red.op instanceof CAReduce) || red.op.kind !== "add" || red.op.dtype !== dtypeOf(red.inputs[0]!)) return null;
    const e = opInputs(red.inputs[0]!, "exp");
    if (!e) return null;
    const sub = opInputs(e[0]!, "sub");
    if (sub && isMaxShift(sub[1]!)) return null;
    const x = expArg(red.inputs[0]!)!;
    let r = M.logsumexp(x, red.op.axis);
    if (shuffle) r = new DimShuffle(shuffle.inputNdim, shuffle.pattern).call(r) as TensorVariable;
    return done(finish(r, node.outputs[0]!));
  },
});

// Theano registers the sigmoid/softplus family in stabilize and specialize (sigm.py), the
// log1p/expm1 pair in stabilize and specialize, and the logsumexp rewrite in stabilize only.
for (const r of [localLog1p, localExpm1, log1pexpToSoftplus, localInv1PlusExp, localExpOver1PlusExp, local1mSigmoid, logsigmToSoftplus, log1msigmToSoftplus]) {
  registerStabilize(r);
  registerSpecialize(r);
}
registerStabilize(localLogSumExp);

/** Every rewriter this module registers. */
export const STABILIZE_REWRITES: readonly NodeRewriter[] = [
  localLog1p,
  localExpm1,
  log1pexpToSoftplus,
  localInv1PlusExp,
  localExpOver1PlusExp,
  local1mSigmoid,
  logsigmToSoftplus,
  log1msigmToSoftplus,
  localLogSumExp,
];
