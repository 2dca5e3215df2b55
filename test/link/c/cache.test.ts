/**
 * The compile cache (src/link/cache.ts) and the compiler probes (src/link/c/compiler.ts): one
 * build per key within a process, across processes and under 8 concurrent processes; corrupt
 * entries rebuilt with one warning; unsafe entries refused; compile failures that keep their
 * evidence; stale locks broken; the management helpers; BLAS discovery on a fake BLAS.
 *
 * Every test gets its own temporary compiledir. Without a C compiler on the machine the tests
 * that need one assert the fallback instead (a clear CompileError, cCompilerStatus not ok).
 */

import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { config } from "../../../src/config/index.js";
import { BackendError, CompileError } from "../../../src/errors.js";
import { ageCache, clearCache, listEntries, loadModule, moduleKey, verifyCache } from "../../../src/link/cache.js";
import { cCompilerStatus, compileFlags, compileSharedObject, findBlas, findCompiler } from "../../../src/link/c/compiler.js";
import { builtinGemmKernel } from "../../../src/link/c/gemm.js";
import { childSource } from "./cache_sources.js";
import { warningsOf } from "../../helpers.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CHILD = fileURLToPath(new URL("./cache_child.ts", import.meta.url));
const HAVE_CC = findCompiler() !== null;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "theano-ts-cache-test-"));
  dirs.push(d);
  return d;
}

/** Runs `fn` with a fresh private compiledir. */
function inCompiledir<R>(fn: (dir: string) => R): R {
  const dir = join(tempDir(), "compiledir");
  return config.change({ compiledir: dir }, () => fn(dir));
}


const entryOf = (dir: string, key: string): string => join(dir, key.slice(0, 2), key);
const callChild = (lib: { func(p: string): (...a: unknown[]) => unknown }): unknown => lib.func("int theano_ts_child(int a)")(1);

/** Without a compiler: loading must fail with a CompileError that says how to get one. */
function expectNoCompilerFallback(): void {
  const status = cCompilerStatus();
  expect(status.ok).toBe(false);
  expect(status.reason).toMatch(/install gcc or clang/);
  expect(() => inCompiledir(() => loadModule(childSource(1)))).toThrow(CompileError);
}

interface ChildResult {
  key: string;
  fromCache: boolean;
  value: number;
}

function runChild(dir: string, variant: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", CHILD, dir, String(variant)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("close", (code, signal) => {
      if (code !== 0) reject(new Error(`child ${variant} exited with ${code ?? signal}: ${err}`));
      else resolve(JSON.parse(out.trim()) as ChildResult);
    });
  });
}

describe("compile cache: one build per key", () => {
  it("builds a key once, publishes <2 hex>/<key>/ with a matching meta.json, then serves it from the memo and the disk", () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    inCompiledir((dir) => {
      const src = childSource(5);
      const first = loadModule(src);
      expect(first.fromCache).toBe(false);
      expect(first.key).toBe(moduleKey(src));
      expect(callChild(first.library)).toBe(26);
      const entry = entryOf(dir, first.key);
      expect(first.path).toBe(join(entry, "mod.so"));
      const meta = JSON.parse(readFileSync(join(entry, "meta.json"), "utf8")) as { key: string; sha256: string; size: number; flags: string[] };
      expect(meta.key).toBe(first.key);
      expect(meta.size).toBe(statSync(first.path).size);
      expect(meta.flags).toEqual(compileFlags());
      expect(readFileSync(join(entry, "mod.c"), "utf8")).toBe(src);
      for (const d of [dir, join(dir, first.key.slice(0, 2)), entry]) expect(statSync(d).mode & 0o777).toBe(0o700);
      const built = statSync(first.path).mtimeMs;

      // Five more asks in this process: memo hits, nothing rebuilt.
      for (let i = 0; i < 5; i++) {
        const again = loadModule(src);
        expect(again.fromCache).toBe(true);
        expect(callChild(again.library)).toBe(26);
        again.library.close();
      }
      // Every handle closed: the next ask re-verifies the disk entry and loads it.
      first.library.close();
      const fromDisk = loadModule(src);
      expect(fromDisk.fromCache).toBe(true);
      expect(callChild(fromDisk.library)).toBe(26);
      expect(statSync(first.path).mtimeMs).toBe(built);
      expect(listEntries().filter((e) => e.key === first.key)).toHaveLength(1);
      fromDisk.library.close();
    });
  });

  it("changes the key with the flags and ldflags, not with the compiledir", () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    const src = childSource(2);
    const k1 = inCompiledir(() => moduleKey(src));
    const k2 = inCompiledir(() => moduleKey(src));
    expect(k2).toBe(k1);
    expect(inCompiledir(() => moduleKey(src, { ldflags: ["-lm"] }))).not.toBe(k1);
    expect(config.change({ "gcc.cxxflags": "-DTHEANO_TS_TEST=1" }, () => inCompiledir(() => moduleKey(src)))).not.toBe(k1);
    expect(inCompiledir(() => moduleKey(`${src} `))).not.toBe(k1);
  });

  it("a second process finds the entry and builds nothing", async () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    const dir = join(tempDir(), "compiledir");
    const parent = config.change({ compiledir: dir }, () => loadModule(childSource(7)));
    expect(parent.fromCache).toBe(false);
    const child = await runChild(dir, 7);
    expect(child.key).toBe(parent.key);
    expect(child.fromCache).toBe(true);
    expect(child.value).toBe(50);
    parent.library.close();
  });

  it("8 processes compiling the same and different sources at once all succeed, with one build per key", async () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    const dir = join(tempDir(), "compiledir");
    const variants = [11, 11, 11, 11, 12, 12, 13, 14];
    const results = await Promise.all(variants.map((v) => runChild(dir, v)));
    const builds = new Map<string, number>();
    results.forEach((r, i) => {
      const v = variants[i] as number;
      expect(r.value).toBe(1 + v * v);
      builds.set(r.key, (builds.get(r.key) ?? 0) + (r.fromCache ? 0 : 1));
    });
    expect(builds.size).toBe(4);
    for (const n of builds.values()) expect(n).toBe(1);
    // Nothing half-written was left behind, and every published entry verifies.
    const report = config.change({ compiledir: dir }, () => verifyCache());
    expect(report.bad).toEqual([]);
    for (const key of builds.keys()) expect(report.ok).toContain(key);
    expect(existsSync(join(dir, "tmp")) ? readdirNames(join(dir, "tmp")) : []).toEqual([]);
  }, 60_000);
});

function readdirNames(d: string): string[] {
  return spawnSync("ls", ["-A", d], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
}

describe("compile cache: corrupt and unsafe entries", () => {
  /** Replaces mod.so by `bytes` the way a crash or a disk error would leave it (a new file). */
  function damage(path: string, edit: (b: Buffer) => Buffer): void {
    const next = `${path}.new`;
    writeFileSync(next, edit(readFileSync(path)), { mode: 0o700 });
    renameSync(next, path);
  }

  for (const [what, edit] of [
    ["truncated", (b: Buffer) => b.subarray(0, b.length >> 1)],
    ["byte-flipped", (b: Buffer) => {
      const c = Buffer.from(b);
      c[c.length >> 1] = (c[c.length >> 1] as number) ^ 0x40;
      return c;
    }],
  ] as const) {
    it(`detects a ${what} shared object, removes it and rebuilds it with exactly one warning`, async () => {
      if (!HAVE_CC) return expectNoCompilerFallback();
      const dir = join(tempDir(), "compiledir");
      await config.change({ compiledir: dir }, async () => {
        const src = childSource(3);
        const first = loadModule(src);
        first.library.close();
        damage(first.path, edit);
        expect(verifyCache().bad.map((b) => b.key)).toEqual([first.key]);
        let again: ReturnType<typeof loadModule> | undefined;
        const warnings = await warningsOf(() => (again = loadModule(src)));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/corrupt/);
        expect(again?.fromCache).toBe(false);
        expect(callChild(again!.library)).toBe(10);
        expect(verifyCache().bad).toEqual([]);
        again?.library.close();
      });
    });
  }

  it("refuses an entry writable by group, and a compiledir writable by others, without loading them", () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    inCompiledir((dir) => {
      const src = childSource(4);
      const m = loadModule(src);
      m.library.close();
      const entry = entryOf(dir, m.key);
      chmodSync(entry, 0o770);
      expect(() => loadModule(src)).toThrow(BackendError);
      expect(() => loadModule(src)).toThrow(/writable by group/);
      expect(verifyCache().bad.map((b) => b.unsafe)).toEqual([true]);
      chmodSync(entry, 0o700);
      chmodSync(m.path, 0o702);
      expect(() => loadModule(src)).toThrow(/writable by others/);
      chmodSync(m.path, 0o700);
      loadModule(src).library.close();
    });
    const open = join(tempDir(), "open");
    mkdirSync(open, { mode: 0o700 });
    chmodSync(open, 0o777);
    expect(() => config.change({ compiledir: open }, () => loadModule(childSource(4)))).toThrow(/refusing to use the compile cache directory/);
  });
});

describe("compile cache: failures and locks", () => {
  it("keeps the source and the compiler log of a failed build and names them in the CompileError", () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    inCompiledir((dir) => {
      const bad = "int theano_ts_broken( {\n";
      for (let round = 0; round < 2; round++) {
        let err: unknown;
        try {
          loadModule(bad);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(CompileError);
        const ce = err as CompileError;
        const failed = join(dir, "failed", moduleKey(bad));
        expect(ce.sourcePath).toBe(join(failed, "mod.c"));
        expect(ce.logPath).toBe(join(failed, "compile.log"));
        expect(ce.message).toContain(ce.sourcePath);
        expect(ce.message).toContain(ce.logPath);
        expect(readFileSync(ce.sourcePath as string, "utf8")).toBe(bad);
        expect(readFileSync(ce.logPath as string, "utf8")).toMatch(/error/);
      }
      expect(listEntries().filter((e) => e.key === moduleKey(bad))).toEqual([]);
    });
  });

  it("breaks a stale lock left by a dead process, with one warning", async () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    const dir = join(tempDir(), "compiledir");
    await config.change({ compiledir: dir }, async () => {
      const src = childSource(6);
      const key = moduleKey(src);
      const deadPid = spawnSync(process.execPath, ["-e", "0"]).pid as number;
      mkdirSync(join(dir, key.slice(0, 2)), { recursive: true, mode: 0o700 });
      const lock = join(dir, key.slice(0, 2), `${key}.lock`);
      writeFileSync(lock, JSON.stringify({ pid: deadPid, hostname: hostname(), start: null, time: new Date().toISOString() }));
      let m: ReturnType<typeof loadModule> | undefined;
      const warnings = await warningsOf(() => (m = loadModule(src)));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`stale lock.*process ${deadPid} is no longer running`));
      expect(m?.fromCache).toBe(false);
      expect(callChild(m!.library)).toBe(37);
      expect(existsSync(lock)).toBe(false);
      m?.library.close();
    });
  });
});

describe("compile cache: management", () => {
  it("lists, verifies and repairs, ages out unused entries and clears", () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    inCompiledir((dir) => {
      const mods = [21, 22, 23].map((v) => loadModule(childSource(v)));
      for (const m of mods) m.library.close();
      const keys = mods.map((m) => m.key);
      const listed = listEntries();
      for (const k of keys) expect(listed.map((e) => e.key)).toContain(k);
      const one = listed.find((e) => e.key === keys[0]);
      expect(one?.bytes).toBe(statSync(mods[0]!.path).size);
      expect(one?.flags).toEqual(compileFlags());

      writeFileSync(mods[1]!.path, "not an ELF file", { mode: 0o700 });
      const report = verifyCache({ repair: true });
      expect(report.bad.map((b) => b.key)).toEqual([keys[1]]);
      expect(report.removed).toEqual([keys[1]]);
      expect(existsSync(entryOf(dir, keys[1] as string))).toBe(false);

      // Not used for 10 days: aged out at a 1-day threshold; the fresh entry stays.
      const old = new Date(Date.now() - 10 * 86400e3);
      utimesSync(entryOf(dir, keys[2] as string), old, old);
      expect(ageCache(86400).removed).toEqual([keys[2]]);
      expect(listEntries().map((e) => e.key)).toContain(keys[0]);

      const cleared = clearCache();
      expect(cleared.skipped).toBe(0);
      expect(cleared.removed).toBeGreaterThan(0);
      expect(listEntries()).toEqual([]);
      // The memo forgot the cleared entries: the next ask builds again.
      expect(loadModule(childSource(21)).fromCache).toBe(false);
    });
  });
});

describe("compiler probes", () => {
  it("reports the C backend available here, or says how to get it", () => {
    const status = inCompiledir(() => cCompilerStatus());
    if (!HAVE_CC) return expectNoCompilerFallback();
    expect(status).toMatchObject({ ok: true, reason: "" });
    expect(status.compiler?.command).toBe(String(config.cxx));
    expect(status.openmp).toBe(compileFlags().includes("-fopenmp"));
  });

  it("builds without -fopenmp, warning once, when the compiler's OpenMP does not work", async () => {
    if (!HAVE_CC) return expectNoCompilerFallback();
    // A compiler that refuses -fopenmp and otherwise is the real one.
    const wrapper = join(tempDir(), "cc-without-openmp");
    writeFileSync(
      wrapper,
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && { echo "cc: error: unsupported option '-fopenmp'" >&2; exit 1; }; done\nexec ${String(config.cxx)} "$@"\n`,
      { mode: 0o700 },
    );
    const dir = join(tempDir(), "compiledir");
    await config.change({ cxx: wrapper, compiledir: dir, openmp: true }, async () => {
      let flags: string[] = [];
      const warnings = await warningsOf(() => (flags = compileFlags()));
      expect(flags).not.toContain("-fopenmp");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/OpenMP does not work.*one core/);
      const status = cCompilerStatus();
      expect(status).toMatchObject({ ok: true, openmp: false });
      const m = loadModule(childSource(8));
      expect(callChild(m.library)).toBe(65);
      m.library.close();
    });
  });

  it("falls back with a reason when config.cxx is empty or does not run", () => {
    for (const cxx of ["", "/nonexistent/theano-ts-cc"]) {
      config.change({ cxx }, () => {
        const status = cCompilerStatus();
        expect(status.ok).toBe(false);
        expect(status.compiler).toBe(null);
        expect(status.reason).toMatch(/no C compiler/);
        expect(status.reason).toMatch(/install gcc or clang/);
        expect(() => inCompiledir(() => loadModule(childSource(1)))).toThrow(CompileError);
      });
    }
  });
});

describe("BLAS discovery", () => {
  /** A shared library exporting the GEMM symbols a BLAS would (no arithmetic: never called). */
  function fakeBlas(dir: string, name: string, iface: "cblas" | "fortran"): string {
    const syms = iface === "cblas" ? ["cblas_sgemm", "cblas_dgemm"] : ["sgemm_", "dgemm_"];
    mkdirSync(dir, { recursive: true });
    const so = compileSharedObject(syms.map((s) => `void ${s}(void) {}\n`).join(""), { dir: mkdtempSync(join(dir, "build-")) });
    const path = join(dir, name);
    renameSync(so, path);
    return path;
  }

  it("uses blas.ldflags when it links, and warns once and uses the built-in GEMM when it does not", async () => {
    if (!HAVE_CC) {
      expect(config.change({ "blas.ldflags": "-lopenblas" }, () => findBlas())).toBe(null);
      return;
    }
    const dir = join(tempDir(), "compiledir");
    await config.change({ compiledir: dir }, async () => {
      const lib = fakeBlas(join(tempDir(), "lib"), "libfakeblas.so", "fortran");
      const info = config.change({ "blas.ldflags": lib }, () => findBlas());
      expect(info).toMatchObject({ source: "config", interface: "fortran", name: "custom", ldflags: [lib] });
      let none: ReturnType<typeof findBlas> | undefined;
      const warnings = await warningsOf(() => (none = config.change({ "blas.ldflags": "-ltheano_ts_no_such_blas" }, () => findBlas())));
      expect(none).toBe(null);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/blas.ldflags.*built-in GEMM/);
    });
  });

  it("discovers an OpenBLAS in CONDA_PREFIX by the symbols it exports", () => {
    if (!HAVE_CC) {
      const found = findBlas();
      if (found) expect(existsSync(found.path as string)).toBe(true);
      return;
    }
    const prefix = tempDir();
    const lib = fakeBlas(join(prefix, "lib"), "libopenblas.so.0", "cblas");
    const saved = process.env.CONDA_PREFIX;
    process.env.CONDA_PREFIX = prefix;
    try {
      // blas.builtin=False asks for a system BLAS
      const info = config.change({ "blas.ldflags": "", "blas.builtin": false }, () => findBlas());
      expect(info).toMatchObject({ name: "openblas", source: "discovered", path: lib, interface: "cblas" });
      expect(info?.ldflags).toContain(lib);
      // issue 15.4: unset, the built-in kernel wins where it has a vector micro-kernel
      const byDefault = config.change({ "blas.ldflags": "" }, () => findBlas());
      if (builtinGemmKernel() !== null) expect(byDefault).toBe(null);
      else expect(byDefault).toMatchObject({ name: "openblas", path: lib });
    } finally {
      if (saved === undefined) delete process.env.CONDA_PREFIX;
      else process.env.CONDA_PREFIX = saved;
    }
    // Without it: whatever the machine has (a real BLAS exporting sgemm), or none.
    const system = config.change({ "blas.ldflags": "", "blas.builtin": false }, () => findBlas());
    if (system) expect(existsSync(system.path as string)).toBe(true);
  });
});
