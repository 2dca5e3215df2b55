/**
 * Run by cache.test.ts in a child Node, a process with nothing cached in memory: compiles
 * cache.test.ts's graph on linker=wasm with the compiledir of argv[2] and prints one JSON line:
 * the cache counters, the compile-time split, the value, the warnings.
 */

import type { NDArray } from "../../../src/ndarray/ndarray.js";

const warnings: string[] = [];
process.on("warning", (w) => warnings.push(w.message));

const theano = await import("../../../src/index.js");
const { wasmCacheStats } = await import("../../../src/link/wasm/cache.js");
const { cacheGraph, cacheInputs } = await import("./cache_graph.js");

const out = theano.config.change({ compiledir: process.argv[2]! }, () => {
  const { inputs, outputs } = cacheGraph();
  const f = theano.function(inputs, outputs, { mode: new theano.Mode("wasm"), profile: true });
  const got = f(...cacheInputs()) as NDArray[];
  const link = f.profile!.toJSON().compile;
  return { stats: { ...wasmCacheStats }, link, values: got.map((g) => Array.from(g.toFlat() as Float64Array)) };
});
setImmediate(() => console.log(JSON.stringify({ ...out, warnings })));
