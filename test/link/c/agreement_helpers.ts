/**
 * What the C agreement tests share (agreement.test.ts, agreement_elemwise.test.ts): value pools
 * per dtype with signs, zeros, extremes, NaN and infinities; the rank-2 layouts (contiguous,
 * transposed, step-sliced, reversed, offset, empty, size-1); and `agree`, which compiles one
 * function with many outputs and compares each layout's results with perform.
 */

import * as theano from "../../../src/index.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { SCALAR_OPS } from "../../../src/scalar/table.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { evaluate, expectClose } from "../../helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

export const C = new theano.Mode("c", "None");
export const CFUSED = new theano.Mode("c", "fast_run");

/** Values per dtype: signs, zeros, halves, extremes, NaN and infinities (ints stay where JS doubles are exact). */
export const POOLS: Record<string, readonly number[]> = {
  float64: [0, -0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3, -7, 0.1, 1e-3, 100, 1e10, -1e300, 0.9, 2, NaN, Infinity, -Infinity, 1e-300, 0.7, -0.3],
  float32: [0, -0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3, -7, 0.1, 1e-3, 100, 1e10, 0.9, 2, NaN, Infinity, -Infinity, 0.7, -0.3, 1e-40],
  int32: [0, 1, -1, 2, -2, 3, 7, -7, 100, -100, 2147483647, -2147483648, 65536, 46341, 13],
  int64: [0, 1, -1, 2, -3, 7, 100, -100, 2 ** 20, -(2 ** 20), 2 ** 31, 63, 64],
  uint8: [0, 1, 2, 3, 7, 100, 127, 128, 200, 255],
  bool: [0, 1],
};
export const DTYPES = Object.keys(POOLS) as DType[];

export function fill(dtype: DType, shape: readonly number[], pick: (i: number) => number): NDArray {
  const a = theano.zeros(shape, dtype);
  const pool = POOLS[dtype] ?? POOLS.float64!;
  const d = a.data as unknown as Array<number | bigint>;
  for (let i = 0; i < a.size; i++) {
    const v = pool[pick(i) % pool.length]!;
    d[i] = dtype === "int64" || dtype === "uint64" ? BigInt(v) : v;
  }
  return a;
}

/** Random floats in [-3, 3) from a small deterministic generator. */
export function rand(dtype: DType, shape: readonly number[], seed: number): NDArray {
  let s = seed * 2654435761 + 12345;
  const a = theano.zeros(shape, dtype);
  const d = a.data as unknown as Array<number | bigint>;
  for (let i = 0; i < a.size; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const v = (s / 2147483648) * 6 - 3;
    d[i] = dtype === "int64" || dtype === "uint64" ? BigInt(Math.round(v * 3)) : dtype.startsWith("float") ? v : dtype === "bool" ? (v > 0 ? 1 : 0) : Math.round(v * 3) & (dtype.startsWith("u") ? 0x7f : -1);
  }
  return a;
}

/** The rank-2 layouts, all of logical shape [4, 5] (or empty, or [1, 1]). */
export function layouts(dtype: DType, arity: number, make: (dtype: DType, shape: number[], k: number) => NDArray): Array<[string, NDArray[]]> {
  const ks = [...Array(arity).keys()];
  return [
    ["contiguous", ks.map((k) => make(dtype, [4, 5], k))],
    ["transposed", ks.map((k) => make(dtype, [5, 4], k).T)],
    ["step-sliced", ks.map((k) => make(dtype, [4, 10], k).slice([null, null], [1, null, 2]))],
    ["negative step", ks.map((k) => make(dtype, [8, 5], k).slice([null, null, -2]))],
    ["mixed layouts", ks.map((k) => (k % 3 === 0 ? make(dtype, [5, 4], k).T : k % 3 === 1 ? make(dtype, [4, 5], k) : make(dtype, [4, 10], k).slice([null, null], [1, null, 2])))],
    ["offset view", ks.map((k) => make(dtype, [6, 5], k).slice([2, null]))],
    ["empty", ks.map(() => theano.zeros([0, 5], dtype))],
    ["empty (other axis)", ks.map((k) => make(dtype, [4, 3], k).slice([null, null], [1, 1]))],
    ["size-1", ks.map((k) => make(dtype, [1, 1], k + 5))],
  ];
}

export const poolFill = (dtype: DType, shape: number[], k: number): NDArray => {
  const n = (POOLS[dtype] ?? POOLS.float64!).length;
  return fill(dtype, shape, (i) => i * (2 * k + 1) + 3 * k + Math.floor(i / n));
};

/** Compiles `outs` with `mode` once and compares every output with perform for each case. */
export function agree(vars: TV[], outs: TV[], cases: Array<[string, NDArray[]]>, what: string, mode = C, tol: { rtol?: number; atol?: number } = {}): void {
  const f = theano.function(vars, outs, { mode, onUnusedInput: "ignore" }) as unknown as (...a: NDArray[]) => NDArray[];
  for (const [layout, values] of cases) {
    const got = f(...values);
    const want = evaluate(outs, new Map(vars.map((v, i) => [v, values[i]])));
    outs.forEach((o, i) => {
      try {
        expectClose(got[i]!, want[i]!, tol);
      } catch (e) {
        throw new Error(`${what}: output ${i} (${o.owner ? String(o.owner.op) : o.label}) on ${layout}: ${(e as Error).message}`);
      }
    });
  }
}

export function tryBuild(build: () => TV): TV | null {
  try {
    return build();
  } catch (e) {
    if (e instanceof theano.TypeMismatchError) return null;
    throw e;
  }
}

/** Every row that accepts `dtype`, applied to the first `arity` of `vars`. */
export function everyRow(dtype: DType, vars: TV[]): TV[] {
  const outs: TV[] = [];
  for (const [name, row] of SCALAR_OPS) {
    // Integer pow: both wrap modulo 2^n as NumPy does, but perform's int64 results are JS numbers
    // (exact to 2^53) where C's are exact; compared separately (test/scalar/table.test.ts).
    if (name === "pow" && !dtype.startsWith("float")) continue;
    const o = tryBuild(() => new T.Elemwise(row).makeNode(...vars.slice(0, row.arity)).outputs[0] as TV);
    if (o) outs.push(o);
  }
  return outs;
}

/**
 * Each `agree` compiles a module synchronously (theano.function is synchronous); under ASan a
 * test's cold builds take minutes. test/setup.ts turns the event loop after each test; a test
 * with several big builds also turns it between them, so vitest's worker keeps answering its
 * runner's RPC (which times out after 60 s).
 */
export const yieldToRunner = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The first check of each agreement file: these tests need a C compiler. */
export function requireCompiler(): void {
  const s = cCompilerStatus();
  if (!s.ok) throw new Error(`these tests need a C compiler: ${s.reason}`);
}
