/**
 * The C backend against `perform` for elementwise work: every scalar-table row on every dtype
 * and layout (broadcasting, 0-d), integer pow, casts between every pair of dtypes, and fused
 * Composites. Split from agreement.test.ts so the two halves run on two cores.
 */

import { beforeAll, describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { DType } from "../../../src/ndarray/dtype.js";
import { C, CFUSED, DTYPES, POOLS, agree, everyRow, fill, layouts, poolFill, rand, requireCompiler, yieldToRunner } from "./agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

beforeAll(requireCompiler);

describe("C elementwise kernels agree with perform on every scalar-table row", () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: every row, every layout, broadcasting, 0-d`, async () => {
      const m = [0, 1, 2].map((k) => T.tensor({ dtype, shape: [null, null], name: `m${k}` }));
      const outs = everyRow(dtype, m);
      expect(outs.length).toBeGreaterThan(10);
      agree(m, outs, layouts(dtype, 3, poolFill), dtype);
      await yieldToRunner();

      // Broadcasting: row + col + full, and a declared [1, 1] operand.
      const b = [T.tensor({ dtype, shape: [1, null], name: "r" }), T.tensor({ dtype, shape: [null, 1], name: "c" }), T.tensor({ dtype, shape: [null, null], name: "f" })];
      const bouts = everyRow(dtype, b);
      const bv = [poolFill(dtype, [1, 5], 0), poolFill(dtype, [4, 1], 1), poolFill(dtype, [4, 5], 2)];
      const bt = bv.map((v) => v.T.copy().T);
      const inner1 = [poolFill(dtype, [1, 1], 0), poolFill(dtype, [4, 1], 1), poolFill(dtype, [4, 1], 2)];
      agree(
        b,
        bouts,
        [["row + col + full", bv], ["transposed storage", bt], ["an inner axis of 1", inner1], ["empty", [poolFill(dtype, [1, 0], 0), poolFill(dtype, [4, 1], 1), theano.zeros([4, 0], dtype)]]],
        `${dtype} broadcast`,
      );
      await yieldToRunner();

      // 0-d operands.
      const z = [0, 1, 2].map((k) => T.tensor({ dtype, shape: [], name: `z${k}` }));
      const zouts = everyRow(dtype, z);
      const zcases: Array<[string, NDArray[]]> = [0, 1, 4, 5, 7].map((j) => [`0-d #${j}`, z.map((_, k) => fill(dtype, [], () => j + 3 * k))]);
      agree(z, zouts, zcases, `${dtype} 0-d`);
    });
  }

  it("operands the types declare broadcastable: a bias over images, a column over rows, any storage", () => {
    // The kernel skips the loops such operands can never take (codegen genElemwise): a bias
    // declared (1, C, 1, 1) is one value per row of an image, read outside the row loop.
    for (const dtype of ["float32", "float64", "int32"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null, null, null], name: "x" });
      const bias = T.tensor({ dtype, shape: [null], name: "b" });
      const col = T.tensor({ dtype, shape: [null, null, null, 1], name: "c" });
      const outs = [x.add(bias.dimshuffle("x", 0, "x", "x")), T.maximum(x.mul(col), bias.dimshuffle("x", 0, "x", "x")), x.sub(col)];
      const xv = poolFill(dtype, [2, 3, 4, 5], 0);
      const bv = poolFill(dtype, [3], 1);
      const cv = poolFill(dtype, [2, 3, 4, 1], 2);
      agree([x, bias, col], outs, [
        ["contiguous", [xv, bv, cv]],
        ["x transposed (non-unit rows)", [xv.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2), bv, cv]],
        ["x with a step along its rows", [poolFill(dtype, [2, 3, 4, 10], 3).slice([null, null], [null, null], [null, null], [null, null, 2]), bv, cv]],
        ["rows of 1", [poolFill(dtype, [2, 3, 4, 1], 4), bv, cv]],
        ["one image, one row", [poolFill(dtype, [1, 3, 1, 1], 5), bv, poolFill(dtype, [1, 3, 1, 1], 6)]],
      ], `${dtype} declared broadcast`);
    }
  });

  it("integer pow agrees where perform's doubles are exact", () => {
    for (const dtype of ["int32", "int64", "uint8", "int8"] as DType[]) {
      const a = T.tensor({ dtype, shape: [null], name: "a" });
      const b = T.tensor({ dtype, shape: [null], name: "b" });
      const bases = dtype.startsWith("u") ? [0, 1, 2, 3, 5] : [-3, -2, -1, 0, 1, 2, 3, 5];
      const exps = dtype.startsWith("u") ? [0, 1, 2, 3, 7] : [-2, -1, 0, 1, 2, 3, 7];
      const pairs = bases.flatMap((x) => exps.map((y) => [x, y] as const));
      const big = dtype === "int64";
      const va = theano.array(pairs.map(([x]) => (big ? BigInt(x) : x)), dtype);
      const vb = theano.array(pairs.map(([, y]) => (big ? BigInt(y) : y)), dtype);
      agree([a, b], [T.pow(a, b)], [["pairs", [va, vb]]], `pow ${dtype}`);
    }
  });

  it("casts between every pair of dtypes (float → int wraps as typed-array stores do)", () => {
    for (const from of ["float32", "float64", "int32", "int64", "uint8", "bool"] as DType[]) {
      const x = T.tensor({ dtype: from, shape: [null], name: "x" });
      const outs = (["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "bool"] as DType[]).filter((d) => d !== from).map((d) => T.cast(x, d));
      const pool = (POOLS[from] ?? []).filter((v) => Number.isFinite(v) && Math.abs(v) < 2 ** 53);
      const vals = theano.array(from === "int64" ? pool.map((v) => BigInt(v)) : pool, from);
      agree([x], outs, [["values", [vals]], ["reversed", [vals.slice([null, null, -1])]]], `cast from ${from}`);
    }
  });

  it("fused composites (fast_run fusion) agree, float32 and float64, with broadcast constants", () => {
    for (const dtype of ["float32", "float64"] as DType[]) {
      const x = T.tensor({ dtype, shape: [null, null], name: "x" });
      const y = T.tensor({ dtype, shape: [1, null], name: "y" });
      const w2 = T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)));
      const other = T.softplus(x.add(y)).mul(T.erf(y)).add(T.log1p(T.abs(x))).sub(T.expm1(y.mul(0.25)));
      const ints = T.cast(x.mul(3), "int32").add(T.cast(y, "int32"));
      const ys = rand(dtype, [1, 5], 9);
      const cases: Array<[string, NDArray[]]> = layouts(dtype, 1, (d, s, k) => rand(d, s, k)).map(([n, [a]]) => [n, [a!, a!.shape[1] === 5 ? ys : rand(dtype, [1, a!.shape[1]!], 3)]]);
      agree([x, y], [w2, other, ints], cases, `fused ${dtype}`, CFUSED, dtype === "float32" ? { rtol: 1e-5, atol: 1e-6 } : {});
    }
  });
});

