/**
 * Issue 13.11: a compiled module is unloaded (unmapped) when the last function using it is
 * freed, or collected without free(); the OpenMP runtime stays pinned, so its idle threads never
 * run unmapped code, at exit or in a worker thread. Each scenario runs in a child process
 * (unload_child.ts): a crash at exit kills the process, which no `try` catches. The children
 * run with OMP_WAIT_POLICY=active and two threads, so OpenMP's idle threads are spinning in
 * libgomp when node exits and unloads its libraries: unloading libgomp there crashes (SIGSEGV),
 * measured with the pin removed.
 */

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./unload_child.ts", import.meta.url));

function child(name: string): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: "active", OMP_NUM_THREADS: "2" };
  delete env.GOMP_SPINCOUNT;
  const r = spawnSync(process.execPath, ["--import", "tsx", CHILD, name], { cwd: ROOT, encoding: "utf8", timeout: 120_000, env });
  if (r.status !== 0) throw new Error(`scenario ${name}: the child process died (signal ${r.signal}, status ${r.status}): ${r.stderr.slice(-800)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

describe("issue 13.11: modules are unloaded with their last function", () => {
  it("free() unmaps the module of each freed function; the process exits cleanly", () => {
    const r = child("free");
    expect(r.stillMapped).toEqual([]);
  }, 180_000);

  it("two functions of one graph share a module, unmapped when both are freed", () => {
    expect(child("shared")).toEqual({ afterFirst: true, afterBoth: false, got: 47.33 });
  }, 180_000);

  it("a function dropped without free() gives its module back once collected", () => {
    expect(child("dropped")).toMatchObject({ unmapped: true });
  }, 180_000);

  it("a worker thread's modules are unloaded when it frees them and when it exits; the main thread goes on", () => {
    expect(child("worker")).toEqual({ workerExit: 0, freedUnmapped: true, keptUnmapped: true });
  }, 180_000);
});
