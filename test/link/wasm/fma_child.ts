/**
 * Run by blas.test.ts in a child Node started with --experimental-wasm-relaxed-simd (Node 20
 * ships relaxed SIMD behind that flag): the Wasm GEMM with relaxed_madd against perform. Prints
 * one JSON line: whether the engine took relaxed SIMD, the products that ran in Wasm, and every
 * element outside the float tolerance (none expected).
 */

import * as theano from "../../../src/index.js";
import { wasmRelaxedSimdSupported } from "../../../src/link/wasm/emitter.js";
import { GEMM } from "../../../src/tensor/gemm.js";

const { T } = theano;

/** Values in [-3, 3) from an LCG (agreement_helpers.ts imports vitest, which needs its runner). */
function rand(dtype: "float32" | "float64", shape: number[], seed: number): theano.NDArray {
  const a = theano.zeros(shape, dtype);
  let s = seed * 2654435761 + 12345;
  for (let i = 0; i < a.size; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    a.data[i] = (s / 2147483648) * 6 - 3;
  }
  return a;
}
type TV = theano.TensorVariable;
const failures: string[] = [];
const backends: string[] = [];
for (const dtype of ["float32", "float64"] as const) {
  const eps = dtype === "float32" ? 2 ** -23 : 2 ** -52;
  const [z, x, y] = ["z", "x", "y"].map((s) => T.tensor({ dtype, shape: [null, null], name: s })) as [TV, TV, TV];
  const be = T.tensor({ dtype, shape: [], name: "beta" });
  const out = GEMM.call(z, T.constant(theano.array(1.5, dtype)), x, y, be) as TV;
  const f = theano.function([z, x, y, be], out, { mode: new theano.Mode("wasm", "None") }) as unknown as ((...a: theano.NDArray[]) => theano.NDArray) & { fgraph: { toposort(): Array<{ op: unknown; tag: { backend?: string } }> } };
  const py = theano.function([z, x, y, be], out, { mode: new theano.Mode("py", "None") }) as unknown as (...a: theano.NDArray[]) => theano.NDArray;
  const abs = theano.function([x], T.abs(x), { mode: new theano.Mode("py", "None") }) as unknown as (a: theano.NDArray) => theano.NDArray;
  const absS = theano.function([be], T.abs(be), { mode: new theano.Mode("py", "None") }) as unknown as (a: theano.NDArray) => theano.NDArray;
  backends.push(...f.fgraph.toposort().map((n) => `${String(n.op)}:${n.tag.backend}`));
  for (const [m, k, n] of [[8, 16, 8], [5, 300, 11], [131, 7, 9], [3, 0, 4]]) {
    for (const beta of [0, 1, -0.5]) {
      const zv = rand(dtype, [m!, n!], 1);
      if (beta === 0) zv.data.fill(NaN as never);
      const vals = [zv, rand(dtype, [k!, m!], 2).T, rand(dtype, [k!, n!], 3), theano.array(beta, dtype)];
      const want = py(...vals).toFlat();
      const bound = py(...vals.slice(0, 3).map((v) => abs(v)), absS(vals[3]!)).toFlat();
      const got = f(...vals).toFlat();
      for (let i = 0; i < got.length; i++) {
        const tol = 2 * (k! + 1) * eps * Number(bound[i]) + Number.MIN_VALUE;
        if (!(Math.abs(Number(got[i]) - Number(want[i])) <= tol)) failures.push(`${dtype} (${m}, ${k}, ${n}) beta ${beta} element ${i}: perform ${want[i]}, wasm ${got[i]}`);
      }
    }
  }
}
console.log(JSON.stringify({ relaxed: wasmRelaxedSimdSupported(), backends, failures: failures.slice(0, 5) }));
