/**
 * `theano-ts check [--json]` (API.md §12): one environment report in place of the seeds'
 * manual version matrix: Node, koffi and theano-ts; the C compiler, its flags and OpenMP; the
 * BLAS chosen and each library skipped with why; the CUDA driver, NVRTC and cuBLAS search; the
 * WebGPU package; the compile cache's health; every flag that differs from its default and where
 * it came from; and a 1-second GEMM measurement through `theano.function` (the public API is
 * all the CLI may use, so the measurement lives here rather than in the library's report). The facts come from `theano.environment.report()`; this file only lays them out.
 *
 * Exit 0 when the default path works (a missing compiler is a note: the JS backend runs);
 * 1 when something the user configured (device, linker=c, cxx, blas.ldflags, compiledir)
 * cannot work, each with its fix.
 */

import type * as Theano from "../index.js";

type Library = typeof Theano;
type Report = ReturnType<Library["environment"]["report"]>;

export const CHECK_USAGE = "[--json] [--no-bench]";

export const CHECK_DETAILS =
  "Reports Node and koffi; which linker linker=auto picks (C, else wasm, else js) and why;\n" +
  "the C compiler (path, version, flags), whether it builds and loads a test\n" +
  "module, OpenMP; the BLAS chosen and why (and each library skipped); the CUDA driver, NVRTC and\n" +
  "cuBLAS found; the WebGPU package and adapter (name, backend, features, limits); the MPI library, its ABI\n" +
  "(Open MPI or MPICH), version, mpirun, and the thread level MPI_Init_thread grants (a child process\n" +
  "finds the library and initialises MPI alone, killed after 10 s);\n" +
  "the compile cache (path, entries, size, bad entries); the flags\n" +
  "that differ from their defaults with their source, and a 1-second float32 GEMM measurement (GFLOP/s)\n" +
  "through theano.function on the configured linker (--no-bench skips it). --json prints the same as\n" +
  "one JSON object.\n" +
  "Exit code 1 when the configured device, linker, cxx, blas.ldflags or compiledir cannot work.";

/** Parses the arguments; a string is the usage mistake to report. */
export function parseCheckArgs(args: readonly string[]): { json: boolean; bench: boolean } | string {
  let json = false;
  let bench = true;
  for (const a of args) {
    if (a === "--json") json = true;
    else if (a === "--no-bench") bench = false;
    else return `check does not take ${a}`;
  }
  return { json, bench };
}

/** What the GEMM measurement found (null fields: not run, with `skipped` saying why). */
export interface GemmMeasure {
  readonly n: number;
  readonly dtype: "float32";
  readonly linker: string;
  readonly calls: number;
  readonly seconds: number;
  readonly gflops: number;
}

/**
 * float32 n×n×n products through `theano.function` for about `seconds` (after one warm-up
 * call), on whatever linker the flags choose: the figure a user's dot actually gets.
 */
export function measureGemm(theano: Library, seconds = 1, n = 512): GemmMeasure {
  const A = theano.T.fmatrix("A");
  const B = theano.T.fmatrix("B");
  const f = theano.function([A, B], theano.T.dot(A, B));
  try {
    const a = theano.full([n, n], 0.5, "float32");
    const b = theano.full([n, n], 0.25, "float32");
    f(a, b);
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < seconds * 1000) {
      f(a, b);
      calls++;
      elapsed = performance.now() - start;
    }
    const linker = String(theano.config.linker);
    return { n, dtype: "float32", linker, calls, seconds: elapsed / 1000, gflops: (2 * n * n * n * calls) / (elapsed / 1000) / 1e9 };
  } finally {
    f.free();
  }
}

/** The `linker` flag and what `linker=auto` picks here, with why (Mode.autoLinker). */
export interface LinkerChoice {
  readonly flag: string;
  readonly auto: "c" | "wasm" | "js";
  readonly why: string;
}

export function linkerChoice(theano: Library): LinkerChoice {
  const { linker, why } = theano.Mode.autoLinker();
  return { flag: String(theano.config.linker), auto: linker, why };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;
const yes = (b: boolean): string => (b ? "yes" : "no");

/** The MPI library found, and what MPI_Init_thread gave a child process (init null: not tried). */
type MpiReport = ReturnType<Library["distributed"]["probeInit"]>;

export function formatReport(r: Report, version: string, gemm: GemmMeasure | string | null = null, mpi: MpiReport | null = null, linker: LinkerChoice | null = null): string {
  const L: string[] = [];
  const row = (k: string, v: string): void => void L.push(`  ${k.padEnd(14)} ${v}`);
  L.push(`theano-ts ${version} environment check`, "");
  L.push("Host");
  row("node", `${r.node.version} (${r.node.platform}-${r.node.arch})`);
  row("koffi", r.koffi ?? "not found (the C backend cannot load modules)");
  if (linker) {
    L.push("", "Linker");
    row("flag", linker.flag === "auto" ? "linker=auto (the default)" : `linker=${linker.flag} (auto is not used)`);
    row("auto", `auto → ${linker.auto}: ${linker.why}`);
  }
  L.push("", "C backend");
  row("compiler", r.c.command === "" ? "(cxx is empty)" : r.c.command);
  row("version", r.c.version ?? "-");
  row("works", r.c.ok ? "yes: built, loaded and ran a test module" : `no: ${r.c.reason}`);
  if (r.c.flags.length > 0) row("flags", r.c.flags.join(" "));
  row("openmp", !r.c.openmp.enabled ? "off (openmp=False)" : r.c.openmp.ok ? "yes" : `no: ${r.c.openmp.reason}`);
  L.push("", "BLAS");
  row("using", r.blas.using);
  row("why", r.blas.how);
  for (const s of r.blas.skipped) row("skipped", `${s.path}: ${s.reason}`);
  if (typeof gemm === "string") row("gemm", `not measured: ${gemm}`);
  else if (gemm) row("gemm", `${gemm.gflops.toFixed(1)} GFLOP/s (${gemm.dtype} ${gemm.n}x${gemm.n}x${gemm.n} dot, ${gemm.calls} calls in ${gemm.seconds.toFixed(2)} s, linker=${gemm.linker})`);
  L.push("", "Memory");
  row("heap reuse", r.heap.reuseMb > 0 ? `up to ${r.heap.reuseMb} MiB of freed array memory is reused (lib.host_reuse_mb): fresh outputs cost no page faults` : `off: ${r.heap.reason}`);
  L.push("", "CUDA");
  row("driver", r.cuda.driver ?? "libcuda.so.1 not found");
  row("nvrtc", r.cuda.nvrtc.length > 0 ? r.cuda.nvrtc.join(", ") : "libnvrtc.so* not found");
  row("cublas", r.cuda.cublas.length > 0 ? r.cuda.cublas.join(", ") : "libcublas.so* not found");
  row("searched", r.cuda.searched.join(", "));
  row("backend", "not built: this build has no CUDA backend yet (device=cuda raises BackendError)");
  L.push("", "WebGPU");
  row("package", r.webgpu.package ? `webgpu at ${r.webgpu.package}` : "webgpu not installed (optional)");
  row("navigator.gpu", yes(r.webgpu.navigatorGpu));
  const ad = r.webgpu.adapter;
  if (ad) {
    row("adapter", `${ad.description || ad.device || "(unnamed)"} (vendor ${ad.vendor || "?"}, architecture ${ad.architecture || "?"})`);
    row("dawn backend", `${ad.backend}; THEANO_WEBGPU_BACKEND=vulkan|opengles picks one`);
    if (ad.fallback) row("note", "a software adapter (CPU): correct results, not GPU speed");
    if (ad.subgroupMaxSize > 0) row("subgroups", `${ad.subgroupMinSize}..${ad.subgroupMaxSize} invocations`);
    row("features", ad.features.join(", ") || "(none)");
    const lim = ad.limits;
    const mib = (b: number | undefined): string => (b === undefined ? "?" : `${(b / 1048576).toFixed(0)} MiB`);
    row("limits", `maxStorageBufferBindingSize ${mib(lim["maxStorageBufferBindingSize"])}, maxBufferSize ${mib(lim["maxBufferSize"])}, ` +
      `${lim["maxStorageBuffersPerShaderStage"]} storage buffers/stage, ${lim["maxComputeInvocationsPerWorkgroup"]} invocations/workgroup, ` +
      `${lim["maxComputeWorkgroupsPerDimension"]} workgroups/dimension, ${lim["maxComputeWorkgroupStorageSize"]} B workgroup memory`);
    row("backend", "built: device=webgpu runs Elemwise/Composite, Sum/Prod/Max/Min/All/Any (float32/int32/uint32/bool) and float32 dot/Gemm in WGSL");
  } else {
    row("adapter", `none: ${r.webgpu.error?.split(/(?<=\.) /)[0] ?? "?"}`);
    row("backend", "built, but device=webgpu raises BackendError here (no adapter)");
  }
  if (mpi) {
    L.push("", "MPI (theano.distributed)");
    const abi = mpi.abi === "openmpi" ? "Open MPI" : mpi.abi === "mpich" ? "MPICH ABI" : null;
    row("library", mpi.library ? `${mpi.library}${abi ? ` (${abi})` : ""}; chosen by: ${mpi.why}` : `none loads: ${mpi.tried.join("; ")}; apt-get install openmpi-bin libopenmpi-dev (or mpich libmpich-dev)`);
    if (mpi.version) row("version", mpi.version);
    if (mpi.problem) row("unusable", mpi.problem);
    row("mpirun", mpi.mpirun ?? "not on PATH");
    const init = mpi.init;
    if (init) {
      row("thread level", init.ok ? `${init.threadLevel} (MPI_THREAD_FUNNELED asked; MPI_Init_thread in a child process, ${init.seconds.toFixed(1)} s)` : `unknown: ${init.reason}`);
    }
  }
  L.push("", "Compile cache");
  row("path", r.cache.path);
  if (r.cache.error) row("usable", `no: ${r.cache.error}`);
  else {
    row("entries", `${r.cache.entries}, ${mb(r.cache.bytes)}`);
    row("verified", `${r.cache.ok} ok, ${r.cache.bad.length} bad`);
    for (const b of r.cache.bad) row(b.unsafe ? "UNSAFE" : "CORRUPT", `${b.dir}: ${b.problem}`);
  }
  L.push("", "Flags that differ from their defaults");
  if (r.flags.length === 0) L.push("  (none: every flag has its default)");
  for (const f of r.flags) row(f.name, `${f.value}   [${f.source}]`);
  if (r.notes.length > 0) L.push("", "Notes", ...r.notes.map((n) => `  - ${n}`));
  L.push("", r.problems.length === 0 ? "Result: OK" : "Result: PROBLEMS", ...r.problems.map((p) => `  - ${p}`));
  return L.join("\n") + "\n";
}

export function runCheck(theano: Library, opts: { json: boolean; bench: boolean }, version: string, out: (t: string) => void): number {
  const r = theano.environment.report();
  const linker = linkerChoice(theano);
  let gemm: GemmMeasure | string | null = null;
  if (opts.bench) {
    // A configuration with problems may not compile at all (device=cuda): report, do not raise.
    try {
      const m = measureGemm(theano);
      gemm = m.linker === "auto" ? { ...m, linker: `${linker.auto} (auto)` } : m;
    } catch (e) {
      gemm = e instanceof Error ? e.message.split("\n")[0]! : String(e);
    }
  }
  const mpi = theano.distributed.probeInit();
  out(opts.json ? JSON.stringify({ theano: version, ...r, linker, gemm, mpi }, null, 2) + "\n" : formatReport(r, version, gemm, mpi, linker));
  return r.problems.length === 0 ? 0 : 1;
}
