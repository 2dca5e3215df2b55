/**
 * BLAS rewrites (Theano's `tensor/rewriting/blas.py`): sums that contain a matrix product
 * become one Gemm node, and Gemm then runs in place where the destroy handler allows.
 *
 * `gemm_optimizer` (blas stage, tags blas, fast_run, fast_compile) looks at an add/sub node of
 * matrices and flattens the add tree under it (through add, sub, neg; a subtree is entered only
 * when nothing else reads it, as Theano's `_gemm_canonicalize`). It picks a term that is a
 * scaled product — `dot(x, y)`, `s*dot(x, y)`, `dot(x, y)*s`, `-dot(x, y)`, with s of static
 * shape (1, 1), and the product read by nothing else — and a term z of the result's own shape
 * (scaled the same way, `b*z`), and replaces the sum with
 *
 *     gemm(z, ±s, x, y, ±b)  [+ the remaining terms, added back]
 *
 * so `a*z + b*dot(x,y)`, `z + dot(x,y)`, `z - dot(x,y)` and `W - lr*dot(x, g)` each become one
 * node. Several full-shape terms are summed into z first; a broadcast term (a bias row) is
 * added back after the Gemm, which the fusion stage then fuses with its neighbours. The node
 * that adds the remaining terms is visited again, so a sum of two products becomes two Gemms.
 * A product that is not part of a sum is left to Dot (Theano's Dot22Scalar is not needed: the
 * scaling fuses into the next elementwise loop).
 *
 * `local_inplace_gemm` (in-place stage at 70, tags inplace, blas_opt_inplace, fast_run) switches
 * Gemm to its in-place form through the shared in-place machinery (src/rewriting/inplace.ts), so
 * z is overwritten only when it is dead afterwards: never a user input or a constant, and a
 * shared variable only when its update is this very value.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { isFloat } from "../ndarray/dtype.js";
import * as S from "../scalar/table.js";
import { dimshuffle } from "../tensor/basic.js";
import { Dot } from "../tensor/blas.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import { GEMM, GEMM_INPLACE, Gemm } from "../tensor/gemm.js";
import { add, cast, neg, sub } from "../tensor/math.js";
import type { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant, constantValue } from "../tensor/variable.js";
import { nodeRewriter, registerBlas } from "./engine.js";
import { registerInplace } from "./inplace.js";

/** The most terms one add tree is flattened into (keeps each visit cheap on huge sums). */
const MAX_TERMS = 32;

/** The node computing `v` with scalar row `row` (not in place), or null. */
function elemwiseOf(v: Variable, row: S.ScalarOp): Apply | null {
  const n = v.owner;
  return n && n.op instanceof Elemwise && n.op.scalarOp === row && n.op.inplacePattern.size === 0 ? n : null;
}

const ttype = (v: Variable): TensorType => v.type as TensorType;

const sameBroadcast = (a: Variable, b: Variable): boolean => {
  const ta = ttype(a);
  const tb = ttype(b);
  return ta.ndim === tb.ndim && ta.shape.every((d, i) => (d === 1) === (tb.shape[i] === 1));
};

/** Read by exactly one node and not an output: the rewrite may absorb it. */
const isPrivate = (fg: FunctionGraph, v: Variable): boolean => fg.clientsOf(v).length === 1 && fg.clientsOf(v)[0]![0] !== "output";

/** A value of static shape (1, ..., 1): a scalar broadcast over the matrix. */
const isScalarLike = (v: Variable): boolean => ttype(v).shape.every((d) => d === 1);

/** A scale factor: a JS number (from a constant) or a 0-d variable. */
type Scale = number | TensorVariable;

function scaleOf(s: Variable): Scale {
  const c = constantValue(s);
  if (c && c.size === 1) return Number(c.data[c.offset]);
  const o = s.owner;
  // T's weak scalars and 0-d variables arrive padded: DimShuffle{x,x}(scalar).
  if (o && o.op instanceof DimShuffle && ttype(o.inputs[0]!).ndim === 0) return o.inputs[0]! as TensorVariable;
  return dimshuffle(s as TensorVariable, []);
}

const mulScale = (a: Scale, sign: number): Scale => (typeof a === "number" ? a * sign : sign < 0 ? neg(a) : a);

function scaleVar(a: Scale, dtype: TensorType["dtype"]): TensorVariable {
  if (typeof a === "number") return constant(a, { dtype });
  return a.dtype === dtype ? a : cast(a, dtype);
}

/** `v` as scale·base when v = s*base or base*s (s scalar-like, and the product private); else 1·v. */
function splitScale(fg: FunctionGraph, v: Variable): { scale: Scale; base: Variable } {
  const m = elemwiseOf(v, S.mul);
  if (m && isPrivate(fg, v)) {
    const [a, b] = m.inputs as [Variable, Variable];
    if (isScalarLike(a) && !isScalarLike(b)) return { scale: scaleOf(a), base: b };
    if (isScalarLike(b) && !isScalarLike(a)) return { scale: scaleOf(b), base: a };
  }
  return { scale: 1, base: v };
}

/** The matrix product a term computes, when nothing else reads it. */
function asDot(fg: FunctionGraph, v: Variable, dtype: string): { x: Variable; y: Variable } | null {
  const d = v.owner;
  if (!d || !(d.op instanceof Dot) || !isPrivate(fg, v)) return null;
  const [x, y] = d.inputs as [Variable, Variable];
  if (ttype(x).ndim !== 2 || ttype(y).ndim !== 2 || ttype(x).dtype !== dtype || ttype(y).dtype !== dtype) return null;
  return { x, y };
}

interface Term {
  readonly v: Variable;
  readonly sign: 1 | -1;
}

/** The signed terms of the add tree under `root` (root's own inputs, expanded through private add/sub/neg). */
function flatten(fg: FunctionGraph, root: Apply): Term[] | null {
  const out = root.outputs[0]!;
  const terms: Term[] = [];
  const stack: Term[] = [];
  const push = (node: Apply, sign: 1 | -1): void => {
    if (node.op instanceof Elemwise && node.op.scalarOp === S.neg) stack.push({ v: node.inputs[0]!, sign: (-sign) as 1 | -1 });
    else {
      stack.push({ v: node.inputs[1]!, sign: (node.op as Elemwise).scalarOp === S.sub ? ((-sign) as 1 | -1) : sign });
      stack.push({ v: node.inputs[0]!, sign });
    }
  };
  push(root, 1);
  while (stack.length > 0) {
    const t = stack.pop()!;
    const n = elemwiseOf(t.v, S.add) ?? elemwiseOf(t.v, S.sub) ?? elemwiseOf(t.v, S.neg);
    if (n && isPrivate(fg, t.v) && sameBroadcast(t.v, out) && ttype(t.v).dtype === ttype(out).dtype) push(n, t.sign);
    else terms.push(t);
    if (terms.length + stack.length > MAX_TERMS) return null;
  }
  return terms;
}

/** Sums signed terms (the first one positive unless negated). */
function sumTerms(terms: readonly Term[]): TensorVariable {
  let acc = terms[0]!.sign > 0 ? (terms[0]!.v as TensorVariable) : neg(terms[0]!.v as TensorVariable);
  for (const t of terms.slice(1)) acc = t.sign > 0 ? add(acc, t.v as TensorVariable) : sub(acc, t.v as TensorVariable);
  return acc;
}

export const gemmOptimizer = registerBlas(
  nodeRewriter({
    name: "gemm_optimizer",
    tags: ["gemm", "local_gemm"],
    tracks: [Elemwise],
    transform(node, fg) {
      const op = node.op as Elemwise;
      if ((op.scalarOp !== S.add && op.scalarOp !== S.sub) || op.inplacePattern.size > 0) return null;
      const out = node.outputs[0]!;
      const dtype = ttype(out).dtype;
      if (ttype(out).ndim !== 2 || !isFloat(dtype)) return null;
      const terms = flatten(fg, node);
      if (!terms) return null;
      // The first scaled product among the terms.
      let k = -1;
      let prod: { x: Variable; y: Variable; alpha: Scale } | null = null;
      for (let i = 0; i < terms.length && !prod; i++) {
        const { scale, base } = splitScale(fg, terms[i]!.v);
        const d = asDot(fg, base, dtype);
        if (d && sameBroadcast(base, out)) {
          prod = { ...d, alpha: mulScale(scale, terms[i]!.sign) };
          k = i;
        }
      }
      if (!prod) return null;
      const rest = terms.filter((_t, i) => i !== k);
      const full = rest.filter((t) => sameBroadcast(t.v, out) && ttype(t.v).dtype === dtype);
      if (full.length === 0) return null;
      const others = rest.filter((t) => !full.includes(t));
      let z: Variable;
      let beta: Scale;
      if (full.length === 1) {
        const { scale, base } = splitScale(fg, full[0]!.v);
        [z, beta] = sameBroadcast(base, out) ? [base, mulScale(scale, full[0]!.sign)] : [full[0]!.v, full[0]!.sign];
      } else [z, beta] = [sumTerms(full), 1];
      let r = GEMM.call(z, scaleVar(prod.alpha, dtype), prod.x, prod.y, scaleVar(beta, dtype)) as TensorVariable;
      if (others.length > 0) r = sumTerms([{ v: r, sign: 1 }, ...others]);
      return r.dtype === dtype ? [r] : null;
    },
  }),
);

export const inplaceGemm = registerInplace(
  {
    name: "local_inplace_gemm",
    tags: ["blas_opt_inplace", "inplace_gemm"],
    tracks: [Gemm],
    candidates: (node) => ((node.op as Gemm).inplace ? [] : [{ op: GEMM_INPLACE, destroys: 0 }]),
  },
  70,
);
