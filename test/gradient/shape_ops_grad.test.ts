/**
 * Gradients of the shape, indexing, join, alloc and extra op families (src/tensor/shape.ts,
 * subtensor.ts, join.ts, alloc.ts, extra.ts), checked by finite differences.
 *
 * Each case builds a graph from float64 inputs. `checkLop` seeds every output with a random
 * projection r (the engine's Lop), evaluates the gradient graph with `perform`, and compares it
 * entry by entry with central differences of Σ r·f(x) computed the same way: a check of each
 * op's grad that needs no other op's gradient. The ops that have no gradient must say so, and
 * integer index inputs must be disconnected.
 */

import { describe, expect, it } from "vitest";
import { type Apply, type GradResult, type Variable } from "../../src/graph/basic.js";
import { shared } from "../../src/compile/shared.js";
import * as theano from "../../src/index.js";
import { Lop, verifyGrad } from "../../src/gradient/index.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import * as T from "../../src/tensor/index.js";
import { ARange, Alloc, Eye, Repeat } from "../../src/tensor/alloc.js";
import { Argsort, Bincount, Nonzero, OneHot } from "../../src/tensor/extra.js";
import { Split } from "../../src/tensor/join.js";
import { MakeVector, Reshape, Shape, ShapeI } from "../../src/tensor/shape.js";
import { AdvancedIncSubtensor, AdvancedSubtensor, AdvancedSubtensor1, IncSubtensor, Subtensor } from "../../src/tensor/subtensor.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import { evaluate, expectClose } from "../helpers.js";
import { mulberry32 as rng } from "../../src/ndarray/rng.js";

// ---------------------------------------------------------------------------------------------
// Random inputs (seeded, so a failure reproduces)


const rand = rng(20261121);
/** Uniform in [lo, hi), float64. */
function uniform(shape: number[], lo = -1, hi = 1): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return new NDArray("float64", shape, Float64Array.from({ length: n }, () => lo + (hi - lo) * rand()));
}
/** Distinct values (a shuffled, jittered grid), so sort and unique have no ties. */
function distinct(shape: number[]): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, (_v, i) => i * 0.37 - n * 0.15 + 0.05 * rand());
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [vals[i], vals[j]] = [vals[j]!, vals[i]!];
  }
  return new NDArray("float64", shape, Float64Array.from(vals));
}
/** A tensor variable typed like a float64 point (static shape unknown). */
const varFor = (p: NDArray, name: string): TensorVariable => T.tensor({ dtype: "float64", shape: p.shape.map(() => null), name });

// ---------------------------------------------------------------------------------------------
// The local finite-difference check

type Build = (...xs: TensorVariable[]) => TensorVariable | TensorVariable[];

/** Σ_k Σ r_k·f_k(points), evaluated with perform. */
function projected(outs: TensorVariable[], rs: NDArray[], vars: TensorVariable[], points: NDArray[], extra: Map<Variable, unknown>): number {
  const givens = new Map<Variable, unknown>(extra);
  vars.forEach((v, i) => givens.set(v, points[i]!));
  const vals = evaluate(outs, givens);
  let s = 0;
  vals.forEach((a, k) => {
    const f = a.toFlat();
    const r = rs[k]!.toFlat();
    for (let i = 0; i < f.length; i++) s += Number(f[i]) * Number(r[i]);
  });
  return s;
}

/**
 * The gradient of Σ r·f by the engine (Lop) against central differences, float64, relTol 1e-4
 * (|analytic - numeric| <= 1e-4 · max(1, |numeric|) per entry).
 */
function checkLop(build: Build, points: NDArray[], extra: Map<Variable, unknown> = new Map(), eps = 1e-6): void {
  const vars = points.map((p, i) => varFor(p, `x${i}`));
  const built = build(...vars);
  const outs = Array.isArray(built) ? built : [built];
  const givens = new Map<Variable, unknown>(extra);
  vars.forEach((v, i) => givens.set(v, points[i]!));
  const outVals = evaluate(outs, givens);
  const rs = outVals.map((o) => uniform([...o.shape]));
  const grads = Lop(outs, vars, rs.map((r) => T.constant(r)));
  const gvals = evaluate(grads, givens);
  points.forEach((p, i) => {
    const g = gvals[i]!;
    expect([...g.shape], `shape of the gradient of x${i}`).toEqual([...p.shape]);
    expect(g.dtype).toBe("float64");
    const gf = g.toFlat();
    const base = p.toFlat() as Float64Array;
    for (let j = 0; j < base.length; j++) {
      const plus = Float64Array.from(base);
      const minus = Float64Array.from(base);
      plus[j] = plus[j]! + eps;
      minus[j] = minus[j]! - eps;
      const at = (d: Float64Array): number => projected(outs, rs, vars, points.map((q, k) => (k === i ? new NDArray("float64", p.shape, d) : q)), extra);
      const numeric = (at(plus) - at(minus)) / (2 * eps);
      const analytic = Number(gf[j]);
      if (!(Math.abs(analytic - numeric) <= 1e-4 * Math.max(1, Math.abs(numeric)))) {
        throw new Error(`x${i}[${j}] (flat): analytic ${analytic}, numeric ${numeric}`);
      }
    }
  });
}

/**
 * A case: float64 points (the differentiated inputs) and a graph builder. Cases with symbolic
 * integer inputs (indices, sizes, counts) give their values in `ints` and build through
 * `withInts`, which receives one integer variable per value.
 */
type Case = { name: string; points: NDArray[] } & ({ build: Build } | { ints: NDArray[]; withInts: (ints: TensorVariable[]) => Build });

const int = (v: number | number[]): NDArray => array(v, "int64");

const cases: Case[] = [
  // shape.ts
  { name: "reshape with -1", points: [uniform([3, 4])], build: (x) => x.reshape([2, -1]) },
  { name: "reshape to a vector and back to rank 3", points: [uniform([2, 6])], build: (x) => x.reshape([-1]).reshape([3, 2, 2]) },
  { name: "reshape to a symbolic shape", points: [uniform([4, 3])], build: (x) => x.reshape([T.shape(x, 1), T.shape(x, 0)]) },
  { name: "flatten(2) of a rank-3 tensor", points: [uniform([2, 3, 2])], build: (x) => T.flatten(x, 2) },
  { name: "specifyShape", points: [uniform([3, 4])], build: (x) => T.specifyShape(x, [null, 4]) },

  // subtensor.ts: basic indexing
  { name: "x[1:3, ::2] (step slice)", points: [uniform([4, 5])], build: (x) => x.get("1:3", "::2") },
  { name: "x[::-1] (negative step)", points: [uniform([5, 2])], build: (x) => x.get("::-1") },
  { name: "x[-1:0:-2, 1] (negative step and an integer)", points: [uniform([6, 3])], build: (x) => x.get("-1:0:-2", 1) },
  { name: "x[0] of a rank-3 tensor", points: [uniform([2, 3, 2])], build: (x) => x.get(0) },
  { name: "x[i, 1:] with a symbolic integer", points: [uniform([4, 3])], ints: [int(2)], withInts: ([i]) => (x) => x.get(i, "1:") },
  { name: "x[j:i:-1] with symbolic slice bounds", points: [uniform([6])], ints: [int(1), int(4)], withInts: ([i, j]) => (x) => x.get(T.slice(j, i, -1)) },
  { name: "setSubtensor(x[1:3], y): x and y", points: [uniform([4, 3]), uniform([2, 3])], build: (x, y) => T.setSubtensor(x.get("1:3"), y) },
  { name: "incSubtensor(x[::2, 1], y): x and y", points: [uniform([5, 3]), uniform([3])], build: (x, y) => T.incSubtensor(x.get("::2", 1), y) },
  { name: "setSubtensor(x[:, ::-2], y) with y broadcast along rows", points: [uniform([3, 5]), uniform([3])], build: (x, y) => T.setSubtensor(x.get(":", "::-2"), y) },
  { name: "incSubtensor(x[1:], y) with a 0-d y", points: [uniform([4, 2]), uniform([])], build: (x, y) => T.incSubtensor(x.get("1:"), y) },
  { name: "setSubtensor(x[:, 1:3], y) with y a broadcastable row", points: [uniform([3, 4]), uniform([2])], build: (x, y) => T.setSubtensor(x.get(":", "1:3"), y.dimshuffle("x", 0)) },
  { name: "x[None, 1] (a new axis)", points: [uniform([3, 2])], build: (x) => x.get(null, 1) },
  { name: "incSubtensor(x[None, 1:], y) (a new axis)", points: [uniform([3, 2]), uniform([1, 2, 2])], build: (x, y) => T.incSubtensor(x.get(null, "1:"), y) },

  // subtensor.ts: advanced indexing
  { name: "x[[0, 0, 1]] (duplicate indices, AdvancedSubtensor1)", points: [uniform([3, 2])], build: (x) => x.get([0, 0, 1]) },
  { name: "x[[-1, 2, -1]] with negative duplicates", points: [uniform([4])], build: (x) => x.get([-1, 2, -1]) },
  { name: "x[idx] with an index matrix", points: [uniform([4, 2])], build: (x) => x.get([[0, 3], [3, 1]]) },
  { name: "x[:, [2, 0, 2]]", points: [uniform([3, 4])], build: (x) => x.get(":", [2, 0, 2]) },
  { name: "x[[0, 1, 0], [1, 2, 1]] (pairs repeat)", points: [uniform([2, 3])], build: (x) => x.get([0, 1, 0], [1, 2, 1]) },
  { name: "x[[0, 2], :, [1, 1]] (non-adjacent arrays)", points: [uniform([3, 2, 2])], build: (x) => x.get([0, 2], ":", [1, 1]) },
  { name: "x[mask] (boolean mask)", points: [uniform([3, 3])], build: (x) => x.get(array([[true, false, true], [false, false, true], [true, true, false]])) },
  { name: "x[1:, [0, 0]] (slice and array)", points: [uniform([3, 2])], build: (x) => x.get("1:", [0, 0]) },
  { name: "incSubtensor(x[[0, 0, 2]], y): x and y", points: [uniform([3, 2]), uniform([3, 2])], build: (x, y) => T.incSubtensor(x.get([0, 0, 2]), y) },
  { name: "setSubtensor(x[[0, 0, 2]], y): only the last write of row 0 counts", points: [uniform([3, 2]), uniform([3, 2])], build: (x, y) => T.setSubtensor(x.get([0, 0, 2]), y) },
  { name: "setSubtensor(x[:, [1, 3]], y) with y broadcast", points: [uniform([2, 4]), uniform([2])], build: (x, y) => T.setSubtensor(x.get(":", [1, 3]), y) },
  { name: "incSubtensor(x[[1, 1], [0, 0]], y) with a 0-d y", points: [uniform([2, 2]), uniform([])], build: (x, y) => T.incSubtensor(x.get([1, 1], [0, 0]), y) },
  { name: "setSubtensor(x[mask], y)", points: [uniform([2, 3]), uniform([3])], build: (x, y) => T.setSubtensor(x.get(array([[true, false, true], [false, true, false]])), y) },
  { name: "setSubtensor(x[[2, 0, 2], ::2], y) (duplicates and a slice)", points: [uniform([3, 4]), uniform([3, 2])], build: (x, y) => T.setSubtensor(x.get([2, 0, 2], "::2"), y) },

  // join.ts
  { name: "concatenate along axis 0", points: [uniform([2, 3]), uniform([1, 3])], build: (a, b) => T.concatenate([a, b], 0) },
  { name: "concatenate three along axis 1", points: [uniform([2, 1]), uniform([2, 3]), uniform([2, 2])], build: (a, b, c) => T.concatenate([a, b, c], 1) },
  { name: "concatenate rank-3 along axis -1", points: [uniform([2, 2, 1]), uniform([2, 2, 2])], build: (a, b) => T.concatenate([a, b], -1) },
  { name: "concatenate a tensor with itself", points: [uniform([2, 2])], build: (a) => T.concatenate([a, a], 0) },
  { name: "stack along axis 1", points: [uniform([3]), uniform([3])], build: (a, b) => T.stack([a, b], 1) },
  { name: "split into 3 along axis 0", points: [uniform([6, 2])], build: (x) => T.split(x, [1, 2, 3], 3, 0) },
  { name: "split into 2 along axis 1, symbolic sizes", points: [uniform([2, 5])], ints: [int([3, 2])], withInts: ([sizes]) => (x) => T.split(x, sizes!, 2, 1) },
  { name: "one split output only", points: [uniform([5])], build: (x) => T.split(x, [2, 3], 2, 0)[1]! },

  // alloc.ts
  { name: "alloc(vector, 3, 4)", points: [uniform([4])], build: (v) => T.alloc(v, 3, 4) },
  { name: "alloc(scalar, 2, 3)", points: [uniform([])], build: (v) => T.alloc(v, 2, 3) },
  { name: "alloc(column, 3, 4) (a broadcastable axis)", points: [uniform([3])], build: (v) => T.alloc(v.dimshuffle(0, "x"), 3, 4) },
  { name: "tile(x, [2, 3])", points: [uniform([2, 2])], build: (x) => T.tile(x, [2, 3]) },
  { name: "broadcastTo(matrix, [2, 3, 4])", points: [uniform([3, 4])], build: (v) => T.broadcastTo(v, [2, 3, 4]) },
  { name: "arange(start, 5, step) (float)", points: [uniform([], 0.2, 0.4), uniform([], 0.6, 0.8)], build: (start, step) => T.arange(start, 5.0, step) },
  { name: "repeat(x, 3, 0)", points: [uniform([2, 3])], build: (x) => T.repeat(x, 3, 0) },
  { name: "repeat(x, [1, 0, 2], 0) (per-element repeats)", points: [uniform([3, 2])], build: (x) => T.repeat(x, [1, 0, 2], 0) },
  { name: "repeat(x, [2, 1, 3, 1], 1)", points: [uniform([2, 4])], build: (x) => T.repeat(x, [2, 1, 3, 1], 1) },
  { name: "repeat(x, 2) flattened", points: [uniform([2, 2])], build: (x) => T.repeat(x, 2) },
  { name: "repeat(x, reps, 0) with symbolic repeats", points: [uniform([3])], ints: [int([2, 0, 3])], withInts: ([reps]) => (x) => T.repeat(x, reps!, 0) },
  { name: "repeat(x, i, 1) with a symbolic count", points: [uniform([2, 3])], ints: [int(2)], withInts: ([i]) => (x) => T.repeat(x, i!, 1) },
  { name: "repeat(x, [2], 0) (one count in a vector)", points: [uniform([3, 2])], build: (x) => T.repeat(x, [2], 0) },
  { name: "flip(x)", points: [uniform([3, 2])], build: (x) => T.flip(x) },
  { name: "roll(x, 1, 0)", points: [uniform([4, 2])], build: (x) => T.roll(x, 1, 0) },
  { name: "roll(x, -2) flattened", points: [uniform([2, 3])], build: (x) => T.roll(x, -2) },

  // extra.ts
  { name: "sort(vector)", points: [distinct([6])], build: (x) => T.sort(x) },
  { name: "sort(matrix, 0)", points: [distinct([3, 4])], build: (x) => T.sort(x, 0) },
  { name: "sort(matrix, -1)", points: [distinct([3, 4])], build: (x) => T.sort(x, -1) },
  { name: "sort(rank 3, 1)", points: [distinct([2, 3, 2])], build: (x) => T.sort(x, 1) },
  { name: "sort(matrix, null) flattened", points: [distinct([3, 3])], build: (x) => T.sort(x, null) },
  { name: "cumsum flattened", points: [uniform([2, 3])], build: (x) => T.cumsum(x) },
  { name: "cumsum(x, 0)", points: [uniform([3, 2])], build: (x) => T.cumsum(x, 0) },
  { name: "cumsum(x, 1) of rank 3", points: [uniform([2, 3, 2])], build: (x) => T.cumsum(x, 1) },
  { name: "cumprod flattened", points: [uniform([2, 3], 0.5, 1.5)], build: (x) => T.cumprod(x) },
  { name: "cumprod(x, 0)", points: [uniform([3, 2], -1.5, -0.5)], build: (x) => T.cumprod(x, 0) },
  { name: "cumprod(x, -1) of rank 3", points: [uniform([2, 2, 4], 0.5, 1.5)], build: (x) => T.cumprod(x, -1) },
  { name: "diff(vector)", points: [uniform([5])], build: (x) => T.diff(x) },
  { name: "diff(x, 2, 0)", points: [uniform([5, 2])], build: (x) => T.diff(x, 2, 0) },
  { name: "diff(x, 2, -1) of rank 3", points: [uniform([2, 4, 5])], build: (x) => T.diff(x, 2, -1) },
  { name: "diff(vector, 3)", points: [uniform([6])], build: (x) => T.diff(x, 3) },
  { name: "unique(matrix) (distinct values)", points: [distinct([2, 3])], build: (x) => T.unique(x) },
  { name: "bincount(x, weights): the weights", points: [uniform([5])], build: (w) => T.bincount(array([1, 3, 1, 0, 3], "int64"), w) },
];

// ---------------------------------------------------------------------------------------------

describe("gradients of the shape, indexing, join, alloc and extra ops: Lop against finite differences", () => {
  for (const c of cases) {
    it(c.name, () => {
      if ("build" in c) return checkLop(c.build, c.points);
      // Symbolic integers are inputs with given values.
      const ints = c.ints.map((v, k) => T.tensor({ dtype: "int64", shape: v.shape.map(() => null), name: `int${k}` }));
      checkLop(c.withInts(ints), c.points, new Map(ints.map((v, k) => [v, c.ints[k]!])));
    });
  }
});

describe("gradients of the shape, indexing, join, alloc and extra ops: verifyGrad (float64, relTol 1e-4)", () => {
  for (const c of cases) {
    it(c.name, () => {
      // verifyGrad passes only the points to the function: symbolic integers are shared variables.
      const build = "build" in c ? c.build : c.withInts(c.ints.map((v, k) => shared(v, { name: `int${k}` })));
      const single = (...xs: TensorVariable[]): TensorVariable => {
        const out = build(...xs);
        return Array.isArray(out) ? T.concatenate(out.map((o) => T.flatten(o, 1))) : out;
      };
      verifyGrad(single, c.points, { relTol: 1e-4, seed: 7 });
    });
  }
});

describe("specific gradient values", () => {
  it("x[[0, 0, 1]] puts 2·gz at row 0 (duplicates accumulate)", () => {
    const x = T.dmatrix("x");
    const gz = array([[1, 2], [3, 4], [5, 6]], "float64");
    const [g] = evaluate([Lop(x.get([0, 0, 1]), x, T.constant(gz))], new Map([[x, uniform([3, 2])]]));
    expectClose(g!, array([[4, 6], [5, 6], [0, 0]], "float64"));
  });

  it("setSubtensor(x[[0, 0]], y): only the last write to row 0 receives the gradient", () => {
    const x = T.dmatrix("x");
    const y = T.dmatrix("y");
    const out = T.setSubtensor(x.get([0, 0]), y);
    const gz = array([[1, 2], [3, 4]], "float64");
    const [gx, gy] = evaluate(Lop(out, [x, y], T.constant(gz)), new Map<Variable, unknown>([[x, uniform([2, 2])], [y, uniform([2, 2])]]));
    expectClose(gx!, array([[0, 0], [3, 4]], "float64"));
    expectClose(gy!, array([[0, 0], [1, 2]], "float64"));
  });

  it("diff along an axis shorter than n gives a zero gradient of the input's shape", () => {
    const x = T.dmatrix("x");
    const out = T.diff(x, 3, 0);
    const [g] = evaluate([Lop(out, x, T.constant(new NDArray("float64", [0, 3], new Float64Array(0))))], new Map([[x, uniform([2, 3])]]));
    expectClose(g!, new NDArray("float64", [2, 3], new Float64Array(6)));
  });

  it("cumprod's gradient is exact away from zeros and not finite at a zero (PyTensor's formula)", () => {
    const x = T.dvector("x");
    const [g] = evaluate([Lop(T.cumprod(x), x, T.constant(array([1, 1, 1], "float64")))], new Map([[x, array([2, 0, 3], "float64")]]));
    const v = g!.toFlat();
    // d/dx0 (x0 + x0·x1 + x0·x1·x2) = 1 + x1 + x1·x2 = 1; d/dx2 = x0·x1 = 0; at x1 = 0: 0/0.
    expect(Number(v[0])).toBeCloseTo(1, 12);
    expect(Number(v[2])).toBe(0);
    expect(Number.isFinite(Number(v[1]))).toBe(false);
  });

  it("sort's gradient follows each element to its sorted place", () => {
    const x = T.dvector("x");
    const [g] = evaluate([Lop(T.sort(x), x, T.constant(array([10, 20, 30], "float64")))], new Map([[x, array([0.5, -1, 2], "float64")]]));
    expectClose(g!, array([20, 10, 30], "float64"));
  });

  it("repeat with per-element repeats sums the copies", () => {
    const x = T.dvector("x");
    const [g] = evaluate([Lop(T.repeat(x, [2, 0, 1], 0), x, T.constant(array([1, 2, 4], "float64")))], new Map([[x, uniform([3])]]));
    expectClose(g!, array([3, 0, 4], "float64"));
  });
});

describe("gradient graphs compile", () => {
  it("theano.function runs a gradient through set/sort/cumprod/repeat/diff/join (values from NumPy differences)", () => {
    const x = T.dmatrix("x");
    const y = T.dmatrix("y");
    const cost = T.setSubtensor(x.get([0, 0, 2]), y)
      .mul(T.sort(x, 0))
      .sum()
      .add(T.cumprod(x, 1).sum())
      .add(T.repeat(x, [1, 2, 0], 0).sum())
      .add(T.diff(x, 2, 0).sum())
      .add(T.concatenate([x, y], 1).get("::-1", 1).sum());
    const [gx, gy] = theano.grad(cost, [x, y]);
    for (const mode of ["FAST_RUN", "FAST_COMPILE"] as const) {
      const f = theano.function([x, y], [gx!, gy!], { mode });
      const [vx, vy] = f(array([[1, 2], [3, 4], [5, 6]], "float64"), array([[1, 1], [2, 2], [3, 3]], "float64")) as NDArray[];
      expectClose(vx!, array([[7, 6], [11, 12], [11, 10]], "float64"));
      expectClose(vy!, array([[0, 0], [1, 2], [5, 6]], "float64"));
    }
  });
});

describe("gradient dtypes", () => {
  it("each input's gradient has its own dtype when a join promotes float32 with float64", () => {
    const a = T.fmatrix("a");
    const b = T.dmatrix("b");
    const out = T.concatenate([a, b], 0);
    expect(out.dtype).toBe("float64");
    const [ga, gb] = Lop(out, [a, b], T.constant(uniform([3, 2])));
    expect(ga!.dtype).toBe("float32");
    expect(gb!.dtype).toBe("float64");
  });

  const f32 = (a: NDArray): NDArray => a.astype("float32");
  const cases32: Array<[string, NDArray[], Build]> = [
    ["setSubtensor(x[[0, 0, 2]], y)", [f32(uniform([3, 2])), f32(uniform([3, 2]))], (x, y) => T.setSubtensor(x.get([0, 0, 2]), y)],
    ["x[1:, ::-1]", [f32(uniform([3, 3]))], (x) => x.get("1:", "::-1")],
    ["sort(x, 0)", [f32(distinct([3, 2]))], (x) => T.sort(x, 0)],
    ["cumsum(x, 1)", [f32(uniform([2, 3]))], (x) => T.cumsum(x, 1)],
    ["repeat(x, [1, 2], 1)", [f32(uniform([2, 2]))], (x) => T.repeat(x, [1, 2], 1)],
    ["diff(x, 2)", [f32(uniform([2, 4]))], (x) => T.diff(x, 2)],
  ];
  for (const [name, points, build] of cases32) {
    it(`float32: ${name} (verifyGrad's float32 tolerances)`, () => {
      verifyGrad((...xs) => {
        const out = build(...xs) as TensorVariable;
        expect(out.dtype).toBe(xs[0]!.dtype);
        return out;
      }, points, { seed: 3 });
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe("ops without a gradient declare it, and integer inputs are disconnected", () => {
  const x = T.dmatrix("x");
  const v = T.dvector("v");

  it("Shape, ShapeI, MakeVector, Eye, integer ARange, Argsort, Nonzero, OneHot are notDifferentiable", () => {
    const ops = [
      new Shape(),
      new ShapeI(0),
      new MakeVector(),
      new Eye("float64"),
      new ARange("int64"),
      new Argsort(0),
      new Argsort(null),
      new Nonzero(false),
      new Nonzero(true),
      new OneHot("float64"),
    ];
    for (const op of ops) {
      expect(typeof op.notDifferentiable, String(op)).toBe("string");
      expect(op.notDifferentiable!.length).toBeGreaterThan(10);
    }
    // A float arange has a gradient (with respect to start and step).
    expect(new ARange("float64").notDifferentiable).toBeUndefined();
  });

  it("every other op of these families defines grad", () => {
    const nodes: Apply[] = [
      x.reshape([-1]).owner!,
      T.specifyShape(x, [null, null]).owner!,
      x.get("1:").owner!,
      T.setSubtensor(x.get("1:"), 0).owner!,
      x.get([0, 1]).owner!,
      x.get(":", [0, 1]).owner!,
      T.incSubtensor(x.get(":", [0, 1]), 1).owner!,
      T.concatenate([x, x]).owner!,
      T.split(v, [1, 1], 2).map((o) => o.owner!)[0]!,
      T.alloc(v, 2, 3).owner!,
      T.arange(0.0, 1.0, 0.1).owner!,
      T.repeat(v, 2, 0).owner!,
      T.sort(v).owner!,
      T.cumsum(v).owner!,
      T.cumprod(v).owner!,
      T.diff(v).owner!,
      (T.unique(v) as TensorVariable).owner!,
      T.bincount(T.lvector(), v).owner!,
    ];
    for (const n of nodes) expect(typeof n.op.grad, String(n.op)).toBe("function");
  });

  /** The op's grad entries for a node, given ones as output gradients. */
  const gradsOf = (node: Apply): GradResult[] => node.op.grad!(node.inputs, node.outputs.map((o) => T.onesLike(o as TensorVariable, "float64")), node.outputs);

  it("index, shape and count inputs get null (disconnected)", () => {
    const i = T.lscalar("i");
    const idx = T.lvector("idx");
    const shp = T.lvector("shp");
    const sizes = T.lvector("sizes");
    const n = T.lscalar("n");
    const check = (node: Apply, connected: boolean[]): void => {
      const gs = gradsOf(node);
      expect(gs.length, String(node.op)).toBe(node.inputs.length);
      gs.forEach((g, k) => {
        if (connected[k]) expect(g, `${node.op} input ${k}`).not.toBeNull();
        else expect(g, `${node.op} input ${k}`).toBeNull();
      });
    };
    const sub = x.get(i, T.slice(i, null)).owner!;
    expect(sub.op).toBeInstanceOf(Subtensor);
    check(sub, [true, false, false]);
    const inc = T.incSubtensor(x.get(i), v).owner!;
    expect(inc.op).toBeInstanceOf(IncSubtensor);
    check(inc, [true, true, false]);
    const a1 = x.get(idx).owner!;
    expect(a1.op).toBeInstanceOf(AdvancedSubtensor1);
    check(a1, [true, false]);
    const adv = x.get(idx, i).owner!;
    expect(adv.op).toBeInstanceOf(AdvancedSubtensor);
    check(adv, [true, false, false]);
    const advInc = T.setSubtensor(x.get(":", idx), x.get(":", idx)).owner!;
    expect(advInc.op).toBeInstanceOf(AdvancedIncSubtensor);
    check(advInc, [true, true, false]);
    const rs = x.reshape(shp, 2).owner!;
    expect(rs.op).toBeInstanceOf(Reshape);
    check(rs, [true, false]);
    const sp = T.split(x, sizes, 2, 1)[0]!.owner!;
    expect(sp.op).toBeInstanceOf(Split);
    check(sp, [true, false]);
    const al = T.alloc(v, n, 3).owner!;
    expect(al.op).toBeInstanceOf(Alloc);
    check(al, [true, false, false]);
    const rp = T.repeat(x, idx, 0).owner!;
    expect(rp.op).toBeInstanceOf(Repeat);
    check(rp, [true, false]);
    const ar = T.arange(T.dscalar("a"), T.dscalar("b"), T.dscalar("s")).owner!;
    expect(ar.op).toBeInstanceOf(ARange);
    check(ar, [true, false, true]);
    const bc = T.bincount(idx, v).owner!;
    expect(bc.op).toBeInstanceOf(Bincount);
    check(bc, [false, true]);
  });
});
