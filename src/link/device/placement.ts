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

import { warn } from "../../errors.js";
import { Apply, Op, type Value, type Variable, withTrace } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import type { NDArray } from "../../ndarray/ndarray.js";
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
  for (const node of fgraph.toposort()) {
    if (isTransfer(node.op)) continue;
    const k = backend.kernelFor(node);
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
