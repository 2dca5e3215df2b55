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
