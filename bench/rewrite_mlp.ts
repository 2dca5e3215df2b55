/**
 * Rewriting the MLP training step (issue 5): forward (relu hidden layer, softmax,
 * cross-entropy), backward and SGD updates of four shared parameters, rewritten by the default
 * pipeline. Prints the rewrite time (cold: first in the process; warm: median of 5 more), the
 * node count before and after, the time per stage, and the rewritten graph.
 *
 *   npx tsx bench/rewrite_mlp.ts
 */

import * as theano from "../src/index.js";
import { FunctionGraph } from "../src/graph/fgraph.js";
import { DestroyHandler } from "../src/graph/destroy.js";
import { presetQuery, rewriteGraph } from "../src/rewriting/index.js";
import type { Variable } from "../src/graph/basic.js";

const { T } = theano;

function step(): { inputs: Variable[]; outputs: Variable[]; shared: Variable[] } {
  const x = T.dmatrix("x");
  const y = T.lvector("y");
  const z = (shape: number[]) => theano.zeros(shape, "float64");
  const W1 = theano.shared(z([784, 256]), { name: "W1" });
  const b1 = theano.shared(z([256]), { name: "b1" });
  const W2 = theano.shared(z([256, 10]), { name: "W2" });
  const b2 = theano.shared(z([10]), { name: "b2" });
  const params = [W1, b1, W2, b2];
  const hidden = T.nnet.relu(T.dot(x, W1).add(b1));
  const cost = T.nnet.categoricalCrossentropy(T.nnet.softmax(T.dot(hidden, W2).add(b2)), y).mean();
  const grads = theano.grad(cost, params);
  const updates = params.map((p, i) => p.sub(grads[i]!.mul(0.01)));
  return { inputs: [x, y, ...params], outputs: [cost, ...updates], shared: params };
}

function once(): { ms: number; before: number; after: number; fg: FunctionGraph; times: Map<string, number> } {
  const { inputs, outputs, shared } = step();
  const fg = new FunctionGraph(inputs, outputs);
  fg.attachFeature(new DestroyHandler({ mutable: shared.map((s) => fg.memo.get(s)!) }));
  const before = fg.nodes.size;
  const t0 = performance.now();
  const ctx = rewriteGraph(fg, presetQuery("fast_run"));
  return { ms: performance.now() - t0, before, after: fg.nodes.size, fg, times: ctx.stats.time };
}

const cold = once();
const warm: number[] = [];
for (let i = 0; i < 5; i++) warm.push(once().ms);
warm.sort((a, b) => a - b);
console.log(`MLP training step: ${cold.before} nodes -> ${cold.after}; rewrite cold ${cold.ms.toFixed(0)} ms, warm ${warm[2]!.toFixed(0)} ms (median of 5)`);
console.log(`stages (cold): ${[...cold.times].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ")}`);
for (const n of cold.fg.toposort()) console.log(`  ${n.op.destroyMap.size > 0 ? "[in place] " : ""}${n}`);
