/**
 * Run under mpirun by c_collectives.test.ts: one data-parallel SGD step (an MLP 6 -> 5 tanh -> 1
 * sigmoid on the rank's rows; gradients averaged by allReduce(mean) inside the compiled step;
 * one more all-reduce of a transposed, non-contiguous view) compiled on the C linker twice:
 * with the all-reduce in the generated module (`distributed.c_collectives`, the default) and
 * as host nodes between C segments (False). Prints per rank, dtype and path `PLACE {...}` (where
 * each AllReduce node runs) and `RESULT {...}` (the parameters after STEPS steps, exact).
 *
 * argv: [exit|kill|stuck, step]: only the in-C step runs, and rank 1 leaves at that step
 * (process.exit(3), or SIGKILL) or stops coming (sleeps 30 s; init's timeoutS is then 2 s); the
 * others print what their next step raised (`CAUGHT ...`).
 */
import * as theano from "../../src/index.js";
import type { SharedVariable, TensorVariable } from "../../src/index.js";
import type { Apply } from "../../src/graph/basic.js";
import { AllReduce } from "../../src/distributed/index.js";

const D = theano.distributed;
const T = theano.T;
const [leave, leaveAt] = [process.argv[2], Number(process.argv[3] ?? 5)];
D.init({ timeoutS: leave === "stuck" ? 2 : 60 });

const ROWS = 4;
const STEPS = 12;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

type Dt = "float64" | "float32";

function build(dtype: Dt, inC: boolean): { step: (x: theano.NDArray, y: theano.NDArray) => unknown; params: SharedVariable[]; place: string[] } {
  const g = lcg(7);
  const mk = (shape: number[], name: string): SharedVariable => theano.shared(theano.array(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => g() * 0.5), dtype).reshape(shape), { name });
  const params = [mk([6, 5], "W1"), mk([5], "b1"), mk([5, 1], "W2"), mk([1], "b2")];
  const x = T.matrix("x", dtype);
  const y = T.vector("y", dtype);
  const h = T.tanh(T.dot(x, params[0]!).add(params[1]!));
  const out = T.nnet.sigmoid(T.dot(h, params[2]!).add(params[3]!)).flatten();
  const cost = T.nnet.binaryCrossentropy(out, y).mean();
  const grads = theano.grad(cost, params) as TensorVariable[];
  const updates = params.map((p, i) => [p, p.sub(T.cast(D.allReduce(grads[i]!, "mean").mul(0.5), dtype))] as [SharedVariable, TensorVariable]);
  // a strided input: the sum of every rank's W1ᵀ, folded back into W1's update
  const wT = D.allReduce((params[0]! as unknown as TensorVariable).T, "sum").T;
  updates[0] = [params[0]!, updates[0]![1].sub(T.cast(wT.mul(1e-3), dtype))];
  const step = theano.config.change({ linker: "c", "distributed.c_collectives": inC }, () => theano.function([x, y], [], { updates }));
  const place = step.fgraph.toposort().filter((n: Apply) => n.op instanceof AllReduce).map((n: Apply) => String(n.tag.backend));
  return { step, params, place };
}

const g = lcg(100 + D.rank);
for (const dtype of ["float64", "float32"] as const) {
  const xs = theano.array(Array.from({ length: ROWS }, () => Array.from({ length: 6 }, () => g())), dtype);
  const ys = theano.array(Array.from({ length: ROWS }, () => (g() > 0 ? 1 : 0)), dtype);
  for (const inC of leave ? [true] : [true, false]) {
    const { step, params, place } = build(dtype, inC);
    console.log(`PLACE ${JSON.stringify({ rank: D.rank, size: D.size, dtype, inC, place })}`);
    try {
      for (let s = 0; s < STEPS; s++) {
        if (leave && D.rank === 1 && s === leaveAt) {
          if (leave === "kill") process.kill(process.pid, "SIGKILL");
          if (leave === "stuck") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
          else process.exit(3);
        }
        step(xs, ys);
      }
    } catch (e) {
      console.log(`CAUGHT rank ${D.rank} ${(e as Error).name}: ${(e as Error).message.split("\n")[0]}`);
      process.exit(0);
    }
    console.log(`RESULT ${JSON.stringify({ rank: D.rank, size: D.size, dtype, inC, params: params.map((p) => Array.from(p.getValue().toFlat() as Float64Array, Number)) })}`);
  }
}
