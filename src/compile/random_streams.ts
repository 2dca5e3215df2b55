/**
 * `theano.RandomStreams` (Theano's `RandomStreams`/PyTensor's `RandomStream`, API.md §8): a
 * factory of random variables whose generator states are shared variables.
 *
 * Each draw method makes one RandomVariable node (src/tensor/random.ts) over a new state of its
 * own, a uint32 shared variable [k0, k1, c_lo, c_hi], and sets that state's `defaultUpdate` to
 * the node's new-state output; `theano.function` applies default updates of the shared
 * variables it reads (unless the caller updates them or passes `noDefaultUpdates: true`), so
 * every call draws fresh values. Stream i of a RandomStreams seeded with s has the key
 * philox([lo32(s), hi32(s), i, 0x52414e44], key = [0x9e3779b9, 0x7f4a7c15]) words 0 and 1,
 * and starts at counter 0: a C or GPU port derives the same keys.
 *
 * `f.copy()` reads and updates the same states as `f` (Theano's default, share the state); for
 * independent streams pass `f.copy({ swap: srng.swapStates() })`, which gives the copy fresh
 * states (the same values: the copy then draws what `f` would have drawn next, and the two
 * advance separately).
 */

import { InputError, TypeMismatchError } from "../errors.js";
import { type DType, checkDType, isInteger } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import { philox4x32 } from "../ndarray/philox.js";
import { type Distribution, RNG_STATE_TYPE, RandomVariable, type SizeLike, floatDrawDtype, paramArgument, sizeArgument } from "../tensor/random.js";
import { TensorVariable, asTensorVariable } from "../tensor/variable.js";
import { type SharedVariable, shared } from "./shared.js";

/** The initial state of stream `index` under `seed` (see the header). */
export function initialRngState(seed: number, index: number): NDArray {
  const out = new Uint32Array(4);
  philox4x32(seed % 4294967296, Math.floor(seed / 4294967296), index, 0x52414e44, 0x9e3779b9, 0x7f4a7c15, out);
  return new NDArray("uint32", [4], new Uint32Array([out[0]!, out[1]!, 0, 0]));
}

function checkSeed(seed: unknown): number {
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new InputError(`RandomStreams: seed must be an integer in [0, 2^53), got ${String(seed)}`);
  }
  return seed;
}

const inUnit = (v: number): string | null => (v >= 0 && v <= 1 ? null : "must lie in [0, 1]");
const nonNegative = (v: number): string | null => (v >= 0 ? null : "must be non-negative");
const count = (v: number): string | null => (Number.isInteger(v) && v >= 0 ? null : "must be a non-negative integer");

export class RandomStreams {
  private seedValue: number;
  /** The generator states this factory made, in creation order (stream i is states[i]). */
  readonly states: SharedVariable[] = [];

  constructor(seed = 0) {
    this.seedValue = checkSeed(seed);
  }

  /** Reseeds every stream made so far (and those made later): stream i restarts from its key under `newSeed`. */
  seed(newSeed: number): void {
    this.seedValue = checkSeed(newSeed);
    this.states.forEach((s, i) => s.setValue(initialRngState(this.seedValue, i)));
  }

  /** A swap map for `f.copy({ swap })`: each state to a fresh shared variable holding its current value. */
  swapStates(): Map<SharedVariable, SharedVariable> {
    return new Map(this.states.map((s) => [s, shared(s.getValue(), { name: `${s.name}_copy`, shape: [4] })]));
  }

  uniform(size: SizeLike, low: unknown = 0, high: unknown = 1, dtype?: DType): TensorVariable {
    const d = floatDrawDtype("uniform", dtype, [low, high]);
    return this.draw("uniform", d, size, [paramArgument(low, d), paramArgument(high, d)]);
  }

  normal(size: SizeLike, avg: unknown = 0, std: unknown = 1, dtype?: DType): TensorVariable {
    const d = floatDrawDtype("normal", dtype, [avg, std]);
    return this.draw("normal", d, size, [paramArgument(avg, d), paramArgument(std, d, nonNegative, "normal", "std")]);
  }

  truncatedNormal(size: SizeLike, avg: unknown = 0, std: unknown = 1, dtype?: DType): TensorVariable {
    const d = floatDrawDtype("truncatedNormal", dtype, [avg, std]);
    return this.draw("truncatedNormal", d, size, [paramArgument(avg, d), paramArgument(std, d, nonNegative, "truncatedNormal", "std")]);
  }

  binomial(size: SizeLike, n: unknown = 1, p: unknown = 0.5, dtype: DType = "int64"): TensorVariable {
    // Any numeric dtype: Theano code draws dropout masks as floatX (binomial(..., dtype=floatX)).
    const d = checkDType(dtype);
    return this.draw("binomial", d, size, [paramArgument(n, "int64", count, "binomial", "n"), paramArgument(p, "float64", inUnit, "binomial", "p")]);
  }

  /** Integers in [low, high), or [0, low) when high is omitted (NumPy's Generator.integers). */
  integers(size: SizeLike, low: unknown, high?: unknown): TensorVariable {
    if (high === undefined) [low, high] = [0, low];
    const lo = paramArgument(low, "int64", undefined, "integers", "low");
    const hi = paramArgument(high, "int64", undefined, "integers", "high");
    for (const t of [lo, hi]) if (!isInteger(t.dtype)) throw new TypeMismatchError(`integers: low and high must be integers, got ${t.label}: ${t.type}`);
    const [cl, ch] = [lo, hi].map((t) => (t.isConstant ? (t.constantData as NDArray).toFlat() : null));
    if (cl && ch && cl.length === 1 && ch.length === 1 && Number(cl[0]) >= Number(ch[0])) throw new InputError(`integers: low (${Number(cl[0])}) must be below high (${Number(ch[0])})`);
    return this.draw("integers", "int64", size, [lo, hi]);
  }

  /** Items of `a` (a vector, or 0..a-1 for an integer), with or without replacement, optionally weighted by `p`. */
  choice(size: SizeLike, a: unknown, opts: { replace?: boolean; p?: unknown } = {}): TensorVariable {
    for (const k of Object.keys(opts)) if (k !== "replace" && k !== "p") throw new InputError(`choice: unknown option '${k}'; the options are replace and p`);
    const replace = opts.replace ?? true;
    if (typeof replace !== "boolean") throw new InputError(`choice: replace must be true or false, got ${String(replace)}`);
    const at = typeof a === "number" ? paramArgument(a, "int64", undefined, "choice", "a") : asTensorVariable(a);
    if (at.ndim > 1) throw new TypeMismatchError(`choice: a must be an integer scalar or a vector, got ${at.label}: ${at.type}`);
    if (at.ndim === 0 && !isInteger(at.dtype)) throw new TypeMismatchError(`choice: a scalar a must be an integer (the population 0..a-1), got ${at.type}`);
    const params = [at];
    if (opts.p !== undefined) params.push(paramArgument(opts.p, "float64", inUnit, "choice", "p"));
    const [sz, nd] = sizeArgument("choice", size);
    if (!replace && at.isConstant && nd !== null && sz.isConstant) {
      const n = at.ndim === 0 ? Number((at.constantData as NDArray).getBig()) : at.type.shape[0]!;
      const k = [...(sz.constantData as NDArray).toFlat()].reduce<number>((m, d) => m * Number(d), 1);
      if (k > n) throw new InputError(`choice: cannot take ${k} items without replacement from a population of ${n} (a)`);
    }
    return this.node(new RandomVariable("choice", at.ndim === 0 ? "int64" : at.dtype, nd, replace), sz, params);
  }

  /** Draws of counts over the categories of `pvals` (its last axis), `n` trials each. */
  multinomial(size: SizeLike, n: unknown, pvals: unknown): TensorVariable {
    const pv = paramArgument(pvals, "float64", inUnit, "multinomial", "pvals");
    if (pv.ndim < 1) throw new TypeMismatchError(`multinomial: pvals must have a category axis, got ${pv.label}: ${pv.type}`);
    return this.draw("multinomial", "int64", size, [paramArgument(n, "int64", count, "multinomial", "n"), pv]);
  }

  /** One permutation of 0..n-1 (NumPy's Generator.permutation of an integer). */
  permutation(n: unknown): TensorVariable {
    const nt = paramArgument(n, "int64", count, "permutation", "n");
    if (nt.ndim !== 0 || !isInteger(nt.dtype)) throw new TypeMismatchError(`permutation: n must be an integer scalar, got ${nt.label}: ${nt.type}`);
    return this.draw("permutation", "int64", null, [nt]);
  }

  private draw(dist: Distribution, dtype: DType, size: SizeLike, params: TensorVariable[]): TensorVariable {
    const [sz, nd] = sizeArgument(dist, size);
    return this.node(new RandomVariable(dist, dtype, nd), sz, params);
  }

  private node(op: RandomVariable, size: TensorVariable, params: TensorVariable[]): TensorVariable {
    const i = this.states.length;
    const state = shared(initialRngState(this.seedValue, i), { name: `rng_state_${i}`, shape: [...(RNG_STATE_TYPE.shape as number[])] });
    const node = op.makeNode(state, size, ...params);
    state.defaultUpdate = node.outputs[0]!;
    this.states.push(state);
    return node.outputs[1] as TensorVariable;
  }
}
