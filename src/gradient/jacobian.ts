/**
 * Jacobians, Hessians and forward mode: `jacobian`, `hessian`, `Rop` (Theano's `gradient.py`),
 * and `RowLoop`, the small loop op they need while theano-ts has no `scan`.
 *
 * Row i of a Jacobian is one vector-Jacobian product, `Lop(expr, wrt, e_i)`. When the
 * expression's length is statically known (and small) the rows are unrolled into the graph and
 * stacked, so rewrites see everything. Otherwise `RowLoop` carries a closed inner graph (the
 * Lop with a fresh seed vector `u`) and, at run time, evaluates it once per row with u = e_i
 * through each op's `perform`, stacking the rows. RowLoop has its own gradient (another
 * RowLoop over the gradient of the inner graph), so gradients of Jacobians, and Hessians of
 * Hessians, work at any length.
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

import { GradientError, ShapeError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, Variable, ancestors, cloneGraph, graphInputs, toposort } from "../graph/basic.js";
import { typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import { broadcastTo, zeros, zerosLike } from "../tensor/alloc.js";
import { stack } from "../tensor/join.js";
import { reshape, shape } from "../tensor/shape.js";
import * as math from "../tensor/math.js";
import { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { type GradOptions, Lop, conformGrad, grad, isFloatTensor } from "./grad.js";
import { evaluateGraph } from "./evaluate.js";

/** Static lengths up to this are unrolled into the graph; longer or unknown ones use RowLoop. */
export const JACOBIAN_UNROLL_LIMIT = 64;

type Mode = "stack" | "sum";

let nextLoopId = 1;

/**
 * A loop over rows i = 0..n-1, n the length of input 0 (only its length is used). Node inputs:
 * `[lengthSource, ...nonSequences, ...sequences, ...shapeRefs]`; the inner graph's inputs are
 * `[...nonSequences, ...sequence rows, u]` with u = e_i (the i-th unit vector, lengthSource's
 * type). Output k is, per its mode, the rows stacked (shape [n, ...]) or summed; its shape is
 * shapeRefs[k]'s, with n prepended when `prepend[k]`.
 */
export class RowLoop extends Op {
  readonly id = nextLoopId++;

  constructor(
    readonly innerInputs: readonly Variable[],
    readonly innerOutputs: readonly Variable[],
    readonly nNonSeq: number,
    readonly nSeq: number,
    readonly modes: readonly Mode[],
    readonly prepend: readonly boolean[],
  ) {
    super();
    if (innerInputs.length !== nNonSeq + nSeq + 1) throw new GradientError(`RowLoop: ${innerInputs.length} inner inputs for ${nNonSeq} non-sequences, ${nSeq} sequences and the seed`);
  }

  /** Each loop is its own operation (its inner graph is its identity). */
  override props(): Record<string, unknown> {
    return { id: this.id, modes: this.modes };
  }

  makeNode(lengthSource: Variable, ...rest: Variable[]): Apply {
    const nIn = this.nNonSeq + this.nSeq;
    if (rest.length !== nIn + this.innerOutputs.length) throw new GradientError(`RowLoop: expected ${1 + nIn + this.innerOutputs.length} inputs, got ${1 + rest.length}`);
    const lt = lengthSource.type;
    if (!(lt instanceof TensorType) || lt.ndim !== 1) throw new GradientError(`RowLoop: the length source must be a vector, got ${lengthSource.type}`);
    const refs = rest.slice(nIn);
    const types = this.innerOutputs.map((o, k) => {
      const rt = refs[k]!.type as TensorType;
      const dtype = (o.type as TensorType).dtype;
      return new TensorType(dtype, this.prepend[k] ? [lt.shape[0]!, ...rt.shape] : rt.shape);
    });
    return new Apply(this, [lengthSource, ...rest], types);
  }

  perform(node: Apply, [len, ...rest]: Value[]): Value[] {
    const n = (len as NDArray).shape[0]!;
    const nIn = this.nNonSeq + this.nSeq;
    const nonSeq = rest.slice(0, this.nNonSeq);
    const seqs = rest.slice(this.nNonSeq, nIn) as NDArray[];
    const refs = rest.slice(nIn) as NDArray[];
    for (const s of seqs) if (s.shape[0] !== n) throw new ShapeError(`RowLoop: a sequence has ${s.shape[0]} rows but the loop runs ${n} times`);
    const outTypes = node.outputs.map((o) => o.type as TensorType);
    const rowShapes = refs.map((r, k) => (this.prepend[k] || this.modes[k] === "sum" ? [...r.shape] : r.shape.slice(1)));
    const rowSizes = rowShapes.map((s) => s.reduce((a, b) => a * b, 1));
    const bufs = outTypes.map((t, k) => new (typedArrayCtor(t.dtype))(this.modes[k] === "stack" ? n * rowSizes[k]! : rowSizes[k]!) as Float64Array);
    const uType = this.innerInputs[nIn]!.type as TensorType;
    for (let i = 0; i < n; i++) {
      const u = new (typedArrayCtor(uType.dtype))(n) as Float64Array;
      u[i] = 1;
      const givens = new Map<Variable, Value>();
      nonSeq.forEach((v, j) => givens.set(this.innerInputs[j]!, v));
      seqs.forEach((s, j) => givens.set(this.innerInputs[this.nNonSeq + j]!, row(s, i)));
      givens.set(this.innerInputs[nIn]!, new NDArray(uType.dtype, [n], u));
      const outs = evaluateGraph(this.innerOutputs, givens) as NDArray[];
      outs.forEach((o, k) => {
        if (o.shape.length !== rowShapes[k]!.length || o.shape.some((d, j) => d !== rowShapes[k]![j])) {
          throw new ShapeError(`RowLoop: row ${i} of output ${k} has shape [${o.shape.join(", ")}], expected [${rowShapes[k]!.join(", ")}]`);
        }
        const flat = o.toFlat();
        const b = bufs[k]!;
        if (this.modes[k] === "stack") for (let j = 0; j < flat.length; j++) b[i * rowSizes[k]! + j] = Number(flat[j]);
        else for (let j = 0; j < flat.length; j++) b[j] = b[j]! + Number(flat[j]);
      });
    }
    return outTypes.map((t, k) => new NDArray(t.dtype, this.modes[k] === "stack" ? [n, ...rowShapes[k]!] : rowShapes[k]!, bufs[k]!));
  }

  override inferShape(_node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    const n = shapes[0]![0]!;
    const base = 1 + this.nNonSeq + this.nSeq;
    return this.innerOutputs.map((_o, k) => (this.prepend[k] ? [n, ...shapes[base + k]!] : [...shapes[base + k]!]));
  }

  /**
   * d(cost)/d(inputs): per row, the gradient of Σ_k sum(G_k[row] · out_k) through the inner
   * graph. Gradients of stacked outputs are sequences (row i goes with row i), of summed outputs
   * non-sequences; the gradients of non-sequences sum over rows, those of sequences stack.
   */
  override grad(inputs: Variable[], outputGrads: Variable[]): GradResult[] {
    const nIn = this.nNonSeq + this.nSeq;
    const innerNonSeq = this.innerInputs.slice(0, this.nNonSeq);
    const innerSeq = this.innerInputs.slice(this.nNonSeq, nIn);
    const u = this.innerInputs[nIn]!;
    const gIn = this.innerOutputs.map((o, k) => (o.type as TensorType).makeVariable(`g${k}`) as TensorVariable);
    const cost = this.innerOutputs.map((o, k) => math.sum(math.mul(o as TensorVariable, gIn[k]!))).reduce((a, b) => math.add(a, b));
    const targets = [...innerNonSeq, ...innerSeq];
    const which = targets.map((v, j) => isFloatTensor(v) && isFloatTensor(inputs[1 + j]!));
    const wanted = targets.filter((_v, j) => which[j]);
    const innerGrads = grad(cost, wanted, { disconnectedInputs: "ignore", returnDisconnected: "null" });
    const result: GradResult[] = inputs.map(() => null);
    const kept: Array<{ pos: number; g: Variable }> = [];
    let w = 0;
    targets.forEach((_v, j) => {
      if (!which[j]) return;
      const g = innerGrads[w++];
      if (g) kept.push({ pos: j, g });
    });
    if (kept.length === 0) return result;
    const sumK = this.modes.map((m, k) => (m === "sum" ? k : -1)).filter((k) => k >= 0);
    const stackK = this.modes.map((m, k) => (m === "stack" ? k : -1)).filter((k) => k >= 0);
    const loop = new RowLoop(
      [...innerNonSeq, ...sumK.map((k) => gIn[k]!), ...innerSeq, ...stackK.map((k) => gIn[k]!), u],
      kept.map((e) => e.g),
      this.nNonSeq + sumK.length,
      this.nSeq + stackK.length,
      kept.map((e) => (e.pos < this.nNonSeq ? "sum" : "stack")),
      kept.map(() => false),
    );
    const outer = inputs.slice(1, 1 + nIn);
    const node = loop.makeNode(
      inputs[0]!,
      ...outer.slice(0, this.nNonSeq),
      ...sumK.map((k) => outputGrads[k]!),
      ...outer.slice(this.nNonSeq),
      ...stackK.map((k) => outputGrads[k]!),
      ...kept.map((e) => outer[e.pos]!),
    );
    kept.forEach((e, k) => (result[1 + e.pos] = node.outputs[k]!));
    return result;
  }
}

/** Row i of a (C-contiguous or strided) array, as a view. */
function row(a: NDArray, i: number): NDArray {
  return new NDArray(a.dtype, a.shape.slice(1), a.data, a.strides.slice(1), a.offset + i * a.strides[0]!);
}

export type JacobianOptions = Pick<GradOptions, "considerConstant" | "disconnectedInputs">;

/** The Jacobian rows through RowLoop (any length). */
function jacobianLoop(expr: TensorVariable, wrt: readonly TensorVariable[], opts: JacobianOptions): TensorVariable[] {
  const u = expr.type.makeVariable("u") as TensorVariable;
  const lops = Lop(expr, wrt, u, opts);
  const free = graphInputs(lops).filter((v) => v !== u);
  const memo = cloneGraph([...free, u], lops, { copyInputs: true });
  const loop = new RowLoop(
    [...free, u].map((v) => memo.get(v)!),
    lops.map((l) => memo.get(l)!),
    free.length,
    0,
    lops.map(() => "stack"),
    lops.map(() => true),
  );
  return loop.makeNode(expr, ...free, ...wrt).outputs as TensorVariable[];
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
    if (n === null || n === undefined || n > JACOBIAN_UNROLL_LIMIT) out = jacobianLoop(expr, list, opts);
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
