/**
 * C code generation for the native backend: one C module per compiled function (a prelude and
 * pieces that compiler.ts may compile as parallel translation units, see support.ts UNIT_BREAK).
 *
 * The toposorted graph is cut into segments: maximal runs of nodes that have a C generator. Each
 * segment becomes one exported C function `th_seg<k>`; nodes without a generator run their
 * `perform` on the host between segments (src/link/c/linker.ts), so every graph works. A
 * segment function
 *   1. reads its inputs' shapes, strides and offsets (in elements) from a `double` array,
 *   2. computes and checks every shape of the segment before any kernel touches memory (a
 *      failed check writes a message and returns the 1-based position of the node),
 *   3. compares the sizes of its exports (values the host needs) with the buffers the host
 *      passed; when they differ it writes the shapes and returns -1, and the host calls again
 *      with buffers of the right size (so the host allocates outputs, usually in one call),
 *   4. allocates its intermediates, runs the kernels in order, frees the intermediates.
 * Nothing depends on sizes: a new input shape never recompiles. Generators: fused elementwise
 * (Elemwise and Composite, from the scalar table's C templates, with a contiguous loop gcc
 * vectorises and a strided loop for any layout and broadcasting), CAReduce, Dot and Gemm (the
 * packed GEMM of gemm.ts or the system BLAS), FusedReduce (as its unfused pieces), row-wise
 * Softmax/LogSoftmax, DimShuffle and constant-index Subtensor (views), Reshape with a constant
 * shape (a view or a copy), Join, Shape_i, ARange and Alloc (shapes from scalars read in the shape
 * phase: constants, segment inputs, Shape_i of the segment), CrossentropyCategorical1Hot (labels
 * checked in the kernel; a bad one returns the node's position like a failed shape check).
 * Size: a segment's state (pointers, shapes, strides) lives in a heap struct, and its shape
 * checks and kernels are cut into `noinline` chunk functions of about CHUNK_CHARS characters,
 * so gcc's time stays linear in the graph (one 600-node function took gcc 14 s and 1.3 GB).
 * Theano's CLinker (`link/c/basic.py`) is the model: C per node, glued into one function.
 */

import { createHash } from "node:crypto";
import type { Apply, Variable } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import { type DType, isFloat, resultType } from "../../ndarray/dtype.js";
import { MAX_ARRAY_ELEMENTS, NDArray } from "../../ndarray/ndarray.js";
import { Composite, type Step } from "../../scalar/composite.js";
import { type ScalarOp, renderTemplate } from "../../scalar/table.js";
import { DimShuffle, Elemwise } from "../../tensor/elemwise.js";
import { CAReduce } from "../../tensor/math.js";
import { Dot } from "../../tensor/blas.js";
import { FusedReduce } from "../../tensor/fused_reduce.js";
import { Gemm } from "../../tensor/gemm.js";
import { CrossentropyCategorical1Hot, CrossentropyLogCategorical1Hot, LogSoftmax, Softmax } from "../../tensor/nnet.js";
import { ARange, Alloc } from "../../tensor/alloc.js";
import { Join } from "../../tensor/join.js";
import { Reshape, ShapeI } from "../../tensor/shape.js";
import { Subtensor } from "../../tensor/subtensor.js";
import { TensorType } from "../../tensor/type.js";
import { gemmPieces, gemmSource } from "./gemm.js";
import type { NativeLibrary } from "./ffi.js";
import { SUPPORT_HEADER, UNIT_BREAK } from "./support.js";

/**
 * Characters of generated C per chunk function (see segmentSource): small enough that gcc's
 * superlinear passes stay cheap, large enough that a chunk holds several kernels.
 */
const CHUNK_CHARS = 24_000;

/** Bytes of the error message buffer the host passes. */
export const ERR_LEN = 512;

/** A run of C nodes compiled into one exported function. */
export interface Segment {
  readonly fn: string;
  readonly nodes: readonly Apply[];
  /** Values the segment reads from the host, in argument order. */
  readonly inputs: readonly Variable[];
  /** Values the segment produces for the host (later host nodes, later segments, outputs). */
  readonly exports: readonly Variable[];
}

export type PlanStep = { readonly kind: "c"; readonly segment: Segment } | { readonly kind: "host"; readonly node: Apply };

export interface CProgram {
  readonly source: string;
  readonly steps: readonly PlanStep[];
  readonly segments: readonly Segment[];
  /** The toposort; C error codes are 1-based positions in it. */
  readonly order: readonly Apply[];
  readonly usesGemm: boolean;
  /** The module parts its generators asked for (ModulePart), each once. */
  readonly parts: readonly ModulePart[];
  /** The part whose error a node's `partError` code stands for. */
  readonly partOf: ReadonlyMap<Apply, ModulePart>;
}

/**
 * What a generator needs once per module beyond its kernels (the MPI collectives of
 * ops/distributed.ts): C declarations for the prelude, C definitions compiled once, and the
 * host's side of it: what to do with the loaded module before its first call, and the error a
 * kernel's `partError` code stands for.
 */
export interface ModulePart {
  readonly name: string;
  /** Declarations every piece of the module sees (after the support header). */
  readonly declarations: string;
  /** Definitions, one piece of the module. */
  readonly definitions: string;
  /** Called with each loaded module that holds the part, before its first call. */
  load(library: NativeLibrary): void;
  /** The error of `node`, whose kernel returned `partError(k)` leaving `text` in the error buffer. */
  error(node: Apply, text: string): Error;
}

export interface CodegenOptions {
  /** Link cblas_{s,d}gemm (a BLAS with the CBLAS interface is linked into the module). */
  readonly blas: boolean;
  /** Smallest elementwise size run with OpenMP. */
  readonly ompMinSize: number;
  /**
   * Time every node's kernels (a profiled function, API.md §10): each adds its milliseconds to
   * its slot of the segment's meta array (`metaLayout(seg, true).profBase + <index in seg.nodes>`).
   */
  readonly profile?: boolean;
  /**
   * The shared runtime library (runtimeSource) the module calls instead of carrying its own copy
   * of the runtime functions: its tag, which suffixes their symbols. Absent: the module defines
   * the ones it calls itself.
   */
  readonly runtime?: { readonly tag: string };
}

/** The clock of profiled modules (milliseconds, monotonic), defined once in the prelude. */
const PROFILE_CLOCK = `#include <time.h>
static inline double th_now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6; }`;

const CTYPE: Record<DType, string> = {
  bool: "uint8_t",
  int8: "int8_t",
  int16: "int16_t",
  int32: "int32_t",
  int64: "int64_t",
  uint8: "uint8_t",
  uint16: "uint16_t",
  uint32: "uint32_t",
  uint64: "uint64_t",
  float32: "float",
  float64: "double",
};

export const ctype = (d: DType): string => CTYPE[d];

const ttype = (v: Variable): TensorType | null => (v.type instanceof TensorType ? v.type : null);
const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

/** Whether `node` has a C generator (every input and output a tensor, the op one we render). */
export function hasCGenerator(node: Apply): boolean {
  if (![...node.inputs, ...node.outputs].every((v) => ttype(v) !== null)) return false;
  const op = node.op;
  if (op instanceof Elemwise) return true;
  if (op instanceof DimShuffle) return true;
  if (op instanceof CAReduce) return true;
  if (op instanceof Dot) return true;
  if (op instanceof Gemm) return true;
  if (op instanceof FusedReduce) return true;
  if (op instanceof Join) return true;
  // Basic indexing with constant indices and slices: a view; symbolic ones (ops/subtensor.ts) a gather.
  if (op instanceof Subtensor && constantSubtensor(node)) return true;
  if (op instanceof Softmax || op instanceof LogSoftmax) return op.axis !== null && isFloat(dtypeOf(node.inputs[0]!));
  // a constant shape here; a computed one (the flatten before a dense layer) in ops/shape.ts
  if (op instanceof Reshape && constantShape(node)) return true;
  if (op instanceof ShapeI) return true;
  // Value-dependent shapes: the scalars must be readable before any kernel runs.
  if (op instanceof ARange) return node.inputs.every(shapePhaseScalar);
  if (op instanceof Alloc) return node.inputs.slice(1).every((d) => shapePhaseScalar(d) && !isFloat(dtypeOf(d)));
  if (op instanceof CrossentropyCategorical1Hot) return isFloat(dtypeOf(node.inputs[0]!));
  return extraGenerators.some((g) => g.matches(node));
}

/**
 * A C generator that lives in its own file under `link/c/ops/<family>.ts` (ARCHITECTURE.md
 * "Backends"), named like `src/tensor/`'s families; `ops/index.ts` imports every one, and they
 * register here. The generators above move there as they are touched.
 */
export interface CGenerator {
  /** Whether this generator renders `node` (its inputs and outputs are tensors already). */
  matches(node: Apply): boolean;
  /**
   * Appends the node's shape checks (`w.shape`, before any kernel runs), output allocations and
   * kernel (`w.run`); returns true when the code calls the GEMM runtime (`th_gemm_<s>`).
   */
  generate(w: SegmentWriter, node: Apply, k: number): boolean;
}

const extraGenerators: CGenerator[] = [];

/** Adds a generator (once per generator; the first one that matches a node renders it). */
export function registerCGenerator(g: CGenerator): void {
  if (!extraGenerators.includes(g)) extraGenerators.push(g);
}

/** A Subtensor whose indices and slice bounds are all constants (rendered as a view). */
function constantSubtensor(node: Apply): boolean {
  const op = node.op as Subtensor;
  return node.inputs.length === 1 && op.entries.every((e) => typeof e === "number" || (typeof e === "object" && [e.start, e.stop, e.step].every((b) => b === null || typeof b === "number")));
}

/** Ops whose output is a view of their input in the generated code (exports are copied). */
function isViewNode(node: Apply): boolean {
  return node.op instanceof DimShuffle || (node.op instanceof Subtensor && constantSubtensor(node));
}

// ---------------------------------------------------------------------------------------------
// Elementwise expressions

/**
 * libm functions the table's templates name that we replace by th_ versions: lgamma (its edge
 * values differ from perform's, SciPy's) and powf (the vectorisable one of support.ts).
 */
const LIBM_EDGES = /\b(lgammaf?|powf)\(/g;

const CMP = new Set(["eq", "neq", "lt", "le", "gt", "ge"]);
const WRAPPING = new Set(["add", "sub", "mul", "neg", "sqr"]);

/** `expr` of dtype `from` converted as a store into `to` would convert it (JS typed-array rules). */
function convert(expr: string, from: DType, to: string, toDtype: DType | null): string {
  if (toDtype === from) return expr;
  if (toDtype === "bool") return `(${expr} != 0)`;
  // th_f2u64 (support.ts) is written so that gcc cannot fold float -> int64 -> float into trunc(x)
  // (which gives -0 for -0.5, where an integer has +0).
  if (toDtype !== null && !isFloat(toDtype) && isFloat(from)) return `(${to})th_f2u64(${expr})`;
  return `(${to})${expr}`;
}

/** C statements for one scalar step; `names` are the operands' locals, `dts` their dtypes. */
function renderStep(op: ScalarOp, names: readonly string[], dts: readonly DType[], out: DType, target: string): string {
  const name = op.name;
  let operands: string[];
  let compute: DType[];
  if (CMP.has(name)) {
    const common = resultType(dts);
    operands = names.map((n, i) => convert(n, dts[i]!, ctype(common), common));
    compute = dts.map(() => common);
  } else if (name === "isnan" || name === "isinf") {
    operands = names.map((n, i) => (isFloat(dts[i]!) ? n : `(double)${n}`));
    compute = dts.map((d) => (isFloat(d) ? d : "float64"));
  } else if (name === "where") {
    // The condition's truth is perform's (JS truthiness: NaN is false).
    const cond = isFloat(dts[0]!) ? `(${names[0]} != 0 && ${names[0]} == ${names[0]})` : names[0]!;
    operands = names.map((n, i) => (i === 0 ? cond : convert(n, dts[i]!, ctype(out), out)));
    compute = dts.map((d, i) => (i === 0 ? d : out));
  } else if (out === "bool" && dts.every((d) => d === "bool")) {
    operands = [...names];
    compute = [...dts];
  } else {
    // Integer add/sub/mul/neg/sqr wrap (as typed-array stores do): computed in unsigned
    // arithmetic, since signed overflow (and int promotion of uint16 products) is undefined in C.
    const wrap = WRAPPING.has(name) && out !== "bool" && !isFloat(out);
    const ut = out === "int64" || out === "uint64" ? "uint64_t" : "uint32_t";
    operands = names.map((n, i) => (wrap ? `(${ut})${convert(n, dts[i]!, ctype(out), out)}` : convert(n, dts[i]!, ctype(out), out)));
    compute = dts.map(() => out);
    if (name === "abs" && (out === "int8" || out === "int16" || out === "int32" || out === "int64")) {
      // -INT_MIN overflows; NumPy's abs(INT_MIN) is INT_MIN, which the unsigned negation gives.
      const x = operands[0]!;
      return `const ${ctype(out)} ${target} = (${ctype(out)})(${x} < 0 ? (${ctype(out)})(0 - (${ut})${x}) : ${x});`;
    }
  }
  const expr = renderTemplate(op.c, operands, out, compute, ctype(out)).replace(LIBM_EDGES, "th_$1(");
  return out === "bool" ? `const uint8_t ${target} = ((${expr}) != 0);` : `const ${ctype(out)} ${target} = (${ctype(out)})(${expr});`;
}

/** The statements of an Elemwise node's scalar program on locals x0.. ; the result is in `r` (exported: ops/conv.ts evaluates shape scalars with it in the shape phase). */
export function elemwiseBody(node: Apply<Elemwise>): string {
  const op = node.op;
  const ins = node.inputs.map(dtypeOf);
  const out = dtypeOf(node.outputs[0]!);
  const xs = ins.map((_d, k) => `x${k}`);
  if (op.scalarOp instanceof Composite) {
    const comp = op.scalarOp;
    const steps: readonly Step[] = comp.steps;
    const lines: string[] = [];
    const nameOf = (r: Step["args"][number]): string => ("input" in r ? xs[r.input]! : `t${r.step}`);
    const dtOf = (r: Step["args"][number]): DType => ("input" in r ? ins[r.input]! : steps[r.step]!.dtype);
    steps.forEach((s, k) => lines.push(renderStep(s.op, s.args.map(nameOf), s.args.map(dtOf), s.dtype, `t${k}`)));
    const last = steps[steps.length - 1]!.dtype;
    lines.push(`const ${ctype(out)} r = ${convert(`t${steps.length - 1}`, last, ctype(out), out)};`);
    return lines.join(" ");
  }
  return renderStep(op.scalarOp, xs, ins, out, "r");
}

// ---------------------------------------------------------------------------------------------
// The generator

export class SegmentWriter {
  readonly decl: string[] = [];
  readonly shape: string[] = [];
  readonly run: string[] = [];
  readonly allocs: string[] = [];
  readonly names = new Map<Variable, string>();
  /** Shape-phase expressions of scalars whose value is a shape entry (Shape_i outputs). */
  readonly shapeValues = new Map<Variable, string>();
  /**
   * Functions a `run` entry calls (keyed by the entry): defined before the chunk function that
   * holds the entry, in the same translation unit.
   */
  readonly helpers = new Map<string, string>();
  /** The module parts this segment's generators use, and the node each error code names. */
  readonly parts = new Map<string, ModulePart>();
  readonly partOf = new Map<Apply, ModulePart>();
  counter = 0;
  helperCount = 0;

  constructor(
    readonly opts: CodegenOptions,
    /** The segment's function name: its state struct is `struct <fn>_st`. */
    readonly fn: string,
    /**
     * The segment being written (its nodes, inputs, exports): a generator can tell whether a
     * value is computed by this segment's kernels or readable already in the shape phase.
     */
    readonly segment?: Segment,
  ) {}

  name(v: Variable): string {
    const n = this.names.get(v);
    if (!n) throw new Error(`internal: ${v.label} has no C name`);
    return n;
  }

  /**
   * Declares data pointer, shape and strides of a new variable: fields of the segment's state
   * struct (zeroed by calloc), reached as `S->v<k>` from the main function and every chunk.
   */
  declare(v: Variable): string {
    const raw = `v${this.counter++}`;
    const n = `S->${raw}`;
    this.names.set(v, n);
    const nd = Math.max(1, ndimOf(v));
    this.decl.push(`${ctype(dtypeOf(v))} *${raw}; int64_t ${raw}_n[${nd}], ${raw}_s[${nd}];`);
    return n;
  }

  /** Puts `part` in the module (once) and makes it the one whose errors `node` raises. */
  use(part: ModulePart, node: Apply): void {
    this.parts.set(part.name, part);
    this.partOf.set(node, part);
  }

  /** Declares one more field of the state struct; `name` is a `S->` name declare() gave. */
  field(ctypeName: string, name: string): void {
    this.decl.push(`${ctypeName} ${name.replace(/^S->/, "")};`);
  }
}

/** The statement that ends the shape phase or a chunk with node `k`'s error (its message is in `err`). */
export const errReturn = (k: number): string => `return ${k + 1};`;
/**
 * The statement that ends a kernel (in `w.run`) with the error of node `k`'s module part
 * (`SegmentWriter.use`): the host asks the part for the error, giving it the text in `err`.
 */
export const partError = (k: number): string => `{ rcode = ${-(k + 3)}; goto kerr; }`;
/** The node position (in `CProgram.order`) a `partError` return code names, or -1. */
export const partErrorNode = (rc: number): number => (rc <= -3 ? -rc - 3 : -1);
/** `s` made safe inside a C string literal and a C comment (and as printf text). */
export const sq = (s: string): string => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\*\//g, "* /").replace(/\n/g, " ");

/** The shape list "[(a, b), (c,)]" of `vars` into a local char buffer `buf`. */
export function shapesString(w: SegmentWriter, vars: readonly Variable[], buf: string): string {
  const parts = [`char ${buf}[256]; size_t ${buf}k = 0; ${buf}[0] = 0;`];
  parts.push(`${buf}k += (size_t)snprintf(${buf} + ${buf}k, sizeof ${buf} - ${buf}k, "[");`);
  vars.forEach((v, i) => {
    const n = w.name(v);
    parts.push(`if (${buf}k < sizeof ${buf}) { th_fmt_shape(${buf} + ${buf}k, sizeof ${buf} - ${buf}k, ${ndimOf(v)}, ${n}_n); ${buf}k = strlen(${buf}); }`);
    if (i < vars.length - 1) parts.push(`if (${buf}k < sizeof ${buf}) ${buf}k += (size_t)snprintf(${buf} + ${buf}k, sizeof ${buf} - ${buf}k, ", ");`);
  });
  parts.push(`if (${buf}k < sizeof ${buf}) snprintf(${buf} + ${buf}k, sizeof ${buf} - ${buf}k, "]");`);
  return parts.join(" ");
}

/**
 * Contiguous strides for a freshly allocated output of node `k`, after checking that its shape
 * (computed from input shapes or shape values) is not too large to address (issue 13.3): the
 * strides, the host's buffer size and every kernel's index arithmetic are products of it.
 */
export function contiguousStrides(n: string, nd: number, k: number, what: string): string {
  if (nd === 0) return "";
  const lines = [
    `if (th_too_large(${nd}, ${n}_n)) { char th_sz[128]; th_fmt_shape(th_sz, sizeof th_sz, ${nd}, ${n}_n); snprintf(err, ${ERR_LEN}, "${what}: output shape %s is too large: more than the ${MAX_ARRAY_ELEMENTS} (2**53 - 1) elements an array can address", th_sz); ${errReturn(k)} }`,
    `${n}_s[${nd - 1}] = 1;`,
  ];
  for (let i = nd - 2; i >= 0; i--) lines.push(`${n}_s[${i}] = ${n}_s[${i + 1}] * ${n}_n[${i + 1}];`);
  return lines.join(" ");
}

function genElemwise(w: SegmentWriter, node: Apply<Elemwise>, k: number): void {
  const out = node.outputs[0]!;
  const o = w.name(out);
  const nd = ndimOf(out);
  const ins = node.inputs.map((v) => w.name(v));
  const types = node.inputs.map((v) => v.type as TensorType);
  const opName = sq(String(node.op));
  // Shapes: Theano's rule (Elemwise.checkShapes), unrolled over the static rank and inputs.
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  // A mismatch records the first offending input and jumps to one message per axis: the message
  // lists every input's shape, so writing it per input made this code quadratic in the inputs
  // (a fused add of 60 inputs took gcc 9.5 s).
  for (let i = 0; i < nd; i++) {
    sh.push(`  { int64_t d = 1; int owner = -1, bad = -1; int64_t bs = 0; (void)owner;`);
    types.forEach((t, j) => {
      const s = `${ins[j]}_n[${i}]`;
      if (t.shape[i] === 1) {
        sh.push(`    if (${s} != 1) { snprintf(err, ${ERR_LEN}, "${opName}: input ${j} is declared broadcastable on axis ${i} but has size %lld there", (long long)${s}); ${errReturn(k)} }`);
      } else {
        sh.push(`    if (owner < 0) { owner = ${j}; d = ${s}; } else if (${s} != d && bad < 0) { bad = ${j}; bs = ${s}; }`);
      }
    });
    if (types.some((t) => t.shape[i] !== 1)) {
      sh.push(`    if (bad >= 0) { ${shapesString(w, node.inputs, "sb")}`);
      sh.push(`      snprintf(err, ${ERR_LEN}, "${opName}: input shapes %s do not match on axis ${i} (input %d has %lld, input %d has %lld).%s", sb, owner, (long long)d, bad, (long long)bs, (bs == 1 || d == 1) ? " An input of size 1 is only broadcast when its type declares that dimension broadcastable: declare it with T.row/T.col, shape: [1, ...], or x.dimshuffle(\\"x\\", ...)." : ""); ${errReturn(k)} }`);
    }
    sh.push(`    ${o}_n[${i}] = d; }`);
  }
  sh.push(`  ${contiguousStrides(o, nd, k, sq(String(node.op)))} }`);
  w.shape.push(sh.join("\n"));

  // Kernel.
  const body = elemwiseBody(node);
  const T = ctype(dtypeOf(out));
  const a = node.inputs.map((_v, j) => j);
  const stat = a.filter((j) => types[j]!.shape.every((d) => d === 1));
  const dyn = a.filter((j) => !stat.includes(j));
  const inT = node.inputs.map((v) => ctype(dtypeOf(v)));
  // The kernel is its own function with orphaned worksharing (`omp for`): called inside a
  // parallel region when the output is big enough, its loop is shared out; called directly, the
  // loop runs whole on the calling thread without entering libgomp's region machinery. (A
  // `parallel for if (...)` whose condition is false still builds a one-thread team: 0.65 µs a
  // call, a third of a tiny function's call; x*2+1 on 10 elements took 1.83 µs with it.)
  // The kernel reads its operands from parameters, not the segment's state, so that nodes doing
  // the same thing on the same types (a layer's forward and backward pass, every parameter's SGD
  // update) share one function per translation unit: named by a hash of its text, under a guard.
  const O = "o";
  const I = node.inputs.map((_v, j) => `a${j}`);
  const params = [`const int64_t *restrict ${O}_n`, `${T} *${O}`, ...node.inputs.map((_v, j) => (stat.includes(j) ? `const ${inT[j]} *${I[j]}` : `const ${inT[j]} *${I[j]}, const int64_t *restrict ${I[j]}_n, const int64_t *restrict ${I[j]}_s`))];
  const args = [`${o}_n`, o, ...node.inputs.map((_v, j) => (stat.includes(j) ? ins[j]! : `${ins[j]}, ${ins[j]}_n, ${ins[j]}_s`))];
  const r: string[] = [];
  r.push(`  const int64_t n = th_size(${nd}, ${O}_n); (void)n;`);
  for (const j of stat) r.push(`  const ${inT[j]} x${j} = ${I[j]}[0];`);
  const full = dyn.map((j) => `th_contiguous(${nd}, ${I[j]}_n, ${I[j]}_s) && th_size(${nd}, ${I[j]}_n) == n`);
  const par = `#pragma omp for schedule(static) nowait`;
  const L = nd - 1;
  const outShape = (out.type as TensorType).shape;
  // What the types already say, so that gcc compiles (and vectorises) only the loops that can
  // run: an input declared broadcastable on an axis the output may not be 1 on is never as big
  // as the output (no flat loop), and one broadcastable on the innermost axis is one value per
  // inner row (read once, outside the inner loop: a bias over an image's rows).
  const flat = nd === 0 || !dyn.some((j) => types[j]!.shape.some((d, i) => d === 1 && outShape[i] !== 1));
  const rowConst = nd > 0 ? dyn.filter((j) => types[j]!.shape[L] === 1) : [];
  const alongRow = dyn.filter((j) => !rowConst.includes(j));
  if (flat) {
    r.push(`  if (${full.join(" && ") || "1"}) {`);
    for (const j of dyn) r.push(`    const ${inT[j]} *restrict p${j} = ${I[j]};`);
    r.push(`    ${T} *restrict po = ${O};`);
    const contiguous = [`    for (int64_t i = 0; i < n; i++) {`, ...dyn.map((j) => `      const ${inT[j]} x${j} = p${j}[i];`), `      ${body} po[i] = r;`, `    }`];
    r.push(par, ...contiguous);
    if (nd > 0) r.push(`  } else if (n > 0) {`);
  } else r.push(`  if (n > 0) {`);
  if (nd > 0) {
    // Strided: broadcast axes get stride 0; the innermost axis is a plain loop, with a unit-stride
    // version gcc vectorises (row broadcasting, bias adds).
    for (const j of alongRow) r.push(`    int64_t b${j}[${nd}]; for (int i = 0; i < ${nd}; i++) b${j}[i] = (${I[j]}_n[i] == 1 && ${O}_n[i] != 1) ? 0 : ${I[j]}_s[i];`);
    for (const j of rowConst) r.push(`    int64_t b${j}[${nd}]; for (int i = 0; i < ${nd}; i++) b${j}[i] = ${I[j]}_n[i] == 1 ? 0 : ${I[j]}_s[i];`);
    const outer = [...Array(L).keys()];
    r.push(`    const int64_t inner = ${O}_n[${L}];`);
    // unit: every operand that varies along the row has stride 1 there
    if (alongRow.length > 0) r.push(`    const int unit = ${alongRow.map((j) => `b${j}[${L}] == 1`).join(" && ")};`);
    // the loop nest, on threads (over the outer axes) when there are outer axes
    const nest: string[] = [];
    outer.forEach((ax) => nest.push(`${"  ".repeat(ax + 2)}for (int64_t i${ax} = 0; i${ax} < ${O}_n[${ax}]; i${ax}++) {`));
    const ind = "  ".repeat(L + 2);
    for (const j of dyn) nest.push(`${ind}const ${inT[j]} *q${j} = ${I[j]}${outer.map((ax) => ` + i${ax} * b${j}[${ax}]`).join("")};`);
    for (const j of rowConst) nest.push(`${ind}const ${inT[j]} x${j} = q${j}[0];`);
    const flatIndex = outer.length ? outer.reduce((acc, ax) => (acc === "" ? `i${ax}` : `(${acc}) * ${O}_n[${ax}] + i${ax}`), "") : "0";
    nest.push(`${ind}${T} *qo = ${O} + (${flatIndex}) * inner;`);
    const unitLoop = `for (int64_t jj = 0; jj < inner; jj++) { ${alongRow.map((j) => `const ${inT[j]} x${j} = q${j}[jj];`).join(" ")} ${body} qo[jj] = r; }`;
    if (alongRow.length === 0) nest.push(`${ind}${unitLoop}`);
    else {
      nest.push(`${ind}if (unit) {`);
      nest.push(`${ind}  ${unitLoop}`);
      nest.push(`${ind}} else {`);
      nest.push(`${ind}  for (int64_t jj = 0; jj < inner; jj++) { ${alongRow.map((j) => `const ${inT[j]} x${j} = q${j}[jj * b${j}[${L}]];`).join(" ")} ${body} qo[jj] = r; }`);
      nest.push(`${ind}}`);
    }
    outer.reverse().forEach((ax) => nest.push(`${"  ".repeat(ax + 2)}}`));
    if (L >= 1) r.push(par);
    r.push(...nest);
  }
  r.push(`  }`);
  r.push(`}`);
  const text = [`(${params.join(", ")}) {`, ...r].join("\n");
  const fn = `th_ew_${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
  const guard = `TH_EW_${fn.slice(6)}`;
  const call = [`{ /* node ${k}: ${sq(node.toString())} */`, ...regionCall(`th_size(${nd}, ${o}_n) >= ${w.opts.ompMinSize}`, "#pragma omp parallel", `${fn}(${args.join(", ")});`), `}`].join("\n");
  w.helpers.set(call, [`#ifndef ${guard}`, `#define ${guard}`, `/* ${sq(String(node.op))} */`, `static __attribute__((noinline, unused)) void ${fn}${text}`, `#endif`].join("\n"));
  w.run.push(call);
}

function genDimShuffle(w: SegmentWriter, node: Apply<DimShuffle>, k: number): void {
  const x = w.name(node.inputs[0]!);
  const o = w.name(node.outputs[0]!);
  const op = node.op;
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  for (const d of op.drop) {
    sh.push(`  if (${x}_n[${d}] != 1) { char sb[128]; th_fmt_shape(sb, sizeof sb, ${op.inputNdim}, ${x}_n); snprintf(err, ${ERR_LEN}, "${sq(String(op))}: axis ${d} must have size 1, got shape %s", sb); ${errReturn(k)} }`);
  }
  op.pattern.forEach((p, i) => sh.push(p === "x" ? `  ${o}_n[${i}] = 1; ${o}_s[${i}] = 0;` : `  ${o}_n[${i}] = ${x}_n[${p}]; ${o}_s[${i}] = ${x}_s[${p}];`));
  sh.push(`}`);
  w.shape.push(sh.join("\n"));
  w.run.push(`${o} = ${x}; /* node ${k}: ${sq(node.toString())} (a view) */`);
}

/** A view: integer entries drop their axis, slices follow Python's `slice.indices`. */
function genSubtensor(w: SegmentWriter, node: Apply<Subtensor>, k: number): void {
  const xv = node.inputs[0]!;
  const x = w.name(xv);
  const o = w.name(node.outputs[0]!);
  const nd = ndimOf(xv);
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, `  int64_t off = 0; (void)off;`];
  let oa = 0;
  node.op.entries.forEach((e, ax) => {
    const n = `${x}_n[${ax}]`;
    const st = `${x}_s[${ax}]`;
    if (typeof e === "number") {
      sh.push(`  { int64_t i = ${e}; if (i < 0) i += ${n}; if (i < 0 || i >= ${n}) { snprintf(err, ${ERR_LEN}, "index ${e} is out of bounds for axis ${ax} with size %lld", (long long)${n}); ${errReturn(k)} } off += i * ${st}; }`);
      return;
    }
    if (typeof e !== "object") throw new Error("internal: symbolic subtensor entry");
    const step = (e.step ?? 1) as number;
    if (step === 0) throw new Error("internal: zero slice step");
    const start = e.start as number | null;
    const stop = e.stop as number | null;
    const lines: string[] = [`  { const int64_t n = ${n}, step = ${step}; int64_t lo, hi, len;`];
    if (step > 0) {
      lines.push(`    lo = ${start === null ? "0" : String(start)}; if (lo < 0) { lo += n; if (lo < 0) lo = 0; } else if (lo > n) lo = n;`);
      lines.push(`    hi = ${stop === null ? "n" : String(stop)}; if (hi < 0) { hi += n; if (hi < 0) hi = 0; } else if (hi > n) hi = n;`);
      lines.push(`    len = hi > lo ? (hi - lo + step - 1) / step : 0;`);
    } else {
      lines.push(`    lo = ${start === null ? "n - 1" : String(start)}; if (lo < 0) { lo += n; if (lo < 0) lo = -1; } else if (lo >= n) lo = n - 1;`);
      lines.push(`    hi = ${stop === null ? "-1" : String(stop)}; if (${stop === null ? "0" : "1"} && hi < 0) { hi += n; if (hi < 0) hi = -1; } else if (hi >= n) hi = n - 1;`);
      lines.push(`    len = lo > hi ? (lo - hi - step - 1) / (-step) : 0;`);
    }
    lines.push(`    ${o}_n[${oa}] = len; ${o}_s[${oa}] = ${st} * step; if (len > 0) off += lo * ${st}; }`);
    sh.push(...lines);
    oa++;
  });
  for (let ax = node.op.entries.length; ax < nd; ax++, oa++) sh.push(`  ${o}_n[${oa}] = ${x}_n[${ax}]; ${o}_s[${oa}] = ${x}_s[${ax}];`);
  // the offset is applied once the input's pointer is known (run time)
  sh.push(`  ${o}_off = off; }`);
  w.shape.push(sh.join("\n"));
  w.field("int64_t", `${o}_off`);
  // An empty view never dereferences its pointer: keep the base (no pointer past the buffer).
  w.run.push(`${o} = th_size(${ndimOf(node.outputs[0]!)}, ${o}_n) > 0 ? ${x} + ${o}_off : ${x}; /* node ${k}: ${sq(node.toString())} (a view) */`);
}

/** Concatenation along a static axis: each input copied (and converted) into its region. */
function genJoin(w: SegmentWriter, node: Apply<Join>, k: number): void {
  const ax = node.op.axis;
  const ins = node.inputs.map((v) => w.name(v));
  const o = w.name(node.outputs[0]!);
  const out = dtypeOf(node.outputs[0]!);
  const nd = ndimOf(node.outputs[0]!);
  const name = sq(String(node.op));
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  // One message for the first mismatch (the shape list per input made this quadratic).
  sh.push(`  { int bad = -1, bax = 0; int64_t bs = 0;`);
  ins.forEach((x, j) => {
    for (let i = 0; i < nd; i++) {
      if (i === ax || j === 0) continue;
      sh.push(`  if (bad < 0 && ${x}_n[${i}] != ${ins[0]}_n[${i}]) { bad = ${j}; bax = ${i}; bs = ${x}_n[${i}]; }`);
    }
  });
  if (nd > 1 && ins.length > 1) {
    sh.push(`  if (bad >= 0) { ${shapesString(w, node.inputs, "sb")} snprintf(err, ${ERR_LEN}, "${name}: all input dimensions except the concatenation axis must match exactly, but along dimension %d input 0 has size %lld and input %d has size %lld (shapes %s)", bax, (long long)${ins[0]}_n[bax], bad, (long long)bs, sb); ${errReturn(k)} }`);
  }
  sh.push(`  (void)bad; (void)bax; (void)bs; }`);
  for (let i = 0; i < nd; i++) sh.push(`  ${o}_n[${i}] = ${i === ax ? ins.map((x) => `${x}_n[${i}]`).join(" + ") : `${ins[0]}_n[${i}]`};`);
  sh.push(`  ${contiguousStrides(o, nd, k, sq(String(node.op)))}`, `}`);
  w.shape.push(sh.join("\n"));
  const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, `  int64_t at = 0;`];
  ins.forEach((x, j) => {
    const d = dtypeOf(node.inputs[j]!);
    r.push(`  { ${ctype(out)} *dst = ${o} + at * ${o}_s[${ax}];`);
    for (let i = 0; i < nd; i++) r.push(`${"  ".repeat(i + 2)}for (int64_t i${i} = 0; i${i} < ${x}_n[${i}]; i${i}++) {`);
    const src = [...Array(nd).keys()].map((i) => `i${i} * ${x}_s[${i}]`).join(" + ");
    const dst = [...Array(nd).keys()].map((i) => `i${i} * ${o}_s[${i}]`).join(" + ");
    r.push(`${"  ".repeat(nd + 2)}const ${ctype(d)} xv = ${x}[${src}]; dst[${dst}] = ${convert("xv", d, ctype(out), out)};`);
    for (let i = nd - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 2)}}`);
    r.push(`    at += ${x}_n[${ax}]; }`);
  });
  r.push(`}`);
  w.run.push(r.join("\n"));
}

/** C statements that print `n` int64 values of array `a` into char array `buf` as JS prints a list: "[2, 3]". */
const fmtList = (buf: string, n: number, a: string): string =>
  `{ size_t e = (size_t)snprintf(${buf}, sizeof ${buf}, "["); for (int i = 0; i < ${n} && e < sizeof ${buf}; i++) e += (size_t)snprintf(${buf} + e, sizeof ${buf} - e, i ? ", %lld" : "%lld", (long long)${a}[i]); if (e < sizeof ${buf}) snprintf(${buf} + e, sizeof ${buf} - e, "]"); }`;

/** Whether a Reshape's target shape is a constant (rendered as literals). */
const constantShape = (node: Apply): boolean => node.inputs[1]!.isConstant && node.inputs[1]!.constantData instanceof NDArray;

/**
 * Reshape to `dims`, C int64 expressions valid in the shape phase (literals for a constant
 * shape; ops/shape.ts passes computed ones, with `pre` the statements they need), checked as
 * `resolveReshape` checks them, with its messages: one -1 at most, no other negative size, and
 * the sizes' product equal to the input's size (or dividing it, for the -1).
 */
export function genReshape(w: SegmentWriter, node: Apply<Reshape>, k: number, dims: readonly string[], pre: readonly string[] = []): void {
  const x = w.name(node.inputs[0]!);
  const o = w.name(node.outputs[0]!);
  const xin = node.inputs[0]!;
  const ndIn = ndimOf(xin);
  const nd = node.op.ndim;
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, ...pre.map((l) => `  ${l}`)];
  sh.push(`  const int64_t total = th_size(${ndIn}, ${x}_n), want[${Math.max(1, nd)}] = { ${dims.join(", ") || "0"} }; int64_t known = 1; int free_ax = -1, over = 0;`);
  const target = `char st[160]; ${fmtList("st", nd, "want")}`;
  const fail = (fmt: string, args: string): string => `{ ${target} snprintf(err, ${ERR_LEN}, ${fmt}, st${args}); ${errReturn(k)} }`;
  sh.push(`  for (int i = 0; i < ${nd}; i++) {`);
  sh.push(`    if (want[i] == -1) { if (free_ax >= 0) ${fail(`"can only specify one unknown dimension in reshape %s"`, "")} free_ax = i; }`);
  sh.push(`    else if (want[i] < 0) ${fail(`"reshape target %s holds an invalid dimension %lld"`, ", (long long)want[i]")}`);
  sh.push(`    else { if (__builtin_mul_overflow(known, want[i], &known)) over = 1; ${o}_n[i] = want[i]; }`);
  sh.push(`  }`);
  const bad = `{ char sb[160]; ${fmtList("sb", ndIn, `${x}_n`)} ${target} snprintf(err, ${ERR_LEN}, "cannot reshape an array of size %lld (shape %s) into shape %s", (long long)total, sb, st); ${errReturn(k)} }`;
  sh.push(`  if (free_ax >= 0) { if (over || known == 0 || total % known != 0) ${bad} ${o}_n[free_ax] = total / known; }`);
  sh.push(`  else if (over || known != total) ${bad}`);
  sh.push(`  (void)free_ax; ${contiguousStrides(o, nd, k, sq(String(node.op)))}`);
  sh.push(`}`);
  w.shape.push(sh.join("\n"));
  // A contiguous input is reinterpreted (the pointer is shared); otherwise it is copied in C order.
  w.run.push(`{ /* node ${k}: ${sq(node.toString())} */
  if (th_contiguous(${ndIn}, ${x}_n, ${x}_s)) ${o} = ${x};
  else { ${o} = th_alloc((int64_t)sizeof(*${o}) * th_size(${nd}, ${o}_n)); if (!${o}) goto oom; tmp[ntmp++] = ${o}; th_copy_strided(sizeof(*${o}), ${ndIn}, ${x}_n, ${x}_s, ${x}, ${o}); }
}`);
}

function genCAReduce(w: SegmentWriter, node: Apply<CAReduce>, k: number): void {
  const op = node.op;
  const xv = node.inputs[0]!;
  const x = w.name(xv);
  const o = w.name(node.outputs[0]!);
  const nd = ndimOf(xv);
  const ndOut = ndimOf(node.outputs[0]!);
  const keep = [...Array(nd).keys()].filter((i) => !op.axis.includes(i));
  const inD = dtypeOf(xv);
  const acc = op.accDtype;
  const out = op.dtype;
  const A = ctype(acc);
  const extremum = op.kind === "maximum" || op.kind === "minimum";
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  keep.forEach((ax, i) => sh.push(`  ${o}_n[${i}] = ${x}_n[${ax}];`));
  sh.push(`  ${contiguousStrides(o, ndOut, k, sq(String(node.op)))}`);
  if (extremum && !op.emptyIdentity && op.axis.length > 0) {
    const inner = op.axis.map((a) => `${x}_n[${a}]`).join(" * ");
    sh.push(`  if ((${inner}) == 0 && th_size(${ndOut}, ${o}_n) > 0) { char sb[128]; th_fmt_shape(sb, sizeof sb, ${nd}, ${x}_n); snprintf(err, ${ERR_LEN}, "${sq(String(op))}: zero-size reduction over axes (${op.axis.join(", ")}) of shape %s has no identity", sb); ${errReturn(k)} }`);
  }
  sh.push(`}`);
  w.shape.push(sh.join("\n"));

  // Initial value and combination step, as perform computes them.
  let init: string;
  let step: string;
  const v = convert("xv", inD, A, acc);
  const uAcc = acc === "int64" ? "uint64_t" : acc === "int32" ? "uint32_t" : null;
  switch (op.kind) {
    case "add":
      init = "0";
      step = uAcc ? `a = (${A})((${uAcc})a + (${uAcc})(${v}));` : `a = a + ${v};`;
      break;
    case "mul":
      init = "1";
      step = uAcc ? `a = (${A})((${uAcc})a * (${uAcc})(${v}));` : `a = a * ${v};`;
      break;
    case "maximum":
      init = isFloat(acc) ? "-INFINITY" : minOf(acc);
      step = `{ const ${A} y = ${v}; a = (y > a || y != y) ? y : a; }`;
      break;
    case "minimum":
      init = isFloat(acc) ? "INFINITY" : maxOf(acc);
      step = `{ const ${A} y = ${v}; a = (y < a || y != y) ? y : a; }`;
      break;
    case "and":
      init = "1";
      step = `a = (a != 0) & (xv != 0);`;
      break;
    case "or":
      init = "0";
      step = `a = (a != 0) | (xv != 0);`;
      break;
    default:
      op.kind satisfies never;
      throw new Error("unreachable");
  }
  // Combining two partial results (the threads' accumulators below), as `step` combines values.
  const combine = {
    add: uAcc ? `a = (${A})((${uAcc})a + (${uAcc})y);` : `a = a + y;`,
    mul: uAcc ? `a = (${A})((${uAcc})a * (${uAcc})y);` : `a = a * y;`,
    maximum: `a = (y > a || y != y) ? y : a;`,
    minimum: `a = (y < a || y != y) ? y : a;`,
    and: `a = (a != 0) & (y != 0);`,
    or: `a = (a != 0) | (y != 0);`,
  }[op.kind];
  // Loop over the input's axes in order; the accumulator index advances only on kept axes.
  const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  r.push(`  const int64_t no = th_size(${ndOut}, ${o}_n);`);
  r.push(`  ${A} *acc = ${acc === out ? o : `(${A} *)th_alloc((int64_t)sizeof(${A}) * no)`};`);
  if (acc !== out) r.push(`  if (!acc) goto oom; tmp[ntmp++] = acc;`);
  r.push(`  for (int64_t i = 0; i < no; i++) acc[i] = ${init};`);
  r.push(`  if (th_size(${nd}, ${x}_n) > 0) {`);
  const ostr = [...Array(nd).keys()].map((ax) => (keep.includes(ax) ? `${o}_s[${keep.indexOf(ax)}]` : "0"));
  const L = nd - 1;
  const lanes = op.kind === "add" && isFloat(acc) && nd >= 1 && op.axis.includes(L);
  // Threads (OpenMP, above openmp_elemwise_minsize input elements). The loops below run over
  // `nloops` leading axes. When the first P of them are kept axes, different iterations of those
  // write different outputs: they are shared out as one collapsed loop. When axis 0 is reduced,
  // each thread reduces a range of axis 0 into an accumulator of its own, and the accumulators
  // are combined in thread order afterwards (the same result for the same thread count). The
  // ranges follow the team OpenMP actually gives (OMP_DYNAMIC or a thread limit may shrink it).
  // A float sum of a whole vector (the lane path with no outer loop) splits the lane instead.
  const nloops = lanes ? L : nd;
  let P = 0;
  while (P < nloops && !op.axis.includes(P)) P++;
  const big = `th_size(${nd}, ${x}_n) >= ${w.opts.ompMinSize}`;
  const split = P === 0 && nloops >= 1;
  const splitLane = lanes && L === 0;
  const loop = (ax: number): string =>
    split && ax === 0
      ? `${"  ".repeat(ax + 2)}for (int64_t i0 = lo0; i0 < hi0; i0++) {`
      : `${"  ".repeat(ax + 2)}for (int64_t i${ax} = 0; i${ax} < ${x}_n[${ax}]; i${ax}++) {`;
  // The threaded parts are a function of their own (see genElemwise): entered in a parallel
  // region past the threshold, called directly below it (no libgomp team for small inputs).
  const fn = `${w.fn}_k${w.helperCount++}`;
  let helper: string | null = null;
  const nest: string[] = [];
  if (lanes) {
    // Float sums along the innermost axis: 8 partial sums that gcc vectorises when that axis is
    // contiguous (a different association than perform's left-to-right sum, within rounding).
    for (let ax = 0; ax < L; ax++) nest.push(loop(ax));
    const ind = "  ".repeat(L + 2);
    const base = [...Array(L).keys()].map((ax) => `i${ax} * ${x}_s[${ax}]`).join(" + ") || "0";
    const dst = `acc[${[...Array(L).keys()].map((ax) => `i${ax} * ${ostr[ax]}`).join(" + ") || "0"}]`;
    const cv = (e: string): string => convert(e, inD, A, acc);
    const laneSum = (lo: string, hi: string, into: string): string =>
      `if (st == 1) { ${A} ps[8] = {0}; int64_t j = ${lo}; for (; j + 8 <= ${hi}; j += 8) for (int q = 0; q < 8; q++) ps[q] += ${cv("xp[j + q]")}; for (; j < ${hi}; j++) ps[0] += ${cv("xp[j]")}; ${into} += ((ps[0] + ps[1]) + (ps[2] + ps[3])) + ((ps[4] + ps[5]) + (ps[6] + ps[7])); }\n` +
      `${ind}else for (int64_t j = ${lo}; j < ${hi}; j++) ${into} += ${cv("xp[j * st]")};`;
    nest.push(`${ind}const ${ctype(inD)} *xp = ${x} + (${base}); const int64_t len = ${x}_n[${L}], st = ${x}_s[${L}]; ${A} a = ${dst};`);
    if (splitLane) {
      // one partial sum per thread (at most 64), added in thread order
      nest.push(`${ind}${A} part[64]; int nth = ${big} ? th_omp_max_threads() : 1, used = 1;`);
      nest.push(`${ind}if (nth > 64) nth = 64; if (nth > len / 4096 + 1) nth = (int)(len / 4096 + 1);`);
      nest.push(...regionCall("nth > 1", "#pragma omp parallel num_threads(nth)", `${fn}(S, part, &used);`));
      nest.push(`${ind}for (int t = 0; t < used; t++) a += part[t];`);
      helper = [
        `static __attribute__((noinline)) void ${fn}(struct ${w.fn}_st *S, ${A} *part, int *used) { /* node ${k}: one thread's share of the lane */`,
        `  const ${ctype(inD)} *xp = ${x}; const int64_t len = ${x}_n[0], st = ${x}_s[0];`,
        `  const int th = th_omp_thread_num(), nt = th_omp_num_threads(); if (th == 0) *used = nt;`,
        `  const int64_t lo = len * th / nt, hi = len * (th + 1) / nt; ${A} s = 0;`,
        `  ${laneSum("lo", "hi", "s")}`,
        `  part[th] = s;`,
        `}`,
      ].join("\n");
    } else nest.push(`${ind}${laneSum("0", "len", "a")}`);
    nest.push(`${ind}${dst} = a;`);
    for (let ax = L - 1; ax >= 0; ax--) nest.push(`${"  ".repeat(ax + 2)}}`);
  } else {
    for (let ax = 0; ax < nd; ax++) nest.push(loop(ax));
    const ind = "  ".repeat(nd + 2);
    const src = `${x}[${[...Array(nd).keys()].map((ax) => `i${ax} * ${x}_s[${ax}]`).join(" + ") || "0"}]`;
    const dst = `acc[${[...Array(nd).keys()].map((ax) => `i${ax} * ${ostr[ax]}`).join(" + ") || "0"}]`;
    nest.push(`${ind}const ${ctype(inD)} xv = ${src}; ${A} a = ${dst}; ${step} ${dst} = a;`);
    for (let ax = nd - 1; ax >= 0; ax--) nest.push(`${"  ".repeat(ax + 2)}}`);
  }
  if (P > 0) {
    helper = [
      `static __attribute__((noinline)) void ${fn}(struct ${w.fn}_st *S, ${A} *acc) { /* node ${k}: ${sq(node.toString())} */`,
      `#pragma omp for collapse(${P}) schedule(static) nowait`,
      ...nest,
      `}`,
    ].join("\n");
    r.push(...regionCall(big, "#pragma omp parallel", `${fn}(S, acc);`));
  } else if (split) {
    r.push(`  ${A} *acc0 = acc, *parts = NULL;`);
    r.push(`  int nth = ${big} ? th_omp_max_threads() : 1, used = 1;`);
    r.push(`  if (nth > ${x}_n[0]) nth = (int)${x}_n[0];`);
    r.push(`  if (nth > 1) { parts = (${A} *)th_alloc((int64_t)sizeof(${A}) * no * nth); if (!parts) nth = 1; else tmp[ntmp++] = parts; }`);
    helper = [
      `static __attribute__((noinline)) void ${fn}(struct ${w.fn}_st *S, ${A} *acc0, ${A} *parts, int64_t no, int *used) { /* node ${k}: one thread's range of axis 0 */`,
      `  const int th = th_omp_thread_num(), nt = th_omp_num_threads();`,
      `  if (th == 0) *used = nt;`,
      `  ${A} *acc = nt > 1 ? parts + (int64_t)th * no : acc0;`,
      `  if (nt > 1) for (int64_t i = 0; i < no; i++) acc[i] = ${init};`,
      `  const int64_t lo0 = ${x}_n[0] * th / nt, hi0 = ${x}_n[0] * (th + 1) / nt;`,
      ...nest,
      `}`,
    ].join("\n");
    r.push(...regionCall("nth > 1", "#pragma omp parallel num_threads(nth)", `${fn}(S, acc, parts, no, &used);`));
    r.push(`  if (used > 1) for (int64_t i = 0; i < no; i++) { ${A} a = parts[i]; for (int t = 1; t < used; t++) { const ${A} y = parts[(int64_t)t * no + i]; ${combine} } acc0[i] = a; }`);
  } else r.push(...nest);
  r.push(`  }`);
  if (acc !== out) r.push(`  for (int64_t i = 0; i < no; i++) { const ${A} a = acc[i]; ${o}[i] = ${convert("a", acc, ctype(out), out)}; }`);
  r.push(`}`);
  const entry = r.join("\n");
  if (helper) w.helpers.set(entry, helper);
  w.run.push(entry);
}

/**
 * Calls a kernel function (`call`) in an OpenMP region (`pragma`) when `cond` holds, else
 * directly: the function's worksharing is orphaned, so it runs whole on the calling thread
 * without libgomp building a team (see genElemwise).
 */
function regionCall(cond: string, pragma: string, call: string): string[] {
  return [`  if (${cond}) {`, pragma, `    ${call}`, `  } else ${call}`];
}

function minOf(d: DType): string {
  return { bool: "0", int8: "INT8_MIN", int16: "INT16_MIN", int32: "INT32_MIN", int64: "INT64_MIN", uint8: "0", uint16: "0", uint32: "0", uint64: "0", float32: "-INFINITY", float64: "-INFINITY" }[d];
}
function maxOf(d: DType): string {
  return { bool: "1", int8: "INT8_MAX", int16: "INT16_MAX", int32: "INT32_MAX", int64: "INT64_MAX", uint8: "UINT8_MAX", uint16: "UINT16_MAX", uint32: "UINT32_MAX", uint64: "UINT64_MAX", float32: "INFINITY", float64: "INFINITY" }[d];
}

function genDot(w: SegmentWriter, node: Apply<Dot>, k: number): boolean {
  const [av, bv] = node.inputs as [Variable, Variable];
  const a = w.name(av);
  const b = w.name(bv);
  const o = w.name(node.outputs[0]!);
  const na = ndimOf(av);
  const nb = ndimOf(bv);
  const out = dtypeOf(node.outputs[0]!);
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  sh.push(`  if (${a}_n[${na - 1}] != ${b}_n[0]) { char s1[64], s2[64]; th_fmt_shape(s1, sizeof s1, ${na}, ${a}_n); th_fmt_shape(s2, sizeof s2, ${nb}, ${b}_n);`);
  sh.push(`    snprintf(err, ${ERR_LEN}, "dot: shapes %s and %s not aligned: %lld (dim ${na - 1}) != %lld (dim 0)", s1, s2, (long long)${a}_n[${na - 1}], (long long)${b}_n[0]); ${errReturn(k)} }`);
  let i = 0;
  if (na === 2) sh.push(`  ${o}_n[${i++}] = ${a}_n[0];`);
  if (nb === 2) sh.push(`  ${o}_n[${i++}] = ${b}_n[1];`);
  sh.push(`  ${contiguousStrides(o, na + nb - 2, k, sq(String(node.op)))}`);
  sh.push(`}`);
  w.shape.push(sh.join("\n"));
  const T = ctype(out);
  const m = na === 2 ? `${a}_n[0]` : "1";
  const kk = `${a}_n[${na - 1}]`;
  const n = nb === 2 ? `${b}_n[1]` : "1";
  const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  r.push(`  const int64_t m = ${m}, kk = ${kk}, n = ${n};`);
  // Operands of another dtype are converted into contiguous temporaries first (perform's astype).
  const operand = (v: Variable, name: string, nd: number, tag: string): [string, string, string] => {
    if (dtypeOf(v) === out) {
      return nd === 2 ? [name, `${name}_s[0]`, `${name}_s[1]`] : tag === "a" ? [name, "0", `${name}_s[0]`] : [name, `${name}_s[0]`, "0"];
    }
    r.push(`  ${T} *c${tag} = (${T} *)th_alloc((int64_t)sizeof(${T}) * th_size(${nd}, ${name}_n)); if (!c${tag}) goto oom; tmp[ntmp++] = c${tag};`);
    r.push(`  { int64_t idx = 0; ${nd === 2 ? `for (int64_t i = 0; i < ${name}_n[0]; i++) for (int64_t j = 0; j < ${name}_n[1]; j++) { const ${ctype(dtypeOf(v))} xv = ${name}[i * ${name}_s[0] + j * ${name}_s[1]]; c${tag}[idx++] = ${convert("xv", dtypeOf(v), T, out)}; }` : `for (int64_t i = 0; i < ${name}_n[0]; i++) { const ${ctype(dtypeOf(v))} xv = ${name}[i * ${name}_s[0]]; c${tag}[idx++] = ${convert("xv", dtypeOf(v), T, out)}; }`} }`);
    const ld = nd === 2 ? `${name}_n[1]` : "1";
    return nd === 2 ? [`c${tag}`, ld, "1"] : tag === "a" ? [`c${tag}`, "0", "1"] : [`c${tag}`, "1", "0"];
  };
  const [pa, rsa, csa] = operand(av, a, na, "a");
  const [pb, rsb, csb] = operand(bv, b, nb, "b");
  let gemm = false;
  if (out === "float32" || out === "float64") {
    gemm = true;
    r.push(`  if (th_gemm_${out === "float32" ? "f32" : "f64"}(m, n, kk, 1, ${pa}, ${rsa}, ${csa}, ${pb}, ${rsb}, ${csb}, 0, ${o})) goto oom;`);
  } else if (out === "bool") {
    r.push(`  for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) { uint8_t s = 0; for (int64_t p = 0; p < kk; p++) s |= (${pa}[i * ${rsa} + p * ${csa}] != 0) & (${pb}[p * ${rsb} + j * ${csb}] != 0); ${o}[i * n + j] = s; }`);
  } else {
    // Integers wrap as NumPy's do: accumulate modulo 2^64, then store (which wraps again).
    r.push(`  for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) { uint64_t s = 0; for (int64_t p = 0; p < kk; p++) s += (uint64_t)${pa}[i * ${rsa} + p * ${csa}] * (uint64_t)${pb}[p * ${rsb} + j * ${csb}]; ${o}[i * n + j] = (${T})s; }`);
  }
  r.push(`}`);
  w.run.push(r.join("\n"));
  return gemm;
}

function genGemm(w: SegmentWriter, node: Apply<Gemm>, k: number): void {
  const [zv, av, xv, yv, bv] = node.inputs as [Variable, Variable, Variable, Variable, Variable];
  const [z, al, x, y, be] = [zv, av, xv, yv, bv].map((v) => w.name(v)) as [string, string, string, string, string];
  const o = w.name(node.outputs[0]!);
  const T = ctype(dtypeOf(node.outputs[0]!));
  const s = dtypeOf(node.outputs[0]!) === "float32" ? "f32" : "f64";
  const name = sq(String(node.op));
  w.shape.push(`{ /* node ${k}: ${sq(node.toString())} */
  char s1[64], s2[64];
  if (${x}_n[1] != ${y}_n[0]) { th_fmt_shape(s1, sizeof s1, 2, ${x}_n); th_fmt_shape(s2, sizeof s2, 2, ${y}_n); snprintf(err, ${ERR_LEN}, "${name}: shapes %s and %s not aligned: %lld (dim 1) != %lld (dim 0)", s1, s2, (long long)${x}_n[1], (long long)${y}_n[0]); ${errReturn(k)} }
  if (${z}_n[0] != ${x}_n[0] || ${z}_n[1] != ${y}_n[1]) { th_fmt_shape(s1, sizeof s1, 2, ${z}_n); snprintf(err, ${ERR_LEN}, "${name}: z has shape %s but dot(x, y) has shape (%lld, %lld)", s1, (long long)${x}_n[0], (long long)${y}_n[1]); ${errReturn(k)} }
  ${o}_n[0] = ${x}_n[0]; ${o}_n[1] = ${y}_n[1]; ${contiguousStrides(o, 2, k, sq(String(node.op)))}
}`);
  // alpha·(x·y) + beta·z, z unread when beta == 0 (BLAS and perform do the same). The kernel
  // applies alpha and beta where it stores (gemm.ts): z is first copied into the output, unless
  // the host handed z's own buffer as the output (Gemm{inplace} on an array laid out as the
  // output: linker.ts), and then the update is a single pass. An operand in the memory being
  // written is read from a copy (perform does the same).
  const E = `sizeof(${T})`;
  w.run.push(`{ /* node ${k}: ${sq(node.toString())} */
  const int64_t m = ${o}_n[0], n = ${o}_n[1], kk = ${x}_n[1];
  const ${T} alpha = (${T})${al}[0], beta = (${T})${be}[0];
  const ${T} *xa = ${x}, *ya = ${y}; int64_t xs0 = ${x}_s[0], xs1 = ${x}_s[1], ys0 = ${y}_s[0], ys1 = ${y}_s[1];
  if ((const void *)${o} == (const void *)${z}) {
    if (th_overlaps(${x}, 2, ${x}_n, ${x}_s, ${E}, ${o}, m * n * (int64_t)${E})) {
      ${T} *c = (${T} *)th_alloc((int64_t)${E} * m * kk); if (!c) goto oom; tmp[ntmp++] = c;
      th_copy_strided(${E}, 2, ${x}_n, ${x}_s, ${x}, c); xa = c; xs0 = kk; xs1 = 1;
    }
    if (th_overlaps(${y}, 2, ${y}_n, ${y}_s, ${E}, ${o}, m * n * (int64_t)${E})) {
      ${T} *c = (${T} *)th_alloc((int64_t)${E} * kk * n); if (!c) goto oom; tmp[ntmp++] = c;
      th_copy_strided(${E}, 2, ${y}_n, ${y}_s, ${y}, c); ya = c; ys0 = n; ys1 = 1;
    }
  } else if (beta != 0) {
    for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) ${o}[i * n + j] = ${z}[i * ${z}_s[0] + j * ${z}_s[1]];
  }
  if (th_gemm_${s}(m, n, kk, alpha, xa, xs0, xs1, ya, ys0, ys1, beta, ${o})) goto oom;
}`);
}

/**
 * FusedReduce as its unfused nodes (prologue Elemwise, CAReduce, keepdims DimShuffle, epilogue
 * Elemwise), which the generators above render; the last one writes the FusedReduce's output.
 * Null when the pieces cannot be rebuilt (the node then runs on the host).
 */
function expandFusedReduce(node: Apply<FusedReduce>): Apply[] | null {
  const op = node.op;
  try {
    const ins = node.inputs.slice(0, op.nIn);
    const extras = node.inputs.slice(op.nIn);
    // An identity prologue on one input of its own dtype is no step at all (CAReduce reads the input).
    const pro = op.prologue;
    const trivial = ins.length === 1 && pro.steps.length === 1 && pro.steps[0]!.op.name === "identity" && pro.steps[0]!.dtype === dtypeOf(ins[0]!);
    const nodes: Apply[] = trivial ? [] : [new Elemwise(pro).makeNode(...ins)];
    nodes.push(new CAReduce(op.kind, op.axis, op.dtype, op.accDtype, op.emptyIdentity).makeNode(trivial ? ins[0]! : nodes[0]!.outputs[0]!));
    if (op.keepdims) {
      const nd = ndimOf(ins[0]!);
      let kept = 0;
      const pattern = [...Array(nd).keys()].map((i) => (op.axis.includes(i) ? ("x" as const) : kept++));
      nodes.push(new DimShuffle(nd - op.axis.length, pattern).makeNode(nodes[nodes.length - 1]!.outputs[0]!));
    }
    if (op.epilogue) nodes.push(new Elemwise(op.epilogue).makeNode(nodes[nodes.length - 1]!.outputs[0]!, ...extras));
    const last = nodes[nodes.length - 1]!;
    if (dtypeOf(last.outputs[0]!) !== dtypeOf(node.outputs[0]!) || ndimOf(last.outputs[0]!) !== ndimOf(node.outputs[0]!)) return null;
    (last.outputs as Variable[])[0] = node.outputs[0]!;
    return nodes;
  } catch {
    return null;
  }
}

function genSoftmax(w: SegmentWriter, node: Apply<Softmax | LogSoftmax>, k: number): void {
  const xv = node.inputs[0]!;
  const x = w.name(xv);
  const o = w.name(node.outputs[0]!);
  const nd = ndimOf(xv);
  const axis = node.op.axis!;
  const s = dtypeOf(xv) === "float32" ? "f32" : "f64";
  const log = node.op instanceof LogSoftmax ? 1 : 0;
  w.shape.push(`{ /* node ${k}: ${sq(node.toString())} */ for (int i = 0; i < ${nd}; i++) ${o}_n[i] = ${x}_n[i]; ${contiguousStrides(o, nd, k, sq(String(node.op)))} }`);
  w.run.push(`th_softmax_${s}(${nd}, ${x}_n, ${x}_s, ${axis}, ${x}, ${o}, ${log}); /* node ${k}: ${sq(node.toString())} */`);
}

/**
 * The value of a 0-d integer (or float) input of `node` as a C expression valid in the shape
 * phase, where value-dependent shapes (Alloc, ARange) are computed: a Shape_i of this segment
 * is its input's shape entry; anything else is a segment input or an embedded constant, whose
 * memory is readable before any kernel runs (hasCGenerator admits nothing else).
 */
export function shapeScalar(w: SegmentWriter, v: Variable): string {
  return w.shapeValues.get(v) ?? `${w.name(v)}[0]`;
}

/** A scalar input readable in the shape phase: a constant, a graph input or a Shape_i output. */
export function shapePhaseScalar(v: Variable): boolean {
  const t = ttype(v);
  return t !== null && t.ndim === 0 && (v.owner === null || v.owner.op instanceof ShapeI);
}

function genShapeI(w: SegmentWriter, node: Apply<ShapeI>, k: number): void {
  const x = w.name(node.inputs[0]!);
  const o = w.name(node.outputs[0]!);
  w.shapeValues.set(node.outputs[0]!, `${x}_n[${node.op.i}]`);
  w.run.push(`${o}[0] = ${x}_n[${node.op.i}]; /* node ${k}: ${sq(node.toString())} */`);
}

/** NumPy's arange, as ARange.perform computes it (length, then v0 + i * delta in the dtype). */
function genARange(w: SegmentWriter, node: Apply<ARange>, k: number): void {
  const [a, b, st] = node.inputs.map((v) => `(double)${shapeScalar(w, v)}`) as [string, string, string];
  const o = w.name(node.outputs[0]!);
  const d = node.op.dtype;
  const name = sq(String(node.op));
  w.field("double", `${o}_a`);
  w.field("double", `${o}_st`);
  w.shape.push(`{ /* node ${k}: ${sq(node.toString())} */
  const double a = ${a}, b = ${b}, st = ${st};
  if (st == 0) { snprintf(err, ${ERR_LEN}, "${name}: the step must not be zero"); ${errReturn(k)} }
  const double len = ceil((b - a) / st);
  if (!isfinite(len)) { snprintf(err, ${ERR_LEN}, "${name}: cannot compute a length from start=%g, stop=%g, step=%g", a, b, st); ${errReturn(k)} }
  if (len > 9.007199254740992e15) { snprintf(err, ${ERR_LEN}, "${name}: length %g is too large", len); ${errReturn(k)} }
  ${o}_n[0] = len > 0 ? (int64_t)len : 0; ${o}_s[0] = 1; ${o}_a = a; ${o}_st = st;
}`);
  const T = ctype(d);
  let body: string;
  if (d === "float32") {
    body = `const float v0 = (float)${o}_a; const float delta = n > 1 ? (float)((float)(${o}_a + ${o}_st) - v0) : 0.0f;
  for (int64_t i = 0; i < n; i++) ${o}[i] = i == 0 ? v0 : v0 + (float)((double)i * (double)delta);`;
  } else {
    // float64 directly; integer dtypes from truncated start and start + step, stored as a typed
    // array stores a double (modular for the narrow types).
    const cast = isFloat(d) ? (x: string): string => x : (x: string): string => `trunc(${x})`;
    body = `const double v0 = ${cast(`${o}_a`)}; const double delta = n > 1 ? ${cast(`(${o}_a + ${o}_st)`)} - v0 : 0.0;
  for (int64_t i = 0; i < n; i++) { const double v = i == 0 ? v0 : v0 + (double)i * delta; ${o}[i] = ${convert("v", "float64", T, d)}; }`;
  }
  w.run.push(`{ /* node ${k}: ${sq(node.toString())} */
  const int64_t n = ${o}_n[0];
  ${body}
}`);
}

/** `value` broadcast to a shape given by scalars (NumPy's rules: right-aligned, size-1 axes repeat). */
function genAlloc(w: SegmentWriter, node: Apply<Alloc>, k: number): void {
  const [vv, ...dims] = node.inputs as [Variable, ...Variable[]];
  const x = w.name(vv);
  const o = w.name(node.outputs[0]!);
  const nd = dims.length;
  const vnd = ndimOf(vv);
  const pad = nd - vnd;
  w.field(`int64_t`, `${o}_b[${Math.max(1, nd)}]`);
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  dims.forEach((dv, i) => {
    sh.push(`  { const int64_t d = (int64_t)${shapeScalar(w, dv)}; if (d < 0) { snprintf(err, ${ERR_LEN}, "Alloc: negative dimensions are not allowed, got %lld on axis ${i}", (long long)d); ${errReturn(k)} } ${o}_n[${i}] = d; }`);
  });
  for (let i = 0; i < nd; i++) {
    if (i < pad) {
      sh.push(`  ${o}_b[${i}] = 0;`);
      continue;
    }
    const s = `${x}_n[${i - pad}]`;
    sh.push(`  if (${s} == ${o}_n[${i}]) ${o}_b[${i}] = ${x}_s[${i - pad}]; else if (${s} == 1) ${o}_b[${i}] = 0; else { char s1[128], s2[128]; th_fmt_shape(s1, sizeof s1, ${vnd}, ${x}_n); th_fmt_shape(s2, sizeof s2, ${nd}, ${o}_n); snprintf(err, ${ERR_LEN}, "Alloc: could not broadcast a value of shape %s to shape %s", s1, s2); ${errReturn(k)} }`);
  }
  sh.push(`  ${contiguousStrides(o, nd, k, sq(String(node.op)))}`, `}`);
  w.shape.push(sh.join("\n"));
  // One value everywhere (zeros and ones, the seeds of gradients) is a fill (a memset for zero
  // bytes): th_copy_strided calls memcpy per element, 12 ms for an embedding gradient's 51 MB.
  const T = ctype(dtypeOf(node.outputs[0]!));
  const one = [...Array(nd).keys()].map((i) => `(${o}_b[${i}] == 0 || ${o}_n[${i}] == 1)`).join(" && ") || "1";
  w.run.push(`{ /* node ${k}: ${sq(node.toString())} */
  const int64_t n = th_size(${nd}, ${o}_n);
  if (n > 0 && ${one}) { const ${T} v = ${x}[0]; const ${T} z = 0; if (memcmp(&v, &z, sizeof v) == 0) memset(${o}, 0, (size_t)n * sizeof v); else for (int64_t i = 0; i < n; i++) ${o}[i] = v; }
  else th_copy_strided(sizeof(*${o}), ${nd}, ${o}_n, ${o}_b, ${x}, ${o});
}`);
}

/**
 * -log(p[..., label]) per leading position; a label outside [0, classes) stops the segment with
 * a ShapeError-coded return before anything is read out of bounds.
 */
function genCrossentropy1Hot(w: SegmentWriter, node: Apply<CrossentropyCategorical1Hot>, k: number): void {
  const [pv, yv] = node.inputs as [Variable, Variable];
  const p = w.name(pv);
  const y = w.name(yv);
  const o = w.name(node.outputs[0]!);
  const nd = ndimOf(pv);
  const lead = nd - 1;
  const sh: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`];
  const checks = [...Array(lead).keys()].map((i) => `${y}_n[${i}] != ${p}_n[${i}]`);
  if (checks.length) {
    sh.push(`  if (${checks.join(" || ")}) { char s1[128], s2[128]; th_fmt_shape(s1, sizeof s1, ${lead}, ${y}_n); th_fmt_shape(s2, sizeof s2, ${nd}, ${p}_n); snprintf(err, ${ERR_LEN}, "CrossentropyCategorical1Hot: labels of shape %s do not match the coding distribution of shape %s", s1, s2); ${errReturn(k)} }`);
  }
  for (let i = 0; i < lead; i++) sh.push(`  ${o}_n[${i}] = ${p}_n[${i}];`);
  sh.push(`  ${contiguousStrides(o, lead, k, sq(String(node.op)))}`, `}`);
  w.shape.push(sh.join("\n"));
  const T = ctype(dtypeOf(node.outputs[0]!));
  const Y = dtypeOf(yv);
  const r: string[] = [`{ /* node ${k}: ${sq(node.toString())} */`, `  const int64_t kc = ${p}_n[${lead}]; int64_t at = 0; (void)at;`];
  for (let i = 0; i < lead; i++) r.push(`${"  ".repeat(i + 1)}for (int64_t i${i} = 0; i${i} < ${p}_n[${i}]; i${i}++) {`);
  const ind = "  ".repeat(lead + 1);
  const yoff = [...Array(lead).keys()].map((i) => `i${i} * ${y}_s[${i}]`).join(" + ") || "0";
  const poff = [...Array(lead).keys()].map((i) => `i${i} * ${p}_s[${i}]`).join(" + ") || "0";
  const lab = Y === "uint64" ? `${y}[${yoff}] >= (uint64_t)kc ? -1 : (int64_t)${y}[${yoff}]` : `(int64_t)${y}[${yoff}]`;
  r.push(`${ind}const int64_t l = ${lab};`);
  r.push(
    `${ind}if (l < 0 || l >= kc) { snprintf(err, ${ERR_LEN}, "CrossentropyCategorical1Hot: label %lld at flat position %lld is out of range for %lld classes", (long long)${Y === "uint64" ? `${y}[${yoff}]` : "l"}, (long long)at, (long long)kc); rcode = ${k + 1}; goto kerr; }`,
  );
  // The log form (CrossentropyLogCategorical1Hot) reads log-probabilities: no log of its own.
  const nll = node.op instanceof CrossentropyLogCategorical1Hot ? "-" : "-log";
  r.push(`${ind}${o}[at++] = (${T})(${nll}((double)${p}[${poff} + l * ${p}_s[${lead}]]));`);
  for (let i = lead - 1; i >= 0; i--) r.push(`${"  ".repeat(i + 1)}}`);
  r.push(`}`);
  w.run.push(r.join("\n"));
}

/** Runtime support for softmax and strided copies (after the support header). */
const RUNTIME = String.raw`
TH_RT_th_copy_strided void th_copy_strided(size_t es, int nd, const int64_t *shape, const int64_t *strides, const void *src, void *dst) {
  int64_t n = th_size(nd, shape);
  if (n == 0) return;
  if (nd == 0) { memcpy(dst, src, es); return; }
  /* row by row along the last axis (one memcpy where it is contiguous, else a loop of fixed-size
     element copies); one counter per outer axis, sized by the rank (NumPy allows 64 axes;
     perform has no limit) */
  const int64_t len = shape[nd - 1], st = strides[nd - 1], rows = n / len;
  int64_t idx[nd > 1 ? nd - 1 : 1]; memset(idx, 0, sizeof idx);
  const char *s = (const char *)src;
  char *d = (char *)dst;
  int64_t off = 0;
  for (int64_t r = 0; r < rows; r++) {
    const char *sr = s + off * (int64_t)es;
    if (st == 1) memcpy(d, sr, (size_t)len * es);
    else if (es == 4) for (int64_t j = 0; j < len; j++) memcpy(d + j * 4, sr + j * st * 4, 4);
    else if (es == 8) for (int64_t j = 0; j < len; j++) memcpy(d + j * 8, sr + j * st * 8, 8);
    else for (int64_t j = 0; j < len; j++) memcpy(d + (size_t)j * es, sr + j * st * (int64_t)es, es);
    d += (size_t)len * es;
    for (int ax = nd - 2; ax >= 0; ax--) {
      idx[ax]++; off += strides[ax];
      if (idx[ax] < shape[ax]) break;
      off -= idx[ax] * strides[ax]; idx[ax] = 0;
    }
  }
}
/* Lane maximum with NaN propagation (np.amax), 64-byte vectors by GCC's vector extension:
   the compare-and-select form gcc will not vectorise as a reduction on its own. */
typedef float th_v16f __attribute__((vector_size(64)));
typedef int32_t th_v16i __attribute__((vector_size(64)));
typedef double th_v8d __attribute__((vector_size(64)));
typedef int64_t th_v8l __attribute__((vector_size(64)));
#define TH_LANE_MAX(S, T, VT, VI, W)                                                            \
static T th_lane_max_##S(int64_t n, const T *x) {                                              \
  VT m; for (int j = 0; j < W; j++) m[j] = -INFINITY;                                           \
  int64_t i = 0;                                                                                \
  for (; i + W <= n; i += W) {                                                                  \
    VT v; memcpy(&v, x + i, sizeof v);                                                          \
    VI k = (VI)(v > m) | (VI)(v != v);                                                          \
    m = (VT)(((VI)v & k) | ((VI)m & ~k));                                                        \
  }                                                                                             \
  T r = -INFINITY;                                                                              \
  for (int j = 0; j < W; j++) r = (m[j] > r || m[j] != m[j]) ? m[j] : r;                        \
  for (; i < n; i++) { T v = x[i]; r = (v > r || v != v) ? v : r; }                             \
  return r;                                                                                     \
}
TH_LANE_MAX(f32, float, th_v16f, th_v16i, 16)
TH_LANE_MAX(f64, double, th_v8d, th_v8l, 8)
#define TH_SOFTMAX(S, T, EXP, LOG)                                                              \
/* sum of exp(x - m) over a contiguous lane, in 16 partial sums; stores the exponentials too */  \
static T th_sumexp_##S(int64_t n, const T *restrict x, T *restrict y, T m, int store) {        \
  T ss[16]; for (int j = 0; j < 16; j++) ss[j] = 0;                                             \
  int64_t i = 0;                                                                                \
  if (store) { for (; i + 16 <= n; i += 16) for (int j = 0; j < 16; j++) { T e = EXP(x[i + j] - m); y[i + j] = e; ss[j] += e; } } \
  else { for (; i + 16 <= n; i += 16) for (int j = 0; j < 16; j++) ss[j] += EXP(x[i + j] - m); } \
  T s = 0; for (int j = 0; j < 16; j++) s += ss[j];                                             \
  for (; i < n; i++) { T e = EXP(x[i] - m); if (store) y[i] = e; s += e; }                      \
  return s;                                                                                     \
}                                                                                               \
static void th_softmax_lane_##S(int64_t n, const T *x, int64_t sx, T *y, int64_t sy, int lg) {   \
  T m = -INFINITY;                                                                              \
  if (sx == 1) m = th_lane_max_##S(n, x);                                                       \
  else for (int64_t i = 0; i < n; i++) { T v = x[i * sx]; m = (v > m || v != v) ? v : m; }     \
  if (lg && !(m - m == 0)) m = 0;                                                               \
  T s = 0;                                                                                      \
  if (sx == 1 && sy == 1) {                                                                     \
    s = th_sumexp_##S(n, x, y, m, !lg);                                                         \
    if (lg) { T ls = LOG(s); for (int64_t i2 = 0; i2 < n; i2++) y[i2] = (x[i2] - m) - ls; }    \
    else { T inv = (T)1 / s; for (int64_t i2 = 0; i2 < n; i2++) y[i2] *= inv; }                \
  } else {                                                                                      \
    for (int64_t i = 0; i < n; i++) { T e = EXP(x[i * sx] - m); if (!lg) y[i * sy] = e; s += e; } \
    if (lg) { T ls = LOG(s); for (int64_t i = 0; i < n; i++) y[i * sy] = (x[i * sx] - m) - ls; } \
    else { T inv = (T)1 / s; for (int64_t i = 0; i < n; i++) y[i * sy] *= inv; }               \
  }                                                                                             \
}                                                                                               \
/* lane l of a softmax along the axis it normalises */                                        \
static inline void th_softmax_one_##S(int64_t l, int nd, const int64_t *shape, const int64_t *xs, const int64_t *ys, int axis, int64_t n, const T *x, T *y, int lg) { \
  int64_t rem = l, ox = 0, oy = 0;                                                              \
  for (int i = nd - 1; i >= 0; i--) { if (i == axis) continue; int64_t q = rem % shape[i]; rem /= shape[i]; ox += q * xs[i]; oy += q * ys[i]; } \
  th_softmax_lane_##S(n, x + ox, xs[axis], y + oy, ys[axis], lg);                               \
}                                                                                               \
TH_RT_th_softmax_##S void th_softmax_##S(int nd, const int64_t *shape, const int64_t *xs, int axis, const T *x, T *y, int lg) { \
  int64_t ys[nd > 0 ? nd : 1]; int64_t acc = 1; /* sized by the rank: any number of axes */  \
  for (int i = nd - 1; i >= 0; i--) { ys[i] = acc; acc *= shape[i]; }                           \
  int64_t lanes = 1; for (int i = 0; i < nd; i++) if (i != axis) lanes *= shape[i];             \
  int64_t n = shape[axis];                                                                      \
  if (n == 0 || lanes == 0) return;                                                             \
  /* threads only past the threshold: an OpenMP region with a false if() still costs ~0.65 µs */ \
  if (lanes * n >= 65536) {                                                                     \
    _Pragma("omp parallel for schedule(static)")                                                \
    for (int64_t l = 0; l < lanes; l++) th_softmax_one_##S(l, nd, shape, xs, ys, axis, n, x, y, lg); \
  } else for (int64_t l = 0; l < lanes; l++) th_softmax_one_##S(l, nd, shape, xs, ys, axis, n, x, y, lg); \
}
TH_SOFTMAX(f32, float, th_expf, th_logf)
TH_SOFTMAX(f64, double, th_exp, log)
`;

/**
 * koffi declares at most 64 parameters: three fixed ones, the rest pointers. The cutter keeps
 * segments within this; a segment that needs more (a single node with more tensor inputs, such
 * as a concatenation of 61 vectors) is "packed": its pointers travel in one `void **` array,
 * which has no limit but costs koffi about 0.3 µs more per call than separate arguments.
 */
export const MAX_POINTERS = 60;

/** Whether `seg` takes its pointers as one array (see MAX_POINTERS). */
export function isPacked(seg: Segment): boolean {
  return seg.inputs.length + seg.exports.length > MAX_POINTERS;
}

/**
 * Pointer arguments (inputs + exports) of the segment being grown, kept incrementally: asking
 * "would this node still fit?" costs the node's own inputs and outputs, not the segment's size
 * (recounting the whole segment per node made cutting a 6000-node graph quadratic).
 */
class PointerCounter {
  private readonly produced = new Set<Variable>();
  private readonly inputs = new Set<Variable>();
  /** Readers of each produced value that are not (yet) in the segment. */
  private readonly outside = new Map<Variable, number>();
  private exports = 0;

  constructor(
    private readonly readers: Map<Variable, Set<Apply>>,
    private readonly outputs: Set<Variable>,
  ) {}

  private exported(v: Variable, outside: number): boolean {
    return this.outputs.has(v) || outside > 0;
  }

  /** The count with `node` added. */
  countWith(node: Apply): number {
    let n = this.inputs.size + this.exports;
    for (const v of new Set(node.inputs)) {
      // small constants are compiled into the module, not passed
      if (!this.produced.has(v)) n += this.inputs.has(v) || isEmbeddable(v) ? 0 : 1;
      else if (!this.exported(v, this.outside.get(v)! - 1) && this.exported(v, this.outside.get(v)!)) n--;
    }
    for (const o of node.outputs) if (this.exported(o, this.readers.get(o)?.size ?? 0)) n++;
    return n;
  }

  add(node: Apply): void {
    for (const v of new Set(node.inputs)) {
      if (!this.produced.has(v)) {
        if (!isEmbeddable(v)) this.inputs.add(v);
      } else {
        const before = this.outside.get(v)!;
        this.outside.set(v, before - 1);
        if (this.exported(v, before) && !this.exported(v, before - 1)) this.exports--;
      }
    }
    for (const o of node.outputs) {
      const r = this.readers.get(o)?.size ?? 0;
      this.produced.add(o);
      this.outside.set(o, r);
      if (this.exported(o, r)) this.exports++;
    }
  }
}

/** Generates the module for `fgraph`. */
export function generateC(fgraph: FunctionGraph, opts: CodegenOptions): CProgram {
  const order = fgraph.toposort();
  // Error codes name positions in `order`; nodes a FusedReduce expands into share its position.
  const pos = new Map<Apply, number>();
  const expanded: Apply[] = [];
  order.forEach((n, i) => {
    const parts = n.op instanceof FusedReduce && hasCGenerator(n) ? expandFusedReduce(n as Apply<FusedReduce>) : null;
    for (const p of parts ?? [n]) {
      pos.set(p, i);
      expanded.push(p);
    }
  });
  const readers = new Map<Variable, Set<Apply>>();
  for (const node of expanded) for (const v of node.inputs) (readers.get(v) ?? readers.set(v, new Set()).get(v)!).add(node);
  const outputs = new Set(fgraph.outputs);
  // Cut the order into C segments and host nodes; a segment also ends where its pointer
  // arguments (inputs + exports) would pass what the FFI can declare. A node that alone needs
  // more starts a segment anyway: that segment is packed (its pointers in one array, isPacked).
  const steps: PlanStep[] = [];
  const groups: Apply[][] = [];
  let counter: PointerCounter | null = null;
  // Views (dimshuffles, basic slices) that only host nodes read: a C segment would export a
  // copy of each (a 4 MB slice of an RNN's history feeding the gradient scan: ~4 ms a call),
  // the host makes them as views for nothing. They wait for the next host step, so they never
  // split a segment. (A view that is a graph output stays in C: the caller gets its own copy.)
  const runsOnHost = (n: Apply): boolean => !hasCGenerator(n) || n.op instanceof FusedReduce || hostViews.has(n);
  const hostViews = new Set<Apply>();
  for (let i = expanded.length - 1; i >= 0; i--) {
    const n = expanded[i]!;
    // (a basic slice with symbolic bounds is a gather in C, a view on the host)
    if (!(isViewNode(n) || n.op instanceof Subtensor) || !hasCGenerator(n) || n.outputs.some((o) => outputs.has(o))) continue;
    const rs = n.outputs.flatMap((o) => [...(readers.get(o) ?? [])]);
    if (rs.length > 0 && rs.every(runsOnHost)) hostViews.add(n);
  }
  // Views of what a host node made (a scan's history sliced and reversed for its gradient) are
  // made on the host too, as views, and C reads them in place: in a segment they would be
  // exported to any host reader as copies. They only read values of earlier steps, so they run
  // before the open segment and never split it. (Views of the function's inputs stay in C: a
  // function without host nodes keeps them, and its tiny-call path.)
  const hostMade = new Set<Variable>();
  let openMade = new Set<Variable>();
  const viewsHostValue = (n: Apply): boolean =>
    (isViewNode(n) || n.op instanceof Subtensor) &&
    n.inputs[0]!.owner !== null &&
    hostMade.has(n.inputs[0]!) &&
    n.inputs.every((v) => !openMade.has(v)) &&
    !n.outputs.some((o) => outputs.has(o));
  const hostStep = (node: Apply): void => {
    steps.push({ kind: "host", node });
    for (const o of node.outputs) hostMade.add(o);
  };
  const waiting: Apply[] = [];
  for (const node of expanded) {
    if (hostViews.has(node)) {
      waiting.push(node);
      continue;
    }
    const last = steps[steps.length - 1];
    if (!runsOnHost(node) && viewsHostValue(node)) {
      const open = last?.kind === "c" ? steps.pop()! : null;
      hostStep(node);
      if (open) steps.push(open);
    } else if (!runsOnHost(node)) {
      if (last && last.kind === "c" && counter && counter.countWith(node) <= MAX_POINTERS) (last.segment.nodes as Apply[]).push(node);
      else {
        const nodes: Apply[] = [node];
        groups.push(nodes);
        counter = new PointerCounter(readers, outputs);
        openMade = new Set();
        steps.push({ kind: "c", segment: { fn: `th_seg${groups.length - 1}`, nodes, inputs: [], exports: [] } });
      }
      counter!.add(node);
      for (const o of node.outputs) openMade.add(o);
    } else {
      for (const v of waiting.splice(0)) hostStep(v);
      hostStep(node);
      openMade = new Set();
    }
  }
  for (const v of waiting.splice(0)) hostStep(v);
  // Which values leave each segment.
  const segments: Segment[] = [];
  const decls: string[] = [];
  const pieces: string[] = [];
  let usesGemm = false;
  const parts = new Map<string, ModulePart>();
  const partOf = new Map<Apply, ModulePart>();
  for (const st of steps) {
    if (st.kind !== "c") continue;
    const seg = st.segment;
    const inSeg = new Set(seg.nodes);
    const produced = new Set(seg.nodes.flatMap((n) => n.outputs));
    const inputs: Variable[] = [];
    const embedded: Variable[] = [];
    const seen = new Set<Variable>();
    for (const n of seg.nodes) {
      for (const v of n.inputs) {
        if (produced.has(v) || seen.has(v)) continue;
        seen.add(v);
        (isEmbeddable(v) ? embedded : inputs).push(v);
      }
    }
    const exports: Variable[] = [];
    for (const n of seg.nodes) {
      for (const v of n.outputs) if (outputs.has(v) || [...(readers.get(v) ?? [])].some((r) => !inSeg.has(r))) exports.push(v);
    }
    Object.assign(seg, { inputs, exports });
    const code = segmentSource(seg, embedded, pos, opts);
    usesGemm ||= code.gemm;
    for (const [name, p] of code.parts) parts.set(name, p);
    for (const [n, p] of code.partOf) partOf.set(n, p);
    decls.push(code.decls);
    pieces.push(...code.pieces);
    segments.push(seg);
  }
  // Prelude (header, runtime linkage, segment state types, prototypes), then the pieces: each
  // may become its own translation unit, compiled in parallel (support.ts UNIT_BREAK).
  const generated = pieces.join("\n");
  const linkage = opts.runtime ? runtimeImports(generated, opts.runtime.tag) : runtimeLinkage(generated);
  const source = [
    [`/* generated by theano-ts: one C module per compiled function (src/link/c/codegen.ts) */`, SUPPORT_HEADER, ...(opts.profile ? [PROFILE_CLOCK] : []), linkage, ...[...parts.values()].map((p) => p.declarations), ...decls].join("\n"),
    ...(opts.runtime ? [] : [RUNTIME, ...(usesGemm ? [gemmSource(opts.blas)] : [])]),
    ...[...parts.values()].map((p) => p.definitions),
    ...pieces,
  ].join(UNIT_BREAK);
  return { source, steps, segments, order, usesGemm, parts: [...parts.values()], partOf };
}

/** Small constants are compiled into the module (gcc then folds them into the loops). */
function isEmbeddable(v: Variable): boolean {
  return v.isConstant && v.constantData instanceof NDArray && v.constantData.size <= 64 && ttype(v) !== null && v.constantData.dtype === dtypeOf(v);
}

/** A C literal of `x` as dtype `d` (exact: the shortest round-trip decimal, then a cast). */
function literal(x: number | bigint, d: DType): string {
  if (d === "int64" || d === "uint64") return `(${ctype(d)})UINT64_C(${BigInt.asUintN(64, BigInt(x)).toString()})`;
  const v = Number(x);
  if (Number.isNaN(v)) return `(${ctype(d)})NAN`;
  if (v === Infinity) return `(${ctype(d)})INFINITY`;
  if (v === -Infinity) return `(${ctype(d)})-INFINITY`;
  if (Object.is(v, -0)) return `(${ctype(d)})-0.0`;
  return `(${ctype(d)})${isFloat(d) ? (Number.isInteger(v) ? `${v}.0` : String(v)) : String(v)}`;
}

/**
 * The runtime functions generated code calls (RUNTIME above, gemm.ts), with their prototypes.
 * Their linkage is a macro per function so that a module compiled as several translation units
 * (support.ts UNIT_BREAK) exports to its other units exactly the ones the generated code calls,
 * and gcc still drops the others (static, unused) instead of compiling them, as it does when the
 * module is one unit.
 */
const RUNTIME_ENTRIES: ReadonlyArray<readonly [string, string]> = [
  ["th_copy_strided", "void th_copy_strided(size_t es, int nd, const int64_t *shape, const int64_t *strides, const void *src, void *dst)"],
  ["th_softmax_f32", "void th_softmax_f32(int nd, const int64_t *shape, const int64_t *xs, int axis, const float *x, float *y, int lg)"],
  ["th_softmax_f64", "void th_softmax_f64(int nd, const int64_t *shape, const int64_t *xs, int axis, const double *x, double *y, int lg)"],
  ["th_gemm_f32", "int th_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb, int64_t csb, float beta, float *c)"],
  ["th_gemm_f64", "int th_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t rsa, int64_t csa, const double *b, int64_t rsb, int64_t csb, double beta, double *c)"],
];

/**
 * The shared runtime library: the runtime functions (RUNTIME above, the GEMM of gemm.ts)
 * compiled once per machine, compiler flags and BLAS (the linker keeps it in the compile cache
 * and loads it with its symbols global) instead of once per module: they are about a third of
 * the compile time of a module that multiplies matrices. Each symbol carries `tag` (a hash of
 * this source, the flags and the BLAS) so that two runtimes in one process never collide.
 */
export function runtimeSource(blas: boolean, tag: string): string {
  // Three pieces (the strided copies and softmax, each dtype's GEMM) that a machine with idle
  // cores compiles as separate translation units at once: the GEMM is most of the build.
  const gemm = gemmPieces(blas);
  return [
    [
      `/* generated by theano-ts: the runtime library every module of these flags calls (src/link/c/codegen.ts) */`,
      SUPPORT_HEADER,
      runtimeRenames(tag),
      ...RUNTIME_ENTRIES.map(([name]) => `#define TH_RT_${name} __attribute__((visibility("default")))`),
      gemm.common,
    ].join("\n"),
    RUNTIME,
    gemm.f32,
    gemm.f64,
  ].join(UNIT_BREAK);
}

/**
 * A runtime library of an op family's helpers (conv.ts: the convolution and pooling loops),
 * registered by the family's generator: compiled, like the core runtime library, once per machine
 * and flags, and loaded (with global symbols) only by processes whose modules call one of its
 * `entries`. Where there is no shared runtime, the generator puts the helpers in its modules.
 */
export interface RuntimeLibrary {
  readonly name: string;
  /** The definitions, in pieces that may be compiled as separate translation units. */
  pieces(): string[];
  /** Exported functions: name and prototype. */
  readonly entries: ReadonlyArray<readonly [string, string]>;
}
const libraries: RuntimeLibrary[] = [];

/** Registers an op family's runtime library (at module load, beside its generators). */
export function registerRuntimeLibrary(lib: RuntimeLibrary): void {
  if (!libraries.some((l) => l.name === lib.name)) libraries.push(lib);
}

const callsName = (generated: string, name: string): boolean => new RegExp(`\\b${name}\\(`).test(generated);

/** The registered libraries whose functions `source` calls. */
export function runtimeLibrariesUsed(source: string): RuntimeLibrary[] {
  return libraries.filter((l) => l.entries.some(([name]) => callsName(source, name)));
}

/** Every registered library's source (part of the runtime's tag). */
export function runtimeLibrariesDigest(): string {
  return libraries.map((l) => `${l.name}\0${l.pieces().join("\0")}`).join("\0");
}

/** The source of a registered runtime library, its symbols tagged as the core library's. */
export function runtimeLibrarySource(lib: RuntimeLibrary, tag: string): string {
  return [
    [
      `/* generated by theano-ts: the ${lib.name} runtime library (src/link/c/codegen.ts registerRuntimeLibrary) */`,
      `#define TH_HELPER_LINKAGE __attribute__((visibility("default")))`,
      SUPPORT_HEADER,
      runtimeRenames(tag),
      // the prototypes the modules see, so that gcc checks the definitions against them
      ...lib.entries.map(([, proto]) => `${proto};`),
    ].join("\n"),
    ...lib.pieces(),
  ].join(UNIT_BREAK);
}

/** Each runtime function's name → its tagged symbol (token pasting in RUNTIME is renamed too). */
function runtimeRenames(tag: string): string {
  return [...RUNTIME_ENTRIES, ...libraries.flatMap((l) => l.entries)].map(([name]) => `#define ${name} ${name}_${tag}`).join("\n");
}

/** A module's imports from the shared runtime libraries: the renames, and the prototypes of what `generated` calls. */
function runtimeImports(generated: string, tag: string): string {
  const used = [...RUNTIME_ENTRIES, ...libraries.flatMap((l) => l.entries)].filter(([name]) => callsName(generated, name));
  return [runtimeRenames(tag), ...used.map(([, proto]) => `extern ${proto};`)].join("\n");
}

/** `TH_RT_<name>` for every runtime function, and the prototypes of those `generated` calls. */
function runtimeLinkage(generated: string): string {
  const lines: string[] = [];
  for (const [name, proto] of RUNTIME_ENTRIES) {
    if (new RegExp(`\\b${name}\\(`).test(generated)) lines.push(`#define TH_RT_${name} TH_UNIT_FN`, `TH_UNIT_FN ${proto};`);
    else lines.push(`#define TH_RT_${name} static __attribute__((unused))`);
  }
  return lines.join("\n");
}

function segmentSource(
  seg: Segment,
  embedded: readonly Variable[],
  pos: Map<Apply, number>,
  opts: CodegenOptions,
): { decls: string; pieces: string[]; gemm: boolean; parts: ReadonlyMap<string, ModulePart>; partOf: ReadonlyMap<Apply, ModulePart> } {
  const w = new SegmentWriter(opts, seg.fn, seg);
  const nin = seg.inputs.length;
  const nex = seg.exports.length;
  const constLines: string[] = [];
  embedded.forEach((v, i) => {
    const a = v.constantData as NDArray;
    const n = w.declare(v);
    const d = a.dtype;
    const vals = Array.from(a.toFlat() as ArrayLike<number | bigint>, (x) => literal(x, d));
    constLines.push(`static const ${ctype(d)} k${i}[${Math.max(1, vals.length)}] = {${vals.join(", ") || "0"}}; ${n} = (${ctype(d)} *)k${i};`);
    let stride = 1;
    for (let ax = a.ndim - 1; ax >= 0; ax--) {
      constLines.push(`${n}_n[${ax}] = ${a.shape[ax]}; ${n}_s[${ax}] = ${stride};`);
      stride *= a.shape[ax]!;
    }
  });
  // Inputs: pointer + shape + strides + offset from meta.
  let m = 0;
  const inputLines: string[] = [];
  seg.inputs.forEach((v, i) => {
    const n = w.declare(v);
    const nd = ndimOf(v);
    const lines: string[] = [];
    for (let d = 0; d < nd; d++) lines.push(`${n}_n[${d}] = (int64_t)meta[${m + d}]; ${n}_s[${d}] = (int64_t)meta[${m + nd + d}];`);
    lines.push(`${n} = (${ctype(dtypeOf(v))} *)p${i} + (int64_t)meta[${m + 2 * nd}];`);
    m += 2 * nd + 1;
    inputLines.push(lines.join(" "));
  });
  const capBase = m;
  for (const node of seg.nodes) for (const o of node.outputs) w.declare(o);
  let gemm = false;
  for (const [j, node] of seg.nodes.entries()) {
    const k = pos.get(node)!;
    const op = node.op;
    const firstRun = w.run.length;
    if (op instanceof Elemwise) genElemwise(w, node as Apply<Elemwise>, k);
    else if (op instanceof DimShuffle) genDimShuffle(w, node as Apply<DimShuffle>, k);
    else if (op instanceof CAReduce) genCAReduce(w, node as Apply<CAReduce>, k);
    else if (op instanceof Dot) gemm = genDot(w, node as Apply<Dot>, k) || gemm;
    else if (op instanceof Gemm) {
      genGemm(w, node as Apply<Gemm>, k);
      gemm = true;
    }
    else if (op instanceof Softmax || op instanceof LogSoftmax) genSoftmax(w, node as Apply<Softmax>, k);
    else if (op instanceof Reshape && constantShape(node)) genReshape(w, node as Apply<Reshape>, k, Array.from((node.inputs[1]!.constantData as NDArray).toFlat() as ArrayLike<number | bigint>, (d) => String(Number(d))));
    else if (op instanceof Subtensor && constantSubtensor(node)) genSubtensor(w, node as Apply<Subtensor>, k);
    else if (op instanceof Join) genJoin(w, node as Apply<Join>, k);
    else if (op instanceof ShapeI) genShapeI(w, node as Apply<ShapeI>, k);
    else if (op instanceof ARange) genARange(w, node as Apply<ARange>, k);
    else if (op instanceof Alloc) genAlloc(w, node as Apply<Alloc>, k);
    else if (op instanceof CrossentropyCategorical1Hot) genCrossentropy1Hot(w, node as Apply<CrossentropyCategorical1Hot>, k);
    else {
      const g = extraGenerators.find((x) => x.matches(node));
      if (!g) throw new Error(`internal: no C generator for ${String(op)}`);
      gemm = g.generate(w, node, k) || gemm;
    }
    if (opts.profile) timeRunEntries(w, firstRun, j);
  }
  if (opts.profile) w.field("double *", "S->prof");
  // Exports: sizes against the host's buffers; then where each one is written.
  const exLines: string[] = ["int resize = 0;"];
  let so = 0;
  seg.exports.forEach((v, q) => {
    const n = w.name(v);
    const nd = ndimOf(v);
    for (let d = 0; d < nd; d++) exLines.push(`oshape[${so + d}] = (double)${n}_n[${d}];`);
    so += nd;
    exLines.push(`if (th_size(${nd}, ${n}_n) != (int64_t)meta[${capBase + q}]) resize = 1;`);
  });
  exLines.push("if (resize) { rc = -1; goto done; }");
  // Buffers: exports of computing nodes write straight into the host's buffer (in the main
  // function, which holds the pointer arguments); exported views are copied there after the
  // segment; other outputs get fresh memory (in chunks, like kernels).
  const exportBufs: string[] = [];
  const alloc: string[] = [];
  const copies: string[] = [];
  // Every allocation site frees through tmp[]: at most three per node output (output, accumulator, conversions).
  const ntmp = 3 * seg.nodes.reduce((s, n) => s + n.outputs.length, 0);
  seg.nodes.forEach((node) => {
    for (const o of node.outputs) {
      const n = w.name(o);
      const q = seg.exports.indexOf(o);
      const view = isViewNode(node) || node.op instanceof Reshape;
      if (view) {
        if (q >= 0) copies.push(`th_copy_strided(sizeof(*${n}), ${ndimOf(o)}, ${n}_n, ${n}_s, ${n}, p${nin + q});`);
        continue;
      }
      if (q >= 0) exportBufs.push(`${n} = (${ctype(dtypeOf(o))} *)p${nin + q};`);
      else {
        // A refused allocation is the node's error (a ShapeError on the host) naming the bytes
        // and the shape, as the JS backends say it (issue 13.3), not an anonymous out-of-memory.
        const nd = ndimOf(o);
        const bytes = `(long long)sizeof(*${n}) * (long long)th_size(${nd}, ${n}_n)`;
        alloc.push(
          `${n} = (${ctype(dtypeOf(o))} *)th_alloc((int64_t)sizeof(*${n}) * th_size(${nd}, ${n}_n)); ` +
            `if (!${n}) { char th_sz[128]; th_fmt_shape(th_sz, sizeof th_sz, ${nd}, ${n}_n); snprintf(err, ${ERR_LEN}, "${sq(String(node.op))}: cannot allocate %lld bytes for an output of shape %s and dtype ${dtypeOf(o)}: out of memory; use smaller shapes", ${bytes}, th_sz); rcode = ${pos.get(node)! + 1}; goto kerr; } ` +
            `tmp[ntmp++] = ${n};`,
        );
      }
    }
  });
  // The shape checks and the kernels are cut into chunks of bounded size, each its own noinline
  // function over the state struct: gcc's optimisation time grows faster than linearly with the
  // size of one function (a 600-node graph in one function took 14 s and 1.3 GB), and chunks
  // keep it linear in the graph. The state lives on the heap, so big graphs do not overflow the
  // native stack either.
  const chunks: string[] = [];
  const protos: string[] = [];
  // (Not `cold` on the shape phase's chunks, though it cut a W6 module's gcc time by a quarter:
  // with it, an AdvancedSubtensor's output shape came out wrong at -O3 (ops_subtensor.test.ts under
  // THEANO_TS_TEST_O3=1); whether gcc 12 or undefined behaviour in the shape code is at fault is
  // not known yet.)
  const calls = (entries: readonly string[]): string[] => {
    const out: string[] = [];
    let cur: string[] = [];
    let size = 0;
    const flush = (): void => {
      if (cur.length === 0) return;
      const name = `${seg.fn}_c${chunks.length}`;
      const text = cur.join("\n");
      const oom = /\bgoto oom\b/.test(text);
      const kerr = /\bgoto kerr\b/.test(text);
      chunks.push(
        [
          ...cur.flatMap((e) => w.helpers.get(e) ?? []),
          `TH_UNIT_FN __attribute__((noinline)) int ${name}(struct ${seg.fn}_st *S, char *err) {`,
          `  void **tmp = S->tmp; int ntmp = S->ntmp; (void)tmp; (void)err;`,
          ...(kerr ? [`  int rcode = 0;`] : []),
          text,
          `  S->ntmp = ntmp; return 0;`,
          ...(oom ? [`oom:`, `  S->ntmp = ntmp; return -2;`] : []),
          // a kernel's own check (labels out of range): the node's 1-based position, as in the shape phase
          ...(kerr ? [`kerr:`, `  S->ntmp = ntmp; return rcode;`] : []),
          `}`,
        ].join("\n"),
      );
      protos.push(`TH_UNIT_FN int ${name}(struct ${seg.fn}_st *S, char *err);`);
      out.push(`  if ((rc = ${name}(S, err)) != 0) goto fail;`);
      cur = [];
      size = 0;
    };
    for (const e of entries) {
      const len = e.length + (w.helpers.get(e)?.length ?? 0);
      if (size > 0 && size + len > CHUNK_CHARS) flush();
      cur.push(e);
      size += len;
    }
    flush();
    return out;
  };
  const shapeCalls = calls([...constLines.map((l) => `  ${l}`), ...w.shape]);
  const runCalls = calls([...alloc.map((l) => `  ${l}`), ...w.run]);
  const packed = isPacked(seg);
  const params = [`const double *meta`, `double *oshape`, `char *err`, ...(packed ? [`void **pp`] : [...Array(nin + nex).keys()].map((i) => `void *p${i}`))];
  // a packed segment names its pointers as the unpacked one does
  const unpack = packed ? [...Array(nin + nex).keys()].map((i) => `  void *p${i} = pp[${i}];`) : [];
  const decls = [
    `/* segment ${seg.fn}: ${seg.nodes.length} node(s), ${nin} input(s), ${nex} export(s) */`,
    `struct ${seg.fn}_st {`,
    ...w.decl.map((l) => `  ${l}`),
    `  int ntmp; void *tmp[${ntmp + 1}];`,
    `};`,
    ...protos,
  ].join("\n");
  const entry = [
    `int ${seg.fn}(${params.join(", ")}) {`,
    `  (void)meta; (void)oshape; (void)err;`,
    ...unpack,
    `  struct ${seg.fn}_st *S = (struct ${seg.fn}_st *)calloc(1, sizeof *S);`,
    `  if (!S) { snprintf(err, ${ERR_LEN}, "out of memory in ${seg.fn}"); return -2; }`,
    `  int rc = 0;`,
    ...(opts.profile ? [`  S->prof = (double *)meta + ${metaLayout(seg, true).profBase};`] : []),
    ...inputLines.map((l) => `  ${l}`),
    `  /* shapes: every check before any kernel runs */`,
    ...shapeCalls,
    ...exLines.map((l) => `  ${l}`),
    ...exportBufs.map((l) => `  ${l}`),
    `  /* kernels */`,
    ...runCalls,
    ...copies.map((l) => `  ${l}`),
    `  goto done;`,
    `fail:`,
    `  if (rc == -2) snprintf(err, ${ERR_LEN}, "out of memory in ${seg.fn}");`,
    `done:`,
    `  for (int i = 0; i < S->ntmp; i++) free(S->tmp[i]);`,
    `  free(S);`,
    `  return rc;`,
    `}`,
  ].join("\n");
  return { decls, pieces: [...chunks, entry], gemm, parts: w.parts, partOf: w.partOf };
}

/** The koffi prototype of a segment's function. */
export function segmentPrototype(seg: Segment): string {
  const ptrs = isPacked(seg) ? [`void **pp`] : [...Array(seg.inputs.length + seg.exports.length).keys()].map((i) => `void *p${i}`);
  return `int ${seg.fn}(double *meta, double *oshape, uint8_t *err${ptrs.length ? ", " : ""}${ptrs.join(", ")})`;
}

/**
 * Number of doubles of a segment's meta array, where the export capacities start, and (in a
 * profiled module) where the per-node milliseconds start, one per node of `seg.nodes`.
 */
export function metaLayout(seg: Segment, profile = false): { size: number; capBase: number; oshapeSize: number; profBase: number } {
  const capBase = seg.inputs.reduce((s, v) => s + 2 * ndimOf(v) + 1, 0);
  const profBase = capBase + seg.exports.length;
  return { size: profBase + (profile ? seg.nodes.length : 0), capBase, oshapeSize: Math.max(1, seg.exports.reduce((s, v) => s + ndimOf(v), 0)), profBase };
}

/**
 * Wraps the kernel entries node `j` of the segment added from `first` on in a timer that adds
 * their milliseconds to `S->prof[j]`. Each entry is timed on its own (chunks may split a node's
 * entries between functions); helper functions keyed by an entry stay with it.
 */
function timeRunEntries(w: SegmentWriter, first: number, j: number): void {
  for (let i = first; i < w.run.length; i++) {
    const e = w.run[i]!;
    const timed = `{ const double th_p0 = th_now();\n${e}\n  S->prof[${j}] += th_now() - th_p0; }`;
    const helper = w.helpers.get(e);
    if (helper !== undefined) w.helpers.set(timed, helper);
    w.run[i] = timed;
  }
}
