import { availableParallelism } from "node:os";
import { configDefaults, defineConfig } from "vitest/config";

// The suite is mostly C compiles (child processes) and synchronous kernels: one fork per core
// keeps both cores busy where vitest's default (cores - 1) ran a 2-core machine's suite serially.
// Timeouts are sized for a loaded machine (the same suite under `stress --cpu 2`), not a quiet
// one: a test is wrong when it hangs, not when a shared runner is slow; hang tests have their own.
const slow = process.env.THEANO_TS_SLOW_TESTS === "1";
// Scripts that name their files (test/link/c/sanitize.sh) run them whichever tier they are in.
const named = process.env.THEANO_TS_NAMED_TESTS === "1";
const WEBGPU = "test/link/webgpu/**/*.test.ts";
// Checks whose subject is other processes: multi-process MPI jobs (mpirun -np 2 and 4,
// oversubscribed on a 2-core machine: each rank a Node process importing theano-ts and waiting on
// the others) and MPI's probe child, the CLI and the demo as a user starts them, what a process
// leaves at exit (modules unmapped, caches found by the next process, 8 processes building at
// once), the compiledir as another user or a read-only disk leaves it, linker=auto without a
// compiler and WebAssembly threads in child processes, every block of README.md and of
// docs/playbook.md run as a user pastes it, the PNG Chromium renders, the browser bundle trained in Chromium. Each
// starts Node processes that load theano-ts from source through tsx (about 1.3 CPU-seconds each)
// or waits out a timeout by design: together they were 40 % of `npm test`'s time on a loaded
// 2-core machine (issue 12.6). CI runs them in its slow step with test/slow/
// (THEANO_TS_SLOW_TESTS=1); `npm test` keeps everything that runs in its own process.
const PROCESS_TESTS = [
  "test/distributed/mpi.test.ts",
  "test/distributed/check.test.ts",
  "test/distributed/data_parallel.test.ts",
  "test/distributed/c_collectives.test.ts",
  "test/distributed/mpich.test.ts",
  "test/docs/playbook.test.ts",
  "test/readme.test.ts",
  "test/printing/chromium_png.test.ts",
  "test/browser/bundle.test.ts",
  "test/cli/check.test.ts",
  "test/cli/demo.test.ts",
  "test/link/c/cache.test.ts",
  "test/link/c/trust.test.ts",
  "test/link/c/unload.test.ts",
  "test/link/wasm/auto.test.ts",
  "test/link/wasm/cache.test.ts",
  "test/link/wasm/threads.test.ts",
];

export default defineConfig({
  test: {
    setupFiles: ["test/setup.ts"],
    pool: "forks",
    // One worker more than cores: while a worker waits (for a child process, a C compile's
    // linker, a timeout a test waits out by design) the others keep the cores busy, and on a
    // machine shared with other work the suite gets its share of the CPU (under `stress --cpu 2`
    // on 2 cores, cold: vitest took 364 s with 2 workers and 338 s with 3).
    maxWorkers: Math.max(2, availableParallelism()) + 1,
    minWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    projects: [
      {
        extends: true,
        test: {
          name: "core",
          // test/slow/ holds checks that take minutes by design (e.g. a 65 s event-loop block): CI
          // runs them, and PROCESS_TESTS, with THEANO_TS_SLOW_TESTS=1.
          include: slow ? ["test/slow/**/*.test.ts", ...PROCESS_TESTS] : ["test/**/*.test.ts"],
          exclude: slow ? configDefaults.exclude : named ? [...configDefaults.exclude, WEBGPU] : [...configDefaults.exclude, "test/slow/**", WEBGPU, ...PROCESS_TESTS],
          // Test files share their worker process (and its loaded modules) instead of each starting a
          // fresh one: importing theano-ts through vite's transform cost every file 2-3 s of CPU, a
          // third of the suite on a 2-core machine (issue 12.6). Tests restore what they change
          // (config.change, spies); the whole suite passed this way with its files shuffled.
          isolate: false,
        },
      },
      {
        extends: true,
        // Each WebGPU file in a process of its own: one file's device (its Dawn instance, a loss,
        // the extra instances the refusal tests open) never reaches another's.
        test: { name: "webgpu", include: slow ? [] : [WEBGPU], isolate: true },
      },
    ],
  },
});
