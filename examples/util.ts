/**
 * What the tutorial examples in this folder share, so no two of them carry their own copy: the
 * command line (`--quick`, `--epochs N`, `--seed N`), the "did the loss fall" check that makes
 * `--quick` a smoke test (exit 1 otherwise), timing, a seeded generator for initial weights and
 * shuffling, and MNIST as the deeplearning.net tutorials use it (50,000 training, 10,000
 * validation and 10,000 test digits, pixels as float32 in [0, 1]).
 *
 * Examples import the library as a user does (`import * as theano from "../src/index.js"`); this
 * file needs no part of it except `NDArray` for the MNIST arrays.
 */

import * as theano from "../src/index.js";
import { imagesToFloat32, loadMnist, type MnistSplit } from "../src/cli/mnist.js";

export interface ExampleArgs {
  /** A short run on a subset (a smoke test: seconds, exits 1 unless the loss fell). */
  quick: boolean;
  /** `--epochs N`; undefined: the example's own default for the mode. */
  epochs?: number;
  /** `--seed N` (default 1234): initial weights, shuffling and random streams. */
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
    "  --seed N     seed of the initial weights, the shuffling and the random streams (default 1234)\n";
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
      // falls through (process.exit does not return)
      default:
        fail(`unknown option "${flag}"`);
    }
  }
  return args;
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

export function rng(seed: number): Rng {
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

/** Fisher-Yates in place. */
export function shuffle(order: Int32Array, r: Rng): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
}

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

/** The per-epoch line every example prints. */
export function epochLine(epoch: number, epochs: number, loss: number, validError: number, seconds: number): string {
  return `epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}: training loss ${loss.toFixed(4)}, validation error ${(100 * validError).toFixed(2)}%, ${seconds.toFixed(1)} s`;
}
