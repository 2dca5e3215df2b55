/**
 * The Wasm GEMM (src/link/wasm/ops/blas.ts) against `perform`: Dot on matrices and vectors and
 * Gemm with beta 0, 1 and others, on float32 and float64, over tile-aligned, ragged (edge tiles,
 * several MC and KC blocks), 1x1, 1xk·kx1, empty and k = 0 shapes and transposed, sliced and
 * negative-step views; NaN in z with beta 0; bad shapes raising perform's ShapeError; and the
 * MLP training step against the py linker. The kernel accumulates in the element type while
 * perform accumulates in float64, so results agree within the rounding of a k-term sum:
 * |wasm - perform| <= 2·k·eps·(|alpha|·Σ|x||y| + |beta·z|), per element.
 */

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Apply } from "../../../src/graph/basic.js";
import type { FunctionGraph } from "../../../src/graph/fgraph.js";
import { Dot } from "../../../src/tensor/blas.js";
import { wasmRelaxedSimdSupported } from "../../../src/link/wasm/emitter.js";
import { gemmScratchBytes } from "../../../src/link/wasm/ops/blas.js";
import { GEMM, Gemm } from "../../../src/tensor/gemm.js";
import { evaluate } from "../../helpers.js";
import { rand } from "../c/agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;
type FD = "float32" | "float64";
type Compiled = ((...a: NDArray[]) => NDArray) & { fgraph: FunctionGraph };

const W = new theano.Mode("wasm", "None");
const EPS: Record<FD, number> = { float32: 2 ** -23, float64: 2 ** -52 };

/** Nodes that do products, and where each ran. */
const products = (f: Compiled): string[] =>
  f.fgraph
    .toposort()
    .filter((n: Apply) => n.op instanceof Dot || n.op instanceof Gemm)
    .map((n: Apply) => `${n.op}:${String(n.tag.backend)}`);

function expectClose(got: NDArray, want: NDArray, bound: NDArray, k: number, dtype: FD, what: string): void {
  expect([...got.shape], what).toEqual([...want.shape]);
  expect(got.dtype, what).toBe(want.dtype);
  const [g, w, b] = [got.toFlat(), want.toFlat(), bound.toFlat()];
  for (let i = 0; i < g.length; i++) {
    const x = Number(g[i]);
    const y = Number(w[i]);
    if (Number.isNaN(y) || !Number.isFinite(y)) {
      if (!Object.is(x, y)) throw new Error(`${what}: element ${i}: perform gives ${y}, wasm ${x}`);
      continue;
    }
    const tol = 2 * (k + 1) * EPS[dtype] * Number(b[i]) + Number.MIN_VALUE;
    if (!(Math.abs(x - y) <= tol)) throw new Error(`${what}: element ${i}: perform gives ${y}, wasm ${x} (tolerance ${tol})`);
  }
}

const one32 = T.constant(theano.array(1, "float32"));
const absOf = (a: NDArray): NDArray => evaluate([T.abs(T.constant(a) as unknown as TV)])[0]!;

describe("wasm GEMM: Dot agrees with perform", () => {
  for (const dtype of ["float32", "float64"] as FD[]) {
    it(`${dtype}: matrices of every shape class and layout`, () => {
      const a = T.tensor({ dtype, shape: [null, null], name: "a" });
      const b = T.tensor({ dtype, shape: [null, null], name: "b" });
      const f = theano.function([a, b], T.dot(a, b), { mode: W }) as unknown as Compiled;
      expect(products(f)).toEqual(["dot:wasm"]);
      // [m, k, n]: tile-aligned, ragged, 1x1, 1xk·kx1, k = 1, several MC (128), KC and NC (4096
      // float32, 2048 float64 columns) blocks, empty, k = 0.
      const shapes = [[8, 16, 24], [4, 8, 8], [5, 7, 11], [1, 1, 1], [1, 37, 1], [9, 1, 13], [131, 300, 19], [3, 513, 10], [5, 3, 4103], [0, 4, 5], [4, 5, 0], [0, 0, 0], [3, 0, 4]];
      for (const [m, k, n] of shapes as Array<[number, number, number]>) {
        const av = rand(dtype, [m, k], m + k);
        const bv = rand(dtype, [k, n], k + n + 1);
        // Layouts: contiguous, transposed storage, step-sliced and negative-step views.
        const layouts: Array<[string, NDArray, NDArray]> = [
          ["contiguous", av, bv],
          ["transposed", av.T.copy().T, bv.T.copy().T],
          ["sliced", rand(dtype, [m, 2 * k + 1], 3).slice([null, null], [1, null, 2]), rand(dtype, [2 * k, n + 3], 4).slice([null, null, 2], [2, n + 2])],
          ["reversed", av.slice([null, null, -1], [null, null, -1]), bv.slice([null, null, -1])],
        ];
        for (const [layout, x, y] of layouts) {
          const what = `${dtype} dot (${m}, ${k})·(${k}, ${n}) ${layout}`;
          const want = evaluate([T.dot(a, b)], new Map([[a, x], [b, y]]))[0]!;
          const bound = evaluate([T.dot(a, b)], new Map([[a, absOf(x)], [b, absOf(y)]]))[0]!;
          expectClose(f(x, y), want, bound, k, dtype, what);
        }
      }
    });

    it(`${dtype}: vector operands (matrix·vector, vector·matrix, vector·vector)`, () => {
      const mat = T.tensor({ dtype, shape: [null, null], name: "m" });
      const vec = T.tensor({ dtype, shape: [null], name: "v" });
      const vec2 = T.tensor({ dtype, shape: [null], name: "u" });
      for (const k of [0, 1, 5, 64, 300]) {
        const mv = rand(dtype, [7, k], k + 1);
        const vv = rand(dtype, [2 * k], k + 2).slice([null, null, 2]);
        const uv = rand(dtype, [k], k + 3);
        const cases: Array<[string, TV[], TV, NDArray[]]> = [
          ["matrix·vector", [mat, vec], T.dot(mat, vec), [mv, vv]],
          ["vector·matrix", [vec, mat], T.dot(vec, mat), [vv, mv.T]],
          ["vector·vector", [vec, vec2], T.dot(vec, vec2), [vv, uv]],
        ];
        for (const [what, ins, out, vals] of cases) {
          const f = theano.function(ins, out, { mode: W }) as unknown as Compiled;
          expect(products(f), what).toEqual(["dot:wasm"]);
          const want = evaluate([out], new Map(ins.map((v, i) => [v, vals[i]!])))[0]!;
          const bound = evaluate([out], new Map(ins.map((v, i) => [v, absOf(vals[i]!)])))[0]!;
          expectClose(f(...vals), want, bound, k, dtype, `${dtype} ${what} k=${k}`);
        }
      }
    });
  }

  it("NaN and Inf in the operands propagate as in perform (padding never mixes in)", () => {
    const a = T.fmatrix("a");
    const b = T.fmatrix("b");
    const f = theano.function([a, b], T.dot(a, b), { mode: W }) as unknown as Compiled;
    const av = rand("float32", [5, 6], 1);
    const bv = rand("float32", [6, 9], 2);
    av.data[7] = NaN; // row 1
    bv.data[3 * 9 + 8] = Infinity; // column 8 (an edge tile)
    const want = evaluate([T.dot(a, b)], new Map([[a, av], [b, bv]]))[0]!;
    expectClose(f(av, bv), want, evaluate([T.dot(a, b)], new Map([[a, absOf(av)], [b, absOf(bv)]]))[0]!, 6, "float32", "NaN/Inf");
  });
});

describe("wasm GEMM: Gemm agrees with perform", () => {
  for (const dtype of ["float32", "float64"] as FD[]) {
    it(`${dtype}: beta 0, 1 and others, alpha of either dtype, any layout`, () => {
      const z = T.tensor({ dtype, shape: [null, null], name: "z" });
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const y = T.tensor({ dtype, shape: [null, null], name: "y" });
      const al = T.tensor({ dtype: "float64", shape: [], name: "alpha" });
      const be = T.tensor({ dtype, shape: [], name: "beta" });
      const out = GEMM.call(z, al, x, y, be) as TV;
      const f = theano.function([z, al, x, y, be], out, { mode: W }) as unknown as Compiled;
      expect(products(f)).toEqual(["Gemm{no_inplace}:wasm"]);
      for (const [m, k, n] of [[8, 16, 8], [5, 7, 11], [1, 1, 1], [130, 260, 9], [4, 0, 3], [0, 3, 2]] as Array<[number, number, number]>) {
        for (const [alpha, beta] of [[1, 0], [1, 1], [-0.5, 2.5], [2, -1], [0, 0.25]]) {
          const zv = rand(dtype, [n, m], 5).T; // transposed z
          const xv = rand(dtype, [m, k], 6);
          const yv = rand(dtype, [n, k], 7).T; // transposed y
          const vals = [zv, theano.array(alpha, "float64"), xv, yv, theano.array(beta, dtype)];
          const want = evaluate([out], new Map([z, al, x, y, be].map((v, i) => [v, vals[i]!])))[0]!;
          const absVals = [absOf(zv), theano.array(Math.abs(alpha), "float64"), absOf(xv), absOf(yv), theano.array(Math.abs(beta), dtype)];
          const bound = evaluate([out], new Map([z, al, x, y, be].map((v, i) => [v, absVals[i]!])))[0]!;
          expectClose(f(...vals), want, bound, k, dtype, `${dtype} Gemm (${m}, ${k}, ${n}) alpha ${alpha} beta ${beta}`);
        }
      }
    });
  }

  it("beta 0 never reads z: NaN there stays out (beta 1 lets it through)", () => {
    const [z, x, y] = ["z", "x", "y"].map((s) => T.fmatrix(s)) as [TV, TV, TV];
    const be = T.fscalar("beta");
    const f = theano.function([z, x, y, be], GEMM.call(z, one32, x, y, be) as TV, { mode: W }) as unknown as Compiled;
    const zv = theano.full([6, 10], NaN, "float32");
    const xv = rand("float32", [6, 3], 1);
    const yv = rand("float32", [3, 10], 2);
    const got = f(zv, xv, yv, theano.array(0, "float32")).toFlat();
    expect([...got].every((v) => Number.isFinite(v))).toBe(true);
    const want = evaluate([T.dot(x, y)], new Map([[x, xv], [y, yv]]))[0]!;
    expectClose(f(zv, xv, yv, theano.array(0, "float32")), want, evaluate([T.dot(x, y)], new Map([[x, absOf(xv)], [y, absOf(yv)]]))[0]!, 3, "float32", "beta 0");
    expect([...f(zv, xv, yv, theano.array(1, "float32")).toFlat()].every((v) => Number.isNaN(v))).toBe(true);
  });

  it("fast_run's Gemm{inplace} on a shared matrix updates it as the py linker does", () => {
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const results = (["wasm", "py"] as const).map((linker) => {
      const w = theano.shared(rand("float32", [9, 13], 3), { name: "W" }) as unknown as TV;
      const f = theano.function([x, y], [], { mode: new theano.Mode(linker, "fast_run"), updates: [[w, w.sub(T.dot(x, y).mul(0.1))]] as never }) as unknown as Compiled;
      if (linker === "wasm") expect(products(f)).toEqual(["Gemm{inplace}:wasm"]);
      for (let s = 0; s < 3; s++) f(rand("float32", [9, 20], 10 + s), rand("float32", [20, 13], 20 + s));
      return (w as unknown as { getValue(): NDArray }).getValue();
    });
    const [got, want] = results as [NDArray, NDArray];
    const g = got.toFlat();
    const w = want.toFlat();
    for (let i = 0; i < g.length; i++) expect(Math.abs(Number(g[i]) - Number(w[i]))).toBeLessThan(1e-5);
  });
});

describe("wasm GEMM: Gemm{inplace} writes over z's own Wasm block", () => {
  it("no second block for the result (the function's peak Wasm memory), values as the py linker's", () => {
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const [m, k, n] = [200, 5, 300];
    const results = (["wasm", "py"] as const).map((linker) => {
      const w = theano.shared(rand("float32", [m, n], 3), { name: "W" }) as unknown as TV;
      const f = theano.function([x, y], [], { mode: new theano.Mode(linker, "fast_run"), updates: [[w, w.sub(T.dot(x, y).mul(0.1))]] as never }) as unknown as Compiled & { memoryPlan: { lastPeakBytes: number | null } };
      f(rand("float32", [m, k], 10), rand("float32", [k, n], 20));
      if (linker === "wasm") {
        expect(products(f)).toEqual(["Gemm{inplace}:wasm"]);
        // W's copy, x, y and the scratch (16-byte blocks, the first at 16): no block for the result.
        const w4 = m * n * 4;
        const round = (b: number): number => Math.ceil(b / 16) * 16;
        expect(f.memoryPlan.lastPeakBytes).toBe(16 + round(w4) + round(m * k * 4) + round(k * n * 4) + round(gemmScratchBytes("float32", n)));
      }
      return (w as unknown as { getValue(): NDArray }).getValue().toFlat();
    });
    const [got, want] = results as [Float32Array, Float32Array];
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5);
  });
});

describe("wasm GEMM: bad shapes raise perform's ShapeError, naming the op", () => {
  it("dot and Gemm", () => {
    const a = T.fmatrix("a");
    const b = T.fmatrix("b");
    const v = T.fvector("v");
    const z = T.fmatrix("z");
    const cases: Array<[TV[], TV, NDArray[], RegExp]> = [
      [[a, b], T.dot(a, b), [theano.zeros([3, 4], "float32"), theano.zeros([5, 2], "float32")], /dot: shapes \(3, 4\) and \(5, 2\) not aligned: 4 \(dim 1\) != 5 \(dim 0\)/],
      [[a, v], T.dot(a, v), [theano.zeros([3, 4], "float32"), theano.zeros([3], "float32")], /dot: shapes \(3, 4\) and \(3,\) not aligned/],
      [[z, a, b], GEMM.call(z, one32, a, b, one32) as TV, [theano.zeros([2, 2], "float32"), theano.zeros([2, 3], "float32"), theano.zeros([4, 2], "float32")], /Gemm\{no_inplace\}: shapes \(2, 3\) and \(4, 2\) not aligned/],
      [[z, a, b], GEMM.call(z, one32, a, b, one32) as TV, [theano.zeros([3, 2], "float32"), theano.zeros([2, 3], "float32"), theano.zeros([3, 2], "float32")], /Gemm\{no_inplace\}: z has shape \(3, 2\) but dot\(x, y\) has shape \(2, 2\)/],
    ];
    for (const [ins, out, vals, msg] of cases) {
      const f = theano.function(ins, out, { mode: W }) as unknown as Compiled;
      expect(products(f)[0]).toMatch(/:wasm$/);
      const py = theano.function(ins, out, { mode: new theano.Mode("py", "None") }) as unknown as Compiled;
      expect(() => f(...vals)).toThrow(theano.ShapeError);
      expect(() => f(...vals)).toThrow(msg);
      expect(() => py(...vals)).toThrow(msg);
    }
  });
});

describe("wasm GEMM: the MLP training step", () => {
  it("gives the py linker's loss and parameters within float32 tolerance, every product in Wasm", () => {
    const step = (linker: "wasm" | "py"): { f: Compiled; params: TV[] } => {
      const X = T.fmatrix("X");
      const yv = T.ivector("y");
      const init = (r: number, c: number, seed: number): TV => {
        const v = rand("float32", [r, c], seed);
        v.data.forEach((x, i) => (v.data[i] = Number(x) * 0.1));
        return theano.shared(v) as unknown as TV;
      };
      const zeros = (k: number): TV => theano.shared(theano.zeros([k], "float32")) as unknown as TV;
      const params = [init(30, 24, 11), zeros(24), init(24, 18, 12), zeros(18), init(18, 10, 13), zeros(10)];
      const h1 = T.relu(T.dot(X, params[0]!).add(params[1]!));
      const h2 = T.relu(T.dot(h1, params[2]!).add(params[3]!));
      const p = T.softmax(T.dot(h2, params[4]!).add(params[5]!));
      const loss = T.mean(T.crossentropyCategorical1Hot(p, yv));
      const grads = theano.grad(loss, params) as TV[];
      const updates = params.map((w, i) => [w, w.sub(grads[i]!.mul(0.05))]);
      const f = theano.function([X, yv], loss, { mode: new theano.Mode(linker, "fast_run"), updates: updates as never }) as unknown as Compiled;
      return { f, params };
    };
    const w = step("wasm");
    const p = step("py");
    const prods = products(w.f);
    expect(prods.length).toBeGreaterThanOrEqual(6);
    expect(prods.filter((s) => !s.endsWith(":wasm"))).toEqual([]);
    const Xv = rand("float32", [37, 30], 5);
    const labels = theano.array(Array.from({ length: 37 }, (_v, i) => (i * 7) % 10), "int32");
    for (let s = 0; s < 3; s++) {
      const lw = Number(w.f(Xv, labels).toFlat()[0]);
      const lp = Number(p.f(Xv, labels).toFlat()[0]);
      expect(Math.abs(lw - lp), `loss at step ${s}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(lp)));
    }
    w.params.forEach((v, i) => {
      const a = (v as unknown as { getValue(): NDArray }).getValue().toFlat();
      const b = (p.params[i] as unknown as { getValue(): NDArray }).getValue().toFlat();
      for (let j = 0; j < a.length; j++) expect(Math.abs(Number(a[j]) - Number(b[j])), `parameter ${i} element ${j}`).toBeLessThan(1e-5);
    });
  });
});

describe("linker=wasm: DimShuffle of a Wasm result is a view of its memory", () => {
  it("transposed products, views as outputs, broadcast axes, empty arrays", () => {
    const a = T.fmatrix("a");
    const b = T.fmatrix("b");
    const e = T.exp(a.mul(0.5));
    // e.T feeds a product (a view read through strides), e.T and a broadcast view leave as outputs.
    const outs = [T.dot(e.T, b), e.T, T.exp(b).dimshuffle("x", 1, 0).add(1), e.dimshuffle(1, "x", 0)];
    const f = theano.function([a, b], outs, { mode: W }) as unknown as ((...v: NDArray[]) => NDArray[]) & { fgraph: FunctionGraph };
    for (const [m, n] of [[5, 3], [0, 3], [4, 0]] as Array<[number, number]>) {
      const av = rand("float32", [m, n], 1);
      const bv = rand("float32", [m, n + 2], 2).slice([null, null], [1, n + 1]);
      const got = f(av, bv);
      const want = evaluate(outs, new Map([[a, av], [b, bv]]));
      got.forEach((g, i) => {
        expect([...g.shape], `output ${i}`).toEqual([...want[i]!.shape]);
        const [x, y] = [g.toFlat(), want[i]!.toFlat()];
        for (let j = 0; j < x.length; j++) expect(Math.abs(Number(x[j]) - Number(y[j])), `output ${i} element ${j} (${m}x${n})`).toBeLessThan(1e-5);
      });
    }
  });
});

describe("wasm GEMM with relaxed SIMD's fused multiply-add", () => {
  it("agrees with perform where the engine has relaxed_madd (a child Node with the flag when this one lacks it)", () => {
    // Node 20 ships relaxed SIMD behind --experimental-wasm-relaxed-simd; later engines validate it as is.
    const flags = wasmRelaxedSimdSupported() ? [] : ["--experimental-wasm-relaxed-simd"];
    const child = fileURLToPath(new URL("./fma_child.ts", import.meta.url));
    const out = execFileSync(process.execPath, [...flags, "--import", "tsx", child], { encoding: "utf8" });
    const r = JSON.parse(out.trim().split("\n").pop()!) as { relaxed: boolean; backends: string[]; failures: string[] };
    expect(r.relaxed).toBe(true);
    expect(r.backends.every((b) => b.endsWith(":wasm"))).toBe(true);
    expect(r.failures).toEqual([]);
  }, 60_000);
});
