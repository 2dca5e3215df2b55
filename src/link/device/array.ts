/**
 * What every accelerator backend shares (ARCHITECTURE.md, "device layer"): the value a device
 * node passes to the next (`DeviceArray`: a buffer handle with a dtype, shape, element strides
 * and offset, so views and broadcasts need no copy), and the small contract a backend fulfils
 * for the device layer (`DeviceBackend`: upload, download, release, and which nodes it has
 * kernels for). WebGPU is the first backend on it; the CUDA dialect is the next folder over.
 */

import type { Apply, Op } from "../../graph/basic.js";
import type { DType } from "../../ndarray/dtype.js";
import { type NDArray, contiguousStrides, shapeSize } from "../../ndarray/ndarray.js";

export class DeviceArray {
  readonly strides: readonly number[];

  constructor(
    readonly backend: DeviceBackend,
    /** The backend's handle of the buffer. */
    readonly buffer: number,
    readonly dtype: DType,
    readonly shape: readonly number[],
    strides?: readonly number[],
    readonly offset = 0,
  ) {
    this.strides = strides ?? contiguousStrides(shape);
  }

  get size(): number {
    return shapeSize(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  toString(): string {
    return `DeviceArray(${this.backend.name}, ${this.dtype}, [${this.shape.join(", ")}])`;
  }
}

/** The device layer's side of a backend. */
export interface DeviceBackend {
  /** As the `device` flag names it ("webgpu"). */
  readonly name: string;
  /** Copies a host array into a fresh device buffer (contiguous). */
  upload(a: NDArray): DeviceArray;
  /** Copies a device array back into a fresh, contiguous host array (waits for the device). */
  download(d: DeviceArray): NDArray;
  /** Gives the array's hold on its buffer back (the buffer goes when its last view does). */
  release(d: DeviceArray): void;
  /** A new view of `d`'s buffer (shares it: each view is released on its own). */
  view(d: DeviceArray, shape: readonly number[], strides: readonly number[], offset: number): DeviceArray;
  /**
   * The device Op that computes `node` (same input and output types, device values in and
   * out), or a reason it stays on the host: `wide` when a dtype the device has no type for
   * (float64, int64) is the reason (the placement warns about those, once per function).
   */
  kernelFor(node: Apply): Op | { readonly host: string; readonly wide?: boolean };
}

export const isDeviceArray = (v: unknown): v is DeviceArray => v instanceof DeviceArray;
