/**
 * A seeded random-graph generator for differential testing of the backends (test/link/fuzz.test.ts).
 *
 * Each generated graph is a small DAG over fresh inputs of random dtypes and ranks (0-d
 * included). Every axis of every value carries a *dimension label*: input axes get a label
 * from a small pool (whose size is drawn at call time: 0, 1 or a few), or the static size 1
 * (a broadcastable axis); axes made by slicing, joining or reshaping get a fresh label that no
 * input shares. Binary operations only pair values whose labels agree axis by axis (or where
 * one is a static 1), so every graph is valid for every assignment of sizes to the labels, and
 * one compiled function can be called with many shapes (empty, size-1, larger) without a new
 * compile. The idea is Csmith's and QuickCheck's: generate only well-formed programs, compare
 * implementations, and keep the seed that shows a difference.
 */

import { expect } from "vitest";
import * as theano from "../../src/index.js";
import { TheanoError } from "../../src/errors.js";
import { ancestors } from "../../src/graph/basic.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";
import { expectClose } from "../helpers.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { NDArray } from "../../src/ndarray/ndarray.js";

const { T } = theano;
type TV = theano.TensorVariable;

/** mulberry32: a tiny seeded PRNG (deterministic across runs and platforms). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<E>(xs: readonly E[]): E {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<E>(xs: readonly E[]): E[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

/** A dimension: a label (size drawn per call; `u…` labels are derived and never drawn) or a static 1. */
export type Dim = string | 1;

export interface GNode {
  readonly v: TV;
  readonly dims: readonly Dim[];
  readonly desc: string;
}

export interface GenGraph {
  readonly seed: number;
  readonly inputs: GNode[];
  readonly outputs: GNode[];
  /** One line per operation, for reproducing a failure by hand. */
  readonly log: string[];
  /** Operation kinds used (coverage). */
  readonly kinds: Set<string>;
}

export const INPUT_LABELS = ["a", "b", "c"] as const;
export const DTYPES: readonly DType[] = ["float32", "float64", "int32", "int64", "bool"];
/**
 * Drawn for inputs and casts: the main five, twice as often as the narrow and unsigned ones.
 * Not uint64: perform computes in doubles, so neg/not/or of values near 2^64 lose their low
 * bits (neg(uint64 1) is 0, not 2^64 - 1), while C computes them exactly as NumPy does; the
 * int64 overflow cases of pow are as inexact in perform (see the report of this file).
 */
const DRAW_DTYPES: readonly DType[] = [...DTYPES, ...DTYPES, "int8", "uint8", "int16", "uint32"];

const UNARY = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "softplus", "expm1", "log1p", "abs", "neg", "sqr", "sign", "floor", "ceil", "trunc", "inv", "erf", "arctan", "isnan", "isinf", "not", "exp2", "log2", "cosh", "arcsinh"] as const;
const BINARY = ["add", "sub", "mul", "trueDiv", "intDiv", "mod", "pow", "minimum", "maximum", "arctan2", "eq", "neq", "lt", "le", "gt", "ge", "and", "or", "xor"] as const;
const REDUCE = ["sum", "prod", "max", "min", "mean", "all", "any"] as const;

type Fn = (...args: unknown[]) => TV;
const fnOf = (name: string): Fn => (T as unknown as Record<string, Fn>)[name]!;

/** Generates one graph from `seed`. */
export function generateGraph(seed: number, steps = 6): GenGraph {
  const rng = new Rng(seed);
  const nodes: GNode[] = [];
  const inputs: GNode[] = [];
  const log: string[] = [];
  const kinds = new Set<string>();
  let fresh = 0;
  const freshLabel = (): string => `u${fresh++}`;

  /** Labels from the static type: a static 1 wins, a computed 1 the type does not know becomes fresh. */
  const settle = (v: TV, dims: readonly Dim[]): Dim[] =>
    dims.map((d, i) => {
      const s = v.type.shape[i];
      if (s === 1) return 1;
      if (d === 1 || typeof s === "number") return freshLabel();
      return d;
    });

  const newInput = (dims: readonly Dim[], dtype: DType = rng.pick(DRAW_DTYPES)): GNode => {
    const name = `in${inputs.length}`;
    const v = T.tensor({ dtype, shape: dims.map((d) => (d === 1 ? 1 : null)), name });
    const n = { v, dims: [...dims], desc: `${name}:${dtype}[${dims.join(",")}]` };
    inputs.push(n);
    nodes.push(n);
    return n;
  };
  const randomDims = (rank: number): Dim[] => Array.from({ length: rank }, () => (rng.chance(0.2) ? 1 : rng.pick(INPUT_LABELS)));
  /** A fresh input broadcast-compatible with `dims`: each drawn label kept or made 1, leading axes maybe dropped. */
  const partnerFor = (dims: readonly Dim[]): GNode => {
    const drop = dims.length > 0 && rng.chance(0.25) ? rng.int(1, dims.length) : 0;
    return newInput(dims.slice(drop).map((d) => (typeof d === "string" && !d.startsWith("u") && rng.chance(0.8) ? d : 1)));
  };
  const compatible = (x: readonly Dim[], y: readonly Dim[]): boolean => {
    const n = Math.min(x.length, y.length);
    for (let k = 1; k <= n; k++) {
      const a = x[x.length - k]!;
      const b = y[y.length - k]!;
      if (a !== b && a !== 1 && b !== 1) return false;
    }
    return true;
  };
  const broadcastDims = (...ds: Array<readonly Dim[]>): Dim[] => {
    const n = Math.max(...ds.map((d) => d.length));
    const out: Dim[] = [];
    for (let k = n; k >= 1; k--) {
      let r: Dim = 1;
      for (const d of ds) {
        const e = d[d.length - k];
        if (e !== undefined && e !== 1) r = e;
      }
      out.push(r);
    }
    return out;
  };
  const partner = (a: GNode): GNode => {
    const candidates = nodes.filter((n) => n !== a && compatible(n.dims, a.dims) && n.dims.length <= a.dims.length);
    return candidates.length > 0 && rng.chance(0.5) ? rng.pick(candidates) : partnerFor(a.dims);
  };
  const push = (kind: string, v: TV, dims: readonly Dim[], what: string): void => {
    const n = { v, dims: settle(v, dims), desc: `n${nodes.length}=${what}` };
    kinds.add(kind);
    log.push(`${n.desc} -> ${v.dtype}[${n.dims.join(",")}]`);
    nodes.push(n);
  };
  const nm = (n: GNode): string => n.desc.split(/[=:]/)[0]!;

  const nIn = rng.int(1, 2);
  for (let k = 0; k < nIn; k++) newInput(randomDims(rng.int(0, 3)));
  for (const i of inputs) log.push(i.desc);

  for (let step = 0; step < steps; step++) {
    // Recent values are likelier operands: deeper graphs.
    const a = nodes[Math.max(0, nodes.length - 1 - Math.floor(rng.next() * rng.next() * nodes.length))]!;
    const nd = a.dims.length;
    const kind = rng.pick(["unary", "unary", "binary", "binary", "binary", "where", "clip", "cast", "reduce", "reduce", "argmax", "dimshuffle", "transpose", "dot", "gemm", "softmax", "reshape", "slice", "slice", "index", "join", "logsumexp"]);
    try {
      switch (kind) {
        case "unary": {
          const op = rng.pick(UNARY);
          push(`unary:${op}`, fnOf(op)(a.v), a.dims, `${op}(${nm(a)})`);
          break;
        }
        case "binary": {
          const op = rng.pick(BINARY);
          if (rng.chance(0.15)) {
            // No x * 0: Theano's rewrites make it 0 even where x is NaN or infinite (perform
            // gives NaN), a documented difference between rewritten and unrewritten graphs.
            const c = rng.pick(op === "mul" ? [1, 2, -1, 0.5, 3] : [0, 1, 2, -1, 0.5, 3]);
            push(`binary:${op}`, fnOf(op)(a.v, c), a.dims, `${op}(${nm(a)}, ${c})`);
          } else {
            const b = partner(a);
            const [x, y] = rng.chance(0.5) ? [a, b] : [b, a];
            push(`binary:${op}`, fnOf(op)(x.v, y.v), broadcastDims(x.dims, y.dims), `${op}(${nm(x)}, ${nm(y)})`);
          }
          break;
        }
        case "where": {
          const b = partner(a);
          const c = partnerFor(a.dims);
          push("where", T.where(c.v, a.v, b.v), broadcastDims(c.dims, a.dims, b.dims), `where(${nm(c)}, ${nm(a)}, ${nm(b)})`);
          break;
        }
        case "clip":
          push("clip", T.clip(a.v, -1, 2), a.dims, `clip(${nm(a)}, -1, 2)`);
          break;
        case "cast": {
          const d = rng.pick(DRAW_DTYPES);
          push(`cast:${d}`, T.cast(a.v, d), a.dims, `cast(${nm(a)}, ${d})`);
          break;
        }
        case "reduce": {
          const op = rng.pick(REDUCE);
          const keepdims = rng.chance(0.4);
          const axes = nd === 0 || rng.chance(0.2) ? null : rng.shuffle([...a.dims.keys()]).slice(0, rng.int(1, nd));
          const v = (fnOf(op) as (x: TV, ax: number[] | null, o: { keepdims: boolean }) => TV)(a.v, axes, { keepdims });
          const all = axes ?? [...a.dims.keys()];
          const dims = keepdims ? a.dims.map((d, i) => (all.includes(i) ? 1 : d)) : a.dims.filter((_d, i) => !all.includes(i));
          push(`reduce:${op}`, v, dims, `${op}(${nm(a)}, axis=${JSON.stringify(axes)}, keepdims=${keepdims})`);
          break;
        }
        case "argmax": {
          const axis = nd === 0 || rng.chance(0.3) ? null : rng.int(0, nd - 1);
          const dims = axis === null ? [] : a.dims.filter((_d, i) => i !== axis);
          push("argmax", T.argmax(a.v, axis), dims, `argmax(${nm(a)}, ${axis})`);
          break;
        }
        case "logsumexp": {
          if (nd === 0) break;
          const axis = rng.int(0, nd - 1);
          push("logsumexp", T.logsumexp(a.v, axis), a.dims.filter((_d, i) => i !== axis), `logsumexp(${nm(a)}, ${axis})`);
          break;
        }
        case "dimshuffle": {
          // Keep the non-broadcastable axes in a random order, drop some static-1 axes, insert 'x's.
          const keep = rng.shuffle([...a.dims.keys()].filter((i) => a.dims[i] !== 1 || rng.chance(0.5)));
          const pattern: Array<number | "x"> = [...keep];
          const nx = rng.int(0, 2);
          for (let k = 0; k < nx; k++) pattern.splice(rng.int(0, pattern.length), 0, "x");
          const dims = pattern.map((p) => (p === "x" ? 1 : a.dims[p]!));
          push("dimshuffle", a.v.dimshuffle(...pattern), dims, `dimshuffle(${nm(a)}, ${JSON.stringify(pattern)})`);
          break;
        }
        case "transpose":
          push("transpose", a.v.T, [...a.dims].reverse(), `transpose(${nm(a)})`);
          break;
        case "dot": {
          if (nd === 0 || nd > 2 || a.v.dtype === "bool") break;
          const k = a.dims[nd - 1]!;
          const kk: Dim = typeof k === "string" && !k.startsWith("u") ? k : 1;
          if (kk === 1 && k !== 1) break;
          const bd: Dim[] = rng.chance(0.3) ? [kk] : [kk, rng.chance(0.2) ? 1 : rng.pick(INPUT_LABELS)];
          const b = newInput(bd, rng.pick(["float32", "float64", a.v.dtype]));
          const first = rng.chance(0.3) && nd === 2 ? "matmul" : "dot";
          push(first, first === "dot" ? T.dot(a.v, b.v) : T.matmul(a.v, b.v), [...a.dims.slice(0, nd - 1), ...bd.slice(1)], `${first}(${nm(a)}, ${nm(b)})`);
          break;
        }
        case "gemm": {
          // z ± alpha·dot(a, b) (+ beta·z): the shapes the Gemm rewrites (and in-place Gemm) take.
          const a2 = nd === 2 && a.v.dtype.startsWith("float") ? a : newInput([rng.pick(INPUT_LABELS), rng.pick(INPUT_LABELS)], rng.pick(["float32", "float64"]));
          const k = a2.dims[1]!;
          if (typeof k === "string" && k.startsWith("u")) break;
          const n: Dim = rng.chance(0.2) ? 1 : rng.pick(INPUT_LABELS);
          const b = newInput([k, n], a2.v.dtype);
          const zd: Dim[] = [a2.dims[0]!, n].map((d) => (typeof d === "string" && d.startsWith("u") ? 1 : d));
          const z = newInput(zd.map((d) => (rng.chance(0.2) ? 1 : d)), a2.v.dtype);
          const alpha = rng.pick([1, -1, 0.5, -0.25]);
          const d = T.dot(a2.v, b.v).mul(alpha);
          // An intermediate z (not a graph input) lets the in-place Gemm overwrite it.
          const zv = rng.chance(0.5) ? z.v.exp() : z.v;
          const v = rng.chance(0.5) ? zv.add(d) : zv.mul(rng.pick([1, 2, -1])).sub(d);
          push("gemm", v, broadcastDims([a2.dims[0]!, n], z.dims), `${nm(z)} ± ${alpha}·dot(${nm(a2)}, ${nm(b)})`);
          break;
        }
        case "softmax": {
          if (nd === 0) break;
          const axis = rng.int(-1, nd - 1);
          const op = rng.pick(["softmax", "logSoftmax"]);
          push(op, fnOf(op)(a.v, axis), a.dims, `${op}(${nm(a)}, ${axis})`);
          break;
        }
        case "reshape": {
          const shp = rng.pick([[-1], [1, -1], [-1, 1]]);
          push("reshape", a.v.reshape(shp), shp.map((s) => (s === 1 ? 1 : freshLabel())), `reshape(${nm(a)}, ${JSON.stringify(shp)})`);
          break;
        }
        case "slice": {
          if (nd === 0) break;
          const ax = rng.int(0, nd - 1);
          const bound = (): string => (rng.chance(0.4) ? "" : String(rng.int(-3, 3)));
          const step = rng.pick(["", "1", "2", "-1", "-2", "3"]);
          const s = `${bound()}:${bound()}${step ? `:${step}` : ""}`;
          const idx = a.dims.map((_d, i) => (i === ax ? s : ":"));
          push("slice", a.v.get(...idx), a.dims.map((d, i) => (i === ax ? freshLabel() : d)), `${nm(a)}[${idx.join(",")}]`);
          break;
        }
        case "index": {
          if (nd === 0) break;
          const ax = rng.int(0, nd - 1);
          const i = rng.pick([0, -1, 1]);
          const idx = a.dims.map((_d, k) => (k === ax ? i : ":"));
          push("index", a.v.get(...idx), a.dims.filter((_d, k) => k !== ax), `${nm(a)}[${idx.join(",")}]`);
          break;
        }
        case "join": {
          if (nd === 0) break;
          const ax = rng.int(0, nd - 1);
          const b = rng.chance(0.3) ? a : newInput(a.dims.map((d, i) => (i === ax ? rng.pick(INPUT_LABELS) : typeof d === "string" && d.startsWith("u") ? 1 : d)), a.v.dtype);
          // A derived label elsewhere would need a size; only join when the other axes agree.
          if (!a.dims.every((d, i) => i === ax || d === b.dims[i])) break;
          push("join", T.concatenate([a.v, b.v], ax), a.dims.map((d, i) => (i === ax ? freshLabel() : d)), `concatenate([${nm(a)}, ${nm(b)}], ${ax})`);
          break;
        }
      }
    } catch (e) {
      // Graph-building type errors (e.g. `and` of floats) just skip the step.
      if (!(e instanceof TheanoError)) throw e;
    }
  }
  const computed = nodes.filter((n) => n.v.owner !== null);
  const outputs: GNode[] = [computed.length > 0 ? computed[computed.length - 1]! : nodes[nodes.length - 1]!];
  for (const n of rng.shuffle(computed).slice(0, rng.int(0, 2))) if (!outputs.includes(n)) outputs.push(n);
  log.push(`outputs: ${outputs.map(nm).join(", ")}`);
  return { seed, inputs, outputs, log, kinds };
}

// ---------------------------------------------------------------------------------------------
// Values

/**
 * Float edge values. 1e15, not 1e30: perform accumulates a float32 dot in double, where
 * 1e30 * 1e30 is finite, while C (like NumPy's sgemm) overflows it to inf in float32, and
 * inf + -inf is NaN: a difference of accumulator precision, not a bug.
 */
const F_SPECIAL = [NaN, Infinity, -Infinity, -0, 0, 1e15, -1e-30];
const I32_SPECIAL = [2147483647, -2147483648, 0, -1, 65536];
const I64_SPECIAL = [2 ** 40, -(2 ** 53), 0, -1, 2 ** 31];

/** A random value of `dtype`: mostly small and ordinary, sometimes an edge value. */
function scalarValue(rng: Rng, dtype: DType, specials: boolean): number | boolean {
  if (dtype === "bool") return rng.chance(0.5);
  if (dtype.startsWith("float")) {
    if (specials && rng.chance(0.05)) return rng.pick(F_SPECIAL);
    return Math.round((rng.next() * 6 - 3) * 64) / 64;
  }
  if (specials && rng.chance(0.05)) return rng.pick(dtype === "int64" || dtype === "uint64" ? I64_SPECIAL : I32_SPECIAL);
  // Unsigned values are small and non-negative, with the wrapped negatives as edge values.
  return dtype.startsWith("u") && !specials ? rng.int(0, 9) : rng.int(-5, 5);
}

/** Row-major NDArray of `shape` and `dtype` filled from `rng`. */
export function randomArray(rng: Rng, shape: readonly number[], dtype: DType, specials: boolean): NDArray {
  const n = shape.reduce((p, d) => p * d, 1);
  const c = theano.zeros([n], dtype);
  const data = c.data as unknown as Array<number | bigint | boolean>;
  for (let i = 0; i < n; i++) {
    const x = scalarValue(rng, dtype, specials);
    data[i] = dtype === "int64" || dtype === "uint64" ? BigInt(x as number) : dtype === "bool" ? (x ? 1 : 0) : (x as number);
  }
  return c.reshape([...shape]);
}

export type Layout = "contiguous" | "transposed" | "strided" | "reversed" | "offset" | "subarray";

/**
 * The same values as `c` (contiguous) in another memory layout: a transposed view of a permuted
 * buffer, every second element of a longer axis, a negative-step view, a view at an offset, or
 * a TypedArray that is a subarray of a larger buffer.
 */
export function relayout(rng: Rng, c: NDArray, layout: Layout): NDArray {
  const nd = c.ndim;
  if (layout === "subarray") {
    // Contiguous, but its TypedArray starts inside a larger buffer (byteOffset > 0).
    const base = theano.zeros([c.size + 5], c.dtype);
    const view = new NDArray(c.dtype, c.shape, base.data.subarray(3, 3 + c.size));
    copyInto(view, c);
    return view;
  }
  if (nd === 0 || layout === "contiguous") return c.copy();
  let view: NDArray;
  if (layout === "transposed") {
    const perm = rng.shuffle([...Array(nd).keys()]);
    const inv = perm.map((_p, j) => perm.indexOf(j));
    const base = theano.zeros(perm.map((p) => c.shape[p]!), c.dtype);
    view = base.transpose(...inv);
  } else {
    const ax = rng.int(0, nd - 1);
    const shape = [...c.shape];
    const spec: Array<readonly [number | null, number | null, number | null]> = shape.map(() => [null, null, null] as const);
    if (layout === "strided") {
      shape[ax] = shape[ax]! * 2 + 1;
      spec[ax] = [1, null, 2];
    } else if (layout === "reversed") {
      spec[ax] = [null, null, -1];
    } else {
      shape[ax] = shape[ax]! + 2;
      spec[ax] = [1, shape[ax]! - 1, null];
    }
    view = theano.zeros(shape, c.dtype).slice(...spec);
  }
  copyInto(view, c);
  return view;
}

/** Writes the values of contiguous `src` into the (possibly strided) view `dst`. */
function copyInto(dst: NDArray, src: NDArray): void {
  const flat = src.toFlat() as unknown as ArrayLike<number | bigint>;
  const data = dst.data as unknown as Array<number | bigint>;
  const nd = dst.ndim;
  const idx = new Array<number>(nd).fill(0);
  for (let i = 0; i < flat.length; i++) {
    let off = dst.offset;
    for (let d = 0; d < nd; d++) off += idx[d]! * dst.strides[d]!;
    data[off] = flat[i]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < dst.shape[d]!) break;
      idx[d] = 0;
    }
  }
}

/** Exact equality of values (NaN equal to NaN, -0 distinct from 0), for "never modified" checks. */
export function sameBits(a: NDArray, b: NDArray): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  const x = a.toFlat();
  const y = b.toFlat();
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Running a graph under every linker

const REF = new theano.Mode("py", "None");
/** Whether this machine builds C modules; without a compiler the random graphs run on js and py only. */
export const HAS_C = cCompilerStatus().ok;
const LINKERS: Partial<Record<Name, theano.Mode>> = { ...(HAS_C ? { c: new theano.Mode("c") } : {}), wasm: new theano.Mode("wasm"), js: new theano.Mode("js"), py: new theano.Mode("py") };
type Name = "c" | "wasm" | "js" | "py";

type Outcome = { ok: true; values: NDArray[] } | { ok: false; error: unknown };

const call = (f: (...a: unknown[]) => unknown, args: NDArray[]): Outcome => {
  try {
    const r = f(...args);
    return { ok: true, values: Array.isArray(r) ? (r as NDArray[]) : [r as NDArray] };
  } catch (error) {
    return { ok: false, error };
  }
};

const errName = (e: unknown): string => (e instanceof Error ? `${e.constructor.name}: ${e.message.split("\n")[0]}` : String(e));

/** Float32 values pass through transcendental functions of two libms: a few ulp apart, compounded by depth. */
export const TOL = { float32: { rtol: 2e-5, atol: 1e-6 }, float64: { rtol: 1e-12, atol: 1e-13 } } as const;

export interface Stats {
  graphs: number;
  calls: number;
  refErrors: number;
  kinds: Set<string>;
}

/**
 * Compiles one generated graph under every linker and compares them with the reference on
 * `nShapes` random size assignments (plus a repeat of the first, to exercise the C backend's
 * output-size cache). Returns the list of disagreements (empty when all agree).
 */
export function runGraph(g: GenGraph, nShapes: number, stats: Stats): string[] {
  const rng = new Rng(g.seed * 7919 + 1);
  const ins = g.inputs.map((n) => n.v);
  const outs = g.outputs.map((n) => n.v);
  const opts = { onUnusedInput: "ignore" as const };
  const ref = theano.function(ins, outs, { ...opts, mode: REF }) as unknown as (...a: unknown[]) => unknown;
  const fns = Object.fromEntries(Object.entries(LINKERS).map(([k, mode]) => [k, theano.function(ins, outs, { ...opts, mode }) as unknown as (...a: unknown[]) => unknown])) as Record<Name, (...a: unknown[]) => unknown>;
  const problems: string[] = [];
  const hasF32 = ancestors(outs).some((v) => (v.type as { dtype?: string }).dtype === "float32");
  const sizesList: Array<Record<string, number>> = [];
  for (let s = 0; s < nShapes; s++) sizesList.push(Object.fromEntries(INPUT_LABELS.map((l) => [l, rng.chance(0.1) ? rng.pick([7, 16, 17, 33]) : rng.pick([0, 1, 1, 2, 3, 3, 4, 5])])));
  sizesList.push(sizesList[0]!);
  for (const sizes of sizesList) {
    const specials = rng.chance(0.5);
    const contiguous = g.inputs.map((n) => randomArray(rng, n.dims.map((d) => (d === 1 ? 1 : sizes[d]!)), n.v.dtype, specials));
    const layouts = g.inputs.map(() => rng.pick<Layout>(["contiguous", "contiguous", "transposed", "strided", "reversed", "offset", "subarray"]));
    const args = contiguous.map((c, i) => relayout(rng, c, layouts[i]!));
    const keep = args.map((a) => a.copy());
    const expected = call(ref, args);
    stats.calls++;
    if (!expected.ok) stats.refErrors++;
    const where = `seed ${g.seed}, sizes ${JSON.stringify(sizes)}, layouts ${layouts.join("/")}`;
    for (const name of Object.keys(LINKERS) as Name[]) {
      const got = call(fns[name], args);
      stats.calls++;
      if (!expected.ok) {
        if (got.ok) problems.push(`${name}: ${where}: reference raised ${errName(expected.error)} but ${name} returned`);
        else if (!(got.error instanceof TheanoError) || got.error.constructor !== (expected.error as Error).constructor) problems.push(`${name}: ${where}: reference raised ${errName(expected.error)}, ${name} raised ${errName(got.error)}`);
        continue;
      }
      if (!got.ok) {
        problems.push(`${name}: ${where}: raised ${errName(got.error)}`);
        continue;
      }
      got.values.forEach((v, k) => {
        const e = expected.values[k]!;
        try {
          expect(v.dtype).toBe(e.dtype);
          // A float32 intermediate bounds the precision of a float64 result computed from it.
          const dt = v.dtype === "float64" && hasF32 ? "float32" : v.dtype;
          expectClose(v, e, TOL[dt as keyof typeof TOL] ?? {});
        } catch (err) {
          problems.push(`${name}: ${where}: output ${k} (${g.outputs[k]!.desc}): ${(err as Error).message.split("\n")[0]}`);
        }
      });
    }
    args.forEach((a, i) => {
      if (!sameBits(a, keep[i]!)) problems.push(`${where}: input ${i} was modified`);
    });
  }
  for (const f of Object.values(fns)) (f as unknown as { free(): void }).free();
  stats.graphs++;
  for (const k of g.kinds) stats.kinds.add(k);
  return problems;
}

