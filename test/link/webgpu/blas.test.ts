/**
 * WGSL matrix products (GpuDot, GpuGemm) against the reference `perform`: shapes that are and
 * are not multiples of the 16×16 tile, empty and k = 0 products, transposed device views read
 * in place, Gemm's beta == 0 rule (z not read), shape errors, float64 kept on the host, and a
 * logistic-regression SGD step whose product and update run on the device.
 */

import { describe, expect } from "vitest";
import * as theano from "../../../src/index.js";
import type { NDArray } from "../../../src/ndarray/ndarray.js";
import { Gemm } from "../../../src/tensor/gemm.js";
import { expectClose } from "../../helpers.js";
import { announceWebGpu, gpuIt } from "./adapter.js";

const { T } = theano;
const ok = announceWebGpu();

function mat(m: number, n: number, seed: number, scale = 2): NDArray {
  const xs = Array.from({ length: m * n }, (_v, i) => Math.sin(i * 0.731 + seed * 1.913) * scale);
  return theano.asarray(xs, "float32").reshape([m, n]);
}

/** f32 sums of k products of size ~4 against float64-accumulated ones. */
const tol = (k: number): { rtol: number; atol: number } => ({ rtol: 1e-5, atol: 4e-7 * Math.max(1, k) * 4 });

describe.skipIf(!ok)("WGSL matrix products agree with perform", () => {
  gpuIt("dot of float32 matrices over tile-aligned, ragged, size-1, empty and k = 0 shapes", () => {
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const dev = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], T.dot(x, y)));
    const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([x, y], T.dot(x, y)));
    expect(theano.printing.debugprint(dev)).toContain("GpuDot");
    for (const [m, k, n] of [[16, 16, 16], [37, 23, 19], [1, 1, 1], [1, 70, 1], [65, 3, 129], [0, 4, 5], [4, 0, 5], [3, 5, 0], [200, 150, 90]] as const) {
      const a = mat(m, k, m + k);
      const b = mat(k, n, n + 7);
      const got = dev(a, b) as NDArray;
      expect(got.shape).toEqual([m, n]);
      expectClose(got, ref(a, b) as NDArray, { ...tol(k), what: `dot of (${m}, ${k}) and (${k}, ${n})` });
    }
  });

  gpuIt("transposed operands: host views uploaded, and device views (x.T of a device value) read in place", () => {
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const e = T.tanh(x);
    const outs = [T.dot(x.T, y), T.dot(e.T, e), T.dot(y.T, x.T.T)];
    const dev = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], outs));
    const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([x, y], outs));
    const a = mat(21, 17, 1);
    const b = mat(21, 9, 2);
    const got = dev(a, b.T.copy().T) as NDArray[];
    const want = ref(a, b) as NDArray[];
    got.forEach((g, i) => expectClose(g, want[i]!, { ...tol(21), what: `output ${i}` }));
    // e.T between device nodes is a device view: no host round trip for it.
    expect(theano.printing.debugprint(dev)).toMatch(/GpuDimShuffle\{1,0\}/);
  });

  gpuIt("Gemm: z - lr·dot(x, y) on the device; beta == 0 does not read z (a NaN there stays out)", () => {
    const z = T.fmatrix("z");
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const upd = z.sub(T.dot(x, y).mul(0.1));
    const dev = theano.config.change({ device: "webgpu" }, () => theano.function([z, x, y], upd));
    const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([z, x, y], upd));
    expect(theano.printing.debugprint(dev)).toContain("GpuGemm");
    const [zv, xv, yv] = [mat(33, 18, 3), mat(33, 40, 4), mat(40, 18, 5)];
    expectClose(dev(zv, xv, yv) as NDArray, ref(zv, xv, yv) as NDArray, { ...tol(40), what: "z - 0.1·x·y" });

    const direct = new Gemm().call(z, T.constant(theano.asarray(2, "float32")), x, y, T.constant(theano.asarray(0, "float32"))) as theano.TensorVariable;
    const g = theano.config.change({ device: "webgpu" }, () => theano.function([z, x, y], direct));
    const h = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([z, x, y], direct));
    const nanZ = theano.full([33, 18], NaN, "float32");
    const got = g(nanZ, xv, yv) as NDArray;
    expect(Array.from(got.toFlat() as Float32Array).some(Number.isNaN)).toBe(false);
    expectClose(got, h(nanZ, xv, yv) as NDArray, { ...tol(40), what: "gemm with beta = 0" });
  });

  gpuIt("shape errors are ShapeErrors naming the device node; float64 products stay on the host", () => {
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const dev = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], T.dot(x, y)));
    expect(() => dev(mat(3, 4, 1), mat(5, 2, 2))).toThrow(theano.ShapeError);
    expect(() => dev(mat(3, 4, 1), mat(5, 2, 2))).toThrow(/GpuDot.*not aligned: 4 \(dim 1\) != 5 \(dim 0\)/s);
    const d = T.dmatrix("d");
    const f64 = theano.config.change({ device: "webgpu" }, () => theano.function([d], T.dot(d, d)));
    expect(theano.printing.debugprint(f64)).not.toContain("GpuDot");
    const v = theano.asarray([[1, 2], [3, 4]], "float64");
    expect(Array.from((f64(v) as NDArray).toFlat() as Float64Array)).toEqual([7, 10, 15, 22]);
  });

  gpuIt("a logistic-regression SGD step (product, softmax-free sigmoid cross-entropy, update) matches the CPU", () => {
    const x = T.fmatrix("x");
    const y = T.fvector("y");
    const w = T.fmatrix("w");
    const p = T.sigmoid(T.dot(x, w).flatten());
    const cost = T.nnet.binaryCrossentropy(p, y).mean();
    const gw = theano.grad(cost, w);
    const step = w.sub(gw.mul(0.5));
    const dev = theano.config.change({ device: "webgpu", floatX: "float32" }, () => theano.function([x, y, w], [cost, step]));
    const ref = theano.config.change({ device: "cpu", floatX: "float32" }, () => theano.function([x, y, w], [cost, step]));
    expect(theano.printing.debugprint(dev)).toMatch(/GpuDot|GpuGemm/);
    const xv = mat(64, 10, 8);
    const yv = theano.asarray(Array.from({ length: 64 }, (_v, i) => (i % 3 === 0 ? 1 : 0)), "float32");
    const wv = mat(10, 1, 9, 0.2);
    const [c1, s1] = dev(xv, yv, wv) as NDArray[];
    const [c2, s2] = ref(xv, yv, wv) as NDArray[];
    expectClose(c1!, c2!, { rtol: 1e-5, atol: 1e-6, what: "cost" });
    expectClose(s1!, s2!, { rtol: 1e-5, atol: 1e-6, what: "updated w" });
  });
});
