/**
 * The numerical-stability battery (issue 12.1, 13.6): the logistic and softmax families written
 * the way Theano users write them by hand, compiled with the default mode on the py, js and c
 * linkers in float32 and float64, value and gradient at ±10, ±50, ±100, ±800, each compared with
 * a reference computed here in float64 with stable formulas. test/rewriting/stability_battery.test.ts
 * asserts every cell; this script prints the table.
 *
 *   npx tsx bench/stability_table.ts [--linker py|js|c] [--dtype float32|float64] [--tutorial [--steps N] [--full]]
 */

import { pathToFileURL } from "node:url";
import * as theano from "../src/index.js";
import { cCompilerStatus } from "../src/link/c/compiler.js";
import { mulberry32 } from "../src/ndarray/rng.js";
import type { NDArray } from "../src/ndarray/ndarray.js";

const { T } = theano;

export type Dtype = "float32" | "float64";
export type Linker = "py" | "js" | "c";

/** The points every expression is checked at. */
export const POINTS = [-800, -100, -50, -10, 10, 50, 100, 800] as const;

// ---------------------------------------------------------------------------------------------
// Stable float64 references

const sig = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const lse = (r: readonly number[]): number => {
  const m = Math.max(...r);
  return m + Math.log(r.reduce((s, v) => s + Math.exp(v - m), 0));
};
const softmaxRow = (r: readonly number[]): number[] => r.map((v) => Math.exp(v - lse(r)));

/** The row of a lane expression at point t: overflows at +t, underflows (float32) at -t. */
const laneRow = (t: number): number[] => [t, 0.5 * t, t - 1];
/** Weights of the lane outputs in the cost, so the gradient is not trivially 0. */
const W = [1, 2, 3];
/** One label per row. */
const label = (i: number): number => i % 3;

export interface Case {
  name: string;
  /** The expression as the user writes it. */
  written: string;
  /** Builds inputs, output and cost; `args` gives the input values for the points. */
  build(dtype: Dtype): { inputs: theano.TensorVariable[]; out: theano.TensorVariable; cost: theano.TensorVariable };
  args(dtype: Dtype): unknown[];
  /** The reference value and gradient (w.r.t. the first input) per point, flattened per point. */
  ref(t: number, i: number): { value: number[]; grad: number[] };
}

const hsig = (x: theano.TensorVariable): theano.TensorVariable => T.trueDiv(1, T.add(1, T.exp(T.neg(x))));
const hsoftmax = (x: theano.TensorVariable): theano.TensorVariable => {
  const e = T.exp(x);
  return T.trueDiv(e, T.sum(e, 1, { keepdims: true }));
};

/** Elementwise cases: one vector of the points (twice for the cross-entropy: y = 0 and y = 1). */
function elementwise(name: string, written: string, f: (x: theano.TensorVariable) => theano.TensorVariable, value: (t: number) => number, grad: (t: number) => number): Case {
  return {
    name,
    written,
    build(dtype) {
      const x = T.vector("x", dtype);
      const out = f(x);
      return { inputs: [x], out, cost: T.sum(out) };
    },
    args: (dtype) => [theano.array([...POINTS], dtype)],
    ref: (t) => ({ value: [value(t)], grad: [grad(t)] }),
  };
}

/** Lane cases: one row per point (laneRow), the cost weighting the outputs by W. */
function lanes(name: string, written: string, f: (x: theano.TensorVariable, y: theano.TensorVariable) => theano.TensorVariable, weighted: boolean, ref: (row: number[], y: number) => { value: number[]; grad: number[] }): Case {
  return {
    name,
    written,
    build(dtype) {
      const x = T.matrix("x", dtype);
      const y = T.lvector("y");
      const out = f(x, y);
      return { inputs: [x, y], out, cost: weighted ? T.sum(T.mul(out, W)) : T.sum(out) };
    },
    args: (dtype) => [theano.array(POINTS.map(laneRow), dtype), theano.array(POINTS.map((_t, i) => label(i)), "int64")],
    ref: (t, i) => ref(laneRow(t), label(i)),
  };
}

export const BATTERY: readonly Case[] = [
  elementwise("sigmoid", "1 / (1 + exp(-x))", hsig, sig, (t) => sig(t) * sig(-t)),
  elementwise("log-sigmoid", "log(1 / (1 + exp(-x)))", (x) => T.log(hsig(x)), (t) => -softplus(-t), (t) => sig(-t)),
  elementwise("log(1 - sigmoid)", "log(1 - 1 / (1 + exp(-x)))", (x) => T.log(T.sub(1, hsig(x))), (t) => -softplus(t), (t) => -sig(t)),
  elementwise("softplus", "log(1 + exp(x))", (x) => T.log(T.add(1, T.exp(x))), softplus, sig),
  {
    // Each point twice, with y = 0 and y = 1.
    name: "binary crossentropy",
    written: "-y * log(p) - (1 - y) * log(1 - p), p = 1 / (1 + exp(-x))",
    build(dtype) {
      const x = T.vector("x", dtype);
      const y = T.vector("y", dtype);
      const p = hsig(x);
      const out = T.sub(T.mul(T.neg(y), T.log(p)), T.mul(T.sub(1, y), T.log(T.sub(1, p))));
      return { inputs: [x, y], out, cost: T.sum(out) };
    },
    args: (dtype) => [theano.array(POINTS.flatMap((t) => [t, t]), dtype), theano.array(POINTS.flatMap(() => [0, 1]), dtype)],
    ref: (t) => ({ value: [softplus(t), softplus(-t)], grad: [sig(t), sig(t) - 1] }),
  },
  lanes("logsumexp", "log(sum(exp(x), axis=1))", (x) => T.log(T.sum(T.exp(x), 1)), false, (r) => ({ value: [lse(r)], grad: softmaxRow(r) })),
  lanes("softmax", "exp(x) / sum(exp(x), axis=1, keepdims)", (x) => hsoftmax(x), true, (r) => {
    const sm = softmaxRow(r);
    const mean = sm.reduce((s, p, j) => s + p * W[j]!, 0);
    return { value: sm, grad: sm.map((p, j) => p * (W[j]! - mean)) };
  }),
  lanes("logSoftmax", "log(exp(x) / sum(exp(x), axis=1, keepdims))", (x) => T.log(hsoftmax(x)), true, (r) => {
    const sm = softmaxRow(r);
    const total = W.reduce((s, w) => s + w, 0);
    return { value: r.map((v) => v - lse(r)), grad: sm.map((p, j) => W[j]! - p * total) };
  }),
  lanes("categorical crossentropy", "-log(softmax(x))[arange(n), y], softmax hand-written", (x, y) => T.neg(T.log(hsoftmax(x)).get(T.arange(y.shape.get(0)), y)), false, (r, y) => ({
    value: [lse(r) - r[y]!],
    grad: softmaxRow(r).map((p, j) => p - (j === y ? 1 : 0)),
  })),
  lanes("T.nnet.categoricalCrossentropy", "T.nnet.categoricalCrossentropy(T.nnet.softmax(x), y)", (x, y) => T.nnet.categoricalCrossentropy(T.nnet.softmax(x), y), false, (r, y) => ({
    value: [lse(r) - r[y]!],
    grad: softmaxRow(r).map((p, j) => p - (j === y ? 1 : 0)),
  })),
];

// ---------------------------------------------------------------------------------------------
// Running a case

/** Tolerances: float32 results carry about 7 digits (and denormals fewer, hence atol). */
export const TOL: Record<Dtype, { rtol: number; atol: number }> = { float32: { rtol: 1e-5, atol: 1e-6 }, float64: { rtol: 1e-10, atol: 1e-12 } };

export interface Cell {
  point: number;
  /** Every value finite and within tolerance of the reference. */
  valueOk: boolean;
  gradOk: boolean;
  value: number[];
  grad: number[];
  refValue: number[];
  refGrad: number[];
}

const close = (got: number[], want: number[], tol: { rtol: number; atol: number }): boolean =>
  got.length === want.length && got.every((g, i) => Number.isFinite(g) && Math.abs(g - want[i]!) <= tol.atol + tol.rtol * Math.abs(want[i]!));

/** Compiles `c` for `dtype` on `linker` and checks it at every point. */
export function runCase(c: Case, dtype: Dtype, linker: Linker): Cell[] {
  const { inputs, out, cost } = c.build(dtype);
  const g = theano.grad(cost, inputs[0]!);
  const f = theano.function(inputs, [out, g], { mode: new theano.Mode(linker), onUnusedInput: "ignore" }) as unknown as (...a: unknown[]) => NDArray[];
  const [v, gr] = f(...c.args(dtype));
  const values = Array.from(v!.toFlat() as ArrayLike<number>, Number);
  const grads = Array.from(gr!.toFlat() as ArrayLike<number>, Number);
  const perValue = values.length / POINTS.length;
  const perGrad = grads.length / POINTS.length;
  return POINTS.map((t, i) => {
    const r = c.ref(t, i);
    const value = values.slice(i * perValue, (i + 1) * perValue);
    const grad = grads.slice(i * perGrad, (i + 1) * perGrad);
    return { point: t, value, grad, refValue: r.value, refGrad: r.grad, valueOk: close(value, r.value, TOL[dtype]), gradOk: close(grad, r.grad, TOL[dtype]) };
  });
}

/** The linkers present here (c needs a compiler). */
export const LINKERS: readonly Linker[] = cCompilerStatus().ok ? ["py", "js", "c"] : ["py", "js"];

// ---------------------------------------------------------------------------------------------
// The tutorial exercise

/**
 * The Theano tutorial's logistic-regression exercise, in float32 and written as the tutorial
 * writes it; data as `D = (rng.randn(N, feats), rng.randint(0, 2, N))` from a seeded generator.
 */
export function tutorialLogisticRegression(opts: { linker: "py" | "js" | "c"; maxSteps: number; seed?: number; stopAt?: number }): { firstStep: { min: number; max: number; mean: number; nan: number }; accuracy: number; steps: number } {
  const N = 400;
  const feats = 784;
  const u = mulberry32(opts.seed ?? 1234);
  const randn = (): number => Math.sqrt(-2 * Math.log(u() || 1e-300)) * Math.cos(2 * Math.PI * u());
  const Dx = theano.array(Array.from({ length: N }, () => Array.from({ length: feats }, randn)), "float32");
  const Dy = theano.array(Array.from({ length: N }, () => (u() < 0.5 ? 0 : 1)), "float32");
  const x = T.fmatrix("x");
  const y = T.fvector("y");
  const w = theano.shared(theano.array(Array.from({ length: feats }, randn), "float32"), { name: "w" });
  const b = theano.shared(theano.array(0, "float32"), { name: "b" });
  const p1 = T.trueDiv(1, T.add(1, T.exp(T.sub(T.neg(T.dot(x, w)), b))));
  const prediction = T.gt(p1, 0.5);
  const xent = T.sub(T.mul(T.neg(y), T.log(p1)), T.mul(T.sub(1, y), T.log(T.sub(1, p1))));
  const cost = T.add(T.mean(xent), T.mul(0.01, T.sum(T.pow(w, 2))));
  const [gw, gb] = theano.grad(cost, [w, b]);
  const mode = new theano.Mode(opts.linker);
  const train = theano.function([x, y], [prediction, xent], { updates: [[w, T.sub(w, T.mul(0.1, gw!))], [b, T.sub(b, T.mul(0.1, gb!))]], mode });
  const predict = theano.function([x], prediction, { mode });
  const accuracy = (): number => {
    const p = ((predict as unknown as (a: unknown) => NDArray)(Dx)).toFlat();
    const t = Dy.toFlat();
    let ok = 0;
    for (let i = 0; i < N; i++) if (Number(p[i]) === Number(t[i])) ok++;
    return ok / N;
  };
  let firstStep = { min: NaN, max: NaN, mean: NaN, nan: 0 };
  let steps = 0;
  let acc = 0;
  while (steps < opts.maxSteps) {
    (train as unknown as (...a: unknown[]) => unknown)(Dx, Dy);
    steps++;
    if (steps === 1) {
      const wv = Array.from((w.getValue() as NDArray).toFlat() as ArrayLike<number>);
      firstStep = { min: Math.min(...wv), max: Math.max(...wv), mean: wv.reduce((s, v) => s + v, 0) / wv.length, nan: wv.filter(Number.isNaN).length };
    }
    if (steps % 50 === 0 && (acc = accuracy()) >= (opts.stopAt ?? 0.99)) break;
  }
  return { firstStep, accuracy: steps % 50 === 0 ? acc : accuracy(), steps };
}

// ---------------------------------------------------------------------------------------------
// The table

function main(): void {
  const arg = (k: string): string | undefined => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : undefined);
  const linkers = arg("--linker") ? [arg("--linker") as Linker] : LINKERS;
  const dtypes: Dtype[] = arg("--dtype") ? [arg("--dtype") as Dtype] : ["float32", "float64"];
  const fmt = (xs: number[]): string => xs.map((x) => (Number.isInteger(x) ? String(x) : x.toPrecision(6))).join(" ");
  let cells = 0;
  let bad = 0;
  console.log(`| expression | dtype | linker | ${POINTS.map((p) => `x=${p}`).join(" | ")} |`);
  console.log(`|---|---|---|${POINTS.map(() => "---").join("|")}|`);
  const failures: string[] = [];
  for (const c of BATTERY) {
    for (const dtype of dtypes) {
      for (const linker of linkers) {
        const res = runCase(c, dtype, linker);
        const marks = res.map((r) => `${r.valueOk ? "ok" : "BAD"}/${r.gradOk ? "ok" : "BAD"}`);
        for (const r of res) {
          cells += 2;
          if (!r.valueOk) failures.push(`${c.name} ${dtype} ${linker} x=${r.point} value: got ${fmt(r.value)}, want ${fmt(r.refValue)}`);
          if (!r.gradOk) failures.push(`${c.name} ${dtype} ${linker} x=${r.point} grad: got ${fmt(r.grad)}, want ${fmt(r.refGrad)}`);
          bad += (r.valueOk ? 0 : 1) + (r.gradOk ? 0 : 1);
        }
        console.log(`| ${c.name} | ${dtype} | ${linker} | ${marks.join(" | ")} |`);
      }
    }
  }
  console.log(`\n(value/gradient per cell) ${cells} checks, ${cells - bad} finite and equal to the stable reference, ${bad} not.`);
  for (const f of failures) console.log(`  ${f}`);
  if (process.argv.includes("--tutorial")) {
    for (const linker of linkers) {
      const t0 = performance.now();
      const r = tutorialLogisticRegression({ linker, maxSteps: Number(arg("--steps") ?? 2000), stopAt: process.argv.includes("--full") ? Infinity : 0.99 });
      console.log(`tutorial logistic regression (float32, ${linker}): after step 1 w min ${r.firstStep.min.toFixed(4)} max ${r.firstStep.max.toFixed(4)} mean ${r.firstStep.mean.toExponential(4)} NaN ${r.firstStep.nan}/784; accuracy ${r.accuracy} after ${r.steps} steps (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  console.log(`Expressions:\n${BATTERY.map((c) => `  ${c.name}: ${c.written}`).join("\n")}\nLane rows at t: [t, t/2, t - 1]; cost weights ${JSON.stringify(W)} for softmax and logSoftmax.`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
