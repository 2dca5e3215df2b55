/**
 * Run under mpirun by data_parallel.test.ts: `DataParallel` training a small MLP
 * (5 -> 4 tanh -> 1 sigmoid, mean cross-entropy) on 37 samples, global batch 8 (4 steps an
 * epoch, 5 samples left out of each), strided shards, shuffled each epoch, momentum 0.9. Rank 0's
 * random initial parameters reach the others by the broadcast in the constructor (the others
 * start from garbage). Prints JSON lines the test parses.
 *
 * argv[2]:
 *   equal            20 steps in float64 and float32: `RESULT {rank, size, dtype, params, losses}`
 *                    and `ALLREDUCE {count}` (the AllReduce nodes of the compiled step)
 *   ckpt PATH        20 steps, a checkpoint at step 10: `FULL {rank, params}`
 *   resume PATH      other initial parameters, load PATH, 10 steps: `RESUMED {rank, step, params}`
 *   mismatch         bad configurations (`CAUGHT ...` each), then rank 1 builds another loss:
 *                    every rank prints what the constructor raised
 */
import * as theano from "../../src/index.js";
import type { SharedVariable, TensorVariable } from "../../src/index.js";

const D = theano.distributed;
const T = theano.T;
const [mode, path] = [process.argv[2], process.argv[3]];
D.init({ timeoutS: 60 });

const N = 37;
const BATCH = 8;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const rnd = lcg(42);
const X = Array.from({ length: N }, () => Array.from({ length: 5 }, () => rnd()));
const Y = X.map((r) => (r[0]! + 0.5 * r[1]! - r[2]! * r[3]! > 0 ? 1 : 0));

type Dt = "float64" | "float32";

function model(dtype: Dt, seed = 7, extra = false): { dp: theano.distributed.DataParallel; p: SharedVariable[] } {
  const g = lcg(seed);
  const mk = (shape: number[], name: string): SharedVariable => {
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = Array.from({ length: n }, () => (D.rank === 0 ? g() * 0.5 : 100 + D.rank));
    return theano.shared(theano.array(vals, dtype).reshape(shape), { name });
  };
  const p = [mk([5, 4], "W1"), mk([4], "b1"), mk([4, 1], "W2"), mk([1], "b2")];
  const [W1, b1, W2, b2] = p as [SharedVariable, SharedVariable, SharedVariable, SharedVariable];
  const x = T.matrix("x", dtype);
  const y = T.vector("y", dtype);
  const out = T.nnet.sigmoid(T.dot(T.tanh(T.dot(x, W1).add(b1)), W2).add(b2)).flatten();
  let loss = T.nnet.binaryCrossentropy(out, y).mean();
  if (extra) loss = loss.add(T.sum(T.sqr(W1)).mul(1e-3));
  const accuracy = T.mean(T.cast(T.eq(T.gt(out, 0.5), y), dtype));
  const dp = new D.DataParallel({
    params: p,
    inputs: [x, y],
    loss,
    data: [theano.array(X, dtype), theano.array(Y, dtype)],
    batchSize: BATCH,
    optimizer: { kind: "momentum", lr: (s) => 0.5 / (1 + 0.05 * s), momentum: 0.9 },
    shuffle: 11,
    metrics: { accuracy },
  });
  return { dp, p };
}

const dump = (p: readonly SharedVariable[]): number[][] => p.map((v) => Array.from(v.getValue().toFlat() as Float64Array, Number));
const say = (tag: string, o: object): void => console.log(`${tag} ${JSON.stringify({ rank: D.rank, size: D.size, ...o })}`);

if (mode === "equal") {
  for (const dtype of ["float64", "float32"] as const) {
    const { dp, p } = model(dtype);
    const text = theano.debugprint(dp.train, { print: false });
    // Each line of an AllReduce node names it with its id; the distinct ids are the nodes.
    const ids = new Set([...text.matchAll(/AllReduce\{[^}]*\} \[id (\w+)\]/g)].map((m) => m[1]));
    const nodes = dp.train.fgraph.toposort().filter((n) => n.op instanceof D.AllReduce).map((n) => String(n.op));
    say("ALLREDUCE", { dtype, ids: ids.size, nodes, hash: dp.graphHash });
    const losses: number[] = [];
    for (let s = 0; s < 20; s++) losses.push(dp.step().loss);
    say("RESULT", { dtype, params: dump(p), losses, steps: dp.stepCount });
  }
} else if (mode === "ckpt") {
  const { dp, p } = model("float32");
  for (let s = 0; s < 20; s++) {
    if (s === 10) dp.save(path!);
    dp.step();
  }
  say("FULL", { params: dump(p) });
} else if (mode === "resume") {
  const { dp, p } = model("float32", 99);
  dp.load(path!);
  const at = dp.stepCount;
  while (dp.stepCount < 20) dp.step();
  say("RESUMED", { step: at, params: dump(p) });
} else if (mode === "mismatch") {
  const caught = (what: string, f: () => unknown): void => {
    try {
      f();
      console.log(`NOERROR rank ${D.rank} ${what}`);
    } catch (e) {
      console.log(`CAUGHT rank ${D.rank} ${what} ${(e as Error).name}: ${(e as Error).message}`);
    }
  };
  const x = T.matrix("x");
  const W = theano.shared(theano.zeros([5, 1]), { name: "W" });
  const loss = T.mean(T.dot(x, W));
  const base = { params: [W], inputs: [x], loss, data: [theano.array(X)], batchSize: 8, optimizer: { kind: "sgd", lr: 0.1 } } as const;
  caught("odd-batch", () => new D.DataParallel({ ...base, batchSize: 7 }));
  caught("big-batch", () => new D.DataParallel({ ...base, batchSize: 40 }));
  caught("dtype", () => new D.DataParallel({ ...base, data: [theano.array(X, "float32")] }));
  caught("vector-loss", () => new D.DataParallel({ ...base, loss: T.dot(x, W).flatten() as TensorVariable }));
  caught("momentum", () => new D.DataParallel({ ...base, optimizer: { kind: "momentum", lr: 0.1, momentum: 1.5 } }));
  caught("graph", () => model("float64", 7, D.rank === 1));
  console.log(`DONE rank ${D.rank}`);
}
