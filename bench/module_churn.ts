/**
 * Module churn (issue 13.11): creates, calls and frees C functions over `distinct` different
 * graphs (x * k, each constant k giving its own generated source, hence its own module) until
 * `total` functions have lived, and reports the process's memory mappings (lines of
 * /proc/self/maps), the compiled modules mapped, and RSS: after one warm-up function, after one
 * pass over the distinct graphs (which compiles them on a cold cache), and after the churn.
 * Usage: npx tsx bench/module_churn.ts [distinct=200] [total=2000]
 * Each cold compile takes about 0.3-1 s on a 2-core VM: a first run builds the distinct modules
 * into the compile cache; later runs load them from it.
 */
import { readFileSync } from "node:fs";
import * as theano from "../src/index.js";

const { T } = theano;
const distinct = Number(process.argv[2] ?? 200);
const total = Number(process.argv[3] ?? 2000);

function snapshot(label: string): { maps: number; modules: number; rssMB: number } {
  const lines = readFileSync("/proc/self/maps", "utf8").trim().split("\n");
  const modules = new Set(lines.filter((l) => /\/mod\.so( \(deleted\))?$/.test(l)).map((l) => l.slice(l.indexOf("/"))));
  const s = { maps: lines.length, modules: modules.size, rssMB: Math.round(process.memoryUsage().rss / 2 ** 20) };
  console.log(`${label.padEnd(34)} maps ${String(s.maps).padStart(6)}  modules ${String(s.modules).padStart(5)}  rss ${s.rssMB} MB`);
  return s;
}

const x = T.dvector("x");
const input = [1, 2, 3];
const make = (k: number): theano.TheanoFunction<theano.NDArray> => theano.config.change({ linker: "c" }, () => theano.function([x], x.mul(k)));

// Warm-up: the process's own libraries (koffi, libgomp, the BLAS) are mapped before counting.
const warm = make(0.5);
warm(input);
warm.free();
const start = snapshot("start (after one function)");

let t = performance.now();
for (let k = 1; k <= distinct; k++) {
  const f = make(k);
  f(input);
  f.free();
}
snapshot(`after ${distinct} distinct (${((performance.now() - t) / 1000).toFixed(1)} s)`);

t = performance.now();
for (let i = 0; i < total; i++) {
  const f = make((i % distinct) + 1);
  const got = f(input).toArray() as number[];
  if (got[2] !== 3 * ((i % distinct) + 1)) throw new Error(`function ${i} computed ${got.join(",")}`);
  f.free();
}
const end = snapshot(`after ${total} created+freed (${((performance.now() - t) / 1000).toFixed(1)} s)`);
console.log(`growth: ${end.maps - start.maps} mappings, ${end.modules - start.modules} modules, ${end.rssMB - start.rssMB} MB RSS`);
