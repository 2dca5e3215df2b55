/**
 * LeNet-5 on MNIST, following the deeplearning.net tutorial "Convolutional Neural Networks
 * (LeNet)" (`convolutional_mlp.py`): two convolution + max-pooling layers (5x5 filters, 2x2
 * pools, 20 and 50 feature maps, tanh after adding the bias), a fully connected tanh layer of
 * 500 units (mlp.ts's `HiddenLayer`) and the logistic regression of logistic_regression.ts,
 * trained by minibatch SGD on the negative log-likelihood with the data in shared variables and
 * `givens`. `T.conv2d` and `T.maxPool2d` (with their gradients) run as C code when a compiler is
 * found (im2col + GEMM; src/link/c/ops/conv.ts).
 *
 *   npx tsx examples/lenet.ts            # 50,000 digits, 5 epochs (minutes on 2 cores)
 *   npx tsx examples/lenet.ts --quick    # a smoke test on a subset, seconds
 *   npx tsx examples/lenet.ts --epochs 20 --seed 7
 */

import * as theano from "../src/index.js";
import { LogisticRegression } from "./logistic_regression.js";
import { HiddenLayer } from "./mlp.js";
import { checkLossDropped, fill, isMain, minibatchGivens, mnist, parseArgs, type Rng, rng, sharedDigits, timed, trainEpochs } from "./util.js";

const { T } = theano;
type Var = theano.TensorVariable;

/**
 * The tutorial's `LeNetConvPoolLayer`: tanh(maxpool(conv2d(input, W)) + b), the filters uniform
 * in ±sqrt(6 / (fan_in + fan_out)) where fan_in = channels·rows·cols of a filter and fan_out =
 * maps·rows·cols / pool area.
 */
export class LeNetConvPoolLayer {
  readonly W: theano.SharedVariable;
  readonly b: theano.SharedVariable;
  readonly output: Var;
  readonly params: theano.SharedVariable[];

  /** `filterShape`: [maps, channels, rows, cols]. */
  constructor(r: Rng, input: Var, filterShape: [number, number, number, number], poolSize: [number, number], name: string) {
    const [maps, channels, rows, cols] = filterShape;
    const fanIn = channels * rows * cols;
    const fanOut = (maps * rows * cols) / (poolSize[0] * poolSize[1]);
    const bound = Math.sqrt(6 / (fanIn + fanOut));
    this.W = theano.shared(fill(filterShape, () => (2 * r.uniform() - 1) * bound), { name: `${name}_W` });
    this.b = theano.shared(theano.zeros([maps], "float32"), { name: `${name}_b` });
    const convOut = T.conv2d(input, this.W);
    const pooled = T.maxPool2d(convOut, poolSize, { ignoreBorder: true });
    this.output = T.tanh(T.add(pooled, this.b.dimshuffle("x", 0, "x", "x")));
    this.params = [this.W, this.b];
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), "LeNet-5 (conv + max-pool + tanh, x2; a tanh layer; softmax) on MNIST by minibatch SGD (deeplearning.net's convolutional_mlp.py).");
  const epochs = args.epochs ?? (args.quick ? 3 : 5);
  const batch = args.quick ? 100 : 500;
  const learningRate = 0.1;
  const nkerns: [number, number] = [20, 50];

  const [data, loadS] = timed(() => mnist(args.quick ? { train: 2000, valid: 500, test: 500 } : undefined));
  const train = sharedDigits(data.train, "train");
  const valid = sharedDigits(data.valid, "valid");
  const test = sharedDigits(data.test, "test");

  const r = rng(args.seed);
  const index = T.lscalar("index");
  const x = T.fmatrix("x");
  const y = T.ivector("y");
  // (batch, 784) -> (batch, 1, 28, 28); conv 5x5 -> 24x24, pool -> 12x12; conv 5x5 -> 8x8, pool -> 4x4.
  const layer0 = new LeNetConvPoolLayer(r, x.reshape([batch, 1, 28, 28]), [nkerns[0], 1, 5, 5], [2, 2], "conv0");
  const layer1 = new LeNetConvPoolLayer(r, layer0.output, [nkerns[1], nkerns[0], 5, 5], [2, 2], "conv1");
  const layer2 = new HiddenLayer(r, layer1.output.flatten(2), nkerns[1] * 4 * 4, 500, { name: "fc" });
  const layer3 = new LogisticRegression(layer2.output, 500, 10);
  const params = [...layer3.params, ...layer2.params, ...layer1.params, ...layer0.params];
  const cost = layer3.negativeLogLikelihood(y);
  const grads = theano.grad(cost, params);
  const updates = params.map((p, i): [theano.SharedVariable, Var] => [p, T.sub(p, T.mul(learningRate, grads[i]!))]);

  const [fns, compileS] = timed(() => ({
    train: theano.function([index], cost, { updates, givens: minibatchGivens(index, batch, [[x, train.x], [y, train.y]]), name: "train_model" }),
    validate: theano.function([index], layer3.errors(y), { givens: minibatchGivens(index, batch, [[x, valid.x], [y, valid.y]]), name: "validate_model" }),
    test: theano.function([index], layer3.errors(y), { givens: minibatchGivens(index, batch, [[x, test.x], [y, test.y]]), name: "test_model" }),
  }));
  const nTrainBatches = Math.floor(train.n / batch);
  console.log(
    `LeNet-5 (conv ${nkerns[0]} 5x5 + pool 2, conv ${nkerns[1]} 5x5 + pool 2, tanh 500, softmax 10) on MNIST${args.quick ? " (--quick: a subset)" : ""}: ` +
      `${train.n} training, ${valid.n} validation, ${test.n} test digits (loaded in ${loadS.toFixed(1)} s); batch ${batch}, lr ${learningRate}, ${epochs} epochs, ` +
      `seed ${args.seed}; compiled in ${compileS.toFixed(1)} s (${fns.train.mode.linker().name} backend)`,
  );

  const res = trainEpochs({
    epochs,
    train: fns.train,
    nTrainBatches,
    validate: fns.validate,
    nValidBatches: Math.floor(valid.n / batch),
    test: fns.test,
    nTestBatches: Math.floor(test.n / batch),
  });
  console.log(
    `done in ${res.seconds.toFixed(1)} s (${((1000 * res.seconds) / (epochs * nTrainBatches)).toFixed(1)} ms per step incl. validation): ` +
      `best validation error ${(100 * res.bestValid).toFixed(2)}% (epoch ${res.bestEpoch}), test error there ${(100 * res.bestTest).toFixed(2)}%`,
  );
  checkLossDropped("lenet", res.firstLoss, res.lastLoss);
}

if (isMain(import.meta.url)) main();
