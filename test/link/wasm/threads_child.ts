/**
 * Run by threads.test.ts in a child Node whose SharedArrayBuffer is taken away after theano-ts
 * loads (a runtime without it): a product above the threading threshold under
 * wasm.num_threads=2 must run on one thread after one warning. Prints one JSON line.
 */

import type { NDArray } from "../../../src/ndarray/ndarray.js";

const warnings: string[] = [];
process.on("warning", (w) => warnings.push(w.message));
const theano = await import("../../../src/index.js");
const { threadStats } = await import("../../../src/link/wasm/threads.js");
Object.defineProperty(globalThis, "SharedArrayBuffer", { value: undefined, configurable: true, writable: true });

const { T } = theano;
const x = T.dmatrix("x");
const y = T.dmatrix("y");
const out = theano.config.change({ "wasm.num_threads": 2, compiledir: process.argv[2]! }, () => {
  const f = theano.function([x, y], [T.dot(x, y), T.dot(y.T, x.T)], { mode: new theano.Mode("wasm") });
  const a = theano.zeros([160, 120], "float64");
  const b = theano.zeros([120, 140], "float64");
  for (let i = 0; i < a.size; i++) a.data[i] = Math.sin(i);
  for (let i = 0; i < b.size; i++) b.data[i] = Math.cos(i * 0.7);
  const [p, q] = f(a, b) as NDArray[];
  // p = a·b by a plain loop, q = p.T
  let err = 0;
  for (let i = 0; i < 160; i++)
    for (let j = 0; j < 140; j++) {
      let s = 0;
      for (let k = 0; k < 120; k++) s += (a.data[i * 120 + k] as number) * (b.data[k * 140 + j] as number);
      err = Math.max(err, Math.abs(s - Number(p!.get(i, j))), Math.abs(s - Number(q!.get(j, i))));
    }
  return { err, second: (f(a, b) as NDArray[]).length };
});
setImmediate(() => console.log(JSON.stringify({ ...out, threadStats, warnings })));
