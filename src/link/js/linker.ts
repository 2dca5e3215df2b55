/**
 * The JS backend: one generated JavaScript function per compiled graph.
 *
 * Elementwise nodes (and, later, fused Composites) become tight loops over TypedArrays,
 * rendered from the scalar table's JS templates: a contiguous fast path (every operand either
 * contiguous with the output's shape or a single broadcast value, loaded once) and a strided
 * path over any layout and broadcasting. Every other node calls its op's `perform`. Shapes are
 * checked before a loop touches memory. Buffers of intermediate results return to a pool after
 * their last reader and are reused by later nodes (and later calls). No Node-only APIs here:
 * this backend runs in any JS runtime.
 */

import type { Apply, Value, Variable } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import { type DType, type TypedArray, isBigIntDType } from "../../ndarray/dtype.js";
import { NDArray, allocData, shapeSize } from "../../ndarray/ndarray.js";
import * as M from "../../scalar/math.js";
import { Composite } from "../../scalar/composite.js";
import { renderTemplate } from "../../scalar/table.js";
import { Elemwise } from "../../tensor/elemwise.js";
import { FusedReduce } from "../../tensor/fused_reduce.js";
import { fusedReduceKernelSource } from "../../tensor/fused_reduce_js.js";
import type { TensorType } from "../../tensor/type.js";
import { wrapNodeError } from "../errors.js";
import { hostStepLoop } from "../host_loop.js";
import { planMemory } from "../memory.js";
import type { Linker, LinkOptions, Thunk } from "../types.js";

/** Free buffers by dtype and length, reused across nodes and calls. */
class BufferPool {
  private readonly free = new Map<string, TypedArray[]>();

  /** A buffer of n elements; `shape` (of n elements) names the array if the allocation fails. */
  alloc(dtype: DType, n: number, shape: readonly number[] = [n]): TypedArray {
    // (Nothing pooled yet, the common case of a function whose only result is its output: no key.)
    if (this.free.size === 0) return allocData(dtype, shape);
    const list = this.free.get(`${dtype}:${n}`);
    const b = list?.pop();
    // allocData: a size past 2**53 or memory the runtime refuses is a ShapeError naming the shape.
    return b ?? allocData(dtype, shape);
  }

  release(dtype: DType, buf: TypedArray): void {
    const key = `${dtype}:${buf.length}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    if (list.length < 4 && !list.includes(buf)) list.push(buf);
  }

  clear(): void {
    this.free.clear();
  }

  /**
   * Forgets an array the pool handed out (it escaped as an output). By identity: the pool only
   * holds arrays it made, and reading `.buffer` would materialise every small one.
   */
  forget(arr: TypedArray): void {
    if (this.free.size === 0) return;
    for (const list of this.free.values()) {
      const k = list.indexOf(arr);
      if (k >= 0) list.splice(k, 1);
    }
  }
}

/** Runtime support the generated code reaches through `rt`. */
export interface Runtime {
  readonly NDArray: typeof NDArray;
  readonly checkShapes: typeof Elemwise.checkShapes;
  readonly size: typeof shapeSize;
  readonly pool: BufferPool;
  readonly $: typeof M & { toBig: (r: number) => bigint };
  readonly wrap: typeof wrapNodeError;
  /** Filled by each call: the peak bytes of results held at once (see src/link/memory.ts). */
  readonly memory: { lastPeakBytes: number | null };
  /** Profiled functions only: the clock, and the report of node k that started at t. */
  readonly now: () => number;
  readonly rec: (k: number, t: number, inputs: readonly Value[]) => void;
}

const toBig = (r: number): bigint => (Number.isFinite(r) ? BigInt(Math.trunc(r)) : 0n);

/**
 * The source of one elementwise kernel: `function(node, a0, a1, ...)` returning an NDArray.
 * Operands are loaded into locals once, so templates may repeat them freely.
 */
export function elemwiseKernelSource(node: Apply<Elemwise>, fnName: string): string {
  const op = node.op;
  const ins = node.inputs.map((v) => (v.type as TensorType).dtype);
  const out = (node.outputs[0]!.type as TensorType).dtype;
  const n = ins.length;
  const args = ins.map((_d, k) => `x${k}`);
  const load = (k: number, idx: string): string => (isBigIntDType(ins[k]!) ? `Number(D${k}[${idx}])` : `D${k}[${idx}]`);
  let pre: string[] = [];
  let expr: string;
  if (op.scalarOp instanceof Composite) {
    const st = op.scalarOp.statements(args);
    pre = st.lines;
    expr = st.result;
  } else expr = renderTemplate(op.scalarOp.js, args, out, ins);
  const store = isBigIntDType(out) ? `$.toBig(${expr})` : out === "bool" ? `((${expr}) !== 0 ? 1 : 0)` : expr;
  const a = [...Array(n).keys()];
  const lines: string[] = [];
  lines.push(`function ${fnName}(node, ${a.map((k) => `a${k}`).join(", ")}) {`);
  // The output shape, checked inline for the ranks and broadcastable axes the types declare
  // (rt.checkShapes, which raises the ShapeError naming the mismatch, only when they differ), and
  // its size: most of what a call on tiny arrays costs besides the loop (issue 15.5).
  const nd = (node.outputs[0]!.type as TensorType).ndim;
  const axes = [...Array(nd).keys()];
  const bc = (k: number, i: number): boolean => (node.inputs[k]!.type as TensorType).shape[i] === 1;
  const same: string[] = [];
  const dims = axes.map((i) => {
    const owners = a.filter((k) => !bc(k, i));
    for (const k of a) if (bc(k, i)) same.push(`a${k}.shape[${i}] === 1`);
    for (const k of owners.slice(1)) same.push(`a${k}.shape[${i}] === a${owners[0]}.shape[${i}]`);
    return owners.length > 0 ? `a${owners[0]}.shape[${i}]` : "1";
  });
  lines.push(`  const shape = ${same.length > 0 ? `${same.join(" && ")} ? [${dims.join(", ")}] : rt.checkShapes(node, [${a.map((k) => `a${k}.shape`).join(", ")}])` : `[${dims.join(", ")}]`};`);
  lines.push(`  const n = ${axes.map((i) => `shape[${i}]`).join(" * ") || "1"};`);
  // In place (destroyMap): write over the destroyed operand when it is laid out as the output;
  // the destroy handler guarantees nothing reads it afterwards. Element i is read before written.
  const j = op.inplaceInput;
  if (j >= 0 && ins[j] === out) {
    lines.push(`  const out = a${j}.isContiguous && a${j}.offset === 0 && a${j}.data.length === n && a${j}.shape.every((d, i) => d === shape[i]) ? a${j}.data : rt.pool.alloc(${JSON.stringify(out)}, n, shape);`);
  } else lines.push(`  const out = rt.pool.alloc(${JSON.stringify(out)}, n, shape);`);
  for (const k of a) lines.push(`  const D${k} = a${k}.data;`);
  // Operands statically of size 1 (constants, broadcast scalars) are loaded once, outside loops.
  const stat = a.filter((k) => (node.inputs[k]!.type as TensorType).shape.every((d) => d === 1));
  const dyn = a.filter((k) => !stat.includes(k));
  for (const k of stat) lines.push(`  const x${k} = ${load(k, `a${k}.offset`)};`);
  // Fast path: each other operand is contiguous with the output's shape, or one broadcast value.
  // (Sizes and, up to rank 2, contiguity inline: NDArray's getters loop over the shape.)
  const sizeOf = (k: number): string => axes.map((i) => `a${k}.shape[${i}]`).join(" * ") || "1";
  const contiguous = (k: number): string =>
    nd === 0 ? "true" : nd === 1 ? `(a${k}.strides[0] === 1 || a${k}.shape[0] <= 1)` : nd === 2 ? `((a${k}.strides[1] === 1 || a${k}.shape[1] <= 1) && (a${k}.strides[0] === a${k}.shape[1] || a${k}.shape[0] <= 1))` : `a${k}.isContiguous`;
  const full = a.map((k) => `(${contiguous(k)} && ${sizeOf(k)} === n)`);
  const scal = a.map((k) => `${sizeOf(k)} === 1`);
  lines.push(`  if (${dyn.map((k) => `(${full[k]} || ${scal[k]})`).join(" && ") || "true"}) {`);
  for (const k of dyn) lines.push(`    const f${k} = ${full[k]}, o${k} = a${k}.offset;`);
  for (const k of dyn) lines.push(`    const s${k} = f${k} ? 0 : ${load(k, `o${k}`)};`);
  // Specialise the loop for the common all-full case; otherwise select per operand.
  lines.push(`    if (${dyn.map((k) => `f${k}`).join(" && ") || "true"}) {`);
  lines.push(`      for (let i = 0; i < n; i++) {`);
  for (const k of dyn) lines.push(`        const x${k} = ${load(k, `o${k} + i`)};`);
  lines.push(`        ${pre.join(" ")} out[i] = ${store};`);
  lines.push(`      }`);
  lines.push(`    } else {`);
  lines.push(`      for (let i = 0; i < n; i++) {`);
  for (const k of dyn) lines.push(`        const x${k} = f${k} ? ${load(k, `o${k} + i`)} : s${k};`);
  lines.push(`        ${pre.join(" ")} out[i] = ${store};`);
  lines.push(`      }`);
  lines.push(`    }`);
  lines.push(`    return rt.NDArray.fresh(${JSON.stringify(out)}, shape, out);`);
  lines.push(`  }`);
  // Strided path: broadcast dimensions get stride 0; the innermost axis is a plain loop.
  lines.push(`  const nd = shape.length;`);
  for (const k of dyn) lines.push(`  const st${k} = a${k}.strides.map((s, i) => (a${k}.shape[i] === 1 && shape[i] !== 1 ? 0 : s));`);
  lines.push(`  if (n === 0) return rt.NDArray.fresh(${JSON.stringify(out)}, shape, out);`);
  lines.push(`  const last = nd - 1, inner = shape[last];`);
  for (const k of dyn) lines.push(`  const in${k} = st${k}[last];`);
  lines.push(`  const idx = new Array(nd).fill(0);`);
  for (const k of dyn) lines.push(`  let p${k} = a${k}.offset;`);
  lines.push(`  let i = 0;`);
  lines.push(`  while (i < n) {`);
  for (const k of dyn) lines.push(`    let q${k} = p${k};`);
  lines.push(`    for (let j = 0; j < inner; j++, i++) {`);
  for (const k of dyn) lines.push(`      const x${k} = ${load(k, `q${k}`)}; q${k} += in${k};`);
  lines.push(`      ${pre.join(" ")} out[i] = ${store};`);
  lines.push(`    }`);
  lines.push(`    for (let ax = last - 1; ax >= 0; ax--) {`);
  lines.push(`      idx[ax]++;`);
  for (const k of dyn) lines.push(`      p${k} += st${k}[ax];`);
  lines.push(`      if (idx[ax] < shape[ax]) break;`);
  for (const k of dyn) lines.push(`      p${k} -= idx[ax] * st${k}[ax];`);
  lines.push(`      idx[ax] = 0;`);
  lines.push(`    }`);
  lines.push(`  }`);
  lines.push(`  return rt.NDArray.fresh(${JSON.stringify(out)}, shape, out);`);
  lines.push(`}`);
  return lines.join("\n");
}

/** The whole generated program for a graph, plus what it needs at run time. */
export function generate(fgraph: FunctionGraph, profile = false): { source: string; nodes: Apply[]; constants: Value[]; staticPeakBytes: number | null; buffers: number; freshOutputs: boolean[] } {
  const order = fgraph.toposort();
  const ids = new Map<Variable, string>();
  const constants: Value[] = [];
  fgraph.inputs.forEach((v, i) => ids.set(v, `in${i}`));
  const name = (v: Variable): string => {
    let id = ids.get(v);
    if (id) return id;
    if (v.isConstant) {
      id = `c${constants.length}`;
      constants.push(v.constantData);
    } else id = `v${ids.size}`;
    ids.set(v, id);
    return id;
  };
  // The last reader of every intermediate (outputs live to the end).
  const lastUse = new Map<Variable, number>();
  order.forEach((node, k) => node.inputs.forEach((v) => lastUse.set(v, k)));
  const outputs = new Set(fgraph.outputs);
  const pooled = new Set<Variable>();
  const live = new Set<Variable>();
  const layout = planMemory(fgraph, order);
  const bytes = (id: string): string => `(${id} && ${id}.data ? ${id}.size * ${id}.data.BYTES_PER_ELEMENT : 0)`;

  const kernels: string[] = [];
  const kernelNames = new Map<string, string>();
  const body: string[] = [];
  fgraph.inputs.forEach((_v, i) => body.push(`  const in${i} = inputs[${i}];`));
  body.push(`  let mem = 0, peak = 0;`);
  order.forEach((node, k) => {
    const argNames = node.inputs.map(name);
    const outNames = node.outputs.map(name);
    body.push(`  // node ${k}: ${node.toString().replace(/\*\//g, "* /")}`);
    body.push(`  let ${outNames.join(", ")};`);
    // A profiled function times each node (rt.rec reports it to the profiler).
    if (profile) body.push(`  const t${k} = rt.now();`);
    // Where each node runs, for pictures of the compiled graph (printing/dot.ts).
    node.tag.backend = node.op instanceof Elemwise || node.op instanceof FusedReduce ? "js" : "host";
    if (node.op instanceof Elemwise || node.op instanceof FusedReduce) {
      // Nodes with the same op, dtypes and static layout share one kernel.
      const src = node.op instanceof FusedReduce ? fusedReduceKernelSource(node as Apply<FusedReduce>, "KERNEL") : elemwiseKernelSource(node as Apply<Elemwise>, "KERNEL");
      let fn = kernelNames.get(src);
      if (!fn) {
        fn = `k${kernelNames.size}`;
        kernelNames.set(src, fn);
        kernels.push(src.replace("function KERNEL(", `function ${fn}(`));
      }
      body.push(`  try { ${outNames[0]} = ${fn}(nodes[${k}], ${argNames.join(", ")}); }`);
      // A buffer returns to the pool only if the pool made it: an in-place result lives in
      // its destroyed operand's memory, which may be a caller's (an updated shared value).
      const j = node.op instanceof Elemwise ? node.op.inplaceInput : -1;
      if (j < 0 || pooled.has(node.inputs[j]!)) pooled.add(node.outputs[0]!);
    } else {
      body.push(`  try { [${outNames.join(", ")}] = nodes[${k}].op.perform(nodes[${k}], [${argNames.join(", ")}]); }`);
    }
    body.push(`  catch (e) { throw rt.wrap(e, nodes[${k}], [${argNames.join(", ")}]); }`);
    if (profile) body.push(`  rt.rec(${k}, t${k}, [${argNames.join(", ")}]);`);
    // Memory accounting: fresh results count until their memory (and every alias) is dead.
    const born = node.outputs.filter((o) => layout.fresh.has(o)).map((o) => bytes(name(o)));
    if (born.length > 0) body.push(`  mem += ${born.join(" + ")}; if (mem > peak) peak = mem;`);
    const dead = layout.deaths[k]!.map((r) => bytes(name(r)));
    if (dead.length > 0) body.push(`  mem -= ${dead.join(" + ")};`);
    // Intermediates alive after this node (computed incrementally: linear in the graph's size).
    for (const o of node.outputs) if ((lastUse.get(o) ?? -1) > k || outputs.has(o)) live.add(o);
    for (const v of node.inputs) if (lastUse.get(v) === k && !outputs.has(v)) live.delete(v);
    // Return pooled buffers whose last reader this node is, unless something live still shares them.
    for (const v of new Set(node.inputs)) {
      if (lastUse.get(v) === k && pooled.has(v) && !outputs.has(v)) {
        const others = [...live].map(name);
        const guard = [...outNames, ...others].map((id) => `${id}.data !== ${name(v)}.data`).join(" && ");
        body.push(`  if (${guard || "true"}) rt.pool.release(${JSON.stringify((v.type as TensorType).dtype)}, ${name(v)}.data);`);
      }
    }
  });
  const outs = fgraph.outputs.map(name);
  body.push(`  rt.memory.lastPeakBytes = peak;`);
  body.push(`  const result = [${outs.join(", ")}];`);
  body.push(`  for (const r of result) if (r && r.data) rt.pool.forget(r.data);`);
  body.push(`  return result;`);
  const source = [
    `"use strict";`,
    `const $ = rt.$;`,
    ...kernels,
    `return function theano_js(inputs) {`,
    ...body,
    `};`,
  ].join("\n");
  // Outputs a kernel wrote into memory of this call (see Thunk.freshOutputs): not in place over
  // an input, not a view, and listed once.
  const freshOutputs = fgraph.outputs.map((o) => {
    const node = o.owner;
    if (!node || fgraph.outputs.indexOf(o) !== fgraph.outputs.lastIndexOf(o)) return false;
    if (node.op instanceof FusedReduce) return true;
    return node.op instanceof Elemwise && node.op.inplaceInput < 0;
  });
  return { source, nodes: order, constants, staticPeakBytes: layout.staticPeakBytes, buffers: layout.fresh.size, freshOutputs };
}

export const jsLinker: Linker = {
  name: "js",
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk {
    const t0 = performance.now();
    const profiler = opts?.profiler;
    const { source, nodes, constants, staticPeakBytes, buffers, freshOutputs } = generate(fgraph, profiler !== undefined);
    const rt: Runtime = {
      NDArray,
      checkShapes: Elemwise.checkShapes,
      size: shapeSize,
      pool: new BufferPool(),
      $: { ...M, toBig },
      wrap: (e, node, args) => wrapNodeError(e, node, args, nodes),
      memory: { lastPeakBytes: null },
      now: () => performance.now(),
      rec: profiler ? (k, t, inputs) => profiler.record(nodes[k]!, t, performance.now() - t, inputs) : () => {},
    };
    const constNames = constants.map((_c, i) => `c${i}`);
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const factory = new Function("rt", "nodes", ...constNames, source) as (rt: Runtime, nodes: Apply[], ...c: Value[]) => (inputs: readonly Value[]) => Value[];
    const run = factory(rt, nodes, ...constants);
    const thunk: Thunk = (inputs: readonly Value[]): Value[] => run(inputs);
    thunk.source = source;
    thunk.freshOutputs = freshOutputs;
    // A loop body (Scan's step): its steps in one JS loop (host_loop.ts).
    if (opts?.stepLoop && !profiler) thunk.stepLoop = hostStepLoop(fgraph.inputs.map((v) => v.type), run);
    thunk.linkStats = { codegenMs: performance.now() - t0, compileMs: 0, cacheLoadMs: 0, compiled: 0, cacheLoads: 0 };
    thunk.free = () => rt.pool.clear();
    thunk.memoryPlan = {
      staticPeakBytes,
      buffers,
      get lastPeakBytes() {
        return rt.memory.lastPeakBytes;
      },
    };
    return thunk;
  },
};
