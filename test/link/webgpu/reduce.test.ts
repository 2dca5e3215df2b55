/**
 * WGSL reductions (CAReduce: sum, prod, max, min, all, any) against the reference `perform`,
 * over every axis set of rank-2 and rank-3 inputs, with empty, size-1, odd and strided shapes;
 * both kernels (a workgroup tree per output for long lanes, a thread per output for short ones).
 * float32 sums accumulate in f32 on the device (a tree), in float64 on the host: compared with
 * a relative tolerance. max/min propagate NaN; max/min of an empty lane raise ShapeError.
 */

import { describe, expect } from "vitest";
import * as theano from "../../../src/index.js";
import type { NDArray } from "../../../src/ndarray/ndarray.js";
import { expectClose } from "../../helpers.js";
import { announceWebGpu, gpuIt } from "./adapter.js";

const { T } = theano;
const ok = announceWebGpu();

function arr(shape: number[], dtype: "float32" | "int32" | "bool", seed: number): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const xs = Array.from({ length: n }, (_v, i) => {
    const u = Math.sin(i * 12.9898 + seed * 78.233) * 43758.5453;
    const f = u - Math.floor(u);
    return dtype === "bool" ? (f < 0.8 ? 1 : 0) : dtype === "int32" ? Math.floor(-40 + 80 * f) : -2 + 4 * f;
  });
  return theano.asarray(theano.array(xs, dtype).reshape(shape), dtype);
}

/** Within rtol·(1 + |want|), NaN where want is NaN. */
const close = (got: NDArray, want: NDArray, rtol: number, what: string): void => expectClose(got, want, { rtol, atol: rtol, what });

const AXES2: Array<number | number[] | null> = [0, 1, [0, 1], null];
const SHAPES2 = [[3, 5], [7, 37], [1, 1], [0, 4], [4, 0], [2, 700], [300, 3]];

describe.skipIf(!ok)("WGSL reductions agree with perform", () => {
  const kinds = [
    ["sum", "float32"], ["prod", "float32"], ["max", "float32"], ["min", "float32"],
    ["max", "int32"], ["min", "int32"], ["all", "bool"], ["any", "bool"], ["all", "float32"], ["any", "int32"],
  ] as const;
  for (const [kind, dtype] of kinds) {
    gpuIt(`${kind} of ${dtype} over every axis set, rank 2`, () => {
      for (const axis of AXES2) {
        const x = T.tensor({ dtype, shape: [null, null], name: "x" });
        const out = (x[kind] as (a: typeof axis) => ReturnType<typeof T.tensor>).call(x, axis);
        const dev = theano.config.change({ device: "webgpu" }, () => theano.function([x], out));
        const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([x], out));
        if (kind === "sum" || kind === "max") expect(theano.printing.debugprint(dev)).toMatch(/Gpu(Sum|Max)\{/);
        for (const [s, shape] of SHAPES2.entries()) {
          const v = arr(shape, dtype, s + 1);
          const what = `${kind}(${dtype}, axis=${JSON.stringify(axis)}) of [${shape}]`;
          let want: NDArray | Error;
          try {
            want = ref(kind === "prod" ? theano.asarray(Array.from(v.toFlat() as Float32Array, (q) => 1 + q / 8), "float32").reshape(shape) : v) as NDArray;
          } catch (e) {
            want = e as Error;
          }
          const input = kind === "prod" ? theano.asarray(Array.from(v.toFlat() as Float32Array, (q) => 1 + q / 8), "float32").reshape(shape) : v;
          if (want instanceof Error) {
            expect(() => dev(input), what).toThrow(want.constructor as new () => Error);
            continue;
          }
          // An f32 tree sum of n terms of size ~2 is off by ~n·eps·2 from the float64 one.
          close(dev(input) as NDArray, want, dtype !== "float32" ? 0 : kind === "sum" ? 1e-5 : 2e-6, what);
        }
      }
    });
  }

  gpuIt("rank 3 over (0, 2) with a strided (transposed) input, and NaN propagation of max/min", () => {
    const x = T.ftensor3("x");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], [x.sum([0, 2]), x.max([0, 2]), x.min(1)]));
    const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([x], [x.sum([0, 2]), x.max([0, 2]), x.min(1)]));
    const base = arr([5, 4, 3], "float32", 3);
    const strided = base.transpose(2, 1, 0);
    const g = f(strided) as NDArray[];
    const w = ref(strided) as NDArray[];
    g.forEach((a, i) => close(a, w[i]!, 2e-6, `output ${i}`));
    const withNaN = theano.array([[[1, NaN], [3, 4]]], "float32");
    const [, mx, mn] = f(withNaN) as NDArray[];
    expect(Number.isNaN(mx!.toFlat()[0] as number)).toBe(true);
    expect(Array.from(mn!.toFlat() as Float32Array).map(Number.isNaN)).toEqual([false, true]);
  });

  gpuIt("more outputs than a grid row of workgroups (70001 lanes: a 2-D grid of thread-per-lane)", () => {
    const m = T.fmatrix("m");
    const g = theano.config.change({ device: "webgpu" }, () => theano.function([m], [m.sum(1), m.max(1)]));
    const [s, mx] = g(theano.ones([70001, 2], "float32")) as NDArray[];
    expect(s!.shape).toEqual([70001]);
    expect([s!.get(0), s!.get(65536), s!.get(70000), mx!.get(70000)]).toEqual([2, 2, 2, 1]);
  });

  gpuIt("a sum over 100k elements (one workgroup per output, 256 threads and a tree)", () => {
    const x = T.fvector("x");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], x.sum()));
    const n = 100_003;
    const v = theano.full([n], 0.5, "float32");
    expect((f(v) as NDArray).item()).toBe(n * 0.5);
  });
});
