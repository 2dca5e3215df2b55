/**
 * Run under mpirun by c_collectives.test.ts and mpich.test.ts: allGather compiled on the C linker
 * with the collective inside the generated module (`distributed.c_collectives`, the default)
 * and on the host (False), for float64, float32 and int32: along axis 0 of a vector, along axis
 * 1 of a matrix (the ranks' blocks interleaved), of a transposed (strided) view, and the
 * gradient of a cost through a gather. Rank r holds x = [[r, 10 + r, 20 + r], [30 + r, 40 + r,
 * 50 + r]]. Prints `PLACE {...}` (where each AllGather node runs) and `RESULT {...}` per rank,
 * dtype and path.
 */
import * as theano from "../../src/index.js";
import type { Apply } from "../../src/graph/basic.js";
import { AllGather } from "../../src/distributed/index.js";

const D = theano.distributed;
const T = theano.T;
D.init({ timeoutS: 60 });

for (const dtype of ["float64", "float32", "int32"] as const) {
  const x = T.matrix("x", dtype);
  const value = theano.array([0, 10, 20, 30, 40, 50].map((v) => v + D.rank), dtype).reshape([2, 3]);
  for (const inC of [true, false]) {
    const outs = [D.allGather(x.flatten(), 0), D.allGather(x, 1), D.allGather(x.T, 0), D.allGather(x, 0)];
    if (dtype !== "int32") {
      // d/dx of sum(gather(x, 1) * w), w the same on every rank: every rank's gradient summed, this rank's columns
      const w = T.cast(T.arange(3 * D.size), dtype).reshape([1, 3 * D.size]);
      outs.push(theano.grad(T.sum(D.allGather(x, 1).mul(w)), x) as theano.TensorVariable);
    }
    const f = theano.config.change({ linker: "c", "distributed.c_collectives": inC }, () => theano.function([x], outs));
    const place = f.fgraph.toposort().filter((n: Apply) => n.op instanceof AllGather).map((n: Apply) => String(n.tag.backend));
    console.log(`PLACE ${JSON.stringify({ rank: D.rank, size: D.size, dtype, inC, place })}`);
    const res = f(value) as theano.NDArray[];
    console.log(`RESULT ${JSON.stringify({ rank: D.rank, size: D.size, dtype, inC, out: res.map((r) => ({ shape: r.shape, values: Array.from(r.toFlat() as ArrayLike<number>, Number) })) })}`);
  }
}
