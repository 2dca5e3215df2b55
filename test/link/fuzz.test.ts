/**
 * Differential fuzzing of the backends: seeded random graphs (test/link/fuzz_gen.ts) compiled
 * under `linker=c`, `linker=wasm`, `linker=js` and `linker=py`, each called with several random shapes (empty,
 * size-1, 0-d, larger) and memory layouts (transposed, step-sliced, reversed, offset views),
 * against the reference: the `py` linker on the unrewritten graph (every node's `perform`).
 * Where the reference raises, every backend must raise the same error class; where it returns,
 * every backend must return the same dtype, shape and values (dtype-aware tolerances), and no
 * input may be modified. Then adversarial calls of compiled C functions: bad ranks, dtypes and
 * shapes, shapes that disagree only at run time, NaN/Inf/-0, interleaved async calls, calls
 * after `free()`, shared-variable updates with in-place rewrites.
 */

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { InputError, ShapeError, TheanoError } from "../../src/errors.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";
import { HAS_C, Rng, type Stats, TOL, generateGraph, randomArray, relayout, runGraph, sameBits } from "./fuzz_gen.js";

const { T } = theano;

describe("random graphs: c, wasm, js and py agree with perform", () => {
  const stats: Stats = { graphs: 0, calls: 0, refErrors: 0, kinds: new Set() };
  // Seeds in batches, so a failure names a small range; each batch is deterministic. `npm test`
  // runs 2 batches (24 graphs, about 35 C modules: most of this file's time is gcc); CI runs 20
  // batches (240 graphs) with THEANO_TS_FUZZ_BATCHES=20 as a step of its own (.ci/run).
  const BATCHES = Number(process.env.THEANO_TS_FUZZ_BATCHES ?? 2);
  const PER = 12;
  for (let b = 0; b < BATCHES; b++) {
    it(`seeds ${b * PER}..${b * PER + PER - 1}`, () => {
      const problems: string[] = [];
      for (let seed = b * PER; seed < (b + 1) * PER; seed++) {
        const g = generateGraph(seed, 4 + (seed % 9));
        const p = runGraph(g, 3, stats);
        if (p.length > 0) problems.push(`--- seed ${seed}\n${g.log.join("\n")}\n${p.slice(0, 4).join("\n")}`);
      }
      expect(problems.join("\n")).toBe("");
    });
  }
  it("covered the intended operation kinds", () => {
    // eslint-disable-next-line no-console
    console.log(`fuzz: ${stats.graphs} graphs, ${stats.calls} calls (${stats.refErrors} reference calls raised), kinds: ${[...stats.kinds].sort().join(" ")}`);
    for (const k of ["binary:add", "reduce:sum", "dimshuffle", "transpose", "dot", "gemm", "softmax", "slice", "join", "reshape", "argmax"]) expect(stats.kinds.has(k)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Adversarial calls of compiled C functions (skipped, as in test/link/c/, where no C compiler works)

const C = new theano.Mode("c");
const PYREF = new theano.Mode("py", "None");
const PY = new theano.Mode("py");
const f32 = (xs: unknown) => theano.array(xs as number[], "float32");

/** Expects `fn` to throw `cls` with a message matching every pattern. */
function expectThrows(fn: () => unknown, cls: new (...a: never[]) => Error, ...patterns: RegExp[]): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected a throw").toBeInstanceOf(cls);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
}

describe.skipIf(!HAS_C)("c linker: bad inputs raise named errors, never crash", () => {
  const x = T.fmatrix("x");
  const y = T.fmatrix("y");
  // Compiled in the first test, not at collection (where a machine without C would fail).
  let compiled: ((...a: unknown[]) => NDArray) | null = null;
  const f = (...a: unknown[]): NDArray => (compiled ??= theano.function([x, y], x.add(y).mul(2), { mode: C }) as unknown as (...b: unknown[]) => NDArray)(...a);
  const ok = f32([[1, 2], [3, 4]]);

  it("wrong rank, dtype, count or kind of value: InputError naming the input", () => {
    expectThrows(() => f(f32([1, 2]), ok), InputError, /input 0/, /'x'/, /rank/);
    expectThrows(() => f(ok, theano.array([[1, 2], [3, 4]], "float64")), InputError, /input 1/, /float64/);
    expectThrows(() => f(ok, theano.array([[1, 2], [3, 4]], "int32")), InputError, /input 1/);
    expectThrows(() => f(ok), InputError, /missing input 1/);
    expectThrows(() => f(ok, ok, ok), InputError, /takes 2 argument/);
    expectThrows(() => f(ok, "hello" as unknown as NDArray), InputError, /input 1/);
    expectThrows(() => f(ok, [[1, 2], [3]] as unknown as NDArray), InputError);
    const s = T.tensor({ dtype: "float32", shape: [null, 3], name: "s" });
    const g = theano.function([s], s.exp(), { mode: C });
    expectThrows(() => g(f32([[1, 2]])), InputError, /'s'/, /dimension 1 must be 3/);
    // The function still works after every refusal.
    expectClose(f(ok, ok), f32([[4, 8], [12, 16]]));
  });

  it("shapes that disagree only at run time: ShapeError naming both shapes", () => {
    expectThrows(() => f(theano.zeros([3, 4], "float32"), theano.zeros([5, 4], "float32")), ShapeError, /\(3, 4\)/, /\(5, 4\)/);
    expectThrows(() => f(theano.zeros([3, 1], "float32"), theano.zeros([3, 4], "float32")), ShapeError, /broadcastable/);
    const d = theano.function([x, y], T.dot(x, y), { mode: C });
    expectThrows(() => d(theano.zeros([2, 3], "float32"), theano.zeros([4, 5], "float32")), ShapeError, /not aligned/);
    const j = theano.function([x, y], T.concatenate([x, y], 1), { mode: C });
    expectThrows(() => j(theano.zeros([2, 3], "float32"), theano.zeros([4, 3], "float32")), ShapeError, /dimension 0/);
    const r = theano.function([x], x.reshape([-1, 4]), { mode: C });
    expectThrows(() => r(theano.zeros([2, 3], "float32")), ShapeError, /reshape/);
    const ix = theano.function([x], x.get(5), { mode: C });
    expectThrows(() => ix(theano.zeros([3, 2], "float32")), ShapeError, /out of bounds/);
    const mx = theano.function([x], x.max(1), { mode: C });
    const pyMx = theano.function([x], x.max(1), { mode: PYREF });
    let refErr: unknown = null;
    try {
      pyMx(theano.zeros([2, 0], "float32"));
    } catch (e) {
      refErr = e;
    }
    expect(refErr).toBeInstanceOf(TheanoError);
    expectThrows(() => mx(theano.zeros([2, 0], "float32")), (refErr as Error).constructor as new () => Error);
    // Errors leave the functions usable, with the right values.
    expectClose(d(f32([[1, 2]]), f32([[3], [4]])), f32([[11]]));
    expectClose(j(f32([[1]]), f32([[2]])), f32([[1, 2]]));
    expectClose(mx(f32([[1, 5], [7, 2]])), f32([5, 7]));
  });

  it("calls after free() raise the documented error; free twice is harmless", () => {
    const g = theano.function([x], x.exp(), { mode: C });
    const h = theano.function([x], x.exp(), { mode: C });
    const copy = g.copy();
    g.free();
    expectThrows(() => g(ok), TheanoError, /freed/);
    g.free();
    expectThrows(() => g(ok), TheanoError, /freed/);
    // Another function of the same graph (same cached module) and a copy keep working.
    expectClose(h(ok), f32([[Math.exp(1), Math.exp(2)], [Math.exp(3), Math.exp(4)]]));
    expectClose(copy(ok), h(ok));
  });
});

describe.skipIf(!HAS_C)("c linker: NaN, infinities and -0 as perform computes them", () => {
  const SPECIAL = [NaN, Infinity, -Infinity, -0, 0, 1, -1, 0.5, -0.5, -2.5, 1e300, -1e-300];
  const cases: Array<[string, (v: theano.TensorVariable) => theano.TensorVariable]> = [
    ["neg", (v) => v.neg()],
    ["mul -1", (v) => v.mul(-1)],
    ["maximum 0", (v) => T.maximum(v, 0)],
    ["minimum 0", (v) => T.minimum(v, 0)],
    ["abs", (v) => v.abs()],
    ["sign", (v) => T.sign(v)],
    ["sqrt", (v) => v.sqrt()],
    ["floor", (v) => v.floor()],
    ["ceil", (v) => v.ceil()],
    ["round", (v) => v.round()],
    ["trunc", (v) => T.trunc(v)],
    ["inv", (v) => T.inv(v)],
    ["exp", (v) => v.exp()],
    ["log", (v) => v.log()],
    ["tanh", (v) => v.tanh()],
    ["sigmoid", (v) => T.sigmoid(v)],
    ["softplus", (v) => T.softplus(v)],
    ["x * 0", (v) => v.mul(0)],
    ["x - x", (v) => v.sub(v)],
    ["clip", (v) => T.clip(v, -1, 1)],
    ["cast int32", (v) => T.cast(v, "int32")],
    ["cast int64", (v) => T.cast(v, "int64")],
    ["cast bool", (v) => T.cast(v, "bool")],
    ["isnan", (v) => T.isnan(v)],
  ];
  for (const dtype of ["float32", "float64"] as const) {
    it(`elementwise, ${dtype}: bit for bit (NaN equal to NaN, -0 distinct from 0)`, () => {
      const v = T.vector("v", dtype);
      const outs = cases.map(([, fn]) => fn(v));
      const fc = theano.function([v], outs, { mode: C });
      // The same rewrites as C (Theano's: x * 0 and x - x become 0 even for NaN and
      // infinities), so that only the backend differs.
      const fp = theano.function([v], outs, { mode: PY });
      const a = theano.array(SPECIAL, dtype);
      const rc = fc(a) as NDArray[];
      const rp = fp(a) as NDArray[];
      const bad: string[] = [];
      cases.forEach(([name], k) => {
        const x = rc[k]!.toFlat();
        const y = rp[k]!.toFlat();
        const { rtol, atol } = TOL[dtype];
        for (let i = 0; i < x.length; i++) {
          const [a, b] = [Number(x[i]), Number(y[i])];
          // NaN, infinities and signed zeros exactly; other values within a few ulp (two libms).
          const exact = Number.isNaN(b) || !Number.isFinite(b) || b === 0;
          const same = exact ? Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) : Math.abs(a - b) <= atol + rtol * Math.abs(b);
          if (!same) bad.push(`${name}(${SPECIAL[i]}): c ${a}, perform ${b}`);
        }
      });
      expect(bad).toEqual([]);
    });
  }
  it("reductions and softmax rows of infinities and NaN", () => {
    const m = T.dmatrix("m");
    const outs = [m.sum(1), m.prod(1), m.max(1), m.min(1), m.mean(1), T.softmax(m, -1), T.logSoftmax(m, -1), T.logsumexp(m, 1), T.softmax(m, 0), m.argmax(1)];
    const fc = theano.function([m], outs, { mode: C });
    const fp = theano.function([m], outs, { mode: PYREF });
    const rows = [[Infinity, 1, 2], [-Infinity, -Infinity, -Infinity], [NaN, 1, 2], [1, NaN, Infinity], [Infinity, -Infinity, 0], [-0, -0, -0], [Infinity, Infinity, 1], [1e300, -1e300, 5]];
    const a = theano.array(rows, "float64");
    const rc = fc(a) as NDArray[];
    const rp = fp(a) as NDArray[];
    const bad: string[] = [];
    rc.forEach((r, k) => {
      try {
        expectClose(r, rp[k]!);
      } catch (e) {
        bad.push(`output ${k} (${outs[k]!.owner!.op}): ${(e as Error).message}`);
      }
    });
    expect(bad).toEqual([]);
  });
});

describe.skipIf(!HAS_C)("c linker: sizes past the OpenMP and GEMM blocking thresholds", () => {
  it("non-contiguous 300x700 operands: fused elementwise, reductions, softmax, dot", () => {
    // 210,000 elements passes openmp_elemwise_minsize (65,536; Theano's 200,000) and the softmax's 65,536; the
    // odd dot sizes end the packed GEMM's blocks mid-panel.
    const rng = new Rng(99);
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const w = T.fmatrix("w");
    const outs = [x.mul(y).add(T.tanh(x)), x.sum(0), y.max(1), T.softmax(x, -1), T.logSoftmax(y, 0), T.dot(x, w), x.get("::-1", "1::3").exp().sum(1)];
    const fc = theano.function([x, y, w], outs, { mode: C });
    const fp = theano.function([x, y, w], outs, { mode: PYREF });
    const xv = relayout(rng, randomArray(rng, [300, 700], "float32", false), "transposed");
    const yv = relayout(rng, randomArray(rng, [300, 700], "float32", false), "strided");
    const wv = relayout(rng, randomArray(rng, [700, 67], "float32", false), "reversed");
    const rc = fc(xv, yv, wv) as NDArray[];
    const rp = fp(xv, yv, wv) as NDArray[];
    // Sums of 300-700 float32 terms in another association order: a looser relative bound.
    rc.forEach((r, k) => expectClose(r, rp[k]!, { rtol: 1e-4, atol: 1e-4 }));
  });
});

describe.skipIf(!HAS_C)("c linker: interleaved async callers", () => {
  it("results of one call are never changed by later calls of the same function", async () => {
    const x = T.dmatrix("x");
    const w = T.dvector("w");
    const outs = [x.mul(w).sum(1), T.softmax(x.T, -1), x.get("::-1").add(1)];
    const fc = theano.function([x, w], outs, { mode: C });
    const fp = theano.function([x, w], outs, { mode: PYREF });
    const rng = new Rng(42);
    const task = async (k: number): Promise<string[]> => {
      const held: Array<[NDArray[], NDArray[]]> = [];
      for (let i = 0; i < 6; i++) {
        const rows = rng.int(0, 6);
        const cols = rng.int(0, 5);
        const xv = randomArray(rng, [rows, cols], "float64", false);
        const wv = randomArray(rng, [cols], "float64", false);
        held.push([fc(xv, wv) as NDArray[], fp(xv, wv) as NDArray[]]);
        // Yield so the other callers run in between.
        await (i % 2 === 0 ? Promise.resolve() : new Promise((r) => setImmediate(r)));
      }
      const bad: string[] = [];
      held.forEach(([c, p], i) =>
        c.forEach((r, j) => {
          try {
            expectClose(r, p[j]!);
          } catch (e) {
            bad.push(`task ${k} call ${i} output ${j}: ${(e as Error).message}`);
          }
        }),
      );
      return bad;
    };
    const all = await Promise.all([0, 1, 2, 3, 4].map(task));
    expect(all.flat()).toEqual([]);
  });
});

describe.skipIf(!HAS_C)("c linker: shared variables with in-place updates", () => {
  it("values agree with py over several calls; the user's arrays are never modified", () => {
    const rng = new Rng(7);
    const w0 = randomArray(rng, [4, 3], "float64", false);
    const b0 = randomArray(rng, [3], "float64", false);
    const w0copy = w0.copy();
    const b0copy = b0.copy();
    const run = (mode: theano.Mode): NDArray[][] => {
      const W = theano.shared(w0, { name: "W" });
      const b = theano.shared(b0, { name: "b" });
      const n = theano.shared(theano.array(0, "int64"), { name: "n" });
      const x = T.dmatrix("x");
      const h = T.tanh(T.dot(x, W).add(b));
      const cost = h.sqr().sum();
      const [gW, gb] = theano.grad(cost, [W, b]) as [theano.TensorVariable, theano.TensorVariable];
      const f = theano.function([x], [cost, h, W], {
        mode,
        updates: [
          [W, W.sub(gW.mul(0.05))],
          [b, b.mul(0.9).add(gb.mul(-0.1))],
          [n, n.add(1)],
        ],
      });
      const out: NDArray[][] = [];
      const r2 = new Rng(11);
      for (let i = 0; i < 4; i++) {
        const xv = relayout(r2, randomArray(r2, [r2.int(0, 5), 4], "float64", false), i % 2 ? "transposed" : "reversed");
        const keep = xv.copy();
        const res = f(xv) as NDArray[];
        expect(sameBits(xv, keep)).toBe(true);
        out.push([...res, W.getValue(), b.getValue(), n.getValue()]);
      }
      return out;
    };
    const c = run(C);
    const p = run(PYREF);
    c.forEach((call, i) => call.forEach((v, j) => expectClose(v, p[i]![j]!)));
    // The third output is W before the update: call i+1 sees call i's update.
    for (let i = 0; i + 1 < c.length; i++) expectClose(c[i + 1]![2]!, c[i]![3]!);
    expect(Number(c[3]![5]!.item())).toBe(4);
    expect(sameBits(w0, w0copy)).toBe(true);
    expect(sameBits(b0, b0copy)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Regressions found by this file. Each names the bug and where it was fixed.

describe("fuzz regressions, fixed", () => {
  it("REGRESSION (fixed in src/scalar/composite.ts): a fused cast to int64/uint64 truncates, as the unfused cast does", () => {
    // Found by seed 2036: where(c, cast(x, int64), y) under linker=js returned x untruncated;
    // Composite's JS coercion and its perform skipped the int64/uint64 conversion.
    const x = T.dvector("x");
    const y = T.dvector("y");
    const xv = theano.array([NaN, Infinity, -3.7, 2.5, 1e30, -0.5]);
    const yv = theano.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    for (const dt of ["int64", "uint64"] as const) {
      const out = [T.cast(x, dt).add(y), T.where(T.gt(y, 0), T.cast(x, dt), y), T.cast(x, dt).sum()];
      const ref = theano.function([x, y], out, { mode: PYREF })(xv, yv) as NDArray[];
      for (const mode of [...(HAS_C ? [C] : []), PY, new theano.Mode("js")]) {
        const got = theano.function([x, y], out, { mode })(xv, yv) as NDArray[];
        got.forEach((g, k) => expectClose(g, ref[k]!));
      }
    }
  });

});

describe.skipIf(!HAS_C)("fuzz regressions of the C backend, fixed", () => {
  it("REGRESSION (fixed in src/link/c/codegen.ts th_softmax_lane): C logSoftmax kept precision for large logits", () => {
    // logSoftmax([1e5, 1e5 + 1]) in float32: perform -1.3132616, -0.3132617; C -1.3125, -0.3125.
    // The lane computes x - (m + log(s)) instead of (x - m) - log(s): m + log(s) rounds to the
    // float32 grid of m (ulp 0.0078 at 1e5; at 1e8 the result is 0 instead of -log 2).
    const m = T.fmatrix("m");
    const v = theano.array([[1e5, 1e5 + 1], [1e8, 1e8]], "float32");
    const ref = theano.function([m], T.logSoftmax(m, -1), { mode: PYREF })(v);
    expectClose(theano.function([m], T.logSoftmax(m, -1), { mode: C })(v), ref);
  });

  it("REGRESSION (fixed in src/link/c/codegen.ts convert): cast(cast(x, int64), float64) of -0.5 is +0 under C, as in perform", () => {
    // Found by seed 4187 (intDiv(4, logSoftmax(cast(x, int64))) gave -inf, perform +inf). An
    // int64 has no -0: perform stores 0n and reads back +0. The generated C is
    // (double)(int64_t)th_f2u64(x), which gcc -O3 -march=native evaluates as trunc(x) = -0
    // (int32 and narrower casts give +0). Likely fix: add 0.0 after an int64 -> float conversion.
    const x = T.dvector("x");
    const out = T.cast(T.cast(x, "int64"), "float64");
    const r = theano.function([x], out, { mode: C })(theano.array([-0.5, -0.953125])).toFlat();
    expect(Object.is(r[0], 0) && Object.is(r[1], 0)).toBe(true);
  });

  it("REGRESSION (fixed in src/link/c/codegen.ts: packed segments): a node with 61+ tensor inputs compiles under C", () => {
    // concatenate of 61 vectors (or a fused add of 61 inputs): koffi throws a plain Error
    // "Functions cannot have more than 64 parameters" from theano.function; py and js work.
    // The segment cutter (PointerCounter, MAX_POINTERS = 60) always admits the first node of
    // a segment however many pointers it needs: such a node should run on the host.
    const xs = Array.from({ length: 61 }, (_v, i) => T.dvector(`x${i}`));
    const f = theano.function(xs, T.concatenate(xs, 0), { mode: C });
    const vals = xs.map((_x, i) => theano.array([i]));
    expectClose(f(...vals), theano.array(vals.map((_v, i) => i), "float64"));
  });
});

describe.skipIf(!HAS_C)("c linker: cases that crash the process run in a child process", () => {
  const ROOT = fileURLToPath(new URL("../..", import.meta.url));
  const CHILD = fileURLToPath(new URL("./fuzz_child.ts", import.meta.url));
  const CASES = ["rank16Reshape", "rank17Softmax", "rank17Reshape", "rank17TransposeOutput", "rank18Softmax", "shrunkBuffer"];
  let ran: { results: Map<string, { py: ChildResult; c: ChildResult }>; died: string } | null = null;
  /**
   * The result of one case of fuzz_child.ts, which runs every case in one process (one start
   * instead of six); when the child dies, the case it was running, and every later one, fails
   * with the signal or status.
   */
  const child = (name: string): { py: ChildResult; c: ChildResult } => {
    if (!ran) {
      const r = spawnSync(process.execPath, ["--import", "tsx", CHILD, ...CASES], { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
      const results = new Map<string, { py: ChildResult; c: ChildResult }>();
      for (const line of (r.stdout ?? "").split("\n")) {
        if (!line.startsWith("{")) continue;
        const { name: n, py, c } = JSON.parse(line) as { name: string; py: ChildResult; c: ChildResult };
        results.set(n, { py, c });
      }
      ran = { results, died: r.status === 0 ? "" : `the child process died (signal ${r.signal}, status ${r.status}): ${(r.stderr ?? "").slice(-500)}` };
    }
    const got = ran.results.get(name);
    if (!got) throw new Error(`case ${name}: ${ran.died || "no result"}`);
    return got;
  };
  const sameAsPy = (name: string): void => {
    const { py, c } = child(name);
    expect(py.ok).toBe(true);
    expect(c).toEqual(py);
  };
  it("the harness: rank 16 (reshape) and 17 (softmax) run and agree with py", () => {
    sameAsPy("rank16Reshape");
    sameAsPy("rank17Softmax");
  });
  // FIXED (src/link/c/codegen.ts RUNTIME, now sized by the rank): th_copy_strided indexed `int64_t idx[16]` and
  // th_softmax_* `int64_t ys[16]` by axis, so rank > 16 writes past them on the native stack
  // (SIGSEGV). Rank 17: a non-contiguous input reshaped, or a transposed view as an output;
  // rank 18: softmax. NumPy allows 64 axes and perform has no limit.
  it("REGRESSION (fixed): rank-17 reshape of a non-contiguous input (th_copy_strided idx[16])", () => sameAsPy("rank17Reshape"));
  it("REGRESSION (fixed): rank-17 transposed view as an output (th_copy_strided idx[16])", () => sameAsPy("rank17TransposeOutput"));
  it("REGRESSION (fixed): rank-18 softmax (th_softmax ys[16])", () => sameAsPy("rank18Softmax"));
  // FIXED (src/link/c/linker.ts runSegment now checks offset + extent first): the NDArray bounds check runs when the array is
  // made; a resizable ArrayBuffer shrunk afterwards is read past its end by the C kernel
  // (SIGSEGV). runSegment now checks offset + extent against data.length before the call.
  it("REGRESSION (fixed in src/link/c/linker.ts runSegment): an input whose resizable buffer shrank after the NDArray was made", () => {
    const { c } = child("shrunkBuffer");
    expect(c.ok === false && c.error !== "Error").toBe(true);
  });
});

type ChildResult = { ok: true; values: number[]; shape: number[] } | { ok: false; error: string };
