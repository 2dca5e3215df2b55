/**
 * `theano-ts check [--json]` (API.md §12): one environment report in place of the seeds'
 * manual version matrix: Node, koffi and theano-ts; the C compiler, its flags and OpenMP; the
 * BLAS chosen and each library skipped with why; the CUDA driver, NVRTC and cuBLAS search; the
 * WebGPU package; the compile cache's health; every flag that differs from its default and where
 * it came from. The facts come from `theano.environment.report()`; this file only lays them out.
 *
 * Exit 0 when the default path works (a missing compiler is a note: the JS backend runs);
 * 1 when something the user configured (device, linker=c, cxx, blas.ldflags, compiledir)
 * cannot work, each with its fix.
 */

import type * as Theano from "../index.js";

type Library = typeof Theano;
type Report = ReturnType<Library["environment"]["report"]>;

export const CHECK_USAGE = "[--json]";

export const CHECK_DETAILS =
  "Reports Node and koffi; the C compiler (path, version, flags), whether it builds and loads a test\n" +
  "module, OpenMP; the BLAS chosen and why (and each library skipped); the CUDA driver, NVRTC and\n" +
  "cuBLAS found; the WebGPU package; the compile cache (path, entries, size, bad entries); the flags\n" +
  "that differ from their defaults with their source. --json prints the same as one JSON object.\n" +
  "Exit code 1 when the configured device, linker, cxx, blas.ldflags or compiledir cannot work.";

/** Parses the arguments; a string is the usage mistake to report. */
export function parseCheckArgs(args: readonly string[]): { json: boolean } | string {
  let json = false;
  for (const a of args) {
    if (a === "--json") json = true;
    else return `check does not take ${a}`;
  }
  return { json };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;
const yes = (b: boolean): string => (b ? "yes" : "no");

export function formatReport(r: Report, version: string): string {
  const L: string[] = [];
  const row = (k: string, v: string): void => void L.push(`  ${k.padEnd(14)} ${v}`);
  L.push(`theano-ts ${version} environment check`, "");
  L.push("Host");
  row("node", `${r.node.version} (${r.node.platform}-${r.node.arch})`);
  row("koffi", r.koffi ?? "not found (the C backend cannot load modules)");
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
  L.push("", "CUDA");
  row("driver", r.cuda.driver ?? "libcuda.so.1 not found");
  row("nvrtc", r.cuda.nvrtc.length > 0 ? r.cuda.nvrtc.join(", ") : "libnvrtc.so* not found");
  row("cublas", r.cuda.cublas.length > 0 ? r.cuda.cublas.join(", ") : "libcublas.so* not found");
  row("searched", r.cuda.searched.join(", "));
  row("backend", "not built: this build has no CUDA backend yet (device=cuda raises BackendError)");
  L.push("", "WebGPU");
  row("package", r.webgpu.package ? `webgpu at ${r.webgpu.package}` : "webgpu not installed (optional)");
  row("navigator.gpu", yes(r.webgpu.navigatorGpu));
  row("backend", "not built: this build has no WebGPU backend yet (device=webgpu raises BackendError)");
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

export function runCheck(theano: Library, opts: { json: boolean }, version: string, out: (t: string) => void): number {
  const r = theano.environment.report();
  out(opts.json ? JSON.stringify({ theano: version, ...r }, null, 2) + "\n" : formatReport(r, version));
  return r.problems.length === 0 ? 0 : 1;
}
