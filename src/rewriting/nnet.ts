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
 *
 * softmax_simplifier runs in canonicalize (Theano adds it to the mul canonizer) and again in
 * stabilize; the logsoftmax pair in stabilize and specialize, as Theano registers them.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { fill } from "../tensor/alloc.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import * as M from "../tensor/math.js";
import { CAReduce } from "../tensor/math.js";
import { CrossentropyCategorical1Hot, CrossentropyLogCategorical1Hot, LogSoftmax, Softmax } from "../tensor/nnet.js";
import type { TensorType } from "../tensor/type.js";
import type { TensorVariable } from "../tensor/variable.js";
import { type NodeRewriter, nodeRewriter, registerCanonicalize, registerSpecialize, registerStabilize } from "./engine.js";
import { elemwiseName, finish, opInputs, scalarConstant } from "./math.js";

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

registerCanonicalize(softmaxSimplifier);
// The same rewriter in a second database (as constant folding is): excluding its name removes both.
registerStabilize(softmaxSimplifier);
for (const r of [localLogsoftmax, localLogsoftmaxGrad, localCrossentropyToLogsoftmax]) {
  registerStabilize(r);
  registerSpecialize(r);
}

/** Every rewriter this module registers. */
export const NNET_REWRITES: readonly NodeRewriter[] = [softmaxSimplifier, localLogsoftmax, localLogsoftmaxGrad, localCrossentropyToLogsoftmax];
