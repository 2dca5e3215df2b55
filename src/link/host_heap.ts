/**
 * Fresh arrays without page faults (issue 15.3). Every NDArray's memory is an ArrayBuffer that
 * Node takes from the C library's allocator (calloc). glibc serves a block of 128 KiB or more
 * with its own mmap and unmaps it on free, so each fresh output of a compiled function is new
 * memory that the kernel zeroes and maps one 4 KiB page at a time on first touch: measured on
 * this machine kind, 22–27 ms for a fresh 16 MB array and 107 ms for 40 MB (5–11 µs a page),
 * where NumPy, whose allocator recycles its blocks, writes the same array in 0.6 ms. glibc
 * raises its mmap threshold by itself only after such a block is freed, never beyond 32 MiB,
 * and trims the heap's top beyond twice that: a 40 MB output faults in all its 9766 pages on
 * every call, and 16 MB ones often do (W4's fresh logSoftmax: 17–31 ms a call against 2.5 ms).
 *
 * So, once per process, the heap keeps freed blocks for reuse: blocks up to `lib.host_reuse_mb`
 * come from the heap (M_MMAP_THRESHOLD) and up to that much free memory at the heap's top stays
 * mapped (M_TRIM_THRESHOLD). The next array of that size reuses pages that are already mapped:
 * 16 MB fresh arrays cost 0.5 ms instead of 27 ms. What the heap keeps is bounded by the flag
 * (default: 1/16 of the machine's memory, at most 512 MiB), beyond which glibc gives memory
 * back to the system as before; `0` leaves the C library's defaults. Only glibc has mallopt
 * with these meanings: elsewhere (musl, macOS, Windows, browsers) nothing changes.
 */

import { totalmem } from "node:os";
import { config } from "../config/index.js";
import { openLibrary } from "./c/ffi.js";

/** mallopt parameters (glibc <malloc.h>). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** The default of `lib.host_reuse_mb` (-1): 1/16 of the machine's memory, at most 512 MiB. */
export function defaultHostReuseMb(): number {
  return Math.max(0, Math.min(512, Math.floor(totalmem() / 16 / 2 ** 20)));
}

/** What `tuneHostHeap` did, for `theano-ts check` and tests. */
export interface HostHeapState {
  /** MiB of freed memory the heap keeps for reuse; 0 when the C library's defaults stand. */
  readonly reuseMb: number;
  /** Why the defaults stand (empty when tuned). */
  readonly reason: string;
}

let applied: HostHeapState | null = null;

/** The glibc version this process runs on, or null (another C library, or not Node). */
function glibcVersion(): string | null {
  const report = (process as { report?: { getReport?: () => unknown } }).report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? null;
}

/**
 * Applies `lib.host_reuse_mb` to the process's heap, once (the first compiled function does;
 * later changes of the flag do not undo it). Never throws: a failure leaves the defaults.
 */
export function tuneHostHeap(): HostHeapState {
  if (applied) return applied;
  // Not Node (a browser): there is no C heap of ours to tune.
  if (typeof process === "undefined" || typeof process.versions?.node !== "string") return (applied = { reuseMb: 0, reason: "not Node" });
  const flag = config.lib.host_reuse_mb;
  const mb = flag < 0 ? defaultHostReuseMb() : flag;
  if (mb === 0) return (applied = { reuseMb: 0, reason: "lib.host_reuse_mb=0" });
  if (process.platform !== "linux" || glibcVersion() === null) return (applied = { reuseMb: 0, reason: "not a glibc system" });
  try {
    const libc = openLibrary("libc.so.6");
    const mallopt = libc.func("int mallopt(int param, int value)");
    const bytes = Math.min(mb * 2 ** 20, 2 ** 31 - 1);
    if ((mallopt(M_TRIM_THRESHOLD, bytes) as number) !== 1) return (applied = { reuseMb: 0, reason: "mallopt refused M_TRIM_THRESHOLD" });
    // Some glibc versions cap the mmap threshold at 32 MiB (HEAP_MAX_SIZE / 2): then blocks up
    // to that size are reused and larger ones are mapped afresh, as before.
    const mmap = (mallopt(M_MMAP_THRESHOLD, bytes) as number) === 1 ? bytes : (mallopt(M_MMAP_THRESHOLD, 32 * 2 ** 20) as number) === 1 ? 32 * 2 ** 20 : 0;
    applied = mmap > 0 ? { reuseMb: mmap / 2 ** 20, reason: "" } : { reuseMb: 0, reason: "mallopt refused M_MMAP_THRESHOLD" };
  } catch (e) {
    applied = { reuseMb: 0, reason: `libc could not be opened: ${(e as Error).message}` };
  }
  return applied;
}

/** The state without applying anything (null before the first compiled function). */
export function hostHeapState(): HostHeapState | null {
  return applied;
}
