/**
 * Scan benchmark (issue 14): the per-step overhead of a tiny body (`x + 1` on a float32 scalar,
 * only the last value kept) on the js and c linkers, and a small tanh RNN forward pass. The
 * reference figure from the issue is PyTensor 2.27's C scan: 0.54 µs per step on this machine
 * kind; the issue's targets are ≤ 1 µs (js) and ≤ 0.25 µs (c), which need the loop in generated
 * code (today each step calls the inner compiled function from the host).
 *
 *   npx tsx bench/scan.ts [--steps 20000]
 */
import * as theano from "../src/index.js";

const T = theano.tensor;
const argv = process.argv;
const steps = Number(argv[argv.indexOf("--steps") + 1]) || 20000;

/**
 * Per-step cost of a tiny body on a float32 scalar. `x + 1` is the body; the scan rewrites
 * turn that accumulation into a map of constants and a sum after the loop (scan_pushout_add), so
 * `x * 0.5 + 1`, which they leave as a loop-carried state, is timed too.
 */
function tinyBody(linker: "js" | "c", body: "add" | "affine"): number {
  const x0 = T.fscalar("x0");
  const fn = (x: theano.TensorVariable) => (body === "add" ? x.add(1) : x.mul(0.5).add(1));
  const [ys] = theano.scan({ fn, outputsInfo: [x0], nSteps: steps });
  const f = theano.function([x0], (ys as theano.TensorVariable).get(-1), { mode: new theano.Mode(linker, "fast_run") });
  const v = theano.array(0, "float32");
  f(v);
  const ts: number[] = [];
  let r: theano.NDArray | null = null;
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    r = f(v) as theano.NDArray;
    ts.push(((performance.now() - t0) / steps) * 1e3);
  }
  const want = body === "add" ? steps : 2;
  if (Math.abs(Number(r!.toFlat()[0]) - want) > 1e-3 * want) throw new Error(`tiny body ${body}: expected ${want}, got ${String(r!.toFlat()[0])}`);
  return ts.sort((a, b) => a - b)[1]!;
}

function rnn(linker: "js" | "c"): number {
  const X = T.ftensor3("X"); // (time, batch, features)
  const W = theano.shared(theano.array(Array.from({ length: 64 * 128 }, (_, i) => Math.sin(i) * 0.05), "float32").reshape([64, 128]), { name: "W" });
  const U = theano.shared(theano.array(Array.from({ length: 128 * 128 }, (_, i) => Math.cos(i) * 0.05), "float32").reshape([128, 128]), { name: "U" });
  const h0 = T.fmatrix("h0");
  const [hs] = theano.scan({ fn: (x: theano.TensorVariable, h: theano.TensorVariable) => T.tanh(T.dot(x, W).add(T.dot(h, U))), sequences: [X], outputsInfo: [h0] });
  const f = theano.function([X, h0], (hs as theano.TensorVariable).sum(), { mode: new theano.Mode(linker, "fast_run") });
  const xv = theano.array(Array.from({ length: 64 * 32 * 64 }, (_, i) => Math.sin(i * 0.1)), "float32").reshape([64, 32, 64]);
  const hv = theano.zeros([32, 128], "float32");
  f(xv, hv);
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    f(xv, hv);
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[2]!;
}

console.log(`| workload | js | c | reference |`);
console.log(`|---|---:|---:|---|`);
console.log(`| tiny body x+1, µs per step (${steps} steps) | ${tinyBody("js", "add").toFixed(2)} | ${tinyBody("c", "add").toFixed(2)} | PyTensor 2.27 C scan 0.54; targets js ≤ 1, c ≤ 0.25 |`);
console.log(`| tiny body x*0.5+1 (a loop-carried state), µs per step | ${tinyBody("js", "affine").toFixed(2)} | ${tinyBody("c", "affine").toFixed(2)} | |`);
console.log(`| tanh RNN forward, 64 steps, batch 32, 64->128, ms | ${rnn("js").toFixed(2)} | ${rnn("c").toFixed(2)} | |`);
