/**
 * Split compilation (src/link/c/compiler.ts `compileSharedObject`, support.ts UNIT_BREAK): a
 * large module made of pieces is compiled as several translation units in parallel and linked
 * into one shared object. These tests check that such an object computes what the same source
 * built as one unit computes, exports only the module's entry points, leaves no scratch files,
 * and that a failure in one unit still names the diagnostic and keeps the evidence; and that
 * generated code (codegen.ts) is valid both ways.
 */

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { CompileError } from "../../../src/errors.js";
import { SPLIT_MIN_SOURCE, cCompilerStatus, compileSharedObject, findBlas, splitUnitCount } from "../../../src/link/c/compiler.js";
import { openLibrary } from "../../../src/link/c/ffi.js";
import { cSource } from "../../../src/link/c/linker.js";
import { generateC } from "../../../src/link/c/codegen.js";
import { SUPPORT_HEADER, UNIT_BREAK } from "../../../src/link/c/support.js";
import { evaluate, expectClose } from "../../helpers.js";

const T = theano.tensor;
const hasC = cCompilerStatus().ok;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const scratch = (): string => {
  const d = mkdtempSync(join(tmpdir(), "theano-ts-split-"));
  dirs.push(d);
  return d;
};

/** A pieced module: `th_poly` (one piece) called by `th_entry` (another), padded past the split size. */
function piecedSource(bad = false): string {
  const pad = `/* ${"padding ".repeat(Math.ceil(SPLIT_MIN_SOURCE / 8))} */`;
  const prelude = [SUPPORT_HEADER, "TH_UNIT_FN double th_poly(double x);", "TH_UNIT_FN double th_twice(double x);"].join("\n");
  const poly = `TH_UNIT_FN double th_poly(double x) { return th_exp(x) * 3.0 + x; }\n${pad}`;
  const twice = `TH_UNIT_FN double th_twice(double x) { return 2.0 * x${bad ? " + undeclared_name" : ""}; }\n${pad}`;
  const entry = "double th_entry(double x) { return th_twice(th_poly(x)); }";
  return [prelude, poly, twice, entry].join(UNIT_BREAK);
}

describe.skipIf(!hasC)("split compilation of pieced modules", () => {
  it("builds the same function as one unit and as parallel units, exporting only the entry points", () => {
    const source = piecedSource();
    const split = compileSharedObject(source, { dir: scratch(), parallel: 2 });
    const single = compileSharedObject(source.split(UNIT_BREAK).join("\n"), { dir: scratch() });
    const want = (x: number): number => 2 * (Math.exp(x) * 3 + x);
    for (const so of [split, single]) {
      const lib = openLibrary(so);
      const f = lib.func("double th_entry(double x)");
      for (const x of [-2, 0, 0.5, 3]) expect(f(x) as number).toBeCloseTo(want(x), 12);
      // th_poly / th_twice are static or hidden: not symbols of the shared object
      expect(() => lib.func("double th_poly(double x)")).toThrow();
      lib.close();
    }
    const dir = join(split, "..");
    // only the whole source, the object and the log remain; the log shows one compile per unit when split
    expect(readdirSync(dir).sort()).toEqual(["compile.log", "mod.c", "mod.so"]);
    expect(readFileSync(join(dir, "mod.c"), "utf8")).toBe(source);
    const compiles = readFileSync(join(dir, "compile.log"), "utf8").split("\n").filter((l) => / -c -o /.test(l)).length;
    expect(compiles).toBe(2);
  });

  it("splits only onto the cores the load leaves idle (an extra unit costs CPU: a busy machine compiles one)", () => {
    const big = SPLIT_MIN_SOURCE * 4;
    expect(splitUnitCount(big, 6, 2, 0.1)).toBe(2); // a quiet 2-core machine
    expect(splitUnitCount(big, 6, 2, 1.2)).toBe(2); // its own previous compile still in the average
    expect(splitUnitCount(big, 6, 2, 2.0)).toBe(1); // a test suite's two workers
    expect(splitUnitCount(big, 6, 2, 4.5)).toBe(1); // stress --cpu 2 beside them
    expect(splitUnitCount(big, 6, 16, 3)).toBe(6); // no more units than pieces
    expect(splitUnitCount(big, 20, 16, 3)).toBe(8); // nor than SPLIT_MAX_UNITS
    expect(splitUnitCount(big, 20, 1, 0)).toBe(1); // one core
    expect(splitUnitCount(SPLIT_MIN_SOURCE - 1, 6, 16, 0)).toBe(1); // small modules stay whole
    expect(splitUnitCount(big, 1, 16, 0)).toBe(1);
  });

  it("reports a unit's compile error with its diagnostic and keeps the source and the log", () => {
    const dir = scratch();
    let err: unknown = null;
    try {
      compileSharedObject(piecedSource(true), { dir, parallel: 2 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).message).toMatch(/undeclared_name/);
    expect((err as CompileError).sourcePath).toBe(join(dir, "mod.c"));
    expect(existsSync(join(dir, "mod.c"))).toBe(true);
    expect(readFileSync(join(dir, "compile.log"), "utf8")).toMatch(/undeclared_name/);
  });

  it("generates a module (GEMM, softmax, strided copies, several chunks) that is valid as one unit and as split units", () => {
    const x = T.fmatrix("x");
    const w = T.fmatrix("w");
    const h = T.relu(T.dot(x, w));
    const p = T.softmax(h.mul(0.5));
    const out = [p, h.T.mul(2), T.tanh(h).sum(0)];
    const f = theano.function([x, w], out, { mode: new theano.Mode("c", "fast_run") });
    // Where the runtime functions live in a module of its own (not Linux): those the code calls
    // are declared for the other units; the unused ones stay static.
    const blas = findBlas();
    const useBlas = blas !== null && blas.interface === "cblas";
    const prog = generateC(f.fgraph, { blas: useBlas, ompMinSize: 1 << 30 });
    expect(prog.source.split(UNIT_BREAK).length).toBeGreaterThan(3);
    expect(prog.source).toMatch(/#define TH_RT_th_gemm_f32 TH_UNIT_FN/);
    expect(prog.source).toMatch(/#define TH_RT_th_softmax_f32 TH_UNIT_FN/);
    expect(prog.source).toMatch(/#define TH_RT_th_gemm_f64 static/);
    // a module calling a system BLAS (one found on this machine) links it, as the linker does
    const ldflags = useBlas ? blas!.ldflags : [];
    const single = compileSharedObject(prog.source.split(UNIT_BREAK).join("\n"), { dir: scratch(), ldflags });
    const split = compileSharedObject(prog.source, { dir: scratch(), ldflags, parallel: 3 });
    // On Linux the linker's modules call the shared runtime library instead (loaded by f's
    // compile above): they declare what they call, under the runtime's tagged names.
    const shared = cSource(f.fgraph);
    if (process.platform === "linux") {
      expect(shared.source).toMatch(/^#define th_gemm_f32 th_gemm_f32_r[0-9a-f]{12}$/m);
      expect(shared.source).toMatch(/^extern int th_gemm_f32\(/m);
      expect(shared.source).not.toMatch(/th_gemm_builtin|TH_RT_/);
    }
    const sharedSplit = compileSharedObject(shared.source, { dir: scratch(), ldflags, parallel: 3 });
    for (const so of [single, split, sharedSplit]) {
      const lib = openLibrary(so);
      expect(() => lib.func("int th_seg0(double *meta, double *oshape, uint8_t *err, void **pp)")).not.toThrow();
      lib.close();
    }
    const xv = theano.array([...Array(6 * 5).keys()].map((i) => Math.sin(i) * 0.7), "float32").reshape([6, 5]);
    const wv = theano.array([...Array(5 * 4).keys()].map((i) => Math.cos(i) * 0.3), "float32").reshape([5, 4]);
    const got = f(xv, wv) as theano.NDArray[];
    const want = evaluate(out, new Map([[x as never, xv], [w as never, wv]]));
    got.forEach((g, i) => expectClose(g, want[i]!));
  });

  it("a convolution's module: the conv and pooling helpers in each unit that calls them, or only declared where the runtime library has them", () => {
    const x = T.ftensor4("x");
    const w = T.ftensor4("w");
    const b = T.fvector("b");
    const h = T.tanh(T.maxPool2d(T.conv2d(x, w), 2).add(b.dimshuffle("x", 0, "x", "x")));
    const cost = h.sum();
    const out = [cost, ...(theano.grad(cost, [x, w]) as theano.TensorVariable[])];
    const f = theano.function([x, w, b], out, { mode: new theano.Mode("c", "fast_run") });
    const prog = generateC(f.fgraph, { blas: false, ompMinSize: 1 << 30 });
    expect(prog.source).toMatch(/^TH_CONV_FN void th_im2col_f32\(/m);
    expect(prog.source).toMatch(/^TH_POOL_FN void th_pool_max_f32\(/m);
    const single = compileSharedObject(prog.source.split(UNIT_BREAK).join("\n"), { dir: scratch() });
    const split = compileSharedObject(prog.source, { dir: scratch(), parallel: 3 });
    for (const so of [single, split]) openLibrary(so).close();
    if (process.platform === "linux") {
      const shared = cSource(f.fgraph).source;
      expect(shared).not.toMatch(/TH_(CONV|POOL)_FN void/);
      expect(shared).toMatch(/^extern void th_im2col_f32\(const th_conv_geom \*g/m);
      expect(shared).toMatch(/^#define th_pool_maxgrad_f32 th_pool_maxgrad_f32_r[0-9a-f]{12}$/m);
    }
    const xv = theano.array([...Array(2 * 2 * 6 * 6).keys()].map((i) => Math.sin(i) * 0.7), "float32").reshape([2, 2, 6, 6]);
    const wv = theano.array([...Array(3 * 2 * 3 * 3).keys()].map((i) => Math.cos(i) * 0.3), "float32").reshape([3, 2, 3, 3]);
    const bv = theano.array([0.1, -0.2, 0.3], "float32");
    const got = f(xv, wv, bv) as theano.NDArray[];
    const want = evaluate(out, new Map([[x as never, xv], [w as never, wv], [b as never, bv]]));
    got.forEach((g, i) => expectClose(g, want[i]!));
  });

  it("nodes that do the same elementwise work on the same types share one kernel function", () => {
    const a = T.fmatrix("a");
    const b = T.fmatrix("b");
    const out = [T.tanh(a.mul(2)), T.tanh(b.mul(2)), T.exp(a)];
    const f = theano.function([a, b], out, { mode: new theano.Mode("c", "fast_run") });
    const src = generateC(f.fgraph, { blas: false, ompMinSize: 1 << 30 }).source;
    // each node's call: "{ /* node k: <node> */", its size test, the region, the kernel
    const kernelOf = new Map([...src.matchAll(/\{ \/\* node \d+: (Elemwise[^\n]*) \*\/\n {2}if \(th_size[^\n]*\n#pragma omp parallel\n {4}(th_ew_[0-9a-f]{16})\(/g)].map((m) => [m[1]!, m[2]!]));
    const of = (pattern: RegExp): string => [...kernelOf].find(([node]) => pattern.test(node))![1];
    expect(of(/tanh.*\(a, 2\)/)).toMatch(/^th_ew_/);
    expect(of(/tanh.*\(b, 2\)/)).toBe(of(/tanh.*\(a, 2\)/)); // tanh(2·a) and tanh(2·b): one function
    expect(of(/exp/)).not.toBe(of(/tanh.*\(a, 2\)/));
    for (const so of [compileSharedObject(src, { dir: scratch(), parallel: 2 }), compileSharedObject(src.split(UNIT_BREAK).join("\n"), { dir: scratch() })]) openLibrary(so).close();
    const av = theano.array([...Array(12).keys()].map((i) => Math.sin(i)), "float32").reshape([3, 4]);
    const bv = theano.array([...Array(12).keys()].map((i) => Math.cos(i)), "float32").reshape([3, 4]);
    const got = f(av, bv) as theano.NDArray[];
    const want = evaluate(out, new Map([[a as never, av], [b as never, bv]]));
    got.forEach((g, i) => expectClose(g, want[i]!));
  });
});
