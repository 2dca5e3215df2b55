/**
 * The one place that touches the FFI (ARCHITECTURE.md: "the FFI sits behind one tiny internal
 * module so it can be swapped"). Today it is koffi; `node:ffi` can replace it here without any
 * other file changing. Three verbs: open a shared library, declare a function by its C
 * prototype, call it.
 */

import { createRequire } from "node:module";
import { BackendError } from "../../errors.js";

/** A C function declared from its prototype, callable with JS numbers, bigints and TypedArrays. */
export type NativeFunction = (...args: unknown[]) => unknown;

export interface NativeLibrary {
  readonly path: string;
  /** Declares `prototype` (C syntax, e.g. `"int th_run(void **bufs, int64_t *dims)"`). */
  func(prototype: string): NativeFunction;
  /** Unloads the library; functions declared from it must not be called afterwards. */
  close(): void;
}

interface Koffi {
  load(path: string, options?: { global?: boolean }): { func(proto: string): NativeFunction; unload(): void };
}

let koffi: Koffi | null = null;

function ffi(): Koffi {
  if (koffi) return koffi;
  try {
    koffi = createRequire(import.meta.url)("koffi") as Koffi;
  } catch (e) {
    throw new BackendError(`the FFI module koffi could not be loaded (${(e as Error).message}); reinstall theano-ts's dependencies with npm install`, { cause: e });
  }
  return koffi;
}

/**
 * OpenMP's idle threads spin for a long time by default (libgomp: 300 000 spins) before they
 * sleep. On a machine whose cores are shared with other processes that turns every parallel
 * region into a wait for a descheduled spinner: measured here, the MLP training step took
 * 120 ms instead of 4.8 ms. A short spin keeps the fast hand-off between regions and stops
 * the collapse. libgomp reads its environment when it is first loaded, i.e. with the first
 * module we open, so the default is set here; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
 */
function openmpDefaults(): void {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env && env.OMP_WAIT_POLICY === undefined && env.GOMP_SPINCOUNT === undefined) env.GOMP_SPINCOUNT = "10000";
}

/**
 * Opens a shared library; raises BackendError naming the path when the loader refuses it.
 * `global`: its symbols resolve the undefined symbols of libraries opened after it (RTLD_GLOBAL).
 */
export function openLibrary(path: string, opts: { global?: boolean } = {}): NativeLibrary {
  openmpDefaults();
  let lib: ReturnType<Koffi["load"]>;
  try {
    lib = opts.global ? ffi().load(path, { global: true }) : ffi().load(path);
  } catch (e) {
    throw new BackendError(`could not load the shared library ${path}: ${(e as Error).message}`, { cause: e });
  }
  return {
    path,
    func: (prototype) => lib.func(prototype),
    close: () => lib.unload(),
  };
}

/**
 * Runs a program and waits for it: `argv[0]` is its absolute path, `env` its whole environment.
 * Returns its exit status (128 + the signal's number when a signal ended it), or null where this
 * fast path does not exist (not Linux with glibc, or the FFI cannot be loaded): the caller then
 * uses `child_process.spawnSync`.
 *
 * Why not spawnSync: it forks the calling process, and fork copies the page tables of the whole
 * heap. A process that has built a model holds gigabytes; measured from a Node process with 1 GB
 * resident, each spawnSync of `/bin/sh` took 47 ms (19 ms of it in the kernel) against 2.5 ms
 * here; a test worker compiling hundreds of modules paid that for each. glibc's posix_spawn starts
 * the child with CLONE_VFORK (no copy); here every signal's disposition is reset to its default
 * (Node ignores SIGPIPE; libuv's children start with defaults too) and the child's signal mask is
 * empty (a worker thread's mask is not the child's).
 * The child's stdin, stdout and stderr are the caller's: redirect them in a `/bin/sh -c` script.
 */
export function spawnAndWait(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): number | null {
  const child = spawnProcess(argv, env);
  return child === null ? null : child.wait();
}

/** A program started by spawnProcess: `wait()` blocks until it ends and returns its exit status (memoised). */
export interface SpawnedProcess {
  readonly pid: number;
  wait(): number;
}

/**
 * Starts a program without waiting for it (as spawnAndWait, which is this and `wait()`): the
 * compile cache starts several modules' compilers at once and waits for them together. Null where
 * the fast path does not exist; a program that cannot be started reports status 127 (as sh says).
 */
export function spawnProcess(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SpawnedProcess | null {
  const p = posixSpawn();
  if (!p) return null;
  const attr = new Uint8Array(1024); // posix_spawnattr_t is 336 bytes on glibc x86-64 and aarch64
  const mask = new Uint8Array(256); // sigset_t: 128
  const defaults = new Uint8Array(256);
  if (p.attrInit(attr) !== 0) return null;
  let pid: number;
  try {
    p.sigemptyset(mask);
    p.sigfillset(defaults);
    if (p.setsigmask(attr, mask) !== 0 || p.setsigdefault(attr, defaults) !== 0 || p.setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) !== 0) return null;
    const envp = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
    const out = [0];
    if (p.spawn(out, argv[0]!, null, attr, [...argv, null], [...envp, null]) !== 0) return { pid: -1, wait: () => 127 };
    pid = out[0]!;
  } finally {
    p.attrDestroy(attr);
  }
  let status: number | null = null;
  return {
    pid,
    wait(): number {
      if (status !== null) return status;
      const st = [0];
      for (;;) {
        const r = p.waitpid(pid, st, 0);
        if (r === pid) break;
        if (p.errno() !== EINTR) throw new BackendError(`waitpid(${pid}) failed with errno ${p.errno()}`);
      }
      const s = st[0]!;
      status = (s & 0x7f) === 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f);
      return status;
    },
  };
}

const POSIX_SPAWN_SETSIGDEF = 0x04; // glibc's values
const POSIX_SPAWN_SETSIGMASK = 0x08;
const EINTR = 4;

interface PosixSpawn {
  spawn: NativeFunction;
  waitpid: NativeFunction;
  attrInit: NativeFunction;
  attrDestroy: NativeFunction;
  setsigmask: NativeFunction;
  setflags: NativeFunction;
  setsigdefault: NativeFunction;
  sigemptyset: NativeFunction;
  sigfillset: NativeFunction;
  errno: () => number;
}

let posixSpawnFns: PosixSpawn | null | undefined;

function posixSpawn(): PosixSpawn | null {
  if (posixSpawnFns !== undefined) return posixSpawnFns;
  posixSpawnFns = null;
  const proc = (globalThis as { process?: { platform?: string } }).process;
  if (proc?.platform !== "linux") return null;
  try {
    const k = ffi() as Koffi & { errno(): number };
    const libc = k.load("libc.so.6");
    posixSpawnFns = {
      spawn: libc.func("int posix_spawn(_Out_ int *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)"),
      waitpid: libc.func("int waitpid(int pid, _Out_ int *status, int options)"),
      attrInit: libc.func("int posix_spawnattr_init(void *attr)"),
      attrDestroy: libc.func("int posix_spawnattr_destroy(void *attr)"),
      setsigmask: libc.func("int posix_spawnattr_setsigmask(void *attr, const void *mask)"),
      setflags: libc.func("int posix_spawnattr_setflags(void *attr, short flags)"),
      setsigdefault: libc.func("int posix_spawnattr_setsigdefault(void *attr, const void *set)"),
      sigemptyset: libc.func("int sigemptyset(void *set)"),
      sigfillset: libc.func("int sigfillset(void *set)"),
      errno: () => k.errno(),
    };
  } catch {
    posixSpawnFns = null; // musl, or no koffi: spawnSync
  }
  return posixSpawnFns;
}
