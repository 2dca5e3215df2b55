/**
 * Matrix products (Theano's `tensor/basic.py` dot family and `tensor/blas.py`): `dot`,
 * `matmul`, `outer`, `tensordot` and `batchedDot`.
 *
 * Two ops do the work. `Dot` is NumPy's dot on vectors and matrices (the node a GEMM rewrite and
 * the backends' BLAS calls look for). `TensorDot` contracts any axes of two tensors, with an
 * optional run of leading batch axes that pair up and broadcast by Theano's rule (a batch axis
 * stretches only where its static size is 1): tensordot, dot of higher ranks, matmul and
 * batchedDot are each one TensorDot node, so shapes are checked per axis (a reshape to 2-d would
 * let (2, 3) silently contract with (3, 2)). Output dtypes are NumPy's `promote_types`, and
 * integer products wrap as NumPy's do. 0-d operands of `dot` multiply elementwise, as in NumPy.
 *
 * Both `perform`s run one kernel: row-major packed operands and an i-k-j loop, so the innermost
 * loop streams through contiguous rows of B and C (the cache-friendly order for row-major data).
 *
 * Gradients are products again (Theano's `Dot.grad`): for C = A·B, dA = dC·Bᵀ and dB = Aᵀ·dC,
 * with outer products where an operand is a vector; a TensorDot's gradient is the TensorDot of
 * the output gradient with the other operand over that operand's free axes, permuted back.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, type TypedArray, type WeakScalar, promoteTypes, resultType, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, array, normalizeAxis, shapeSize } from "../ndarray/ndarray.js";
import { dimshuffle, padLeft } from "./basic.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import { hooks } from "./hooks.js";
import { cast, mul, sum } from "./math.js";
import { flatten } from "./shape.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant } from "./variable.js";

// ---------------------------------------------------------------------------------------------
// The kernel

/**
 * C = A·B over C-ordered buffers: A is m×k at `aOff`, B is k×n at `bOff`, C (m×n at `cOff`) is
 * overwritten. All three hold `dtype`. Floats accumulate in float64 (more accurate than NumPy's
 * float32 BLAS, never less); ints of 32 bits and less wrap modulo 2**32 (and then to their
 * width when stored), int64/uint64 modulo 2**64, as NumPy's integer products do.
 */
export function gemm(dtype: DType, A: TypedArray, aOff: number, B: TypedArray, bOff: number, C: TypedArray, cOff: number, m: number, k: number, n: number): void {
  if (m === 0 || n === 0) return;
  switch (dtype) {
    case "float32":
    case "float64":
      gemmFloat(A as Float64Array, aOff, B as Float64Array, bOff, C as Float64Array, cOff, m, k, n);
      return;
    case "int64":
    case "uint64":
      gemmBig(dtype, A as BigInt64Array, aOff, B as BigInt64Array, bOff, C as BigInt64Array, cOff, m, k, n);
      return;
    case "bool":
      gemmBool(A as Uint8Array, aOff, B as Uint8Array, bOff, C as Uint8Array, cOff, m, k, n);
      return;
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32":
      gemmInt(A as Int32Array, aOff, B as Int32Array, bOff, C as Int32Array, cOff, m, k, n);
      return;
    default:
      dtype satisfies never;
  }
}

function gemmFloat(A: Float64Array, aOff: number, B: Float64Array, bOff: number, C: Float64Array, cOff: number, m: number, k: number, n: number): void {
  // Four rows of A at a time share each load of a row of B (about 2.5x faster than one row).
  const acc = new Float64Array(4 * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    acc.fill(0);
    const a0 = aOff + i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let p = 0; p < k; p++) {
      const x0 = A[a0 + p]!;
      const x1 = A[a1 + p]!;
      const x2 = A[a2 + p]!;
      const x3 = A[a3 + p]!;
      const bp = bOff + p * n;
      for (let j = 0; j < n; j++) {
        const b = B[bp + j]!;
        acc[j]! += x0 * b;
        acc[n + j]! += x1 * b;
        acc[2 * n + j]! += x2 * b;
        acc[3 * n + j]! += x3 * b;
      }
    }
    C.set(acc, cOff + i * n);
  }
  const row = acc.subarray(0, n);
  for (; i < m; i++) {
    row.fill(0);
    const ai = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const av = A[ai + p]!;
      const bp = bOff + p * n;
      for (let j = 0; j < n; j++) row[j]! += av * B[bp + j]!;
    }
    C.set(row, cOff + i * n);
  }
}

function gemmInt(A: Int32Array, aOff: number, B: Int32Array, bOff: number, C: Int32Array, cOff: number, m: number, k: number, n: number): void {
  // Int32Array stores wrap (ToInt32), and the sum of two int32s is exact in a double first.
  const acc = new Int32Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    const ai = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const av = A[ai + p]!;
      const bp = bOff + p * n;
      for (let j = 0; j < n; j++) acc[j]! += Math.imul(av, B[bp + j]!);
    }
    C.set(acc, cOff + i * n);
  }
}

function gemmBig(dtype: "int64" | "uint64", A: BigInt64Array, aOff: number, B: BigInt64Array, bOff: number, C: BigInt64Array, cOff: number, m: number, k: number, n: number): void {
  // A BigInt64Array/BigUint64Array store wraps modulo 2**64, as NumPy's int64 arithmetic does.
  const acc = dtype === "int64" ? new BigInt64Array(n) : (new BigUint64Array(n) as unknown as BigInt64Array);
  for (let i = 0; i < m; i++) {
    acc.fill(0n);
    const ai = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const av = A[ai + p]!;
      if (av === 0n) continue; // exact for integers, and BigInt products are slow
      const bp = bOff + p * n;
      for (let j = 0; j < n; j++) acc[j]! += av * B[bp + j]!;
    }
    C.set(acc, cOff + i * n);
  }
}

function gemmBool(A: Uint8Array, aOff: number, B: Uint8Array, bOff: number, C: Uint8Array, cOff: number, m: number, k: number, n: number): void {
  for (let i = 0; i < m; i++) {
    const ci = cOff + i * n;
    C.fill(0, ci, ci + n);
    for (let p = 0; p < k; p++) {
      if (!A[aOff + i * k + p]) continue;
      const bp = bOff + p * n;
      for (let j = 0; j < n; j++) if (B[bp + j]) C[ci + j] = 1;
    }
  }
}

/** The elements of `x` in C order as `dtype`, without a copy when they already are. */
function packed(x: NDArray, dtype: DType): { data: TypedArray; off: number } {
  if (x.dtype !== dtype) return { data: x.astype(dtype).data, off: 0 };
  if (x.isContiguous) return { data: x.data, off: x.offset };
  return { data: x.toFlat(), off: 0 };
}

const fmt = formatStaticShape;

/** A gradient in its input's dtype (a float32 operand of a float64 product gets a float32 gradient). */
/** @internal */
export function castLike(g: TensorVariable, x: TensorVariable): TensorVariable {
  return g.dtype === x.dtype ? g : cast(g, x.dtype);
}

/** Reverses the two axes of a matrix. */
const transpose = (v: TensorVariable): TensorVariable => dimshuffle(v, [1, 0]);

// ---------------------------------------------------------------------------------------------
// Dot

/** NumPy's dot of two operands of rank 1 or 2: vector·vector → scalar, matrix·vector → vector, ... */
export class Dot extends Op {
  override toString(): string {
    return "dot";
  }

  makeNode(a: Variable, b: Variable): Apply {
    const ta = tensorType(a);
    const tb = tensorType(b);
    if (ta.ndim < 1 || ta.ndim > 2 || tb.ndim < 1 || tb.ndim > 2) {
      throw new TypeMismatchError(`Dot takes vectors and matrices, got ${a.label}: ${ta} and ${b.label}: ${tb} (T.dot handles scalars and higher ranks)`);
    }
    const ka = ta.shape[ta.ndim - 1]!;
    const kb = tb.shape[0]!;
    if (ka !== null && kb !== null && ka !== kb) {
      throw new ShapeError(`dot of statically ${fmt(ta.shape)} and ${fmt(tb.shape)}: the summed dimensions differ (${ka} != ${kb})`);
    }
    const shape = [...ta.shape.slice(0, -1), ...tb.shape.slice(1)];
    return new Apply(this, [a, b], [new TensorType(promoteTypes(ta.dtype, tb.dtype), shape)]);
  }

  perform(node: Apply, [x, y]: Value[]): Value[] {
    const a = x as NDArray;
    const b = y as NDArray;
    const dtype = (node.outputs[0]!.type as TensorType).dtype;
    const k = a.shape[a.ndim - 1]!;
    if (b.shape[0] !== k) {
      throw new ShapeError(`dot: shapes ${fmt(a.shape)} and ${fmt(b.shape)} not aligned: ${k} (dim ${a.ndim - 1}) != ${b.shape[0]} (dim 0)`);
    }
    const m = a.ndim === 2 ? a.shape[0]! : 1;
    const n = b.ndim === 2 ? b.shape[1]! : 1;
    const pa = packed(a, dtype);
    const pb = packed(b, dtype);
    const out = new (typedArrayCtor(dtype))(m * n);
    gemm(dtype, pa.data, pa.off, pb.data, pb.off, out, 0, m, k, n);
    return [new NDArray(dtype, [...a.shape.slice(0, -1), ...b.shape.slice(1)], out)];
  }

  override inferShape(_node: Apply, [sa, sb]: Array<Variable[] | null>): Variable[][] {
    return [[...sa!.slice(0, -1), ...sb!.slice(1)]];
  }

  override grad([a, b]: Variable[], [gz]: Variable[]): GradResult[] {
    const x = a as TensorVariable;
    const y = b as TensorVariable;
    const g = gz as TensorVariable;
    const col = (v: TensorVariable): TensorVariable => dimshuffle(v, [0, "x"]);
    const row = (v: TensorVariable): TensorVariable => dimshuffle(v, ["x", 0]);
    let gx: TensorVariable;
    let gy: TensorVariable;
    if (x.ndim === 2 && y.ndim === 2) {
      gx = DOT.call(g, transpose(y)) as TensorVariable; // (m, n)·(n, k)
      gy = DOT.call(transpose(x), g) as TensorVariable; // (k, m)·(m, n)
    } else if (x.ndim === 2) {
      gx = mul(col(g), row(y)); // g: (m,), y: (k,)
      gy = DOT.call(g, x) as TensorVariable; // (m,)·(m, k)
    } else if (y.ndim === 2) {
      gx = DOT.call(y, g) as TensorVariable; // (k, n)·(n,)
      gy = mul(col(x), row(g)); // x: (k,), g: (n,)
    } else {
      gx = mul(g, y); // g is a scalar
      gy = mul(g, x);
    }
    return [castLike(gx, x), castLike(gy, y)];
  }
}

const DOT = new Dot();

// ---------------------------------------------------------------------------------------------
// TensorDot

/**
 * Contracts `axes[0]` of a with `axes[1]` of b (NumPy's tensordot). The first `batch` axes of
 * both are batch axes: they pair up (broadcasting where statically 1) and lead the output, so
 * each batch entry is one tensordot. Output axes: batch, a's free axes, b's free axes.
 */
export class TensorDot extends Op {
  readonly axes: readonly [readonly number[], readonly number[]];
  readonly batch: number;

  constructor(axes: readonly [readonly number[], readonly number[]], batch = 0) {
    super();
    if (axes[0].length !== axes[1].length) throw new TypeMismatchError(`TensorDot: axes (${axes[0].join(", ")}) and (${axes[1].join(", ")}) differ in length`);
    for (const list of axes) {
      if (new Set(list).size !== list.length) throw new ShapeError(`TensorDot: repeated axis in (${list.join(", ")})`);
      if (list.some((a) => !Number.isInteger(a) || a < batch)) throw new ShapeError(`TensorDot: summed axes (${list.join(", ")}) must be integers past the ${batch} batch axes`);
    }
    this.axes = [Object.freeze([...axes[0]]), Object.freeze([...axes[1]])];
    this.batch = batch;
  }

  override props(): Record<string, unknown> {
    return { axes: [this.axes[0], this.axes[1]], batch: this.batch };
  }

  private free(ndim: number, summed: readonly number[]): number[] {
    const out: number[] = [];
    for (let i = this.batch; i < ndim; i++) if (!summed.includes(i)) out.push(i);
    return out;
  }

  makeNode(a: Variable, b: Variable): Apply {
    const ta = tensorType(a);
    const tb = tensorType(b);
    for (const [t, axes, v] of [[ta, this.axes[0], a], [tb, this.axes[1], b]] as const) {
      if (t.ndim < this.batch + axes.length || axes.some((ax) => ax >= t.ndim)) {
        throw new TypeMismatchError(`${this}: ${v.label} (${t}) has too few axes`);
      }
    }
    const batchShape: Array<number | null> = [];
    for (let i = 0; i < this.batch; i++) {
      const da = ta.shape[i]!;
      const db = tb.shape[i]!;
      if (da === 1) batchShape.push(db);
      else if (db === 1) batchShape.push(da);
      else if (da !== null && db !== null && da !== db) {
        throw new ShapeError(`${this} of statically ${fmt(ta.shape)} and ${fmt(tb.shape)}: batch axis ${i} differs (${da} != ${db})`);
      } else batchShape.push(da ?? db);
    }
    this.axes[0].forEach((ax, i) => {
      const da = ta.shape[ax]!;
      const db = tb.shape[this.axes[1][i]!]!;
      if (da !== null && db !== null && da !== db) {
        throw new ShapeError(`tensordot of statically ${fmt(ta.shape)} and ${fmt(tb.shape)}: summed axis ${ax} of the first (${da}) != axis ${this.axes[1][i]} of the second (${db})`);
      }
    });
    const shape = [...batchShape, ...this.free(ta.ndim, this.axes[0]).map((i) => ta.shape[i]!), ...this.free(tb.ndim, this.axes[1]).map((i) => tb.shape[i]!)];
    return new Apply(this, [a, b], [new TensorType(promoteTypes(ta.dtype, tb.dtype), shape)]);
  }

  perform(node: Apply, [x, y]: Value[]): Value[] {
    const a = x as NDArray;
    const b = y as NDArray;
    const ta = node.inputs[0]!.type as TensorType;
    const tb = node.inputs[1]!.type as TensorType;
    const dtype = (node.outputs[0]!.type as TensorType).dtype;
    const nb = this.batch;
    const [axA, axB] = this.axes;
    const batchShape: number[] = [];
    for (let i = 0; i < nb; i++) {
      const da = a.shape[i]!;
      const db = b.shape[i]!;
      if ((ta.shape[i] === 1 && da !== 1) || (tb.shape[i] === 1 && db !== 1)) {
        throw new ShapeError(`${this}: batch axis ${i} is declared broadcastable but has size ${ta.shape[i] === 1 ? da : db}`);
      }
      if (ta.shape[i] === 1) batchShape.push(db);
      else if (tb.shape[i] === 1) batchShape.push(da);
      else if (da !== db) {
        const hint = da === 1 || db === 1 ? " A batch axis of size 1 is only broadcast when its type says so (shape: [1, ...] or dimshuffle(\"x\", ...))." : "";
        throw new ShapeError(`${this}: shapes ${fmt(a.shape)} and ${fmt(b.shape)} differ on batch axis ${i} (${da} != ${db}).${hint}`);
      } else batchShape.push(da);
    }
    axA.forEach((ax, i) => {
      if (a.shape[ax] !== b.shape[axB[i]!]) {
        throw new ShapeError(`tensordot: shape-mismatch for sum: shapes ${fmt(a.shape)} and ${fmt(b.shape)}, axis ${ax} (${a.shape[ax]}) != axis ${axB[i]} (${b.shape[axB[i]!]})`);
      }
    });
    const batchAxes = [...Array(nb).keys()];
    const freeA = this.free(a.ndim, axA);
    const freeB = this.free(b.ndim, axB);
    const m = shapeSize(freeA.map((i) => a.shape[i]!));
    const k = shapeSize(axA.map((i) => a.shape[i]!));
    const n = shapeSize(freeB.map((i) => b.shape[i]!));
    const pa = packed(a.transpose(...batchAxes, ...freeA, ...axA), dtype);
    const pb = packed(b.transpose(...batchAxes, ...axB, ...freeB), dtype);
    const outShape = [...batchShape, ...freeA.map((i) => a.shape[i]!), ...freeB.map((i) => b.shape[i]!)];
    const out = new (typedArrayCtor(dtype))(shapeSize(outShape));
    // Block strides of the packed operands over their own batch axes; 0 where broadcast.
    const strideA = new Array<number>(nb);
    const strideB = new Array<number>(nb);
    for (let i = nb - 1, sa = m * k, sb = k * n; i >= 0; i--) {
      strideA[i] = a.shape[i] === 1 ? 0 : sa;
      strideB[i] = b.shape[i] === 1 ? 0 : sb;
      sa *= a.shape[i]!;
      sb *= b.shape[i]!;
    }
    const nBatch = shapeSize(batchShape);
    const idx = new Array<number>(nb).fill(0);
    let offA = pa.off;
    let offB = pb.off;
    for (let t = 0; t < nBatch; t++) {
      gemm(dtype, pa.data, offA, pb.data, offB, out, t * m * n, m, k, n);
      for (let ax = nb - 1; ax >= 0; ax--) {
        idx[ax]!++;
        offA += strideA[ax]!;
        offB += strideB[ax]!;
        if (idx[ax]! < batchShape[ax]!) break;
        offA -= idx[ax]! * strideA[ax]!;
        offB -= idx[ax]! * strideB[ax]!;
        idx[ax] = 0;
      }
    }
    return [new NDArray(dtype, outShape, out)];
  }

  override inferShape(node: Apply, [sa, sb]: Array<Variable[] | null>): Variable[][] {
    const ta = node.inputs[0]!.type as TensorType;
    const batch = [...Array(this.batch).keys()].map((i) => (ta.shape[i] === 1 ? sb![i]! : sa![i]!));
    return [[...batch, ...this.free(ta.ndim, this.axes[0]).map((i) => sa![i]!), ...this.free(sb!.length, this.axes[1]).map((i) => sb![i]!)]];
  }

  /**
   * The output's axes are (batch, free of a, free of b). Contracting the output gradient with b
   * over b's free axes leaves (batch, free of a, summed axes of b in ascending order), which a
   * permutation puts back in a's order (each summed axis of b stands for its partner in a);
   * symmetrically for b. A batch axis that broadcast (static size 1 in one operand only) is
   * summed back to size 1.
   */
  override grad([a, b]: Variable[], [gz]: Variable[]): GradResult[] {
    const x = a as TensorVariable;
    const y = b as TensorVariable;
    const g = gz as TensorVariable;
    const nb = this.batch;
    const [axA, axB] = this.axes;
    const freeA = this.free(x.ndim, axA);
    const freeB = this.free(y.ndim, axB);
    const gFreeA = freeA.map((_, i) => nb + i);
    const gFreeB = freeB.map((_, i) => nb + freeA.length + i);
    const ascending = (l: readonly number[]): number[] => [...l].sort((p, q) => p - q);
    const sortedA = ascending(axA);
    const sortedB = ascending(axB);

    const rawA = tensorDotOp([gFreeB, freeB], nb).call(g, y) as TensorVariable;
    const permA = new Array<number>(x.ndim);
    for (let i = 0; i < nb; i++) permA[i] = i;
    freeA.forEach((ax, i) => (permA[ax] = nb + i));
    axA.forEach((ax, j) => (permA[ax] = nb + freeA.length + sortedB.indexOf(axB[j]!)));

    const rawB = tensorDotOp([freeA, gFreeA], nb).call(x, g) as TensorVariable;
    const permB = new Array<number>(y.ndim);
    for (let i = 0; i < nb; i++) permB[i] = i;
    axB.forEach((ax, j) => (permB[ax] = nb + sortedA.indexOf(axA[j]!)));
    freeB.forEach((ax, i) => (permB[ax] = nb + axA.length + i));

    const unbroadcast = (v: TensorVariable, like: TensorVariable): TensorVariable => {
      const axes = [...Array(nb).keys()].filter((i) => like.type.shape[i] === 1 && v.type.shape[i] !== 1);
      return axes.length === 0 ? v : sum(v, axes, { keepdims: true });
    };
    return [castLike(unbroadcast(dimshuffle(rawA, permA), x), x), castLike(unbroadcast(dimshuffle(rawB, permB), y), y)];
  }
}

const tensorDotOps = new Map<string, TensorDot>();
function tensorDotOp(axes: readonly [readonly number[], readonly number[]], batch: number): TensorDot {
  const key = `${axes[0].join(",")}/${axes[1].join(",")}/${batch}`;
  let op = tensorDotOps.get(key);
  if (!op) tensorDotOps.set(key, (op = new TensorDot(axes, batch)));
  return op;
}

// ---------------------------------------------------------------------------------------------
// Public functions

const isWeak = (v: unknown): v is number | boolean | readonly unknown[] => typeof v === "number" || typeof v === "boolean" || Array.isArray(v);

/**
 * Two operands as tensors. JS numbers and nested arrays are weak, as everywhere in T (API.md
 * §4): they take the dtype of the tensor they meet, so `fmatrix.dot([[1, 2], [3, 4]])` stays
 * float32.
 */
function operands(a: TensorLike, b: TensorLike): [TensorVariable, TensorVariable] {
  if (!isWeak(a) && !isWeak(b)) return [asTensorVariable(a), asTensorVariable(b)];
  const kinds = [a, b].map((v): DType | WeakScalar => {
    if (!isWeak(v)) return asTensorVariable(v).dtype;
    const d = array(v as never).dtype;
    return { weak: d === "bool" ? "bool" : d === "float64" ? "float" : "int" };
  });
  const common = resultType(kinds, currentFloatX());
  const conv = (v: TensorLike): TensorVariable => (isWeak(v) ? constant(v as never, { dtype: common }) : asTensorVariable(v));
  return [conv(a), conv(b)];
}

/**
 * `T.dot(a, b)`: NumPy's dot. Scalars multiply elementwise; vectors and matrices use Dot;
 * higher ranks contract the last axis of a with the second-to-last of b (the last when b is
 * a vector).
 */
export function dot(a: TensorLike, b: TensorLike): TensorVariable {
  const [x, y] = operands(a, b);
  if (x.ndim === 0 || y.ndim === 0) return mul(x, y);
  if (x.ndim <= 2 && y.ndim <= 2) return DOT.call(x, y) as TensorVariable;
  return tensorDotOp([[x.ndim - 1], [y.ndim >= 2 ? y.ndim - 2 : 0]], 0).call(x, y) as TensorVariable;
}

/**
 * `T.matmul(a, b)`: NumPy's matmul. Leading axes are batch axes that broadcast (Theano's rule:
 * only where the static size is 1, or where one operand has fewer axes); a vector operand gets
 * a temporary axis (prepended for a, appended for b) that is removed from the result.
 */
export function matmul(a: TensorLike, b: TensorLike): TensorVariable {
  const [x, y] = operands(a, b);
  if (x.ndim === 0 || y.ndim === 0) {
    throw new TypeMismatchError(`matmul: operand ${x.ndim === 0 ? x.label : y.label} is a scalar; matmul needs at least one axis (use T.mul to scale)`);
  }
  if (x.ndim <= 2 && y.ndim <= 2) return DOT.call(x, y) as TensorVariable;
  const xa = x.ndim === 1 ? dimshuffle(x, ["x", 0]) : x;
  const yb = y.ndim === 1 ? dimshuffle(y, [0, "x"]) : y;
  const nd = Math.max(xa.ndim, yb.ndim);
  const r = tensorDotOp([[nd - 1], [nd - 2]], nd - 2).call(padLeft(xa, nd), padLeft(yb, nd)) as TensorVariable;
  const drop = new Set<number>();
  if (x.ndim === 1) drop.add(nd - 2);
  if (y.ndim === 1) drop.add(nd - 1);
  return drop.size === 0 ? r : dimshuffle(r, [...Array(nd).keys()].filter((i) => !drop.has(i)));
}

/** `T.outer(a, b)`: both operands flattened, every product a[i]·b[j] (NumPy's outer). */
export function outer(a: TensorLike, b: TensorLike): TensorVariable {
  const [x, y] = operands(a, b);
  const fx = x.ndim === 1 ? x : flatten(x);
  const fy = y.ndim === 1 ? y : flatten(y);
  return mul(dimshuffle(fx, [0, "x"]), dimshuffle(fy, ["x", 0]));
}

export type TensordotAxes = number | readonly [number | readonly number[], number | readonly number[]];

/**
 * `T.tensordot(a, b, axes = 2)`: NumPy's tensordot. `axes` is a count N (the last N axes of a
 * with the first N of b) or a pair of axis lists (or of single axes) to contract.
 */
export function tensordot(a: TensorLike, b: TensorLike, axes: TensordotAxes = 2): TensorVariable {
  const [x, y] = operands(a, b);
  let la: number[];
  let lb: number[];
  if (typeof axes === "number") {
    if (!Number.isInteger(axes) || axes < 0 || axes > x.ndim || axes > y.ndim) {
      throw new TypeMismatchError(`tensordot: cannot contract ${axes} axes of ${x.label} (rank ${x.ndim}) with ${y.label} (rank ${y.ndim})`);
    }
    la = [...Array(axes).keys()].map((i) => x.ndim - axes + i);
    lb = [...Array(axes).keys()];
  } else {
    if (!Array.isArray(axes) || axes.length !== 2) throw new TypeMismatchError(`tensordot: axes must be a number or a pair of axis lists, got ${JSON.stringify(axes)}`);
    const list = (v: number | readonly number[]): number[] => (typeof v === "number" ? [v] : [...v]);
    la = list(axes[0]).map((ax) => normalizeAxis(ax, x.ndim));
    lb = list(axes[1]).map((ax) => normalizeAxis(ax, y.ndim));
    if (la.length !== lb.length) throw new TypeMismatchError(`tensordot: axes (${la.join(", ")}) and (${lb.join(", ")}) differ in length`);
  }
  if (x.ndim <= 2 && y.ndim <= 2 && la.length === 1 && la[0] === x.ndim - 1 && lb[0] === 0) return DOT.call(x, y) as TensorVariable;
  return tensorDotOp([la, lb], 0).call(x, y) as TensorVariable;
}

/**
 * `T.batchedDot(a, b)`: Theano's batched_dot, one dot per entry of the first axis:
 * (B, m, k)·(B, k, n) → (B, m, n), (B, k)·(B, k) → (B,), (B, m, k)·(B, k) → (B, m), and for
 * higher ranks each a[i]·b[i] with NumPy dot semantics. A batch of scalars (a vector) scales.
 */
export function batchedDot(a: TensorLike, b: TensorLike): TensorVariable {
  const [x, y] = operands(a, b);
  if (x.ndim === 0 || y.ndim === 0) throw new TypeMismatchError(`batchedDot: operands need a batch axis, got ${x.label}: ${x.type} and ${y.label}: ${y.type}`);
  const padRight = (v: TensorVariable, n: number): TensorVariable => dimshuffle(v, [...Array(v.ndim).keys(), ...Array<"x">(n).fill("x")]);
  if (x.ndim === 1) return mul(padRight(x, y.ndim - 1), y);
  if (y.ndim === 1) return mul(x, padRight(y, x.ndim - 1));
  return tensorDotOp([[x.ndim - 1], [Math.max(1, y.ndim - 2)]], 1).call(x, y) as TensorVariable;
}

hooks.dot = (x, y) => dot(x, y);
