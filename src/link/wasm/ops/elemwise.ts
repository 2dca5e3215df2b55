/**
 * Wasm generators for Elemwise nodes and fused Composites on float32/float64 (and bool
 * comparison results): one function per node computing a two-dimensional block of the output,
 * `kernel(out, n0, n1, [ptr, stride0, stride1] per operand that varies, value per operand of
 * static size 1)`, with byte pointers and byte strides (0 on broadcast axes). The host
 * (../linker.ts) checks shapes, merges axes and loops over any axes beyond two.
 *
 * Each step of the program (a Composite's steps, or the one row of a plain Elemwise) is
 * rendered from its scalar-table row:
 * - arithmetic with a Wasm instruction (add, sub, mul, trueDiv, neg, abs, sqrt, sqr, inv,
 *   floor, ceil, trunc, roundHalfToEven, minimum, maximum, clip, identity/cast) is computed in
 *   float32 when every operand is float32 (for these operations rounding the exact result once
 *   equals the JS backend's double-then-fround), else in float64;
 * - NumPy's minimum/maximum (NaN from either side, of equal zeros the second) are selects,
 *   not f32.min (which orders -0 below +0);
 * - comparisons, isnan and isinf give bool (0/1); where selects on a bool condition;
 * - sigmoid is $.sigmoid's own float64 arithmetic around an imported Math.exp (float64 steps);
 *   on float32 steps exp, tanh and sigmoid use a float64 exp written in Wasm (`exp32`), within
 *   1 ulp of the JS backend and equal to it for all but about 1 value in 10^7;
 * - every other float row whose JS template is one call, `Math.f(...)` or `$.f(...)` (exp, log,
 *   tanh, erf, pow, ...), calls that same JS function, imported into the module, on float64
 *   and rounds to float32 where the step is float32: bit-identical to the JS backend.
 * A program whose operands and steps all share one float dtype and use only instruction
 * operations also gets a v128 loop (f32x4 / f64x2) for rows where every operand is contiguous.
 */

import type { Apply } from "../../../graph/basic.js";
import { type DType, isInteger, itemsize } from "../../../ndarray/dtype.js";
import { Composite, type Ref, type Step } from "../../../scalar/composite.js";
import * as M from "../../../scalar/math.js";
import { renderTemplate } from "../../../scalar/table.js";
import { Elemwise } from "../../../tensor/elemwise.js";
import type { TensorType } from "../../../tensor/type.js";
import { FunctionBuilder, type MemOp, type PlainOp, type SimdOp, type ValType } from "../emitter.js";

type WDType = "float32" | "float64" | "bool";
const isW = (d: DType): d is WDType => d === "float32" || d === "float64" || d === "bool";
const isFloatW = (d: DType): d is "float32" | "float64" => d === "float32" || d === "float64";
const vt = (d: WDType): ValType => (d === "bool" ? "i32" : d === "float32" ? "f32" : "f64");
const fx = (d: "float32" | "float64"): "f32" | "f64" => (d === "float32" ? "f32" : "f64");
const size = (d: WDType): number => (d === "bool" ? 1 : d === "float32" ? 4 : 8);

/** The rows computed by Wasm instructions (the others become imported JS calls). */
const ARITH = new Set(["add", "sub", "mul", "trueDiv", "neg", "abs", "sqrt", "sqr", "inv", "floor", "ceil", "trunc", "roundHalfToEven", "minimum", "maximum", "clip", "identity"]);
const CMP: Record<string, "eq" | "ne" | "lt" | "le" | "gt" | "ge"> = { eq: "eq", neq: "ne", lt: "lt", le: "le", gt: "gt", ge: "ge" };

/** A JS function a step calls: `Math.tanh`, `$.sigmoid` (src/scalar/math.ts). */
export interface JsImport {
  readonly key: string;
  readonly arity: number;
  readonly fn: (...x: number[]) => number;
}

type StepKind =
  | { readonly k: "arith" }
  | { readonly k: "cmp"; readonly op: "eq" | "ne" | "lt" | "le" | "gt" | "ge" }
  | { readonly k: "isnan" }
  | { readonly k: "isinf" }
  | { readonly k: "where" }
  | { readonly k: "sigmoid" }
  | { readonly k: "tanh32" }
  | { readonly k: "exp32" }
  | { readonly k: "call"; readonly imp: JsImport };

/**
 * Math.exp, imported. V8 calls the Math functions it recognises among a module's imports (exp,
 * log, sin, cos, tan, asin, acos, atan, atan2, pow) without leaving Wasm (about 6 ns a call
 * here, against about 30 ns for Math.tanh or 20 ns for a JS function such as $.sigmoid).
 */
const MATH_EXP: JsImport = { key: "Math.exp", arity: 1, fn: Math.exp };

interface Program {
  readonly inputs: readonly WDType[];
  readonly steps: ReadonlyArray<Step & { readonly dtype: WDType }>;
  readonly kinds: readonly StepKind[];
  readonly out: WDType;
}

/** The one JS function a float row's JS template calls, or null. */
function jsCall(step: Step, argDtypes: readonly DType[]): JsImport | null {
  const text = renderTemplate(step.op.js, ["A0", "A1", "A2"], step.dtype, argDtypes);
  const m = /^(Math|\$)\.(\w+)\(A0(, A1)?\)$/.exec(text);
  if (!m || (m[3] ? 2 : 1) !== step.args.length) return null;
  const lib = (m[1] === "Math" ? Math : M) as unknown as Record<string, unknown>;
  const fn = lib[m[2]!];
  if (typeof fn !== "function") return null;
  return { key: `${m[1]}.${m[2]}`, arity: step.args.length, fn: fn as (...x: number[]) => number };
}

function classify(step: Step, argDtypes: readonly WDType[]): StepKind | null {
  const name = step.op.name;
  const d = step.dtype;
  const floats = argDtypes.filter(isFloatW).length;
  if (name in CMP) return d === "bool" && floats > 0 ? { k: "cmp", op: CMP[name]! } : null;
  if (name === "isnan" || name === "isinf") return d === "bool" && floats === 1 ? { k: name } : null;
  if (name === "where") return isFloatW(d) && argDtypes[0] === "bool" && isFloatW(argDtypes[1]!) && isFloatW(argDtypes[2]!) ? { k: "where" } : null;
  if (name === "identity") return floats > 0 || isFloatW(d) ? { k: "arith" } : null;
  if (!isFloatW(d)) return null;
  if (ARITH.has(name)) return { k: "arith" };
  if (!argDtypes.every(isFloatW)) return null;
  if (name === "sigmoid") return { k: "sigmoid" };
  if (name === "tanh" && d === "float32") return { k: "tanh32" };
  if (name === "exp" && d === "float32") return { k: "exp32" };
  const imp = jsCall(step, argDtypes);
  return imp ? { k: "call", imp } : null;
}

/** The node as a program of steps, or null when some step has no Wasm rendering. */
function program(node: Apply): Program | null {
  if (!(node.op instanceof Elemwise) || node.outputs.length !== 1) return null;
  const declared = node.inputs.map((v) => (v.type as TensorType).dtype);
  const out = (node.outputs[0]!.type as TensorType).dtype;
  // An integer operand of static size 1 (a constant like the 1 of x + 1) arrives as a value the
  // host reads with Number(), as perform does; it is exact in float32 up to 16 bits, else in
  // float64, so the kernel takes it as that float (the arithmetic then matches the JS backend's).
  const stat = staticOperands(node);
  const ins = declared.map((d, k) => (stat[k] && isInteger(d) ? (itemsize(d) <= 2 ? "float32" : "float64") : d));
  if (!ins.every(isW) || !isW(out)) return null;
  const sop = node.op.scalarOp;
  const steps: Step[] = sop instanceof Composite ? [...sop.steps] : [{ op: sop, args: ins.map((_d, k) => ({ input: k })), dtype: out }];
  if (sop instanceof Composite && sop.inputDtypes.some((d, k) => d !== declared[k])) return null;
  if (steps[steps.length - 1]!.dtype !== out) return null;
  const kinds: StepKind[] = [];
  for (const s of steps) {
    if (!isW(s.dtype)) return null;
    const ad = s.args.map((r) => ("input" in r ? ins[r.input]! : steps[r.step]!.dtype));
    if (!ad.every(isW)) return null;
    const k = classify(s, ad);
    if (!k) return null;
    kinds.push(k);
  }
  return { inputs: ins, steps: steps as Program["steps"], kinds, out };
}

/** Whether the node has a Wasm generator (any rank, float32/float64/bool operands). */
export function wasmElemwiseSupported(node: Apply): boolean {
  return program(node) !== null;
}

/** The JS functions the node's kernel imports. */
export function elemwiseImports(node: Apply): JsImport[] {
  const p = program(node);
  if (!p) return [];
  return p.kinds.flatMap((k, i) => (k.k === "call" ? [k.imp] : k.k === "sigmoid" && p.steps[i]!.dtype === "float64" ? [MATH_EXP] : []));
}

/** Operands of static size 1 are passed as values, the others as (ptr, stride0, stride1). */
export function staticOperands(node: Apply): boolean[] {
  return node.inputs.map((v) => (v.type as TensorType).shape.every((d) => d === 1));
}

/** Whether the program gets a v128 loop: one float dtype throughout, instruction rows only. */
function vectorDtype(p: Program): "float32" | "float64" | null {
  const d = p.out;
  if (!isFloatW(d)) return null;
  if (!p.inputs.every((x) => x === d) || !p.steps.every((s) => s.dtype === d)) return null;
  // float32 exp/tanh/sigmoid run as two float64x2 halves (their float64 code, lane-wise).
  const vectorKind = (k: StepKind): boolean => k.k === "arith" || (d === "float32" && (k.k === "exp32" || k.k === "tanh32" || k.k === "sigmoid"));
  return p.kinds.every(vectorKind) ? d : null;
}

const LOAD: Record<WDType, MemOp> = { float32: "f32.load", float64: "f64.load", bool: "i32.load8_u" };
const STORE: Record<WDType, MemOp> = { float32: "f32.store", float64: "f64.store", bool: "i32.store8" };

/**
 * exp on the float64 at the top of the stack, for float32 results (Math.exp costs about 10 ns a
 * call, this about 2): x clamped to [-110, 100] (beyond, float32 has only 0 and inf; NaN
 * passes), k = nearest(x / ln 2), r = x - k ln 2 in two parts (Cody and Waite, fdlibm's
 * constants), exp(r) by its Taylor polynomial to r^13 (|r| <= 0.35: truncation below 1e-17; Estrin's scheme),
 * times 2^k built from its exponent bits. Within about 1e-15 relative: rounded to float32 it is
 * fround(Math.exp(x)) but where exp(x) lies that close to a rounding boundary.
 */
export function emitExp64(f: FunctionBuilder): void {
  const x = f.local("f64");
  const k = f.local("f64");
  const r = f.local("f64");
  f.f64(-110).op("f64.max").f64(100).op("f64.min").tee(x);
  f.f64(Math.LOG2E).op("f64.mul").op("f64.nearest").set(k);
  f.get(x).get(k).f64(6.93147180369123816490e-1).op("f64.mul").op("f64.sub").get(k).f64(1.90821492927058770002e-10).op("f64.mul").op("f64.sub").set(r);
  let fact = 1;
  const c: number[] = [1];
  for (let j = 1; j <= 13; j++) c.push(1 / (fact *= j));
  // Estrin's scheme (independent products, not Horner's chain of 13 dependent steps).
  const r2 = f.local("f64");
  const r4 = f.local("f64");
  f.get(r).get(r).op("f64.mul").tee(r2).get(r2).op("f64.mul").set(r4);
  const q = (i: number): void => void f.f64(c[2 * i + 1]!).get(r).op("f64.mul").f64(c[2 * i]!).op("f64.add");
  const pair = (i: number): void => {
    q(2 * i);
    q(2 * i + 1);
    f.get(r2).op("f64.mul").op("f64.add");
  };
  pair(0);
  pair(1);
  f.get(r4).op("f64.mul").op("f64.add"); // t0 = s0 + s1 r^4
  pair(2);
  q(6);
  f.get(r4).op("f64.mul").op("f64.add"); // t1 = s2 + q6 r^4
  f.get(r4).get(r4).op("f64.mul").op("f64.mul").op("f64.add"); // t0 + t1 r^8
  f.get(k).fc("i32.trunc_sat_f64_s").op("i64.extend_i32_s").i64(1023).op("i64.add").i64(52).op("i64.shl").op("f64.reinterpret_i64");
  f.op("f64.mul");
}

/**
 * The node's kernel. `importIndex` gives the function index of an import named by its key.
 * `simd`: the engine validates v128 (else only the scalar loops are written).
 */
export function elemwiseKernel(node: Apply, importIndex: (key: string) => number, simd: boolean): FunctionBuilder {
  const p = program(node);
  if (!p) throw new Error(`wasm: no generator for ${String(node.op)}`);
  const stat = staticOperands(node);
  const params: ValType[] = ["i32", "i32", "i32"];
  const ptrParam: number[] = [];
  const valParam: number[] = [];
  p.inputs.forEach((d, k) => {
    if (stat[k]) {
      valParam[k] = params.length;
      params.push(vt(d));
    } else {
      ptrParam[k] = params.length;
      params.push("i32", "i32", "i32");
    }
  });
  const f = new FunctionBuilder(params, []);
  const [OUT, N0, N1] = [0, 1, 2];
  const r = f.local("i32");
  const o = f.local("i32");
  const i = f.local("i32");
  const dyn = p.inputs.map((_d, k) => k).filter((k) => !stat[k]);
  const ptr: number[] = [];
  for (const k of dyn) ptr[k] = f.local("i32");

  // --- one program step at a time, on locals -------------------------------------------------
  const scalarIn: number[] = p.inputs.map((d, k) => (stat[k] ? valParam[k]! : f.local(vt(d))));
  const scalarStep = p.steps.map((s) => f.local(vt(s.dtype)));
  const dtypeOf = (rf: Ref): WDType => ("input" in rf ? p.inputs[rf.input]! : p.steps[rf.step]!.dtype);
  const localOf = (rf: Ref): number => ("input" in rf ? scalarIn[rf.input]! : scalarStep[rf.step]!);
  const convert = (from: WDType, to: WDType): void => {
    if (from === to) return;
    if (to === "bool") {
      // Truthiness, as a typed-array bool store in perform: NaN is true.
      if (from === "float32") f.f32(0).op("f32.ne");
      else f.f64(0).op("f64.ne");
    } else if (from === "bool") f.op(to === "float32" ? "f32.convert_i32_u" : "f64.convert_i32_u");
    else f.op(to === "float64" ? "f64.promote_f32" : "f32.demote_f64");
  };
  const push = (rf: Ref, to: WDType): void => {
    f.get(localOf(rf));
    convert(dtypeOf(rf), to);
  };
  const temps = new Map<ValType, number>();
  const temp = (t: ValType): number => {
    let l = temps.get(t);
    if (l === undefined) temps.set(t, (l = f.local(t)));
    return l;
  };

  const exp32 = (): void => emitExp64(f);

  const scalarStepCode = (s: Program["steps"][number], kind: StepKind): void => {
    const ad = s.args.map(dtypeOf);
    switch (kind.k) {
      case "arith": {
        const ct: "float32" | "float64" = s.dtype === "float64" || ad.includes("float64") ? "float64" : "float32";
        const t = fx(ct);
        const a = s.args[0]!;
        const b = s.args[1];
        const minmax = (x: () => void, y: () => void, cmp: "lt" | "gt"): void => {
          // NumPy: (x cmp y || x != x) ? x : y
          x(); y(); x(); y(); f.op(`${t}.${cmp}` as PlainOp); x(); x(); f.op(`${t}.ne` as PlainOp); f.op("i32.or").op("select");
        };
        switch (s.op.name) {
          case "identity":
            f.get(localOf(a));
            convert(ad[0]!, s.dtype);
            return;
          case "add": case "sub": case "mul": case "trueDiv":
            push(a, ct); push(b!, ct);
            f.op(`${t}.${s.op.name === "trueDiv" ? "div" : s.op.name}` as PlainOp);
            break;
          case "neg": case "abs": case "sqrt": case "floor": case "ceil": case "trunc":
            push(a, ct);
            f.op(`${t}.${s.op.name}` as PlainOp);
            break;
          case "roundHalfToEven":
            push(a, ct);
            f.op(`${t}.nearest`);
            break;
          case "sqr":
            push(a, ct); push(a, ct);
            f.op(`${t}.mul`);
            break;
          case "inv":
            if (ct === "float32") f.f32(1); else f.f64(1);
            push(a, ct);
            f.op(`${t}.div`);
            break;
          case "minimum": case "maximum":
            minmax(() => push(a, ct), () => push(b!, ct), s.op.name === "minimum" ? "lt" : "gt");
            break;
          case "clip": {
            const tmp = temp(t);
            minmax(() => push(a, ct), () => push(b!, ct), "gt");
            f.set(tmp);
            minmax(() => f.get(tmp), () => push(s.args[2]!, ct), "lt");
            break;
          }
          default:
            throw new Error(`wasm: no instruction for ${s.op.name}`);
        }
        convert(ct, s.dtype);
        return;
      }
      case "cmp": {
        const ct = ad.includes("float64") ? "float64" : "float32";
        push(s.args[0]!, ct); push(s.args[1]!, ct);
        f.op(`${fx(ct)}.${kind.op}` as PlainOp);
        return;
      }
      case "isnan": {
        const d = ad[0] as "float32" | "float64";
        f.get(localOf(s.args[0]!)).get(localOf(s.args[0]!)).op(`${fx(d)}.ne`);
        return;
      }
      case "isinf": {
        const d = ad[0] as "float32" | "float64";
        f.get(localOf(s.args[0]!)).op(`${fx(d)}.abs`);
        if (d === "float32") f.f32(Infinity); else f.f64(Infinity);
        f.op(`${fx(d)}.eq`);
        return;
      }
      case "where":
        push(s.args[1]!, s.dtype); push(s.args[2]!, s.dtype); f.get(localOf(s.args[0]!)).op("select");
        return;
      case "sigmoid": {
        // $.sigmoid's own arithmetic on float64 (bit for bit): e = exp(-|x|), then
        // x >= 0 ? 1 / (1 + e) : e / (1 + e); NaN takes the second branch and stays NaN.
        const x = temp("f64");
        const e = f.local("f64");
        push(s.args[0]!, "float64");
        f.tee(x).op("f64.abs").op("f64.neg");
        if (s.dtype === "float32") exp32();
        else f.call(importIndex(MATH_EXP.key));
        f.set(e);
        f.f64(1).f64(1).get(e).op("f64.add").op("f64.div");
        f.get(e).f64(1).get(e).op("f64.add").op("f64.div");
        f.get(x).f64(0).op("f64.ge").op("select");
        convert("float64", s.dtype);
        return;
      }
      case "tanh32": {
        // float32 tanh from float64 arithmetic (Math.tanh is no fast import: 30 ns a call):
        // |x| < 0.05: the odd Taylor series to x^13 (next term below 1e-17 relative); else
        // (1 - t) / (1 + t) with t = exp32(-2|x|), within about 2e-15 relative. Rounded to float32,
        // this is fround(Math.tanh(x)) except when tanh(x) lies within that distance of a
        // rounding boundary (about 1 value in 10^7), where it is the other neighbour: 1 ulp.
        const x = temp("f64");
        const a = f.local("f64");
        const a2 = f.local("f64");
        const t = f.local("f64");
        push(s.args[0]!, "float64");
        f.tee(x).op("f64.abs").tee(a).get(a).op("f64.mul").set(a2);
        f.get(a).f64(-2).op("f64.mul");
        exp32();
        f.set(t);
        // Taylor: a * (1 + a2 * (c3 + a2 * (c5 + ... + a2 * c13)))
        const c = [-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075];
        f.f64(c[c.length - 1]!);
        for (let j = c.length - 2; j >= 0; j--) f.get(a2).op("f64.mul").f64(c[j]!).op("f64.add");
        f.get(a2).op("f64.mul").f64(1).op("f64.add").get(a).op("f64.mul");
        f.f64(1).get(t).op("f64.sub").f64(1).get(t).op("f64.add").op("f64.div");
        f.get(a).f64(0.05).op("f64.lt").op("select");
        f.get(x).op("f64.copysign");
        convert("float64", s.dtype);
        return;
      }
      case "exp32":
        push(s.args[0]!, "float64");
        exp32();
        convert("float64", s.dtype);
        return;
      case "call":
        for (const rf of s.args) push(rf, "float64");
        f.call(importIndex(kind.imp.key));
        convert("float64", s.dtype);
        return;
      default:
        kind satisfies never;
    }
  };
  const scalarBody = (): void => {
    p.steps.forEach((s, k) => {
      scalarStepCode(s, p.kinds[k]!);
      f.set(scalarStep[k]!);
    });
  };

  // --- the vector program (f32x4 / f64x2), for contiguous rows ---------------------------------
  const vd = simd ? vectorDtype(p) : null;
  const lanes = vd === "float32" ? 4 : 2;
  const vIn: number[] = [];
  const vStep: number[] = [];
  let contig = -1;
  let nvec = -1;
  if (vd) {
    contig = f.local("i32");
    nvec = f.local("i32");
    p.inputs.forEach((_d, k) => (vIn[k] = f.local("v128")));
    p.steps.forEach((_s, k) => (vStep[k] = f.local("v128")));
  }
  // Splatted float64 constants live in v128 locals set once before the loops (spliced in at
  // `initAt` when the kernel is complete): the vector exp would otherwise splat ~20 per lane pair.
  const splatted = new Map<number | "-0", number>();
  const splat = (v: number): void => {
    const key = Object.is(v, -0) ? "-0" : v;
    let l = splatted.get(key);
    if (l === undefined) splatted.set(key, (l = f.local("v128")));
    f.get(l);
  };
  /** exp32 on the f64x2 at the top of the stack, lane-wise: the same operations as `exp32`. */
  const exp2x = (): void => {
    const x = f.local("v128");
    const k = f.local("v128");
    const r = f.local("v128");
    const r2 = f.local("v128");
    const r4 = f.local("v128");
    splat(-110);
    f.simd("f64x2.max");
    splat(100);
    f.simd("f64x2.min").tee(x);
    splat(Math.LOG2E);
    f.simd("f64x2.mul").simd("f64x2.nearest").set(k);
    f.get(x).get(k);
    splat(6.93147180369123816490e-1);
    f.simd("f64x2.mul").simd("f64x2.sub").get(k);
    splat(1.90821492927058770002e-10);
    f.simd("f64x2.mul").simd("f64x2.sub").set(r);
    let fact = 1;
    const c: number[] = [1];
    for (let j = 1; j <= 13; j++) c.push(1 / (fact *= j));
    f.get(r).get(r).simd("f64x2.mul").tee(r2).get(r2).simd("f64x2.mul").set(r4);
    const q = (i: number): void => {
      splat(c[2 * i + 1]!);
      f.get(r).simd("f64x2.mul");
      splat(c[2 * i]!);
      f.simd("f64x2.add");
    };
    const pair = (i: number): void => {
      q(2 * i);
      q(2 * i + 1);
      f.get(r2).simd("f64x2.mul").simd("f64x2.add");
    };
    pair(0);
    pair(1);
    f.get(r4).simd("f64x2.mul").simd("f64x2.add");
    pair(2);
    q(6);
    f.get(r4).simd("f64x2.mul").simd("f64x2.add");
    f.get(r4).get(r4).simd("f64x2.mul").simd("f64x2.mul").simd("f64x2.add");
    f.get(k).simd("i32x4.trunc_sat_f64x2_s_zero").simd("i64x2.extend_low_i32x4_s");
    f.i64(1023).simd("i64x2.splat").simd("i64x2.add").i32(52).simd("i64x2.shl");
    f.simd("f64x2.mul");
  };
  /** exp, tanh or sigmoid of float32 steps on the f64x2 at the top of the stack (as the scalar code). */
  const transcendental2 = (kind: "exp32" | "tanh32" | "sigmoid"): void => {
    if (kind === "exp32") return exp2x();
    const x = f.local("v128");
    const e = f.local("v128");
    f.tee(x);
    if (kind === "sigmoid") {
      f.simd("f64x2.abs").simd("f64x2.neg");
      exp2x();
      f.set(e);
      splat(1);
      splat(1);
      f.get(e).simd("f64x2.add").simd("f64x2.div");
      f.get(e);
      splat(1);
      f.get(e).simd("f64x2.add").simd("f64x2.div");
      f.get(x);
      splat(0);
      f.simd("f64x2.ge").simd("v128.bitselect");
      return;
    }
    const a = f.local("v128");
    const a2 = f.local("v128");
    f.simd("f64x2.abs").tee(a).get(a).simd("f64x2.mul").set(a2);
    f.get(a);
    splat(-2);
    f.simd("f64x2.mul");
    exp2x();
    f.set(e);
    const c = [-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075];
    splat(c[c.length - 1]!);
    for (let j = c.length - 2; j >= 0; j--) {
      f.get(a2).simd("f64x2.mul");
      splat(c[j]!);
      f.simd("f64x2.add");
    }
    f.get(a2).simd("f64x2.mul");
    splat(1);
    f.simd("f64x2.add").get(a).simd("f64x2.mul");
    splat(1);
    f.get(e).simd("f64x2.sub");
    splat(1);
    f.get(e).simd("f64x2.add").simd("f64x2.div");
    f.get(a);
    splat(0.05);
    f.simd("f64x2.lt").simd("v128.bitselect");
    // copysign: the sign bit from x, the rest from the result.
    f.set(e).get(x).get(e);
    splat(-0);
    f.simd("v128.bitselect");
  };

  const vectorBody = (d: "float32" | "float64"): void => {
    const sh = d === "float32" ? "f32x4" : "f64x2";
    const vl = (rf: Ref): number => ("input" in rf ? vIn[rf.input]! : vStep[rf.step]!);
    const minmax = (x: () => void, y: () => void, cmp: "lt" | "gt"): void => {
      x(); y(); x(); y(); f.simd(`${sh}.${cmp}` as SimdOp); x(); x(); f.simd(`${sh}.ne` as SimdOp); f.simd("v128.or").simd("v128.bitselect");
    };
    p.steps.forEach((s, k) => {
      const [a, b, c] = s.args.map((rf) => () => void f.get(vl(rf)));
      const kind = p.kinds[k]!;
      if (kind.k === "exp32" || kind.k === "tanh32" || kind.k === "sigmoid") {
        // f32x4 -> two f64x2 halves -> the float64 code -> back to f32x4.
        const src = vl(s.args[0]!);
        const lo = f.local("v128");
        f.get(src).simd("f64x2.promote_low_f32x4");
        transcendental2(kind.k);
        f.simd("f32x4.demote_f64x2_zero").set(lo);
        f.get(src).get(src).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).simd("f64x2.promote_low_f32x4");
        transcendental2(kind.k);
        f.simd("f32x4.demote_f64x2_zero");
        f.get(lo);
        f.shuffle([16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6, 7]); // [lo0, lo1, hi0, hi1]
        f.set(vStep[k]!);
        return;
      }
      switch (s.op.name) {
        case "identity": a!(); break;
        case "add": case "sub": case "mul": case "trueDiv":
          a!(); b!(); f.simd(`${sh}.${s.op.name === "trueDiv" ? "div" : s.op.name}` as SimdOp); break;
        case "neg": case "abs": case "sqrt": case "floor": case "ceil": case "trunc":
          a!(); f.simd(`${sh}.${s.op.name}` as SimdOp); break;
        case "roundHalfToEven": a!(); f.simd(`${sh}.nearest`); break;
        case "sqr": a!(); a!(); f.simd(`${sh}.mul`); break;
        case "inv":
          if (d === "float32") f.f32(1).simd("f32x4.splat"); else f.f64(1).simd("f64x2.splat");
          a!(); f.simd(`${sh}.div`); break;
        case "minimum": minmax(a!, b!, "lt"); break;
        case "maximum": minmax(a!, b!, "gt"); break;
        case "clip": {
          const tmp = temp("v128");
          minmax(a!, b!, "gt");
          f.set(tmp);
          minmax(() => void f.get(tmp), c!, "lt");
          break;
        }
        default:
          throw new Error(`wasm: no v128 instruction for ${s.op.name}`);
      }
      f.set(vStep[k]!);
    });
  };

  // --- the loops --------------------------------------------------------------------------------
  const osz = size(p.out);
  if (vd) {
    // contig: every varying operand's inner stride is its element size; static operands splat.
    f.i32(1);
    for (const k of dyn) f.get(ptrParam[k]! + 2).i32(size(p.inputs[k]!)).op("i32.eq").op("i32.and");
    f.set(contig);
    for (const k of p.inputs.keys()) if (stat[k]) f.get(valParam[k]!).simd(vd === "float32" ? "f32x4.splat" : "f64x2.splat").set(vIn[k]!);
  }
  const initAt = f.code.length;
  f.get(OUT).set(o);
  f.block().loop();
  f.get(r).get(N0).op("i32.ge_u").brIf(1);
  for (const k of dyn) f.get(ptrParam[k]!).get(r).get(ptrParam[k]! + 1).op("i32.mul").op("i32.add").set(ptr[k]!);
  f.i32(0).set(i);
  if (vd) {
    f.get(contig).if();
    f.get(N1).i32(-lanes).op("i32.and").set(nvec);
    f.block().loop();
    f.get(i).get(nvec).op("i32.ge_u").brIf(1);
    for (const k of dyn) f.get(ptr[k]!).v128Load().set(vIn[k]!);
    vectorBody(vd);
    f.get(o).get(vStep[p.steps.length - 1]!).v128Store();
    for (const k of dyn) f.get(ptr[k]!).i32(16).op("i32.add").set(ptr[k]!);
    f.get(o).i32(16).op("i32.add").set(o);
    f.get(i).i32(lanes).op("i32.add").set(i);
    f.br(0).end().end();
    f.end();
  }
  f.block().loop();
  f.get(i).get(N1).op("i32.ge_u").brIf(1);
  for (const k of dyn) f.get(ptr[k]!).mem(LOAD[p.inputs[k]!]).set(scalarIn[k]!);
  scalarBody();
  f.get(o).get(scalarStep[p.steps.length - 1]!).mem(STORE[p.out]);
  for (const k of dyn) f.get(ptr[k]!).get(ptrParam[k]! + 2).op("i32.add").set(ptr[k]!);
  f.get(o).i32(osz).op("i32.add").set(o);
  f.get(i).i32(1).op("i32.add").set(i);
  f.br(0).end().end();
  f.get(r).i32(1).op("i32.add").set(r);
  f.br(0).end().end();
  if (splatted.size > 0) {
    const init = new FunctionBuilder(params, []);
    for (const [v, l] of splatted) init.f64(v === "-0" ? -0 : v).simd("f64x2.splat").set(l);
    f.code.splice(initAt, 0, ...init.code);
  }
  return f;
}
