/**
 * The scalar table (src/scalar/table.ts): every row's reference implementation and output-dtype
 * rule against NumPy/SciPy.
 *
 * test/fixtures/elemwise_fixtures.json (written by elemwise_fixtures.py) holds, per row, NumPy's
 * result dtype for every dtype (unary) or dtype pair (binary, clip's (x, bounds), where's (a, b)),
 * and NumPy's values on grids of operands that include NaN, ±Inf, ±0, negatives and the integer
 * extremes. A row's `impl` result is stored into a TypedArray of the output dtype exactly as
 * Elemwise.perform stores it, so integer wrap-around is part of what is checked.
 *
 * Deliberate difference from NumPy (API.md §4): rows that compute in float ("toFloat") turn
 * integer and bool operands into floatX, where NumPy gives float16/float32 for small ints.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TypeMismatchError } from "../../src/errors.js";
import { type DType, type FloatDType, isBigIntDType, isFloat, resultType, typedArrayCtor } from "../../src/ndarray/dtype.js";
import { SCALAR_OPS, type ScalarOp, renderTemplate } from "../../src/scalar/table.js";
import { config } from "../../src/config/index.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";
import * as T from "../../src/tensor/index.js";

type Enc = number | boolean | string;
interface ValueCase {
  dtypes: DType[];
  error?: string;
  args?: Enc[][];
  dtype?: string;
  expected?: Enc[];
}
interface Fixture {
  numpy: string;
  table: { dtypes: Record<string, Record<string, string>>; floatRows: string[]; values: Record<string, ValueCase[]> };
}

const fx = JSON.parse(readFileSync(new URL("../fixtures/elemwise_fixtures.json", import.meta.url), "utf8")) as Fixture;
const dec = (v: Enc): number => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : typeof v === "boolean" ? Number(v) : (v as number));
const floatRows = new Set(fx.table.floatRows);
const isIntLike = (d: DType): boolean => !isFloat(d);

/** Stores one result the way Elemwise.perform does and reads it back as a number. */
function store(dtype: DType, r: number): number {
  const arr = new (typedArrayCtor(dtype))(1);
  if (isBigIntDType(dtype)) (arr as BigInt64Array)[0] = Number.isFinite(r) ? BigInt(Math.trunc(r)) : 0n;
  else (arr as Float64Array)[0] = r;
  if (dtype === "bool") return arr[0] ? 1 : 0;
  return Number(arr[0]!);
}

// Special functions computed by series/continued fractions here and by Cephes in SciPy.
const SPECIAL = new Set(["erf", "erfc", "erfinv", "gamma", "gammaln", "psi", "trigamma", "sigmoid", "softplus"]);
// Transcendental functions: V8's fdlibm ports and NumPy's SIMD/libm differ by an ulp or two.
const TRANSCENDENTAL = new Set([...floatRows].filter((r) => r !== "trueDiv" && r !== "inv" && !SPECIAL.has(r)).concat(["pow"]));

function tolerance(row: string, dtype: DType): { rtol: number; atol: number } {
  if (!isFloat(dtype)) return { rtol: 0, atol: 0 };
  if (dtype === "float32") return SPECIAL.has(row) ? { rtol: 1e-5, atol: 1e-37 } : { rtol: 2e-6, atol: 1e-38 };
  // Lanczos/asymptotic series hold ~1e-15 absolute accuracy, not relative, next to a zero of
  // gammaln (x = 1, 2) or psi (x = 1.4616...).
  if (row === "gammaln" || row === "psi") return { rtol: 1e-12, atol: 1e-14 };
  if (SPECIAL.has(row)) return { rtol: 1e-12, atol: 1e-300 };
  if (TRANSCENDENTAL.has(row)) return { rtol: 4e-15, atol: 1e-300 };
  return { rtol: 0, atol: 0 };
}

/**
 * The dtype theano-ts promises: NumPy's, except
 * - float rows over ints/bools give floatX (API.md §4), unless NumPy's promotion of the integer
 *   operands already is float64 (a signed int with uint64), which stays float64;
 * - round of bool stays bool, as floor/ceil/trunc of bool do (NumPy 2 gives float16 for np.round).
 */
function expectedDtype(row: string, dtypes: readonly DType[], numpy: string, floatX: FloatDType): string {
  const operands = row === "where" ? dtypes.slice(1) : dtypes;
  if (floatRows.has(row) && operands.every(isIntLike)) return isFloat(resultType(operands)) ? "float64" : floatX;
  if (row === "roundHalfToEven" && dtypes[0] === "bool") return "bool";
  return numpy;
}

function operandDtypes(row: string, key: string): DType[] {
  const [a, b] = key.split(",") as [DType, DType?];
  if (b === undefined) return [a];
  if (row === "clip") return [a, b, b];
  if (row === "where") return ["bool", a, b];
  return [a, b];
}

describe("the fixture", () => {
  it("covers every row of SCALAR_OPS and nothing else", () => {
    expect(Object.keys(fx.table.dtypes).sort()).toEqual([...SCALAR_OPS.keys()].sort());
    expect(Object.keys(fx.table.values).sort()).toEqual([...SCALAR_OPS.keys()].sort());
  });

  it("float rows are exactly the rows whose rule makes ints float", () => {
    for (const [name, op] of SCALAR_OPS) {
      const ints: DType[] = new Array(op.arity).fill("int32");
      if (name === "where") ints[0] = "bool";
      expect(isFloat(op.outDtype(ints, "float32")), name).toBe(floatRows.has(name));
    }
  });
});

describe.each([...SCALAR_OPS.keys()])("row %s", (name) => {
  const op = SCALAR_OPS.get(name) as ScalarOp;

  it("output dtype matches NumPy for every dtype combination (floatX float64 and float32)", () => {
    const mismatches: string[] = [];
    for (const [key, numpy] of Object.entries(fx.table.dtypes[name]!)) {
      const dts = operandDtypes(name, key);
      for (const floatX of ["float64", "float32"] as const) {
        if (numpy === "error") {
          expect(() => op.outDtype(dts, floatX), `${name}(${key}) must raise`).toThrow(TypeMismatchError);
          continue;
        }
        const want = expectedDtype(name, dts, numpy, floatX);
        // A float16 result is only ever NumPy's small-int case that we replace by floatX.
        expect(want, `${name}(${key})`).not.toBe("float16");
        let got: string;
        try {
          got = op.outDtype(dts, floatX);
        } catch (e) {
          got = `raised ${(e as Error).name}`;
        }
        if (got !== want) mismatches.push(`${name}(${key}) floatX=${floatX}: numpy ${numpy}, want ${want}, got ${got}`);
      }
    }
    expect(mismatches.join("\n")).toBe("");
  });

  it("impl matches NumPy on the value grids (NaN, ±Inf, ±0, extremes), stored in the output dtype", () => {
    const failures: string[] = [];
    for (const c of fx.table.values[name]!) {
      if (c.error) {
        expect(() => op.outDtype(c.dtypes, "float64"), `${name}(${c.dtypes}) raises in NumPy (${c.error})`).toThrow(TypeMismatchError);
        continue;
      }
      const out = op.outDtype(c.dtypes, "float64");
      expect(out, `${name}(${c.dtypes.join(", ")})`).toBe(expectedDtype(name, c.dtypes, c.dtype!, "float64"));
      const { rtol, atol } = tolerance(name, out);
      const n = c.expected!.length;
      for (let i = 0; i < n; i++) {
        const args = c.args!.map((col) => dec(col[i]!));
        const got = store(out, op.impl(args, out));
        const want = dec(c.expected![i]!);
        const where = `${name}(${args.map((a) => (Object.is(a, -0) ? "-0" : String(a))).join(", ")}) as ${c.dtypes.join(",")} -> ${out}`;
        if (Number.isNaN(want)) {
          if (!Number.isNaN(got)) failures.push(`${where}: expected NaN, got ${got}`);
        } else if (!Number.isFinite(want) || rtol === 0) {
          if (got !== want) failures.push(`${where}: expected ${want}, got ${got}`);
          else if (want === 0 && isFloat(out) && !Object.is(got, want)) failures.push(`${where}: expected ${Object.is(want, -0) ? "-0" : "+0"}, got ${Object.is(got, -0) ? "-0" : "+0"}`);
        } else if (!(Math.abs(got - want) <= atol + rtol * Math.abs(want))) {
          failures.push(`${where}: expected ${want}, got ${got}`);
        }
      }
    }
    expect(failures.slice(0, 12).join("\n")).toBe("");
  });

  it("has JS and C templates that render for its dtypes", () => {
    const ins: DType[] = new Array(op.arity).fill("float64");
    if (name === "where") ins[0] = "bool";
    if (name === "and" || name === "or" || name === "xor" || name === "not") ins.fill("int32");
    const out = op.outDtype(ins, "float64");
    const args = ins.map((_d, i) => `x${i}`);
    for (const t of [op.js, op.c]) {
      const text = renderTemplate(t, args, out, ins, "double");
      expect(text).not.toMatch(/\$\d/);
      for (let i = 0; i < op.arity; i++) expect(text).toContain(`x${i}`);
    }
  });
});

describe("floatX rule for ints in transcendental functions and true division", () => {
  it("follows config.floatX at graph-building time where NumPy would give float16/float32", () => {
    // NumPy: exp(int8) is float16, exp(int16) float32, exp(int32) float64. Theano: floatX for all.
    for (const floatX of ["float32", "float64"] as const) {
      config.change({ floatX }, () => {
        expect(T.exp(T.bvector()).dtype).toBe(floatX);
        expect(T.exp(T.wvector()).dtype).toBe(floatX);
        expect(T.exp(T.ivector()).dtype).toBe(floatX);
        expect(T.trueDiv(T.bvector(), T.bvector()).dtype).toBe(floatX);
        expect(T.sqrt(T.tensor({ dtype: "bool", shape: [null] })).dtype).toBe(floatX);
        // A float operand keeps NumPy's rule.
        expect(T.exp(T.fvector()).dtype).toBe("float32");
        expect(T.trueDiv(T.ivector(), T.fvector()).dtype).toBe("float64");
      });
    }
  });
});

describe("integer pow wraps as NumPy does (by squaring, modulo 2^bits at every step)", () => {
  // np.power(np.array(a, d), np.array(b, d)) with NumPy 2.4 on this machine
  const NUMPY: Array<[DType, number[], number[], number[]]> = [
    ["int8", [3, 2, -3, 5], [5, 7, 3, 4], [-13, -128, -27, 113]],
    ["uint8", [3, 2, 7, 255], [5, 9, 3, 2], [243, 0, 87, 1]],
    ["int16", [3, 7, -5], [11, 6, 7], [-19461, -13423, -12589]],
    ["int32", [3, 7, -3], [40, 13, 21], [689956897, -1895237401, -1870418611]],
    ["uint32", [3, 5, 2], [21, 14, 31], [1870418611, 1808548329, 2147483648]],
    ["int64", [3, 2, -7], [33, 62, 19], [5559060566555523, 4611686018427387904, -11398895185373143]],
  ];
  const pow = SCALAR_OPS.get("pow")!;
  for (const [d, a, b, want] of NUMPY) {
    it(`${d}: perform and the JS template give NumPy's values`, () => {
      expect(a.map((x, i) => pow.impl([x, b[i]!], d))).toEqual(want);
    });
  }
  it("the same through theano.function on the py, js and c linkers (int32, uint8)", async () => {
    const theano = await import("../../src/index.js");
    for (const [d, a, b, want] of NUMPY.filter(([d]) => d === "int32" || d === "uint8")) {
      const x = theano.T.tensor({ dtype: d, shape: [null], name: "x" });
      const y = theano.T.tensor({ dtype: d, shape: [null], name: "y" });
      for (const linker of ["py", "js", "c"] as const) {
        if (linker === "c" && !cCompilerStatus().ok) continue;
        const f = theano.function([x, y], theano.T.pow(x, y), { mode: new theano.Mode(linker, "None") });
        expect((f(theano.array(a, d), theano.array(b, d)) as InstanceType<typeof theano.NDArray>).toArray()).toEqual(want);
      }
    }
  });
  it("int64 past 2^53: NumPy's value, rounded to a JS number (3 ** 200 = 6627890308811632801 in int64)", () => {
    expect(pow.impl([3, 200], "int64")).toBe(Number(6627890308811632801n));
  });
});
