/**
 * A small WebAssembly binary emitter: enough of the format (the core spec's section 5, "Binary
 * Format", plus the fixed-width SIMD proposal's v128 opcodes) for the Wasm backend to write one
 * module per compiled function at run time, with no toolchain. A module is a list of function
 * types, imported JS functions, one imported memory, and defined functions written through
 * `FunctionBuilder`, which keeps the instruction bytes and the declared locals. The engine is
 * reached through `wasmApi()`: this project's TypeScript lib has no DOM types, and the API is
 * the same in Node and browsers.
 */

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Plain (one-byte) opcodes by their text-format names. */
const OP = {
  unreachable: 0x00, nop: 0x01, else: 0x05, end: 0x0b, return: 0x0f, drop: 0x1a, select: 0x1b,
  "i32.eqz": 0x45, "i32.eq": 0x46, "i32.ne": 0x47, "i32.lt_s": 0x48, "i32.lt_u": 0x49, "i32.gt_s": 0x4a, "i32.gt_u": 0x4b,
  "i32.le_s": 0x4c, "i32.le_u": 0x4d, "i32.ge_s": 0x4e, "i32.ge_u": 0x4f,
  "f32.eq": 0x5b, "f32.ne": 0x5c, "f32.lt": 0x5d, "f32.gt": 0x5e, "f32.le": 0x5f, "f32.ge": 0x60,
  "f64.eq": 0x61, "f64.ne": 0x62, "f64.lt": 0x63, "f64.gt": 0x64, "f64.le": 0x65, "f64.ge": 0x66,
  "i32.add": 0x6a, "i32.sub": 0x6b, "i32.mul": 0x6c, "i32.and": 0x71, "i32.or": 0x72, "i32.xor": 0x73, "i32.shl": 0x74, "i32.shr_u": 0x76,
  "f32.abs": 0x8b, "f32.neg": 0x8c, "f32.ceil": 0x8d, "f32.floor": 0x8e, "f32.trunc": 0x8f, "f32.nearest": 0x90, "f32.sqrt": 0x91,
  "f32.add": 0x92, "f32.sub": 0x93, "f32.mul": 0x94, "f32.div": 0x95, "f32.min": 0x96, "f32.max": 0x97,
  "f64.abs": 0x99, "f64.neg": 0x9a, "f64.ceil": 0x9b, "f64.floor": 0x9c, "f64.trunc": 0x9d, "f64.nearest": 0x9e, "f64.sqrt": 0x9f,
  "f64.add": 0xa0, "f64.sub": 0xa1, "f64.mul": 0xa2, "f64.div": 0xa3, "f64.min": 0xa4, "f64.max": 0xa5, "f64.copysign": 0xa6,
  "f32.convert_i32_u": 0xb3, "f32.demote_f64": 0xb6, "f64.convert_i32_u": 0xb8, "f64.promote_f32": 0xbb,
  "i64.add": 0x7c, "i64.shl": 0x86, "i64.extend_i32_s": 0xac, "f64.reinterpret_i64": 0xbf,
} as const;

/** Opcodes after the 0xfc prefix (saturating truncations). */
const FC = { "i32.trunc_sat_f64_s": 0x02 } as const;
export type FcOp = keyof typeof FC;

/** Opcodes after the 0xfd (SIMD) prefix, without memory or lane immediates. */
const SIMD = {
  "f32x4.splat": 0x13, "f64x2.splat": 0x14,
  "f32x4.eq": 0x41, "f32x4.ne": 0x42, "f32x4.lt": 0x43, "f32x4.gt": 0x44, "f32x4.le": 0x45, "f32x4.ge": 0x46,
  "f64x2.eq": 0x47, "f64x2.ne": 0x48, "f64x2.lt": 0x49, "f64x2.gt": 0x4a, "f64x2.le": 0x4b, "f64x2.ge": 0x4c,
  "v128.not": 0x4d, "v128.and": 0x4e, "v128.andnot": 0x4f, "v128.or": 0x50, "v128.xor": 0x51, "v128.bitselect": 0x52,
  "f32x4.ceil": 0x67, "f32x4.floor": 0x68, "f32x4.trunc": 0x69, "f32x4.nearest": 0x6a,
  "f64x2.ceil": 0x74, "f64x2.floor": 0x75, "f64x2.trunc": 0x7a, "f64x2.nearest": 0x94,
  "f32x4.abs": 0xe0, "f32x4.neg": 0xe1, "f32x4.sqrt": 0xe3, "f32x4.add": 0xe4, "f32x4.sub": 0xe5, "f32x4.mul": 0xe6, "f32x4.div": 0xe7,
  "f32x4.min": 0xe8, "f32x4.max": 0xe9,
  "f64x2.abs": 0xec, "f64x2.neg": 0xed, "f64x2.sqrt": 0xef, "f64x2.add": 0xf0, "f64x2.sub": 0xf1, "f64x2.mul": 0xf2, "f64x2.div": 0xf3,
  "f64x2.min": 0xf4, "f64x2.max": 0xf5,
  "i64x2.splat": 0x12, "f32x4.demote_f64x2_zero": 0x5e, "f64x2.promote_low_f32x4": 0x5f,
  "f32x4.relaxed_madd": 0x105, "f64x2.relaxed_madd": 0x107,
  "i64x2.extend_low_i32x4_s": 0xc7, "i64x2.shl": 0xcb, "i64x2.add": 0xce, "i32x4.trunc_sat_f64x2_s_zero": 0xfc,
} as const;

export type PlainOp = keyof typeof OP;
export type SimdOp = keyof typeof SIMD;

/** Loads and stores: opcode and natural alignment (log2 bytes); SIMD ones after 0xfd. */
const MEM = {
  "i32.load": [0x28, 2], "f32.load": [0x2a, 2], "f64.load": [0x2b, 3], "i32.load8_u": [0x2d, 0],
  "i32.store": [0x36, 2], "f32.store": [0x38, 2], "f64.store": [0x39, 3], "i32.store8": [0x3a, 0],
} as const;
export type MemOp = keyof typeof MEM;

export function u32(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`u32 LEB128 of ${n}`);
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer (values past 2^31 wrap, as an i32 does). */
export function s32(n: number, out: number[] = []): number[] {
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

function utf8(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...u32(b.length), ...b];
}

/** f32/f64 constants pass through these 8 bytes (little-endian, as Wasm stores them). */
const SCRATCH_BYTES = new Uint8Array(8);
const SCRATCH = new DataView(SCRATCH_BYTES.buffer);

/** A block's result type: none, or one value. */
export type BlockType = ValType | null;
const blockType = (t: BlockType): number => (t === null ? 0x40 : VALTYPE[t]);

/** One defined function: its parameters, results, extra locals and instruction bytes. */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly locals: ValType[] = [];

  constructor(
    readonly params: readonly ValType[],
    readonly results: readonly ValType[],
  ) {}

  /** A new local of type t; returns its index. */
  local(t: ValType): number {
    this.locals.push(t);
    return this.params.length + this.locals.length - 1;
  }

  op(name: PlainOp): this {
    this.code.push(OP[name]);
    return this;
  }
  simd(name: SimdOp): this {
    this.code.push(0xfd);
    u32(SIMD[name], this.code);
    return this;
  }
  fc(name: FcOp): this {
    this.code.push(0xfc);
    u32(FC[name], this.code);
    return this;
  }
  /** i64.const of a value in the i32 range (its signed LEB128 is the same). */
  i64(v: number): this {
    this.code.push(0x42);
    s32(v, this.code);
    return this;
  }
  get(l: number): this {
    this.code.push(0x20);
    u32(l, this.code);
    return this;
  }
  set(l: number): this {
    this.code.push(0x21);
    u32(l, this.code);
    return this;
  }
  tee(l: number): this {
    this.code.push(0x22);
    u32(l, this.code);
    return this;
  }
  i32(v: number): this {
    this.code.push(0x41);
    s32(v, this.code);
    return this;
  }
  f32(v: number): this {
    SCRATCH.setFloat32(0, v, true);
    this.code.push(0x43, SCRATCH_BYTES[0]!, SCRATCH_BYTES[1]!, SCRATCH_BYTES[2]!, SCRATCH_BYTES[3]!);
    return this;
  }
  f64(v: number): this {
    SCRATCH.setFloat64(0, v, true);
    this.code.push(0x44);
    for (let i = 0; i < 8; i++) this.code.push(SCRATCH_BYTES[i]!);
    return this;
  }
  /** A load or store with a constant byte offset; the alignment hint is the natural one. */
  mem(name: MemOp, offset = 0): this {
    const [code, align] = MEM[name];
    this.code.push(code, align); // alignments (log2 bytes, at most 3) are one LEB128 byte
    u32(offset, this.code);
    return this;
  }
  /** v128.load / v128.store, with alignment hint 1 byte (operands may be unaligned views). */
  v128Load(offset = 0): this {
    this.code.push(0xfd, 0x00, 0); // opcodes below 0x80 are one LEB128 byte
    u32(offset, this.code);
    return this;
  }
  v128Store(offset = 0): this {
    this.code.push(0xfd, 0x0b, 0);
    u32(offset, this.code);
    return this;
  }
  /** v128.load32_splat / v128.load64_splat: one element loaded into every lane (hint 1 byte). */
  v128LoadSplat(bytes: 4 | 8, offset = 0): this {
    this.code.push(0xfd, bytes === 4 ? 0x09 : 0x0a, 0);
    u32(offset, this.code);
    return this;
  }
  /** i8x16.shuffle: result byte j is byte lanes[j] of (a ++ b). */
  shuffle(lanes: readonly number[]): this {
    this.code.push(0xfd, 0x0d);
    for (const l of lanes) this.code.push(l);
    return this;
  }
  extractLane(shape: "f32x4" | "f64x2", lane: number): this {
    this.code.push(0xfd, shape === "f32x4" ? 0x1f : 0x21, lane);
    return this;
  }
  replaceLane(shape: "f32x4" | "f64x2", lane: number): this {
    this.code.push(0xfd, shape === "f32x4" ? 0x20 : 0x22, lane);
    return this;
  }
  call(fn: number): this {
    this.code.push(0x10);
    u32(fn, this.code);
    return this;
  }
  block(t: BlockType = null): this {
    this.code.push(0x02, blockType(t));
    return this;
  }
  loop(t: BlockType = null): this {
    this.code.push(0x03, blockType(t));
    return this;
  }
  if(t: BlockType = null): this {
    this.code.push(0x04, blockType(t));
    return this;
  }
  end(): this {
    this.code.push(OP.end);
    return this;
  }
  br(depth: number): this {
    this.code.push(0x0c);
    u32(depth, this.code);
    return this;
  }
  brIf(depth: number): this {
    this.code.push(0x0d);
    u32(depth, this.code);
    return this;
  }

  /**
   * The body as the code section holds it: size, locals (run-length by type), code, end. Kept
   * until more code or locals are added (a kernel shared by many nodes is encoded once).
   */
  encode(): number[] {
    if (this.encoded && this.encodedAt === this.code.length + this.locals.length) return this.encoded;
    const groups: Array<[number, ValType]> = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const head = u32(groups.length);
    for (const [n, t] of groups) head.push(...u32(n), VALTYPE[t]);
    const body = head.concat(this.code, [OP.end]);
    this.encodedAt = this.code.length + this.locals.length;
    return (this.encoded = u32(body.length).concat(body));
  }
  private encoded: number[] | null = null;
  private encodedAt = -1;
}

interface Import {
  readonly module: string;
  readonly name: string;
  readonly type: number;
}

/** A module: function types (deduplicated), function imports, one imported memory, exports. */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private readonly imports: Import[] = [];
  private readonly funcs: Array<{ fn: FunctionBuilder; type: number }> = [];
  private readonly exports: Array<{ name: string; index: number }> = [];
  private memory: { module: string; name: string; min: number; max: number; shared: boolean } | null = null;
  private frozenImports = false;

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(",")}->${results.join(",")}`;
    let k = this.types.indexOf(key);
    if (k < 0) {
      k = this.types.length;
      this.types.push(key);
      this.typeBytes.push([0x60, ...u32(params.length), ...params.map((t) => VALTYPE[t]), ...u32(results.length), ...results.map((t) => VALTYPE[t])]);
    }
    return k;
  }

  /** Imports a function; all imports come before the first defined function. Returns its index. */
  importFunction(module: string, name: string, params: readonly ValType[], results: readonly ValType[]): number {
    if (this.frozenImports) throw new Error("wasm emitter: imports must be declared before defined functions");
    this.imports.push({ module, name, type: this.typeIndex(params, results) });
    return this.imports.length - 1;
  }

  /** Imports the module's memory (pages of 64 KiB); `shared`: a shared memory (threads). */
  importMemory(module: string, name: string, min: number, max: number, shared = false): void {
    this.memory = { module, name, min, max, shared };
  }

  /** Adds a defined function; returns its function index (after the imports). */
  addFunction(fn: FunctionBuilder, exportName?: string): number {
    this.frozenImports = true;
    const index = this.imports.length + this.funcs.length;
    this.funcs.push({ fn, type: this.typeIndex(fn.params, fn.results) });
    if (exportName !== undefined) this.exports.push({ name: exportName, index });
    return index;
  }

  encode(): Uint8Array {
    let out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, items: number[][]): void => {
      if (items.length === 0) return;
      const body = u32(items.length).concat(...items);
      out.push(id);
      u32(body.length, out);
      out = out.concat(body);
    };
    section(1, this.typeBytes);
    const imps = this.imports.map((im) => [...utf8(im.module), ...utf8(im.name), 0x00, ...u32(im.type)]);
    if (this.memory) imps.push([...utf8(this.memory.module), ...utf8(this.memory.name), 0x02, this.memory.shared ? 0x03 : 0x01, ...u32(this.memory.min), ...u32(this.memory.max)]);
    section(2, imps);
    section(3, this.funcs.map((f) => u32(f.type)));
    section(7, this.exports.map((e) => [...utf8(e.name), 0x00, ...u32(e.index)]));
    section(10, this.funcs.map((f) => f.fn.encode()));
    return new Uint8Array(out);
  }
}

/** The part of the WebAssembly JS API the backend uses (typed here: no DOM lib in this project). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: { new (bytes: Uint8Array): object; exports(module: object): Array<{ readonly name: string; readonly kind: string }> };
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

/** The engine's WebAssembly object, or null where the runtime has none. */
export function wasmApi(): WasmApi | null {
  return ((globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly ?? null);
}

/** Whether the engine validates a module that uses v128 (fixed-width SIMD). */
let simdOk: boolean | null = null;
export function wasmSimdSupported(): boolean {
  if (simdOk !== null) return simdOk;
  const api = wasmApi();
  if (!api) return (simdOk = false);
  const m = new ModuleBuilder();
  const f = new FunctionBuilder([], ["f32"]);
  f.f32(1).simd("f32x4.splat").extractLane("f32x4", 0);
  m.addFunction(f, "f");
  return (simdOk = api.validate(m.encode()));
}

/**
 * Whether the engine validates relaxed SIMD's fused multiply-add (f32x4.relaxed_madd): shipped
 * in Chrome 114 and Node 22; Node 20 has it behind --experimental-wasm-relaxed-simd.
 */
let relaxedOk: boolean | null = null;
export function wasmRelaxedSimdSupported(): boolean {
  if (relaxedOk !== null) return relaxedOk;
  const api = wasmApi();
  if (!api || !wasmSimdSupported()) return (relaxedOk = false);
  const m = new ModuleBuilder();
  const f = new FunctionBuilder([], ["f32"]);
  f.f32(1).simd("f32x4.splat").f32(2).simd("f32x4.splat").f32(3).simd("f32x4.splat").simd("f32x4.relaxed_madd").extractLane("f32x4", 0);
  m.addFunction(f, "f");
  return (relaxedOk = api.validate(m.encode()));
}
