/**
 * Reduction fusion benchmark: `sum(exp(x)*y)` on 10M float32 elements with the JS backend,
 * fused (one FusedReduce node: no 10M-element temporary) against unfused
 * (`optimizer_excluding=reduction_fusion`: a fused elementwise loop writing exp(x)*y, then a
 * CAReduce reading it), plus the same with an epilogue: `sqrt(sum(sqr(x - 0.1), axis=1) / n)`
 * on a 10000×1000 matrix. Median of N runs after warm-up; read the ratio, not the milliseconds
 * (the machine is shared).
 *
 *   npx tsx bench/reduce_fusion.ts [--runs 7] [--n 10000000]
 */

import * as theano from "../src/index.js";

const { T } = theano;
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) || dflt : dflt;
};
const runs = arg("--runs", 7);
const n = arg("--n", 10_000_000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => unknown): number {
  fn(); // warm-up (JIT, pools)
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function rand(len: number, seed: number): theano.NDArray {
  const a = new Float32Array(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 4 - 2;
  }
  return new theano.NDArray("float32", [len], a);
}

const compile = (ins: theano.TensorVariable[], out: theano.TensorVariable, unfused: boolean): ((...a: unknown[]) => unknown) =>
  theano.config.change({ linker: "js", ...(unfused ? { optimizer_excluding: "reduction_fusion" } : {}) }, () => theano.function(ins, out) as unknown as (...a: unknown[]) => unknown);

const nodes = (f: unknown): string => [...(f as { fgraph: { toposort(): Array<{ op: { toString(): string } }> } }).fgraph.toposort()].map((nd) => String(nd.op).split("{")[0]).join(" + ");

const rows: Array<[string, number, number, string, string]> = [];
{
  const x = T.fvector("x");
  const y = T.fvector("y");
  const out = T.sum(T.exp(x).mul(y));
  const fused = compile([x, y], out, false);
  const plain = compile([x, y], out, true);
  const X = rand(n, 1);
  const Y = rand(n, 2);
  rows.push([`sum(exp(x)*y), ${n} float32`, time(() => fused(X, Y)), time(() => plain(X, Y)), nodes(fused), nodes(plain)]);
}
{
  const cols = 1000;
  const m = T.fmatrix("m");
  const out = T.sqrt(T.mean(T.sqr(m.sub(0.1)), 1));
  const fused = compile([m], out, false);
  const plain = compile([m], out, true);
  const M = rand(Math.floor(n / cols) * cols, 3).reshape([Math.floor(n / cols), cols]);
  rows.push([`sqrt(mean(sqr(m-0.1), axis=1)), ${M.shape.join("x")}`, time(() => fused(M)), time(() => plain(M)), nodes(fused), nodes(plain)]);
}

console.log(`| workload | fused (ms) | unfused (ms) | speed-up |`);
console.log(`|---|---:|---:|---:|`);
for (const [name, f, p] of rows) console.log(`| ${name} | ${f.toFixed(1)} | ${p.toFixed(1)} | ${(p / f).toFixed(2)}x |`);
for (const [name, , , fn, pn] of rows) console.log(`\n${name}\n  fused:   ${fn}\n  unfused: ${pn}`);
