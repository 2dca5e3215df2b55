/**
 * Data-parallel training throughput (issue 19): the MLP training step (784-256-10, relu,
 * softmax, cross-entropy, float32) on a global batch of `B` rows split over the ranks, the
 * gradients averaged by `allReduce(g, "mean")` inside the compiled step. Prints samples/s
 * (global rows per second, median step of `steps` after 3 warm-ups) on rank 0, for the step as
 * compiled (on the C backend: the all-reduce inside the generated module) and, on the C
 * backend, for the same step with the all-reduce on the host (`distributed.c_collectives=False`),
 * the two alternating step by step so that a loaded machine slows both alike:
 *   mpirun -np 1 node --import tsx bench/mpi/mlp.ts 512 30; mpirun -np 2 node --import tsx bench/mpi/mlp.ts 512 30
 */
import * as theano from "../../src/index.js";
import type { SharedVariable, TensorVariable } from "../../src/index.js";

const D = theano.distributed;
const T = theano.T;
D.init();
const B = Number(process.argv[2] ?? 512);
const steps = Number(process.argv[3] ?? 30);
const per = B / D.size;
let s = 1234 + D.rank;
const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
const mk = (shape: number[], scale: number, name: string): SharedVariable =>
  theano.shared(theano.array(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * scale), "float32").reshape(shape), { name });
const params = [mk([784, 256], 0.05, "W1"), mk([256], 0, "b1"), mk([256, 10], 0.05, "W2"), mk([10], 0, "b2")];
D.broadcast(params, 0);
const x = T.matrix("x", "float32");
const y = T.vector("y", "int64");
const hidden = T.nnet.relu(T.dot(x, params[0]!).add(params[1]!));
const cost = T.nnet.categoricalCrossentropy(T.nnet.softmax(T.dot(hidden, params[2]!).add(params[3]!)), y).mean();
const grads = theano.grad(cost, params) as TensorVariable[];
const updates = params.map((p, i) => [p, p.sub(D.allReduce(grads[i]!, "mean").mul(0.1))] as [SharedVariable, TensorVariable]);
const step = theano.function([x, y], cost, { updates });
const inC = step.fgraph.toposort().some((n) => n.op instanceof D.AllReduce && n.tag.backend === "c");
const paths: Array<[string, (x: theano.NDArray, y: theano.NDArray) => unknown]> = [[inC ? "all-reduce in C" : "as compiled", step]];
if (inC) paths.push(["all-reduce on the host", theano.config.change({ "distributed.c_collectives": false }, () => theano.function([x, y], cost, { updates }))]);
const xs = theano.array(Array.from({ length: per * 784 }, () => rnd()), "float32").reshape([per, 784]);
const ys = theano.array(Array.from({ length: per }, () => Math.floor((rnd() + 1) * 5) % 10), "int64");
const times = paths.map(() => [] as number[]);
for (let k = -3; k < steps; k++) {
  paths.forEach(([, f], j) => {
    D.barrier();
    const t0 = performance.now();
    f(xs, ys);
    if (k >= 0) times[j]!.push(performance.now() - t0);
  });
}
for (const [j, [name]] of paths.entries()) {
  const ms = times[j]!.sort((a, b) => a - b)[Math.floor(steps / 2)]!;
  if (D.rank === 0) console.log(`MLP 784-256-10 float32, global batch ${B}, ${D.size} process${D.size > 1 ? "es" : ""} (${per} rows each), ${name}: median step ${ms.toFixed(2)} ms, ${Math.round(B / (ms / 1e3))} samples/s`);
}
