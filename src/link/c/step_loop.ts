/**
 * A loop over a compiled function's steps in C (issue 14.4: Scan's native loop on the C backend).
 *
 * When the graph of a function compiled for a loop body (`LinkOptions.stepLoop`, asked by
 * src/scan) is one C segment whose exports are exactly the function's outputs, the module gets
 * one more entry, `th_loopN`: it calls the segment once per step, moving each input's offset
 * (a sequence's row t, a state's tap row in its history ring) and pointing each output at its
 * row of the history, so a step costs no FFI call, no array and no copy. A while loop's
 * condition is read after each step. The driver stops at the first step whose segment fails or
 * whose results do not have the expected shapes, and says which; the caller reruns that step on
 * the host path, which raises the error every backend raises.
 *
 * Safety: every offset the driver will compute is checked here against the memory it lands in
 * before the call (the rows of a sequence from t0 to t1 - 1, every row of a ring), each output
 * row is exactly the export's capacity (the segment refuses another size before writing), and a
 * same-sized result of another shape is detected after the step, inside its own row.
 */

import type { Variable } from "../../graph/basic.js";
import { type DType, type TypedArray, itemsize } from "../../ndarray/dtype.js";
import { NDArray, allocData, shapeSize } from "../../ndarray/ndarray.js";
import type { TensorType } from "../../tensor/type.js";
import type { LoopInput, LoopOutput, LoopResult, StepLoop } from "../types.js";
import { ERR_LEN, type Segment, ctype, isPacked, metaLayout } from "./codegen.js";
import type { NativeFunction } from "./ffi.js";

const IN_REC = 6;
const EX_REC = 4;
const HEADER = 4;

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

/** The name of the loop entry of a segment. */
export const loopEntryName = (seg: Segment): string => `${seg.fn}_loop`;

/** The koffi prototype of the loop entry. */
export const loopPrototype = (seg: Segment): string => `int ${loopEntryName(seg)}(double *meta, double *oshape, uint8_t *err, void **pp, double *plan, double *state)`;

/**
 * The C source of the loop entry of `seg` (a piece of its own, appended to the module).
 *
 * plan: [t0, t1, until export or -1, 0], then per input [kind, meta slot of its offset, base,
 * step, rows, first] (kind 0: fixed; 1: offset = base + t·step; 2: offset = base +
 * ((first + t) mod rows)·step), then per export [kind, row bytes, rows, first] (kind 1: its row
 * (first + t) mod rows of the buffer given; 0: the buffer as given), then the expected oshape.
 * state: [the step it stopped at (or after), the segment's return code].
 */
export function stepLoopSource(seg: Segment): string {
  const nin = seg.inputs.length;
  const nex = seg.exports.length;
  const np = nin + nex;
  const osz = seg.exports.reduce((s, v) => s + ndimOf(v), 0);
  const packed = isPacked(seg);
  const params = packed ? "void **pp" : [...Array(np).keys()].map((i) => `void *p${i}`).join(", ");
  const args = packed ? "p" : [...Array(np).keys()].map((i) => `p[${i}]`).join(", ");
  const untilCases = seg.exports
    .map((v, q) => (ndimOf(v) === 0 ? `      case ${q}: stop = *(const ${ctype(dtypeOf(v))} *)p[${nin + q}] != 0; break;` : ""))
    .filter((l) => l !== "");
  return [
    `/* the step loop of ${seg.fn} (src/link/c/step_loop.ts) */`,
    `int ${seg.fn}(const double *meta, double *oshape, char *err${np ? ", " : ""}${params});`,
    `__attribute__((visibility("default"))) int ${loopEntryName(seg)}(double *meta, double *oshape, char *err, void **pp, const double *plan, double *state) {`,
    `  const int64_t t0 = (int64_t)plan[0], t1 = (int64_t)plan[1], until = (int64_t)plan[2];`,
    `  const double *in = plan + ${HEADER}; const double *ex = in + ${IN_REC * nin}; const double *want = ex + ${EX_REC * nex};`,
    `  void *p[${Math.max(1, np)}];`,
    `  for (int i = 0; i < ${np}; i++) p[i] = pp[i];`,
    `  (void)in; (void)ex; (void)want; (void)until;`,
    `  for (int64_t t = t0; t < t1; t++) {`,
    `    for (int i = 0; i < ${nin}; i++) {`,
    `      const double *r = in + ${IN_REC} * i; const int kind = (int)r[0];`,
    `      if (kind == 1) meta[(int64_t)r[1]] = r[2] + (double)t * r[3];`,
    `      else if (kind == 2) meta[(int64_t)r[1]] = r[2] + (double)(((int64_t)r[5] + t) % (int64_t)r[4]) * r[3];`,
    `    }`,
    `    for (int q = 0; q < ${nex}; q++) {`,
    `      const double *r = ex + ${EX_REC} * q;`,
    `      if ((int)r[0] == 1) p[${nin} + q] = (char *)pp[${nin} + q] + (((int64_t)r[3] + t) % (int64_t)r[2]) * (int64_t)r[1];`,
    `    }`,
    `    const int rc = ${seg.fn}(meta, oshape, err${np ? ", " : ""}${args});`,
    `    if (rc != 0) { state[0] = (double)t; state[1] = (double)rc; return 1; }`,
    `    for (int k = 0; k < ${osz}; k++) if (oshape[k] != want[k]) { state[0] = (double)t; state[1] = 0; return 2; }`,
    `    if (until >= 0) {`,
    `      int stop = 0;`,
    `      switch (until) {`,
    ...untilCases,
    `      default: stop = 0;`,
    `      }`,
    `      if (stop) { state[0] = (double)(t + 1); return 3; }`,
    `    }`,
    `  }`,
    `  state[0] = (double)t1; state[1] = 0;`,
    `  return 0;`,
    `}`,
  ].join("\n");
}

/** What the linker knows of the one segment of a loop body. */
export interface LoopSegment {
  readonly seg: Segment;
  readonly fn: NativeFunction;
  /** Per segment input: its position in `fgraph.inputs`, or -1 for a constant (value in `constants`). */
  readonly inputPos: readonly number[];
  readonly constants: ReadonlyMap<number, NDArray>;
  /** Per export: its position in `fgraph.outputs`. */
  readonly exportPos: readonly number[];
}

let loopCalls = 0;
let loopSteps = 0;
/** Native loop calls made in this process, and the steps they ran (tests and benchmarks). */
export function cStepLoopStats(): { calls: number; steps: number } {
  return { calls: loopCalls, steps: loopSteps };
}

/** The `StepLoop` of a loop body's module. */
export function makeStepLoop(ls: LoopSegment): StepLoop {
  const { seg, fn } = ls;
  const nin = seg.inputs.length;
  const nex = seg.exports.length;
  const { size, capBase, oshapeSize } = metaLayout(seg);
  const meta = new Float64Array(Math.max(1, size));
  const oshape = new Float64Array(oshapeSize);
  const err = new Uint8Array(ERR_LEN);
  const plan = new Float64Array(HEADER + IN_REC * nin + EX_REC * nex + oshapeSize);
  const state = new Float64Array(2);
  const ptrs: unknown[] = new Array(nin + nex);
  const untilScratch = new Map<number, TypedArray>();
  const inDtypes = seg.inputs.map(dtypeOf);
  const inNd = seg.inputs.map(ndimOf);
  const exDtypes = seg.exports.map(dtypeOf);
  const exNd = seg.exports.map(ndimOf);
  const outToExport = new Map<number, number>(ls.exportPos.map((o, q) => [o, q]));

  const run = (inputs: readonly LoopInput[], outputs: readonly LoopOutput[], t0: number, t1: number): LoopResult | null => {
    if (!(t1 > t0)) return { next: t0, status: "done" };
    plan[0] = t0;
    plan[1] = t1;
    plan[2] = -1;
    plan[3] = 0;
    let m = 0;
    for (let i = 0; i < nin; i++) {
      const pos = ls.inputPos[i]!;
      const r = HEADER + IN_REC * i;
      const spec: LoopInput = pos < 0 ? { kind: "fixed", value: ls.constants.get(i)! } : inputs[pos]!;
      const a = spec.value;
      const nd = inNd[i]!;
      if (!(a instanceof NDArray) || a.dtype !== inDtypes[i] || a.shape.length !== nd) return null;
      // The reach of one row around its offset: the extreme elements its strides touch.
      let below = 0;
      let above = 0;
      let empty = false;
      for (let d = 0; d < nd; d++) {
        const n = a.shape[d]!;
        const st = a.strides[d]!;
        meta[m + d] = n;
        meta[m + nd + d] = st;
        if (n === 0) empty = true;
        else if (st > 0) above += (n - 1) * st;
        else below += (n - 1) * st;
      }
      const len = a.data.length;
      const fits = (off: number): boolean => empty || (off + below >= 0 && off + above < len);
      meta[m + 2 * nd] = a.offset;
      plan[r + 1] = m + 2 * nd;
      if (spec.kind === "fixed") {
        if (!fits(a.offset)) return null;
        plan[r] = 0;
      } else if (spec.kind === "seq") {
        if (!fits(a.offset + t0 * spec.step) || !fits(a.offset + (t1 - 1) * spec.step)) return null;
        plan[r] = 1;
        plan[r + 2] = a.offset;
        plan[r + 3] = spec.step;
      } else {
        if (!(spec.rows > 0) || spec.first < 0 || !fits(spec.base) || !fits(spec.base + (spec.rows - 1) * spec.rowElems)) return null;
        plan[r] = 2;
        plan[r + 2] = spec.base;
        plan[r + 3] = spec.rowElems;
        plan[r + 4] = spec.rows;
        plan[r + 5] = spec.first;
      }
      ptrs[i] = a.data;
      m += 2 * nd + 1;
    }
    let k = 0;
    for (let o = 0; o < outputs.length; o++) {
      const q = outToExport.get(o);
      if (q === undefined) return null;
      const spec = outputs[o]!;
      const r = HEADER + IN_REC * nin + EX_REC * q;
      const nd = exNd[q]!;
      if (spec.rowShape.length !== nd) return null;
      const rowElems = shapeSize(spec.rowShape);
      let base = HEADER + IN_REC * nin + EX_REC * nex;
      for (let j = 0; j < q; j++) base += exNd[j]!;
      for (let d = 0; d < nd; d++) plan[base + d] = spec.rowShape[d]!;
      meta[capBase + q] = rowElems;
      if (spec.kind === "ring") {
        const b = spec.buffer;
        if (b.dtype !== exDtypes[q] || b.offset !== 0 || !b.isContiguous || !(spec.rows > 0) || spec.first < 0 || b.data.length < spec.rows * rowElems) return null;
        plan[r] = 1;
        plan[r + 1] = rowElems * itemsize(b.dtype);
        plan[r + 2] = spec.rows;
        plan[r + 3] = spec.first;
        ptrs[nin + q] = b.data;
      } else {
        if (nd !== 0) return null;
        let s = untilScratch.get(q);
        if (!s) untilScratch.set(q, (s = allocData(exDtypes[q]!, [1])));
        plan[r] = 0;
        plan[2] = q;
        ptrs[nin + q] = s;
      }
      k++;
    }
    if (k !== nex) return null;
    try {
      const code = fn(meta, oshape, err, ptrs, plan, state) as number;
      const next = state[0]!;
      loopCalls++;
      loopSteps += next - t0;
      return { next, status: code === 0 ? "done" : code === 3 ? "until" : "failed" };
    } finally {
      ptrs.fill(null);
    }
  };
  return { run };
}
