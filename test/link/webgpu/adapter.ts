/**
 * Shared by the WebGPU tests: whether this machine has the `webgpu` package and an adapter.
 * Without them the WebGPU suites skip, and say so in ONE console line (never silently); CI
 * installs a CPU adapter first (.ci/setup-webgpu.sh: Mesa's lavapipe).
 */

import { probeWebGpu } from "../../../src/link/webgpu/runtime.js";

const probe = probeWebGpu();

export const HAVE_WEBGPU = probe.info !== null;

let said = false;
/** Call once per test file: prints the one skip line when there is no adapter. */
export function announceWebGpu(file: string): boolean {
  if (!HAVE_WEBGPU && !said) {
    said = true;
    console.log(`[webgpu] SKIPPED ${file}: no WebGPU adapter (${probe.error?.split(". ")[0]}); run .ci/setup-webgpu.sh and npm install webgpu`);
  }
  return HAVE_WEBGPU;
}

export const ADAPTER = probe.info;
