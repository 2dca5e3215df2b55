/**
 * The flag schema: every configuration flag of theano-ts, declared once (API.md §9).
 *
 * Each entry states the flag's name (Theano's spelling; a dot separates a section such as
 * `lib.cnmem`), its type, default, what values it accepts, a one-line doc, and whether it belongs
 * in the compile cache key (it changes what code is generated or how it is compiled). Everything
 * else derives from this table: the value types of `theano.config` (so `config.lib.cnmem` is a
 * `number` and `config.floatX` a `"float32" | "float64"`), the parsers for THEANORC and
 * THEANO_FLAGS, the validation of values set in code, `String(config)` and the cache key.
 *
 * The idea is Theano's `AddConfigVar(name, doc, param, in_c_key)` registry; unlike Theano the
 * table is static, so the type checker sees every flag. This module is pure: no Node API, no
 * I/O. Defaults that depend on the host (home directory, PATH) are functions of a
 * `DefaultContext` that config.ts supplies.
 */

import type { FloatDType } from "../ndarray/dtype.js";

/** What `check`/`fromText` return for a value they reject; `reason` completes "expected ...". */
export class Invalid {
  constructor(readonly reason: string) {}
}

/** The host facts a computed default may use (config.ts builds one per Config). */
export interface DefaultContext {
  /** The current value of another flag: a default may follow another flag (compiledir). */
  get(name: string): unknown;
  /** The user's home directory; undefined without Node (a browser). */
  readonly homeDir: string | undefined;
  /** `${platform}-${arch}-node${major}`, or "browser" without Node. */
  readonly platformTag: string;
  joinPath(...parts: string[]): string;
  /** Full path of the first of `names` found as an executable on PATH, or undefined. */
  findExecutable(names: readonly string[]): string | undefined;
}

export type FlagType = "bool" | "int" | "float" | "string" | "enum";

export interface FlagSpec<T = unknown> {
  readonly type: FlagType;
  readonly doc: string;
  /** True when the flag changes generated code or its compilation (see configCacheKey). */
  readonly inCacheKey: boolean;
  /** A value, or a function computing it lazily from the host and the other flags. */
  readonly default: T | ((ctx: DefaultContext) => T);
  /** For a computed default: how it is found, in words (for docs and String(config)). */
  readonly defaultDoc?: string;
  /** For enums: the accepted values, exactly as spelt. */
  readonly values?: readonly string[];
  /** A path: a leading `~` is expanded to the home directory when the value is set. */
  readonly isPath?: boolean;
  /** What the flag accepts, in words: completes "expected ..." in error messages. */
  readonly allowed: string;
  /** Text from THEANORC or THEANO_FLAGS to a candidate value (then `check`ed), or Invalid. */
  fromText(text: string): unknown;
  /** A candidate value (from text, or set in code) to the flag's value, or Invalid. */
  check(value: unknown): T | Invalid;
}

// ---------------------------------------------------------------------------------------------
// Flag constructors, one per type. Values set in code must already have the flag's JS type
// (strictness catches `config.profile = "False"`); text is converted first by `fromText`.

interface Common<T> {
  default: T | ((ctx: DefaultContext) => T);
  defaultDoc?: string;
  inCacheKey: boolean;
  doc: string;
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(v));

const TRUE_WORDS = new Set(["true", "1", "yes"]);
const FALSE_WORDS = new Set(["false", "0", "no"]);

function bool(o: Common<boolean>): FlagSpec<boolean> {
  const allowed = "a boolean: True or False (also true, false, 1, 0, yes, no)";
  return {
    type: "bool",
    ...o,
    allowed,
    fromText(text) {
      const t = text.trim().toLowerCase();
      return TRUE_WORDS.has(t) ? true : FALSE_WORDS.has(t) ? false : new Invalid(allowed);
    },
    check: (v) => (typeof v === "boolean" ? v : new Invalid(allowed)),
  };
}

function rangeWords(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return "";
}

function number(
  kind: "int" | "float",
  o: Common<number> & { min?: number; max?: number },
): FlagSpec<number> {
  const { min, max, ...rest } = o;
  const allowed = (kind === "int" ? "an integer" : "a number") + rangeWords(min, max);
  const syntax = kind === "int" ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  return {
    type: kind,
    ...rest,
    allowed,
    fromText(text) {
      const t = text.trim();
      return syntax.test(t) ? Number(t) : new Invalid(allowed);
    },
    check(v) {
      if (typeof v !== "number" || !Number.isFinite(v)) return new Invalid(allowed);
      if (kind === "int" && !Number.isInteger(v)) return new Invalid(allowed);
      if ((min !== undefined && v < min) || (max !== undefined && v > max)) return new Invalid(allowed);
      return v;
    },
  };
}

function oneOf<const V extends string>(o: Common<V> & { values: readonly V[] }): FlagSpec<V> {
  const allowed = `one of ${o.values.join(", ")}`;
  return {
    type: "enum",
    ...o,
    allowed,
    fromText: (text) => text.trim(),
    check: (v) => (o.values.includes(v as V) ? (v as V) : new Invalid(allowed)),
  };
}

/** A string flag; `valid` (a type guard) narrows it, `allowed` then says what passes. */
function str<T extends string = string>(
  o: Common<T> & { isPath?: boolean; valid?: (s: string) => s is T; allowed?: string },
): FlagSpec<T> {
  const { valid, allowed = "a string", ...rest } = o;
  return {
    type: "string",
    ...rest,
    allowed,
    // Surrounding whitespace in rc files and THEANO_FLAGS is never meaningful.
    fromText: (text) => text.trim(),
    check(v) {
      if (typeof v !== "string") return new Invalid(allowed);
      if (valid && !valid(v)) return new Invalid(allowed);
      return v as T;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Validators of the structured string flags.

/** DebugMode.check_preallocated_output's words (Theano's); "" lets the empty default through. */
const PREALLOCATED_CHECKS: ReadonlySet<string> = new Set(["", "initial", "previous", "c_contiguous", "f_contiguous", "strided", "wrong_size", "ALL"]);

/** `cuda` (the first visible GPU) or `cudaN`, N written without leading zeros. */
export type GpuDevice = "cuda" | `cuda${number}`;
/** `webgpu` (the default adapter) or `webgpuN` (adapter number N). */
export type WebGpuDevice = "webgpu" | `webgpu${number}`;
export type Device = "cpu" | GpuDevice | WebGpuDevice;

const isGpuDevice = (s: string): s is GpuDevice => /^cuda(0|[1-9]\d*)?$/.test(s);
const isWebGpuDevice = (s: string): s is WebGpuDevice => /^webgpu(0|[1-9]\d*)?$/.test(s);
const isDevice = (s: string): s is Device => s === "cpu" || isGpuDevice(s) || isWebGpuDevice(s);

/** `name->cudaN` pairs separated by `;`, names unique and not themselves device names. */
function isContexts(s: string): boolean {
  if (s.trim() === "") return true;
  const names = new Set<string>();
  for (const pair of s.split(";")) {
    const m = /^\s*([A-Za-z_]\w*)\s*->\s*(\S+)\s*$/.exec(pair);
    if (!m || !isGpuDevice(m[2]!) || isDevice(m[1]!) || names.has(m[1]!)) return false;
    names.add(m[1]!);
  }
  return true;
}

/** Rewrite names or tags separated by `:` (empty: none). */
const isNameList = (s: string): boolean => s === "" || /^[\w.\-]+(:[\w.\-]+)*$/.test(s);
const NAME_LIST = "names separated by ':' (e.g. fusion:inplace), or empty";

// ---------------------------------------------------------------------------------------------
// The schema. Order is the order of String(config): the flags a user reaches for first.

export const SCHEMA = {
  device: str<Device>({
    default: "cpu",
    valid: isDevice,
    allowed: "cpu, cuda (the first visible GPU), cudaN (GPU number N), webgpu or webgpuN (WebGPU adapter N)",
    inCacheKey: true,
    doc:
      "Device compiled functions run on and shared variables live on: cpu, cuda, cudaN, webgpu or webgpuN. " +
      "A device this build cannot reach raises BackendError when a function or shared variable is made; never a silent CPU run.",
  }),
  init_gpu_device: str<"" | GpuDevice>({
    default: "",
    valid: (s): s is "" | GpuDevice => s === "" || isGpuDevice(s),
    allowed: "cuda, cudaN, or empty",
    inCacheKey: false,
    doc: "GPU to open at start-up while device=cpu; nothing moves to it unless moved explicitly.",
  }),
  contexts: str({
    default: "",
    valid: (s): s is string => isContexts(s),
    allowed: "name->cudaN pairs separated by ';' (e.g. dev0->cuda0;dev1->cuda1), or empty",
    inCacheKey: true,
    doc: "Named GPU contexts for multi-GPU graphs, as name->cudaN pairs separated by ';'.",
  }),
  floatX: oneOf<FloatDType>({
    values: ["float32", "float64"],
    default: "float64",
    inCacheKey: true,
    doc: "Float dtype of symbolic variables, shared variables and JS numbers (float16 is not supported).",
  }),
  warn_float64: oneOf({
    values: ["ignore", "warn", "raise"],
    default: "ignore",
    inCacheKey: false,
    doc: "What to do when a float64 variable is created while floatX=float32.",
  }),
  mode: oneOf({
    values: ["FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode"],
    default: "FAST_RUN",
    inCacheKey: true,
    doc: "Default mode of theano.function: all rewrites, few rewrites, check against perform, or stop at NaN/Inf.",
  }),
  linker: oneOf({
    values: ["auto", "c", "wasm", "js", "py"],
    default: "auto",
    inCacheKey: true,
    doc: "Code generator: auto (C when a working C compiler is found, else wasm, else JS where there is no WebAssembly), c, wasm (WebAssembly generated at run time, no toolchain), js, or py (every node's perform).",
  }),
  optimizer: oneOf({
    values: ["fast_run", "fast_compile", "merge", "None", "o1", "o2", "o3", "o4", "stabilize", "unsafe"],
    default: "fast_run",
    inCacheKey: true,
    doc:
      "Rewrite set of the default mode: fast_run, fast_compile, merge only, None, Theano's levels o1..o4 (o4 = fast_run), " +
      "stabilize (fast_run's stages up to and including stabilize: merge, canonicalize, stabilize; no specialization, fusion or in-place) " +
      "or unsafe (o3 plus the rewrites tagged unsafe, which may change results on invalid inputs; none are registered yet).",
  }),
  optimizer_verbose: bool({
    default: false,
    inCacheKey: false,
    doc: "Print every rewrite as it replaces a node.",
  }),
  optimizer_including: str({
    default: "",
    valid: (s): s is string => isNameList(s),
    allowed: NAME_LIST,
    inCacheKey: true,
    doc: "Rewrite tags or names to add to the mode's rewrites, separated by ':'.",
  }),
  optimizer_excluding: str({
    default: "",
    valid: (s): s is string => isNameList(s),
    allowed: NAME_LIST,
    inCacheKey: true,
    doc: "Rewrite tags or names to remove from the mode's rewrites, separated by ':'.",
  }),
  optimizer_requiring: str({
    default: "",
    valid: (s): s is string => isNameList(s),
    allowed: NAME_LIST,
    inCacheKey: true,
    doc: "Tags every applied rewrite must carry, separated by ':'.",
  }),
  on_opt_error: oneOf({
    values: ["warn", "raise", "ignore"],
    default: "warn",
    inCacheKey: false,
    doc: "What to do when a rewrite throws: warn and skip it, raise, or skip it silently.",
  }),
  "optdb.max_use_ratio": number("float", {
    default: 8,
    min: 1,
    inCacheKey: false,
    doc: "An equilibrium rewrite group stops (with a warning naming the rewrites that kept firing) after this many replacements per node of the graph.",
  }),
  exception_verbosity: oneOf({
    values: ["low", "high"],
    default: "low",
    inCacheKey: false,
    doc: "high: an error raised while running a node also gives its inputs' types, shapes, values and creation trace.",
  }),
  compute_test_value: oneOf({
    values: ["off", "ignore", "warn", "raise"],
    default: "off",
    inCacheKey: false,
    doc: "Run each new node on test values while the graph is built; ignore, warn or raise when one is missing.",
  }),
  profile: bool({
    default: false,
    inCacheKey: false,
    doc: "Profile every compiled function: time per node, op and op class, printed at exit.",
  }),
  profile_memory: bool({
    default: false,
    inCacheKey: false,
    doc: "With profile, also record the memory each node allocates and the peak.",
  }),
  profile_optimizer: bool({
    default: false,
    inCacheKey: false,
    doc: "With profile, also time every rewrite.",
  }),
  allow_gc: bool({
    default: true,
    inCacheKey: true,
    doc: "Free intermediate results once no later node needs them; false keeps them between calls (more memory). The C linker writes the intermediates it hands to host nodes (a scan's histories among them) into the same buffers call after call either way; with true it lets them go once the function has not been called for a second.",
  }),
  deterministic: oneOf({
    values: ["default", "more"],
    default: "default",
    inCacheKey: true,
    doc: "more: avoid GPU kernels whose results can vary between runs (atomic reductions), even when slower.",
  }),
  print_active_device: bool({
    default: true,
    inCacheKey: false,
    doc: "Print which GPU is used when the CUDA backend starts.",
  }),
  "traceback.limit": number("int", {
    default: 8,
    min: -1,
    inCacheKey: false,
    doc: "User-code stack frames recorded where each variable is created (-1: all, 0: none).",
  }),
  base_compiledir: str({
    default: (ctx) => (ctx.homeDir === undefined ? "" : ctx.joinPath(ctx.homeDir, ".theano-ts")),
    defaultDoc: "~/.theano-ts",
    isPath: true,
    inCacheKey: false,
    doc: "Parent directory of compiledir.",
  }),
  compiledir: str({
    default: (ctx) => {
      const base = String(ctx.get("base_compiledir"));
      return base === "" ? "" : ctx.joinPath(base, `compiledir_${ctx.platformTag}`);
    },
    defaultDoc: "<base_compiledir>/compiledir_<platform>-<arch>-node<major>",
    isPath: true,
    inCacheKey: false,
    doc: "Directory of the compile cache (generated sources, shared objects, compiler logs).",
  }),
  cxx: str({
    // Computed on first read by scanning PATH: importing config never spawns a process.
    default: (ctx) => ctx.findExecutable(["cc", "gcc", "clang"]) ?? "",
    defaultDoc: "the first of cc, gcc, clang found on PATH",
    inCacheKey: true,
    doc: "C compiler command of the c linker; empty: no C compiler (linker=auto uses wasm).",
  }),
  "gcc.cxxflags": str({
    default: "",
    inCacheKey: true,
    doc: "Extra flags for the C compiler command line (e.g. -march=x86-64-v3).",
  }),
  openmp: bool({
    default: true,
    inCacheKey: true,
    doc: "Parallelise generated C loops across cores with OpenMP (-fopenmp).",
  }),
  // Theano's default is 200000. Measured here (2 cores, GOMP_SPINCOUNT=10000): a 70 000-element
  // x*2+1 takes 6.3 µs on one thread and 5.5 µs on two, tanh·sigmoid 44 vs 26 µs, and the MLP
  // training step (131 072-element activations) 3.1 vs 2.6 ms; lower still pays on a quiet
  // machine but exposes small loops to a busy core on a shared one.
  openmp_elemwise_minsize: number("int", {
    default: 65_536,
    min: 0,
    inCacheKey: true,
    doc: "Smallest elementwise output (in elements) worth running in parallel with OpenMP (Theano: 200000).",
  }),
  "blas.ldflags": str({
    default: "",
    inCacheKey: true,
    doc: "Linker flags of a system BLAS (e.g. -lopenblas); empty: discover OpenBLAS/BLIS/MKL, else the built-in GEMM.",
  }),
  "blas.builtin": bool({
    default: false,
    inCacheKey: true,
    defaultDoc: "unset: the built-in kernel on x86-64 with AVX2+FMA or AVX-512 unless blas.ldflags is set, else a system BLAS",
    doc: "True: always the built-in GEMM kernel. False: blas.ldflags, else a system BLAS found (OpenBLAS/BLIS/MKL). Unset: the built-in kernel where it has a vector micro-kernel (x86-64 AVX2+FMA/AVX-512) and blas.ldflags is empty, a system BLAS elsewhere.",
  }),
  "cmodule.sanitize": bool({
    default: false,
    inCacheKey: true,
    doc: "Build generated C with -fsanitize=address,undefined (debugging; node must preload the sanitizer runtime).",
  }),
  "cmodule.age_thresh_use": number("int", {
    default: 24 * 24 * 3600,
    min: 0,
    inCacheKey: false,
    doc: "Seconds since its last use after which a compile cache entry is deleted (default 24 days).",
  }),
  "lib.cnmem": number("float", {
    default: 0,
    min: 0,
    inCacheKey: false,
    doc: "GPU memory the caching allocator reserves at start: 0 none, 0 < x <= 1 that fraction of the total, x > 1 that many MiB.",
  }),
  // issue 15.3: without it each fresh array of 128 KiB or more is new memory that the kernel
  // maps a page at a time (a 16 MB output: 27 ms of page faults here, 0.5 ms reused).
  // issue 14.4: Scan's loop in generated code (the C backend's step loop, src/link/c/step_loop.ts).
  "scan.native_loop": bool({
    default: true,
    inCacheKey: false,
    doc: "Run a scan's steps in the backend's generated loop where its body allows (the C backend: a body that is one C segment); False calls the compiled body from the host once per step.",
  }),
  // issue 19: the C backend calls MPI from the generated module (src/link/c/ops/distributed.ts).
  "distributed.c_collectives": bool({
    default: true,
    inCacheKey: true,
    doc: "On the C backend, run allReduce and allGather inside the generated module (MPI called from C, no host round trip) when theano.distributed.init() ran before the function was compiled; False runs them on the host between C segments.",
  }),
  "distributed.mpi_library": oneOf({
    values: ["auto", "openmpi", "mpich"],
    default: "auto",
    inCacheKey: false,
    doc:
      "Which MPI theano.distributed.init() opens: openmpi (libmpi.so.40) or mpich (libmpich.so.12, libmpi.so.12: MPICH and the libraries of its ABI); " +
      "auto follows the launcher (OMPI_COMM_WORLD_SIZE: Open MPI's mpirun; PMI_SIZE, PMI_RANK or HYDRA_*: MPICH's mpiexec), else the first found (Open MPI first). init({ library }) overrides it.",
  }),
  "wasm.num_threads": number("int", {
    default: 0,
    defaultDoc: "0: the machine's cores (os.availableParallelism()), at most 8",
    min: 0,
    inCacheKey: false,
    doc:
      "Threads the wasm linker splits a large matrix product across, by rows (Node worker_threads over a shared WebAssembly memory; results equal one thread's bit for bit); " +
      "1: one thread. Where the runtime has no SharedArrayBuffer or worker_threads, one thread after one warning.",
  }),
  "lib.host_reuse_mb": number("int", {
    default: -1,
    defaultDoc: "-1: 1/16 of the machine's memory, at most 512",
    min: -1,
    inCacheKey: false,
    doc: "MiB of freed array memory the process heap keeps for reuse by the next arrays (glibc mallopt thresholds, set at the first compiled function); 0 leaves the C library's defaults.",
  }),
  "gpuarray.preallocate": number("float", {
    default: 0,
    min: 0,
    inCacheKey: false,
    doc: "Same meaning as lib.cnmem (the gpuarray backend's spelling of it).",
  }),
  "gpuarray.allow_tf32": bool({
    default: false,
    inCacheKey: true,
    doc: "Let float32 matrix products use TF32 tensor cores (faster, 10-bit mantissa inputs).",
  }),
  "cuda.root": str({
    default: "",
    isPath: true,
    inCacheKey: true,
    doc: "CUDA installation to load NVRTC and cuBLAS from; empty: the usual library locations.",
  }),
  "NanGuardMode.nan_is_error": bool({
    default: true,
    inCacheKey: false,
    doc: "NanGuardMode raises NaNError when a node's output holds a NaN.",
  }),
  "NanGuardMode.inf_is_error": bool({
    default: true,
    inCacheKey: false,
    doc: "NanGuardMode raises NaNError when a node's output holds an infinity.",
  }),
  "NanGuardMode.big_is_error": bool({
    default: true,
    inCacheKey: false,
    doc: "NanGuardMode raises NaNError when a node's output holds a value of magnitude above 1e10.",
  }),
  // Theano's DebugMode flags, spelt as Theano spells them so its tutorials' THEANO_FLAGS and
  // rc files are accepted as written. DebugMode (src/compile/debug_modes.ts) reads check_c and warn_only; the others are accepted only.
  "DebugMode.patience": number("int", {
    default: 10,
    min: 1,
    inCacheKey: false,
    doc: "DebugMode: how many times the rewrites are re-run to look for an unstable result (Theano's patience). Accepted; no effect until DebugMode lands.",
  }),
  "DebugMode.check_c": bool({
    default: true,
    inCacheKey: false,
    doc: "DebugMode: also compare each node's C code (when a compiler works) with its reference perform; the JS code is always compared.",
  }),
  "DebugMode.check_py": bool({
    default: true,
    inCacheKey: false,
    doc: "DebugMode: run and compare each node's reference implementation (perform). Accepted; no effect until DebugMode lands.",
  }),
  "DebugMode.check_finite": bool({
    default: true,
    inCacheKey: false,
    doc: "DebugMode: raise when a node's output holds NaN or Inf. Accepted; no effect until DebugMode lands.",
  }),
  "DebugMode.check_strides": number("int", {
    default: 0,
    min: 0,
    max: 2,
    inCacheKey: false,
    doc: "DebugMode: check that outputs' strides do not depend on the implementation: 0 no, 1 warn, 2 raise. Accepted; no effect until DebugMode lands.",
  }),
  "DebugMode.warn_only": bool({
    default: false,
    inCacheKey: false,
    doc: "DebugMode: warn instead of raising DebugModeError.",
  }),
  "DebugMode.warn_input_not_reused": bool({
    default: true,
    inCacheKey: false,
    doc: "DebugMode: warn when an op declared in place (destroy/view map) did not reuse its input. Accepted; no effect until DebugMode lands.",
  }),
  "DebugMode.check_preallocated_output": str({
    default: "",
    valid: (s): s is string => s.split(":").every((w) => PREALLOCATED_CHECKS.has(w.trim())),
    allowed: `names separated by ':' from ${[...PREALLOCATED_CHECKS].filter((w) => w !== "").join(", ")} (empty: none)`,
    inCacheKey: false,
    doc: "DebugMode: output buffers to hand each node before it runs (initial, previous, c_contiguous, f_contiguous, strided, wrong_size, ALL). Accepted; no effect until DebugMode lands.",
  }),
  "DebugMode.check_preallocated_output_ndim": number("int", {
    default: 4,
    min: 0,
    inCacheKey: false,
    doc: "DebugMode: with check_preallocated_output, test strided buffers of at most this many dimensions. Accepted; no effect until DebugMode lands.",
  }),
  print_test_value: bool({
    default: false,
    inCacheKey: false,
    doc: "Printing a variable shows its test value when it has one (Theano's flag; works with compute_test_value). Accepted; debugprint does not print test values yet (they are computed: compute_test_value, x.tag.testValue).",
  }),
} satisfies Record<string, FlagSpec>;

// ---------------------------------------------------------------------------------------------
// Types derived from the schema, so they can never drift from it.

type Schema = typeof SCHEMA;

/** Every flag name, dotted for sectioned flags (`"floatX" | "lib.cnmem" | ...`). */
export type FlagName = keyof Schema;

/** The value type of each flag, by its full name. */
export type FlagValues = { [K in FlagName]: Schema[K] extends FlagSpec<infer T> ? T : never };

type TopName = Exclude<FlagName, `${string}.${string}`>;
type SectionName = FlagName extends infer K ? (K extends `${infer S}.${string}` ? S : never) : never;

/** `config.lib.cnmem`-style view of one section's flags. */
export type ConfigSection<S extends SectionName> = {
  [K in FlagName as K extends `${S}.${infer R}` ? R : never]: FlagValues[K];
};

/** The flags as a tree: top-level flags, and one object per section. */
export type ConfigTree = { [K in TopName]: FlagValues[K] } & {
  readonly [S in SectionName]: ConfigSection<S>;
};

export const FLAG_NAMES: readonly FlagName[] = Object.keys(SCHEMA) as FlagName[];

export function isFlagName(name: string): name is FlagName {
  return Object.prototype.hasOwnProperty.call(SCHEMA, name);
}

/** The spec of a flag, typed loosely enough to be used generically. */
export function specOf(name: FlagName): FlagSpec {
  return SCHEMA[name];
}

/** One line describing a flag: type, accepted values, default, cache key, doc. */
export function describeSpec(name: FlagName): string {
  const s = specOf(name);
  const def = typeof s.default === "function" ? (s.defaultDoc ?? "computed") : show(s.default);
  const key = s.inCacheKey ? "; in the compile cache key" : "";
  return `${name} (${s.type}: ${s.allowed}; default ${def}${key}): ${s.doc}`;
}

// ---------------------------------------------------------------------------------------------
// "Did you mean": flags and enum values are suggested by a case-insensitive match first (the
// commonest mistake: floatx), then by the part after the section (cnmem -> lib.cnmem), then by
// edit distance (optimal string alignment, so a transposition such as "flaotX" counts once).

function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word`, if any is near enough. `maxDistance` defaults to a third of
 * the word's length (at least 2); enum values pass 1, so that a real but unsupported value
 * (float16) is not "corrected" into a different one (float32).
 */
export function nearest(word: string, candidates: readonly string[], maxDistance?: number): string | undefined {
  const w = word.toLowerCase();
  const exact = candidates.find((c) => c.toLowerCase() === w);
  if (exact !== undefined) return exact;
  const bySection = candidates.find((c) => c.includes(".") && c.slice(c.lastIndexOf(".") + 1).toLowerCase() === w);
  if (bySection !== undefined) return bySection;
  let best: string | undefined;
  let bestDist = (maxDistance ?? Math.max(2, Math.floor(w.length / 3))) + 1;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestDist) [best, bestDist] = [c, dist];
  }
  return best;
}

export { show as showValue };
