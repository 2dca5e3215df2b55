/**
 * WGSL kernels for CAReduce (sum, prod, max, min, all, any over any axes). Long reductions: one
 * workgroup of 256 threads per output element; each thread strides over the reduced elements,
 * then a tree in workgroup memory combines the 256 partial results. Short ones (at most
 * LANE_MAX elements per output, or more outputs than a grid row): one thread per output. Shape-generic like the elemwise kernels:
 * the sizes and element strides of the kept and reduced axes come from a `shp` buffer.
 * float32 sums accumulate in f32 (in tree order, so they differ from the host's float64
 * accumulation by rounding only); integer sums widen to int64 in NumPy and stay on the host.
 */

import { Apply, Op, type Value, type Variable } from "../../../graph/basic.js";
import { ShapeError } from "../../../errors.js";
import type { DType } from "../../../ndarray/dtype.js";
import { shapeSize } from "../../../ndarray/ndarray.js";
import type { CAReduce } from "../../../tensor/math.js";
import type { TensorType } from "../../../tensor/type.js";
import { type DeviceBackend, DeviceArray } from "../../device/array.js";
import type { WebGpuRuntime } from "../runtime.js";
import { type WScalar, convert, helpersFor, literal, loadAs, storageOf, storeAs, wgslScalar } from "../wgsl.js";
import { type HostReason, WORKGROUP, deviceBytes, grid, uploadMeta } from "./elemwise.js";

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;

/** Reductions of at most this many elements per output run a thread per output. */
export const LANE_MAX = 64;

function identity(kind: CAReduce["kind"], w: WScalar): string {
  switch (kind) {
    case "add":
    case "or":
      return literal(0, w);
    case "mul":
    case "and":
      return literal(1, w);
    case "maximum":
      return w === "f32" ? literal(-Infinity, w) : w === "i32" ? literal(-2147483648, w) : literal(0, w);
    case "minimum":
      return w === "f32" ? literal(Infinity, w) : w === "i32" ? literal(2147483647, w) : w === "u32" ? "4294967295u" : "true";
    default:
      kind satisfies never;
      return "0";
  }
}

function combine(kind: CAReduce["kind"], w: WScalar, a: string, b: string): string | null {
  const bool = w === "bool";
  switch (kind) {
    case "add":
      return bool ? `(${a} || ${b})` : `(${a} + ${b})`;
    case "mul":
      return bool ? `(${a} && ${b})` : `(${a} * ${b})`;
    case "maximum":
      return w === "f32" ? `th_max_f32(${a}, ${b})` : bool ? `(${a} || ${b})` : `max(${a}, ${b})`;
    case "minimum":
      return w === "f32" ? `th_min_f32(${a}, ${b})` : bool ? `(${a} && ${b})` : `min(${a}, ${b})`;
    case "and":
      return bool ? `(${a} && ${b})` : null;
    case "or":
      return bool ? `(${a} || ${b})` : null;
    default:
      kind satisfies never;
      return null;
  }
}

/**
 * The WGSL source of a CAReduce node. `shp` (u32): outer, inner, offset, then (size, stride) per
 * kept axis, then per reduced axis. Bindings: 0 = shp, 1 = input, 2 = output.
 */
export function reduceSource(node: Apply): string[] | HostReason {
  const tree = reduceVariant(node, "tree");
  return typeof tree === "string" ? [tree, reduceVariant(node, "lane") as string] : tree;
}

/**
 * `tree`: one workgroup per output element (long reductions); `lane`: one thread per output
 * element, a plain loop (short ones: a workgroup per 2-element row would idle 254 threads).
 */
function reduceVariant(node: Apply, variant: "tree" | "lane"): string | HostReason {
  const op = node.op as CAReduce;
  const inD = dtypeOf(node.inputs[0]!);
  const outD = dtypeOf(node.outputs[0]!);
  const win = wgslScalar(inD);
  const w = wgslScalar(outD);
  if (!win || !w) {
    const bad = [inD, outD].filter((d) => !wgslScalar(d));
    return { host: `WGSL has no ${bad.join("/")} type`, wide: bad.some((d) => d === "float64" || d === "int64" || d === "uint64") };
  }
  const nd = (node.inputs[0]!.type as TensorType).ndim;
  const kept = [...Array(nd).keys()].filter((i) => !op.axis.includes(i));
  const red = [...op.axis];
  const comb = combine(op.kind, w, "acc", "v");
  if (!comb) return { host: `${op.kind} of ${outD}` };
  const pos = (axes: number[], idx: string, first: number, name: string): string[] => {
    const L: string[] = [`var ${name}r = ${idx};`, `var ${name} = 0i;`];
    for (let k = axes.length - 1; k >= 0; k--) {
      const m = first + 2 * k;
      L.push(`${name} = ${name} + i32(${name}r % shp[${m}]) * bitcast<i32>(shp[${m + 1}]); ${name}r = ${name}r / shp[${m}];`);
    }
    return L;
  };
  const body = [
    "let o = wid.x + wid.y * nwg.x;",
    "let outer = shp[0];",
    "let inner = shp[1];",
    "let live = o < outer;",
    ...pos(kept, "o", 3, "po"),
    `var acc: ${w} = ${identity(op.kind, w)};`,
    `for (var j = lid.x; live && j < inner; j = j + ${WORKGROUP}u) {`,
    ...pos(red, "j", 3 + 2 * kept.length, "pj").map((l) => `  ${l}`),
    `  let v: ${w} = ${convert(loadAs(`x[u32(bitcast<i32>(shp[2]) + po + pj)]`, win), win, w)};`,
    `  acc = ${comb};`,
    "}",
    `part[lid.x] = ${storeAs("acc", w)};`,
    "workgroupBarrier();",
    `for (var s = ${WORKGROUP / 2}u; s > 0u; s = s >> 1u) {`,
    "  if (lid.x < s) {",
    `    let a: ${w} = ${loadAs("part[lid.x]", w)};`,
    `    let b: ${w} = ${loadAs("part[lid.x + s]", w)};`,
    `    part[lid.x] = ${storeAs(combine(op.kind, w, "a", "b")!, w)};`,
    "  }",
    "  workgroupBarrier();",
    "}",
    `if (live && lid.x == 0u) { out0[o] = part[0]; }`,
  ];
  const lane = [
    `let o = gid.x + gid.y * (nwg.x * ${WORKGROUP}u);`,
    "if (o >= shp[0]) { return; }",
    "let inner = shp[1];",
    ...pos(kept, "o", 3, "po"),
    `var acc: ${w} = ${identity(op.kind, w)};`,
    "for (var j = 0u; j < inner; j = j + 1u) {",
    ...pos(red, "j", 3 + 2 * kept.length, "pj").map((l) => `  ${l}`),
    `  let v: ${w} = ${convert(loadAs(`x[u32(bitcast<i32>(shp[2]) + po + pj)]`, win), win, w)};`,
    `  acc = ${comb};`,
    "}",
    `out0[o] = ${storeAs("acc", w)};`,
  ];
  const text = (variant === "tree" ? body : lane).join("\n  ");
  const L = [
    `// ${op} (theano-ts WebGPU reduction, ${variant}, ${inD} -> ${outD}, rank ${nd})`,
    "@group(0) @binding(0) var<storage, read> shp: array<u32>;",
    `@group(0) @binding(1) var<storage, read> x: array<${storageOf(win)}>;`,
    `@group(0) @binding(2) var<storage, read_write> out0: array<${storageOf(w)}>;`,
  ];
  if (variant === "tree") L.push(`var<workgroup> part: array<${storageOf(w)}, ${WORKGROUP}>;`);
  const helpers = helpersFor(text);
  if (helpers) L.push(helpers);
  L.push(`@compute @workgroup_size(${WORKGROUP})`);
  L.push(
    variant === "tree"
      ? "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {"
      : "fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {",
  );
  L.push(`  ${text}`, "}");
  return L.join("\n") + "\n";
}

export class GpuCAReduce extends Op {
  constructor(
    readonly reduce: CAReduce,
    readonly runtime: WebGpuRuntime,
    readonly backendRef: DeviceBackend,
    /** The `tree` and `lane` kernels (reduceSource). */
    readonly sources: readonly string[],
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { ...this.reduce.props(), device: "webgpu" };
  }

  override toString(): string {
    return `Gpu${this.reduce}`;
  }

  makeNode(x: Variable): Apply {
    const ref = this.reduce.makeNode(x);
    return new Apply(this, [x], ref.outputs.map((o) => o.type));
  }

  perform(node: Apply, [x]: Value[]): Value[] {
    const a = x as DeviceArray;
    const op = this.reduce;
    const kept = [...Array(a.ndim).keys()].filter((i) => !op.axis.includes(i));
    const outShape = kept.map((i) => a.shape[i]!);
    const outer = shapeSize(outShape);
    const inner = shapeSize(op.axis.map((i) => a.shape[i]!));
    if (inner === 0 && outer > 0 && (op.kind === "maximum" || op.kind === "minimum") && !op.emptyIdentity) {
      throw new ShapeError(`${op}: zero-size reduction over axes (${op.axis.join(", ")}) of shape [${a.shape.join(", ")}] has no identity`);
    }
    const dtype = dtypeOf(node.outputs[0]!);
    const rt = this.runtime;
    const buf = rt.alloc(deviceBytes(dtype, outer), `the output of ${this}`);
    const out = new DeviceArray(this.backendRef, buf, dtype, outShape);
    if (outer === 0) return [out];
    const words = [outer, inner, a.offset];
    for (const i of [...kept, ...op.axis]) words.push(a.shape[i]!, a.strides[i]!);
    const meta = uploadMeta(rt, words);
    // Short lanes, or more lanes than a grid row of workgroups: a thread per lane.
    const lane = inner <= LANE_MAX || outer > 65535;
    rt.run(this.sources[lane ? 1 : 0]!, [meta, a.buffer, buf], lane ? grid(outer) : grid(outer, 1));
    rt.free(meta);
    return [out];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return this.reduce.inferShape(node, shapes);
  }
}
