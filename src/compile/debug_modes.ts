/**
 * The checking modes of Theano's `compile/nanguardmode.py` and `compile/debugmode.py`
 * (API.md §10): `mode: "NanGuardMode"` and `mode: "DebugMode"`, or `new NanGuardMode({...})` /
 * `new DebugMode()` for options.
 *
 * Both run the rewritten graph node by node through each node's reference `perform` (the py
 * linker's loop), with a check after every node, so the error can name the first node at fault,
 * the user's line that created it, its inputs' summaries and the function inputs it depends on.
 *
 * - NanGuardMode stops at the first value (a function input, then each node's output) holding a
 *   NaN, an infinity or a float of magnitude above 1e10 (Theano's big_is_error threshold),
 *   per `nanIsError`/`infIsError`/`bigIsError` (defaults: the NanGuardMode.* flags). It runs
 *   the usual rewrites except fusion, so each node is one of the user's own operations.
 *   Integers are never "big": counts, indices and generator states are legitimately large.
 *   `linker: "js" | "c"` checks the values as that backend's generated code computes them.
 * - DebugMode also runs every node through its compiled code (JS always; C when a compiler
 *   works and DebugMode.check_c is on), each on its own copy of the inputs, and raises
 *   DebugModeError when a backend's result differs from `perform` beyond the dtype's tolerance,
 *   when any implementation wrote into an input its op does not declare in its destroy map, when
 *   a node's `inferShape` disagrees with the shape `perform` computed, and
 *   when the rewritten graph's outputs differ from the graph as the user wrote it (then naming
 *   the first recorded rewrite whose replacement differs from what it replaced on those inputs).
 *   DebugMode.warn_only turns the errors into warnings.
 */

import { config } from "../config/index.js";
import { ConfigError, DebugModeError, NaNError, warn } from "../errors.js";
import { type Apply, type Value, type Variable, ancestors, toposort } from "../graph/basic.js";
import { DestroyHandler } from "../graph/destroy.js";
import { FunctionGraph } from "../graph/fgraph.js";
import { NDArray } from "../ndarray/ndarray.js";
import { shape } from "../tensor/shape.js";
import { TensorType } from "../tensor/type.js";
import type { TensorVariable } from "../tensor/variable.js";
import { cCompilerStatus } from "../link/c/compiler.js";
import { cLinker } from "../link/c/linker.js";
import { requireUsableDevice } from "../link/device/index.js";
import { wrapNodeError } from "../link/errors.js";
import { jsLinker } from "../link/js/linker.js";
import { lastUses, pyLinker } from "../link/py.js";
import type { Linker, Thunk } from "../link/types.js";
import { Mode, registerNamedMode } from "./mode.js";

// ---------------------------------------------------------------------------------------------
// Shared pieces: value summaries, node descriptions, the node-by-node loop.

const FLOATS = new Set(["float16", "float32", "float64"]);

/** Theano's big_is_error threshold. */
export const BIG_VALUE = 1e10;

function unravel(flat: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx.unshift(n === 0 ? 0 : flat % n);
    flat = n === 0 ? 0 : Math.floor(flat / n);
  }
  return `[${idx.join(", ")}]`;
}

/** One line about a value: dtype, shape, and for floats min, max and NaN/Inf counts. */
function summary(v: Value): string {
  if (!(v instanceof NDArray)) return String(v);
  const head = `${v.dtype} shape [${v.shape.join(", ")}]`;
  if (v.size === 0) return `${head} (empty)`;
  if (v.dtype === "int64" || v.dtype === "uint64") return head;
  const f = v.toFlat();
  let lo = Infinity;
  let hi = -Infinity;
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < f.length; i++) {
    const x = Number(f[i]);
    if (Number.isNaN(x)) nan++;
    else {
      if (!Number.isFinite(x)) inf++;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  const range = nan === f.length ? "all NaN" : `min ${lo}, max ${hi}`;
  return `${head}, ${range}${nan > 0 && nan < f.length ? `, ${nan} NaN` : ""}${inf > 0 ? `, ${inf} Inf` : ""}`;
}

/** "node X (toposort index k of n), created at file:line" and the creation backtrace. */
function describeNode(node: Apply, k: number, n: number): string[] {
  const lines = [`Apply node: ${node.toString()} (toposort index ${k} of ${n})`];
  const where = node.trace.where;
  lines.push(where ? `The node was created at ${where}.` : "The node's creation line is not known (it was made by the library).");
  // A node that rewrites made of several of the user's (issue 16.4): each with its line.
  const fused = node.trace.fused;
  if (fused.length > 1) {
    lines.push(`This node stands for ${fused.length} nodes of your graph:`);
    for (const part of fused) lines.push(`  ${part.op}${part.trace.where ? ` created at ${part.trace.where}` : ""}`);
  }
  // The whole backtrace only on request, as for errors raised while a node runs (link/errors.ts).
  if (config.exception_verbosity === "high") lines.push("Backtrace when the node is created:", node.trace.format(config.traceback.limit) || "  (no user frames recorded)");
  return lines;
}

/** The function inputs (in `fgraph.inputs` order) that `node` depends on. */
function involvedInputs(fgraph: FunctionGraph, node: Apply): string {
  const inputs = new Set(fgraph.inputs);
  const reached = new Set(ancestors(node.inputs, inputs));
  const names = fgraph.inputs.flatMap((v, i) => (reached.has(v) ? [`input ${i} (${v.label})`] : []));
  return names.length > 0 ? `It depends on the function's ${names.join(", ")}.` : "It depends on none of the function's inputs (constants only).";
}

/**
 * The py linker's loop with `step` in place of a bare `perform`: `step` returns the node's
 * outputs (and checks them). Values are dropped after their last reader, as there.
 */
function nodeByNode(
  fgraph: FunctionGraph,
  onInputs: (values: readonly Value[]) => void,
  step: (node: Apply, k: number, args: Value[]) => Value[],
): Thunk {
  const order = fgraph.toposort();
  const frees = lastUses(fgraph, order);
  return (values: readonly Value[]): Value[] => {
    onInputs(values);
    const env = new Map<Variable, Value>();
    fgraph.inputs.forEach((v, i) => env.set(v, values[i]));
    const get = (v: Variable): Value => (env.has(v) ? env.get(v) : v.constantData);
    for (let k = 0; k < order.length; k++) {
      const node = order[k]!;
      const outs = step(node, k, node.inputs.map(get));
      node.outputs.forEach((o, i) => env.set(o, outs[i]));
      for (const v of frees[k]!) env.delete(v);
    }
    return fgraph.outputs.map(get);
  };
}

function perform(node: Apply, args: Value[]): Value[] {
  try {
    return node.op.perform(node, args);
  } catch (e) {
    throw wrapNodeError(e, node, args);
  }
}

// ---------------------------------------------------------------------------------------------
// NanGuardMode

export interface NanGuardOptions {
  /** Raise on NaN (default: the NanGuardMode.nan_is_error flag). */
  nanIsError?: boolean;
  /** Raise on +-Inf (default: NanGuardMode.inf_is_error). */
  infIsError?: boolean;
  /** Raise on a float of magnitude above 1e10 (default: NanGuardMode.big_is_error). */
  bigIsError?: boolean;
  /**
   * Which code computes each node: "py" (default) its reference `perform`; "js" or "c" the
   * generated code of that backend, one module per node (so values are checked as that backend
   * computes them; "c" compiles one module per node the first time, then loads from the cache).
   */
  linker?: "py" | "js" | "c";
}

interface Guard {
  nan: boolean;
  inf: boolean;
  big: boolean;
}

/** What is wrong with `v` under `g`, or null. */
function badValues(v: Value, g: Guard): string | null {
  if (!(v instanceof NDArray) || !FLOATS.has(v.dtype) || v.size === 0) return null;
  const f = v.toFlat();
  let nan = 0;
  let inf = 0;
  let big = 0;
  let firstNan = -1;
  let firstInf = -1;
  let biggest = -1;
  for (let i = 0; i < f.length; i++) {
    const x = f[i] as number;
    if (x !== x) {
      if (nan++ === 0) firstNan = i;
    } else if (x === Infinity || x === -Infinity) {
      if (inf++ === 0) firstInf = i;
    } else if (x > BIG_VALUE || x < -BIG_VALUE) {
      if (big++ === 0 || Math.abs(x) > Math.abs(f[biggest] as number)) biggest = i;
    }
  }
  const parts: string[] = [];
  const of = `of ${v.size}`;
  if (g.nan && nan > 0) parts.push(`NaN: ${nan} ${of} elements, the first at ${unravel(firstNan, v.shape)}`);
  if (g.inf && inf > 0) parts.push(`Inf: ${inf} ${of} elements, the first at ${unravel(firstInf, v.shape)} (${f[firstInf]})`);
  if (g.big && big > 0) parts.push(`a value above ${BIG_VALUE} in magnitude: ${big} ${of} elements, the largest ${f[biggest]} at ${unravel(biggest, v.shape)}`);
  return parts.length > 0 ? parts.join("; ") : null;
}

function nanGuardLinker(opts: NanGuardOptions): Linker {
  return {
    name: "py",
    make(fgraph: FunctionGraph): Thunk {
      const g: Guard = {
        nan: opts.nanIsError ?? config.NanGuardMode.nan_is_error,
        inf: opts.infIsError ?? config.NanGuardMode.inf_is_error,
        big: opts.bigIsError ?? config.NanGuardMode.big_is_error,
      };
      const order = fgraph.toposort();
      const n = order.length;
      const backend = opts.linker ?? "py";
      if (backend === "c" && !cCompilerStatus().ok) throw new ConfigError(`NanGuardMode({ linker: "c" }): the C backend cannot run here: ${cCompilerStatus().reason}`);
      const compiled = new Map<Apply, ReturnType<typeof singleNode>>();
      if (backend !== "py") for (const node of order) compiled.set(node, singleNode(node, backend === "c" ? cLinker : jsLinker));
      const hint = "Fix the computation (e.g. clip a log's argument, subtract the max before exp), or turn the check off with NanGuardMode({ nanIsError, infIsError, bigIsError }).";
      const thunk = nodeByNode(
        fgraph,
        (values) =>
          values.forEach((v, i) => {
            const bad = badValues(v, g);
            if (bad) throw new NaNError(`NanGuardMode: function input ${i} (${fgraph.inputs[i]!.label}) holds ${bad}; it was given that way, before any node ran.\n${hint}`);
          }),
        (node, k, args) => {
          // An in-place node overwrites an input: keep its value for the report.
          const saved = new Map<number, Value>();
          for (const ins of node.op.destroyMap.values()) for (const i of ins) saved.set(i, copyValue(args[i]));
          const outs = backend === "py" ? perform(node, args) : compiled.get(node)!.run(args);
          outs.forEach((o, j) => {
            const bad = badValues(o, g);
            if (!bad) return;
            const lines = [
              `NanGuardMode: output ${j} of ${node.op.toString()} holds ${bad}. It is the first node whose output is bad: its inputs were fine.`,
              ...describeNode(node, k, n),
              ...node.inputs.map((inp, i) => `  node input ${i} (${inp.label}): ${summary(saved.has(i) ? saved.get(i) : args[i])}`),
              involvedInputs(fgraph, node),
              hint,
            ];
            const err = new NaNError(lines.join("\n"));
            Object.defineProperty(err, "node", { value: node, enumerable: false, writable: true, configurable: true });
            throw err;
          });
          return outs;
        },
      );
      thunk.free = () => {
        for (const c of compiled.values()) c.free();
      };
      return thunk;
    },
  };
}

/** Theano's NanGuardMode: stops at the first node whose output holds NaN, Inf or a huge value. */
export class NanGuardMode extends Mode {
  constructor(
    readonly guard: NanGuardOptions = {},
    includeTags: readonly string[] = [],
    excludeTags: readonly string[] = ["fusion"],
    requireTags: readonly string[] = [],
  ) {
    super("py", null, includeTags, excludeTags, requireTags);
  }

  override linker(): Linker {
    requireUsableDevice();
    return nanGuardLinker(this.guard);
  }

  override including(...tags: string[]): Mode {
    return new NanGuardMode(this.guard, [...this.includeTags, ...tags], this.excludeTags, this.requireTags);
  }

  override excluding(...tags: string[]): Mode {
    return new NanGuardMode(this.guard, this.includeTags, [...this.excludeTags, ...tags], this.requireTags);
  }

  override requiring(...tags: string[]): Mode {
    return new NanGuardMode(this.guard, this.includeTags, this.excludeTags, [...this.requireTags, ...tags]);
  }

  override toString(): string {
    return `NanGuardMode(optimizer=${this.optimizer ?? config.optimizer}, excluding=${this.excludeTags.join(":")})`;
  }
}

// ---------------------------------------------------------------------------------------------
// DebugMode

/** Tolerances by dtype: room for a backend's rounding (FMA, libm), none for integers. */
export function debugTolerance(dtype: string): { rtol: number; atol: number } {
  return dtype === "float16" ? { rtol: 1e-2, atol: 1e-3 } : dtype === "float32" ? { rtol: 1e-4, atol: 1e-6 } : dtype === "float64" ? { rtol: 1e-7, atol: 1e-12 } : { rtol: 0, atol: 0 };
}

/** Why `got` differs from `want` (dtype, shape, or the first element out of tolerance), or null. */
function difference(got: Value, want: Value, exact = false): string | null {
  if (!(got instanceof NDArray) || !(want instanceof NDArray)) {
    if (got instanceof NDArray || want instanceof NDArray) return `one is an array and the other ${String(got instanceof NDArray ? want : got)}`;
    return null; // opaque values (none today) are not compared
  }
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} instead of ${want.dtype}`;
  if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) return `shape [${got.shape.join(", ")}] instead of [${want.shape.join(", ")}]`;
  const a = got.toFlat();
  const b = want.toFlat();
  const { rtol, atol } = exact ? { rtol: 0, atol: 0 } : debugTolerance(got.dtype);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (!exact && Math.abs(x - y) <= atol + rtol * Math.abs(y)) continue;
    return `element ${unravel(i, got.shape)} is ${String(a[i])} instead of ${String(b[i])} (${exact ? "exact comparison" : `${got.dtype} tolerance rtol ${rtol}, atol ${atol}`})`;
  }
  return null;
}

const copyValue = (v: Value): Value => (v instanceof NDArray ? v.copy() : v);

/** One node as a graph of its own, compiled by `linker`; called with the node's input values. */
function singleNode(node: Apply, linker: Linker): { run: (args: readonly Value[]) => Value[]; free: () => void } {
  const uniq: Variable[] = [];
  for (const v of node.inputs) if (!v.isConstant && !uniq.includes(v)) uniq.push(v);
  const fg = new FunctionGraph(uniq, node.outputs);
  // In-place nodes may overwrite their (copied) inputs here, as in the whole function.
  fg.attachFeature(new DestroyHandler({ mutable: fg.inputs }));
  for (const n of fg.nodes) if (node.tag.outerMode !== undefined) n.tag.outerMode = node.tag.outerMode;
  const thunk = linker.make(fg);
  const pos = uniq.map((v) => node.inputs.indexOf(v));
  return { run: (args) => thunk(pos.map((p) => args[p])), free: () => thunk.free?.() };
}

/**
 * The node's `inferShape` as a graph over its inputs (their dimensions through Shape_i), or
 * null when it has none or it cannot be built (then there is nothing to check, as for the
 * shape-lifting rewrite, which leaves such ops alone).
 */
function inferredShapes(node: Apply): Variable[][] | null {
  if (!node.op.inferShape || !node.outputs.every((o) => o.type instanceof TensorType)) return null;
  try {
    const ins = node.inputs.map((v) => (v.type instanceof TensorType ? v.type.shape.map((_d, i) => shape(v as TensorVariable, i) as Variable) : null));
    return node.op.inferShape(node, ins);
  } catch {
    return null;
  }
}

/** The inferred shapes' values for these input values, or null when they cannot be computed. */
function shapeValues(node: Apply, dims: Variable[][], args: readonly Value[]): number[][] | null {
  const env = new Map<Variable, Value>();
  node.inputs.forEach((v, i) => env.set(v, args[i]));
  const get = (v: Variable): Value => (env.has(v) ? env.get(v) : v.constantData);
  try {
    for (const n of toposort(dims.flat(), new Set(node.inputs))) {
      const outs = n.op.perform(n, n.inputs.map(get));
      n.outputs.forEach((o, i) => env.set(o, outs[i]));
    }
    return dims.map((ds) => ds.map((d) => Number((get(d) as NDArray).getBig())));
  } catch {
    return null;
  }
}

const before = new WeakMap<FunctionGraph, FunctionGraph>();

/** A replacement a rewrite made (Theano's DebugMode keeps the same history to name the culprit). */
interface Replacement {
  readonly old: Variable;
  readonly new: Variable;
  readonly reason: string;
}
const history = new WeakMap<FunctionGraph, Replacement[]>();

/**
 * `vars` computed by `perform` from the graph inputs' values, every node on copies of its
 * arguments (the replaced and the replacing subgraphs together have no destroy-handler order).
 */
function evaluate(fgraph: FunctionGraph, values: readonly Value[], vars: readonly Variable[]): Value[] {
  const env = new Map<Variable, Value>();
  fgraph.inputs.forEach((v, i) => env.set(v, values[i]));
  const get = (v: Variable): Value => (env.has(v) ? env.get(v) : v.constantData);
  for (const node of toposort(vars, new Set(fgraph.inputs))) {
    const outs = perform(node, node.inputs.map((v) => copyValue(get(v))));
    node.outputs.forEach((o, i) => env.set(o, outs[i]));
  }
  return vars.map(get);
}

/** The first recorded replacement whose two sides differ on these input values, as a sentence. */
function culprit(fgraph: FunctionGraph, values: readonly Value[]): string {
  for (const r of history.get(fgraph) ?? []) {
    if (r.reason.endsWith("(undone)")) continue;
    let d: string | null;
    let pair: Value[];
    try {
      pair = evaluate(fgraph, values, [r.old, r.new]);
      d = difference(pair[1], pair[0]);
    } catch {
      continue; // a side that cannot be evaluated alone says nothing about the rewrite
    }
    if (d) {
      return (
        `The rewrite ${r.reason} replaced ${r.old.owner ? r.old.owner.toString() : r.old.label} by ${r.new.owner ? r.new.owner.toString() : r.new.label}, ` +
        `which differ on these inputs: ${d}.\n  replacement: ${summary(pair[1])}\n  original: ${summary(pair[0])}\n` +
        `Exclude it with THEANO_FLAGS=optimizer_excluding=${r.reason} (or mode.excluding("${r.reason}")).`
      );
    }
  }
  return "No single recorded replacement differs on these inputs: run with THEANO_FLAGS=optimizer_verbose=True to see the rewrites applied, and exclude the culprit with optimizer_excluding=<name>.";
}

function report(message: string): void {
  if (config.DebugMode.warn_only) warn(`theano-ts: ${message}`);
  else throw new DebugModeError(message);
}

function debugLinker(): Linker {
  return {
    name: "py",
    make(fgraph: FunctionGraph): Thunk {
      const order = fgraph.toposort();
      const n = order.length;
      const backends: Array<{ name: string; linker: Linker }> = [{ name: "JS", linker: jsLinker }];
      if (config.DebugMode.check_c && cCompilerStatus().ok) backends.push({ name: "C", linker: cLinker });
      const compiled = new Map<Apply, Array<{ name: string; run: (args: readonly Value[]) => Value[]; free: () => void }>>();
      for (const node of order) compiled.set(node, backends.map((b) => ({ name: b.name, ...singleNode(node, b.linker) })));
      const shapes = new Map<Apply, Variable[][]>();
      for (const node of order) {
        const dims = inferredShapes(node);
        if (dims) shapes.set(node, dims);
      }
      const original = before.get(fgraph);
      const reference = original ? pyLinker.make(original) : null;

      const nodeCheck = nodeByNode(
        fgraph,
        () => {},
        (node, k, args) => {
          const destroyed = new Set([...node.op.destroyMap.values()].flat());
          const run = (name: string, fn: (a: Value[]) => Value[]): Value[] | null => {
            const mine = args.map(copyValue);
            let outs: Value[];
            try {
              outs = fn(mine);
            } catch (e) {
              if (name === "perform") throw e;
              // perform ran first and succeeded: a backend that raises on the same inputs disagrees.
              report(`DebugMode: ${node.op.toString()} raised on the ${name} backend, not in its reference perform: ${e instanceof Error ? e.message : String(e)}\n${describeNode(node, k, n).join("\n")}`);
              return null; // warn_only: go on with perform's result
            }
            mine.forEach((v, i) => {
              if (destroyed.has(i)) return;
              const d = difference(v, args[i], true);
              if (d) report(`DebugMode: ${node.op.toString()} wrote into its input ${i} (${node.inputs[i]!.label}) on ${name === "perform" ? "its reference perform" : `the ${name} backend`}, which its destroy map does not declare: ${d}\n${describeNode(node, k, n).join("\n")}`);
            });
            return outs;
          };
          const want = run("perform", (a) => perform(node, a))!;
          const dims = shapes.get(node);
          if (dims) {
            const inferred = shapeValues(node, dims, args);
            want.forEach((w, j) => {
              const s = inferred?.[j];
              if (!s || !(w instanceof NDArray) || (s.length === w.shape.length && s.every((d, i) => d === w.shape[i]))) return;
              report(`DebugMode: the inferShape of ${node.op.toString()} gives output ${j} the shape [${s.join(", ")}], but perform computed [${w.shape.join(", ")}].\n${describeNode(node, k, n).join("\n")}`);
            });
          }
          for (const impl of compiled.get(node)!) {
            const got = run(impl.name, impl.run);
            if (!got) continue;
            want.forEach((w, j) => {
              const d = difference(got[j], w);
              if (!d) return;
              report(
                [
                  `DebugMode: the ${impl.name} code of ${node.op.toString()} and its reference perform disagree on output ${j}: ${d}.`,
                  `  ${impl.name}: ${summary(got[j])}`,
                  `  perform: ${summary(w)}`,
                  ...describeNode(node, k, n),
                  ...node.inputs.map((inp, i) => `  node input ${i} (${inp.label}): ${summary(args[i])}`),
                ].join("\n"),
              );
            });
          }
          return want;
        },
      );

      const thunk: Thunk = (values: readonly Value[]): Value[] => {
        // Every node ran on copies, so `values` are still the call's inputs for the reference.
        const outs = nodeCheck(values);
        let ref: Value[] | null = null;
        if (reference) {
          try {
            ref = reference(values.map(copyValue));
          } catch (e) {
            report(`DebugMode: the graph as written raised where the rewritten graph ran: ${e instanceof Error ? e.message : String(e)}\n${culprit(fgraph, values)}`);
          }
        }
        if (ref) {
          outs.forEach((o, j) => {
            const d = difference(o, ref[j]);
            if (d) {
              report(
                `DebugMode: the rewrites changed a result: output ${j} (${fgraph.outputs[j]!.label}) of the rewritten graph differs from the graph as written: ${d}.\n` +
                  `  rewritten: ${summary(o)}\n  as written: ${summary(ref[j])}\n` +
                  culprit(fgraph, values),
              );
            }
          });
        }
        return outs;
      };
      thunk.free = () => {
        for (const impls of compiled.values()) for (const impl of impls) impl.free();
        reference?.free?.();
      };
      return thunk;
    },
  };
}

/** Theano's DebugMode: every node on its compiled code and its reference, every rewrite checked. */
export class DebugMode extends Mode {
  constructor(includeTags: readonly string[] = [], excludeTags: readonly string[] = [], requireTags: readonly string[] = []) {
    super("py", null, includeTags, excludeTags, requireTags);
  }

  override rewrite(fgraph: FunctionGraph): void {
    // The graph as the user wrote it (givens applied), kept to check the rewrites' result.
    before.set(fgraph, new FunctionGraph(fgraph.inputs, fgraph.outputs));
    const replacements: Replacement[] = [];
    history.set(fgraph, replacements);
    fgraph.attachFeature({
      onChangeInput(_fg, _node, _index, oldVar, newVar, reason) {
        const last = replacements[replacements.length - 1];
        if (!last || last.old !== oldVar || last.new !== newVar) replacements.push({ old: oldVar, new: newVar, reason });
      },
    });
    super.rewrite(fgraph);
  }

  override linker(): Linker {
    requireUsableDevice();
    return debugLinker();
  }

  override including(...tags: string[]): Mode {
    return new DebugMode([...this.includeTags, ...tags], this.excludeTags, this.requireTags);
  }

  override excluding(...tags: string[]): Mode {
    return new DebugMode(this.includeTags, [...this.excludeTags, ...tags], this.requireTags);
  }

  override requiring(...tags: string[]): Mode {
    return new DebugMode(this.includeTags, this.excludeTags, [...this.requireTags, ...tags]);
  }

  override toString(): string {
    return `DebugMode(optimizer=${this.optimizer ?? config.optimizer})`;
  }
}

registerNamedMode("NanGuardMode", () => new NanGuardMode());
registerNamedMode("DebugMode", () => new DebugMode());
