/**
 * The profiler (API.md §10, issue 16.1): `profile=True` or `theano.function(..., { profile: true })`
 * gives `f.profile`, a ProfileStats that the backends feed with one timing per node per call
 * (NodeProfiler, src/link/types.ts) and `theano.function` with the call's total. Its tables are
 * Theano's (ProfileStats.summary in theano/compile/profiling.py): function totals, compile time
 * split into rewriting / code generation / C compilation / cache loads, then time per Op class,
 * per Op and per Apply node with share, cumulative share, calls and time per call; with
 * `profile_memory`, the planned and measured peak of the results held at once.
 *
 * Timing costs only when asked for: backends compile their timers in only for a profiled
 * function (a C module with timers is a different module in the cache), and an unprofiled call
 * runs exactly the code it ran before.
 *
 * With the `profile` flag set, every profiled function's summary is printed to stderr when the
 * process exits (as Theano does); `theano.printing.profileSummary()` returns them all, followed
 * by the per-Op-class table merged over every function.
 */

import { writeFileSync } from "node:fs";
import type { Apply, Value } from "../graph/basic.js";
import type { LinkStats, NodeProfiler } from "../link/types.js";
import { type MemoryPlan, planMemory, staticBytes } from "../link/memory.js";
import type { FunctionGraph } from "../graph/fgraph.js";

/** Time and calls of one node over every call so far. */
interface NodeTotals {
  ms: number;
  calls: number;
  /** The input shapes of its first profiled call, where the backend reported its inputs. */
  shapes: string | null;
}

/** Theano's input-shape column: `(64, 784)` for an array, the value's kind otherwise. */
function shapeText(v: Value): string {
  const a = v as { shape?: readonly number[] } | null;
  if (a && Array.isArray(a.shape)) return `(${a.shape.join(", ")}${a.shape.length === 1 ? "," : ""})`;
  return v === null || v === undefined ? "-" : typeof v;
}

/** One node's run during the last profiled call (for `writeTrace`). */
interface TraceEvent {
  readonly node: Apply;
  readonly startMs: number;
  readonly ms: number;
}

/** What `toJSON()` gives: the summary's numbers, for machines. */
export interface ProfileJSON {
  readonly name: string;
  readonly linker: string;
  readonly calls: number;
  readonly callMs: number;
  readonly nodeMs: number;
  readonly compile: { readonly rewriteMs: number; readonly codegenMs: number; readonly compileMs: number; readonly cacheLoadMs: number; readonly linkMs: number; readonly compiled: number; readonly cacheLoads: number };
  readonly memory: {
    readonly staticPeakBytes: number | null;
    readonly lastPeakBytes: number | null;
    readonly buffers: number;
    /** The planned peak if no node ran in place (null when some size is unknown statically). */
    readonly withoutInplaceBytes: number | null;
    /** The nodes whose results are biggest (static shapes), largest first. */
    readonly biggest: ReadonlyArray<{ readonly node: string; readonly bytes: number }>;
  } | null;
  readonly classes: ReadonlyArray<{ readonly cls: string; readonly ms: number; readonly share: number; readonly calls: number; readonly nodes: number }>;
  readonly ops: ReadonlyArray<{ readonly op: string; readonly ms: number; readonly share: number; readonly calls: number; readonly nodes: number }>;
  readonly nodes: ReadonlyArray<{ readonly index: number; readonly node: string; readonly ms: number; readonly share: number; readonly calls: number; readonly msPerCall: number; readonly inputShapes: string | null }>;
}

const registry: ProfileStats[] = [];
let exitHook = false;

export class ProfileStats implements NodeProfiler {
  /** Calls of the function, and their total wall time in it (input checks, backend, updates). */
  calls = 0;
  callMs = 0;
  /** Compile time: the rewrite pipeline, then the linker's split (filled once compiled). */
  rewriteMs = 0;
  linkMs = 0;
  link: LinkStats | null = null;
  memoryPlan: MemoryPlan | null = null;
  /** The compiled graph (for the memory section's plan without in-place nodes). */
  fgraph: FunctionGraph | null = null;
  private readonly totals = new Map<Apply, NodeTotals>();
  /** Profiles of inner graphs (a Scan's step, an IfElse's branches), by the outer node running them. */
  private readonly inner = new Map<Apply, Set<ProfileStats>>();
  private trace: TraceEvent[] = [];
  private traceStart = 0;
  private inCall = false;

  constructor(
    readonly name: string,
    /** The compiled graph's nodes in execution order (toposort): the Apply table's ids ("-" for a node a backend made, such as the parts of a fused reduction the C backend runs as two kernels). */
    readonly order: readonly Apply[],
    readonly linker: string,
    /** Whether the memory section is wanted (`profile_memory`). */
    readonly memory: boolean,
  ) {}

  /** From the backends: `node` ran from `startMs` for `ms` milliseconds. */
  record(node: Apply, startMs: number, ms: number, inputs?: readonly Value[]): void {
    let t = this.totals.get(node);
    if (!t) this.totals.set(node, (t = { ms: 0, calls: 0, shapes: null }));
    t.ms += ms;
    t.calls++;
    if (inputs && t.shapes === null) t.shapes = inputs.map(shapeText).join(", ");
    if (this.inCall) this.trace.push({ node, startMs, ms });
  }

  /** From an op with inner graphs: `profile` (of an inner function) ran under `node`. */
  addInner(node: Apply, profile: ProfileStats): void {
    let set = this.inner.get(node);
    if (!set) this.inner.set(node, (set = new Set()));
    set.add(profile);
  }

  /** The inner graphs' profiles, by outer node. */
  innerProfiles(): ReadonlyArray<{ readonly node: Apply; readonly profile: ProfileStats }> {
    return [...this.inner].flatMap(([node, set]) => [...set].map((profile) => ({ node, profile })));
  }

  /** From theano.function: a call starts (the trace keeps the last call only). */
  beginCall(): number {
    this.trace = [];
    this.inCall = true;
    return (this.traceStart = performance.now());
  }

  /** From theano.function: the call that began at `start` ended (or threw). */
  endCall(start: number): void {
    this.inCall = false;
    this.calls++;
    this.callMs += performance.now() - start;
  }

  /** Registers this profile for the exit report (the `profile` flag). */
  printAtExit(): void {
    registry.push(this);
    if (exitHook || typeof process === "undefined" || typeof process.on !== "function") return;
    exitHook = true;
    process.on("exit", () => {
      const text = profileSummary();
      if (text) process.stderr.write(text);
    });
  }

  private nodeTotal(): number {
    let s = 0;
    for (const t of this.totals.values()) s += t.ms;
    return s;
  }

  toJSON(): ProfileJSON {
    const nodeMs = this.nodeTotal();
    const share = (ms: number): number => (nodeMs > 0 ? ms / nodeMs : 0);
    const group = (key: (n: Apply) => string): Array<{ key: string; ms: number; calls: number; nodes: number }> => {
      const m = new Map<string, { key: string; ms: number; calls: number; nodes: number }>();
      for (const [n, t] of this.totals) {
        const k = key(n);
        const g = m.get(k) ?? { key: k, ms: 0, calls: 0, nodes: 0 };
        g.ms += t.ms;
        g.calls += t.calls;
        g.nodes++;
        m.set(k, g);
      }
      return [...m.values()].sort((a, b) => b.ms - a.ms);
    };
    const link = this.link;
    const plan = this.memoryPlan;
    return {
      name: this.name,
      linker: this.linker,
      calls: this.calls,
      callMs: this.callMs,
      nodeMs,
      compile: {
        rewriteMs: this.rewriteMs,
        codegenMs: link?.codegenMs ?? 0,
        compileMs: link?.compileMs ?? 0,
        cacheLoadMs: link?.cacheLoadMs ?? 0,
        linkMs: this.linkMs,
        compiled: link?.compiled ?? 0,
        cacheLoads: link?.cacheLoads ?? 0,
      },
      memory: this.memory && plan ? { staticPeakBytes: plan.staticPeakBytes, lastPeakBytes: plan.lastPeakBytes, buffers: plan.buffers, ...this.memoryExtras() } : null,
      classes: group((n) => opClass(n)).map((g) => ({ cls: g.key, ms: g.ms, share: share(g.ms), calls: g.calls, nodes: g.nodes })),
      ops: group((n) => String(n.op)).map((g) => ({ op: g.key, ms: g.ms, share: share(g.ms), calls: g.calls, nodes: g.nodes })),
      nodes: [...this.totals]
        .map(([n, t]) => ({ index: this.order.indexOf(n), node: n.toString(), ms: t.ms, share: share(t.ms), calls: t.calls, msPerCall: t.calls > 0 ? t.ms / t.calls : 0, inputShapes: t.shapes }))
        .sort((a, b) => b.ms - a.ms),
    };
  }

  /** Theano's memory extras: the peak without in-place nodes, and the biggest results. */
  private memoryExtras(): { withoutInplaceBytes: number | null; biggest: Array<{ node: string; bytes: number }> } {
    const withoutInplaceBytes = this.fgraph ? planMemory(this.fgraph, this.order, { inplace: false }).staticPeakBytes : null;
    const sized = this.order.map((n) => ({ node: n.toString(), bytes: n.outputs.reduce((a, o) => a + (staticBytes(o) ?? 0), 0) }));
    return { withoutInplaceBytes, biggest: sized.filter((x) => x.bytes > 0).sort((a, b) => b.bytes - a.bytes).slice(0, 5) };
  }

  /** Theano's profile tables as text. */
  summary(opts: { nodes?: number } = {}): string {
    const j = this.toJSON();
    const L: string[] = [];
    const s = (ms: number): string => `${(ms / 1e3).toExponential(3)}s`;
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`.padStart(6);
    L.push(`Function profiling`, `==================`);
    L.push(`  Message: ${j.name} (linker=${j.linker})`);
    L.push(`  Time in ${j.calls} calls to theano.function: ${s(j.callMs)}`);
    if (j.calls > 0) {
      L.push(`  Time in the backend's nodes: ${s(j.nodeMs)} (${pct(j.callMs > 0 ? j.nodeMs / j.callMs : 0).trim()})`);
      L.push(`  Time in the host glue (input checks, dispatch, updates): ${s(Math.max(0, j.callMs - j.nodeMs))}`);
      L.push(`  Time per call: ${s(j.callMs / j.calls)}`);
    }
    const c = j.compile;
    L.push(`  Compile time: ${s(c.rewriteMs + c.linkMs)}`);
    L.push(`    rewriting: ${s(c.rewriteMs)}`);
    L.push(`    linking: ${s(c.linkMs)} (code generation ${s(c.codegenMs)}, C compilation ${s(c.compileMs)} for ${c.compiled} module(s), cache loads ${s(c.cacheLoadMs)} for ${c.cacheLoads} module(s))`);
    if (j.memory) {
      const b = (x: number | null): string => (x === null ? "unknown" : `${(x / 1024).toFixed(1)} KiB`);
      L.push(`  Memory: planned peak ${b(j.memory.staticPeakBytes)} (from static shapes), measured peak of the last call ${b(j.memory.lastPeakBytes)}, ${j.memory.buffers} result buffer(s)`);
      L.push(`    planned peak without in-place nodes: ${b(j.memory.withoutInplaceBytes)}`);
      if (j.memory.biggest.length > 0) L.push(`    biggest results (static shapes):`, ...j.memory.biggest.map((x) => `      ${b(x.bytes).padStart(12)}  ${x.node.length > 120 ? `${x.node.slice(0, 117)}...` : x.node}`));
    }
    L.push("");
    L.push(`Class`, `---`, `<% time> <sum %> <apply time> <time per call> <#call> <#apply> <Class name>`);
    let cum = 0;
    for (const g of j.classes) {
      cum += g.share;
      L.push(`  ${pct(g.share)} ${pct(cum)} ${s(g.ms)} ${s(g.calls > 0 ? g.ms / g.calls : 0)} ${String(g.calls).padStart(6)} ${String(g.nodes).padStart(4)}   ${g.cls}`);
    }
    L.push("", `Ops`, `---`, `<% time> <sum %> <apply time> <time per call> <#call> <#apply> <Op name>`);
    cum = 0;
    for (const g of j.ops) {
      cum += g.share;
      L.push(`  ${pct(g.share)} ${pct(cum)} ${s(g.ms)} ${s(g.calls > 0 ? g.ms / g.calls : 0)} ${String(g.calls).padStart(6)} ${String(g.nodes).padStart(4)}   ${g.op}`);
    }
    L.push("", `Apply`, `------`, `<% time> <sum %> <apply time> <time per call> <#call> <id> <Apply name>`);
    cum = 0;
    const shown = j.nodes.slice(0, opts.nodes ?? 20);
    for (const n of shown) {
      cum += n.share;
      L.push(`  ${pct(n.share)} ${pct(cum)} ${s(n.ms)} ${s(n.msPerCall)} ${String(n.calls).padStart(6)} ${(n.index < 0 ? "-" : String(n.index)).padStart(4)}   ${n.node.length > 160 ? `${n.node.slice(0, 157)}...` : n.node}`);
      if (n.inputShapes !== null) L.push(`      input shapes: ${n.inputShapes}`);
    }
    if (j.nodes.length > shown.length) L.push(`   ... (remaining ${j.nodes.length - shown.length} Apply instances account for ${pct(j.nodes.slice(shown.length).reduce((a, n) => a + n.share, 0)).trim()} of the time)`);
    if (j.calls === 0) L.push("", "  (no calls yet)");
    // Inner graphs (a Scan's step): their own tables, under the outer node that ran them.
    for (const { node, profile } of this.innerProfiles()) {
      const idx = this.order.indexOf(node);
      L.push("", `Inner graph of ${String(node.op)} (Apply ${idx < 0 ? "-" : idx}): ${profile.calls} step(s)`);
      L.push(...profile.summary(opts).trimEnd().split("\n").map((l) => `    ${l}`));
    }
    return L.join("\n") + "\n";
  }

  /**
   * Writes the last call as a Chrome trace (the JSON Trace Event format that chrome://tracing
   * and ui.perfetto.dev open): one complete event per node, in microseconds from the call's start.
   */
  writeTrace(path: string): void {
    const events = this.trace.map((e) => ({
      name: String(e.node.op),
      cat: opClass(e.node),
      ph: "X",
      ts: Math.max(0, (e.startMs - this.traceStart) * 1e3),
      dur: e.ms * 1e3,
      pid: 1,
      tid: 1,
      args: { node: e.node.toString(), index: this.order.indexOf(e.node) },
    }));
    writeFileSync(path, JSON.stringify({ traceEvents: events, displayTimeUnit: "ms", otherData: { function: this.name, linker: this.linker } }));
  }
}

/** The class name of a node's op (Theano's "Class" column). */
function opClass(n: Apply): string {
  return (n.op as object).constructor.name;
}

/**
 * Every profiled function's summary (those compiled with the `profile` flag, in order), then the
 * per-Op-class table merged over all of them. Empty when nothing was profiled.
 */
export function profileSummary(): string {
  if (registry.length === 0) return "";
  const parts = registry.map((p) => p.summary());
  const merged = new Map<string, { ms: number; calls: number; nodes: number }>();
  let total = 0;
  for (const p of registry) {
    for (const g of p.toJSON().classes) {
      const m = merged.get(g.cls) ?? { ms: 0, calls: 0, nodes: 0 };
      m.ms += g.ms;
      m.calls += g.calls;
      m.nodes += g.nodes;
      merged.set(g.cls, m);
      total += g.ms;
    }
  }
  const L = [`Sum of all(${registry.length}) printed profiles`, `=====`, `<% time> <apply time> <#call> <#apply> <Class name>`];
  for (const [cls, m] of [...merged].sort((a, b) => b[1].ms - a[1].ms)) {
    L.push(`  ${`${(total > 0 ? (100 * m.ms) / total : 0).toFixed(1)}%`.padStart(6)} ${(m.ms / 1e3).toExponential(3)}s ${String(m.calls).padStart(6)} ${String(m.nodes).padStart(4)}   ${cls}`);
  }
  return [...parts, L.join("\n") + "\n"].join("\n");
}
