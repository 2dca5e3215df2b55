/**
 * Indexing: `x.get(...)`, `T.setSubtensor`, `T.incSubtensor` (API.md §5; Theano's
 * `tensor/subtensor.py`).
 *
 * `x.get(...)` reads NumPy's index vocabulary (integers, slice strings, `T.slice` records with
 * symbolic bounds, "...", null for a new axis, integer arrays, boolean masks) and builds one of:
 *
 * - `Subtensor`: basic indexing (integers and slices) — a view of its input;
 * - `AdvancedSubtensor1`: `x[intVector]`, a gather along axis 0 (Theano's common case);
 * - `AdvancedSubtensor`: anything else with arrays, NumPy's rules for broadcasting index
 *   arrays together and for where their dimensions go; a boolean mask is turned into integer
 *   arrays (as `nonzero` would) inside `perform`, so its output length is known only at run time.
 *
 * `setSubtensor`/`incSubtensor` look at the owner of the indexed variable, as Theano does, to
 * recover `x` and the index, and build `IncSubtensor` or `AdvancedIncSubtensor`. Those copy `x`
 * and write into the copy; the in-place rewrite (src/rewriting/inplace.ts) switches them to
 * writing into `x` itself (`inplace`, destroyMap {0: [0]}) where the destroy handler allows. Repeated
 * indices accumulate for `inc` (NumPy's `np.add.at`) and the last write wins for `set`.
 *
 * Constant integers and slice bounds are op parameters (so static shapes can be computed at
 * graph-building time); symbolic ones are inputs, in the order they appear in the index.
 *
 * Gradients (Theano's): reading is scattered back (`x[idx]` gives an inc into zeros, so
 * repeated indices accumulate); writing passes gz to x (zeroed where `set` overwrote) and gathers
 * gz's region for y, summed over the axes y was broadcast along. Index inputs are disconnected.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { broadcastShapes, broadcastStatic } from "../ndarray/broadcast.js";
import { type DType, dtypeKind, isBigIntDType, isFloat, isInteger, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, array, shapeSize, sliceIndices } from "../ndarray/ndarray.js";
// alloc.js imports this module too; its functions are only called when gradients are built.
import { arange, zerosLike } from "./alloc.js";
import { dimshuffle } from "./basic.js";
import { DimShuffle, tensorType } from "./elemwise.js";
import { hooks } from "./hooks.js";
import * as math from "./math.js";
import { reshape, shapeDims } from "./shape.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, TensorConstant, TensorVariable, asTensorVariable, constant } from "./variable.js";

// ---------------------------------------------------------------------------------------------
// Symbolic integer arithmetic for shape inference: numbers fold in JS, so a graph appears only
// where something is really unknown.

/** A dimension or index: a known number or an integer scalar variable. */
export type SymInt = number | TensorVariable;

const i64 = (n: number): TensorVariable => constant(n, { dtype: "int64" });

/** @internal Helpers the shape families share to build small int64 shape graphs. */
export const symInt = {
  /** A variable as a number when it is a constant scalar. */
  of(v: Variable): SymInt {
    if (v instanceof TensorConstant && v.data.ndim === 0) return Number(v.data.getBig());
    return v as TensorVariable;
  },
  /** As an int64 scalar variable. */
  toVar(s: SymInt): TensorVariable {
    if (typeof s === "number") return i64(s);
    return s.dtype === "int64" ? s : math.cast(s, "int64");
  },
  add(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return a + b;
    if (a === 0) return b;
    if (b === 0) return a;
    return math.add(a, b);
  },
  sub(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (b === 0) return a;
    return math.sub(a, b);
  },
  mul(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return a * b;
    if (a === 1) return b;
    if (b === 1) return a;
    return math.mul(a, b);
  },
  floorDiv(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return b === 0 ? 0 : Math.floor(a / b);
    if (b === 1) return a;
    return math.intDiv(a, b);
  },
  mod(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return b === 0 ? 0 : ((a % b) + b) % b;
    return math.mod(a, b);
  },
  min(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return Math.min(a, b);
    return math.minimum(a, b);
  },
  max(a: SymInt, b: SymInt): SymInt {
    if (typeof a === "number" && typeof b === "number") return Math.max(a, b);
    return math.maximum(a, b);
  },
  neg(a: SymInt): SymInt {
    return typeof a === "number" ? -a : math.neg(a);
  },
  /** `cond ? a : b` with a symbolic condition. */
  select(cond: TensorVariable, a: SymInt, b: SymInt): SymInt {
    if (a === b) return a;
    return math.where(cond, symInt.toVar(a), symInt.toVar(b));
  },
  /** NumPy broadcasting of two sizes known to be compatible. */
  broadcast(a: SymInt, b: SymInt): SymInt {
    if (a === 1) return b;
    if (b === 1 || a === b) return a;
    if (typeof a === "number") return a;
    if (typeof b === "number") return b;
    return math.where(math.eq(a, 1), b, a);
  },
};

/** The length of `start:stop:step` over a dimension of size `d`, NumPy's clamping rules. */
function sliceLength(d: SymInt, start: SymInt | null, stop: SymInt | null, step: SymInt | null): SymInt {
  const isNum = (v: SymInt | null): v is number | null => v === null || typeof v === "number";
  if (typeof d === "number" && isNum(start) && isNum(stop) && isNum(step)) return sliceIndices(d, start, stop, step)[2];
  const st = step ?? 1;
  if (start === null && stop === null && (st === 1 || st === -1)) return d;
  const S = symInt;
  const lenPos = (s: SymInt): SymInt => {
    const clamp = (v: SymInt): SymInt =>
      typeof v === "number" ? (v >= 0 ? S.min(v, d) : S.max(S.add(v, d), 0)) : S.select(math.lt(v, 0), S.max(S.add(v, d), 0), S.min(v, d));
    const a = start === null ? 0 : clamp(start);
    const b = stop === null ? d : clamp(stop);
    return S.max(0, S.floorDiv(S.add(S.sub(b, a), S.sub(s, 1)), s));
  };
  const lenNeg = (s: SymInt): SymInt => {
    const dm1 = S.sub(d, 1);
    const clamp = (v: SymInt): SymInt =>
      typeof v === "number" ? (v >= 0 ? S.min(v, dm1) : S.max(S.add(v, d), -1)) : S.select(math.lt(v, 0), S.max(S.add(v, d), -1), S.min(v, dm1));
    const a = start === null ? dm1 : clamp(start);
    const b = stop === null ? -1 : clamp(stop);
    const ns = S.neg(s);
    return S.max(0, S.floorDiv(S.add(S.sub(a, b), S.sub(ns, 1)), ns));
  };
  if (typeof st === "number") return st > 0 ? lenPos(st) : lenNeg(st);
  return S.select(math.gt(st, 0), lenPos(st), lenNeg(st));
}

/** Output shapes for inferShape: statically known dimensions as constants, the rest as given. */
function withStatic(node: Apply, dims: SymInt[], out = 0): Variable[] {
  const st = (node.outputs[out]!.type as TensorType).shape;
  return dims.map((d, i) => (st[i] !== null && st[i] !== undefined ? i64(st[i]!) : symInt.toVar(d)));
}

// ---------------------------------------------------------------------------------------------
// Gradient helpers shared by the indexing, join, alloc and extra families.

/**
 * @internal A gradient in the dtype of the input it belongs to. Only float inputs take it:
 * an integer input keeps a float gradient (Theano requires gradients to be float).
 */
export function gradAs(g: TensorVariable, x: Variable): TensorVariable {
  const dt = tensorType(x).dtype;
  return isFloat(dt) && g.dtype !== dt ? math.cast(g, dt) : g;
}

/**
 * @internal A gradient computed at a broadcast shape, summed down to the type `t` of the value
 * that was broadcast: leading axes the value lacked, and axes where `t` is broadcastable
 * (static size 1). Dimensions unknown statically are taken to match, Theano's rule.
 */
export function sumToType(g: TensorVariable, t: TensorType): TensorVariable {
  let r = g;
  const lead = r.ndim - t.ndim;
  if (lead > 0) r = math.sum(r, [...Array(lead).keys()]);
  const axes = t.shape.flatMap((d, i) => (d === 1 && r.type.shape[i] !== 1 ? [i] : []));
  if (axes.length > 0) r = math.sum(r, axes, { keepdims: true });
  return isFloat(t.dtype) && r.dtype !== t.dtype ? math.cast(r, t.dtype) : r;
}

/** Zeros shaped like `x` to scatter a gradient into: x's dtype if float, else the gradient's. */
function gradZeros(x: Variable, g: TensorVariable): [TensorVariable, TensorVariable] {
  const dt = isFloat(tensorType(x).dtype) ? tensorType(x).dtype : g.dtype;
  return [zerosLike(x as TensorVariable, dt), g.dtype === dt ? g : math.cast(g, dt)];
}

const disconnected = (idx: readonly Variable[]): null[] => idx.map(() => null);

// ---------------------------------------------------------------------------------------------
// Host-side helpers shared by the indexing, join and alloc families.

/**
 * @internal A read-only view of `a` broadcast to `shape` with NumPy's rule (stride 0 where a
 * size-1 dimension stretches; extra leading size-1 dimensions are dropped).
 */
export function broadcastValue(a: NDArray, shape: readonly number[], what: string): NDArray {
  const fail = (): never => {
    throw new ShapeError(`${what}: could not broadcast a value of shape (${a.shape.join(", ")}) to shape (${shape.join(", ")})`);
  };
  let src = a;
  while (src.ndim > shape.length) {
    if (src.shape[0] !== 1) fail();
    src = src.slice(0);
  }
  const pad = shape.length - src.ndim;
  const strides = shape.map((d, i) => {
    if (i < pad) return 0;
    const s = src.shape[i - pad]!;
    if (s === d) return src.strides[i - pad]!;
    if (s === 1) return 0;
    return fail();
  });
  return new NDArray(src.dtype, shape, src.data, strides, src.offset);
}

/**
 * @internal Writes `src` (broadcast to `shape`, cast to the destination's dtype) into
 * `dest.data` at `offsets`, the C-order offsets of a region of that shape. `inc` adds, element
 * after element, so an offset that appears twice accumulates.
 */
export function scatterInto(dest: NDArray, offsets: ArrayLike<number>, shape: readonly number[], src: NDArray, mode: "set" | "inc", what: string): void {
  const vals = (src.dtype === dest.dtype ? broadcastValue(src, shape, what) : broadcastValue(src, shape, what).astype(dest.dtype)).toFlat();
  const data = dest.data;
  const n = offsets.length;
  if (mode === "set") {
    for (let i = 0; i < n; i++) (data as Float64Array)[offsets[i]!] = (vals as Float64Array)[i]!;
  } else if (isBigIntDType(dest.dtype)) {
    const wrap = dest.dtype === "int64" ? (v: bigint) => BigInt.asIntN(64, v) : (v: bigint) => BigInt.asUintN(64, v);
    const d = data as BigInt64Array;
    const v = vals as BigInt64Array;
    for (let i = 0; i < n; i++) d[offsets[i]!] = wrap(d[offsets[i]!]! + v[i]!);
  } else if (dest.dtype === "bool") {
    for (let i = 0; i < n; i++) (data as Uint8Array)[offsets[i]!] = data[offsets[i]!] || vals[i] ? 1 : 0;
  } else {
    // Typed arrays wrap small ints and round float32 on each store, as NumPy's add.at does.
    const d = data as Float64Array;
    const v = vals as Float64Array;
    for (let i = 0; i < n; i++) d[offsets[i]!] = d[offsets[i]!]! + v[i]!;
  }
}

/** Offsets of every element of a grid of (length, stride) dimensions, in C order. */
function gridOffsets(dims: ReadonlyArray<readonly [number, number]>): Float64Array {
  const out = new Float64Array(shapeSize(dims.map((d) => d[0])));
  if (out.length === 0) return out;
  const nd = dims.length;
  const idx = new Array<number>(nd).fill(0);
  let off = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = off;
    for (let ax = nd - 1; ax >= 0; ax--) {
      idx[ax]!++;
      off += dims[ax]![1];
      if (idx[ax]! < dims[ax]![0]) break;
      off -= idx[ax]! * dims[ax]![1];
      idx[ax] = 0;
    }
  }
  return out;
}

const scalarInt = (a: NDArray): number => Number(a.getBig());

// ---------------------------------------------------------------------------------------------
// Index entries as op parameters

/** A slice bound in an op: a constant, absent, or (a dtype name) the next symbolic input. */
export type Bound = number | null | DType;
export interface SliceSpec {
  readonly start: Bound;
  readonly stop: Bound;
  readonly step: Bound;
}
/** Basic entries: a constant integer, a symbolic integer (its dtype), or a slice. */
export type BasicEntry = number | DType | SliceSpec;
/** Advanced entries: a slice, or "array" (the next input: an integer array or a boolean mask). */
export type AdvEntry = "array" | SliceSpec;

const isSym = (b: Bound): b is DType => typeof b === "string";
const boundStr = (b: Bound): string => (b === null ? "" : String(b));
const entryStr = (e: BasicEntry | AdvEntry): string =>
  typeof e === "number" ? String(e) : typeof e === "string" ? e : `${boundStr(e.start)}:${boundStr(e.stop)}${e.step === null ? "" : `:${boundStr(e.step)}`}`;

function checkIndexScalar(v: Variable, expected: DType, owner: string): void {
  const t = tensorType(v);
  if (t.ndim !== 0 || !isInteger(t.dtype)) throw new TypeMismatchError(`${owner}: a symbolic index or slice bound must be an integer scalar, got ${v.label}: ${t}`);
  if (t.dtype !== expected) throw new TypeMismatchError(`${owner}: expected a ${expected} scalar index, got ${v.label}: ${t}`);
}

/** Static length of a slice (null when unknown); a constant step of 0 fails now. */
function staticSliceLength(d: number | null, e: SliceSpec, owner: string): number | null {
  if (e.step === 0) throw new ShapeError(`${owner}: slice step cannot be zero`);
  if (d === null || isSym(e.start) || isSym(e.stop) || isSym(e.step)) {
    if (d !== null && e.start === null && e.stop === null && !isSym(e.step)) return sliceIndices(d, null, null, e.step)[2];
    return null;
  }
  return sliceIndices(d, e.start, e.stop, e.step)[2];
}

/** Reads a slice's bounds from the op's parameters and the input values, advancing `k`. */
function resolveSlice(e: SliceSpec, vals: readonly Value[], k: { i: number }): [number | null, number | null, number | null] {
  const get = (b: Bound): number | null => (b === null ? null : isSym(b) ? scalarInt(vals[k.i++] as NDArray) : b);
  const start = get(e.start);
  const stop = get(e.stop);
  return [start, stop, get(e.step)];
}

/** Same, for shape inference: bounds as SymInts. */
function symbolicSlice(e: SliceSpec, inputs: readonly Variable[], k: { i: number }): [SymInt | null, SymInt | null, SymInt | null] {
  const get = (b: Bound): SymInt | null => (b === null ? null : isSym(b) ? symInt.of(inputs[k.i++]!) : b);
  const start = get(e.start);
  const stop = get(e.stop);
  return [start, stop, get(e.step)];
}

// ---------------------------------------------------------------------------------------------
// Basic indexing

/** Basic indexing (integers and slices): a view of `x`. */
export class Subtensor extends Op {
  readonly entries: readonly BasicEntry[];

  constructor(entries: readonly BasicEntry[]) {
    super();
    this.entries = Object.freeze([...entries]);
    this.viewMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { idx: this.entries.map(entryStr) };
  }

  override toString(): string {
    return `Subtensor{${this.entries.map(entryStr).join(", ")}}`;
  }

  /** The static shape of `x` indexed by these entries (checks constant indices). */
  static outputShape(entries: readonly BasicEntry[], xt: TensorType, owner: string): Array<number | null> {
    if (entries.length > xt.ndim) throw new TypeMismatchError(`${owner}: too many indices (${entries.length}) for a tensor of rank ${xt.ndim} (${xt})`);
    const out: Array<number | null> = [];
    entries.forEach((e, ax) => {
      const d = xt.shape[ax]!;
      if (typeof e === "number") {
        if (d !== null && (e >= d || e < -d)) throw new ShapeError(`${owner}: index ${e} is out of bounds for axis ${ax} with size ${d} (${xt})`);
      } else if (typeof e !== "string") out.push(staticSliceLength(d, e, owner));
    });
    for (let ax = entries.length; ax < xt.ndim; ax++) out.push(xt.shape[ax]!);
    return out;
  }

  makeNode(x: Variable, ...idx: Variable[]): Apply {
    const xt = tensorType(x);
    checkSymbolicInputs(this.entries, idx, String(this));
    const shape = Subtensor.outputShape(this.entries, xt, String(this));
    return new Apply(this, [x, ...idx], [new TensorType(xt.dtype, shape)]);
  }

  /** The view of `a` this index selects. */
  view(a: NDArray, vals: readonly Value[]): NDArray {
    const k = { i: 0 };
    const index = this.entries.map((e) => {
      if (typeof e === "number") return e;
      if (typeof e === "string") return scalarInt(vals[k.i++] as NDArray);
      return resolveSlice(e, vals, k);
    });
    return a.slice(...index);
  }

  perform(_node: Apply, [x, ...idx]: Value[]): Value[] {
    return [this.view(x as NDArray, idx)];
  }

  override inferShape(node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    const dims: SymInt[] = [];
    const k = { i: 1 };
    this.entries.forEach((e, ax) => {
      if (typeof e === "number") return;
      if (typeof e === "string") {
        k.i++;
        return;
      }
      const [start, stop, step] = symbolicSlice(e, node.inputs, k);
      dims.push(sliceLength(symInt.of(xs![ax]!), start, stop, step));
    });
    for (let ax = this.entries.length; ax < xs!.length; ax++) dims.push(symInt.of(xs![ax]!));
    return [withStatic(node, dims)];
  }

  /** gz added into zeros shaped like x at the same region; the indices are integers. */
  override grad([x, ...idx]: Variable[], [gz]: Variable[]): GradResult[] {
    const [z, g] = gradZeros(x!, gz as TensorVariable);
    return [new IncSubtensor(this.entries, "inc").call(z, g, ...idx), ...disconnected(idx)];
  }
}

function checkSymbolicInputs(entries: readonly BasicEntry[], idx: readonly Variable[], owner: string): void {
  const expected: DType[] = [];
  for (const e of entries) {
    if (typeof e === "string") expected.push(e);
    else if (typeof e === "object") for (const b of [e.start, e.stop, e.step]) if (isSym(b)) expected.push(b);
  }
  if (idx.length !== expected.length) throw new TypeMismatchError(`${owner} takes ${expected.length} symbolic index input(s), got ${idx.length}`);
  idx.forEach((v, i) => checkIndexScalar(v, expected[i]!, owner));
}

/**
 * What IncSubtensor and AdvancedIncSubtensor share: the index entries, set or inc, and the
 * in-place flag (destroyMap {0: [0]}, set only by the in-place rewrite), with props and printing.
 */
abstract class IncSubtensorBase<E extends BasicEntry | AdvEntry> extends Op {
  readonly entries: readonly E[];
  /** The printed names in set and in inc mode. */
  protected abstract readonly names: readonly [set: string, inc: string];

  constructor(
    entries: readonly E[],
    readonly mode: "set" | "inc",
    /** Writes into `x` itself (destroyMap {0: [0]}); only the in-place rewrite sets it. */
    readonly inplace = false,
  ) {
    super();
    this.entries = Object.freeze([...entries]);
    if (inplace) this.destroyMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { idx: this.entries.map(entryStr), mode: this.mode, ...(this.inplace ? { inplace: true } : {}) };
  }

  override toString(): string {
    return `${this.names[this.mode === "set" ? 0 : 1]}{${this.entries.map(entryStr).join(", ")}${this.inplace ? ";inplace" : ""}}`;
  }
}

/** `x` with a basic-indexed region replaced by (set) or incremented by (inc) `y`. */
export class IncSubtensor extends IncSubtensorBase<BasicEntry> {
  protected readonly names = ["SetSubtensor", "IncSubtensor"] as const;

  makeNode(x: Variable, y: Variable, ...idx: Variable[]): Apply {
    const xt = tensorType(x);
    checkSymbolicInputs(this.entries, idx, String(this));
    const region = Subtensor.outputShape(this.entries, xt, String(this));
    checkUpdateValue(xt, region, tensorType(y), String(this));
    return new Apply(this, [x, y, ...idx], [xt]);
  }

  perform(_node: Apply, [x, y, ...idx]: Value[]): Value[] {
    const out = this.inplace ? (x as NDArray) : (x as NDArray).copy();
    const region = new Subtensor(this.entries).view(out, idx);
    scatterInto(out, region.offsetArray(), region.shape, y as NDArray, this.mode, String(this));
    return [out];
  }

  override inferShape(_node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    return [xs!];
  }

  /**
   * x: gz, with the region zeroed when it was overwritten (set); y: gz's region, summed over
   * the axes y was broadcast along. Basic indices never repeat, so every write counts.
   */
  override grad([x, y, ...idx]: Variable[], [gz]: Variable[]): GradResult[] {
    const g = gz as TensorVariable;
    const gx = this.mode === "inc" ? g : (new IncSubtensor(this.entries, "set").call(g, constant(0, { dtype: g.dtype }), ...idx) as TensorVariable);
    const gy = sumToType(new Subtensor(this.entries).call(g, ...idx) as TensorVariable, tensorType(y!));
    return [gradAs(gx, x!), gy, ...disconnected(idx)];
  }
}

/** y must have x's dtype, a rank no larger than the region's, and sizes that broadcast. */
function checkUpdateValue(xt: TensorType, region: ReadonlyArray<number | null>, yt: TensorType, owner: string): void {
  if (yt.dtype !== xt.dtype) throw new TypeMismatchError(`${owner}: the value has dtype ${yt.dtype} but the tensor has ${xt.dtype} (cast it first)`);
  if (yt.ndim > region.length) {
    throw new TypeMismatchError(`${owner}: cannot write a rank-${yt.ndim} value (${yt}) into a rank-${region.length} region ${formatStaticShape(region)}`);
  }
  const pad = region.length - yt.ndim;
  yt.shape.forEach((d, i) => {
    const r = region[pad + i]!;
    if (d !== null && d !== 1 && r !== null && d !== r) {
      throw new ShapeError(`${owner}: a value of static shape ${formatStaticShape(yt.shape)} cannot be broadcast to the region ${formatStaticShape(region)}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Advanced indexing

/** One axis-consuming piece of an advanced index, as the run-time plan sees it. */
type PlanItem = { kind: "slice"; axis: number; start: number; len: number; step: number } | { kind: "adv"; axes: number[]; arrays: NDArray[] };

/** Flat-index positions of the true elements of a boolean mask, one int array per axis (NumPy's nonzero). */
function nonzero(mask: NDArray): NDArray[] {
  const flat = mask.toFlat();
  const hits: number[] = [];
  for (let i = 0; i < flat.length; i++) if (flat[i]) hits.push(i);
  const strides = mask.shape.map((_d, ax) => shapeSize(mask.shape.slice(ax + 1)));
  return mask.shape.map((d, ax) => {
    const out = new BigInt64Array(hits.length);
    hits.forEach((h, j) => {
      out[j] = BigInt(Math.floor(h / strides[ax]!) % d);
    });
    return new NDArray("int64", [hits.length], out);
  });
}

/**
 * Where each element of `x[index]` lives in `x.data`: the output shape and, in C order, the
 * offset of each element. NumPy's rules: index arrays broadcast together; their dimensions
 * replace the indexed axes when those are adjacent, else they come first.
 */
function advancedPlan(x: NDArray, entries: readonly AdvEntry[], vals: readonly Value[], owner: string): { shape: number[]; offsets: Float64Array } {
  const items: PlanItem[] = [];
  const k = { i: 0 };
  let axis = 0;
  for (const e of entries) {
    if (e === "array") {
      const a = vals[k.i++] as NDArray;
      if (a.dtype === "bool") {
        const dims = x.shape.slice(axis, axis + a.ndim);
        if (dims.length !== a.ndim || a.shape.some((d, i) => d !== dims[i])) {
          throw new ShapeError(`${owner}: a boolean index of shape (${a.shape.join(", ")}) does not match the indexed dimensions (${dims.join(", ")}) of shape (${x.shape.join(", ")}) at axis ${axis}`);
        }
        items.push({ kind: "adv", axes: a.shape.map((_d, i) => axis + i), arrays: nonzero(a) });
        axis += a.ndim;
      } else {
        items.push({ kind: "adv", axes: [axis], arrays: [a] });
        axis++;
      }
    } else {
      const [start, stop, step] = resolveSlice(e, vals, k);
      const [s, , len, st] = sliceIndices(x.shape[axis]!, start, stop, step);
      items.push({ kind: "slice", axis, start: s, len, step: st });
      axis++;
    }
  }
  for (; axis < x.ndim; axis++) items.push({ kind: "slice", axis, start: 0, len: x.shape[axis]!, step: 1 });

  const advPos = items.flatMap((it, i) => (it.kind === "adv" ? [i] : []));
  const arrays = items.flatMap((it) => (it.kind === "adv" ? it.arrays.map((a, j) => [a, it.axes[j]!] as const) : []));
  let bshape: number[];
  try {
    bshape = broadcastShapes(...arrays.map(([a]) => a.shape));
  } catch {
    throw new ShapeError(`${owner}: shape mismatch: indexing arrays could not be broadcast together with shapes ${arrays.map(([a]) => `(${a.shape.join(", ")})`).join(" ")}`);
  }
  const bsize = shapeSize(bshape);
  const advOffsets = new Float64Array(bsize);
  for (const [a, ax] of arrays) {
    const d = x.shape[ax]!;
    const st = x.strides[ax]!;
    const flat = broadcastValue(a, bshape, owner).toFlat();
    for (let b = 0; b < bsize; b++) {
      let i = Number(flat[b]!);
      if (i < -d || i >= d) throw new ShapeError(`${owner}: index ${i} is out of bounds for axis ${ax} with size ${d}`);
      if (i < 0) i += d;
      advOffsets[b]! += i * st;
    }
  }
  const adjacent = advPos.every((p, i) => i === 0 || p === advPos[i - 1]! + 1);
  const at = adjacent ? advPos[0]! : 0;
  const slices = items.filter((it): it is Extract<PlanItem, { kind: "slice" }> => it.kind === "slice");
  let base = x.offset;
  for (const s of slices) if (s.len > 0) base += s.start * x.strides[s.axis]!;
  const before = slices.filter((s) => items.indexOf(s) < at);
  const after = slices.filter((s) => items.indexOf(s) >= at);
  const dim = (s: (typeof slices)[number]): [number, number] => [s.len, s.step * x.strides[s.axis]!];
  const pre = gridOffsets(before.map(dim));
  const post = gridOffsets(after.map(dim));
  const shape = [...before.map((s) => s.len), ...bshape, ...after.map((s) => s.len)];
  const offsets = new Float64Array(shapeSize(shape));
  let o = 0;
  for (let i = 0; i < pre.length; i++) {
    for (let b = 0; b < bsize; b++) {
      const head = base + pre[i]! + advOffsets[b]!;
      for (let j = 0; j < post.length; j++) offsets[o++] = head + post[j]!;
    }
  }
  return { shape, offsets };
}

/** Static output shape of an advanced index; checks index types and static mask sizes. */
function advancedStaticShape(entries: readonly AdvEntry[], xt: TensorType, idx: readonly Variable[], owner: string): Array<number | null> {
  const k = { i: 0 };
  let axis = 0;
  const parts: Array<{ adv: boolean; shape: Array<number | null> }> = [];
  for (const e of entries) {
    if (e === "array") {
      const v = idx[k.i++];
      if (!v) throw new TypeMismatchError(`${owner}: missing index input`);
      const t = tensorType(v);
      if (t.dtype === "bool") {
        if (t.ndim === 0) throw new TypeMismatchError(`${owner}: a 0-d boolean index is not supported; use a boolean array`);
        if (axis + t.ndim > xt.ndim) throw new TypeMismatchError(`${owner}: a rank-${t.ndim} boolean index at axis ${axis} indexes past the rank of ${xt}`);
        t.shape.forEach((d, i) => {
          const xd = xt.shape[axis + i]!;
          if (d !== null && xd !== null && d !== xd) {
            throw new ShapeError(`${owner}: a boolean index of static shape ${formatStaticShape(t.shape)} does not match dimension ${axis + i} of ${xt}`);
          }
        });
        parts.push({ adv: true, shape: [t.shape.some((d) => d === 0) ? 0 : null] });
        axis += t.ndim;
      } else {
        if (!isInteger(t.dtype)) throw new TypeMismatchError(`${owner}: index arrays must be integer or boolean, got ${v.label}: ${t}`);
        if (axis >= xt.ndim) throw new TypeMismatchError(`${owner}: too many indices for ${xt}`);
        parts.push({ adv: true, shape: [...t.shape] });
        axis++;
      }
    } else {
      if (axis >= xt.ndim) throw new TypeMismatchError(`${owner}: too many indices for ${xt}`);
      for (const b of [e.start, e.stop, e.step]) if (isSym(b)) checkIndexScalar(idx[k.i++]!, b, owner);
      parts.push({ adv: false, shape: [staticSliceLength(xt.shape[axis]!, e, owner)] });
      axis++;
    }
  }
  if (k.i !== idx.length) throw new TypeMismatchError(`${owner} takes ${k.i} index input(s), got ${idx.length}`);
  for (; axis < xt.ndim; axis++) parts.push({ adv: false, shape: [xt.shape[axis]!] });
  const advPos = parts.flatMap((p, i) => (p.adv ? [i] : []));
  if (advPos.length === 0) throw new TypeMismatchError(`${owner} needs at least one index array`);
  const bshape = broadcastStatic(...parts.filter((p) => p.adv).map((p) => p.shape));
  const adjacent = advPos.every((p, i) => i === 0 || p === advPos[i - 1]! + 1);
  const at = adjacent ? advPos[0]! : 0;
  const sl = parts.map((p, i) => ({ p, i })).filter(({ p }) => !p.adv);
  return [...sl.filter(({ i }) => i < at).map(({ p }) => p.shape[0]!), ...bshape, ...sl.filter(({ i }) => i >= at).map(({ p }) => p.shape[0]!)];
}

/** Symbolic output shape of an advanced index (a boolean mask's length is its sum). */
function advancedSymbolicShape(entries: readonly AdvEntry[], node: Apply, shapes: Array<Variable[] | null>, first: number): SymInt[] {
  const xs = shapes[0]!.map((d) => symInt.of(d));
  const k = { i: first };
  let axis = 0;
  const parts: Array<{ adv: boolean; shape: SymInt[] }> = [];
  for (const e of entries) {
    if (e === "array") {
      const v = node.inputs[k.i] as TensorVariable;
      const s = shapes[k.i]!;
      k.i++;
      if (v.dtype === "bool") {
        parts.push({ adv: true, shape: [math.sum(v)] });
        axis += v.ndim;
      } else {
        parts.push({ adv: true, shape: s.map((d, i) => (v.type.shape[i] === 1 ? 1 : symInt.of(d))) });
        axis++;
      }
    } else {
      const [start, stop, step] = symbolicSlice(e, node.inputs, k);
      parts.push({ adv: false, shape: [sliceLength(xs[axis]!, start, stop, step)] });
      axis++;
    }
  }
  for (; axis < xs.length; axis++) parts.push({ adv: false, shape: [xs[axis]!] });
  const advParts = parts.filter((p) => p.adv);
  const bnd = Math.max(...advParts.map((p) => p.shape.length));
  const bshape: SymInt[] = new Array<SymInt>(bnd).fill(1);
  for (const p of advParts) p.shape.forEach((d, i) => (bshape[bnd - p.shape.length + i] = symInt.broadcast(bshape[bnd - p.shape.length + i]!, d)));
  const advPos = parts.flatMap((p, i) => (p.adv ? [i] : []));
  const adjacent = advPos.every((p, i) => i === 0 || p === advPos[i - 1]! + 1);
  const at = adjacent ? advPos[0]! : 0;
  const sl = parts.map((p, i) => ({ p, i })).filter(({ p }) => !p.adv);
  return [...sl.filter(({ i }) => i < at).map(({ p }) => p.shape[0]!), ...bshape, ...sl.filter(({ i }) => i >= at).map(({ p }) => p.shape[0]!)];
}

/** `x[intVector]`: rows of `x` gathered along axis 0 (Theano's AdvancedSubtensor1). */
export class AdvancedSubtensor1 extends Op {
  makeNode(x: Variable, ilist: Variable): Apply {
    const xt = tensorType(x);
    const it = tensorType(ilist);
    if (it.ndim !== 1 || !isInteger(it.dtype)) throw new TypeMismatchError(`AdvancedSubtensor1: the index must be an integer vector, got ${ilist.label}: ${it}`);
    if (xt.ndim < 1) throw new TypeMismatchError(`AdvancedSubtensor1: cannot index a 0-d tensor (${x.label}: ${xt})`);
    return new Apply(this, [x, ilist], [new TensorType(xt.dtype, [it.shape[0]!, ...xt.shape.slice(1)])]);
  }

  perform(_node: Apply, [x, i]: Value[]): Value[] {
    return [gather(x as NDArray, advancedPlan(x as NDArray, ["array"], [i], String(this)))];
  }

  override inferShape(node: Apply, [xs, is]: Array<Variable[] | null>): Variable[][] {
    return [withStatic(node, [symInt.of(is![0]!), ...xs!.slice(1).map((d) => symInt.of(d))])];
  }

  /** gz scattered back into zeros, adding where an index repeats (x[[0, 0]] gives 2·gz at row 0). */
  override grad([x, ilist]: Variable[], [gz]: Variable[]): GradResult[] {
    const [z, g] = gradZeros(x!, gz as TensorVariable);
    return [new AdvancedIncSubtensor(["array"], "inc").call(z, g, ilist!), null];
  }
}

function gather(x: NDArray, plan: { shape: number[]; offsets: Float64Array }): NDArray {
  const out = new (typedArrayCtor(x.dtype))(plan.offsets.length);
  const src = x.data as Float64Array;
  for (let i = 0; i < out.length; i++) (out as Float64Array)[i] = src[plan.offsets[i]!]!;
  return new NDArray(x.dtype, plan.shape, out);
}

/** Indexing with integer arrays (broadcast together), boolean masks and slices, NumPy's rules. */
export class AdvancedSubtensor extends Op {
  readonly entries: readonly AdvEntry[];

  constructor(entries: readonly AdvEntry[]) {
    super();
    this.entries = Object.freeze([...entries]);
  }

  override props(): Record<string, unknown> {
    return { idx: this.entries.map(entryStr) };
  }

  override toString(): string {
    return `AdvancedSubtensor{${this.entries.map(entryStr).join(", ")}}`;
  }

  makeNode(x: Variable, ...idx: Variable[]): Apply {
    const xt = tensorType(x);
    const shape = advancedStaticShape(this.entries, xt, idx, String(this));
    return new Apply(this, [x, ...idx], [new TensorType(xt.dtype, shape)]);
  }

  perform(_node: Apply, [x, ...idx]: Value[]): Value[] {
    return [gather(x as NDArray, advancedPlan(x as NDArray, this.entries, idx, String(this)))];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return [withStatic(node, advancedSymbolicShape(this.entries, node, shapes, 1))];
  }

  /** gz scattered back into zeros; repeated positions accumulate. */
  override grad([x, ...idx]: Variable[], [gz]: Variable[]): GradResult[] {
    const [z, g] = gradZeros(x!, gz as TensorVariable);
    return [new AdvancedIncSubtensor(this.entries, "inc").call(z, g, ...idx), ...disconnected(idx)];
  }
}

/** `x` with an advanced-indexed region set (last write wins) or incremented (repeats accumulate). */
export class AdvancedIncSubtensor extends IncSubtensorBase<AdvEntry> {
  protected readonly names = ["AdvancedSetSubtensor", "AdvancedIncSubtensor"] as const;

  makeNode(x: Variable, y: Variable, ...idx: Variable[]): Apply {
    const xt = tensorType(x);
    const region = advancedStaticShape(this.entries, xt, idx, String(this));
    checkUpdateValue(xt, region, tensorType(y), String(this));
    return new Apply(this, [x, y, ...idx], [xt]);
  }

  perform(_node: Apply, [x, y, ...idx]: Value[]): Value[] {
    const out = this.inplace ? (x as NDArray) : (x as NDArray).copy();
    const plan = advancedPlan(out, this.entries, idx, String(this));
    scatterInto(out, plan.offsets, plan.shape, y as NDArray, this.mode, String(this));
    return [out];
  }

  override inferShape(_node: Apply, [xs]: Array<Variable[] | null>): Variable[][] {
    return [xs!];
  }

  /**
   * x: gz (inc), or gz with the written positions zeroed (set). y: gz gathered at the region,
   * summed over the axes y was broadcast along. With set, an index that repeats is written more
   * than once and only the last write survives (perform writes in C order), so only that
   * element of the region receives gz: a second set-scatter of each element's position finds
   * the survivors. Boolean masks never repeat a position, so they skip that step.
   */
  override grad([x, y, ...idx]: Variable[], [gz]: Variable[]): GradResult[] {
    const g = gz as TensorVariable;
    const gather = (v: TensorVariable): TensorVariable =>
      (this.entries.length === 1 && this.entries[0] === "array" && tensorType(idx[0]!).ndim === 1 && tensorType(idx[0]!).dtype !== "bool"
        ? new AdvancedSubtensor1().call(v, idx[0]!)
        : new AdvancedSubtensor(this.entries).call(v, ...idx)) as TensorVariable;
    let region = gather(g);
    let gx = g;
    if (this.mode === "set") {
      gx = new AdvancedIncSubtensor(this.entries, "set").call(g, constant(0, { dtype: g.dtype }), ...idx) as TensorVariable;
      if (this.mayRepeat(idx)) {
        const dims = shapeDims(region);
        const n = dims.reduce<SymInt>((a, d) => symInt.mul(a, d), 1);
        const pos = reshape(arange(1, math.add(symInt.toVar(n), 1), 1, "float64"), dims, dims.length);
        const last = new AdvancedIncSubtensor(this.entries, "set").call(zerosLike(x as TensorVariable, "float64"), pos, ...idx) as TensorVariable;
        region = math.where(math.eq(gather(last), pos), region, constant(0, { dtype: g.dtype }));
      }
    }
    return [gradAs(gx, x!), sumToType(region, tensorType(y!)), ...disconnected(idx)];
  }

  /** False when no position can be written twice: every index is a boolean mask. */
  private mayRepeat(idx: readonly Variable[]): boolean {
    let k = 0;
    for (const e of this.entries) {
      if (e !== "array") {
        for (const b of [e.start, e.stop, e.step]) if (isSym(b)) k++;
        continue;
      }
      if (tensorType(idx[k++]!).dtype !== "bool") return true;
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The user-facing index vocabulary

/** A slice bound as users give it. */
export type SliceBoundLike = number | TensorVariable | null | undefined;

/** `T.slice(start, stop, step)`: a slice whose bounds may be symbolic integer scalars. */
export class SliceRecord {
  constructor(
    readonly start: number | TensorVariable | null,
    readonly stop: number | TensorVariable | null,
    readonly step: number | TensorVariable | null,
  ) {}

  toString(): string {
    const b = (v: number | TensorVariable | null): string => (v === null ? "" : typeof v === "number" ? String(v) : v.label);
    return `${b(this.start)}:${b(this.stop)}${this.step === null ? "" : `:${b(this.step)}`}`;
  }
}

/**
 * `T.slice(stop)` or `T.slice(start, stop, step?)`, Python's `slice`: with one argument it is
 * the stop. Bounds are integers, null (absent) or integer scalar variables.
 */
export function slice(...args: SliceBoundLike[]): SliceRecord {
  if (args.length > 3) throw new TypeMismatchError(`T.slice takes at most 3 arguments (start, stop, step), got ${args.length}`);
  const [start, stop, step] = args.length <= 1 ? [null, args[0], null] : args;
  return new SliceRecord(sliceBound(start), sliceBound(stop), sliceBound(step));
}

function sliceBound(b: unknown): number | TensorVariable | null {
  if (b === null || b === undefined) return null;
  if (typeof b === "bigint") return Number(b);
  if (typeof b === "number") {
    if (!Number.isInteger(b)) throw new TypeMismatchError(`slice bounds must be integers, got ${b}`);
    return b;
  }
  const v = b instanceof TensorVariable ? b : b instanceof NDArray ? asTensorVariable(b) : undefined;
  if (!v || v.ndim !== 0 || !isInteger(v.dtype)) {
    throw new TypeMismatchError(`slice bounds must be integers, null or integer scalar variables, got ${v ? `${v.label}: ${v.type}` : String(b)}`);
  }
  return v instanceof TensorConstant ? Number(v.data.getBig()) : v;
}

/** An index entry as `x.get` accepts it. */
export type IndexEntry = number | string | null | SliceRecord | TensorLike;

type Norm =
  | { k: "int"; v: number | TensorVariable }
  | { k: "slice"; start: number | TensorVariable | null; stop: number | TensorVariable | null; step: number | TensorVariable | null }
  | { k: "array"; v: TensorVariable }
  | { k: "newaxis" }
  | { k: "ellipsis" };

const FULL: Norm = { k: "slice", start: null, stop: null, step: null };
const SLICE_RE = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?$/;

function parseIndexString(s: string): Norm {
  if (s.trim() === "...") return { k: "ellipsis" };
  if (/^\s*-?\d+\s*$/.test(s)) return { k: "int", v: Number(s) };
  const m = SLICE_RE.exec(s);
  if (!m) throw new TypeMismatchError(`invalid index string ${JSON.stringify(s)}: use NumPy slice syntax ("1:3", "::2", "-1:", "::-1"), "..." or an integer`);
  const n = (g: string | undefined): number | null => (g === undefined ? null : Number(g));
  return { k: "slice", start: n(m[1]), stop: n(m[2]), step: n(m[3]) };
}

function isEmptyNested(e: readonly unknown[]): boolean {
  return e.length === 0 || (Array.isArray(e[0]) && e.every((r) => Array.isArray(r) && isEmptyNested(r)));
}

function normalizeEntry(e: unknown): Norm {
  if (e === null) return { k: "newaxis" };
  if (e === undefined) throw new TypeMismatchError(`undefined is not a valid index (use null for a new axis, ":" for a full slice)`);
  if (typeof e === "number") {
    if (!Number.isInteger(e)) throw new TypeMismatchError(`indices must be integers, got ${e}`);
    return { k: "int", v: e };
  }
  if (typeof e === "bigint") return { k: "int", v: Number(e) };
  if (typeof e === "string") return parseIndexString(e);
  if (e instanceof SliceRecord) return { k: "slice", start: e.start, stop: e.stop, step: e.step };
  if (typeof e === "boolean") throw new TypeMismatchError(`a boolean scalar is not a valid index; use a boolean array (a mask)`);
  // An empty list is an integer index in NumPy, though it holds no numbers to say so.
  const v = Array.isArray(e) && isEmptyNested(e) ? constant(array(e as never, "int64")) : asTensorVariable(e);
  if (v.ndim === 0) {
    if (!isInteger(v.dtype)) throw new TypeMismatchError(`indices must be integers, got ${v.label}: ${v.type}`);
    return { k: "int", v: v instanceof TensorConstant ? Number(v.data.getBig()) : v };
  }
  if (v.dtype !== "bool" && !isInteger(v.dtype)) throw new TypeMismatchError(`arrays used as indices must be of integer or boolean type, got ${v.label}: ${v.type}`);
  return { k: "array", v };
}

const consumes = (n: Norm): number => (n.k === "newaxis" || n.k === "ellipsis" ? 0 : n.k === "array" && n.v.dtype === "bool" ? n.v.ndim : 1);

/** `x.get(...index)`: NumPy indexing (API.md §5). */
function getIndex(x: TensorVariable, index: readonly unknown[]): TensorVariable {
  let norms = index.map(normalizeEntry);
  const ells = norms.filter((n) => n.k === "ellipsis").length;
  if (ells > 1) throw new TypeMismatchError(`an index can only have a single ellipsis ("...")`);
  const used = norms.reduce((s, n) => s + consumes(n), 0);
  if (used > x.ndim) throw new TypeMismatchError(`too many indices for ${x.label}: it has rank ${x.ndim} (${x.type}) but ${used} were indexed`);
  const fill = new Array<Norm>(x.ndim - used).fill(FULL);
  const at = norms.findIndex((n) => n.k === "ellipsis");
  norms = at >= 0 ? [...norms.slice(0, at), ...fill, ...norms.slice(at + 1)] : [...norms, ...fill];

  // New axes: insert them with a DimShuffle first, then index them with a full slice (Theano).
  let base = x;
  if (norms.some((n) => n.k === "newaxis")) {
    const pattern: Array<number | "x"> = [];
    let ax = 0;
    for (const n of norms) {
      if (n.k === "newaxis") pattern.push("x");
      else for (let c = consumes(n); c > 0; c--) pattern.push(ax++);
    }
    base = dimshuffle(x, pattern);
    base.tag.subtensorNewaxis = true;
    norms = norms.map((n) => (n.k === "newaxis" ? FULL : n));
  }

  const inputs: TensorVariable[] = [];
  const bound = (b: number | TensorVariable | null): Bound => {
    if (b === null || typeof b === "number") return b;
    inputs.push(b);
    return b.dtype;
  };
  const sliceSpec = (n: Extract<Norm, { k: "slice" }>): SliceSpec => {
    const start = bound(n.start);
    const stop = bound(n.stop);
    const step = bound(n.step);
    return { start, stop, step: step === 1 ? null : step };
  };
  const isFull = (e: BasicEntry | AdvEntry): boolean => typeof e === "object" && e.start === null && e.stop === null && e.step === null;
  const trim = <E extends BasicEntry | AdvEntry>(entries: E[]): E[] => {
    let n = entries.length;
    while (n > 0 && isFull(entries[n - 1]!)) n--;
    return entries.slice(0, n);
  };

  if (!norms.some((n) => n.k === "array")) {
    const entries = trim(
      norms.map((n): BasicEntry => {
        if (n.k === "int") return typeof n.v === "number" ? n.v : (inputs.push(n.v), n.v.dtype);
        return sliceSpec(n as Extract<Norm, { k: "slice" }>);
      }),
    );
    return new Subtensor(entries).call(base, ...inputs) as TensorVariable;
  }
  // With arrays present, integers are 0-d index arrays (they broadcast and count for adjacency).
  const entries = trim(
    norms.map((n): AdvEntry => {
      if (n.k === "int") {
        inputs.push(typeof n.v === "number" ? i64(n.v) : n.v);
        return "array";
      }
      if (n.k === "array") {
        inputs.push(n.v);
        return "array";
      }
      return sliceSpec(n as Extract<Norm, { k: "slice" }>);
    }),
  );
  if (entries.length === 1 && entries[0] === "array" && inputs[0]!.ndim === 1 && isInteger(inputs[0]!.dtype)) {
    return new AdvancedSubtensor1().call(base, inputs[0]!) as TensorVariable;
  }
  return new AdvancedSubtensor(entries).call(base, ...inputs) as TensorVariable;
}

hooks.get = (x, index) => getIndex(x, index);

// ---------------------------------------------------------------------------------------------
// setSubtensor / incSubtensor

const KIND_RANK = { b: 0, u: 1, i: 2, f: 3 } as const;

/** The update value in x's dtype: JS values take it; tensors are cast (same kind only for inc, as NumPy's `+=`). */
function updateValue(y: TensorLike, dtype: DType, mode: "set" | "inc", owner: string): TensorVariable {
  const weak = typeof y === "number" || typeof y === "boolean" || Array.isArray(y);
  const v = weak ? constant(array(y as never)) : asTensorVariable(y);
  if (v.dtype === dtype) return v;
  if (mode === "inc" && KIND_RANK[dtypeKind(v.dtype)] > KIND_RANK[dtypeKind(dtype)]) {
    throw new TypeMismatchError(`${owner}: cannot add a ${v.dtype} value to a ${dtype} tensor without losing its kind; cast the value first (y.astype("${dtype}"))`);
  }
  return weak ? constant(array(y as never, dtype)) : math.cast(v, dtype);
}

function incOrSet(sub: TensorVariable, y: TensorLike, mode: "set" | "inc"): TensorVariable {
  const fname = mode === "set" ? "setSubtensor" : "incSubtensor";
  const node = sub instanceof TensorVariable ? sub.owner : null;
  const op = node?.op;
  if (!node || !(op instanceof Subtensor || op instanceof AdvancedSubtensor1 || op instanceof AdvancedSubtensor)) {
    throw new TypeMismatchError(`${fname} needs the result of x.get(...) as its first argument, got ${sub instanceof TensorVariable ? `${sub.label} (${sub.owner ? `made by ${sub.owner.op}` : "not an indexing result"})` : String(sub)}`);
  }
  const x = node.inputs[0] as TensorVariable;
  const yv = updateValue(y, x.dtype, mode, fname);
  const rest = node.inputs.slice(1);
  let r: TensorVariable;
  if (op instanceof Subtensor) r = new IncSubtensor(op.entries, mode).call(x, yv, ...rest) as TensorVariable;
  else if (op instanceof AdvancedSubtensor1) r = new AdvancedIncSubtensor(["array"], mode).call(x, yv, ...rest) as TensorVariable;
  else r = new AdvancedIncSubtensor(op.entries, mode).call(x, yv, ...rest) as TensorVariable;
  // Indexing with new axes went through a DimShuffle of the user's x: drop those axes again.
  if (x.owner?.op instanceof DimShuffle && x.tag.subtensorNewaxis) {
    const pattern = x.owner.op.pattern;
    r = dimshuffle(r, pattern.flatMap((p, i) => (p === "x" ? [] : [i])));
  }
  return r;
}

/** `T.setSubtensor(x.get(...), y)`: a new variable, x with that region replaced by y (broadcast). */
export function setSubtensor(sub: TensorVariable, y: TensorLike): TensorVariable {
  return incOrSet(sub, y, "set");
}

/** `T.incSubtensor(x.get(...), y)`: a new variable, x with y added there (repeated indices accumulate). */
export function incSubtensor(sub: TensorVariable, y: TensorLike): TensorVariable {
  return incOrSet(sub, y, "inc");
}
