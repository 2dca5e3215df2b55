/**
 * What starting the C compiler costs a process that holds a model (issue 12.6, issue 15's compile
 * times): `theano.function` on the C linker builds a module by running `/bin/sh -c 'cc ...'`.
 * spawnSync forks the calling process first, and fork copies the page tables of the whole heap;
 * ffi.ts's spawnAndWait (posix_spawn, CLONE_VFORK) does not. This script holds `--heap-mb` MB of
 * touched memory (as a loaded model would), then builds `--graphs` distinct small functions in a
 * fresh compiledir through each path in turn (alternating, so machine noise hits both), and
 * prints the median build time per function of each, and the bare start of `/bin/sh -c true`.
 *
 *   npx tsx bench/compile_spawn.ts [--heap-mb 1000] [--graphs 12]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as theano from "../src/index.js";
import { setFastSpawnForTests } from "../src/link/c/compiler.js";
import { spawnAndWait } from "../src/link/c/ffi.js";

const T = theano.tensor;
const argv = process.argv;
const arg = (name: string, dflt: number): number => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const heapMb = arg("--heap-mb", 1000);
const graphs = arg("--graphs", 12);

const heap: Float64Array[] = [];
for (let i = 0; i < heapMb; i++) heap.push(new Float64Array(131072).fill(i));

const dir = mkdtempSync(join(tmpdir(), "theano-ts-bench-spawn-"));
theano.config.compiledir = dir;
const median = (v: number[]): number => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const times: Record<"spawnAndWait" | "spawnSync", number[]> = { spawnAndWait: [], spawnSync: [] };
const starts: Record<"spawnAndWait" | "spawnSync", number[]> = { spawnAndWait: [], spawnSync: [] };
for (let k = 0; k < graphs; k++) {
  for (const path of ["spawnAndWait", "spawnSync"] as const) {
    setFastSpawnForTests(path === "spawnAndWait");
    const x = T.fmatrix("x");
    // a distinct graph each time (a different constant): a cache miss, one build
    const y = T.tanh(x.mul(1 + k + (path === "spawnSync" ? 0.5 : 0))).sum();
    const t0 = performance.now();
    const f = theano.function([x], y, { mode: new theano.Mode("c", "fast_run") });
    times[path].push(performance.now() - t0);
    f.free();
    const s0 = performance.now();
    if (path === "spawnAndWait") spawnAndWait(["/bin/sh", "-c", "true"], process.env);
    else spawnSync("/bin/sh", ["-c", "true"]);
    starts[path].push(performance.now() - s0);
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(`heap ${heapMb} MB touched (${heap.length} arrays), ${graphs} distinct functions per path, theano.function on linker=c:`);
for (const path of ["spawnAndWait", "spawnSync"] as const) {
  console.log(`  ${path.padEnd(12)} build ${median(times[path]).toFixed(1).padStart(7)} ms per function   start of /bin/sh -c true ${median(starts[path]).toFixed(2).padStart(6)} ms`);
}
