/**
 * C backend benchmark (issue 6), one table: theano-ts C vs theano-ts JS vs NumPy (through
 * `python3`, when it has numpy). Workloads, float32:
 *   W1 matmul n = 512, 1024, 2048 (GFLOP/s; higher is better)
 *   W2 tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) on 10M elements (ms)
 *   W3 MLP training step 784-512-512-10, batch 256, relu + softmax cross-entropy + SGD (ms)
 *   W4 row-wise logSoftmax of 4096×1000 (ms)
 *   (W2 and W4 also with `Out(expr, { borrow: true })`: the C linker reuses the previous output)
 *   tiny: per-call overhead of a 10-element x*2+1 (µs)
 * plus W3's compile time, cold (fresh compiledir) and warm (same process, new function).
 * Median of N runs after three warm-up calls. The machine may be shared: read the ratios.
 *
 *   npx tsx bench/c.ts [--runs 7] [--no-js] [--no-numpy] [--no-peers]
 *
 * The JS peers (TensorFlow.js cpu/wasm, jax-js) live in the bench-only package bench/peers/
 * (`cd bench/peers && npm ci`); when it is installed their figures join the same table.
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as theano from "../src/index.js";
import { findBlas } from "../src/link/c/compiler.js";

const { T } = theano;
const argv = process.argv;
const runs = Number(argv[argv.indexOf("--runs") + 1]) || 7;
const withJs = !argv.includes("--no-js");
const withNumpy = !argv.includes("--no-numpy");
const withPeers = !argv.includes("--no-peers");
const C = new theano.Mode("c", "fast_run");
const JS = new theano.Mode("js", "fast_run");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Median milliseconds of `fn`, after three warm-up calls (the steady state: the first calls with
 * fresh outputs grow the process heap that later ones reuse, src/link/host_heap.ts); `n`
 * overrides the number of runs.
 */
function time(fn: () => unknown, n = runs): number {
  for (let i = 0; i < 3; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function rand(n: number, seed = 1, scale = 4): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return a;
}

type Row = { name: string; unit: string; higherBetter: boolean; c: number | null; js: number | null; np: number | null; target: string };
const rows: Row[] = [];

// ---- NumPy, in one python3 process --------------------------------------------------------------
const NUMPY = String.raw`
import json, sys, time
import numpy as np
runs = int(sys.argv[1])
def t(f, n=runs):
    f(); ts = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    ts.sort(); return ts[len(ts)//2] * 1e3
out = {}
rng = np.random.default_rng(0)
for n in (512, 1024, 2048):
    a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
    out["W1_%d" % n] = 2 * n**3 / (t(lambda: a @ b, 3 if n == 2048 else runs) / 1e3) / 1e9
x = (rng.random(10_000_000, dtype=np.float32) - 0.5) * 4
out["W2"] = t(lambda: np.tanh(x * np.float32(0.5) + np.float32(0.1)) * (1 / (1 + np.exp(-x))) - np.exp(-x * x))
m = (rng.random((4096, 1000), dtype=np.float32) - 0.5) * 4
def lsm():
    mx = m.max(axis=1, keepdims=True); s = m - mx
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))
out["W4"] = t(lsm)
out["F2"] = t(lambda: x * np.float32(2))
out["F4"] = t(lambda: m * np.float32(2))
X = rng.standard_normal((256, 784), dtype=np.float32); y = rng.integers(0, 10, 256)
W1 = rng.standard_normal((784, 512), dtype=np.float32) * 0.05; b1 = np.zeros(512, np.float32)
W2 = rng.standard_normal((512, 512), dtype=np.float32) * 0.05; b2 = np.zeros(512, np.float32)
W3 = rng.standard_normal((512, 10), dtype=np.float32) * 0.05; b3 = np.zeros(10, np.float32)
lr = np.float32(0.01)
def step():
    global W1, b1, W2, b2, W3, b3
    h1p = X @ W1 + b1; h1 = np.maximum(h1p, 0)
    h2p = h1 @ W2 + b2; h2 = np.maximum(h2p, 0)
    z = h2 @ W3 + b3; z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z); p /= p.sum(axis=1, keepdims=True)
    g = p.copy(); g[np.arange(256), y] -= 1; g /= 256
    gW3 = h2.T @ g; gb3 = g.sum(0); g2 = (g @ W3.T) * (h2p > 0)
    gW2 = h1.T @ g2; gb2 = g2.sum(0); g1 = (g2 @ W2.T) * (h1p > 0)
    gW1 = X.T @ g1; gb1 = g1.sum(0)
    W1 -= lr * gW1; b1 -= lr * gb1; W2 -= lr * gW2; b2 -= lr * gb2; W3 -= lr * gW3; b3 -= lr * gb3
out["W3"] = t(step)
v = np.ones(10, np.float32)
n = 100000; t0 = time.perf_counter()
for _ in range(n): v * np.float32(2) + np.float32(1)
out["tiny"] = (time.perf_counter() - t0) / n * 1e6
t0 = time.perf_counter()
for _ in range(n): v + v
out["tiny_add"] = (time.perf_counter() - t0) / n * 1e6
print(json.dumps(out))
`;

// NumPy as users run it: without the OpenBLAS core-type pin this environment sets (issue 15:
// "unset it for that subprocess only"); and, when the pin is set, pinned too, in its own column.
const PIN_VARS = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];
const pinned = PIN_VARS.some((k) => process.env[k] !== undefined);
function runNumpy(env: NodeJS.ProcessEnv): Record<string, number> {
  const r = spawnSync("python3", ["-c", NUMPY, String(runs)], { encoding: "utf8", env });
  if (r.status === 0) return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
  console.error(`NumPy column skipped: ${(r.stderr || String(r.error)).trim().split("\n").pop()}`);
  return {};
}
let np: Record<string, number> = {};
let npPinned: Record<string, number> = {};
if (withNumpy) {
  const unpinnedEnv = { ...process.env };
  for (const k of PIN_VARS) delete unpinnedEnv[k];
  np = runNumpy(unpinnedEnv);
  if (pinned) npPinned = runNumpy(process.env);
}

// ---- W1 -----------------------------------------------------------------------------------------
for (const n of [512, 1024, 2048]) {
  const a = T.fmatrix("a");
  const b = T.fmatrix("b");
  const av = new theano.NDArray("float32", [n, n], rand(n * n, 1));
  const bv = new theano.NDArray("float32", [n, n], rand(n * n, 2));
  const flops = 2 * n ** 3;
  const fc = theano.function([a, b], T.dot(a, b), { mode: C });
  const c = flops / (time(() => fc(av, bv), n === 2048 ? 3 : runs) / 1e3) / 1e9;
  let js: number | null = null;
  if (withJs && n <= 1024) {
    const fj = theano.function([a, b], T.dot(a, b), { mode: JS });
    js = flops / (time(() => fj(av, bv), n === 1024 ? 1 : 3) / 1e3) / 1e9;
  }
  rows.push({ name: `W1 matmul n=${n}`, unit: "GFLOP/s", higherBetter: true, c, js, np: np[`W1_${n}`] ?? null, target: "≥ 160" });
}

// ---- W2 -----------------------------------------------------------------------------------------
{
  const n = 10_000_000;
  const xv = new theano.NDArray("float32", [n], rand(n, 3));
  const x = T.fvector("x");
  const expr = T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)));
  const fc = theano.function([x], expr, { mode: C });
  const fj = withJs ? theano.function([x], expr, { mode: JS }) : null;
  rows.push({ name: "W2 elementwise 10M", unit: "ms", higherBetter: false, c: time(() => fc(xv)), js: fj ? time(() => fj(xv), 3) : null, np: np.W2 ?? null, target: "≤ 6" });
  // Out(borrow): the output buffer of the previous call is reused (no fresh pages to fault in)
  const fb = theano.function([x], theano.Out(expr, { borrow: true }), { mode: C });
  rows.push({ name: "W2 elementwise 10M, Out(borrow)", unit: "ms", higherBetter: false, c: time(() => fb(xv)), js: null, np: np.W2 ?? null, target: "≤ 6" });
}

// ---- W3 -----------------------------------------------------------------------------------------
function mlpStep(mode: theano.Mode): () => unknown {
  const X = T.fmatrix("X");
  const y = T.ivector("y");
  const init = (r: number, c: number, seed: number) => theano.shared(new theano.NDArray("float32", [r, c], rand(r * c, seed, 0.1)));
  const zeros = (n: number) => theano.shared(theano.zeros([n], "float32"));
  const W1 = init(784, 512, 11), b1 = zeros(512);
  const W2 = init(512, 512, 12), b2 = zeros(512);
  const W3 = init(512, 10, 13), b3 = zeros(10);
  const params = [W1, b1, W2, b2, W3, b3] as unknown as theano.TensorVariable[];
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
let w3: { c: number | null; js: number | null; cold: number | null; warm: number | null } = { c: null, js: null, cold: null, warm: null };
try {
  const fresh = mkdtempSync(join(tmpdir(), "theano-ts-bench-"));
  let t0 = performance.now();
  const stepC = theano.config.change({ compiledir: fresh }, () => mlpStep(C));
  const cold = performance.now() - t0;
  // warm: the same graph built again; the module comes from the cache (this process's memo of it)
  t0 = performance.now();
  theano.config.change({ compiledir: fresh }, () => mlpStep(C));
  const warm = performance.now() - t0;
  w3 = { c: time(stepC), js: withJs ? time(mlpStep(JS), 3) : null, cold, warm };
} catch (e) {
  console.error(`W3 skipped: ${(e as Error).message.split("\n")[0]}`);
}
rows.push({ name: "W3 MLP train step", unit: "ms", higherBetter: false, c: w3.c, js: w3.js, np: np.W3 ?? null, target: "≤ 6" });

// ---- W4 -----------------------------------------------------------------------------------------
{
  const [r, cols] = [4096, 1000];
  const xv = new theano.NDArray("float32", [r, cols], rand(r * cols, 7));
  const x = T.fmatrix("x");
  const fc = theano.function([x], T.logSoftmax(x), { mode: C });
  const fj = withJs ? theano.function([x], T.logSoftmax(x), { mode: JS }) : null;
  rows.push({ name: "W4 logSoftmax 4096x1000", unit: "ms", higherBetter: false, c: time(() => fc(xv)), js: fj ? time(() => fj(xv)) : null, np: np.W4 ?? null, target: "≤ 1.5" });
  const fb = theano.function([x], theano.Out(T.logSoftmax(x), { borrow: true }), { mode: C });
  rows.push({ name: "W4 logSoftmax 4096x1000, Out(borrow)", unit: "ms", higherBetter: false, c: time(() => fb(xv)), js: null, np: np.W4 ?? null, target: "≤ 1.5" });
}

// ---- the floor of a fresh output: x*2 (one read, one write) at W2's and W4's sizes ----------------
// With a fresh output every call, W2 and W4 pay for first-touching new memory (the kernel zeroes
// and maps each 4 KiB page on its first write). x*2 has next to no arithmetic, so its fresh row
// is that cost alone, and its borrow row the memory traffic; W2/W4 cannot be faster than F2/F4.
for (const [key, shape] of [["F2", [10_000_000]], ["F4", [4096, 1000]]] as const) {
  const n = shape.reduce((a, b) => a * b, 1);
  const xv = new theano.NDArray("float32", [...shape], rand(n, 11));
  const x = shape.length === 1 ? T.fvector("x") : T.fmatrix("x");
  const label = `${key} floor: x*2 on ${shape.join("x")}`;
  const fc = theano.function([x], x.mul(2), { mode: C });
  rows.push({ name: `${label}, fresh output`, unit: "ms", higherBetter: false, c: time(() => fc(xv)), js: null, np: np[key] ?? null, target: "" });
  const fb = theano.function([x], theano.Out(x.mul(2), { borrow: true }), { mode: C });
  rows.push({ name: `${label}, Out(borrow)`, unit: "ms", higherBetter: false, c: time(() => fb(xv)), js: null, np: np[key] ?? null, target: "" });
}

// ---- tiny call ----------------------------------------------------------------------------------
{
  const x = T.fvector("x");
  const xv = new theano.NDArray("float32", [10], rand(10, 9));
  const per = (f: (v: theano.NDArray) => unknown): number => {
    for (let i = 0; i < 20000; i++) f(xv);
    const n = 200000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f(xv);
    return ((performance.now() - t0) / n) * 1e3;
  };
  const fc = theano.function([x], x.mul(2).add(1), { mode: C });
  const fj = theano.function([x], x.mul(2).add(1), { mode: JS });
  rows.push({ name: "tiny call x*2+1 (10 elements)", unit: "µs", higherBetter: false, c: per(fc as never), js: withJs ? per(fj as never) : null, np: np.tiny ?? null, target: "≤ 3" });
  const ga = theano.function([x], x.add(x), { mode: C });
  const gj = theano.function([x], x.add(x), { mode: JS });
  rows.push({ name: "tiny call a+b (10 elements)", unit: "µs", higherBetter: false, c: per(ga as never), js: withJs ? per(gj as never) : null, np: np.tiny_add ?? null, target: "≤ NumPy" });
}

// ---- JS peers (bench/peers), one child process ---------------------------------------------------
let peers: Record<string, Record<string, number | null>> = {};
const peersDir = new URL("./peers/", import.meta.url);
if (withPeers && existsSync(new URL("node_modules/", peersDir))) {
  const r = spawnSync("node", [fileURLToPath(new URL("run.mjs", peersDir)), "--json", "--runs", String(runs)], { encoding: "utf8" });
  if (r.status === 0) peers = JSON.parse(r.stdout.trim().split("\n").pop()!) as typeof peers;
  else console.error(`peer columns skipped: ${(r.stderr || String(r.error)).trim().split("\n").pop()}`);
} else if (withPeers) console.error("peer columns skipped: bench/peers is not installed (cd bench/peers && npm ci)");
const peerNames = Object.keys(peers);
/** The key bench/peers and the NumPy script use for a row (W1_512, W2, W3, W4, tiny). */
const rowKey = (name: string): string =>
  name.startsWith("W1") ? `W1_${/n=(\d+)/.exec(name)![1]}` : name.startsWith("tiny call a+b") ? "tiny_add" : name.startsWith("tiny") ? "tiny" : name.slice(0, 2);

// ---- table --------------------------------------------------------------------------------------
const fmt = (v: number | null): string => (v === null ? "—" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (c: number | null, o: number | null, hb: boolean): string => (c === null || o === null ? "—" : `${(hb ? c / o : o / c).toFixed(2)}x`);
const blas = findBlas();
console.log(`theano-ts C backend (${blas ? `BLAS: ${blas.name}` : "built-in GEMM"}), ${runs} runs, median; speed-up = how many times faster C is`);
const peerHead = peerNames.map((p) => ` ${p} |`).join("");
const peerVs = peerNames.map((p) => ` C vs ${p} |`).join("");
const pinHead = pinned ? " NumPy (OpenBLAS pin) |" : "";
console.log(`| workload | unit | theano-ts C | theano-ts JS | NumPy |${pinHead}${peerHead} C vs JS | C vs NumPy |${peerVs} target |`);
console.log(`|---|---|---:|---:|---:|${pinned ? "---:|" : ""}${peerNames.map(() => "---:|").join("")}---:|---:|${peerNames.map(() => "---:|").join("")}---:|`);
for (const r of rows) {
  const pv = peerNames.map((p) => peers[p]![rowKey(r.name)] ?? null);
  const cells = pv.map((v) => ` ${fmt(v)} |`).join("");
  const vs = pv.map((v) => ` ${ratio(r.c, v, r.higherBetter)} |`).join("");
  const pin = pinned ? ` ${fmt(npPinned[rowKey(r.name)] ?? null)} |` : "";
  console.log(`| ${r.name} | ${r.unit} | ${fmt(r.c)} | ${fmt(r.js)} | ${fmt(r.np)} |${pin}${cells} ${ratio(r.c, r.js, r.higherBetter)} | ${ratio(r.c, r.np, r.higherBetter)} |${vs} ${r.target} |`);
}
console.log(`| W3 compile, cold / warm | ms | ${fmt(w3.cold)} / ${fmt(w3.warm)} | | |${pinned ? " |" : ""}${peerNames.map(() => " |").join("")} | |${peerNames.map(() => " |").join("")} ≤ 1500 / ≤ 50 |`);
