/**
 * WGSL Softmax and LogSoftmax (GpuSoftmax, src/link/webgpu/ops/nnet.ts) against the reference
 * `perform`: rows shorter and longer than the 64-thread workgroup, one-element and empty rows,
 * vectors, transposed device views read in place, large logits (the max shift), rows holding
 * NaN, +inf, -inf and only -inf (perform's and scipy's rules), float64 kept on the host, and
 * the gradient of a softmax cross-entropy through the device kernel.
 */

import { describe, expect } from "vitest";
import * as theano from "../../../src/index.js";
import type { NDArray } from "../../../src/ndarray/ndarray.js";
import { expectClose } from "../../helpers.js";
import { announceWebGpu, gpuIt } from "./adapter.js";

const { T } = theano;
const ok = announceWebGpu();
const TOL = { rtol: 2e-5, atol: 2e-6 };

function mat(m: number, n: number, seed: number, scale = 3): NDArray {
  const xs = Array.from({ length: m * n }, (_v, i) => Math.sin(i * 0.731 + seed * 1.913) * scale);
  return theano.asarray(xs, "float32").reshape([m, n]);
}

/** The device function and perform's, of the same graph. */
function both(inputs: theano.TensorVariable[], out: theano.TensorVariable): [(...a: NDArray[]) => NDArray, (...a: NDArray[]) => NDArray, string] {
  const dev = theano.config.change({ device: "webgpu" }, () => theano.function(inputs, out));
  const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function(inputs, out));
  return [dev as unknown as (...a: NDArray[]) => NDArray, ref as unknown as (...a: NDArray[]) => NDArray, theano.printing.debugprint(dev)];
}

describe.skipIf(!ok)("WGSL softmax and logSoftmax agree with perform", () => {
  gpuIt("matrices of rows shorter and longer than a workgroup, vectors, empty and one-element rows", () => {
    const x = T.fmatrix("x");
    const v = T.fvector("v");
    for (const log of [false, true]) {
      const fn = log ? T.nnet.logSoftmax : T.nnet.softmax;
      const [dev, ref, text] = both([x], fn(x));
      expect(text).toContain(log ? "GpuLogSoftmax" : "GpuSoftmax");
      expect(text).not.toMatch(/HostFromGpu[^\n]*\n[^\n]*Softmax\{/); // the softmax itself is not a host node
      for (const [m, n] of [[4, 10], [3, 64], [5, 65], [2, 1000], [1, 1], [7, 1], [0, 5], [3, 0], [130, 17]] as const) {
        const a = mat(m, n, m + n, log ? 30 : 3);
        const got = dev(a);
        expect(got.shape).toEqual([m, n]);
        expectClose(got, ref(a), { ...TOL, what: `${log ? "logSoftmax" : "softmax"} of (${m}, ${n})` });
      }
      const [devV, refV] = both([v], fn(v));
      const a = theano.asarray([1, 2, 3, 100, -100], "float32");
      expectClose(devV(a), refV(a), TOL);
    }
  });

  gpuIt("a transposed device view is read in place", () => {
    const x = T.fmatrix("x");
    const [dev, ref] = both([x], T.nnet.softmax(x.T.mul(2)));
    const a = mat(37, 21, 5);
    expectClose(dev(a), ref(a), TOL);
  });

  gpuIt("rows with NaN, +inf, -inf and only -inf follow perform's rules", () => {
    const x = T.fmatrix("x");
    const rows = [
      [1, 2, NaN, 3],
      [1, Infinity, 2, 3],
      [-Infinity, 0, 1, 2],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [-1000, -1000, -999, -1001],
    ];
    const a = theano.asarray(rows.flat(), "float32").reshape([rows.length, 4]);
    for (const fn of [T.nnet.softmax, T.nnet.logSoftmax]) {
      const [dev, ref] = both([x], fn(x));
      const got = dev(a).toFlat();
      const want = ref(a).toFlat();
      for (let i = 0; i < want.length; i++) {
        const [g, w] = [Number(got[i]), Number(want[i])];
        if (Number.isNaN(w) || !Number.isFinite(w)) expect(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `element ${i}: perform ${w}, device ${g}`).toBe(true);
        else expect(Math.abs(g - w), `element ${i}: perform ${w}, device ${g}`).toBeLessThanOrEqual(TOL.atol + TOL.rtol * Math.abs(w));
      }
    }
  });

  gpuIt("float64 stays on the host; a softmax cross-entropy's gradient runs through the device kernel", () => {
    const d = T.dmatrix("d");
    const [dev64, ref64, text64] = both([d], T.nnet.softmax(d));
    expect(text64).not.toContain("GpuSoftmax");
    const a64 = theano.asarray([1, 2, 3, 4], "float64").reshape([2, 2]);
    expectClose(dev64(a64), ref64(a64));
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const loss = T.nnet.softmax(x).mul(y).sum().neg();
    const [dev, ref, text] = both([x, y], theano.grad(loss, x));
    expect(text).toContain("GpuSoftmax");
    const a = mat(9, 70, 3);
    const b = mat(9, 70, 4, 1);
    expectClose(dev(a, b), ref(a, b), { rtol: 1e-4, atol: 1e-5 });
  });
});
