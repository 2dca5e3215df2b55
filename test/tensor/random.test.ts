/**
 * RandomStreams and the RandomVariable op family (issue 17.1; API.md §8): Philox-4x32-10
 * known answers and the stream layout, the same draws from the same seed on every linker,
 * default updates, reseeding, copies, moments and ranges, chi-square tests on binned draws,
 * independence of consecutive calls, and the errors of bad input.
 *
 * Every test uses a fixed seed, so the statistics below are deterministic: a threshold at the
 * 0.1 % quantile can only fail if the generator changes.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";
import { ElementStream, philox4x32 } from "../../src/ndarray/philox.js";

const { T } = theano;
type Linker = "py" | "js" | "c";
const LINKERS: Linker[] = cCompilerStatus().ok ? ["py", "js", "c"] : ["py", "js"];
const mode = (linker: Linker): theano.Mode => new theano.Mode(linker, "fast_run");
const nums = (a: NDArray): number[] => [...a.toFlat()].map(Number);

const hex = (w: Uint32Array): string[] => [...w].map((x) => x.toString(16).padStart(8, "0"));

/** Pearson's statistic of `observed` counts against `expected` counts. */
function chiSquare(observed: number[], expected: number[]): number {
  return observed.reduce((s, o, i) => s + (o - expected[i]!) ** 2 / expected[i]!, 0);
}

/** The 99.9 % quantile of chi-square with `dof` degrees of freedom (Wilson-Hilferty; within 1 % for dof >= 5). */
function chi2Critical(dof: number): number {
  const z = 3.0902; // the 99.9 % normal quantile
  const h = 2 / (9 * dof);
  return dof * (1 - h + z * Math.sqrt(h)) ** 3;
}

function counts(values: number[], bins: number): number[] {
  const c = new Array<number>(bins).fill(0);
  for (const v of values) c[v]!++;
  return c;
}

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const variance = (v: number[]): number => {
  const m = mean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
};
function correlation(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe("issue 17.1: Philox-4x32-10", () => {
  it("matches Random123's known-answer vectors", () => {
    const out = new Uint32Array(4);
    philox4x32(0, 0, 0, 0, 0, 0, out);
    expect(hex(out)).toEqual(["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect(hex(out)).toEqual(["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"]);
    philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect(hex(out)).toEqual(["d16cfe09", "94fdcceb", "5001e420", "24126ea1"]);
  });

  it("element stream e reads the words of blocks [lo(e), hi(e), j, 0] in order (the layout a C/GPU port reproduces)", () => {
    const e = 2 ** 32 + 5;
    const s = new ElementStream().reset(7, 9, e);
    const got = Array.from({ length: 12 }, () => s.word());
    const want: number[] = [];
    const b = new Uint32Array(4);
    for (let j = 0; j < 3; j++) {
      philox4x32(5, 1, j, 0, 7, 9, b);
      want.push(...b);
    }
    expect(got).toEqual(want);
  });
});

describe("issue 17.1: RandomStreams draws", () => {
  function allDraws(srng: theano.RandomStreams): theano.TensorVariable[] {
    return [
      srng.uniform([2, 3]),
      srng.uniform([5], -1, 3, "float32"),
      srng.normal([4], 1, 2, "float64"),
      srng.truncatedNormal([5]),
      srng.binomial([5], 10, 0.3),
      srng.integers([6], 3, 10),
      srng.choice([4], 10, { replace: false }),
      srng.choice([4], theano.array([1.5, 2.5, 3.5]), { p: [0.2, 0.3, 0.5] }),
      srng.multinomial([2], 10, [0.2, 0.3, 0.5]),
      srng.permutation(7),
    ];
  }

  it("same seed gives the same draws, bit for bit, on every linker; a second call draws anew; seed() reproduces", () => {
    const results = LINKERS.map((linker) => {
      const srng = new theano.RandomStreams(1234);
      const f = theano.function([], allDraws(srng), { mode: mode(linker) });
      const first = f().map(nums);
      const second = f().map(nums);
      srng.seed(1234);
      const again = f().map(nums);
      expect(again).toEqual(first);
      // A second call moves every stream on (the multinomial and permutation could repeat by
      // chance; the continuous draws cannot).
      for (const k of [0, 1, 2, 3]) expect(second[k]).not.toEqual(first[k]);
      return [first, second];
    });
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  });

  it("different seeds and different streams of one RandomStreams differ", () => {
    const a = new theano.RandomStreams(1);
    const b = new theano.RandomStreams(2);
    const [ua, va] = [a.uniform([8]), a.uniform([8])];
    const ub = b.uniform([8]);
    const f = theano.function([], [ua, va, ub]);
    const [x, y, z] = f().map(nums);
    expect(x).not.toEqual(y);
    expect(x).not.toEqual(z);
  });

  it("symbolic size and parameters; inferShape of the draw", () => {
    const srng = new theano.RandomStreams(5);
    const x = T.matrix("x", "float64");
    const lo = T.dscalar("lo");
    const u = srng.uniform(x.shape, lo, lo.add(1));
    const f = theano.function([x, lo], [u, u.shape]);
    const [v, s] = f(theano.zeros([3, 4], "float64"), 10);
    expect(v!.shape).toEqual([3, 4]);
    expect(nums(s!)).toEqual([3, 4]);
    for (const w of nums(v!)) expect(w >= 10 && w < 11).toBe(true);
    const m = srng.multinomial([T.iscalar("k")], 5, [0.5, 0.5]);
    expect(m.ndim).toBe(2);
  });

  it("dtypes follow Theano: floatX for uniform/normal, upcast by symbolic parameters; int64 for binomial, integers, permutation", () => {
    const srng = new theano.RandomStreams(0);
    theano.config.change({ floatX: "float32" }, () => {
      expect(srng.uniform([2]).dtype).toBe("float32");
      expect(srng.normal([2], 0, 1).dtype).toBe("float32");
      expect(srng.uniform([2], T.dscalar()).dtype).toBe("float64");
    });
    theano.config.change({ floatX: "float64" }, () => expect(srng.uniform([2]).dtype).toBe("float64"));
    expect(srng.binomial([2]).dtype).toBe("int64");
    expect(srng.binomial([2], 1, 0.5, "int8").dtype).toBe("int8");
    expect(srng.integers([2], 5).dtype).toBe("int64");
    expect(srng.permutation(3).dtype).toBe("int64");
    expect(srng.choice([2], theano.array([1, 2], "float32")).dtype).toBe("float32");
    expect(srng.choice([2], 5).dtype).toBe("int64");
  });
});

describe("issue 17.1: default updates, noDefaultUpdates, copies", () => {
  it("noDefaultUpdates draws the same values each call; an explicit update wins over the default", () => {
    const srng = new theano.RandomStreams(3);
    const u = srng.uniform([4]);
    const f = theano.function([], u, { noDefaultUpdates: true });
    expect(nums(f())).toEqual(nums(f()));
    const state = srng.states[0]!;
    const before = nums(state.getValue());
    const g = theano.function([], u, { updates: [[state, state]] });
    g();
    expect(nums(state.getValue())).toEqual(before);
    const h = theano.function([], u);
    h();
    // The counter advanced by the 4 elements drawn.
    expect(nums(state.getValue())).toEqual([before[0], before[1], before[2]! + 4, before[3]]);
  });

  it("f.copy() shares the streams; f.copy({ swap: srng.swapStates() }) gets independent ones", () => {
    const srng = new theano.RandomStreams(11);
    const f = theano.function([], srng.uniform([3]));
    const shared = f.copy();
    const own = f.copy({ swap: srng.swapStates() });
    const a = nums(f());
    const b = nums(shared());
    expect(b).not.toEqual(a); // the copy continues f's stream
    const c = nums(own());
    expect(c).toEqual(a); // its own state started where f's was when swapped (before any call)
    expect(nums(own())).not.toEqual(c);
    expect(nums(f.copy({ deleteUpdates: true })())).toEqual(nums(f.copy({ deleteUpdates: true })()));
  });

  it("inside scan: a fresh draw each step and each call (with scan's updates), the same on every linker", () => {
    const results = LINKERS.map((linker) => {
      const srng = new theano.RandomStreams(3);
      const [ys, updates] = theano.scan({ fn: () => srng.uniform([2]), nSteps: 4 });
      expect(updates.length).toBe(1);
      const f = theano.function([], ys as theano.TensorVariable, { updates, mode: mode(linker) });
      const a = f();
      const rows = (a.toArray() as number[][]).map((r) => JSON.stringify(r));
      expect(new Set(rows).size).toBe(4);
      const b = f();
      expect(nums(b)).not.toEqual(nums(a));
      // Without scan's updates the state is not advanced (Theano's rule): the same draws again.
      const g = theano.function([], ys as theano.TensorVariable, { mode: mode(linker) });
      expect(nums(g())).toEqual(nums(g()));
      return [nums(a), nums(b)];
    });
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  });

  it("the state is a shared variable: get/setValue replays a draw", () => {
    const srng = new theano.RandomStreams(8);
    const f = theano.function([], srng.normal([5]));
    const saved = srng.states[0]!.getValue();
    const a = nums(f());
    srng.states[0]!.setValue(saved);
    expect(nums(f())).toEqual(a);
  });
});

describe("issue 17.1: moments, ranges and chi-square", () => {
  const srng = new theano.RandomStreams(20240601);
  const N = 100000;

  it("uniform: range and moments (float32 and float64)", () => {
    const [u64, u32] = theano.function([], [srng.uniform([N], -2, 6, "float64"), srng.uniform([N], 0, 1, "float32")])();
    const a = nums(u64!);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...a)).toBeLessThan(6);
    expect(Math.abs(mean(a) - 2)).toBeLessThan(0.03);
    expect(Math.abs(variance(a) - 64 / 12)).toBeLessThan(0.06);
    const b = nums(u32!);
    expect(u32!.dtype).toBe("float32");
    expect(Math.min(...b)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...b)).toBeLessThan(1);
    expect(Math.abs(mean(b) - 0.5)).toBeLessThan(0.005);
  });

  it("normal and truncatedNormal: moments; the truncation holds", () => {
    const [n, t] = theano.function([], [srng.normal([N], 3, 2, "float64"), srng.truncatedNormal([N], -1, 0.5, "float64")])().map(nums);
    expect(Math.abs(mean(n!) - 3)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(variance(n!)) - 2)).toBeLessThan(0.03);
    expect(Math.min(...t!)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...t!)).toBeLessThanOrEqual(0);
    expect(Math.abs(mean(t!) + 1)).toBeLessThan(0.01);
    // The standard normal truncated to [-2, 2] has standard deviation 0.8796.
    expect(Math.abs(Math.sqrt(variance(t!)) - 0.5 * 0.8796)).toBeLessThan(0.005);
  });

  it("binomial: moments for small n, large n (chunked inversion) and p > 1/2 (mirrored)", () => {
    const [a, b, c] = theano.function([], [srng.binomial([20000], 10, 0.3), srng.binomial([2000], 5000, 0.4), srng.binomial([20000], 7, 0.85)])().map(nums);
    expect(Math.abs(mean(a!) - 3)).toBeLessThan(0.05);
    expect(Math.abs(variance(a!) - 2.1)).toBeLessThan(0.1);
    expect(Math.abs(mean(b!) - 2000)).toBeLessThan(3);
    expect(Math.abs(variance(b!) - 1200) / 1200).toBeLessThan(0.1);
    expect(Math.abs(mean(c!) - 5.95)).toBeLessThan(0.03);
    expect(Math.min(...c!)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...c!)).toBeLessThanOrEqual(7);
  });

  it("multinomial: rows sum to n, means n*p", () => {
    const m = theano.function([], srng.multinomial([5000], 20, [0.1, 0.2, 0.3, 0.4]))();
    expect(m.shape).toEqual([5000, 4]);
    const v = nums(m);
    for (let i = 0; i < 5000; i++) expect(v[4 * i]! + v[4 * i + 1]! + v[4 * i + 2]! + v[4 * i + 3]!).toBe(20);
    [0.1, 0.2, 0.3, 0.4].forEach((p, j) => expect(Math.abs(mean(v.filter((_, i) => i % 4 === j)) - 20 * p)).toBeLessThan(0.1));
  });

  it("chi-square on binned draws: uniform (20 bins), integers, binomial(10, 0.3), choice with p", () => {
    const f = theano.function([], [srng.uniform([N], 0, 1, "float64"), srng.integers([N], 3, 13), srng.binomial([N], 10, 0.3), srng.choice([N], 5, { p: [0.05, 0.1, 0.15, 0.3, 0.4] })]);
    const [u, i, b, c] = f().map(nums);
    const stats: Record<string, [number, number]> = {};

    const uBins = counts(u!.map((x) => Math.floor(x * 20)), 20);
    stats.uniform = [chiSquare(uBins, new Array(20).fill(N / 20)), chi2Critical(19)];
    const iBins = counts(i!.map((x) => x - 3), 10);
    stats.integers = [chiSquare(iBins, new Array(10).fill(N / 10)), chi2Critical(9)];
    // binomial(10, 0.3): bins 0..7 and a merged tail 8..10 (every expected count above 5).
    const pmf = (k: number): number => {
      let c = 1;
      for (let j = 0; j < k; j++) c = (c * (10 - j)) / (j + 1);
      return c * 0.3 ** k * 0.7 ** (10 - k);
    };
    const bObs = counts(b!.map((k) => Math.min(k, 8)), 9);
    const bExp = [...Array(8).keys()].map((k) => N * pmf(k));
    bExp.push(N - bExp.reduce((s, x) => s + x, 0));
    stats.binomial = [chiSquare(bObs, bExp), chi2Critical(8)];
    stats.choice = [chiSquare(counts(c!, 5), [0.05, 0.1, 0.15, 0.3, 0.4].map((p) => N * p)), chi2Critical(4) * 1.02];
    console.log("issue 17.1 chi-square (statistic, 99.9% critical):", JSON.stringify(stats));
    for (const [stat, crit] of Object.values(stats)) expect(stat).toBeLessThan(crit);
  });

  it("independence: consecutive calls and neighbouring elements are uncorrelated", () => {
    const f = theano.function([], srng.uniform([N], 0, 1, "float64"));
    const a = nums(f());
    const b = nums(f());
    const between = correlation(a, b);
    const lag1 = correlation(a.slice(0, -1), a.slice(1));
    console.log(`issue 17.1 correlation: consecutive calls ${between.toFixed(5)}, lag-1 ${lag1.toFixed(5)}`);
    // 4/sqrt(N) = 0.0126: four standard errors.
    expect(Math.abs(between)).toBeLessThan(4 / Math.sqrt(N));
    expect(Math.abs(lag1)).toBeLessThan(4 / Math.sqrt(N));
  });

  it("permutation is a permutation; choice without replacement has distinct items; integers stay in range", () => {
    const n = T.lscalar("n");
    const f = theano.function([n], [srng.permutation(n), srng.choice([50], n, { replace: false }), srng.choice([3], n, { replace: false, p: theano.array(Array.from({ length: 100 }, (_, k) => (k < 3 ? 1 / 3 : 0))) })]);
    for (let rep = 0; rep < 5; rep++) {
      const [p, c, w] = f(100).map(nums);
      expect([...p!].sort((x, y) => x - y)).toEqual([...Array(100).keys()]);
      expect(new Set(c).size).toBe(50);
      for (const x of c!) expect(x >= 0 && x < 100).toBe(true);
      expect([...w!].sort()).toEqual([0, 1, 2]);
    }
    const ints = nums(theano.function([], srng.integers([10000], -5, 5))());
    expect(Math.min(...ints)).toBe(-5);
    expect(Math.max(...ints)).toBe(4);
  });
});

describe("issue 17.1: bad input", () => {
  const srng = new theano.RandomStreams(1);

  it("a non-integer or negative seed", () => {
    expect(() => new theano.RandomStreams(1.5)).toThrow(theano.InputError);
    expect(() => new theano.RandomStreams(1.5)).toThrow(/seed/);
    expect(() => srng.seed(-1)).toThrow(/seed must be an integer/);
  });

  it("a negative size: at graph-building time for constants, at call time for values", () => {
    expect(() => srng.uniform([2, -1])).toThrow(theano.InputError);
    expect(() => srng.uniform(-3)).toThrow(/size/);
    const k = T.lscalar("k");
    const f = theano.function([k], srng.uniform([k]));
    expect(() => f(-2)).toThrow(/size must hold non-negative integers/);
  });

  it("p outside [0, 1]", () => {
    expect(() => srng.binomial([3], 1, 1.5)).toThrow(theano.InputError);
    expect(() => srng.binomial([3], 1, -0.1)).toThrow(/p must lie in \[0, 1\]/);
    const p = T.dscalar("p");
    const f = theano.function([p], srng.binomial([3], 1, p));
    expect(() => f(2)).toThrow(/p must lie in \[0, 1\]/);
    expect(() => srng.choice([2], 3, { p: [0.5, 0.7, -0.2] })).toThrow(/p must lie in/);
    expect(() => theano.function([], srng.choice([2], 3, { p: [0.5, 0.2, 0.2] }))()).toThrow(/p must sum to 1/);
    expect(() => srng.multinomial([2], 3, [1.2, -0.2])).toThrow(/pvals must lie in/);
  });

  it("float32 probabilities (a softmax) sum to 1 within float32's tolerance, as NumPy's choice allows", () => {
    const p = T.fvector("p");
    const f = theano.function([p], [srng.choice([4], 3, { p }), srng.multinomial([2], 1, p)]);
    const off = theano.array([0.5, 0.25, 0.2500001], "float32"); // sums to 1 + ~1e-7
    expect(() => f(off)).not.toThrow();
    expect(() => f(theano.array([0.5, 0.25, 0.26], "float32"))).toThrow(/p must sum to 1/);
    const d = T.dvector("d");
    expect(() => theano.function([d], srng.choice([4], 3, { p: d }))(theano.array([0.5, 0.25, 0.2500001], "float64"))).toThrow(/p must sum to 1/);
  });

  it("choice without replacement of more items than exist", () => {
    expect(() => srng.choice([5], 3, { replace: false })).toThrow(/cannot take 5 items without replacement from a population of 3/);
    const n = T.lscalar("n");
    const f = theano.function([n], srng.choice([5], n, { replace: false }));
    expect(() => f(4)).toThrow(theano.InputError);
    const g = theano.function([], srng.choice([2], 3, { replace: false, p: [1, 0, 0] }));
    expect(() => g()).toThrow(/only 1 item\(s\) of a have non-zero probability/);
  });

  it("low >= high for integers; a negative std", () => {
    expect(() => srng.integers([2], 5, 5)).toThrow(/low \(5\) must be below high \(5\)/);
    expect(() => srng.integers([2], 0)).toThrow(theano.InputError);
    const hi = T.lscalar("hi");
    const f = theano.function([hi], srng.integers([2], 4, hi));
    expect(() => f(3)).toThrow(/low \(4\) must be below high \(3\)/);
    expect(() => srng.normal([2], 0, -1)).toThrow(/std must be non-negative/);
  });

  it("non-integer counts and bounds name the argument; a parameter of the wrong shape is a ShapeError", () => {
    expect(() => srng.integers([2], 0, 2.5)).toThrow(/integers: high must be an integer, got 2.5/);
    expect(() => srng.binomial([2], 2.5)).toThrow(/binomial: n must be an integer/);
    expect(() => srng.choice([2], 2.5)).toThrow(/choice: a must be an integer/);
    expect(nums(theano.function([], srng.choice([3], [1.5, 2.5]))()).every((v) => v === 1.5 || v === 2.5)).toBe(true);
    expect(() => theano.function([], srng.binomial([2, 3], 5, theano.array([0, 0.5])))()).toThrow(theano.ShapeError);
  });

  it("a failing call leaves the state unchanged", () => {
    const p = T.dscalar("p");
    const f = theano.function([p], srng.binomial([3], 1, p));
    const before = nums(srng.states[srng.states.length - 1]!.getValue());
    expect(() => f(7)).toThrow(theano.InputError);
    expect(nums(srng.states[srng.states.length - 1]!.getValue())).toEqual(before);
  });

  it("no gradient through a draw's parameters (GradientError naming the op); a mask is fine", () => {
    const mu = T.dscalar("mu");
    const z = srng.normal([3], mu, 1, "float64");
    expect(() => theano.grad(z.sum(), mu)).toThrow(theano.GradientError);
    expect(() => theano.grad(z.sum(), mu)).toThrow(/RandomVariable/);
    const x = T.dvector("x");
    const mask = srng.binomial(x.shape, 1, 0.5, "float64");
    const g = theano.function([x], theano.grad(x.mul(mask).sum(), x));
    const v = nums(g(theano.ones([6], "float64")));
    for (const e of v) expect(e === 0 || e === 1).toBe(true);
  });
});
