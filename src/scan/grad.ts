/**
 * The gradient of Scan: backpropagation through time as another scan (Theano's `Scan.L_op`,
 * without mit-mot: the contributions a step sends to earlier states travel in a shift register
 * of accumulators, one per step back that the state's taps reach).
 *
 * Backward step t (t = n-1 down to 0, `goBackwards` over the forward step's inputs):
 *   a_i     = external gradient of state i at step t + P_i[0]   (its total adjoint)
 *   c       = vjp of the forward body at step t with (a_i, external gradients of map outputs)
 *   P_i'[d] = P_i[d+1] + c(tap of lag d+1)        (P_i[k_i] = 0)
 *   acc_m'  = acc_m + c(non-sequence m)
 *   out     = c(sequence rows)                    (stacked, then reversed into forward order)
 * After the loop P_i[d] holds the gradient reaching initial row k_i-1-d from inside the loop.
 * `truncateGradient = k` runs only the last k forward steps backwards: earlier sequence rows get
 * zeros, and initial values get only their external gradient unless the loop had ≤ k steps.
 * A while loop is differentiated over the steps it took (its outputs' length); a shared
 * variable updated inside the body is a state like any other (src/scan/scan.ts).
 */

import { type GradResult, type Variable, cloneGraph, toposort } from "../graph/basic.js";
import { grad } from "../gradient/grad.js";
import { zerosLike } from "../tensor/alloc.js";
import { dimshuffle } from "../tensor/basic.js";
import { concatenate } from "../tensor/join.js";
import * as math from "../tensor/math.js";
import { DimShuffle } from "../tensor/elemwise.js";
import { Shape, ShapeI, shape, specifyShape } from "../tensor/shape.js";
import { Subtensor, incSubtensor, slice } from "../tensor/subtensor.js";
import { TensorType } from "../tensor/type.js";
import type { TensorVariable } from "../tensor/variable.js";
import { type Scan, Scan as ScanOp, isFloatVar, lagOf } from "./op.js";
import { lastValue, scan } from "./scan.js";

export function scanGrad(op: Scan, inputs: Variable[], outputGrads: Variable[], _outputs: Variable[]): GradResult[] {
  const { name, nSeqs, stateTaps, nNitSot, nNonSeqs, asWhile, truncateGradient } = op.info;
  const nS = stateTaps.length;
  if (nS + nNitSot === 0) return inputs.map(() => null);
  // The steps actually taken: nSteps, or for a while loop the length of an output.
  const n = !asWhile
    ? (inputs[0] as TensorVariable)
    : nS > 0
      ? math.sub(shape(_outputs[0] as TensorVariable, 0), lagOf(stateTaps[0]!))
      : shape(_outputs[0] as TensorVariable, 0);
  const seqs = inputs.slice(1, 1 + nSeqs) as TensorVariable[];
  const inits = inputs.slice(1 + nSeqs, 1 + nSeqs + nS) as TensorVariable[];
  const nonSeqs = inputs.slice(1 + nSeqs + nS, 1 + nSeqs + nS + nNonSeqs) as TensorVariable[];
  const gBufs = outputGrads.slice(0, nS) as TensorVariable[];
  const gNits = outputGrads.slice(nS, nS + nNitSot) as TensorVariable[];
  const lags = stateTaps.map(lagOf);

  // The forward body's inputs and outputs, in the Scan layout.
  const fIn = op.innerInputs as TensorVariable[];
  const fSeqIn = fIn.slice(0, nSeqs);
  let p = nSeqs;
  const fTapIn = stateTaps.map((taps) => {
    const vs = fIn.slice(p, p + taps.length);
    p += taps.length;
    return vs;
  });
  const fNonSeqIn = fIn.slice(p, p + nNonSeqs);
  const fStateOut = op.innerOutputs.slice(0, nS) as TensorVariable[];
  const fNitOut = op.innerOutputs.slice(nS, nS + nNitSot) as TensorVariable[];

  const floatStates = [...Array(nS).keys()].filter((i) => isFloatVar(inits[i]!));
  const floatSeqs = [...Array(nSeqs).keys()].filter((j) => isFloatVar(seqs[j]!));
  const floatNonSeqs = [...Array(nNonSeqs).keys()].filter((m) => isFloatVar(nonSeqs[m]!));
  const floatNits = [...Array(nNitSot).keys()].filter((j) => isFloatVar(fNitOut[j]!));

  // Residuals: what else of the forward step the backward step reads (an LSTM's gate
  // activations, tanh of its cell). The forward scan returns them as map-like outputs (a scan
  // with the same inputs and inner graph plus these outputs, which the scan_subsume rewrite puts
  // in place of the forward scan) rather than the backward body computing the step again.
  const wrtIn = [...floatSeqs.map((j) => fSeqIn[j]!), ...stateTaps.flatMap((taps, i) => (floatStates.includes(i) ? fTapIn[i]! : [])), ...floatNonSeqs.map((m) => fNonSeqIn[m]!)];
  const residuals = asWhile || op.info.keep ? [] : residualsOf(fIn, [...floatStates.map((i) => fStateOut[i]!), ...floatNits.map((j) => fNitOut[j]!)], [...fStateOut, ...fNitOut], wrtIn, new Set([...fSeqIn, ...fTapIn.flat()]));
  const fwd =
    residuals.length === 0
      ? _outputs
      : new ScanOp(op.innerInputs, [...op.innerOutputs.slice(0, nS + nNitSot), ...residuals], { ...op.info, nNitSot: nNitSot + residuals.length }).makeNode(...inputs).outputs;
  const bufs = fwd.slice(0, nS) as TensorVariable[];

  // Backward sequences: the forward step's inputs and the external gradients, n rows each.
  const firstN = (x: TensorVariable): TensorVariable => x.get(slice(0, n));
  const bSeqs: TensorVariable[] = [
    ...seqs.map(firstN),
    ...stateTaps.flatMap((taps, i) => taps.map((tap) => bufs[i]!.get(`${lags[i]! + tap}:${tap}`))),
    ...floatStates.map((i) => gBufs[i]!.get(`${lags[i]!}:`)),
    ...floatNits.map((j) => gNits[j]!),
    // What the forward step computed: its new states and map outputs, so that the backward body
    // reads them instead of computing them again (tanh's gradient uses tanh's output; without
    // these the rewrites push a second forward pass, GEMMs and all, out of the loop).
    ...stateTaps.map((_taps, i) => bufs[i]!.get(`${lags[i]!}:`)),
    ...fwd.slice(nS, nS + nNitSot + residuals.length).map((o) => o as TensorVariable),
  ];
  const nTapIn = stateTaps.reduce((a, t) => a + t.length, 0);
  const outputsInfo = [
    ...floatStates.flatMap((i) => [...Array(lags[i]!).keys()].map(() => zerosLike(inits[i]!.get(0)))),
    ...floatNonSeqs.map((m) => zerosLike(nonSeqs[m]!)),
    ...floatSeqs.map(() => null),
  ];
  const nb = truncateGradient > 0 ? math.minimum(n, truncateGradient) : n;

  const body = (...args: TensorVariable[]): TensorVariable[] => {
    let q = 0;
    const take = (k: number): TensorVariable[] => args.slice(q, (q += k));
    const seqRows = take(nSeqs);
    const tapVals = take(nTapIn);
    const gStateRows = take(floatStates.length);
    const gNitRows = take(floatNits.length);
    const fwdRows = take(nS + nNitSot);
    const resRows = take(residuals.length);
    const P = floatStates.map((i) => take(lags[i]!));
    const acc = take(floatNonSeqs.length);
    const nonSeqVals = take(nNonSeqs);
    const replace = new Map<Variable, Variable>();
    fSeqIn.forEach((v, j) => replace.set(v, seqRows[j]!));
    fTapIn.flat().forEach((v, j) => replace.set(v, tapVals[j]!));
    fNonSeqIn.forEach((v, m) => replace.set(v, nonSeqVals[m]!));
    const memo = cloneGraph([], [...fStateOut, ...fNitOut, ...residuals], { replace });
    const terms: TensorVariable[] = [];
    floatStates.forEach((i, s) => {
      const a = math.add(gStateRows[s]!, P[s]![0]!);
      terms.push(math.sum(math.mul(memo.get(fStateOut[i]!) as TensorVariable, a)));
    });
    floatNits.forEach((j, s) => terms.push(math.sum(math.mul(memo.get(fNitOut[j]!) as TensorVariable, gNitRows[s]!))));
    const tapFlat = stateTaps.flatMap((taps, i) => taps.map((tap) => ({ i, lag: -tap })));
    const wrt = [...floatSeqs.map((j) => seqRows[j]!), ...tapVals.filter((_v, k) => floatStates.includes(tapFlat[k]!.i)), ...floatNonSeqs.map((m) => nonSeqVals[m]!)];
    const gs =
      terms.length === 0
        ? wrt.map((w) => zerosLike(w))
        : grad(terms.reduce((x, y) => math.add(x, y)), wrt, { disconnectedInputs: "ignore" });
    const reuse = new Map<Variable, Variable>();
    [...fStateOut, ...fNitOut, ...residuals].forEach((o, k) => {
      const inner = memo.get(o) as TensorVariable | undefined;
      const row = k < fwdRows.length ? fwdRows[k]! : resRows[k - fwdRows.length]!;
      if (inner === undefined) return;
      if (inner.owner === null || inner.dtype !== row.dtype || inner.ndim !== row.ndim) return;
      reuse.set(inner, inner.type.equals(row.type) ? row : specifyShape(row, inner.type.shape));
    });
    if (reuse.size > 0) {
      const m = cloneGraph([], gs, { replace: reuse, shareUnchanged: true });
      gs.splice(0, gs.length, ...gs.map((g) => m.get(g) as TensorVariable));
    }
    const gSeq = gs.slice(0, floatSeqs.length);
    const gTap = gs.slice(floatSeqs.length, wrt.length - floatNonSeqs.length);
    const gNon = gs.slice(wrt.length - floatNonSeqs.length);
    const floatTaps = tapFlat.filter((t) => floatStates.includes(t.i));
    const newP = floatStates.flatMap((i, s) => {
      const k = lags[i]!;
      return [...Array(k).keys()].map((d) => {
        let v: TensorVariable = d + 1 < k ? P[s]![d + 1]! : zerosLike(P[s]![0]!);
        floatTaps.forEach((t, r) => {
          if (t.i === i && t.lag === d + 1) v = math.add(v, gTap[r]!);
        });
        return math.cast(v, P[s]![0]!.dtype);
      });
    });
    const newAcc = acc.map((x, m) => math.cast(math.add(x, gNon[m]!), x.dtype));
    return [...newP, ...newAcc, ...gSeq.map((g, j) => math.cast(g, seqRows[floatSeqs[j]!]!.dtype))];
  };

  const [outs] = scan({ fn: body, sequences: bSeqs, outputsInfo, nonSequences: nonSeqs, nSteps: nb, goBackwards: true, name: `grad_of_${name}` });
  const list = Array.isArray(outs) ? outs : [outs];
  const result: GradResult[] = inputs.map(() => null);
  let r = 0;
  floatStates.forEach((i) => {
    const k = lags[i]!;
    const finals = [...Array(k).keys()].map(() => lastValue(list[r++]!));
    // Initial row k-1-d receives P[d]; only when the backward loop reached the start.
    const fromLoop = concatenate([...Array(k).keys()].map((row) => dimshuffle(finals[k - 1 - row]!, ["x", ...[...Array(finals[0]!.ndim).keys()]])), 0);
    const reached = truncateGradient > 0 ? math.where(math.le(n, truncateGradient), fromLoop, zerosLike(fromLoop)) : fromLoop;
    result[1 + nSeqs + i] = math.add(gBufs[i]!.get(`:${k}`), reached);
  });
  floatNonSeqs.forEach((m) => (result[1 + nSeqs + nS + m] = lastValue(list[r++]!)));
  floatSeqs.forEach((j) => {
    const rev = list[r++]!.get("::-1");
    result[1 + j] = incSubtensor(zerosLike(seqs[j]!).get(slice(math.sub(n, nb), n)), rev);
  });
  return result;
}

/**
 * The forward step's values, besides its outputs (`outs`), that the gradient of `terms` (the
 * float outputs, each against a stand-in adjoint) with respect to `wrt` reads: the inputs of
 * gradient nodes that the forward step computes from the sequences or states (`variant`).
 * Values of the non-sequences alone stay out: the backward step has them without a history.
 */
function residualsOf(fIn: readonly Variable[], terms: readonly TensorVariable[], outs: readonly Variable[], wrt: readonly Variable[], variant: ReadonlySet<Variable>): Variable[] {
  if (terms.length === 0 || wrt.length === 0) return [];
  const adjoints = terms.map((t) => t.type.makeVariable() as TensorVariable);
  const cost = terms.map((t, k) => math.sum(math.mul(t, adjoints[k]!))).reduce((a, b) => math.add(a, b));
  const gs = grad(cost, wrt as Variable[], { disconnectedInputs: "ignore" });
  const fwdNodes = new Set(toposort([...outs], new Set(fIn)));
  const fromVariant = new Set<Variable>(variant);
  for (const node of toposort([...outs], new Set(fIn))) if (node.inputs.some((v) => fromVariant.has(v))) node.outputs.forEach((o) => fromVariant.add(o));
  const isOut = new Set(outs);
  const found = new Set<Variable>();
  for (const node of toposort(gs.filter((g): g is TensorVariable => g !== null), new Set([...fIn, ...adjoints]))) {
    // (a value read for its shape only is not kept: shape inference computes that without it)
    if (fwdNodes.has(node) || node.op instanceof Shape || node.op instanceof ShapeI) continue;
    for (let v of node.inputs) {
      // a view (a gate's columns of the pre-activation) is remade from its base's row
      while (v.owner !== null && fwdNodes.has(v.owner) && (v.owner.op instanceof DimShuffle || v.owner.op instanceof Subtensor) && v.owner.inputs.slice(1).every((i) => i.isConstant) && fromVariant.has(v.owner.inputs[0]!) && !isOut.has(v)) v = v.owner.inputs[0]!;
      if (v.owner !== null && fwdNodes.has(v.owner) && !isOut.has(v) && fromVariant.has(v) && v.type instanceof TensorType) found.add(v);
    }
  }
  return [...found];
}
