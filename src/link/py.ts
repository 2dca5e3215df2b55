/**
 * The `py` linker: every node through its reference `perform`, in toposort order (Theano's
 * PerformLinker). The oracle other backends are tested against, and the fallback that makes
 * every op work everywhere. Values are dropped after their last reader (`allow_gc`).
 */

import type { FunctionGraph } from "../graph/fgraph.js";
import type { Value, Variable } from "../graph/basic.js";
import { wrapNodeError } from "./errors.js";
import { planMemory } from "./memory.js";
import type { Linker, LinkOptions, Thunk } from "./types.js";

/** For each node position, the variables whose last reader it is (outputs are never freed). */
export function lastUses(fgraph: FunctionGraph, order = fgraph.toposort()): Variable[][] {
  const last = new Map<Variable, number>();
  order.forEach((node, k) => node.inputs.forEach((v) => last.set(v, k)));
  const keep = new Set<Variable>(fgraph.outputs);
  const out: Variable[][] = order.map(() => []);
  for (const [v, k] of last) if (!keep.has(v) && v.owner) out[k]!.push(v);
  return out;
}

export const pyLinker: Linker = {
  name: "py",
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk {
    const profiler = opts?.profiler;
    const order = fgraph.toposort();
    const frees = lastUses(fgraph, order);
    const inputs = fgraph.inputs;
    const outputs = fgraph.outputs;
    const layout = planMemory(fgraph, order);
    let lastPeakBytes: number | null = null;
    const bytes = (v: Value): number => {
      const d = (v as { data?: { BYTES_PER_ELEMENT?: number }; size?: number } | null)?.data;
      return d?.BYTES_PER_ELEMENT ? (v as { size: number }).size * d.BYTES_PER_ELEMENT : 0;
    };
    const thunk: Thunk = (values: readonly Value[]): Value[] => {
      const env = new Map<Variable, Value>();
      inputs.forEach((v, i) => env.set(v, values[i]));
      const get = (v: Variable): Value => (env.has(v) ? env.get(v) : v.constantData);
      const sizes = new Map<Variable, number>();
      let mem = 0;
      let peak = 0;
      for (let k = 0; k < order.length; k++) {
        const node = order[k]!;
        const args = node.inputs.map(get);
        let outs: Value[];
        const t = profiler ? performance.now() : 0;
        try {
          outs = node.op.perform(node, args);
        } catch (e) {
          throw wrapNodeError(e, node, args, order);
        }
        if (profiler) profiler.record(node, t, performance.now() - t, args);
        node.outputs.forEach((o, i) => {
          env.set(o, outs[i]);
          if (layout.fresh.has(o)) {
            const b = bytes(outs[i]);
            sizes.set(o, b);
            mem += b;
          }
        });
        peak = Math.max(peak, mem);
        for (const r of layout.deaths[k]!) mem -= sizes.get(r) ?? 0;
        for (const v of frees[k]!) env.delete(v);
      }
      lastPeakBytes = peak;
      return outputs.map(get);
    };
    thunk.memoryPlan = {
      staticPeakBytes: layout.staticPeakBytes,
      buffers: layout.fresh.size,
      get lastPeakBytes() {
        return lastPeakBytes;
      },
    };
    return thunk;
  },
};
