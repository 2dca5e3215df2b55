/**
 * Embedding benchmark (issue 15.1, indexing): a float32 table W of 50 000 × 256 (51 MB) and 4096
 * token ids with repeats (drawn from the first 1000 rows, so every row repeats ~4 times):
 *   lookup      W[idx]                                (AdvancedSubtensor1: a gather of 4 MB)
 *   gradient    grad(sum(W[idx] * g), W)              (AdvancedIncSubtensor into zeros: 51 MB out)
 *   update      W[idx] += g as a shared update        (in place; the call lends W, a 51 MB copy)
 * on linker=c and linker=js in the same run, with a memory-bandwidth floor: the bytes each one
 * must move divided by the bandwidth of a C-compiled `x * 2` over a 51 MB array (borrowed output,
 * so no fresh pages). Median of N runs after ten warm-up calls; a shared machine: read ratios.
 *
 *   npx tsx bench/embedding.ts [--runs 9] [--vocab 50000] [--dim 256] [--n 4096]
 */

import * as theano from "../src/index.js";
import type { FunctionGraph } from "../src/graph/fgraph.js";
import { cSource } from "../src/link/c/linker.js";

const { T } = theano;
const argv = process.argv;
const arg = (name: string, dflt: number): number => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const runs = arg("--runs", 9);
const V = arg("--vocab", 50_000);
const D = arg("--dim", 256);
const N = arg("--n", 4096);
const C = new theano.Mode("c", "fast_run");
const JS = new theano.Mode("js", "fast_run");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Median ms after ten warm-up calls: the first calls' fresh outputs fault in new pages until
 * the collector has freed earlier ones for the heap to reuse (src/link/host_heap.ts); three
 * warm-ups left the 4 MB lookup at 12 ms a call here, against 0.5 ms in the steady state.
 */
function time(fn: () => unknown): number {
  for (let i = 0; i < 10; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function randf(shape: number[], seed: number): theano.NDArray {
  const a = theano.zeros(shape, "float32");
  const d = a.data as Float32Array;
  let s = seed >>> 0;
  for (let i = 0; i < d.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    d[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

const ids = theano.zeros([N], "int64");
{
  const d = ids.data as BigInt64Array;
  let s = 7;
  for (let i = 0; i < N; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    d[i] = BigInt(s % Math.min(V, 1000));
  }
}
const g = randf([N, D], 3);
const W0 = randf([V, D], 1);

/** The C plan's host nodes (should be none). */
const hosts = (f: { fgraph: FunctionGraph }): string[] => cSource(f.fgraph).steps.flatMap((s) => (s.kind === "host" ? [String(s.node.op)] : []));

type Case = { name: string; bytes: number; ms: Record<"c" | "js", number> };
const cases: Case[] = [];
const MB = 1e6;
const row = D * 4;

function bench(name: string, bytes: number, build: (mode: theano.Mode) => () => unknown): void {
  const ms = { c: 0, js: 0 };
  for (const [k, mode] of [["c", C], ["js", JS]] as const) ms[k] = time(build(mode));
  cases.push({ name, bytes, ms });
}

bench("lookup W[idx]", 2 * N * row + N * 8, (mode) => {
  const W = theano.shared(W0, { name: "W", borrow: true }) as unknown as theano.TensorVariable;
  const idx = T.lvector("idx");
  const f = theano.function([idx], W.get(idx), { mode });
  if (mode === C && hosts(f).length) console.error(`lookup: host nodes ${hosts(f).join(", ")}`);
  return () => f(ids);
});

// zeros written once, g read, each indexed row read and written
bench("gradient grad(sum(W[idx]*g), W)", V * row + N * row + 2 * N * row + N * 8, (mode) => {
  const W = theano.shared(W0, { name: "W", borrow: true }) as unknown as theano.TensorVariable;
  const idx = T.lvector("idx");
  const gy = T.fmatrix("g");
  const gw = theano.grad(T.sum(W.get(idx).mul(gy)), W);
  const f = theano.function([idx, gy], gw, { mode });
  if (mode === C && hosts(f).length) console.error(`gradient: host nodes ${hosts(f).join(", ")}`);
  return () => f(ids, g);
});

// g read, each indexed row read and written; plus the lent copy of W (read and written) that
// makes a failed call leave W unchanged (src/compile/function.ts)
bench("update W[idx] += g (shared, in place)", 2 * V * row + N * row + 2 * N * row + N * 8, (mode) => {
  const S = theano.shared(W0.copy(), { name: "W" });
  const W = S as unknown as theano.TensorVariable;
  const idx = T.lvector("idx");
  const gy = T.fmatrix("g");
  const f = theano.function([idx, gy], [], { mode, updates: [[S, T.incSubtensor(W.get(idx), gy)]] });
  if (mode === C && hosts(f).length) console.error(`update: host nodes ${hosts(f).join(", ")}`);
  return () => f(ids, g);
});

// Bandwidth: x * 2 over a table-sized array, read once and written once (borrowed output: no fresh pages).
const x = T.fmatrix("x");
const copy = theano.function([x], theano.Out(x.mul(2), { borrow: true }), { mode: C });
const copyMs = time(() => copy(W0));
const gbps = (2 * V * row) / (copyMs / 1e3) / 1e9;

console.log(`\nembedding ${V} × ${D} float32, ${N} ids (repeats), median of ${runs}; bandwidth of a C x*2 over ${((V * row) / MB).toFixed(1)} MB: ${gbps.toFixed(1)} GB/s (${copyMs.toFixed(2)} ms)\n`);
console.log(`| workload | linker=c (ms) | linker=js (ms) | js / c | bytes moved (MB) | bandwidth floor (ms) | c / floor |`);
console.log(`|---|---:|---:|---:|---:|---:|---:|`);
for (const c of cases) {
  const floor = c.bytes / (gbps * 1e9) * 1e3;
  console.log(`| ${c.name} | ${c.ms.c.toFixed(2)} | ${c.ms.js.toFixed(2)} | ${(c.ms.js / c.ms.c).toFixed(1)}x | ${(c.bytes / MB).toFixed(1)} | ${floor.toFixed(2)} | ${(c.ms.c / floor).toFixed(1)}x |`);
}
