/**
 * Softmax recognition and its stable logarithm (Theano's `tensor/nnet/nnet.py` rewrites;
 * PyTensor's `tensor/rewriting/special.py`), under Theano's names:
 *
 *   softmax_simplifier     exp(x) / sum(exp(x), axis, keepdims) -> Softmax(x, axis), which shifts
 *                          by the lane maximum (so [1000, 1000] gives [.5, .5], not inf / inf)
 *   local_logsoftmax       log(Softmax(x)) -> LogSoftmax(x)  (-1000 stays -1000, not log(0))
 *   local_logsoftmax_grad  Softmax's gradient applied to a gradient that divides by the softmax
 *                          (that of log(Softmax(x)) or of the one-hot cross-entropy of Softmax(x)):
 *                          (gz / sm - sum(gz / sm * sm)) * sm -> gz - sm * sum(gz): no division by
 *                          a probability that underflowed to 0, so the gradient stays finite
 *
 *   local_crossentropy_to_logsoftmax  CrossentropyCategorical1Hot(Softmax(x), y) ->
 *                          CrossentropyLogCategorical1Hot(LogSoftmax(x), y): -log(softmax)[y]
 *                          read from the log-softmax, so x = [0, -1000], y = 1 gives 1000, not
 *                          -log(0) = inf (Theano fuses the pair into
 *                          CrossentropySoftmaxArgmax1HotWithBias for the same reason); the label
 *                          checks stay, and the gradient (built before rewriting) is
 *                          local_logsoftmax_grad's business
 *   local_softmax_ratio    a graph of degree 0 in e = exp(x), where e enters only through products,
 *                          quotients, sums of equal degree, sums over the lanes of
 *                          S = sum(e, lanes), broadcasts and DimShuffles (what T.grad makes of the
 *                          hand-written softmax, logSoftmax, logsumexp and cross-entropy) ->
 *                          the same graph in sm = Softmax(x): each term t of degree d is
 *                          rewritten as t / S^d, so e becomes sm and S becomes 1, and factors of
 *                          sm cancel against the 1 / sm of log's gradient. Nothing is left that
 *                          overflows (exp(800)) or divides by an underflowed probability.
 *
 * softmax_simplifier runs in canonicalize (Theano adds it to the mul canonizer) and again in
 * stabilize; the logsoftmax pair in stabilize and specialize, as Theano registers them.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { Alloc, fill } from "../tensor/alloc.js";
import { Shape, ShapeI } from "../tensor/shape.js";
import { isFloat } from "../ndarray/dtype.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import * as M from "../tensor/math.js";
import { CAReduce } from "../tensor/math.js";
import { CrossentropyCategorical1Hot, CrossentropyLogCategorical1Hot, LogSoftmax, Softmax } from "../tensor/nnet.js";
import type { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { type NodeRewriter, nodeRewriter, registerCanonicalize, registerSpecialize, registerStabilize } from "./engine.js";
import { elemwiseName, finish, opInputs, scalarConstant } from "./math.js";
import { type Product, buildProduct, flattenProduct } from "./sigmoid.js";

const tv = (v: Variable): TensorVariable => v as TensorVariable;

/**
 * The axes a keepdims sum reduces, when `k` is DimShuffle(Sum{axes}(of)) with the DimShuffle
 * putting back exactly those axes as broadcastable ones (what `sum(..., keepdims)` and the
 * padding of a full sum build); else null.
 */
function keepdimsSum(k: Variable): { axes: readonly number[]; of: Variable } | null {
  const ds = k.owner;
  if (!ds || !(ds.op instanceof DimShuffle)) return null;
  const red = ds.inputs[0]!.owner;
  if (!red || !(red.op instanceof CAReduce) || red.op.kind !== "add") return null;
  const axes = red.op.axis;
  const nd = (red.inputs[0]!.type as TensorType).ndim;
  const p = ds.op.pattern;
  if (p.length !== nd) return null;
  let k2 = 0;
  for (let i = 0; i < nd; i++) {
    if (axes.includes(i) ? p[i] !== "x" : p[i] !== k2++) return null;
  }
  return { axes, of: red.inputs[0]! };
}

/** The Softmax axis that lanes over `axes` of a rank-`nd` tensor are, or undefined when none is. */
function softmaxAxis(axes: readonly number[], nd: number): number | null | undefined {
  if (axes.length === nd && nd > 1) return null;
  return axes.length === 1 ? axes[0]! : undefined;
}

/** The axes a Softmax/LogSoftmax lane runs over. */
const laneAxes = (axis: number | null, nd: number): number[] => (axis === null ? [...Array(nd).keys()] : [axis]);

/** `softmax_simplifier`: exp(x) / sum(exp(x), axis, keepdims) -> Softmax(x, axis). */
export const softmaxSimplifier = nodeRewriter({
  name: "softmax_simplifier",
  tracks: [Elemwise],
  transform(node) {
    const name = elemwiseName(node);
    let e: Variable;
    let den: Variable;
    if (name === "trueDiv") [e, den] = node.inputs as [Variable, Variable];
    else if (name === "mul") {
      const k = node.inputs.findIndex((v) => opInputs(v, "inv") !== null);
      if (k < 0) return null;
      e = node.inputs[1 - k]!;
      den = opInputs(node.inputs[k]!, "inv")![0]!;
    } else return null;
    const x = opInputs(e, "exp");
    const s = keepdimsSum(den);
    if (!x || !s || s.of !== e) return null;
    const nd = (e.type as TensorType).ndim;
    const axis = softmaxAxis(s.axes, nd);
    if (axis === undefined || nd === 0) return null;
    const xf = M.cast(tv(x[0]!), (e.type as TensorType).dtype);
    return ((r) => (r ? [r] : null))(finish(new Softmax(axis).call(xf), node.outputs[0]!, node.inputs));
  },
});

/** `local_logsoftmax`: log(Softmax(x)) -> LogSoftmax(x) over the same lanes. */
export const localLogsoftmax = nodeRewriter({
  name: "local_logsoftmax",
  tracks: [Elemwise],
  transform(node) {
    if (elemwiseName(node) !== "log") return null;
    const sm = node.inputs[0]!.owner;
    if (!sm || !(sm.op instanceof Softmax)) return null;
    return ((r) => (r ? [r] : null))(finish(new LogSoftmax(sm.op.axis).call(sm.inputs[0]!), node.outputs[0]!));
  },
});

/** `local_crossentropy_to_logsoftmax`: see the module comment (lanes over the last axis only). */
export const localCrossentropyToLogsoftmax = nodeRewriter({
  name: "local_crossentropy_to_logsoftmax",
  tracks: [CrossentropyCategorical1Hot],
  transform(node) {
    if (node.op.constructor !== CrossentropyCategorical1Hot) return null;
    const [p, y] = node.inputs as [Variable, Variable];
    const sm = p.owner;
    if (!sm || !(sm.op instanceof Softmax)) return null;
    const nd = (p.type as TensorType).ndim;
    if (!(sm.op.axis === nd - 1 || (sm.op.axis === null && nd === 1))) return null;
    const logp = new LogSoftmax(sm.op.axis).call(sm.inputs[0]!);
    return [new CrossentropyLogCategorical1Hot().call(logp, y)];
  },
});

/**
 * `g * sm` written without dividing by sm, when `g` is built from divisions by sm the way the
 * gradients of log and of the one-hot cross-entropy write them: gz / sm -> gz, inv(sm) -> 1,
 * -(h) -> -(h * sm), where(c, a, 0) -> where(c, a * sm, 0). Null for anything else. (Where sm
 * is 0 the original is NaN or inf; this is its limit, the value the rewrite exists to give.)
 */
function timesSoftmax(g: Variable, sm: Variable): TensorVariable | null {
  const d = opInputs(g, "trueDiv");
  if (d && d[1] === sm) return tv(d[0]!);
  const i = opInputs(g, "inv");
  if (i && i[0] === sm) return fill(tv(sm), 1);
  const n = opInputs(g, "neg");
  if (n) {
    const h = timesSoftmax(n[0]!, sm);
    return h ? M.neg(h) : null;
  }
  const w = opInputs(g, "where");
  if (w) {
    const [c, a, b] = w as [Variable, Variable, Variable];
    const ta = scalarConstant(a) === 0 ? tv(a) : timesSoftmax(a, sm);
    const tb = scalarConstant(b) === 0 ? tv(b) : timesSoftmax(b, sm);
    return ta && tb ? M.where(tv(c), ta, tb) : null;
  }
  return null;
}

/**
 * `local_logsoftmax_grad` (also answering to Theano's
 * `local_softmax_grad_to_crossentropy_with_softmax_grad`): Softmax's gradient
 * mul(sub(G, K), sm), with sm = Softmax(x), K = sum(G * sm, lanes, keepdims) and G a division by
 * sm (the gradient of log(sm), or of the one-hot cross-entropy of sm) -> Gs - sm * sum(Gs, lanes,
 * keepdims) with Gs = G * sm computed without the division (`timesSoftmax`). The value is the
 * same; where a probability underflowed to 0 it stays finite instead of inf * 0 = NaN.
 */
export const localLogsoftmaxGrad = nodeRewriter({
  name: "local_logsoftmax_grad",
  tags: ["local_softmax_grad_to_crossentropy_with_softmax_grad"],
  tracks: [Elemwise],
  transform(node: Apply, _fg: FunctionGraph) {
    if (elemwiseName(node) !== "mul") return null;
    for (const k of [0, 1]) {
      const sm = node.inputs[k]!;
      const smNode = sm.owner;
      const diff = opInputs(node.inputs[1 - k]!, "sub");
      if (!smNode || !(smNode.op instanceof Softmax) || !diff) continue;
      const [g, kk] = diff as [Variable, Variable];
      const s = keepdimsSum(kk);
      if (!s) continue;
      const nd = (sm.type as TensorType).ndim;
      const lanes = laneAxes(smNode.op.axis, nd);
      if (lanes.length !== s.axes.length || lanes.some((a, i) => s.axes[i] !== a)) continue;
      const gs = timesSoftmax(g, sm);
      if (!gs) continue;
      // K must be the sum of G * sm (or of gz itself, once the canonizer cancelled gz / sm * sm).
      const prod = opInputs(s.of, "mul");
      const ok = s.of === gs || (prod !== null && ((prod[0] === g && prod[1] === sm) || (prod[1] === g && prod[0] === sm)));
      if (!ok) continue;
      const r = M.sub(gs, M.mul(tv(sm), M.sum(gs, lanes, { keepdims: true })));
      const f = finish(r, node.outputs[0]!, node.inputs);
      if (f) return [f];
    }
    return null;
  },
});

// ---------------------------------------------------------------------------------------------
// local_softmax_ratio

/** Bounds: the gradient graphs this serves are small; a larger one is left alone. */
const RATIO_MAX_NODES = 256;
const RATIO_MAX_TERMS = 32;

/** Each axis of a scaled variable: a non-lane axis of x (its index) or a lane / broadcast axis. */
type AxisMap = Array<number | "l">;

/** A variable's degree in e, with where x's non-lane axes lie in it (when the degree is not 0). */
interface Degree {
  d: number;
  map: AxisMap;
  /** Degree 0 but computed from e through an op the analysis does not look into: kept whole. */
  opaque?: boolean;
}

/**
 * The degree analysis of local_softmax_ratio for one e = exp(x) with softmax lanes `lanes`: null
 * when `v` is not homogeneous in e (or is too large to look at).
 */
class RatioAnalysis {
  private readonly deps = new Map<Variable, boolean>();
  private readonly degrees = new Map<Variable, Degree | null>();
  private visited = 0;
  /** Whether some node of non-zero degree was met (there is something to rewrite). */
  scaled = false;

  constructor(
    readonly e: Variable,
    readonly lanes: readonly number[],
  ) {}

  dependsOnE(v: Variable): boolean {
    let r = this.deps.get(v);
    if (r === undefined) {
      r = v === this.e || (v.owner !== null && !(v.owner.op instanceof ShapeI || v.owner.op instanceof Shape) && v.owner.inputs.some((i) => this.dependsOnE(i)));
      this.deps.set(v, r);
    }
    return r;
  }

  /** Whether `v` is sum(e) over exactly the lanes (the normaliser S, before any keepdims). */
  isNormaliser(v: Variable): boolean {
    const o = v.owner;
    return !!o && o.op instanceof CAReduce && o.op.kind === "add" && o.inputs[0] === this.e && o.op.axis.length === this.lanes.length && this.lanes.every((a, i) => o.op instanceof CAReduce && o.op.axis[i] === a);
  }

  degree(v: Variable): Degree | null {
    if (this.degrees.has(v)) return this.degrees.get(v)!;
    if (++this.visited > RATIO_MAX_NODES) return null;
    const r = this.compute(v);
    this.degrees.set(v, r);
    if (r && r.d !== 0) this.scaled = true;
    return r;
  }

  private compute(v: Variable): Degree | null {
    const ZERO: Degree = { d: 0, map: [] };
    if (!this.dependsOnE(v)) return ZERO;
    if (v === this.e) {
      const nd = (v.type as TensorType).ndim;
      return { d: 1, map: [...Array(nd).keys()].map((i) => (this.lanes.includes(i) ? "l" : i)) };
    }
    const node = v.owner!;
    const ins = node.inputs.map((i) => this.degree(i));
    if (ins.some((x) => x === null)) return null;
    const ds = ins as Degree[];
    const op = node.op;
    const opaque = (): Degree | null => (ds.every((x) => x.d === 0) ? { d: 0, map: [], opaque: true } : null);
    if (op instanceof CAReduce) {
      const [a] = ds;
      if (a!.d === 0) return opaque();
      if (op.kind !== "add" || !op.axis.every((ax) => a!.map[ax] === "l")) return null;
      return { d: a!.d, map: a!.map.filter((_m, i) => !op.axis.includes(i)) };
    }
    if (op instanceof DimShuffle) {
      const [a] = ds;
      if (a!.d === 0) return opaque();
      const kept = new Set(op.pattern.filter((p): p is number => p !== "x"));
      if (a!.map.some((m, i) => m !== "l" && !kept.has(i))) return null;
      return { d: a!.d, map: op.pattern.map((p) => (p === "x" ? "l" : a!.map[p]!)) };
    }
    if (op instanceof Alloc) {
      const [a, ...dims] = ds;
      if (a!.d === 0) return opaque();
      if (dims.some((x) => x.d !== 0) || (node.outputs[0]!.type as TensorType).ndim !== a!.map.length) return null;
      return { d: a!.d, map: a!.map };
    }
    const name = elemwiseName(node);
    if (name === null) return opaque();
    const scaled = ds.filter((x) => x.d !== 0);
    if (scaled.length === 0) return opaque();
    const map = scaled[0]!.map;
    if (scaled.some((x) => x.map.length !== map.length || x.map.some((m, i) => m !== map[i]))) return null;
    const [a, b] = ds;
    switch (name) {
      case "mul":
        return { d: a!.d + b!.d, map };
      case "trueDiv":
        return { d: a!.d - b!.d, map };
      case "neg":
        return { d: a!.d, map };
      case "inv":
        return { d: -a!.d, map };
      case "sqr":
        return { d: 2 * a!.d, map };
      case "add":
      case "sub":
        return a!.d === b!.d ? { d: a!.d, map } : null;
      default:
        return null;
    }
  }
}

/** A sum of products (local_softmax_ratio's normal form). */
type Terms = Product[];

/** `v` as a product (its mul/div tree flattened, so a 1 / sm in it can meet an sm). */
const productOf = (v: Variable): Product => {
  const c = scalarConstant(v);
  if (c !== null && (v.type as TensorType).ndim === 0) return { c, leaves: new Map() };
  return flattenProduct(v) ?? { c: 1, leaves: new Map([[v, 1]]) };
};

function timesTerms(a: Terms, b: Terms): Terms | null {
  if (a.length * b.length > RATIO_MAX_TERMS) return null;
  const out: Terms = [];
  for (const p of a) {
    for (const q of b) {
      const leaves = new Map(p.leaves);
      for (const [v, k] of q.leaves) {
        const n = (leaves.get(v) ?? 0) + k;
        if (n === 0) leaves.delete(v);
        else leaves.set(v, n);
      }
      out.push({ c: p.c * q.c, leaves });
    }
  }
  return out;
}

const invertTerms = (a: Terms): Terms | null => (a.length === 1 && a[0]!.c !== 0 ? [{ c: 1 / a[0]!.c, leaves: new Map([...a[0]!.leaves].map(([v, k]) => [v, -k])) }] : null);

/** Whether every term is a plain number (so a broadcast of it is the same numbers). */
const constantTerms = (a: Terms): boolean => a.every((p) => p.leaves.size === 0);

/**
 * `v` divided by S^degree(v), as a sum of products over sm (see the module comment); null where
 * the analysis says no. `build` turns a sum of products back into a graph.
 */
function normalise(v: Variable, an: RatioAnalysis, sm: Variable, build: (t: Terms) => TensorVariable | null, memo: Map<Variable, Terms | null>): Terms | null {
  if (memo.has(v)) return memo.get(v)!;
  const r = normaliseOnce(v, an, sm, build, memo);
  memo.set(v, r);
  return r;
}

function normaliseOnce(v: Variable, an: RatioAnalysis, sm: Variable, build: (t: Terms) => TensorVariable | null, memo: Map<Variable, Terms | null>): Terms | null {
  const deg = an.degree(v);
  if (!deg) return null;
  if (deg.d === 0 && (!an.dependsOnE(v) || deg.opaque)) return [productOf(v)];
  if (v === an.e) return [{ c: 1, leaves: new Map([[sm, 1]]) }];
  if (an.isNormaliser(v)) return [{ c: 1, leaves: new Map() }];
  const node = v.owner!;
  const sub = (i: number): Terms | null => normalise(node.inputs[i]!, an, sm, build, memo);
  const op = node.op;
  if (op instanceof CAReduce || op instanceof DimShuffle || op instanceof Alloc) {
    const a = sub(0);
    if (!a) return null;
    if (constantTerms(a)) return op instanceof CAReduce ? null : a;
    const inner = build(a);
    return inner ? [productOf(op.makeNode(inner, ...node.inputs.slice(1)).outputs[0]!)] : null;
  }
  const a = sub(0);
  if (!a) return null;
  switch (elemwiseName(node)) {
    case "neg":
      return a.map((p) => ({ c: -p.c, leaves: p.leaves }));
    case "inv":
      return invertTerms(a);
    case "sqr":
      return timesTerms(a, a);
    case "mul": {
      const b = sub(1);
      return b ? timesTerms(a, b) : null;
    }
    case "trueDiv": {
      const b = sub(1);
      const ib = b ? invertTerms(b) : null;
      return ib ? timesTerms(a, ib) : null;
    }
    case "add":
    case "sub": {
      const b = sub(1);
      if (!b || a.length + b.length > RATIO_MAX_TERMS) return null;
      return [...a, ...(elemwiseName(node) === "sub" ? b.map((p) => ({ c: -p.c, leaves: p.leaves })) : b)];
    }
    default:
      return null;
  }
}

/** The Elemwise ops local_softmax_ratio rewrites through. */
const RATIO_OPS: ReadonlySet<string> = new Set(["mul", "trueDiv", "neg", "inv", "sqr", "add", "sub"]);

/** The exp nodes under `root` (a bounded walk) that a lane sum reads, with those lanes. */
function normalisedExps(root: Variable, fg: FunctionGraph): Array<{ e: Variable; lanes: readonly number[] }> {
  const found: Array<{ e: Variable; lanes: readonly number[] }> = [];
  const seen = new Set<Variable>();
  const stack = [root];
  while (stack.length > 0 && seen.size < RATIO_MAX_NODES) {
    const v = stack.pop()!;
    if (seen.has(v) || !v.owner) continue;
    seen.add(v);
    const name = elemwiseName(v.owner);
    if (name === "exp") {
      for (const [c] of fg.clients.get(v) ?? []) {
        if (c !== "output" && c.op instanceof CAReduce && c.op.kind === "add" && !found.some((f) => f.e === v)) found.push({ e: v, lanes: c.op.axis });
      }
    }
    // Only through what the analysis looks into: an e behind anything else is opaque to it.
    const op = v.owner.op;
    if ((name !== null && RATIO_OPS.has(name)) || (op instanceof CAReduce && op.kind === "add")) stack.push(...v.owner.inputs);
    else if (op instanceof DimShuffle || op instanceof Alloc) stack.push(v.owner.inputs[0]!);
  }
  return found;
}

/** `local_softmax_ratio`: see the module comment. */
export const localSoftmaxRatio = nodeRewriter({
  name: "local_softmax_ratio",
  tracks: [Elemwise],
  transform(node, fg) {
    const name = elemwiseName(node);
    const out = node.outputs[0]!;
    const dtype = (out.type as TensorType).dtype;
    if ((name !== "mul" && name !== "trueDiv") || !isFloat(dtype)) return null;
    for (const { e, lanes } of normalisedExps(out, fg)) {
      const x = e.owner!.inputs[0]!;
      const nd = (x.type as TensorType).ndim;
      if ((x.type as TensorType).dtype !== dtype || (e.type as TensorType).dtype !== dtype) continue;
      const axis = lanes.length === 1 ? lanes[0]! : lanes.length === nd && nd > 1 ? null : undefined;
      if (axis === undefined) continue;
      const an = new RatioAnalysis(e, lanes);
      const deg = an.degree(out);
      if (!deg || deg.d !== 0 || !an.scaled) continue;
      // The forward pass's Softmax(x) when there is one, so log's 1 / sm cancels against it.
      const existing = (fg.clients.get(x) ?? []).find(([c]) => c !== "output" && c.op instanceof Softmax && c.op.axis === axis)?.[0];
      const sm = existing && existing !== "output" ? existing.outputs[0]! : new Softmax(axis).call(x);
      const build = (t: Terms): TensorVariable | null => {
        let acc: TensorVariable | null = null;
        for (const p of t) {
          const term = buildProduct(p, dtype) ?? constant(p.c, { dtype });
          acc = acc ? M.add(acc, term) : term;
        }
        return acc;
      };
      const terms = normalise(out, an, sm, build, new Map());
      const r = terms ? build(terms) : null;
      const f = r ? finish(r, out, [x, ...node.inputs]) : null;
      if (f) return [f];
    }
    return null;
  },
});

registerCanonicalize(softmaxSimplifier);
// The same rewriter in a second database (as constant folding is): excluding its name removes both.
registerStabilize(softmaxSimplifier);
for (const r of [localLogsoftmax, localLogsoftmaxGrad, localCrossentropyToLogsoftmax, localSoftmaxRatio]) {
  registerStabilize(r);
  registerSpecialize(r);
}

/** Every rewriter this module registers. */
export const NNET_REWRITES: readonly NodeRewriter[] = [softmaxSimplifier, localLogsoftmax, localLogsoftmaxGrad, localCrossentropyToLogsoftmax, localSoftmaxRatio];
