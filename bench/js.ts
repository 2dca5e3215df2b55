/**
 * JS backend benchmark (issue 3): W2 = tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) on 10M float32
 * elements and W4 = row-wise logSoftmax of a 4096x1000 float32 matrix, against a hand-written
 * JS loop run in the same process. Prints one table: median of N runs after warm-up.
 *
 *   npx tsx bench/js.ts [--runs 7]
 */

import * as theano from "../src/index.js";

const { T } = theano;
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 7;

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

function rand(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 4 - 2;
  }
  return a;
}

const rows: Array<[string, number, number]> = [];

// W2
{
  const n = 10_000_000;
  const xv = new theano.NDArray("float32", [n], rand(n));
  const x = T.fvector("x");
  const f = theano.function([x], T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x))), { mode: new theano.Mode("js") });
  const out = new Float32Array(n);
  const hand = (): void => {
    const d = xv.data as Float32Array;
    for (let i = 0; i < n; i++) {
      const v = d[i]!;
      out[i] = Math.tanh(v * 0.5 + 0.1) * (1 / (1 + Math.exp(-v))) - Math.exp(-v * v);
    }
  };
  rows.push(["W2 elementwise 10M (ms)", time(() => f(xv)), time(hand)]);
}

// W4
{
  const [r, c] = [4096, 1000];
  const xv = new theano.NDArray("float32", [r, c], rand(r * c, 7));
  const x = T.fmatrix("x");
  const nnet = (T as unknown as { nnet?: { logSoftmax?: (v: unknown) => theano.TensorVariable } }).nnet;
  const expr = nnet?.logSoftmax ? nnet.logSoftmax(x) : x.sub(T.logsumexp(x, 1, true));
  const f = theano.function([x], expr, { mode: new theano.Mode("js") });
  const out = new Float32Array(r * c);
  const hand = (): void => {
    const d = xv.data as Float32Array;
    for (let i = 0; i < r; i++) {
      const o = i * c;
      let m = -Infinity;
      for (let j = 0; j < c; j++) m = Math.max(m, d[o + j]!);
      let s = 0;
      for (let j = 0; j < c; j++) s += Math.exp(d[o + j]! - m);
      const l = Math.log(s) + m;
      for (let j = 0; j < c; j++) out[o + j] = d[o + j]! - l;
    }
  };
  rows.push([`W4 logSoftmax 4096x1000 (ms)${nnet?.logSoftmax ? "" : " [logsumexp graph]"}`, time(() => f(xv)), time(hand)]);
}

console.log(`| workload | theano-ts js | hand-written JS | ratio |`);
console.log(`|---|---:|---:|---:|`);
for (const [name, ours, hand] of rows) console.log(`| ${name} | ${ours.toFixed(1)} | ${hand.toFixed(1)} | ${(ours / hand).toFixed(2)}x |`);
