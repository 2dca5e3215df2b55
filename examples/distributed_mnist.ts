/**
 * Data-parallel training over MPI with `theano.distributed.DataParallel`: the tanh MLP of
 * mlp.ts on MNIST, run as N processes by `mpirun`. Every process holds the whole dataset and the
 * same model; each step deals one global batch to the processes (rank r takes every N-th digit
 * of it), each computes the gradient of its part, and one all-reduce inside the compiled step
 * averages every gradient at once before the momentum update. So N processes train the network
 * one process would train with the same global batch, to rounding. Rank 0's initial weights are
 * broadcast; rank 0 alone prints and writes the checkpoint at the end, and `--resume` continues
 * from it (the same samples and updates as a run that was never stopped).
 *
 *   mpirun -np 2 --oversubscribe npx tsx examples/distributed_mnist.ts --quick
 *   mpirun -np 4 --oversubscribe npx tsx examples/distributed_mnist.ts --epochs 5
 *   mpirun -np 2 --oversubscribe npx tsx examples/distributed_mnist.ts --quick --epochs 2
 *   mpirun -np 2 --oversubscribe npx tsx examples/distributed_mnist.ts --quick --resume   # epoch 3
 *   npx tsx examples/distributed_mnist.ts --quick       # one process (MPI started as a singleton)
 *
 * (As root, mpirun also wants --allow-run-as-root.)
 */

import { tmpdir } from "node:os";
import { join } from "node:path";
import * as theano from "../src/index.js";
import { checkLossDropped, fill, mnist, ownFlags, parseArgs, rng, timed } from "./util.js";

const { T } = theano;
const D = theano.distributed;

const usage = "The MLP of mlp.ts trained on N processes: mpirun -np N npx tsx examples/distributed_mnist.ts [--resume]";
const { rest, values } = ownFlags(process.argv.slice(2), { "--resume": "switch" }, usage);
const args = parseArgs(rest, usage);
const epochs = args.epochs ?? (args.quick ? 3 : 10);
const checkpoint = join(tmpdir(), "theano-ts-distributed-mnist.npz");

// First, before compiling anything: each process then gets its share of the cores for OpenMP.
D.init();
const say = (text: string): void => void (D.rank === 0 && console.log(text));

const [data, loadS] = timed(() => mnist(args.quick ? { train: 10000, valid: 2000, test: 2000 } : undefined));
say(`rank 0 of ${D.size}: ${data.train.n} training digits loaded in ${loadS.toFixed(1)} s`);

// The model: 784 -> 500 tanh -> 10 softmax (Glorot-uniform weights, drawn by every rank; rank 0's are broadcast).
const r = rng(args.seed);
const glorot = (nIn: number, nOut: number, name: string): theano.SharedVariable => {
  const bound = Math.sqrt(6 / (nIn + nOut));
  return theano.shared(fill([nIn, nOut], () => (2 * r.uniform() - 1) * bound), { name });
};
const hidden = args.quick ? 128 : 500;
const W1 = glorot(784, hidden, "W1");
const b1 = theano.shared(theano.zeros([hidden], "float32"), { name: "b1" });
const W2 = glorot(hidden, 10, "W2");
const b2 = theano.shared(theano.zeros([10], "float32"), { name: "b2" });
const x = T.fmatrix("x");
const y = T.ivector("y");
const probs = T.softmax(T.add(T.dot(T.tanh(T.add(T.dot(x, W1), b1)), W2), b2));
const loss = T.mean(T.categoricalCrossentropy(probs, y)); // a mean over the batch, as DataParallel wants
const accuracy = T.mean(T.cast(T.eq(T.argmax(probs, 1), y), "float32"));

const dp = new D.DataParallel({
  params: [W1, b1, W2, b2],
  inputs: [x, y],
  loss,
  data: [data.train.x, data.train.y],
  batchSize: 100, // the global batch: 100 / N digits on each process
  optimizer: { kind: "momentum", lr: 0.1, momentum: 0.9 },
  shuffle: args.seed,
  metrics: { accuracy },
});
say(`${D.size} process${D.size > 1 ? "es" : ""}, ${dp.localBatch} digits each a step, ${dp.stepsPerEpoch} steps an epoch; the step's graph hash ${dp.graphHash} agreed on every rank`);
if (values.resume) {
  dp.load(checkpoint);
  say(`resumed from ${checkpoint} at step ${dp.stepCount} (epoch ${dp.epochNumber + 1})`);
}

const validate = theano.function([x, y], T.mean(T.neq(T.argmax(probs, 1), y)));
let first = NaN;
let last = NaN;
while (dp.epochNumber < epochs) {
  const t0 = performance.now();
  const { loss: l, metrics } = dp.epoch();
  if (Number.isNaN(first)) first = l;
  last = l;
  // Rank 0 alone validates and reports; the others go on and wait for it in the next step.
  if (D.rank !== 0) continue;
  const err = Number((validate(data.valid.x, data.valid.y) as theano.NDArray).get());
  say(`epoch ${dp.epochNumber}/${epochs}: training loss ${l.toFixed(4)}, accuracy ${(100 * metrics.accuracy!).toFixed(2)}%, validation error ${(100 * err).toFixed(2)}%, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
dp.save(checkpoint); // rank 0 writes; every rank returns once it is there
say(`checkpoint: ${checkpoint} (params, momentum velocities, step ${dp.stepCount})`);
if (D.rank === 0 && !values.resume) checkLossDropped("distributed_mnist", first, last);
