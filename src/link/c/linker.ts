/**
 * The `c` and `auto` linkers: the graph becomes one C module (src/link/c/codegen.ts) compiled
 * through the compile cache and called through the FFI; nodes without a C generator run their
 * `perform` on the host between C segments. When the whole graph is in C, an evaluation is one
 * FFI call: the host passes the inputs' memory with their shapes, strides and offsets, plus
 * output buffers sized as in the previous call; C checks every shape first and, only when the
 * sizes changed, returns the new shapes so the host can allocate and call again.
 *
 * Outputs given as `Out(v, { borrow: true })` reuse the previous call's buffer when their size is
 * unchanged and no input lives in it (Theano's borrow: the caller accepts that the next call
 * overwrites it); this saves the page faults of fresh memory (8-20 ms per 40 MB on this VM).
 *
 * `auto` (the `linker` flag's default) is C when `cCompilerStatus()` says a compiler builds and
 * loads modules here, else the wasm linker (the JS linker where the runtime has no WebAssembly)
 * with one warning that says how to get the C backend.
 * Size: generated C above C_O3_MAX_SOURCE is built at -O1, and above C_AUTO_MAX_SOURCE `auto`
 * runs that function on the wasm linker (JS without WebAssembly) with one warning (`c` still
 * compiles it, at -O1).
 */

import "./ops/index.js"; // registers the generators of link/c/ops/
import { config } from "../../config/index.js";
import { BackendError, InputError, ShapeError } from "../../errors.js";
import type { Apply, Value, Variable } from "../../graph/basic.js";
import type { FunctionGraph } from "../../graph/fgraph.js";
import { overwrittenInputs } from "../../graph/destroy.js";
import { type DType, type TypedArray, isFloat as isFloatDtype, itemsize } from "../../ndarray/dtype.js";
import { NDArray, allocData, shapeSize } from "../../ndarray/ndarray.js";
import type { TensorType } from "../../tensor/type.js";
import { Gemm } from "../../tensor/gemm.js";
import { DimShuffle, Elemwise } from "../../tensor/elemwise.js";
import { CAReduce } from "../../tensor/math.js";
import { Composite } from "../../scalar/composite.js";
import { FusedReduce } from "../../tensor/fused_reduce.js";
import { AdvancedIncSubtensor, IncSubtensor } from "../../tensor/subtensor.js";
import { atBatchEnd } from "../batch.js";
import { isCompiledirError, type LoadedModule, startModule, warn } from "../cache.js";
import { wrapNodeError } from "../errors.js";
import { planMemory } from "../memory.js";
import { jsLinker } from "../js/linker.js";
import { wasmApi } from "../wasm/emitter.js";
import { wasmLinker } from "../wasm/linker.js";
import type { LinkOptions, Linker, Thunk } from "../types.js";
import { createHash } from "node:crypto";
import {
  type CodegenOptions,
  type CProgram,
  ERR_LEN,
  type Segment,
  generateC,
  isPacked,
  metaLayout,
  partErrorNode,
  runtimeLibrariesDigest,
  runtimeLibrariesUsed,
  runtimeLibrarySource,
  runtimeSource,
  segmentPrototype,
} from "./codegen.js";
import { cCompilerStatus, compileFlags, findBlas } from "./compiler.js";
import { type LoopSegment, loopPrototype, makeStepLoop, stepLoopSource } from "./step_loop.js";
import { UNIT_BREAK } from "./support.js";
import type { NativeFunction } from "./ffi.js";

/** Modules this process compiled (not found in the cache), and modules requested at all. */
let builds = 0;
let loads = 0;
export function cBuildCount(): number {
  return builds;
}
export function cModuleLoads(): number {
  return loads;
}

/**
 * Generated C longer than this (characters) is compiled at -O1 instead of -O3. gcc's time is
 * linear in the module once codegen cuts it into chunk functions, but -O3 costs about 5 s per
 * MB of source on this machine (2-core VM, gcc 12) against about 2.5 s at -O1; 1 MB is several
 * hundred fused kernels, far beyond the graphs whose kernels' speed matters most.
 */
export const C_O3_MAX_SOURCE = 1_000_000;

/**
 * Generated C longer than this is not compiled under `linker=auto`: the function runs on the JS
 * backend, with one warning saying why (about 10 s of gcc at -O1 already). `linker=c` compiles
 * any size, at -O1 above C_O3_MAX_SOURCE (time linear in the size: about a 2000-node chain of
 * fused elementwise + reduction steps per 4 MB).
 */
export const C_AUTO_MAX_SOURCE = 4_000_000;

/**
 * The one place a generated module is compiled or fetched from the cache. Inside a build batch
 * (cache.ts withBuildBatch: theano.function) the compiler only starts here; the returned function
 * waits for it.
 */
function buildModule(source: string, ldflags: readonly string[], graph?: string): () => LoadedModule {
  const flags = source.length > C_O3_MAX_SOURCE ? compileFlags().map((f) => (f === "-O3" ? "-O1" : f)) : undefined;
  const wait = startModule(source, { ldflags, ...(flags ? { flags } : {}), ...(graph ? { graph } : {}) });
  let counted = false;
  return () => {
    const mod = wait();
    if (!counted) {
      counted = true;
      loads++;
      if (!mod.fromCache) builds++;
    }
    return mod;
  };
}

/** Everything the thunk needs to call one segment. */
interface SegmentCall {
  readonly seg: Segment;
  /** Bound once the module is loaded (makeC's `bind`). */
  fn: NativeFunction;
  readonly meta: Float64Array;
  readonly oshape: Float64Array;
  readonly err: Uint8Array;
  readonly capBase: number;
  /** Where a profiled module adds each node's milliseconds (codegen `metaLayout`). */
  readonly profBase: number;
  readonly inSlots: readonly number[];
  readonly inNd: readonly number[];
  readonly inDtypes: readonly DType[];
  readonly exSlots: readonly number[];
  readonly exNd: readonly number[];
  readonly exDtypes: readonly DType[];
  /** Export sizes of the previous call: the first guess for this one. */
  readonly lastSizes: number[];
  /** Per export: a borrowed output of the function, whose buffer the next call may reuse. */
  readonly reuse: readonly boolean[];
  /**
   * Per export: the segment input its node may overwrite (a Gemm{inplace} whose destroyed operand
   * enters the segment), else -1. The destroy handler has proved that nothing reads that operand
   * afterwards; the host hands its buffer over as the export's when it is laid out as the output.
   */
  readonly inplaceIn: readonly number[];
  /** The previous call's buffers of reusable exports. */
  readonly prev: Array<TypedArray | null>;
  /**
   * Per export: a small buffer of this call's own that C writes a small result into (see
   * SMALL_EXPORT_BYTES); null until first needed. `small[q]` is true when this call used it.
   */
  readonly scratch: Array<TypedArray | null>;
  readonly small: boolean[];
  readonly bufs: TypedArray[];
  readonly args: unknown[];
  /** Where the pointers go: `args` from index 3, or the one `void **` array of a packed segment. */
  readonly ptrs: unknown[];
  readonly pbase: number;
}

/** A segment's function before its module is loaded (never called: the thunk binds first). */
const unbound: NativeFunction = (() => {
  throw new BackendError("internal error: a C segment was called before its module was loaded");
}) as unknown as NativeFunction;

const dtypeOf = (v: Variable): DType => (v.type as TensorType).dtype;
const ndimOf = (v: Variable): number => (v.type as TensorType).ndim;

/**
 * The shared runtime library of the current flags and BLAS (codegen.ts runtimeSource), per
 * process: its tag, and whether it is loaded. Linux only (it relies on the loader resolving a
 * module's undefined symbols from a library opened with global symbols); elsewhere every
 * module carries the runtime functions it calls.
 */
interface SharedRuntime {
  readonly tag: string;
  readonly blas: boolean;
  readonly ldflags: readonly string[];
  loaded: boolean;
  /** Waits for the library's build started in this batch (see loadRuntime). */
  pending?: () => LoadedModule;
  /** The op families' runtime libraries (codegen.ts registerRuntimeLibrary) of these flags, by name. */
  readonly libraries: Map<string, { loaded: boolean; pending?: () => LoadedModule }>;
}
const runtimes = new Map<string, SharedRuntime>();

function sharedRuntime(blas: boolean, ldflags: readonly string[]): SharedRuntime | undefined {
  if (process.platform !== "linux") return undefined;
  const memoKey = JSON.stringify([blas, compileFlags(), ldflags]);
  let rt = runtimes.get(memoKey);
  if (!rt) {
    const tag = `r${createHash("sha256").update(`${memoKey}\0${runtimeSource(blas, "")}\0${runtimeLibrariesDigest()}`).digest("hex").slice(0, 12)}`;
    runtimes.set(memoKey, (rt = { tag, blas, ldflags, loaded: false, libraries: new Map() }));
  }
  return rt;
}

/**
 * Loads the runtime library (compiling it into the cache the first time on this machine) before
 * the first module that calls it: the returned function, called before that module is loaded
 * (its undefined symbols resolve against the library). Inside a build batch the library's build
 * overlaps the modules'. Never closed: every module of this process may call it.
 */
function loadRuntime(rt: SharedRuntime, source: string): () => void {
  const parts = [
    { state: rt as { loaded: boolean; pending?: () => LoadedModule }, text: () => runtimeSource(rt.blas, rt.tag), graph: "the shared runtime library (GEMM, softmax, strided copies)", ldflags: rt.ldflags },
    ...runtimeLibrariesUsed(source).map((lib) => {
      let state = rt.libraries.get(lib.name);
      if (!state) rt.libraries.set(lib.name, (state = { loaded: false }));
      return { state, text: () => runtimeLibrarySource(lib, rt.tag), graph: `the ${lib.name} runtime library`, ldflags: [] as readonly string[] };
    }),
  ];
  const start = (p: (typeof parts)[number]): (() => LoadedModule) => startModule(p.text(), { ldflags: p.ldflags, global: true, graph: p.graph });
  for (const p of parts) if (!p.state.loaded && !p.state.pending) p.state.pending = start(p);
  return () => {
    for (const p of parts) {
      if (p.state.loaded) continue;
      const wait = p.state.pending ?? start(p);
      p.state.pending = wait;
      wait();
      p.state.loaded = true;
      p.state.pending = undefined;
    }
  };
}

/** The code generator's options for the current configuration. */
function codegenOptions(profile: boolean): CodegenOptions & { runtime?: SharedRuntime } {
  const blas = findBlas();
  const useBlas = blas !== null && blas.interface === "cblas";
  const runtime = sharedRuntime(useBlas, useBlas ? blas!.ldflags : []);
  return { blas: useBlas, ompMinSize: Number(config.openmp_elemwise_minsize), profile, ...(runtime ? { runtime } : {}) };
}

/** The generated source of a graph (for `thunk.source`, tests and debugging). */
export function cSource(fgraph: FunctionGraph): CProgram {
  return generateC(fgraph, codegenOptions(false));
}

export const cLinker: Linker = {
  name: "c",
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk {
    return makeC(fgraph, false, opts);
  },
};

/** `linker=auto` once a compiler works: C, except for a function too big to compile quickly. */
const cAutoLinker: Linker = {
  name: "c",
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk {
    try {
      return withTinyPath(fgraph, makeC(fgraph, true, opts), opts);
    } catch (e) {
      // A compiledir that cannot take this module (read-only, full, unsafe) is, for `auto`, a
      // C backend that is unavailable: run on JS with the one warning a missing compiler gets.
      if (!isCompiledirError(e)) throw e;
      warnAutoFallback((e as Error).message);
      return withoutC().make(fgraph, opts);
    }
  },
};

/**
 * Calls on tiny arrays (issue 15.5): at most this many input elements in all, a function that
 * `linker=auto` compiled to C runs its JS backend's code instead. A C call costs a fixed ~0.4 µs
 * in the FFI (koffi's argument conversion and the call) that the JS thunk does not pay: `x + x`
 * on float32[10] took 0.60 µs through C and 0.18 µs through JS (NumPy's `a + a`: 0.55 µs) in one
 * run of `npx tsx bench/tiny_call.ts`, while at this size both kernels take a few nanoseconds.
 */
export const TINY_CALL_ELEMENTS = 64;

/** Counters for tests and benchmarks: calls of C-compiled functions that ran their JS code. */
export const tinyCallStats = { js: 0 };

/**
 * Scalar operations whose C and JS renderings give the same bits for every input: IEEE's
 * correctly rounded arithmetic (a float32 operation done in double and rounded once, as the JS
 * code does, is the float32 operation), comparisons, selections, casts. Not the transcendentals
 * (C's vectorisable exp/log/tanh are within a few ulp of libm and JS's Math), nor floor division
 * and modulo of floats, nor rounding to an integer.
 */
const EXACT_SCALARS = new Set(["abs", "add", "and", "ceil", "clip", "eq", "floor", "ge", "gt", "identity", "inv", "isinf", "isnan", "le", "lt", "maximum", "minimum", "mul", "neg", "neq", "not", "or", "sign", "sqr", "sqrt", "sub", "trueDiv", "trunc", "where", "xor"]);

const exactComposite = (c: Composite): boolean => c.steps.every((st) => (st.op instanceof Composite ? exactComposite(st.op) : EXACT_SCALARS.has(st.op.name)));

/**
 * Whether `node` gives the same bits through the C and the JS backend, and its outputs are no
 * larger than its broadcast inputs: exact elementwise operations, dimshuffles, and reductions
 * whose result does not depend on the order of the operands (max, min, all, any; sums and
 * products of integers), with no 64-bit integer anywhere (the JS backend's int64 is a double).
 */
function sameOnBoth(node: Apply): boolean {
  // The JS backend computes 64-bit integers in doubles (exact to 2^53 only); C in int64_t.
  for (const v of [...node.inputs, ...node.outputs]) {
    const d = (v.type as TensorType).dtype;
    if (d === "int64" || d === "uint64") return false;
  }
  const op = node.op;
  if (op instanceof DimShuffle) return true;
  if (op instanceof Elemwise) return op.scalarOp instanceof Composite ? exactComposite(op.scalarOp) : EXACT_SCALARS.has(op.scalarOp.name);
  const orderFree = (kind: string, acc: DType): boolean => kind === "maximum" || kind === "minimum" || kind === "and" || kind === "or" || !isFloatDtype(acc);
  if (op instanceof CAReduce) return orderFree(op.kind, op.accDtype);
  if (op instanceof FusedReduce) return orderFree(op.kind, op.accDtype) && exactComposite(op.prologue) && (op.epilogue === null || exactComposite(op.epilogue));
  return false;
}

/**
 * `c` with a JS twin for tiny calls, where that is exactly as safe: only graphs whose every node
 * gives the same bits on both backends and outputs no more than its broadcast inputs
 * (`sameOnBoth`: a function's results never depend on the size of the call, and tiny inputs
 * mean a tiny call), every node in C, no profiler or native step loop, and the JS
 * code writing no input the C code does not and returning fresh memory wherever C does (so what
 * theano.function lends, copies or trusts is the same on either path). The twin is generated JS (no compiler run), built once here; the C path is untouched for every
 * call above the size. Otherwise `c` itself.
 */
function withTinyPath(fgraph: FunctionGraph, c: Thunk, opts?: LinkOptions): Thunk {
  if (opts?.profiler || opts?.stepLoop) return c;
  for (const node of fgraph.nodes) if (!sameOnBoth(node)) return c;
  // Every node in generated C (none on the host between segments).
  for (const node of fgraph.nodes) if (node.tag.backend === "host") return c;
  // The JS linker tags the nodes it compiles: the C tags stay (the C path is the function's).
  const tags = [...fgraph.nodes].map((n) => [n, n.tag.backend] as const);
  let js: Thunk;
  try {
    js = jsLinker.make(fgraph, opts);
  } finally {
    for (const [n, t] of tags) n.tag.backend = t;
  }
  const cWrites = c.writes ?? overwrittenInputs(fgraph);
  for (const v of overwrittenInputs(fgraph)) if (!cWrites.has(v)) return c;
  const cFresh = c.freshOutputs;
  if (cFresh && cFresh.some((f, k) => f && js.freshOutputs?.[k] !== true)) return c;
  const thunk: Thunk = (inputs: readonly Value[]): Value[] => {
    let n = 0;
    for (let i = 0; i < inputs.length; i++) {
      const a = inputs[i];
      if (!(a instanceof NDArray) || (n += a.size) > TINY_CALL_ELEMENTS) return c(inputs);
    }
    tinyCallStats.js++;
    return js(inputs);
  };
  Object.assign(thunk, { source: c.source, memoryPlan: c.memoryPlan, writes: c.writes, freshOutputs: c.freshOutputs, linkStats: c.linkStats });
  thunk.free = () => {
    js.free?.();
    c.free?.();
  };
  return thunk;
}

function makeC(fgraph: FunctionGraph, auto: boolean, opts?: LinkOptions): Thunk {
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") {
    throw new BackendError("linker=c needs Node (a C compiler, and koffi to load what it builds); this runtime is not Node (a browser?): use linker=auto, wasm or js");
  }
  const blas = findBlas();
  const useBlas = blas !== null && blas.interface === "cblas";
  const profiler = opts?.profiler;
  const linkStart = performance.now();
  const cgOpts = codegenOptions(profiler !== undefined);
  const program = generateC(fgraph, cgOpts);
  const codegenMs = performance.now() - linkStart;
  if (auto && program.source.length > C_AUTO_MAX_SOURCE) {
    // The next backend in auto's order, as when there is no compiler: wasm (native-speed
    // kernels, no toolchain), else JS.
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    const next = withoutC();
    warn(
      `theano-ts: a function of ${fgraph.nodes.size} nodes generates ${mb(program.source.length)} MB of C, above the ${mb(C_AUTO_MAX_SOURCE)} MB that linker=auto compiles ` +
        `(gcc would take more than about 10 s); it runs on the ${next === wasmLinker ? "wasm" : "JS"} backend. Set THEANO_FLAGS=linker=c to compile it anyway (at -O1, in time linear in its size).`,
    );
    return next.make(fgraph, opts);
  }
  // Slots: every variable the plan touches gets an index into one value array.
  const slot = new Map<Variable, number>();
  const slotOf = (v: Variable): number => {
    let s = slot.get(v);
    if (s === undefined) slot.set(v, (s = slot.size));
    return s;
  };
  fgraph.inputs.forEach(slotOf);
  const constants: Array<[number, Value]> = [];
  const visit = (v: Variable): void => {
    if (!slot.has(v) && v.isConstant) constants.push([slotOf(v), v.constantData]);
    slotOf(v);
  };
  for (const node of program.order) {
    node.inputs.forEach(visit);
    node.outputs.forEach(slotOf);
  }
  fgraph.outputs.forEach(visit);

  // Outputs whose buffer a later call may overwrite: borrowed wherever they are an output (an
  // unborrowed position, or an update, would hand the same memory to an owner).
  const borrowed = opts?.borrowed ?? [];
  const reusable = new Set<Variable>(fgraph.outputs.filter((o) => fgraph.outputs.every((p, k) => p !== o || borrowed[k] === true)));
  // allow_gc=False (Theano's "keep intermediate storage between calls"): exports that only this
  // call reads keep their buffers for the next call, which writes them again without fresh pages
  // to fault in or external memory for V8 to collect (a training step with a scan exports
  // megabytes to its host nodes every call). Never one the caller could see: outputs, and what
  // may share their memory, followed back through host nodes (any of which may pass an input's
  // memory on) and in-place exports (their destroyed input's memory).
  const caller = callerVisible(fgraph, program);
  // (not an in-place export: its memory is its destroyed operand's, which may be a copy of an
  // input made for this call, or anything else the next call does not own)
  const intermediate = new Set(program.segments.flatMap((seg) => seg.exports.filter((v) => !caller.has(v) && !reusable.has(v) && inplaceInput(v, seg.inputs) < 0)));
  // Host nodes get their previous outputs the same way (Op.perform's `reuse`: a scan writes its
  // histories into them).
  const keepOuts = new Map(program.steps.flatMap((st) => (st.kind === "host" && st.node.outputs.some((o) => !caller.has(o)) ? [[st.node, st.node.outputs.map((o) => !caller.has(o))] as const] : [])));
  const lastOuts = new Map<Apply, Array<Value | undefined>>();
  // With allow_gc=True (the default) what is kept goes once the function has been idle for
  // `intermediateRelease.idleMs`: a training loop reuses it call after call, a function called
  // now and then holds nothing.
  const idle: IdleEntry | null =
    config.allow_gc && (intermediate.size > 0 || keepOuts.size > 0)
      ? {
          last: 0,
          release() {
            lastOuts.clear();
            for (const c of calls.values()) c.seg.exports.forEach((v, q) => intermediate.has(v) && (c.prev[q] = null));
          },
        }
      : null;
  let mod: LoadedModule | null = null;
  const calls = new Map<Segment, SegmentCall>();
  let buildMs = 0;
  // A loop body that is one segment gets the segment's step loop in its module (step_loop.ts).
  const loop = opts?.stepLoop && !profiler ? loopCandidate(fgraph, program) : null;
  const source = loop ? program.source + UNIT_BREAK + stepLoopSource(loop.seg) : program.source;
  // The module: its compiler starts now; `bind` waits for it (at the end of theano.function's
  // build batch, or the first call, whichever comes first) and looks up its functions.
  let pendingModule: (() => LoadedModule) | null = null;
  const buildStart = performance.now();
  if (program.segments.length > 0) {
    const runtimeReady = cgOpts.runtime ? loadRuntime(cgOpts.runtime, source) : null;
    const moduleReady = buildModule(source, useBlas ? blas!.ldflags : [], `${opts?.name ?? "theano_function"} (${fgraph.nodes.size} nodes)`);
    pendingModule = () => {
      runtimeReady?.();
      return moduleReady();
    };
    for (const seg of program.segments) {
      const { size, capBase, oshapeSize, profBase } = metaLayout(seg, profiler !== undefined);
      const meta = new Float64Array(Math.max(1, size));
      const oshape = new Float64Array(oshapeSize);
      const err = new Uint8Array(ERR_LEN);
      const npt = seg.inputs.length + seg.exports.length;
      const packed = isPacked(seg);
      const args: unknown[] = new Array(packed ? 4 : 3 + npt);
      args[0] = meta;
      args[1] = oshape;
      args[2] = err;
      const ptrs: unknown[] = packed ? new Array(npt) : args;
      if (packed) args[3] = ptrs;
      calls.set(seg, {
        seg,
        fn: unbound,
        meta,
        oshape,
        err,
        capBase,
        profBase,
        inSlots: seg.inputs.map(slotOf),
        inNd: seg.inputs.map(ndimOf),
        inDtypes: seg.inputs.map(dtypeOf),
        exSlots: seg.exports.map(slotOf),
        exNd: seg.exports.map(ndimOf),
        exDtypes: seg.exports.map(dtypeOf),
        lastSizes: seg.exports.map(() => -1),
        reuse: seg.exports.map((v) => reusable.has(v) || intermediate.has(v)),
        inplaceIn: seg.exports.map((v) => inplaceInput(v, seg.inputs)),
        prev: seg.exports.map(() => null),
        scratch: seg.exports.map(() => null),
        small: seg.exports.map(() => false),
        bufs: new Array(seg.exports.length),
        args,
        ptrs,
        pbase: packed ? 0 : 3,
      });
    }
  }
  const order = program.order;
  let steps = program.steps.map((st) => (st.kind === "c" ? { call: calls.get(st.segment)!, node: null } : { call: null, node: st.node }));
  // Where each node runs, for pictures of the compiled graph (printing/dot.ts colours host nodes).
  for (const st of program.steps) {
    if (st.kind === "c") for (const n of st.segment.nodes) n.tag.backend = "c";
    else st.node.tag.backend = "host";
  }
  let freed = false;
  const inSlots = fgraph.inputs.map(slotOf);
  const outSlots = fgraph.outputs.map(slotOf);
  const nslots = slot.size;

  let native: ReturnType<typeof makeStepLoop> | null = null;
  const bind = (): void => {
    if (!pendingModule) return;
    const m = pendingModule(); // throws when the build failed (the next bind tries again)
    pendingModule = null;
    mod = m;
    buildMs = performance.now() - buildStart;
    for (const part of program.parts) part.load(m.library);
    for (const c of calls.values()) c.fn = m.library.func(segmentPrototype(c.seg));
    if (loop) native = makeStepLoop({ ...loop, fn: m.library.func(loopPrototype(loop.seg)) });
    thunk.linkStats = { codegenMs, compileMs: m.fromCache ? 0 : buildMs, cacheLoadMs: m.fromCache ? buildMs : 0, compiled: m.fromCache ? 0 : 1, cacheLoads: m.fromCache ? 1 : 0 };
    // A function dropped without free() still gives its module back (issue 13.11).
    unloader.register(thunk, m.library, thunk);
  };

  const thunk: Thunk = (inputs: readonly Value[]): Value[] => {
    if (freed) throw new BackendError("this C function was freed; compile it again to call it");
    if (pendingModule) bind();
    if (idle) touchIdle(idle);
    const env: Value[] = new Array(nslots);
    for (let i = 0; i < inSlots.length; i++) env[inSlots[i]!] = inputs[i];
    for (let i = 0; i < constants.length; i++) env[constants[i]![0]] = constants[i]![1];
    for (let i = 0; i < steps.length; i++) {
      const st = steps[i]!;
      if (st.node) {
        const node = st.node;
        const args = node.inputs.map((v) => env[slot.get(v)!]);
        let outs: Value[];
        const t = profiler ? performance.now() : 0;
        try {
          const keep = keepOuts.get(node);
          outs = node.op.perform(node, args, keep ? lastOuts.get(node) : undefined);
          if (keep) lastOuts.set(node, outs.map((o, k) => (keep[k] ? o : undefined)));
        } catch (e) {
          throw wrapNodeError(e, node, args, order);
        }
        if (profiler) profiler.record(node, t, performance.now() - t, args);
        node.outputs.forEach((o, i) => (env[slot.get(o)!] = outs[i]));
      } else if (profiler) {
        // The module timed each node's kernels into its meta slots: report them, in order.
        const c = st.call!;
        let t = performance.now();
        runSegment(c, env, program);
        c.seg.nodes.forEach((n, j) => {
          const ms = c.meta[c.profBase + j]!;
          c.meta[c.profBase + j] = 0;
          // Input shapes where the host holds the values (the segment's inputs and exports);
          // values that live only inside the segment show as "-" in the Apply table.
          profiler.record(n, t, ms, n.inputs.map((v) => env[slot.get(v)!]));
          t += ms;
        });
      } else runSegment(st.call!, env, program);
    }
    const out: Value[] = new Array(outSlots.length);
    for (let i = 0; i < outSlots.length; i++) out[i] = env[outSlots[i]!];
    return out;
  };
  thunk.source = source;
  // profile_memory's plan (the JS backend also measures each call; C segments allocate their
  // temporaries inside the module, so here the measured peak stays unknown).
  const layout = planMemory(fgraph, order);
  thunk.memoryPlan = { staticPeakBytes: layout.staticPeakBytes, lastPeakBytes: null, buffers: layout.fresh.size };
  if (loop && pendingModule) {
    thunk.stepLoop = {
      run(inputs, outputs, t0, t1) {
        if (freed) throw new BackendError("this C function was freed; compile it again to call it");
        if (pendingModule) bind();
        return native!.run(inputs, outputs, t0, t1);
      },
    };
  }
  thunk.linkStats = { codegenMs, compileMs: 0, cacheLoadMs: 0, compiled: 0, cacheLoads: 0 };
  // The inputs whose memory a call may write (issue 13.1): those of in-place host nodes, and
  // those `overwritable` may hand a segment as an export's buffer (the `inplaceIn` exports); C
  // computes every other in-place op into fresh memory, so e.g. an in-place elementwise update
  // costs theano.function no lent copy here.
  thunk.writes = overwrittenInputs(
    fgraph,
    program.steps.flatMap((st) => (st.kind === "c" ? st.segment.exports.filter((v) => inplaceInput(v, st.segment.inputs) >= 0).map((v) => v.owner!) : [st.node])),
  );
  // Outputs a segment exports into a buffer of the call's own (Thunk.freshOutputs): not one
  // kept for reuse (borrowed), not an input's memory (in-place GEMM), listed once. Exports are
  // always copies, never views of a segment's inputs.
  const exporter = new Map<Variable, { c: SegmentCall; q: number }>();
  for (const c of calls.values()) c.seg.exports.forEach((v, q) => exporter.set(v, { c, q }));
  thunk.freshOutputs = fgraph.outputs.map((o) => {
    const e = exporter.get(o);
    return e !== undefined && fgraph.outputs.indexOf(o) === fgraph.outputs.lastIndexOf(o) && !e.c.reuse[e.q] && e.c.inplaceIn[e.q]! < 0;
  });
  // Frees at once (issue 13.10): the borrowed outputs kept for reuse and the declared functions
  // go now, whatever still holds the thunk; the module is unloaded when no other function uses it.
  thunk.free = () => {
    if (pendingModule) {
      try {
        bind(); // the build is under way: wait for it, so that its module is closed below
      } catch {
        pendingModule = null; // it failed: nothing was loaded
      }
    }
    freed = true;
    lastOuts.clear();
    if (idle) holding.delete(idle);
    for (const c of calls.values()) {
      c.prev.fill(null);
      c.scratch.fill(null);
      forget(c);
    }
    calls.clear();
    steps = [];
    if (mod) {
      unloader.unregister(thunk);
      mod.library.close();
    }
    mod = null;
  };
  // Bound now, or once every module of this theano.function has been started (the profiler reads
  // linkStats at once).
  if (pendingModule && (profiler || !atBatchEnd(bind))) bind();
  return thunk;
}

/**
 * The one segment of a graph whose native step loop can run it (step_loop.ts): the whole graph
 * in C, every output a distinct export of it, every input of it an input of the graph or a
 * constant, and no export written over an input. Null otherwise.
 */
function loopCandidate(fgraph: FunctionGraph, program: CProgram): Omit<LoopSegment, "fn"> | null {
  if (program.steps.length !== 1 || program.steps[0]!.kind !== "c") return null;
  // A module part's failure (a collective's) is raised by the host call, not retried by it.
  if (program.parts.length > 0) return null;
  const seg = program.steps[0]!.segment;
  const outs = fgraph.outputs;
  if (seg.exports.length !== outs.length || new Set(outs).size !== outs.length) return null;
  const exportPos = seg.exports.map((v) => outs.indexOf(v));
  if (exportPos.some((o) => o < 0)) return null;
  if (seg.exports.some((v) => inplaceInput(v, seg.inputs) >= 0)) return null;
  const constants = new Map<number, NDArray>();
  const inputPos: number[] = [];
  for (const [i, v] of seg.inputs.entries()) {
    const k = fgraph.inputs.indexOf(v);
    if (k < 0 && !(v.isConstant && v.constantData instanceof NDArray)) return null;
    if (k < 0) constants.set(i, v.constantData as NDArray);
    inputPos.push(k);
  }
  return { seg, inputPos, constants, exportPos };
}

/**
 * Closes the module handle of a thunk that was garbage-collected without `free()`: the cache's
 * memo unloads a module when its last handle closes, so a long-running process that compiles
 * and drops functions keeps only the modules of the functions it still holds. Nothing can call
 * the thunk's native functions any more (they are only reachable from the thunk).
 */
const unloader = new FinalizationRegistry<{ close(): void }>((library) => library.close());

/** One FFI call (two when an export's size changed since the previous call). */
function runSegment(c: SegmentCall, env: Value[], program: CProgram): void {
  try {
    callSegment(c, env, program);
  } finally {
    forget(c);
  }
}

function callSegment(c: SegmentCall, env: Value[], program: CProgram): void {
  const { meta, args, ptrs, pbase, seg } = c;
  let m = 0;
  const nin = c.inSlots.length;
  for (let i = 0; i < nin; i++) {
    let a = env[c.inSlots[i]!] as NDArray;
    if (!(a instanceof NDArray)) throw new BackendError(`C segment ${seg.fn}: input ${seg.inputs[i]!.label} is not an array (got ${typeof a})`);
    // The generated code reads memory as the variable's dtype: never pass another one.
    if (a.dtype !== c.inDtypes[i]) a = a.astype(c.inDtypes[i]!);
    const nd = c.inNd[i]!;
    const shape = a.shape;
    if (shape.length !== nd) throw new ShapeError(`C segment ${seg.fn}: input ${seg.inputs[i]!.label} has rank ${shape.length}, its type says ${nd}`);
    const strides = a.strides;
    // The elements C may read: offset plus the extreme reachable steps (negative strides lower
    // the first one). NDArray checks this when it is made, but its memory can shrink afterwards
    // (a resizable ArrayBuffer resized, a buffer detached by transfer): C would read past the end.
    const off = a.offset;
    let lo = off;
    let hi = off;
    let empty = false;
    for (let d = 0; d < nd; d++) {
      const n = shape[d]!;
      const st = strides[d]!;
      meta[m + d] = n;
      meta[m + nd + d] = st;
      if (n === 0) empty = true;
      else if (st > 0) hi += (n - 1) * st;
      else lo += (n - 1) * st;
    }
    const data = a.data;
    if (!empty && (lo < 0 || hi >= data.length)) throw outOfBounds(seg.inputs[i]!, shape, lo, hi, data.length);
    meta[m + 2 * nd] = off;
    m += 2 * nd + 1;
    ptrs[pbase + i] = data;
  }
  const nex = c.exSlots.length;
  const bufs = c.bufs;
  // First guess: the sizes of the previous call (the common case: one call). A borrowed output
  // reuses the previous call's buffer (no fresh pages to fault in) unless an input is in it.
  for (let q = 0; q < nex; q++) {
    const n = c.lastSizes[q]!;
    const old = c.prev[q];
    bufs[q] =
      smallBuffer(c, q, n) ??
      overwritable(c, q, n, env) ??
      (old && old.length === n && !inputUses(ptrs, pbase, nin, old.buffer) ? old : allocData(c.exDtypes[q]!, [n < 0 ? 0 : n]));
    meta[c.capBase + q] = n;
    ptrs[pbase + nin + q] = bufs[q];
  }
  let rc = c.fn(...args) as number;
  if (rc === -1) {
    let k = 0;
    for (let q = 0; q < nex; q++) {
      // C checked every shape (th_too_large); allocData names the shape and bytes if the
      // runtime will not give that much memory (issue 13.3).
      const shape = Array.from(c.oshape.subarray(k, (k += c.exNd[q]!)));
      const n = shapeSize(shape);
      bufs[q] = smallBuffer(c, q, n) ?? overwritable(c, q, n, env) ?? allocData(c.exDtypes[q]!, shape);
      // Only a size that was allocated becomes the next call's first guess.
      c.lastSizes[q] = n;
      meta[c.capBase + q] = n;
      ptrs[pbase + nin + q] = bufs[q];
    }
    rc = c.fn(...args) as number;
  }
  if (rc !== 0) throw segmentError(c, rc, env, program);
  // A small result leaves in an array of its own, copied out of the scratch buffer.
  for (let q = 0; q < nex; q++) if (c.small[q]) bufs[q] = bufs[q]!.slice(0, c.lastSizes[q]!);
  for (let q = 0; q < nex; q++) if (c.reuse[q]) c.prev[q] = bufs[q]!;
  let k = 0;
  for (let q = 0; q < nex; q++) {
    const nd = c.exNd[q]!;
    const shape = new Array<number>(nd);
    for (let d = 0; d < nd; d++) shape[d] = c.oshape[k++]!;
    env[c.exSlots[q]!] = NDArray.fresh(c.exDtypes[q]!, shape, bufs[q]!); // C checked the shape against the buffer's capacity
  }
}

/**
 * Drops the call's references to the arrays it was given and made (issue 13.10): the argument
 * slots would otherwise keep the last call's inputs, shared values among them, alive after the
 * caller disposes them or frees the function. Only `prev` (borrowed outputs, which the caller
 * agreed the next call may overwrite) survives a call.
 */
function forget(c: SegmentCall): void {
  const { ptrs, pbase, bufs } = c;
  for (let i = pbase; i < ptrs.length; i++) ptrs[i] = null;
  bufs.fill(undefined as unknown as TypedArray);
}

/** The InputError of an array whose elements lie outside its memory (see runSegment). */
function outOfBounds(v: Variable, shape: readonly number[], lo: number, hi: number, length: number): InputError {
  const why = length === 0 ? "its buffer is empty or detached" : "its buffer shrank after the array was made (a resized ArrayBuffer)";
  return new InputError(
    `input ${v.label} of shape [${shape.join(", ")}] reaches elements ${lo}..${hi} of memory that now holds ${length}: ${why}; pass an array over live memory (copy it, or make a new NDArray after resizing)`,
  );
}

/** A function's kept intermediates, released after `intermediateRelease.idleMs` without a call. */
interface IdleEntry {
  last: number;
  release(): void;
}

/**
 * How long a function keeps its intermediates without being called, under allow_gc=True (tests
 * shorten it). One unreferenced timer sweeps every such function.
 */
export const intermediateRelease = { idleMs: 1000 };
const holding = new Set<IdleEntry>();
let sweeper: ReturnType<typeof setInterval> | null = null;

function touchIdle(e: IdleEntry): void {
  e.last = performance.now();
  if (holding.has(e)) return;
  holding.add(e);
  if (sweeper === null && typeof setInterval === "function") {
    const every = Math.max(10, Math.min(500, intermediateRelease.idleMs / 2));
    sweeper = setInterval(() => {
      const now = performance.now();
      for (const h of holding) {
        if (now - h.last < intermediateRelease.idleMs) continue;
        h.release();
        holding.delete(h);
      }
      if (holding.size === 0 && sweeper !== null) {
        clearInterval(sweeper);
        sweeper = null;
      }
    }, every);
    (sweeper as { unref?: () => void }).unref?.();
  }
}

/**
 * The values whose memory an output of `fgraph` may share (see `reusable`): the outputs, and
 * followed back, every input of a host node that makes one and the destroyed input of an
 * in-place export.
 */
function callerVisible(fgraph: FunctionGraph, program: CProgram): Set<Variable> {
  const seen = new Set<Variable>(fgraph.outputs);
  for (let i = program.steps.length - 1; i >= 0; i--) {
    const st = program.steps[i]!;
    if (st.kind === "host") {
      if (st.node.outputs.some((o) => seen.has(o))) for (const v of st.node.inputs) seen.add(v);
      continue;
    }
    for (const v of st.segment.exports) {
      const k = seen.has(v) ? inplaceInput(v, st.segment.inputs) : -1;
      if (k >= 0) seen.add(st.segment.inputs[k]!);
    }
  }
  return seen;
}

/** The segment input (index) that the node of export `v` may overwrite, or -1 (see `inplaceIn`). */
function inplaceInput(v: Variable, inputs: readonly Variable[]): number {
  const node = v.owner;
  // the in-place ops whose C generators write over the operand when it is handed over as the output
  if (!node || !(node.op instanceof Gemm || node.op instanceof IncSubtensor || node.op instanceof AdvancedIncSubtensor) || !node.op.inplace) return -1;
  const destroyed = node.op.destroyMap.get(v.index)?.[0];
  return destroyed === undefined ? -1 : inputs.indexOf(node.inputs[destroyed]!);
}

/**
 * The destroyed operand's memory as export q's buffer, when it is exactly the output's layout (C
 * order from offset 0, n elements, the export's dtype) and no other input of the segment shares
 * it; else null (the export gets its own buffer, and C copies the operand first).
 */
function overwritable(c: SegmentCall, q: number, n: number, env: Value[]): TypedArray | null {
  const i = c.inplaceIn[q]!;
  if (i < 0 || n < 0) return null;
  const a = env[c.inSlots[i]!] as NDArray;
  if (a.dtype !== c.exDtypes[q] || a.offset !== 0 || !a.isContiguous || a.data.length !== n) return null;
  const buffer = a.data.buffer;
  for (let j = 0; j < c.inSlots.length; j++) if (j !== i && (env[c.inSlots[j]!] as NDArray).data.buffer === buffer) return null;
  return a.data;
}

/**
 * Results of at most this many bytes are written into a per-export scratch buffer and copied
 * out into a fresh array (issue 15.5). Handing C a fresh typed array makes V8 materialise its
 * ArrayBuffer (small typed arrays live on the JS heap until their memory is asked for): about
 * 1.1 µs, against 0.13 µs for the whole FFI call with persistent buffers and 0.04 µs for the
 * copy. 64 bytes is V8's limit for typed arrays on the JS heap: larger ones are allocated
 * outside it anyway, and materialising them costs nothing more.
 */
const SMALL_EXPORT_BYTES = 64;

/**
 * The scratch buffer of export q when a result of n elements is small (and the export is
 * neither kept for reuse nor written in place over an input), else null; marks `small[q]`.
 */
function smallBuffer(c: SegmentCall, q: number, n: number): TypedArray | null {
  const dtype = c.exDtypes[q]!;
  const cap = SMALL_EXPORT_BYTES / itemsize(dtype);
  const use = n >= 0 && n <= cap && !c.reuse[q] && c.inplaceIn[q]! < 0;
  c.small[q] = use;
  if (!use) return null;
  return (c.scratch[q] ??= allocData(dtype, [cap]));
}

/** Whether one of the segment's input arrays lives in `buffer`. */
function inputUses(ptrs: readonly unknown[], pbase: number, nin: number, buffer: ArrayBufferLike): boolean {
  for (let i = 0; i < nin; i++) if ((ptrs[pbase + i] as TypedArray).buffer === buffer) return true;
  return false;
}

/**
 * The error a segment's return code stands for: a ShapeError naming the node, the error of a
 * node's module part (codegen `partError`), or a BackendError.
 */
function segmentError(c: SegmentCall, rc: number, env: Value[], program: CProgram): Error {
  const seg = c.seg;
  const order = program.order;
  const nul = c.err.indexOf(0);
  const msg = new TextDecoder().decode(c.err.subarray(0, nul < 0 ? c.err.length : nul));
  const inputsOf = (node: Apply): unknown[] => node.inputs.map((v) => (seg.inputs.includes(v) ? env[c.inSlots[seg.inputs.indexOf(v)]!] : undefined));
  if (rc > 0) {
    const node = order[rc - 1]!;
    return wrapNodeError(new ShapeError(msg), node, inputsOf(node), order);
  }
  const part = order[partErrorNode(rc)];
  if (part) return wrapNodeError(program.partOf.get(part)?.error(part, msg) ?? new BackendError(msg), part, inputsOf(part), order);
  return new BackendError(rc === -1 ? `C segment ${seg.fn} asked twice for new output sizes` : `C segment ${seg.fn} failed: ${msg || `code ${rc}`}`);
}

let warnedAuto = false;

/** What `linker=auto` picks here and why (the reason `theano-ts check` prints). */
export interface AutoChoice {
  readonly linker: Linker;
  readonly why: string;
}

/** The linker when C cannot run: WebAssembly where the runtime has it, else JS. */
function withoutC(): Linker {
  return wasmApi() ? wasmLinker : jsLinker;
}

/** `linker=auto`'s order: C when a working compiler is found, else WebAssembly, else JS. */
export function autoLinkerChoice(): AutoChoice {
  const status = cCompilerStatus();
  if (status.ok) return { linker: cAutoLinker, why: `a C compiler works (${status.compiler!.command} built, loaded and ran a test module)` };
  const linker = withoutC();
  return { linker, why: `the C backend is unavailable (${status.reason})${linker === wasmLinker ? "" : " and this runtime has no WebAssembly"}` };
}

/** `linker=auto`: C when a working compiler is found, else WebAssembly, else JS; one warning when not C. */
export function autoLinker(): Linker {
  const choice = autoLinkerChoice();
  if (choice.linker !== cAutoLinker) warnAutoFallback(cCompilerStatus().reason);
  return choice.linker;
}

/** The one warning per process that `linker=auto` runs without C, and why. */
function warnAutoFallback(reason: string): void {
  if (warnedAuto) return;
  warnedAuto = true;
  const wasm = withoutC() === wasmLinker;
  warn(`theano-ts: the C backend is unavailable (${reason}); using the ${wasm ? "WebAssembly" : "JS"} backend (set THEANO_FLAGS=linker=${wasm ? "wasm" : "js"} to silence this warning).`);
}
