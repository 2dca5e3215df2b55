/**
 * `linker=auto`'s order (issue 20 item 3): C when a compiler works, else WebAssembly, else JS,
 * and `theano-ts check` saying which and why (text and --json). The choice is read in this
 * process through `autoLinkerChoice` (no warning); whole functions under auto, which warn once
 * per process, run in a child Node (auto_child.ts).
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { main } from "../../../src/cli/main.js";
import { autoLinkerChoice } from "../../../src/link/c/linker.js";
import { findCompiler } from "../../../src/link/c/compiler.js";
import { jsLinker } from "../../../src/link/js/linker.js";
import { wasmLinker } from "../../../src/link/wasm/linker.js";

const HAVE_CC = findCompiler() !== null;
const scratch = mkdtempSync(join(tmpdir(), "theano-ts-wasm-auto-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `fn` with the WebAssembly global gone, as in a runtime without it. */
function withoutWebAssembly<R>(fn: () => R): R {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "WebAssembly")!;
  Object.defineProperty(globalThis, "WebAssembly", { value: undefined, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    Object.defineProperty(globalThis, "WebAssembly", saved);
  }
}

interface ChildResult {
  nodes: Array<{ op: string; backend: string }>;
  sum: number;
  y: number[];
  warnings: string[];
}

function child(cxx: string, arg = ""): ChildResult {
  const file = fileURLToPath(new URL("./auto_child.ts", import.meta.url));
  const env = { ...process.env, THEANO_FLAGS: `cxx=${cxx},compiledir=${join(scratch, "compiledir")}` };
  const out = execFileSync(process.execPath, ["--import", "tsx", file, ...(arg ? [arg] : [])], { encoding: "utf8", env, stdio: ["ignore", "pipe", "ignore"] });
  return JSON.parse(out.trim().split("\n").pop()!) as ChildResult;
}

// sum(exp([0, 1, -2, 0.5])) * 2 and x*x + 1, in float64.
const SUM = 2 * (1 + Math.E + Math.exp(-2) + Math.exp(0.5));
const Y = [1, 2, 5, 1.25];

describe("linker=auto: C, else WebAssembly, else JS", () => {
  it("picks C when a compiler works (here: " + (HAVE_CC ? "one does" : "none does") + ")", () => {
    const choice = autoLinkerChoice();
    if (!HAVE_CC) return void expect(choice.linker).toBe(wasmLinker);
    expect(choice.linker.name).toBe("c");
    expect(choice.why).toMatch(/^a C compiler works \(.+ built, loaded and ran a test module\)$/);
    expect(theano.Mode.autoLinker().linker).toBe("c");
  });

  it("picks wasm without a usable C compiler (cxx empty, or a path that does not exist)", () => {
    for (const cxx of ["", join(scratch, "no-such-cc")]) {
      const choice = theano.config.change({ cxx }, () => autoLinkerChoice());
      expect(choice.linker).toBe(wasmLinker);
      expect(choice.why).toMatch(/^the C backend is unavailable \(no C compiler: .*install gcc or clang/);
      expect(choice.why).not.toMatch(/no WebAssembly/);
      expect(theano.config.change({ cxx }, () => theano.Mode.autoLinker())).toEqual({ linker: "wasm", why: choice.why });
    }
  });

  it("picks js without a C compiler where the runtime has no WebAssembly", () => {
    const choice = withoutWebAssembly(() => theano.config.change({ cxx: "" }, () => autoLinkerChoice()));
    expect(choice.linker).toBe(jsLinker);
    expect(choice.why).toMatch(/^the C backend is unavailable \(no C compiler: .*\) and this runtime has no WebAssembly$/);
    // where C works, C is picked whether or not WebAssembly exists
    if (HAVE_CC) expect(withoutWebAssembly(() => autoLinkerChoice()).linker.name).toBe("c");
  });

  it("runs a whole function on wasm under cxx= (reductions as Wasm CAReduce, not a host FusedReduce), with one warning", () => {
    for (const cxx of ["", "/nonexistent/theano-ts-cc"]) {
      const r = child(cxx);
      expect(r.sum).toBeCloseTo(SUM, 12);
      expect(r.y).toEqual(Y);
      expect(r.nodes.map((n) => n.op)).not.toContain("FusedReduce");
      expect(r.nodes.filter((n) => n.op === "CAReduce").map((n) => n.backend)).toEqual(["wasm"]);
      expect(r.nodes.filter((n) => n.op === "Elemwise").every((n) => n.backend === "wasm")).toBe(true);
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toMatch(/C backend is unavailable \(no C compiler: .*\); using the WebAssembly backend \(set THEANO_FLAGS=linker=wasm/);
    }
  }, 120_000);

  it("runs on js, with one warning naming it, where there is neither C nor WebAssembly", () => {
    const r = child("", "nowasm");
    expect(r.sum).toBeCloseTo(SUM, 12);
    expect(r.y).toEqual(Y);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/C backend is unavailable .*; using the JS backend \(set THEANO_FLAGS=linker=js/);
  }, 60_000);
});

describe("theano-ts check: which linker auto picks and why", () => {
  async function check(cxx: string | null, json: boolean): Promise<string> {
    let out = "";
    const flags = { compiledir: join(scratch, "check"), ...(cxx === null ? {} : { cxx }) };
    const args = ["check", "--no-bench", ...(json ? ["--json"] : [])];
    await theano.config.change(flags, () => main(args, { out: (t) => void (out += t), err: () => undefined }));
    return out;
  }

  it("says auto → wasm and why without a C compiler, in text and in --json", async () => {
    const text = await check("", false);
    expect(text).toMatch(/\nLinker\n {2}flag +linker=auto \(the default\)\n {2}auto +auto → wasm: the C backend is unavailable \(no C compiler: /);
    const report = JSON.parse(await check("", true)) as { linker: { flag: string; auto: string; why: string } };
    expect(report.linker.flag).toBe("auto");
    expect(report.linker.auto).toBe("wasm");
    expect(report.linker.why).toMatch(/^the C backend is unavailable \(no C compiler: /);
  }, 120_000);

  it("says auto → c and why where a compiler works", async () => {
    if (!HAVE_CC) return;
    const text = await check(null, false);
    expect(text).toMatch(/ {2}auto +auto → c: a C compiler works \(\S+ built, loaded and ran a test module\)/);
    const report = JSON.parse(await check(null, true)) as { linker: { auto: string } };
    expect(report.linker.auto).toBe("c");
  }, 120_000);
});
