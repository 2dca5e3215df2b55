/**
 * The C compiler as the native backend sees it: which one (`config.cxx`), with which flags, and
 * `buildModule(source)` that turns one C translation unit into a loadable shared object.
 *
 * Everything here is synchronous because `theano.function` is. The compile cache
 * (src/link/cache.ts) decides whether a build is needed at all.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompileError } from "../../errors.js";
import { config } from "../../config/index.js";

export interface CCompiler {
  /** The command (`config.cxx`). */
  readonly command: string;
  /** First line of `<cc> --version`: part of every cache key. */
  readonly version: string;
}

let found: { cxx: string; compiler: CCompiler | null } | null = null;

/** The configured compiler, or null when `config.cxx` is empty or does not run. */
export function findCompiler(): CCompiler | null {
  const cxx = String(config.cxx);
  if (found && found.cxx === cxx) return found.compiler;
  let compiler: CCompiler | null = null;
  if (cxx !== "") {
    const r = spawnSync(cxx, ["--version"], { encoding: "utf8" });
    if (r.status === 0) compiler = { command: cxx, version: (r.stdout.split("\n")[0] ?? "").trim() };
  }
  found = { cxx, compiler };
  return compiler;
}

/** The flags every module is built with (ISSUE 6: no -ffast-math, NaN and Inf must behave). */
export function compileFlags(): string[] {
  const flags = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c11"];
  if (config.openmp) flags.push("-fopenmp");
  if (config.cmodule.sanitize) flags.push("-fsanitize=address,undefined", "-fno-omit-frame-pointer");
  const extra = String(config.gcc.cxxflags).trim();
  if (extra) flags.push(...extra.split(/\s+/));
  return flags;
}

/**
 * Compiles `source` into a shared object in `dir` (a fresh temporary directory when omitted)
 * and returns its path. On failure the source and the compiler's log stay in `dir` and the
 * CompileError says where.
 */
export function compileSharedObject(source: string, opts: { dir?: string; ldflags?: string[] } = {}): string {
  const compiler = findCompiler();
  if (!compiler) throw new CompileError(`no C compiler: config.cxx is ${JSON.stringify(config.cxx)}; install gcc or clang, or set THEANO_FLAGS=cxx=/path/to/cc`);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "theano-ts-"));
  const src = join(dir, "mod.c");
  const so = join(dir, "mod.so");
  const log = join(dir, "compile.log");
  writeFileSync(src, source);
  const args = [...compileFlags(), "-o", so, src, ...(opts.ldflags ?? []), "-lm"];
  const r = spawnSync(compiler.command, args, { encoding: "utf8" });
  writeFileSync(log, `${compiler.command} ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`);
  if (r.status !== 0 || !existsSync(so)) {
    const firstError = (readFileSync(log, "utf8").split("\n").find((l) => l.includes("error")) ?? "").trim();
    throw new CompileError(`the C compiler failed on a generated module${firstError ? `: ${firstError}` : ""}; source kept at ${src}, compiler log at ${log}`, src, log);
  }
  return so;
}
