/**
 * Memory planning shared by the linkers: which values own memory, when that memory dies, and
 * the peak number of bytes a call holds (Theano's `profile_memory` figures).
 *
 * A node output owns fresh memory unless the op's `viewMap` or `destroyMap` says it lives in
 * an input's memory (a view, or an in-place result); it then belongs to that input's root. A
 * root's memory dies after the last reader of any of its aliases, never when an alias is an
 * output of the function. Function inputs and constants are the caller's and are not counted.
 * The peak is planned from static shapes (`staticPeakBytes`, null when some size is unknown
 * before run time) and measured on every call (`lastPeakBytes`) by the linkers.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { type DType, itemsize } from "../ndarray/dtype.js";

/** What a compiled function reports about its memory (`f.memoryPlan`). */
export interface MemoryPlan {
  /** Peak bytes of results held at once, from static shapes; null when a size is unknown. */
  readonly staticPeakBytes: number | null;
  /** Peak bytes of results held at once during the last call (null before the first call). */
  readonly lastPeakBytes: number | null;
  /** Number of values that own memory (the rest are views or in-place results). */
  readonly buffers: number;
}

export interface MemoryLayout {
  /** Node outputs that own their memory. */
  readonly fresh: ReadonlySet<Variable>;
  /** For each node position, the roots whose memory is dead after it. */
  readonly deaths: Variable[][];
  readonly staticPeakBytes: number | null;
}

/** Bytes of `v` from its static shape, or null when some size is only known at run time. */
export function staticBytes(v: Variable): number | null {
  const t = v.type as { dtype?: DType; shape?: ReadonlyArray<number | null> };
  if (!t.dtype || !t.shape || t.shape.some((d) => d === null)) return null;
  return (t.shape as number[]).reduce((a, b) => a * b, 1) * itemsize(t.dtype);
}

/**
 * The memory layout of `order`. With `inplace: false`, every in-place result counts as fresh
 * memory (what the graph would hold without in-place rewrites: the profiler's comparison).
 */
export function planMemory(fgraph: FunctionGraph, order: readonly Apply[], opts: { inplace?: boolean } = {}): MemoryLayout {
  const inplace = opts.inplace ?? true;
  const root = new Map<Variable, Variable>();
  const rootOf = (v: Variable): Variable => root.get(v) ?? v;
  const fresh = new Set<Variable>();
  const end = new Map<Variable, number>(); // root -> last position any alias is read
  const outputs = new Set(fgraph.outputs);
  order.forEach((node, k) => {
    for (const v of node.inputs) {
      const r = rootOf(v);
      if (fresh.has(r)) end.set(r, Math.max(end.get(r) ?? k, k));
    }
    node.outputs.forEach((o, i) => {
      const src = (inplace ? node.op.destroyMap.get(i)?.[0] : undefined) ?? node.op.viewMap.get(i)?.[0];
      if (src === undefined) {
        fresh.add(o);
        end.set(o, k);
      } else root.set(o, rootOf(node.inputs[src]!));
    });
  });
  for (const o of outputs) {
    const r = rootOf(o);
    if (fresh.has(r)) end.set(r, Infinity);
  }
  const deaths: Variable[][] = order.map(() => []);
  for (const [r, k] of end) if (k !== Infinity) deaths[k]!.push(r);
  let mem = 0;
  let peak = 0;
  let exact = true;
  order.forEach((node, k) => {
    for (const o of node.outputs) {
      if (!fresh.has(o)) continue;
      const b = staticBytes(o);
      if (b === null) exact = false;
      else mem += b;
    }
    peak = Math.max(peak, mem);
    for (const r of deaths[k]!) mem -= staticBytes(r) ?? 0;
  });
  return { fresh, deaths, staticPeakBytes: exact ? peak : null };
}
