/**
 * The C backend against `perform` (test/helpers `evaluate`): CAReduce, Dot, Gemm, FusedReduce,
 * Softmax/LogSoftmax, DimShuffle, Subtensor, Reshape, Join on float32, float64 and integer
 * inputs that are contiguous, transposed, step-sliced, reversed, offset, broadcast, empty,
 * size-1 and 0-d (the elementwise rows are in agreement_elemwise.test.ts). Each test compiles
 * one function with many outputs (C modules are shape-generic, so every layout runs through the
 * same module), which keeps the number of compiler runs small. Then: five shapes, one module;
 * shape errors are ShapeErrors naming the node; host nodes between C segments; linker=auto;
 * GEMM through a system BLAS.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import * as theano from "../../../src/index.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { findBlas } from "../../../src/link/c/compiler.js";
import { openLibrary } from "../../../src/link/c/ffi.js";
import { autoLinker, cBuildCount, cModuleLoads, cSource } from "../../../src/link/c/linker.js";
import { wasmLinker } from "../../../src/link/wasm/linker.js";
import { evaluate, expectClose } from "../../helpers.js";
import { FusedReduce } from "../../../src/tensor/fused_reduce.js";
import { Gemm } from "../../../src/tensor/gemm.js";
import { Subtensor } from "../../../src/tensor/subtensor.js";
import { hasCGenerator } from "../../../src/link/c/codegen.js";
import { C, CFUSED, agree, layouts, poolFill, rand, requireCompiler, tryBuild } from "./agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

beforeAll(requireCompiler);

describe("C reductions, dot, softmax, dimshuffle and reshape agree with perform", () => {
  it("CAReduce: sum/prod/max/min/all/any over every axis set", () => {
    for (const dtype of ["float32", "float64", "int32", "int64", "uint8", "bool"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null, null], name: "x" });
      const outs: TV[] = [];
      for (const axis of [null, 0, 1, 2, [0, 2], [0, 1]] as Array<number | number[] | null>) {
        for (const fn of [T.sum, T.max, T.min, T.all, T.any, T.prod]) {
          const o = tryBuild(() => fn(x, axis));
          if (o) outs.push(o);
        }
      }
      const make = (d: DType, s: number[], k: number) => (d === "float32" || d === "float64" ? rand(d, s, k) : poolFill(d, s, k));
      const cases: Array<[string, NDArray[]]> = [
        ["contiguous", [make(dtype, [3, 4, 5], 0)]],
        ["transposed", [make(dtype, [5, 4, 3], 1).transpose(2, 1, 0)]],
        ["step-sliced", [make(dtype, [3, 8, 5], 2).slice([null, null], [null, null, 2])]],
        ["size-1", [make(dtype, [1, 1, 1], 3)]],
        ["long rows", [make(dtype, [2, 3, 37], 5)]],
        ["long rows, reversed", [make(dtype, [2, 3, 37], 6).slice([null, null], [null, null], [null, null, -1])]],
      ];
      agree([x], outs, cases, `reduce ${dtype}`);
      // Empty lanes: sums are 0; max/min over an empty axis is an error (checked below).
      const sums = [T.sum(x, 1), T.prod(x, [0, 1]), T.any(x, 2)].filter((o) => o !== null);
      agree([x], sums, [["empty", [theano.zeros([2, 0, 3], dtype)]]], `empty reduce ${dtype}`);
    }
  });

  it("Dot: matrix·matrix, matrix·vector, vector·matrix, vector·vector, any layout and dtype", () => {
    for (const dtype of ["float32", "float64", "int32", "int64", "bool"] as DType[]) {
      const A = T.tensor({ dtype, shape: [null, null], name: "A" });
      const B = T.tensor({ dtype, shape: [null, null], name: "B" });
      const u = T.tensor({ dtype, shape: [null], name: "u" });
      const v = T.tensor({ dtype, shape: [null], name: "v" });
      const outs = [T.dot(A, B), T.dot(A, v), T.dot(u, B), T.dot(u, v)];
      const r = (s: number[], k: number) => rand(dtype, s, k);
      // 33x600x300: one short block of rows (an RNN step's shape), threaded, three k blocks and a
      // partial column panel: B is read in place (or packed column by column when transposed).
      const sizes: Array<[number, number, number]> = [[4, 5, 3], [37, 300, 45], [130, 260, 70], [33, 600, 300], [0, 5, 3], [4, 0, 3], [1, 1, 1]];
      const cases: Array<[string, NDArray[]]> = [];
      for (const [m, k, n] of sizes) {
        cases.push([`${m}x${k}x${n}`, [r([m, k], 1), r([k, n], 2), r([k], 3), r([k], 4)]]);
        cases.push([`${m}x${k}x${n} transposed`, [r([k, m], 5).T, r([n, k], 6).T, r([2 * k], 7).slice([null, null, 2]), r([k], 8).slice([null, null, -1])]]);
      }
      cases.push(["step-sliced", [r([8, 10], 9).slice([null, null, 2], [1, null, 2]), r([10, 6], 10).slice([null, null, 2]), r([10], 11).slice([null, null, 2]), r([5], 12)]]);
      agree([A, B, u, v], outs, cases, `dot ${dtype}`, C, dtype === "float32" ? { rtol: 1e-4, atol: 1e-4 } : {});
    }
    // mixed dtypes promote (perform's astype)
    const a = T.tensor({ dtype: "float32", shape: [null, null], name: "a" });
    const b = T.tensor({ dtype: "int32", shape: [null, null], name: "b" });
    agree([a, b], [T.dot(a, b)], [["mixed", [rand("float32", [3, 4], 1), rand("int32", [4, 2], 2)]]], "dot float32·int32");
  });

  it("Softmax and LogSoftmax over each axis, with NaN/inf lanes", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const outs = [T.softmax(x, -1), T.softmax(x, 0), T.logSoftmax(x, -1), T.logSoftmax(x, 0)];
      const special = theano.array([[1, 2, 3, 4, 5], [NaN, 1, 2, 3, 4], [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity], [Infinity, 1, 2, 3, 4], [-1000, -1000, 0, 1, 2], [1, 1, 1, 1, 1]], dtype);
      const cases: Array<[string, NDArray[]]> = [...layouts(dtype, 1, (d, s, k) => rand(d, s, k)), ["special lanes", [special]], ["long lanes", [rand(dtype, [3, 1000], 4)]]];
      agree([x], outs, cases, `softmax ${dtype}`, C, dtype === "float32" ? { rtol: 2e-5, atol: 1e-6 } : {});
    }
  });

  it("Gemm (alpha·x·y + beta·z; z unread when beta = 0), any layout", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const z = T.tensor({ dtype, shape: [null, null], name: "z" });
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const y = T.tensor({ dtype, shape: [null, null], name: "y" });
      const a = T.tensor({ dtype: "float64", shape: [], name: "a" });
      const b = T.tensor({ dtype, shape: [], name: "b" });
      const outs = [new Gemm(false).makeNode(z, a, x, y, b).outputs[0] as TV, new Gemm(false).makeNode(z, a, x, y, T.constant(0, { dtype })).outputs[0] as TV];
      const r = (sh: number[], k: number) => rand(dtype, sh, k);
      const nanZ = r([6, 7], 1);
      (nanZ.data as Float64Array)[3] = NaN;
      const sc = (v: number, d: DType) => theano.array(v, d);
      const cases: Array<[string, NDArray[]]> = [
        ["small", [r([6, 7], 1), sc(0.5, "float64"), r([6, 5], 2), r([5, 7], 3), sc(2, dtype)]],
        ["large, transposed", [r([70, 130], 4), sc(-1.5, "float64"), r([300, 70], 5).T, r([130, 300], 6).T, sc(0.25, dtype)]],
        ["short rows, long k", [r([33, 300], 8), sc(0.75, "float64"), r([33, 600], 9), r([600, 300], 10), sc(-1, dtype)]],
        ["short rows, long k, transposed", [r([33, 300], 8), sc(0.75, "float64"), r([600, 33], 9).T, r([300, 600], 10).T, sc(-1, dtype)]],
        ["NaN in z", [nanZ, sc(1, "float64"), r([6, 5], 2), r([5, 7], 3), sc(1, dtype)]],
        ["strided z, k = 0", [r([12, 7], 7).slice([null, null, 2]), sc(1, "float64"), r([6, 0], 2), r([0, 7], 3), sc(3, dtype)]],
      ];
      agree([z, a, x, y, b], outs, cases, `gemm ${dtype}`, C, dtype === "float32" ? { rtol: 1e-4, atol: 1e-4 } : {});
      const f = theano.function([z, a, x, y, b], outs[0]!, { mode: C });
      expect(() => f(r([6, 7], 1), sc(1, "float64"), r([6, 5], 2), r([4, 7], 3), sc(1, dtype))).toThrow(/Gemm\{no_inplace\}: shapes \(6, 5\) and \(4, 7\) not aligned/);
    }
  });

  it("FusedReduce (fast_run's reduce fusion) agrees with the unfused graph", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const y = T.tensor({ dtype, shape: [null, null], name: "y" });
      const outs = [T.sum(T.exp(x).mul(y), 1), T.sqrt(T.sum(T.sqr(x.sub(0.1)), 0).div(7)), T.max(x.mul(y), 1, { keepdims: true }).add(1), T.mean(T.abs(x))];
      const f = theano.function([x, y], outs, { mode: CFUSED });
      expect([...f.fgraph.nodes].some((n) => n.op instanceof FusedReduce), "the rewrite produced a FusedReduce").toBe(true);
      const cases = layouts(dtype, 2, (d, sh, k) => rand(d, sh, k)).filter(([n]) => !n.startsWith("empty"));
      agree([x, y], outs, cases, `fused reduce ${dtype}`, CFUSED, dtype === "float32" ? { rtol: 1e-5, atol: 1e-5 } : {});
    }
  });

  it("Reshape of strided 3-d arrays copies them row by row: every element size, reversed, transposed, step-sliced", () => {
    // one function (one module) over the five element sizes
    const dtypes = ["int8", "int16", "float32", "float64", "bool"] as DType[];
    const xs = dtypes.map((dtype) => T.tensor({ dtype, shape: [null, null, null], name: `x_${dtype}` }));
    const outs = xs.flatMap((x) => [x.reshape([-1]), x.dimshuffle(2, 0, 1).reshape([-1, 2])]);
    const each = (f: (d: DType, k: number) => NDArray): NDArray[] => dtypes.map((d, k) => f(d, k));
    const cases: Array<[string, NDArray[]]> = [
      ["contiguous", each((d, k) => rand(d, [3, 2, 4], k))],
      ["outer axis reversed (contiguous rows)", each((d, k) => rand(d, [3, 2, 4], k + 5).slice([null, null, -1]))],
      ["transposed", each((d, k) => rand(d, [4, 2, 3], k + 10).transpose(2, 1, 0))],
      ["last axis step-sliced and reversed", each((d, k) => rand(d, [3, 2, 8], k + 15).slice([null, null], [null, null], [null, null, -2]))],
    ];
    agree(xs, outs, cases, "reshape", C);
  });

  it("DimShuffle and Subtensor views (exported and in the middle), constant-shape Reshape, Join", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, null], name: "x" });
    const b = T.tensor({ dtype: "float64", shape: [null], name: "b" });
    const outs = [x.T, x.add(b.dimshuffle("x", 0)).T.mul(2), b.dimshuffle(0, "x"), x.reshape([-1]), x.T.reshape([2, -1]).add(1), x.reshape([-1, 2]).sum(0)];
    const cases: Array<[string, NDArray[]]> = layouts("float64", 1, (d, s, k) => rand(d, s, k))
      .filter(([n]) => !n.startsWith("empty") && n !== "size-1")
      .map(([n, [a]]) => [n, [a!, rand("float64", [a!.shape[1]!], 5)]]);
    agree([x, b], outs, cases, "views");
    // Subtensor with constant indices: a view (exported: copied), negative steps, clamped bounds.
    const subs = [x.get(1), x.get(T.slice(null, null, -1)), x.get(T.slice(1, -1, 2), -1), x.get(T.slice(5, 1, -2)), x.get(T.slice(-100, 100), T.slice(null, null, -2)).mul(3), x.get(T.slice(3, 3)), x.get(-1, T.slice(1, null)).sum()];
    expect(subs.every((v) => hasCGenerator(v.owner!.op instanceof Subtensor ? v.owner! : v.owner!.inputs[0]!.owner!))).toBe(true);
    agree([x, b], subs, cases, "subtensor");
    // Join (concatenate), with a dtype conversion and an empty piece
    const xi = T.tensor({ dtype: "int32", shape: [null, null], name: "xi" });
    const joins = [T.concatenate([x, x.T.get(T.slice(null, 2)).T.mul(2), x.T.get(T.slice(null, 2)).T], 1), T.concatenate([x, xi, x.get(T.slice(0, 0))], 0)];
    const jcases: Array<[string, NDArray[]]> = cases.filter(([, [a]]) => a!.shape[0]! >= 2).map(([n, [a, bb]]) => [n, [a!, bb!, rand("int32", [3, a!.shape[1]!], 8)]]);
    agree([x, b, xi], joins, jcases, "join");
    const f1 = theano.function([x], x.get(5), { mode: C });
    expect(() => f1(rand("float64", [3, 2], 1))).toThrow(theano.ShapeError);
    expect(() => f1(rand("float64", [3, 2], 1))).toThrow(/index 5 is out of bounds for axis 0 with size 3/);
    const bad = theano.function([x, b], outs[3]!, { mode: C, onUnusedInput: "ignore" });
    expect(bad(rand("float64", [3, 3], 1), rand("float64", [3], 2)).shape).toEqual([9]);
  });
});

describe("shape-generic modules and errors", () => {
  it("one function, five shapes: one module, no rebuild", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null], name: "x" });
    const y = T.tensor({ dtype: "float32", shape: [null, null], name: "y" });
    const out = T.exp(x).add(y.mul(2)).sum(1);
    const loads = cModuleLoads();
    const f = theano.function([x, y], out, { mode: C });
    expect(cModuleLoads()).toBe(loads + 1);
    const builds = cBuildCount();
    for (const [m, n] of [[2, 3], [7, 1], [0, 4], [100, 33], [1, 1]] as Array<[number, number]>) {
      const a = rand("float32", [m, n], m);
      const b = rand("float32", [m, n], n);
      expectClose(f(a, b) as NDArray, evaluate([out], new Map([[x, a], [y, b]]))[0]!);
    }
    expect(cModuleLoads()).toBe(loads + 1);
    expect(cBuildCount()).toBe(builds);
  });

  it("mismatched shapes → ShapeError naming the node, never a crash", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, null], name: "x" });
    const y = T.tensor({ dtype: "float64", shape: [null, null], name: "y" });
    const f = theano.function([x, y], T.exp(x.add(y)).sum(), { mode: C });
    expect(() => f(rand("float64", [2, 3], 1), rand("float64", [3, 3], 2))).toThrow(theano.ShapeError);
    expect(() => f(rand("float64", [2, 3], 1), rand("float64", [3, 3], 2))).toThrow(/do not match on axis 0[\s\S]*Apply node that caused the error/);
    const g = theano.function([x, y], T.dot(x, y), { mode: C });
    expect(() => g(rand("float64", [2, 3], 1), rand("float64", [4, 3], 2))).toThrow(/dot: shapes \(2, 3\) and \(4, 3\) not aligned/);
    expect(() => theano.function([x], T.max(x, 1), { mode: C })(theano.zeros([2, 0], "float64"))).toThrow(/zero-size reduction/);
    expect(() => theano.function([x], x.reshape([5, -1]), { mode: C })(rand("float64", [2, 3], 1))).toThrow(/cannot reshape/);
    // the function still works afterwards
    expect((f(rand("float64", [2, 3], 1), rand("float64", [2, 3], 2)) as NDArray).shape).toEqual([]);
  });

  it("ops without a C generator run on the host between C segments", () => {
    const x = T.tensor({ dtype: "float64", shape: [null, null], name: "x" });
    const mid = T.exp(x).get(T.slice(null, null), T.slice(1, null)); // C (exported view)
    const out = T.diff(mid.mul(2), 1, 0).add(1); // Diff: host, between two C segments
    const f = theano.function([x], [out, mid], { mode: C });
    const kinds = cSource(f.fgraph).steps.map((st) => st.kind);
    expect(kinds.join(" ")).toMatch(/c host c/);
    const a = rand("float64", [4, 5], 1);
    const got = f(a) as NDArray[];
    const want = evaluate([out, mid], new Map([[x, a]]));
    expectClose(got[0]!, want[0]!);
    expectClose(got[1]!, want[1]!);
  });
});

describe("linker=auto", () => {
  it("is the C linker when a compiler works, else wasm (test/link/wasm/auto.test.ts: else JS) with one warning saying how to get C", () => {
    expect(autoLinker().name).toBe("c");
    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const chosen = theano.config.change({ cxx: "" }, () => [autoLinker(), autoLinker()]);
      expect(chosen[0]).toBe(wasmLinker);
      expect(chosen[1]).toBe(wasmLinker);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]![0])).toMatch(/C backend is unavailable.*install gcc or clang/);
      // and a function compiled under it runs (on wasm)
      const x = T.dvector("x");
      const f = theano.config.change({ cxx: "" }, () => theano.function([x], x.mul(2)));
      expect(Array.from((f([1, 2]) as NDArray).toFlat() as Float64Array)).toEqual([2, 4]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe("GEMM through a system BLAS (blas.ldflags)", () => {
  it("Dot and Gemm call cblas_{s,d}gemm with the operands' layouts and agree with perform", () => {
    // A stand-in CBLAS (naive row-major loops honouring the transpose flags) that counts calls:
    // it checks the BLAS call path (prototype, layouts, leading dimensions) without a real BLAS.
    const dir = mkdtempSync(join(tmpdir(), "theano-ts-fakeblas-"));
    const fake = `
#define FAKE(NAME, T) void NAME(int order, int ta, int tb, int m, int n, int k, T alpha, const T *a, int lda, const T *b, int ldb, T beta, T *c, int ldc) { \\
  calls++; (void)order; \\
  for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) { double s = 0; \\
    for (int p = 0; p < k; p++) s += (double)(ta == 111 ? a[i * lda + p] : a[p * lda + i]) * (double)(tb == 111 ? b[p * ldb + j] : b[j * ldb + p]); \\
    c[i * ldc + j] = (T)(alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])); } }
static int calls = 0;
int fake_blas_calls(void) { return calls; }
FAKE(cblas_sgemm, float)
FAKE(cblas_dgemm, double)
`;
    writeFileSync(join(dir, "fake.c"), fake);
    const so = join(dir, "libfakecblas.so");
    const cc = spawnSync(String(theano.config.cxx), ["-O1", "-shared", "-fPIC", "-o", so, join(dir, "fake.c")], { encoding: "utf8" });
    expect(cc.status, cc.stderr).toBe(0);
    theano.config.change({ "blas.ldflags": `-L${dir} -lfakecblas -Wl,-rpath,${dir}` }, () => {
      const blas = findBlas();
      expect(blas?.interface).toBe("cblas");
      const counter = openLibrary(so).func("int fake_blas_calls(void)");
      for (const dtype of ["float32", "float64"] as DType[]) {
        const A = T.tensor({ dtype, shape: [null, null], name: "A" });
        const B = T.tensor({ dtype, shape: [null, null], name: "B" });
        const Z = T.tensor({ dtype, shape: [null, null], name: "Z" });
        const outs = [T.dot(A, B), new Gemm(false).makeNode(Z, T.constant(0.5), A, B, T.constant(2, { dtype })).outputs[0] as TV];
        const before = counter() as number;
        const r = (sh: number[], k: number) => rand(dtype, sh, k);
        agree([A, B, Z], outs, [
          ["row-major", [r([20, 30], 1), r([30, 40], 2), r([20, 40], 3)]],
          ["transposed", [r([30, 20], 4).T, r([40, 30], 5).T, r([20, 40], 6)]],
          ["row-strided", [r([40, 30], 7).slice([null, null, 2]), r([30, 80], 8).slice([null, null], [null, 40]), r([20, 40], 9)]],
        ], `blas ${dtype}`, C, dtype === "float32" ? { rtol: 1e-4, atol: 1e-4 } : {});
        expect((counter() as number) - before).toBe(6);
      }
      // blas.builtin: the packed kernel even with a BLAS configured; the BLAS is never called
      theano.config.change({ "blas.builtin": true }, () => {
        expect(findBlas()).toBeNull();
        const A = T.fmatrix("A");
        const B = T.fmatrix("B");
        const Z = T.fmatrix("Z");
        const outs = [T.dot(A, B), new Gemm(false).makeNode(Z, T.constant(0.5), A, B, T.constant(2, { dtype: "float32" })).outputs[0] as TV];
        const before = counter() as number;
        agree([A, B, Z], outs, [["row-major", [rand("float32", [20, 30], 1), rand("float32", [30, 40], 2), rand("float32", [20, 40], 3)]]], "blas.builtin", C, { rtol: 1e-4, atol: 1e-4 });
        expect(counter() as number).toBe(before);
      });
    });
    rmSync(dir, { recursive: true, force: true });
  });
});

