/**
 * The wasm linker against `perform` (the py linker's oracle): every scalar-table row on
 * float32/float64 (and, running on the host, on ints and bools) over the C agreement suite's
 * layouts (contiguous, transposed, step-sliced, negative steps, offset views, empty, size-1),
 * broadcasting and 0-d; fused Composites; the v128 loops and their scalar tails; ranks past two;
 * host nodes between Wasm segments; NaN/Inf/-0 as C99 and NumPy; and bad shapes raising the
 * js linker's error class. Wasm computes each row as the JS backend does (float32 arithmetic
 * rounded once, other functions called on float64 and rounded), so results must agree with
 * perform bit for bit: NaN equal to NaN, -0 distinct from 0.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Apply } from "../../../src/graph/basic.js";
import type { FunctionGraph } from "../../../src/graph/fgraph.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { wasmSupported } from "../../../src/link/wasm/linker.js";
import { Elemwise } from "../../../src/tensor/elemwise.js";
import { evaluate } from "../../helpers.js";
import { everyRow, fill, layouts, poolFill, rand } from "../c/agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

const W = new theano.Mode("wasm", "None");
const WFUSED = new theano.Mode("wasm", "fast_run");

type Compiled = ((...a: NDArray[]) => NDArray[]) & { fgraph: FunctionGraph };

function expectSame(got: NDArray, want: NDArray, what: string): void {
  expect([...got.shape], what).toEqual([...want.shape]);
  expect(got.dtype, what).toBe(want.dtype);
  const a = got.toFlat();
  const b = want.toFlat();
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) throw new Error(`${what}: element ${i}: perform gives ${Object.is(y, -0) ? "-0" : y}, wasm ${Object.is(x, -0) ? "-0" : x}`);
  }
}

/** Compiles once with `mode` and checks every output against perform, bit for bit, per case. */
function agreeExact(vars: TV[], outs: TV[], cases: Array<[string, NDArray[]]>, what: string, mode = W): Compiled {
  const f = theano.function(vars, outs, { mode, onUnusedInput: "ignore" }) as unknown as Compiled;
  for (const [layout, values] of cases) {
    const got = f(...values);
    const want = evaluate(outs, new Map(vars.map((v, i) => [v, values[i]])));
    outs.forEach((o, i) => expectSame(got[i]!, want[i]!, `${what}: output ${i} (${o.owner ? String(o.owner.op) : o.label}) on ${layout}`));
  }
  return f;
}

const backends = (f: Compiled): string[] => f.fgraph.toposort().map((n: Apply) => String(n.tag.backend));

/** Rows that must run in Wasm on float operands (not on the host). */
const WASM_ROWS = [
  "add", "sub", "mul", "trueDiv", "neg", "abs", "sqrt", "sqr", "inv", "minimum", "maximum", "clip", "floor", "ceil", "trunc",
  "roundHalfToEven", "identity", "eq", "neq", "lt", "le", "gt", "ge", "isnan", "isinf",
  "exp", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sigmoid", "softplus", "erf", "pow", "sign",
];

describe("wasm elementwise kernels agree with perform, bit for bit", () => {
  for (const dtype of ["float32", "float64"] as DType[]) {
    it(`${dtype}: every row, every layout, broadcasting, 0-d`, () => {
      const m = [0, 1, 2].map((k) => T.tensor({ dtype, shape: [null, null], name: `m${k}` }));
      const outs = everyRow(dtype, m);
      const onWasm = new Set(outs.filter((o) => wasmSupported(o.owner!)).map((o) => (o.owner!.op as unknown as { scalarOp: { name: string } }).scalarOp.name));
      for (const name of WASM_ROWS) expect(onWasm.has(name), `${name} runs in Wasm`).toBe(true);
      const f = agreeExact(m, outs, layouts(dtype, 3, poolFill), dtype);
      expect(backends(f).filter((b) => b === "wasm").length).toBe(onWasm.size);

      const b = [T.tensor({ dtype, shape: [1, null], name: "r" }), T.tensor({ dtype, shape: [null, 1], name: "c" }), T.tensor({ dtype, shape: [null, null], name: "f" })];
      const bv = [poolFill(dtype, [1, 5], 0), poolFill(dtype, [4, 1], 1), poolFill(dtype, [4, 5], 2)];
      const bt = bv.map((v) => v.T.copy().T);
      agreeExact(b, everyRow(dtype, b), [["row + col + full", bv], ["transposed storage", bt], ["empty", [poolFill(dtype, [1, 0], 0), poolFill(dtype, [4, 1], 1), theano.zeros([4, 0], dtype)]]], `${dtype} broadcast`);

      const z = [0, 1, 2].map((k) => T.tensor({ dtype, shape: [], name: `z${k}` }));
      const zcases: Array<[string, NDArray[]]> = [0, 1, 4, 5, 7, 17, 18].map((j) => [`0-d #${j}`, z.map((_, k) => fill(dtype, [], () => j + 3 * k))]);
      agreeExact(z, everyRow(dtype, z), zcases, `${dtype} 0-d`);
    });
  }

  it("rows on int, bool and mixed float operands (host where Wasm has no kernel) agree", () => {
    for (const dtype of ["int32", "bool", "uint8"] as DType[]) {
      const m = [0, 1, 2].map((k) => T.tensor({ dtype, shape: [null, null], name: `m${k}` }));
      agreeExact(m, everyRow(dtype, m), layouts(dtype, 3, poolFill).slice(0, 3), dtype);
    }
    const a = T.tensor({ dtype: "float32", shape: [null, null], name: "a" });
    const b = T.tensor({ dtype: "float64", shape: [null, null], name: "b" });
    const c = T.tensor({ dtype: "bool", shape: [null, null], name: "c" });
    const outs = [a.add(b), T.minimum(a, b), T.lt(a, b), T.switch(c, a, b), a.mul(T.cast(c, "float32")), T.cast(b, "float32"), T.cast(a, "bool"), T.exp(a).add(b)];
    const vals = (k: number): NDArray[] => [poolFill("float32", [4, 5], k), poolFill("float64", [4, 5], k + 1), poolFill("bool", [4, 5], k)];
    const f = agreeExact([a, b, c], outs, [["mixed", vals(0)], ["mixed'", vals(2)]], "mixed dtypes");
    expect(backends(f).every((x) => x === "wasm")).toBe(true);

    // Integer operands of static size 1 (constants, [1, 1] variables) enter Wasm kernels as floats.
    const i32 = T.tensor({ dtype: "int32", shape: [1, 1], name: "i32" });
    const i64 = T.tensor({ dtype: "int64", shape: [1, 1], name: "i64" });
    const u8 = T.tensor({ dtype: "uint8", shape: [1, 1], name: "u8" });
    const ints = [a.add(1), b.mul(-3), a.mul(i32), b.sub(i64), a.div(u8), T.maximum(a, i32), a.mul(2).sub(3), T.pow(b, 2)];
    const iv = (x: number, y: bigint, z: number): NDArray[] => [...vals(1), theano.array([[x]], "int32"), theano.array([[y]], "int64"), theano.array([[z]], "uint8")];
    const cases: Array<[string, NDArray[]]> = [["small", iv(3, 5n, 7)], ["large", iv(2 ** 30 + 1, 2n ** 52n + 3n, 255)], ["negative, zero", iv(-7, -(2n ** 40n), 0)]];
    for (const mode of [W, WFUSED]) {
      const g = agreeExact([a, b, c, i32, i64, u8], ints, cases, `int operands (${mode.optimizer})`, mode);
      const onHost = g.fgraph.toposort().filter((n) => n.tag.backend === "host" && n.op instanceof Elemwise);
      expect(onHost.map(String)).toEqual([]);
    }
  });

  it("fused composites (fast_run fusion) agree, float32 and float64, with broadcast constants", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const y = T.tensor({ dtype, shape: [1, null], name: "y" });
      const w2 = T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)));
      const other = T.softplus(x.add(y)).mul(T.erf(y)).add(T.log1p(T.abs(x))).sub(T.expm1(y.mul(0.25)));
      const arith = T.clip(T.maximum(x, y).mul(x).add(T.sqrt(T.abs(y))), -2, 2).div(T.minimum(x.neg(), 3));
      const ys = rand(dtype, [1, 5], 9);
      const cases: Array<[string, NDArray[]]> = layouts(dtype, 1, (d, s, k) => rand(d, s, k)).map(([n, [a]]) => [n, [a!, a!.shape[1] === 5 ? ys : rand(dtype, [1, a!.shape[1]!], 3)]]);
      const f = agreeExact([x, y], [w2, other, arith], cases, `fused ${dtype}`, WFUSED);
      const names = f.fgraph.toposort().map((n) => String(n.op));
      expect(names.some((n) => n.includes("Composite")), names.join("; ")).toBe(true);
      expect(backends(f).every((x) => x === "wasm"), names.join("; ")).toBe(true);
    }
  });

  it("v128 loops and their scalar tails: every length 0..37 and 1003, contiguous, strided and broadcast", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null], name: "x" });
      const y = T.tensor({ dtype, shape: [null], name: "y" });
      const s = T.tensor({ dtype, shape: [1], name: "s" });
      const e = T.clip(T.minimum(x, y).mul(s).add(T.sqrt(T.abs(x))).sub(T.maximum(y.neg(), x)), -5, 5).add(T.inv(T.sqr(y))).add(T.floor(x)).sub(T.round(y.mul(2.5)));
      const f = theano.function([x, y, s], e, { mode: WFUSED }) as unknown as (...a: NDArray[]) => NDArray;
      for (const n of [...Array(38).keys(), 1003]) {
        const xv = poolFill(dtype, [n], 1);
        const yv = rand(dtype, [2 * n], n).slice([null, null, 2]);
        const sv = rand(dtype, [1], 7);
        const want = evaluate([e], new Map([[x, xv], [y, yv], [s, sv]]))[0]!;
        expectSame(f(xv, yv, sv), want, `${dtype} n=${n} strided`);
        const yc = yv.copy();
        expectSame(f(xv, yc, sv), evaluate([e], new Map([[x, xv], [y, yc], [s, sv]]))[0]!, `${dtype} n=${n} contiguous`);
      }
    }
  });

  it("ranks 3 and 4 with transposed, sliced and broadcast operands (axes beyond two)", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const a = T.tensor({ dtype, shape: [null, null, null, null], name: "a" });
      const b = T.tensor({ dtype, shape: [null, 1, null, null], name: "b" });
      const c = T.tensor({ dtype, shape: [null, null, null], name: "c" });
      const outs = [a.mul(b).add(T.exp(a)), T.maximum(a, b).sub(T.sqrt(T.abs(b))), c.mul(c).add(1), T.tanh(c)];
      const av = rand(dtype, [3, 4, 5, 6], 1).transpose(2, 0, 3, 1);
      const bv = rand(dtype, [5, 1, 12, 4], 2).slice([null, null], [null, null], [null, null, 2]);
      const cv = rand(dtype, [7, 3, 9], 3).transpose(2, 1, 0).slice([null, null, -1]);
      agreeExact([a, b, c], outs, [["views", [av, bv, cv]], ["copies", [av.copy(), bv.copy(), cv.copy()]]], `${dtype} rank 4`);
      agreeExact([a, b, c], outs, [["views", [av, bv, cv]]], `${dtype} rank 4 fused`, WFUSED);
    }
  });

  it("host nodes between Wasm segments (reductions, dot, reshape) agree", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null], name: "x" });
    const w = T.tensor({ dtype: "float32", shape: [null, null], name: "w" });
    const h = T.tanh(T.dot(x.mul(2).add(1), w));
    const out = [h.sub(T.max(h, 1, { keepdims: true })).exp(), T.sum(h.mul(h)), h.reshape([-1]).add(0.5)];
    // Quarters: the dot (a Wasm GEMM accumulating in float32, in its own order) is then exact.
    const randQ = (shape: number[], seed: number): NDArray => {
      const a = rand("float32", shape, seed);
      a.data.forEach((v, i) => (a.data[i] = Math.round(Number(v) * 4) / 4));
      return a;
    };
    const f = agreeExact([x, w], out, [["values", [randQ([4, 6], 1), randQ([6, 3], 2)]], ["views", [randQ([6, 4], 3).T, randQ([3, 12], 4).T.slice([null, null, 2])]]], "mixed", WFUSED);
    const kinds = backends(f);
    expect(kinds).toContain("wasm");
    expect(kinds).toContain("host");
  });

  it("fast_run keeps Elemwise and CAReduce apart under linker=wasm (no FusedReduce on the host)", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null], name: "x" });
    const outs = [T.sum(T.exp(x.mul(0.5)), 1), T.max(T.abs(x).add(1), 0), T.sum(x.mul(x))];
    const f = agreeExact([x], outs, [["values", [rand("float32", [5, 7], 1)]], ["transposed", [rand("float32", [7, 5], 2).T]]], "elemwise + reduce", WFUSED);
    const names = f.fgraph.toposort().map((n) => String(n.op));
    expect(names.some((n) => n.includes("Fused")), names.join("; ")).toBe(false);
    expect(backends(f).every((b) => b === "wasm"), names.join("; ")).toBe(true);
  });
});

describe("wasm CAReduce sum/max/min agree with perform, bit for bit", () => {
  it("every axis set of rank 3 and 4, over views, NaN, -0 and infinities; empty lanes", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null, null], name: "x" });
      const axes: number[][] = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2], [2, 0]];
      const outs = axes.flatMap((ax) => [T.sum(x, ax), T.max(x, ax), T.min(x, ax)]);
      const cases: Array<[string, NDArray[]]> = [
        ["pool values", [poolFill(dtype, [3, 4, 5], 1)]],
        ["random", [rand(dtype, [4, 3, 6], 2)]],
        ["transposed", [rand(dtype, [5, 3, 4], 3).transpose(2, 1, 0)]],
        ["step-sliced", [rand(dtype, [3, 8, 5], 4).slice([null, null], [1, null, 2], [null, null, -1])]],
        ["size-1 axes", [rand(dtype, [1, 7, 1], 5)]],
      ];
      const f = agreeExact([x], outs, cases, `${dtype} reduce`);
      expect(backends(f).every((b) => b === "wasm")).toBe(true);
      // Empty: sums give 0; max/min of an empty lane raise perform's ShapeError.
      agreeExact([x], [T.sum(x, [1]), T.sum(x, [0, 2]), T.max(x, [1]), T.min(x, [2, 1])], [["empty kept axis", [theano.zeros([0, 3, 4], dtype)]]], `${dtype} empty`);
      const g = theano.function([x], T.max(x, [1]), { mode: W }) as unknown as (a: NDArray) => NDArray;
      expect(() => g(theano.zeros([2, 0, 3], dtype))).toThrow(theano.ShapeError);
    }
  });

  it("rank 5 with three reduced axes that do not merge (perform on the host for that call)", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, null, null, null, null], name: "x" });
    const outs = [T.sum(x, [0, 2, 4]), T.max(x, [1, 3]), T.min(x, [0, 1, 2, 3, 4])];
    agreeExact([x], outs, [["contiguous", [rand("float64", [2, 3, 4, 3, 2], 1)]], ["transposed", [rand("float64", [2, 3, 4, 3, 2], 2).transpose(4, 2, 0, 3, 1)]]], "rank 5");
  });
});

describe("wasm float32 exp, sigmoid and tanh (float64 arithmetic in Wasm, no JS call)", () => {
  it("equal fround(JS) on 1M float32 values across the whole range, both signs, and the specials", () => {
    const STEP = 4271;
    const n = Math.floor(0x7f800000 / STEP);
    const u = new Uint32Array(2 * n + 20);
    for (let i = 0; i < n; i++) {
      u[2 * i] = 1 + i * STEP;
      u[2 * i + 1] = (1 + i * STEP) | 0x80000000;
    }
    const d = new Float32Array(u.buffer);
    [0, -0, NaN, Infinity, -Infinity, 0.05, -0.05, 88.7, 88.8, -103, -104, -87.3, 1e-40, 20, 100, 110, -110, 200, -200, 0.5].forEach((v, j) => (d[2 * n + j] = v));
    const x = T.tensor({ dtype: "float32", shape: [null], name: "x" });
    const outs = [T.exp(x), T.sigmoid(x), T.tanh(x)];
    const xv = new theano.NDArray("float32", [d.length], d);
    const f = agreeExact([x], outs, [["sweep", [xv]]], "float32 transcendental");
    expect(backends(f)).toEqual(["wasm", "wasm", "wasm"]);
  });
});

describe("wasm memory", () => {
  it("intermediates' memory is reused after their last reader: a chain of 12 kernels on 2 MB values peaks near 3 values", () => {
    const x = T.tensor({ dtype: "float64", shape: [null], name: "x" });
    let e = x;
    for (let k = 0; k < 12; k++) e = k % 3 === 0 ? T.exp(e.mul(-0.5)) : k % 3 === 1 ? T.sqrt(T.abs(e)).add(k) : e.reshape([500, 500]).sub(T.sum(e.reshape([500, 500]), [0], { keepdims: true }).mul(2e-3)).reshape([-1]);
    const f = theano.function([x], e, { mode: W }) as unknown as ((a: NDArray) => NDArray) & { memoryPlan: { lastPeakBytes: number | null } };
    const xv = rand("float64", [250_000], 1);
    expectSame(f(xv), evaluate([e], new Map([[x, xv]]))[0]!, "chain");
    expect(f.memoryPlan.lastPeakBytes).toBeGreaterThan(2 * 2e6);
    expect(f.memoryPlan.lastPeakBytes).toBeLessThan(4.2 * 2e6);
  });
});

describe("wasm: NaN, Inf and -0 as C99 and NumPy", () => {
  it("minimum/maximum propagate NaN from either side and return the second of equal zeros; -0 survives neg, sqrt, floor, rounding", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null], name: "x" });
      const y = T.tensor({ dtype, shape: [null], name: "y" });
      const xs = [0, -0, NaN, 1, NaN, -Infinity, Infinity, 0, -0.5, -0.4, 2.5, -1, 0];
      const ys = [-0, 0, 1, NaN, NaN, Infinity, -Infinity, 0, 0, 0, 0, 0, -0];
      const outs = [T.minimum(x, y), T.maximum(x, y), x.neg(), T.sqrt(x), T.abs(x), T.floor(x), T.ceil(x), T.round(x), T.sign(x), x.div(y), T.eq(x, y), T.neq(x, y), T.lt(x, y), T.isnan(x), T.isinf(x), T.log(x), T.exp(x.neg())];
      const xv = theano.array(xs, dtype);
      const yv = theano.array(ys, dtype);
      for (const mode of [W, WFUSED]) agreeExact([x, y], outs, [["specials", [xv, yv]]], `${dtype} specials`, mode);
      const f = theano.function([x, y], [T.minimum(x, y), T.maximum(x, y), x.div(y), T.sqrt(x)], { mode: W }) as unknown as (...a: NDArray[]) => NDArray[];
      const [mn, mx, dv, sq] = f(xv, yv).map((r) => [...r.toFlat()].map(Number));
      expect(Object.is(mn![0], -0) && Object.is(mn![1], 0) && Object.is(mx![0], -0)).toBe(true); // the second of equal zeros
      expect(Number.isNaN(mn![2]!) && Number.isNaN(mn![3]!) && Number.isNaN(mx![2]!) && Number.isNaN(mx![3]!)).toBe(true);
      expect([dv![0], dv![3], dv![6], dv![8], dv![10]]).toEqual([NaN, NaN, NaN, -Infinity, Infinity]);
      expect(Object.is(sq![1], -0) && Number.isNaN(sq![11]!)).toBe(true);
    }
  });
});

describe("wasm: shapes are checked before any kernel runs", () => {
  it("disagreeing and wrongly broadcast shapes raise the js linker's ShapeError", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null], name: "x" });
    const y = T.tensor({ dtype: "float32", shape: [null, null], name: "y" });
    const r = T.tensor({ dtype: "float32", shape: [1, null], name: "r" });
    const e = T.exp(x.add(y)).mul(r);
    const bad: Array<NDArray[]> = [
      [theano.zeros([2, 3], "float32"), theano.zeros([3, 2], "float32"), theano.zeros([1, 3], "float32")],
      [theano.zeros([2, 3], "float32"), theano.zeros([2, 3], "float32"), theano.zeros([1, 4], "float32")],
      [theano.zeros([2, 3], "float32"), theano.zeros([2, 1], "float32"), theano.zeros([1, 3], "float32")],
    ];
    for (const mode of [W, WFUSED]) {
      const fw = theano.function([x, y, r], e, { mode }) as unknown as (...a: NDArray[]) => NDArray;
      const fj = theano.function([x, y, r], e, { mode: new theano.Mode("js", mode.optimizer) }) as unknown as (...a: NDArray[]) => NDArray;
      for (const args of bad) {
        let wErr: unknown;
        let jErr: unknown;
        try {
          fw(...args);
        } catch (err) {
          wErr = err;
        }
        try {
          fj(...args);
        } catch (err) {
          jErr = err;
        }
        expect(wErr).toBeInstanceOf(theano.ShapeError);
        expect((wErr as Error).constructor).toBe((jErr as Error).constructor);
      }
      // The function still works after a failed call.
      const ok = [theano.ones([2, 3], "float32"), theano.ones([2, 3], "float32"), theano.ones([1, 3], "float32")];
      expectSame(fw(...ok), fj(...ok), "after a ShapeError");
    }
  });
});

describe("linker=wasm: profiling", () => {
  it("profile=True times Wasm kernels and host nodes per node", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null], name: "x" });
    const f = theano.function([x], T.sum(T.exp(x).mul(2), 1).reshape([-1, 1]).add(x), { mode: W, profile: true }) as unknown as ((a: NDArray) => NDArray) & { profile: { summary(): string } };
    f(rand("float32", [3, 4], 1));
    const s = f.profile.summary();
    for (const name of ["Elemwise{exp}", "Sum{axis=(1)}", "Reshape"]) expect(s).toContain(name);
  });
});

describe("linker=wasm through the flag", () => {
  it("config linker=wasm makes theano.function use the wasm linker", () => {
    const x = T.tensor({ dtype: "float64", shape: [null], name: "x" });
    const f = theano.config.change({ linker: "wasm" }, () => theano.function([x], T.exp(x).add(1))) as unknown as ((a: NDArray) => NDArray) & { fgraph: FunctionGraph };
    expect(f.fgraph.toposort().map((n) => n.tag.backend)).toEqual(["wasm"]);
    expectSame(f(theano.array([0, 1, -Infinity], "float64")), theano.array([2, Math.exp(1) + 1, 1], "float64"), "exp + 1");
  });
});
