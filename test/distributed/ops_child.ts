/**
 * Run under mpirun by mpi.test.ts: the collectives' values and gradients on every rank, printed
 * as one `OPS {...}` JSON line per rank. Rank r holds x = [r + 1, 10 r, -r].
 */
import * as theano from "../../src/index.js";

const D = theano.distributed;
const T = theano.T;
D.init({ timeoutS: process.argv[2] === "stuck" ? 2 : 60 });
if (process.argv[2] === "stuck") {
  // Rank 1 is alive but does not come (a rank stuck, or dead on another host): the deadline.
  if (D.rank === 1) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
  try {
    D.barrier();
  } catch (e) {
    console.log(`CAUGHT rank ${D.rank} ${(e as Error).name}: ${(e as Error).message}`);
  }
  process.exit(0);
}
if (process.argv[2] === "mismatch") {
  // Rank 1 gives a longer vector, then calls a different collective: every rank raises, and the
  // world stays usable (the barrier after each passes).
  const v = T.vector("v");
  const sum = theano.function([v], D.allReduce(v, "sum"));
  const max = theano.function([v], D.allReduce(v, "max"));
  for (const attempt of [() => sum(D.rank === 1 ? [1, 2, 3, 4] : [1, 2, 3]), () => (D.rank === 1 ? max : sum)([1, 2, 3])]) {
    try {
      attempt();
      console.log(`NO ERROR rank ${D.rank}`);
    } catch (e) {
      console.log(`CAUGHT rank ${D.rank} ${(e as Error).name}: ${(e as Error).message.split("\n")[0]}`);
    }
    D.barrier();
  }
  console.log(`DONE rank ${D.rank} ${JSON.stringify(sum([D.rank, 1]).toArray())}`);
  process.exit(0);
}
const x = T.vector("x");
const v = theano.array([D.rank + 1, 10 * D.rank, -D.rank]);
const outs = {
  sum: D.allReduce(x, "sum"),
  mean: D.allReduce(x, "mean"),
  max: D.allReduce(x, "max"),
  min: D.allReduce(x, "min"),
  gather: D.allGather(x),
  gather1: D.allGather(x.reshape([1, 3]), 1),
};
const w = theano.array([1, 2, 3]);
// Every rank's cost is w . out (out the same on every rank): its gradient w.r.t. this rank's x.
const grads = {
  sum: theano.grad(T.dot(outs.sum, w), x),
  mean: theano.grad(T.dot(outs.mean, w), x),
  max: theano.grad(T.dot(outs.max, w), x),
  gather: theano.grad(T.dot(outs.gather, T.tile(w, [D.size]).mul(D.rank + 1)), x),
};
const names = [...Object.keys(outs), ...Object.keys(grads).map((k) => `d${k}`)];
const f = theano.function([x], [...Object.values(outs), ...Object.values(grads)]);
const res = f(v) as theano.NDArray[];
const t = theano.shared(theano.array([D.rank * 1.5, 7], "float64"), { name: "t" });
D.broadcast([t], D.size - 1);
D.barrier();
console.log(`OPS ${JSON.stringify({ rank: D.rank, size: D.size, localRank: D.localRank, info: D.info(), t: t.getValue().toArray(), ...Object.fromEntries(names.map((n, i) => [n, res[i]!.toArray()])) })}`);
