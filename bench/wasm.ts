/**
 * Wasm backend benchmark (issue 20): fused elementwise workloads on float32 timed on
 * linker=wasm, js and c in one process (c only when a C compiler works here). W2 is
 * tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) (on float32, Wasm computes tanh, sigmoid and exp itself,
 * two float64 lanes at a time); "arith" uses only operations Wasm has instructions for (the
 * f32x4 loop). Then W1, a float32 matmul n=1024 in GFLOP/s (its Dot is the Wasm GEMM of
 * src/link/wasm/ops/blas.ts), and W3, bench/c.ts's MLP training step (784-512-512-10, batch
 * 256), whose Dot and Gemm nodes run as that GEMM too, and W4, logSoftmax of 4096x1000
 * (src/link/wasm/ops/nnet.ts). Median of N runs after one warm-up; the
 * compile column is theano.function's time.
 *
 * With bench/peers installed (`cd bench/peers && npm ci`), tfjs-wasm and jax-js-wasm run W1, W3
 * and W4 in a child process (bench/peers/run.mjs, one thread each, as theano-ts wasm) and their
 * figures join the W1 and W3 rows; `--no-peers` skips them.
 *
 * `--cpu` times with the process's CPU clock (all threads: the c linker's OpenMP threads count).
 *
 * "wasm" is one thread (wasm.num_threads=1, as the peers run); "wasm×N" is wasm.num_threads=N
 * (`--threads N`, default the flag's auto: the cores, at most 8): products split by rows across
 * worker_threads (src/link/wasm/threads.ts); other kernels stay on one thread. Wall clock only
 * (--cpu would count every thread's time).
 *
 *   npx tsx bench/wasm.ts [--runs 7] [--n 1000000] [--no-peers] [--cpu] [--threads N]
 */

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as theano from "../src/index.js";
import { cCompilerStatus } from "../src/link/c/compiler.js";
import { wasmThreads } from "../src/link/wasm/threads.js";

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

// --cpu: the process's CPU time (user + system, all threads) instead of the wall clock, which on
// a shared machine sees past the other jobs (the peers get --cpu too).
const cpuClock = process.argv.includes("--cpu");
const now = (): number => {
  if (!cpuClock) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function time(fn: () => unknown): number {
  fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = now();
    fn();
    ts.push(now() - t0);
  }
  return median(ts);
}

function timeOnce(fn: () => unknown): number {
  const t0 = now();
  fn();
  return now() - t0;
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

const threads = arg("--threads", 0) || theano.config.change({ "wasm.num_threads": 0 }, () => wasmThreads());
type Column = "wasm" | `wasm×${number}` | "js" | "c";
const linkers: Column[] = ["wasm", ...(threads > 1 ? [`wasm×${threads}` as const] : []), "js", ...(cCompilerStatus().ok ? (["c"] as const) : [])];
/** The mode of a column, and the thread count its functions are compiled and run under. */
const modeOf = (l: Column): theano.Mode => new theano.Mode(l.startsWith("wasm") ? "wasm" : (l as "js" | "c"));
const threadsOf = (l: Column): number => (l === "wasm" ? 1 : l.startsWith("wasm×") ? threads : 1);
const under = <R>(l: Column, fn: () => R): R => theano.config.change({ "wasm.num_threads": threadsOf(l) }, fn);
const xv = new theano.NDArray("float32", [n], rand(n));
const workloads: Array<[string, (x: theano.TensorVariable) => theano.TensorVariable]> = [
  ["W2 tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x)", (x) => T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)))],
  ["arith max(x*0.5+0.1,0)*x-sqrt(|x|)", (x) => T.maximum(x.mul(0.5).add(0.1), 0).mul(x).sub(T.sqrt(T.abs(x)))],
];

// Warm the process (rewrite databases, first module compiles) so compile columns compare linkers.
for (const linker of linkers) {
  const x = T.fvector("x");
  under(linker, () => theano.function([x], T.tanh(x).mul(2), { mode: modeOf(linker) }));
}

console.log(`fused elementwise, ${n} float32 elements, median of ${runs} (ms, ${cpuClock ? "process CPU time" : "wall clock"}); node ${process.version}`);
console.log(`| workload | ${linkers.map((l) => `${l} run`).join(" | ")} | ${linkers.map((l) => `${l} compile`).join(" | ")} |`);
console.log(`| --- | ${linkers.map(() => "---").join(" | ")} | ${linkers.map(() => "---").join(" | ")} |`);
for (const [name, build] of workloads) {
  const runMs: string[] = [];
  const compileMs: string[] = [];
  for (const linker of linkers) {
    const x = T.fvector("x");
    const t0 = performance.now();
    const f = under(linker, () => theano.function([x], build(x), { mode: modeOf(linker) })) as unknown as (a: theano.NDArray) => theano.NDArray;
    compileMs.push((performance.now() - t0).toFixed(1));
    runMs.push(under(linker, () => time(() => f(xv))).toFixed(2));
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
// The peers first (a child process, so they do not share this one's heap or JIT), when installed.
const PEERS = ["tfjs-wasm", "jax-js-wasm"] as const;
const peerDir = new URL("./peers/", import.meta.url);
let peers: Record<string, { W1_1024: number | null; W3: number | null; W4: number | null }> | null = null;
if (!process.argv.includes("--no-peers") && existsSync(new URL("node_modules/@tensorflow/tfjs-backend-wasm", peerDir))) {
  try {
    const out = execFileSync(process.execPath, [new URL("run.mjs", peerDir).pathname, "--json", "--runs", String(runs), "--only", PEERS.join(","), ...(cpuClock ? ["--cpu"] : [])], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    peers = JSON.parse(out.trim().split("\n").pop()!);
  } catch (e) {
    console.log(`(peers failed: ${(e as Error).message.split("\n")[0]})`);
  }
}
const peerCols = (key: "W1_1024" | "W3" | "W4", digits: number): string => (peers ? ` | ${PEERS.map((p) => peers![p]?.[key]?.toFixed(digits) ?? "—").join(" | ")}` : "");
console.log(`\nproducts and logSoftmax, float32, median of ${runs}${peers ? `; ${PEERS.join(", ")}: bench/peers/run.mjs, one thread` : ""}`);
console.log(`| workload | ${linkers.map((l) => `${l} run`).join(" | ")}${peers ? ` | ${PEERS.join(" | ")}` : ""} | ${linkers.map((l) => `${l} compile`).join(" | ")} |`);
console.log(`| --- | ${linkers.map(() => "---").join(" | ")}${peers ? ` | ${PEERS.map(() => "---").join(" | ")}` : ""} | ${linkers.map(() => "---").join(" | ")} |`);

// W1: matmul n=1024 (GFLOP/s, higher is better); the js linker gets 1 timed run (seconds each).
{
  const nn = 1024;
  const a = new theano.NDArray("float32", [nn, nn], rand(nn * nn, 3));
  const b = new theano.NDArray("float32", [nn, nn], rand(nn * nn, 4));
  const gflops: string[] = [];
  const compileMs: string[] = [];
  for (const linker of linkers) {
    const x = T.fmatrix("a");
    const y = T.fmatrix("b");
    const t0 = performance.now();
    const f = under(linker, () => theano.function([x, y], T.dot(x, y), { mode: modeOf(linker) })) as unknown as (p: theano.NDArray, q: theano.NDArray) => theano.NDArray;
    compileMs.push((performance.now() - t0).toFixed(1));
    const ms = under(linker, () => (linker === "js" ? (f(a, b), timeOnce(() => f(a, b))) : time(() => f(a, b))));
    gflops.push(`${((2 * nn ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`);
  }
  console.log(`| W1 matmul n=1024 | ${gflops.join(" | ")}${peerCols("W1_1024", 1)} | ${compileMs.join(" | ")} |`);
}
{
  const runMs: string[] = [];
  const compileMs: string[] = [];
  for (const linker of linkers) {
    const t0 = performance.now();
    const step = under(linker, () => mlpStep(modeOf(linker)));
    compileMs.push((performance.now() - t0).toFixed(1));
    runMs.push(`${under(linker, () => time(step)).toFixed(2)} ms`);
  }
  console.log(`| W3 MLP train step 784-512-512-10, batch 256 | ${runMs.join(" | ")}${peerCols("W3", 2)} | ${compileMs.join(" | ")} |`);
}
// W4: logSoftmax over the last axis of 4096x1000 (as bench/c.ts: the LCG, seed 7).
{
  const xv4 = new theano.NDArray("float32", [4096, 1000], rand(4096 * 1000, 7));
  const runMs: string[] = [];
  const compileMs: string[] = [];
  for (const linker of linkers) {
    const x = T.fmatrix("x");
    const t0 = performance.now();
    const f = under(linker, () => theano.function([x], T.logSoftmax(x), { mode: modeOf(linker) })) as unknown as (a: theano.NDArray) => theano.NDArray;
    compileMs.push((performance.now() - t0).toFixed(1));
    runMs.push(`${under(linker, () => time(() => f(xv4))).toFixed(2)} ms`);
  }
  console.log(`| W4 logSoftmax 4096x1000 | ${runMs.join(" | ")}${peerCols("W4", 2)} | ${compileMs.join(" | ")} |`);
}
