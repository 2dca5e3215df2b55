/**
 * The C compiler and the native libraries as the C backend sees them: which compiler
 * (`config.cxx`) with which flags, whether it can build and load a module at all
 * (`cCompilerStatus`, the basis of `linker=auto`), whether OpenMP works with it, how to build one
 * translation unit into a shared object, and which system BLAS to link (`findBlas`).
 *
 * Theano's lesson (cmodule.py, blas_headers.py): a compiler that exists but cannot build, an
 * OpenMP runtime that is missing, or a BLAS that does not export what we call showed up as
 * opaque failures deep inside the first `theano.function`. Here each is probed once per process
 * with a tiny module built through the compile cache (src/link/cache.ts), so a warm process pays
 * a cache lookup, not a compiler run, and a failure becomes one sentence saying what to install.
 *
 * Everything is synchronous because `theano.function` is.
 */

import { spawnSync } from "node:child_process";
import { accessSync, constants as fsConstants, mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, dirname, basename } from "node:path";
import { CompileError } from "../../errors.js";
import { config } from "../../config/index.js";
import { openLibrary, spawnProcess, type NativeLibrary } from "./ffi.js";
import { UNIT_BREAK } from "./support.js";
import { buildBatchId } from "../batch.js";
import { builtinGemmKernel } from "./gemm.js";
import { isCompiledirError, loadModule, warn } from "../cache.js";
import { libraryUntrustedReason } from "../trust.js";

export interface CCompiler {
  /** The command (`config.cxx`). */
  readonly command: string;
  /** First line of `<cc> --version`, for messages and meta.json. */
  readonly version: string;
  /** All of `<cc> --version` (version, target, vendor): part of every cache key. */
  readonly identity: string;
}

let found: { cxx: string; compiler: CCompiler | null; why: string } | null = null;

function probeCompiler(): { cxx: string; compiler: CCompiler | null; why: string } {
  const cxx = String(config.cxx);
  if (found && found.cxx === cxx) return found;
  let compiler: CCompiler | null = null;
  let why = "";
  if (cxx === "") {
    why = "config.cxx is empty (none of cc, gcc, clang was found on PATH)";
  } else {
    const r = spawnSync(cxx, ["--version"], { encoding: "utf8" });
    if (r.status === 0) {
      const identity = (r.stdout ?? "").trim();
      compiler = { command: cxx, version: (identity.split("\n")[0] ?? "").trim(), identity };
    } else {
      why = `\`${cxx} --version\` failed (${r.error ? r.error.message : `exit status ${r.status}: ${(r.stderr ?? "").trim().split("\n")[0]}`})`;
    }
  }
  found = { cxx, compiler, why };
  return found;
}

/** The configured compiler, or null when `config.cxx` is empty or does not run. */
export function findCompiler(): CCompiler | null {
  return probeCompiler().compiler;
}

/** How to get the C backend, appended to every "no C" message. */
const HOW_TO_GET_C = "install gcc or clang (e.g. apt-get install gcc), or point THEANO_FLAGS=cxx=/path/to/cc at one";

/**
 * Marks a shared object never to be unmapped (ELF DF_1_NODELETE), nor the libraries it needs.
 * The OpenMP probe carries it, which pins the OpenMP runtime for the process: libgomp's idle
 * threads stay parked in libgomp between parallel regions, so unloading libgomp together with
 * the last module that needs it (an explicit free, or koffi's finalizers unloading every
 * library when node exits) makes them run unmapped code and node crashes.
 */
const NODELETE = typeof process !== "undefined" && process.platform === "linux" ? ["-Wl,-z,nodelete"] : [];

/** The flags every module is built with, before OpenMP (no -ffast-math: NaN and Inf must behave). */
function baseFlags(): string[] {
  const flags = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c11"];
  // No NODELETE: modules are unloaded when their last function is freed (issue 13.11); the
  // OpenMP runtime, which must outlive them, is pinned by the OpenMP probe (see NODELETE).
  // Instrumented modules unload too (libasan is preloaded; libubsan unloads and reloads cleanly).
  if (config.cmodule.sanitize) flags.push("-fsanitize=address,undefined", "-fno-omit-frame-pointer");
  const extra = String(config.gcc.cxxflags).trim();
  if (extra) flags.push(...extra.split(/\s+/));
  return flags;
}

/**
 * The flags every module is built with: `-fopenmp` only when `config.openmp` is on and the
 * compiler can actually build and load an OpenMP module (otherwise one warning says so and the
 * generated code, whose `#pragma omp` lines the compiler then ignores, runs on one core).
 */
export function compileFlags(): string[] {
  const flags = baseFlags();
  if (config.openmp && openmpStatus().ok) flags.push("-fopenmp");
  if (goldLinks(flags)) flags.push("-fuse-ld=gold");
  return flags;
}

const pathMemo = new Map<string, boolean>();

/** Whether an executable `name` is in a directory of PATH (memoised per PATH: compileFlags runs on every module lookup). */
function onPath(name: string): boolean {
  const path = process.env["PATH"] ?? "";
  const memoKey = `${name}\0${path}`;
  let hit = pathMemo.get(memoKey);
  if (hit === undefined) {
    hit = path.split(":").some((dir) => {
      if (dir === "") return false;
      try {
        accessSync(join(dir, name), fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    pathMemo.set(memoKey, hit);
  }
  return hit;
}

const goldMemo = new Map<string, boolean>();

/**
 * Whether modules are linked with gold (`-fuse-ld=gold`) rather than the compiler's default
 * linker. A module's build is mostly fixed cost, and GNU ld (bfd) is a good part of it: linking a
 * typical 30 KB module took 80 ms with bfd and 45 ms with gold on a 2-core x86-64 VM (gcc 12,
 * binutils 2.40), a seventh of the whole build at -O0. Only on Linux, where binutils ships
 * `ld.gold`, when it is on PATH and the flags name no linker already (`gcc.cxxflags=-fuse-ld=...`
 * wins, `-fuse-ld=bfd` turns this off); a probe module must link, load and compute with it
 * (probed once per process and flags, a cache hit after the first process). Otherwise the
 * default linker, silently: it is only slower.
 */
function goldLinks(flags: readonly string[]): boolean {
  if (process.platform !== "linux" || flags.some((f) => f.startsWith("-fuse-ld=")) || !onPath("ld.gold")) return false;
  const { compiler } = probeCompiler();
  if (!compiler) return false;
  const probeFlags = [...flags, "-fuse-ld=gold"];
  const memoKey = `${compiler.command}\0${compiler.identity}\0${probeFlags.join(" ")}\0${String(config.compiledir)}`;
  const known = goldMemo.get(memoKey);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    const mod = loadModule(GOLD_PROBE, { flags: probeFlags, graph: "the gold linker probe" });
    ok = mod.library.func("int theano_ts_gold_probe(int a)")(20) === 41;
  } catch (e) {
    if (isCompiledirError(e)) throw e;
    ok = false;
  }
  goldMemo.set(memoKey, ok);
  return ok;
}

const GOLD_PROBE = `#include <math.h>
int theano_ts_gold_probe(int a) { return 2 * a + (int)floor(1.5); }
`;

const OPENMP_PROBE = `#include <omp.h>
int theano_ts_omp_probe(int n) {
  int s = 0;
#pragma omp parallel for reduction(+:s)
  for (int i = 0; i < n; i++) s += i;
  return s + 0 * omp_get_max_threads();
}
`;

const openmpMemo = new Map<string, { ok: boolean; reason: string }>();

/**
 * Whether `-fopenmp` works with the configured compiler: a tiny OpenMP module must build, load
 * and compute. Probed once per process and compiler (a cache hit after the first process).
 */
export function openmpStatus(): { ok: boolean; reason: string } {
  const compiler = findCompiler();
  if (!compiler) return { ok: false, reason: `no C compiler: ${probeCompiler().why}` };
  // The probe stays loaded (NODELETE): every process and thread that builds an OpenMP module
  // has loaded it first (compileFlags asks here), so the runtime outlives any module unloaded.
  const flags = [...baseFlags(), "-fopenmp", ...NODELETE];
  // Not keyed by compiledir: whether OpenMP works is a fact about the compiler.
  const memoKey = `${compiler.command}\0${compiler.identity}\0${flags.join(" ")}`;
  const known = openmpMemo.get(memoKey);
  if (known) return known;
  let status: { ok: boolean; reason: string };
  try {
    const mod = loadModule(OPENMP_PROBE, { flags, graph: "the OpenMP probe of theano-ts check" });
    const got = mod.library.func("int theano_ts_omp_probe(int n)")(100);
    status = got === 4950 ? { ok: true, reason: "" } : { ok: false, reason: `the OpenMP probe module computed ${String(got)} instead of 4950` };
  } catch (e) {
    // An unusable compile cache (unsafe, unwritable, full) says nothing about OpenMP: pass it
    // on, unmemoized, rather than warn "install the OpenMP runtime" and build without it.
    if (isCompiledirError(e)) throw e;
    status = { ok: false, reason: (e as Error).message };
  }
  openmpMemo.set(memoKey, status);
  if (!status.ok && config.openmp) {
    warn(
      `theano-ts: OpenMP does not work with ${compiler.command} (${status.reason}); generated C code will run on one core. ` +
        "Install the compiler's OpenMP runtime (libgomp for gcc, libomp for clang), or set THEANO_FLAGS=openmp=False to silence this warning.",
    );
  }
  return status;
}

/** Can the C backend run here? `reason` says why not and how to get it. */
export interface CCompilerStatus {
  readonly ok: boolean;
  /** Empty when ok; otherwise what failed and what to install or set. */
  readonly reason: string;
  readonly compiler: CCompiler | null;
  /** Whether modules are built with `-fopenmp`. */
  readonly openmp: boolean;
}

const statusMemo = new Map<string, CCompilerStatus>();

const TEST_MODULE = `int theano_ts_probe(int a) { return 2 * a + 1; }\n`;

/**
 * Checks once per process (and per `cxx`/flags/compiledir) that the configured compiler can
 * build a tiny module through the compile cache and that it loads and computes. The C linker's
 * `linker=auto` falls back to js when `ok` is false, warning once with `reason`.
 */
export function cCompilerStatus(): CCompilerStatus {
  const { compiler, why } = probeCompiler();
  if (!compiler) return { ok: false, reason: `no C compiler: ${why}; ${HOW_TO_GET_C}`, compiler: null, openmp: false };
  let flags: string[];
  try {
    flags = compileFlags();
  } catch (e) {
    if (!isCompiledirError(e)) throw e;
    return { ok: false, reason: `the compile cache cannot be used: ${(e as Error).message}`, compiler, openmp: false };
  }
  const memoKey = `${compiler.command}\0${compiler.identity}\0${flags.join(" ")}\0${String(config.compiledir)}`;
  const known = statusMemo.get(memoKey);
  if (known) return known;
  let status: CCompilerStatus;
  const openmp = flags.includes("-fopenmp");
  try {
    const mod = loadModule(TEST_MODULE, { graph: "the compiler check (a test module)" });
    const got = mod.library.func("int theano_ts_probe(int a)")(3);
    status =
      got === 7
        ? { ok: true, reason: "", compiler, openmp }
        : { ok: false, reason: `${compiler.command} built a test module that computed ${String(got)} instead of 7; ${HOW_TO_GET_C}`, compiler, openmp };
  } catch (e) {
    // The compiler may be fine: say so rather than "install gcc" when the cache is what failed.
    status = isCompiledirError(e)
      ? { ok: false, reason: `the compile cache cannot be used: ${(e as Error).message}`, compiler, openmp }
      : { ok: false, reason: `${compiler.command} cannot build and load a test module: ${(e as Error).message}; ${HOW_TO_GET_C}`, compiler, openmp };
  }
  statusMemo.set(memoKey, status);
  return status;
}

/**
 * Split compilation: a module whose pieces (support.ts UNIT_BREAK) hold at least this many
 * characters is compiled as several translation units at once, then linked. gcc uses one core
 * per unit, and at -O3 a module costs about 15 ms per KB of source (the W3 MLP step: 125 KB,
 * 1.7 s on one core), so two idle cores about halve the wall time of a cold compile; below this
 * size the extra compiler runs and the link cost more than they save.
 */
export const SPLIT_MIN_SOURCE = 12_000;

/** Most units a module is split into (beyond this, the per-unit header parse dominates). */
const SPLIT_MAX_UNITS = 8;

/**
 * How many units to compile a module of `pieces` pieces holding `size` characters as, on
 * `cores` cores whose 1-minute load average is `load`. Splitting only pays on idle cores: each
 * extra unit parses the prelude again and the objects are linked (about 0.2 s of CPU more per
 * module), so on a busy machine (a test suite's workers, a build beside it) it makes the
 * compile slower, not faster. One unit per core that the load leaves idle, the compiling
 * process's own core included.
 */
export function splitUnitCount(size: number, pieces: number, cores: number, load: number): number {
  if (size < SPLIT_MIN_SOURCE || pieces < 2) return 1;
  const idle = Math.floor(cores - load + 1.5);
  return Math.max(1, Math.min(cores, idle, SPLIT_MAX_UNITS, pieces));
}

/** How many translation units `source` is compiled as here and now (`parallel` overrides the machine's idle cores). */
function unitCount(source: string, parallel?: number): number {
  if (process.platform === "win32" || !existsSync("/bin/sh")) return 1;
  const first = source.indexOf(UNIT_BREAK);
  if (first < 0 || source.length - first < SPLIT_MIN_SOURCE) return 1;
  const pieces = source.split(UNIT_BREAK).length - 1;
  const cores = parallel ?? availableParallelism();
  return splitUnitCount(source.length - first, pieces, cores, parallel === undefined ? busyCores() : 0);
}

/**
 * How many cores other work keeps busy now: measured over 20 ms from /proc/stat (the load
 * average lags by a minute: right after a benchmark or a test file it still says "busy" for an
 * idle machine, and the next compile ran as one unit), else the 1-minute load average. Once per
 * build batch (cache.ts): the batch's own compilers, started one after another, are not other
 * work, and the largest module usually comes last.
 */
function busyCores(): number {
  const batch = buildBatchId();
  if (batch !== 0 && busyMemo.batch === batch) return busyMemo.busy;
  const busy = measureBusy() ?? loadavg()[0]!;
  busyMemo = { batch, busy };
  return busy;
}
let busyMemo = { batch: 0, busy: 0 };

/** /proc/stat's busy cores over a short window, or null where it cannot be read. */
function measureBusy(): number | null {
  const sample = (): [number, number] | null => {
    try {
      const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
      const v = line.trim().split(/\s+/).slice(1).map(Number);
      if (v.length < 4 || v.some((x) => !Number.isFinite(x))) return null;
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      return [total, v[3]! + (v[4] ?? 0)];
    } catch {
      return null;
    }
  };
  const a = sample();
  if (!a) return null;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  const b = sample();
  if (!b || b[0] <= a[0]) return null;
  return (1 - (b[1] - a[1]) / (b[0] - a[0])) * availableParallelism();
}

/** The units' sources: the prelude, then the pieces spread by size (longest first, onto the shortest unit). */
function splitUnits(source: string, units: number): string[] {
  const [prelude, ...pieces] = source.split(UNIT_BREAK);
  const bins = Array.from({ length: units }, () => ({ size: 0, parts: [] as Array<[number, string]> }));
  const order = pieces.map((p, i) => [i, p] as [number, string]).sort((a, b) => b[1].length - a[1].length);
  for (const piece of order) {
    const bin = bins.reduce((a, b) => (b.size < a.size ? b : a));
    bin.parts.push(piece);
    bin.size += piece[1].length;
  }
  // source order inside a unit (a piece may use a macro an earlier piece of its own defines)
  return bins.filter((b) => b.parts.length > 0).map((b) => ["#define TH_SPLIT 1", prelude, ...b.parts.sort((x, y) => x[0] - y[0]).map((p) => p[1])].join("\n"));
}

/** A word for `sh -c`: single-quoted. */
const shq = (w: string): string => `'${w.split("'").join(`'\\''`)}'`;

/**
 * Starts `script` with `/bin/sh -c`, its stdin /dev/null and its stdout and stderr together in
 * `outFile` (read back and removed by `finish()`). Through ffi.ts's spawnProcess where it exists:
 * the script runs while this process goes on (the compile cache overlaps several modules' builds),
 * and spawnSync would fork this process, which costs tens of milliseconds per compile once the
 * heap holds a model (or a test runner's hundreds of graphs); spawnProcess does not fork.
 * Elsewhere spawnSync runs it to the end at once.
 */
function startScript(script: string, outFile: string): { finish(): { status: number; output: string } } {
  const wrapped = `exec >${shq(outFile)} 2>&1 </dev/null\n${script}`;
  const collect = (status: number, extra: string): { status: number; output: string } => {
    let output = extra;
    if (existsSync(outFile)) {
      output = readFileSync(outFile, "utf8") + output;
      rmSync(outFile, { force: true });
    }
    return { status, output };
  };
  const child = fastSpawn ? spawnProcess(["/bin/sh", "-c", wrapped], process.env) : null;
  if (child) return { finish: () => collect(child.wait(), "") };
  const r = spawnSync("/bin/sh", ["-c", wrapped], { encoding: "utf8" });
  const done = collect(r.status ?? 128, `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`);
  return { finish: () => done };
}

let fastSpawn = true;
/** Tests: compile through spawnSync (false) or spawnProcess where it exists (true, the default). */
export function setFastSpawnForTests(on: boolean): boolean {
  const was = fastSpawn;
  fastSpawn = on;
  return was;
}

/** The first diagnostic of a compiler log that names the cause: the compiler's own, else the linker's. */
function firstDiagnostic(lines: readonly string[]): string {
  return (lines.find((l) => /error|fatal/i.test(l) && !l.startsWith("collect2")) ?? lines.find((l) => /\bld\b.*:/.test(l)) ?? lines.find((l) => /error/.test(l)) ?? "").trim();
}

/**
 * Compiles `source` into a shared object in `dir` (a fresh temporary directory when omitted)
 * and returns its path. `flags` replaces `compileFlags()` (the probes use it); `parallel` fixes the
 * number of idle cores assumed (default: the machine's, from its load). A large module
 * made of pieces (support.ts UNIT_BREAK) is compiled as several units in parallel, each with
 * the same flags (so sanitizer builds instrument all of them), and linked into one object. On
 * failure the source and the compiler's log stay in `dir` and the CompileError says where.
 */
export function compileSharedObject(source: string, opts: SharedObjectOptions = {}): string {
  return startSharedObject(source, opts).finish();
}

export interface SharedObjectOptions {
  readonly dir?: string;
  readonly ldflags?: readonly string[];
  readonly flags?: readonly string[];
  readonly parallel?: number;
}

/**
 * compileSharedObject in two halves: the compiler runs (in the background where spawnProcess
 * exists) from this call on, and `finish()` waits for it and returns the shared object's path or
 * throws the CompileError. Several modules started before any is finished compile at once.
 */
export function startSharedObject(source: string, opts: SharedObjectOptions = {}): { finish(): string } {
  const { compiler, why } = probeCompiler();
  if (!compiler) throw new CompileError(`no C compiler: ${why}; ${HOW_TO_GET_C}`);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "theano-ts-"));
  const src = join(dir, "mod.c");
  const so = join(dir, "mod.so");
  const log = join(dir, "compile.log");
  writeFileSync(src, source, { mode: 0o600 });
  const flags = opts.flags ?? compileFlags();
  const units = unitCount(source, opts.parallel);
  const fail = (text: string): never => {
    const firstError = firstDiagnostic(text.split("\n"));
    throw new CompileError(
      `the C compiler failed on a generated module${firstError ? `: ${firstError}` : ""}; source kept at ${src}, compiler log at ${log}`,
      src,
      log,
    );
  };
  // One script: the units (each to an object, all at once), then, when all of them compiled, the
  // link. Each step leaves its log and status in `dir` for finish() to read.
  const cflags = flags.filter((f) => f !== "-shared" && !f.startsWith("-Wl,"));
  const names =
    units > 1
      ? splitUnits(source, units).map((text, i) => {
          const base = join(dir, `unit${i}`);
          writeFileSync(`${base}.c`, text, { mode: 0o600 });
          return base;
        })
      : [];
  const unitArgs = (b: string): string[] => [...cflags, "-c", "-o", `${b}.o`, `${b}.c`];
  const objects = units > 1 ? names.map((b) => `${b}.o`) : [src];
  const linkArgs = [...flags, "-o", so, ...objects, ...(opts.ldflags ?? []), "-lm"];
  const linkLog = join(dir, "link.log");
  const script = [
    ...names.map((b) => `(${[compiler.command, ...unitArgs(b)].map(shq).join(" ")} >${shq(`${b}.log`)} 2>&1; echo $? >${shq(`${b}.rc`)}) &`),
    ...(names.length > 0 ? ["wait", ...names.map((b) => `[ "$(cat ${shq(`${b}.rc`)} 2>/dev/null)" = 0 ] && [ -f ${shq(`${b}.o`)} ] || exit 90`)] : []),
    `${[compiler.command, ...linkArgs].map(shq).join(" ")} >${shq(linkLog)} 2>&1`,
  ].join("\n");
  const run = startScript(script, join(dir, "build.out"));
  let result: string | null = null;
  return {
    finish(): string {
      if (result !== null) return result;
      const r = run.finish();
      let logText = "";
      let unitsFailed = false;
      for (const b of names) {
        const rc = existsSync(`${b}.rc`) ? readFileSync(`${b}.rc`, "utf8").trim() : "missing";
        const out = existsSync(`${b}.log`) ? readFileSync(`${b}.log`, "utf8") : "";
        logText += `${compiler.command} ${unitArgs(b).join(" ")}\n${out}`;
        if (rc !== "0" || !existsSync(`${b}.o`)) unitsFailed = true;
      }
      if (unitsFailed) {
        logText += r.output;
        writeFileSync(log, logText, { mode: 0o600 });
        fail(logText);
      }
      const linkOut = existsSync(linkLog) ? readFileSync(linkLog, "utf8") : "";
      rmSync(linkLog, { force: true });
      const linkText = `${linkOut}${r.output}`;
      logText += `${compiler.command} ${linkArgs.join(" ")}\n${linkText}`;
      writeFileSync(log, logText, { mode: 0o600 });
      if (r.status !== 0 || !existsSync(so)) fail(names.length > 0 ? linkText : logText.split("\n").slice(1).join("\n"));
      // The units are scratch once linked: the entry keeps mod.c (the whole module) and the log.
      for (const b of names) for (const ext of [".o", ".c", ".log", ".rc"]) rmSync(b + ext, { force: true });
      return (result = so);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// BLAS discovery (ISSUE 6 item 3).

/** The system BLAS the generated GEMM calls, or null for the built-in kernel. */
export interface BlasInfo {
  /** What it is, for `theano-ts check` and messages. */
  readonly name: "openblas" | "blis" | "mkl" | "cblas" | "blas" | "custom";
  /** Where it came from: the `blas.ldflags` flag or a search of the library directories. */
  readonly source: "config" | "discovered";
  /** The shared library found (null for `blas.ldflags`, which the linker resolves). */
  readonly path: string | null;
  /** Flags to append to the compile command (`loadModule(src, { ldflags })`). */
  readonly ldflags: readonly string[];
  /** `cblas`: `cblas_sgemm`/`cblas_dgemm` exist; `fortran`: only `sgemm_`/`dgemm_`. */
  readonly interface: "cblas" | "fortran";
}

const CBLAS_PROTO = (t: "s" | "d") => {
  const T = t === "s" ? "float" : "double";
  return `void cblas_${t}gemm(int order, int ta, int tb, int m, int n, int k, ${T} alpha, const ${T} *a, int lda, const ${T} *b, int ldb, ${T} beta, ${T} *c, int ldc)`;
};
const FORTRAN_PROTO = (t: "s" | "d") => {
  const T = t === "s" ? "float" : "double";
  return `void ${t}gemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k, const ${T} *alpha, const ${T} *a, const int *lda, const ${T} *b, const int *ldb, const ${T} *beta, ${T} *c, const int *ldc)`;
};

/** Which GEMM interface a shared library exports, by loading it through the FFI; null: none. */
function blasInterface(path: string): "cblas" | "fortran" | null {
  let lib;
  try {
    lib = openLibrary(path);
  } catch {
    return null;
  }
  const has = (proto: string): boolean => {
    try {
      lib.func(proto);
      return true;
    } catch {
      return false;
    }
  };
  const iface = has(CBLAS_PROTO("s")) && has(CBLAS_PROTO("d")) ? "cblas" : has(FORTRAN_PROTO("s")) && has(FORTRAN_PROTO("d")) ? "fortran" : null;
  // The BLAS chosen stays loaded for the process: the modules linking it would load it again,
  // and unloading OpenBLAS tears down (and the next load restarts) its thread pool.
  if (iface) keptBlas.push(lib);
  else lib.close();
  return iface;
}

const keptBlas: NativeLibrary[] = [];

/** Library file names in order of preference: tuned BLAS first, the reference BLAS last. */
const BLAS_CANDIDATES: ReadonlyArray<{ name: BlasInfo["name"]; pattern: RegExp }> = [
  { name: "openblas", pattern: /^libopenblas(p?-r[\d.]+|_?\w*)?\.so(\.\d+)*$/ },
  { name: "mkl", pattern: /^libmkl_rt\.so(\.\d+)*$/ },
  { name: "blis", pattern: /^libblis(-mt)?\.so(\.\d+)*$/ },
  { name: "cblas", pattern: /^libcblas\.so(\.\d+)*$/ },
  { name: "blas", pattern: /^libblas\.so(\.\d+)*$/ },
];

/** The directories searched, most specific first: environments the user activated, then the system. */
function blasSearchDirs(): string[] {
  const env = process.env;
  const dirs: string[] = [];
  for (const prefix of [env.CONDA_PREFIX, env.VIRTUAL_ENV, env.MKLROOT]) if (prefix) dirs.push(join(prefix, "lib"), join(prefix, "lib", "intel64"));
  for (const d of (env.LD_LIBRARY_PATH ?? "").split(":")) if (d) dirs.push(d);
  dirs.push(...ldSoConfDirs("/etc/ld.so.conf", 0));
  const multiarch = `/usr/lib/${process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch}-linux-gnu`;
  for (const base of [multiarch, "/usr/lib64", "/usr/lib", "/usr/local/lib", "/opt/OpenBLAS/lib"]) {
    dirs.push(base);
    // Debian/Ubuntu keep each BLAS variant in its own subdirectory behind the alternatives system.
    for (const sub of ["openblas-pthread", "openblas-openmp", "openblas-serial", "openblas", "blis-pthread", "blis-openmp", "blis-serial", "blas"]) dirs.push(join(base, sub));
  }
  return [...new Set(dirs)];
}

/**
 * The directories the dynamic loader's cache indexes (what `ldconfig -p` lists), read from
 * /etc/ld.so.conf and its `include`s rather than by running ldconfig (~10 ms per process).
 */
function ldSoConfDirs(file: string, depth: number): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const inc = /^include\s+(.+)$/.exec(line);
    if (!inc) {
      out.push(line);
      continue;
    }
    if (depth > 4) continue;
    // Only the `dir/*.conf` form occurs in practice (glibc's own ld.so.conf).
    const pattern = (inc[1] as string).trim();
    const star = pattern.lastIndexOf("*");
    const dir = star >= 0 ? dirname(pattern) : "";
    if (star < 0) out.push(...ldSoConfDirs(pattern, depth + 1));
    else {
      const suffix = pattern.slice(star + 1);
      let names: string[] = [];
      try {
        names = readdirSync(dir).filter((n) => n.endsWith(suffix)).sort();
      } catch {
        // no such directory
      }
      for (const n of names) out.push(...ldSoConfDirs(join(dir, n), depth + 1));
    }
  }
  return out;
}

/** Candidate files: every BLAS-looking shared library in the search directories, by preference. */
function blasCandidates(): Array<{ name: BlasInfo["name"]; path: string }> {
  const files: string[] = [];
  for (const dir of blasSearchDirs()) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (/blas|mkl_rt|blis/.test(n)) files.push(join(dir, n));
  }
  const out: Array<{ name: BlasInfo["name"]; path: string }> = [];
  for (const c of BLAS_CANDIDATES) {
    for (const f of [...new Set(files)]) {
      if (!c.pattern.test(basename(f))) continue;
      try {
        if (statSync(f).isFile()) out.push({ name: c.name, path: f });
      } catch {
        // a dangling link: skip it
      }
    }
  }
  return out;
}

const LINK_PROBE = (sym: string) => `extern void ${sym}(void);\nvoid *theano_ts_blas_probe(void) { return (void *)${sym}; }\n`;

let blasMemo: { key: string; info: BlasInfo | null; report: BlasReport } | null = null;

/**
 * The BLAS the C backend links for GEMM, decided once per process: none when `blas.builtin` is
 * set (the packed kernel of gemm.ts, which can beat a system OpenBLAS held to older kernels,
 * e.g. AVX2 ones by OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU: bench/README.md); `blas.ldflags` when set (and
 * verified to link a module that references `cblas_sgemm` or `sgemm_`; otherwise one warning
 * and the built-in GEMM); else the first of OpenBLAS, MKL, BLIS, libcblas, the reference
 * `libblas.so.3` found in the conda/venv prefixes, LD_LIBRARY_PATH, the loader's directories
 * (/etc/ld.so.conf, what `ldconfig -p` indexes) and the
 * standard library directories that exports sgemm and dgemm; else null (the built-in GEMM).
 * A discovered library is loaded (its constructors run) only if trust.ts trusts it: owned by
 * root or this user, not writable by group or others, nor its directory; the others are
 * skipped with one warning, and `blasReport()` says which was used and why each was skipped.
 */
export function findBlas(): BlasInfo | null {
  const flag = String(config.blas.ldflags).trim();
  // Unset, blas.builtin means: the built-in kernel where it has a vector micro-kernel and no
  // library was named (issue 15.4: on this machine kind it ran W1 at 207 GFLOP/s against the
  // Debian OpenBLAS's 118, and its OpenMP threads are ours, where OpenBLAS's own pool spun
  // against them and slowed the rest of each function); a system BLAS elsewhere (ARM, old x86).
  const builtinUnset = config.sourceOf("blas.builtin").kind === "default";
  const builtin = config.blas.builtin === true || (builtinUnset && flag === "" && builtinGemmKernel() !== null);
  const key = `${builtin}\0${flag}\0${String(config.cxx)}\0${flag === "" && !builtin ? blasSearchDirs().join(":") : ""}`;
  if (blasMemo && blasMemo.key === key) return blasMemo.info;
  let info: BlasInfo | null = null;
  const skipped: Array<{ path: string; reason: string }> = [];
  if (builtin) {
    // blas.builtin: the packed kernel of gemm.ts, whatever BLAS the machine has
  } else if (flag !== "") {
    const ldflags = flag.split(/\s+/);
    const tried: string[] = [];
    for (const [iface, sym] of [["cblas", "cblas_sgemm"], ["fortran", "sgemm_"]] as const) {
      try {
        // -shared links with undefined symbols by default; --no-undefined makes a missing sgemm a link error.
        loadModule(LINK_PROBE(sym), { ldflags: [...ldflags, "-Wl,--no-undefined"], graph: `the BLAS link probe (${sym})` });
        info = { name: "custom", source: "config", path: null, ldflags, interface: iface };
        break;
      } catch (e) {
        if (isCompiledirError(e)) throw e; // not the flag's fault; nothing memoized
        const msg = (e as Error).message.split("; source kept")[0] as string;
        tried.push(e instanceof CompileError && e.logPath ? `${sym}: ${msg} (log: ${e.logPath})` : `${sym}: ${msg}`);
      }
    }
    if (!info) warn(`theano-ts: blas.ldflags=${JSON.stringify(flag)} does not link a module calling cblas_sgemm or sgemm_ (${tried.join("; ")}); using the built-in GEMM.`);
  } else {
    for (const c of blasCandidates()) {
      // Loading a library runs its constructors: never one another user could have written
      // (a libopenblas.so planted in a world-writable LD_LIBRARY_PATH entry or conda prefix).
      const untrusted = libraryUntrustedReason(c.path);
      if (untrusted) {
        skipped.push({ path: c.path, reason: `not trusted: ${untrusted}` });
        continue;
      }
      const iface = blasInterface(c.path);
      if (!iface) {
        skipped.push({ path: c.path, reason: "exports neither cblas_sgemm/cblas_dgemm nor sgemm_/dgemm_ (or does not load)" });
        continue;
      }
      const dir = dirname(c.path);
      info = { name: c.name, source: "discovered", path: c.path, ldflags: [c.path, `-Wl,-rpath,${dir}`], interface: iface };
      break;
    }
    const distrusted = skipped.filter((s) => s.reason.startsWith("not trusted"));
    if (distrusted.length > 0) {
      warn(
        `theano-ts: skipped ${distrusted.length === 1 ? "a BLAS library" : `${distrusted.length} BLAS libraries`} another user could have written (${distrusted.map((s) => `${s.path}: ${s.reason.slice(13)}`).join("; ")}); ` +
          `using ${info ? info.path : "the built-in GEMM"}. Fix the owner and permissions (chmod go-w), or name a library in THEANO_FLAGS=blas.ldflags to use it anyway.`,
      );
    }
  }
  const how = builtin
    ? config.blas.builtin === true
      ? "blas.builtin is set: the built-in GEMM"
      : `the built-in GEMM, by default on CPUs it has a vector kernel for (here ${builtinGemmKernel()}): it shares the OpenMP threads, where a system BLAS's own pool competes with them; blas.builtin=False searches for a system BLAS`
    : flag !== ""
      ? info
        ? `blas.ldflags=${JSON.stringify(flag)} links (${info.interface} interface)`
        : `blas.ldflags=${JSON.stringify(flag)} does not link: the built-in GEMM`
      : info
        ? `discovered ${info.path} (${info.name}, ${info.interface} interface): owned by root or this user, not writable by group or others, nor its directory`
        : "no trusted BLAS exporting sgemm and dgemm was found: the built-in GEMM";
  blasMemo = { key, info, report: { blas: info, how, skipped } };
  return info;
}

/** Which BLAS the C backend uses and why, for `theano-ts check`. */
export interface BlasReport {
  /** The BLAS linked, or null for the built-in GEMM. */
  readonly blas: BlasInfo | null;
  /** One sentence: how it was chosen and why it is trusted. */
  readonly how: string;
  /** Libraries found by the search but not used, in search order, each with why. */
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>;
}

/** The report of `findBlas()` (running it if it has not run for the current flags). */
export function blasReport(): BlasReport {
  findBlas();
  return blasMemo!.report;
}
