/**
 * `theano.function` (Theano's `compile/function/types.py`, API.md §6).
 *
 * Builds a FunctionGraph over the explicit inputs, the shared variables the outputs need
 * (implicit inputs) and the update expressions (extra outputs); runs the mode's rewrites;
 * hands the graph to a linker; and wraps the thunk in a callable that validates arguments,
 * never returns aliases unless asked (`Out(v, { borrow: true })`), and applies updates only
 * after every output is computed, so a call that throws leaves every shared variable as it was.
 *
 * That holds by construction, on every backend: a shared variable whose memory the compiled
 * graph may overwrite (an in-place update such as Gemm{inplace} into W) is never handed to the
 * thunk; it gets a copy in the container's spare buffer (`Container.lend`), and a successful call
 * commits by swapping buffers. A failing node, wherever it runs, can only spoil the copy. The cost
 * is one memcpy of each such variable per call (no allocation after the first call).
 */

import { ProfileStats } from "./profile.js";
import { config } from "../config/index.js";
import { InputError, MissingInputError, TheanoError, TypeMismatchError, UnusedInputError } from "../errors.js";
import { type Apply, type Variable, ancestors } from "../graph/basic.js";
import { DestroyHandler, overwrittenInputs } from "../graph/destroy.js";
import { FunctionGraph } from "../graph/fgraph.js";
import { withBuildBatch } from "../link/batch.js";
import type { MemoryPlan } from "../link/memory.js";
import { type ArrayLike, NDArray } from "../ndarray/ndarray.js";
import { specifyShape } from "../tensor/shape.js";
import { TensorType, formatStaticShape } from "../tensor/type.js";
import { TensorVariable, constant } from "../tensor/variable.js";
import { type Mode, type ModeName, getMode } from "./mode.js";
import { checkOptions } from "./options.js";
import { type Container, SharedVariable, expose } from "./shared.js";

/** An input with options (Theano's `In`); `theano.In(v, opts)` and `new theano.In(v, opts)` both work. */
class InRecord {
  readonly variable: Variable;
  readonly name: string | null;
  readonly value: NDArray | undefined;
  readonly update: Variable | undefined;
  readonly borrow: boolean;
  readonly mutable: boolean;
  readonly hasDefault: boolean;

  constructor(variable: Variable, opts: { value?: ArrayLike; name?: string; update?: Variable; borrow?: boolean; mutable?: boolean } = {}) {
    checkOptions("In()", opts, IN_OPTIONS);
    if (!(variable instanceof TensorVariable)) throw new TypeMismatchError(`In() takes a symbolic tensor, got ${String(variable)}`);
    this.variable = variable;
    this.name = opts.name ?? variable.name;
    this.hasDefault = opts.value !== undefined;
    this.value = opts.value !== undefined ? (variable.type as TensorType).filter(opts.value, { what: `default value of ${this.name ?? "input"}` }) : undefined;
    this.update = opts.update;
    this.borrow = opts.borrow ?? false;
    this.mutable = opts.mutable ?? false;
    if (this.update && !this.hasDefault) throw new InputError(`In(${this.name}) with an update needs a default value`);
  }
}

/** An output with options (Theano's `Out`); callable with or without `new`. */
class OutRecord {
  constructor(
    readonly variable: Variable,
    readonly opts: { borrow?: boolean } = {},
  ) {
    checkOptions("Out()", opts, OUT_OPTIONS);
  }

  get borrow(): boolean {
    return this.opts.borrow ?? false;
  }
}

type InOpts = ConstructorParameters<typeof InRecord>[1];

// The option keys each entry point accepts; anything else is an InputError (checkOptions).
const IN_OPTIONS = ["value", "name", "update", "borrow", "mutable"] as const satisfies ReadonlyArray<keyof NonNullable<InOpts>>;
const OUT_OPTIONS = ["borrow"] as const;
const FUNCTION_OPTIONS = ["updates", "givens", "mode", "profile", "name", "allowInputDowncast", "onUnusedInput", "noDefaultUpdates"] as const satisfies ReadonlyArray<keyof FunctionOptions>;
const COPY_OPTIONS = ["swap", "deleteUpdates", "name", "profile"] as const satisfies ReadonlyArray<keyof CopyOptions>;

/**
 * An internal option (a symbol key, so no user option can spell it): the function is a loop body
 * (src/scan/inner.ts), and its backend may give it a native loop over its steps (`f.stepLoop`,
 * Thunk.stepLoop). Not an option of the public API.
 */
export type { LoopInput, LoopOutput, LoopResult, StepLoop } from "../link/types.js";
export const STEP_LOOP: unique symbol = Symbol("theano-ts step loop");

// API.md spells them as calls (`theano.In(x, { value })`), Theano users also write `new`: a
// plain function that builds the record answers both, and sharing the prototype keeps
// `instanceof In` working.
export type In = InRecord;
export const In = function In(variable: Variable, opts?: InOpts): InRecord {
  return new InRecord(variable, opts);
} as unknown as { new (variable: Variable, opts?: InOpts): InRecord; (variable: Variable, opts?: InOpts): InRecord; prototype: InRecord };
In.prototype = InRecord.prototype;

export type Out = OutRecord;
export const Out = function Out(variable: Variable, opts?: { borrow?: boolean }): OutRecord {
  return new OutRecord(variable, opts);
} as unknown as { new (variable: Variable, opts?: { borrow?: boolean }): OutRecord; (variable: Variable, opts?: { borrow?: boolean }): OutRecord; prototype: OutRecord };
Out.prototype = OutRecord.prototype;

export type UpdatesLike = ReadonlyArray<readonly [SharedVariable, Variable | ArrayLike]> | ReadonlyMap<SharedVariable, Variable | ArrayLike>;
export type GivensLike = ReadonlyArray<readonly [Variable, Variable | ArrayLike]> | ReadonlyMap<Variable, Variable | ArrayLike>;

export interface FunctionOptions {
  updates?: UpdatesLike;
  givens?: GivensLike;
  mode?: ModeName | Mode;
  profile?: boolean;
  name?: string;
  allowInputDowncast?: boolean;
  onUnusedInput?: "raise" | "warn" | "ignore";
  /** Skip the shared variables' `defaultUpdate`s (Theano's no_default_updates). */
  noDefaultUpdates?: boolean;
}

export interface TheanoFunction<R> {
  (...args: unknown[]): R;
  readonly name: string;
  readonly inputs: readonly In[];
  readonly outputs: readonly Out[];
  readonly fgraph: FunctionGraph;
  readonly mode: Mode;
  /** The profile of a function compiled with `profile` (option or flag), else undefined (API.md §10). */
  readonly profile: ProfileStats | undefined;
  /**
   * Memory of the results (not the inputs): `staticPeakBytes` planned from static shapes (null
   * when some size is only known at run time), `lastPeakBytes` measured during the last call.
   */
  readonly memoryPlan: MemoryPlan | undefined;
  /** Releases compiled code and buffers. */
  free(): void;
  /**
   * A new function compiled from the same graph (Theano's `Function.copy`): `swap` replaces
   * shared variables (their reads and their updates), `deleteUpdates` drops every update (of
   * shared variables and of `In(..., { update })` inputs) while keeping the call signature.
   * Random streams' states are shared variables: a copy advances the same streams as the
   * original (Theano's default) unless it swaps them (`swap: srng.swapStates()`).
   */
  copy(opts?: CopyOptions): TheanoFunction<R>;
}

export interface CopyOptions {
  /** Shared variables to use instead of the original's (same type); also a list of pairs. */
  swap?: ReadonlyMap<SharedVariable, SharedVariable> | ReadonlyArray<readonly [SharedVariable, SharedVariable]>;
  /** Compile without any update: calling the copy changes no shared variable. */
  deleteUpdates?: boolean;
  /** The copy's name (default: the original's). */
  name?: string;
  /** Profile the copy (default: as the original). */
  profile?: boolean;
}

type OutputsArg = Variable | Out | ReadonlyArray<Variable | Out>;

/** The warning channel lives in errors.ts (a leaf every stage may import); re-exported here. */
import { warn } from "../errors.js";
export { warn };

const asOut = (o: Variable | Out): Out => (o instanceof Out ? o : new Out(o));

/**
 * An update expression checked against the variable it updates: same dtype and rank, and a
 * static shape that does not contradict it; where the target knows a size the expression does
 * not, a SpecifyShape checks it at run time (before any update is applied).
 */
function fitUpdate(what: string, target: Variable, e: Variable): Variable {
  const t = target.type as TensorType;
  if (!(e.type instanceof TensorType) || e.type.dtype !== t.dtype || e.type.ndim !== t.ndim) {
    throw new TypeMismatchError(
      `${what} (${t}) has type ${e.type}; cast it with .astype("${t.dtype}")` + (e.type instanceof TensorType && e.type.ndim !== t.ndim ? ` and give it rank ${t.ndim}` : ""),
    );
  }
  return fitStaticShape(what, t, e as TensorVariable);
}

function fitStaticShape(what: string, t: TensorType, e: TensorVariable): Variable {
  const es = e.type.shape;
  if (t.shape.some((d, i) => d !== null && es[i] !== null && es[i] !== d)) {
    throw new TypeMismatchError(`${what}: static shape ${formatStaticShape(es)} contradicts ${t}; the two must describe the same values`);
  }
  return t.shape.some((d, i) => d !== null && es[i] === null) ? specifyShape(e, t.shape) : e;
}

function isNamedArgs(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof NDArray) && !ArrayBuffer.isView(x);
}

export function function_<O extends OutputsArg>(
  inputsArg: ReadonlyArray<Variable | In>,
  outputsArg: O,
  opts: FunctionOptions = {},
): TheanoFunction<O extends ReadonlyArray<unknown> ? NDArray[] : NDArray> {
  if (!Array.isArray(inputsArg)) throw new InputError(`theano.function takes an array of input variables first, got ${String(inputsArg)}`);
  checkOptions("theano.function", opts, FUNCTION_OPTIONS);
  const inputs = inputsArg.map((i) => (i instanceof In ? i : new In(i as Variable)));
  const single = !Array.isArray(outputsArg);
  const outputs = (single ? [outputsArg as Variable | Out] : (outputsArg as ReadonlyArray<Variable | Out>)).map(asOut);
  const mode = getMode(opts.mode);
  const name = opts.name ?? "theano_function";

  // Every explicit input once.
  const seen = new Set<Variable>();
  inputs.forEach((inp, k) => {
    if (seen.has(inp.variable)) throw new InputError(`input ${k} (${inp.variable.label}) is given twice in the inputs list`);
    if (inp.variable instanceof SharedVariable) throw new InputError(`input ${k} (${inp.variable.label}) is a shared variable; shared variables are implicit inputs, leave them out of the list`);
    if (inp.variable.owner) throw new InputError(`input ${k} (${inp.variable.label}) is computed by ${inp.variable.owner}; inputs must be free variables (use givens to substitute an expression)`);
    seen.add(inp.variable);
  });
  const names = new Map<string, number>();
  inputs.forEach((inp, k) => {
    if (inp.name !== null) {
      if (names.has(inp.name)) names.set(inp.name, -1);
      else names.set(inp.name, k);
    }
  });

  // Updates: shared -> expression of the same type.
  const updatePairs: Array<[SharedVariable, Variable]> = [];
  const updList = opts.updates ? (opts.updates instanceof Map ? [...opts.updates] : [...(opts.updates as ReadonlyArray<readonly [SharedVariable, Variable]>)]) : [];
  const updated = new Set<SharedVariable>();
  for (const [sv, expr] of updList) {
    if (!(sv instanceof SharedVariable)) throw new InputError(`updates: ${String((sv as Variable)?.label ?? sv)} is not a shared variable; only shared variables can be updated`);
    if (updated.has(sv)) throw new InputError(`updates: shared variable ${sv.label} is updated twice`);
    updated.add(sv);
    const e = expr instanceof TensorVariable ? expr : constant(expr as ArrayLike, { dtype: sv.type.dtype });
    updatePairs.push([sv, fitUpdate(`updates: the update of ${sv.label}`, sv, e)]);
  }
  // In(v, { value, update }): after each call the input's default becomes the update's value.
  const inputUpdatePairs: Array<[number, Variable]> = [];
  inputs.forEach((inp, k) => {
    if (!inp.update) return;
    const e = inp.update instanceof TensorVariable ? inp.update : constant(inp.update as unknown as ArrayLike, { dtype: (inp.variable.type as TensorType).dtype });
    inputUpdatePairs.push([k, fitUpdate(`In(${inp.name ?? inp.variable.label}): the update`, inp.variable, e)]);
  });

  // Givens.
  const givens = new Map<Variable, Variable>();
  const givenList = opts.givens ? (opts.givens instanceof Map ? [...opts.givens] : [...(opts.givens as ReadonlyArray<readonly [Variable, Variable]>)]) : [];
  for (const [k, v] of givenList) {
    const vv = v instanceof TensorVariable ? v : constant(v as ArrayLike, { dtype: (k.type as TensorType).dtype });
    if (!(k.type instanceof TensorType) || !(vv.type instanceof TensorType) || k.type.dtype !== vv.type.dtype || k.type.ndim !== vv.type.ndim) {
      throw new TypeMismatchError(`givens: ${k.label} (${k.type}) cannot be replaced by ${vv.label} (${vv.type}); types must match (cast the replacement)`);
    }
    givens.set(k, fitStaticShape(`givens: ${k.label}`, k.type, vv as TensorVariable));
  }

  // Default updates (Theano's default_update): a shared variable the graph reads that carries a
  // `defaultUpdate` (a random generator's state) is updated with it unless an explicit update
  // names it or `noDefaultUpdates` is set. A variable swapped in by givens (f.copy({ swap }))
  // takes the default update of the one it replaces. Repeated until no new one appears, since a
  // default update may read further shared variables.
  if (opts.noDefaultUpdates !== true) {
    const stopAt = new Set<Variable>([...inputs.map((i) => i.variable), ...givens.keys()]);
    const swappedFrom = new Map<Variable, SharedVariable>();
    for (const [k, v] of givens) if (k instanceof SharedVariable && v instanceof SharedVariable) swappedFrom.set(v, k);
    for (let grew = true; grew; ) {
      grew = false;
      const reached = new Set(ancestors([...outputs.map((o) => o.variable), ...updatePairs.map(([, e]) => e), ...givens.values()], stopAt));
      for (const v of reached) {
        const src = swappedFrom.get(v) ?? v;
        if (!(v instanceof SharedVariable) || !(src instanceof SharedVariable) || src.defaultUpdate === null || updated.has(v) || stopAt.has(v)) continue;
        // Only when the graph holds the node that makes the update: a state read by a Scan
        // whose body draws from it is advanced by scan's returned updates, not from outside.
        const maker = src.defaultUpdate.owner;
        if (maker && !maker.outputs.some((o) => reached.has(o))) continue;
        updated.add(v);
        updatePairs.push([v, fitUpdate(`the default update of ${v.label}`, v, src.defaultUpdate)]);
        grew = true;
      }
    }
  }

  const outVars = outputs.map((o) => o.variable);
  const updVars = [...updatePairs.map(([, e]) => e), ...inputUpdatePairs.map(([, e]) => e)];
  const roots = [...outVars, ...updVars, ...givens.values()];
  const explicit = inputs.map((i) => i.variable);
  const stop = new Set<Variable>([...explicit, ...givens.keys()]);
  const needed = ancestors(roots, stop);

  // Implicit inputs: shared variables the graph reads (or that are updated).
  const sharedVars: SharedVariable[] = [];
  const sharedSeen = new Set<SharedVariable>();
  for (const v of [...needed, ...updatePairs.map(([s]) => s)]) {
    if (v instanceof SharedVariable && !sharedSeen.has(v) && !stop.has(v)) {
      sharedSeen.add(v);
      sharedVars.push(v);
    }
  }
  for (const v of needed) {
    if (!v.owner && !v.isConstant && !stop.has(v) && !(v instanceof SharedVariable)) {
      const where = v.trace.where;
      throw new MissingInputError(
        `theano.function: the graph needs the variable ${v.label} (${v.type}), which is not in the inputs list` +
          (where ? ` (it was created at ${where})` : "") +
          `. Add it to the inputs, or give it a value with givens.`,
      );
    }
  }

  // Unused inputs.
  const onUnused = opts.onUnusedInput ?? "raise";
  const neededSet = new Set(ancestors(roots, new Set(givens.keys())));
  inputs.forEach((inp, k) => {
    if (!neededSet.has(inp.variable) && !inp.update) {
      const msg = `theano.function: input ${k} (${inp.variable.label}) is not used to compute any output; remove it, or pass onUnusedInput: "warn" or "ignore"`;
      if (onUnused === "raise") throw new UnusedInputError(msg);
      if (onUnused === "warn") warn(msg);
    }
  });

  const fgInputs = [...explicit, ...sharedVars];
  const fgraph = new FunctionGraph(fgInputs, [...outVars, ...updVars], { replace: givens });
  // In-place rewrites may overwrite an updated shared variable's value (its update replaces it
  // anyway) and inputs marked `mutable`; nothing else the caller can see (Theano's rule).
  const mutable = [
    ...inputs.flatMap((inp, k) => (inp.mutable ? [fgraph.inputs[k]!] : [])),
    ...sharedVars.flatMap((sv, k) => (updated.has(sv) ? [fgraph.inputs[inputs.length + k]!] : [])),
  ];
  fgraph.attachFeature(new DestroyHandler({ mutable }));
  const rewriteStart = performance.now();
  mode.rewrite(fgraph);
  const rewriteTime = performance.now() - rewriteStart;
  // The profiler (API.md §10): only a profiled function's backend times its nodes.
  const linker = mode.linker();
  const profiler = opts.profile ?? config.profile ? new ProfileStats(name, fgraph.toposort(), linker.name, config.profile_memory === true) : undefined;
  // Ops with inner graphs (src/scan: Scan, IfElse) compile them with this function's mode, and
  // profile them into this function's profile when it has one.
  const withInner: Apply[] = [];
  for (const node of fgraph.toposort()) {
    if (!(node.op as { compilesInnerGraph?: boolean }).compilesInnerGraph) continue;
    node.tag.outerMode = mode;
    if (profiler) node.tag.outerProfiler = profiler;
    withInner.push(node);
  }
  const linkStart = performance.now();
  // Inner graphs compile now, as Theano's do: their C modules are built here, not on the first
  // call, and an inner graph that cannot compile fails theano.function.
  // One build batch (src/link/cache.ts): the inner graphs' modules and this function's compile
  // at once, and all are loaded before theano.function returns.
  const loopBody = (opts as { [STEP_LOOP]?: boolean })[STEP_LOOP] === true && !profiler;
  const thunk = withBuildBatch(() => {
    for (const node of withInner) (node.op as unknown as { compileInnerGraphs(node: Apply): void }).compileInnerGraphs(node);
    return linker.make(fgraph, { borrowed: outputs.map((o) => o.borrow), name, ...(profiler ? { profiler } : {}), ...(loopBody ? { stepLoop: true } : {}) });
  });
  if (profiler) {
    profiler.rewriteMs = rewriteTime;
    profiler.linkMs = performance.now() - linkStart;
    profiler.link = thunk.linkStats ?? null;
    profiler.memoryPlan = thunk.memoryPlan ?? null;
    profiler.fgraph = fgraph;
    // With the flag, every profiled function reports at exit, as Theano does.
    if (config.profile) profiler.printAtExit();
  }

  const nOut = outputs.length;
  const containers: Container[] = sharedVars.map((s) => s.container);
  const allowDowncast = opts.allowInputDowncast;
  const defaults = inputs.map((i) => i.value);
  const inputTypes = inputs.map((i) => i.variable.type as TensorType);
  const updateTargets = updatePairs.map(([s]) => s.container);
  // Where each update target's current value sits in `values` (an in-place update returns it).
  const updateSlots = updatePairs.map(([s]) => inputs.length + sharedVars.indexOf(s));
  // Shared variables the thunk may write into: each call runs over a lent copy (see the header).
  const written = thunk.writes ?? overwrittenInputs(fgraph);
  const lentIdx = sharedVars.flatMap((_s, k) => (written.has(fgraph.inputs[inputs.length + k]!) ? [k] : []));
  const borrowedOut = outputs.flatMap((o, k) => (o.borrow ? [k] : []));
  const NONE: readonly NDArray[] = [];
  // Outputs must not alias the graph's constants either: mutating a result would change them.
  const constantBuffers = new Set<ArrayBufferLike>();
  for (const v of fgraph.variables) {
    const d = v.isConstant ? v.constantData : undefined;
    if (d instanceof NDArray) constantBuffers.add(d.data.buffer);
  }

  const describe = (k: number): string => {
    const nm = inputs[k]!.name;
    return `input ${k}${nm ? ` ('${nm}')` : ""}`;
  };

  // The filter options of each input, made once (a call on tiny arrays is mostly overhead).
  const filterOpts = inputs.map((_inp, k) => ({ allowDowncast, what: `${name}: ${describe(k)}` }));

  let freed = false;
  const call = (...args: unknown[]): unknown => {
    if (freed) throw new TheanoError(`${name} was freed with f.free(); compile it again to call it`);
    const nIn = inputs.length;
    if (args.length === nIn && (nIn === 0 || !isNamedArgs(args[nIn - 1]))) {
      // Every input given by position (the common call): no bookkeeping of what was given.
      const values: unknown[] = new Array(fgInputs.length);
      for (let k = 0; k < nIn; k++) values[k] = inputTypes[k]!.filter(args[k], filterOpts[k]);
      return runWith(values);
    }
    let named: Record<string, unknown> | undefined;
    if (args.length > 0 && isNamedArgs(args[args.length - 1])) named = args.pop() as Record<string, unknown>;
    if (args.length > inputs.length) {
      throw new InputError(`${name} takes ${inputs.length} argument(s) (${inputs.map((_, k) => describe(k)).join(", ")}), got ${args.length}`);
    }
    const given: Array<unknown> = new Array(inputs.length).fill(undefined);
    const have: boolean[] = new Array(inputs.length).fill(false);
    args.forEach((a, k) => {
      given[k] = a;
      have[k] = true;
    });
    if (named) {
      for (const [key, v] of Object.entries(named)) {
        const k = names.get(key);
        if (k === undefined) throw new InputError(`${name}: unknown argument name '${key}'; the named inputs are ${[...names.keys()].map((n) => `'${n}'`).join(", ") || "(none)"}`);
        if (k < 0) throw new InputError(`${name}: the name '${key}' is ambiguous (several inputs have it); pass it by position`);
        if (have[k]) throw new InputError(`${name}: ${describe(k)} is given both by position and by name`);
        given[k] = v;
        have[k] = true;
      }
    }
    const values: unknown[] = new Array(fgInputs.length);
    for (let k = 0; k < inputs.length; k++) {
      if (!have[k]) {
        if (defaults[k] === undefined) throw new InputError(`${name}: missing ${describe(k)} (${inputTypes[k]}); it has no default value`);
        defaults[k]!.checkLive(`${name}: default value of ${describe(k)}`); // its memory may have been detached since (issue 13.4)
        values[k] = defaults[k];
        continue;
      }
      values[k] = inputTypes[k]!.filter(given[k], filterOpts[k]);
    }
    return runWith(values);
  };

  /** Runs the thunk on `values` (the inputs filled in), adding the shared values. */
  const runWith = (values: unknown[]): unknown => {
    for (let k = 0; k < containers.length; k++) values[inputs.length + k] = containers[k]!.get();
    if (lentIdx.length === 0) return runAndCommit(values, NONE, NONE);
    const replaced = lentIdx.map((k) => values[inputs.length + k] as NDArray);
    const lent = lentIdx.map((k) => containers[k]!.lend());
    lentIdx.forEach((k, j) => (values[inputs.length + k] = lent[j]));
    try {
      return runAndCommit(values, replaced, lent);
    } catch (e) {
      // It threw before committing (nothing after the commit throws): it spoiled at most the
      // lent copies, which stay spares.
      lentIdx.forEach((k, j) => containers[k]!.settle(lent[j]!, false, null, constantBuffers));
      throw e;
    }
  };

  // Every result is memory of its own call (Thunk.freshOutputs), nothing is borrowed or lent:
  // no result can alias anything, so the checks below (which need each result's ArrayBuffer)
  // are skipped. This is most of what a call on tiny arrays costs (issue 15.5).
  const fresh = thunk.freshOutputs;
  const allFresh = fresh !== undefined && fgraph.outputs.every((_o, k) => fresh[k] === true) && borrowedOut.length === 0 && lentIdx.length === 0;

  const runAndCommit = (values: unknown[], replaced: readonly NDArray[], lent: readonly NDArray[]): unknown => {
    const results = thunk(values) as NDArray[];
    if (allFresh) {
      for (let k = 0; k < updateTargets.length; k++) updateTargets[k]!.value = results[nOut + k]!;
      for (let k = 0; k < inputUpdatePairs.length; k++) defaults[inputUpdatePairs[k]![0]] = results[nOut + updateTargets.length + k];
      return single ? results[0] : results.length === nOut ? results : results.slice(0, nOut);
    }

    // No aliasing unless borrowed: outputs vs inputs, shared storage and each other.
    const taken = new Set<ArrayBufferLike>(constantBuffers);
    for (const v of values) if (v instanceof NDArray) taken.add(v.data.buffer);
    const outVals: NDArray[] = new Array(nOut);
    for (let k = 0; k < nOut; k++) {
      let r = results[k]!;
      if (!outputs[k]!.borrow && taken.has(r.data.buffer)) r = r.copy();
      taken.add(r.data.buffer);
      outVals[k] = r;
    }
    // Updates, all at once, after every output exists.
    // (Each new value gets storage of its own: two updates never share a buffer.)
    const newVals = updVars.map((_, k) => {
      let r = results[nOut + k] as NDArray;
      // An update computed in place over its own shared value keeps that buffer, unless an
      // output or another input holds it too.
      const own = k < updateSlots.length ? (values[updateSlots[k]!] as NDArray) : null;
      const inPlace = own !== null && own.data.buffer === r.data.buffer && values.every((v, i) => i === updateSlots[k] || !(v instanceof NDArray) || v.data.buffer !== own.data.buffer);
      if (inPlace && !outVals.some((o) => o.data.buffer === r.data.buffer) && !constantBuffers.has(r.data.buffer)) {
        taken.add(r.data.buffer);
        return r;
      }
      if (taken.has(r.data.buffer)) r = r.copy();
      taken.add(r.data.buffer);
      return r;
    });
    // Commit: nothing below throws.
    updateTargets.forEach((c, k) => {
      c.value = newVals[k]!;
    });
    inputUpdatePairs.forEach(([i], k) => {
      defaults[i] = newVals[updateTargets.length + k];
    });
    for (const k of borrowedOut) expose(outVals[k]!);
    if (lentIdx.length > 0) {
      const kept = new Set<ArrayBufferLike>();
      for (const r of outVals) kept.add(r.data.buffer);
      for (const r of newVals) kept.add(r.data.buffer);
      lentIdx.forEach((k, j) => containers[k]!.settle(lent[j]!, kept.has(lent[j]!.data.buffer), replaced[j]!, taken));
    }
    return single ? outVals[0] : outVals;
  };

  // A profiled function also times each whole call (an unprofiled one runs `call` as it is).
  const profiledCall = (...args: unknown[]): unknown => {
    const start = profiler!.beginCall();
    try {
      return call(...args);
    } finally {
      profiler!.endCall(start);
    }
  };
  // For ops that run a compiled inner graph step by step (src/scan): one call's results as the
  // backend returns them. The inputs are checked as by `call`, but none of the result copies that
  // keep a caller's arrays apart are made (results may alias inputs, constants or each other): the
  // caller copies every result before it calls again. Only where nothing is committed (no shared
  // variable, no update, no mutable input).
  const callRaw =
    sharedVars.length === 0 && updVars.length === 0 && !inputs.some((i) => i.mutable)
      ? (args: readonly unknown[]): readonly NDArray[] => {
          if (freed || args.length !== inputs.length) return [call(...args)].flat() as NDArray[];
          const values: unknown[] = new Array(fgInputs.length);
          for (let k = 0; k < args.length; k++) values[k] = inputTypes[k]!.filter(args[k], filterOpts[k]);
          if (!profiler) return thunk(values) as NDArray[];
          const start = profiler.beginCall();
          try {
            return thunk(values) as NDArray[];
          } finally {
            profiler.endCall(start);
          }
        }
      : undefined;
  const f = (profiler ? profiledCall : call) as unknown as TheanoFunction<O extends ReadonlyArray<unknown> ? NDArray[] : NDArray>;
  Object.defineProperties(f, {
    callRaw: { value: callRaw },
    // The backend's native loop over this function's steps (see STEP_LOOP), where `callRaw` is
    // allowed: the same contract, many steps per call.
    // `scan.native_loop=False` turns it off (read at each run, so a flag change applies at once).
    stepLoop: { get: () => (callRaw && !profiler && config.scan.native_loop ? thunk.stepLoop : undefined) },
    name: { value: name },
    inputs: { value: Object.freeze(inputs) },
    outputs: { value: Object.freeze(outputs) },
    fgraph: { value: fgraph },
    memoryPlan: { get: () => thunk.memoryPlan },
    mode: { value: mode },
    profile: { value: profiler },
    free: {
      value: () => {
        freed = true;
        thunk.free?.();
      },
    },
    copy: {
      value: (copyOpts: CopyOptions = {}) => {
        checkOptions("f.copy", copyOpts, COPY_OPTIONS);
        const swapArg = copyOpts.swap ?? [];
        if (!(swapArg instanceof Map) && !Array.isArray(swapArg)) throw new InputError(`f.copy({ swap }): swap must be a Map from shared variables to shared variables (or a list of pairs), got ${String(swapArg)}`);
        const swap = new Map<SharedVariable, SharedVariable>(swapArg instanceof Map ? swapArg : (swapArg as ReadonlyArray<readonly [SharedVariable, SharedVariable]>));
        for (const [a, b] of swap) {
          if (!(a instanceof SharedVariable) || !(b instanceof SharedVariable)) throw new InputError(`f.copy({ swap }): ${String((a as Variable)?.label ?? a)} -> ${String((b as Variable)?.label ?? b)}: swap maps shared variables to shared variables`);
          if (!a.type.equals(b.type)) throw new TypeMismatchError(`copy({ swap }): ${a.label} (${a.type}) and ${b.label} (${b.type}) have different types`);
        }
        const deleteUpdates = copyOpts.deleteUpdates ?? false;
        if (typeof deleteUpdates !== "boolean") throw new InputError(`f.copy({ deleteUpdates }): expected true or false, got ${String(deleteUpdates)}`);
        const swapGivens: GivensLike = [...givenList.map(([k, v]) => [k, v] as const), ...[...swap].map(([a, b]) => [a, b] as const)];
        const swapUpdates = deleteUpdates ? [] : updList.map(([s, e]) => [swap.get(s) ?? s, e] as const);
        // Without updates, an input read only by an update is unused; the copy keeps the
        // original's signature anyway (as Theano's does), so it must not refuse it.
        const copyInputs = deleteUpdates
          ? inputsArg.map((i) => (i instanceof In && i.update ? new In(i.variable, { value: i.value, name: i.name ?? undefined, borrow: i.borrow, mutable: i.mutable }) : i))
          : inputsArg;
        return function_(copyInputs, outputsArg, {
          ...opts,
          givens: swapGivens,
          updates: swapUpdates as UpdatesLike,
          name: copyOpts.name ?? opts.name,
          profile: copyOpts.profile ?? opts.profile,
          ...(deleteUpdates ? { onUnusedInput: "ignore" as const, noDefaultUpdates: true } : {}),
        });
      },
    },
  });
  return f;
}
