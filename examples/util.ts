/**
 * What the tutorial examples in this folder share, so no two of them carry their own copy: the
 * command line (`--quick`, `--epochs N`, `--seed N`), the "did the loss fall" check that makes
 * `--quick` a smoke test (exit 1 otherwise), timing, a seeded generator for initial weights,
 * MNIST as the deeplearning.net tutorials split it (50,000 training, 10,000 validation
 * and 10,000 test digits, pixels as float32 in [0, 1]) kept in shared variables, the tutorials'
 * minibatch `givens`, and their epoch loop.
 *
 * Like the examples, it uses only the library's public API (`import * as theano from
 * "../src/index.js"`), plus the demo's MNIST reader and seeded generator (src/cli/).
 */

import { pathToFileURL } from "node:url";
import * as theano from "../src/index.js";
import { rng as demoRng } from "../src/cli/demo.js";
import { imagesToFloat32, loadMnist, type MnistSplit } from "../src/cli/mnist.js";

export interface ExampleArgs {
  /** A short run on a subset (a smoke test: seconds, exits 1 unless the loss fell). */
  quick: boolean;
  /** `--epochs N`; undefined: the example's own default for the mode. */
  epochs?: number;
  /** `--seed N` (default 1234): initial weights, random streams, whatever else the example draws. */
  seed: number;
}

/**
 * Parses `--quick`, `--epochs N`, `--seed N` and `--help` from `argv` (default: this process's
 * arguments). A bad or unknown flag prints the usage and exits 2; `--help` prints it and exits 0.
 * `usage` is the example's one-paragraph description, printed above the options.
 */
export function parseArgs(argv: readonly string[] = process.argv.slice(2), usage = ""): ExampleArgs {
  const help =
    (usage ? `${usage}\n\n` : "") +
    "Options:\n" +
    "  --quick      a short run on a subset (seconds); exits 1 unless the training loss fell\n" +
    "  --epochs N   passes over the training set (default: the example's own)\n" +
    "  --seed N     seed of the initial weights and the random streams (default 1234)\n";
  const fail = (msg: string): never => {
    process.stderr.write(`${msg}\n\n${help}`);
    process.exit(2);
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === "" || !Number.isInteger(n) || n < min) fail(`${flag} needs an integer >= ${min}, got ${v ?? "nothing"}`);
    return n;
  };
  const args: ExampleArgs = { quick: false, seed: 1234 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case "--quick":
        args.quick = true;
        break;
      case "--epochs":
        args.epochs = int(flag, argv[++i], 1);
        break;
      case "--seed":
        args.seed = int(flag, argv[++i], 0);
        break;
      case "--help":
      case "-h":
        process.stdout.write(help);
        process.exit(0);
      default:
        fail(`unknown option "${flag}"`);
    }
  }
  return args;
}

/** How `ownFlags` reads one of an example's own flags: a positive integer, a positive number, a switch or a string. */
export type FlagKind = "int" | "number" | "switch" | "string";

/**
 * Takes an example's own flags (`spec`: flag → kind, e.g. `{ "--hidden": "int" }`) out of `argv`,
 * leaving the rest for `parseArgs`. Values come back under the flag's name without dashes; a
 * switch is true when given. A missing or non-positive value prints `usage` and exits 2.
 */
export function ownFlags(argv: readonly string[], spec: Readonly<Record<string, FlagKind>>, usage: string): { rest: string[]; values: Record<string, number | string | boolean> } {
  const rest: string[] = [];
  const values: Record<string, number | string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const kind = spec[flag];
    const key = flag.replace(/^--/, "");
    if (kind === undefined) rest.push(flag);
    else if (kind === "switch") values[key] = true;
    else if (kind === "string") values[key] = argv[++i] ?? "";
    else {
      const v = Number(argv[++i]);
      if (!(v > 0) || (kind === "int" && !Number.isInteger(v))) {
        process.stderr.write(`${flag} needs a positive ${kind === "int" ? "integer" : "number"}, got ${argv[i] ?? "nothing"}\n\n${usage}\n`);
        process.exit(2);
      }
      values[key] = v;
    }
  }
  return { rest, values };
}

/**
 * The smoke test of `--quick`: `first` and `last` are the mean training loss over the first and
 * the last epoch (or window of minibatches). Prints the verdict; exits 1 unless the loss fell.
 */
export function checkLossDropped(name: string, first: number, last: number): void {
  if (Number.isFinite(first) && Number.isFinite(last) && last < first) {
    console.log(`${name}: OK, the training loss fell from ${first.toFixed(4)} to ${last.toFixed(4)}`);
    return;
  }
  console.error(`${name}: FAILED, the training loss did not fall (first ${first}, last ${last})`);
  process.exit(1);
}

/** Runs `fn` and returns its result and the wall time it took, in seconds. */
export function timed<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const result = fn();
  return [result, (performance.now() - start) / 1000];
}

/** A small seeded generator (mulberry32): uniforms in [0, 1), Box-Muller normals, integers. */
export interface Rng {
  uniform(): number;
  normal(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

/** The demo's seeded generator (mulberry32 uniforms, Box-Muller normals): the examples draw their initial weights from it. */
export const rng: (seed: number) => Rng = demoRng;

/** A float32 array of `shape` filled by `f` (e.g. the tutorials' uniform initialisations). */
export function fill(shape: number[], f: () => number): theano.NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return new theano.NDArray("float32", shape, Float32Array.from({ length: n }, f));
}

/** One MNIST split: `x` float32 `[n, 784]` in [0, 1], `y` int32 labels `[n]`. */
export interface Digits {
  x: theano.NDArray;
  y: theano.NDArray;
  n: number;
}

/**
 * MNIST as the tutorials split it: the first 50,000 training digits train, the last 10,000
 * validate, and the 10,000 test digits test. `limit` caps each split (the `--quick` subsets).
 */
export function mnist(limit?: { train: number; valid: number; test: number }): { train: Digits; valid: Digits; test: Digits } {
  const data = loadMnist();
  const take = (split: MnistSplit, start: number, count: number): Digits => {
    const features = split.rows * split.cols;
    const index = Int32Array.from({ length: count }, (_, i) => start + i);
    const x = new Float32Array(count * features);
    imagesToFloat32(split, index, x);
    const y = split.labels.slice(start, start + count);
    return { x: new theano.NDArray("float32", [count, features], x), y: new theano.NDArray("int32", [count], y), n: count };
  };
  const nTrain = Math.min(limit?.train ?? 50000, 50000);
  return {
    train: take(data.train, 0, nTrain),
    valid: take(data.train, 50000, Math.min(limit?.valid ?? 10000, 10000)),
    test: take(data.test, 0, Math.min(limit?.test ?? 10000, 10000)),
  };
}

/**
 * The per-epoch line every example prints. `valid` is an error rate (a fraction, printed as a
 * percentage) or, with `validKind: "cost"`, a loss on the validation set (an unsupervised model).
 */
export function epochLine(epoch: number, epochs: number, loss: number, valid: number, seconds: number, validKind: "error" | "cost" = "error"): string {
  const v = validKind === "error" ? `validation error ${(100 * valid).toFixed(2)}%` : `validation cost ${valid.toFixed(4)}`;
  return `epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}: training loss ${loss.toFixed(4)}, ${v}, ${seconds.toFixed(1)} s`;
}

/**
 * True when the module whose `import.meta.url` is given is the script node was started with, so
 * an example can both run and export its classes to the next tutorial (as `mlp.py` imports
 * `LogisticRegression` from `logistic_sgd.py`).
 */
export function isMain(metaUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && metaUrl === pathToFileURL(script).href;
}

/** A split as two shared variables, as the tutorials keep their data sets (`load_data`'s `shared_dataset`). */
export function sharedDigits(d: Digits, name: string): { x: theano.SharedVariable; y: theano.SharedVariable; n: number } {
  return { x: theano.shared(d.x, { name: `${name}_x`, borrow: true }), y: theano.shared(d.y, { name: `${name}_y`, borrow: true }), n: d.n };
}

/** A compiled function of one minibatch index that returns a scalar (a cost or an error rate). */
export type IndexFn = (index: number) => unknown;

/** The mean of `f(0) .. f(n - 1)`, each a scalar NDArray. */
export function meanOver(f: IndexFn, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Number((f(i) as theano.NDArray).item());
  return s / Math.max(n, 1);
}

/**
 * The tutorials' training loop without their patience-based early stopping: each epoch runs
 * `train` over every minibatch index, then measures the validation error (or cost); the test error is
 * measured whenever the validation error improves (the tutorials report the test error of the
 * best validation model). Prints one `epochLine` per epoch and returns the mean training loss of
 * the first and last epochs (with one epoch: of its first and last fifths of minibatches), for
 * `checkLossDropped`, and the best model's errors.
 */
export function trainEpochs(opts: {
  epochs: number;
  train: IndexFn;
  nTrainBatches: number;
  validate: IndexFn;
  nValidBatches: number;
  /** What `validate` returns: an error rate (default) or a cost. */
  validKind?: "error" | "cost";
  test?: IndexFn;
  nTestBatches?: number;
}): { firstLoss: number; lastLoss: number; bestValid: number; bestTest: number; bestEpoch: number; seconds: number } {
  const r = { firstLoss: NaN, lastLoss: NaN, bestValid: Infinity, bestTest: NaN, bestEpoch: 0, seconds: 0 };
  const start = performance.now();
  // With one epoch, compare the first and last fifths of its minibatches instead of two epochs.
  const window = Math.max(1, Math.floor(opts.nTrainBatches / 5));
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const losses = new Float64Array(opts.nTrainBatches);
    const [loss, s] = timed(() => {
      for (let i = 0; i < opts.nTrainBatches; i++) losses[i] = Number((opts.train(i) as theano.NDArray).item());
      return losses.reduce((a, b) => a + b, 0) / opts.nTrainBatches;
    });
    const valid = meanOver(opts.validate, opts.nValidBatches);
    const windowMean = (from: number): number => losses.subarray(from, from + window).reduce((a, b) => a + b, 0) / window;
    if (epoch === 1) r.firstLoss = opts.epochs === 1 ? windowMean(0) : loss;
    r.lastLoss = opts.epochs === 1 ? windowMean(opts.nTrainBatches - window) : loss;
    if (valid < r.bestValid) {
      r.bestValid = valid;
      r.bestEpoch = epoch;
      if (opts.test) r.bestTest = meanOver(opts.test, opts.nTestBatches ?? 0);
    }
    console.log(epochLine(epoch, opts.epochs, loss, valid, s, opts.validKind));
  }
  r.seconds = (performance.now() - start) / 1000;
  return r;
}

/**
 * The tutorials' `givens`: each symbolic input replaced by rows `[index * batch, (index + 1) *
 * batch)` of the shared data set it stands for, so a compiled step takes only the index.
 */
export function minibatchGivens(index: theano.TensorVariable, batch: number, pairs: Array<[theano.TensorVariable, theano.SharedVariable]>): Array<[theano.TensorVariable, theano.TensorVariable]> {
  const { T } = theano;
  const rows = T.slice(T.mul(index, batch), T.mul(T.add(index, 1), batch));
  return pairs.map(([v, data]) => [v, data.get(rows)]);
}
