/**
 * The compile cache (ARCHITECTURE.md "The compile cache"): generated C source in, a loaded
 * shared object out, compiled at most once per key across every process on the machine.
 *
 * Layout under `config.compiledir` (created 0700):
 *   <2 hex>/<key>/mod.c, mod.so, compile.log, meta.json   a published entry (never modified)
 *   <2 hex>/<key>.lock                                      held while one process builds <key>
 *   tmp/<key16>-XXXXXX/                                     a build in progress
 *   failed/<key>/mod.c, compile.log                         the evidence of a failed build (capped)
 *   trash/                                                  entries being deleted
 *
 * Theano's compiledir failed in three ways this design rules out:
 * - Deadlocks and waits on unrelated work: Theano held one lock for the whole compiledir, and a
 *   killed process left it held. Here a lock covers one key, records pid, host, process start
 *   time, the holder's OS thread and its start time (a worker thread can die in a live process),
 *   a per-thread nonce and the date; a lock whose process or thread is gone (or older than
 *   LOCK_TIMEOUT_S) is broken with a warning. No heartbeat: a lock is held only inside one
 *   synchronous build, during which no timer of the holder could run. The lock only saves
 *   duplicate work: correctness comes from publishing with one `rename` of a finished
 *   directory, so even two builders of one key leave one whole entry.
 * - Corrupt entries: a build killed half-way, a full disk, a bit flip. Readers never see an
 *   unpublished build, and `meta.json` holds the shared object's sha256 and size, checked before
 *   every first load in a process; a bad entry is removed and rebuilt with one warning.
 * - Stale modules: the key hashes everything the bytes depend on (the whole source, the
 *   compiler's identity and version, the flags, the CPU's features (-march=native), the library
 *   version, platform and Node major), never a hand-maintained version number of the op.
 * A shared object is code: an entry, a directory of the cache (root, shard, tmp/, failed/,
 * trash/) owned by another user or writable by group/others, or a symlink inside an entry, is
 * refused with a BackendError naming what to delete, never used (trust.ts holds the rule).
 * A compiledir that cannot be written (missing parent, read-only, full disk) is a CompileError
 * naming the path and the fix (compiledirIoError); `isCompiledirError` tells both kinds apart
 * from compiler failures, so `linker=auto` runs on JS and the probes do not blame the compiler.
 * What failed builds keep in failed/ is bounded (FAILED_FILE_MAX_BYTES, FAILED_MAX_ENTRIES).
 */

import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  type Stats,
} from "node:fs";
import { cpus, hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { BackendError, CompileError, warn } from "../errors.js";
import { config } from "../config/index.js";
import { openLibrary, type NativeLibrary } from "./c/ffi.js";
import { untrustedReason } from "./trust.js";
import { atBatchEnd, inBuildBatch } from "./batch.js";
import { compileFlags, findCompiler, startSharedObject } from "./c/compiler.js";

/** Bumped when the layout or meta.json changes: old entries then simply stop matching. */
const FORMAT = 1;
/** A lock older than this is presumed abandoned even if its process seems alive (pid reuse, NFS). */
export const LOCK_TIMEOUT_S = 600;
/** Leftover build directories older than this belong to a dead build. */
const TMP_MAX_AGE_S = LOCK_TIMEOUT_S * 2;

export { warn };

export interface ModuleOptions {
  /** Extra linker flags (a BLAS); part of the key. */
  readonly ldflags?: readonly string[];
  /** Replaces `compileFlags()`; the compiler probes use it. Part of the key. */
  readonly flags?: readonly string[];
  /** Load it with its symbols global (the shared runtime library); not part of the key. */
  readonly global?: boolean;
  /**
   * What the module was compiled for (the function's name and size), kept in meta.json for
   * `cache list`; not part of the key (the first function to build an entry names it).
   */
  readonly graph?: string;
}

export interface LoadedModule {
  /** The shared object loaded. */
  readonly path: string;
  /** Its handle; `close()` releases this caller's reference (the memo's last one unloads it). */
  readonly library: NativeLibrary;
  /** False when this call compiled it; true when it came from disk or this process's memo. */
  readonly fromCache: boolean;
  readonly key: string;
}

// ---------------------------------------------------------------------------------------------
// Keys.

let libraryVersion: string | null = null;

function packageVersion(): string {
  if (libraryVersion === null) {
    // src/link/cache.ts and dist/link/cache.js both sit two levels below package.json.
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
    libraryVersion = String(pkg.version ?? "unknown");
  }
  return libraryVersion;
}

interface KeyParts {
  readonly compiler: string;
  readonly compilerVersion: string;
  readonly flags: readonly string[];
  readonly ldflags: readonly string[];
}

function keyParts(opts: ModuleOptions): KeyParts {
  const compiler = findCompiler();
  if (!compiler) {
    throw new CompileError(
      `no C compiler: config.cxx is ${JSON.stringify(String(config.cxx))} and does not run; install gcc or clang, or set THEANO_FLAGS=cxx=/path/to/cc`,
    );
  }
  return { compiler: compiler.command, compilerVersion: compiler.identity, flags: opts.flags ?? compileFlags(), ldflags: opts.ldflags ?? [] };
}

let cpuId: string | null = null;

/**
 * The CPU's model and feature flags: `-march=native` code built on one machine can die of an
 * illegal instruction on another that shares the home directory (a cluster over NFS), a known
 * Theano failure. Linux reads /proc/cpuinfo; elsewhere the model name from os.cpus().
 */
function cpuIdentity(): string {
  if (cpuId === null) {
    let text = "";
    try {
      const info = readFileSync("/proc/cpuinfo", "utf8");
      const first = info.split("\n\n")[0] ?? "";
      text = first
        .split("\n")
        .filter((l) => /^(vendor_id|model name|flags|Features|CPU implementer|CPU part)\s*:/.test(l))
        .join("\n");
    } catch {
      text = cpus()[0]?.model ?? "";
    }
    cpuId = createHash("sha256").update(text).digest("hex").slice(0, 16);
  }
  return cpuId;
}

function hashKey(source: string, parts: KeyParts): string {
  const header = JSON.stringify([
    FORMAT,
    cpuIdentity(),
    parts.compiler,
    parts.compilerVersion,
    parts.flags,
    parts.ldflags,
    packageVersion(),
    process.platform,
    process.arch,
    process.versions.node.split(".")[0],
  ]);
  return createHash("sha256").update(header).update("\n").update(source).digest("hex");
}

/** The cache key `loadModule(source, opts)` would use. */
export function moduleKey(source: string, opts: ModuleOptions = {}): string {
  return hashKey(source, keyParts(opts));
}

// ---------------------------------------------------------------------------------------------
// Directories and safety checks.

/** Why `path` may not be trusted (trust.ts's rule: this user's, not group/other-writable), or null. */
function unsafeReason(path: string, st: Stats, inEntry: boolean): string | null {
  return untrustedReason(path, st, { noSymlink: inEntry });
}

/**
 * Errors that say the compiledir itself cannot be used (unsafe, unwritable, full), as opposed to
 * a compiler or a module that failed. `linker=auto` then runs on JS with one warning, and the
 * compiler probes (OpenMP, BLAS) pass them on rather than blaming the compiler.
 */
const dirErrors = new WeakSet<object>();
export function isCompiledirError(e: unknown): boolean {
  return typeof e === "object" && e !== null && dirErrors.has(e);
}
function dirError<E extends Error>(e: E): E {
  dirErrors.add(e);
  return e;
}

/** The refusal of an entry another user could have written (naming what to delete). */
function refuse(what: string, reason: string): BackendError {
  return dirError(
    new BackendError(
      `refusing to use the compile cache entry ${what}: ${reason}. A shared object is code, so theano-ts never loads one that another user could have written; ` +
        `delete the entry (rm -rf ${what}, or theano-ts cache clear for every entry) or fix its owner and permissions (chmod go-w)`,
    ),
  );
}

/** The refusal of a directory of the cache (the root, a shard, tmp/, failed/, trash/). */
function refuseDir(dir: string, reason: string, isRoot: boolean): BackendError {
  const fix = isRoot
    ? `if it is yours and nothing was planted in it, run chmod 700 ${dir}; otherwise delete it (rm -rf ${dir}) or set THEANO_FLAGS=compiledir to a private directory`
    : `delete it (rm -rf ${dir}); theano-ts recreates it, private, when needed`;
  return dirError(new BackendError(`refusing to use the compile cache directory ${dir}: ${reason}. Another user could plant code there; ${fix}`));
}

/**
 * A filesystem error met while writing into the compile cache, as a CompileError naming the
 * path and the way out: a full disk (ENOSPC, EDQUOT), a read-only or foreign directory (EACCES,
 * EPERM, EROFS), a path that cannot exist (ENOENT, ENOTDIR, EEXIST on a file). Never the raw
 * Node error (it stays as `cause`).
 */
export function compiledirIoError(e: unknown, path: string, action: string): CompileError {
  const code = (e as NodeJS.ErrnoException).code;
  const root = String(config.compiledir);
  const elsewhere = "set THEANO_FLAGS=compiledir=/some/writable/dir";
  let what: string;
  let fix: string;
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      what = code === "ENOSPC" ? "the disk is full" : "the disk quota is exhausted";
      fix = `free space on the disk holding ${root} (old entries can go: rm -rf ${root}), or set THEANO_FLAGS=compiledir to a directory on another disk`;
      break;
    case "EACCES":
    case "EPERM":
    case "EROFS":
      what = code === "EROFS" ? "the file system is read-only" : "permission denied";
      fix = `${elsewhere}, or make ${root} writable by this user`;
      break;
    case "ENOENT":
    case "ENOTDIR":
    case "EEXIST":
      what = code === "ENOENT" ? "a parent directory does not exist and cannot be made" : "a component of the path is not a directory";
      fix = elsewhere;
      break;
    default:
      what = (e as Error).message ?? String(e);
      fix = elsewhere;
  }
  const err = new CompileError(`the compile cache cannot ${action} ${path}: ${what} (${code ?? (e as Error).message}); ${fix}`, undefined, undefined, { cause: e });
  return dirError(err);
}

/** Runs a filesystem step of the cache, mapping its errno errors (see compiledirIoError). */
function io<R>(path: string, action: string, fn: () => R): R {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string" && !(e instanceof CompileError)) throw compiledirIoError(e, path, action);
    throw e;
  }
}

const checkedRoots = new Set<string>();

/** `config.compiledir`, created 0700 if missing and refused if another user could write into it. */
export function compiledir(): string {
  const root = String(config.compiledir);
  if (root === "") throw dirError(new CompileError("config.compiledir is empty (no home directory?); set THEANO_FLAGS=compiledir=/some/private/dir"));
  if (checkedRoots.has(root)) return root;
  io(root, "create the directory", () => makeDirs(root));
  const st = io(root, "examine", () => statSync(root));
  if (!st.isDirectory()) throw compiledirIoError(Object.assign(new Error("not a directory"), { code: "ENOTDIR" }), root, "use");
  const why = unsafeReason(root, st, false);
  if (why) throw refuseDir(root, why, true);
  checkedRoots.add(root);
  return root;
}

/**
 * `mkdir -p` with mode 0700 for what it creates. Not `mkdirSync(..., { recursive: true })`:
 * Node's loops forever where a parent exists but refuses children with ENOENT (/proc/x/y).
 */
function makeDirs(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; ) {
    try {
      statSync(p);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      missing.push(p);
      if (dirname(p) === p) break;
      p = dirname(p);
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

/**
 * `root/name` (a shard, tmp, failed, trash), created 0700, and checked like the root: a
 * directory planted there by another user, or opened to group/others, is refused, never used.
 */
function subdir(root: string, name: string): string {
  const d = join(root, name);
  try {
    mkdirSync(d, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw compiledirIoError(e, d, "create the directory");
  }
  const st = io(d, "examine", () => lstatSync(d));
  if (!st.isDirectory()) throw refuseDir(d, `${d} is ${st.isSymbolicLink() ? "a symbolic link" : "not a directory"}`, false);
  const why = unsafeReason(d, st, true);
  if (why) throw refuseDir(d, why, false);
  return d;
}

/**
 * Removes a directory tree atomically from the namespace (renamed into `root/trash` first, so
 * readers never see half of it), then deletes it. `root` is the compiledir or a cache directory
 * under it with the same layout (the wasm linker's `wasm/`).
 */
export function removeTree(root: string, path: string): void {
  const trash = join(subdir(root, "trash"), `${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    renameSync(path, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw compiledirIoError(e, path, "remove");
  }
  io(trash, "delete", () => rmSync(trash, { recursive: true, force: true }));
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Entries.

interface Meta {
  format: number;
  key: string;
  sha256: string;
  size: number;
  created: string;
  compiler: string;
  compilerVersion: string;
  flags: string[];
  ldflags: string[];
  library: string;
  platform: string;
  /** ModuleOptions.graph of the build (absent in entries built before it existed). */
  graph?: string;
}

function entryDir(root: string, key: string): string {
  return join(root, key.slice(0, 2), key);
}

/**
 * Throws BackendError when the entry could have been written by someone else; returns a problem
 * (corruption) or null when the entry's bytes match its meta.json.
 */
function inspectEntry(root: string, key: string, dir: string): { problem: string | null; meta: Meta | null } {
  const shard = join(root, key.slice(0, 2));
  for (const [path, inEntry] of [[shard, false], [dir, true]] as const) {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      return { problem: `${path} is missing`, meta: null };
    }
    const why = unsafeReason(path, st, inEntry);
    if (why) throw inEntry ? refuse(dir, why) : refuseDir(path, why, false);
  }
  const files = ["meta.json", "mod.so"].map((n) => join(dir, n));
  for (const f of files) {
    let st: Stats;
    try {
      st = lstatSync(f);
    } catch {
      return { problem: `${f} is missing`, meta: null };
    }
    const why = unsafeReason(f, st, true);
    if (why) throw refuse(dir, why);
  }
  let meta: Meta;
  try {
    meta = JSON.parse(readFileSync(files[0] as string, "utf8")) as Meta;
  } catch (e) {
    return { problem: `meta.json is unreadable (${(e as Error).message})`, meta: null };
  }
  if (meta.key !== key || typeof meta.sha256 !== "string") return { problem: "meta.json does not describe this key", meta };
  const bytes = readFileSync(files[1] as string);
  if (bytes.length !== meta.size) return { problem: `mod.so has ${bytes.length} bytes, meta.json says ${meta.size} (truncated?)`, meta };
  if (createHash("sha256").update(bytes).digest("hex") !== meta.sha256) return { problem: "mod.so's sha256 differs from meta.json's (corrupted bytes)", meta };
  return { problem: null, meta };
}

// ---------------------------------------------------------------------------------------------
// Per-key locks.

interface LockInfo {
  pid: number;
  hostname: string;
  /** The process's start time (/proc/<pid>/stat), so a reused pid does not look alive. */
  start: string | null;
  /** The holder's OS thread (Linux: /proc/thread-self) and that thread's start time. */
  tid?: number | null;
  tidStart?: string | null;
  /** Random per thread of JS (each worker loads this module anew): which holder, exactly. */
  nonce?: string;
  time: string;
}

/** Field 22 (start time in clock ticks) of a /proc stat file, or null. */
function statStart(path: string): string | null {
  try {
    const stat = readFileSync(path, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** Start time of a process (Linux: /proc/<pid>/stat field 22), so a reused pid is not "alive". */
function processStart(pid: number): string | null {
  return statStart(`/proc/${pid}/stat`);
}

/**
 * The OS thread running this JS (each worker_threads Worker is its own thread, and sync fs calls
 * run on it), read from /proc/thread-self -> "<pid>/task/<tid>"; null where there is no /proc.
 * A lock taken by a worker that is then terminated names a live pid: only the thread tells
 * that its holder is gone.
 */
function threadIdentity(): { tid: number | null; tidStart: string | null } {
  if (threadId === undefined) {
    let tid: number | null = null;
    try {
      const m = /^\d+\/task\/(\d+)$/.exec(readlinkSync("/proc/thread-self"));
      if (m) tid = Number(m[1]);
    } catch {
      // no /proc (macOS, Windows): holders are known by pid only, and LOCK_TIMEOUT_S is the backstop
    }
    threadId = { tid, tidStart: tid === null ? null : statStart(`/proc/${process.pid}/task/${tid}/stat`) };
  }
  return threadId;
}
let threadId: { tid: number | null; tidStart: string | null } | undefined;
/** This process's lock nonce, made on first use (not at import: a browser bundle has no node:crypto). */
let nonce: string | undefined;
const lockNonce = (): string => (nonce ??= randomBytes(8).toString("hex"));

/** Why the holder of a lock on this host is gone, or null while it lives. */
function lockHolderGone(info: LockInfo): string | null {
  const gone = `process ${info.pid} is no longer running`;
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return gone;
  }
  if (info.start !== null) {
    const now = processStart(info.pid);
    if (now !== null && now !== info.start) return gone;
  }
  // The process lives; its holding thread may not (a terminated worker). Only where /proc shows
  // the process at all, so that a missing /proc never reads as a dead thread.
  if (typeof info.tid === "number" && existsSync(`/proc/${info.pid}/stat`)) {
    const ended = `thread ${info.tid} of process ${info.pid} has ended`;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${info.pid}/task/${info.tid}/stat`, "utf8");
    } catch (e) {
      // Only "no such thread" means gone; a /proc that hides it (EACCES) proves nothing.
      const code = (e as NodeJS.ErrnoException).code;
      return code === "ENOENT" || code === "ESRCH" ? ended : null;
    }
    const tidStart = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
    if (info.tidStart != null && tidStart !== null && tidStart !== info.tidStart) return ended;
  }
  return null;
}

// Made on first use: a browser page without cross-origin isolation has no SharedArrayBuffer.
let sleeper: Int32Array | undefined;
function sleepMs(ms: number): void {
  Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms);
}

/** Creates the lock file exclusively; its inode identifies it, or null when it exists. */
function tryLock(path: string): number | null {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return null;
    throw compiledirIoError(e, path, "create the lock file");
  }
  try {
    const info: LockInfo = { pid: process.pid, hostname: hostname(), start: processStart(process.pid), ...threadIdentity(), nonce: lockNonce(), time: new Date().toISOString() };
    writeSync(fd, JSON.stringify(info));
  } catch (e) {
    // A full disk: an empty lock would stall others for seconds; leave none.
    closeSync(fd);
    unlinkSync(path);
    throw compiledirIoError(e, path, "write the lock file");
  }
  closeSync(fd);
  return statSync(path).ino;
}

function unlock(path: string, ino: number): void {
  try {
    // Only our own lock: if it was broken as stale and retaken, it belongs to someone else now.
    if (statSync(path).ino === ino) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Breaks the lock at `path` if its holder is gone or it is too old; true when it was broken. */
function breakIfStale(path: string): boolean {
  let st: Stats;
  let text: string;
  try {
    st = statSync(path);
    text = readFileSync(path, "utf8");
  } catch {
    return true; // released meanwhile: try again at once
  }
  const ageS = (Date.now() - st.mtimeMs) / 1000;
  let info: LockInfo | null = null;
  try {
    info = JSON.parse(text) as LockInfo;
  } catch {
    // An empty lock is being written right now, unless it has been empty for a while.
    if (ageS < 5) return false;
  }
  let why: string | null = null;
  if (ageS > LOCK_TIMEOUT_S) why = `it is older than ${LOCK_TIMEOUT_S} s`;
  else if (info === null) why = "it is empty";
  else if (info.hostname === hostname()) why = lockHolderGone(info);
  if (why === null) return false;
  const aside = `${path}.broken-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(path, aside);
  } catch {
    return true; // someone else broke or released it
  }
  if (statSync(aside).ino !== st.ino) {
    // A live lock replaced the stale one between our look and the rename: put it back.
    try {
      linkSync(aside, path);
    } catch {
      // yet another process holds the key now; the rename-publish keeps the entry whole anyway
    }
    unlinkSync(aside);
    return true;
  }
  unlinkSync(aside);
  const holder = info ? `pid ${info.pid}${typeof info.tid === "number" ? ` thread ${info.tid}` : ""} on ${info.hostname} since ${info.time}` : "an unknown process";
  warn(`theano-ts compile cache: broke the stale lock ${path} (held by ${holder}): ${why}`);
  return true;
}

/** Waits (sleeping, synchronously) until this process holds the lock at `path`. */
function acquireLock(path: string): number {
  let delay = 5;
  for (;;) {
    const ino = tryLock(path);
    if (ino !== null) return ino;
    if (breakIfStale(path)) continue;
    sleepMs(delay);
    delay = Math.min(100, delay * 1.5);
  }
}

/**
 * Takes the per-key lock of `key` in `config.compiledir`, as a build does, and returns the
 * function that releases it. `wait` false: null at once when a live holder has it (an abandoned
 * lock is still broken). For tools that must keep a key's entry still while they work on it.
 */
export function lockKey(key: string, wait = true): (() => void) | null {
  if (!KEY_RE.test(key)) throw new BackendError(`${JSON.stringify(key)} is not a compile cache key (64 hex digits)`);
  const shard = subdir(compiledir(), key.slice(0, 2));
  const path = join(shard, `${key}.lock`);
  let ino = tryLock(path);
  if (ino === null && wait) ino = acquireLock(path);
  else if (ino === null && breakIfStale(path)) ino = tryLock(path);
  if (ino === null) return null;
  const held = ino;
  return () => unlock(path, held);
}

// ---------------------------------------------------------------------------------------------
// Loading.

interface MemoEntry {
  path: string;
  key: string;
  lib: NativeLibrary;
  refs: number;
}

/** Per process: `${compiledir}\0${key}` → the loaded library, so a hit costs one hash. */
const memo = new Map<string, MemoEntry>();

function handle(m: MemoEntry, memoKey: string, fromCache: boolean): LoadedModule {
  m.refs++;
  let closed = false;
  const library: NativeLibrary = {
    path: m.path,
    func: (prototype) => {
      if (closed) throw new BackendError(`${m.path} was closed; call loadModule again`);
      return m.lib.func(prototype);
    },
    close: () => {
      if (closed) return;
      closed = true;
      if (--m.refs === 0) {
        if (memo.get(memoKey) === m) memo.delete(memoKey);
        m.lib.close();
      }
    },
  };
  return { path: m.path, library, fromCache, key: m.key };
}

/** Loads a verified entry; null when it vanished between the check and the load (aged out). */
function openEntry(dir: string, global = false): NativeLibrary | null {
  const so = join(dir, "mod.so");
  try {
    const lib = openLibrary(so, { global });
    try {
      const now = new Date();
      utimesSync(dir, now, now); // last use, for ageing
    } catch {
      // a read-only compiledir can still serve its entries; they just do not look recently used
    }
    return lib;
  } catch (e) {
    if (!existsSync(so)) return null;
    throw e;
  }
}

let agedThisProcess = new Set<string>();

/**
 * Returns the shared object built from `source`, compiling it only when no valid entry exists.
 * Synchronous: a process that needs a key another process is building sleeps on that key's lock.
 * Raises CompileError (with the kept source and log) when the compiler fails, BackendError when
 * an entry is unsafe or a shared object does not load.
 */
export function loadModule(source: string, opts: ModuleOptions = {}): LoadedModule {
  const parts = keyParts(opts);
  const key = hashKey(source, parts);
  const root = compiledir();
  const memoKey = `${root}\0${key}`;
  const known = memo.get(memoKey);
  if (known) return handle(known, memoKey, true);

  const dir = entryDir(root, key);
  const publish = (lib: NativeLibrary, fromCache: boolean): LoadedModule => {
    const m: MemoEntry = { path: join(dir, "mod.so"), key, lib, refs: 0 };
    memo.set(memoKey, m);
    return handle(m, memoKey, fromCache);
  };

  for (let attempt = 0; attempt < 3; attempt++) {
    // Fast path, no lock: a published entry is immutable, so checking it needs no coordination.
    if (existsSync(dir) && inspectEntry(root, key, dir).problem === null) {
      const lib = openEntry(dir, opts.global === true);
      if (lib) return publish(lib, true);
      continue;
    }
    const shard = subdir(root, key.slice(0, 2));
    const lockPath = join(shard, `${key}.lock`);
    const ino = acquireLock(lockPath);
    try {
      if (existsSync(dir)) {
        const { problem } = inspectEntry(root, key, dir);
        if (problem === null) {
          const lib = openEntry(dir, opts.global === true);
          if (lib) return publish(lib, true);
          continue;
        }
        warn(`theano-ts compile cache: entry ${dir} is corrupt (${problem}); removing it and rebuilding`);
        removeTree(root, dir);
      }
      build(root, key, source, parts, dir, opts);
      const lib = openEntry(dir, opts.global === true);
      if (!lib) continue;
      return publish(lib, false);
    } finally {
      unlock(lockPath, ino);
      if (!agedThisProcess.has(root)) {
        agedThisProcess.add(root);
        try {
          ageCache();
        } catch (e) {
          // Ageing is housekeeping: it must not fail a load, but a cache that cannot be tidied should be said.
          warn(`theano-ts compile cache: could not age out old entries in ${root}: ${(e as Error).message}`);
        }
      }
    }
  }
  throw new BackendError(`the compile cache entry ${dir} kept disappearing while being loaded (is another process clearing ${root}?)`);
}

// ---------------------------------------------------------------------------------------------
// Build batches: several modules' compilers at once.

/** Builds this process started and has not waited for yet, by memo key. */
const pendingBuilds = new Map<string, () => void>();

/**
 * loadModule in two halves: outside a build batch, or for a module already built, it loads now
 * and the returned function hands it back; inside a batch a module to compile has its compiler
 * started and the returned function waits for it, publishes it and loads it. A failed build
 * throws from the first call; a later call tries again from the start (loadModule).
 */
export function startModule(source: string, opts: ModuleOptions = {}): () => LoadedModule {
  const now = (): (() => LoadedModule) => {
    const m = loadModule(source, opts);
    return () => m;
  };
  if (!inBuildBatch()) return now();
  const parts = keyParts(opts);
  const key = hashKey(source, parts);
  const root = compiledir();
  const memoKey = `${root}\0${key}`;
  const dir = entryDir(root, key);
  const other = pendingBuilds.get(memoKey);
  if (other) {
    // The same module twice in one batch (two identical loop bodies): load once the first is built.
    let m: LoadedModule | null = null;
    return () => {
      other();
      return (m ??= loadModule(source, opts));
    };
  }
  if (memo.has(memoKey) || (existsSync(dir) && inspectEntry(root, key, dir).problem === null)) return now();
  const lockPath = join(subdir(root, key.slice(0, 2)), `${key}.lock`);
  const ino = acquireLock(lockPath);
  let finish: () => void;
  try {
    if (existsSync(dir)) {
      const { problem } = inspectEntry(root, key, dir);
      if (problem === null) {
        unlock(lockPath, ino);
        return now();
      }
      warn(`theano-ts compile cache: entry ${dir} is corrupt (${problem}); removing it and rebuilding`);
      removeTree(root, dir);
    }
    finish = startBuild(root, key, source, parts, dir, opts);
  } catch (e) {
    unlock(lockPath, ino);
    throw e;
  }
  let outcome: { error: unknown } | null | undefined;
  const wait = (): void => {
    if (outcome === undefined) {
      outcome = null;
      try {
        finish();
      } catch (e) {
        outcome = { error: e };
      } finally {
        unlock(lockPath, ino);
        pendingBuilds.delete(memoKey);
      }
    }
    if (outcome) throw outcome.error;
  };
  pendingBuilds.set(memoKey, wait);
  // Reaped at the batch's end whoever waits for it (a failure is thrown to whoever loads it).
  atBatchEnd(() => {
    try {
      wait();
    } catch {
      // the loader of this module reports it
    }
  });
  let m: LoadedModule | null = null;
  let failed = false;
  return () => {
    if (m) return m;
    if (failed) return (m = loadModule(source, opts));
    try {
      wait();
    } catch (e) {
      failed = true;
      throw e;
    }
    const known = memo.get(memoKey);
    if (known) return (m = handle(known, memoKey, false));
    const lib = openEntry(dir, opts.global === true);
    if (!lib) return (m = loadModule(source, opts)); // aged out already: build it again
    const entry: MemoEntry = { path: join(dir, "mod.so"), key, lib, refs: 0 };
    memo.set(memoKey, entry);
    return (m = handle(entry, memoKey, false));
  };
}

/** What a compiler prints when the disk fills under it (gcc, ld, clang, as). */
const DISK_FULL_RE = /No space left on device|Disk quota exceeded/;

/**
 * Compiles into a private temporary directory and publishes it with one rename. Lock held.
 * Filesystem failures become compiledirIoError; a compiler that failed because the disk is full
 * is that too (its evidence is deleted, not kept: keeping it would fill the disk further).
 */
function build(root: string, key: string, source: string, parts: KeyParts, dir: string, opts: ModuleOptions): void {
  startBuild(root, key, source, parts, dir, opts)();
}

/** build() in two halves: the compiler starts now (in the background where it can), the returned function waits, checks and publishes. */
function startBuild(root: string, key: string, source: string, parts: KeyParts, dir: string, opts: ModuleOptions): () => void {
  const tmpRoot = subdir(root, "tmp");
  const tmp = io(tmpRoot, "create a build directory in", () => mkdtempSync(join(tmpRoot, `${key.slice(0, 16)}-`)));
  const discard = (): void => rmSync(tmp, { recursive: true, force: true });
  let started: { finish(): string };
  try {
    started = io(tmp, "write the module source into", () => startSharedObject(source, { dir: tmp, ldflags: parts.ldflags, flags: parts.flags }));
  } catch (e) {
    discard();
    throw e;
  }
  return () => finishBuild(root, key, parts, dir, opts, tmp, started);
}

function finishBuild(root: string, key: string, parts: KeyParts, dir: string, opts: ModuleOptions, tmp: string, started: { finish(): string }): void {
  const discard = (): void => rmSync(tmp, { recursive: true, force: true });
  let so: string;
  try {
    so = io(tmp, "write the module source into", () => started.finish());
  } catch (e) {
    if (!(e instanceof CompileError) || isCompiledirError(e)) {
      discard();
      throw e;
    }
    const full = DISK_FULL_RE.exec(`${e.message}\n${readHead(e.logPath, 1 << 16)}`);
    if (full) {
      discard();
      throw compiledirIoError(Object.assign(new Error(full[0]), { code: full[0].startsWith("Disk") ? "EDQUOT" : "ENOSPC" }), tmp, "build a module in");
    }
    throw keepEvidence(root, key, tmp, e);
  }
  try {
    // gcc honours the umask: under umask 002 the object would be group-writable, and refused.
    chmodSync(so, 0o700);
    const size = statSync(so).size;
    const meta: Meta = {
      format: FORMAT,
      key,
      sha256: sha256File(so),
      size,
      created: new Date().toISOString(),
      compiler: parts.compiler,
      compilerVersion: parts.compilerVersion.split("\n")[0] ?? "",
      flags: [...parts.flags],
      ldflags: [...parts.ldflags],
      library: packageVersion(),
      platform: `${process.platform}-${process.arch}-node${process.versions.node.split(".")[0]}`,
      ...(opts.graph ? { graph: opts.graph } : {}),
    };
    writeFileSync(join(tmp, "meta.json"), JSON.stringify(meta, null, 1), { mode: 0o600 });
    renameSync(tmp, dir);
  } catch (e) {
    discard();
    const code = (e as NodeJS.ErrnoException).code;
    // Published by another builder (only possible after a stale lock was broken): keep theirs.
    if (code === "ENOTEMPTY" || code === "EEXIST") return;
    throw compiledirIoError(e, dir, "publish the module");
  }
}

/** The first `max` bytes of a file as text ("" when it cannot be read). */
function readHead(path: string | undefined, max: number): string {
  if (path === undefined) return "";
  let fd: number | null = null;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(max);
    return buf.toString("utf8", 0, readSync(fd, buf, 0, max, 0));
  } catch {
    return "";
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Most bytes kept of each file of a failed build (mod.c, compile.log). */
export const FAILED_FILE_MAX_BYTES = 4 << 20;
/** Most failed builds kept in failed/ (the oldest go first). */
export const FAILED_MAX_ENTRIES = 8;

/**
 * Keeps the evidence of a failed build where the user can find it, failed/<key>/ (the latest
 * failure of a key wins), bounded: only mod.c and compile.log, each cut at
 * FAILED_FILE_MAX_BYTES, and at most FAILED_MAX_ENTRIES builds. Returns the CompileError to
 * throw, naming the kept files, or saying why nothing could be kept.
 */
function keepEvidence(root: string, key: string, tmp: string, e: CompileError): CompileError {
  try {
    for (const n of readdirSync(tmp)) if (n !== "mod.c" && n !== "compile.log") rmSync(join(tmp, n), { recursive: true, force: true });
    for (const n of ["mod.c", "compile.log"]) {
      const f = join(tmp, n);
      if (!existsSync(f)) continue;
      const size = statSync(f).size;
      if (size <= FAILED_FILE_MAX_BYTES) continue;
      truncateSync(f, FAILED_FILE_MAX_BYTES);
      const note = `theano-ts kept the first ${FAILED_FILE_MAX_BYTES} of ${size} bytes`;
      appendFileSync(f, n === "mod.c" ? `\n/* ${note} */\n` : `\n[${note}]\n`);
    }
    const failedRoot = subdir(root, "failed");
    const failed = join(failedRoot, key);
    removeTree(root, failed);
    pruneFailed(failedRoot, FAILED_MAX_ENTRIES - 1);
    renameSync(tmp, failed);
    return new CompileError(e.message.split(tmp).join(failed), join(failed, "mod.c"), join(failed, "compile.log"), { cause: e });
  } catch (why) {
    rmSync(tmp, { recursive: true, force: true });
    const reason = isCompiledirError(why) ? (why as Error).message : compiledirIoError(why, join(root, "failed"), "keep the failed build in").message;
    return new CompileError(`${e.message.split(/; source kept at /)[0]}; the source and compiler log could not be kept (${reason})`, undefined, undefined, { cause: e });
  }
}

/** Leaves at most `keep` entries in failed/, deleting the least recently written. */
function pruneFailed(failedRoot: string, keep: number): void {
  const entries: Array<[string, number]> = [];
  for (const n of readdirSync(failedRoot)) {
    try {
      entries.push([n, lstatSync(join(failedRoot, n)).mtimeMs]);
    } catch {
      // removed concurrently
    }
  }
  entries.sort((a, b) => b[1] - a[1]);
  for (const [n] of entries.slice(Math.max(0, keep))) rmSync(join(failedRoot, n), { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Management: the data behind `theano-ts cache list|clear|verify` and ageing.

export interface CacheEntryInfo {
  /** What the entry holds: a C shared object, or a wasm linker's module (`<compiledir>/wasm/`). */
  readonly kind: "c" | "wasm";
  readonly key: string;
  readonly dir: string;
  /** Size of mod.so (mod.wasm for wasm entries) in bytes (0 when missing). */
  readonly bytes: number;
  /** ISO date of the build (from meta.json; "" when unreadable). */
  readonly created: string;
  /** ISO date of the last load. */
  readonly lastUsed: string;
  readonly compiler: string;
  readonly flags: readonly string[];
  readonly ldflags: readonly string[];
  /** The function the entry was built for (name and node count), "" when not recorded. */
  readonly graph: string;
}

const KEY_RE = /^[0-9a-f]{64}$/;

/** The keys of the published entries under `root` (`<2 hex>/<64 hex>/`), sorted. */
export function entryKeys(root: string): string[] {
  const keys: string[] = [];
  let shards: string[];
  try {
    shards = readdirSync(root);
  } catch {
    return keys;
  }
  for (const shard of shards) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    let names: string[];
    try {
      names = readdirSync(join(root, shard));
    } catch {
      continue; // removed meanwhile
    }
    for (const name of names) if (KEY_RE.test(name) && name.startsWith(shard)) keys.push(name);
  }
  return keys.sort();
}

/** Every published entry, from meta.json (no checksums: see verifyCache). */
export function listEntries(): CacheEntryInfo[] {
  const root = compiledir();
  return entryKeys(root).map((key) => {
    const dir = entryDir(root, key);
    let meta: Partial<Meta> = {};
    try {
      meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Meta;
    } catch {
      // listed with blanks; verifyCache reports why
    }
    let bytes = 0;
    try {
      bytes = statSync(join(dir, "mod.so")).size;
    } catch {
      // missing
    }
    return {
      kind: "c" as const,
      key,
      dir,
      bytes,
      created: meta.created ?? "",
      lastUsed: new Date(statSync(dir).mtimeMs).toISOString(),
      compiler: meta.compilerVersion ?? meta.compiler ?? "",
      flags: meta.flags ?? [],
      ldflags: meta.ldflags ?? [],
      graph: typeof meta.graph === "string" ? meta.graph : "",
    };
  });
}

export interface VerifyReport {
  /** Keys whose entry is safe and whose bytes match meta.json. */
  readonly ok: string[];
  /** Entries that are corrupt or unsafe, with why. */
  readonly bad: Array<{ key: string; dir: string; problem: string; unsafe: boolean }>;
  /** Bad entries deleted (with `repair`; unsafe ones are reported, never deleted). */
  readonly removed: string[];
}

/** Checks every entry's owner, permissions and checksum; `repair` deletes the corrupt ones. */
export function verifyCache(opts: { repair?: boolean } = {}): VerifyReport {
  const root = compiledir();
  const report: VerifyReport = { ok: [], bad: [], removed: [] };
  for (const key of entryKeys(root)) {
    const dir = entryDir(root, key);
    let problem: string | null;
    try {
      problem = inspectEntry(root, key, dir).problem;
    } catch (e) {
      report.bad.push({ key, dir, problem: (e as Error).message, unsafe: true });
      continue;
    }
    if (problem === null) {
      report.ok.push(key);
      continue;
    }
    report.bad.push({ key, dir, problem, unsafe: false });
    if (opts.repair && withKeyLock(root, key, () => removeTree(root, dir))) report.removed.push(key);
  }
  return report;
}

/** Runs `fn` holding the key's lock if it is free right now; false (without running) if busy. */
function withKeyLock(root: string, key: string, fn: () => void): boolean {
  const lockPath = join(root, key.slice(0, 2), `${key}.lock`);
  const ino = tryLock(lockPath);
  if (ino === null) return false;
  try {
    fn();
  } finally {
    unlock(lockPath, ino);
  }
  return true;
}

/** Removes what is older than its limit in the scratch folders (tmp, trash, failed). */
function sweepScratch(root: string, now: number, limits: ReadonlyArray<readonly [string, number]>): void {
  for (const [name, maxAge] of limits) {
    const d = join(root, name);
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        if ((now - statSync(join(d, n)).mtimeMs) / 1000 > maxAge) rmSync(join(d, n), { recursive: true, force: true });
      } catch {
        // removed concurrently
      }
    }
  }
}

/**
 * Deletes entries not loaded for `thresholdS` seconds (default `cmodule.age_thresh_use`), and
 * leftovers of dead builds. Entries whose key is locked right now are kept. Called by
 * `loadModule` once per process after its first build or locked load.
 */
export function ageCache(thresholdS: number = Number(config.cmodule.age_thresh_use)): { removed: string[] } {
  const root = compiledir();
  const now = Date.now();
  const removed: string[] = [];
  for (const key of entryKeys(root)) {
    const dir = entryDir(root, key);
    let mtime: number;
    try {
      mtime = statSync(dir).mtimeMs;
    } catch {
      continue;
    }
    if ((now - mtime) / 1000 <= thresholdS) continue;
    if (withKeyLock(root, key, () => removeTree(root, dir))) removed.push(key);
  }
  sweepScratch(root, now, [["tmp", TMP_MAX_AGE_S], ["trash", TMP_MAX_AGE_S], ["failed", thresholdS]]);
  return { removed };
}

/**
 * Deletes every entry and failed build; entries whose key is being built right now are
 * skipped. Libraries this process already loaded stay loaded (their files are unlinked, not
 * unmapped), but the memo forgets them so the next loadModule re-verifies the disk.
 */
export function clearCache(): { removed: number; skipped: number } {
  const root = compiledir();
  let removed = 0;
  let skipped = 0;
  for (const key of entryKeys(root)) {
    if (withKeyLock(root, key, () => removeTree(root, entryDir(root, key)))) removed++;
    else skipped++;
  }
  // Not tmp/: a build in progress there belongs to a live process (ageing removes dead ones).
  sweepScratch(root, Date.now(), [["trash", -1], ["failed", -1]]);
  for (const k of [...memo.keys()]) if (k.startsWith(`${root}\0`)) memo.delete(k);
  agedThisProcess = new Set();
  return { removed, skipped };
}
