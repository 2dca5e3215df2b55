/**
 * Who may have written a file that this process is about to run as code: the one trust rule of
 * the compile cache (src/link/cache.ts) and of every native library the process finds and loads
 * by its own search (the BLAS of src/link/c/compiler.ts).
 *
 * A shared object's constructors run the moment it is loaded, so "could another user have
 * written these bytes?" must be answered before `dlopen`, not after: the file and the directory
 * holding it (which decides what a name points to) must be owned by this user (or, for system
 * libraries, root) and not writable by group or others. Without POSIX owners (Windows) there is
 * nothing to check.
 */

import { lstatSync, realpathSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";

/** This process's uid, or null without POSIX owners. */
export const currentUid = (): number | null => (typeof process.getuid === "function" ? process.getuid() : null);

export function describeMode(st: Stats): string {
  return `0${(st.mode & 0o7777).toString(8)}`;
}

/**
 * Why `path` (whose `lstat` is `st`) may not be trusted, or null. `allowRoot`: root may own it
 * too (system libraries; the compile cache accepts only this user's files). `noSymlink`: a
 * symbolic link is itself a reason (inside a cache entry, where nothing is a link).
 */
export function untrustedReason(path: string, st: Stats, opts: { allowRoot?: boolean; noSymlink?: boolean } = {}): string | null {
  if (opts.noSymlink && st.isSymbolicLink()) return `${path} is a symbolic link`;
  const me = currentUid();
  if (me === null) return null;
  if (st.uid !== me && !(opts.allowRoot && st.uid === 0)) {
    return `${path} is owned by uid ${st.uid}, not by this user (uid ${me})${opts.allowRoot ? " or root" : ""}`;
  }
  if ((st.mode & 0o022) !== 0) {
    const who = st.mode & 0o020 ? (st.mode & 0o002 ? "group and others" : "group") : "others";
    return `${path} is writable by ${who} (mode ${describeMode(st)})`;
  }
  return null;
}

/**
 * Why a shared library found by our own search may not be loaded, or null: the file (after
 * following links) and the directories of both the name and the file must pass
 * `untrustedReason` with root allowed.
 */
export function libraryUntrustedReason(path: string): string | null {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    return `${path} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const checks: Array<[string, boolean]> = [[real, false], [dirname(path), true], [dirname(real), true]];
  for (const [p, isDir] of checks) {
    let st: Stats;
    try {
      st = isDir ? statSync(p) : lstatSync(p);
    } catch (e) {
      return `${p} cannot be examined (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    }
    const why = untrustedReason(p, st, { allowRoot: true });
    if (why) return isDir ? `its directory ${why}` : why;
  }
  return null;
}
