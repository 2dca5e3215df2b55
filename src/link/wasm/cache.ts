/**
 * Caching for the wasm linker, at two levels:
 *
 * - Per process, the compiled `WebAssembly.Module` by its bytes (a hash of the emitted bytes,
 *   then the bytes compared): compiling the same graph twice, or two graphs whose kernels come
 *   out the same, runs WebAssembly compilation once.
 * - In Node, the emitted program (module bytes, the export each node calls, the JS imports in
 *   order) in the compile cache under `<compiledir>/wasm/`, so that a new process skips code
 *   generation. The bytes cannot key this level (they are what it saves computing): the key
 *   hashes the graph as the generators read it (per node its op's key, a Composite's steps, its
 *   input and output types), the engine features the bytes depend on (SIMD, relaxed SIMD) and
 *   the generators' own source (every file of src/link/wasm), so editing a generator never
 *   loads stale bytes. Within a process the same signature is remembered too.
 *
 * The disk entries keep the C objects' guarantees (src/link/cache.ts): one build per key under
 * that key's lock (`lockKey`), published by one `rename` of a finished directory; meta.json
 * holds the bytes' sha256 and size, checked before the first load in a process, with the
 * exports and imports the bytes must have; a corrupt entry is removed and rebuilt with one
 * warning; entries, shards and the wasm/ directory must be this user's and not writable by
 * others (trust.ts), else they are not used. The disk level is an optimisation: a compiledir
 * that cannot be used leaves the function compiled in memory (a refused entry says so once).
 * Entries not used for `cmodule.age_thresh_use` seconds are removed, as C ones are.
 * `theano.cache` and `theano-ts cache` list, verify, age and clear these entries beside the C
 * ones (the management functions at the end of this file, combined in src/link/cache_admin.ts).
 */

import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { config } from "../../config/index.js";
import { warn } from "../../errors.js";
import { compiledir, compiledirIoError, entryKeys, isCompiledirError, lockKey, removeTree, type CacheEntryInfo, type VerifyReport } from "../cache.js";
import { untrustedReason } from "../trust.js";
import type { WasmApi } from "./emitter.js";

/** Bumped when the entry layout or meta.json changes. */
const FORMAT = 1;
/** Most modules (and programs) kept per process; the oldest go first. */
const MEMO_MAX = 256;

/** What the linker needs of a module besides its bytes: the export per node, the imports in order. */
export interface StoredProgram {
  readonly bytes: Uint8Array;
  readonly kernelOf: ReadonlyArray<string | null>;
  readonly imports: readonly string[];
}

/** Counters for tests and benchmarks: how often each level was used in this process. */
export const wasmCacheStats = { compiles: 0, moduleHits: 0, builds: 0, memoryHits: 0, diskLoads: 0, diskWrites: 0, corrupt: 0 };

// ---------------------------------------------------------------------------------------------
// Compiled modules, per process, by their bytes.

/** FNV-1a over the bytes (plus their length): a bucket, confirmed by comparing the bytes. */
function bytesHash(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return `${b.length}:${(h >>> 0).toString(16)}`;
}

const modules = new Map<string, Array<{ bytes: Uint8Array; module: object }>>();

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size > MEMO_MAX) map.delete(map.keys().next().value as K);
}

/** The compiled module of `bytes`: from this process's cache, or compiled now (and kept). */
export function compileModule(api: WasmApi, bytes: Uint8Array): { module: object; compiled: boolean } {
  const h = bytesHash(bytes);
  const bucket = modules.get(h);
  const hit = bucket?.find((e) => sameBytes(e.bytes, bytes));
  if (hit) {
    wasmCacheStats.moduleHits++;
    return { module: hit.module, compiled: false };
  }
  const module = new api.Module(bytes);
  wasmCacheStats.compiles++;
  remember(modules, h, [...(bucket ?? []), { bytes: bytes.slice(), module }]);
  return { module, compiled: true };
}

// ---------------------------------------------------------------------------------------------
// Programs, per process and on disk, by the graph's signature.

const programs = new Map<string, StoredProgram>();

const onNode = (): boolean => typeof process !== "undefined" && typeof process.versions?.node === "string";

let generatorHash: string | null | undefined;
/** sha256 of the generators' source (every .ts/.js file of this folder and ops/); null when unreadable. */
function generatorSource(): string | null {
  if (generatorHash !== undefined) return generatorHash;
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    const h = createHash("sha256");
    for (const dir of [here, join(here, "ops")]) {
      for (const name of readdirSync(dir).sort()) {
        if (!/\.(ts|js)$/.test(name) || name.endsWith(".d.ts")) continue;
        h.update(name).update("\0").update(readFileSync(join(dir, name))).update("\0");
      }
    }
    generatorHash = h.digest("hex");
  } catch {
    generatorHash = null;
  }
  return generatorHash;
}

type Entry = { program: StoredProgram } | { problem: string } | null;

/** Why a path of the wasm cache may not be trusted (this user's, not writable by others), or null. */
function distrust(path: string, inEntry: boolean): string | null {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return null; // missing: the caller finds out
  }
  if (!inEntry && !st.isDirectory()) return `${path} is ${st.isSymbolicLink() ? "a symbolic link" : "not a directory"}`;
  return untrustedReason(path, st, { noSymlink: inEntry });
}

/** `parent/name`, created 0700 when missing, refused (an Error saying why) when not trusted. */
function privateDir(parent: string, name: string): string {
  const d = join(parent, name);
  try {
    mkdirSync(d, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw compiledirIoError(e, d, "create the directory");
  }
  const why = distrust(d, false);
  if (why) throw new Refused(`the wasm compile cache directory ${d} is not used: ${why}; delete it (rm -rf ${d}), theano-ts recreates it private`);
  return d;
}

class Refused extends Error {}

interface Meta {
  format: number;
  key: string;
  sha256: string;
  size: number;
  kernelOf: Array<string | null>;
  imports: string[];
  created: string;
  graph: string;
}

/** The entry at `dir`: its program when whole, a problem (corruption) when not, null when missing. */
function readEntry(key: string, dir: string): Entry {
  for (const [p, inEntry] of [[dirname(dir), false], [dir, false], [join(dir, "meta.json"), true], [join(dir, "mod.wasm"), true]] as const) {
    const why = distrust(p, inEntry);
    if (why) throw new Refused(`the wasm compile cache entry ${dir} is not used: ${why}; delete it (rm -rf ${dir})`);
  }
  let meta: Meta;
  let bytes: Uint8Array;
  try {
    meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Meta;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" && !exists(dir)) return null;
    return { problem: `meta.json is unreadable (${(e as Error).message})` };
  }
  try {
    bytes = new Uint8Array(readFileSync(join(dir, "mod.wasm")));
  } catch (e) {
    return { problem: `mod.wasm is unreadable (${(e as Error).message})` };
  }
  if (meta.format !== FORMAT || meta.key !== key) return { problem: "meta.json does not describe this key" };
  if (bytes.length !== meta.size) return { problem: `mod.wasm has ${bytes.length} bytes, meta.json says ${meta.size} (truncated?)` };
  if (createHash("sha256").update(bytes).digest("hex") !== meta.sha256) return { problem: "mod.wasm's sha256 differs from meta.json's (corrupted bytes)" };
  if (!Array.isArray(meta.kernelOf) || !Array.isArray(meta.imports)) return { problem: "meta.json lacks the kernels or imports" };
  return { program: { bytes, kernelOf: meta.kernelOf, imports: meta.imports } };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes the entry into a private temporary directory and publishes it with one rename. */
function publish(wasmRoot: string, key: string, dir: string, p: StoredProgram, graph: string): void {
  const tmpRoot = privateDir(wasmRoot, "tmp");
  let tmp: string;
  try {
    tmp = mkdtempSync(join(tmpRoot, `${key.slice(0, 16)}-`));
  } catch (e) {
    throw compiledirIoError(e, tmpRoot, "create a build directory in");
  }
  try {
    writeFileSync(join(tmp, "mod.wasm"), p.bytes, { mode: 0o600 });
    const meta: Meta = {
      format: FORMAT,
      key,
      sha256: createHash("sha256").update(p.bytes).digest("hex"),
      size: p.bytes.length,
      kernelOf: [...p.kernelOf],
      imports: [...p.imports],
      created: new Date().toISOString(),
      graph,
    };
    writeFileSync(join(tmp, "meta.json"), JSON.stringify(meta, null, 1), { mode: 0o600 });
    renameSync(tmp, dir);
    wasmCacheStats.diskWrites++;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw compiledirIoError(e, dir, "publish the module"); // else published by another builder: keep theirs
  }
}

let aged = new Set<string>();
/** Once per process and compiledir: entries unused for cmodule.age_thresh_use seconds, dead builds. */
function age(wasmRoot: string): void {
  if (aged.has(wasmRoot)) return;
  aged.add(wasmRoot);
  try {
    ageEntries(wasmRoot, Number(config.cmodule.age_thresh_use));
  } catch (e) {
    // Ageing is housekeeping: it must not fail a function, but a cache that cannot be tidied should be said.
    warn(`theano-ts compile cache: could not age out old wasm entries in ${wasmRoot}: ${(e as Error).message}`);
  }
}

/** Removes the entries not used for `thresholdS` seconds (a key locked right now is kept) and dead builds; returns the keys removed. */
function ageEntries(wasmRoot: string, thresholdS: number): string[] {
  const now = Date.now();
  const old = (p: string, ms: number): boolean => {
    try {
      return now - statSync(p).mtimeMs > ms;
    } catch {
      return false;
    }
  };
  for (const scratch of ["tmp", "trash"]) {
    // tmp: builds of 20 minutes ago are dead; trash: left by an interrupted removal.
    let names: string[];
    try {
      names = readdirSync(join(wasmRoot, scratch));
    } catch {
      continue;
    }
    for (const n of names) if (old(join(wasmRoot, scratch, n), scratch === "tmp" ? 1_200_000 : 0)) rmSync(join(wasmRoot, scratch, n), { recursive: true, force: true });
  }
  const removed: string[] = [];
  for (const key of entryKeys(wasmRoot)) {
    if (!old(join(wasmRoot, key.slice(0, 2), key), thresholdS * 1000)) continue;
    if (removeLocked(wasmRoot, key)) removed.push(key);
  }
  return removed;
}

/** Removes the entry of `key` if its lock is free right now; false (kept) when it is busy. */
function removeLocked(wasmRoot: string, key: string): boolean {
  const unlock = lockKey(key, false);
  if (!unlock) return false;
  try {
    removeTree(wasmRoot, join(wasmRoot, key.slice(0, 2), key));
  } finally {
    unlock();
  }
  return true;
}

let refusedOnce = false;

/**
 * The program of the graph whose signature is `signature`: remembered in this process, else
 * loaded from the compile cache, else built by `build` (and stored). `check` compiles a loaded
 * program and says what is wrong with it (null: usable); a program that fails it is corrupt.
 */
export function cachedProgram(
  signature: string,
  build: () => StoredProgram,
  check: (p: StoredProgram) => string | null,
  graph: string,
): { program: StoredProgram; from: "memory" | "disk" | "built" } {
  const known = programs.get(signature);
  if (known) {
    wasmCacheStats.memoryHits++;
    return { program: known, from: "memory" };
  }
  const built = (): StoredProgram => {
    wasmCacheStats.builds++;
    const p = build();
    remember(programs, signature, p);
    return p;
  };
  const gen = onNode() ? generatorSource() : null;
  if (gen === null) return { program: built(), from: "built" };
  const key = createHash("sha256").update(JSON.stringify([FORMAT, gen, signature])).digest("hex");
  let root: string;
  let wasmRoot: string;
  let dir: string;
  try {
    root = compiledir();
    wasmRoot = privateDir(root, "wasm");
    dir = join(privateDir(wasmRoot, key.slice(0, 2)), key);
    // Fast path, no lock: a published entry is never modified.
    const got = readEntry(key, dir);
    if (got && "program" in got && check(got.program) === null) return loaded(got.program, dir);
  } catch (e) {
    noDisk(e);
    return { program: built(), from: "built" };
  }
  let unlock: (() => void) | null = null;
  try {
    unlock = lockKey(key);
    const got = readEntry(key, dir);
    if (got) {
      const problem = "program" in got ? check(got.program) : got.problem;
      if (problem === null && "program" in got) return loaded(got.program, dir);
      wasmCacheStats.corrupt++;
      warn(`theano-ts compile cache: wasm entry ${dir} is corrupt (${problem}); removing it and rebuilding`);
      removeTree(wasmRoot, dir);
    }
    const p = built();
    try {
      publish(wasmRoot, key, dir, p, graph);
    } catch (e) {
      noDisk(e);
    }
    age(wasmRoot);
    return { program: p, from: "built" };
  } catch (e) {
    noDisk(e);
    return { program: built(), from: "built" };
  } finally {
    unlock?.();
  }

  function loaded(p: StoredProgram, at: string): { program: StoredProgram; from: "disk" } {
    wasmCacheStats.diskLoads++;
    remember(programs, signature, p);
    try {
      const now = new Date();
      utimesSync(at, now, now); // last use, for ageing
    } catch {
      // a read-only compiledir still serves its entries
    }
    return { program: p, from: "disk" };
  }
}

/**
 * The disk level could not be used; the program is built (or was) in memory all the same. A
 * compiledir that cannot be used at all (unwritable, full, unsafe: the C backend's checks report
 * it where C is used) silently; a refused wasm entry or directory, or another failure, with one
 * warning per process.
 */
function noDisk(e: unknown): void {
  if (isCompiledirError(e) || refusedOnce) return;
  refusedOnce = true;
  warn(`theano-ts: the wasm linker runs without its disk cache: ${(e as Error).message}`);
}

/** Forgets this process's programs and modules (tests: a fresh process without starting one). */
export function forgetWasmMemo(): void {
  programs.clear();
  modules.clear();
  aged = new Set();
  refusedOnce = false;
}

// ---------------------------------------------------------------------------------------------
// Management: the wasm half of `theano.cache` / `theano-ts cache` (src/link/cache_admin.ts).

/** `<compiledir>/wasm` when it exists (looking never creates it), else null. */
function existingWasmRoot(): string | null {
  const d = join(compiledir(), "wasm");
  return exists(d) ? d : null;
}

/** Every published wasm entry, from meta.json (no checksums: see verifyWasmEntries). */
export function listWasmEntries(): CacheEntryInfo[] {
  const wasmRoot = existingWasmRoot();
  if (wasmRoot === null) return [];
  return entryKeys(wasmRoot).map((key) => {
    const dir = join(wasmRoot, key.slice(0, 2), key);
    let meta: Partial<Meta> = {};
    try {
      meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Meta;
    } catch {
      // listed with blanks; verifyWasmEntries reports why
    }
    let bytes = 0;
    let lastUsed = "";
    try {
      bytes = statSync(join(dir, "mod.wasm")).size;
    } catch {
      // missing
    }
    try {
      lastUsed = new Date(statSync(dir).mtimeMs).toISOString();
    } catch {
      // removed meanwhile
    }
    return { kind: "wasm" as const, key, dir, bytes, created: meta.created ?? "", lastUsed, compiler: "WebAssembly (no compiler)", flags: [], ldflags: [], graph: typeof meta.graph === "string" ? meta.graph : "" };
  });
}

/**
 * Checks every wasm entry's owner, permissions, size and checksum against its meta.json;
 * `repair` deletes the corrupt ones (those another user could have written are reported, never
 * deleted, as for C entries).
 */
export function verifyWasmEntries(opts: { repair?: boolean } = {}): VerifyReport {
  const report: VerifyReport = { ok: [], bad: [], removed: [] };
  const wasmRoot = existingWasmRoot();
  if (wasmRoot === null) return report;
  const rootProblem = distrust(wasmRoot, false);
  for (const key of entryKeys(wasmRoot)) {
    const dir = join(wasmRoot, key.slice(0, 2), key);
    let got: Entry;
    try {
      if (rootProblem) throw new Refused(`the wasm compile cache directory ${wasmRoot} is not used: ${rootProblem}`);
      got = readEntry(key, dir);
    } catch (e) {
      report.bad.push({ key, dir, problem: (e as Error).message, unsafe: true });
      continue;
    }
    if (got === null) continue; // removed meanwhile
    if ("program" in got) {
      report.ok.push(key);
      continue;
    }
    report.bad.push({ key, dir, problem: got.problem, unsafe: false });
    if (opts.repair && removeLocked(wasmRoot, key)) report.removed.push(key);
  }
  return report;
}

/** Deletes wasm entries not used for `thresholdS` seconds, and leftovers of dead builds. */
export function ageWasmEntries(thresholdS: number): { removed: string[] } {
  const wasmRoot = existingWasmRoot();
  return { removed: wasmRoot === null ? [] : ageEntries(wasmRoot, thresholdS) };
}

/** Deletes every wasm entry (those whose key is locked right now are skipped) and the trash. */
export function clearWasmEntries(): { removed: number; skipped: number } {
  const wasmRoot = existingWasmRoot();
  let removed = 0;
  let skipped = 0;
  if (wasmRoot === null) return { removed, skipped };
  for (const key of entryKeys(wasmRoot)) {
    if (removeLocked(wasmRoot, key)) removed++;
    else skipped++;
  }
  // What an interrupted removal left (not tmp/: a build there may belong to a live process).
  let trash: string[] = [];
  try {
    trash = readdirSync(join(wasmRoot, "trash"));
  } catch {
    // none
  }
  for (const n of trash) rmSync(join(wasmRoot, "trash", n), { recursive: true, force: true });
  return { removed, skipped };
}
