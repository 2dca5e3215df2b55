/**
 * WGSL `Softmax` and `LogSoftmax` over the last axis of float32 vectors and matrices (the C and
 * Wasm backends' nnet family on the device). One workgroup of 64 threads a row: the row maximum
 * by a tree in workgroup memory (NaN tracked apart, since WGSL's max of NaN is not defined), then
 * Σ exp(x - max) the same way, then each element written. Rows beyond 65535 use the grid's
 * second axis. The input may be a device view (offset and both strides, of any sign, come from
 * the `shp` block), so `x.T` is read in place and a new shape never recompiles.
 *
 * Semantics are perform's (src/tensor/nnet.ts, scipy's), in float32 arithmetic: a Softmax row
 * holding NaN, +inf or only -inf gives NaN; LogSoftmax shifts by 0 when the row maximum is not
 * finite. -inf and NaN come as bit patterns in the shape block (WGSL's constant evaluation
 * refuses them); they behave as
 * IEEE values on the CPU adapters the suite runs on (lavapipe, SwiftShader) and on the GPUs whose
 * drivers keep IEEE semantics, but WGSL lets an implementation flush them, so on such a device the
 * special rows are not guaranteed. Sums accumulate in f32 (results within float32 tolerance of
 * perform's float64 arithmetic, not bit for bit).
 */

import { Apply, Op, type Value, type Variable } from "../../../graph/basic.js";
import { LogSoftmax, Softmax } from "../../../tensor/nnet.js";
import type { TensorType } from "../../../tensor/type.js";
import { type DeviceBackend, DeviceArray } from "../../device/array.js";
import type { WebGpuRuntime } from "../runtime.js";
import { type HostReason, deviceBytes, uploadMeta } from "./elemwise.js";

const GROUP = 64;
const MAX_GROUPS = 65535;

/** The WGSL of a Softmax or LogSoftmax node, or why it stays on the host. */
export function softmaxSource(node: Apply): string | HostReason {
  const op = node.op as Softmax | LogSoftmax;
  const log = op instanceof LogSoftmax;
  const t = node.inputs[0]!.type as TensorType;
  if (t.dtype !== "float32" || (node.outputs[0]!.type as TensorType).dtype !== "float32") {
    return { host: `WGSL softmax is float32 here (${t.dtype})`, wide: t.dtype === "float64" };
  }
  if (t.ndim < 1 || t.ndim > 2 || op.axis !== t.ndim - 1) return { host: "WGSL softmax covers the last axis of a vector or matrix" };
  const L = [
    `// ${op} (theano-ts WebGPU ${log ? "logSoftmax" : "softmax"}, a workgroup of ${GROUP} a row)`,
    "@group(0) @binding(0) var<storage, read> shp: array<u32>;",
    "@group(0) @binding(1) var<storage, read> x: array<f32>;",
    "@group(0) @binding(2) var<storage, read_write> out0: array<f32>;",
    `var<workgroup> red: array<f32, ${GROUP}>;`,
    `var<workgroup> nan: array<u32, ${GROUP}>;`,
    `@compute @workgroup_size(${GROUP})`,
    "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {",
    // rows, n, offset, row stride, element stride; barriers stay in uniform control flow: no early return
    `  let rows = shp[0]; let n = shp[1]; let row = wid.x + wid.y * ${MAX_GROUPS}u; let live = row < rows;`,
    "  let base = bitcast<i32>(shp[2]) + i32(row) * bitcast<i32>(shp[3]); let st = bitcast<i32>(shp[4]);",
    "  var m = bitcast<f32>(shp[5]); // -inf (shp[6]: a NaN), from the host: WGSL's constant evaluation refuses both",
    "  var bad = 0u;",
    `  if (live) { for (var i = lid.x; i < n; i = i + ${GROUP}u) { let v = x[u32(base + i32(i) * st)]; if (v != v) { bad = 1u; } else if (v > m) { m = v; } } }`,
    "  red[lid.x] = m; nan[lid.x] = bad;",
    "  workgroupBarrier();",
    `  for (var w = ${GROUP / 2}u; w > 0u; w = w >> 1u) {`,
    "    if (lid.x < w) { red[lid.x] = max(red[lid.x], red[lid.x + w]); nan[lid.x] = nan[lid.x] | nan[lid.x + w]; }",
    "    workgroupBarrier();",
    "  }",
    "  var mx = red[0];",
    "  if (nan[0] != 0u) { mx = bitcast<f32>(shp[6]); }",
    // A non-finite maximum shifts by 0 (scipy's log_softmax). Not \`mx - mx == 0.0\`: a compiler may fold it to true.
    ...(log ? ["  if (!(abs(mx) <= 3.4028234663852886e38)) { mx = 0.0; }"] : []),
    "  workgroupBarrier();",
    "  var s: f32 = 0.0;",
    `  if (live) { for (var i = lid.x; i < n; i = i + ${GROUP}u) { s = s + exp(x[u32(base + i32(i) * st)] - mx); } }`,
    "  red[lid.x] = s;",
    "  workgroupBarrier();",
    `  for (var w = ${GROUP / 2}u; w > 0u; w = w >> 1u) {`,
    "    if (lid.x < w) { red[lid.x] = red[lid.x] + red[lid.x + w]; }",
    "    workgroupBarrier();",
    "  }",
    log ? "  let ls = log(red[0]);" : "  let inv = 1.0 / red[0];",
    `  if (live) { for (var i = lid.x; i < n; i = i + ${GROUP}u) {`,
    "    let v = x[u32(base + i32(i) * st)];",
    log ? "    out0[row * n + i] = v - mx - ls;" : "    out0[row * n + i] = exp(v - mx) * inv;",
    "  } }",
    "}",
  ];
  return L.join("\n") + "\n";
}

/** A Softmax or LogSoftmax node computed by the WGSL row kernel. */
export class GpuSoftmax extends Op {
  constructor(
    readonly ref: Softmax | LogSoftmax,
    readonly runtime: WebGpuRuntime,
    readonly backendRef: DeviceBackend,
    readonly source: string,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { op: String(this.ref), device: "webgpu" };
  }

  override toString(): string {
    return this.ref instanceof LogSoftmax ? "GpuLogSoftmax" : "GpuSoftmax";
  }

  makeNode(...inputs: Variable[]): Apply {
    const ref = (this.ref.makeNode as (...a: Variable[]) => Apply)(...inputs);
    return new Apply(this, inputs, ref.outputs.map((o) => o.type));
  }

  perform(_node: Apply, [xv]: Value[]): Value[] {
    const x = xv as DeviceArray;
    const [rows, n] = x.shape.length === 2 ? [x.shape[0]!, x.shape[1]!] : [1, x.shape[0]!];
    const [rs, es] = x.shape.length === 2 ? [x.strides[0]!, x.strides[1]!] : [0, x.strides[0]!];
    const rt = this.runtime;
    const buf = rt.alloc(deviceBytes("float32", rows * n), `the output of ${this}`);
    const out = new DeviceArray(this.backendRef, buf, "float32", [...x.shape]);
    if (rows * n === 0) return [out];
    const meta = uploadMeta(rt, [rows, n, x.offset, rs, es, 0xff800000, 0x7fc00000]);
    rt.run(this.source, [meta, x.buffer, buf], [Math.min(rows, MAX_GROUPS), Math.ceil(rows / MAX_GROUPS)]);
    rt.free(meta);
    return [out];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return this.ref.inferShape(node, shapes);
  }
}
