/**
 * The rewrite engine (Theano's `graph/rewriting/basic.py` and `graph/rewriting/db.py`).
 *
 * A rewrite is a small named object registered with tags; the name is what `optimizer_excluding`
 * names and what `optimizer_verbose` prints. Two kinds:
 *
 * - a NodeRewriter looks at one Apply node (only nodes whose op is an instance of one of the
 *   classes it `tracks`, or every node) and returns replacement variables for the node's outputs,
 *   or nothing;
 * - a GraphRewriter sees the whole FunctionGraph (merge, fusion, in-place passes).
 *
 * Rewrites live in databases: a SequenceDB runs its entries in order of `position` (Theano's
 * optdb stages: merge 0, canonicalize 1, stabilize 1.5, blas 1.7, specialize 2, fusion 49,
 * in-place 60-75, final merge 100); an EquilibriumDB applies its node rewriters until none
 * fires (a worklist over the graph, bounded by `optdb.max_use_ratio` replacements per node so
 * a cycling pair cannot hang compilation). A query (include / exclude / require tags or names)
 * picks the entries to run; presets name common queries (fast_run, fast_compile, o1..o4, ...).
 *
 * Usage (what the rewrite catalogue does):
 *
 *     import { nodeRewriter, registerCanonicalize, graphRewriter, optdb } from "./engine.js";
 *     import { Elemwise } from "../tensor/elemwise.js";
 *
 *     const isNeg = (v: Variable): boolean => v.owner?.op instanceof Elemwise && v.owner.op.scalarOp.name === "neg";
 *
 *     // neg(neg(x)) -> x: return one replacement per output of `node`, or null for "no change".
 *     export const localNegNeg = nodeRewriter({
 *       name: "local_neg_neg",                 // what optimizer_excluding and optimizer_verbose name
 *       tags: ["algebra"],                     // optional extra tags
 *       tracks: [Elemwise],                    // only nodes whose op is an Elemwise are offered
 *       transform: (node) => (isNeg(node.outputs[0]!) && isNeg(node.inputs[0]!) ? [node.inputs[0]!.owner!.inputs[0]!] : null),
 *     });
 *     registerCanonicalize(localNegNeg);       // + tags canonicalize, fast_run, fast_compile
 *     registerStabilize(r, "extra_tag");       // also registerSpecialize, registerBlas
 *
 *     // A whole-graph pass at its own position in optdb:
 *     optdb.register(graphRewriter({ name: "my_pass", apply(fg, ctx) { ctx.replace(fg, [[oldVar, newVar]], "my_pass"); } }),
 *                    { position: 48.5, tags: ["fast_run"] });
 *
 *     // In-place versions of an op (src/rewriting/inplace.ts): registerInplace({ name, tracks, candidates }, 70).
 *
 * Running: `rewriteGraph(fg, presetQuery("fast_run", including, excluding, requiring))`, which is
 * what `theano.function` does through Mode (flags optimizer, optimizer_including/excluding/requiring).
 *
 * Every replacement goes through `RewriteContext.replace`, which checks types (same dtype and
 * rank; a less precise static shape is wrapped in SpecifyShape), prints the `optimizer_verbose`
 * line, and asks the graph's features (the destroy handler) to validate, undoing the change when
 * they refuse. A rewrite that throws is reported according to `on_opt_error`.
 */

import { config } from "../config/index.js";
import { TheanoError } from "../errors.js";
import { type Apply, type Op, type Variable, withTrace } from "../graph/basic.js";
import { InconsistencyError } from "../graph/destroy.js";
import type { Client, Feature, FunctionGraph } from "../graph/fgraph.js";
import { specifyShape } from "../tensor/shape.js";
import { TensorType } from "../tensor/type.js";
import type { TensorVariable } from "../tensor/variable.js";
import { warn } from "../errors.js";

/** An Op class a node rewriter tracks (`node.op instanceof cls`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OpClass = abstract new (...args: any[]) => Op;

export interface NodeRewriter {
  readonly kind: "node";
  readonly name: string;
  readonly tags: readonly string[];
  /** Op classes whose nodes this rewriter looks at; null: every node. */
  readonly tracks: readonly OpClass[] | null;
  /**
   * Replacement variables for `node.outputs` (same length; an entry equal to the output leaves
   * it alone), or null/undefined/false for "no change". Must not mutate the graph itself.
   */
  transform(node: Apply, fg: FunctionGraph): ReadonlyArray<Variable> | null | undefined | false;
}

export interface GraphRewriter {
  readonly kind: "graph";
  readonly name: string;
  readonly tags: readonly string[];
  /** Rewrites the graph, making every replacement through `ctx.replace`. */
  apply(fg: FunctionGraph, ctx: RewriteContext): void;
}

export function nodeRewriter(spec: { name: string; tags?: readonly string[]; tracks?: readonly OpClass[] | null; transform: NodeRewriter["transform"] }): NodeRewriter {
  return { kind: "node", name: spec.name, tags: spec.tags ?? [], tracks: spec.tracks ?? null, transform: spec.transform };
}

export function graphRewriter(spec: { name: string; tags?: readonly string[]; apply: GraphRewriter["apply"] }): GraphRewriter {
  return { kind: "graph", name: spec.name, tags: spec.tags ?? [], apply: spec.apply };
}

// ---------------------------------------------------------------------------------------------
// Queries

/** Which entries to run: any name/tag in `include`, none in `exclude`, every tag in `require`. */
export interface Query {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** Applies to rewriters (leaves), not to databases, so `require` filters what actually runs. */
  readonly require: readonly string[];
  /** Top-level stages at a later position are skipped (Theano's `position_cutoff`). */
  readonly positionCutoff?: number;
}

/**
 * The `optimizer` presets, as Theano defines them: o1 = fast_compile, o2 = fast_compile plus
 * fusion, o3 = fast_run without in-place rewrites, o4 = fast_run (everything, the default),
 * unsafe = o3 plus the rewrites tagged "unsafe", stabilize = fast_run's stages up to and including
 * stabilize (position 1.5), so only merging, canonicalization and stabilization run.
 */
export const PRESETS: Readonly<Record<string, Query>> = {
  None: { include: [], exclude: [], require: [] },
  merge: { include: ["merge"], exclude: [], require: [] },
  fast_compile: { include: ["fast_compile"], exclude: [], require: [] },
  fast_run: { include: ["fast_run"], exclude: [], require: [] },
  o1: { include: ["fast_compile"], exclude: [], require: [] },
  o2: { include: ["fast_compile", "fusion"], exclude: [], require: [] },
  o3: { include: ["fast_run"], exclude: ["inplace"], require: [] },
  o4: { include: ["fast_run"], exclude: [], require: [] },
  unsafe: { include: ["fast_run", "unsafe"], exclude: ["inplace"], require: [] },
  stabilize: { include: ["fast_run"], exclude: [], require: [], positionCutoff: 1.5000001 },
};

export function presetQuery(optimizer: string, including: readonly string[] = [], excluding: readonly string[] = [], requiring: readonly string[] = []): Query {
  const base = PRESETS[optimizer];
  if (!base) throw new TheanoError(`unknown optimizer preset ${JSON.stringify(optimizer)}; valid presets are ${Object.keys(PRESETS).join(", ")}`);
  return { ...base, include: [...base.include, ...including], exclude: [...base.exclude, ...excluding], require: [...base.require, ...requiring] };
}

type Tagged = { readonly name: string; readonly tags: ReadonlySet<string> };
const hits = (e: Tagged, names: readonly string[]): boolean => names.some((n) => n === e.name || e.tags.has(n));

// ---------------------------------------------------------------------------------------------
// Databases

type DBItem = NodeRewriter | GraphRewriter | EquilibriumDB | SequenceDB;

interface Entry<I> {
  readonly name: string;
  readonly tags: ReadonlySet<string>;
  readonly item: I;
  readonly position: number;
  readonly order: number;
}

/** A selected, runnable rewrite: what a query of a database returns. */
export type Step = { kind: "graph"; rewriter: GraphRewriter } | { kind: "equilibrium"; name: string; rewriters: NodeRewriter[] };

/** Node rewriters applied together until none fires (Theano's EquilibriumDB). */
export class EquilibriumDB {
  readonly kind = "equilibrium";
  private readonly entries: Array<Entry<NodeRewriter>> = [];

  constructor(readonly name: string) {}

  /** Adds `r` with its own tags plus `tags`; a second rewriter of the same name is an error. */
  register(r: NodeRewriter, ...tags: string[]): NodeRewriter {
    if (this.entries.some((e) => e.name === r.name)) throw new TheanoError(`rewrite database ${this.name} already holds a rewriter named ${r.name}`);
    this.entries.push({ name: r.name, tags: new Set([...r.tags, ...tags]), item: r, position: 0, order: this.entries.length });
    return r;
  }

  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  select(q: Query, inherited: boolean): NodeRewriter[] {
    return this.entries.filter((e) => !hits(e, q.exclude) && (inherited || hits(e, q.include)) && q.require.every((t) => e.tags.has(t) || e.name === t)).map((e) => e.item);
  }
}

/** Stages run in order of position (Theano's SequenceDB; `optdb` is the root one). */
export class SequenceDB {
  readonly kind = "sequence";
  private readonly entries: Array<Entry<DBItem>> = [];

  constructor(readonly name: string) {}

  register<I extends DBItem>(item: I, opts: { position: number; tags?: readonly string[] }): I {
    if (this.entries.some((e) => e.name === item.name)) throw new TheanoError(`rewrite database ${this.name} already holds an entry named ${item.name}`);
    const own = item.kind === "node" || item.kind === "graph" ? item.tags : [];
    this.entries.push({ name: item.name, tags: new Set([...own, ...(opts.tags ?? [])]), item, position: opts.position, order: this.entries.length });
    this.entries.sort((a, b) => a.position - b.position || a.order - b.order);
    return item;
  }

  /** The entry named `name` (a sub-database, typically). */
  get(name: string): DBItem | undefined {
    return this.entries.find((e) => e.name === name)?.item;
  }

  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /**
   * The steps `q` selects, in order. A database runs when it is not excluded and selects at
   * least one rewriter; naming a database (or a tag it carries) selects everything in it.
   */
  select(q: Query, inherited = false): Step[] {
    const steps: Step[] = [];
    for (const e of this.entries) {
      if (hits(e, q.exclude)) continue;
      if (q.positionCutoff !== undefined && e.position > q.positionCutoff) continue;
      const inc = inherited || hits(e, q.include);
      const it = e.item;
      switch (it.kind) {
        case "graph":
          if (inc && q.require.every((t) => e.tags.has(t) || e.name === t)) steps.push({ kind: "graph", rewriter: it });
          break;
        case "node":
          if (inc && q.require.every((t) => e.tags.has(t) || e.name === t)) steps.push({ kind: "equilibrium", name: it.name, rewriters: [it] });
          break;
        case "equilibrium": {
          const rs = it.select(q, inc);
          if (rs.length > 0) steps.push({ kind: "equilibrium", name: it.name, rewriters: rs });
          break;
        }
        case "sequence":
          // The cutoff counts positions of the database it was given for, not of nested ones.
          steps.push(...it.select({ ...q, positionCutoff: undefined }, inc));
          break;
        default:
          it satisfies never;
      }
    }
    return steps;
  }
}

// ---------------------------------------------------------------------------------------------
// Running

/** Records what the graph does during one replacement, so a refused one can be undone. */
class Tracker implements Feature {
  changes: Array<[Apply | "output", number, Variable]> | null = null;
  imported: Apply[] | null = null;

  onImport(_fg: FunctionGraph, node: Apply): void {
    this.imported?.push(node);
  }

  onChangeInput(_fg: FunctionGraph, node: Apply | "output", index: number, oldVar: Variable): void {
    this.changes?.push([node, index, oldVar]);
  }
}

const trackers = new WeakMap<FunctionGraph, Tracker>();

function trackerOf(fg: FunctionGraph): Tracker {
  let t = trackers.get(fg);
  if (!t) {
    t = new Tracker();
    trackers.set(fg, t);
    fg.attachFeature(t);
  }
  return t;
}

/** Where `optimizer_verbose` lines go: stderr, as Theano prints them. Replaceable (tests). */
export const rewriteLog = {
  write(line: string): void {
    const p = (globalThis as { process?: { stderr?: { write(s: string): unknown } } }).process;
    if (p?.stderr) p.stderr.write(`${line}\n`);
    else console.error(line);
  },
};

const describe = (v: Variable): string => `${v.toString()} of ${v.owner ? v.owner.toString() : "None"}`;

/** Statistics of one pipeline run (for the profiler and tests). */
export interface RewriteStats {
  /** Replacements per rewriter name. */
  readonly applied: Map<string, number>;
  /** Milliseconds per step name. */
  readonly time: Map<string, number>;
}

/** What rewriters use to change the graph; carries the flags in effect and the statistics. */
export class RewriteContext {
  readonly verbose: boolean;
  readonly onError: "warn" | "raise" | "ignore";
  readonly maxUseRatio: number;
  readonly stats: RewriteStats = { applied: new Map(), time: new Map() };

  constructor(opts: { verbose?: boolean; onError?: "warn" | "raise" | "ignore"; maxUseRatio?: number } = {}) {
    this.verbose = opts.verbose ?? config.optimizer_verbose;
    this.onError = opts.onError ?? config.on_opt_error;
    this.maxUseRatio = opts.maxUseRatio ?? config.optdb.max_use_ratio;
  }

  /** Reports a rewriter that threw, per `on_opt_error` (raise rethrows the original error). */
  failed(name: string, err: unknown): void {
    if (this.onError === "raise") throw err;
    if (this.onError === "warn") warn(`rewrite ${name} failed and was skipped (on_opt_error=warn): ${err instanceof Error ? err.message : String(err)}`);
  }

  /**
   * Replaces each `old` by its `new` everywhere in `fg`. Returns the nodes the replacement
   * imported, or null when it was refused: a type mismatch (reported like a failing rewrite),
   * or a feature's validation (the destroy handler), which undoes it silently.
   */
  replace(fg: FunctionGraph, pairs: ReadonlyArray<readonly [Variable, Variable]>, name: string): Apply[] | null {
    const fitted: Array<[Variable, Variable]> = [];
    for (const [o, n] of pairs) {
      if (o === n) continue;
      const f = fitType(o, n);
      if (typeof f === "string") {
        this.failed(name, new TheanoError(`rewrite ${name} tried to replace ${o.label} (${o.type}) with ${n.label} (${n.type}): ${f}; the replacement was refused`));
        return null;
      }
      fitted.push([o, f]);
    }
    if (fitted.length === 0) return [];
    const tr = trackerOf(fg);
    const changes: Array<[Apply | "output", number, Variable]> = [];
    const imported: Apply[] = [];
    tr.changes = changes;
    tr.imported = imported;
    try {
      for (const [o, n] of fitted) {
        if ((fg.clients.get(o)?.length ?? 0) === 0) continue; // nothing reads it (any more)
        if (this.verbose) rewriteLog.write(`rewriting: rewrite ${name} replaces ${describe(o)} with ${describe(n)}`);
        fg.replace(o, n, name);
      }
      fg.validate();
    } catch (e) {
      tr.changes = null;
      tr.imported = null;
      for (let k = changes.length - 1; k >= 0; k--) {
        const [node, i, old] = changes[k]!;
        fg.changeInput(node, i, old, `${name} (undone)`, true);
      }
      if (e instanceof InconsistencyError) return null;
      this.failed(name, e);
      return null;
    } finally {
      tr.changes = null;
      tr.imported = null;
    }
    this.stats.applied.set(name, (this.stats.applied.get(name) ?? 0) + 1);
    return imported;
  }

  /** Runs the steps a query selected, in order. */
  run(fg: FunctionGraph, steps: readonly Step[]): void {
    for (const step of steps) {
      const t0 = performance.now();
      const name = step.kind === "graph" ? step.rewriter.name : step.name;
      if (step.kind === "graph") {
        try {
          step.rewriter.apply(fg, this);
        } catch (e) {
          this.failed(step.rewriter.name, e);
        }
      } else equilibrium(fg, step.name, step.rewriters, this);
      this.stats.time.set(name, (this.stats.time.get(name) ?? 0) + performance.now() - t0);
    }
  }
}

/**
 * `n` made acceptable in place of `o`, or the reason it is not: dtype and rank must agree and
 * known sizes must not contradict; where `o` knows a size `n` does not, SpecifyShape restores it.
 */
function fitType(o: Variable, n: Variable): Variable | string {
  if (o.type.equals(n.type)) return n;
  const a = o.type;
  const b = n.type;
  if (!(a instanceof TensorType) || !(b instanceof TensorType)) return "the types differ";
  if (a.dtype !== b.dtype) return `dtype ${b.dtype} differs from ${a.dtype}`;
  if (a.ndim !== b.ndim) return `rank ${b.ndim} differs from ${a.ndim}`;
  if (a.shape.some((d, i) => d !== null && b.shape[i] !== null && b.shape[i] !== d)) return "the static shapes contradict each other";
  if (a.isSuperOf(b)) return n;
  const s = specifyShape(n as TensorVariable, a.shape);
  return a.isSuperOf(s.type) ? s : "the static shapes cannot be reconciled";
}

/** Rewriters applicable to an op, by class (cached per constructor). */
class Dispatch {
  private readonly cache = new Map<unknown, NodeRewriter[]>();

  constructor(private readonly rewriters: readonly NodeRewriter[]) {}

  for(op: Op): NodeRewriter[] {
    const c = op.constructor;
    let rs = this.cache.get(c);
    if (!rs) {
      rs = this.rewriters.filter((r) => r.tracks === null || r.tracks.some((cls) => op instanceof cls));
      this.cache.set(c, rs);
    }
    return rs;
  }
}

/**
 * Applies `rewriters` until none fires. A FIFO worklist starts with every node in topological
 * order; after a replacement, the nodes it created and the readers of the new variables are
 * queued again. The number of replacements is bounded by `maxUseRatio` per node of the graph;
 * reaching it stops the group with a warning naming the rewriters that kept firing.
 */
export function equilibrium(fg: FunctionGraph, groupName: string, rewriters: readonly NodeRewriter[], ctx: RewriteContext): void {
  if (rewriters.length === 0) return;
  const dispatch = new Dispatch(rewriters);
  const queue: Apply[] = fg.toposort();
  const queued = new Set<Apply>(queue);
  const budget = Math.ceil(ctx.maxUseRatio * (fg.nodes.size + 16));
  const fired = new Map<string, number>();
  let total = 0;
  const enqueue = (n: Apply): void => {
    if (!queued.has(n)) {
      queued.add(n);
      queue.push(n);
    }
  };
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    queued.delete(node);
    // Drop the processed prefix now and then, so a long run does not keep every node alive.
    if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head + 1);
      head = -1;
    }
    if (!fg.nodes.has(node)) continue;
    for (const r of dispatch.for(node.op)) {
      let out: ReadonlyArray<Variable> | null | undefined | false;
      try {
        // What the rewrite builds carries the replaced node's user-code trace (and costs no stack capture).
        out = withTrace(node.trace, () => r.transform(node, fg));
      } catch (e) {
        ctx.failed(r.name, e);
        continue;
      }
      if (!out) continue;
      if (out.length !== node.outputs.length) {
        ctx.failed(r.name, new TheanoError(`rewrite ${r.name} returned ${out.length} replacement(s) for ${node}, which has ${node.outputs.length} output(s)`));
        continue;
      }
      const pairs = node.outputs.map((o, i) => [o, out[i]!] as const).filter(([o, n]) => o !== n);
      if (pairs.length === 0) continue;
      const imported = ctx.replace(fg, pairs, r.name);
      if (imported === null) continue;
      fired.set(r.name, (fired.get(r.name) ?? 0) + 1);
      total++;
      for (const n of imported) enqueue(n);
      for (const [, n] of pairs) {
        for (const [c] of fg.clients.get(n) ?? ([] as Client[])) if (c !== "output") enqueue(c);
        if (n.owner && fg.nodes.has(n.owner)) enqueue(n.owner);
      }
      if (total >= budget) {
        const top = [...fired].sort((a, b) => b[1] - a[1]).slice(0, 4);
        warn(
          `rewrite group ${groupName} stopped after ${total} replacements (optdb.max_use_ratio=${ctx.maxUseRatio} per node); ` +
            `the rewrites that kept firing: ${top.map(([n, k]) => `${n} (${k} times)`).join(", ")}. Two rewrites may be undoing each other; exclude one with optimizer_excluding.`,
        );
        return;
      }
      if (!fg.nodes.has(node)) break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The root database and its standard stages (positions as in Theano's optdb)

export const optdb = new SequenceDB("optdb");

/** Node rewriters that put the graph in a normal form (add/mul canonizers, dimshuffle lifting...). */
export const canonicalize = optdb.register(new EquilibriumDB("canonicalize"), { position: 1, tags: ["fast_run", "fast_compile", "canonicalize_db"] });
/** Numerical stability (log1p, softplus, logsumexp...). */
export const stabilize = optdb.register(new EquilibriumDB("stabilize"), { position: 1.5, tags: ["fast_run"] });
/** BLAS: dot/gemm/gemv/ger formation. */
export const blas = optdb.register(new EquilibriumDB("blas"), { position: 1.7, tags: ["fast_run", "fast_compile", "blas_opt"] });
/** Cheaper equivalents (powers to products, division by constants...). */
export const specialize = optdb.register(new EquilibriumDB("specialize"), { position: 2, tags: ["fast_run", "fast_compile_gpu"] });

/** Registers a canonicalization (tags canonicalize, fast_run, fast_compile, plus `tags`). */
export const registerCanonicalize = (r: NodeRewriter, ...tags: string[]): NodeRewriter => canonicalize.register(r, "canonicalize", "fast_run", "fast_compile", ...tags);
export const registerStabilize = (r: NodeRewriter, ...tags: string[]): NodeRewriter => stabilize.register(r, "stabilize", "fast_run", ...tags);
export const registerSpecialize = (r: NodeRewriter, ...tags: string[]): NodeRewriter => specialize.register(r, "specialize", "fast_run", ...tags);
export const registerBlas = (r: NodeRewriter, ...tags: string[]): NodeRewriter => blas.register(r, "blas", "fast_run", "fast_compile", ...tags);

/** Rewrites `fg` with the rewrites `q` selects from `db` (default: optdb). */
export function rewriteGraph(fg: FunctionGraph, q: Query, opts: { db?: SequenceDB; ctx?: RewriteContext } = {}): RewriteContext {
  const ctx = opts.ctx ?? new RewriteContext();
  ctx.run(fg, (opts.db ?? optdb).select(q));
  return ctx;
}
