/**
 * Reverse-mode differentiation: `grad` and `Lop` (Theano's `gradient.py`: `grad`,
 * `_populate_grad_dict`, `Lop`).
 *
 * The gradient is more graph, not a tape: starting from the cost (seeded with 1) or from known
 * gradients of intermediate variables, the engine walks the Apply nodes between the `wrt`
 * variables and the cost in reverse topological order and asks each op for the gradient graph
 * of its inputs (`Op.grad`). Only nodes on a path from some `wrt` to the cost are asked.
 *
 * What the engine does centrally, so ops need not:
 * - several clients of a variable: their contributions are summed;
 * - an output that receives no gradient: the op gets zeros of that output's type (floatX zeros
 *   for integer outputs);
 * - dtype: every contribution is cast to its variable's dtype;
 * - broadcasting: a contribution of higher rank, or larger where the input's static size is 1,
 *   is summed over those axes, so it has the input's type;
 * - integers: a variable of an integer or bool dtype carries a zero gradient, and a node whose
 *   outputs all carry zero gradients gives zero gradients to its inputs without being asked
 *   (the gradient is linear in the output gradients). Zeros stay symbolic markers until some op
 *   needs them as a graph, so integer index computations add no nodes.
 * - errors: an op on the path with neither `grad` nor `notDifferentiable`, or a `GradUndefined`
 *   for an input on the path, is a GradientError naming the op, the input, and the user line
 *   that made the node.
 */

import { GradientError, warn } from "../errors.js";
import { GradUndefined, Type, Variable, toposort } from "../graph/basic.js";
import { isFloat } from "../ndarray/dtype.js";
import { broadcastTo, zerosLike } from "../tensor/alloc.js";
import { currentFloatX } from "../tensor/floatx.js";
import * as math from "../tensor/math.js";
import { shape } from "../tensor/shape.js";
import { TensorType } from "../tensor/type.js";
import { TensorVariable, constant } from "../tensor/variable.js";

/** The type of a "disconnected" gradient (Theano's DisconnectedType), returned on request. */
export class DisconnectedType extends Type {
  equals(other: Type): boolean {
    return other instanceof DisconnectedType;
  }
  toString(): string {
    return "DisconnectedType";
  }
  makeVariable(name: string | null = null): Variable {
    return new Variable(this, null, 0, name);
  }
}

export interface GradOptions {
  /** Variables treated as constants: no gradient flows through them. */
  considerConstant?: readonly Variable[];
  /** What to do when the cost does not depend on a `wrt` (default "raise"). */
  disconnectedInputs?: "raise" | "warn" | "ignore";
  /** Gradients of intermediate variables to start from (the cost may then be null). */
  knownGrads?: ReadonlyMap<Variable, Variable>;
  /** The gradient of a disconnected `wrt`: zeros (default), null, or a DisconnectedType variable. */
  returnDisconnected?: "zero" | "null" | "disconnected";
}

/** Options that make every result a tensor (the default `returnDisconnected: "zero"`). */
export type GradOptionsZero = GradOptions & { returnDisconnected?: "zero" };

const ZERO = Symbol("zero gradient");
/** A gradient during the walk: a graph, or the symbolic zero. Absent = disconnected. */
type Partial = Variable | typeof ZERO;

const isTensor = (v: Variable): v is TensorVariable => v.type instanceof TensorType;
/** Integer and bool variables carry no gradient (Theano's discrete dtypes). */
const isDiscrete = (v: Variable): boolean => isTensor(v) && !isFloat(v.type.dtype);

const where = (v: { trace: { where: string } }): string => {
  const w = v.trace.where;
  return w ? ` (created at ${w})` : "";
};


/**
 * `g` (a gradient computed for `target`) with `target`'s dtype and broadcast pattern: extra
 * leading axes, and axes where the target's static size is 1 but g's is not, are summed away;
 * a g of lower rank, or of static size 1 where the target's may be larger, is broadcast up.
 */
export function conformGrad(g: Variable, target: Variable, what: () => string): Variable {
  if (!isTensor(target)) return g;
  if (!isTensor(g)) throw new GradientError(`${what()} is ${g.label} of type ${g.type}, but ${target.label} is a tensor (${target.type})`);
  const tt = target.type;
  let out: TensorVariable = g;
  if (out.ndim > tt.ndim) out = math.sum(out, [...Array(out.ndim - tt.ndim).keys()], { dtype: out.dtype });
  // Target axis i is g's axis i - off (g may lack leading axes).
  const off = tt.ndim - out.ndim;
  const gShape = out.type.shape;
  const axes = gShape.map((d, j) => (tt.shape[j + off] === 1 && d !== 1 ? j : -1)).filter((j) => j >= 0);
  if (axes.length > 0) out = math.sum(out, axes, { keepdims: true, dtype: out.dtype });
  if (off > 0 || out.type.shape.some((d, j) => d === 1 && tt.shape[j] !== 1)) {
    out = broadcastTo(out, tt.shape.map((d, i) => d ?? shape(target, i)));
  }
  for (let i = 0; i < tt.ndim; i++) {
    const a = tt.shape[i];
    const b = out.type.shape[i];
    if (a !== null && b !== null && a !== b) {
      throw new GradientError(`${what()} has static shape ${out.type} but ${target.label} is ${tt}; the shapes disagree on axis ${i}`);
    }
  }
  if (out.dtype !== tt.dtype) out = math.cast(out, tt.dtype);
  return out;
}

/** Zeros shaped like `v` (floatX zeros for integer variables, as Theano). */
function zerosFor(v: Variable): Variable {
  if (!isTensor(v)) throw new GradientError(`cannot make a zero gradient for ${v.label} of non-tensor type ${v.type}`);
  if (v.ndim === 0) return constant(0, { dtype: isDiscrete(v) ? currentFloatX() : v.dtype });
  return zerosLike(v, isDiscrete(v) ? currentFloatX() : v.dtype);
}

/**
 * The engine: gradients of every `wrt` given seed gradients (the cost's ones, known grads).
 * Returns per wrt the summed gradient, ZERO, or undefined when disconnected.
 */
function backprop(seeds: ReadonlyMap<Variable, Variable>, wrt: readonly Variable[], consider: ReadonlySet<Variable>): Array<Partial | undefined> {
  const nodes = toposort([...seeds.keys()], consider);
  // Forward: variables that depend on some wrt (only these need gradients).
  const connected = new Set<Variable>(wrt);
  for (const node of nodes) {
    if (node.inputs.some((i) => connected.has(i))) for (const o of node.outputs) connected.add(o);
  }
  const terms = new Map<Variable, Partial[]>();
  const totals = new Map<Variable, Partial | undefined>();
  const contribute = (v: Variable, g: Partial): void => {
    if (seeds.has(v)) return; // a known gradient is final (Theano's known_grads)
    let list = terms.get(v);
    if (!list) terms.set(v, (list = []));
    list.push(g);
  };
  const total = (v: Variable): Partial | undefined => {
    if (totals.has(v)) return totals.get(v);
    let t: Partial | undefined;
    if (seeds.has(v)) t = isDiscrete(v) ? ZERO : seeds.get(v)!;
    else {
      const list = terms.get(v);
      if (list && list.length > 0) {
        const real = list.filter((g): g is Variable => g !== ZERO);
        t = isDiscrete(v) || real.length === 0 ? ZERO : real.reduce((a, b) => math.add(a as TensorVariable, b as TensorVariable));
      }
    }
    totals.set(v, t);
    terms.delete(v);
    return t;
  };

  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n]!;
    const onPath = node.inputs.map((i) => connected.has(i));
    if (!onPath.some(Boolean)) continue;
    const outGrads = node.outputs.map(total);
    if (outGrads.every((g) => g === undefined)) continue; // not reached from the cost
    const op = node.op;
    if (op.notDifferentiable !== undefined) continue; // every input disconnected
    if (outGrads.every((g) => g === undefined || g === ZERO)) {
      // Linear in the output gradients: zeros in, zeros out, no graph needed.
      node.inputs.forEach((inp, k) => onPath[k] && contribute(inp, ZERO));
      continue;
    }
    if (!op.grad) {
      throw new GradientError(
        `${op} does not define its gradient, and node ${node} lies on the path from a wrt to the cost${where(node)}. ` +
          `Give the op a grad method, mark it notDifferentiable, or cut the path with zeroGrad/considerConstant`,
      );
    }
    const given = node.outputs.map((o, k) => {
      const g = outGrads[k];
      return g === undefined || g === ZERO ? zerosFor(o) : g;
    });
    const results = op.grad(node.inputs, given, node.outputs);
    if (!Array.isArray(results) || results.length !== node.inputs.length) {
      throw new GradientError(`${op}.grad returned ${Array.isArray(results) ? results.length : "no"} entries for ${node.inputs.length} inputs (node ${node}${where(node)})`);
    }
    node.inputs.forEach((inp, k) => {
      if (!onPath[k]) return;
      const r = results[k];
      if (r === null || r === undefined) return; // disconnected
      if (isDiscrete(inp)) {
        contribute(inp, ZERO);
        return;
      }
      if (r instanceof GradUndefined) {
        throw new GradientError(
          `the gradient of ${op} with respect to its input ${k} (${inp.label}) is not defined: ${r.reason}; ` +
            `that input lies on the path from a wrt to the cost (node ${node}${where(node)})`,
        );
      }
      contribute(inp, conformGrad(r, inp, () => `${op}.grad for input ${k} (${inp.label}) of node ${node}${where(node)}`));
    });
  }
  return wrt.map(total);
}

function checkWrt(v: unknown, k: number): Variable {
  if (!(v instanceof Variable)) throw new GradientError(`grad: wrt[${k}] must be a symbolic variable, got ${String(v)}`);
  if (isTensor(v) && !isFloat(v.type.dtype)) {
    throw new GradientError(`grad: wrt[${k}] (${v.label}) has the integer dtype ${v.type.dtype}${where(v)}; gradients exist only with respect to float variables` + (sharedHint(v) ?? " (cast it first)"));
  }
  return v;
}

/**
 * For an integer shared variable: how to make it a float. `theano.shared(0.)` is a float in
 * Theano but a JS number carries no dtype, so `theano.shared(0)` is int64 (NumPy's inference),
 * and the tutorial's `b = theano.shared(0., name="b")` then `grad(cost, [w, b])` lands here.
 * Shared variables live in src/compile, which this stage may not import: recognised by shape.
 */
function sharedHint(v: TensorVariable): string | undefined {
  const sv = v as unknown as { container?: unknown; getValue?: () => { item(): unknown } };
  if (sv.container === undefined || typeof sv.getValue !== "function") return undefined;
  let value = "value";
  if (v.ndim === 0) {
    try {
      value = String(sv.getValue().item());
    } catch {
      // disposed: keep the placeholder
    }
  }
  const name = v.name !== null ? `, name: ${JSON.stringify(v.name)}` : "";
  return (
    `. ${v.label} is a shared variable made from an integer value (a JS number carries no dtype, so theano.shared(0) is int64, as NumPy infers it); ` +
    `create it as a float: theano.shared(${value}, { dtype: "float64"${name} }) or theano.shared(theano.asarray(${value}, theano.config.floatX)${name ? `, { ${name.slice(2)} }` : ""})`
  );
}

/** The cost's and known gradients' seeds, checked. */
function seedsOf(cost: Variable | null | undefined, known: ReadonlyMap<Variable, Variable> | undefined): Map<Variable, Variable> {
  const seeds = new Map<Variable, Variable>();
  if (cost !== null && cost !== undefined) {
    if (!(cost instanceof Variable) || !isTensor(cost)) throw new GradientError(`grad: the cost must be a symbolic scalar, got ${cost instanceof Variable ? `${cost.label} of type ${cost.type}` : String(cost)}`);
    if (cost.ndim !== 0) {
      throw new GradientError(`grad: the cost must be a scalar (rank 0), but ${cost.label} is ${cost.type}${where(cost)}; reduce it first, e.g. cost.sum() or cost.mean()`);
    }
    if (!isFloat(cost.type.dtype)) {
      throw new GradientError(`grad: the cost must be a float scalar, but ${cost.label} has dtype ${cost.type.dtype}${where(cost)}; an integer cost has no gradient (cast it to a float first)`);
    }
    seeds.set(cost, constant(1, { dtype: cost.type.dtype }));
  }
  for (const [v, g] of known ?? []) {
    if (!isTensor(v) || !isTensor(g)) throw new GradientError(`grad: knownGrads entries must be tensors, got ${v.label}: ${v.type} -> ${g.label}: ${g.type}`);
    if (g.ndim !== v.ndim) throw new GradientError(`grad: the known gradient of ${v.label} (${v.type}) has rank ${g.ndim} (${g.type}); it must have rank ${v.ndim}`);
    if (seeds.has(v)) throw new GradientError(`grad: ${v.label} is both the cost and a knownGrads key`);
    seeds.set(v, isFloat(v.type.dtype) && g.dtype !== v.type.dtype ? math.cast(g, v.type.dtype) : g);
  }
  if (seeds.size === 0) throw new GradientError("grad: give a cost, or knownGrads to start from");
  return seeds;
}

/**
 * `theano.grad(cost, wrt, opts)`: the symbolic gradient of a float scalar `cost` with respect
 * to one variable (one result) or an array (an array of results, in order).
 */
export function grad(cost: Variable | null | undefined, wrt: Variable, opts?: GradOptionsZero): TensorVariable;
export function grad(cost: Variable | null | undefined, wrt: readonly Variable[], opts?: GradOptionsZero): TensorVariable[];
export function grad(cost: Variable | null | undefined, wrt: Variable, opts: GradOptions): Variable | null;
export function grad(cost: Variable | null | undefined, wrt: readonly Variable[], opts: GradOptions): Array<Variable | null>;
export function grad(cost: Variable | null | undefined, wrt: Variable | readonly Variable[], opts: GradOptions = {}): Variable | null | Array<Variable | null> {
  const single = !Array.isArray(wrt);
  const list = (single ? [wrt as Variable] : (wrt as readonly Variable[])).map(checkWrt);
  const seeds = seedsOf(cost, opts.knownGrads);
  const consider = new Set(opts.considerConstant ?? []);
  const partials = backprop(seeds, list, consider);
  const mode = opts.disconnectedInputs ?? "raise";
  const ret = opts.returnDisconnected ?? "zero";
  const what = cost ? `the cost ${cost.label} does not depend on` : "no variable with a known gradient (knownGrads, Lop) depends on";
  const out = list.map((v, k): Variable | null => {
    const g = partials[k];
    if (g === undefined) {
      const msg =
        `grad: ${what} wrt[${k}] (${v.label}: ${v.type})${where(v)}: ` +
        `it is not in the cost's graph, or every path to the cost goes through a constant, a non-differentiable op or considerConstant. ` +
        `Pass disconnectedInputs: "ignore" (or "warn") if this is expected`;
      if (mode === "raise") throw new GradientError(msg);
      if (mode === "warn") warn(msg);
      if (ret === "null") return null;
      if (ret === "disconnected") return new DisconnectedType().makeVariable(`disconnected(${v.label})`);
      return zerosFor(v);
    }
    if (g === ZERO) return zerosFor(v);
    return conformGrad(g, v, () => `the gradient of wrt[${k}] (${v.label})`);
  });
  return single ? out[0]! : out;
}

/**
 * `Lop(f, wrt, evalPoints)`: the vector-Jacobian product, Σ_i evalPoints[i]·∂f[i]/∂wrt (Theano's
 * `Lop`), i.e. the gradient with `f`'s gradients known to be `evalPoints`.
 */
export function Lop(f: Variable, wrt: Variable, evalPoints: Variable, opts?: Omit<GradOptionsZero, "knownGrads">): TensorVariable;
export function Lop(f: Variable | readonly Variable[], wrt: readonly Variable[], evalPoints: Variable | readonly Variable[], opts?: Omit<GradOptionsZero, "knownGrads">): TensorVariable[];
export function Lop(f: Variable | readonly Variable[], wrt: Variable | readonly Variable[], evalPoints: Variable | readonly Variable[], opts: Omit<GradOptions, "knownGrads"> = {}): Variable | null | Array<Variable | null> {
  const fs = Array.isArray(f) ? (f as readonly Variable[]) : [f as Variable];
  const es = Array.isArray(evalPoints) ? (evalPoints as readonly Variable[]) : [evalPoints as Variable];
  if (fs.length !== es.length) throw new GradientError(`Lop: ${fs.length} expression(s) but ${es.length} eval point(s); give one eval point per expression`);
  const known = new Map<Variable, Variable>();
  fs.forEach((fi, i) => {
    const e = es[i]!;
    if (isTensor(fi) && isTensor(e) && fi.ndim !== e.ndim) throw new GradientError(`Lop: eval point ${i} (${e.type}) must have the rank of f[${i}] (${fi.type})`);
    known.set(fi, e);
  });
  // grad answers one result for one wrt and an array for an array, as Lop promises.
  return grad(null, wrt as Variable, { ...opts, knownGrads: known });
}

/** @internal for sibling modules: is `v` a float tensor (gradients flow through it)? */
export const isFloatTensor = (v: Variable): v is TensorVariable => isTensor(v) && isFloat(v.type.dtype);
