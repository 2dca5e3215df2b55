/**
 * `theano-ts demo --np N`: the demo run again as N processes under Open MPI's `mpirun`, each of
 * which trains with `theano.distributed.DataParallel` (demo.ts sees OMPI_COMM_WORLD_SIZE, as it
 * does under a user's own `mpirun -np N theano-ts demo`). This file only builds the command line
 * and waits for it: the same node, loader flags and entry script as this process, the demo's
 * options spelled out in full, `--oversubscribe` (N may exceed the cores: a laptop shows the
 * mechanics) and `--allow-run-as-root` when the user is root (containers), as mpirun refuses
 * root otherwise.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CliIO } from "./main.js";
import type { DemoOptions } from "./demo.js";

type Theano = typeof import("../index.js");

/** The demo's options as flags (everything explicit, so every rank parses the same run). */
export function demoFlags(opts: DemoOptions): string[] {
  const flags = ["--model", opts.model, "--epochs", String(opts.epochs), "--batch", String(opts.batch), "--hidden", String(opts.hidden), "--lr", String(opts.lr), "--seed", String(opts.seed), "--out", opts.out];
  if (opts.backend !== undefined) flags.push("--backend", opts.backend);
  if (opts.quick) flags.push("--quick");
  return flags;
}

/** The mpirun command line that runs the demo as `opts.np` processes. */
export function mpirunArgv(opts: DemoOptions): string[] {
  // This module sits next to the CLI's entry: main.ts under tsx, main.js once built.
  const entry = fileURLToPath(new URL(`./main${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url));
  const root = process.getuid?.() === 0 ? ["--allow-run-as-root"] : [];
  return ["-np", String(opts.np), "--oversubscribe", ...root, process.execPath, ...process.execArgv, entry, "demo", ...demoFlags(opts)];
}

/** Runs the demo under `mpirun -np N` and returns its exit code (1, said why, if mpirun is missing). */
export async function relaunchUnderMpirun(theano: Theano, opts: DemoOptions, io: CliIO): Promise<number> {
  const { mpirun, library, tried } = theano.distributed.probe();
  if (mpirun === null) {
    io.err(`theano-ts demo --np ${opts.np}: no mpirun on PATH; install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), or run the demo without --np\n`);
    return 1;
  }
  if (library === null) {
    io.err(`theano-ts demo --np ${opts.np}: ${mpirun} is there but no MPI library could be opened (${tried.join("; ")}); install libopenmpi-dev, or run the demo without --np\n`);
    return 1;
  }
  const argv = mpirunArgv(opts);
  io.out(`theano-ts demo: starting ${opts.np} processes: mpirun ${argv.join(" ")}\n`);
  const child = spawn(mpirun, argv, { stdio: "inherit" });
  return new Promise((resolvePromise) => {
    child.on("error", (e) => {
      io.err(`theano-ts demo --np ${opts.np}: could not start ${mpirun}: ${e.message}\n`);
      resolvePromise(1);
    });
    child.on("close", (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}
