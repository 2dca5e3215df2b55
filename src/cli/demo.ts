/**
 * `theano-ts demo`: the main job, end to end, through the public API only. A two-layer MLP
 * (relu, softmax + categorical cross-entropy) learns a synthetic 10-class problem by minibatch
 * SGD: symbolic graph, `theano.grad`, shared parameters updated by `theano.function`'s
 * `updates`, the rewrite pipeline and the configured linker. It prints the loss falling, the
 * accuracy, and where the time went, so a new user sees every stage work on their machine.
 *
 * The data come from a fixed random "teacher" network, so the problem is learnable and the run
 * is reproducible (a seeded generator, no downloads).
 */

import type { CliIO } from "./main.js";

type Theano = typeof import("../index.js");

export interface DemoOptions {
  epochs: number;
  batch: number;
  hidden: number;
}

/** A small seeded generator (mulberry32) and Box-Muller normals. */
function rng(seed: number): { uniform(): number; normal(): number } {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
  };
}

const FEATURES = 64;
const CLASSES = 10;
const SAMPLES = 4096;

/** Inputs ~ N(0, 1); labels = argmax of a random linear-tanh-linear teacher. */
function makeData(r: ReturnType<typeof rng>): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(SAMPLES * FEATURES);
  for (let i = 0; i < x.length; i++) x[i] = r.normal();
  const H = 32;
  const a = Float32Array.from({ length: FEATURES * H }, () => r.normal() / Math.sqrt(FEATURES));
  const b = Float32Array.from({ length: H * CLASSES }, () => r.normal() / Math.sqrt(H));
  const y = new Int32Array(SAMPLES);
  const h = new Float32Array(H);
  for (let n = 0; n < SAMPLES; n++) {
    for (let j = 0; j < H; j++) {
      let acc = 0;
      for (let k = 0; k < FEATURES; k++) acc += x[n * FEATURES + k]! * a[k * H + j]!;
      h[j] = Math.tanh(2 * acc);
    }
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let acc = 0;
      for (let j = 0; j < H; j++) acc += h[j]! * b[j * CLASSES + c]!;
      if (acc > bestV) [best, bestV] = [c, acc];
    }
    y[n] = best;
  }
  return { x, y };
}

export async function runDemo(theano: Theano, opts: DemoOptions, io: CliIO): Promise<number> {
  const { T } = theano;
  const r = rng(1234);
  const data = makeData(r);
  const floatX = "float32";
  const init = (rows: number, cols: number): InstanceType<Theano["NDArray"]> => {
    const scale = Math.sqrt(2 / rows);
    return theano.array(Float32Array.from({ length: rows * cols }, () => r.normal() * scale), floatX).reshape([rows, cols]);
  };

  io.out(`theano-ts demo (float32): MLP ${FEATURES}-${opts.hidden}-${CLASSES}, relu + softmax cross-entropy, SGD, batch ${opts.batch}, ${SAMPLES} samples\n`);
  io.out(`linker=${theano.config.linker} optimizer=${theano.config.optimizer}\n`);

  const W1 = theano.shared(init(FEATURES, opts.hidden), { name: "W1" });
  const b1 = theano.shared(theano.zeros([opts.hidden], floatX), { name: "b1" });
  const W2 = theano.shared(init(opts.hidden, CLASSES), { name: "W2" });
  const b2 = theano.shared(theano.zeros([CLASSES], floatX), { name: "b2" });
  const x = T.fmatrix("x");
  const y = T.ivector("y");
  const lr = T.fscalar("lr");

  const hidden = T.relu(T.add(T.dot(x, W1), b1));
  const probs = T.softmax(T.add(T.dot(hidden, W2), b2));
  const loss = T.mean(T.categoricalCrossentropy(probs, y));
  const accuracy = T.mean(T.cast(T.eq(T.argmax(probs, 1), y), floatX));
  const params = [W1, b1, W2, b2];
  const grads = theano.grad(loss, params);

  const t0 = performance.now();
  const train = theano.function([x, y, lr], loss, {
    updates: params.map((p, i) => [p, T.sub(p, T.mul(lr, grads[i]!))] as [typeof p, ReturnType<typeof T.sub>]),
  });
  const evaluate = theano.function([x, y], [loss, accuracy]);
  const compileMs = performance.now() - t0;
  const backend = train.mode.linker().name;
  // A first run builds the C modules (seconds); later runs load them from the compile cache.
  const why = backend === "c" ? "; a first run builds the C modules, later runs load them from the compile cache" : "";
  io.out(`compiled the training step and the evaluation in ${compileMs.toFixed(0)} ms (${backend} backend${why})\n`);

  const X = theano.array(data.x, floatX).reshape([SAMPLES, FEATURES]);
  const Y = theano.array(data.y, "int32");
  const batches = Math.floor(SAMPLES / opts.batch);
  const report = (label: string): { loss: number; acc: number } => {
    const [l, a] = evaluate(X, Y) as [InstanceType<Theano["NDArray"]>, InstanceType<Theano["NDArray"]>];
    const res = { loss: Number(l.get()), acc: Number(a.get()) };
    io.out(`${label.padEnd(9)} loss ${res.loss.toFixed(4)}  accuracy ${(100 * res.acc).toFixed(1)}%\n`);
    return res;
  };
  const first = report("start");
  let stepMs = 0;
  let steps = 0;
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    for (let b = 0; b < batches; b++) {
      const xb = X.slice([b * opts.batch, (b + 1) * opts.batch]);
      const yb = Y.slice([b * opts.batch, (b + 1) * opts.batch]);
      const s = performance.now();
      train(xb, yb, 0.1);
      stepMs += performance.now() - s;
      steps++;
    }
    if (epoch === opts.epochs || epoch % Math.max(1, Math.floor(opts.epochs / 5)) === 0) report(`epoch ${epoch}`);
  }
  const last = report("final");
  io.out(`${steps} training steps, ${(stepMs / Math.max(1, steps)).toFixed(3)} ms per step\n`);
  if (!(last.loss < first.loss)) {
    io.err("theano-ts demo: the loss did not fall; something is wrong with this installation\n");
    return 1;
  }
  return 0;
}

/** Parses `--epochs N --batch N --hidden N`; throws a message for the usage error. */
export function parseDemoArgs(args: readonly string[]): DemoOptions {
  const opts: DemoOptions = { epochs: 10, batch: 128, hidden: 128 };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const key = flag.replace(/^--/, "");
    if (!flag.startsWith("--") || !(key in opts)) throw new Error(`unknown demo option "${flag}"; the options are --epochs, --batch, --hidden`);
    const value = Number(args[++i]);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} needs a positive integer, got ${args[i] ?? "nothing"}`);
    opts[key as keyof DemoOptions] = value;
  }
  if (opts.batch > SAMPLES) throw new Error(`--batch may be at most ${SAMPLES}`);
  return opts;
}
