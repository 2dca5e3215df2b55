/**
 * Shared by the WebGPU tests: whether this machine has the `webgpu` package and an adapter.
 * Without them the WebGPU suites skip, and say so in ONE console line (never silently); CI
 * installs a CPU adapter first (.ci/setup-webgpu.sh: Mesa's lavapipe).
 */

import { it } from "vitest";
import { closeSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMainThread } from "node:worker_threads";
import { probeWebGpu } from "../../../src/link/webgpu/runtime.js";

const probe = probeWebGpu();

export const HAVE_WEBGPU = probe.info !== null;

/**
 * The first file of a vitest run to call this prints the one line; the others stay quiet. Test
 * files run in separate workers, so "first" is a marker file named after the vitest process
 * (the parent of a forks-pool child, the process of a threads-pool worker).
 */
function firstInRun(): boolean {
  const runner = isMainThread ? process.ppid : process.pid;
  try {
    closeSync(openSync(join(tmpdir(), `theano-ts-webgpu-skip-${runner}`), "wx"));
    return true;
  } catch {
    return false;
  }
}

/** Call once per test file: returns whether the WebGPU tests can run; prints the skip line once per run. */
export function announceWebGpu(): boolean {
  if (!firstInRun()) return HAVE_WEBGPU;
  if (!HAVE_WEBGPU) {
    console.log(`[webgpu] SKIPPED every WebGPU test (test/link/webgpu/): no WebGPU adapter: ${probe.error?.split("\n")[0]?.split(". ")[0]}. Run .ci/setup-webgpu.sh and npm install webgpu to run them.`);
  } else {
    const i = probe.info!;
    console.log(`[webgpu] WebGPU tests run on "${i.description || i.device}" (vendor ${i.vendor}, ${i.architecture}, backend ${i.backend}${i.fallback ? ", a software adapter" : ""})`);
  }
  return HAVE_WEBGPU;
}

export const ADAPTER = probe.info;

/**
 * `it` for tests that run kernels: when the device is lost during the test (a BackendError
 * saying "device lost": a driver reset, or a software adapter that ran out of something on a
 * loaded CI machine), the loss is printed in full and the test runs once more from the start,
 * on the new device the runtime opens for functions compiled after a loss. A second loss, and
 * every other failure, fails the test as usual.
 */
export function gpuIt(name: string, fn: () => void): void {
  it(name, () => {
    try {
      fn();
    } catch (e) {
      const text = e instanceof Error ? `${e.message} ${e.cause instanceof Error ? e.cause.message : ""}` : String(e);
      if (!/device lost/.test(text)) throw e;
      console.error(`[webgpu] the device was lost during "${name}" (adapter ${ADAPTER?.description}); running it again on a new device:\n${text}`);
      fn();
    }
  });
}
