/**
 * The compile cache's management, as the public API offers it (`theano.cache`) and as
 * `theano-ts cache list|verify|clear|cleanup` (src/cli/cache.ts) runs it: the C objects of
 * src/link/cache.ts and the wasm linker's modules under `<compiledir>/wasm/`
 * (src/link/wasm/cache.ts) seen as one cache, so the command line stays a client of the public
 * API and no entry is out of its reach.
 */

import { config } from "../config/index.js";
import { ageCache, clearCache, listEntries, verifyCache, type CacheEntryInfo, type VerifyReport } from "./cache.js";
import { ageWasmEntries, clearWasmEntries, listWasmEntries, verifyWasmEntries } from "./wasm/cache.js";

export { compiledir as directory } from "./cache.js";
export type { CacheEntryInfo, VerifyReport } from "./cache.js";

/** Every published entry, C then wasm, from meta.json (no checksums: see `verify`). */
export function list(): CacheEntryInfo[] {
  return [...listEntries(), ...listWasmEntries()];
}

/** Checks every entry's owner, permissions and checksum; `repair` deletes the corrupt ones. */
export function verify(opts: { repair?: boolean } = {}): VerifyReport {
  const c = verifyCache(opts);
  const w = verifyWasmEntries(opts);
  return { ok: [...c.ok, ...w.ok], bad: [...c.bad, ...w.bad], removed: [...c.removed, ...w.removed] };
}

/** Deletes every entry and failed build; entries being built right now are skipped. */
export function clear(): { removed: number; skipped: number } {
  const c = clearCache();
  const w = clearWasmEntries();
  return { removed: c.removed + w.removed, skipped: c.skipped + w.skipped };
}

/** Deletes entries not used for `thresholdS` seconds (default `cmodule.age_thresh_use`), and leftovers of dead builds. */
export function cleanup(thresholdS: number = Number(config.cmodule.age_thresh_use)): { removed: string[] } {
  return { removed: [...ageCache(thresholdS).removed, ...ageWasmEntries(thresholdS).removed] };
}
