/**
 * The facts `theano-ts check` reports (API.md §12), gathered where they are known: the C
 * compiler and OpenMP (c/compiler.ts), the BLAS choice and the libraries skipped
 * (`blasReport`), the CUDA driver search (device/index.ts) and the same directories searched
 * for NVRTC and cuBLAS, the optional `webgpu` package, the compile cache's health
 * (cache.ts) and every flag that differs from its default with its source.
 *
 * The seeds' manual version matrix asked the user to run five commands and compare; here one
 * call collects it and `problems` says which configured thing cannot work (the CLI's exit 1).
 * Data only: src/cli/check.ts formats it, `theano.environment.report()` gives it to code.
 */

import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { config, FLAG_NAMES, flagSource, formatSource } from "../config/index.js";
import { cCompilerStatus, compileFlags, blasReport, openmpStatus } from "./c/compiler.js";
import { compiledir } from "./cache.js";
import { list as listEntries, verify as verifyCache } from "./cache_admin.js";
import { findCudaDriver, requireUsableDevice } from "./device/index.js";
import { tuneHostHeap } from "./host_heap.js";
import { wasmApi } from "./wasm/emitter.js";
import { type AdapterInfo, probeWebGpu } from "./webgpu/runtime.js";

export interface EnvironmentReport {
  readonly node: { readonly version: string; readonly platform: string; readonly arch: string };
  /** The koffi package (the FFI the C backend loads modules with); null when it cannot be read. */
  readonly koffi: string | null;
  readonly c: {
    /** The C backend can build and load a test module. */
    readonly ok: boolean;
    /** Empty when ok, otherwise what failed and how to get it. */
    readonly reason: string;
    readonly command: string;
    /** First line of `<cc> --version`, or null when there is no working compiler. */
    readonly version: string | null;
    /** The flags every module is built with (empty when there is no compiler). */
    readonly flags: readonly string[];
    readonly openmp: { readonly enabled: boolean; readonly ok: boolean; readonly reason: string };
  };
  readonly blas: {
    /** "built-in" or the library (a path, or the `blas.ldflags` value). */
    readonly using: string;
    readonly how: string;
    readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>;
  };
  /** The process heap's reuse of freed array memory (lib.host_reuse_mb, src/link/host_heap.ts). */
  readonly heap: { readonly reuseMb: number; readonly reason: string };
  readonly cuda: {
    readonly searched: readonly string[];
    readonly driver: string | null;
    readonly nvrtc: readonly string[];
    readonly cublas: readonly string[];
    /** Always false in this build: device=cuda raises BackendError. */
    readonly backendBuilt: false;
  };
  readonly webgpu: {
    /** Where the optional `webgpu` npm package resolves, or null when it is not installed. */
    readonly package: string | null;
    readonly navigatorGpu: boolean;
    readonly backendBuilt: true;
    /** The adapter (name, vendor, Dawn backend, features, limits), or null with `error` saying why. */
    readonly adapter: AdapterInfo | null;
    readonly error: string | null;
  };
  readonly cache: {
    readonly path: string;
    /** Empty when the directory is usable, else why not. */
    readonly error: string;
    readonly entries: number;
    readonly bytes: number;
    readonly ok: number;
    readonly bad: ReadonlyArray<{ readonly dir: string; readonly problem: string; readonly unsafe: boolean }>;
  };
  /** Flags whose value is not the default, with where it came from. */
  readonly flags: ReadonlyArray<{ readonly name: string; readonly value: string; readonly source: string }>;
  /** Something the user configured that cannot work, each with the fix; non-empty means exit 1. */
  readonly problems: readonly string[];
  /** Things worth knowing that do not stop the default path (e.g. no C compiler: the WebAssembly or JS backend runs). */
  readonly notes: readonly string[];
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function koffiVersion(): string | null {
  try {
    // koffi's `exports` hide its package.json: walk up from its entry point instead.
    for (let d = dirname(createRequire(import.meta.url).resolve("koffi")); dirname(d) !== d; d = dirname(d)) {
      let pkg: { name?: unknown; version?: unknown };
      try {
        pkg = JSON.parse(readFileSync(join(d, "package.json"), "utf8")) as typeof pkg;
      } catch {
        continue;
      }
      if (pkg.name === "koffi" && typeof pkg.version === "string") return pkg.version;
    }
    return null;
  } catch {
    return null;
  }
}

/** Files in `dirs` whose name starts with `stem` (`libnvrtc.so` finds libnvrtc.so.12 too). */
function findLibs(dirs: readonly string[], stem: string): string[] {
  const found: string[] = [];
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names.sort()) if (n.startsWith(stem)) found.push(join(d, n));
  }
  return found;
}

function webgpuPackage(): string | null {
  try {
    return createRequire(import.meta.url).resolve("webgpu");
  } catch {
    return null;
  }
}

const isSet = (name: (typeof FLAG_NAMES)[number]): boolean => flagSource(name).kind !== "default";

/** Collects the report. Probes the compiler and BLAS through the compile cache (a cache hit when warm). */
export function report(): EnvironmentReport {
  const problems: string[] = [];
  const notes: string[] = [];

  // C compiler and OpenMP.
  const cs = cCompilerStatus();
  let flags: string[] = [];
  let omp = { ok: false, reason: "" };
  if (cs.compiler) {
    try {
      flags = compileFlags();
      omp = openmpStatus();
    } catch (e) {
      omp = { ok: false, reason: message(e) };
    }
  } else {
    omp = { ok: false, reason: "no C compiler" };
  }
  // linker=auto's order without C (src/link/c/linker.ts autoLinkerChoice): WebAssembly, else JS.
  const fallback = wasmApi() ? "WebAssembly" : "JS";
  if (!cs.ok) {
    if (config.linker === "c") problems.push(`linker=c, but the C backend cannot run: ${cs.reason}. Fix that, or set THEANO_FLAGS=linker=auto (falls back to ${fallback}).`);
    // cxx="" is Theano's way to ask for no C compiler: only a named compiler that fails is a problem.
    else if (isSet("cxx") && String(config.cxx) !== "") problems.push(`cxx=${String(config.cxx)} is configured but unusable: ${cs.reason}`);
    else notes.push(`no working C compiler (${cs.reason}); functions run on the ${fallback} backend.`);
  }
  if (cs.ok && config.openmp && !omp.ok) notes.push(`OpenMP does not work (${omp.reason}); generated C runs on one core. THEANO_FLAGS=openmp=False silences this.`);

  // BLAS.
  let blas: EnvironmentReport["blas"];
  if (!cs.ok) {
    blas = { using: "none", how: `no C backend: the ${fallback} backend's own GEMM`, skipped: [] };
  } else {
    try {
      const r = blasReport();
      blas = { using: r.blas ? (r.blas.path ?? r.blas.ldflags.join(" ")) : "built-in", how: r.how, skipped: r.skipped };
      const flag = String(config.blas.ldflags).trim();
      if (flag !== "" && config.blas.builtin !== true && !r.blas) problems.push(`blas.ldflags=${JSON.stringify(flag)} does not link a module calling sgemm; fix the flag or unset it (the built-in GEMM is used meanwhile).`);
    } catch (e) {
      blas = { using: "built-in", how: `the BLAS search failed: ${message(e)}`, skipped: [] };
    }
  }

  // CUDA: the driver search of device/index.ts, and the same directories for NVRTC and cuBLAS.
  const driver = findCudaDriver();
  const cuda = {
    searched: driver.searched,
    driver: driver.found,
    nvrtc: findLibs(driver.searched, "libnvrtc.so"),
    cublas: findLibs(driver.searched, "libcublas.so"),
    backendBuilt: false as const,
  };
  // Opening the adapter starts the WebGPU worker: only when the package is there to open it.
  const wpkg = webgpuPackage();
  const probe = wpkg ? probeWebGpu() : { info: null, error: `the optional package "webgpu" is not installed: npm install webgpu (and a Vulkan driver, see .ci/setup-webgpu.sh)` };
  const webgpu = {
    package: wpkg,
    navigatorGpu: !!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu,
    backendBuilt: true as const,
    adapter: probe.info,
    error: probe.error,
  };
  try {
    requireUsableDevice();
  } catch (e) {
    problems.push(message(e));
  }

  // The compile cache.
  const path = String(config.compiledir);
  let cache: EnvironmentReport["cache"];
  try {
    compiledir();
    const entries = listEntries();
    const v = verifyCache();
    cache = {
      path,
      error: "",
      entries: entries.length,
      bytes: entries.reduce((s, e) => s + e.bytes, 0),
      ok: v.ok.length,
      bad: v.bad.map((b) => ({ dir: b.dir, problem: b.problem, unsafe: b.unsafe })),
    };
    if (v.bad.length > 0) notes.push(`${v.bad.length} bad compile cache entr${v.bad.length === 1 ? "y" : "ies"}: \`theano-ts cache verify --repair\` removes the corrupt ones, \`theano-ts cache clear\` all.`);
  } catch (e) {
    cache = { path, error: message(e), entries: 0, bytes: 0, ok: 0, bad: [] };
    const line = `the compile cache ${path} cannot be used: ${message(e)}`;
    if (isSet("compiledir") || isSet("base_compiledir") || config.linker === "c") problems.push(line);
    else notes.push(line);
  }

  const setFlags = FLAG_NAMES.filter(isSet).map((name) => ({ name, value: String(config.get(name)), source: formatSource(flagSource(name)) }));

  return {
    node: { version: process.version, platform: process.platform, arch: process.arch },
    koffi: koffiVersion(),
    c: {
      ok: cs.ok,
      reason: cs.reason,
      command: String(config.cxx),
      version: cs.compiler?.version ?? null,
      flags,
      openmp: { enabled: config.openmp === true, ok: omp.ok, reason: omp.reason },
    },
    blas,
    heap: tuneHostHeap(),
    cuda,
    webgpu,
    cache,
    flags: setFlags,
    problems,
    notes,
  };
}
