/**
 * WGSL matrix products: `Dot` of two float32 matrices and `Gemm` (`alpha·dot(x, y) + beta·z`,
 * the node the BLAS rewrites make of a layer's product and its update), the C backend's GEMM
 * family on the device. One kernel, two variants (with and without the z/alpha/beta epilogue):
 * 16×16 threads a workgroup, each computing one element of a 16×16 output tile, stepping along
 * k in 16-wide tiles of x and y staged in workgroup memory (each element of x and y is read
 * from storage once per tile instead of once per product). Shapes, offsets and strides of every
 * operand (any sign: device DimShuffle views such as `x.T` are read in place) come from the
 * `shp` block, so a new shape never recompiles. As in BLAS and Gemm's perform, z is not read
 * when beta == 0, so a NaN there does not reach the result. Sums accumulate in f32.
 */

import { ShapeError } from "../../../errors.js";
import { Apply, Op, type Value, type Variable } from "../../../graph/basic.js";
import { Dot } from "../../../tensor/blas.js";
import { Gemm } from "../../../tensor/gemm.js";
import type { TensorType } from "../../../tensor/type.js";
import { type DeviceBackend, DeviceArray } from "../../device/array.js";
import type { WebGpuRuntime } from "../runtime.js";
import { type HostReason, deviceBytes, uploadMeta } from "./elemwise.js";

const TILE = 16;
const MAX_GROUPS = 65535;

const typeOf = (v: Variable): TensorType => v.type as TensorType;

/** `shp` words: m, n, k, then offset and two strides of x, y and (Gemm) z, then the offsets of alpha and beta. */
const idx = (base: number, r: string, c: string): string =>
  `u32(bitcast<i32>(shp[${base}]) + i32(${r}) * bitcast<i32>(shp[${base + 1}]) + i32(${c}) * bitcast<i32>(shp[${base + 2}]))`;

/** The WGSL of a Dot (gemm = false) or a Gemm node, or why it stays on the host. */
export function blasSource(node: Apply): string | HostReason {
  const gemm = node.op instanceof Gemm;
  const [x, y] = gemm ? [node.inputs[2]!, node.inputs[3]!] : [node.inputs[0]!, node.inputs[1]!];
  if (typeOf(x).ndim !== 2 || typeOf(y).ndim !== 2) return { host: "a product with a vector operand (only matrix·matrix has a WGSL kernel)" };
  const all = [...node.inputs, ...node.outputs].map((v) => typeOf(v).dtype);
  if (all.some((d) => d !== "float32")) {
    const wide = all.some((d) => d === "float64" || d === "int64");
    return { host: `WGSL products are float32 here (${[...new Set(all)].join("/")})`, wide };
  }
  const L: string[] = [
    `// ${node.op} (theano-ts WebGPU ${gemm ? "gemm" : "dot"}, ${TILE}x${TILE} tiles)`,
    "@group(0) @binding(0) var<storage, read> shp: array<u32>;",
  ];
  if (gemm) {
    L.push(
      "@group(0) @binding(1) var<storage, read> z: array<f32>;",
      "@group(0) @binding(2) var<storage, read> alpha: array<f32>;",
      "@group(0) @binding(3) var<storage, read> x: array<f32>;",
      "@group(0) @binding(4) var<storage, read> y: array<f32>;",
      "@group(0) @binding(5) var<storage, read> beta: array<f32>;",
      "@group(0) @binding(6) var<storage, read_write> out0: array<f32>;",
    );
  } else {
    L.push(
      "@group(0) @binding(1) var<storage, read> x: array<f32>;",
      "@group(0) @binding(2) var<storage, read> y: array<f32>;",
      "@group(0) @binding(3) var<storage, read_write> out0: array<f32>;",
    );
  }
  L.push(
    `var<workgroup> tx: array<f32, ${TILE * TILE}>;`,
    `var<workgroup> ty: array<f32, ${TILE * TILE}>;`,
    `@compute @workgroup_size(${TILE}, ${TILE})`,
    "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {",
    "  let m = shp[0]; let n = shp[1]; let k = shp[2];",
    `  let row = wid.y * ${TILE}u + lid.y;`,
    `  let col = wid.x * ${TILE}u + lid.x;`,
    "  var acc: f32 = 0.0;",
    `  let tiles = (k + ${TILE - 1}u) / ${TILE}u;`,
    "  for (var t = 0u; t < tiles; t = t + 1u) {",
    `    let kx = t * ${TILE}u + lid.x;`,
    `    let ky = t * ${TILE}u + lid.y;`,
    "    var a: f32 = 0.0;",
    "    var b: f32 = 0.0;",
    `    if (row < m && kx < k) { a = x[${idx(3, "row", "kx")}]; }`,
    `    if (ky < k && col < n) { b = y[${idx(6, "ky", "col")}]; }`,
    `    tx[lid.y * ${TILE}u + lid.x] = a;`,
    `    ty[lid.y * ${TILE}u + lid.x] = b;`,
    "    workgroupBarrier();",
    `    for (var q = 0u; q < ${TILE}u; q = q + 1u) { acc = acc + tx[lid.y * ${TILE}u + q] * ty[q * ${TILE}u + lid.x]; }`,
    "    workgroupBarrier();",
    "  }",
    "  if (row >= m || col >= n) { return; }",
  );
  if (gemm) {
    L.push(
      "  var r = alpha[shp[12]] * acc;",
      "  let bt = beta[shp[13]];",
      `  if (bt != 0.0) { r = r + bt * z[${idx(9, "row", "col")}]; }`,
      "  out0[row * n + col] = r;",
    );
  } else {
    L.push("  out0[row * n + col] = acc;");
  }
  L.push("}");
  return L.join("\n") + "\n";
}

/** A Dot or Gemm node computed by the WGSL tile kernel. */
export class GpuBlas extends Op {
  constructor(
    readonly ref: Dot | Gemm,
    readonly runtime: WebGpuRuntime,
    readonly backendRef: DeviceBackend,
    readonly source: string,
  ) {
    super();
  }

  override props(): Record<string, unknown> {
    return { op: String(this.ref).replace("{inplace}", "{no_inplace}"), device: "webgpu" };
  }

  override toString(): string {
    return this.ref instanceof Gemm ? "GpuGemm" : "GpuDot";
  }

  makeNode(...inputs: Variable[]): Apply {
    const ref = (this.ref.makeNode as (...a: Variable[]) => Apply)(...inputs);
    return new Apply(this, inputs, ref.outputs.map((o) => o.type));
  }

  perform(_node: Apply, inputs: Value[]): Value[] {
    const gemm = this.ref instanceof Gemm;
    const [z, alpha, x, y, beta] = (gemm ? inputs : [null, null, ...inputs, null]) as Array<DeviceArray | null>;
    const [m, k] = x!.shape as [number, number];
    const [k2, n] = y!.shape as [number, number];
    if (k !== k2) throw new ShapeError(`${this}: shapes (${m}, ${k}) and (${k2}, ${n}) not aligned: ${k} (dim 1) != ${k2} (dim 0)`);
    if (z && (z.shape[0] !== m || z.shape[1] !== n)) {
      throw new ShapeError(`${this}: z has shape (${z.shape.join(", ")}) but dot(x, y) has shape (${m}, ${n})`);
    }
    if (Math.ceil(n / TILE) > MAX_GROUPS || Math.ceil(m / TILE) > MAX_GROUPS) {
      throw new ShapeError(`${this}: an output of (${m}, ${n}) needs more than ${MAX_GROUPS} workgroups along an axis; split the product`);
    }
    const rt = this.runtime;
    const buf = rt.alloc(deviceBytes("float32", m * n), `the output of ${this}`);
    const out = new DeviceArray(this.backendRef, buf, "float32", [m, n]);
    if (m * n === 0) return [out];
    const view = (a: DeviceArray | null): number[] => (a ? [a.offset, a.strides[0]!, a.strides[1]!] : [0, 0, 0]);
    const words = [m, n, k, ...view(x), ...view(y), ...view(z), alpha?.offset ?? 0, beta?.offset ?? 0];
    const meta = uploadMeta(rt, words);
    const bufs = gemm ? [meta, z!.buffer, alpha!.buffer, x!.buffer, y!.buffer, beta!.buffer, buf] : [meta, x!.buffer, y!.buffer, buf];
    rt.run(this.source, bufs, [Math.ceil(n / TILE), Math.ceil(m / TILE)]);
    rt.free(meta);
    return [out];
  }

  override inferShape(node: Apply, shapes: Array<Variable[] | null>): Variable[][] {
    return this.ref.inferShape(node, shapes);
  }
}

