/**
 * The algebraic rewrite catalogue: canonicalization and specialization (Theano's
 * `tensor/opt.py`, PyTensor's `tensor/rewriting/{math,basic,elemwise,shape}.py`). Each rewrite is
 * a small named node rewriter; the names are Theano's, so `optimizer_excluding=local_mul_canonizer`
 * etc. do what a Theano user expects, and each carries its database's tag.
 *
 * canonicalize (a normal form the stabilize and specialize rewrites can recognise):
 *   local_add_canonizer, local_mul_canonizer  flatten add/sub/neg and mul/true_div/inv/neg trees,
 *       cancel x - x and x / x, collect constants into one (x / 2 becomes x * 0.5, as in Theano),
 *       rebuild with fewer nodes where possible (x + -y -> x - y);
 *   local_mul_zero        x * 0 -> 0 (also for floats, Theano's choice: inf * 0 becomes 0, not NaN);
 *   local_neg_neg, local_inv_inv     involutions (also in specialize);
 *   local_pow_canonicalize           x ** 1 -> x, x ** 0 -> 1;
 *   local_exp_log                    log(exp(x)) -> x, log1p(expm1(x)) -> x (also in specialize);
 *   local_dimshuffle_lift            DimShuffle(DimShuffle(x)) -> one DimShuffle; DimShuffle of an
 *                                    Elemwise -> Elemwise of DimShuffles (the shuffle moves to the
 *                                    inputs, where it merges or meets a constant; also in specialize);
 *   local_cast_cast                  cast(cast(x)) -> cast(x) when the inner cast loses nothing;
 *   local_reshape_chain, local_useless_reshape;
 *   local_subtensor_merge            x[a][b] -> x[c] for constant indices where that is exact;
 *   local_shape_to_shape_i, local_shape_i_of_known, local_shape_i_lift, local_subtensor_make_vector
 *       shapes of variables whose shape is known statically or by the shape inference of their
 *       producer (what Theano's ShapeFeature provides), so shapes stop depending on values;
 *   local_op_of_op                   sum(sum(x)) -> one sum (any reduction of the same reduction);
 *   local_reduce_broadcastable, local_cut_useless_reduce  reductions over axes of size 1 or none;
 *   local_intdiv_by_one              x // 1 -> x for integers.
 * specialize (cheaper forms, after stabilization):
 *   local_pow_specialize             x**2 -> sqr, x**0.5 -> sqrt, x**-0.5 -> inv(sqrt), x**-1 -> inv...
 *   local_pow_specialize_device      other integer powers up to 512 -> products by repeated squaring;
 *   local_mul_specialize, local_add_specialize  neutral elements for every dtype (x*1, x*-1, x/1,
 *                                    x+0, x-0);
 *   local_mul_to_sqr                 x * x -> sqr(x);
 *   local_div_to_inv                 1 / x -> inv(x);
 *   local_exp_log_nan_switch         exp(log(x)) -> where(x >= 0, x, NaN).
 * Division by a constant becomes a multiplication in canonicalize already (local_mul_canonizer,
 * floats only), as in Theano.
 *
 * Shapes: a rewrite never lets a result lose the broadcasting its original had. Every result goes
 * through `finish`, which casts to the original dtype, pads the rank and, where a term that set the
 * size of an axis was dropped (x - x, x * 0), broadcasts with `fill` against it; when that is
 * impossible the rewrite does nothing. Only static size-1 axes broadcast (Theano's rule), so a
 * term with an unknown size on an axis already has the output's size there.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import type { DType } from "../ndarray/dtype.js";
import { dtypeRange, isFloat, isInteger } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import * as S from "../scalar/table.js";
import { Alloc, fill } from "../tensor/alloc.js";
import { dimshuffle, padLeft } from "../tensor/basic.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import * as M from "../tensor/math.js";
import { CAReduce, elemwiseOf } from "../tensor/math.js";
import { MakeVector, Reshape, Shape, ShapeI, reshape, shape } from "../tensor/shape.js";
import { type BasicEntry, type Bound, type SliceSpec, Subtensor } from "../tensor/subtensor.js";
import { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { type NodeRewriter, nodeRewriter, registerCanonicalize, registerSpecialize } from "./engine.js";

// ---------------------------------------------------------------------------------------------
// Helpers shared by the catalogue (stabilize.ts and nnet.ts import them)

const tt = (v: Variable): TensorType => v.type as TensorType;
const tv = (v: Variable): TensorVariable => v as TensorVariable;

/** The scalar op name of a plain (not in-place, not cast) Elemwise node, else null. */
export function elemwiseName(node: Apply | null | undefined): string | null {
  if (!node || !(node.op instanceof Elemwise) || node.op.inplacePattern.size > 0 || node.op.outputDtype !== null) return null;
  return node.op.scalarOp.name;
}

/** The inputs of `v`'s owner when it is the plain Elemwise `name`, else null. */
export function opInputs(v: Variable, name: string): Variable[] | null {
  const o = v.owner;
  return elemwiseName(o) === name ? o!.inputs : null;
}

/** `v` is a cast node: Elemwise{identity} with an explicit output dtype. */
function castInput(v: Variable): Variable | null {
  const o = v.owner;
  return o && o.op instanceof Elemwise && o.op.inplacePattern.size === 0 && o.op.scalarOp.name === "identity" && o.op.outputDtype !== null ? o.inputs[0]! : null;
}

const CONSTANT_SCAN_LIMIT = 4096;

/**
 * The value of `v` when every element of it is the same number, looking through DimShuffle and
 * Alloc of a constant (Theano's get_underlying_scalar_constant_value); else null. The shape of the
 * match is the caller's business (`finish`).
 */
export function scalarConstant(v: Variable): number | null {
  let cur: Variable = v;
  for (;;) {
    const d = cur.constantData;
    if (d instanceof NDArray) {
      if (d.size === 0 || d.size > CONSTANT_SCAN_LIMIT) return null;
      const flat = d.toFlat();
      const first = Number(flat[0]);
      for (let i = 1; i < flat.length; i++) if (!Object.is(Number(flat[i]), first)) return null;
      return first;
    }
    const o = cur.owner;
    if (o && (o.op instanceof DimShuffle || o.op instanceof Alloc)) cur = o.inputs[0]!;
    else return null;
  }
}

/** Whether `v` is a constant in the sense of `scalarConstant` (a leaf the canonizers may fold). */
const isConstantLike = (v: Variable): boolean => scalarConstant(v) !== null;

/** The clients of `v` in `fg`, ignoring graph outputs. */
function readers(fg: FunctionGraph, v: Variable): Array<Apply | "output"> {
  return (fg.clients.get(v) ?? []).map(([c]) => c);
}

function singleReader(fg: FunctionGraph, v: Variable): Apply | null {
  const cs = readers(fg, v);
  return cs.length === 1 && cs[0] !== "output" ? cs[0]! : null;
}

/** A DimShuffle that only adds broadcastable axes on the left (the padding Elemwise inserts). */
function isLeftPad(node: Apply): boolean {
  if (!(node.op instanceof DimShuffle)) return false;
  const p = node.op.pattern;
  const k = p.length - node.op.inputNdim;
  return k >= 0 && p.every((e, i) => (i < k ? e === "x" : e === i - k));
}

/**
 * `v` made a valid replacement for `out`: the same dtype (cast), the same rank (padded on the left)
 * and no less broadcasting, i.e. no axis of static size 1 where `out`'s is not 1. Such an axis is
 * filled against the first of `refs` that has another size there. Null when that is impossible.
 */
export function finish(v: Variable, out: Variable, refs: readonly Variable[] = []): TensorVariable | null {
  const ot = tt(out);
  let r = tv(v);
  if (r.ndim > ot.ndim) return null;
  r = padLeft(r, ot.ndim);
  const short = (x: TensorVariable): number => x.type.shape.findIndex((d, i) => d === 1 && ot.shape[i] !== 1);
  for (let i = short(r); i >= 0; i = short(r)) {
    const ref = refs.find((x) => {
      const t = tt(x);
      const j = i - (ot.ndim - t.ndim);
      return j >= 0 && t.shape[j] !== 1;
    });
    if (!ref) return null;
    r = fill(ref as TensorVariable, r);
  }
  if (r.dtype !== ot.dtype) r = M.cast(r, ot.dtype);
  return r;
}

/** A constant of `out`'s dtype holding `value`, broadcast like `out` from `refs`. */
function constantLike(value: number, out: Variable, refs: readonly Variable[]): TensorVariable | null {
  const d = tt(out).dtype;
  const c = constant(value, { dtype: d });
  const nonConst = refs.filter((r) => !isConstantLike(r));
  if (nonConst.length === 0) return finish(c, out, refs);
  // An Alloc of the first variable term's shape, then broadcast against the others.
  return finish(fill(tv(nonConst[0]!), c), out, refs);
}

/** Lossless casts: every value of `from` survives a trip through `to`. */
export function castIsLossless(from: DType, to: DType): boolean {
  if (from === to || from === "bool") return true;
  const bits = (d: DType): number => Number(/\d+/.exec(d)?.[0] ?? 8);
  const signed = (d: DType): boolean => d.startsWith("int");
  if (isFloat(from)) return to === "float64" || (to === "float32" && from === "float32");
  if (isFloat(to)) return bits(from) < (to === "float32" ? 24 : 53);
  if (!isInteger(to)) return false;
  if (signed(from) === signed(to)) return bits(to) >= bits(from);
  return !signed(from) && signed(to) && bits(to) > bits(from);
}

const safeInt = (x: number): boolean => Number.isSafeInteger(x) && Math.abs(x) < 2 ** 31;

// ---------------------------------------------------------------------------------------------
// The add and mul canonizers (Theano's AlgebraicCanonizer, over binary ops)

/**
 * The flattened tree under `root`: leaves with a sign (add) or a side (mul). The walk goes through
 * family nodes of the root's dtype whose output has no other reader (a shared subexpression stays
 * one leaf, so rebuilding never duplicates work), and through left-padding DimShuffles of those.
 * Iterative: a chain of 50 000 additions is one walk, not 50 000 stack frames.
 */
function flatten(fg: FunctionGraph, root: Apply, step: (name: string) => ((ins: readonly Variable[]) => Array<[Variable, boolean]>) | null): { leaves: Array<[Variable, boolean]>; inner: number } {
  const leaves: Array<[Variable, boolean]> = [];
  const dtype = tt(root.outputs[0]!).dtype;
  let inner = 0;
  const stack: Array<[Variable, boolean, boolean]> = [[root.outputs[0]!, true, true]];
  while (stack.length > 0) {
    const [v, pos, isRoot] = stack.pop()!;
    let o = v.owner;
    if (o && !isRoot && isLeftPad(o) && singleReader(fg, v) && singleReader(fg, o.inputs[0]!)) o = o.inputs[0]!.owner;
    const f = o && tt(o.outputs[0]!).dtype === dtype && (isRoot || singleReader(fg, o.outputs[0]!)) ? step(elemwiseName(o) ?? "") : null;
    if (!o || !f) {
      leaves.push([v, pos]);
      continue;
    }
    inner++;
    // Reverse so that leaves come out left to right.
    const kids = f(o.inputs);
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i]![0], kids[i]![1] === pos, false]);
  }
  return { leaves, inner };
}

/** Whether `node`'s only reader is a node of the same family (the reader's canonizer covers it). */
function coveredByReader(fg: FunctionGraph, node: Apply, family: ReadonlySet<string>): boolean {
  let v = node.outputs[0]!;
  let r = singleReader(fg, v);
  if (r && isLeftPad(r) && singleReader(fg, r.outputs[0]!)) {
    v = r.outputs[0]!;
    r = singleReader(fg, v);
  }
  return r !== null && family.has(elemwiseName(r) ?? "") && tt(r.outputs[0]!).dtype === tt(node.outputs[0]!).dtype;
}

/** Removes pairs (a variable in `xs`, the same one in `ys`), keeping order; returns the count. Linear time. */
function cancel(xs: Variable[], ys: Variable[]): number {
  const inYs = new Map<Variable, number>();
  for (const y of ys) inYs.set(y, (inYs.get(y) ?? 0) + 1);
  const drop = new Map<Variable, number>();
  for (const x of xs) {
    const k = inYs.get(x) ?? 0;
    if (k > 0) {
      inYs.set(x, k - 1);
      drop.set(x, (drop.get(x) ?? 0) + 1);
    }
  }
  if (drop.size === 0) return 0;
  let n = 0;
  const keep = (arr: Variable[]): void => {
    const left = new Map(drop);
    const kept = arr.filter((v) => {
      const k = left.get(v) ?? 0;
      if (k === 0) return true;
      left.set(v, k - 1);
      return false;
    });
    n += arr.length - kept.length;
    arr.splice(0, arr.length, ...kept);
  };
  keep(xs);
  keep(ys);
  return n / 2;
}

/** Counts the Elemwise nodes a rebuild creates (to tell whether it is smaller than the original). */
class Builder {
  count = 0;
  call(op: (...a: TensorVariable[]) => TensorVariable, ...args: TensorVariable[]): TensorVariable {
    this.count++;
    return op(...args);
  }
}

const ADD_FAMILY: ReadonlySet<string> = new Set(["add", "sub", "neg"]);
const MUL_FAMILY: ReadonlySet<string> = new Set(["mul", "trueDiv", "inv", "neg"]);

const addStep = (name: string): ((ins: readonly Variable[]) => Array<[Variable, boolean]>) | null =>
  name === "add" ? (ins) => [[ins[0]!, true], [ins[1]!, true]] : name === "sub" ? (ins) => [[ins[0]!, true], [ins[1]!, false]] : name === "neg" ? (ins) => [[ins[0]!, false]] : null;

/**
 * `local_add_canonizer`: a tree of add/sub/neg becomes (p1 + p2 + ...) - n1 - n2 ... + c with x - x
 * cancelled and the constants summed into c. Fires when that cancels something, merges constants,
 * drops a zero, or needs fewer nodes (neg(neg(x)) + y, x + -y). Bool (logical or) is left alone;
 * integer constants are folded only while exact. Floats: x - x -> 0 even where x is inf or NaN
 * (Theano's choice: the canonizer treats the algebra as exact).
 */
export const localAddCanonizer = nodeRewriter({
  name: "local_add_canonizer",
  tracks: [Elemwise],
  transform(node, fg) {
    const name = elemwiseName(node);
    const out = node.outputs[0]!;
    const dtype = tt(out).dtype;
    if (!name || !ADD_FAMILY.has(name) || dtype === "bool" || coveredByReader(fg, node, ADD_FAMILY)) return null;
    const { leaves, inner } = flatten(fg, node, addStep);
    const pos: Variable[] = [];
    const neg: Variable[] = [];
    let c = 0;
    let nConst = 0;
    let zero = false;
    for (const [v, p] of leaves) {
      const k = scalarConstant(v);
      if (k !== null && (isFloat(dtype) || safeInt(k))) {
        c += p ? k : -k;
        nConst++;
        if (k === 0) zero = true;
      } else if (tt(v).dtype !== dtype) return null;
      else (p ? pos : neg).push(v);
    }
    // Integer constants fold only while exact and representable (no wrap-around to reason about).
    if (!isFloat(dtype) && (!safeInt(c) || c < dtypeRange(dtype)[0] || c > dtypeRange(dtype)[1])) return null;
    const cancelled = cancel(pos, neg);
    const b = new Builder();
    let acc: TensorVariable | null = null;
    for (const p of pos) acc = acc ? b.call(M.add, acc, tv(p)) : tv(p);
    for (const n of neg) acc = acc ? b.call(M.sub, acc, tv(n)) : b.call(M.neg, tv(n));
    const ck = (x: number): TensorVariable => constant(x, { dtype });
    if (c !== 0) acc = acc ? (c < 0 ? b.call(M.sub, acc, ck(-c)) : b.call(M.add, acc, ck(c))) : ck(c);
    const smaller = b.count < inner;
    if (!(cancelled > 0 || nConst > 1 || zero || smaller)) return null;
    const refs = leaves.map(([v]) => v);
    const r = acc ? finish(acc, out, refs) : constantLike(0, out, refs);
    return r ? [r] : null;
  },
});

const mulStep = (name: string): ((ins: readonly Variable[]) => Array<[Variable, boolean]>) | null =>
  name === "mul"
    ? (ins) => [[ins[0]!, true], [ins[1]!, true]]
    : name === "trueDiv"
      ? (ins) => [[ins[0]!, true], [ins[1]!, false]]
      : name === "inv"
        ? (ins) => [[ins[0]!, false]]
        : name === "neg"
          ? (ins) => [[NEG_ONE, true], [ins[0]!, true]]
          : null;

/** The factor -1 a `neg` node contributes to a product (not a constant of the user's graph). */
const NEG_ONE: Variable = constant(-1, { dtype: "int8" });

/**
 * `local_mul_canonizer`: a float tree of mul/true_div/inv/neg becomes (n1 * n2 ...) / (d1 * d2 ...)
 * times one constant, x / x cancelled (Theano's choice: also where x is 0 or inf) and constants
 * folded (so x / 4 becomes x * 0.25, as Theano's canonizer does). A constant of 0 makes the result
 * 0 (`local_mul_zero`'s rule). Fires only when that simplifies something.
 */
export const localMulCanonizer = nodeRewriter({
  name: "local_mul_canonizer",
  tracks: [Elemwise],
  transform(node, fg) {
    const name = elemwiseName(node);
    const out = node.outputs[0]!;
    const dtype = tt(out).dtype;
    if (!name || !MUL_FAMILY.has(name) || !isFloat(dtype) || coveredByReader(fg, node, MUL_FAMILY)) return null;
    const { leaves, inner } = flatten(fg, node, mulStep);
    const num: Variable[] = [];
    const den: Variable[] = [];
    let c = 1;
    let nConst = 0;
    let constDen = false;
    let one = false;
    for (const [v, n] of leaves) {
      if (v === NEG_ONE) {
        c = -c;
        continue;
      }
      const k = scalarConstant(v);
      if (k !== null) {
        c = n ? c * k : c / k;
        nConst++;
        if (!n) constDen = true;
        if (k === 1) one = true;
      } else if (tt(v).dtype !== dtype) return null;
      else (n ? num : den).push(v);
    }
    const cancelled = cancel(num, den);
    const refs = leaves.map(([v]) => v).filter((v) => v !== NEG_ONE);
    if (c === 0) return ((r) => (r ? [r] : null))(constantLike(0, out, refs));
    const b = new Builder();
    const ck = (x: number): TensorVariable => constant(x, { dtype });
    const scaled = (x: TensorVariable): TensorVariable => (c === 1 ? x : c === -1 ? b.call(M.neg, x) : b.call(M.mul, x, ck(c)));
    let n: TensorVariable | null = null;
    for (const x of num) n = n ? b.call(M.mul, n, tv(x)) : tv(x);
    let d: TensorVariable | null = null;
    for (const x of den) d = d ? b.call(M.mul, d, tv(x)) : tv(x);
    const acc = d ? b.call(M.trueDiv, n ? scaled(n) : ck(c), d) : n ? scaled(n) : null;
    const others = num.length + den.length > 0;
    const smaller = b.count < inner;
    // x * 1 and x / c simplify; 1 / x alone is already canonical (no loop on it).
    if (!(cancelled > 0 || nConst > 1 || (one && num.length > 0) || (constDen && others) || smaller)) return null;
    const r = acc ? finish(acc, out, refs) : constantLike(c, out, refs);
    return r ? [r] : null;
  },
});

/** `local_mul_zero`: x * 0 -> 0 for every dtype (floats included: Theano's choice, see above). */
export const localMulZero = nodeRewriter({
  name: "local_mul_zero",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "mul" || tt(node.outputs[0]!).dtype === "bool") return null;
    if (!node.inputs.some((v) => scalarConstant(v) === 0)) return null;
    const r = constantLike(0, node.outputs[0]!, node.inputs);
    return r ? [r] : null;
  },
});

// ---------------------------------------------------------------------------------------------
// Involutions, powers, exp/log

function involution(name: string, op: string): NodeRewriter {
  return nodeRewriter({
    name,
    tracks: [Elemwise],
    transform(node) {
      if (elemwiseName(node) !== op) return null;
      const inner = opInputs(node.inputs[0]!, op);
      if (!inner || tt(inner[0]!).dtype !== tt(node.outputs[0]!).dtype) return null;
      const r = finish(inner[0]!, node.outputs[0]!);
      return r ? [r] : null;
    },
  });
}

/** `local_neg_neg`: -(-x) -> x. */
export const localNegNeg = involution("local_neg_neg", "neg");
/** `local_inv_inv`: inv(inv(x)) -> x (floats; Theano's useless_reciprocal_of_reciprocal). */
export const localInvInv = involution("local_inv_inv", "inv");

/** `local_pow_canonicalize`: x ** 1 -> x, x ** 0 -> 1 (broadcast like the original). */
export const localPowCanonicalize = nodeRewriter({
  name: "local_pow_canonicalize",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "pow") return null;
    const y = scalarConstant(node.inputs[1]!);
    const out = node.outputs[0]!;
    const r = y === 1 ? finish(node.inputs[0]!, out, node.inputs) : y === 0 ? constantLike(1, out, node.inputs) : null;
    return r ? [r] : null;
  },
});

/**
 * `local_exp_log`: log(exp(x)) -> x and log1p(expm1(x)) -> x (exact inverses on the whole real
 * line; an int x is cast to the float dtype the original computed in).
 */
export const localExpLog = nodeRewriter({
  name: "local_exp_log",
  tracks: [Elemwise],
  transform(node) {
    const n = elemwiseName(node);
    const inner = n === "log" ? opInputs(node.inputs[0]!, "exp") : n === "log1p" ? opInputs(node.inputs[0]!, "expm1") : null;
    const r = inner ? finish(inner[0]!, node.outputs[0]!) : null;
    return r ? [r] : null;
  },
});

/**
 * `local_exp_log_nan_switch` (specialize): exp(log(x)) -> where(x >= 0, x, NaN), which keeps the
 * NaN log gives for negative x (log(0) = -inf and exp(-inf) = 0 agree with x = 0).
 */
export const localExpLogNanSwitch = nodeRewriter({
  name: "local_exp_log_nan_switch",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "exp") return null;
    const inner = opInputs(node.inputs[0]!, "log");
    if (!inner) return null;
    const out = node.outputs[0]!;
    const x = M.cast(tv(inner[0]!), tt(out).dtype);
    const r = finish(M.where(M.ge(x, 0), x, constant(NaN, { dtype: tt(out).dtype })), out);
    return r ? [r] : null;
  },
});

// ---------------------------------------------------------------------------------------------
// DimShuffle, casts, reshapes

/**
 * `local_dimshuffle_lift`: DimShuffle(DimShuffle(x)) -> one DimShuffle (or x), and
 * DimShuffle(Elemwise(a, b)) -> Elemwise(DimShuffle(a), DimShuffle(b)) when the Elemwise has no
 * other reader. The inputs of an Elemwise have its rank, and an axis the shuffle drops has static
 * size 1 in the output and so in every input: the same pattern applies to each.
 */
export const localDimshuffleLift = nodeRewriter({
  name: "local_dimshuffle_lift",
  tracks: [DimShuffle],
  transform(node, fg) {
    const op = node.op as DimShuffle;
    const x = node.inputs[0]!;
    const inner = x.owner;
    if (!inner) return null;
    if (inner.op instanceof DimShuffle) {
      const p1 = inner.op.pattern;
      const composed = op.pattern.map((p) => (p === "x" ? "x" : p1[p]!));
      return [dimshuffle(tv(inner.inputs[0]!), composed)];
    }
    if (inner.op instanceof Elemwise && inner.op.inplacePattern.size === 0 && inner.outputs.length === 1 && singleReader(fg, x) === node) {
      const args = inner.inputs.map((a) => new DimShuffle(op.inputNdim, op.pattern).call(a));
      return [inner.op.call(...args)];
    }
    return null;
  },
});

/** `local_cast_cast`: cast(cast(x, a), b) -> cast(x, b) when every value of x survives `a`. */
export const localCastCast = nodeRewriter({
  name: "local_cast_cast",
  tracks: [Elemwise],
  transform(node) {
    const mid = castInput(node.outputs[0]!);
    const x = mid ? castInput(mid) : null;
    if (!mid || !x || !castIsLossless(tt(x).dtype, tt(mid).dtype)) return null;
    return [M.cast(tv(x), tt(node.outputs[0]!).dtype)];
  },
});

/** `local_reshape_chain`: reshape(reshape(x, s1), s2) -> reshape(x, s2) (sizes agree by construction). */
export const localReshapeChain = nodeRewriter({
  name: "local_reshape_chain",
  tracks: [Reshape],
  transform(node) {
    const inner = node.inputs[0]!.owner;
    if (!inner || !(inner.op instanceof Reshape)) return null;
    return [reshape(tv(inner.inputs[0]!), tv(node.inputs[1]!), (node.op as Reshape).ndim)];
  },
});

/** `local_useless_reshape`: a reshape to the shape the input is statically known to have. */
export const localUselessReshape = nodeRewriter({
  name: "local_useless_reshape",
  tracks: [Reshape],
  transform(node) {
    const a = tt(node.inputs[0]!).shape;
    const b = tt(node.outputs[0]!).shape;
    const same = a.length === b.length && a.every((d, i) => d !== null && d === b[i]);
    // A reshape of a rank-1 value to rank 1 is the identity whatever the size.
    const vector = a.length === 1 && b.length === 1;
    return same || vector ? [node.inputs[0]!] : null;
  },
});

// ---------------------------------------------------------------------------------------------
// Shapes (Theano's ShapeFeature, as local rewrites)

/** `local_shape_to_shape_i`: Shape(x) -> a constant when x's shape is static, else MakeVector of Shape_i. */
export const localShapeToShapeI = nodeRewriter({
  name: "local_shape_to_shape_i",
  tracks: [Shape],
  transform(node) {
    const x = tv(node.inputs[0]!);
    if (x.ndim === 0) return [constant(new NDArray("int64", [0], new BigInt64Array(0)))];
    if (x.type.shape.every((d) => d !== null)) return [constant(x.type.shape as number[], { dtype: "int64" })];
    return [new MakeVector().call(...x.type.shape.map((_d, i) => shape(x, i)))];
  },
});

/** `local_shape_i_of_known`: Shape_i of an axis whose size the type knows -> that constant. */
export const localShapeIOfKnown = nodeRewriter({
  name: "local_shape_i_of_known",
  tracks: [ShapeI],
  transform(node) {
    const d = tt(node.inputs[0]!).shape[(node.op as ShapeI).i];
    return d !== null && d !== undefined ? [constant(d, { dtype: "int64" })] : null;
  },
});

const SHAPE_EXPR_LIMIT = 64; // nodes; shape expressions are small, a larger one is not worth it

/** Whether `v` may be computed from `x` (true also when the search gives up: the safe answer). */
function mayDependOn(v: Variable, x: Variable): boolean {
  const seen = new Set<Variable>();
  const stack = [v];
  while (stack.length > 0) {
    const u = stack.pop()!;
    if (u === x) return true;
    if (seen.has(u) || !u.owner) continue;
    seen.add(u);
    if (seen.size > SHAPE_EXPR_LIMIT) return true;
    stack.push(...u.owner.inputs);
  }
  return false;
}

/**
 * `local_shape_i_lift`: Shape_i(f(...)) -> the producer's inferred size, in terms of its inputs'
 * shapes (an Elemwise gives an input's Shape_i, an Alloc its size argument): the shape no longer
 * waits for the value to be computed, and a node kept only for its shape goes away. Like
 * Theano's ShapeFeature this trusts `inferShape` (a producer that would fail on mismatched
 * shapes is not run when only its shape is needed). An op whose inferShape throws is left alone.
 */
export const localShapeILift = nodeRewriter({
  name: "local_shape_i_lift",
  tracks: [ShapeI],
  transform(node) {
    const x = node.inputs[0]!;
    const p = x.owner;
    if (!p || !p.op.inferShape || p.op.destroyMap.size > 0) return null;
    const shapes = p.inputs.map((v) => (v.type instanceof TensorType ? v.type.shape.map((_d, i) => shape(tv(v), i) as Variable) : null));
    let dims: Variable[] | undefined;
    try {
      dims = p.op.inferShape(p, shapes)[x.index];
    } catch {
      return null;
    }
    const d = dims?.[(node.op as ShapeI).i];
    if (!d || !(d.type instanceof TensorType) || d.type.ndim !== 0 || mayDependOn(d, x)) return null;
    const r = d.type.dtype === "int64" ? d : M.cast(tv(d), "int64");
    return [r];
  },
});

/**
 * `local_subtensor_make_vector`: MakeVector(a, b, c)[k] for a constant k -> the k-th scalar
 * (so `x.shape[1]`, after local_shape_to_shape_i, is Shape_i{1}(x)).
 */
export const localSubtensorMakeVector = nodeRewriter({
  name: "local_subtensor_make_vector",
  tracks: [Subtensor],
  transform(node) {
    const entries = (node.op as Subtensor).entries;
    const mv = node.inputs[0]!.owner;
    const k = entries[0];
    if (!mv || !(mv.op instanceof MakeVector) || entries.length !== 1 || typeof k !== "number") return null;
    const i = k < 0 ? k + mv.inputs.length : k;
    const v = mv.inputs[i];
    return v && tt(v).dtype === tt(node.outputs[0]!).dtype ? [v] : null;
  },
});

/** A constant slice bound that is absent or non-negative (the cases composed exactly below). */
const plainBound = (b: Bound): b is number | null => b === null || (typeof b === "number" && b >= 0);
const isFull = (e: SliceSpec): boolean => e.start === null && e.stop === null && (e.step === null || e.step === 1);
const FULL: SliceSpec = { start: null, stop: null, step: null };

/**
 * x[e1][e2] as one entry, for constant entries only: a full slice on either side, or unit-step
 * slices with non-negative bounds (start s1 + s2, stop min(t1, s1 + t2)), or a non-negative
 * index into an open-ended unit-step slice (x[s:][k] = x[s + k], out of bounds exactly when the
 * original is). Null when the composition is not exact.
 */
function composeEntry(e1: SliceSpec, e2: BasicEntry): BasicEntry | null {
  if (typeof e2 === "string") return null;
  if (isFull(e1)) return e2;
  const unit1 = (e1.step === null || e1.step === 1) && plainBound(e1.start) && plainBound(e1.stop);
  if (!unit1) return typeof e2 === "object" && isFull(e2) ? e1 : null;
  const s1 = (e1.start as number | null) ?? 0;
  if (typeof e2 === "number") return e2 >= 0 && e1.stop === null ? s1 + e2 : null;
  if (isFull(e2)) return e1;
  if (!((e2.step === null || e2.step === 1) && plainBound(e2.start) && plainBound(e2.stop))) return null;
  const start = s1 + ((e2.start as number | null) ?? 0);
  const t1 = e1.stop as number | null;
  const t2 = e2.stop as number | null;
  const stop = t2 === null ? t1 : t1 === null ? s1 + t2 : Math.min(t1, s1 + t2);
  return { start: start === 0 ? null : start, stop, step: null };
}

/** `local_subtensor_merge`: x[a][b] -> x[c] for constant basic indices (see composeEntry). */
export const localSubtensorMerge = nodeRewriter({
  name: "local_subtensor_merge",
  tracks: [Subtensor],
  transform(node) {
    const inner = node.inputs[0]!.owner;
    if (!inner || !(inner.op instanceof Subtensor) || node.inputs.length > 1 || inner.inputs.length > 1) return null;
    const e1 = inner.op.entries;
    const e2 = (node.op as Subtensor).entries;
    const nd = tt(inner.inputs[0]!).ndim;
    const merged: BasicEntry[] = [];
    let j = 0;
    for (let ax = 0; ax < nd; ax++) {
      const a = e1[ax] ?? FULL;
      if (typeof a === "string") return null;
      if (typeof a === "number") {
        merged.push(a);
        continue;
      }
      const c = composeEntry(a, e2[j++] ?? FULL);
      if (c === null) return null;
      merged.push(c);
    }
    while (merged.length > 0 && typeof merged[merged.length - 1] === "object" && isFull(merged[merged.length - 1] as SliceSpec)) merged.pop();
    const x = inner.inputs[0]!;
    return [merged.length === 0 ? x : new Subtensor(merged).call(x)];
  },
});

// ---------------------------------------------------------------------------------------------
// Reductions

/**
 * `local_op_of_op` (PyTensor's local_reduce_chain): a reduction of a reduction of the same kind
 * and dtype -> one reduction over both sets of axes (accumulating in one pass, never less precise).
 */
export const localOpOfOp = nodeRewriter({
  name: "local_op_of_op",
  tracks: [CAReduce],
  transform(node, fg) {
    const outer = node.op as CAReduce;
    const x = node.inputs[0]!;
    const p = x.owner;
    if (!p || !(p.op instanceof CAReduce) || singleReader(fg, x) !== node) return null;
    const inner = p.op;
    if (inner.kind !== outer.kind || inner.dtype !== outer.dtype || inner.accDtype !== outer.accDtype || inner.emptyIdentity !== outer.emptyIdentity) return null;
    const kept = [...Array(tt(p.inputs[0]!).ndim).keys()].filter((i) => !inner.axis.includes(i));
    const axes = [...inner.axis, ...outer.axis.map((a) => kept[a]!)].sort((a, b) => a - b);
    return [new CAReduce(outer.kind, axes, outer.dtype, outer.accDtype, outer.emptyIdentity).call(p.inputs[0]!)];
  },
});

/**
 * `local_reduce_broadcastable`: the axes of static size 1 of a reduction are dropped by a
 * DimShuffle instead (reducing one element is that element); `local_cut_useless_reduce`: a
 * reduction over no axis is a cast. All/Any keep their bool result through the cast.
 */
export const localReduceBroadcastable = nodeRewriter({
  name: "local_reduce_broadcastable",
  tracks: [CAReduce],
  transform(node) {
    const op = node.op as CAReduce;
    const x = tv(node.inputs[0]!);
    const ones = op.axis.filter((a) => x.type.shape[a] === 1);
    if (ones.length === 0 || op.axis.length === 0) return null;
    const keep = [...Array(x.ndim).keys()].filter((i) => !ones.includes(i));
    const dropped = dimshuffle(x, keep);
    const rest = op.axis.filter((a) => !ones.includes(a)).map((a) => keep.indexOf(a));
    const r = rest.length > 0 ? (new CAReduce(op.kind, rest, op.dtype, op.accDtype, op.emptyIdentity).call(dropped) as TensorVariable) : reduceOne(op, dropped);
    return [r];
  },
});

/** The value a reduction of one element gives: the element in the reduction's dtype. */
function reduceOne(op: CAReduce, x: TensorVariable): TensorVariable {
  if (op.kind === "and" || op.kind === "or") return x.dtype === "bool" ? x : M.neq(x, 0);
  return M.cast(x, op.dtype);
}

export const localCutUselessReduce = nodeRewriter({
  name: "local_cut_useless_reduce",
  tracks: [CAReduce],
  transform(node) {
    const op = node.op as CAReduce;
    return op.axis.length === 0 ? [reduceOne(op, tv(node.inputs[0]!))] : null;
  },
});

// ---------------------------------------------------------------------------------------------
// Specialize

/** x ** k for a small integer k by repeated squaring (k >= 2). */
function powBySquaring(x: TensorVariable, k: number): TensorVariable {
  let result: TensorVariable | null = null;
  let base = x;
  for (let e = k; e > 0; e >>= 1) {
    if (e & 1) result = result ? M.mul(result, base) : base;
    if (e > 1) base = M.sqr(base);
  }
  return result!;
}

/**
 * `local_pow_specialize`: x**2 -> sqr(x), x**0.5 -> sqrt(x), x**-0.5 -> inv(sqrt(x)),
 * x**-1 -> inv(x), x**-2 -> inv(sqr(x)), x**1 -> x, x**0 -> 1. Only where the exponent does
 * not broadcast x (the result must keep the output's shape) and, for the float forms, a float
 * output.
 */
export const localPowSpecialize = nodeRewriter({
  name: "local_pow_specialize",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "pow") return null;
    const y = scalarConstant(node.inputs[1]!);
    const out = node.outputs[0]!;
    const dtype = tt(out).dtype;
    if (y === null) return null;
    const x = M.cast(tv(node.inputs[0]!), dtype);
    let r: TensorVariable | null = null;
    if (y === 2) r = M.sqr(x);
    else if (y === 1) r = x;
    else if (y === 0) return ((v) => (v ? [v] : null))(constantLike(1, out, node.inputs));
    else if (isFloat(dtype)) {
      if (y === 0.5) r = M.sqrt(x);
      else if (y === -0.5) r = M.inv(M.sqrt(x));
      else if (y === -1) r = M.inv(x);
      else if (y === -2) r = M.inv(M.sqr(x));
    }
    const f = r ? finish(r, out) : null;
    return f ? [f] : null;
  },
});

const MAX_SQUARING_POWER = 512; // Theano's bound for local_pow_specialize_device

/**
 * `local_pow_specialize_device`: x ** k for an integer 3 <= |k| <= 512 -> products by repeated
 * squaring (inv of that for k < 0, floats only), which fusion turns into one loop.
 */
export const localPowSpecializeDevice = nodeRewriter({
  name: "local_pow_specialize_device",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "pow") return null;
    const y = scalarConstant(node.inputs[1]!);
    const out = node.outputs[0]!;
    const dtype = tt(out).dtype;
    if (y === null || !Number.isInteger(y) || Math.abs(y) < 3 || Math.abs(y) > MAX_SQUARING_POWER || (y < 0 && !isFloat(dtype)) || dtype === "bool") return null;
    const p = powBySquaring(M.cast(tv(node.inputs[0]!), dtype), Math.abs(y));
    const r = finish(y < 0 ? M.inv(p) : p, out);
    return r ? [r] : null;
  },
});

/**
 * `local_mul_specialize`: x * 1 -> x, x * -1 -> -x, x * 0 -> 0 for every dtype but bool, and
 * x / 1 -> x (cast to the float result) for an integer x (the canonizer only handles float trees).
 */
export const localMulSpecialize = nodeRewriter({
  name: "local_mul_specialize",
  tracks: [Elemwise],
  transform(node) {
    const out = node.outputs[0]!;
    if (elemwiseName(node) === "trueDiv" && scalarConstant(node.inputs[1]!) === 1 && !isConstantLike(node.inputs[0]!)) {
      return ((r) => (r ? [r] : null))(finish(node.inputs[0]!, out, node.inputs));
    }
    if (elemwiseName(node) !== "mul" || tt(out).dtype === "bool") return null;
    for (const k of [0, 1]) {
      const c = scalarConstant(node.inputs[k]!);
      const other = tv(node.inputs[1 - k]!);
      if (c === null || isConstantLike(other)) continue;
      const r = c === 1 ? finish(other, out, node.inputs) : c === -1 && tt(out).dtype !== "bool" ? finish(M.neg(M.cast(other, tt(out).dtype)), out, node.inputs) : c === 0 ? constantLike(0, out, node.inputs) : null;
      if (r) return [r];
    }
    return null;
  },
});

/** `local_add_specialize`: x + 0 -> x, 0 + x -> x, x - 0 -> x for every dtype. */
export const localAddSpecialize = nodeRewriter({
  name: "local_add_specialize",
  tracks: [Elemwise],
  transform(node) {
    const name = elemwiseName(node);
    const out = node.outputs[0]!;
    if ((name !== "add" && name !== "sub") || tt(out).dtype === "bool") return null;
    for (const k of name === "add" ? [0, 1] : [1]) {
      if (scalarConstant(node.inputs[k]!) !== 0) continue;
      const r = finish(node.inputs[1 - k]!, out, node.inputs);
      if (r) return [r];
    }
    return null;
  },
});

/** `local_intdiv_by_one`: x // 1 -> x (integers and floats: floor(x / 1) is x only for ints). */
export const localIntdivByOne = nodeRewriter({
  name: "local_intdiv_by_one",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "intDiv" || scalarConstant(node.inputs[1]!) !== 1 || !isInteger(tt(node.outputs[0]!).dtype)) return null;
    return ((r) => (r ? [r] : null))(finish(node.inputs[0]!, node.outputs[0]!, node.inputs));
  },
});

/** `local_mul_to_sqr`: x * x -> sqr(x). */
export const localMulToSqr = nodeRewriter({
  name: "local_mul_to_sqr",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "mul" || node.inputs[0] !== node.inputs[1] || tt(node.outputs[0]!).dtype === "bool") return null;
    return ((r) => (r ? [r] : null))(finish(M.sqr(tv(node.inputs[0]!)), node.outputs[0]!));
  },
});

/** `local_div_to_inv`: 1 / x -> inv(x) (PyTensor's local_div_to_reciprocal). */
export const localDivToInv = nodeRewriter({
  name: "local_div_to_inv",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "trueDiv" || scalarConstant(node.inputs[0]!) !== 1) return null;
    const out = node.outputs[0]!;
    return ((r) => (r ? [r] : null))(finish(elemwiseOf(S.inv).call(M.cast(tv(node.inputs[1]!), tt(out).dtype)), out, node.inputs));
  },
});

// ---------------------------------------------------------------------------------------------
// Registration

for (const r of [
  localAddCanonizer,
  localMulCanonizer,
  localMulZero,
  localPowCanonicalize,
  localReshapeChain,
  localUselessReshape,
  localShapeToShapeI,
  localShapeIOfKnown,
  localShapeILift,
  localSubtensorMakeVector,
  localOpOfOp,
  localReduceBroadcastable,
  localCutUselessReduce,
  localIntdivByOne,
]) {
  registerCanonicalize(r);
}
registerCanonicalize(localSubtensorMerge);
registerSpecialize(localSubtensorMerge);
// Involutions, exp/log inverses and cast chains appear again after stabilization: both stages.
for (const r of [localNegNeg, localInvInv, localExpLog, localCastCast, localDimshuffleLift]) {
  registerCanonicalize(r);
  registerSpecialize(r);
}
for (const r of [localPowSpecialize, localPowSpecializeDevice, localMulSpecialize, localAddSpecialize, localMulToSqr, localDivToInv, localExpLogNanSwitch]) {
  registerSpecialize(r);
}

/** Every rewriter this module registers (for tests and documentation). */
export const MATH_REWRITES: readonly NodeRewriter[] = [
  localAddCanonizer,
  localMulCanonizer,
  localMulZero,
  localNegNeg,
  localInvInv,
  localPowCanonicalize,
  localExpLog,
  localDimshuffleLift,
  localCastCast,
  localReshapeChain,
  localUselessReshape,
  localShapeToShapeI,
  localShapeIOfKnown,
  localShapeILift,
  localSubtensorMakeVector,
  localSubtensorMerge,
  localOpOfOp,
  localReduceBroadcastable,
  localCutUselessReduce,
  localPowSpecialize,
  localPowSpecializeDevice,
  localMulSpecialize,
  localAddSpecialize,
  localMulToSqr,
  localDivToInv,
  localExpLogNanSwitch,
  localIntdivByOne,
];
