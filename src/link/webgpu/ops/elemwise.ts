/**
 * WGSL kernels for Elemwise and fused Composite nodes (the C backend's elemwise family, one
 * folder over): one thread per output element, 256 threads a workgroup, a 2-D grid past 65535
 * workgroups. Kernels are shape-generic: the element count, the output shape and each input's
 * offset and element strides (0 along broadcast axes; any sign, so views fit later) are read
 * from a small `shp` storage buffer, so a new shape never recompiles; only rank, dtypes and
 * the scalar program are baked into the source.
 */

import { Apply, Op, type Value, type Variable } from "../../../graph/basic.js";
import type { DType } from "../../../ndarray/dtype.js";
import { itemsize } from "../../../ndarray/dtype.js";
import { shapeSize } from "../../../ndarray/ndarray.js";
import { Composite, type Ref } from "../../../scalar/composite.js";
import { Elemwise } from "../../../tensor/elemwise.js";
import type { TensorType } from "../../../tensor/type.js";
import { type DeviceBackend, DeviceArray } from "../../device/array.js";
import type { WebGpuRuntime } from "../runtime.js";
import { type WScalar, convert, helpersFor, loadAs, operandTypes, rowExpression, storageOf, storeAs, wgslScalar } from "../wgsl.js";

export const WORKGROUP = 256;
const MAX_GROUPS = 65535;

/** Workgroups for `n` threads at `per` threads a group: x ≤ 65535, y the rest. */
export function grid(n: number, per = WORKGROUP): [number, number] {
  const groups = Math.ceil(n / per);
  const x = Math.min(groups, MAX_GROUPS);
  return [x, Math.ceil(groups / x)];
}

export type HostReason = { readonly host: string; readonly wide?: boolean };

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;

/** WGSL types of a node's inputs and outputs, or why they have none. */
export function deviceTypes(node: Apply): { ins: WScalar[]; outs: WScalar[] } | HostReason {
  const all = [...node.inputs, ...node.outputs];
  const bad = all.map(dtypeOf).filter((d) => !wgslScalar(d));
  if (bad.length > 0) {
    const wide = bad.some((d) => d === "float64" || d === "int64" || d === "uint64");
    return { host: `WGSL has no ${[...new Set(bad)].join("/")} type`, wide };
  }
  return { ins: node.inputs.map((v) => wgslScalar(dtypeOf(v))!), outs: node.outputs.map((v) => wgslScalar(dtypeOf(v))!) };
}

/** The scalar program of an Elemwise node as WGSL statements over `x0..`; the result is in `r`. */
function scalarProgram(op: Elemwise, ins: readonly DType[], out: DType): string[] | string {
  const steps = op.scalarOp instanceof Composite ? op.scalarOp.steps : [{ op: op.scalarOp, args: ins.map((_d, i): Ref => ({ input: i })), dtype: out }];
  const lines: string[] = [];
  const name = (r: Ref): string => ("input" in r ? `x${r.input}` : `t${r.step}`);
  const typeOf = (r: Ref): DType => ("input" in r ? ins[r.input]! : steps[r.step]!.dtype);
  for (let k = 0; k < steps.length; k++) {
    const s = steps[k]!;
    const w = wgslScalar(s.dtype);
    if (!w) return `step ${s.op.name} computes in ${s.dtype}`;
    const argDtypes = s.args.map(typeOf);
    const argW = argDtypes.map(wgslScalar);
    if (argW.some((a) => !a)) return `step ${s.op.name} reads ${argDtypes.join(", ")}`;
    const want = operandTypes(s.op.name, w, argDtypes);
    if (!want) return `${s.op.name} of ${argDtypes.join(", ")}`;
    const args = s.args.map((r, i) => convert(name(r), argW[i]!, want[i]!));
    const expr = rowExpression(s.op.name, w, args, want);
    if (expr === null) return `${s.op.name} has no WGSL form for ${s.dtype}`;
    lines.push(`let t${k}: ${w} = ${expr};`);
  }
  lines.push(`let r = t${steps.length - 1};`);
  return lines;
}

/**
 * The WGSL source of an Elemwise node. Bindings: 0 = shp (u32: n, the output shape, then per
 * input its offset and strides), 1.. = inputs, last = the output.
 */
export function elemwiseSource(node: Apply): string | HostReason {
  const op = node.op as Elemwise;
  if (node.outputs.length !== 1) return { host: "several outputs" };
  const types = deviceTypes(node);
  if ("host" in types) return types;
  const nd = (node.outputs[0]!.type as TensorType).ndim;
  const prog = scalarProgram(op, node.inputs.map(dtypeOf), dtypeOf(node.outputs[0]!));
  if (typeof prog === "string") return { host: prog };
  const nin = node.inputs.length;
  const L: string[] = [];
  L.push(`// ${op} (theano-ts WebGPU elemwise, rank ${nd})`);
  L.push("@group(0) @binding(0) var<storage, read> shp: array<u32>;");
  types.ins.forEach((w, k) => L.push(`@group(0) @binding(${k + 1}) var<storage, read> in${k}: array<${storageOf(w)}>;`));
  L.push(`@group(0) @binding(${nin + 1}) var<storage, read_write> out0: array<${storageOf(types.outs[0]!)}>;`);
  const body: string[] = [];
  body.push(`let i = gid.x + gid.y * (nwg.x * ${WORKGROUP}u);`, "if (i >= shp[0]) { return; }", "var rem = i;");
  for (let ax = nd - 1; ax >= 0; ax--) {
    body.push(ax > 0 ? `let c${ax} = rem % shp[${1 + ax}]; rem = rem / shp[${1 + ax}];` : `let c0 = rem;`);
  }
  types.ins.forEach((w, k) => {
    const base = 1 + nd + k * (nd + 1);
    const terms = [`bitcast<i32>(shp[${base}])`, ...Array.from({ length: nd }, (_x, ax) => `i32(c${ax}) * bitcast<i32>(shp[${base + 1 + ax}])`)];
    body.push(`let x${k}: ${w} = ${loadAs(`in${k}[u32(${terms.join(" + ")})]`, w)};`);
  });
  body.push(...(prog as string[]));
  body.push(`out0[i] = ${storeAs("r", types.outs[0]!)};`);
  const text = body.join("\n  ");
  const helpers = helpersFor(text);
  if (helpers) L.push(helpers);
  L.push(`@compute @workgroup_size(${WORKGROUP})`);
  L.push("fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {");
  L.push(`  ${text}`, "}");
  return L.join("\n") + "\n";
}

/** Bytes a device buffer of `n` elements of `dtype` takes (bool is a u32 there). */
export const deviceBytes = (dtype: DType, n: number): number => n * (dtype === "bool" ? 4 : itemsize(dtype));

/** Uploads a u32 metadata block (signed values are stored as their two's complement). */
export function uploadMeta(rt: WebGpuRuntime, words: readonly number[]): number {
  const data = new Uint32Array(words.map((w) => w >>> 0));
  const id = rt.alloc(data.byteLength, "kernel metadata");
  rt.write(id, data);
  return id;
}

/** An Elemwise or Composite node computed by a WGSL kernel. */
export class GpuElemwise extends Op {
  constructor(
    readonly elemwise: Elemwise,
    readonly runtime: WebGpuRuntime,
    readonly backendRef: DeviceBackend,
    readonly source: string,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { ...this.elemwise.props(), device: "webgpu" };
  }

  override toString(): string {
    return `Gpu${String(this.elemwise).replace(/\[.*\]$/, "")}`;
  }

  makeNode(...inputs: Variable[]): Apply {
    const ref = this.elemwise.makeNode(...inputs);
    return new Apply(this, inputs, ref.outputs.map((o) => o.type));
  }

  perform(node: Apply, inputs: Value[]): Value[] {
    const xs = inputs as DeviceArray[];
    const outShape = Elemwise.checkShapes(node, xs.map((a) => a.shape));
    const dtype = dtypeOf(node.outputs[0]!);
    const n = shapeSize(outShape);
    const rt = this.runtime;
    const buf = rt.alloc(deviceBytes(dtype, n), `the output of ${this}`);
    const out = new DeviceArray(this.backendRef, buf, dtype, outShape);
    if (n === 0) return [out];
    const words = [n, ...outShape];
    for (const a of xs) {
      words.push(a.offset);
      // Broadcast axes read the same element: stride 0.
      a.strides.forEach((s, ax) => words.push(a.shape[ax] === 1 && outShape[ax] !== 1 ? 0 : s));
    }
    const meta = uploadMeta(rt, words);
    rt.run(this.source, [meta, ...xs.map((a) => a.buffer), buf], grid(n));
    rt.free(meta);
    return [out];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return this.elemwise.inferShape(node, shapes);
  }
}
