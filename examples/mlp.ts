/**
 * A multilayer perceptron on MNIST, following the deeplearning.net tutorial "Multilayer
 * Perceptron" (`mlp.py`): one tanh hidden layer (weights uniform in ±sqrt(6 / (fan_in +
 * fan_out)), Glorot & Bengio 2010), the logistic regression of logistic_regression.ts on top,
 * the negative log-likelihood plus an L2 penalty, minibatch SGD with the data in shared variables
 * and `givens`. After training it saves the parameters to an `.npz` file with `theano.save`,
 * loads them with `theano.load` into fresh shared variables of a freshly built network, and
 * checks that the reloaded model has the same validation error. `HiddenLayer` is exported for
 * lenet.ts, as the tutorial's class is imported by `convolutional_mlp.py`.
 *
 *   npx tsx examples/mlp.ts            # 50,000 digits, 500 hidden units, 10 epochs
 *   npx tsx examples/mlp.ts --quick    # a smoke test on a subset, seconds
 *   npx tsx examples/mlp.ts --epochs 30 --seed 7
 */

import { tmpdir } from "node:os";
import { join } from "node:path";
import * as theano from "../src/index.js";
import { LogisticRegression } from "./logistic_regression.js";
import { checkLossDropped, fill, isMain, meanOver, minibatchGivens, mnist, parseArgs, type Rng, rng, sharedDigits, timed, trainEpochs } from "./util.js";

const { T } = theano;
type Var = theano.TensorVariable;

/** The tutorial's `HiddenLayer`: activation(input W + b), W uniform in ±sqrt(6 / (nIn + nOut)) (4x that for sigmoid). */
export class HiddenLayer {
  readonly W: theano.SharedVariable;
  readonly b: theano.SharedVariable;
  readonly output: Var;
  readonly params: theano.SharedVariable[];

  constructor(r: Rng | null, input: Var, nIn: number, nOut: number, opts: { activation?: (v: Var) => Var; W?: theano.SharedVariable; b?: theano.SharedVariable; name?: string } = {}) {
    const activation = opts.activation ?? T.tanh;
    const bound = Math.sqrt(6 / (nIn + nOut)) * (activation === T.sigmoid ? 4 : 1);
    const name = opts.name ?? "hidden";
    if (opts.W === undefined && r === null) throw new Error("HiddenLayer: give a generator or the weights");
    this.W = opts.W ?? theano.shared(fill([nIn, nOut], () => (2 * r!.uniform() - 1) * bound), { name: `${name}_W` });
    this.b = opts.b ?? theano.shared(theano.zeros([nOut], "float32"), { name: `${name}_b` });
    this.output = activation(T.add(T.dot(input, this.W), this.b));
    this.params = [this.W, this.b];
  }
}

/** The tutorial's `MLP`: a hidden layer feeding a logistic regression, with its L1 and squared-L2 norms. */
export class MLP {
  readonly hidden: HiddenLayer;
  readonly logReg: LogisticRegression;
  readonly L1: Var;
  readonly L2sqr: Var;
  readonly params: theano.SharedVariable[];

  /** `weights` (the four parameters, as `theano.load` returns them) rebuilds a trained network. */
  constructor(r: Rng | null, input: Var, nIn: number, nHidden: number, nOut: number, weights?: Record<string, theano.NDArray>) {
    const sh = (key: string): theano.SharedVariable | undefined => (weights ? theano.shared(weights[key]!, { name: key }) : undefined);
    this.hidden = new HiddenLayer(r, input, nIn, nHidden, { W: sh("hidden_W"), b: sh("hidden_b") });
    this.logReg = new LogisticRegression(this.hidden.output, nHidden, nOut, { W: sh("logreg_W"), b: sh("logreg_b") });
    this.L1 = T.add(T.sum(T.abs(this.hidden.W)), T.sum(T.abs(this.logReg.W)));
    this.L2sqr = T.add(T.sum(T.sqr(this.hidden.W)), T.sum(T.sqr(this.logReg.W)));
    this.params = [...this.hidden.params, ...this.logReg.params];
  }

  /** The parameters by name, for `theano.save`. */
  weights(): Record<string, theano.NDArray> {
    return {
      hidden_W: this.hidden.W.getValue(),
      hidden_b: this.hidden.b.getValue(),
      logreg_W: this.logReg.W.getValue(),
      logreg_b: this.logReg.b.getValue(),
    };
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), "A one-hidden-layer tanh MLP on MNIST by minibatch SGD with an L2 penalty (deeplearning.net's mlp.py).");
  const epochs = args.epochs ?? (args.quick ? 5 : 10);
  const batch = 20;
  const nHidden = args.quick ? 100 : 500;
  const learningRate = 0.01;
  const L1reg = 0;
  const L2reg = 1e-4;

  const [data, loadS] = timed(() => mnist(args.quick ? { train: 5000, valid: 1000, test: 1000 } : undefined));
  const train = sharedDigits(data.train, "train");
  const valid = sharedDigits(data.valid, "valid");
  const test = sharedDigits(data.test, "test");

  const index = T.lscalar("index");
  const x = T.fmatrix("x");
  const y = T.ivector("y");
  const classifier = new MLP(rng(args.seed), x, 28 * 28, nHidden, 10);
  const cost = T.add(T.add(classifier.logReg.negativeLogLikelihood(y), T.mul(L1reg, classifier.L1)), T.mul(L2reg, classifier.L2sqr));
  const grads = theano.grad(cost, classifier.params);
  const updates = classifier.params.map((p, i): [theano.SharedVariable, Var] => [p, T.sub(p, T.mul(learningRate, grads[i]!))]);
  const errorsOn = (net: MLP, split: ReturnType<typeof sharedDigits>, name: string): ((i: number) => unknown) =>
    theano.function([index], net.logReg.errors(y), { givens: minibatchGivens(index, batch, [[x, split.x], [y, split.y]]), name });

  const [fns, compileS] = timed(() => ({
    train: theano.function([index], cost, { updates, givens: minibatchGivens(index, batch, [[x, train.x], [y, train.y]]), name: "train_model" }),
    validate: errorsOn(classifier, valid, "validate_model"),
    test: errorsOn(classifier, test, "test_model"),
  }));
  console.log(
    `MLP 784-${nHidden}-10 (tanh) on MNIST${args.quick ? " (--quick: a subset)" : ""}: ${train.n} training, ${valid.n} validation, ${test.n} test digits ` +
      `(loaded in ${loadS.toFixed(1)} s); batch ${batch}, lr ${learningRate}, L2 ${L2reg}, ${epochs} epochs, seed ${args.seed}; compiled in ${compileS.toFixed(1)} s`,
  );

  const nValidBatches = Math.floor(valid.n / batch);
  const r = trainEpochs({
    epochs,
    train: fns.train,
    nTrainBatches: Math.floor(train.n / batch),
    validate: fns.validate,
    nValidBatches,
    test: fns.test,
    nTestBatches: Math.floor(test.n / batch),
  });
  console.log(`done in ${r.seconds.toFixed(1)} s: best validation error ${(100 * r.bestValid).toFixed(2)}% (epoch ${r.bestEpoch}), test error there ${(100 * r.bestTest).toFixed(2)}%`);

  // Save the trained parameters, rebuild the network from the file alone, and compare.
  const file = theano.save(join(tmpdir(), "theano-ts-mlp-params.npz"), classifier.weights());
  const loaded = theano.load(file) as Record<string, theano.NDArray>;
  const reloaded = new MLP(null, x, 28 * 28, nHidden, 10, loaded);
  const before = meanOver(fns.validate, nValidBatches);
  const after = meanOver(errorsOn(reloaded, valid, "validate_reloaded"), nValidBatches);
  console.log(`saved the parameters to ${file} and reloaded them into a fresh network: validation error ${(100 * before).toFixed(2)}% -> ${(100 * after).toFixed(2)}%`);
  if (after !== before) {
    console.error("mlp: FAILED, the reloaded model's validation error differs from the trained one's");
    process.exit(1);
  }
  checkLossDropped("mlp", r.firstLoss, r.lastLoss);
}

if (isMain(import.meta.url)) main();
