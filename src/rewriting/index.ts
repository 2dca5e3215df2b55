/**
 * The rewrite pipeline `theano.function` runs (registered into src/compile's slot when this
 * module loads). For now it holds elementwise fusion (tag `fusion`, in `fast_run`); the
 * rewriting issue adds the engine, databases and Theano's catalogue.
 */

import { registerRewritePipeline } from "../compile/mode.js";
import { fuseElemwise } from "./fusion.js";

const FUSION_NAMES = ["fusion", "elemwise_fusion", "local_elemwise_fusion"];

registerRewritePipeline((fgraph, query) => {
  const wantsFusion = query.optimizer === "fast_run" || query.including.some((t) => FUSION_NAMES.includes(t));
  if (wantsFusion && !query.excluding.some((t) => FUSION_NAMES.includes(t))) fuseElemwise(fgraph);
});

export { fuseElemwise };
