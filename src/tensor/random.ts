/**
 * Random variables (Theano's `tensor/random/op.py` RandomVariable, NumPy Generator semantics):
 * one Op family, `RandomVariable{dist}`, whose perform is the reference sampler for every
 * backend. `RandomStreams` (src/compile/random_streams.ts) builds these nodes.
 *
 * A node takes the generator state (a uint32 vector [k0, k1, c_lo, c_hi]: a Philox key and a
 * 64-bit counter), the size (an int64 vector; ignored when `sizeNdim` is null) and the
 * distribution's parameters, and returns [new state, draw]. A draw of n elements reads the
 * element streams c .. c+n-1 of src/ndarray/philox.ts and returns the state with the counter
 * advanced by n. How each element turns words into a value (the contract a C or GPU sampler
 * reproduces):
 *   uniform   float64: u = uniform53 (2 words); float32: u = uniform24 (1 word); low + (high-low)*u
 *             computed in double, rounded once to the dtype.
 *   normal    Box-Muller on two uniform53: sqrt(-2 ln(1-u1)) * cos(2 pi u2); avg + std*z in double.
 *   truncatedNormal  pairs (u1, u2) as above give z1 = r cos t then z2 = r sin t; the first with
 *             |z| <= 2 is kept (TensorFlow's and Theano's two-standard-deviation truncation).
 *   binomial  inversion on min(p, 1-p), in chunks of at most 300/min(p,1-p) trials (one uniform53
 *             per chunk), mirrored when p > 1/2.
 *   integers  low + below(high - low) (53-bit rejection sampling).
 *   choice    with replacement: below(n), or with p the first index whose running sum of p exceeds
 *             uniform53 * sum(p). Without replacement, pick t (element stream c+t) is a partial
 *             Fisher-Yates step t + below(n - t), or with p a weighted pick among those left.
 *   permutation(n)  Fisher-Yates from the end: step t (stream c+t) swaps n-1-t with below(n-t).
 *   multinomial  conditional binomials over the categories, all from the element's one stream.
 * Transcendentals (log, sqrt, cos, sin) are the platform's: a C or GPU port matches these draws
 * bit for bit except where its libm differs by an ulp (normal and truncatedNormal only).
 *
 * No gradient: the state and size are disconnected, the parameters undefined (GradientError
 * naming this op when a `wrt` lies behind one, as Theano's grad_undefined).
 * Bad values (negative size, p outside [0, 1], low >= high, too many items without replacement)
 * raise InputError naming the argument: at graph-building time when the value is a constant,
 * at call time otherwise. A parameter whose shape does not broadcast to the size: ShapeError.
 */

import { InputError, ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, GradUndefined, Op, type Value, type Variable } from "../graph/basic.js";
import { broadcastShapes } from "../ndarray/broadcast.js";
import { type DType, checkDType, isBigIntDType, isFloat, isInteger, promoteTypes, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, shapeSize } from "../ndarray/ndarray.js";
import { ElementStream } from "../ndarray/philox.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import { stack } from "./join.js";
import { cast } from "./math.js";
import { shape } from "./shape.js";
import { TensorType } from "./type.js";
import { TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

export type Distribution = "uniform" | "normal" | "truncatedNormal" | "binomial" | "integers" | "choice" | "permutation" | "multinomial";

/** The parameter names of each distribution, in input order (messages name them). */
const PARAMS: Record<Distribution, readonly string[]> = {
  uniform: ["low", "high"],
  normal: ["avg", "std"],
  truncatedNormal: ["avg", "std"],
  binomial: ["n", "p"],
  integers: ["low", "high"],
  choice: ["a", "p"],
  permutation: ["n"],
  multinomial: ["n", "pvals"],
};

/** The type of a generator state: [k0, k1, counter low word, counter high word]. */
export const RNG_STATE_TYPE = new TensorType("uint32", [4]);

const TWO32 = 4294967296;

export class RandomVariable extends Op {
  constructor(
    readonly dist: Distribution = "uniform",
    readonly dtype: DType = "float64",
    /** The length of the size vector, or null when the shape comes from the parameters. */
    readonly sizeNdim: number | null = null,
    /** choice only: draw with replacement. */
    readonly replace: boolean = true,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { dist: this.dist, dtype: this.dtype, sizeNdim: this.sizeNdim, ...(this.dist === "choice" ? { replace: this.replace } : {}) };
  }

  makeNode(state: Variable, size: Variable, ...params: Variable[]): Apply {
    if (!RNG_STATE_TYPE.equals(state.type as TensorType)) throw new TypeMismatchError(`${this}: the generator state must be ${RNG_STATE_TYPE}, got ${state.label}: ${state.type}`);
    const ts = tensorType(size);
    if (ts.ndim !== 1 || ts.dtype !== "int64") throw new TypeMismatchError(`${this}: size must be an int64 vector, got ${size.label}: ${ts}`);
    const names = PARAMS[this.dist];
    const optional = this.dist === "choice" ? 1 : 0;
    if (params.length > names.length || params.length < names.length - optional) throw new TypeMismatchError(`${this} takes parameters (${names.join(", ")}), got ${params.length}`);
    const pt = params.map((p) => tensorType(p));
    return new Apply(this, [state, size, ...params], [RNG_STATE_TYPE, new TensorType(this.dtype, this.staticShape(size, pt))]);
  }

  /** The draw's static shape: the size's constant entries, else what the parameters say. */
  private staticShape(size: Variable, pt: TensorType[]): Array<number | null> {
    const sizeDims = (): Array<number | null> => {
      const c = constantValue(size);
      return c ? [...c.toFlat()].map(Number) : new Array<number | null>(this.sizeNdim!).fill(null);
    };
    switch (this.dist) {
      case "permutation":
        return [null];
      case "choice":
        return this.sizeNdim === null ? [] : sizeDims();
      case "multinomial": {
        const k = pt[1]!.shape[pt[1]!.ndim - 1] ?? null;
        return [...(this.sizeNdim === null ? staticBroadcast([pt[0]!.shape, pt[1]!.shape.slice(0, -1)]) : sizeDims()), k];
      }
      default:
        return this.sizeNdim === null ? staticBroadcast(pt.map((t) => t.shape)) : sizeDims();
    }
  }

  perform(_node: Apply, [state, size, ...params]: Value[]): Value[] {
    const st = (state as NDArray).toFlat();
    const k0 = Number(st[0]);
    const k1 = Number(st[1]);
    const c = Number(st[2]) + Number(st[3]) * TWO32;
    const { value, consumed } = this.sample(size as NDArray, params as NDArray[], k0, k1, c);
    const next = c + consumed;
    if (next > Number.MAX_SAFE_INTEGER) throw new InputError(`${this}: the generator's counter passed 2^53; reseed it with srng.seed(...)`);
    const ns = new Uint32Array([k0, k1, next % TWO32, Math.floor(next / TWO32)]);
    return [new NDArray("uint32", [4], ns), value];
  }

  private sample(size: NDArray, params: NDArray[], k0: number, k1: number, c: number): { value: NDArray; consumed: number } {
    const s = new ElementStream();
    const name = PARAMS[this.dist];
    const dtype = this.dtype;
    const sizeShape = this.sizeNdim === null ? null : checkSize(this, size);
    switch (this.dist) {
      case "permutation": {
        const n = integerScalar(this, "n", params[0]!);
        const pool = new Float64Array(n);
        for (let i = 0; i < n; i++) pool[i] = i;
        for (let t = 0; t < n - 1; t++) {
          const i = n - 1 - t;
          const j = s.reset(k0, k1, c + t).below(i + 1);
          const x = pool[i]!;
          pool[i] = pool[j]!;
          pool[j] = x;
        }
        return { value: fill(dtype, [n], n, (i) => pool[i]!), consumed: n };
      }
      case "choice":
        return this.choice(s, sizeShape ?? [], params, k0, k1, c);
      case "multinomial": {
        const pv = params[1]!;
        if (pv.ndim < 1) throw new InputError(`${this}: pvals must have at least one dimension (the categories), got a scalar`);
        const K = pv.shape[pv.ndim - 1]!;
        const batch = sizeShape ?? broadcastShapes(params[0]!.shape, pv.shape.slice(0, -1));
        const nB = broadcastTo(this, name[0]!, params[0]!, batch);
        const total = shapeSize(batch);
        const pB = broadcastTo(this, name[1]!, pv, [...batch, K]);
        checkProbabilities(this, "pvals", pB, K, pv.dtype);
        const out = new Float64Array(total * K);
        for (let i = 0; i < total; i++) {
          s.reset(k0, k1, c + i);
          let left = checkCount(this, "n", nB[i]!);
          let mass = 1;
          for (let j = 0; j < K - 1 && left > 0; j++) {
            const pj = pB[i * K + j]!;
            const x = mass > 0 ? binomial(s, left, Math.min(1, Math.max(0, pj / mass))) : 0;
            out[i * K + j] = x;
            left -= x;
            mass -= pj;
          }
          out[i * K + K - 1] += left;
        }
        return { value: fill(dtype, [...batch, K], total * K, (i) => out[i]!), consumed: total };
      }
      default: {
        const shp = sizeShape ?? broadcastShapes(...params.map((p) => p.shape));
        const total = shapeSize(shp);
        const [a, b] = params.map((p, k) => broadcastTo(this, name[k]!, p, shp)) as [Float64Array, Float64Array];
        const vals = new Float64Array(total);
        this.elementwise(s, a, b, k0, k1, c, vals);
        return { value: fromValues(dtype, shp, vals), consumed: total };
      }
    }
  }

  /**
   * The elementwise distributions: element i from stream c+i, after checking the parameters.
   * One loop per distribution (no per-element closure: this is the hot path of every draw).
   */
  private elementwise(s: ElementStream, a: Float64Array, b: Float64Array, k0: number, k1: number, c: number, out: Float64Array): void {
    const n = out.length;
    switch (this.dist) {
      case "uniform":
        if (this.dtype === "float32") for (let i = 0; i < n; i++) out[i] = a[i]! + (b[i]! - a[i]!) * s.reset(k0, k1, c + i).uniform24();
        else for (let i = 0; i < n; i++) out[i] = a[i]! + (b[i]! - a[i]!) * s.reset(k0, k1, c + i).uniform53();
        return;
      case "normal":
        checkAll(this, "std", b, (v) => v >= 0, "must be non-negative");
        for (let i = 0; i < n; i++) {
          const u1 = s.reset(k0, k1, c + i).uniform53();
          out[i] = a[i]! + b[i]! * Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * s.uniform53());
        }
        return;
      case "truncatedNormal":
        checkAll(this, "std", b, (v) => v >= 0, "must be non-negative");
        for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]! * truncatedStandardNormal(s.reset(k0, k1, c + i));
        return;
      case "binomial":
        checkAll(this, "p", b, (v) => v >= 0 && v <= 1, "must lie in [0, 1]");
        checkAll(this, "n", a, (v) => Number.isInteger(v) && v >= 0, "must be a non-negative integer");
        for (let i = 0; i < n; i++) out[i] = binomial(s.reset(k0, k1, c + i), a[i]!, b[i]!);
        return;
      case "integers":
        for (let i = 0; i < n; i++) {
          if (!Number.isInteger(a[i]!) || !Number.isInteger(b[i]!)) throw new InputError(`${this}: low and high must be integers, got ${a[i]} and ${b[i]}`);
          if (a[i]! >= b[i]!) throw new InputError(`${this}: low (${a[i]}) must be below high (${b[i]}); integers draws from [low, high)`);
          if (b[i]! - a[i]! > 2 ** 53) throw new InputError(`${this}: high - low (${b[i]! - a[i]!}) is above 2^53, the widest range it draws from`);
        }
        for (let i = 0; i < n; i++) out[i] = a[i]! + s.reset(k0, k1, c + i).below(b[i]! - a[i]!);
        return;
      default:
        throw new TypeMismatchError(`${this}: not an elementwise distribution`);
    }
  }

  private choice(s: ElementStream, shp: number[], params: NDArray[], k0: number, k1: number, c: number): { value: NDArray; consumed: number } {
    const a = params[0]!;
    if (a.ndim > 1) throw new InputError(`${this}: a must be an integer (the population 0..a-1) or a vector, got an array of shape [${a.shape.join(", ")}]`);
    const n = a.ndim === 0 ? integerScalar(this, "a", a) : a.shape[0]!;
    const pop = a.ndim === 0 ? null : a.toFlat();
    const k = shapeSize(shp);
    let p: Float64Array | null = null;
    if (params[1] !== undefined) {
      p = Float64Array.from(params[1].toFlat(), Number);
      if (params[1].ndim !== 1 || p.length !== n) throw new InputError(`${this}: p must be a vector of ${n} probabilities (one per item of a), got shape [${params[1].shape.join(", ")}]`);
      checkProbabilities(this, "p", p, n, params[1].dtype);
    }
    if (k > 0 && n === 0) throw new InputError(`${this}: a is empty; there is nothing to choose from`);
    const idx = new Float64Array(k);
    if (this.replace) {
      const cdf = p ? cumulative(p) : null;
      for (let i = 0; i < k; i++) {
        s.reset(k0, k1, c + i);
        if (!cdf) {
          idx[i] = s.below(n);
          continue;
        }
        let j = searchCdf(cdf, s.uniform53() * cdf[n - 1]!);
        while (p![j]! <= 0 && j > 0) j--; // u * sum rounded up to sum: the last item of non-zero weight
        idx[i] = j;
      }
    } else if (!p) {
      if (k > n) throw new InputError(`${this}: cannot take ${k} items without replacement from a population of ${n} (a); pass { replace: true } or a smaller size`);
      const pool = new Float64Array(n);
      for (let i = 0; i < n; i++) pool[i] = i;
      for (let t = 0; t < k; t++) {
        const j = t + s.reset(k0, k1, c + t).below(n - t);
        const x = pool[t]!;
        pool[t] = pool[j]!;
        pool[j] = x;
        idx[t] = pool[t]!;
      }
    } else {
      const w = Float64Array.from(p);
      const nonzero = w.reduce((m, v) => m + (v > 0 ? 1 : 0), 0);
      if (k > nonzero) throw new InputError(`${this}: cannot take ${k} items without replacement when only ${nonzero} item(s) of a have non-zero probability (p)`);
      for (let t = 0; t < k; t++) {
        const cdf = cumulative(w);
        let j = searchCdf(cdf, s.reset(k0, k1, c + t).uniform53() * cdf[n - 1]!);
        while (w[j]! <= 0) j = (j + 1) % n; // rounding at a zero-weight boundary
        idx[t] = j;
        w[j] = 0;
      }
    }
    const value = pop ? fill(this.dtype, shp, k, (i) => Number(pop[idx[i]!]!)) : fill(this.dtype, shp, k, (i) => idx[i]!);
    return { value, consumed: k };
  }

  override inferShape(node: Apply, inputShapes: Array<Variable[] | null>): Variable[][] {
    const size = node.inputs[1] as TensorVariable;
    const own = (): Variable[] => [...Array((node.outputs[1]!.type as TensorType).ndim).keys()].map((i) => shape(node.outputs[1] as TensorVariable, i));
    let dims: Variable[];
    if (this.dist === "permutation") {
      const n = node.inputs[2] as TensorVariable;
      dims = [n.dtype === "int64" ? n : cast(n, "int64")];
    } else if (this.sizeNdim === null) dims = own();
    else {
      dims = [...Array(this.sizeNdim).keys()].map((i) => size.get(i));
      if (this.dist === "multinomial") dims.push(inputShapes[3]![inputShapes[3]!.length - 1]!);
    }
    return [inputShapes[0]!, dims];
  }

  override grad(inputs: Variable[]): GradResult[] {
    return inputs.map((_, i) => (i < 2 ? null : new GradUndefined(this, i, `${this} draws random values; they have no gradient with respect to ${PARAMS[this.dist][i - 2]}`)));
  }
}

// ---------------------------------------------------------------------------------------------
// Samplers shared by several distributions

/** Standard normal truncated to [-2, 2]: Box-Muller pairs, first of (cos, sin) inside. */
function truncatedStandardNormal(s: ElementStream): number {
  for (;;) {
    const r = Math.sqrt(-2 * Math.log(1 - s.uniform53()));
    const t = 2 * Math.PI * s.uniform53();
    const z1 = r * Math.cos(t);
    if (Math.abs(z1) <= 2) return z1;
    const z2 = r * Math.sin(t);
    if (Math.abs(z2) <= 2) return z2;
  }
}

/** Binomial(n, p) by inversion, in chunks small enough that (1-q)^m stays a normal double. */
function binomial(s: ElementStream, n: number, p: number): number {
  const q = Math.min(p, 1 - p);
  if (q <= 0 || n === 0) return p > 0.5 ? n : 0;
  const chunk = Math.max(1, Math.floor(300 / q));
  const ratio = q / (1 - q);
  let count = 0;
  for (let left = n; left > 0; ) {
    const m = Math.min(left, chunk);
    left -= m;
    const u = s.uniform53();
    let pmf = Math.pow(1 - q, m);
    let cdf = pmf;
    let x = 0;
    while (u >= cdf && x < m) {
      pmf *= ((m - x) / (x + 1)) * ratio;
      x++;
      cdf += pmf;
    }
    count += x;
  }
  return p > 0.5 ? n - count : count;
}

function cumulative(p: Float64Array): Float64Array {
  const cdf = new Float64Array(p.length);
  let acc = 0;
  for (let i = 0; i < p.length; i++) cdf[i] = acc += p[i]!;
  return cdf;
}

/** The first index whose running sum exceeds `u` (binary search). */
function searchCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Value checks and layout

function checkSize(op: Op, size: NDArray): number[] {
  return [...size.toFlat()].map((d) => {
    const v = Number(d);
    if (!(v >= 0)) throw new InputError(`${op}: size must hold non-negative integers, got [${[...size.toFlat()].join(", ")}]`);
    return v;
  });
}

function integerScalar(op: Op, what: string, a: NDArray): number {
  if (a.ndim !== 0) throw new InputError(`${op}: ${what} must be a scalar, got shape [${a.shape.join(", ")}]`);
  return checkCount(op, what, Number(a.getBig()));
}

function checkCount(op: Op, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new InputError(`${op}: ${what} must be a non-negative integer, got ${v}`);
  return v;
}

function checkAll(op: Op, what: string, v: Float64Array, ok: (x: number) => boolean, rule: string): void {
  for (let i = 0; i < v.length; i++) if (!ok(v[i]!)) throw new InputError(`${op}: ${what} ${rule}, got ${v[i]}`);
}

/**
 * Rows of K probabilities: each in [0, 1], each row summing to 1 within NumPy's tolerance,
 * max(sqrt(eps of float64), sqrt(eps of p's dtype)): a float32 softmax sums to 1 only within
 * ~1e-7, and NumPy's `choice` accepts it.
 */
function checkProbabilities(op: Op, what: string, p: Float64Array, K: number, dtype: DType): void {
  checkAll(op, what, p, (x) => x >= 0 && x <= 1, "must lie in [0, 1]");
  const tol = dtype === "float32" ? Math.sqrt(2 ** -23) : 1.5e-8;
  for (let r = 0; r < p.length; r += K) {
    let sum = 0;
    for (let j = 0; j < K; j++) sum += p[r + j]!;
    if (K > 0 && Math.abs(sum - 1) > tol) throw new InputError(`${op}: ${what} must sum to 1, got a sum of ${sum}`);
  }
}

/** `a`'s values broadcast to `shp`, in C order, as doubles. */
function broadcastTo(op: Op, what: string, a: NDArray, shp: readonly number[]): Float64Array {
  const pad = shp.length - a.ndim;
  if (pad < 0 || a.shape.some((d, i) => d !== 1 && d !== shp[pad + i])) {
    throw new ShapeError(`${op}: ${what} of shape [${a.shape.join(", ")}] does not broadcast to the draw's shape [${shp.join(", ")}]`);
  }
  const total = shapeSize(shp);
  const out = new Float64Array(total);
  const src = a.data as ArrayLike<number | bigint>;
  if (a.size === 1) return out.fill(Number(src[a.offset]!));
  // An odometer over the draw's shape (stride 0 on broadcast axes): NDArray.toFlat's generic
  // path costs ~0.7 us an element, this a few ns.
  const strides = shp.map((_, i) => (i < pad || a.shape[i - pad] === 1 ? 0 : a.strides[i - pad]!));
  const nd = shp.length;
  const idx = new Array<number>(nd).fill(0);
  let off = a.offset;
  for (let i = 0; i < total; i++) {
    out[i] = Number(src[off]!);
    for (let d = nd - 1; d >= 0; d--) {
      off += strides[d]!;
      if (++idx[d]! < shp[d]!) break;
      off -= strides[d]! * shp[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** An NDArray of `dtype` holding `vals` (one rounding to the dtype, as typed-array stores do). */
function fromValues(dtype: DType, shp: readonly number[], vals: Float64Array): NDArray {
  if (dtype === "float64") return new NDArray(dtype, shp, vals);
  if (isBigIntDType(dtype)) return fill(dtype, shp, vals.length, (i) => vals[i]!);
  const out = new (typedArrayCtor(dtype))(vals.length) as Float64Array;
  if (dtype === "bool") for (let i = 0; i < vals.length; i++) out[i] = vals[i]! ? 1 : 0;
  else out.set(vals);
  return new NDArray(dtype, shp, out);
}

function fill(dtype: DType, shp: readonly number[], n: number, at: (i: number) => number): NDArray {
  const out = new (typedArrayCtor(dtype))(n);
  if (isBigIntDType(dtype)) for (let i = 0; i < n; i++) (out as BigInt64Array)[i] = BigInt(at(i));
  else for (let i = 0; i < n; i++) (out as Float64Array)[i] = at(i);
  return new NDArray(dtype, shp, out);
}

/** Static broadcast of static shapes: a known non-1 extent wins, all-1 stays 1, else unknown. */
function staticBroadcast(shapes: ReadonlyArray<ReadonlyArray<number | null>>): Array<number | null> {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  return [...Array(nd).keys()].map((i) => {
    const ds = shapes.map((s) => s[i - (nd - s.length)] ?? 1);
    const known = ds.find((d) => d !== null && d !== 1);
    return known !== undefined ? known : ds.every((d) => d === 1) ? 1 : null;
  });
}

// ---------------------------------------------------------------------------------------------
// Building nodes (RandomStreams' methods call this)

export type SizeLike = number | ReadonlyArray<number | TensorVariable> | TensorVariable | null | undefined;

/** The size argument as [an int64 vector, its length or null]; constant entries are checked now. */
export function sizeArgument(op: string, size: SizeLike): [TensorVariable, number | null] {
  if (size === null || size === undefined) return [constant(new NDArray("int64", [0], new BigInt64Array(0))), null];
  if (typeof size === "number") size = [size];
  if (Array.isArray(size)) {
    const entries = size as ReadonlyArray<number | TensorVariable>;
    for (const d of entries) {
      if (typeof d === "number" && !(Number.isInteger(d) && d >= 0)) throw new InputError(`${op}: size must hold non-negative integers, got [${entries.join(", ")}]`);
      if (typeof d !== "number" && !(d instanceof TensorVariable && d.ndim === 0 && isInteger(d.dtype))) throw new TypeMismatchError(`${op}: each entry of size must be a number or an integer scalar, got ${String(d)}`);
    }
    if (entries.every((d) => typeof d === "number")) return [constant(new NDArray("int64", [entries.length], BigInt64Array.from(entries as number[], BigInt))), entries.length];
    return [stack(entries.map((d) => (typeof d === "number" ? constant(d, { dtype: "int64" }) : cast(d, "int64")))), entries.length];
  }
  if (!(size instanceof TensorVariable) || size.ndim !== 1 || !isInteger(size.dtype)) throw new TypeMismatchError(`${op}: size must be a number, an array of numbers or an integer vector, got ${String(size)}`);
  const n = size.type.shape[0];
  if (n === null || n === undefined) throw new TypeMismatchError(`${op}: the size vector ${size.label} has no static length; give it one (T.tensor({ dtype: "int64", shape: [k] })) or pass an array of scalars`);
  const c = constantValue(size);
  if (c) sizeArgument(op, [...c.toFlat()].map(Number));
  return [size.dtype === "int64" ? size : cast(size, "int64"), n];
}

/** The float dtype of uniform/normal draws: `dtype`, else floatX upcast with symbolic parameters' dtypes (Theano's rule). */
export function floatDrawDtype(op: string, dtype: DType | undefined, params: unknown[]): DType {
  if (dtype !== undefined) {
    const d = checkDType(dtype);
    if (!isFloat(d)) throw new TypeMismatchError(`${op}: dtype must be a float dtype, got ${d}`);
    return d;
  }
  let d: DType = currentFloatX();
  for (const p of params) if (p instanceof TensorVariable) d = promoteTypes(d, p.dtype);
  if (!isFloat(d)) d = "float64";
  return d;
}

/**
 * A parameter as a tensor (JS numbers and arrays become constants of `dtype`), with constant
 * values checked now by `check` (the same rule perform enforces at run time).
 */
export function paramArgument(x: unknown, dtype: DType, check?: (v: number) => string | null, op = "", what = ""): TensorVariable {
  const plain = typeof x === "number" || Array.isArray(x);
  if (plain && isInteger(dtype) && (Array.isArray(x) ? x.flat(Infinity) : [x]).some((v) => !Number.isInteger(v))) {
    throw new InputError(`${op}: ${what} must be an integer, got ${JSON.stringify(x)}`);
  }
  const t = x instanceof TensorVariable ? x : asTensorVariable(x, plain ? dtype : undefined);
  const c = constantValue(t);
  if (c && check) {
    for (const v of c.toFlat()) {
      const why = check(Number(v));
      if (why) throw new InputError(`${op}: ${what} ${why}, got ${Number(v)}`);
    }
  }
  return t;
}
