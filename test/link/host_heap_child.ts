/**
 * A child process for test/slow/host_heap.test.ts: compiles x*2 on the JS linker (the heap is tuned by
 * the first compiled function, whatever the linker), calls it on a 40 MB float32 vector (above the 32 MiB glibc's own threshold never passes) with a
 * fresh output each time, and prints the heap state and the minor page faults of the calls
 * after a warm-up (the heap grows to its steady size during the first calls).
 */
import * as theano from "../../src/index.js";
import { hostHeapState } from "../../src/link/host_heap.js";

const { T } = theano;
const x = T.fvector("x");
const f = theano.function([x], x.mul(2), { mode: new theano.Mode("js", "fast_run") });
const n = 10_000_000;
const xv = new theano.NDArray("float32", [n], new Float32Array(n).fill(1.5));
let check = 0;
for (let i = 0; i < 30; i++) check += (f(xv) as theano.NDArray).data[n - 1] as number;
const before = process.resourceUsage().minorPageFault;
const calls = 60;
for (let i = 0; i < calls; i++) check += (f(xv) as theano.NDArray).data[n - 1] as number;
const faults = process.resourceUsage().minorPageFault - before;
console.log(JSON.stringify({ state: hostHeapState(), faultsPerCall: faults / calls, pagesPerOutput: (n * 4) / 4096, check }));
