/**
 * Device placement (Theano's `gpuarray` optimizer, reduced to its core): the last rewrite of a
 * function compiled under `device=webgpu*` (later `cuda*`). Every node the backend has a kernel
 * for is replaced by its device Op; `GpuFromHost` / `HostFromGpu` transfer nodes are inserted
 * where values cross between host and device, so `debugprint(f)` and the profiler show every
 * copy. Device values keep the host variable's TensorType: what differs is where the value
 * lives at run time (a `DeviceArray`), which only the device Ops and the transfers see.
 * Nodes that stay on the host because their dtype has no device type (float64/int64 on WebGPU)
 * are named in one warning per function, as `warn_float64` does.
 */

import { ShapeError, warn } from "../../errors.js";
import { Apply, Op, type Value, type Variable, withTrace } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import type { NDArray } from "../../ndarray/ndarray.js";
import { DimShuffle } from "../../tensor/elemwise.js";
import { type DeviceBackend, DeviceArray } from "./array.js";

/** Host → device copy. */
export class GpuFromHost extends Op {
  constructor(readonly backend: DeviceBackend) {
    super();
  }

  override props(): Record<string, unknown> {
    return { device: this.backend.name };
  }

  override toString(): string {
    return `GpuFromHost<${this.backend.name}>`;
  }

  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    return [this.backend.upload(x as NDArray)];
  }

  override grad(_inputs: Variable[], [gz]: Variable[]): Variable[] {
    return [gz!];
  }
}

/** Device → host copy: waits for the device, returns a host NDArray. */
export class HostFromGpu extends Op {
  constructor(readonly backend: DeviceBackend) {
    super();
  }

  override props(): Record<string, unknown> {
    return { device: this.backend.name };
  }

  override toString(): string {
    return `HostFromGpu<${this.backend.name}>`;
  }

  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    return [this.backend.download(x as DeviceArray)];
  }

  override grad(_inputs: Variable[], [gz]: Variable[]): Variable[] {
    return [gz!];
  }
}

export const isTransfer = (op: Op): boolean => op instanceof GpuFromHost || op instanceof HostFromGpu;

/**
 * A DimShuffle of a device array: a view (new shape and strides over the same buffer), no
 * kernel. Placed only between device nodes (its input comes from the device and one of its
 * readers runs there): elsewhere the host's own view is free and a device one would cost a copy.
 */
export class GpuDimShuffle extends Op {
  constructor(
    readonly shuffle: DimShuffle,
    readonly backend: DeviceBackend,
  ) {
    super();
    this.viewMap = shuffle.viewMap;
  }

  override props(): Record<string, unknown> {
    return { ...this.shuffle.props(), device: this.backend.name };
  }

  override toString(): string {
    return `Gpu${this.shuffle}`;
  }

  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [this.shuffle.makeNode(x).outputs[0]!.type]);
  }

  perform(_node: Apply, [x]: Value[]): Value[] {
    const a = x as DeviceArray;
    const op = this.shuffle;
    for (const d of op.drop) if (a.shape[d] !== 1) throw new ShapeError(`${this}: axis ${d} must have size 1, got shape [${a.shape.join(", ")}]`);
    const shape = op.pattern.map((p) => (p === "x" ? 1 : a.shape[p]!));
    const strides = op.pattern.map((p) => (p === "x" ? 0 : a.strides[p]!));
    return [this.backend.view(a, shape, strides, a.offset)];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return this.shuffle.inferShape(node, shapes);
  }
}

/**
 * Moves every node `backend` has a kernel for onto the device. Returns the nodes placed on the
 * device and those left on the host with the reason, for tests and the warning.
 */
export function placeOnDevice(fgraph: FunctionGraph, backend: DeviceBackend): { device: number; host: Array<{ node: string; why: string }> } {
  const toDevice = new GpuFromHost(backend);
  const toHost = new HostFromGpu(backend);
  const uploads = new Map<Variable, Variable>();
  const onDevice = (v: Variable): Variable => {
    if (v.owner?.op instanceof HostFromGpu) return v.owner.inputs[0]!;
    let d = uploads.get(v);
    if (!d) {
      d = withTrace(v.owner?.trace ?? v.trace, () => toDevice.makeNode(v)).outputs[0]!;
      uploads.set(v, d);
    }
    return d;
  };
  let placed = 0;
  const host: Array<{ node: string; why: string }> = [];
  const wide: string[] = [];
  const order = fgraph.toposort();
  const kernels = new Map(order.map((n) => [n, isTransfer(n.op) ? null : backend.kernelFor(n)] as const));
  const runsThere = (n: Apply | "output"): boolean => n !== "output" && kernels.get(n) instanceof Op;
  for (const node of order) {
    if (isTransfer(node.op)) continue;
    let k = kernels.get(node)!;
    // (Earlier device nodes' outputs already read through HostFromGpu here.)
    if (k instanceof GpuDimShuffle && !(node.inputs[0]!.owner?.op instanceof HostFromGpu && fgraph.clientsOf(node.outputs[0]!).some(([c]) => runsThere(c)))) {
      k = { host: "a view: the host's is free" };
    }
    if (!(k instanceof Op)) {
      host.push({ node: String(node.op), why: k.host });
      const dt = (vs: readonly Variable[]): string => vs.map((v) => (v.type as { dtype?: string }).dtype).join(", ");
      if (k.wide) wide.push(`${node.op} (${dt(node.inputs)} -> ${dt(node.outputs)})`);
      continue;
    }
    const devNode = withTrace(node.trace, () => k.makeNode(...node.inputs.map(onDevice)));
    placed++;
    node.outputs.forEach((o, i) => {
      const back = withTrace(node.trace, () => toHost.makeNode(devNode.outputs[i]!)).outputs[0]!;
      fgraph.replace(o, back, `device placement (${backend.name})`);
    });
  }
  if (wide.length > 0) {
    warn(
      `device=${backend.name}: ${wide.length} node(s) stay on the host because ${backend.name} has no float64/int64 type: ${[...new Set(wide)].join(", ")}. ` +
        `Use floatX=float32 and float32/int32 inputs to run them on the device.`,
    );
  }
  return { device: placed, host };
}
