/**
 * Reductions and elementwise kernels on OpenMP threads in generated C. Above `openmp_elemwise_minsize` input elements, a
 * reduction whose leading axes are kept shares those output rows out between threads; one that
 * reduces axis 0 gives each thread a range of axis 0 and an accumulator of its own, combined in
 * thread order. Both must agree with perform for every axis set, kind and dtype, on contiguous,
 * transposed and reversed inputs, and on empty and size-1 axes (the threshold set to 0 forces the
 * threaded code on small shapes too). The machine running the suite may have one core: OpenMP
 * then runs one thread and the code paths still run (the split with nth = 1).
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { cSource } from "../../../src/link/c/linker.js";
import { mulberry32 } from "../../../src/ndarray/rng.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { evaluate, expectClose } from "../../helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;
const C = new theano.Mode("c", "None");

function values(dtype: DType, shape: number[], seed: number): NDArray {
  const rnd = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const xs = Array.from({ length: n }, () => {
    const u = rnd();
    // small values keep products finite and integer sums exact; a few zeros for all/any
    if (dtype === "bool") return u < 0.9 ? 1 : 0;
    if (dtype.startsWith("float")) return u < 0.02 ? 0 : 0.9 + 0.2 * rnd();
    return Math.floor(u * 7) - (dtype.startsWith("uint") ? 0 : 3);
  });
  return theano.array(xs, dtype).reshape(shape);
}

/** Every non-empty axis subset of a rank-3 tensor, and the whole reduction. */
const AXES: Array<number[] | null> = [[0], [1], [2], [0, 1], [0, 2], [1, 2], null];

function reductions(x: TV): TV[] {
  const outs: TV[] = [];
  const dtype = x.dtype;
  for (const axis of AXES) {
    outs.push(T.sum(x, axis), T.max(x, axis), T.min(x, axis));
    if (dtype !== "bool") outs.push(T.prod(x.get(":", ":4", ":3"), axis));
    outs.push(T.all(x, axis), T.any(x, axis));
  }
  return outs;
}

function check(x: TV, outs: TV[], inputs: Array<[string, NDArray]>): void {
  const f = theano.function([x], outs, { mode: C }) as unknown as (v: NDArray) => NDArray[];
  for (const [layout, v] of inputs) {
    const got = f(v);
    const want = evaluate(outs, new Map([[x, v]]));
    outs.forEach((o, i) => {
      try {
        expectClose(got[i]!, want[i]!, x.dtype === "float32" ? { rtol: 1e-4, atol: 1e-5 } : {});
      } catch (e) {
        throw new Error(`${String(o.owner?.op)} on ${layout} ${x.dtype}: ${(e as Error).message}`);
      }
    });
  }
}

describe.skipIf(!cCompilerStatus().ok)("reductions on OpenMP threads", () => {
  it("the generated code shares out kept leading axes, and splits a reduced axis 0 into per-thread accumulators", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null, null], name: "x" });
    const f = theano.function([x], [T.sum(x, [1, 2]), T.max(x, [0])], { mode: C });
    const src = cSource(f.fgraph).source;
    // kernels are functions with orphaned worksharing, entered in a region only when big: a
    // region whose if() is false still costs libgomp a one-thread team (~0.65 µs a call)
    expect(src).toMatch(/#pragma omp for collapse\(1\) schedule\(static\) nowait/);
    expect(src).toMatch(/if \(th_size\(3, [\w>-]+_n\) >= 65536\) \{\n#pragma omp parallel\n    th_seg0_k\d+\(S, acc\);/);
    expect(src).toMatch(/if \(nth > 1\) \{\n#pragma omp parallel num_threads\(nth\)\n    th_seg0_k\d+\(S, acc, parts, no, &used\);/);
    expect(src).not.toMatch(/#pragma omp parallel[^\n]* if \(/);
    // elementwise kernels too
    const y = T.fmatrix("y");
    const e = cSource(theano.function([y], T.tanh(y).mul(2), { mode: C }).fgraph).source;
    // (a function of its operands, shared by the nodes that do the same on the same types)
    expect(e).toMatch(/static __attribute__\(\(noinline, unused\)\) void (th_ew_[0-9a-f]{16})\(const int64_t \*restrict o_n, float \*o, const float \*a0, /);
    expect(e).toMatch(/#pragma omp for schedule\(static\) nowait/);
    expect(e).toMatch(/if \(th_size\(2, [\w>-]+_n\) >= 65536\) \{\n#pragma omp parallel\n    (th_ew_[0-9a-f]{16})\(S->\w+_n, S->\w+, [^\n]*\);\n  \} else \1\(S->\w+_n, /);
    const v = T.fvector("v");
    const lane = cSource(theano.function([v], T.sum(v), { mode: C }).fgraph).source;
    expect(lane).toMatch(/part\[64\]; int nth = th_size\(1, [\w>-]+_n\) >= 65536/);
    expect(lane).toMatch(/if \(nth > 1\) \{\n#pragma omp parallel num_threads\(nth\)\n    th_seg0_k0\(S, part, &used\);\n  \} else th_seg0_k0\(S, part, &used\);/);
  });

  for (const dtype of ["float64", "float32", "int32", "int64", "uint8", "bool"] as DType[]) {
    it(`${dtype}: every axis set and kind above the threshold (70x40x30), contiguous, transposed, reversed`, () => {
      const x = T.tensor({ dtype, shape: [null, null, null], name: "x" });
      const big = values(dtype, [70, 40, 30], 1);
      check(x, reductions(x), [
        ["contiguous", big],
        ["transposed", values(dtype, [30, 40, 70], 2).transpose(2, 1, 0)],
        ["reversed", big.slice([null, null, -1], [null, null], [null, null, -1])],
      ]);
    });
  }

  it("float sums of a whole vector split the lane between threads (100 000 elements, contiguous and strided)", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null], name: "x" });
      const v = values(dtype, [100_000], 8);
      check(x, [T.sum(x), T.mean(x), T.sum(T.exp(x))], [
        ["contiguous", v],
        ["step 3", values(dtype, [300_000], 9).slice([null, null, 3])],
        ["reversed", v.slice([null, null, -1])],
      ]);
    }
  });

  it("elementwise kernels above the threshold: contiguous, transposed, broadcast rows", () => {
    const x = T.dmatrix("x");
    const b = T.drow("b");
    const outs = [T.tanh(x).mul(2).add(b), x.mul(x).sub(b), T.exp(x.neg())];
    const f = theano.function([x, b], outs, { mode: C }) as unknown as (u: NDArray, v: NDArray) => NDArray[];
    for (const [layout, xv] of [
      ["contiguous 300x400", values("float64", [300, 400], 20)],
      ["transposed 400x300", values("float64", [300, 400], 21).transpose()],
      ["reversed rows", values("float64", [300, 400], 22).slice([null, null, -1])],
    ] as Array<[string, NDArray]>) {
      const bv = values("float64", [1, xv.shape[1]!], 23);
      const got = f(xv, bv);
      const want = evaluate(outs, new Map<theano.Variable, unknown>([[x, xv], [b, bv]]));
      got.forEach((g, i) => expectClose(g, want[i]!));
    }
    theano.config.change({ openmp_elemwise_minsize: 0 }, () => {
      const g = theano.function([x, b], outs, { mode: C }) as unknown as (u: NDArray, v: NDArray) => NDArray[];
      for (const shape of [[1, 1], [3, 5], [0, 4], [4, 0]]) {
        const xv = values("float64", shape, 24);
        const bv = values("float64", [1, shape[1]!], 25);
        const want = evaluate(outs, new Map<theano.Variable, unknown>([[x, xv], [b, bv]]));
        g(xv, bv).forEach((r, i) => expectClose(r, want[i]!));
      }
    });
  });

  it("threshold 0: threaded code on tiny, size-1 and empty shapes", () => {
    theano.config.change({ openmp_elemwise_minsize: 0 }, () => {
      const v = T.dvector("v");
      check(v, [T.sum(v), T.prod(v), T.any(v)], [0, 1, 7, 4097, 9000].map((n) => [`length ${n}`, values("float64", [n], 10 + n)] as [string, NDArray]));
    });
    theano.config.change({ openmp_elemwise_minsize: 0 }, () => {
      for (const dtype of ["float64", "int32"] as DType[]) {
        const x = T.tensor({ dtype, shape: [null, null, null], name: "x" });
        const outs = reductions(x).filter((o) => !/max|min/i.test(String(o.owner?.op)));
        check(x, outs, [
          ["1x1x1", values(dtype, [1, 1, 1], 3)],
          ["3x1x5", values(dtype, [3, 1, 5], 4)],
          ["0x4x5", values(dtype, [0, 4, 5], 5)],
          ["4x0x5", values(dtype, [4, 0, 5], 6)],
          ["2x3x4", values(dtype, [2, 3, 4], 7)],
        ]);
      }
    });
  });
});
