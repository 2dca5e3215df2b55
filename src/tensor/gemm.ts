/**
 * Gemm: `z_out = alpha·dot(x, y) + beta·z` for float matrices in one node (Theano's
 * `tensor/blas.py` Gemm, BLAS's xGEMM).
 *
 * The BLAS rewrites (src/rewriting/blas.ts) turn `a*z + b*dot(x, y)` and its variants into this
 * node, so the product and the update run as one loop nest with no temporary for dot(x, y).
 * With `inplace` the result is written over z (destroyMap {0: [0]}); only the in-place stage
 * sets it, and only where the destroy handler says z's memory is dead afterwards.
 *
 * Inputs, in Theano's order: (z, alpha, x, y, beta); z, x and y are matrices of one float
 * dtype, alpha and beta 0-d floats. As in BLAS (and Theano's perform), z is not read when
 * beta == 0, so a NaN in z does not reach the result then.
 *
 * The kernel is row-major i-k-j: four rows of x share each load of a row of y, accumulating in
 * float64 into a block of columns of y small enough for the cache; the epilogue then scales,
 * adds beta·z and stores through any strides (so writing over a strided z view is fine).
 * x may have any strides; y is packed when its rows are not contiguous.
 */

import { ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { isFloat, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray } from "../ndarray/ndarray.js";
import { dimshuffle } from "./basic.js";
import { Dot } from "./blas.js";
import { tensorType } from "./elemwise.js";
import { cast, mul, sum } from "./math.js";
import { TensorType, formatStaticShape } from "./type.js";
import type { TensorVariable } from "./variable.js";

type F = Float64Array | Float32Array;

/** A strided matrix view: element (i, j) at data[off + i*s0 + j*s1]. */
interface Mat {
  readonly data: F;
  readonly off: number;
  readonly s0: number;
  readonly s1: number;
}

const matOf = (a: NDArray): Mat => ({ data: a.data as F, off: a.offset, s0: a.strides[0]!, s1: a.strides[1]! });

/** Columns of y per block: the block of y (k × nb) and the 4 × nb accumulator stay in cache. */
const blockCols = (k: number, n: number): number => (n <= 256 || k * n <= 65536 ? n : Math.max(64, Math.min(n, Math.floor(65536 / Math.max(k, 1)))));

/**
 * O = alpha·X·Y + beta·Z for X m×k, Y k×n (rows contiguous: s1 = 1), Z and O m×n.
 * O may be Z itself (same strides): each element of Z is read just before it is overwritten.
 */
export function gemmKernel(m: number, k: number, n: number, alpha: number, X: Mat, Y: Mat, beta: number, Z: Mat, O: Mat): void {
  if (m === 0 || n === 0) return;
  const nbMax = blockCols(k, n);
  const acc = new Float64Array(4 * nbMax);
  const { data: A, off: aOff, s0: as0, s1: as1 } = X;
  const { data: B, off: bOff, s0: bs0 } = Y;
  const store = (i: number, j0: number, nb: number, row: number): void => {
    const zr = Z.off + i * Z.s0 + j0 * Z.s1;
    const or = O.off + i * O.s0 + j0 * O.s1;
    const zs = Z.s1;
    const os = O.s1;
    const base = row * nb;
    if (beta === 0) for (let j = 0; j < nb; j++) O.data[or + j * os] = alpha * acc[base + j]!;
    else for (let j = 0; j < nb; j++) O.data[or + j * os] = alpha * acc[base + j]! + beta * Z.data[zr + j * zs]!;
  };
  for (let j0 = 0; j0 < n; j0 += nbMax) {
    const nb = Math.min(nbMax, n - j0);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      acc.fill(0, 0, 4 * nb);
      const a0 = aOff + i * as0;
      const a1 = a0 + as0;
      const a2 = a1 + as0;
      const a3 = a2 + as0;
      const n1 = nb;
      const n2 = 2 * nb;
      const n3 = 3 * nb;
      for (let p = 0; p < k; p++) {
        const ap = p * as1;
        const x0 = A[a0 + ap]!;
        const x1 = A[a1 + ap]!;
        const x2 = A[a2 + ap]!;
        const x3 = A[a3 + ap]!;
        const bp = bOff + p * bs0 + j0;
        for (let j = 0; j < nb; j++) {
          const b = B[bp + j]!;
          acc[j]! += x0 * b;
          acc[n1 + j]! += x1 * b;
          acc[n2 + j]! += x2 * b;
          acc[n3 + j]! += x3 * b;
        }
      }
      for (let r = 0; r < 4; r++) store(i + r, j0, nb, r);
    }
    for (; i < m; i++) {
      acc.fill(0, 0, nb);
      const ai = aOff + i * as0;
      for (let p = 0; p < k; p++) {
        const av = A[ai + p * as1]!;
        const bp = bOff + p * bs0 + j0;
        for (let j = 0; j < nb; j++) acc[j]! += av * B[bp + j]!;
      }
      store(i, j0, nb, 0);
    }
  }
}

const fmt = formatStaticShape;

/** Theano's Gemm: `gemm(z, alpha, x, y, beta) = alpha·dot(x, y) + beta·z`. */
export class Gemm extends Op {
  constructor(readonly inplace = false) {
    super();
    if (inplace) this.destroyMap = new Map([[0, [0]]]);
  }

  override props(): Record<string, unknown> {
    return { inplace: this.inplace };
  }

  override toString(): string {
    return this.inplace ? "Gemm{inplace}" : "Gemm{no_inplace}";
  }

  makeNode(z: Variable, alpha: Variable, x: Variable, y: Variable, beta: Variable): Apply {
    const [tz, ta, tx, ty, tb] = [z, alpha, x, y, beta].map(tensorType) as [TensorType, TensorType, TensorType, TensorType, TensorType];
    if (tz.ndim !== 2 || tx.ndim !== 2 || ty.ndim !== 2) throw new TypeMismatchError(`${this}: z, x and y must be matrices, got ${tz}, ${tx} and ${ty}`);
    if (ta.ndim !== 0 || tb.ndim !== 0) throw new TypeMismatchError(`${this}: alpha and beta must be 0-d, got ${ta} and ${tb}`);
    if (!isFloat(tz.dtype) || tx.dtype !== tz.dtype || ty.dtype !== tz.dtype) {
      throw new TypeMismatchError(`${this}: z, x and y must share one float dtype, got ${tz.dtype}, ${tx.dtype} and ${ty.dtype}`);
    }
    if (!isFloat(ta.dtype) || !isFloat(tb.dtype)) throw new TypeMismatchError(`${this}: alpha and beta must be floats, got ${ta.dtype} and ${tb.dtype}`);
    const [m, k1] = tx.shape as [number | null, number | null];
    const [k2, n] = ty.shape as [number | null, number | null];
    if (k1 !== null && k2 !== null && k1 !== k2) throw new ShapeError(`${this}: dot of statically ${fmt(tx.shape)} and ${fmt(ty.shape)}: the summed dimensions differ (${k1} != ${k2})`);
    const shape = [m, n].map((d, i) => {
      const zd = tz.shape[i]!;
      if (zd !== null && d !== null && zd !== d) throw new ShapeError(`${this}: z is statically ${fmt(tz.shape)} but dot(x, y) is ${fmt([m, n])}`);
      return zd ?? d;
    });
    return new Apply(this, [z, alpha, x, y, beta], [new TensorType(tz.dtype, shape)]);
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const [z, a, x, y, b] = inputs as [NDArray, NDArray, NDArray, NDArray, NDArray];
    const m = x.shape[0]!;
    const k = x.shape[1]!;
    const n = y.shape[1]!;
    if (y.shape[0] !== k) throw new ShapeError(`${this}: shapes ${fmt(x.shape)} and ${fmt(y.shape)} not aligned: ${k} (dim 1) != ${y.shape[0]} (dim 0)`);
    if (z.shape[0] !== m || z.shape[1] !== n) throw new ShapeError(`${this}: z has shape ${fmt(z.shape)} but dot(x, y) has shape (${m}, ${n})`);
    const alpha = Number(a.data[a.offset]);
    const beta = Number(b.data[b.offset]);
    const dtype = (node.outputs[0]!.type as TensorType).dtype;
    // Written over z: x or y sharing z's memory must be read from a copy.
    const aliased = (v: NDArray): boolean => this.inplace && v.data.buffer === z.data.buffer;
    const xs = aliased(x) ? x.copy() : x;
    const ys = aliased(y) || (y.strides[1] !== 1 && n > 1) ? y.copy() : y;
    // A z with repeated memory (a broadcast view) cannot take the result: it goes to a fresh buffer then.
    const inplace = this.inplace && !z.shape.some((d, i) => d > 1 && z.strides[i] === 0);
    const out = inplace ? z : new NDArray(dtype, [m, n], new (typedArrayCtor(dtype))(m * n));
    gemmKernel(m, k, n, alpha, matOf(xs), matOf(ys), beta, matOf(z), matOf(out));
    return [inplace ? new NDArray(dtype, z.shape, z.data, z.strides, z.offset) : out];
  }

  override inferShape(_node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return [[shapes[0]![0]!, shapes[0]![1]!]];
  }

  /** Through the unfused form: dz = beta·g, dx = alpha·g·yᵀ, dy = alpha·xᵀ·g, and the scalars' sums. */
  override grad(inputs: Variable[], outputGrads: Variable[]): GradResult[] {
    const [z, alpha, x, y, beta] = inputs as [TensorVariable, TensorVariable, TensorVariable, TensorVariable, TensorVariable];
    const g = outputGrads[0] as TensorVariable;
    const dot = (p: TensorVariable, q: TensorVariable): TensorVariable => DOT.call(p, q) as TensorVariable;
    const like = (v: TensorVariable, ref: TensorVariable): TensorVariable => (v.dtype === ref.dtype ? v : cast(v, ref.dtype));
    const al = like(alpha, z);
    return [
      like(mul(g, like(beta, z)), z),
      like(sum(mul(g, dot(x, y))), alpha),
      like(mul(dot(g, dimshuffle(y, [1, 0])), al), x),
      like(mul(dot(dimshuffle(x, [1, 0]), g), al), y),
      like(sum(mul(g, z)), beta),
    ];
  }
}

const DOT = new Dot();

export const GEMM = new Gemm(false);
export const GEMM_INPLACE = new Gemm(true);
