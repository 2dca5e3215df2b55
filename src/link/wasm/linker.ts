/**
 * The `wasm` linker: one WebAssembly module per compiled function, written as bytes at run time
 * by ./emitter.ts (no toolchain), validated and compiled with the engine's `WebAssembly.Module`.
 * Every node with a Wasm generator (ops/elemwise.ts: Elemwise and fused Composites on
 * float32/float64; ops/reduce.ts: CAReduce sum/max/min; ops/blas.ts: Dot and Gemm on
 * float32/float64; ops/nnet.ts: Softmax and LogSoftmax) gets one exported kernel (identical kernels are shared); every other node
 * runs its `perform` on the host between them, as in the C linker.
 *
 * Memory is one Wasm memory per function. A call allocates from its start (bump allocation
 * plus first fit among blocks freed after their last reader, reset per call; the memory grows
 * as needed and stays grown for later calls). A host value
 * that a kernel reads is copied in once (the span its strides cover, so views keep their
 * layout); a kernel's result stays in Wasm memory for later kernels (consecutive kernels form a
 * segment with no copies between them) and is copied out once, when a host node or the caller
 * needs it. Shapes are checked on the host (Elemwise.checkShapes, the js linker's check)
 * before each kernel runs, so generated code never reads or writes out of bounds.
 *
 * Modules are cached (./cache.ts): compiled once per process by their bytes, and in Node the
 * emitted program is kept in the compile cache, keyed by the graph's signature, so a new process
 * skips code generation.
 */

import { BackendError, ShapeError } from "../../errors.js";
import type { Apply, Value, Variable } from "../../graph/basic.js";
import { FunctionGraph } from "../../graph/fgraph.js";
import { type DType, type TypedArray, itemsize } from "../../ndarray/dtype.js";
import { NDArray, allocData, shapeSize } from "../../ndarray/ndarray.js";
import { Dot } from "../../tensor/blas.js";
import { DimShuffle, Elemwise } from "../../tensor/elemwise.js";
import { Gemm } from "../../tensor/gemm.js";
import { LogSoftmax, Softmax } from "../../tensor/nnet.js";
import { CAReduce } from "../../tensor/math.js";
import type { TensorType } from "../../tensor/type.js";
import { wrapNodeError } from "../errors.js";
import { jsLinker } from "../js/linker.js";
import { planMemory } from "../memory.js";
import type { LinkOptions, Linker, Thunk } from "../types.js";
import { Composite, type Ref } from "../../scalar/composite.js";
import { type StoredProgram, cachedProgram, compileModule, wasmCacheStats } from "./cache.js";
import { type FunctionBuilder, ModuleBuilder, type WasmMemory, wasmApi, wasmRelaxedSimdSupported, wasmSimdSupported } from "./emitter.js";
import { type JsImport, elemwiseImports, elemwiseKernel, staticOperands, wasmElemwiseSupported } from "./ops/elemwise.js";
import { blasKernel, blasShapes, gemmRowTile, gemmScratchBytes, wasmBlasSupported } from "./ops/blas.js";
import { THREAD_MIN_FLOPS, ThreadGroup, threadsUsable, wasmThreads } from "./threads.js";
import { nnetImports, softmaxKernel, wasmNnetSupported } from "./ops/nnet.js";
import { reduceKernel, wasmReduceSupported } from "./ops/reduce.js";

const PAGE = 65536;
/** wasm32 addresses: 4 GiB, the engine's limit on one memory. */
const MAX_PAGES = 65536;

/** A value living in the function's Wasm memory: byte address of element 0 and byte strides. */
interface Resident {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly ptr: number;
  readonly strides: readonly number[];
}

type Kernel = (...args: number[]) => void;

/** A span of the function's Wasm memory: start and length in bytes (multiples of 16). */
interface Block {
  readonly at: number;
  readonly bytes: number;
}

/** Whether the wasm linker has a generator for this node. */
export function wasmSupported(node: Apply): boolean {
  return wasmElemwiseSupported(node) || wasmReduceSupported(node) || wasmBlasSupported(node) || wasmNnetSupported(node);
}

/** The module of one function: its bytes, and per node the export that runs it (or null: host). */
export interface WasmProgram {
  readonly bytes: Uint8Array;
  readonly kernelOf: ReadonlyArray<string | null>;
  readonly imports: ReadonlyMap<string, JsImport>;
}

/** The JS functions the kernels of `order` import, by key, in the module's import order. */
function programImports(order: readonly Apply[]): Map<string, JsImport> {
  const imports = new Map<string, JsImport>();
  for (const node of order) if (wasmSupported(node)) for (const imp of [...elemwiseImports(node), ...nnetImports(node)]) imports.set(imp.key, imp);
  return imports;
}

/**
 * What the generators read of the graph, as a string (./cache.ts keys programs by it): per node
 * "host", or its op's key (class and props), a Composite's steps with their dtypes, and its
 * input and output types; then the engine features the bytes depend on.
 */
export function programSignature(order: readonly Apply[], simd = wasmSimdSupported(), relaxed = wasmRelaxedSimdSupported(), shared = false): string {
  const ref = (r: Ref): string => ("input" in r ? `i${r.input}` : `t${r.step}`);
  const nodes = order.map((node) => {
    if (!wasmSupported(node)) return "host";
    const op = node.op;
    const sop = op instanceof Elemwise ? op.scalarOp : null;
    const steps = sop instanceof Composite ? `[${sop.inputDtypes.join(",")}]${sop.steps.map((st) => `${st.op.name}(${st.args.map(ref).join(",")}):${st.dtype}`).join(";")}` : "";
    return `${op.key}${steps}(${node.inputs.map((v) => String(v.type)).join(",")})->(${node.outputs.map((v) => String(v.type)).join(",")})`;
  });
  return `simd=${simd},relaxed=${relaxed},shared=${shared}\n${nodes.join("\n")}`;
}

/** `shared`: the module imports a shared memory (products split across threads, ./threads.ts). */
export function generateWasm(order: readonly Apply[], simd = wasmSimdSupported(), shared = false): WasmProgram {
  const m = new ModuleBuilder();
  const imports = programImports(order);
  const importIdx = new Map<string, number>();
  for (const [key, imp] of imports) importIdx.set(key, m.importFunction("js", key, new Array(imp.arity).fill("f64"), ["f64"]));
  m.importMemory("env", "mem", 1, MAX_PAGES, shared);
  // Identical kernels are exported once: the same builder (the GEMM of a dtype), or the same bytes.
  const byBody = new Map<string, string>();
  const byBuilder = new Map<FunctionBuilder, string>();
  const kernelOf = order.map((node) => {
    if (!wasmSupported(node)) return null;
    const importIndex = (key: string): number => importIdx.get(key)!;
    const fn = wasmBlasSupported(node)
      ? blasKernel(node)
      : wasmNnetSupported(node)
        ? softmaxKernel(node, importIndex)
        : wasmReduceSupported(node)
          ? reduceKernel(node)
          : elemwiseKernel(node, importIndex, simd);
    const known = byBuilder.get(fn);
    if (known) return known;
    const body = `${fn.params.join(",")}:${fn.encode().join(",")}`;
    let name = byBody.get(body);
    if (!name) {
      name = `k${byBody.size}`;
      byBody.set(body, name);
      m.addFunction(fn, name);
    }
    byBuilder.set(fn, name);
    return name;
  });
  return { bytes: m.encode(), kernelOf, imports };
}

/** Merges axes where every operand (and the contiguous output) steps uniformly; drops size-1 axes. */
function coalesce(shape: readonly number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const dims: Array<{ n: number; s: number[] }> = [];
  shape.forEach((n, ax) => {
    if (n !== 1) dims.push({ n, s: strides.map((st) => st[ax]!) });
  });
  const out: Array<{ n: number; s: number[] }> = [];
  for (const d of dims) {
    const prev = out[out.length - 1];
    // prev is the outer axis: mergeable when its stride is the inner one's times the inner size.
    if (prev && prev.s.every((s, k) => s === d.s[k]! * d.n)) {
      prev.n *= d.n;
      prev.s = d.s;
    } else out.push({ n: d.n, s: [...d.s] });
  }
  return { shape: out.map((d) => d.n), strides: strides.map((_st, k) => out.map((d) => d.s[k]!)) };
}

export const wasmLinker: Linker = {
  name: "wasm",
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk {
    const t0 = performance.now();
    const api = wasmApi();
    if (!api) throw new BackendError("linker=wasm: this JavaScript runtime has no WebAssembly object; use linker=js");
    const order = fgraph.toposort();
    const importOf = programImports(order);
    // A function with a product gets a shared memory where threads can split products.
    const threaded = order.some(wasmBlasSupported) && threadsUsable();
    const compilesBefore = wasmCacheStats.compiles;
    // A program loaded from the cache must have a kernel exactly where a node has a generator,
    // these imports in this order, and compile with those exports; else the entry is corrupt.
    const check = (p: StoredProgram): string | null => {
      if (p.kernelOf.length !== order.length || order.some((node, k) => (p.kernelOf[k] !== null) !== wasmSupported(node))) return "its kernels do not match the graph's nodes";
      if (p.imports.join("\0") !== [...importOf.keys()].join("\0")) return "its imports do not match the graph's";
      if (!p.kernelOf.some((k) => k !== null)) return null;
      try {
        const names = new Set(api.Module.exports(compileModule(api, p.bytes).module).map((e) => e.name));
        const missing = p.kernelOf.find((k) => k !== null && !names.has(k));
        return missing ? `the module has no export ${missing}` : null;
      } catch (e) {
        return `the engine refuses the module (${(e as Error).message})`;
      }
    };
    const build = (): StoredProgram => {
      const g = generateWasm(order, wasmSimdSupported(), threaded);
      return { bytes: g.bytes, kernelOf: g.kernelOf, imports: [...g.imports.keys()] };
    };
    const { program: prog, from } = cachedProgram(programSignature(order, wasmSimdSupported(), wasmRelaxedSimdSupported(), threaded), build, check, `${opts?.name ?? "theano_function"} (${fgraph.nodes.size} nodes)`);
    const t1 = performance.now();
    const mem = new api.Memory({ initial: 1, maximum: MAX_PAGES, ...(threaded ? { shared: true } : {}) });
    let kernels: Record<string, unknown> = {};
    let mod: object | null = null;
    if (prog.kernelOf.some((k) => k !== null)) {
      try {
        mod = compileModule(api, prog.bytes).module;
      } catch (e) {
        throw new BackendError(`linker=wasm: the engine refused the generated module (${prog.bytes.length} bytes): ${(e as Error).message}`);
      }
      const js: Record<string, unknown> = {};
      for (const [key, imp] of importOf) js[key] = imp.fn;
      kernels = new api.Instance(mod!, { env: { mem }, js }).exports;
    }
    // The workers' instances of this module over `mem`, made at the first product split.
    let group: ThreadGroup | null = null;
    const nThreads = threaded ? wasmThreads() : 1;
    const fns = prog.kernelOf.map((name) => (name ? (kernels[name] as Kernel) : null));
    order.forEach((node, k) => (node.tag.backend = fns[k] ? "wasm" : "host"));
    const stat = order.map((node, k) => (fns[k] ? staticOperands(node) : []));
    // A host Elemwise (no Wasm generator: integer operands, say) runs the js backend's generated
    // loop for its node rather than perform (the same values, several times faster); not in place.
    const hostJs = order.map((node, k) => {
      if (fns[k] || !(node.op instanceof Elemwise) || node.op.inplaceInput >= 0 || node.outputs.length !== 1) return null;
      const ins = [...new Set(node.inputs.filter((v) => !v.isConstant))];
      try {
        return { thunk: jsLinker.make(new FunctionGraph(ins, node.outputs)), ins };
      } catch {
        return null; // perform, as before
      }
    });
    const profiler = opts?.profiler;
    const t2 = performance.now();

    // Blocks of 16-byte multiples: bump from `top`, or first fit among blocks freed in this call.
    let top = 0;
    let lastTop: number | null = null;
    let freeBlocks: Block[] = [];
    const blockOf = new Map<number, Block>();
    const alloc = (bytes: number, dtype: DType, shape: readonly number[]): number => {
      const need = Math.max(16, Math.ceil(bytes / 16) * 16);
      const fit = freeBlocks.findIndex((b) => b.bytes >= need);
      if (fit >= 0) {
        const b = freeBlocks[fit]!;
        if (b.bytes === need) freeBlocks.splice(fit, 1);
        else freeBlocks[fit] = { at: b.at + need, bytes: b.bytes - need };
        blockOf.set(b.at, { at: b.at, bytes: need });
        return b.at;
      }
      const at = Math.max(top, 16);
      const end = at + need;
      if (end > MAX_PAGES * PAGE) throw new ShapeError(`linker=wasm: an array of shape [${shape.join(", ")}] (${dtype}) does not fit in the function's 4 GiB of WebAssembly memory`);
      const have = mem.buffer.byteLength;
      if (end > have) {
        try {
          mem.grow(Math.ceil((end - have) / PAGE));
        } catch {
          throw new ShapeError(`linker=wasm: the engine would not grow WebAssembly memory to ${end} bytes for an array of shape [${shape.join(", ")}] (${dtype})`);
        }
      }
      top = end;
      blockOf.set(at, { at, bytes: need });
      return at;
    };
    const release = (at: number): void => {
      const b = blockOf.get(at);
      if (!b) return;
      blockOf.delete(at);
      freeBlocks.push(b);
    };
    // The last node that reads each variable: its Wasm memory is free after it (outputs excepted).
    const lastUse = new Map<Variable, number>();
    order.forEach((node, k) => node.inputs.forEach((v) => lastUse.set(v, k)));
    const isOutput = new Set(fgraph.outputs);
    // A DimShuffle of a resident value is a view of its memory (run below): the viewed value
    // lives as long as its last view (and for good when a view is an output). Reverse order
    // carries this through chains of views.
    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k]!;
      if (!(node.op instanceof DimShuffle)) continue;
      const [x, o] = [node.inputs[0]!, node.outputs[0]!];
      lastUse.set(x, Math.max(lastUse.get(x)!, lastUse.get(o) ?? k));
      if (isOutput.has(o)) isOutput.add(x);
    }
    const dies: Variable[][] = order.map(() => []);
    for (const [v, k] of lastUse) dies[k]!.push(v);
    const ctors = new Map<DType, new (b: ArrayBuffer, o: number, n: number) => TypedArray>();
    const view = (dtype: DType, ptr: number, n: number): TypedArray => {
      let Ctor = ctors.get(dtype);
      if (!Ctor) ctors.set(dtype, (Ctor = allocData(dtype, [0]).constructor as new (b: ArrayBuffer, o: number, n: number) => TypedArray));
      return new Ctor(mem.buffer, ptr, n);
    };

    const run = (inputs: readonly Value[]): Value[] => {
      top = 0;
      freeBlocks = [];
      blockOf.clear();
      /** The block each resident value owns (its allocation's start). */
      const owned = new Map<Variable, number>();
      const host = new Map<Variable, Value>();
      const resident = new Map<Variable, Resident>();
      fgraph.inputs.forEach((v, i) => host.set(v, inputs[i]!));
      const hostValue = (v: Variable): Value => {
        if (host.has(v)) return host.get(v)!;
        if (v.isConstant) return v.constantData;
        const r = resident.get(v)!;
        const sz = itemsize(r.dtype);
        // The span the strides cover (a view keeps its layout on the host too).
        const n = shapeSize(r.shape);
        let lo = 0;
        let hi = 0;
        if (n > 0) {
          r.shape.forEach((d, i) => {
            const span = (d - 1) * r.strides[i]!;
            if (span < 0) lo += span;
            else hi += span;
          });
        }
        const len = n === 0 ? 0 : (hi - lo) / sz + 1;
        const data = (view(r.dtype, r.ptr + lo, len) as Float64Array).slice() as unknown as TypedArray;
        const a = new NDArray(r.dtype, r.shape, data, r.strides.map((st) => st / sz), -lo / sz);
        host.set(v, a);
        return a;
      };
      const shapeOf = (v: Variable): readonly number[] => resident.get(v)?.shape ?? (hostValue(v) as NDArray).shape;
      const copyIn = (v: Variable): Resident => {
        const got = resident.get(v);
        if (got) return got;
        const a = hostValue(v) as NDArray;
        const sz = itemsize(a.dtype);
        let lo = a.offset;
        let hi = a.offset;
        a.shape.forEach((d, i) => {
          const span = (d - 1) * a.strides[i]!;
          if (span < 0) lo += span;
          else hi += span;
        });
        const len = a.size === 0 ? 0 : hi - lo + 1;
        const base = alloc(len * sz, a.dtype, a.shape);
        if (len > 0) (view(a.dtype, base, len) as Float64Array).set(a.data.subarray(lo, hi + 1) as Float64Array);
        const r: Resident = { dtype: a.dtype, shape: a.shape, ptr: base + (a.offset - lo) * sz, strides: a.strides.map((s) => s * sz) };
        resident.set(v, r);
        owned.set(v, base);
        return r;
      };
      const scalarOf = (v: Variable): number => {
        const r = resident.get(v);
        if (r) return Number(view(r.dtype, r.ptr, 1)[0]);
        const a = hostValue(v) as NDArray;
        return Number(a.data[a.offset]);
      };

      const runKernel = (k: number, node: Apply, fn: Kernel): void => {
        const outShape = Elemwise.checkShapes(node, node.inputs.map(shapeOf));
        const outType = node.outputs[0]!.type as TensorType;
        const n = shapeSize(outShape);
        const osz = itemsize(outType.dtype);
        const out = alloc(n * osz, outType.dtype, outShape);
        resident.set(node.outputs[0]!, { dtype: outType.dtype, shape: outShape, ptr: out, strides: contiguousBytes(outShape, osz) });
        owned.set(node.outputs[0]!, out);
        if (n === 0) return;
        const st = stat[k]!;
        // Operands in input order: a value for each static one, a resident array for the others.
        const operands = node.inputs.map((v, j) => (st[j] ? scalarOf(v) : copyIn(v)));
        const dyn = operands.filter((x): x is Resident => typeof x !== "number");
        // Byte strides of each varying operand on the output's axes (0 where broadcast), then the output's.
        const strides = dyn.map((r) => r.strides.map((s, i) => (r.shape[i] === 1 && outShape[i] !== 1 ? 0 : s)));
        strides.push(contiguousBytes(outShape, osz));
        const c = coalesce(outShape, strides);
        const nd = c.shape.length;
        const n0 = nd >= 2 ? c.shape[nd - 2]! : 1;
        const n1 = nd >= 1 ? c.shape[nd - 1]! : 1;
        const inner = (ax: number, k2: number): number => (nd - 2 + ax >= 0 && nd - 2 + ax < nd ? c.strides[k2]![nd - 2 + ax]! : 0);
        const args: number[] = [0, n0, n1];
        const ptrArg: number[] = [];
        let j = 0;
        for (const x of operands) {
          if (typeof x === "number") args.push(x);
          else {
            ptrArg.push(args.length);
            args.push(x.ptr, inner(0, j), inner(1, j));
            j++;
          }
        }
        if (nd <= 2) {
          args[0] = out;
          fn(...args);
          return;
        }
        // Axes beyond two: an odometer on the host, one kernel call per 2-D block.
        const outer = c.shape.slice(0, nd - 2);
        const idx = new Array<number>(outer.length).fill(0);
        const blocks = shapeSize(outer);
        const oStrides = c.strides[dyn.length]!;
        for (let b = 0; b < blocks; b++) {
          let oOff = 0;
          const offs = dyn.map(() => 0);
          idx.forEach((x, ax) => {
            oOff += x * oStrides[ax]!;
            dyn.forEach((_r, j) => (offs[j]! += x * c.strides[j]![ax]!));
          });
          args[0] = out + oOff;
          dyn.forEach((r, j) => (args[ptrArg[j]!] = r.ptr + offs[j]!));
          fn(...args);
          for (let ax = outer.length - 1; ax >= 0; ax--) {
            if (++idx[ax]! < outer[ax]!) break;
            idx[ax] = 0;
          }
        }
      };

      /** A CAReduce; false (nothing allocated) when more than two reduced axes remain after merging. */
      const runReduce = (node: Apply, fn: Kernel): boolean => {
        const op = node.op as CAReduce;
        const x = node.inputs[0]!;
        const shape = shapeOf(x);
        const keep = shape.map((_d, i) => i).filter((i) => !op.axis.includes(i));
        const outShape = keep.map((i) => shape[i]!);
        const inner = shapeSize(op.axis.map((i) => shape[i]!));
        const outer = shapeSize(outShape);
        if (inner === 0 && outer > 0 && op.kind !== "add" && !op.emptyIdentity) {
          throw new ShapeError(`${op}: zero-size reduction over axes (${op.axis.join(", ")}) of shape [${shape.join(", ")}] has no identity`);
        }
        const r = outer > 0 ? copyIn(x) : null;
        const red = r ? coalesce(op.axis.map((i) => shape[i]!), [op.axis.map((i) => r.strides[i]!)]) : { shape: [], strides: [[]] };
        if (red.shape.length > 2) return false;
        const dout = (node.outputs[0]!.type as TensorType).dtype;
        const osz = itemsize(dout);
        const out = alloc(outer * osz, dout, outShape);
        resident.set(node.outputs[0]!, { dtype: dout, shape: outShape, ptr: out, strides: contiguousBytes(outShape, osz) });
        owned.set(node.outputs[0]!, out);
        if (!r) return true;
        const rs = red.strides[0]!;
        const nr = red.shape.length;
        const [nr0, sr0, nr1, sr1] = nr === 2 ? [red.shape[0]!, rs[0]!, red.shape[1]!, rs[1]!] : nr === 1 ? [1, 0, red.shape[0]!, rs[0]!] : [1, 0, 1, 0];
        const kc = coalesce(outShape, [keep.map((i) => r.strides[i]!)]);
        const nkd = kc.shape.length;
        const nk = nkd > 0 ? kc.shape[nkd - 1]! : 1;
        const sk = nkd > 0 ? kc.strides[0]![nkd - 1]! : 0;
        // Kept axes beyond one: an odometer on the host, one kernel call per row of results.
        const outerKeep = kc.shape.slice(0, Math.max(nkd - 1, 0));
        const idx = new Array<number>(outerKeep.length).fill(0);
        const blocks = shapeSize(outerKeep);
        for (let bl = 0; bl < blocks; bl++) {
          let off = 0;
          idx.forEach((i, ax) => (off += i * kc.strides[0]![ax]!));
          fn(out + bl * nk * osz, nk, sk, nr0, sr0, nr1, sr1, r.ptr + off);
          for (let ax = outerKeep.length - 1; ax >= 0; ax--) {
            if (++idx[ax]! < outerKeep[ax]!) break;
            idx[ax] = 0;
          }
        }
        return true;
      };

      /**
       * A Dot or Gemm: operands read through their strides, a contiguous result, scratch freed
       * after. Gemm{inplace} writes over z's own block when z is contiguous, owned, dead after this
       * node and apart from x and y (the kernel then skips its copy of z).
       */
      const runBlas = (node: Apply, fn: Kernel, k: number): void => {
        const s = blasShapes(node, node.inputs.map(shapeOf));
        const dout = (node.outputs[0]!.type as TensorType).dtype as "float32" | "float64";
        const osz = itemsize(dout);
        const ostrides = contiguousBytes(s.out, osz);
        const bytes = s.m * s.n * osz;
        const gemm = node.op instanceof Gemm;
        const empty = s.m === 0 || s.n === 0;
        const [xv, yv, zv] = gemm ? [node.inputs[2]!, node.inputs[3]!, node.inputs[0]!] : [node.inputs[0]!, node.inputs[1]!, null];
        const alpha = gemm ? scalarOf(node.inputs[1]!) : 1;
        const beta = gemm ? scalarOf(node.inputs[4]!) : 0;
        const x = empty ? null : copyIn(xv);
        const y = empty ? null : copyIn(yv);
        const z = empty || !zv || beta === 0 ? null : copyIn(zv);
        const zAt = zv ? owned.get(zv) : undefined;
        const inPlace =
          z !== null && zAt === z.ptr && (node.op as Gemm).inplace && z.strides.every((st, i) => st === ostrides[i] || s.out[i]! <= 1) &&
          dies[k]!.includes(zv!) && !isOutput.has(zv!) && !overlaps(x!, zAt, bytes) && !overlaps(y!, zAt, bytes);
        if (inPlace) {
          owned.delete(zv!);
          resident.delete(zv!);
        }
        const out = inPlace ? zAt! : alloc(bytes, dout, s.out);
        resident.set(node.outputs[0]!, { dtype: dout, shape: s.out, ptr: out, strides: ostrides });
        owned.set(node.outputs[0]!, out);
        if (!x || !y) return;
        // (row, column) byte strides; a vector operand is one row of A or one column of B.
        const [as0, as1] = x.shape.length === 2 ? x.strides : [0, x.strides[0]!];
        const [bs0, bs1] = y.shape.length === 2 ? y.strides : [y.strides[0]!, 0];
        const [zp, zs0, zs1] = inPlace ? [out, ostrides[0]!, ostrides[1]!] : z ? [z.ptr, z.strides[0]!, z.strides[1]!] : [0, 0, 0];
        // Large products: blocks of rows (multiples of the register tile, at least 32 rows, about
        // four per thread) claimed by several threads, each with its own scratch.
        const tile = gemmRowTile(dout);
        const rows = Math.max(Math.ceil(32 / tile), Math.ceil(s.m / (4 * nThreads) / tile)) * tile;
        const parts = s.m * s.n * s.k >= THREAD_MIN_FLOPS ? Math.min(nThreads, Math.ceil(s.m / rows)) : 1;
        const scratch = Array.from({ length: parts }, () => alloc(gemmScratchBytes(dout, s.n), dout, [s.n]));
        const args = [out, s.m, s.n, s.k, x.ptr, as0!, as1!, y.ptr, bs0!, bs1!, zp, zs0, zs1, alpha, beta, scratch[0]!];
        try {
          if (parts <= 1) fn(...args);
          else {
            group ??= new ThreadGroup(mod!, mem, thunk);
            group.run(Number(prog.kernelOf[k]!.slice(1)), args, rows, s.n * osz, scratch, (a) => fn(...a));
          }
        } finally {
          for (const at of scratch) release(at);
        }
      };

      /** Softmax/LogSoftmax; false (nothing allocated) when an axis=null lane does not merge into one stride. */
      const runSoftmax = (node: Apply, fn: Kernel): boolean => {
        const axis = (node.op as Softmax).axis;
        const x = node.inputs[0]!;
        const shape = shapeOf(x);
        const dt = (node.outputs[0]!.type as TensorType).dtype;
        const osz = itemsize(dt);
        const n = shapeSize(shape);
        const r = n > 0 ? copyIn(x) : null;
        const os = contiguousBytes(shape, osz);
        const laneAxes = axis === null ? shape.map((_d, i) => i) : [axis];
        const keep = shape.map((_d, i) => i).filter((i) => !laneAxes.includes(i));
        const ln = r ? coalesce(laneAxes.map((i) => shape[i]!), [laneAxes.map((i) => r.strides[i]!), laneAxes.map((i) => os[i]!)]) : null;
        if (ln && ln.shape.length > 1) return false;
        const out = alloc(n * osz, dt, shape);
        resident.set(node.outputs[0]!, { dtype: dt, shape, ptr: out, strides: os });
        owned.set(node.outputs[0]!, out);
        if (!r || !ln) return true;
        const [len, xse, ose] = ln.shape.length === 1 ? [ln.shape[0]!, ln.strides[0]![0]!, ln.strides[1]![0]!] : [1, 0, 0];
        const kc = coalesce(keep.map((i) => shape[i]!), [keep.map((i) => r.strides[i]!), keep.map((i) => os[i]!)]);
        const nkd = kc.shape.length;
        const [nl, xsl, osl] = nkd > 0 ? [kc.shape[nkd - 1]!, kc.strides[0]![nkd - 1]!, kc.strides[1]![nkd - 1]!] : [1, 0, 0];
        // Kept axes beyond one: an odometer on the host, one kernel call per row of lanes.
        const outer = kc.shape.slice(0, Math.max(nkd - 1, 0));
        const idx = new Array<number>(outer.length).fill(0);
        for (let b = 0, blocks = shapeSize(outer); b < blocks; b++) {
          let xo = 0;
          let oo = 0;
          idx.forEach((v, ax) => {
            xo += v * kc.strides[0]![ax]!;
            oo += v * kc.strides[1]![ax]!;
          });
          fn(out + oo, osl, ose, r.ptr + xo, xsl, xse, nl, len);
          for (let ax = outer.length - 1; ax >= 0; ax--) {
            if (++idx[ax]! < outer[ax]!) break;
            idx[ax] = 0;
          }
        }
        return true;
      };

      const freeDead = (_node: Apply, k: number): void => {
        for (const v of dies[k]!) {
          const at = owned.get(v);
          if (at === undefined || isOutput.has(v)) continue;
          owned.delete(v);
          resident.delete(v);
          release(at);
        }
      };

      order.forEach((node, k) => {
        const t = profiler ? performance.now() : 0;
        const fn = fns[k];
        let done = false;
        if (fn) {
          try {
            if (node.op instanceof CAReduce) done = runReduce(node, fn);
            else if (node.op instanceof Softmax || node.op instanceof LogSoftmax) done = runSoftmax(node, fn);
            else {
              if (node.op instanceof Dot || node.op instanceof Gemm) runBlas(node, fn, k);
              else runKernel(k, node, fn);
              done = true;
            }
          } catch (e) {
            throw wrapNodeError(e, node, node.inputs.map((v) => safeValue(() => hostValue(v))), order);
          }
        }
        // A DimShuffle of a resident value: the same memory through permuted strides, no copy.
        const x = node.inputs[0];
        if (node.op instanceof DimShuffle && x && resident.has(x) && !host.has(x)) {
          const r = resident.get(x)!;
          const op = node.op;
          if (op.drop.every((d) => r.shape[d] === 1)) {
            const pick = (p: number | "x", of: readonly number[], dflt: number): number => (p === "x" ? dflt : of[p]!);
            resident.set(node.outputs[0]!, { dtype: r.dtype, shape: op.pattern.map((p) => pick(p, r.shape, 1)), ptr: r.ptr, strides: op.pattern.map((p) => pick(p, r.strides, 0)) });
            done = true;
          }
        }
        if (done) {
          if (profiler) profiler.record(node, t, performance.now() - t);
          freeDead(node, k);
          return;
        }
        const args = node.inputs.map(hostValue);
        let outs: Value[];
        try {
          const hj = hostJs[k];
          if (hj) {
            // perform's shape check (and error), then the generated loop, which cannot fail.
            Elemwise.checkShapes(node, args.map((a) => (a as NDArray).shape));
            outs = hj.thunk(hj.ins.map(hostValue));
          } else outs = node.op.perform(node, args);
        } catch (e) {
          throw wrapNodeError(e, node, args, order);
        }
        node.outputs.forEach((o, j) => host.set(o, outs[j]!));
        if (profiler) profiler.record(node, t, performance.now() - t, args);
        freeDead(node, k);
      });
      const result = fgraph.outputs.map((v) => hostValue(v));
      lastTop = top;
      return result;
    };

    const thunk: Thunk = (inputs) => run(inputs);
    const layout = planMemory(fgraph, order);
    // lastPeakBytes: the Wasm memory the last call used (its results and the inputs copied in).
    thunk.memoryPlan = {
      staticPeakBytes: layout.staticPeakBytes,
      buffers: layout.fresh.size,
      get lastPeakBytes() {
        return lastTop;
      },
    };
    // Kernel results are copied out into fresh memory: fresh unless listed twice.
    thunk.freshOutputs = fgraph.outputs.map((o) => {
      const k = o.owner ? order.indexOf(o.owner) : -1;
      return k >= 0 && fns[k] !== null && fgraph.outputs.indexOf(o) === fgraph.outputs.lastIndexOf(o);
    });
    // compiled: WebAssembly compilation ran for this function; cacheLoads: its program or module came from a cache.
    const compiled = wasmCacheStats.compiles > compilesBefore ? 1 : 0;
    const cached = from !== "built";
    thunk.linkStats = {
      codegenMs: cached ? 0 : t1 - t0,
      compileMs: t2 - t1,
      cacheLoadMs: cached ? t1 - t0 : 0,
      compiled,
      cacheLoads: cached || (compiled === 0 && fns.some((f) => f)) ? 1 : 0,
    };
    thunk.source = `wasm module: ${prog.bytes.length} bytes (${from === "built" ? "generated" : `from the ${from === "disk" ? "compile cache" : "process's cache"}`}), kernels ${[...new Set(prog.kernelOf.filter((x) => x))].join(", ") || "none"}; imports ${prog.imports.join(", ") || "none"}`;
    return thunk;
  },
};

/** Whether the bytes a resident value's strides reach meet [at, at + bytes). */
function overlaps(r: Resident, at: number, bytes: number): boolean {
  if (bytes === 0 || r.shape.some((d) => d === 0)) return false;
  const sz = itemsize(r.dtype);
  let lo = r.ptr;
  let hi = r.ptr + sz;
  r.shape.forEach((d, i) => {
    const span = (d - 1) * r.strides[i]!;
    if (span < 0) lo += span;
    else hi += span;
  });
  return lo < at + bytes && at < hi;
}

function contiguousBytes(shape: readonly number[], sz: number): number[] {
  const s = new Array<number>(shape.length);
  let acc = sz;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= Math.max(shape[i]!, 1);
  }
  return s;
}

function safeValue(f: () => Value): Value | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
