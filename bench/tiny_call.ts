/**
 * The cost of one call on tiny inputs (issue 15.5): `a + b` (the function `x + x`) on float32[10]
 * through `theano.function` on the js and c linkers and with default flags (linker=auto: C, whose
 * tiny calls run the function's JS code, TINY_CALL_ELEMENTS), against NumPy's `a + a` on the same array in a
 * Python loop, run by this script (median of 3 rounds each; NumPy without the OPENBLAS_* pin this
 * environment sets, though it does not matter here).
 *
 *   npx tsx bench/tiny_call.ts [--calls 300000]   (each linker in a child process of its own)
 */
import { spawnSync } from "node:child_process";
import * as theano from "../src/index.js";

const T = theano.tensor;
const argv = process.argv;
const calls = Number(argv[argv.indexOf("--calls") + 1]) || 300_000;

const x = T.fvector("x");
const xv = new theano.NDArray("float32", [10], Float32Array.from({ length: 10 }, (_, i) => i / 3));
const median = (v: number[]): number => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function perCall(linker: "js" | "c" | "auto"): number {
  const f = theano.function([x], x.add(x), linker === "auto" ? {} : { mode: new theano.Mode(linker, "fast_run") });
  for (let i = 0; i < 20_000; i++) f(xv);
  const rounds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) f(xv);
    rounds.push(((performance.now() - t0) / calls) * 1e3);
  }
  f.free();
  return median(rounds);
}

const NUMPY = `
import sys, time
import numpy as np
n = int(sys.argv[1]); a = np.arange(10, dtype=np.float32) / 3
for i in range(20000): a + a
r = []
for k in range(3):
    t = time.perf_counter()
    for i in range(n): a + a
    r.append((time.perf_counter() - t) / n * 1e6)
print(sorted(r)[1])
`;

function numpy(): number | null {
  const env = { ...process.env };
  for (const v of ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]) delete env[v];
  const r = spawnSync("python3", ["-c", NUMPY, String(calls)], { encoding: "utf8", env });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

// Each linker in a process of its own (--only): in one process the first function measured has
// theano.function's call path to itself (monomorphic), and the later ones pay for the earlier.
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : null;
if (only === "js" || only === "c" || only === "auto") {
  console.log(perCall(only));
  process.exit(0);
}
const inChild = (l: string): number => Number(spawnSync(process.execPath, [...process.execArgv, argv[1]!, "--only", l, "--calls", String(calls)], { encoding: "utf8" }).stdout.trim().split("\n").pop());
const auto = inChild("auto");
const js = inChild("js");
const c = inChild("c");
const np = numpy();
const fmt = (v: number | null): string => (v === null ? "—" : v.toFixed(3));
const ratio = (v: number): string => (np ? (v / np).toFixed(2) : "—");
console.log(`tiny call a+b on float32[10], µs per call (median of 3 rounds of ${calls} calls)`);
console.log(`| theano-ts default (auto) | theano-ts js | theano-ts c | NumPy | default / NumPy | js / NumPy | c / NumPy |`);
console.log(`|---:|---:|---:|---:|---:|---:|---:|`);
console.log(`| ${fmt(auto)} | ${fmt(js)} | ${fmt(c)} | ${fmt(np)} | ${ratio(auto)} | ${ratio(js)} | ${ratio(c)} |`);
