/**
 * `verifyGrad`: checks an op's symbolic gradient against finite differences (Theano's
 * `verify_grad` and `numeric_grad` in `gradient.py`).
 *
 * The function under test gets one symbolic input per point (the point's dtype, static shape
 * unknown, so the gradient graph cannot lean on static sizes) and returns a symbolic output of
 * any shape. A random projection (seeded) turns that output into a scalar cost, whose symbolic
 * gradient is compared, entry by entry, with central differences computed on a float64 copy of
 * the graph. An entry fails when both its absolute and its relative error exceed the tolerances
 * (Theano's rule); the error names the worst entry. Graphs are evaluated node by node through
 * each op's `perform` (the reference implementation), so any op with `perform` can be checked
 * without a compiler or linker.
 */

import { GradientError } from "../errors.js";
import type { Value, Variable } from "../graph/basic.js";
import { type DType, isFloat } from "../ndarray/dtype.js";
import { type ArrayLike, NDArray, array } from "../ndarray/ndarray.js";
import * as math from "../tensor/math.js";
import { TensorType } from "../tensor/type.js";
import { TensorVariable, asTensorVariable, constant } from "../tensor/variable.js";
import { evaluateGraph } from "./evaluate.js";
import { grad } from "./grad.js";
import { mulberry32 as rng } from "../ndarray/rng.js";

export interface VerifyGradOptions {
  /** Number of random projections to try (default 2). */
  nTests?: number;
  /** Finite-difference step (default 1e-7 for float64 points, 3e-4 for float32). */
  eps?: number;
  /** Absolute tolerance (default 1e-4 for float64, 1e-2 for float32: the loosest over the points). */
  absTol?: number;
  /** Relative tolerance (same defaults as absTol). */
  relTol?: number;
  /** Seed of the random projections (default 42). */
  seed?: number;
}

type Point = NDArray | ArrayLike;

const TOL: Partial<Record<DType, number>> = { float32: 1e-2, float64: 1e-4 };
const EPS: Partial<Record<DType, number>> = { float32: 3e-4, float64: 1e-7 };


const fresh = (dtype: DType, ndim: number, i: number): TensorVariable => new TensorType(dtype, new Array<null>(ndim).fill(null)).makeVariable(`input${i}`) as TensorVariable;

function build(fn: (...xs: TensorVariable[]) => unknown, vars: TensorVariable[]): TensorVariable {
  const out = fn(...vars);
  const v = asTensorVariable(out);
  if (!isFloat(v.dtype)) throw new GradientError(`verifyGrad: the function's output ${v.label} has dtype ${v.dtype}; it must be a float tensor`);
  return v;
}

const indexOf = (flat: number, shape: readonly number[]): string => {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(flat % shape[d]!);
    flat = Math.floor(flat / shape[d]!);
  }
  return `[${idx.join(", ")}]`;
};

/**
 * Throws GradientError when `fn`'s symbolic gradient at `points` disagrees with finite
 * differences; returns normally otherwise.
 */
export function verifyGrad(fn: (...xs: TensorVariable[]) => unknown, points: readonly Point[], opts: VerifyGradOptions = {}): void {
  if (points.length === 0) throw new GradientError("verifyGrad: give at least one point");
  const pts = points.map((p, i) => {
    // Plain JS numbers are float64 points, whatever their values look like.
    const a = p instanceof NDArray ? p : array(p, "float64");
    if (!isFloat(a.dtype)) throw new GradientError(`verifyGrad: point ${i} has dtype ${a.dtype}; gradients are checked at float points (cast it to float64)`);
    return a;
  });
  const dtypes = pts.map((p) => p.dtype);
  const tol = Math.max(...dtypes.map((d) => TOL[d] ?? 1e-4));
  const absTol = opts.absTol ?? tol;
  const relTol = opts.relTol ?? tol;
  const eps = opts.eps ?? Math.max(...dtypes.map((d) => EPS[d] ?? 1e-7));
  const nTests = opts.nTests ?? 2;
  const random = rng(opts.seed ?? 42);

  const vars = pts.map((p, i) => fresh(p.dtype, p.ndim, i));
  const out = build(fn, vars);
  // Finite differences run on a float64 copy of the graph where the function accepts one
  // (fn may insist on its dtypes: then the points' own dtypes are used).
  let vars64 = vars;
  let out64 = out;
  if (dtypes.some((d) => d !== "float64")) {
    try {
      vars64 = pts.map((p, i) => fresh("float64", p.ndim, i));
      out64 = build(fn, vars64);
    } catch {
      vars64 = vars;
      out64 = out;
    }
  }
  const numDtype = (i: number): DType => (vars64[i]!.dtype);
  const givens64 = (values: NDArray[]): Map<Variable, Value> => new Map(vars64.map((v, i) => [v, values[i]!.dtype === numDtype(i) ? values[i]! : values[i]!.astype(numDtype(i))]));

  const outValue = evaluateGraph([out], new Map(vars.map((v, i) => [v, pts[i]!])))[0] as NDArray;

  for (let t = 0; t < nTests; t++) {
    const proj = new Float64Array(outValue.size);
    for (let k = 0; k < proj.length; k++) proj[k] = random() + 0.5;
    const projArr = new NDArray("float64", outValue.shape, proj);
    const cost = math.sum(math.mul(out, constant(projArr.astype(out.dtype))));
    const cost64 = math.sum(math.mul(out64, constant(projArr.astype(out64.dtype))));
    const grads = grad(cost, vars, { disconnectedInputs: "ignore" });
    const analytic = evaluateGraph(grads, new Map(vars.map((v, i) => [v, pts[i]!]))) as NDArray[];

    const base = pts.map((p, i) => p.astype(numDtype(i)));
    const f = (values: NDArray[]): number => Number((evaluateGraph([cost64], givens64(values))[0] as NDArray).item());
    let worst: { score: number; msg: string } | null = null;
    pts.forEach((p, i) => {
      const g = analytic[i]!;
      if (g.shape.length !== p.ndim || g.shape.some((d, k) => d !== p.shape[k])) {
        throw new GradientError(`verifyGrad: the gradient for input ${i} has shape [${g.shape.join(", ")}], but the input has shape [${p.shape.join(", ")}]`);
      }
      const gFlat = g.toFlat();
      const x = base[i]!.copy(); // contiguous, so the flat index addresses data directly
      const data = x.data as Float64Array | Float32Array;
      for (let j = 0; j < x.size; j++) {
        const x0 = data[j]!;
        data[j] = x0 + eps;
        const xp = data[j]!; // the perturbation actually representable in this dtype
        const values = base.map((b, k) => (k === i ? x : b));
        const fp = f(values);
        data[j] = x0 - eps;
        const xm = data[j]!;
        const fm = f(values);
        data[j] = x0;
        const numeric = (fp - fm) / (xp - xm);
        const a = Number(gFlat[j]);
        const absErr = Math.abs(a - numeric);
        const denom = Math.abs(a) + Math.abs(numeric);
        const relErr = denom === 0 ? 0 : absErr / denom;
        const bad = !(absErr <= absTol || relErr <= relTol); // NaN counts as bad
        if (!bad) continue;
        const score = Number.isNaN(absErr) ? Infinity : Math.min(absErr / absTol, relErr / relTol);
        if (!worst || score > worst.score) {
          worst = {
            score,
            msg:
              `verifyGrad: the gradient for input ${i} at index ${indexOf(j, p.shape)} is ${a} (analytic) but ${numeric} (finite differences, eps ${eps}): ` +
              `absolute error ${absErr} > ${absTol} and relative error ${relErr} > ${relTol} (random projection ${t + 1} of ${nTests}, seed ${opts.seed ?? 42})`,
          };
        }
      }
    });
    if (worst) throw new GradientError((worst as { msg: string }).msg);
  }
}
