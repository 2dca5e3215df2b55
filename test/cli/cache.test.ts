/**
 * `theano-ts cache list|verify|clear|cleanup` (API.md §12; issue 13 item 14 names `cache clear`
 * as the way out of a refused entry): run through `main` on a private compiledir.
 */

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
