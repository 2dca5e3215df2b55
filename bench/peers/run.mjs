/**
 * Peer benchmarks for issue 6: the JavaScript ML libraries (TensorFlow.js with its pure-JS `cpu`
 * and its `wasm` backends, and jax-js on its `wasm` device) measured on exactly the workloads of
 * bench/c.ts, so their figures can stand in the same table as theano-ts C, theano-ts JS and NumPy.
 *
 * Plain JavaScript on purpose: this folder is its own bench-only package (bench/peers/package.json),
 * and the root `tsc -p .` (which includes `bench/`, without `allowJs`) must neither type-check nor
 * resolve these peers. Nothing here imports theano-ts.
 *
 * Workloads, float32, inputs from the same LCG (`rand`) with the same seeds and scales as
 * bench/c.ts; every timed call ends with its result read back into a JS typed array (`dataSync`),
 * the counterpart of a theano-ts function returning a host NDArray:
 *   W1 matmul n = 512, 1024, 2048 (GFLOP/s; higher is better)
 *   W2 tanh(x*0.5+0.1)*sigmoid(x)-exp(-x*x) on 10M elements (ms)
 *   W3 MLP training step 784-512-512-10, batch 256, relu + softmax cross-entropy + SGD lr 0.01 (ms)
 *   W4 row-wise logSoftmax of 4096×1000 (ms)
 *   tiny: per-call cost of x*2+1 on 10 elements (µs)
 * Median of N runs after one warm-up call (as bench/c.ts). Each peer's first results are checked
 * against a float64 reference computed here, so a wrong computation is reported, not timed.
 *
 *   node bench/peers/run.mjs [--runs 7] [--json] [--cpu] [--only tfjs-cpu,tfjs-wasm,jax-js-wasm]
 *
 * With --json, stdout carries only `{ "<peer>/<backend>": { W1_512, W1_1024, W1_2048, W2, W3, W4,
 * tiny } }` (null where not measured) and the table goes to stderr. --cpu times with the process's
 * CPU clock instead of the wall clock (the peers compute on one thread; see README.md).
 */

import { readFileSync } from "node:fs";

const argv = process.argv;
const runsArg = argv.indexOf("--runs");
const runs = (runsArg >= 0 && Number(argv[runsArg + 1])) || 7;
const asJson = argv.includes("--json");
const onlyArg = argv.indexOf("--only");
const only = onlyArg >= 0 ? new Set(String(argv[onlyArg + 1]).split(",")) : null;
// --cpu: time with the process's CPU clock (user + system) instead of the wall clock. The peers run
// on one thread, so on a shared machine this sees past the other jobs (GC helper threads count too).
const cpuClock = argv.includes("--cpu");
const now = cpuClock ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; } : () => performance.now();
const log = asJson ? (s) => process.stderr.write(`${s}\n`) : (s) => console.log(s);

// ---- shared helpers (same definitions as bench/c.ts) --------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median milliseconds of `fn` after one warm-up call; `fn` may return a promise (jax-js). */
async function time(fn, n = runs) {
  await fn();
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await fn();
    ts.push(now() - t0);
  }
  return median(ts);
}

/** Per-call microseconds of a synchronous `fn`, over about half a second after a warm-up. */
function perCall(fn) {
  let n = 0;
  const w0 = now();
  while (now() - w0 < 200) { fn(); n++; }
  const calls = Math.max(1000, Math.round(n * 2.5)); // ~0.5 s at the warm-up's rate
  const t0 = now();
  for (let i = 0; i < calls; i++) fn();
  return ((now() - t0) / calls) * 1e3;
}

/** bench/c.ts's LCG: uniform in [-scale/2, scale/2). */
function rand(n, seed = 1, scale = 4) {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return a;
}

// ---- inputs and float64 references --------------------------------------------------------------

const W2_N = 10_000_000;
const [W4_R, W4_C] = [4096, 1000];
const B = 256;
const LR = 0.01;
const labels = Array.from({ length: B }, (_v, i) => (i * 7) % 10); // bench/c.ts's y
const oneHot = new Float32Array(B * 10);
labels.forEach((k, i) => { oneHot[i * 10 + k] = 1; });

const inputs = {
  w1: (n) => [rand(n * n, 1), rand(n * n, 2)],
  w2: rand(W2_N, 3),
  w3: { X: rand(B * 784, 5), W1: rand(784 * 512, 11, 0.1), W2: rand(512 * 512, 12, 0.1), W3: rand(512 * 10, 13, 0.1) },
  w4: rand(W4_R * W4_C, 7),
  tiny: rand(10, 9),
};

const w2Ref = (x) => Math.tanh(x * 0.5 + 0.1) * (1 / (1 + Math.exp(-x))) - Math.exp(-x * x);

/** The MLP's loss at its initial parameters, float64, for checking each peer's first step. */
function w3InitialLoss() {
  const { X, W1, W2, W3 } = inputs.w3;
  const layer = (A, rows, k, W, cols, relu) => {
    const out = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let p = 0; p < k; p++) {
        const a = A[i * k + p];
        if (a === 0) continue;
        for (let j = 0; j < cols; j++) out[i * cols + j] += a * W[p * cols + j];
      }
    }
    if (relu) for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i], 0);
    return out;
  };
  const z = layer(layer(layer(X, B, 784, W1, 512, true), B, 512, W2, 512, true), B, 512, W3, 10, false);
  let loss = 0;
  for (let i = 0; i < B; i++) {
    const row = z.subarray(i * 10, i * 10 + 10);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    loss += lse - row[labels[i]];
  }
  return loss / B;
}

class CheckError extends Error {}

/** Throws CheckError when `got` is not within `tol` (absolute) of `want`. */
function check(what, got, want, tol) {
  if (!(Math.abs(got - want) <= tol)) throw new CheckError(`${what}: got ${got}, want ${want} (±${tol})`);
}

function checkW1(n, c) {
  const [a, b] = inputs.w1(n);
  for (const [i, j] of [[0, 0], [n - 1, n - 1], [n >> 1, 7], [3, n - 2]]) {
    let s = 0, mag = 0;
    for (let p = 0; p < n; p++) { s += a[i * n + p] * b[p * n + j]; mag += Math.abs(a[i * n + p] * b[p * n + j]); }
    check(`W1 n=${n} [${i},${j}]`, c[i * n + j], s, 1e-5 * mag);
  }
}
function checkW2(y) {
  for (let i = 0; i < W2_N; i += 9973) check(`W2 [${i}]`, y[i], w2Ref(inputs.w2[i]), 1e-5);
}
function checkW4(y) {
  for (const r of [0, 1234, W4_R - 1]) {
    const row = inputs.w4.subarray(r * W4_C, (r + 1) * W4_C);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    for (const c of [0, 500, W4_C - 1]) check(`W4 [${r},${c}]`, y[r * W4_C + c], row[c] - lse, 1e-5);
  }
}
function checkTiny(y) {
  for (let i = 0; i < 10; i++) check(`tiny [${i}]`, y[i], inputs.tiny[i] * 2 + 1, 1e-6);
}
let w3Loss0 = null;
function checkW3(loss) {
  w3Loss0 ??= w3InitialLoss();
  check("W3 first-step loss", loss, w3Loss0, 1e-4 * Math.abs(w3Loss0));
}

// ---- peers --------------------------------------------------------------------------------------
// Each peer returns { W1(n), W2(), W3(), W4(), tiny() }: every method builds its inputs on the
// peer (outside the timing), checks one result against the reference, and returns the callable
// that the harness times. `maxW1` and `slowRuns` mirror bench/c.ts's treatment of its JS backend
// (a pure-JS matmul of n = 2048 would take a minute per call).

// read from this package's node_modules: @jax-js/jax's `exports` does not expose its package.json
const version = (pkg) => JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url), "utf8")).version;

async function tfjsPeer(backend) {
  // the umbrella package: tfjs-core alone registers no gradients (and its ESM files cannot be
  // imported one by one under Node), and it brings the `cpu` backend
  const tf = await import("@tensorflow/tfjs");
  if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  tf.enableProdMode(); // no debug checks, and no console banner asking for tfjs-node
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend("${backend}") failed`);
  await tf.ready();
  const env = tf.env();
  const extra = backend === "wasm" ? `, SIMD ${env.getBool("WASM_HAS_SIMD_SUPPORT") ? "on" : "off"}, threads ${env.getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? "on" : "off"}` : "";
  const f32 = (data, shape) => tf.tensor(data, shape, "float32");
  /** Runs `build` in a tidy, reads the result to host, frees it. */
  const run = (build) => { const r = tf.tidy(build); const d = r.dataSync(); r.dispose(); return d; };

  return {
    name: `tfjs-${backend}`,
    label: `TensorFlow.js ${version("@tensorflow/tfjs")} (${backend}${extra})`,
    maxW1: backend === "cpu" ? 1024 : 2048,
    slowRuns: backend === "cpu" ? 3 : null,
    W1(n) {
      const [av, bv] = inputs.w1(n);
      const [a, b] = [f32(av, [n, n]), f32(bv, [n, n])];
      checkW1(n, run(() => tf.matMul(a, b)));
      return () => run(() => tf.matMul(a, b));
    },
    W2() {
      const x = f32(inputs.w2, [W2_N]);
      const f = () => tf.sub(tf.mul(tf.tanh(tf.add(tf.mul(x, 0.5), 0.1)), tf.sigmoid(x)), tf.exp(tf.mul(tf.neg(x), x)));
      checkW2(run(f));
      return () => run(f);
    },
    W3() {
      const { X: Xv, W1, W2, W3 } = inputs.w3;
      const X = f32(Xv, [B, 784]);
      const Y = f32(oneHot, [B, 10]);
      const p = {
        W1: tf.variable(f32(W1, [784, 512])), b1: tf.variable(tf.zeros([512])),
        W2: tf.variable(f32(W2, [512, 512])), b2: tf.variable(tf.zeros([512])),
        W3: tf.variable(f32(W3, [512, 10])), b3: tf.variable(tf.zeros([10])),
      };
      const vars = Object.values(p);
      const loss = () => {
        const h1 = tf.relu(tf.add(tf.matMul(X, p.W1), p.b1));
        const h2 = tf.relu(tf.add(tf.matMul(h1, p.W2), p.b2));
        const z = tf.add(tf.matMul(h2, p.W3), p.b3);
        return tf.div(tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), Y))), B); // mean softmax cross-entropy
      };
      const step = () => {
        const { value, grads } = tf.variableGrads(loss, vars);
        tf.tidy(() => { for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], LR))); });
        const l = value.dataSync()[0];
        tf.dispose([value, grads]);
        return l;
      };
      // the first step runs on a copy of the initial parameters, then they are restored
      const init = vars.map((v) => v.clone());
      checkW3(step());
      vars.forEach((v, i) => v.assign(init[i]));
      tf.dispose(init);
      return step;
    },
    W4() {
      const x = f32(inputs.w4, [W4_R, W4_C]);
      checkW4(run(() => tf.logSoftmax(x)));
      return () => run(() => tf.logSoftmax(x));
    },
    tiny() {
      const x = f32(inputs.tiny, [10]);
      checkTiny(run(() => tf.add(tf.mul(x, 2), 1)));
      return () => run(() => tf.add(tf.mul(x, 2), 1));
    },
  };
}

async function jaxPeer() {
  const jax = await import("@jax-js/jax");
  const { numpy: np, nn, jit, valueAndGrad, tree, blockUntilReady } = jax;
  // Node 20 has no `navigator`, so asking for every device (the default) fails on WebGPU's probe.
  const devs = await jax.init("wasm");
  if (!devs.includes("wasm")) throw new Error(`jax-js: no wasm device (got ${devs.join(", ")})`);
  jax.defaultDevice("wasm");
  const threads = typeof SharedArrayBuffer !== "undefined" && typeof Worker !== "undefined";
  const f32 = (data, shape) => np.array(data).reshape(shape);
  // jax-js arrays are reference counted and every call consumes its arguments: pass `.ref` to keep
  // an input alive; `dataSync` reads (and consumes) the result.
  return {
    name: "jax-js-wasm",
    label: `jax-js ${version("@jax-js/jax")} (wasm, jit, ${threads ? "worker threads" : "one thread: Node has no Web Worker global"})`,
    maxW1: 2048,
    slowRuns: null,
    W1(n) {
      const [av, bv] = inputs.w1(n);
      const [a, b] = [f32(av, [n, n]), f32(bv, [n, n])];
      const mm = jit((x, y) => np.matmul(x, y));
      checkW1(n, mm(a.ref, b.ref).dataSync());
      return () => mm(a.ref, b.ref).dataSync();
    },
    W2() {
      const x = f32(inputs.w2, [W2_N]);
      const f = jit((v) => np.tanh(v.ref.mul(0.5).add(0.1)).mul(nn.sigmoid(v.ref)).sub(np.exp(v.ref.mul(v).neg())));
      checkW2(f(x.ref).dataSync());
      return () => f(x.ref).dataSync();
    },
    async W3() {
      const { X: Xv, W1, W2, W3 } = inputs.w3;
      const X = f32(Xv, [B, 784]);
      const Y = f32(oneHot, [B, 10]);
      const initial = () => ({
        W1: f32(W1, [784, 512]), b1: np.zeros([512]),
        W2: f32(W2, [512, 512]), b2: np.zeros([512]),
        W3: f32(W3, [512, 10]), b3: np.zeros([10]),
      });
      const loss = (q, x, y) => {
        const h1 = nn.relu(np.matmul(x, q.W1).add(q.b1));
        const h2 = nn.relu(np.matmul(h1, q.W2).add(q.b2));
        const z = np.matmul(h2, q.W3).add(q.b3);
        return nn.logSoftmax(z).mul(y).sum().mul(-1 / B); // mean softmax cross-entropy
      };
      // one jitted program: loss, gradients and the SGD update; returns [loss, new parameters]
      const update = jit((q, x, y) => {
        const [l, g] = valueAndGrad(loss)(tree.ref(q), x, y);
        const next = {};
        for (const k of Object.keys(q)) next[k] = q[k].sub(g[k].mul(LR));
        return [l, next];
      });
      let p = initial();
      const step = async () => {
        const [l, next] = update(p, X.ref, Y.ref);
        p = next;
        await blockUntilReady(p); // jax-js is lazy: the updated parameters must exist, not just the loss
        return l.dataSync()[0];
      };
      checkW3(await step());
      tree.dispose(p);
      p = initial();
      return step;
    },
    W4() {
      const x = f32(inputs.w4, [W4_R, W4_C]);
      const f = jit((v) => nn.logSoftmax(v));
      checkW4(f(x.ref).dataSync());
      return () => f(x.ref).dataSync();
    },
    tiny() {
      const x = f32(inputs.tiny, [10]);
      const f = jit((v) => v.mul(2).add(1));
      checkTiny(f(x.ref).dataSync());
      return () => f(x.ref).dataSync();
    },
  };
}

// ---- measure ------------------------------------------------------------------------------------

const KEYS = ["W1_512", "W1_1024", "W1_2048", "W2", "W3", "W4", "tiny"];
const makers = [["tfjs-cpu", () => tfjsPeer("cpu")], ["tfjs-wasm", () => tfjsPeer("wasm")], ["jax-js-wasm", jaxPeer]];
const results = {};
const labelOf = {};
const notes = [];

for (const [name, make] of makers) {
  if (only && !only.has(name)) continue;
  let peer;
  try {
    peer = await make();
  } catch (e) {
    notes.push(`${name}: not available (${String(e.message ?? e).split("\n")[0]})`);
    continue;
  }
  labelOf[name] = peer.label;
  const r = Object.fromEntries(KEYS.map((k) => [k, null]));
  results[name] = r;
  /** Measures one workload; a failure (or a wrong result) is a note and a null, not a crash. */
  const measure = async (key, body) => {
    try {
      r[key] = await body();
    } catch (e) {
      notes.push(`${name} ${key}: ${e instanceof CheckError ? "WRONG RESULT, not timed: " : "failed: "}${String(e.message ?? e).split("\n")[0]}`);
    }
    process.stderr.write(`  ${name} ${key}: ${r[key] === null ? "—" : r[key].toPrecision(4)}\n`);
  };
  for (const n of [512, 1024, 2048]) {
    if (n > peer.maxW1) continue;
    // as bench/c.ts: n = 2048 three times; a pure-JS backend 3 times at 512 and once at 1024
    const nRuns = peer.slowRuns ? (n === 1024 ? 1 : peer.slowRuns) : n === 2048 ? 3 : runs;
    await measure(`W1_${n}`, async () => (2 * n ** 3) / ((await time(peer.W1(n), nRuns)) / 1e3) / 1e9);
  }
  await measure("W2", async () => time(peer.W2(), peer.slowRuns ?? runs));
  await measure("W3", async () => time(await peer.W3(), peer.slowRuns ?? runs));
  await measure("W4", async () => time(peer.W4()));
  await measure("tiny", async () => perCall(peer.tiny()));
}

// ---- report -------------------------------------------------------------------------------------

const fmt = (v) => (v === null ? "—" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const rowsSpec = [
  ["W1 matmul n=512", "GFLOP/s", "W1_512"], ["W1 matmul n=1024", "GFLOP/s", "W1_1024"], ["W1 matmul n=2048", "GFLOP/s", "W1_2048"],
  ["W2 elementwise 10M", "ms", "W2"], ["W3 MLP train step", "ms", "W3"], ["W4 logSoftmax 4096x1000", "ms", "W4"],
  ["tiny call x*2+1 (10 elements)", "µs", "tiny"],
];
const names = Object.keys(results);
if (names.length === 0) notes.push("no peer could be loaded: install them with `cd bench/peers && npm ci`");
log(`Peers, float32, ${runs} runs, median after one warm-up, ${cpuClock ? "process CPU time" : "wall clock"}; results read back to host each call`);
for (const n of names) log(`  ${n}: ${labelOf[n]}`);
if (names.length > 0) {
  log(`| workload | unit | ${names.join(" | ")} |`);
  log(`|---|---|${names.map(() => "---:").join("|")}|`);
  for (const [label, unit, key] of rowsSpec) log(`| ${label} | ${unit} | ${names.map((n) => fmt(results[n][key])).join(" | ")} |`);
}
for (const note of notes) log(`note: ${note}`);
if (asJson) console.log(JSON.stringify(results));
