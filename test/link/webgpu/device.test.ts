/**
 * device=webgpu: placement and transfers (visible in debugprint), results as host NDArrays,
 * float64 nodes kept on the host with one warning per function, and the refusals the issue
 * asks for — a missing package, no adapter, a missing feature, a buffer over
 * maxStorageBufferBindingSize, a WGSL compile error — each a clear BackendError/CompileError.
 */

import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import * as theano from "../../../src/index.js";
import { NDArray } from "../../../src/ndarray/ndarray.js";
import { WebGpuRuntime, webgpuRuntime } from "../../../src/link/webgpu/runtime.js";
import { ADAPTER, announceWebGpu } from "./adapter.js";

const { T } = theano;
const ok = announceWebGpu();

describe.skipIf(!ok)("device=webgpu placement", () => {
  it("moves elementwise and reduction nodes to the device with GpuFromHost/HostFromGpu at the boundaries", () => {
    const x = T.fmatrix("x");
    const b = T.fvector("b");
    const out = T.tanh(x.mul(2).add(b.dimshuffle("x", 0))).sum(1);
    const f = theano.config.change({ device: "webgpu", floatX: "float32" }, () => theano.function([x, b], out));
    const dp = theano.printing.debugprint(f);
    expect(dp).toMatch(/^HostFromGpu<webgpu>/);
    expect(dp).toContain("GpuSum{axis=(1)}");
    expect(dp).toMatch(/GpuElemwise\{Composite\{tanh\(add\(mul\(i0, i1\), i2\)\)\}\}/);
    expect(dp).toContain("GpuFromHost<webgpu>");
    const y = f(theano.array([[1, 2, 3], [4, 5, 6]], "float32"), theano.array([0.5, -1, 0], "float32"));
    expect(y).toBeInstanceOf(NDArray);
    const want = [Math.tanh(2.5) + Math.tanh(3) + Math.tanh(6), Math.tanh(8.5) + Math.tanh(9) + Math.tanh(12)];
    Array.from((y as NDArray).toFlat() as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  });

  it("consecutive device nodes pass device buffers (no transfer between them); outputs never alias", () => {
    const x = T.fvector("x");
    const f = theano.config.change({ device: "webgpu", optimizer: "None" }, () => theano.function([x], [T.exp(x), T.exp(x).add(1)]));
    const dp = theano.printing.debugprint(f);
    // exp's result feeds add on the device: no HostFromGpu/GpuFromHost pair between them.
    expect(dp).toMatch(/GpuElemwise\{add\} \[id \w+\] ''\s+\d+\n \| \|GpuElemwise\{exp\}/);
    const [a, c] = f(theano.array([0, 1], "float32")) as NDArray[];
    expect(a!.get(1)).toBeCloseTo(Math.E, 5);
    expect(c!.get(0)).toBeCloseTo(2, 6);
    // Repeated calls reuse nothing stale.
    for (let i = 0; i < 20; i++) expect(Number((f(theano.array([i], "float32")) as NDArray[])[0]!.item()) / Math.exp(i)).toBeCloseTo(1, 5);
  });

  it("a DimShuffle between device nodes is a device view (no transfer); a view read back is copied to C order", () => {
    const x = T.fmatrix("x");
    const m = x.max(0).dimshuffle("x", 0);
    const t = T.exp(x).dimshuffle(1, 0);
    const outs = [x.sub(m), m, t.mul(t.sum(1, { keepdims: true })), t];
    const f = theano.config.change({ device: "webgpu", optimizer: "None" }, () => theano.function([x], outs));
    const ref = theano.config.change({ device: "cpu", linker: "py", optimizer: "None" }, () => theano.function([x], outs));
    const dp = theano.printing.debugprint(f);
    expect(dp).toContain("GpuDimShuffle{x,0}");
    expect(dp).toContain("GpuDimShuffle{1,0}");
    const v = theano.array([[1, -2, 3], [4, 5, -6]], "float32");
    const got = f(v) as NDArray[];
    const want = ref(v) as NDArray[];
    got.forEach((g, i) => {
      expect(g.shape).toEqual(want[i]!.shape);
      expect(g.isContiguous).toBe(true);
      Array.from(g.toFlat() as Float32Array).forEach((q, j) => {
        const w = Number(want[i]!.toFlat()[j]);
        expect(Math.abs(q - w) <= 1e-5 * (1 + Math.abs(w)), `output ${i}[${j}]: ${q} vs ${w}`).toBe(true);
      });
    });
    const rt = webgpuRuntime();
    const before = rt.stats.buffers;
    f(v);
    expect(rt.stats.buffers).toBe(before);
  });

  it("a fused node with more inputs than the adapter's storage buffers per kernel stays on the host, correct", () => {
    const n = ADAPTER!.limits["maxStorageBuffersPerShaderStage"]!;
    const xs = Array.from({ length: n }, (_v, i) => T.fvector(`x${i}`));
    const out = xs.reduce((acc, x, i) => acc.add(x.mul(i + 1)) as typeof acc, T.exp(xs[0]!));
    const f = theano.config.change({ device: "webgpu" }, () => theano.function(xs, out));
    const dp = theano.printing.debugprint(f);
    expect(dp).toMatch(/^Elemwise\{Composite/m);
    const got = f(...xs.map(() => theano.array([1, 2], "float32"))) as NDArray;
    const k = (n * (n + 1)) / 2;
    expect(got.get(0)).toBeCloseTo(Math.E + k, 4);
  });

  it("float64 nodes stay on the host, named in one warning per function", () => {
    const x = T.dvector("x");
    const y = T.fvector("y");
    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const f = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], [T.exp(x).mul(2), T.exp(y)]));
      const msgs = spy.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("device=webgpu"));
      expect(msgs.length).toBe(1);
      expect(msgs[0]).toMatch(/stay on the host because webgpu has no float64\/int64 type: .*float64/);
      expect(theano.printing.debugprint(f)).toContain("GpuElemwise{exp}");
      const [a, c] = f([0, 1], theano.array([0, 1], "float32")) as NDArray[];
      expect(a!.dtype).toBe("float64");
      expect(a!.get(1)).toBeCloseTo(2 * Math.E, 12);
      expect(c!.get(1)).toBeCloseTo(Math.E, 5);
    } finally {
      spy.mockRestore();
    }
  });

  it("the output of a device node can be an input of a host node and back", () => {
    const x = T.fmatrix("x");
    const out = T.exp(x).T.sum(0); // the transpose (DimShuffle) runs on the host
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], out));
    const v = theano.array([[0, 1], [2, 3]], "float32");
    const got = Array.from((f(v) as NDArray).toFlat() as Float32Array);
    expect(got[0]).toBeCloseTo(1 + Math.E, 5);
    expect(got[1]).toBeCloseTo(Math.exp(2) + Math.exp(3), 4);
  });

  it("device buffers are released at their last reader, after failed calls too", () => {
    const rt = webgpuRuntime();
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], [T.exp(x).add(y).max(0), x.mul(y)]));
    const before = rt.stats.buffers;
    for (let i = 0; i < 10; i++) f(theano.ones([3, 4], "float32"), theano.ones([3, 4], "float32"));
    expect(rt.stats.buffers).toBe(before);
    expect(() => f(theano.ones([3, 4], "float32"), theano.ones([2, 4], "float32"))).toThrow(theano.ShapeError);
    expect(rt.stats.buffers).toBe(before);
  });

  it("profile=True and NanGuardMode work on device functions (NaN is caught where it comes back to the host)", () => {
    const x = T.fvector("x");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], T.log(x).sum(), { profile: true }));
    f(theano.array([1, 2], "float32"));
    expect(f.profile!.summary()).toContain("GpuElemwise{log}");
    const g = theano.config.change({ device: "webgpu" }, () => theano.function([x], T.log(x).sum(), { mode: "NanGuardMode" }));
    expect(() => g(theano.array([-1, 2], "float32"))).toThrow(theano.NaNError);
  });

  it("the caching allocator: a second call reuses the first call's freed buffers (no new buffer); sizes round to classes; the cache is bounded", () => {
    const rt = webgpuRuntime();
    rt.trim(); // what earlier tests left in the pool
    expect(rt.stats.cachedBytes).toBe(0);
    const x = T.fmatrix("x");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], [T.tanh(x).sum(1), x.mul(2).max(0)]));
    const v = theano.ones([300, 70], "float32");
    f(v);
    const misses = rt.stats.misses;
    const hits = rt.stats.hits;
    for (let k = 0; k < 3; k++) {
      const [s, m] = f(v) as NDArray[];
      expect(s!.get(0)).toBeCloseTo(70 * Math.tanh(1), 4);
      expect(m!.get(69)).toBe(2);
    }
    expect(rt.stats.misses).toBe(misses);
    expect(rt.stats.hits).toBeGreaterThan(hits);
    // a somewhat smaller input fits the same size classes (84 000 and 72 800 bytes: 128 KiB)
    f(theano.ones([260, 70], "float32"));
    expect(rt.stats.misses).toBe(misses);
    expect(rt.stats.cachedBytes).toBeLessThanOrEqual(rt.cacheLimit);
    expect(rt.stats.largestRequest).toBeGreaterThanOrEqual(300 * 70 * 4);
  });

  it("run-time shape errors are ShapeErrors naming the device node", () => {
    const x = T.fvector("x");
    const y = T.fvector("y");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], x.add(y)));
    expect(() => f(theano.zeros([3], "float32"), theano.zeros([4], "float32"))).toThrow(theano.ShapeError);
  });
});

describe.skipIf(!ok)("device=webgpu refusals", () => {
  it("a buffer over maxStorageBufferBindingSize: BackendError with what was asked, the limit and the fix", () => {
    const limit = ADAPTER!.limits["maxStorageBufferBindingSize"]!;
    const x = T.fvector("x");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], x.mul(2)));
    const big = new NDArray("float32", [limit / 4 + 1], new Float32Array(limit / 4 + 1));
    let err: unknown;
    try {
      f(big);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(theano.BackendError);
    const msg = (err as Error).message;
    expect(msg).toContain(`${limit + 4} bytes`);
    expect(msg).toContain(`maxStorageBufferBindingSize of ${limit} bytes`);
    expect(msg).toMatch(/device=cpu/);
  });

  it("a WGSL compile error is a CompileError quoting the line, the source saved in the compiledir", () => {
    const rt = webgpuRuntime();
    let err: unknown;
    try {
      rt.compile("@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = 1u;\n}\n", "a broken kernel");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(theano.CompileError);
    const msg = (err as Error).message;
    expect(msg).toContain("WGSL compile error in a broken kernel: 3:");
    expect(msg).toContain("line 3: let x: f32 = 1u;");
    const path = (err as theano.CompileError).sourcePath!;
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path, "utf8")).toContain("let x: f32 = 1u;");
  });

  it("a feature the adapter lacks: BackendError naming it and what the adapter offers", () => {
    const candidates = ["texture-compression-etc2", "texture-compression-astc", "float32-filterable", "shader-f16", "subgroups"];
    const lacking = candidates.find((c) => !ADAPTER!.features.includes(c)) ?? "chromium-experimental-nonexistent";
    expect(() => new WebGpuRuntime({ requiredFeatures: [lacking] })).toThrow(
      new RegExp(`lacks the feature\\(s\\) ${lacking}.*it offers .*${ADAPTER!.features[0]}`),
    );
  });

  it("no adapter: BackendError saying what Dawn needs and how to run on the CPU", () => {
    let err: unknown;
    try {
      new WebGpuRuntime({ adapter: "no-such-adapter-xyz" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(theano.BackendError);
    expect((err as Error).message).toMatch(/no WebGPU adapter was found.*mesa-vulkan-drivers.*device=cpu/s);
  });

  it("the package missing or broken: BackendError with npm install webgpu", () => {
    expect(() => new WebGpuRuntime({ pkg: "" })).toThrow(/"webgpu" .*is not installed.*npm install webgpu/);
    expect(() => new WebGpuRuntime({ pkg: "/nonexistent/webgpu/index.js" })).toThrow(/could not be loaded.*npm install webgpu/);
  });

  it("device=webgpu0 is the adapter; device=webgpu1 is refused, saying how to pick another", () => {
    const x = T.fvector("x");
    const f = theano.config.change({ device: "webgpu0" }, () => theano.function([x], x.add(1)));
    expect((f(theano.array([1], "float32")) as NDArray).get(0)).toBe(2);
    theano.config.change({ device: "webgpu1" }, () => expect(() => theano.function([x], x.add(1))).toThrow(/device=webgpu1: .*THEANO_WEBGPU_ADAPTER/));
  });

  it("device=cuda still refuses with its own BackendError", () => {
    const x = T.fvector("x");
    theano.config.change({ device: "cuda0" }, () => expect(() => theano.function([x], x.add(1))).toThrow(/no CUDA backend/));
  });
  it("a lost device: every later call is a BackendError saying so (never a short or empty result), and a new function opens a new device", () => {
    const x = T.fvector("x");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x], [x.mul(2), x.sum()]));
    const v = theano.array([1, 2, 3], "float32");
    expect((f(v) as NDArray[])[1]!.item()).toBe(6);
    const rt = webgpuRuntime();
    rt.destroyDevice();
    for (let k = 0; k < 2; k++) expect(() => f(v)).toThrow(/device lost.*destroyed.*compile them again/s);
    expect(rt.lost).toMatch(/destroyed/);
    const g = theano.config.change({ device: "webgpu" }, () => theano.function([x], [x.mul(2), x.sum()]));
    expect(webgpuRuntime()).not.toBe(rt);
    expect(Array.from((g(v) as NDArray[])[0]!.toFlat() as Float32Array)).toEqual([2, 4, 6]);
    expect(() => f(v)).toThrow(theano.BackendError);
  });
});
