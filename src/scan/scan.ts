/**
 * `theano.scan` and its relatives `map`, `reduce`, `foldl`, `foldr`, `scanUntil` (Theano's
 * `scan/basic.py`, API.md §8).
 *
 * `scan` calls the user's `fn` once on fresh symbolic variables (one per sequence tap, per
 * output tap, per non-sequence), collects what it returns (outputs, shared-variable updates, an
 * until condition), finds the free variables the body uses that are not arguments (shared
 * variables and outer variables, as Theano does) and makes them inputs, checks every type, and
 * builds one Scan node (src/scan/op.ts). Errors name the scan, the argument and the fix.
 */

import { checkOptions } from "../compile/options.js";
import { SharedVariable } from "../compile/shared.js";
import { InputError, ShapeError, TypeMismatchError } from "../errors.js";
import { Variable, cloneGraph, graphInputs } from "../graph/basic.js";
import { dimshuffle } from "../tensor/basic.js";
import * as math from "../tensor/math.js";
import { shape } from "../tensor/shape.js";
import { TensorType } from "../tensor/type.js";
import { TensorVariable, asTensorVariable, constantValue } from "../tensor/variable.js";
import { Scan, lagOf } from "./op.js";

/** A while-loop condition returned by `fn` (Theano's `until`): stop after the step where it holds. */
export class ScanUntil {
  constructor(readonly condition: TensorVariable) {}
}

/** `theano.scanUntil(cond)`: return it from `fn` to stop the loop after the step where cond is true. */
export function scanUntil(cond: unknown): ScanUntil {
  return new ScanUntil(asTensorVariable(cond));
}

export type SequenceSpec = TensorVariable | { input: TensorVariable; taps?: readonly number[] };
export type OutputSpec = TensorVariable | number | null | { initial: TensorVariable | number | null; taps?: readonly number[] };
export type ScanUpdates = Array<[SharedVariable, TensorVariable]>;
export type ScanOutputs = TensorVariable | TensorVariable[];

export interface ScanOptions {
  fn: (...args: TensorVariable[]) => unknown;
  sequences?: SequenceSpec | readonly SequenceSpec[];
  outputsInfo?: OutputSpec | readonly OutputSpec[];
  nonSequences?: TensorVariable | readonly TensorVariable[];
  nSteps?: number | TensorVariable;
  goBackwards?: boolean;
  truncateGradient?: number;
  strict?: boolean;
  name?: string;
}

const SCAN_OPTIONS = ["fn", "sequences", "outputsInfo", "nonSequences", "nSteps", "goBackwards", "truncateGradient", "strict", "name"] as const satisfies ReadonlyArray<keyof ScanOptions>;

const asList = <X>(x: X | readonly X[] | undefined): X[] => (x === undefined ? [] : Array.isArray(x) ? [...(x as X[])] : [x as X]);

const unknownRank = (dtype: TensorType["dtype"], ndim: number): TensorType => new TensorType(dtype, Array<null>(ndim).fill(null));

function checkTaps(where: string, taps: unknown, sign: "any" | "negative"): number[] {
  if (!Array.isArray(taps) || taps.length === 0 || taps.some((t) => !Number.isInteger(t))) {
    throw new InputError(`${where}: taps must be a non-empty list of integers, got ${JSON.stringify(taps)}`);
  }
  if (new Set(taps).size !== taps.length) throw new InputError(`${where}: taps ${JSON.stringify(taps)} repeat an entry`);
  if (sign === "negative" && taps.some((t: number) => t >= 0)) {
    throw new InputError(`${where}: the taps of an output must be negative (they read earlier steps), got ${JSON.stringify(taps)}`);
  }
  return taps as number[];
}

/** Splits what `fn` returned into outputs, updates and an until condition (any order, as Theano). */
function parseReturn(where: string, r: unknown): { outs: unknown[]; updates: Array<[SharedVariable, unknown]>; until: ScanUntil | null } {
  const outs: unknown[] = [];
  const updates: Array<[SharedVariable, unknown]> = [];
  let until: ScanUntil | null = null;
  const isPair = (x: unknown): x is [SharedVariable, unknown] => Array.isArray(x) && x.length === 2 && x[0] instanceof SharedVariable;
  const isPairList = (x: unknown): x is Array<[SharedVariable, unknown]> => Array.isArray(x) && x.length > 0 && x.every(isPair);
  const take = (x: unknown, top: boolean): void => {
    if (x instanceof ScanUntil) {
      if (until) throw new InputError(`${where}: fn returned two until conditions`);
      until = x;
    } else if (x instanceof Map) for (const [k, v] of x) updates.push([k as SharedVariable, v]);
    else if (isPair(x) && !top) updates.push(x);
    else if (isPairList(x)) updates.push(...x);
    else if (Array.isArray(x) && top) x.forEach((e) => take(e, false));
    else if (Array.isArray(x)) x.forEach((e) => outs.push(e));
    else if (x !== undefined && x !== null) outs.push(x);
  };
  if (isPairList(r)) updates.push(...r);
  else take(r, true);
  return { outs, updates, until };
}

/**
 * Theano's scan. Returns `[outputs, updates]`: one output as a variable, several as an array;
 * `updates` (pairs for `theano.function`'s `updates`) always.
 *
 * Errors, each naming the scan (`name`, default "scan") and the argument:
 * - InputError: unknown option, fn not a function, bad taps (not integers, repeated, an output
 *   tap that is not negative), neither sequences nor nSteps, `strict` with free variables;
 * - ShapeError: nSteps negative or larger than a sequence (at build time when both are known,
 *   else when the function runs), a sequence shorter than its tap span, an initial value with
 *   fewer rows than its taps reach back, a state whose shape changes between steps;
 * - TypeMismatchError: fn's outputs not matching outputsInfo in count, dtype or rank, a scalar
 *   sequence, a non-integer nSteps, a non-scalar until condition, an update of the wrong type.
 */
export function scan(opts: ScanOptions): [ScanOutputs, ScanUpdates] {
  checkOptions("theano.scan", opts, SCAN_OPTIONS);
  if (typeof opts?.fn !== "function") throw new InputError(`theano.scan: fn must be a function, got ${String(opts?.fn)}`);
  const name = opts.name ?? "scan";
  const where = `scan '${name}'`;
  const truncate = opts.truncateGradient ?? -1;
  if (!Number.isInteger(truncate) || (truncate < 1 && truncate !== -1)) throw new InputError(`${where}: truncateGradient must be a positive integer or -1 (no truncation), got ${truncate}`);

  // --- sequences: one outer slice and one inner row per tap -------------------------------------
  const seqOuter: TensorVariable[] = [];
  const seqInner: TensorVariable[] = [];
  const seqLabels: string[] = [];
  asList(opts.sequences).forEach((spec, i) => {
    const rec = spec instanceof Variable || !(spec && typeof spec === "object" && "input" in spec) ? { input: spec as unknown, taps: [0] } : spec;
    const x = asTensorVariable(rec.input);
    if (x.ndim < 1) throw new TypeMismatchError(`${where}: sequence ${i} (${x.label}) is a scalar (${x.type}); a sequence needs at least one dimension to iterate over`);
    const taps = checkTaps(`${where}, sequence ${i}`, rec.taps ?? [0], "any");
    const lo = Math.min(...taps);
    const hi = Math.max(...taps);
    const len = x.type.shape[0];
    if (len !== null && len !== undefined && len <= hi - lo) {
      throw new ShapeError(`${where}: sequence ${i} (${x.label}) has ${len} rows but its taps [${taps.join(", ")}] span ${hi - lo + 1}; it gives no step`);
    }
    for (const tap of taps) {
      const start = tap - lo;
      const stop = hi - tap;
      let sl = x.get(`${start}:${stop > 0 ? -stop : ""}`);
      if (opts.goBackwards) sl = sl.get("::-1");
      seqOuter.push(sl);
      seqInner.push(new TensorType(x.dtype, x.type.shape.slice(1)).makeVariable(`${x.name ?? `seq${i}`}[t${tap >= 0 ? "+" : ""}${tap}]`) as TensorVariable);
      seqLabels.push(`sequence ${i} (${x.label}) at tap ${tap}`);
    }
  });

  // --- outputs: states (with taps) and map-like outputs -----------------------------------------
  type OutKind = { kind: "state"; init: TensorVariable; taps: number[]; inner: TensorVariable[] } | { kind: "nit" };
  const outKinds: OutKind[] = asList(opts.outputsInfo as OutputSpec | OutputSpec[]).map((spec, i) => {
    if (spec === null || spec === undefined) return { kind: "nit" };
    const rec = spec instanceof Variable || typeof spec !== "object" ? { initial: spec, taps: [-1] } : spec;
    if (rec.initial === null || rec.initial === undefined) return { kind: "nit" };
    const taps = checkTaps(`${where}, outputsInfo[${i}]`, rec.taps ?? [-1], "negative");
    const initial = asTensorVariable(rec.initial);
    const lag = lagOf(taps);
    // Theano: with taps [-1] the initial value is the state itself, else it stacks `lag` rows.
    const plain = taps.length === 1 && taps[0] === -1;
    let init: TensorVariable;
    if (plain) init = dimshuffle(initial, ["x", ...[...Array(initial.ndim).keys()]]);
    else {
      if (initial.ndim < 1) throw new TypeMismatchError(`${where}: outputsInfo[${i}] has taps [${taps.join(", ")}], so its initial value needs one leading row per step back (${lag} rows), but ${initial.label} is a scalar`);
      const rows = initial.type.shape[0];
      if (rows !== null && rows !== undefined && rows < lag) {
        throw new ShapeError(`${where}: outputsInfo[${i}] has taps [${taps.join(", ")}], which reach ${lag} steps before the start, but its initial value has only ${rows} rows`);
      }
      init = initial.get(`:${lag}`);
    }
    const rowType = unknownRank(init.dtype, init.ndim - 1);
    const inner = taps.map((tap) => rowType.makeVariable(`${initial.name ?? `out${i}`}[t${tap}]`) as TensorVariable);
    return { kind: "state", init, taps, inner };
  });

  const nonSeqOuter = asList(opts.nonSequences).map((v) => asTensorVariable(v));
  const nonSeqInner = nonSeqOuter.map((v) => v.type.makeVariable(v.name) as TensorVariable);

  // --- the number of steps ----------------------------------------------------------------------
  let nSteps: TensorVariable;
  if (opts.nSteps !== undefined && opts.nSteps !== null) {
    const ns = asTensorVariable(opts.nSteps);
    if (ns.ndim !== 0 || !/int/.test(ns.dtype)) throw new TypeMismatchError(`${where}: nSteps must be an integer scalar, got ${ns.type}`);
    const c = constantValue(ns);
    if (c) {
      const k = Number(c.getBig());
      if (k < 0) throw new ShapeError(`${where}: nSteps is ${k}; the number of steps must be 0 or more`);
      seqOuter.forEach((s, j) => {
        const len = s.type.shape[0];
        if (len !== null && len !== undefined && len < k) throw new ShapeError(`${where}: nSteps (${k}) is larger than ${seqLabels[j]}, which has ${len} rows for that tap`);
      });
    }
    nSteps = math.cast(ns, "int64");
  } else if (seqOuter.length > 0) {
    nSteps = seqOuter.map((s) => shape(s, 0)).reduce((a, b) => math.minimum(a, b));
  } else {
    throw new InputError(`${where}: give sequences or nSteps; without either the number of steps is unknown`);
  }

  // --- call fn ----------------------------------------------------------------------------------
  const states = outKinds.filter((o): o is Extract<OutKind, { kind: "state" }> => o.kind === "state");
  const outArgs = outKinds.flatMap((o) => (o.kind === "state" ? o.inner : []));
  const returned = opts.fn(...seqInner, ...outArgs, ...nonSeqInner);
  const parsed = parseReturn(where, returned);
  const outs = parsed.outs.map((o, k) => {
    try {
      return asTensorVariable(o);
    } catch {
      throw new TypeMismatchError(`${where}: fn's output ${k} is ${String(o)}, not a symbolic tensor`);
    }
  });
  if (outKinds.length > 0 && outs.length !== outKinds.length) {
    throw new TypeMismatchError(`${where}: fn returned ${outs.length} output${outs.length === 1 ? "" : "s"} but outputsInfo has ${outKinds.length} entr${outKinds.length === 1 ? "y" : "ies"}; give one outputsInfo entry per output (null for outputs that are not fed back)`);
  }
  const kinds: OutKind[] = outKinds.length > 0 ? outKinds : outs.map(() => ({ kind: "nit" }));
  kinds.forEach((k, i) => {
    if (k.kind !== "state") return;
    const o = outs[i]!;
    const want = k.inner[0]!.type;
    if (o.dtype !== want.dtype || o.ndim !== want.ndim) {
      throw new TypeMismatchError(
        `${where}: output ${i} of fn has type ${o.type} but outputsInfo[${i}] (its initial value) gives ${new TensorType(want.dtype, k.init.type.shape.slice(1))}; ` +
          `they must agree in dtype and rank: cast the output with T.cast(out, "${want.dtype}") (or the initial value), and give both the same rank`,
      );
    }
  });
  const until = parsed.until?.condition ?? null;
  if (until && until.ndim !== 0) throw new TypeMismatchError(`${where}: the until condition must be a scalar, got ${until.type}; reduce it (e.g. with .all() or .any())`);
  const updates = parsed.updates.map(([s, e], k) => {
    const v = asTensorVariable(e);
    const t = s.type as TensorType;
    if (v.dtype !== t.dtype || v.ndim !== t.ndim) {
      throw new TypeMismatchError(`${where}: update ${k} of shared variable ${s.label} (${t}) has type ${v.type}; cast it with T.cast(value, "${t.dtype}") and give it rank ${t.ndim}`);
    }
    return [s, v] as const;
  });
  // Random draws in the body (Theano's default_update): a shared variable the body reads that
  // carries a defaultUpdate (a RandomStreams state) and no explicit update is updated with it
  // every step, and the update is returned, so each step (and each call) draws anew.
  for (let grew = true; grew; ) {
    grew = false;
    for (const v of graphInputs([...outs, ...updates.map(([, e]) => e), ...(until ? [until] : [])])) {
      if (!(v instanceof SharedVariable) || v.defaultUpdate === null || updates.some(([s]) => s === v)) continue;
      updates.push([v, v.defaultUpdate as TensorVariable] as const);
      grew = true;
    }
  }

  // --- free variables of the body become inputs -------------------------------------------------
  // A shared variable fn updates is one more state with taps [-1]: its value at each step is
  // the state, its update the next row, its final value the history's last row (so its gradient
  // is that of any state). Theano carries it the same way.
  const stateOuts = kinds.flatMap((k, i) => (k.kind === "state" ? [outs[i]!] : []));
  const nitOuts = kinds.flatMap((k, i) => (k.kind === "nit" ? [outs[i]!] : []));
  const updated = updates.map(([s]) => s);
  const sharedInner = updated.map((s) => unknownRank((s.type as TensorType).dtype, (s.type as TensorType).ndim).makeVariable(s.name) as TensorVariable);
  const innerOuts: Variable[] = [...stateOuts, ...updates.map(([, v]) => v), ...nitOuts, ...(until ? [until] : [])];
  const args = new Set<Variable>([...seqInner, ...outArgs, ...nonSeqInner]);
  const free = graphInputs(innerOuts).filter((v) => !args.has(v) && !updated.includes(v as SharedVariable));
  if (opts.strict && free.length > 0) {
    throw new InputError(`${where}: strict is set but fn uses ${free.map((v) => v.label).join(", ")} without receiving ${free.length === 1 ? "it" : "them"}; pass ${free.length === 1 ? "it" : "them"} in nonSequences`);
  }
  const freeInner = free.map((v) => v.type.makeVariable(v.name) as TensorVariable);
  const replace = new Map<Variable, Variable>([...updated.map((s, k) => [s, sharedInner[k]!] as const), ...free.map((v, k) => [v, freeInner[k]!] as const)]);
  const memo = cloneGraph([], innerOuts, { replace });
  const innerOutsCloned = innerOuts.map((o) => memo.get(o) ?? o);

  const nS = states.length + updated.length;
  const op = new Scan([...seqInner, ...outArgs, ...sharedInner, ...nonSeqInner, ...freeInner], innerOutsCloned, {
    name,
    nSeqs: seqOuter.length,
    stateTaps: [...states.map((s) => s.taps), ...updated.map(() => [-1])],
    stateLabels: [...kinds.flatMap((k, i) => (k.kind === "state" ? [`output ${i}`] : [])), ...updated.map((s) => `shared variable ${s.label}`)],
    nNitSot: nitOuts.length,
    nNonSeqs: nonSeqOuter.length + free.length,
    asWhile: until !== null,
    truncateGradient: truncate,
    seqLabels,
  });
  const sharedInit = updated.map((s) => dimshuffle(s as unknown as TensorVariable, ["x", ...[...Array((s.type as TensorType).ndim).keys()]]));
  const node = op.makeNode(nSteps, ...seqOuter, ...states.map((s) => s.init), ...sharedInit, ...nonSeqOuter, ...free);
  let si = 0;
  let ni = 0;
  const results = kinds.map((k) => {
    if (k.kind === "state") {
      const buf = node.outputs[si++] as TensorVariable;
      return buf.get(`${lagOf(k.taps)}:`);
    }
    return node.outputs[nS + ni++] as TensorVariable;
  });
  results.forEach((r, i) => (r.name = `${name}.out${i}`));
  const scanUpdates: ScanUpdates = updated.map((s, k) => [s, (node.outputs[states.length + k] as TensorVariable).get(-1)]);
  return [results.length === 1 ? results[0]! : results, scanUpdates];
}

/**
 * The last value of a scan output: for a state, the last row of its whole history (init rows
 * included), so a loop of 0 steps gives the last initial value (a fold of nothing is its start);
 * for a map-like output, its last row.
 */
export function lastValue(o: TensorVariable): TensorVariable {
  const buf = o.owner?.inputs[0];
  return buf?.owner?.op instanceof Scan && buf.index < (buf.owner.op as Scan).nStates ? (buf as TensorVariable).get(-1) : o.get(-1);
}

/** Theano's `map`: fn applied to each row of the sequences. Returns `[outputs, updates]`. */
export function map(fn: ScanOptions["fn"], sequences: ScanOptions["sequences"], nonSequences?: ScanOptions["nonSequences"], opts: { goBackwards?: boolean; name?: string } = {}): [ScanOutputs, ScanUpdates] {
  return scan({ fn, sequences, nonSequences, goBackwards: opts.goBackwards ?? false, name: opts.name ?? "map" });
}

/** Theano's `reduce`: a scan keeping only the last value of each output. */
export function reduce(fn: ScanOptions["fn"], sequences: ScanOptions["sequences"], outputsInfo: ScanOptions["outputsInfo"], nonSequences?: ScanOptions["nonSequences"], opts: { goBackwards?: boolean; name?: string } = {}): [ScanOutputs, ScanUpdates] {
  const [outs, updates] = scan({ fn, sequences, outputsInfo, nonSequences, goBackwards: opts.goBackwards ?? false, name: opts.name ?? "reduce" });
  return [Array.isArray(outs) ? outs.map(lastValue) : lastValue(outs), updates];
}

/** Theano's `foldl`: reduce from the first row to the last. */
export function foldl(fn: ScanOptions["fn"], sequences: ScanOptions["sequences"], outputsInfo: ScanOptions["outputsInfo"], nonSequences?: ScanOptions["nonSequences"]): [ScanOutputs, ScanUpdates] {
  return reduce(fn, sequences, outputsInfo, nonSequences, { name: "foldl" });
}

/** Theano's `foldr`: reduce from the last row to the first. */
export function foldr(fn: ScanOptions["fn"], sequences: ScanOptions["sequences"], outputsInfo: ScanOptions["outputsInfo"], nonSequences?: ScanOptions["nonSequences"]): [ScanOutputs, ScanUpdates] {
  return reduce(fn, sequences, outputsInfo, nonSequences, { goBackwards: true, name: "foldr" });
}
