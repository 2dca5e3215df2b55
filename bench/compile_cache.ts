/**
 * Compile cache benchmark (issue 6 item 7): what the C backend's infrastructure costs a process.
 * In a fresh temporary compiledir: a cold build of a small module (compiler run + publish), a
 * load of the same entry by a new process's path (checksum verified, dlopen), an in-process memo
 * hit, and the per-process probes (`cCompilerStatus`, `findBlas`). Median of N runs.
 *
 *   npx tsx bench/compile_cache.ts [--runs 7]
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { config } from "../src/config/index.js";
import { loadModule } from "../src/link/cache.js";
import { cCompilerStatus, findBlas, findCompiler } from "../src/link/c/compiler.js";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** A small generated-looking module: one contiguous elementwise loop. */
const source = (v: number): string => `#include <stdint.h>
#include <math.h>
int kernel_${v}(float *restrict out, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = tanhf(x[i] * 0.5f + ${v}.0f) * x[i];
  return 0;
}
`;

if (!findCompiler()) {
  console.log(`no C compiler (config.cxx=${JSON.stringify(String(config.cxx))}): ${cCompilerStatus().reason}`);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "theano-ts-bench-cache-"));
try {
  config.change({ compiledir: dir }, () => {
    let t = performance.now();
    const status = cCompilerStatus();
    const statusMs = performance.now() - t;
    t = performance.now();
    const blas = findBlas();
    const blasMs = performance.now() - t;

    const cold: number[] = [];
    const disk: number[] = [];
    const memo: number[] = [];
    for (let r = 0; r < runs; r++) {
      t = performance.now();
      const m = loadModule(source(r));
      cold.push(performance.now() - t);
      m.library.close(); // the memo forgets it: the next ask verifies and loads the disk entry
      t = performance.now();
      const again = loadModule(source(r));
      disk.push(performance.now() - t);
      t = performance.now();
      const hit = loadModule(source(r));
      memo.push(performance.now() - t);
      if (m.fromCache || !again.fromCache || !hit.fromCache) throw new Error("unexpected cache behaviour");
      again.library.close();
      hit.library.close();
    }
    const rows: Array<[string, string]> = [
      ["compiler", `${status.compiler?.version ?? "?"}${status.openmp ? " + OpenMP" : ""}`],
      ["cCompilerStatus() first call in a process (ms)", statusMs.toFixed(1)],
      ["findBlas() first call in a process (ms)", `${blasMs.toFixed(1)} (${blas ? `${blas.name} ${blas.path}` : "none: built-in GEMM"})`],
      ["cold build of a small module (ms)", median(cold).toFixed(1)],
      ["load from disk: verify sha256 + dlopen (ms)", median(disk).toFixed(3)],
      ["in-process memo hit (µs)", (median(memo) * 1000).toFixed(1)],
    ];
    console.log("| measure | value |\n|---|---:|");
    for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
