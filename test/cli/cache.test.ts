/**
 * `theano-ts cache list|verify|clear|cleanup` (API.md §12; issue 13 item 14 names `cache clear`
 * as the way out of a refused entry): run through `main` on a private compiledir.
 */

import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { main } from "../../src/cli/main.js";
import { config } from "../../src/config/index.js";
import { BackendError } from "../../src/errors.js";
import { loadModule } from "../../src/link/cache.js";
import { findCompiler } from "../../src/link/c/compiler.js";
import { childSource } from "../link/c/cache_sources.js";
import { forgetWasmMemo } from "../../src/link/wasm/cache.js";

const HAVE_CC = findCompiler() !== null;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function run(dir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await config.change({ compiledir: dir }, () => main(["cache", ...args], { out: (t) => void (out += t), err: (t) => void (err += t) }));
  return { code, out, err };
}

describe("theano-ts cache", () => {
  it("issue 13.14: lists, verifies, repairs and clears; clear is the way out of a refused entry", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "theano-ts-cli-cache-")), "compiledir");
    dirs.push(dir);
    if (!HAVE_CC) {
      const r = await run(dir, "list");
      expect(r.code).toBe(0);
      expect(r.out).toContain(`0 entries, 0.00 MB, in ${dir}`);
      return;
    }
    const mods = config.change({ compiledir: dir }, () => [51, 52].map((v) => loadModule(childSource(v))));
    for (const m of mods) m.library.close();
    const listed = await run(dir, "list");
    expect(listed.code).toBe(0);
    for (const m of mods) expect(listed.out).toContain(m.key.slice(0, 16));
    expect(listed.out).toContain("(function not recorded)"); // modules loaded directly carry no function name
    // An entry built for a compiled function names it (issue 16.8: the source graph's name).
    config.change({ compiledir: dir, "gcc.cxxflags": "-O1" }, () => {
      const x = theano.T.dvector("x");
      theano.function([x], x.mul(3).add(1), { name: "cache_list_fn", mode: new theano.Mode("c", "fast_run") });
    });
    expect((await run(dir, "list")).out).toMatch(/cache_list_fn \(\d+ nodes\)/);

    writeFileSync(mods[0]!.path, "not an ELF file", { mode: 0o700 });
    const bad = await run(dir, "verify", "--dry-run");
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/CORRUPT .*: mod.so has/);
    expect(bad.out).not.toMatch(/removed/);
    const repaired = await run(dir, "verify");
    expect(repaired.code).toBe(0);
    expect(repaired.out).toMatch(/CORRUPT .*: mod.so has.*\(removed\)/);
    expect(repaired.out).toMatch(/\d+ ok, 1 bad, 1 removed/);
    expect((await run(dir, "verify", "--repair")).out).toMatch(/\d+ ok, 0 bad/);

    // An entry opened to group writes is refused; the refusal names `cache clear`, which works.
    chmodSync(mods[1]!.path, 0o770);
    let refusal: unknown;
    try {
      config.change({ compiledir: dir }, () => loadModule(childSource(52)));
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toBeInstanceOf(BackendError);
    expect((refusal as Error).message).toContain("theano-ts cache clear");
    const cleared = await run(dir, "clear");
    expect(cleared.code).toBe(0);
    expect(cleared.out).toMatch(/removed \d+ entr/);
    expect((await run(dir, "list")).out).toContain("0 entries");
    const again = config.change({ compiledir: dir }, () => loadModule(childSource(52)));
    expect(again.fromCache).toBe(false);
    again.library.close();
    expect((await run(dir, "cleanup", "--days", "0")).code).toBe(0);
  }, 60_000);

  it("issue 20: sees the wasm linker's modules under <compiledir>/wasm/ too: lists, verifies, repairs, ages and clears them", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "theano-ts-cli-cache-")), "compiledir");
    dirs.push(dir);
    const build = (): void =>
      config.change({ compiledir: dir }, () => {
        const x = theano.T.dvector("x");
        const f = theano.function([x], theano.T.tanh(x).mul(2), { name: "wasm_cache_fn", mode: new theano.Mode("wasm", "fast_run") });
        expect((f([0, 1]) as theano.NDArray).toArray()).toEqual([0, 2 * Math.tanh(1)]);
      });
    const entry = (): string => {
      const root = join(dir, "wasm");
      const found = readdirSync(root)
        .filter((n) => /^[0-9a-f]{2}$/.test(n))
        .flatMap((s) => readdirSync(join(root, s)).map((k) => join(root, s, k)));
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    forgetWasmMemo(); // a program remembered in memory would not reach the disk
    build();
    const e = entry();
    const listed = await run(dir, "list");
    expect(listed.out).toMatch(new RegExp(`${e.slice(-64, -48)}  wasm .*wasm_cache_fn \\(\\d+ nodes\\)  WebAssembly`));
    expect(listed.out).toContain("1 entry");
    expect(config.change({ compiledir: dir }, () => theano.cache.list()).map((i) => i.kind)).toEqual(["wasm"]);
    expect((await run(dir, "verify", "--dry-run")).out).toContain("1 ok, 0 bad");

    // A flipped byte: reported, then removed; the next build writes the entry again.
    const wasm = readFileSync(join(e, "mod.wasm"));
    wasm[wasm.length - 1] ^= 0xff;
    writeFileSync(join(e, "mod.wasm"), wasm);
    const bad = await run(dir, "verify", "--dry-run");
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/CORRUPT .*wasm.*: mod.wasm's sha256 differs/);
    const repaired = await run(dir, "verify");
    expect(repaired.code).toBe(0);
    expect(repaired.out).toContain("0 ok, 1 bad, 1 removed");
    expect((await run(dir, "list")).out).toContain("0 entries");

    // Unused for longer than the threshold: cleanup removes it.
    forgetWasmMemo();
    build();
    const old = new Date(Date.now() - 3 * 86_400_000);
    utimesSync(entry(), old, old);
    expect((await run(dir, "cleanup", "--days", "2")).out).toContain("removed 1 unused entry");
    expect((await run(dir, "list")).out).toContain("0 entries");

    // One another user could write: verify reports it and keeps it; clear removes it.
    forgetWasmMemo();
    build();
    chmodSync(entry(), 0o777);
    const unsafe = await run(dir, "verify");
    expect(unsafe.code).toBe(1);
    expect(unsafe.out).toMatch(/UNSAFE .*writable/);
    expect(unsafe.out).not.toMatch(/removed\)/);
    expect((await run(dir, "clear")).out).toContain("removed 1 entry");
    expect((await run(dir, "list")).out).toContain("0 entries");
  });

  it("rejects a missing or unknown subcommand with exit code 2", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "theano-ts-cli-cache-")), "compiledir");
    dirs.push(dir);
    for (const args of [[], ["bogus"], ["verify", "--force"], ["cleanup", "--days", "x"]]) {
      const r = await run(dir, ...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/cache/);
    }
  });
});
