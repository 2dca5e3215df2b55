/**
 * The JavaScript kernel of FusedReduce (src/tensor/fused_reduce.ts): one loop nest that
 * applies the prologue Composite to each element, folds it into a float64 accumulator, and
 * applies the epilogue Composite to each result, rendered from the scalar table's templates
 * as the JS backend's elementwise kernels are (src/link/js/linker.ts). The JS linker inlines
 * it into the generated program; `FusedReduce.perform` compiles it once per node, so the
 * fallback of backends without a generator for this op runs it too.
 *
 * Three paths. When every operand is contiguous with the prologue's shape (or one broadcast
 * value) and the reduced axes are the trailing ones, lane o is the flat range
 * [o*inner, (o+1)*inner), read straight through; when they are the leading ones (column
 * sums), one pass over memory updates a row of accumulators. Otherwise an odometer walks
 * the prologue's axes in (kept..., reduced...) order with per-operand strides (0 where
 * broadcast). Every path folds each lane in index order, as CAReduce does. Layout and shape checks come from the op's
 * `plan`. The code reaches `rt.pool.alloc(dtype, n)`, `rt.NDArray` and the scalar helpers `$`.
 */

import type { Apply } from "../graph/basic.js";
import { isBigIntDType } from "../ndarray/dtype.js";
import { coerceJs } from "../scalar/composite.js";
import type { FusedReduce } from "./fused_reduce.js";
import type { TensorType } from "./type.js";

/** The source of `function <fnName>(node, a0, ..., e0, ...)` returning the result NDArray. */
export function fusedReduceKernelSource(node: Apply<FusedReduce>, fnName: string): string {
  const op = node.op;
  const nIn = op.nIn;
  const types = node.inputs.map((v) => v.type as TensorType);
  const nd = types[0]!.ndim;
  const nExtra = node.inputs.length - nIn;
  const outDtype = (node.outputs[0]!.type as TensorType).dtype;
  const pDtype = op.prologue.steps[op.prologue.steps.length - 1]!.dtype;
  const load = (k: number, idx: string): string => (isBigIntDType(types[k]!.dtype) ? `Number(D${k}[${idx}])` : `D${k}[${idx}]`);
  const a = [...Array(nIn).keys()];
  const e = [...Array(nExtra).keys()];
  const pro = op.prologue.statements(a.map((k) => `x${k}`), "t");
  const value = `const v = ${coerceJs(pro.result, pDtype)};`;
  const body = `${pro.lines.join(" ")} ${value}`;
  const update = {
    add: "acc += v;",
    mul: "acc *= v;",
    maximum: "if (acc === acc && !(v <= acc)) acc = v;",
    minimum: "if (acc === acc && !(v >= acc)) acc = v;",
  }[op.kind];
  const init = { add: "0", mul: "1", maximum: "-Infinity", minimum: "Infinity" }[op.kind];
  // The reduced value, rounded to the reduction's dtype, then the epilogue.
  let store: string;
  if (op.epilogue) {
    const epi = op.epilogue.statements(["r", ...e.map((k) => (isBigIntDType(types[nIn + k]!.dtype) ? `Number(E${k}.data[E${k}.off + o])` : `E${k}.data[E${k}.off + o]`))], "u");
    store = `const r = ${coerceJs("acc", op.dtype)}; ${epi.lines.join(" ")} out[o] = ${epi.result};`;
  } else store = `out[o] = acc;`;
  const stat = a.filter((k) => types[k]!.shape.every((d) => d === 1));
  const dyn = a.filter((k) => !stat.includes(k));
  const trailing = op.axis.every((ax, i) => ax === nd - op.axis.length + i);
  const L: string[] = [];
  L.push(`function ${fnName}(node, ${[...a.map((k) => `a${k}`), ...e.map((k) => `e${k}`)].join(", ")}) {`);
  L.push(`  const P = node.op.plan(node, [${[...a.map((k) => `a${k}`), ...e.map((k) => `e${k}`)].join(", ")}]);`);
  L.push(`  const outer = P.outer, inner = P.inner;`);
  L.push(`  const out = rt.pool.alloc(${JSON.stringify(outDtype)}, outer);`);
  for (const k of a) L.push(`  const D${k} = a${k}.data;`);
  for (const k of e) L.push(`  const E${k} = node.op.extraData(e${k}, P.outShape);`);
  for (const k of stat) L.push(`  const x${k} = ${load(k, `a${k}.offset`)};`);
  if (trailing) {
    const full = (k: number): string => `(a${k}.isContiguous && a${k}.size === outer * inner)`;
    L.push(`  if (${dyn.map((k) => full(k)).join(" && ") || "true"}) {`);
    for (const k of dyn) L.push(`    const o${k} = a${k}.offset;`);
    L.push(`    let f = 0;`);
    L.push(`    for (let o = 0; o < outer; o++) {`);
    L.push(`      let acc = ${init};`);
    L.push(`      for (const end = f + inner; f < end; f++) {`);
    for (const k of dyn) L.push(`        const x${k} = ${load(k, `o${k} + f`)};`);
    L.push(`        ${body} ${update}`);
    L.push(`      }`);
    L.push(`      ${store}`);
    L.push(`    }`);
    L.push(`    return new rt.NDArray(${JSON.stringify(outDtype)}, P.outShape, out);`);
    L.push(`  }`);
  }
  // Leading axes reduced (column sums, bias gradients): one pass over memory, a row of
  // accumulators; each lane still folds in index order.
  const leading = !trailing && op.axis.every((ax, i) => ax === i);
  if (leading) {
    const full = (k: number): string => `(a${k}.isContiguous && a${k}.size === outer * inner)`;
    L.push(`  if (${dyn.map((k) => full(k)).join(" && ") || "true"}) {`);
    for (const k of dyn) L.push(`    const o${k} = a${k}.offset;`);
    L.push(`    const accs = new Float64Array(outer).fill(${init});`);
    L.push(`    for (let i = 0, f = 0; i < inner; i++) {`);
    L.push(`      for (let o = 0; o < outer; o++, f++) {`);
    for (const k of dyn) L.push(`        const x${k} = ${load(k, `o${k} + f`)};`);
    L.push(`        ${body} let acc = accs[o]; ${update} accs[o] = acc;`);
    L.push(`      }`);
    L.push(`    }`);
    L.push(`    for (let o = 0; o < outer; o++) { const acc = accs[o]; ${store} }`);
    L.push(`    return new rt.NDArray(${JSON.stringify(outDtype)}, P.outShape, out);`);
    L.push(`  }`);
  }
  // General path: an odometer over (kept..., reduced...) axes.
  L.push(`  const dims = P.dims, nd = dims.length, idx = new Array(nd).fill(0);`);
  for (const k of dyn) L.push(`  const st${k} = P.strides[${k}]; let p${k} = a${k}.offset;`);
  L.push(`  for (let o = 0; o < outer; o++) {`);
  L.push(`    let acc = ${init};`);
  L.push(`    for (let i = 0; i < inner; i++) {`);
  for (const k of dyn) L.push(`      const x${k} = ${load(k, `p${k}`)};`);
  L.push(`      ${body} ${update}`);
  L.push(`      for (let ax = nd - 1; ax >= 0; ax--) {`);
  L.push(`        idx[ax]++;`);
  for (const k of dyn) L.push(`        p${k} += st${k}[ax];`);
  L.push(`        if (idx[ax] < dims[ax]) break;`);
  for (const k of dyn) L.push(`        p${k} -= idx[ax] * st${k}[ax];`);
  L.push(`        idx[ax] = 0;`);
  L.push(`      }`);
  L.push(`    }`);
  L.push(`    ${store}`);
  L.push(`  }`);
  L.push(`  return new rt.NDArray(${JSON.stringify(outDtype)}, P.outShape, out);`);
  L.push(`}`);
  return L.join("\n");
}
