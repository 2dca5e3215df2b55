/**
 * Scan rewrites (the ideas of Theano's `scan/opt.py`): they change a Scan node of the outer
 * graph and its inner graph together, so the loop does less per step. Names and tags follow
 * Theano's (scan_save_mem, scan_merge, scan_pushout_add; tags scan and scan_pushout), so
 * `optimizer_excluding=scan_pushout` (or `scan`, or one name) turns them off.
 *
 * optdb (position: name [tags]):
 *   0.1   scan_subsume           [scan, fast_run, fast_compile]: a scan whose inputs, inner
 *         graph and outputs another scan holds in full (the forward scan, and the same scan plus
 *         the residuals its gradient reads) gives way to that one: the loop runs once.
 *   0.5   scan_pushout_non_seqs  [scan, scan_pushout, fast_run]: inner computation that reads
 *         only non-sequences and constants runs once before the loop; its value comes in as a
 *         new non-sequence.
 *   0.5   scan_pushout_seqs      [scan, scan_pushout, fast_run]: elementwise operations, dimshuffles
 *         and matrix products of sequence rows (with loop-invariant operands) run once over the
 *         whole sequences before the loop, and come in as new sequences. The RNN input projection
 *         `dot(x_t, W)` becomes one product of the (flattened) sequence with W; in the gradient
 *         scan of an RNN, whose body recomputes the forward step from sequences only, the whole
 *         forward recomputation moves out.
 *   0.51  scan_pushout_add       [scan, scan_pushout, fast_run]: a state that only accumulates
 *         (`acc + f_t`) and is read only at its end leaves the loop: f becomes a map-like output
 *         summed after it, and a sum of products `dot(a_tᵀ, b_t)` (an RNN's weight gradients in the
 *         backward scan) becomes one product of the stacked rows.
 *   0.52  scan_pushout_output    [scan, scan_pushout, fast_run]: a map-like output whose value
 *         is a loop invariant becomes an alloc of that value outside; a scan left with no output
 *         is removed.
 *   1.6   scan_merge             [scan, fast_run]: scans with the same number of steps, neither
 *         reading the other's outputs, become one loop (shared sequences and non-sequences read once).
 *   1.61  scan_save_mem          [scan, fast_run]: an output read only through its last rows
 *         (`result[-1]`, `theano.reduce`, the gradient's accumulators) keeps just those rows: a
 *         ring buffer of k rows instead of the whole history (ScanInfo.keep, src/scan/op.ts).
 *         Outputs nothing reads leave the loop (map-like ones; states whose taps no kept output
 *         reads); a state only the loop itself reads keeps only the rows its taps reach.
 *
 * Inner graphs get the whole pipeline (fusion, GEMM, in-place) when src/scan compiles them with
 * the outer function's mode; the rewrites here only decide what stays inside the loop.
 * Each rewrite builds a new Scan op (a new inner graph) and replaces the node's outputs; the
 * gradient is taken before rewriting, so it is never asked of a rewritten Scan.
 */

import { type Apply, type Variable, ancestors, cloneGraph, toposort } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { Scan, type ScanInfo } from "../scan/op.js";
import { alloc } from "../tensor/alloc.js";
import { dimshuffle } from "../tensor/basic.js";
import { Dot, dot } from "../tensor/blas.js";
import { DimShuffle, Elemwise } from "../tensor/elemwise.js";
import * as math from "../tensor/math.js";
import { ShapeI, reshape, shape } from "../tensor/shape.js";
import { Subtensor, slice } from "../tensor/subtensor.js";
import type { TensorType } from "../tensor/type.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { type RewriteContext, graphRewriter, nodeRewriter, optdb } from "./engine.js";

// ---------------------------------------------------------------------------------------------
// A Scan node taken apart and put back together

interface Seq {
  readonly outer: Variable;
  readonly inner: Variable;
  readonly label: string;
}
interface State {
  readonly init: Variable;
  readonly taps: readonly number[];
  readonly inner: readonly Variable[];
  out: Variable;
  readonly label: string;
  readonly keep: number;
}
interface NitSot {
  out: Variable;
  readonly keep: number;
}
interface NonSeq {
  readonly outer: Variable;
  readonly inner: Variable;
}

/** A Scan node's parts, each outer input with its inner counterpart (the layout of src/scan/op.ts). */
interface ScanParts {
  readonly info: ScanInfo;
  readonly nSteps: Variable;
  seqs: Seq[];
  states: State[];
  nits: NitSot[];
  nonSeqs: NonSeq[];
  until: Variable | null;
}

function partsOf(node: Apply): ScanParts {
  const op = node.op as Scan;
  const { nSeqs, stateTaps, stateLabels, nNitSot, nNonSeqs, asWhile, seqLabels } = op.info;
  const keep = op.info.keep ?? [];
  const nS = stateTaps.length;
  const ins = op.innerInputs;
  let p = nSeqs;
  const states = stateTaps.map((taps, i) => {
    const inner = ins.slice(p, (p += taps.length));
    return { init: node.inputs[1 + nSeqs + i]!, taps, inner, out: op.innerOutputs[i]!, label: stateLabels[i]!, keep: keep[i] ?? 0 };
  });
  return {
    info: op.info,
    nSteps: node.inputs[0]!,
    seqs: [...Array(nSeqs).keys()].map((j) => ({ outer: node.inputs[1 + j]!, inner: ins[j]!, label: seqLabels[j]! })),
    states,
    nits: [...Array(nNitSot).keys()].map((j) => ({ out: op.innerOutputs[nS + j]!, keep: keep[nS + j] ?? 0 })),
    nonSeqs: [...Array(nNonSeqs).keys()].map((m) => ({ outer: node.inputs[1 + nSeqs + nS + m]!, inner: ins[p + m]! })),
    until: asWhile ? op.innerOutputs[nS + nNitSot]! : null,
  };
}

const innerOutputsOf = (s: ScanParts): Variable[] => [...s.states.map((x) => x.out), ...s.nits.map((x) => x.out), ...(s.until ? [s.until] : [])];
const innerInputsOf = (s: ScanParts): Variable[] => [...s.seqs.map((x) => x.inner), ...s.states.flatMap((x) => x.inner), ...s.nonSeqs.map((x) => x.inner)];

/** Rewrites every inner output through `replace` (inner variable -> its new value). */
function replaceInner(s: ScanParts, replace: ReadonlyMap<Variable, Variable>): void {
  const memo = cloneGraph([], innerOutputsOf(s), { replace, shareUnchanged: true });
  const get = (v: Variable): Variable => memo.get(v) ?? v;
  for (const st of s.states) st.out = get(st.out);
  for (const n of s.nits) n.out = get(n.out);
  if (s.until) s.until = get(s.until);
}

/** The Scan node for `s`, without the sequences and non-sequences its body no longer reads. */
function buildScan(s: ScanParts, name = s.info.name): Apply {
  const used = new Set(ancestors(innerOutputsOf(s)));
  const seqs = s.seqs.filter((x) => used.has(x.inner));
  const nonSeqs = s.nonSeqs.filter((x) => used.has(x.inner));
  const keep = [...s.states.map((x) => x.keep), ...s.nits.map((x) => x.keep)];
  const info: ScanInfo = {
    ...s.info,
    name,
    nSeqs: seqs.length,
    stateTaps: s.states.map((x) => x.taps),
    stateLabels: s.states.map((x) => x.label),
    nNitSot: s.nits.length,
    nNonSeqs: nonSeqs.length,
    seqLabels: seqs.map((x) => x.label),
    ...(keep.some((k) => k > 0) ? { keep } : { keep: undefined }),
  };
  const op = new Scan([...seqs.map((x) => x.inner), ...s.states.flatMap((x) => x.inner), ...nonSeqs.map((x) => x.inner)], innerOutputsOf(s), info);
  return op.makeNode(s.nSteps, ...seqs.map((x) => x.outer), ...s.states.map((x) => x.init), ...nonSeqs.map((x) => x.outer));
}

/** Inner variables computed from non-sequences and constants only (the loop invariants). */
function invariants(s: ScanParts): Set<Variable> {
  const inv = new Set<Variable>(s.nonSeqs.map((x) => x.inner));
  for (const n of toposort(innerOutputsOf(s), new Set(innerInputsOf(s)))) {
    if (n.inputs.every((i) => inv.has(i) || i.isConstant)) n.outputs.forEach((o) => inv.add(o));
  }
  return inv;
}

/** Readers of each inner variable among `nodes`, plus "output" for the inner outputs. */
function innerClients(s: ScanParts, nodes: readonly Apply[]): Map<Variable, Array<Apply | "output">> {
  const clients = new Map<Variable, Array<Apply | "output">>();
  const add = (v: Variable, c: Apply | "output"): void => void (clients.get(v) ?? clients.set(v, []).get(v)!).push(c);
  for (const n of nodes) n.inputs.forEach((i) => add(i, n));
  innerOutputsOf(s).forEach((o) => add(o, "output"));
  return clients;
}

// ---------------------------------------------------------------------------------------------
// scan_pushout_non_seqs

/**
 * Nodes whose inputs are all loop invariants (at least one a non-sequence) move out of the loop:
 * each of their results the rest of the body reads becomes a new non-sequence, computed once by
 * a copy of the invariant subgraph over the outer non-sequences.
 */
export const scanPushoutNonSeqs = nodeRewriter({
  name: "scan_pushout_non_seqs",
  tags: ["scan", "scan_pushout"],
  tracks: [Scan],
  transform(node) {
    const s = partsOf(node);
    if (s.nonSeqs.length === 0) return null;
    const inv = invariants(s);
    const nodes = toposort(innerOutputsOf(s), new Set(innerInputsOf(s)));
    const moved = new Set(nodes.filter((n) => n.outputs.every((o) => inv.has(o)) && n.inputs.some((i) => !i.isConstant)));
    if (moved.size === 0) return null;
    const clients = innerClients(s, nodes);
    const frontier = [...moved].flatMap((n) => n.outputs).filter((o) => (clients.get(o) ?? []).some((c) => c === "output" || !moved.has(c)));
    if (frontier.length === 0) return null;
    const outer = cloneGraph([], frontier, { replace: new Map(s.nonSeqs.map((x) => [x.inner, x.outer] as const)) });
    const replace = new Map<Variable, Variable>();
    for (const f of frontier) {
      const v = f.type.makeVariable(f.name);
      replace.set(f, v);
      s.nonSeqs.push({ outer: outer.get(f)!, inner: v });
    }
    replaceInner(s, replace);
    return buildScan(s).outputs;
  },
});

// ---------------------------------------------------------------------------------------------
// scan_pushout_output

/**
 * A map-like output whose step value is a loop invariant (a constant, or computed from
 * non-sequences only) leaves the loop as `alloc(value, nSteps, ...)`: every row is that value.
 * A scan left with no output is gone. (After scan_pushout_add, `x + 1` summed over the steps is
 * such a map of the constant 1: the loop then disappears.)
 */
export const scanPushoutOutput = nodeRewriter({
  name: "scan_pushout_output",
  tags: ["scan", "scan_pushout"],
  tracks: [Scan],
  transform(node) {
    const s = partsOf(node);
    if (s.until) return null;
    const inv = invariants(s);
    const out = s.nits.filter((x) => x.out.isConstant || inv.has(x.out));
    if (out.length === 0) return null;
    const outer = cloneGraph([], out.map((x) => x.out), { replace: new Map(s.nonSeqs.map((x) => [x.inner, x.outer] as const)) });
    const n = s.nSteps as TensorVariable;
    const filled = (x: NitSot): Variable => {
      const v = (outer.get(x.out) ?? x.out) as TensorVariable;
      const rows = x.keep > 0 ? math.minimum(n, constant(x.keep, { dtype: n.dtype })) : n;
      return alloc(v, rows, ...[...Array(v.ndim).keys()].map((d) => shape(v, d)));
    };
    const nS = s.states.length;
    const nitsBefore = s.nits;
    s.nits = s.nits.filter((x) => !out.includes(x));
    const m = s.states.length + s.nits.length > 0 ? buildScan(s) : null;
    let kept = 0;
    return node.outputs.map((_o, k) => {
      if (k < nS) return m!.outputs[k]!;
      const x = nitsBefore[k - nS]!;
      return out.includes(x) ? filled(x) : m!.outputs[nS + kept++]!;
    });
  },
});

// ---------------------------------------------------------------------------------------------
// scan_pushout_seqs

/** Whether `n` computes row t of a sequence-wide result from row t of its operands. */
function rowwise(n: Apply, isSeq: (v: Variable) => boolean): boolean {
  const op = n.op;
  if (op instanceof Elemwise) return op.inplacePattern.size === 0 && n.outputs.length === 1;
  if (op instanceof DimShuffle) return true;
  if (op instanceof Dot) {
    const [a, b] = n.inputs as [TensorVariable, TensorVariable];
    // dot(x_t, W) with x_t a vector or matrix row; dot(W, x_t) with x_t a vector.
    if (isSeq(a) && !isSeq(b)) return true;
    if (!isSeq(a) && isSeq(b)) return b.ndim === 1;
  }
  return false;
}

/** The sequence-wide version of the row-wise node `n`, given its operands outside the loop. */
function overSteps(n: Apply, ins: ReadonlyArray<{ v: TensorVariable; seq: boolean }>): TensorVariable {
  const op = n.op;
  if (op instanceof Elemwise) {
    const args = ins.map(({ v, seq }) => (seq ? v : dimshuffle(v, ["x", ...[...Array(v.ndim).keys()]])));
    return op.makeNode(...args).outputs[0] as TensorVariable;
  }
  if (op instanceof DimShuffle) return dimshuffle(ins[0]!.v, [0, ...op.pattern.map((p) => (p === "x" ? "x" : p + 1))]);
  const [a, b] = ins as [{ v: TensorVariable; seq: boolean }, { v: TensorVariable; seq: boolean }];
  if (!a.seq) return dot(b.v, a.v.ndim === 2 ? dimshuffle(a.v, [1, 0]) : a.v); // rows of dot(W, x_t) = X · Wᵀ
  if (a.v.ndim === 2) return dot(a.v, b.v); // (T, F) · W
  // (T, B, F) · W as one (T·B, F) product, reshaped back.
  const X = a.v;
  const flat = reshape(X, [math.mul(shape(X, 0), shape(X, 1)), shape(X, 2)]);
  const tail = b.v.ndim === 2 ? [shape(b.v, 1)] : [];
  return reshape(dot(flat, b.v), [shape(X, 0), shape(X, 1), ...tail]);
}

/**
 * Row-wise nodes of sequence rows (and loop invariants) move out of the loop: each is computed
 * once over the whole sequence; the results the rest of the body reads become new sequences.
 * A dimshuffle alone is left inside (moving it would only trade a view for a strided sequence).
 */
export const scanPushoutSeqs = nodeRewriter({
  name: "scan_pushout_seqs",
  tags: ["scan", "scan_pushout"],
  tracks: [Scan],
  transform(node) {
    const s = partsOf(node);
    if (s.seqs.length === 0) return null;
    const inv = invariants(s);
    const seqVar = new Set<Variable>(s.seqs.map((x) => x.inner));
    const nodes = toposort(innerOutputsOf(s), new Set(innerInputsOf(s)));
    const rowNodes: Apply[] = [];
    for (const n of nodes) {
      if (!n.inputs.some((i) => seqVar.has(i)) || !n.inputs.every((i) => seqVar.has(i) || inv.has(i) || i.isConstant)) continue;
      if (!rowwise(n, (v) => seqVar.has(v))) continue;
      rowNodes.push(n);
      n.outputs.forEach((o) => seqVar.add(o));
    }
    const moved = new Set(rowNodes);
    const clients = innerClients(s, nodes);
    const readInside = (o: Variable): boolean => (clients.get(o) ?? []).some((c) => c === "output" || !moved.has(c));
    // Dimshuffles whose result the loop reads stay inside (clients first: reverse order).
    for (const n of [...nodes].reverse()) if (moved.has(n) && n.op instanceof DimShuffle && readInside(n.outputs[0]!)) moved.delete(n);
    const frontier = [...moved].flatMap((n) => n.outputs).filter(readInside);
    if (frontier.length === 0) return null;

    const isSeqIn = new Map(s.seqs.map((x) => [x.inner, x.outer] as const));
    const invUsed = rowNodes.flatMap((n) => n.inputs.filter((i) => !seqVar.has(i)));
    const invOuter = cloneGraph([], invUsed, { replace: new Map(s.nonSeqs.map((x) => [x.inner, x.outer] as const)) });
    // Sequences may be longer than the loop (and of different lengths): their first nSteps rows,
    // unless nSteps is the sequence's own length (a loop over one sequence).
    const firstSteps = (o: Variable): TensorVariable => {
      const n = s.nSteps.owner;
      const whole = n?.op instanceof ShapeI && n.op.i === 0 && n.inputs[0] === o;
      return whole ? (o as TensorVariable) : (o as TensorVariable).get(slice(0, s.nSteps as TensorVariable));
    };
    const outerOf = new Map<Variable, TensorVariable>([...isSeqIn].map(([i, o]) => [i, firstSteps(o)] as const));
    for (const n of rowNodes) {
      const ins = n.inputs.map((i) => (outerOf.has(i) ? { v: outerOf.get(i)!, seq: true } : { v: (invOuter.get(i) ?? i) as TensorVariable, seq: false }));
      outerOf.set(n.outputs[0]!, overSteps(n, ins));
    }
    const replace = new Map<Variable, Variable>();
    for (const f of frontier) {
      const v = f.type.makeVariable(f.name);
      replace.set(f, v);
      const o = outerOf.get(f)!;
      if ((o.type as TensorType).dtype !== (f.type as TensorType).dtype) return null;
      s.seqs.push({ outer: o, inner: v, label: `${f.owner!.op} of sequence rows, moved out of the loop` });
    }
    replaceInner(s, replace);
    return buildScan(s).outputs;
  },
});

// ---------------------------------------------------------------------------------------------
// scan_pushout_add

/** `acc_prev + f` (either order) with f independent of acc_prev, which nothing else reads: f, or null. */
function accumulated(s: ScanParts, st: State, nodes: readonly Apply[]): Variable | null {
  if (st.taps.length !== 1 || st.taps[0] !== -1) return null;
  const p = st.inner[0]!;
  const n = st.out.owner;
  if (!n || !(n.op instanceof Elemwise) || n.op.scalarOp.name !== "add" || n.inputs.length !== 2) return null;
  const f = n.inputs[0] === p ? n.inputs[1]! : n.inputs[1] === p ? n.inputs[0]! : null;
  if (!f || f.type.toString() !== st.out.type.toString()) return null;
  const readers = innerClients(s, nodes).get(p) ?? [];
  if (readers.length !== 1 || readers[0] !== n || ancestors([f]).includes(p)) return null;
  return f;
}

/**
 * A state that only accumulates (`acc_t = acc_{t-1} + f_t`, f_t not reading acc) and whose last
 * value is all that is read leaves the loop: f becomes a map-like output F and the result is
 * `init + sum(F, 0)`. Where f_t = dot(a_tᵀ, b_t) (a weight gradient of a batched RNN), the sum is
 * one product of the stacked rows instead: `dot(flat(A)ᵀ, flat(B))`, A a sequence when a_t is one.
 */
export const scanPushoutAdd = graphRewriter({
  name: "scan_pushout_add",
  tags: ["scan", "scan_pushout"],
  apply(fg: FunctionGraph, ctx) {
    for (const node of fg.toposort()) {
      if (!(node.op instanceof Scan) || !fg.nodes.has(node) || node.op.info.asWhile) continue;
      const s = partsOf(node);
      const nodes = toposort(innerOutputsOf(s), new Set(innerInputsOf(s)));
      const nS0 = s.states.length;
      const found = s.states.flatMap((st, i) => {
        if (st.keep > 0 || !isFloatType(st.out)) return [];
        const f = accumulated(s, st, nodes);
        const r = f && lastRowsRead(fg, node.outputs[i]!);
        return f && r && r.lastOnly ? [{ i, f, r }] : [];
      });
      if (found.length === 0) continue;
      // f = dot(DimShuffle{1,0}(a), b), rows a and b matrices: sum over steps as one product.
      const seqOuter = new Map(s.seqs.map((x) => [x.inner, x.outer] as const));
      const extra: Variable[] = [];
      // Each inner value becomes one map-like output, however many accumulators read it.
      const stack = (v: Variable): number => (extra.includes(v) ? extra.indexOf(v) : extra.push(v) - 1);
      const plans = found.map(({ i, f, r }) => {
        const d = f.owner;
        const a = d?.op instanceof Dot ? d.inputs[0]!.owner : null;
        if (d && a && a.op instanceof DimShuffle && a.op.inputNdim === 2 && a.op.pattern.join() === "1,0" && (d.inputs[1] as TensorVariable).ndim === 2) {
          const parts = [a.inputs[0]!, d.inputs[1]!].map((v) => (seqOuter.has(v) ? { seq: seqOuter.get(v)! } : { nit: stack(v) }));
          return { i, r, parts, whole: null as number | null };
        }
        return { i, r, parts: null, whole: stack(f) };
      });
      const nitBase = s.nits.length;
      const gone = new Set(found.map((x) => x.i));
      s.states = s.states.filter((_st, i) => !gone.has(i));
      s.nits.push(...extra.map((out) => ({ out, keep: 0 })));
      const m = buildScan(s);
      const nS = s.states.length;
      const n = s.nSteps as TensorVariable;
      const stacked = (part: { seq: Variable } | { nit: number }): TensorVariable =>
        "seq" in part ? (part.seq as TensorVariable).get(slice(0, n)) : (m.outputs[nS + nitBase + part.nit] as TensorVariable);
      const flat = (v: TensorVariable): TensorVariable => reshape(v, [math.mul(shape(v, 0), shape(v, 1)), shape(v, 2)]);
      const pairs: Array<[Variable, Variable]> = [];
      let kept = 0;
      node.outputs.forEach((o, k) => {
        if (k >= nS0) return void pairs.push([o, m.outputs[nS + (k - nS0)]!]);
        if (!gone.has(k)) return void pairs.push([o, m.outputs[kept++]!]);
        const plan = plans.find((x) => x.i === k)!;
        const init = node.inputs[1 + (node.op as Scan).info.nSeqs + k] as TensorVariable;
        const total = plan.parts
          ? dot(dimshuffle(flat(stacked(plan.parts[0]!)), [1, 0]), flat(stacked(plan.parts[1]!)))
          : math.sum(m.outputs[nS + nitBase + plan.whole!] as TensorVariable, [0]);
        const last = math.cast(math.add(init.get(0), total), (o.type as TensorType).dtype);
        // The reads were `out[-1]` or `out[s:][-1]` (that is `last`), or those with more indices.
        for (const [old, , fromLast] of plan.r.rebuild) pairs.push([old, fromLast!(last)]);
      });
      ctx.replace(fg, pairs, "scan_pushout_add");
    }
  },
});

const isFloatType = (v: Variable): boolean => /^float/.test((v.type as TensorType).dtype ?? "");

// ---------------------------------------------------------------------------------------------
// scan_subsume

/**
 * Whether `x` computes everything `y` does: the same outer inputs and inner inputs, the same
 * states with the same inner outputs, and each of y's map-like outputs among x's (identical inner
 * variables over identical inputs: the same values). The scan gradient builds such an `x` (the
 * forward scan plus the residuals its backward step reads, src/scan/grad.ts).
 */
function subsumes(x: Apply, y: Apply): number[] | null {
  const a = x.op as Scan;
  const b = y.op as Scan;
  const ia = a.info;
  const ib = b.info;
  if (x.inputs.length !== y.inputs.length || x.inputs.some((v, i) => v !== y.inputs[i])) return null;
  if (a.innerInputs.length !== b.innerInputs.length || a.innerInputs.some((v, i) => v !== b.innerInputs[i])) return null;
  if (ia.keep || ib.keep || ia.asWhile || ib.asWhile || ia.nSeqs !== ib.nSeqs || ia.nNonSeqs !== ib.nNonSeqs || ia.truncateGradient !== ib.truncateGradient) return null;
  const nS = ia.stateTaps.length;
  if (ib.stateTaps.length !== nS || ia.stateTaps.some((t, i) => t.join() !== ib.stateTaps[i]!.join())) return null;
  if (b.innerOutputs.slice(0, nS).some((o, i) => o !== a.innerOutputs[i])) return null;
  const aNits = a.innerOutputs.slice(nS, nS + ia.nNitSot);
  const where = b.innerOutputs.slice(nS, nS + ib.nNitSot).map((o) => aNits.indexOf(o));
  if (where.some((k) => k < 0)) return null;
  return [...Array(nS).keys(), ...where.map((k) => nS + k)];
}

/**
 * Applies `pair` to ordered pairs of the graph's scans (those `keep` accepts, in topological
 * order) until none changes: `pair(a, b)` returns the replacements to make, or null. The loop of
 * scan_subsume and scan_merge.
 */
function rewriteScanPairs(fg: FunctionGraph, ctx: RewriteContext, name: string, keep: (n: Apply) => boolean, pair: (a: Apply, b: Apply) => Array<[Variable, Variable]> | null, ordered: boolean): void {
  for (let changed = true; changed; ) {
    changed = false;
    const scans = fg.toposort().filter((n) => n.op instanceof Scan && keep(n));
    search: for (let i = 0; i < scans.length; i++) {
      for (let j = ordered ? 0 : i + 1; j < scans.length; j++) {
        if (i === j) continue;
        const pairs = pair(scans[i]!, scans[j]!);
        if (pairs !== null && ctx.replace(fg, pairs, name) !== null) {
          changed = true;
          break search;
        }
      }
    }
  }
}

/** A scan that another computes in full gives way to it (its outputs are the other's). */
export const scanSubsume = graphRewriter({
  name: "scan_subsume",
  tags: ["scan"],
  apply(fg: FunctionGraph, ctx) {
    const pair = (x: Apply, y: Apply): Array<[Variable, Variable]> | null => {
      const map = subsumes(x, y);
      return map && y.outputs.map((o, k) => [o, x.outputs[map[k]!]!] as [Variable, Variable]);
    };
    rewriteScanPairs(fg, ctx, "scan_subsume", () => true, pair, true);
  },
});

// ---------------------------------------------------------------------------------------------
// scan_merge

/** Whether `a` reads (through any path in the graph) an output of `b`. */
function reads(a: Apply, b: Apply): boolean {
  const outs = new Set(b.outputs);
  return ancestors(a.inputs).some((v) => outs.has(v));
}

/** One Scan doing what `a` and `b` do; outputs: a's states, b's states, a's map-like, b's map-like. */
function mergeParts(a: ScanParts, b: ScanParts): ScanParts {
  // b's body on fresh inputs (or a's, where both read the same outer value), so the merged inner
  // graph never holds one variable twice.
  const replace = new Map<Variable, Variable>();
  const seqs = [...a.seqs];
  for (const x of b.seqs) {
    const same = a.seqs.find((y) => y.outer === x.outer && y.inner.type.equals(x.inner.type));
    if (same) replace.set(x.inner, same.inner);
    else {
      const v = x.inner.type.makeVariable(x.inner.name);
      replace.set(x.inner, v);
      seqs.push({ ...x, inner: v });
    }
  }
  const nonSeqs = [...a.nonSeqs];
  for (const x of b.nonSeqs) {
    const same = a.nonSeqs.find((y) => y.outer === x.outer && y.inner.type.equals(x.inner.type));
    if (same) replace.set(x.inner, same.inner);
    else {
      const v = x.inner.type.makeVariable(x.inner.name);
      replace.set(x.inner, v);
      nonSeqs.push({ ...x, inner: v });
    }
  }
  const bStates = b.states.map((st) => {
    const inner = st.inner.map((v) => v.type.makeVariable(v.name));
    st.inner.forEach((v, k) => replace.set(v, inner[k]!));
    return { ...st, inner };
  });
  const memo = cloneGraph([], innerOutputsOf(b), { replace });
  bStates.forEach((st) => (st.out = memo.get(st.out)!));
  const bNits = b.nits.map((n) => ({ ...n, out: memo.get(n.out)! }));
  return { info: a.info, nSteps: a.nSteps, seqs, states: [...a.states, ...bStates], nits: [...a.nits, ...bNits], nonSeqs, until: null };
}

/** Scans over the same number of steps (the same variable), neither reading the other, merge. */
export const scanMerge = graphRewriter({
  name: "scan_merge",
  tags: ["scan"],
  apply(fg: FunctionGraph, ctx) {
    const pair = (a: Apply, b: Apply): Array<[Variable, Variable]> | null => {
      if (a.inputs[0] !== b.inputs[0] || reads(b, a) || reads(a, b)) return null;
      const pa = partsOf(a);
      const pb = partsOf(b);
      const m = buildScan(mergeParts(pa, pb), `${pa.info.name}&${pb.info.name}`);
      const nSa = pa.states.length;
      const nSb = pb.states.length;
      const out = m.outputs;
      return [
        ...a.outputs.map((o, k) => [o, k < nSa ? out[k]! : out[nSa + nSb + (k - nSa)]!] as [Variable, Variable]),
        ...b.outputs.map((o, k) => [o, k < nSb ? out[nSa + k]! : out[nSa + nSb + pa.nits.length + (k - nSb)]!] as [Variable, Variable]),
      ];
    };
    rewriteScanPairs(fg, ctx, "scan_merge", (n) => !(n.op as Scan).info.asWhile, pair, false);
  },
});

// ---------------------------------------------------------------------------------------------
// scan_save_mem

const isInt = (e: unknown): e is number => typeof e === "number";
const openSlice = (e: unknown): e is { start: number | null; stop: null; step: null } =>
  typeof e === "object" && e !== null && (e as { stop: unknown }).stop === null && (e as { step: unknown }).step === null && ((e as { start: unknown }).start === null || isInt((e as { start: unknown }).start));

/**
 * How a read of a Scan output uses its last rows: `out[-j, ...]`, `out[-j:, ...]` or
 * `out[s:][-j, ...]` (what scan's results and `result[-1]` are), each exact on the kept rows,
 * out-of-range reads included. Returns the rows needed and how to rebuild each read on the kept
 * rows, or null.
 */
function lastRowsRead(fg: FunctionGraph, out: Variable): LastRowsRead | null {
  let rows = 0;
  let lastOnly = true;
  const rebuild: LastRowsRead["rebuild"] = [];
  const again = (n: Apply, o: Variable): Variable => n.op.makeNode(o, ...n.inputs.slice(1)).outputs[0]!;
  for (const [c] of fg.clients.get(out) ?? []) {
    if (c === "output" || !(c.op instanceof Subtensor) || c.inputs[0] !== out) return null;
    const e = c.op.entries[0];
    if (isInt(e) && e < 0) {
      rows = Math.max(rows, -e);
      lastOnly &&= e === -1;
      rebuild.push([c.outputs[0]!, (o) => again(c, o), c.op.entries.length === 1 ? (row) => row : (row) => again(c, dimshuffle(row as TensorVariable, ["x", ...[...Array((row as TensorVariable).ndim).keys()]]))]);
    } else if (openSlice(e) && isInt(e.start) && e.start < 0 && c.op.entries.length === 1) {
      rows = Math.max(rows, -e.start);
      lastOnly = false;
      rebuild.push([c.outputs[0]!, (o) => again(c, o), null]);
    } else if (openSlice(e) && c.op.entries.length === 1 && (e.start === null || e.start >= 0)) {
      // out[s:][-j] keeps s + j rows and reads them the same way: the last j rows when there are
      // s + j or more, and otherwise the whole history, so a read past the start raises as before.
      const s = e.start ?? 0;
      for (const [d] of fg.clients.get(c.outputs[0]!) ?? []) {
        if (d === "output" || !(d.op instanceof Subtensor) || d.inputs[0] !== c.outputs[0]) return null;
        const f = d.op.entries[0];
        if (!isInt(f) || f >= 0) return null;
        rows = Math.max(rows, s - f);
        lastOnly &&= f === -1;
        rebuild.push([d.outputs[0]!, (o) => again(d, again(c, o)), d.op.entries.length === 1 ? (row) => row : (row) => again(d, dimshuffle(row as TensorVariable, ["x", ...[...Array((row as TensorVariable).ndim).keys()]]))]);
      }
    } else return null;
  }
  return rows > 0 ? { rows, lastOnly, rebuild } : null;
}

/**
 * The reads `lastRowsRead` found: the rows they need; whether each reads only the last row
 * (`out[-1, ...]`, `out[s:][-1, ...]`); and per read, how to rebuild it on the kept rows and,
 * for a last-row read, from the last row itself (null otherwise).
 */
interface LastRowsRead {
  readonly rows: number;
  readonly lastOnly: boolean;
  readonly rebuild: Array<[Variable, (o: Variable) => Variable, ((row: Variable) => Variable) | null]>;
}

/** Outputs read only through their last k rows keep k rows (a ring buffer in the loop). */
export const scanSaveMem = graphRewriter({
  name: "scan_save_mem",
  tags: ["scan"],
  apply(fg: FunctionGraph, ctx) {
    for (const node of fg.toposort()) {
      if (!(node.op instanceof Scan) || !fg.nodes.has(node)) continue;
      const s = partsOf(node);
      const nS = s.states.length;
      const reads = node.outputs.map((o, k) => ((k < nS ? s.states[k]!.keep : s.nits[k - nS]!.keep) > 0 ? null : lastRowsRead(fg, o)));
      // Outputs nothing reads leave the loop: map-like ones always, states when no output that
      // stays reads their taps (the gradient of a sequence nobody asked for, a dead accumulator).
      const read = node.outputs.map((o) => (fg.clients.get(o)?.length ?? 0) > 0);
      const live = [...read];
      for (let grew = true; grew; ) {
        grew = false;
        const kept = [...s.states.filter((_st, i) => live[i]).map((x) => x.out), ...s.nits.filter((_n, j) => live[nS + j]).map((x) => x.out), ...(s.until ? [s.until] : [])];
        const needed = new Set(ancestors(kept));
        s.states.forEach((st, i) => {
          if (!live[i] && st.inner.some((v) => needed.has(v))) grew = live[i] = true;
        });
      }
      // A state the loop needs but nothing outside reads keeps only the rows its taps reach.
      const inner = s.states.flatMap((st, i) => (live[i] && !read[i] && st.keep === 0 ? [i] : []));
      if (reads.every((r) => r === null) && live.every((l) => l) && inner.length === 0) continue;
      for (const i of inner) s.states[i] = { ...s.states[i]!, keep: 1 };
      reads.forEach((r, k) => {
        if (!r) return;
        if (k < nS) s.states[k] = { ...s.states[k]!, keep: r.rows };
        else s.nits[k - nS] = { ...s.nits[k - nS]!, keep: r.rows };
      });
      s.states = s.states.filter((_st, i) => live[i]);
      s.nits = s.nits.filter((_n, j) => live[nS + j]);
      const m = buildScan(s);
      const at = live.map((_l, k) => live.slice(0, k).filter((x) => x).length); // old output -> new index
      const pairs: Array<[Variable, Variable]> = node.outputs.flatMap((o, k) => {
        if (!live[k]) return [];
        const r = reads[k];
        const nv = m.outputs[at[k]!]!;
        return r ? r.rebuild.map(([old, make]) => [old, make(nv)] as [Variable, Variable]) : [[o, nv] as [Variable, Variable]];
      });
      ctx.replace(fg, pairs, "scan_save_mem");
    }
  },
});

optdb.register(scanSubsume, { position: 0.1, tags: ["fast_run", "fast_compile"] });
optdb.register(scanPushoutNonSeqs, { position: 0.5, tags: ["fast_run"] });
optdb.register(scanPushoutSeqs, { position: 0.5, tags: ["fast_run"] });
optdb.register(scanPushoutAdd, { position: 0.51, tags: ["fast_run"] });
optdb.register(scanPushoutOutput, { position: 0.52, tags: ["fast_run"] });
optdb.register(scanMerge, { position: 1.6, tags: ["fast_run"] });
optdb.register(scanSaveMem, { position: 1.61, tags: ["fast_run"] });
