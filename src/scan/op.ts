/**
 * The Scan op (Theano's `scan/op.py`): a loop whose body is an inner graph.
 *
 * Layout (Theano's, without mit-mot, which the gradient here does not need):
 * - outer inputs: `[nSteps, ...sequences, ...stateInits, ...nonSequences]`. Sequences are
 *   already sliced per tap (so each is read at row t of step t); a state's init holds exactly
 *   `k` rows, k the largest lag among its taps. A shared variable that fn updates is a state
 *   with taps [-1] (its update is the history's last row), so its gradient needs nothing more.
 * - inner inputs: one row per sequence, one value per state tap (states in order, taps as
 *   given), the non-sequences.
 * - inner outputs: each state's new value, each map-like ("nit-sot") output, then the `until`
 *   condition for while loops.
 * - outer outputs: each state's history `[k + steps, ...]` (init rows first), each map-like
 *   output `[steps, ...]`; or, where `info.keep` says so (src/rewriting/scan.ts,
 *   `scan_save_mem`), only the last rows of it.
 *
 * `perform` compiles the inner graph once per mode (src/scan/inner.ts) and runs it step by step,
 * writing into preallocated histories; it is the reference for every backend. The gradient is
 * backpropagation through time as another Scan (see `grad`).
 */

import { ShapeError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { isBigIntDType, isFloat } from "../ndarray/dtype.js";
import { NDArray, shapeSize } from "../ndarray/ndarray.js";
import { TensorType } from "../tensor/type.js";
import type { LoopInput, LoopOutput, LoopResult } from "../compile/function.js";
import * as math from "../tensor/math.js";
import { cast } from "../tensor/math.js";
import { shape } from "../tensor/shape.js";
import { type TensorVariable, constant } from "../tensor/variable.js";
import { scanGrad } from "./grad.js";
import { type HasInnerGraph, InnerGraph, emptyLike, firstRows, fmtShape, row, sameShape, writeRow } from "./inner.js";

export interface ScanInfo {
  readonly name: string;
  readonly nSeqs: number;
  /** Per state output: its taps (negative), in the order fn receives them. */
  readonly stateTaps: ReadonlyArray<readonly number[]>;
  readonly nNitSot: number;
  /** How each state is named in messages ("output 0", "shared variable acc"). */
  readonly stateLabels: readonly string[];
  readonly nNonSeqs: number;
  readonly asWhile: boolean;
  /** Backpropagate through at most this many steps (-1: all). */
  readonly truncateGradient: number;
  /** How each sequence input is described in messages ("sequence 0 (x), tap -1"). */
  readonly seqLabels: readonly string[];
  /**
   * Per outer output (states, then map-like outputs): how many of its last rows to keep, 0 for
   * all (the default). Set by the `scan_save_mem` rewrite when only the last rows are read; the
   * output is then those rows only, and the loop cycles through a buffer of that many rows
   * (at least the state's lag + 1, so a step never overwrites a row it reads).
   */
  readonly keep?: readonly number[];
}

let nextScanId = 1;

/** The largest lag of a state's taps: how many init rows it needs. */
export const lagOf = (taps: readonly number[]): number => Math.max(...taps.map((t) => -t));

export class Scan extends Op implements HasInnerGraph {
  readonly compilesInnerGraph = true as const;

  compileInnerGraphs(node: Apply): void {
    this.inner.fn(node);
  }
  readonly id = nextScanId++;
  /** The step graph, for debugprint's "Inner graphs" section. */
  override innerGraphs(): ReadonlyArray<{ readonly name: string; readonly outputs: readonly Variable[] }> {
    return [{ name: "step", outputs: this.innerOutputs }];
  }
  readonly inner: InnerGraph;

  constructor(
    readonly innerInputs: readonly Variable[],
    readonly innerOutputs: readonly Variable[],
    readonly info: ScanInfo,
  ) {
    super();
    this.inner = new InnerGraph(innerInputs, innerOutputs, `scan_fn(${info.name})`, true);
    // A while loop's length is known only after running it: no symbolic shapes then.
    if (info.asWhile) this.inferShape = undefined;
  }

  /** Each scan is its own operation: its inner graph is its identity. */
  override props(): Record<string, unknown> {
    return { name: this.info.name, id: this.id };
  }

  override toString(): string {
    return `Scan{${this.info.name}${this.info.asWhile ? ", while" : ""}}`;
  }

  get nStates(): number {
    return this.info.stateTaps.length;
  }

  makeNode(...inputs: Variable[]): Apply {
    const { nSeqs, nNitSot } = this.info;
    const nS = this.nStates;
    const stateInit = inputs.slice(1 + nSeqs, 1 + nSeqs + nS) as TensorVariable[];
    const outs = this.innerOutputs as TensorVariable[];
    const types = [
      ...stateInit.map((s) => new TensorType(s.dtype, [null, ...s.type.shape.slice(1)])),
      ...outs.slice(nS, nS + nNitSot).map((o) => new TensorType(o.dtype, [null, ...o.type.shape])),
    ];
    return new Apply(this, inputs, types);
  }

  perform(node: Apply, inputs: Value[], reuse?: ReadonlyArray<Value | undefined>): Value[] {
    const { name, nSeqs, stateTaps, stateLabels, nNitSot, asWhile } = this.info;
    const nS = this.nStates;
    const n = Number((inputs[0] as NDArray).getBig());
    if (!Number.isInteger(n) || n < 0) throw new ShapeError(`scan '${name}': nSteps is ${n}; the number of steps must be 0 or more`);
    const seqs = inputs.slice(1, 1 + nSeqs) as NDArray[];
    seqs.forEach((s, j) => {
      if (s.shape[0]! < n) {
        throw new ShapeError(`scan '${name}': nSteps (${n}) is larger than ${this.info.seqLabels[j]}, which has ${s.shape[0]} rows for that tap; give a smaller nSteps or a longer sequence`);
      }
    });
    const inits = inputs.slice(1 + nSeqs, 1 + nSeqs + nS) as NDArray[];
    const nonSeqs = inputs.slice(1 + nSeqs + nS);
    const lags = stateTaps.map(lagOf);
    const keep = this.info.keep ?? [];
    // Rows of each buffer: the whole history, or a ring of the rows scan_save_mem keeps.
    const sizes = [...lags.map((k, i) => (keep[i] ? Math.max(keep[i]!, k + 1) : k + n)), ...[...Array(nNitSot).keys()].map((j) => keep[nS + j] || n)];
    const bufs = inits.map((init, i) => {
      if (init.shape[0] !== lags[i]) {
        throw new ShapeError(`scan '${name}': ${stateLabels[i]} has taps [${stateTaps[i]!.join(", ")}], which reach ${lags[i]} steps back, but its initial value has ${init.shape[0]} rows (shape ${fmtShape(init.shape)}); give ${lags[i]} initial rows`);
      }
      const b = history(reuse?.[i], init.dtype, [sizes[i]!, ...init.shape.slice(1)], asWhile ? 0 : lags[i]! + n);
      for (let r = 0; r < lags[i]!; r++) writeRow(b, r % sizes[i]!, row(init, r));
      return b;
    });
    const rowShapes = inits.map((b) => b.shape.slice(1));
    const nitTypes = node.outputs.slice(nS, nS + nNitSot).map((o) => o.type as TensorType);
    let nits: Array<NDArray | null> = nitTypes.map(() => null);
    const f = this.inner.fn(node);
    // Each step's results are copied into the histories before the next step: the raw call
    // (no defensive copies of results that alias an input or a constant) is enough.
    const raw = f.callRaw;
    /** Step t through the compiled function; true when a while loop's condition ends it. */
    const hostStep = (t: number): boolean => {
      const args: Value[] = seqs.map((s) => row(s, t));
      stateTaps.forEach((taps, i) => taps.forEach((tap) => args.push(row(bufs[i]!, (lags[i]! + t + tap) % sizes[i]!))));
      args.push(...nonSeqs);
      const outs = raw ? raw(args) : f(...args);
      for (let i = 0; i < nS; i++) {
        const o = outs[i]!;
        if (!sameShape(o.shape, rowShapes[i]!)) {
          throw new ShapeError(`scan '${name}': at step ${t}, ${stateLabels[i]} has shape ${fmtShape(o.shape)} but its initial value's rows have shape ${fmtShape(rowShapes[i]!)}; a state must keep its shape from step to step`);
        }
        writeRow(bufs[i]!, (lags[i]! + t) % sizes[i]!, o);
      }
      for (let j = 0; j < nNitSot; j++) {
        const o = outs[nS + j]!;
        let b = nits[j];
        if (!b) nits[j] = b = history(reuse?.[nS + j], o.dtype, [sizes[nS + j]!, ...o.shape], asWhile ? 0 : n);
        else if (!sameShape(o.shape, b.shape.slice(1))) {
          throw new ShapeError(`scan '${name}': at step ${t}, output ${nS + j} has shape ${fmtShape(o.shape)} but had ${fmtShape(b.shape.slice(1))} at step 0; every step must give the same shape`);
        }
        writeRow(b, t % sizes[nS + j]!, o);
      }
      return asWhile && truthy(outs[nS + nNitSot]!);
    };
    // The backend's native loop (the C backend's, when the body is one C segment): steps 1..n-1
    // in one call once step 0 has run here (it checks the arguments and sizes the map-like
    // outputs). A step it cannot finish runs here again, which raises what the host path raises.
    let native = f.stepLoop;
    const nativeSteps = (t0: number): LoopResult | null => {
      const ins: LoopInput[] = seqs.map((s) => ({ kind: "seq", value: row(s, 0), step: s.strides[0]! }));
      stateTaps.forEach((taps, i) => {
        const b = bufs[i]!;
        const rowElems = shapeSize(rowShapes[i]!);
        taps.forEach((tap) => ins.push({ kind: "ring", value: row(b, 0), base: b.offset, rowElems, rows: sizes[i]!, first: lags[i]! + tap }));
      });
      for (const v of nonSeqs) ins.push({ kind: "fixed", value: v });
      const outs: LoopOutput[] = bufs.map((b, i) => ({ kind: "ring", buffer: b, rows: sizes[i]!, first: lags[i]!, rowShape: rowShapes[i]! }));
      nits.forEach((b, j) => outs.push({ kind: "ring", buffer: b!, rows: sizes[nS + j]!, first: 0, rowShape: b!.shape.slice(1) }));
      if (asWhile) outs.push({ kind: "until", rowShape: [] });
      return native!.run(ins, outs, t0, n);
    };
    let steps = n;
    for (let t = 0; t < n; ) {
      if (hostStep(t)) {
        steps = t + 1;
        break;
      }
      t++;
      if (!native || t >= n) continue;
      const r = nativeSteps(t);
      if (r === null) native = undefined;
      else if (r.status === "until") {
        steps = r.next;
        break;
      } else {
        t = r.next;
        // a failed step runs on the host (and raises there); the loop is not asked again
        if (r.status === "failed") native = undefined;
      }
    }
    if (n === 0) nits = this.emptyNitSots(node, seqs, inits, nonSeqs);
    const states = bufs.map((b, i) => (keep[i] ? lastRows(b, lags[i]! + steps, keep[i]!) : steps < n ? firstRows(b, lags[i]! + steps) : b));
    const nitOut = nits.map((b, j) => (n === 0 ? b! : keep[nS + j] ? lastRows(b!, steps, keep[nS + j]!) : steps < n ? firstRows(b!, steps) : b!));
    return [...states, ...nitOut];
  }

  /**
   * Map-like outputs of a loop that ran 0 times: `[0, ...rowShape]`, the row shape from the
   * inner graph's output types where they are static, else from one trial step on zeros (its
   * values are discarded; a trial that fails leaves the unknown sizes at 0).
   */
  private emptyNitSots(node: Apply, seqs: NDArray[], inits: NDArray[], nonSeqs: Value[]): NDArray[] {
    const { nNitSot } = this.info;
    const nS = this.nStates;
    const types = this.innerOutputs.slice(nS, nS + nNitSot).map((o) => o.type as TensorType);
    let trial: NDArray[] | null = null;
    if (types.some((t) => t.shape.some((d) => d === null))) {
      try {
        const args: Value[] = seqs.map((s) => emptyLike(s.dtype, s.shape.slice(1)));
        this.info.stateTaps.forEach((taps, i) => taps.forEach(() => args.push(emptyLike(inits[i]!.dtype, inits[i]!.shape.slice(1)))));
        args.push(...nonSeqs);
        trial = this.inner.fn(node)(...args);
      } catch {
        trial = null;
      }
    }
    return types.map((t, j) => emptyLike(t.dtype, [0, ...(trial ? trial[nS + j]!.shape : t.shape.map((d) => d ?? 0))]));
  }

  override inferShape?(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    const { nSeqs } = this.info;
    const nS = this.nStates;
    const n = node.inputs[0]!;
    const keep = this.info.keep ?? [];
    const kept = (rows: Variable, k: number): Variable => (keep[k] ? math.minimum(rows as TensorVariable, constant(keep[k]!, { dtype: (rows as TensorVariable).dtype })) : rows);
    return node.outputs.map((o, k) => {
      if (k < nS) {
        const s = shapes[1 + nSeqs + k]!;
        return [kept(addInt(s[0]!, n), k), ...s.slice(1)];
      }
      return [kept(n, k), ...shapeTail(o as TensorVariable)];
    });
  }

  /**
   * Backpropagation through time (Theano's `Scan.L_op`), as another Scan running backwards.
   * Step t of the backward loop (t = n-1 down to 0) gets the forward step's inputs, the
   * external gradient of its outputs, and for each state the gradient already accumulated from
   * later steps that read it through a tap; it gives the gradient of the step's sequence rows
   * (stacked), of the non-sequences (summed in an accumulator), and passes on the contributions
   * to earlier states (a shift register of k accumulators per state with lag k). After the
   * loop, those accumulators hold the gradient of the initial values.
   */
  override grad(inputs: Variable[], outputGrads: Variable[], outputs: Variable[]): GradResult[] {
    return scanGrad(this, inputs, outputGrads, outputs);
  }
}

/**
 * The last min(keep, total) rows of a history of `total` rows held in the ring `buf` (history row
 * r at buffer row r % size), in order, copied.
 */
/**
 * A history buffer of `shape`: the previous call's (`reuse`, allow_gc=False) when it has exactly
 * this dtype and layout, else fresh memory. Rows the steps will not write (`written` < rows: a
 * short loop, a while loop) are zeroed, as fresh memory is.
 */
function history(prev: Value | undefined, dtype: NDArray["dtype"], shape: readonly number[], written: number): NDArray {
  if (prev instanceof NDArray && prev.dtype === dtype && prev.offset === 0 && prev.isContiguous && sameShape(prev.shape, shape) && prev.data.length === shapeSize(shape)) {
    if (written < shape[0]!) prev.data.fill((isBigIntDType(dtype) ? 0n : 0) as never);
    return prev;
  }
  return emptyLike(dtype, shape);
}

function lastRows(buf: NDArray, total: number, keep: number): NDArray {
  const size = buf.shape[0]!;
  const m = Math.min(keep, total);
  const out = emptyLike(buf.dtype, [m, ...buf.shape.slice(1)]);
  for (let r = 0; r < m; r++) writeRow(out, r, row(buf, (total - m + r) % size));
  return out;
}

function truthy(v: NDArray): boolean {
  if (v.size !== 1) throw new ShapeError(`scan: the until condition must be a scalar, got shape ${fmtShape(v.shape)}`);
  const x = v.toFlat()[0]!;
  return typeof x === "bigint" ? x !== 0n : x !== 0;
}

const addInt = (a: Variable, b: Variable): Variable => math.add(a as TensorVariable, cast(b as TensorVariable, (a as TensorVariable).dtype));
const shapeTail = (v: TensorVariable): Variable[] => [...Array(v.ndim - 1).keys()].map((d) => shape(v, d + 1));

export const isFloatVar = (v: Variable): boolean => v.type instanceof TensorType && isFloat(v.type.dtype);
