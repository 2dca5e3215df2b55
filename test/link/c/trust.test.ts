/**
 * Whose files the C backend runs, and what it does when the compiledir cannot be used (issue 13
 * items 9, 13, 14):
 * - a BLAS found by our own search (CONDA_PREFIX, LD_LIBRARY_PATH, ...) is loaded only when
 *   root or this user owns it and its directory and neither is writable by group or others; the
 *   others are skipped (their constructors never run), said once, and listed by `blasReport()`;
 * - an unusable compiledir (uncreatable, read-only, full) is a CompileError naming the path and
 *   the fix, never a raw ENOENT/EACCES/ENOSPC; `linker=auto` then runs on JS with one warning;
 *   the evidence kept of failed builds is bounded;
 * - an unsafe compiledir, shard or planted tmp/ is refused with a message naming what to delete,
 *   and never reported as "OpenMP does not work".
 *
 * The tests run as root here: another owner is simulated with chown 65534 (nobody), and a
 * read-only compiledir by running the child process as nobody (root writes anywhere). A full
 * disk cannot be mounted in a test: the errno mapping is tested on a synthetic ENOSPC error, and
 * the compiler's own "No space left on device" through a compiler wrapper that prints it.
 */

import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { config } from "../../../src/config/index.js";
import { BackendError, CompileError } from "../../../src/errors.js";
import { FAILED_FILE_MAX_BYTES, FAILED_MAX_ENTRIES, compiledirIoError, isCompiledirError, loadModule, moduleKey } from "../../../src/link/cache.js";
import { blasReport, cCompilerStatus, compileSharedObject, findBlas, findCompiler } from "../../../src/link/c/compiler.js";
import { childSource } from "./cache_sources.js";
import { errorOf } from "../../helpers.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CACHE_CHILD = fileURLToPath(new URL("./cache_child.ts", import.meta.url));
const GRAPH_CHILD = fileURLToPath(new URL("./cache_dir_child.ts", import.meta.url));
const HAVE_CC = findCompiler() !== null;
const AS_ROOT = typeof process.getuid === "function" && process.getuid() === 0;
const NOBODY = 65534;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    spawnSync("chmod", ["-R", "u+rwx", d]);
    rmSync(d, { recursive: true, force: true });
  }
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "theano-ts-trust-"));
  dirs.push(d);
  return d;
}

async function warningsOf<R>(fn: () => R): Promise<{ value?: R; error?: unknown; warnings: string[] }> {
  const warnings: string[] = [];
  const on = (w: Error): void => void warnings.push(w.message);
  process.on("warning", on);
  try {
    let value: R | undefined;
    let error: unknown;
    try {
      value = fn();
    } catch (e) {
      error = e;
    }
    await new Promise((r) => setImmediate(r));
    return { value, error, warnings };
  } finally {
    process.off("warning", on);
  }
}

/** A compiler wrapper with its own path: a fresh OpenMP/status memo and fresh cache keys. */
function wrapperCc(body = ""): string {
  const p = join(tempDir(), "cc");
  writeFileSync(p, `#!/bin/sh\n${body}exec ${String(config.cxx)} "$@"\n`, { mode: 0o755 });
  return p;
}


// ---------------------------------------------------------------------------------------------

describe("issue 13.9: BLAS discovery loads only trusted libraries", () => {
  /**
   * A library exporting the CBLAS GEMM symbols whose constructor writes `marker` when loaded
   * (or, without a compiler, bytes that are no library at all: the trust check comes first).
   */
  function plantedBlas(libDir: string, marker: string): string {
    mkdirSync(libDir, { recursive: true });
    const path = join(libDir, "libopenblas.so.0");
    if (!HAVE_CC) {
      writeFileSync(path, "not a library");
      return path;
    }
    const src = `#include <stdio.h>
__attribute__((constructor)) static void planted(void) { FILE *f = fopen("${marker}", "w"); if (f) { fputs("ran", f); fclose(f); } }
void cblas_sgemm(void) {}
void cblas_dgemm(void) {}
`;
    const so = config.change({ compiledir: join(tempDir(), "cd") }, () => compileSharedObject(src, { dir: mkdtempSync(join(tempDir(), "build-")) }));
    renameSync(so, path);
    chmodSync(path, 0o755);
    return path;
  }

  /** findBlas and blasReport with CONDA_PREFIX=prefix, and the warnings they gave. */
  async function discoverIn(prefix: string) {
    const { value, warnings } = await warningsOf(() => {
      const saved = process.env.CONDA_PREFIX;
      process.env.CONDA_PREFIX = prefix;
      try {
        return config.change({ "blas.ldflags": "", "blas.builtin": false }, () => ({ info: findBlas(), report: blasReport() }));
      } finally {
        if (saved === undefined) delete process.env.CONDA_PREFIX;
        else process.env.CONDA_PREFIX = saved;
      }
    });
    return { ...value!, warnings };
  }

  const cases: Array<[string, (lib: string, libDir: string) => void, RegExp]> = [
    ["owned by another user", (lib) => chownSync(lib, NOBODY, NOBODY), /owned by uid 65534/],
    ["in a world-writable directory", (_lib, libDir) => chmodSync(libDir, 0o777), /its directory .* writable by group and others \(mode 0777\)/],
    ["in a sticky world-writable directory (like /tmp)", (_lib, libDir) => chmodSync(libDir, 0o1777), /its directory .* writable by group and others \(mode 01777\)/],
    ["writable by its group", (lib) => chmodSync(lib, 0o775), /writable by group/],
  ];
  for (const [what, spoil, reason] of cases) {
    it(`issue 13.9: skips a libopenblas in CONDA_PREFIX/lib ${what}: its constructor never runs`, async () => {
      if (!AS_ROOT && what.includes("another user")) return void expect(AS_ROOT).toBe(false); // chown needs root
      const prefix = tempDir();
      const libDir = join(prefix, "lib");
      const marker = join(tempDir(), "constructor-ran");
      const lib = plantedBlas(libDir, marker);
      spoil(lib, libDir);
      const { info, report, warnings } = await discoverIn(prefix);
      expect(existsSync(marker)).toBe(false);
      expect(info?.path).not.toBe(lib);
      const skipped = report.skipped.find((s) => s.path === lib);
      expect(skipped?.reason).toMatch(/^not trusted: /);
      expect(skipped?.reason).toMatch(reason);
      expect(report.how).toMatch(info ? /discovered .* owned by root or this user/ : /no trusted BLAS/);
      expect(warnings.filter((w) => w.includes(lib))).toHaveLength(1);
      expect(warnings.find((w) => w.includes(lib))).toMatch(/skipped a BLAS library another user could have written/);
    });
  }

  it("issue 13.9: a trusted libopenblas in CONDA_PREFIX/lib is used, and the report says why", async () => {
    const prefix = tempDir();
    const marker = join(tempDir(), "constructor-ran");
    const lib = plantedBlas(join(prefix, "lib"), marker);
    const { info, warnings } = await discoverIn(prefix);
    if (!HAVE_CC) {
      expect(info?.path).not.toBe(lib); // not a library: skipped as such, not as untrusted
      return;
    }
    expect(info).toMatchObject({ name: "openblas", source: "discovered", path: lib });
    expect(existsSync(marker)).toBe(true); // it was loaded (its constructor ran): it was trusted
    expect(warnings.filter((w) => w.includes("BLAS"))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("issue 13.13: an unusable compiledir is a documented error, and linker=auto runs on JS", () => {
  it("issue 13.13: maps ENOSPC, EDQUOT, EACCES, EROFS, ENOENT, ENOTDIR to a CompileError naming the path and the fix", () => {
    const errno = (code: string): Error => Object.assign(new Error(`${code}: synthetic, write '/x/y'`), { code, errno: -1, syscall: "write", path: "/x/y" });
    config.change({ compiledir: "/x" }, () => {
      const full = compiledirIoError(errno("ENOSPC"), "/x/y", "write");
      expect(full).toBeInstanceOf(CompileError);
      expect(isCompiledirError(full)).toBe(true);
      expect(full.message).toMatch(/cannot write \/x\/y: the disk is full \(ENOSPC\); free space on the disk holding \/x .*compiledir/);
      expect(compiledirIoError(errno("EDQUOT"), "/x/y", "write").message).toMatch(/quota/);
      for (const code of ["EACCES", "EPERM", "EROFS"]) expect(compiledirIoError(errno(code), "/x/y", "create").message).toMatch(/THEANO_FLAGS=compiledir=.*make \/x writable/);
      for (const code of ["ENOENT", "ENOTDIR"]) expect(compiledirIoError(errno(code), "/x/y", "create").message).toMatch(/\/x\/y: .*THEANO_FLAGS=compiledir=/);
      expect(compiledirIoError(errno("ENOSPC"), "/x/y", "write").cause).toBeInstanceOf(Error);
    });
  });

  it("issue 13.13: an uncreatable compiledir: CompileError naming it; the status blames the cache, not the compiler; auto runs on JS with one warning", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "");
    for (const dir of [join(file, "compiledir"), "/proc/theano-ts-no-such-dir/compiledir"]) {
      await config.change({ compiledir: dir }, async () => {
        const e = errorOf(() => loadModule(childSource(41)));
        expect(e).toBeInstanceOf(CompileError);
        expect(e.message).toContain(dir);
        expect(e.message).toMatch(/THEANO_FLAGS=compiledir=/);
        if (!HAVE_CC) return;
        const status = cCompilerStatus();
        expect(status.ok).toBe(false);
        expect(status.reason).toContain(dir);
        expect(status.reason).not.toMatch(/install gcc/);
      });
    }
    // A whole function under linker=auto, in a fresh process (one warning per process).
    const r = runGraph(join(file, "compiledir"), "auto", 3);
    expect(r.line).toEqual({ value: [4, 7] });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/C backend is unavailable .*compile cache.*a-file\/compiledir/);
  }, 60_000);

  it("issue 13.13: a read-only compiledir and a new graph: linker=c raises a CompileError naming it, linker=auto runs on JS with one warning", () => {
    if (!HAVE_CC) return;
    if (!AS_ROOT) return void expect(AS_ROOT).toBe(false); // needs a second uid to be read-only to
    const base = tempDir();
    chmodSync(base, 0o755);
    const dir = join(base, "compiledir");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY, NOBODY);
    // Warm the probes as nobody, then make the whole compiledir read-only to its owner.
    expect(runGraph(dir, "c", 2, true).line).toEqual({ value: [3, 5] });
    spawnSync("chmod", ["-R", "a-w", dir]);
    const c = runGraph(dir, "c", 5, true);
    expect(c.line).toMatchObject({ error: "CompileError" });
    const msg = (c.line as { message: string }).message;
    expect(msg).toContain(dir);
    expect(msg).toMatch(/permission denied \(EACCES\); set THEANO_FLAGS=compiledir=/);
    const auto = runGraph(dir, "auto", 5, true);
    expect(auto.line).toEqual({ value: [6, 11] });
    expect(auto.warnings).toHaveLength(1);
    expect(auto.warnings[0]).toMatch(/C backend is unavailable .*permission denied/);
  }, 120_000);

  it("issue 13.13: a compiler that fails for want of disk space is a disk-full CompileError, and no evidence is kept", () => {
    if (!HAVE_CC) return;
    const cc = wrapperCc(`for a in "$@"; do case "$a" in *mod.so) echo "/usr/bin/ld: final link failed: No space left on device" >&2; exit 1;; esac; done\n`);
    const dir = join(tempDir(), "compiledir");
    config.change({ compiledir: dir, cxx: cc, openmp: false }, () => {
      const e = errorOf(() => loadModule(childSource(42)));
      expect(e).toBeInstanceOf(CompileError);
      expect(isCompiledirError(e)).toBe(true);
      expect(e.message).toMatch(/the disk is full \(ENOSPC\)/);
      expect(e.message).toContain(dir);
      expect(existsSync(join(dir, "failed")) ? readdirSync(join(dir, "failed")) : []).toEqual([]);
      expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    });
  });

  it("issue 13.13: kept evidence of failed builds is capped: mod.c and compile.log only, each cut, at most FAILED_MAX_ENTRIES builds", () => {
    if (!HAVE_CC) return;
    const dir = join(tempDir(), "compiledir");
    config.change({ compiledir: dir }, () => {
      const huge = `#error theano_ts_test_failure\n/* ${"x".repeat(FAILED_FILE_MAX_BYTES + 1_000_000)} */\n`;
      const e = errorOf(() => loadModule(huge)) as CompileError;
      expect(e).toBeInstanceOf(CompileError);
      expect(isCompiledirError(e)).toBe(false);
      const failed = join(dir, "failed", moduleKey(huge));
      expect(e.sourcePath).toBe(join(failed, "mod.c"));
      expect(readdirSync(failed).sort()).toEqual(["compile.log", "mod.c"]);
      expect(statSync(join(failed, "mod.c")).size).toBeLessThan(FAILED_FILE_MAX_BYTES + 200);
      expect(readFileSync(join(failed, "mod.c"), "utf8")).toMatch(/theano-ts kept the first \d+ of \d+ bytes \*\/\n$/);
      for (let i = 0; i < FAILED_MAX_ENTRIES + 3; i++) expect(() => loadModule(`#error theano_ts_failure_${i}\n`)).toThrow(CompileError);
      expect(readdirSync(join(dir, "failed")).length).toBe(FAILED_MAX_ENTRIES);
    });
  }, 60_000);
});

/** Runs cache_dir_child.ts (as nobody when asked) and returns its JSON line and theano-ts warnings. */
function runGraph(dir: string, linker: string, k: number, asNobody = false): { line: unknown; warnings: string[] } {
  const r = spawnSync(process.execPath, ["--import", "tsx", GRAPH_CHILD, dir, linker, String(k)], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, THEANORC: "", THEANO_FLAGS: "" },
    ...(asNobody ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  const out = (r.stdout ?? "").trim();
  if (out === "") throw new Error(`child failed: ${r.status ?? r.signal} ${r.stderr}`);
  const warnings = (r.stderr ?? "").split("\n").filter((l) => / Warning: theano-ts/.test(l));
  return { line: JSON.parse(out) as unknown, warnings };
}

// ---------------------------------------------------------------------------------------------

describe("issue 13.14: an unsafe compiledir is refused plainly", () => {
  it("issue 13.14: a compiledir writable by others, or owned by another user: a refusal naming what to do, no OpenMP warning", async () => {
    if (!HAVE_CC) return;
    const open = join(tempDir(), "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const foreign = join(tempDir(), "foreign");
    mkdirSync(foreign, { mode: 0o700 });
    if (AS_ROOT) chownSync(foreign, NOBODY, NOBODY);
    for (const [dir, why] of [[open, /writable by group and others \(mode 0777\)/], ...(AS_ROOT ? [[foreign, /owned by uid 65534/] as const] : [])] as const) {
      const { error, warnings } = await warningsOf(() => config.change({ compiledir: dir, cxx: wrapperCc(), openmp: true }, () => loadModule(childSource(43))));
      expect(error).toBeInstanceOf(BackendError);
      const msg = (error as Error).message;
      expect(msg).toMatch(new RegExp(`refusing to use the compile cache directory ${dir}`));
      expect(msg).toMatch(why);
      expect(msg).not.toContain("theano-ts cache clear");
      expect(msg).toContain(`rm -rf ${dir}`);
      expect(warnings.filter((w) => /OpenMP/.test(w))).toEqual([]);
    }
  });

  it("issue 13.14: with only the shard directories opened to 0777, nothing is rebuilt without -fopenmp: the shard is refused", async () => {
    if (!HAVE_CC) return;
    const dir = join(tempDir(), "compiledir");
    const cc = wrapperCc();
    // Populate: the probes and a module, with OpenMP.
    config.change({ compiledir: dir, cxx: cc, openmp: true }, () => loadModule(childSource(44)).library.close());
    const shards = readdirSync(dir).filter((n) => /^[0-9a-f]{2}$/.test(n));
    expect(shards.length).toBeGreaterThan(0);
    for (const s of shards) chmodSync(join(dir, s), 0o777);
    // A fresh process (no memo) builds a new module.
    const r = spawnSync(process.execPath, ["--import", "tsx", CACHE_CHILD, dir, "45"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, THEANORC: "", THEANO_FLAGS: `cxx=${cc},openmp=True,gcc.cxxflags=${config.gcc.cxxflags}` },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/BackendError: refusing to use the compile cache directory .*\/[0-9a-f]{2}: .*writable by group and others \(mode 0777\)/);
    expect(r.stderr).toMatch(/rm -rf /);
    expect(r.stderr).not.toMatch(/OpenMP does not work/);
    // Nothing was published next to the refused shards.
    const after = readdirSync(dir).filter((n) => /^[0-9a-f]{2}$/.test(n));
    for (const s of after) for (const n of readdirSync(join(dir, s))) expect(readFileSync(join(dir, s, n, "meta.json"), "utf8")).toContain("-fopenmp");
  }, 60_000);

  it("issue 13.14: a planted tmp/ owned by another user with mode 0777 is refused, naming it", () => {
    if (!HAVE_CC) return;
    if (!AS_ROOT) return void expect(AS_ROOT).toBe(false); // chown needs root
    const dir = join(tempDir(), "compiledir");
    mkdirSync(dir, { mode: 0o700 });
    const tmp = join(dir, "tmp");
    mkdirSync(tmp);
    chownSync(tmp, NOBODY, NOBODY);
    chmodSync(tmp, 0o777);
    const e = errorOf(() => config.change({ compiledir: dir, cxx: wrapperCc() }, () => loadModule(childSource(46))));
    expect(e).toBeInstanceOf(BackendError);
    expect(e.message).toContain(`refusing to use the compile cache directory ${tmp}`);
    expect(e.message).toMatch(/owned by uid 65534/);
    expect(e.message).toContain(`delete it (rm -rf ${tmp})`);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
