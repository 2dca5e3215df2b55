/**
 * Device availability: the one gate between the `device` / `init_gpu_device` flags and the
 * backends (API.md §9, ARCHITECTURE.md "device layer"). The seeds' worst GPU failure is a
 * program that asked for a GPU and silently ran on the CPU; here a device this build cannot
 * reach raises `BackendError` saying what was looked for and what was found, when a function
 * or a shared variable is made. WebGPU opens its device here (link/webgpu: a missing package,
 * no adapter or a refused device is a BackendError); CUDA is not built yet and refuses, saying
 * so rather than pretending the driver is missing.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { config } from "../../config/index.js";
import { BackendError } from "../../errors.js";
import { webgpuBackend } from "../webgpu/index.js";

/** Directories searched for the CUDA driver, in the order GPU.md gives. */
function cudaSearchDirs(): string[] {
  const env = process.env;
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? "").split(":"),
    ...[env.CUDA_HOME, env.CUDA_PATH].filter((d): d is string => !!d).map((d) => join(d, "lib64")),
    "/usr/local/cuda/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
  ];
  return [...new Set(dirs.filter((d) => d.length > 0))];
}

/** What a look for the CUDA driver finds, for the error message (and later `theano-ts check`). */
export function findCudaDriver(): { searched: string[]; found: string | null } {
  const searched = cudaSearchDirs();
  for (const d of searched) {
    const p = join(d, "libcuda.so.1");
    if (existsSync(p)) return { searched, found: p };
  }
  return { searched, found: null };
}

function cudaRefusal(flag: string, device: string): BackendError {
  const { searched, found } = findCudaDriver();
  const driver = found
    ? `the CUDA driver was found at ${found}, but`
    : `no CUDA driver (libcuda.so.1) was found in ${searched.join(", ")}; besides,`;
  return new BackendError(
    `${flag}=${device}: ${driver} this build of theano-ts has no CUDA backend yet, so nothing can run on ${device}. ` +
      `Set ${flag}=${flag === "device" ? "cpu" : "''"} (THEANO_FLAGS=${flag}=${flag === "device" ? "cpu" : ""}) to run on the CPU; ` +
      `theano-ts never falls back to the CPU silently.`,
  );
}

/**
 * Raises BackendError unless the configured devices can be used by this build (opening the
 * WebGPU device on first use). Called by `theano.function` (through the mode) and `theano.shared`.
 */
export function requireUsableDevice(): void {
  const device: string = config.device;
  if (device.startsWith("cuda")) throw cudaRefusal("device", device);
  if (device.startsWith("webgpu")) webgpuBackend();
  const init: string = config.init_gpu_device;
  if (init !== "") throw cudaRefusal("init_gpu_device", init);
}

/** True when functions compile for an accelerator: placement and the device linker apply. */
export const onAccelerator = (): boolean => String(config.device).startsWith("webgpu");
