/**
 * Softmax and LogSoftmax as Wasm kernels (src/link/wasm/ops/nnet.ts) against `perform`, bit for
 * bit: every axis (and axis=null) of ranks 1 to 3, over contiguous, transposed, step-sliced and
 * negative-step views, on float32 and float64, with lanes holding NaN, ±inf, only -inf, -0 and
 * huge values, and empty arrays; and the kernels run in Wasm, not on the host. (float32 uses the
 * Wasm exp, equal to Math.exp but within 1e-15: bit for bit on these values, as on 2M random ones.)
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Apply } from "../../../src/graph/basic.js";
import type { FunctionGraph } from "../../../src/graph/fgraph.js";
import { LogSoftmax, Softmax } from "../../../src/tensor/nnet.js";
import { evaluate } from "../../helpers.js";
import { rand } from "../c/agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;
type FD = "float32" | "float64";
type Compiled = ((...a: NDArray[]) => NDArray[]) & { fgraph: FunctionGraph };

const W = new theano.Mode("wasm", "None");

function expectSame(got: NDArray, want: NDArray, what: string): void {
  expect([...got.shape], what).toEqual([...want.shape]);
  const [a, b] = [got.toFlat(), want.toFlat()];
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [Number(a[i]), Number(b[i])];
    if (!Object.is(x, y)) throw new Error(`${what}: element ${i}: perform gives ${y}, wasm ${x}`);
  }
}

/** A value with special lanes: element 0 NaN, a row of -inf, +inf, -0 and ±1e30 spread about. */
function special(dtype: FD, shape: number[], seed: number): NDArray {
  const a = rand(dtype, shape, seed);
  const d = a.data as Float64Array;
  const picks = [NaN, -Infinity, Infinity, -0, 1e30, -1e30];
  for (let i = 0; i < d.length; i += 7) d[i] = picks[(i / 7) % picks.length]!;
  const last = shape[shape.length - 1]!;
  if (shape.length >= 2 && d.length >= 2 * last) for (let j = last; j < 2 * last; j++) d[j] = -Infinity;
  return a;
}

describe("wasm Softmax and LogSoftmax agree with perform, bit for bit", () => {
  for (const dtype of ["float32", "float64"] as FD[]) {
    it(`${dtype}: every axis, layout and special value`, () => {
      for (const rank of [1, 2, 3]) {
        const x = T.tensor({ dtype, shape: new Array(rank).fill(null), name: "x" });
        const axes: Array<number | null> = [...Array(rank).keys(), null];
        const outs = axes.flatMap((axis) => [T.softmax(x, axis), T.logSoftmax(x, axis)]);
        const f = theano.function([x], outs, { mode: W }) as unknown as Compiled;
        const kinds = f.fgraph.toposort().filter((n: Apply) => n.op instanceof Softmax || n.op instanceof LogSoftmax).map((n: Apply) => String(n.tag.backend));
        expect(kinds.length).toBe(outs.length);
        expect(kinds.every((k) => k === "wasm")).toBe(true);
        const shape = [5, 4, 3].slice(0, rank);
        const big = shape.map((d) => 2 * d + 1);
        const values: Array<[string, NDArray]> = [
          ["random", rand(dtype, shape, 1)],
          ["special", special(dtype, shape, 2)],
          ["transposed", rank > 1 ? special(dtype, [...shape].reverse(), 3).transpose(...[...Array(rank).keys()].reverse()) : special(dtype, shape, 3)],
          ["sliced", special(dtype, big, 4).slice(...big.map((_d, i) => [1, 2 * shape[i]! + 1, 2] as [number, number, number]))],
          ["reversed", special(dtype, shape, 5).slice(...shape.map(() => [null, null, -1] as [null, null, number]))],
          ["empty", theano.zeros([0, ...shape.slice(1)], dtype)],
          ["one element lanes", rand(dtype, shape.map(() => 1), 6)],
        ];
        for (const [what, v] of values) {
          const got = f(v);
          const want = evaluate(outs as TV[], new Map([[x, v]]));
          got.forEach((g, k) => expectSame(g, want[k]!, `${dtype} rank ${rank} ${what}: ${outs[k]!.owner!.op}`));
        }
      }
    });
  }
});

describe("linker=wasm: a host Elemwise runs the js backend's loop", () => {
  it("the one-hot where(eq(labels, arange), g, 0) of the cross-entropy gradient agrees with perform; bad shapes raise its ShapeError", () => {
    const lab = T.tensor({ dtype: "int32", shape: [null, 1], name: "labels" });
    const ar = T.tensor({ dtype: "int64", shape: [1, null], name: "ar" });
    const g = T.tensor({ dtype: "float32", shape: [null, 1], name: "g" });
    const z = T.tensor({ dtype: "float32", shape: [1, 1], name: "z" });
    const e = T.where(T.eq(lab, ar), g, z);
    const f = theano.function([lab, ar, g, z], e, { mode: new theano.Mode("wasm", "fast_run") }) as unknown as ((...a: NDArray[]) => NDArray) & { fgraph: FunctionGraph };
    expect(f.fgraph.toposort().map((n: Apply) => String(n.tag.backend))).toEqual(["host"]);
    const lv = theano.array(Array.from({ length: 37 }, (_v, i) => [(i * 7) % 10]), "int32");
    const av = theano.array([Array.from({ length: 10 }, (_v, i) => i)], "int64");
    const gv = rand("float32", [37, 1], 1);
    const zv = theano.array([[-0]], "float32");
    expectSame(f(lv, av, gv, zv), evaluate([e], new Map([[lab, lv], [ar, av], [g, gv], [z, zv]]))[0]!, "one-hot");
    expectSame(f(lv.T.copy().T, av, gv, zv), evaluate([e], new Map([[lab, lv], [ar, av], [g, gv], [z, zv]]))[0]!, "one-hot, strided labels");
    expect(() => f(lv, av, rand("float32", [36, 1], 2), zv)).toThrow(theano.ShapeError);
  });
});
