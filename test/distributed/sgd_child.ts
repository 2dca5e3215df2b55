/**
 * Run under mpirun by sgd.test.ts: 20 SGD steps of a small MLP (5 -> 4 tanh -> 1 sigmoid) on a
 * global batch of 16 rows, each rank on its shard, gradients summed with `allReduce` inside the
 * compiled function; rank 0's random initial parameters reach the others by `broadcast`. Prints
 * one JSON line per rank and dtype: `RESULT {...}` with the parameters (exact: float32 values
 * are exact doubles). Rank 0 of a 1-process run also prints the references: the per-shard
 * gradients of 2 and 4 shards summed in the order MPI_Allreduce uses (`REF {...}`).
 *
 * argv: [exitAtStep] — with it, rank 1 leaves at that step (`exit`: process.exit(3), `kill`:
 * SIGKILL) and the others print what the next collective raised.
 */
import * as theano from "../../src/index.js";
import type { SharedVariable, TensorVariable } from "../../src/index.js";

const D = theano.distributed;
const T = theano.T;
const [leave, leaveAt] = [process.argv[2], Number(process.argv[3] ?? 5)];
D.init({ timeoutS: 60 });

const N = 16;
const STEPS = 20;
const LR = 0.5;

/** A deterministic generator (the data and rank 0's initial parameters). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const rnd = lcg(42);
const X = Array.from({ length: N }, () => Array.from({ length: 5 }, () => rnd()));
const Y = X.map((r) => (r[0]! + 0.5 * r[1]! - r[2]! * r[3]! > 0 ? 1 : 0));

type Dt = "float64" | "float32";

function params(dtype: Dt): SharedVariable[] {
  // Rank 0's values; the others start from garbage that broadcast must replace.
  const g = lcg(7);
  const mk = (shape: number[], name: string): SharedVariable => {
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = Array.from({ length: n }, () => (D.rank === 0 ? g() * 0.5 : 100 + D.rank));
    return theano.shared(theano.array(vals, dtype).reshape(shape), { name });
  };
  return [mk([5, 4], "W1"), mk([4], "b1"), mk([4, 1], "W2"), mk([1], "b2")];
}

/** The summed (over the shard's rows) cross-entropy divided by the global batch size. */
function shardCost(p: SharedVariable[], x: TensorVariable, y: TensorVariable): TensorVariable {
  const [W1, W2, b1, b2] = [p[0]!, p[2]!, p[1]!, p[3]!];
  const h = T.tanh(T.dot(x, W1).add(b1));
  const out = T.nnet.sigmoid(T.dot(h, W2).add(b2)).flatten();
  return T.nnet.binaryCrossentropy(out, y).sum().div(N);
}

function rows(lo: number, hi: number, dtype: Dt): [theano.NDArray, theano.NDArray] {
  return [theano.array(X.slice(lo, hi), dtype), theano.array(Y.slice(lo, hi), dtype)];
}

const dump = (p: SharedVariable[]): number[][] => p.map((v) => Array.from(v.getValue().toFlat() as Float64Array, Number));

for (const dtype of ["float64", "float32"] as const) {
  const p = params(dtype);
  D.broadcast(p, 0);
  const x = T.matrix("x", dtype);
  const y = T.vector("y", dtype);
  const grads = theano.grad(shardCost(p, x, y), p) as TensorVariable[];
  const step = theano.function([x, y], [], {
    updates: p.map((v, i) => [v, v.sub(T.cast(D.allReduce(grads[i]!, "sum").mul(LR), dtype))] as [SharedVariable, TensorVariable]),
  });
  // The gradients are dead after the all-reduce: each is reduced in place (MPI_IN_PLACE).
  const text = theano.debugprint(step, { print: false });
  console.log(`INPLACE ${JSON.stringify({ rank: D.rank, dtype, inplace: text.match(/AllReduce\{op=sum, inplace=true\}/g)?.length ?? 0, all: text.match(/AllReduce\{/g)?.length ?? 0 })}`);
  const per = N / D.size;
  const [xs, ys] = rows(D.rank * per, (D.rank + 1) * per, dtype);
  try {
    for (let s = 0; s < STEPS; s++) {
      if (leave && D.rank === 1 && s === leaveAt) {
        if (leave === "kill") process.kill(process.pid, "SIGKILL");
        process.exit(3);
      }
      step(xs, ys);
    }
  } catch (e) {
    console.log(`CAUGHT rank ${D.rank} ${(e as Error).name}: ${(e as Error).message}`);
    process.exit(0);
  }
  console.log(`RESULT ${JSON.stringify({ rank: D.rank, size: D.size, dtype, params: dump(p) })}`);

  if (D.size === 1) {
    // References on one process: each shard's gradient by the same graph without allReduce,
    // summed as MPI_Allreduce sums them for that many processes.
    for (const shards of [2, 4]) {
      const q = params(dtype);
      const add = (a: theano.NDArray[], b: theano.NDArray[]): theano.NDArray[] => a.map((g, i) => theano.array(Array.from(g.toFlat() as Float64Array, (v, k) => v + (b[i]!.toFlat()[k] as number)), dtype).reshape(g.shape));
      const qstep = theano.function([x, y], theano.grad(shardCost(q, x, y), q) as TensorVariable[]);
      for (let s = 0; s < STEPS; s++) {
        const g = Array.from({ length: shards }, (_, k) => qstep(...rows((k * N) / shards, ((k + 1) * N) / shards, dtype)) as theano.NDArray[]);
        const sum = shards === 2 ? add(g[0]!, g[1]!) : add(add(g[0]!, g[1]!), add(g[2]!, g[3]!));
        q.forEach((v, i) => v.setValue(theano.array(Array.from(v.getValue().toFlat() as Float64Array, (w, k) => w - (sum[i]!.toFlat()[k] as number) * LR), dtype).reshape(v.getValue().shape)));
      }
      console.log(`REF ${JSON.stringify({ shards, dtype, params: dump(q) })}`);
    }
  }
}
