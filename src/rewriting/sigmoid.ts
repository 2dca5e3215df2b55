/**
 * Sigmoid algebra over products (Theano's `tensor/nnet/sigm.py`: `parse_mul_tree`,
 * `perform_sigm_times_exp`, `local_sigm_times_exp`), which is what makes the *gradients* of the
 * hand-written logistic forms finite. `T.grad` differentiates the graph the user wrote, so the
 * gradient of `1 / (1 + exp(-z))` is `exp(-z) / (1 + exp(-z))²` and that of the cross-entropy
 * `-y log p - (1 - y) log(1 - p)` divides by p and by 1 - p: every one of these overflows to inf
 * (and inf / inf = NaN) long before the value they stand for does. The stabilize rewrites of
 * stabilize.ts fix the forward pass only.
 *
 * The algebra: for one argument t, every factor of the family is a power product of
 * S+ = sigmoid(t) and S- = sigmoid(-t):
 *   exp(t) = S+ / S-,   sigmoid(t) = S+,   1 + exp(t) = 1 / S-   (and t -> -t swaps S+ and S-).
 * A product's family factors for t therefore collapse to S+^A · S-^B. When A and B are not
 * negative that is bounded in [0, 1] and never overflows, so the factors are replaced by it:
 *
 *   local_sigm_times_exp   a product (mul / trueDiv / inv / neg / sqr / integer pow tree) whose
 *                          family factors collapse to non-negative powers -> those powers:
 *                          exp(x) * sigmoid(-x) -> sigmoid(x), exp(-x) / (1 + exp(-x))² ->
 *                          sigmoid(x) * sigmoid(-x), g / sigmoid(x) * sigmoid(x) -> g, ...
 *   local_sigm_grad_distribute   a product F · (T1 ± T2 ± ...) where some Ti divides by a family
 *                          factor and each F · Ti collapses to non-negative powers ->
 *                          F·T1 ± F·T2 ± ... each simplified. This is the cross-entropy's
 *                          gradient: (-y / p + (1 - y) / (1 - p)) · exp(-z) / (1 + exp(-z))²
 *                          becomes -y · sigmoid(-z) + (1 - y) · sigmoid(z), i.e. p - y.
 *
 * Arguments are compared as linear forms over add/sub/neg (so `-a - b` and `a + b` are each
 * other's negation even when built as different nodes), with leaves compared structurally.
 * Both run in stabilize and specialize, as Theano registers local_sigm_times_exp.
 */

import type { Apply, Variable } from "../graph/basic.js";
import { type DType, isFloat } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import { fill } from "../tensor/alloc.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import * as M from "../tensor/math.js";
import type { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { type NodeRewriter, nodeRewriter, registerSpecialize, registerStabilize } from "./engine.js";
import { elemwiseName, finish, opInputs, scalarConstant } from "./math.js";

const tv = (v: Variable): TensorVariable => v as TensorVariable;
const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;

/** Bounds on the walks: products and sums in gradients are small; a huge tree is left alone. */
const MAX_LEAVES = 64;
const MAX_TERMS = 16;
const MAX_POWER = 64;
const KEY_DEPTH = 8;

// ---------------------------------------------------------------------------------------------
// Products as leaves with integer exponents

/** A product c · Π v^k (k a non-zero integer), leaves in first-seen order. */
export interface Product {
  c: number;
  leaves: Map<Variable, number>;
}

/** A DimShuffle that only adds broadcastable axes on the left (implicit broadcasting). */
function isLeftPad(v: Variable): boolean {
  const o = v.owner;
  if (!o || !(o.op instanceof DimShuffle)) return false;
  const p = o.op.pattern;
  const k = p.length - o.op.inputNdim;
  return k >= 0 && p.every((e, i) => (i < k ? e === "x" : e === i - k));
}

/**
 * The product tree under `root` (mul, trueDiv, inv, neg, sqr, pow by a small integer constant, and
 * left-padding DimShuffles), through nodes of the root's dtype whatever their other readers
 * (Theano's parse_mul_tree does the same: a shared subexpression is recomputed rather than missed).
 * Null when a leaf has another dtype or the tree is too large.
 */
export function flattenProduct(root: Variable): Product | null {
  const dtype = dtypeOf(root);
  const out: Product = { c: 1, leaves: new Map() };
  const stack: Array<[Variable, number]> = [[root, 1]];
  let seen = 0;
  while (stack.length > 0) {
    const [v, k] = stack.pop()!;
    if (++seen > MAX_LEAVES) return null;
    const c = scalarConstant(v);
    if (c !== null) {
      if (c === 0 && k < 0) return null;
      out.c *= c ** k;
      continue;
    }
    if (isLeftPad(v) && v !== root) {
      stack.push([v.owner!.inputs[0]!, k]);
      continue;
    }
    const name = dtypeOf(v) === dtype ? elemwiseName(v.owner) : null;
    const ins = v.owner?.inputs;
    if (name === "mul") stack.push([ins![1]!, k], [ins![0]!, k]);
    else if (name === "trueDiv") stack.push([ins![1]!, -k], [ins![0]!, k]);
    else if (name === "inv") stack.push([ins![0]!, -k]);
    else if (name === "neg") {
      out.c = -out.c;
      stack.push([ins![0]!, k]);
    } else if (name === "sqr") stack.push([ins![0]!, 2 * k]);
    else if (name === "pow" && Number.isInteger(scalarConstant(ins![1]!)) && Math.abs(scalarConstant(ins![1]!)!) <= MAX_POWER) {
      stack.push([ins![0]!, k * scalarConstant(ins![1]!)!]);
    } else {
      if (dtypeOf(v) !== dtype) return null;
      const n = (out.leaves.get(v) ?? 0) + k;
      if (n === 0) out.leaves.delete(v);
      else out.leaves.set(v, n);
    }
  }
  return out;
}

/** The product as a graph: c · Π num / Π den, in `dtype`; null when nothing but a constant is left. */
export function buildProduct(p: Product, dtype: DType): TensorVariable | null {
  const num: TensorVariable[] = [];
  const den: TensorVariable[] = [];
  for (const [v, k] of p.leaves) {
    const base = k === 2 || k === -2 ? M.sqr(tv(v)) : k === 1 || k === -1 ? tv(v) : M.pow(tv(v), constant(Math.abs(k), { dtype: dtype }));
    (k > 0 ? num : den).push(base);
  }
  const ck = (x: number): TensorVariable => constant(x, { dtype: dtype });
  let n: TensorVariable | null = null;
  for (const x of num) n = n ? M.mul(n, x) : x;
  if (n && p.c === -1) n = M.neg(n);
  else if (n && p.c !== 1) n = M.mul(n, ck(p.c));
  let d: TensorVariable | null = null;
  for (const x of den) d = d ? M.mul(d, x) : x;
  if (d) return M.trueDiv(n ?? ck(p.c), d);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Arguments as linear forms

/**
 * Per-transform caches: structural keys (interned, so a key stays short however deep the
 * expression under it) and argument classes. Per call only: a replacement changes inputs.
 */
export class KeyMemo {
  readonly keys = new Map<Variable, string>();
  readonly interned = new Map<string, string>();
  readonly classes = new Map<Variable, { key: string; sign: 1 | -1 } | null>();
}

/** A structural key for `v` (equal keys: the same computation), `depth` levels deep. */
function structKey(v: Variable, depth: number, memo: KeyMemo): string {
  const m = memo.keys.get(v);
  if (m !== undefined) return m;
  let k: string;
  const d = v.constantData;
  if (d instanceof NDArray && d.size <= 16) k = `c:${d.dtype}:${d.shape.join(",")}:${Array.from(d.toFlat() as ArrayLike<number | bigint>, String).join(",")}`;
  else if (!v.owner || depth === 0) k = `v${v.id}`;
  else k = `${v.owner.op.key}#${v.index}(${v.owner.inputs.map((i) => structKey(i, depth - 1, memo)).join(",")})`;
  let short = memo.interned.get(k);
  if (short === undefined) memo.interned.set(k, (short = `k${memo.interned.size}`));
  memo.keys.set(v, short);
  return short;
}

/**
 * The class of `t` under negation: `t = sign · (the class's canonical form)`, where the form is
 * t's add/sub/neg tree as leaf -> coefficient (plus a constant) and the canonical sign makes the
 * first coefficient positive. Null when the tree is too large.
 */
function argClass(t: Variable, memo: KeyMemo): { key: string; sign: 1 | -1 } | null {
  if (memo.classes.has(t)) return memo.classes.get(t)!;
  const r = argClassOnce(t, memo);
  memo.classes.set(t, r);
  return r;
}

function argClassOnce(t: Variable, memo: KeyMemo): { key: string; sign: 1 | -1 } | null {
  const coef = new Map<string, number>();
  let c = 0;
  const stack: Array<[Variable, number]> = [[t, 1]];
  let seen = 0;
  while (stack.length > 0) {
    const [v, s] = stack.pop()!;
    if (++seen > MAX_LEAVES) return null;
    const k = scalarConstant(v);
    if (k !== null) {
      c += s * k;
      continue;
    }
    const name = dtypeOf(v) === dtypeOf(t) ? elemwiseName(v.owner) : null;
    const ins = v.owner?.inputs;
    if (name === "add") stack.push([ins![0]!, s], [ins![1]!, s]);
    else if (name === "sub") stack.push([ins![0]!, s], [ins![1]!, -s]);
    else if (name === "neg") stack.push([ins![0]!, -s]);
    else {
      const key = structKey(v, KEY_DEPTH, memo);
      coef.set(key, (coef.get(key) ?? 0) + s);
    }
  }
  const entries = [...coef].filter(([, n]) => n !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const first = entries.length > 0 ? entries[0]![1] : c;
  const sign: 1 | -1 = first < 0 ? -1 : 1;
  // The constant is part of the form; a scalar constant may be broadcast, so its value is what counts.
  const key = `${entries.map(([k, n]) => `${n * sign}*${k}`).join("+")}+${c * sign}`;
  return { key, sign };
}

// ---------------------------------------------------------------------------------------------
// The family: exp(t), sigmoid(t), 1 + exp(t)

/** A family factor: its argument and its exponents of sigmoid(t), sigmoid(-t). */
interface Member {
  kind: "exp" | "sigmoid" | "1pexp";
  arg: Variable;
  a: number;
  b: number;
}

function member(v: Variable): Member | null {
  const float = (t: Variable): boolean => dtypeOf(t) === dtypeOf(v) && isFloat(dtypeOf(t));
  const e = opInputs(v, "exp");
  if (e && float(e[0]!)) return { kind: "exp", arg: e[0]!, a: 1, b: -1 };
  const s = opInputs(v, "sigmoid");
  if (s && float(s[0]!)) return { kind: "sigmoid", arg: s[0]!, a: 1, b: 0 };
  const add = opInputs(v, "add");
  if (add) {
    for (const [i, j] of [[0, 1], [1, 0]] as const) {
      const x = scalarConstant(add[i]!) === 1 ? opInputs(add[j]!, "exp") : null;
      if (x && float(x[0]!) && float(add[j]!)) return { kind: "1pexp", arg: x[0]!, a: 0, b: -1 };
    }
  }
  return null;
}

/** A class of arguments in a product: exponents of sigmoid(canon), sigmoid(-canon), and what it holds. */
interface ClassInfo {
  a: number;
  b: number;
  /** The family leaves of this class (with their exponents in the product). */
  leaves: Array<{ v: Variable; k: number; m: Member; sign: 1 | -1 }>;
}

/** The product's family leaves grouped by argument class. */
function classes(p: Product, memo: KeyMemo): Map<string, ClassInfo> {
  const out = new Map<string, ClassInfo>();
  for (const [v, k] of p.leaves) {
    const m = member(v);
    if (!m) continue;
    const cls = argClass(m.arg, memo);
    if (!cls) continue;
    let info = out.get(cls.key);
    if (!info) out.set(cls.key, (info = { a: 0, b: 0, leaves: [] }));
    // In canonical terms: t = sign · canon, so for sign -1, sigmoid(t) is sigmoid(-canon).
    const [a, b] = cls.sign === 1 ? [m.a, m.b] : [m.b, m.a];
    info.a += a * k;
    info.b += b * k;
    info.leaves.push({ v, k, m, sign: cls.sign });
  }
  return out;
}

/** Whether a class is already in its final form: sigmoid leaves with positive exponents only. */
const canonical = (c: ClassInfo): boolean => c.leaves.every((l) => l.m.kind === "sigmoid" && l.k > 0);

/** sigmoid(canon) (dir 1) or sigmoid(-canon) (dir -1), reusing a sigmoid leaf of that orientation. */
function sigmoidOf(c: ClassInfo, dir: 1 | -1): Variable {
  const same = c.leaves.find((l) => l.m.kind === "sigmoid" && l.sign === dir);
  if (same) return same.v;
  const l = c.leaves[0]!;
  const t = tv(l.m.arg);
  if (l.sign === dir) return M.sigmoid(t);
  const inner = opInputs(t, "neg");
  return M.sigmoid(inner ? tv(inner[0]!) : M.neg(t));
}

/** `p` with every class whose exponents are not negative replaced by its sigmoid powers; null when no class changes. */
function simplify(p: Product, memo: KeyMemo): Product | null {
  const cls = classes(p, memo);
  let changed = false;
  const leaves = new Map(p.leaves);
  const add = (v: Variable, k: number): void => {
    if (k === 0) return;
    const n = (leaves.get(v) ?? 0) + k;
    if (n === 0) leaves.delete(v);
    else leaves.set(v, n);
  };
  for (const c of cls.values()) {
    if (c.a < 0 || c.b < 0 || canonical(c)) continue;
    changed = true;
    const plus = c.a > 0 ? sigmoidOf(c, 1) : null;
    const minus = c.b > 0 ? sigmoidOf(c, -1) : null;
    for (const l of c.leaves) add(l.v, -l.k);
    if (plus) add(plus, c.a);
    if (minus) add(minus, c.b);
  }
  return changed ? { c: p.c, leaves } : null;
}

/** Whether every class of `p` has non-negative exponents. */
function allSafe(p: Product, memo: KeyMemo): boolean {
  for (const c of classes(p, memo).values()) if (c.a < 0 || c.b < 0) return false;
  return true;
}

/** `p` as a replacement for `out`: built, broadcast and cast like it (`refs` set the broadcast). */
function emit(p: Product, out: Variable, refs: readonly Variable[]): TensorVariable | null {
  const dtype = dtypeOf(out);
  const r = buildProduct(p, dtype);
  if (r) return finish(r, out, refs);
  const ref = refs.find((v) => scalarConstant(v) === null);
  return finish(ref ? fill(tv(ref), constant(p.c, { dtype: dtype })) : constant(p.c, { dtype: dtype }), out, refs);
}

const PRODUCT_OPS: ReadonlySet<string> = new Set(["mul", "trueDiv", "inv", "neg", "sqr", "pow"]);

/** The leaves a product's result must broadcast against (the inputs of the whole tree). */
const refsOf = (p: Product, extra: readonly Variable[]): Variable[] => [...p.leaves.keys(), ...extra];

/** The product tree a float mul/div/inv/neg/sqr/pow node computes, or null. */
function productAt(node: Apply): Product | null {
  const out = node.outputs[0]!;
  if (!PRODUCT_OPS.has(elemwiseName(node) ?? "") || !isFloat(dtypeOf(out))) return null;
  return flattenProduct(out);
}

/** `local_sigm_times_exp`: see the module comment. */
export const localSigmTimesExp = nodeRewriter({
  name: "local_sigm_times_exp",
  tracks: [Elemwise],
  transform(node) {
    const out = node.outputs[0]!;
    const p = productAt(node);
    if (!p) return null;
    const memo = new KeyMemo();
    const s = simplify(p, memo);
    if (!s) return null;
    const r = emit(s, out, refsOf(p, node.inputs));
    return r ? [r] : null;
  },
});

/** The signed terms of the add/sub/neg tree under `v` (through any readers), or null. */
function flattenSum(v: Variable): Array<[Variable, 1 | -1]> | null {
  const dtype = dtypeOf(v);
  const terms: Array<[Variable, 1 | -1]> = [];
  const stack: Array<[Variable, 1 | -1]> = [[v, 1]];
  while (stack.length > 0) {
    const [x, s] = stack.pop()!;
    const name = dtypeOf(x) === dtype && !member(x) ? elemwiseName(x.owner) : null;
    const ins = x.owner?.inputs;
    if (name === "add") stack.push([ins![1]!, s], [ins![0]!, s]);
    else if (name === "sub") stack.push([ins![1]!, s === 1 ? -1 : 1], [ins![0]!, s]);
    else if (name === "neg" && x !== v) stack.push([ins![0]!, s === 1 ? -1 : 1]);
    else if (x === v) return null;
    else terms.push([x, s]);
    if (terms.length + stack.length > MAX_TERMS) return null;
  }
  return terms;
}

/** The product of two products. */
function times(p: Product, q: Product): Product {
  const leaves = new Map(p.leaves);
  for (const [v, k] of q.leaves) {
    const n = (leaves.get(v) ?? 0) + k;
    if (n === 0) leaves.delete(v);
    else leaves.set(v, n);
  }
  return { c: p.c * q.c, leaves };
}

/** `local_sigm_grad_distribute`: see the module comment. */
export const localSigmGradDistribute = nodeRewriter({
  name: "local_sigm_grad_distribute",
  tracks: [Elemwise],
  transform(node) {
    const out = node.outputs[0]!;
    const p = productAt(node);
    if (!p) return null;
    const memo = new KeyMemo();
    if (classes(p, memo).size === 0) return null;
    for (const [s, k] of p.leaves) {
      if (k !== 1) continue;
      const terms = flattenSum(s);
      if (!terms) continue;
      const rest: Product = { c: p.c, leaves: new Map(p.leaves) };
      rest.leaves.delete(s);
      const parts: Array<[Product, 1 | -1]> = [];
      let unsafe = !allSafe(rest, memo);
      for (const [t, sign] of terms) {
        const tp = flattenProduct(t) ?? { c: 1, leaves: new Map([[t, 1]]) };
        if (!allSafe(tp, memo)) unsafe = true;
        const all = times(rest, tp);
        if (!allSafe(all, memo)) break;
        parts.push([simplify(all, memo) ?? all, sign]);
      }
      if (!unsafe || parts.length !== terms.length) continue;
      let acc: TensorVariable | null = null;
      const dtype = dtypeOf(out);
      for (const [q, sign] of parts) {
        const x = buildProduct(q, dtype) ?? constant(q.c, { dtype: dtype });
        acc = acc === null ? (sign === 1 ? x : M.neg(x)) : sign === 1 ? M.add(acc, x) : M.sub(acc, x);
      }
      const r = acc ? finish(acc, out, refsOf(p, [...node.inputs, ...terms.map(([t]) => t)])) : null;
      if (r) return [r];
    }
    return null;
  },
});

for (const r of [localSigmTimesExp, localSigmGradDistribute]) {
  registerStabilize(r);
  registerSpecialize(r);
}

/** Every rewriter this module registers. */
export const SIGMOID_REWRITES: readonly NodeRewriter[] = [localSigmTimesExp, localSigmGradDistribute];
