/**
 * The linker of a function compiled for a device: the `py` linker's walk (every node through
 * `perform`, in toposort order), where device Ops' `perform` queue kernels on the device and
 * `HostFromGpu` waits for results. Device buffers are released at their last reader (the
 * `allow_gc` of device memory), and every device value still held when a call fails is
 * released too. Host nodes between device nodes run through their reference `perform`; a
 * later slice hands host segments to the JS/C linkers.
 */

import type { Value, Variable } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import { wrapNodeError } from "../errors.js";
import { lastUses } from "../py.js";
import type { Linker, LinkOptions, Thunk } from "../types.js";
import { isDeviceArray } from "./array.js";

export function deviceLinker(name: "webgpu" | "cuda"): Linker {
  return {
    name,
    make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk {
      const profiler = opts?.profiler;
      const order = fgraph.toposort();
      const frees = lastUses(fgraph, order);
      const thunk: Thunk = (values: readonly Value[]): Value[] => {
        const env = new Map<Variable, Value>();
        fgraph.inputs.forEach((v, i) => env.set(v, values[i]));
        const get = (v: Variable): Value => (env.has(v) ? env.get(v) : v.constantData);
        const release = (v: Variable): void => {
          const x = env.get(v);
          if (isDeviceArray(x)) x.backend.release(x);
          env.delete(v);
        };
        try {
          for (let k = 0; k < order.length; k++) {
            const node = order[k]!;
            const args = node.inputs.map(get);
            const t = profiler ? performance.now() : 0;
            let outs: Value[];
            try {
              outs = node.op.perform(node, args);
            } catch (e) {
              throw wrapNodeError(e, node, args, order);
            }
            if (profiler) profiler.record(node, t, performance.now() - t, args);
            node.outputs.forEach((o, i) => env.set(o, outs[i]));
            for (const v of frees[k]!) release(v);
          }
          return fgraph.outputs.map(get);
        } finally {
          for (const v of [...env.keys()]) if (!fgraph.outputs.includes(v) && !fgraph.inputs.includes(v)) release(v);
        }
      };
      return thunk;
    },
  };
}
