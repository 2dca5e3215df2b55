/**
 * The rewrite pipeline `theano.function` runs (registered into src/compile's slot when this
 * module loads). For now it holds constant folding of elementwise/dimshuffle nodes (tag
 * `constant_folding`) and elementwise fusion (tag `fusion`), both in `fast_run`; the rewriting
 * issue adds the engine, databases and Theano's catalogue.
 */

import { registerRewritePipeline } from "../compile/mode.js";
import { foldConstants } from "./constant_folding.js";
import { fuseElemwise } from "./fusion.js";

const FUSION_NAMES = ["fusion", "elemwise_fusion", "local_elemwise_fusion"];

const FOLD_NAMES = ["constant_folding", "topo_constant_folding"];

registerRewritePipeline((fgraph, query) => {
  const fastRun = query.optimizer === "fast_run";
  const wantsFold = fastRun || query.optimizer === "fast_compile" || query.including.some((t) => FOLD_NAMES.includes(t));
  if (wantsFold && !query.excluding.some((t) => FOLD_NAMES.includes(t))) foldConstants(fgraph);
  const wantsFusion = query.optimizer === "fast_run" || query.including.some((t) => FUSION_NAMES.includes(t));
  if (wantsFusion && !query.excluding.some((t) => FUSION_NAMES.includes(t))) fuseElemwise(fgraph);
});

export { foldConstants, fuseElemwise };
