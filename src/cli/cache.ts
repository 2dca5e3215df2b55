/**
 * `theano-ts cache list|verify|clear|cleanup` (API.md §12): the compile cache under
 * `config.compiledir` (C objects and the wasm linker's modules), seen and tidied from the command
 * line through `theano.cache`.
 *
 * `verify` reports and deletes corrupt entries (`--dry-run` only reports; `--repair`, the old
 * spelling, is the default); entries another user could have written are reported, never deleted
 * by verify (`clear` deletes every entry, those included).
 */

import type * as Theano from "../index.js";

type Library = typeof Theano;

export const CACHE_USAGE = "list | verify [--dry-run] | clear | cleanup [--days N | --older-than N]";

export const CACHE_DETAILS =
  "list            every entry (C objects and wasm modules): key, kind, size, date built, last use, the function it was built for, compiler\n" +
  "verify          checks each entry's owner, permissions and checksum, and deletes the corrupt ones (--dry-run: only reports)\n" +
  "clear           deletes every entry and the kept failed builds (entries being built are skipped)\n" +
  "cleanup         deletes entries unused for cmodule.age_thresh_use seconds, or --days N (--older-than N) days\n" +
  "The directory is config.compiledir (THEANO_FLAGS=compiledir=...).";

/** Parses the arguments; a string is the usage mistake to report. */
export function parseCacheArgs(args: readonly string[]): { sub: "list" | "verify" | "clear" | "cleanup"; repair: boolean; days: number | null } | string {
  const [sub, ...rest] = args;
  if (sub !== "list" && sub !== "verify" && sub !== "clear" && sub !== "cleanup") return `cache needs one of list, verify, clear, cleanup${sub === undefined ? "" : `, got "${sub}"`}`;
  let repair = true;
  let days: number | null = null;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (sub === "verify" && a === "--repair") repair = true;
    else if (sub === "verify" && a === "--dry-run") repair = false;
    else if (sub === "cleanup" && (a === "--days" || a === "--older-than")) {
      // --older-than DAYS (issue 16.8's spelling) is the same as --days
      days = Number(rest[++i]);
      if (!Number.isFinite(days) || days < 0) return `cache cleanup ${a} takes a number of days >= 0, got ${rest[i] ?? "nothing"}`;
    } else return `cache ${sub} does not take ${a}`;
  }
  return { sub, repair, days };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;

export function runCache(theano: Library, opts: Exclude<ReturnType<typeof parseCacheArgs>, string>, out: (t: string) => void): number {
  const dir = theano.cache.directory();
  switch (opts.sub) {
    case "list": {
      const entries = theano.cache.list();
      for (const e of entries) out(`${e.key.slice(0, 16)}  ${e.kind.padEnd(4)}  ${mb(e.bytes).padStart(9)}  built ${e.created || "?"}  used ${e.lastUsed}  ${e.graph || "(function not recorded)"}  ${e.compiler}\n`);
      out(`${entries.length} entr${entries.length === 1 ? "y" : "ies"}, ${mb(entries.reduce((s, e) => s + e.bytes, 0))}, in ${dir}\n`);
      return 0;
    }
    case "verify": {
      const r = theano.cache.verify({ repair: opts.repair });
      for (const b of r.bad) out(`${b.unsafe ? "UNSAFE " : "CORRUPT"} ${b.dir}: ${b.problem}${r.removed.includes(b.key) ? " (removed)" : ""}\n`);
      out(`${r.ok.length} ok, ${r.bad.length} bad${opts.repair ? `, ${r.removed.length} removed` : ""}, in ${dir}\n`);
      return r.bad.length - r.removed.length === 0 ? 0 : 1;
    }
    case "clear": {
      const r = theano.cache.clear();
      out(`removed ${r.removed} entr${r.removed === 1 ? "y" : "ies"}${r.skipped ? `, skipped ${r.skipped} being built` : ""}, in ${dir}\n`);
      return 0;
    }
    case "cleanup": {
      const r = opts.days === null ? theano.cache.cleanup() : theano.cache.cleanup(opts.days * 86400);
      out(`removed ${r.removed.length} unused entr${r.removed.length === 1 ? "y" : "ies"}, in ${dir}\n`);
      return 0;
    }
    default:
      return opts.sub satisfies never;
  }
}
