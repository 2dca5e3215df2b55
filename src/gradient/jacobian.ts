/**
 * Jacobians, Hessians and forward mode: `jacobian`, `hessian`, `Rop` (Theano's `gradient.py`).
 *
 * Row i of a Jacobian is one vector-Jacobian product, `Lop(expr, wrt, e_i)`. When the
 * expression's length is statically known (and small) the rows are unrolled into the graph and
 * stacked, so rewrites see everything. Otherwise the rows come from a loop, as in Theano: a
 * `theano.scan` over the row indices computing `grad(expr[i], wrt)` (src/scan/jacobian.ts
 * installs it). Scan has gradients, its rewrites and its compiled loop, so gradients of
 * Jacobians and Hessians of Hessians work at any length, on every backend.
 *
 * `Rop` (the Jacobian-vector product) uses the ops' `rop` where every op on the path has one,
 * and otherwise the double-Lop identity: with u a dummy of f's type, J v = ∂/∂u (Lop(f, wrt, u)·v)
 * (the result is linear in u, so u is then replaced by zeros).
 *
 * Each eval point enters through `pinned`: broadcast to its wrt's symbolic shape. That checks at
 * run time that the direction has the point's shape, and keeps every wrt in the graph even where
 * the product does not depend on its value (f linear in it: `Rop(dot(x, W), W, V)` = dot(x, V)),
 * as Theano's Rop graph does, so `theano.function([W, V, x], ...)` accepts W as Theano's tutorial
 * writes it instead of raising UnusedInputError.
 */

import { GradientError } from "../errors.js";
import { type Variable, ancestors, cloneGraph, toposort } from "../graph/basic.js";
import { NDArray } from "../ndarray/ndarray.js";
import { broadcastTo, zeros, zerosLike } from "../tensor/alloc.js";
import { stack } from "../tensor/join.js";
import { reshape, shape } from "../tensor/shape.js";
import { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { type GradOptions, Lop, conformGrad, grad, isFloatTensor } from "./grad.js";

/** Static lengths up to this are unrolled into the graph; longer or unknown ones loop (a scan). */
export const JACOBIAN_UNROLL_LIMIT = 64;

export type JacobianOptions = Pick<GradOptions, "considerConstant" | "disconnectedInputs">;

/**
 * How the rows of a Jacobian of unknown (or long) length are computed: a loop, `rows[i] =
 * grad(expr[i], wrt)`. src/scan sets it when it is loaded (a `theano.scan` over the row indices,
 * as Theano's `jacobian` is written); this folder cannot import scan (scan builds on gradients).
 */
export type JacobianLoop = (expr: TensorVariable, wrt: readonly TensorVariable[], opts: JacobianOptions) => TensorVariable[];
let jacobianLoop: JacobianLoop | null = null;

/** Installs the loop `jacobian` and `hessian` use past JACOBIAN_UNROLL_LIMIT rows (src/scan/jacobian.ts). */
export function setJacobianLoop(loop: JacobianLoop): void {
  jacobianLoop = loop;
}

/**
 * `jacobian(expr, wrt)`: for a vector `expr` of length n, the array J with J[i] = ∂expr[i]/∂wrt
 * (shape [n, ...wrt.shape]); for a scalar, the gradient. One wrt in, one out; an array, an array.
 */
export function jacobian(expr: Variable, wrt: Variable, opts?: JacobianOptions): TensorVariable;
export function jacobian(expr: Variable, wrt: readonly Variable[], opts?: JacobianOptions): TensorVariable[];
export function jacobian(expr: Variable, wrt: Variable | readonly Variable[], opts: JacobianOptions = {}): TensorVariable | TensorVariable[] {
  const single = !Array.isArray(wrt);
  const list = (single ? [wrt as Variable] : (wrt as readonly Variable[])) as TensorVariable[];
  if (!isFloatTensor(expr)) throw new GradientError(`jacobian: the expression must be a float tensor, got ${expr.label}: ${expr.type}`);
  if (expr.ndim > 1) throw new GradientError(`jacobian: the expression must be a scalar or a vector, but ${expr.label} is ${expr.type}; flatten it first (expr.flatten())`);
  let out: TensorVariable[];
  if (expr.ndim === 0) out = grad(expr, list, opts);
  else {
    const n = expr.type.shape[0];
    if (n === null || n === undefined || n > JACOBIAN_UNROLL_LIMIT) {
      if (!jacobianLoop) throw new GradientError("jacobian: a Jacobian of unknown length needs theano.scan, which is not loaded; import the package's main entry point");
      out = jacobianLoop(expr, list, opts);
    }
    else if (n === 0) out = list.map((w) => zeros([0, ...w.type.shape.map((_d, i) => shape(w, i))], w.dtype));
    else {
      const rows = [...Array(n).keys()].map((i) => {
        const e = new Float64Array(n);
        e[i] = 1;
        return Lop(expr, list, constant(new NDArray("float64", [n], e).astype(expr.dtype)), opts);
      });
      out = list.map((w, j) => stack(rows.map((r) => r[j]!)) as TensorVariable);
    }
  }
  return single ? out[0]! : out;
}

/**
 * `hessian(cost, wrt)`: the matrix of second derivatives of a scalar cost with respect to each
 * vector in `wrt` (Theano requires vectors; flatten others first).
 */
export function hessian(cost: Variable, wrt: Variable, opts?: JacobianOptions): TensorVariable;
export function hessian(cost: Variable, wrt: readonly Variable[], opts?: JacobianOptions): TensorVariable[];
export function hessian(cost: Variable, wrt: Variable | readonly Variable[], opts: JacobianOptions = {}): TensorVariable | TensorVariable[] {
  const single = !Array.isArray(wrt);
  const list = single ? [wrt as Variable] : (wrt as readonly Variable[]);
  if (!isFloatTensor(cost) || cost.ndim !== 0) throw new GradientError(`hessian: the cost must be a float scalar, got ${cost.label}: ${cost.type}`);
  const out = list.map((w, k) => {
    if (!isFloatTensor(w) || w.ndim !== 1) throw new GradientError(`hessian: wrt[${k}] must be a float vector, got ${w.label}: ${w.type}; flatten it first`);
    return jacobian(grad(cost, w, opts), w, opts);
  });
  return single ? out[0]! : out;
}

export interface RopOptions {
  /** An output that does not depend on any wrt: "raise" (default) or "zero". */
  disconnectedOutputs?: "raise" | "zero";
}

/**
 * `Rop(f, wrt, evalPoints)`: the Jacobian-vector product Σ_j ∂f/∂wrt[j] · evalPoints[j], with
 * f's shape. One f in, one out; an array, an array.
 */
export function Rop(f: Variable, wrt: Variable | readonly Variable[], evalPoints: Variable | readonly Variable[], opts?: RopOptions): TensorVariable;
export function Rop(f: readonly Variable[], wrt: Variable | readonly Variable[], evalPoints: Variable | readonly Variable[], opts?: RopOptions): TensorVariable[];
export function Rop(f: Variable | readonly Variable[], wrt: Variable | readonly Variable[], evalPoints: Variable | readonly Variable[], opts: RopOptions = {}): TensorVariable | TensorVariable[] {
  const single = !Array.isArray(f);
  const fs = (single ? [f as Variable] : (f as readonly Variable[])) as TensorVariable[];
  const ws = (Array.isArray(wrt) ? wrt : [wrt]) as TensorVariable[];
  const es = (Array.isArray(evalPoints) ? evalPoints : [evalPoints]) as TensorVariable[];
  if (ws.length !== es.length) throw new GradientError(`Rop: ${ws.length} wrt variable(s) but ${es.length} eval point(s); give one eval point per wrt`);
  ws.forEach((w: Variable, j) => {
    if (!isFloatTensor(w)) throw new GradientError(`Rop: wrt[${j}] (${w.label}: ${w.type}) must be a float tensor`);
    const e = es[j]!;
    if (!(e.type instanceof TensorType) || e.ndim !== w.ndim) throw new GradientError(`Rop: eval point ${j} (${e.type}) must have the rank of wrt[${j}] (${w.type})`);
  });
  fs.forEach((fi: Variable, i) => {
    if (!isFloatTensor(fi)) throw new GradientError(`Rop: f[${i}] (${fi.label}: ${fi.type}) must be a float tensor`);
  });
  const wset = new Set<Variable>(ws);
  const depends = fs.map((fi) => ancestors([fi]).some((v) => wset.has(v)));
  depends.forEach((d, i) => {
    if (!d && (opts.disconnectedOutputs ?? "raise") === "raise") {
      throw new GradientError(`Rop: f[${i}] (${fs[i]!.label}) does not depend on any wrt; pass disconnectedOutputs: "zero" if this is expected`);
    }
  });
  const pins = es.map((e, j) => pinned(conformGrad(e, ws[j]!, () => `eval point ${j}`) as TensorVariable, ws[j]!));
  const out = ropForward(fs, ws, pins) ?? ropViaLop(fs, ws, pins);
  const res = out.map((r, i) => (r ? (conformGrad(r, fs[i]!, () => `the Rop of f[${i}]`) as TensorVariable) : zerosLike(fs[i]!)));
  return single ? res[0]! : res;
}

/**
 * The eval point `e` as a function of `w`'s shape (see the header): broadcast to `shape(w)` (a
 * Shape node, symbolic even where the static shape is known, so w stays in the graph), or for a
 * scalar reshaped to w's empty shape vector.
 */
function pinned(e: TensorVariable, w: TensorVariable): TensorVariable {
  return w.ndim === 0 ? reshape(e, shape(w), 0) : broadcastTo(e, shape(w));
}

/** Forward mode through each op's `rop`; undefined when some op on the path has none. */
function ropForward(fs: TensorVariable[], ws: TensorVariable[], es: TensorVariable[]): Array<Variable | null> | undefined {
  const tangent = new Map<Variable, Variable>();
  ws.forEach((w, j) => tangent.set(w, es[j]!));
  for (const node of toposort(fs, new Set(ws))) {
    const ins = node.inputs.map((v) => tangent.get(v) ?? null);
    if (ins.every((t) => t === null)) continue;
    if (node.op.notDifferentiable !== undefined) continue;
    if (!node.op.rop) return undefined;
    const outs = node.op.rop(node.inputs, ins, node.outputs);
    outs.forEach((t, k) => {
      if (t) tangent.set(node.outputs[k]!, conformGrad(t, node.outputs[k]!, () => `${node.op}.rop for output ${k}`));
    });
  }
  return fs.map((fi) => tangent.get(fi) ?? null);
}

/** J v = ∂/∂u (Lop(f, wrt, u) · v), with u then replaced by zeros (the result is linear in u). */
function ropViaLop(fs: TensorVariable[], ws: TensorVariable[], es: TensorVariable[]): Array<Variable | null> {
  const us = fs.map((fi, i) => fi.type.makeVariable(`u${i}`) as TensorVariable);
  const lops = Lop(fs, ws, us, { disconnectedInputs: "ignore" });
  const jv = grad(null, us, { knownGrads: new Map(lops.map((l, j) => [l as Variable, es[j]! as Variable])), disconnectedInputs: "ignore", returnDisconnected: "null" });
  const replace = new Map<Variable, Variable>(us.map((u, i) => [u, zerosLike(fs[i]!)]));
  const present = jv.filter((r): r is Variable => r !== null);
  const memo = cloneGraph([], present, { replace, shareUnchanged: true });
  return jv.map((r) => (r ? memo.get(r)! : null));
}
