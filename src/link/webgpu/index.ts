/**
 * The WebGPU backend (`device=webgpu*`, issue 18): the device layer's `DeviceBackend` over the
 * runtime (runtime.ts), and the registry of WGSL generators by Op class (ops/<family>.ts, the
 * same families as link/c/ops). A node whose op has no generator, or whose dtypes WGSL lacks,
 * stays on the host; `placeOnDevice` (device/placement.ts) does the moving and the transfers.
 */

import type { Apply, Op } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import { type DType, typedArrayCtor } from "../../ndarray/dtype.js";
import { NDArray } from "../../ndarray/ndarray.js";
import { DimShuffle, Elemwise } from "../../tensor/elemwise.js";
import { Dot } from "../../tensor/blas.js";
import { Gemm } from "../../tensor/gemm.js";
import { LogSoftmax, Softmax } from "../../tensor/nnet.js";
import { CAReduce } from "../../tensor/math.js";
import { type DeviceBackend, DeviceArray } from "../device/array.js";
import { deviceLinker } from "../device/linker.js";
import { GpuDimShuffle, placeOnDevice } from "../device/placement.js";
import type { Linker } from "../types.js";
import { GpuElemwise, type HostReason, deviceBytes, deviceTypes, elemwiseSource } from "./ops/elemwise.js";
import { GpuBlas, blasSource } from "./ops/blas.js";
import { GpuCAReduce, reduceSource } from "./ops/reduce.js";
import { GpuSoftmax, softmaxSource } from "./ops/nnet.js";
import { type WebGpuRuntime, webgpuRuntime } from "./runtime.js";
import { wgslScalar } from "./wgsl.js";

/** Per Op class: the WGSL generator and the device Op made from a compiled source. */
interface Generator {
  /** The kernels' WGSL (compiled when the function is made), or why the node stays on the host. */
  sources(node: Apply): readonly string[] | HostReason;
  make(node: Apply, rt: WebGpuRuntime, backend: DeviceBackend, sources: readonly string[]): Op;
}

const GENERATORS = new Map<abstract new (...a: never[]) => Op, Generator>([
  [Elemwise, { sources: (n) => { const s = elemwiseSource(n); return typeof s === "string" ? [s] : s; }, make: (n, rt, b, s) => new GpuElemwise(n.op as Elemwise, rt, b, s[0]!) }],
  [CAReduce, { sources: reduceSource, make: (n, rt, b, s) => new GpuCAReduce(n.op as CAReduce, rt, b, s) }],
  [Dot, { sources: (n) => { const s = blasSource(n); return typeof s === "string" ? [s] : s; }, make: (n, rt, b, s) => new GpuBlas(n.op as Dot, rt, b, s[0]!) }],
  [Gemm, { sources: (n) => { const s = blasSource(n); return typeof s === "string" ? [s] : s; }, make: (n, rt, b, s) => new GpuBlas(n.op as Gemm, rt, b, s[0]!) }],
  [Softmax, { sources: (n) => { const s = softmaxSource(n); return typeof s === "string" ? [s] : s; }, make: (n, rt, b, s) => new GpuSoftmax(n.op as Softmax, rt, b, s[0]!) }],
  [LogSoftmax, { sources: (n) => { const s = softmaxSource(n); return typeof s === "string" ? [s] : s; }, make: (n, rt, b, s) => new GpuSoftmax(n.op as LogSoftmax, rt, b, s[0]!) }],
]);

export class WebGpuBackend implements DeviceBackend {
  readonly name = "webgpu";

  constructor(readonly runtime: WebGpuRuntime) {}

  upload(a: NDArray): DeviceArray {
    const w = wgslScalar(a.dtype);
    if (!w) throw new TypeError(`webgpu: cannot upload ${a.dtype}`);
    const flat = a.toFlat();
    const data = a.dtype === "bool" ? Uint32Array.from(flat as Uint8Array) : flat;
    const id = this.runtime.alloc(deviceBytes(a.dtype, a.size), `an input of shape [${a.shape.join(", ")}] (${a.dtype})`);
    if (a.size > 0) this.runtime.write(id, data);
    return new DeviceArray(this, id, a.dtype, a.shape);
  }

  download(d: DeviceArray): NDArray {
    const dtype: DType = d.dtype;
    const n = d.size;
    if (n === 0) return new NDArray(dtype, d.shape, new (typedArrayCtor(dtype))(0));
    // A view (device DimShuffle): read the span it addresses, then copy it to C order on the host.
    let span = d.offset + 1;
    d.shape.forEach((s, i) => (span += (s - 1) * Math.max(0, d.strides[i]!)));
    const bytes = this.runtime.read(d.buffer, deviceBytes(dtype, span));
    const data = dtype === "bool" ? Uint8Array.from(new Uint32Array(bytes), (v) => (v !== 0 ? 1 : 0)) : new (typedArrayCtor(dtype))(bytes);
    const a = new NDArray(dtype, d.shape, data, d.strides, d.offset);
    return a.isContiguous && d.offset === 0 && span === n ? a : new NDArray(dtype, d.shape, a.toFlat());
  }

  release(d: DeviceArray): void {
    this.runtime.free(d.buffer);
  }

  view(d: DeviceArray, shape: readonly number[], strides: readonly number[], offset: number): DeviceArray {
    this.runtime.retain(d.buffer);
    return new DeviceArray(this, d.buffer, d.dtype, shape, strides, offset);
  }

  kernelFor(node: Apply): Op | HostReason {
    if (node.op instanceof DimShuffle) {
      const types = deviceTypes(node);
      return "host" in types ? types : new GpuDimShuffle(node.op, this);
    }
    const maxBuffers = this.runtime.info.limits["maxStorageBuffersPerShaderStage"] ?? 8;
    for (const [cls, gen] of GENERATORS) {
      if (!(node.op instanceof cls)) continue;
      // Inputs, the output and the shape block each take a storage binding.
      if (node.inputs.length + node.outputs.length + 1 > maxBuffers) return { host: `${node.inputs.length} inputs: over the adapter's ${maxBuffers} storage buffers per kernel` };
      const srcs = gen.sources(node);
      if (!Array.isArray(srcs)) return srcs as HostReason;
      for (const s of srcs) this.runtime.compile(s, String(node.op));
      return gen.make(node, this.runtime, this, srcs);
    }
    return { host: `no WGSL kernel for ${node.op.constructor.name}` };
  }
}

let backend: WebGpuBackend | null = null;

/** The process's WebGPU backend; opens the device on first use (raises BackendError). */
export function webgpuBackend(): WebGpuBackend {
  const rt = webgpuRuntime(); // checks the device flag on every call
  if (backend?.runtime !== rt) backend = new WebGpuBackend(rt); // a new device after a loss
  return backend;
}

/** Places a rewritten graph on the device (the last rewrite under device=webgpu*). */
export function placeOnWebGpu(fgraph: FunctionGraph): void {
  placeOnDevice(fgraph, webgpuBackend());
}

export const webgpuLinker: Linker = deviceLinker("webgpu");
