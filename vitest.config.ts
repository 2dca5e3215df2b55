import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// The suite is mostly C compiles (child processes) and synchronous kernels: one fork per core
// keeps both cores busy where vitest's default (cores - 1) ran a 2-core machine's suite serially.
// Timeouts are sized for a loaded machine (the same suite under `stress --cpu 2`), not a quiet
// one: a test is wrong when it hangs, not when a shared runner is slow; hang tests have their own.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    pool: "forks",
    maxWorkers: Math.max(2, availableParallelism()),
    minWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
