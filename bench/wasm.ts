/**
 * Wasm backend benchmark (issue 20): fused elementwise workloads on float32 timed on
 * linker=wasm, js and c in one process (c only when a C compiler works here). W2 is
 * tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) (on float32, Wasm computes tanh, sigmoid and exp itself,
 * two float64 lanes at a time); "arith" uses only operations Wasm has instructions for (the
 * f32x4 loop). Then W3, bench/c.ts's MLP training step (784-512-512-10, batch 256), whose
 * GEMMs have no Wasm kernel yet (they run on the host in wasm and js alike). Median of N runs
 * after one warm-up; the compile column is theano.function's time.
 *
 *   npx tsx bench/wasm.ts [--runs 7] [--n 1000000]
 */

import * as theano from "../src/index.js";
import { cCompilerStatus } from "../src/link/c/compiler.js";

const { T } = theano;
const arg = (name: string, dflt: number): number => {
  const k = process.argv.indexOf(name);
  return k >= 0 ? Number(process.argv[k + 1]) || dflt : dflt;
};
const runs = arg("--runs", 7);
const n = arg("--n", 1_000_000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => unknown): number {
  fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function rand(len: number, seed = 1): Float32Array {
  const a = new Float32Array(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 4 - 2;
  }
  return a;
}

const linkers: Array<"wasm" | "js" | "c"> = ["wasm", "js", ...(cCompilerStatus().ok ? (["c"] as const) : [])];
const xv = new theano.NDArray("float32", [n], rand(n));
const workloads: Array<[string, (x: theano.TensorVariable) => theano.TensorVariable]> = [
  ["W2 tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x)", (x) => T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)))],
  ["arith max(x*0.5+0.1,0)*x-sqrt(|x|)", (x) => T.maximum(x.mul(0.5).add(0.1), 0).mul(x).sub(T.sqrt(T.abs(x)))],
];

// Warm the process (rewrite databases, first module compiles) so compile columns compare linkers.
for (const linker of linkers) {
  const x = T.fvector("x");
  theano.function([x], T.tanh(x).mul(2), { mode: new theano.Mode(linker) });
}

console.log(`fused elementwise, ${n} float32 elements, median of ${runs} (ms); node ${process.version}`);
console.log(`| workload | ${linkers.map((l) => `${l} run`).join(" | ")} | ${linkers.map((l) => `${l} compile`).join(" | ")} |`);
console.log(`| --- | ${linkers.map(() => "---").join(" | ")} | ${linkers.map(() => "---").join(" | ")} |`);
for (const [name, build] of workloads) {
  const runMs: string[] = [];
  const compileMs: string[] = [];
  for (const linker of linkers) {
    const x = T.fvector("x");
    const t0 = performance.now();
    const f = theano.function([x], build(x), { mode: new theano.Mode(linker) }) as unknown as (a: theano.NDArray) => theano.NDArray;
    compileMs.push((performance.now() - t0).toFixed(1));
    runMs.push(time(() => f(xv)).toFixed(2));
  }
  console.log(`| ${name} | ${runMs.join(" | ")} | ${compileMs.join(" | ")} |`);
}

// W3, as bench/c.ts builds it.
function rand01(len: number, seed: number, scale: number): Float32Array {
  const a = rand(len, seed);
  for (let i = 0; i < len; i++) a[i]! *= scale / 2;
  return a;
}
function mlpStep(mode: theano.Mode): () => unknown {
  const X = T.fmatrix("X");
  const y = T.ivector("y");
  const init = (r: number, c: number, seed: number) => theano.shared(new theano.NDArray("float32", [r, c], rand01(r * c, seed, 0.1)));
  const zeros = (k: number) => theano.shared(theano.zeros([k], "float32"));
  const params = [init(784, 512, 11), zeros(512), init(512, 512, 12), zeros(512), init(512, 10, 13), zeros(10)] as unknown as theano.TensorVariable[];
  const h1 = T.relu(T.dot(X, params[0]!).add(params[1]!));
  const h2 = T.relu(T.dot(h1, params[2]!).add(params[3]!));
  const p = T.softmax(T.dot(h2, params[4]!).add(params[5]!));
  const loss = T.mean(T.crossentropyCategorical1Hot(p, y));
  const grads = theano.grad(loss, params) as theano.TensorVariable[];
  const updates = params.map((w, i) => [w, w.sub(grads[i]!.mul(0.01))] as [theano.TensorVariable, theano.TensorVariable]);
  const f = theano.function([X, y], loss, { mode, updates: updates as never });
  const Xv = new theano.NDArray("float32", [256, 784], rand(256 * 784, 5));
  const yv = theano.array(Array.from({ length: 256 }, (_v, i) => (i * 7) % 10), "int32");
  return () => f(Xv, yv);
}
{
  const runMs: string[] = [];
  const compileMs: string[] = [];
  for (const linker of linkers) {
    const t0 = performance.now();
    const step = mlpStep(new theano.Mode(linker));
    compileMs.push((performance.now() - t0).toFixed(1));
    runMs.push(time(step).toFixed(2));
  }
  console.log(`| W3 MLP train step 784-512-512-10, batch 256 | ${runMs.join(" | ")} | ${compileMs.join(" | ")} |`);
}
