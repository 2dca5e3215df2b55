/**
 * `theano-ts check [--json]` (issue 16 item 7, API.md §12): run through `main` on a private
 * compiledir, with flags set in code (config.change) the way THEANO_FLAGS would set them.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { config, type FlagValues } from "../../src/config/index.js";
import { loadModule } from "../../src/link/cache.js";
import { findCompiler } from "../../src/link/c/compiler.js";

const HAVE_CC = findCompiler() !== null;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "theano-ts-cli-check-"));
  dirs.push(d);
  return join(d, "compiledir");
}

/** `theano-ts check` without the GEMM measurement unless `bench` is among the arguments. */
async function check(flags: Partial<FlagValues>, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const argv = args.includes("bench") ? args.filter((a) => a !== "bench") : [...args, "--no-bench"];
  const code = await config.change(flags, () => main(["check", ...argv], { out: (t) => void (out += t), err: (t) => void (err += t) }));
  return { code, out, err };
}

describe("theano-ts check", () => {
  it("issue 16.7: reports every section and exits 0 on the default path", async () => {
    const dir = scratch();
    const r = await check({ compiledir: dir });
    expect(r.code).toBe(0);
    for (const section of ["Host", "C backend", "BLAS", "CUDA", "WebGPU", "MPI (theano.distributed)", "Compile cache", "Flags that differ from their defaults", "Result: OK"]) {
      expect(r.out).toContain(section);
    }
    expect(r.out).toMatch(new RegExp(`node +${process.version.replace(/\./g, "\\.")} `));
    expect(r.out).toMatch(/koffi +\d+\.\d+\.\d+/);
    expect(r.out).toContain("no CUDA backend yet (device=cuda raises BackendError)");
    expect(r.out).toMatch(/package +webgpu (not installed \(optional\)|at \/)/);
    // MPI: the library and its version where Open MPI is installed, else what was tried and how to get it
    expect(r.out).toMatch(/library +(lib\S*mpi\S*\.so\S* \((Open MPI|MPICH)\); chosen by: [^\n]+\n +version +(Open MPI v\d|MPICH Version:)|none loads: .*apt-get install openmpi-bin)/);
    expect(r.out).toMatch(/mpirun +(\/\S+mpirun|not on PATH)/);
    expect(r.out).toMatch(/adapter +\S/);
    expect(r.out).toContain(`path           ${dir}`);
    // compiledir was set in code: it is listed with its source.
    expect(r.out).toMatch(new RegExp(`compiledir +${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} +\\[set in code\\]`));
    if (HAVE_CC) {
      expect(r.out).toContain("works          yes: built, loaded and ran a test module");
      expect(r.out).toMatch(/flags +-O3 /);
      expect(r.out).toMatch(/openmp +(yes|no: .+)/);
      expect(r.out).toMatch(/using +(built-in|\/.+)/);
    } else {
      expect(r.out).toMatch(/works +no: no C compiler/);
    }
  });

  it("issue 16.7: --json gives the same facts to machines", async () => {
    const r = await check({ compiledir: scratch() }, "--json", "bench");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown> & { node: { version: string }; c: { ok: boolean }; cuda: { searched: string[]; backendBuilt: boolean }; problems: string[]; flags: Array<{ name: string; source: string }> };
    expect(j.node.version).toBe(process.version);
    expect(j.c.ok).toBe(HAVE_CC);
    expect(j.cuda.searched.length).toBeGreaterThan(0);
    expect(j.cuda.backendBuilt).toBe(false);
    expect(j.problems).toEqual([]);
    expect(j.flags.find((f) => f.name === "compiledir")?.source).toBe("set in code");
    for (const k of ["koffi", "blas", "webgpu", "mpi", "cache", "notes", "heap"]) expect(j).toHaveProperty(k);
    // issue 15.3: the heap's reuse of freed array memory, on by default where glibc has mallopt
    const heap = j["heap"] as { reuseMb: number; reason: string };
    if (process.platform === "linux" && heap.reason !== "not a glibc system") expect(heap.reuseMb).toBeGreaterThan(0);
    else expect(heap.reuseMb).toBe(0);
    // The 1-second GEMM measurement through theano.function.
    const gemm = j["gemm"] as { gflops: number; calls: number; seconds: number; linker: string };
    expect(gemm.calls).toBeGreaterThan(0);
    expect(gemm.seconds).toBeGreaterThanOrEqual(1);
    expect(gemm.gflops).toBeGreaterThan(0);
    expect(gemm.linker).toBe(HAVE_CC ? "c (auto)" : "wasm (auto)");
  });

  it("issue 16.7: a configured device that cannot work exits 1 with the fix", async () => {
    const r = await check({ compiledir: scratch(), device: "cuda" });
    expect(r.code).toBe(1);
    expect(r.out).toContain("Result: PROBLEMS");
    expect(r.out).toMatch(/device=cuda: .*no CUDA backend yet.*Set device=cpu/);
    // The GEMM measurement cannot run there: it says why instead of raising.
    const b = await check({ compiledir: scratch(), device: "cuda" }, "bench");
    expect(b.code).toBe(1);
    expect(b.out).toMatch(/gemm +not measured: device=cuda: /);
  });

  it("issue 16.7: linker=c without a usable compiler exits 1; without linker=c it is only a note", async () => {
    const dir = scratch();
    const forced = await check({ compiledir: dir, cxx: "", linker: "c" });
    expect(forced.code).toBe(1);
    expect(forced.out).toMatch(/linker=c, but the C backend cannot run: no C compiler/);
    const auto = await check({ compiledir: dir, cxx: "" });
    expect(auto.code).toBe(0);
    expect(auto.out).toMatch(/no working C compiler .*functions run on the WebAssembly backend/);
  });

  it("issue 16.7: a blas.ldflags that does not link exits 1", async () => {
    if (!HAVE_CC) return; // without a compiler blas.ldflags is never linked; the previous test covers that path
    const r = await check({ compiledir: scratch(), "blas.ldflags": "-lno_such_blas_theano_ts" } as Partial<FlagValues>);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/blas\.ldflags="-lno_such_blas_theano_ts" does not link/);
  });

  it("issue 16.7: a corrupt cache entry is reported with the command that removes it", async () => {
    if (!HAVE_CC) return;
    const dir = scratch();
    const mod = config.change({ compiledir: dir }, () => loadModule("int theano_ts_check_probe(void) { return 16; }\n"));
    mod.library.close();
    writeFileSync(mod.path, "not an ELF file", { mode: 0o700 });
    const r = await check({ compiledir: dir });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/CORRUPT +.*mod\.so has/);
    expect(r.out).toContain("theano-ts cache verify --repair");
  });

  it("issue 16.7: a configured compiledir that cannot be used exits 1 and says why", async () => {
    const dir = scratch();
    const file = `${dir}.file`;
    writeFileSync(file, "not a directory");
    dirs.push(file);
    const r = await check({ compiledir: file });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/usable +no: /);
    expect(r.out).toMatch(new RegExp(`the compile cache ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} cannot be used`));
  });

  it("issue 16.7: unknown arguments are a usage error (exit 2)", async () => {
    const r = await check({}, "--bogus");
    expect(r.code).toBe(2);
    expect(r.err).toContain("check does not take --bogus");
  });
});
