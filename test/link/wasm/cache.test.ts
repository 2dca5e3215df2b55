/**
 * The wasm linker's caches (src/link/wasm/cache.ts, issue 20 item 3): a compiled module per
 * process by its bytes (the same graph twice: one WebAssembly compilation), and in Node the
 * emitted program in the compile cache with the C objects' guarantees: written once and
 * published whole, loaded by a new process without code generation, and a corrupt entry
 * (flipped byte, truncated bytes, unreadable meta.json, bytes the engine refuses, a kernel list
 * that does not fit the graph) detected, removed and rebuilt with one warning; an entry others
 * could write is not used. Values are checked against perform every time.
 */

import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import * as theano from "../../../src/index.js";
import { compileModule, forgetWasmMemo, wasmCacheStats } from "../../../src/link/wasm/cache.js";
import { wasmApi } from "../../../src/link/wasm/emitter.js";
import { generateWasm } from "../../../src/link/wasm/linker.js";
import { evaluate, expectClose } from "../../helpers.js";
import { cacheGraph, cacheInputs } from "./cache_graph.js";

const { T } = theano;
type NDArray = theano.NDArray;
const scratch = mkdtempSync(join(tmpdir(), "theano-ts-wasm-cache-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(scratch, `compiledir${dirs++}`);

const { inputs: IN, outputs: OUT } = cacheGraph();
const WANT = evaluate(OUT, new Map(IN.map((v, i) => [v, cacheInputs()[i]]))) as NDArray[];

interface Compiled {
  values: NDArray[];
  link: { codegenMs: number; cacheLoadMs: number; compiled: number; cacheLoads: number };
  stats: typeof wasmCacheStats;
  warnings: string[];
}

/** Compiles the graph (fresh variables) on wasm under `compiledir` and runs it; counters as deltas. */
function compileOnce(compiledir: string): Compiled {
  const before = { ...wasmCacheStats };
  const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
  try {
    return theano.config.change({ compiledir }, () => {
      const { inputs, outputs } = cacheGraph();
      const f = theano.function(inputs, outputs, { mode: new theano.Mode("wasm"), profile: true });
      const values = f(...cacheInputs()) as NDArray[];
      const stats = Object.fromEntries(Object.entries(wasmCacheStats).map(([k, v]) => [k, v - before[k as keyof typeof before]])) as typeof wasmCacheStats;
      return { values, link: f.profile!.toJSON().compile as Compiled["link"], stats, warnings: spy.mock.calls.map((c) => String(c[0])) };
    });
  } finally {
    spy.mockRestore();
  }
}

function expectRight(values: NDArray[]): void {
  expect(values).toHaveLength(WANT.length);
  values.forEach((v, i) => expectClose(v, WANT[i]!));
}

/** The one entry under <compiledir>/wasm/<shard>/<key>/. */
function entryOf(compiledir: string): string {
  const root = join(compiledir, "wasm");
  const shards = readdirSync(root).filter((n) => /^[0-9a-f]{2}$/.test(n));
  const entries = shards.flatMap((s) => readdirSync(join(root, s)).map((k) => join(root, s, k)));
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

describe("wasm modules compiled once per process", () => {
  it("compiling the same graph twice runs WebAssembly compilation once", () => {
    forgetWasmMemo();
    const dir = freshDir();
    const first = compileOnce(dir);
    expectRight(first.values);
    expect(first.stats.compiles).toBe(1);
    expect(first.link.compiled).toBe(1);
    const second = compileOnce(dir);
    expectRight(second.values);
    expect(second.stats.compiles).toBe(0);
    expect(second.stats.memoryHits).toBe(1);
    expect(second.link).toMatchObject({ compiled: 0, cacheLoads: 1, codegenMs: 0 });
  });

  it("keys modules by their bytes: equal bytes in another array share one compiled module", () => {
    forgetWasmMemo();
    const api = wasmApi()!;
    const { inputs, outputs } = cacheGraph();
    // one thread: the module's memory is not shared, as generateWasm's default
    const f = theano.config.change({ "wasm.num_threads": 1 }, () => theano.function(inputs, outputs, { mode: new theano.Mode("wasm", "None") }));
    const bytes = generateWasm(f.fgraph.toposort()).bytes;
    const before = wasmCacheStats.compiles;
    // theano.function compiled these bytes: regenerated, in another array, they are a hit
    const a = compileModule(api, bytes);
    const b = compileModule(api, new Uint8Array(bytes));
    expect(a.compiled).toBe(false);
    expect(b.module).toBe(a.module);
    expect(b.compiled).toBe(false);
    const other = bytes.slice();
    other[other.length - 2] = other[other.length - 2]! ^ 1; // another module (or an invalid one): never the cached one
    let c: object | null = null;
    try {
      c = compileModule(api, other).module;
    } catch {
      // the engine refused the changed bytes: not served from the cache either
    }
    expect(c).not.toBe(a.module);
    expect(wasmCacheStats.compiles - before).toBe(c ? 1 : 0);
  });
});

describe("wasm programs in the compile cache", () => {
  function child(compiledir: string): Compiled & { values: number[][] } {
    const file = fileURLToPath(new URL("./cache_child.ts", import.meta.url));
    const out = execFileSync(process.execPath, ["--import", "tsx", file, compiledir], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return JSON.parse(out.trim().split("\n").pop()!) as Compiled & { values: number[][] };
  }
  const childRight = (values: number[][]): void => values.forEach((v, i) => expectClose(theano.array(v, "float64").reshape(WANT[i]!.shape as number[]), WANT[i]!));

  it("a new process loads the program from disk and generates no code", () => {
    const dir = freshDir();
    const a = child(dir);
    childRight(a.values);
    expect(a.stats).toMatchObject({ builds: 1, diskWrites: 1, diskLoads: 0, compiles: 1 });
    const entry = entryOf(dir);
    const meta = JSON.parse(readFileSync(join(entry, "meta.json"), "utf8")) as { sha256: string; size: number; key: string; kernelOf: unknown[] };
    const bytes = readFileSync(join(entry, "mod.wasm"));
    expect(meta.size).toBe(bytes.length);
    expect(meta.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(entry.endsWith(meta.key)).toBe(true);
    expect(statSync(entry).mode & 0o777).toBe(0o700);
    expect(statSync(join(entry, "mod.wasm")).mode & 0o777).toBe(0o600);
    const b = child(dir);
    childRight(b.values);
    expect(b.stats).toMatchObject({ builds: 0, diskLoads: 1, diskWrites: 0, corrupt: 0 });
    expect(b.link.codegenMs).toBe(0);
    expect(b.link.cacheLoads).toBe(1);
    expect(b.warnings).toEqual([]);
  }, 120_000);

  it("two processes compiling the graph at once build it once (the key's lock), and both run it", async () => {
    const dir = freshDir();
    const file = fileURLToPath(new URL("./cache_child.ts", import.meta.url));
    const run = (): Promise<Compiled & { values: number[][] }> =>
      new Promise((resolve, reject) =>
        execFile(process.execPath, ["--import", "tsx", file, dir], { encoding: "utf8" }, (err, out) => (err ? reject(err) : resolve(JSON.parse(out.trim().split("\n").pop()!)))),
      );
    const [a, b] = await Promise.all([run(), run()]);
    childRight(a.values);
    childRight(b.values);
    expect(a.stats.builds + b.stats.builds).toBe(1);
    expect(a.stats.diskWrites + b.stats.diskWrites).toBe(1);
    expect(a.stats.diskLoads + b.stats.diskLoads).toBe(1);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
    entryOf(dir);
  }, 120_000);

  /** Damages the entry with `damage`, then a "new process" (memo forgotten) must rebuild it with one warning. */
  function healsAfter(damage: (entry: string) => void, problem: RegExp): void {
    const dir = freshDir();
    forgetWasmMemo();
    expect(compileOnce(dir).stats.diskWrites).toBe(1);
    const entry = entryOf(dir);
    const good = readFileSync(join(entry, "mod.wasm"));
    damage(entry);
    forgetWasmMemo();
    const r = compileOnce(dir);
    expectRight(r.values);
    expect(r.stats).toMatchObject({ corrupt: 1, builds: 1, diskWrites: 1, diskLoads: 0 });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/wasm entry .* is corrupt \(/);
    expect(r.warnings[0]).toMatch(problem);
    // rebuilt whole: the same bytes again, and the next process loads them without a warning
    expect(entryOf(dir)).toBe(entry);
    expect(readFileSync(join(entry, "mod.wasm")).equals(good)).toBe(true);
    forgetWasmMemo();
    const again = compileOnce(dir);
    expectRight(again.values);
    expect(again.stats).toMatchObject({ diskLoads: 1, builds: 0, corrupt: 0 });
    expect(again.warnings).toEqual([]);
  }

  it("a flipped byte in mod.wasm is detected by its checksum, removed and rebuilt", () => {
    healsAfter((e) => {
      const b = readFileSync(join(e, "mod.wasm"));
      b[b.length >> 1] ^= 0x10;
      writeFileSync(join(e, "mod.wasm"), b);
    }, /sha256 differs/);
  });

  it("a truncated mod.wasm, and an unreadable meta.json, are rebuilt", () => {
    healsAfter((e) => writeFileSync(join(e, "mod.wasm"), readFileSync(join(e, "mod.wasm")).subarray(0, 100)), /mod\.wasm has 100 bytes, meta\.json says \d+ \(truncated\?\)/);
    healsAfter((e) => writeFileSync(join(e, "meta.json"), "{ not json"), /meta\.json is unreadable/);
  });

  it("bytes the engine refuses, or kernels that do not fit the graph, are corrupt even with a matching checksum", () => {
    const rewrite = (e: string, edit: (meta: Record<string, unknown>, bytes: Buffer) => Buffer): void => {
      const meta = JSON.parse(readFileSync(join(e, "meta.json"), "utf8")) as Record<string, unknown>;
      const bytes = edit(meta, readFileSync(join(e, "mod.wasm")));
      writeFileSync(join(e, "mod.wasm"), bytes);
      meta["sha256"] = createHash("sha256").update(bytes).digest("hex");
      meta["size"] = bytes.length;
      writeFileSync(join(e, "meta.json"), JSON.stringify(meta));
    };
    healsAfter((e) => rewrite(e, (_m, b) => Buffer.concat([b.subarray(0, 8), Buffer.from([0x01, 0x05, 0x7f])])), /the engine refuses the module/);
    healsAfter((e) => rewrite(e, (m, b) => ((m["kernelOf"] = (m["kernelOf"] as unknown[]).map(() => null)), b)), /its kernels do not match the graph's nodes/);
    healsAfter((e) => rewrite(e, (m, b) => ((m["kernelOf"] = (m["kernelOf"] as Array<string | null>).map((k) => (k ? "nope" : k))), b)), /the module has no export nope/);
  });

  it("an entry others can write is not used (one warning), and the function still runs", () => {
    const dir = freshDir();
    forgetWasmMemo();
    compileOnce(dir);
    const entry = entryOf(dir);
    chmodSync(entry, 0o777);
    forgetWasmMemo();
    const r = compileOnce(dir);
    expectRight(r.values);
    expect(r.stats).toMatchObject({ diskLoads: 0, builds: 1, diskWrites: 0, corrupt: 0 });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/runs without its disk cache: the wasm compile cache entry .* is not used: .* is writable by group and others \(mode 0777\); delete it/);
    expect(existsSync(entry)).toBe(true); // refused, never deleted or rewritten
    chmodSync(entry, 0o700);
  });

  it("entries unused for cmodule.age_thresh_use seconds are removed after the next build; used ones stay", () => {
    const dir = freshDir();
    forgetWasmMemo();
    compileOnce(dir);
    const old = entryOf(dir);
    const past = new Date(Date.now() - 3600_000);
    utimesSync(old, past, past);
    // another graph builds a second entry; ageing (once per process and compiledir) then runs
    forgetWasmMemo();
    theano.config.change({ compiledir: dir, "cmodule.age_thresh_use": 600 }, () => {
      const x = T.dvector("x");
      const f = theano.function([x], T.exp(x).add(1), { mode: new theano.Mode("wasm") });
      expectClose(f(theano.array([0, 1])) as NDArray, theano.array([2, 1 + Math.E]));
    });
    expect(existsSync(old)).toBe(false);
    const left = entryOf(dir); // the fresh one
    expect(left).not.toBe(old);
  });

  it("a compiledir that cannot be made leaves the function compiled in memory, silently", () => {
    const file = join(scratch, "a-file");
    writeFileSync(file, "");
    forgetWasmMemo();
    const r = compileOnce(join(file, "compiledir"));
    expectRight(r.values);
    expect(r.stats).toMatchObject({ builds: 1, diskWrites: 0, diskLoads: 0 });
    expect(r.warnings).toEqual([]);
  });
});
