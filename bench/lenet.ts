/**
 * LeNet-5 training step (issue 15.1), as in Theano's tutorial (`convolutional_mlp.py`): conv
 * 20@5x5 → max pool 2 → tanh → conv 50@5x5 → max pool 2 → tanh → dense 500 tanh → softmax 10,
 * mean negative log-likelihood, `theano.grad` and SGD updates of the eight shared parameters,
 * float32, 28x28 inputs. Prints ms per step for linker=c and linker=js (same process, median of
 * N steps after warm-up), and the C step's compile time: cold (a fresh compiledir) and warm (the
 * same graph built again, the module from the cache).
 *
 *   npx tsx bench/lenet.ts [--runs 5] [--batches 64,256] [--no-js] [--graph] [--profile]
 *
 * `--graph` prints which nodes of the C step run on the host (between C segments); `--profile`
 * prints the C step's profile (time per segment and host node).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as theano from "../src/index.js";
import { cSource } from "../src/link/c/linker.js";

const { T } = theano;
const argv = process.argv;
const arg = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const runs = Number(arg("--runs")) || 5;
const batches = (arg("--batches") ?? "64,256").split(",").map(Number);
const withJs = !argv.includes("--no-js");
const C = new theano.Mode("c", "fast_run");
const JS = new theano.Mode("js", "fast_run");

/** Deterministic uniform values in [-scale, scale). */
function rand(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(f: () => unknown, n = runs): number {
  for (let i = 0; i < 2; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** The compiled step and a call of it on one batch of `batch` images. */
function lenetStep(mode: theano.Mode, batch: number): { f: theano.TheanoFunction<unknown>; step: () => unknown } {
  const x = T.fmatrix("x");
  const y = T.ivector("y");
  const shared = (shape: number[], seed: number, scale: number) => theano.shared(new theano.NDArray("float32", shape, seed ? rand(shape.reduce((a, b) => a * b, 1), seed, scale) : new Float32Array(shape.reduce((a, b) => a * b, 1))));
  // Theano's initialisation scale: sqrt(6 / (fan_in + fan_out)).
  const W1 = shared([20, 1, 5, 5], 1, Math.sqrt(6 / (25 + 20 * 25 / 4)));
  const b1 = shared([20], 0, 0);
  const W2 = shared([50, 20, 5, 5], 2, Math.sqrt(6 / (20 * 25 + 50 * 25 / 4)));
  const b2 = shared([50], 0, 0);
  const W3 = shared([50 * 4 * 4, 500], 3, Math.sqrt(6 / (800 + 500)));
  const b3 = shared([500], 0, 0);
  const W4 = shared([500, 10], 0, 0);
  const b4 = shared([10], 0, 0);
  const params = [W1, b1, W2, b2, W3, b3, W4, b4] as unknown as theano.TensorVariable[];
  const [w1, c1, w2, c2, w3, c3, w4, c4] = params as [theano.TensorVariable, ...theano.TensorVariable[]];
  const input = x.reshape([batch, 1, 28, 28]);
  const h1 = T.tanh(T.maxPool2d(T.conv2d(input, w1), 2).add(c1!.dimshuffle("x", 0, "x", "x")));
  const h2 = T.tanh(T.maxPool2d(T.conv2d(h1, w2!), 2).add(c2!.dimshuffle("x", 0, "x", "x")));
  const h3 = T.tanh(T.dot(h2.flatten(2), w3!).add(c3!));
  const p = T.softmax(T.dot(h3, w4!).add(c4!));
  const cost = T.mean(T.crossentropyCategorical1Hot(p, y));
  const grads = theano.grad(cost, params) as theano.TensorVariable[];
  const updates = params.map((w, i) => [w, w.sub(grads[i]!.mul(0.1))] as [theano.TensorVariable, theano.TensorVariable]);
  const f = theano.function([x, y], cost, { mode, updates: updates as never, profile: mode === C && argv.includes("--profile") });
  const xv = new theano.NDArray("float32", [batch, 784], rand(batch * 784, 7));
  const yv = theano.array(Array.from({ length: batch }, (_v, i) => (i * 7) % 10), "int32");
  return { f, step: () => f(xv, yv) };
}

// C first for every batch size, then JS (its perform loops churn the JS heap for seconds).
const results = batches.map((batch) => {
  const fresh = mkdtempSync(join(tmpdir(), "theano-ts-lenet-"));
  try {
    let t0 = performance.now();
    const { f, step } = theano.config.change({ compiledir: fresh }, () => lenetStep(C, batch));
    const cold = performance.now() - t0;
    t0 = performance.now();
    theano.config.change({ compiledir: fresh }, () => lenetStep(C, batch));
    const warm = performance.now() - t0;
    if (argv.includes("--graph")) {
      const host = cSource(f.fgraph).steps.filter((s) => s.kind === "host");
      console.log(`batch ${batch}: ${host.length} host node(s)${host.map((s) => (s.kind === "host" ? `\n  ${s.node}` : "")).join("")}`);
    }
    const c = time(step);
    if (argv.includes("--profile")) console.log(f.profile!.summary());
    return { batch, c, cold, warm };
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
const rows = results.map(({ batch, c, cold, warm }) => {
  const js = withJs ? time(lenetStep(JS, batch).step, Math.min(runs, 3)) : null;
  return `| ${batch} | ${c.toFixed(1)} | ${js === null ? "" : js.toFixed(1)} | ${js === null ? "" : `${(js / c).toFixed(0)}x`} | ${cold.toFixed(0)} | ${warm.toFixed(0)} |`;
});
console.log(`LeNet-5 training step, float32, 28x28 (median of ${runs})\n`);
console.log(`| batch | C ms/step | JS ms/step | JS/C | C compile cold ms | C compile warm ms |`);
console.log(`|---:|---:|---:|---:|---:|---:|`);
for (const r of rows) console.log(r);
