/**
 * Run by auto.test.ts in a child Node (the auto fallback warns once per process, so the parent's
 * count of that warning, which test/link/c checks, stays untouched). THEANO_FLAGS comes from the
 * parent (cxx empty or a compiler path that does not exist); argv[2] "nowasm" removes the
 * WebAssembly global first, as in a runtime without it. Compiles sum(exp(x)) * 2 on the default
 * linker (auto) and prints one JSON line: each node's op and backend, the value, the warnings.
 */

import type { NDArray } from "../../../src/ndarray/ndarray.js";

if (process.argv[2] === "nowasm") Object.defineProperty(globalThis, "WebAssembly", { value: undefined, configurable: true, writable: true });

const warnings: string[] = [];
process.on("warning", (w) => warnings.push(w.message));

const theano = await import("../../../src/index.js");
const { T } = theano;
const x = T.dvector("x");
const f = theano.function([x], [T.sum(T.exp(x)).mul(2), x.mul(x).add(1)]);
const [s, y] = f(theano.array([0, 1, -2, 0.5])) as NDArray[];
const nodes = f.fgraph.toposort().map((n) => ({ op: n.op.constructor.name, backend: String(n.tag.backend) }));
// process.emitWarning delivers on the next tick.
setImmediate(() => console.log(JSON.stringify({ nodes, sum: Number(s!.toFlat()[0]), y: Array.from(y!.toFlat() as Float64Array), warnings })));
