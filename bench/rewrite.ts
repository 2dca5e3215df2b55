/**
 * Rewriting benchmark (issue 5): compile time of a 50 000-node elementwise chain (alternating
 * x*c and tanh/exp/add nodes, with repeated subexpressions for merge to find), split into graph
 * building, rewriting and linking, for the default pipeline (fast_run) and fast_compile.
 *
 *   npx tsx bench/rewrite.ts [--nodes 50000] [--linker js|c|py]
 */

import * as theano from "../src/index.js";
import { FunctionGraph } from "../src/graph/fgraph.js";
import { presetQuery, rewriteGraph } from "../src/rewriting/index.js";

const { T } = theano;
const nodes = Number(process.argv[process.argv.indexOf("--nodes") + 1]) || 50_000;
// The JS linker by default: this measures rewriting, and the C backend's compile time of a
// 50 000-node translation unit is a different question (pass --linker c to see it).
const linker = (process.argv.includes("--linker") ? process.argv[process.argv.indexOf("--linker") + 1] : "js") as "js" | "c" | "py";

function chain(n: number): { x: theano.TensorVariable; y: theano.TensorVariable } {
  const x = T.dvector("x");
  let y: theano.TensorVariable = x;
  // Eight nodes per step (two tanh, add, mul, sub, mul, two DimShuffles of the constants);
  // tanh(y) appears twice so merge has work to do.
  for (let i = 0; i * 8 < n; i++) {
    const a = T.tanh(y);
    const b = T.tanh(y);
    y = a.add(b).mul(0.5).sub(y.mul(1e-3));
  }
  return { x, y };
}

for (const optimizer of ["fast_run", "fast_compile"] as const) {
  const t0 = performance.now();
  const { x, y } = chain(nodes);
  const t1 = performance.now();
  const fg = new FunctionGraph([x], [y]);
  const before = fg.nodes.size;
  const t2 = performance.now();
  const ctx = rewriteGraph(fg, presetQuery(optimizer));
  const t3 = performance.now();
  const f = theano.config.change({ optimizer, linker }, () => theano.function([x], y));
  const t4 = performance.now();
  const out = f([0.1, 0.2, 0.3]);
  const top = [...ctx.stats.time].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(", ");
  console.log(
    `${optimizer}: ${before} nodes -> ${fg.nodes.size}; build ${(t1 - t0).toFixed(0)} ms, FunctionGraph ${(t2 - t1).toFixed(0)} ms, ` +
      `rewrite ${(t3 - t2).toFixed(0)} ms (${top}); theano.function (${linker} linker) total ${(t4 - t3).toFixed(0)} ms; f(x)[0] = ${out.get(0)}`,
  );
}
