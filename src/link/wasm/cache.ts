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
 * `theano-ts cache` (src/link/cache.ts) does not list or clear this directory yet.
 */

import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { config } from "../../config/index.js";
import { warn } from "../../errors.js";
import { compiledir, compiledirIoError, isCompiledirError, lockKey } from "../cache.js";
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

/** Removes a directory tree: renamed out of the way first, so readers never see half of it. */
function removeTree(wasmRoot: string, path: string): void {
  const trash = join(privateDir(wasmRoot, "trash"), `${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    renameSync(path, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw compiledirIoError(e, path, "remove");
  }
  rmSync(trash, { recursive: true, force: true });
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
    ageEntries(wasmRoot);
  } catch (e) {
    // Ageing is housekeeping: it must not fail a function, but a cache that cannot be tidied should be said.
    warn(`theano-ts compile cache: could not age out old wasm entries in ${wasmRoot}: ${(e as Error).message}`);
  }
}

function ageEntries(wasmRoot: string): void {
  const now = Date.now();
  const limit = Number(config.cmodule.age_thresh_use) * 1000;
  for (const shard of readdirSync(wasmRoot)) {
    const old = (p: string, ms: number): boolean => {
      try {
        return now - statSync(p).mtimeMs > ms;
      } catch {
        return false;
      }
    };
    if (shard === "tmp" || shard === "trash") {
      // tmp: builds of 20 minutes ago are dead; trash: left by an interrupted removal.
      for (const n of readdirSync(join(wasmRoot, shard))) if (old(join(wasmRoot, shard, n), shard === "tmp" ? 1_200_000 : 0)) rmSync(join(wasmRoot, shard, n), { recursive: true, force: true });
      continue;
    }
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const key of readdirSync(join(wasmRoot, shard))) {
      if (!/^[0-9a-f]{64}$/.test(key) || !old(join(wasmRoot, shard, key), limit)) continue;
      const unlock = lockKey(key, false);
      if (!unlock) continue;
      try {
        removeTree(wasmRoot, join(wasmRoot, shard, key));
      } finally {
        unlock();
      }
    }
  }
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
