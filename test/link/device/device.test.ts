/**
 * device=cuda* and init_gpu_device: until the CUDA backend is built, asking for it raises
 * BackendError naming the device and what was looked for — never a silent CPU run (the seeds'
 * failure mode; API.md §9). device=webgpu* is built: test/link/webgpu/ tests it (and its refusals).
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { findCudaDriver } from "../../../src/link/device/index.js";

const { T } = theano;

describe("device flags that this build cannot reach", () => {
  for (const device of ["cuda", "cuda0", "cuda1"] as const) {
    it(`device=${device}: theano.function raises BackendError`, () => {
      const x = T.dvector("x");
      const y = x.mul(2);
      theano.config.change({ device }, () => {
        let err: unknown;
        try {
          theano.function([x], y);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(theano.BackendError);
        const msg = (err as Error).message;
        expect(msg).toContain(`device=${device}`);
        expect(msg).toMatch(/no CUDA backend/);
        expect(msg).toContain("device=cpu");
        expect(msg).toMatch(/libcuda\.so\.1/);
      });
    });

    it(`device=${device}: theano.shared raises BackendError`, () => {
      theano.config.change({ device }, () => {
        expect(() => theano.shared(theano.zeros([3]))).toThrow(theano.BackendError);
      });
    });
  }

  it("init_gpu_device=cuda0 raises BackendError when a function is made", () => {
    const x = T.dvector("x");
    theano.config.change({ init_gpu_device: "cuda0" }, () => {
      expect(() => theano.function([x], x.add(1))).toThrow(/init_gpu_device=cuda0/);
    });
  });

  it("device=cpu still compiles and runs", () => {
    const x = T.dvector("x");
    const f = theano.function([x], x.mul(2));
    expect((f([1, 2]) as theano.NDArray).toArray()).toEqual([2, 4]);
  });

  it("the CUDA search names the standard directories", () => {
    const { searched } = findCudaDriver();
    expect(searched).toContain("/usr/local/cuda/lib64");
  });

  it("device values outside the grammar are still ConfigErrors", () => {
    expect(() => theano.config.change({ device: "opencl0" as never }, () => undefined)).toThrow(theano.ConfigError);
  });
});
