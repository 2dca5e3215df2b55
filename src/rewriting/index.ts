/**
 * The rewrite pipeline `theano.function` runs: this module fills Theano's optdb with the
 * engine's standard stages and registers it into src/compile's slot when it loads.
 *
 * optdb (position: entry [tags]):
 *   0     merge1                      [merge, fast_run, fast_compile]
 *   0.5   scan_pushout_non_seqs, scan_pushout_seqs, 0.51 scan_pushout_add, 0.52 scan_pushout_output  [scan, scan_pushout, fast_run] (scan.ts)
 *   0.5   ifelse_lift_common          [ifelse, fast_run] (ifelse.ts)
 *   1     canonicalize (equilibrium)  [fast_run, fast_compile]: constant_folding, local_useless_*
 *   1.2   merge1.2
 *   1.5   stabilize (equilibrium)     [fast_run]
 *   1.6   scan_merge, 1.61 scan_save_mem  [scan, fast_run] (scan.ts)
 *   1.7   blas (equilibrium)          [fast_run, fast_compile]
 *   2     specialize (equilibrium)    [fast_run]: constant_folding, local_useless_*
 *   49    merge2
 *   49    elemwise_fusion             [fusion, local_elemwise_fusion, fast_run]
 *   60    local_inplace_setsubtensor  [inplace, fast_run]
 *   75    inplace_elemwise_optimizer  [inplace, fast_run]
 *   100   merge3
 * The catalogue adds rewriters to the equilibrium stages (registerCanonicalize, ...) and
 * in-place stages with registerInplace (GEMM at 70).
 */

import { registerRewritePipeline } from "../compile/mode.js";
import { constantFolding } from "./constant_folding.js";
import { canonicalize, optdb, presetQuery, rewriteGraph, specialize } from "./engine.js";
import { elemwiseFusion, fuseElemwise } from "./fusion.js";
import { inplaceElemwise, inplaceSetsubtensor } from "./inplace.js";
import { mergeRewriter } from "./merge.js";
import { USELESS } from "./useless.js";
import "./blas.js"; // gemm_optimizer (blas stage), local_inplace_gemm (in-place, 70)
import "./reduce_fusion.js"; // local_careduce_fusion (49.5, after elemwise_fusion)
import "./math.js"; // canonicalize + specialize algebra (local_add_canonizer, local_pow_specialize, ...)
import "./stabilize.js"; // numerical stability (local_log1p, softplus/sigmoid recognition, logsumexp)
import "./sigmoid.js"; // sigmoid algebra over products: the gradients of the hand-written logistic forms
import "./nnet.js"; // softmax_simplifier, local_logsoftmax, local_logsoftmax_grad
import "./ifelse.js"; // ifelse_lift_common (0.5)
import "./scan.js"; // scan_pushout_non_seqs, scan_pushout_seqs (0.5), scan_pushout_add (0.51), scan_pushout_output (0.52), scan_merge (1.6), scan_save_mem (1.61)

optdb.register(mergeRewriter("merge1"), { position: 0 });
canonicalize.register(constantFolding, "canonicalize", "fast_run", "fast_compile");
specialize.register(constantFolding, "specialize", "fast_run", "fast_compile");
for (const r of USELESS) {
  canonicalize.register(r, "canonicalize", "fast_run", "fast_compile");
  specialize.register(r, "specialize", "fast_run", "fast_compile");
}
optdb.register(mergeRewriter("merge1.2"), { position: 1.2 });
optdb.register(mergeRewriter("merge2"), { position: 49 });
optdb.register(elemwiseFusion, { position: 49 });
optdb.register(inplaceSetsubtensor, { position: 60 });
optdb.register(inplaceElemwise, { position: 75 });
optdb.register(mergeRewriter("merge3"), { position: 100 });

registerRewritePipeline((fgraph, query) => {
  rewriteGraph(fgraph, presetQuery(query.optimizer, query.including, query.excluding, query.requiring));
});

export { fuseElemwise };
export * from "./engine.js";
export { constantFolding, FOLDABLE } from "./constant_folding.js";
export { elemwiseFusion } from "./fusion.js";
export { inplaceElemwise, inplaceRewriter, inplaceSetsubtensor, registerInplace } from "./inplace.js";
export type { InplaceCandidate, InplaceSpec } from "./inplace.js";
export { mergeGraph, mergePairs, mergeRewriter } from "./merge.js";
export { USELESS, localUselessDimshuffle, localUselessElemwise, localUselessSpecifyShape } from "./useless.js";
