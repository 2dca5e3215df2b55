/**
 * Multinomial logistic regression on MNIST, following the deeplearning.net tutorial "Classifying
 * MNIST digits using Logistic Regression" (`logistic_sgd.py`): p(y|x) = softmax(x W + b), the
 * mean negative log-likelihood as the cost, minibatch SGD. As in the tutorial the data sets live
 * in shared variables and each compiled function takes only a minibatch *index*: `givens`
 * substitutes the rows `[index * batch, (index + 1) * batch)` for the symbolic inputs, so no data
 * is copied per call. `LogisticRegression` is exported for mlp.ts and lenet.ts, as the tutorial's
 * class is imported by the next ones.
 *
 *   npx tsx examples/logistic_regression.ts            # 50,000 digits, 20 epochs (~8 % test error, seconds)
 *   npx tsx examples/logistic_regression.ts --quick    # a smoke test on a subset, seconds
 *   npx tsx examples/logistic_regression.ts --epochs 30 --seed 7
 */

import * as theano from "../src/index.js";
import { checkLossDropped, isMain, minibatchGivens, mnist, parseArgs, sharedDigits, timed, trainEpochs } from "./util.js";

const { T } = theano;
type Var = theano.TensorVariable;

/** The tutorial's class: the parameters, p(y|x), the prediction, the cost and the error rate. */
export class LogisticRegression {
  readonly W: theano.SharedVariable;
  readonly b: theano.SharedVariable;
  readonly pYGivenX: Var;
  readonly yPred: Var;
  readonly params: theano.SharedVariable[];

  /** Zero initial weights, as in the tutorial (the cost is convex), unless `W`/`b` are given. */
  constructor(input: Var, nIn: number, nOut: number, init: { W?: theano.SharedVariable; b?: theano.SharedVariable } = {}) {
    this.W = init.W ?? theano.shared(theano.zeros([nIn, nOut], "float32"), { name: "W" });
    this.b = init.b ?? theano.shared(theano.zeros([nOut], "float32"), { name: "b" });
    this.pYGivenX = T.softmax(T.add(T.dot(input, this.W), this.b));
    this.yPred = T.argmax(this.pYGivenX, 1);
    this.params = [this.W, this.b];
  }

  /** mean(-log p(y_i | x_i)), the log-probabilities picked by advanced indexing as the tutorial writes it. */
  negativeLogLikelihood(y: Var): Var {
    return T.neg(T.mean(T.log(this.pYGivenX).get(T.arange(y.shape.get(0)), y)));
  }

  /** The fraction of the minibatch misclassified. */
  errors(y: Var): Var {
    return T.mean(T.neq(this.yPred, y));
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), "Multinomial logistic regression on MNIST by minibatch SGD (deeplearning.net's logistic_sgd.py).");
  const epochs = args.epochs ?? (args.quick ? 8 : 20);
  const batch = 600;
  const learningRate = 0.13;

  const [data, loadS] = timed(() => mnist(args.quick ? { train: 6000, valid: 1200, test: 1200 } : undefined));
  const train = sharedDigits(data.train, "train");
  const valid = sharedDigits(data.valid, "valid");
  const test = sharedDigits(data.test, "test");

  const index = T.lscalar("index");
  const x = T.fmatrix("x");
  const y = T.ivector("y");
  const classifier = new LogisticRegression(x, 28 * 28, 10);
  const cost = classifier.negativeLogLikelihood(y);
  const grads = theano.grad(cost, classifier.params);
  const updates = classifier.params.map((p, i): [theano.SharedVariable, Var] => [p, T.sub(p, T.mul(learningRate, grads[i]!))]);

  const [fns, compileS] = timed(() => ({
    train: theano.function([index], cost, { updates, givens: minibatchGivens(index, batch, [[x, train.x], [y, train.y]]), name: "train_model" }),
    validate: theano.function([index], classifier.errors(y), { givens: minibatchGivens(index, batch, [[x, valid.x], [y, valid.y]]), name: "validate_model" }),
    test: theano.function([index], classifier.errors(y), { givens: minibatchGivens(index, batch, [[x, test.x], [y, test.y]]), name: "test_model" }),
  }));
  console.log(
    `logistic regression 784-10 on MNIST${args.quick ? " (--quick: a subset)" : ""}: ${train.n} training, ${valid.n} validation, ${test.n} test digits ` +
      `(loaded in ${loadS.toFixed(1)} s); batch ${batch}, lr ${learningRate}, ${epochs} epochs, seed ${args.seed}; compiled in ${compileS.toFixed(1)} s`,
  );

  const r = trainEpochs({
    epochs,
    train: fns.train,
    nTrainBatches: Math.floor(train.n / batch),
    validate: fns.validate,
    nValidBatches: Math.floor(valid.n / batch),
    test: fns.test,
    nTestBatches: Math.floor(test.n / batch),
  });
  console.log(`done in ${r.seconds.toFixed(1)} s: best validation error ${(100 * r.bestValid).toFixed(2)}% (epoch ${r.bestEpoch}), test error there ${(100 * r.bestTest).toFixed(2)}%`);
  checkLossDropped("logistic_regression", r.firstLoss, r.lastLoss);
}

if (isMain(import.meta.url)) main();
