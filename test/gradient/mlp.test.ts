/**
 * A two-layer perceptron (relu hidden layer, softmax output, categorical cross-entropy), float64:
 * the symbolic gradients of W1, b1, W2, b2 against backpropagation written by hand with plain
 * loops over Float64Arrays, to 1e-8 relative, on the py and js linkers; then a few steps of
 * gradient descent through shared-variable updates must lower the cost.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";
import { mulberry32 as rng } from "../../src/ndarray/rng.js";

const { T } = theano;


const N = 6; // examples
const D = 5; // inputs
const H = 4; // hidden units
const K = 3; // classes

const r = rng(11);
const rand = (n: number, scale: number): Float64Array => Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);
const Xd = rand(N * D, 1);
const W1d = rand(D * H, 0.8);
const b1d = rand(H, 0.1);
const W2d = rand(H * K, 0.8);
const b2d = rand(K, 0.1);
const labels = BigInt64Array.from({ length: N }, (_v, i) => BigInt(i % K));

/** Forward and backward by hand: returns the cost and the four gradients. */
function handBackprop(): { minAbsPre: number; cost: number; gW1: Float64Array; gb1: Float64Array; gW2: Float64Array; gb2: Float64Array } {
  const pre = new Float64Array(N * H);
  const h = new Float64Array(N * H);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < H; j++) {
      let s = b1d[j]!;
      for (let d = 0; d < D; d++) s += Xd[n * D + d]! * W1d[d * H + j]!;
      pre[n * H + j] = s;
      h[n * H + j] = s > 0 ? s : 0;
    }
  }
  const p = new Float64Array(N * K);
  let cost = 0;
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    const z = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let s = b2d[k]!;
      for (let j = 0; j < H; j++) s += h[n * H + j]! * W2d[j * K + k]!;
      z[k] = s;
      m = Math.max(m, s);
    }
    let tot = 0;
    for (let k = 0; k < K; k++) tot += Math.exp(z[k]! - m);
    for (let k = 0; k < K; k++) p[n * K + k] = Math.exp(z[k]! - m) / tot;
    cost -= Math.log(p[n * K + Number(labels[n])]!) / N;
  }
  // d cost / d logits = (p − onehot) / N.
  const dz = new Float64Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) dz[n * K + k] = (p[n * K + k]! - (k === Number(labels[n]) ? 1 : 0)) / N;
  const gW2 = new Float64Array(H * K);
  const gb2 = new Float64Array(K);
  const dh = new Float64Array(N * H);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      gb2[k]! += dz[n * K + k]!;
      for (let j = 0; j < H; j++) {
        gW2[j * K + k]! += h[n * H + j]! * dz[n * K + k]!;
        dh[n * H + j]! += W2d[j * K + k]! * dz[n * K + k]!;
      }
    }
  }
  const gW1 = new Float64Array(D * H);
  const gb1 = new Float64Array(H);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < H; j++) {
      const dpre = pre[n * H + j]! > 0 ? dh[n * H + j]! : 0;
      gb1[j]! += dpre;
      for (let d = 0; d < D; d++) gW1[d * H + j]! += Xd[n * D + d]! * dpre;
    }
  }
  return { minAbsPre: Math.min(...Array.from(pre, Math.abs)), cost, gW1, gb1, gW2, gb2 };
}

function model() {
  const x = T.dmatrix("x");
  const y = T.lvector("y");
  const W1 = T.dmatrix("W1");
  const b1 = T.dvector("b1");
  const W2 = T.dmatrix("W2");
  const b2 = T.dvector("b2");
  const hidden = T.nnet.relu(T.dot(x, W1).add(b1));
  const p = T.nnet.softmax(T.dot(hidden, W2).add(b2));
  const cost = T.nnet.categoricalCrossentropy(p, y).mean();
  return { x, y, W1, b1, W2, b2, cost };
}

const arr = (shape: number[], data: Float64Array): NDArray => new NDArray("float64", shape, data);

describe("two-layer MLP gradients", () => {
  const hand = handBackprop();
  // The hidden pre-activations must stay away from relu's kink for the comparison to be exact.
  it("the data avoid relu's kink", () => {
    expect(hand.minAbsPre).toBeGreaterThan(1e-3);
  });

  for (const linker of ["py", "js"] as const) {
    it(`grads of W1, b1, W2, b2 equal hand-written backprop (${linker} linker)`, () => {
      const m = model();
      const grads = theano.grad(m.cost, [m.W1, m.b1, m.W2, m.b2]);
      const f = theano.function([m.x, m.y, m.W1, m.b1, m.W2, m.b2], [m.cost, ...grads], { mode: new theano.Mode(linker) });
      const out = f(arr([N, D], Xd), new NDArray("int64", [N], labels), arr([D, H], W1d), arr([H], b1d), arr([H, K], W2d), arr([K], b2d));
      const tol = { rtol: 1e-8, atol: 1e-12 };
      expectClose(out[0]!, arr([], Float64Array.of(hand.cost)), tol);
      expectClose(out[1]!, arr([D, H], hand.gW1), tol);
      expectClose(out[2]!, arr([H], hand.gb1), tol);
      expectClose(out[3]!, arr([H, K], hand.gW2), tol);
      expectClose(out[4]!, arr([K], hand.gb2), tol);
    });
  }

  it("gradient descent through shared updates lowers the cost", () => {
    const x = T.dmatrix("x");
    const y = T.lvector("y");
    const W1 = theano.shared(arr([D, H], W1d.slice()), { name: "W1" });
    const b1 = theano.shared(arr([H], b1d.slice()), { name: "b1" });
    const W2 = theano.shared(arr([H, K], W2d.slice()), { name: "W2" });
    const b2 = theano.shared(arr([K], b2d.slice()), { name: "b2" });
    const params = [W1, b1, W2, b2];
    const hidden = T.nnet.relu(T.dot(x, W1).add(b1));
    const cost = T.nnet.categoricalCrossentropy(T.nnet.softmax(T.dot(hidden, W2).add(b2)), y).mean();
    const grads = theano.grad(cost, params);
    const train = theano.function([x, y], cost, { updates: params.map((p, i) => [p, p.sub(grads[i]!.mul(0.5))] as const) });
    const X = arr([N, D], Xd);
    const Y = new NDArray("int64", [N], labels);
    const first = Number(train(X, Y).item());
    let last = first;
    for (let s = 0; s < 20; s++) last = Number(train(X, Y).item());
    expect(first).toBeCloseTo(hand.cost, 10);
    expect(last).toBeLessThan(first * 0.5);
  });
});
