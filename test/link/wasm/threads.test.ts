/**
 * Matrix products split across threads (src/link/wasm/threads.ts, issue 20 item 2): under
 * wasm.num_threads > 1, Dot and Gemm above THREAD_MIN_FLOPS run row blocks on worker_threads
 * over a shared WebAssembly memory, and give the single-threaded results bit for bit (row blocks
 * split at multiples of the register tile), across dtypes, ragged sizes, views (transposed,
 * negative steps), Gemm in place (the MLP training step's updates) and several functions using
 * the pool in turn; below the threshold, or with one thread, nothing is split; without
 * SharedArrayBuffer products run on one thread after one warning (a child process).
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { THREAD_MIN_FLOPS, threadStats } from "../../../src/link/wasm/threads.js";
import { evaluate } from "../../helpers.js";
import { rand } from "../c/agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;
type FD = "float32" | "float64";
const W = new theano.Mode("wasm");
const EPS: Record<FD, number> = { float32: 2 ** -23, float64: 2 ** -52 };
const scratch = mkdtempSync(join(tmpdir(), "theano-ts-wasm-threads-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const threads = <R>(n: number, fn: () => R): R => theano.config.change({ "wasm.num_threads": n }, fn);

function sameBits(got: NDArray, want: NDArray, what: string): void {
  expect([...got.shape], what).toEqual([...want.shape]);
  const [a, b] = [got.toFlat(), want.toFlat()];
  for (let i = 0; i < a.length; i++) if (!Object.is(Number(a[i]), Number(b[i]))) throw new Error(`${what}: element ${i}: one thread gives ${b[i]}, several ${a[i]}`);
}

/** |got - perform| within the rounding of a k-term sum of the operands' magnitudes. */
function nearPerform(got: NDArray, want: NDArray, k: number, scale: number, dtype: FD, what: string): void {
  const [a, b] = [got.toFlat(), want.toFlat()];
  const tol = 2 * (k + 1) * EPS[dtype] * scale;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(Number(a[i]) - Number(b[i])) <= tol)) throw new Error(`${what}: element ${i}: perform gives ${b[i]}, wasm ${a[i]}`);
}

/** Compiles `outs` once under n threads and runs it on `values`; the splits it made. */
function runWith(n: number, vars: TV[], outs: TV[], values: NDArray[]): { got: NDArray[]; splits: number } {
  return threads(n, () => {
    const f = theano.function(vars, outs, { mode: W });
    const before = threadStats.splits;
    const got = f(...values) as NDArray[];
    return { got, splits: threadStats.splits - before };
  });
}

describe("wasm GEMM on several threads", () => {
  for (const dtype of ["float32", "float64"] as FD[]) {
    it(`${dtype}: Dot and Gemm split by rows equal one thread bit for bit, on ragged sizes and views`, () => {
      // m not a multiple of the tile, k past a KC block; each product above THREAD_MIN_FLOPS
      const [m, k, n] = dtype === "float32" ? [130, 300, 131] : [67, 200, 170];
      expect(m * k * n).toBeGreaterThanOrEqual(THREAD_MIN_FLOPS);
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const xt = T.tensor({ dtype, shape: [null, null], name: "xt" });
      const y = T.tensor({ dtype, shape: [null, null], name: "y" });
      const yr = T.tensor({ dtype, shape: [null, null], name: "yr" });
      const z = T.tensor({ dtype, shape: [null, null], name: "z" });
      // dot(x, y); dot(xt.T, yr) with yr a reversed view; a Gemm: z*0.5 + 2*dot(x, y)
      const outs = [T.dot(x, y), T.dot(xt.T, yr), z.mul(0.5).add(T.dot(x, y).mul(2))];
      const vals = [rand(dtype, [m, k], 1), rand(dtype, [k, m], 2), rand(dtype, [k, n], 3), rand(dtype, [k, n], 5).slice([null, null, -1], [null, null, -1]), rand(dtype, [m, n], 4)];
      const vars = [x, xt, y, yr, z];
      const one = runWith(1, vars, outs, vals);
      const two = runWith(2, vars, outs, vals);
      const three = runWith(3, vars, outs, vals);
      expect(one.splits).toBe(0);
      expect(two.splits).toBeGreaterThanOrEqual(2); // dot(x, y) is merged: two products
      expect(three.splits).toBeGreaterThanOrEqual(2);
      const want = evaluate(outs, new Map(vars.map((v, i) => [v, vals[i]])));
      outs.forEach((_o, i) => {
        sameBits(two.got[i]!, one.got[i]!, `${dtype} output ${i}, 2 threads`);
        sameBits(three.got[i]!, one.got[i]!, `${dtype} output ${i}, 3 threads`);
        nearPerform(one.got[i]!, want[i]!, k, i === 2 ? 2 * 3 * 3 * k + 3 : 3 * 3 * k, dtype, `${dtype} output ${i}`);
      });
    }, 120_000);
  }

  it("the MLP training step (Gemm{inplace} updates) gives one thread's loss and parameters bit for bit", () => {
    const step = (n: number): number[][] =>
      threads(n, () => {
        const X = T.fmatrix("X");
        const yv = T.ivector("y");
        const params = [rand("float32", [784, 128], 11), rand("float32", [128], 12), rand("float32", [128, 10], 13), rand("float32", [10], 14)].map((a, i) => {
          const d = a.data as Float32Array;
          for (let j = 0; j < d.length; j++) d[j]! *= i % 2 === 0 ? 0.05 : 0.1;
          return theano.shared(a);
        }) as unknown as TV[];
        const h = T.relu(T.dot(X, params[0]!).add(params[1]!));
        const p = T.softmax(T.dot(h, params[2]!).add(params[3]!));
        const loss = T.mean(T.crossentropyCategorical1Hot(p, yv));
        const grads = theano.grad(loss, params) as TV[];
        const f = theano.function([X, yv], loss, { mode: W, updates: params.map((w, i) => [w, w.sub(grads[i]!.mul(0.1))]) as never });
        const xv = rand("float32", [256, 784], 5);
        const labels = theano.array(Array.from({ length: 256 }, (_v, i) => (i * 7) % 10), "int32");
        const before = threadStats.splits;
        const losses = [0, 1, 2].map(() => Number((f(xv, labels) as NDArray).toFlat()[0]));
        if (n > 1) expect(threadStats.splits - before).toBeGreaterThanOrEqual(6);
        return [losses, ...params.map((w) => Array.from((w as unknown as theano.SharedVariable).getValue().toFlat() as Float32Array))];
      });
    const one = step(1);
    const two = step(2);
    expect(one[0]![2]).toBeLessThan(one[0]![0]!); // it trains
    two.forEach((v, i) => v.forEach((x, j) => expect(Object.is(x, one[i]![j]), `array ${i} element ${j}: ${x} vs ${one[i]![j]}`).toBe(true)));
  }, 120_000);

  it("products below the threshold, vector products and one thread are not split", () => {
    const x = T.fmatrix("x");
    const v = T.fvector("v");
    const y = T.fmatrix("y");
    const small = runWith(2, [x, y], [T.dot(x, y)], [rand("float32", [40, 40], 1), rand("float32", [40, 40], 2)]);
    expect(small.splits).toBe(0);
    const vec = runWith(2, [v, y], [T.dot(v, y)], [rand("float32", [2048], 1), rand("float32", [2048, 1500], 2)]);
    expect(vec.splits).toBe(0);
    nearPerform(vec.got[0]!, evaluate([T.dot(v, y)], new Map<TV, NDArray>([[v, rand("float32", [2048], 1)], [y, rand("float32", [2048, 1500], 2)]]))[0]!, 2048, 9 * 2048, "float32", "v·y");
  });

  it("two functions use the pool in turn, each with its own module and memory", () => {
    threads(2, () => {
      const a = T.dmatrix("a");
      const b = T.dmatrix("b");
      const f = theano.function([a, b], T.dot(a, b), { mode: W });
      const g = theano.function([a, b], T.dot(a, b).mul(3), { mode: W });
      const [av, bv] = [rand("float64", [100, 150], 7), rand("float64", [150, 160], 8)];
      const want = evaluate([T.dot(a, b)], new Map([[a, av], [b, bv]]))[0]!;
      const before = threadStats.splits;
      for (let r = 0; r < 3; r++) {
        nearPerform(f(av, bv) as NDArray, want, 150, 9 * 150, "float64", `f, round ${r}`);
        nearPerform(g(av, bv) as NDArray, evaluate([T.constant(want).mul(3)])[0]!, 150, 27 * 150, "float64", `g, round ${r}`);
      }
      expect(threadStats.splits - before).toBe(6);
    });
  });

  it("without SharedArrayBuffer, products run on one thread after one warning", () => {
    const file = fileURLToPath(new URL("./threads_child.ts", import.meta.url));
    const out = execFileSync(process.execPath, ["--import", "tsx", file, join(scratch, "compiledir")], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const r = JSON.parse(out.trim().split("\n").pop()!) as { err: number; second: number; threadStats: { splits: number; workers: number }; warnings: string[] };
    expect(r.err).toBeLessThan(1e-12);
    expect(r.second).toBe(2);
    expect(r.threadStats).toEqual({ splits: 0, workers: 0 });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/wasm\.num_threads=2, but this runtime has no SharedArrayBuffer .*; matrix products run on one thread/);
  }, 60_000);
});
