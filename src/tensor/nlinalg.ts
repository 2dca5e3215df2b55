/**
 * Dense linear algebra (Theano's `tensor/nlinalg.py`, NumPy's `numpy.linalg`): `inv`, `det`,
 * `solve`, `cholesky`, `eigh`, `svd`, `qr`, `trace`, `norm`, also as the namespace `T.nlinalg`.
 *
 * Float only: integer and bool operands become floatX first; float32 stays float32 but every
 * kernel computes in float64 and rounds once at the end. Matrices may come in stacks
 * (`(..., m, n)`, NumPy's convention); each perform loops over the stack with one 2-d kernel.
 * The kernels are the textbook ones, written for clarity and float64 accuracy rather than
 * LAPACK speed: LU with partial pivoting (inv, det, solve), Cholesky–Banachiewicz, cyclic
 * Jacobi rotations for eigh, one-sided (Hestenes) Jacobi for svd, Householder for qr.
 *
 * Where NumPy raises LinAlgError (a singular matrix for inv/solve, a matrix that is not
 * positive definite for cholesky, NaN or infinity given to eigh/svd), these raise `InputError`:
 * the values given are the problem, not shapes or types. Non-square input is a ShapeError.
 * Eigenvectors and singular vectors are unique only up to sign; the results satisfy the
 * defining identities (A v = w v, U diag(s) Vh = A, orthonormal columns) to float64 accuracy.
 *
 * Every op has a gradient built from these same ops (so gradients of gradients exist): inv, det
 * and solve as Theano's; cholesky after Murray (2016) as PyTensor's; eigh as Theano's EighGrad;
 * svd after Townsend (2016); qr in the form TensorFlow's QrGrad uses. Each says in its comment
 * where the gradient is undefined (repeated eigen/singular values, the arbitrary extra basis of
 * a full svd or a complete qr). Kernels that read only the lower triangle (cholesky, eigh) get
 * lower-triangular gradients, matching what they read.
 */

import { InputError, ShapeError, TypeMismatchError } from "../errors.js";
import { Apply, GradUndefined, type GradResult, Op, type Value, type Variable } from "../graph/basic.js";
import { type DType, isBigIntDType, isFloat, promoteTypes, typedArrayCtor } from "../ndarray/dtype.js";
import { NDArray, normalizeAxis, shapeSize } from "../ndarray/ndarray.js";
import { Alloc, arange, eye, zerosLike } from "./alloc.js";
import { dimshuffle } from "./basic.js";
import { castLike, matmul } from "./blas.js";
import { tensorType } from "./elemwise.js";
import { currentFloatX } from "./floatx.js";
import { concatenate } from "./join.js";
import * as M from "./math.js";
import { shape } from "./shape.js";
import { slice } from "./subtensor.js";
import { TensorType, formatStaticShape } from "./type.js";
import { type TensorLike, type TensorVariable, asTensorVariable, constant, constantValue } from "./variable.js";

const EPS = 2.220446049250313e-16;

// ---------------------------------------------------------------------------------------------
// Shared plumbing

/** A stack of matrices as one float64 C-ordered copy. */
interface Stack {
  batch: number[];
  count: number;
  m: number;
  n: number;
  data: Float64Array;
}

function stackOf(x: NDArray): Stack {
  const batch = x.shape.slice(0, -2);
  const m = x.shape[x.ndim - 2]!;
  const n = x.shape[x.ndim - 1]!;
  return { batch, count: shapeSize(batch), m, n, data: x.astype("float64").data as Float64Array };
}

/** A float64 result as an NDArray of `dtype` (float32 results round once, here). */
function result(dtype: DType, shape: readonly number[], data: Float64Array): NDArray {
  return new NDArray(dtype, shape, dtype === "float64" ? data : (typedArrayCtor(dtype) as Float32ArrayConstructor).from(data));
}

const outDtype = (node: Apply, i = 0): DType => (node.outputs[i]!.type as TensorType).dtype;

/** Checks a float tensor of rank >= 2 (square if asked); returns its type. */
function matrixType(op: Op, v: Variable, square: boolean): TensorType {
  const t = tensorType(v);
  if (!isFloat(t.dtype)) throw new TypeMismatchError(`${op} takes float matrices, got ${v.label}: ${t} (T.nlinalg functions cast integers to floatX)`);
  if (t.ndim < 2) throw new TypeMismatchError(`${op} takes a matrix (or a stack of matrices), got ${v.label}: ${t}`);
  const [r, c] = t.shape.slice(-2);
  if (square && r !== null && c !== null && r !== c) throw new ShapeError(`${op}: ${v.label} must be square, its static shape is ${formatStaticShape(t.shape)}`);
  return t;
}

function checkSquare(op: Op, x: NDArray): void {
  if (x.shape[x.ndim - 1] !== x.shape[x.ndim - 2]) throw new ShapeError(`${op}: the last two dimensions must be square, got shape [${x.shape.join(", ")}]`);
}

function checkFinite(op: Op, s: Stack): void {
  for (let i = 0; i < s.data.length; i++) {
    if (!Number.isFinite(s.data[i]!)) throw new InputError(`${op}: the matrix holds NaN or infinity (as NumPy, which does not converge on it)`);
  }
}

/** The common static size of the two last axes of a square matrix type. */
const squareDim = (t: TensorType): number | null => t.shape[t.ndim - 1] ?? t.shape[t.ndim - 2] ?? null;

/** Symbolic min of two int64 scalars (constants fold to a constant). */
function minDim(a: Variable, b: Variable): Variable {
  const ca = (a as TensorVariable).isConstant ? Number((a.constantData as NDArray).getBig()) : null;
  const cb = (b as TensorVariable).isConstant ? Number((b.constantData as NDArray).getBig()) : null;
  if (ca !== null && cb !== null) return constant(Math.min(ca, cb), { dtype: "int64" });
  return M.minimum(a as TensorVariable, b as TensorVariable);
}

const minStatic = (a: number | null, b: number | null): number | null => (a === 0 || b === 0 ? 0 : a === null || b === null ? null : Math.min(a, b));

// ---------------------------------------------------------------------------------------------
// Kernels (row-major float64, one matrix at offset `o`)

/** LU with partial pivoting in place; returns the permutation sign, 0 when a pivot is exactly 0. */
function luDecompose(a: Float64Array, o: number, n: number, piv: Int32Array): number {
  let sign = 1;
  for (let j = 0; j < n; j++) {
    let p = j;
    let best = Math.abs(a[o + j * n + j]!);
    for (let i = j + 1; i < n; i++) {
      const v = Math.abs(a[o + i * n + j]!);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    piv[j] = p;
    if (p !== j) {
      for (let c = 0; c < n; c++) {
        const t = a[o + j * n + c]!;
        a[o + j * n + c] = a[o + p * n + c]!;
        a[o + p * n + c] = t;
      }
      sign = -sign;
    }
    const d = a[o + j * n + j]!;
    if (d === 0) {
      sign = 0;
      continue;
    }
    for (let i = j + 1; i < n; i++) {
      const f = (a[o + i * n + j]! /= d);
      if (f === 0) continue;
      for (let c = j + 1; c < n; c++) a[o + i * n + c]! -= f * a[o + j * n + c]!;
    }
  }
  return sign;
}

/** Solves LU x = P b in place for the n×k right-hand side at `bo`. */
function luSolve(lu: Float64Array, o: number, n: number, piv: Int32Array, b: Float64Array, bo: number, k: number): void {
  for (let j = 0; j < n; j++) {
    const p = piv[j]!;
    if (p === j) continue;
    for (let c = 0; c < k; c++) {
      const t = b[bo + j * k + c]!;
      b[bo + j * k + c] = b[bo + p * k + c]!;
      b[bo + p * k + c] = t;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const f = lu[o + i * n + j]!;
      if (f !== 0) for (let c = 0; c < k; c++) b[bo + i * k + c]! -= f * b[bo + j * k + c]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let j = i + 1; j < n; j++) {
      const f = lu[o + i * n + j]!;
      if (f !== 0) for (let c = 0; c < k; c++) b[bo + i * k + c]! -= f * b[bo + j * k + c]!;
    }
    const d = lu[o + i * n + i]!;
    for (let c = 0; c < k; c++) b[bo + i * k + c]! /= d;
  }
}

/** Lower Cholesky factor of the matrix at `o` (its lower triangle is read), or null if not positive definite. */
function choleskyKernel(a: Float64Array, o: number, n: number, out: Float64Array, oo: number): boolean {
  for (let j = 0; j < n; j++) {
    let s = a[o + j * n + j]!;
    for (let k = 0; k < j; k++) s -= out[oo + j * n + k]! ** 2;
    if (!(s > 0)) return false; // also catches NaN, as LAPACK's potrf does
    const d = Math.sqrt(s);
    out[oo + j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = a[o + i * n + j]!;
      for (let k = 0; k < j; k++) t -= out[oo + i * n + k]! * out[oo + j * n + k]!;
      out[oo + i * n + j] = t / d;
    }
  }
  return true;
}

/**
 * Cyclic Jacobi eigenvalue algorithm on the symmetric matrix whose lower triangle is at `o`
 * (NumPy's eigh reads the lower triangle too). Writes ascending eigenvalues to `w` and the
 * eigenvectors as the columns of the n×n `v`. Converges quadratically; off-diagonal entries
 * too small to change the diagonal are zeroed after a few sweeps (the Numerical Recipes rule).
 */
function jacobiEigh(src: Float64Array, o: number, n: number, w: Float64Array, wo: number, v: Float64Array, vo: number): boolean {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      a[i * n + j] = src[o + i * n + j]!;
      a[j * n + i] = src[o + i * n + j]!;
    }
  }
  const vec = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vec[i * n + i] = 1;
  let converged = n <= 1;
  for (let sweep = 0; sweep < 100 && !converged; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += Math.abs(a[p * n + q]!);
    if (off === 0) {
      converged = true;
      break;
    }
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const g = 100 * Math.abs(apq);
        if (sweep > 3 && Math.abs(app) + g === Math.abs(app) && Math.abs(aqq) + g === Math.abs(aqq)) {
          a[p * n + q] = 0;
          a[q * n + p] = 0;
          continue;
        }
        const h = aqq - app;
        let t: number;
        if (Math.abs(h) + g === Math.abs(h)) t = apq / h;
        else {
          const theta = (0.5 * h) / apq;
          t = 1 / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
          if (theta < 0) t = -t;
        }
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        const tau = s / (1 + c);
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let r = 0; r < n; r++) {
          if (r === p || r === q) continue;
          const arp = a[r * n + p]!;
          const arq = a[r * n + q]!;
          const np = arp - s * (arq + tau * arp);
          const nq = arq + s * (arp - tau * arq);
          a[r * n + p] = np;
          a[p * n + r] = np;
          a[r * n + q] = nq;
          a[q * n + r] = nq;
        }
        for (let r = 0; r < n; r++) {
          const vrp = vec[r * n + p]!;
          const vrq = vec[r * n + q]!;
          vec[r * n + p] = vrp - s * (vrq + tau * vrp);
          vec[r * n + q] = vrq + s * (vrp - tau * vrq);
        }
      }
    }
  }
  if (!converged) return false;
  const order = [...Array(n).keys()].sort((i, j) => a[i * n + i]! - a[j * n + j]! || i - j);
  order.forEach((src, k) => {
    w[wo + k] = a[src * n + src]!;
    for (let r = 0; r < n; r++) v[vo + r * n + k] = vec[r * n + src]!;
  });
  return true;
}

/** [x, y] ← [c·x − s·y, s·x + c·y], a plane rotation of two vectors. */
function rotate(x: Float64Array, y: Float64Array, c: number, s: number): void {
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const yi = y[i]!;
    x[i] = c * xi - s * yi;
    y[i] = s * xi + c * yi;
  }
}

/** The Euclidean norm, scaled so that huge or tiny entries neither overflow nor underflow. */
function norm2(x: Float64Array): number {
  let scale = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]!));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i]! / scale) ** 2;
  return scale * Math.sqrt(ss);
}

/**
 * One-sided Jacobi SVD of the rows×cols matrix (rows >= cols) given as its columns `cols`
 * (each of length `rows`, rotated in place). Returns the singular values (descending), with
 * `cols` reordered to match and normalised (a zero column stays zero: the caller completes the
 * basis), and V's columns as `v` (cols × cols, one column per entry, orthonormal).
 */
function jacobiSvd(cols: Float64Array[], rows: number): { s: number[]; v: Float64Array[] } {
  const n = cols.length;
  const v = [...Array(n).keys()].map((j) => {
    const e = new Float64Array(n);
    e[j] = 1;
    return e;
  });
  const tol = Math.max(rows, 1) * EPS;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const up = cols[p]!;
        const uq = cols[q]!;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          alpha += up[i]! * up[i]!;
          beta += uq[i]! * uq[i]!;
          gamma += up[i]! * uq[i]!;
        }
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.abs(zeta) > 1e150 ? 1 / (2 * zeta) : (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(up, uq, c, s);
        rotate(v[p]!, v[q]!, c, s);
      }
    }
    if (!rotated) break;
  }
  const norms = cols.map(norm2);
  const order = [...Array(n).keys()].sort((i, j) => norms[j]! - norms[i]! || i - j);
  const s = order.map((j) => norms[j]!);
  const sortedCols = order.map((j) => {
    const c = cols[j]!;
    const nrm = norms[j]!;
    return nrm > 0 ? c.map((x) => x / nrm) : c.fill(0);
  });
  const sortedV = order.map((j) => v[j]!);
  cols.splice(0, n, ...sortedCols);
  return { s, v: sortedV };
}

/**
 * Fills the zero vectors of `vecs` and appends more until there are `target` of them, so that
 * all are orthonormal: each new one is the unit vector e_i least covered by the others,
 * orthogonalised against them twice (Gram–Schmidt with reorthogonalisation).
 */
function completeBasis(vecs: Float64Array[], len: number, target: number): Float64Array[] {
  const out = vecs.slice();
  while (out.length < target) out.push(new Float64Array(len));
  const isZero = (x: Float64Array): boolean => x.every((e) => e === 0);
  for (let k = 0; k < out.length; k++) {
    if (!isZero(out[k]!)) continue;
    const others = out.filter((x, i) => i !== k && !isZero(x));
    let bestI = 0;
    let bestR = -1;
    for (let i = 0; i < len; i++) {
      let cov = 0;
      for (const q of others) cov += q[i]! * q[i]!;
      if (1 - cov > bestR) {
        bestR = 1 - cov;
        bestI = i;
      }
    }
    const r = new Float64Array(len);
    r[bestI] = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (const q of others) {
        let d = 0;
        for (let i = 0; i < len; i++) d += q[i]! * r[i]!;
        for (let i = 0; i < len; i++) r[i]! -= d * q[i]!;
      }
    }
    const nrm = norm2(r);
    for (let i = 0; i < len; i++) r[i]! /= nrm;
    out[k] = r;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Gradient helpers (graphs over stacks of matrices: every helper works on the last two axes)

const tvar = (v: Variable): TensorVariable => v as TensorVariable;
const range = (n: number): number[] => [...Array(n).keys()];

/** The transpose of each matrix of a stack (the last two axes swapped). */
function mT(v: TensorVariable): TensorVariable {
  const nd = v.ndim;
  return dimshuffle(v, [...range(nd - 2), nd - 1, nd - 2]);
}

/** `v` with a broadcastable axis inserted at position `at` (negative: from the end, -1 = last). */
function withAxis(v: TensorVariable, at: number): TensorVariable {
  const pos = at < 0 ? v.ndim + 1 + at : at;
  const pattern: Array<number | "x"> = range(v.ndim);
  pattern.splice(pos, 0, "x");
  return dimshuffle(v, pattern);
}

/** n×n masks for a symbolic n: the diagonal (bool) and the lower triangle with the diagonal (in `dtype`). */
function squareMasks(n: Variable, dtype: DType): { diag: TensorVariable; eye: TensorVariable; lower: TensorVariable } {
  const i = arange(n as TensorVariable);
  const rows = dimshuffle(i, [0, "x"]);
  const cols = dimshuffle(i, ["x", 0]);
  const diag = M.eq(rows, cols);
  return { diag, eye: M.cast(diag, dtype), lower: M.cast(M.ge(rows, cols), dtype) };
}

/** 1 / (a_j - a_i) off the diagonal and 0 on it, for the last axis of `a` (entry (i, j)). */
function inverseGaps(a: TensorVariable, diag: TensorVariable): TensorVariable {
  const gaps = M.sub(withAxis(a, -2), withAxis(a, -1));
  return M.where(diag, 0, M.trueDiv(1, M.where(diag, 1, gaps)));
}

/** x · r⁻ᵀ for square r (a solve, never an explicit inverse). */
const timesInvT = (x: TensorVariable, r: TensorVariable): TensorVariable => mT(SOLVE.call(r, mT(x)) as TensorVariable);

/**
 * Whether a gradient the engine handed to an op is its "no gradient flows here" zeros (an
 * Alloc of a constant 0, or a constant 0). Decompositions whose outputs are not all uniquely
 * defined (full SVD, complete QR) use it to skip the terms of outputs the cost does not use.
 */
function isZeroGrad(v: Variable): boolean {
  const zero = (c: Variable): boolean => {
    const a = constantValue(c);
    return a !== undefined && [...a.toFlat()].every((e) => Number(e) === 0);
  };
  if (zero(v)) return true;
  return v.owner !== null && v.owner.op instanceof Alloc && zero(v.owner.inputs[0]!);
}

const gradOrNull = (v: Variable | undefined): TensorVariable | null => (v === undefined || isZeroGrad(v) ? null : tvar(v));

/** Sum of the terms that are present (null = zero). */
function sumTerms(...terms: Array<TensorVariable | null>): TensorVariable | null {
  const present = terms.filter((t): t is TensorVariable => t !== null);
  return present.length === 0 ? null : present.reduce((a, b) => M.add(a, b));
}

const tvarOrNull = (v: Variable | null): TensorVariable | null => (v === null ? null : tvar(v));

/** The columns [start, stop) of each matrix of a stack (symbolic bounds). */
const columns = (v: TensorVariable, start: Variable | null, stop: Variable | null): TensorVariable => v.get("...", slice(tvarOrNull(start), tvarOrNull(stop)));
const rowsOf = (v: TensorVariable, start: Variable | null, stop: Variable | null): TensorVariable => v.get("...", slice(tvarOrNull(start), tvarOrNull(stop)), ":");

// ---------------------------------------------------------------------------------------------
// Ops

/** `inv(a)`: the inverse of a square matrix (or of each in a stack). */
export class MatrixInverse extends Op {
  makeNode(x: Variable): Apply {
    const t = matrixType(this, x, true);
    const d = squareDim(t);
    return new Apply(this, [x], [new TensorType(t.dtype, [...t.shape.slice(0, -2), d, d])]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    checkSquare(this, a);
    const s = stackOf(a);
    const n = s.n;
    const out = new Float64Array(s.data.length);
    const piv = new Int32Array(n);
    for (let b = 0; b < s.count; b++) {
      const o = b * n * n;
      if (luDecompose(s.data, o, n, piv) === 0) throw new InputError(`${this}: the matrix is singular (shape [${a.shape.join(", ")}]${s.count > 1 ? `, matrix ${b} of the stack` : ""})`);
      for (let i = 0; i < n; i++) out[o + i * n + i] = 1;
      luSolve(s.data, o, n, piv, out, o, n);
    }
    return [result(outDtype(node), a.shape, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }

  /** d(X⁻¹) = -X⁻¹ dX X⁻¹, so the gradient is -X⁻ᵀ gz X⁻ᵀ. */
  override grad(_inputs: Variable[], [gz]: Variable[], [xi]: Variable[]): GradResult[] {
    const xiT = mT(tvar(xi!));
    return [M.neg(matmul(matmul(xiT, tvar(gz!)), xiT))];
  }
}

/** `det(a)`: the determinant (0 for an exactly singular matrix, 1 for a 0×0 one). */
export class Det extends Op {
  makeNode(x: Variable): Apply {
    const t = matrixType(this, x, true);
    return new Apply(this, [x], [new TensorType(t.dtype, t.shape.slice(0, -2))]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    checkSquare(this, a);
    const s = stackOf(a);
    const n = s.n;
    const out = new Float64Array(s.count);
    const piv = new Int32Array(n);
    for (let b = 0; b < s.count; b++) {
      const o = b * n * n;
      let d = luDecompose(s.data, o, n, piv);
      for (let i = 0; i < n && d !== 0; i++) d *= s.data[o + i * n + i]!;
      out[b] = d;
    }
    return [result(outDtype(node), s.batch, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!.slice(0, -2)];
  }

  /** Jacobi's formula: d det(X) = det(X) tr(X⁻¹ dX), so the gradient is gz · det · X⁻ᵀ. */
  override grad([x]: Variable[], [gz]: Variable[], [d]: Variable[]): GradResult[] {
    const scale = withAxis(withAxis(M.mul(tvar(gz!), tvar(d!)), -1), -1);
    return [M.mul(scale, mT(INV.call(x!) as TensorVariable))];
  }
}

/**
 * `solve(a, b)`: x with a·x = b. b is a vector (n,) or a matrix (n, k), shared by every matrix
 * of a stack, or a stack (..., n, k) as deep as a's.
 */
export class Solve extends Op {
  override toString(): string {
    return "Solve";
  }

  makeNode(a: Variable, b: Variable): Apply {
    const ta = matrixType(this, a, true);
    const tb = tensorType(b);
    if (!isFloat(tb.dtype)) throw new TypeMismatchError(`Solve takes a float right-hand side, got ${b.label}: ${tb}`);
    if (tb.ndim !== 1 && tb.ndim !== 2 && tb.ndim !== ta.ndim) {
      throw new TypeMismatchError(`Solve: the right-hand side must be a vector (n,), a matrix (n, k) or a stack of rank ${ta.ndim} like ${a.label}; got ${b.label}: ${tb}`);
    }
    const n = squareDim(ta);
    const bRows = tb.ndim === 1 ? tb.shape[0]! : tb.shape[tb.ndim - 2]!;
    if (n !== null && bRows !== null && n !== bRows) throw new ShapeError(`solve of statically ${formatStaticShape(ta.shape)} and ${formatStaticShape(tb.shape)}: ${n} != ${bRows}`);
    const batch = ta.shape.slice(0, -2).map((d, i) => {
      if (tb.ndim !== ta.ndim) return d;
      const e = tb.shape[i]!;
      if (d !== null && e !== null && d !== e) throw new ShapeError(`solve of statically ${formatStaticShape(ta.shape)} and ${formatStaticShape(tb.shape)}: batch axis ${i} differs`);
      return d ?? e;
    });
    const rows = n ?? bRows;
    const shape = tb.ndim === 1 ? [...batch, rows] : [...batch, rows, tb.shape[tb.ndim - 1]!];
    return new Apply(this, [a, b], [new TensorType(promoteTypes(ta.dtype, tb.dtype), shape)]);
  }

  perform(node: Apply, [x, y]: Value[]): Value[] {
    const a = x as NDArray;
    const b = y as NDArray;
    checkSquare(this, a);
    const s = stackOf(a);
    const n = s.n;
    const bRows = b.ndim === 1 ? b.shape[0]! : b.shape[b.ndim - 2]!;
    const k = b.ndim === 1 ? 1 : b.shape[b.ndim - 1]!;
    const batched = b.ndim === a.ndim && b.ndim > 2;
    if (bRows !== n || (batched && b.shape.slice(0, -2).some((d, i) => d !== s.batch[i]))) {
      throw new ShapeError(`solve: a of shape [${a.shape.join(", ")}] and b of shape [${b.shape.join(", ")}] do not match`);
    }
    const rhs = b.astype("float64").data as Float64Array;
    const out = new Float64Array(s.count * n * k);
    const piv = new Int32Array(n);
    for (let bi = 0; bi < s.count; bi++) {
      const o = bi * n * n;
      if (luDecompose(s.data, o, n, piv) === 0) throw new InputError(`${this}: the matrix is singular (shape [${a.shape.join(", ")}])`);
      out.set(batched ? rhs.subarray(bi * n * k, (bi + 1) * n * k) : rhs, bi * n * k);
      luSolve(s.data, o, n, piv, out, bi * n * k, k);
    }
    const shape = b.ndim === 1 ? [...s.batch, n] : [...s.batch, n, k];
    return [result(outDtype(node), shape, out)];
  }

  override inferShape(node: Apply, [sa, sb]: Array<Variable[] | null>): Variable[][] {
    const tb = node.inputs[1]!.type as TensorType;
    const batch = sa!.slice(0, -2);
    return [tb.ndim === 1 ? [...batch, sa![sa!.length - 1]!] : [...batch, sa![sa!.length - 1]!, sb![sb!.length - 1]!]];
  }

  /**
   * x = A⁻¹ b: gb = A⁻ᵀ gz and gA = -gb xᵀ (Theano's SolveGrad). A right-hand side shared by a
   * whole stack of matrices collects the sum of its per-matrix gradients.
   */
  override grad([a, b]: Variable[], [gz]: Variable[], [x]: Variable[]): GradResult[] {
    const A = tvar(a!);
    const B = tvar(b!);
    const G = tvar(gz!);
    const X = tvar(x!);
    const nd = A.ndim;
    const aT = mT(A);
    const batch = range(nd - 2);
    let gb: TensorVariable;
    let ga: TensorVariable;
    if (B.ndim === nd) {
      gb = SOLVE.call(aT, G) as TensorVariable;
      ga = M.neg(matmul(gb, mT(X)));
    } else if (B.ndim === 1 && nd === 2) {
      gb = SOLVE.call(aT, G) as TensorVariable;
      ga = M.neg(M.mul(withAxis(gb, -1), withAxis(X, 0)));
    } else {
      // A stack with a shared right-hand side: solve as columns, then sum over the stack.
      const vec = B.ndim === 1;
      const gbs = SOLVE.call(aT, vec ? withAxis(G, -1) : G) as TensorVariable;
      ga = M.neg(matmul(gbs, mT(vec ? withAxis(X, -1) : X)));
      gb = M.sum(vec ? dimshuffle(gbs, range(nd - 1)) : gbs, batch);
    }
    return [castLike(ga, A), castLike(gb, B)];
  }
}

/** `cholesky(a)`: the lower factor L with L·Lᵀ = a (the lower triangle of a is read). */
export class Cholesky extends Op {
  makeNode(x: Variable): Apply {
    const t = matrixType(this, x, true);
    const d = squareDim(t);
    return new Apply(this, [x], [new TensorType(t.dtype, [...t.shape.slice(0, -2), d, d])]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    checkSquare(this, a);
    const s = stackOf(a);
    const n = s.n;
    const out = new Float64Array(s.data.length);
    for (let b = 0; b < s.count; b++) {
      if (!choleskyKernel(s.data, b * n * n, n, out, b * n * n)) throw new InputError(`${this}: the matrix is not positive definite (shape [${a.shape.join(", ")}])`);
    }
    return [result(outDtype(node), a.shape, out)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }

  /**
   * Murray (2016), "Differentiation of the Cholesky decomposition", as PyTensor's Cholesky.L_op:
   * with Φ(M) the lower triangle of M with its diagonal halved, S = L⁻ᵀ Φ(Lᵀ gz) L⁻¹ and the
   * gradient is tril(S + Sᵀ) - diag(S). It is lower triangular because only the lower triangle of
   * the input is read.
   */
  override grad(_inputs: Variable[], [gz]: Variable[], [l]: Variable[]): GradResult[] {
    const L = tvar(l!);
    const { eye, lower } = squareMasks(shape(L, L.ndim - 1), L.dtype);
    const phi = M.mul(matmul(mT(L), tvar(gz!)), M.sub(lower, M.mul(0.5, eye)));
    const LT = mT(L);
    const S = SOLVE.call(LT, mT(SOLVE.call(LT, mT(phi)) as TensorVariable)) as TensorVariable;
    return [M.sub(M.mul(M.add(S, mT(S)), lower), M.mul(S, eye))];
  }
}

/** `eigh(a)`: [w, v], ascending eigenvalues and unit eigenvectors (columns) of a symmetric matrix. */
export class Eigh extends Op {
  makeNode(x: Variable): Apply {
    const t = matrixType(this, x, true);
    const d = squareDim(t);
    const batch = t.shape.slice(0, -2);
    return new Apply(this, [x], [new TensorType(t.dtype, [...batch, d]), new TensorType(t.dtype, [...batch, d, d])]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    checkSquare(this, a);
    const s = stackOf(a);
    checkFinite(this, s);
    const n = s.n;
    const w = new Float64Array(s.count * n);
    const v = new Float64Array(s.count * n * n);
    for (let b = 0; b < s.count; b++) {
      if (!jacobiEigh(s.data, b * n * n, n, w, b * n, v, b * n * n)) throw new InputError(`${this}: the eigenvalue iteration did not converge`);
    }
    const dtype = outDtype(node);
    return [result(dtype, [...s.batch, n], w), result(dtype, a.shape, v)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!.slice(0, -1), s!];
  }

  /**
   * Theano's EighGrad in matrix form. With P = Vᵀ gv and F_ij = 1 / (w_i - w_j) off the
   * diagonal, g = V (diag(gw) + Pᵀ ∘ F) Vᵀ; since only the lower triangle of the input is read,
   * the gradient is tril(g) + triu(g, 1)ᵀ. Needs distinct eigenvalues where gv is non-zero.
   */
  override grad([x]: Variable[], [gw, gv]: Variable[], [w, v]: Variable[]): GradResult[] {
    const W = tvar(w!);
    const V = tvar(v!);
    const { diag, eye, lower } = squareMasks(shape(V, V.ndim - 1), V.dtype);
    const GW = gradOrNull(gw);
    const GV = gradOrNull(gv);
    // inverseGaps gives 1 / (w_j - w_i) at (i, j); F_nm = 1 / (w_n - w_m) is its transpose.
    const fromVectors = GV === null ? null : M.mul(mT(matmul(mT(V), GV)), mT(inverseGaps(W, diag)));
    const fromValues = GW === null ? null : M.mul(withAxis(GW, -2), eye);
    const inner = sumTerms(fromValues, fromVectors);
    if (inner === null) return [zerosLike(tvar(x!))];
    const g = matmul(matmul(V, inner), mT(V));
    return [M.add(M.mul(g, lower), mT(M.mul(g, M.sub(1, lower))))];
  }
}

/**
 * `svd(a, fullMatrices, computeUv)`: NumPy's svd. With computeUv, [u, s, vh] where
 * a = u · diag(s) · vh (u is m×m or m×k, vh n×n or k×n, k = min(m, n)); else s alone.
 * Singular values descend.
 */
export class SVD extends Op {
  constructor(
    readonly fullMatrices: boolean,
    readonly computeUv: boolean,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { fullMatrices: this.fullMatrices, computeUv: this.computeUv };
  }

  makeNode(x: Variable): Apply {
    const t = matrixType(this, x, false);
    const batch = t.shape.slice(0, -2);
    const [m, n] = t.shape.slice(-2) as [number | null, number | null];
    const k = minStatic(m, n);
    const sType = new TensorType(t.dtype, [...batch, k]);
    if (!this.computeUv) return new Apply(this, [x], [sType]);
    const uType = new TensorType(t.dtype, [...batch, m, this.fullMatrices ? m : k]);
    const vType = new TensorType(t.dtype, [...batch, this.fullMatrices ? n : k, n]);
    return new Apply(this, [x], [uType, sType, vType]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const st = stackOf(a);
    checkFinite(this, st);
    const { m, n } = st;
    const k = Math.min(m, n);
    const uCols = this.fullMatrices ? m : k;
    const vRows = this.fullMatrices ? n : k;
    const S = new Float64Array(st.count * k);
    const U = new Float64Array(st.count * m * uCols);
    const VH = new Float64Array(st.count * vRows * n);
    for (let b = 0; b < st.count; b++) {
      const o = b * m * n;
      const tall = m >= n;
      // Work on the tall one of a and aᵀ: its columns are the vectors Jacobi rotates.
      const rows = tall ? m : n;
      const cols = [...Array(tall ? n : m).keys()].map((j) => {
        const c = new Float64Array(rows);
        for (let i = 0; i < rows; i++) c[i] = tall ? st.data[o + i * n + j]! : st.data[o + j * n + i]!;
        return c;
      });
      const { s, v } = jacobiSvd(cols, rows);
      S.set(s, b * k);
      if (!this.computeUv) continue;
      // tall: a = cols · diag(s) · vᵀ; wide: a = v · diag(s) · colsᵀ.
      const left = tall ? completeBasis(cols, m, uCols) : v;
      const right = tall ? v : completeBasis(cols, n, vRows);
      for (let j = 0; j < uCols; j++) for (let i = 0; i < m; i++) U[b * m * uCols + i * uCols + j] = left[j]![i]!;
      for (let j = 0; j < vRows; j++) VH.set(right[j]!, b * vRows * n + j * n);
    }
    const dtype = outDtype(node);
    const sArr = result(dtype, [...st.batch, k], S);
    if (!this.computeUv) return [sArr];
    return [result(dtype, [...st.batch, m, uCols], U), sArr, result(dtype, [...st.batch, vRows, n], VH)];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    const batch = s!.slice(0, -2);
    const [m, n] = s!.slice(-2) as [Variable, Variable];
    const k = minDim(m, n);
    if (!this.computeUv) return [[...batch, k]];
    return [
      [...batch, m, this.fullMatrices ? m : k],
      [...batch, k],
      [...batch, this.fullMatrices ? n : k, n],
    ];
  }

  /**
   * Townsend (2016), "Differentiating the Singular Value Decomposition", for the thin SVD
   * A = U S Vᵀ (k = min(m, n)): with F_ij = 1 / (s_j² - s_i²) off the diagonal,
   * Ā = U [diag(s̄) + (F ∘ (UᵀŪ - ŪᵀU)) S + S (F ∘ (VᵀV̄ - V̄ᵀV))] Vᵀ
   *     + (I - UUᵀ) Ū S⁻¹ Vᵀ + U S⁻¹ V̄ᵀ (I - VVᵀ).
   * Singular values alone need only the first term (and no distinct or non-zero values); the
   * vector terms need distinct, non-zero singular values. With fullMatrices the extra columns
   * of u (rows of vh) are an arbitrary basis, so a cost that uses u or vh has a gradient only
   * when the matrix is statically square (then full and thin agree); s always has one.
   */
  override grad([x]: Variable[], grads: Variable[], outputs: Variable[]): GradResult[] {
    const A = tvar(x!);
    const [gU, gs, gVh] = this.computeUv ? grads.map(gradOrNull) : [null, gradOrNull(grads[0]), null];
    if (this.fullMatrices && this.computeUv && (gU !== null || gVh !== null)) {
      const [m, n] = A.type.shape.slice(-2);
      if (m === null || m === undefined || m !== n) {
        return [new GradUndefined(this, 0, "svd with fullMatrices: u and vh hold an arbitrary basis beyond min(m, n) columns, so their gradient is defined only for a statically square matrix; use svd(a, false) (thin) or only the singular values")];
      }
    }
    // The thin factors: the node's own outputs when it computed them, else a thin SVD of x.
    const [U, s, Vh] = (this.computeUv && !this.fullMatrices ? outputs : new SVD(false, true).makeNode(A).outputs).map(tvar) as [TensorVariable, TensorVariable, TensorVariable];
    const { diag, eye } = squareMasks(shape(s, s.ndim - 1), s.dtype);
    const sRow = withAxis(s, -2);
    const sCol = withAxis(s, -1);
    const F = gU === null && gVh === null ? null : inverseGaps(M.sqr(s), diag);
    let fromU: TensorVariable | null = null;
    let outsideU: TensorVariable | null = null;
    if (gU !== null) {
      const UtgU = matmul(mT(U), gU);
      fromU = M.mul(M.mul(F!, M.sub(UtgU, mT(UtgU))), sRow);
      outsideU = matmul(M.trueDiv(M.sub(gU, matmul(U, UtgU)), sRow), Vh);
    }
    let fromV: TensorVariable | null = null;
    let outsideV: TensorVariable | null = null;
    if (gVh !== null) {
      const gV = mT(gVh);
      const VtgV = matmul(Vh, gV);
      fromV = M.mul(sCol, M.mul(F!, M.sub(VtgV, mT(VtgV))));
      outsideV = matmul(M.trueDiv(U, sRow), M.sub(gVh, matmul(matmul(gVh, mT(Vh)), Vh)));
    }
    const fromS = gs === null ? null : M.mul(withAxis(gs, -2), eye);
    const inner = sumTerms(fromS, fromU, fromV);
    const total = sumTerms(inner === null ? null : matmul(matmul(U, inner), Vh), outsideU, outsideV);
    return [total ?? zerosLike(A)];
  }
}

export type QRMode = "reduced" | "complete" | "r";

/**
 * `qr(a, mode)`: Householder QR with LAPACK's sign convention (each reflection makes the
 * diagonal entry of R the opposite sign of the entry it replaces). "reduced": [q (m×k),
 * r (k×n)]; "complete": [q (m×m), r (m×n)]; "r": r (k×n) alone.
 */
export class QR extends Op {
  constructor(readonly mode: QRMode) {
    super();
  }

  override props(): Record<string, unknown> {
    return { mode: this.mode };
  }

  makeNode(x: Variable): Apply {
    const t = matrixType(this, x, false);
    const batch = t.shape.slice(0, -2);
    const [m, n] = t.shape.slice(-2) as [number | null, number | null];
    const k = this.mode === "complete" ? m : minStatic(m, n);
    const rType = new TensorType(t.dtype, [...batch, k, n]);
    if (this.mode === "r") return new Apply(this, [x], [rType]);
    return new Apply(this, [x], [new TensorType(t.dtype, [...batch, m, k]), rType]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const st = stackOf(a);
    const { m, n } = st;
    const kk = Math.min(m, n);
    const k = this.mode === "complete" ? m : kk;
    const Q = new Float64Array(st.count * m * k);
    const R = new Float64Array(st.count * k * n);
    for (let b = 0; b < st.count; b++) {
      const r = st.data.subarray(b * m * n, (b + 1) * m * n);
      const reflectors: Array<Float64Array | null> = [];
      for (let j = 0; j < kk; j++) {
        let tail = 0;
        for (let i = j + 1; i < m; i++) tail += r[i * n + j]! ** 2;
        if (tail === 0) {
          reflectors.push(null); // already triangular here: LAPACK leaves it (and its sign) alone
          continue;
        }
        const x0 = r[j * n + j]!;
        const beta = x0 >= 0 ? -Math.sqrt(x0 * x0 + tail) : Math.sqrt(x0 * x0 + tail);
        const v = new Float64Array(m - j);
        v[0] = x0 - beta;
        for (let i = 1; i < m - j; i++) v[i] = r[(j + i) * n + j]!;
        const vv = v[0]! * v[0]! + tail;
        for (let c = j; c < n; c++) {
          let d = 0;
          for (let i = 0; i < m - j; i++) d += v[i]! * r[(j + i) * n + c]!;
          const f = (2 * d) / vv;
          for (let i = 0; i < m - j; i++) r[(j + i) * n + c]! -= f * v[i]!;
        }
        r[j * n + j] = beta;
        for (let i = j + 1; i < m; i++) r[i * n + j] = 0;
        for (let i = 0; i < m - j; i++) v[i]! /= Math.sqrt(vv);
        reflectors.push(v);
      }
      for (let i = 0; i < k; i++) for (let c = i; c < n; c++) R[b * k * n + i * n + c] = r[i * n + c]!;
      if (this.mode === "r") continue;
      // Q = H_0 H_1 ... applied to the first k columns of the identity, last reflection first.
      const q = Q.subarray(b * m * k, (b + 1) * m * k);
      for (let i = 0; i < Math.min(m, k); i++) q[i * k + i] = 1;
      for (let j = reflectors.length - 1; j >= 0; j--) {
        const v = reflectors[j];
        if (!v) continue;
        for (let c = 0; c < k; c++) {
          let d = 0;
          for (let i = 0; i < m - j; i++) d += v[i]! * q[(j + i) * k + c]!;
          if (d === 0) continue;
          for (let i = 0; i < m - j; i++) q[(j + i) * k + c]! -= 2 * d * v[i]!;
        }
      }
    }
    const dtype = outDtype(node);
    const rArr = result(dtype, [...st.batch, k, n], R);
    if (this.mode === "r") return [rArr];
    return [result(dtype, [...st.batch, m, k], Q), rArr];
  }

  override inferShape(_node: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    const batch = s!.slice(0, -2);
    const [m, n] = s!.slice(-2) as [Variable, Variable];
    const k = this.mode === "complete" ? m : minDim(m, n);
    if (this.mode === "r") return [[...batch, k, n]];
    return [
      [...batch, m, k],
      [...batch, k, n],
    ];
  }

  /**
   * The QR gradient for any m, n (the form TensorFlow's QrGrad uses, after Walter & Lehmann and
   * Liao et al. 2019). Split A = [X | Y] and R = [U | V] at k = min(m, n) columns (Y and V are
   * empty when m >= n): X = Q U is a square-or-deep QR and Y = Q V. With
   * M = Qᵀ dQ - dQᵀ Q + U dUᵀ - dU Uᵀ and dQ' = dQ + Y dVᵀ,
   * dX = Q (dU + tril(M) U⁻ᵀ) + (dQ' - Q Qᵀ dQ') U⁻ᵀ and dY = Q dV.
   * Needs R of full rank. In "complete" mode with m > n the extra columns of Q are an arbitrary
   * basis: a cost that uses q then has a gradient only when m <= n statically; r always has one.
   */
  override grad([x]: Variable[], grads: Variable[], outputs: Variable[]): GradResult[] {
    const A = tvar(x!);
    const nd = A.ndim;
    let gQ = this.mode === "r" ? null : gradOrNull(grads[0]);
    let gR = gradOrNull(grads[this.mode === "r" ? 0 : 1]);
    const [m, n] = A.type.shape.slice(-2);
    const sameAsReduced = m !== null && m !== undefined && n !== null && n !== undefined && m <= n;
    if (this.mode === "complete" && gQ !== null && !sameAsReduced) {
      return [new GradUndefined(this, 0, "qr in complete mode: q's columns beyond min(m, n) are an arbitrary basis, so its gradient is defined only when m <= n statically; use mode \"reduced\" or only r")];
    }
    const useOwn = this.mode === "reduced" || (this.mode === "complete" && sameAsReduced);
    const [Q, R] = (useOwn ? outputs : new QR("reduced").makeNode(A).outputs).map(tvar) as [TensorVariable, TensorVariable];
    const k = shape(R, nd - 2);
    // Complete mode's r has rows past k that are zero whatever A is: they carry no gradient.
    if (this.mode === "complete" && gR !== null && !sameAsReduced) gR = rowsOf(gR, null, k);
    if (gQ === null && gR === null) return [zerosLike(A)];
    const U = columns(R, null, k);
    const dU = gR === null ? null : columns(gR, null, k);
    const dV = gR === null ? null : columns(gR, k, null);
    const Y = columns(A, k, null);
    if (dV !== null) gQ = sumTerms(gQ, matmul(Y, mT(dV)));
    const { lower } = squareMasks(k, A.dtype);
    const QtdQ = gQ === null ? null : matmul(mT(Q), gQ);
    const UdUt = dU === null ? null : matmul(U, mT(dU));
    const Mx = sumTerms(QtdQ === null ? null : M.sub(QtdQ, mT(QtdQ)), UdUt === null ? null : M.sub(UdUt, mT(UdUt)))!;
    const dX = sumTerms(
      matmul(Q, sumTerms(dU, timesInvT(M.mul(Mx, lower), U))!),
      gQ === null ? null : timesInvT(M.sub(gQ, matmul(Q, QtdQ!)), U),
    )!;
    const dY = dV === null ? zerosLike(Y) : matmul(Q, dV);
    return [concatenate([dX, dY], nd - 1)];
  }
}

/** `trace(a)`: the sum of the main diagonal of a matrix (rectangular allowed), NumPy's dtype. */
export class Trace extends Op {
  makeNode(x: Variable): Apply {
    const t = tensorType(x);
    if (t.ndim !== 2) throw new TypeMismatchError(`Trace takes a matrix, got ${x.label}: ${t}`);
    return new Apply(this, [x], [new TensorType(M.sumDtype(t.dtype), [])]);
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    const dtype = outDtype(node);
    const d = Math.min(a.shape[0]!, a.shape[1]!);
    const out = new (typedArrayCtor(dtype))(1);
    if (isBigIntDType(dtype)) {
      let acc = 0n;
      for (let i = 0; i < d; i++) acc += BigInt(a.data[a.offset + i * (a.strides[0]! + a.strides[1]!)]!);
      (out as BigInt64Array)[0] = acc;
    } else {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += Number(a.data[a.offset + i * (a.strides[0]! + a.strides[1]!)]!);
      (out as Float64Array)[0] = acc;
    }
    return [new NDArray(dtype, [], out)];
  }

  override inferShape(): Variable[][] {
    return [[]];
  }

  /** The trace is the sum of the diagonal: its gradient is gz on the diagonal, 0 elsewhere. */
  override grad([x]: Variable[], [gz]: Variable[]): GradResult[] {
    const X = tvar(x!);
    return [M.mul(tvar(gz!), eye(shape(X, 0), shape(X, 1), 0, X.dtype))];
  }
}

// ---------------------------------------------------------------------------------------------
// Public functions

/** Integer and bool operands become floatX; floats stay. */
function asFloat(x: TensorLike): TensorVariable {
  const v = asTensorVariable(x);
  return isFloat(v.dtype) ? v : M.cast(v, currentFloatX());
}

const INV = new MatrixInverse();
const DET = new Det();
const SOLVE = new Solve();
const CHOLESKY = new Cholesky();
const EIGH = new Eigh();
const TRACE = new Trace();

export const inv = (a: TensorLike): TensorVariable => INV.call(asFloat(a)) as TensorVariable;
export const det = (a: TensorLike): TensorVariable => DET.call(asFloat(a)) as TensorVariable;
export const solve = (a: TensorLike, b: TensorLike): TensorVariable => SOLVE.call(asFloat(a), asFloat(b)) as TensorVariable;
export const cholesky = (a: TensorLike): TensorVariable => CHOLESKY.call(asFloat(a)) as TensorVariable;
export const eigh = (a: TensorLike): [TensorVariable, TensorVariable] => EIGH.makeNode(asFloat(a)).outputs as [TensorVariable, TensorVariable];
export const trace = (a: TensorLike): TensorVariable => TRACE.call(asTensorVariable(a)) as TensorVariable;

/** `svd(a, fullMatrices = true, computeUv = true)`: [u, s, vh], or s alone without computeUv. */
export function svd(a: TensorLike, fullMatrices?: boolean, computeUv?: true): [TensorVariable, TensorVariable, TensorVariable];
export function svd(a: TensorLike, fullMatrices: boolean, computeUv: false): TensorVariable;
export function svd(a: TensorLike, fullMatrices?: boolean, computeUv?: boolean): TensorVariable | [TensorVariable, TensorVariable, TensorVariable];
export function svd(a: TensorLike, fullMatrices = true, computeUv = true): TensorVariable | [TensorVariable, TensorVariable, TensorVariable] {
  const node = new SVD(fullMatrices, computeUv).makeNode(asFloat(a));
  return computeUv ? (node.outputs as [TensorVariable, TensorVariable, TensorVariable]) : (node.outputs[0] as TensorVariable);
}

/** `qr(a, mode = "reduced")`: [q, r], or r alone for mode "r". */
export function qr(a: TensorLike, mode?: "reduced" | "complete"): [TensorVariable, TensorVariable];
export function qr(a: TensorLike, mode: "r"): TensorVariable;
export function qr(a: TensorLike, mode?: QRMode): TensorVariable | [TensorVariable, TensorVariable];
export function qr(a: TensorLike, mode: QRMode = "reduced"): TensorVariable | [TensorVariable, TensorVariable] {
  if (mode !== "reduced" && mode !== "complete" && mode !== "r") throw new InputError(`qr: mode must be "reduced", "complete" or "r", got ${JSON.stringify(mode)}`);
  const node = new QR(mode).makeNode(asFloat(a));
  return mode === "r" ? (node.outputs[0] as TensorVariable) : (node.outputs as [TensorVariable, TensorVariable]);
}

export type NormOrd = number | "fro" | "nuc" | null;

/**
 * `norm(x, ord?, axis?, keepdims?)`: numpy.linalg.norm. Vector norms (one axis, or a vector):
 * null/2, ±Infinity, 0 (the count of non-zeros), 1, any p. Matrix norms (two axes, or a
 * matrix): null/"fro", "nuc", ±Infinity (row sums), ±1 (column sums), ±2 (singular values).
 * With neither ord nor axis, the 2-norm of all elements whatever the rank.
 */
export function norm(x: TensorLike, ord: NormOrd = null, axis: number | readonly [number, number] | null = null, keepdims = false): TensorVariable {
  const v = asFloat(x);
  const nd = v.ndim;
  const frob = (axes: number[]): TensorVariable => M.sqrt(M.sum(M.sqr(v), axes));
  const finish = (r: TensorVariable, axes: number[]): TensorVariable => (keepdims ? M.keepDims(r, nd, axes) : r);
  if (axis === null && ord === null) return finish(frob([...Array(nd).keys()]), [...Array(nd).keys()]);
  let axes: number[];
  if (axis === null) {
    if (nd !== 1 && nd !== 2) throw new TypeMismatchError(`norm with ord=${String(ord)} takes a vector or a matrix (or an axis), got ${v.label}: ${v.type}`);
    axes = [...Array(nd).keys()];
  } else axes = (typeof axis === "number" ? [axis] : [...axis]).map((a) => normalizeAxis(a, nd));
  if (axes.length === 1) {
    const ax = axes[0]!;
    const abs = M.abs(v);
    let r: TensorVariable;
    if (ord === null || ord === 2) r = frob([ax]);
    else if (ord === Infinity) r = M.max(abs, ax);
    else if (ord === -Infinity) r = M.min(abs, ax);
    else if (ord === 0) r = M.sum(M.cast(M.neq(v, 0), v.dtype), ax);
    else if (ord === 1) r = M.sum(abs, ax);
    else if (typeof ord === "number" && Number.isFinite(ord)) r = M.pow(M.sum(M.pow(abs, ord), ax), 1 / ord);
    else throw new InputError(`norm: invalid order ${JSON.stringify(ord)} for vectors (use null, a number, Infinity or -Infinity)`);
    return finish(r, axes);
  }
  if (axes.length !== 2) throw new TypeMismatchError(`norm: axis must name one or two axes, got (${axes.join(", ")})`);
  const [row, col] = axes as [number, number];
  if (row === col) throw new ShapeError(`norm: duplicate axes (${row}, ${col})`);
  const abs = M.abs(v);
  const singular = (): TensorVariable => {
    const rest = [...Array(nd).keys()].filter((i) => i !== row && i !== col);
    return svd(dimshuffle(v, [...rest, row, col]), false, false);
  };
  let r: TensorVariable;
  if (ord === null || ord === "fro") r = frob([row, col]);
  else if (ord === "nuc") r = M.sum(singular(), -1);
  else if (ord === 2) r = M.max(singular(), -1);
  else if (ord === -2) r = M.min(singular(), -1);
  else if (ord === 1 || ord === -1) {
    const colSums = M.sum(abs, row);
    r = (ord === 1 ? M.max : M.min)(colSums, col > row ? col - 1 : col);
  } else if (ord === Infinity || ord === -Infinity) {
    const rowSums = M.sum(abs, col);
    r = (ord === Infinity ? M.max : M.min)(rowSums, row > col ? row - 1 : row);
  } else throw new InputError(`norm: invalid order ${JSON.stringify(ord)} for matrices (use null, "fro", "nuc", 1, -1, 2, -2, Infinity or -Infinity)`);
  return finish(r, [row, col].sort((a, b) => a - b));
}

/** `T.nlinalg`: the namespace of this module's functions. */
export const nlinalg = { inv, det, solve, cholesky, eigh, svd, qr, trace, norm };
