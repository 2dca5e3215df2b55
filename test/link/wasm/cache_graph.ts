/**
 * The graph cache.test.ts and cache_child.ts compile: a float64 layer with softmax, a reduction
 * and fused elementwise (every kernel family of the wasm linker, and a host node), and its inputs.
 */

import * as theano from "../../../src/index.js";

const { T } = theano;

export function cacheGraph(): { inputs: theano.TensorVariable[]; outputs: theano.TensorVariable[] } {
  const x = T.dmatrix("x");
  const w = T.dmatrix("w");
  const b = T.dvector("b");
  const p = T.softmax(T.tanh(T.dot(x, w).add(b)));
  return { inputs: [x, w, b], outputs: [p, T.sum(p.mul(p), 1).mul(3), T.argmax(p, 1).astype("float64")] };
}

/** Deterministic inputs: x 5x3, w 3x4, b 4. */
export function cacheInputs(): theano.NDArray[] {
  const fill = (shape: number[], seed: number): theano.NDArray => {
    const a = theano.zeros(shape, "float64");
    for (let i = 0; i < a.size; i++) a.data[i] = Math.sin(seed * 7.3 + i * 1.7) * 2;
    return a;
  };
  return [fill([5, 3], 1), fill([3, 4], 2), fill([4], 3)];
}
