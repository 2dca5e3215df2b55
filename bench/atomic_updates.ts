/**
 * What atomic updates cost (issue 13.1): the W3 MLP training step of bench/c.ts (784-512-512-10,
 * batch 256, float32, SGD updates of six shared variables; the three weight updates are
 * Gemm{inplace}) on a linker, and the part of each call that the atomicity design adds: the copy
 * of every shared variable the call may overwrite into its container's spare buffer
 * (`Container.lend`; on C only W1-W3, since C computes in-place elementwise updates into fresh
 * memory). Median of N runs after warm-up.
 *
 *   npx tsx bench/atomic_updates.ts [--runs 200] [--linker c]
 */

import * as theano from "../src/index.js";

const { T } = theano;
const argv = process.argv;
const runs = Number(argv[argv.indexOf("--runs") + 1]) || 200;
const linker = (argv.includes("--linker") ? argv[argv.indexOf("--linker") + 1] : "c") as "c" | "js" | "py";

function rand(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = ((s / 2 ** 32) * 4 - 2) * scale;
  }
  return a;
}

function median(fn: () => unknown, n: number): number {
  for (let i = 0; i < 5; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[ts.length >> 1]!;
}

const X = T.fmatrix("X");
const y = T.ivector("y");
const init = (r: number, c: number, seed: number) => theano.shared(new theano.NDArray("float32", [r, c], rand(r * c, seed, 0.1)));
const zeros = (n: number) => theano.shared(theano.zeros([n], "float32"));
const shared = [init(784, 512, 11), zeros(512), init(512, 512, 12), zeros(512), init(512, 10, 13), zeros(10)];
const params = shared as unknown as theano.TensorVariable[];
const h1 = T.relu(T.dot(X, params[0]!).add(params[1]!));
const h2 = T.relu(T.dot(h1, params[2]!).add(params[3]!));
const p = T.softmax(T.dot(h2, params[4]!).add(params[5]!));
const loss = T.mean(T.crossentropyCategorical1Hot(p, y));
const grads = theano.grad(loss, params) as theano.TensorVariable[];
const updates = params.map((w, i) => [w, w.sub(grads[i]!.mul(0.01))] as [theano.TensorVariable, theano.TensorVariable]);
const f = theano.function([X, y], loss, { mode: new theano.Mode(linker, "fast_run"), updates: updates as never });
const Xv = new theano.NDArray("float32", [256, 784], rand(256 * 784, 5));
const yv = theano.array(Array.from({ length: 256 }, (_v, i) => (i * 7) % 10), "int32");

const step = median(() => f(Xv, yv), runs);
// The variables a call is lent: their storage alternates between two buffers (the value and its
// spare swap); a variable computed into fresh memory gets a new buffer every call.
const buf = (): ArrayBufferLike[] => shared.map((s) => s.container.value!.data.buffer);
const b0 = buf();
f(Xv, yv);
const b1 = buf();
f(Xv, yv);
const b2 = buf();
const lent = shared.filter((_s, k) => b1[k] !== b0[k] && b2[k] === b0[k]);
const bytes = lent.reduce((n, s) => n + s.container.value!.data.byteLength, 0);
const copy = median(() => {
  for (const s of lent) s.container.settle(s.container.lend(), false, null, new Set());
}, runs);
console.log(`linker ${linker}: W3 step ${step.toFixed(3)} ms (median of ${runs}); ${lent.length} lent variables, ${(bytes / 1e6).toFixed(2)} MB copied per call in ${copy.toFixed(3)} ms = ${((100 * copy) / step).toFixed(1)}% of the step`);
