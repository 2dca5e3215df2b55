/**
 * Compile-cache locks held by threads (issue 13 item 7): a worker thread that takes a key's lock
 * and is terminated leaves a lock naming a process that is still alive (this one). The lock
 * records the holder's OS thread too, so the next acquirer sees that thread is gone and breaks
 * the lock at once, with one warning, instead of waiting LOCK_TIMEOUT_S (600 s).
 */

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { config } from "../../../src/config/index.js";
import { loadModule, lockKey, moduleKey } from "../../../src/link/cache.js";
import { findCompiler } from "../../../src/link/c/compiler.js";
import { childSource } from "./cache_sources.js";

const CACHE = fileURLToPath(new URL("../../../src/link/cache.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../../src/config/index.ts", import.meta.url));
const HAVE_CC = findCompiler() !== null;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A worker thread that takes `key`'s lock in `dir` and then idles until terminated. */
function lockingWorker(dir: string, key: string): Promise<{ worker: Worker; lock: string }> {
  const code = `
    const { parentPort } = require("node:worker_threads");
    import("tsx/esm/api").then(async ({ register }) => {
      register();
      const { config } = await import(${JSON.stringify(CONFIG)});
      const { lockKey } = await import(${JSON.stringify(CACHE)});
      config.compiledir = ${JSON.stringify(dir)};
      lockKey(${JSON.stringify(key)});
      setInterval(() => {}, 1000); // idle, holding the lock, until terminated
      parentPort.postMessage("held");
    }).catch((e) => parentPort.postMessage("failed: " + e.stack));
  `;
  const worker = new Worker(code, { eval: true });
  return new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", (m: string) => {
      if (m !== "held") reject(new Error(m));
      else resolve({ worker, lock: readFileSync(join(dir, key.slice(0, 2), `${key}.lock`), "utf8") });
    });
  });
}

async function warningsOf<R>(fn: () => R): Promise<{ value: R; warnings: string[] }> {
  const warnings: string[] = [];
  const on = (w: Error): void => void warnings.push(w.message);
  process.on("warning", on);
  try {
    const value = fn();
    await new Promise((r) => setImmediate(r));
    return { value, warnings };
  } finally {
    process.off("warning", on);
  }
}

describe("compile cache locks and threads", () => {
  it("issue 13.7: a lock held by a terminated worker thread is broken within seconds, with one warning", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "theano-ts-lock-")), "compiledir");
    dirs.push(dir);
    const src = childSource(31);
    const key = HAVE_CC ? config.change({ compiledir: dir }, () => moduleKey(src)) : "ab".repeat(32);
    const { worker, lock } = await lockingWorker(dir, key);
    const info = JSON.parse(lock) as { pid: number; tid: number | null; nonce: string };
    expect(info.pid).toBe(process.pid);
    if (process.platform === "linux") expect(info.tid).not.toBe(process.pid); // the worker's own thread
    expect(info.nonce).toMatch(/^[0-9a-f]{16}$/);
    await worker.terminate();

    const started = Date.now();
    const { value: release, warnings } = await warningsOf(() => config.change({ compiledir: dir }, () => (HAVE_CC ? loadModule(src) : lockKey(key))));
    expect(Date.now() - started).toBeLessThan(5_000 + (HAVE_CC ? 20_000 : 0));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/broke the stale lock .*thread \d+ of process \d+ has ended/);
    if (release === null) throw new Error("lockKey waited and returned null");
    if (typeof release === "function") release();
    else release.library.close();
  }, 60_000);

  it("issue 13.7: a lock held by a live worker thread of this process is respected", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "theano-ts-lock-")), "compiledir");
    dirs.push(dir);
    const key = "cd".repeat(32);
    const { worker } = await lockingWorker(dir, key);
    try {
      const { value: got, warnings } = await warningsOf(() => config.change({ compiledir: dir }, () => lockKey(key, false)));
      expect(got).toBe(null);
      expect(warnings).toEqual([]);
    } finally {
      await worker.terminate();
    }
    const release = config.change({ compiledir: dir }, () => lockKey(key, false));
    expect(typeof release).toBe("function");
    release?.();
  }, 60_000);
});
