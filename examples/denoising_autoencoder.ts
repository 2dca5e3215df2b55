/**
 * A denoising autoencoder on MNIST, following the deeplearning.net tutorial "Denoising
 * Autoencoders (dA)" (`dA.py`): each input is corrupted by zeroing a random 30 % of its pixels
 * (a binomial mask drawn by `theano.RandomStreams`, fresh on every call of the compiled step, its
 * generator state a shared variable the function updates), encoded by y = sigmoid(x̃ W + b),
 * decoded with the tied weights z = sigmoid(y Wᵀ + b'), and trained by minibatch SGD on the
 * cross-entropy between z and the *uncorrupted* x. No labels are used; the validation line
 * reports the reconstruction cost of clean validation digits.
 *
 *   npx tsx examples/denoising_autoencoder.ts            # 50,000 digits, 500 hidden units, 5 epochs
 *   npx tsx examples/denoising_autoencoder.ts --quick    # a smoke test on a subset, seconds
 *   npx tsx examples/denoising_autoencoder.ts --epochs 15 --seed 7
 */

import * as theano from "../src/index.js";
import { checkLossDropped, fill, isMain, minibatchGivens, mnist, parseArgs, type Rng, rng, sharedDigits, timed, trainEpochs } from "./util.js";

const { T } = theano;
type Var = theano.TensorVariable;

/** The tutorial's `dA`: W (visible x hidden) uniform in ±4·sqrt(6 / (visible + hidden)), tied decoder weights Wᵀ. */
export class DenoisingAutoencoder {
  readonly W: theano.SharedVariable;
  readonly bHid: theano.SharedVariable;
  readonly bVis: theano.SharedVariable;
  readonly params: theano.SharedVariable[];

  constructor(
    r: Rng,
    private readonly srng: theano.RandomStreams,
    nVisible: number,
    nHidden: number,
  ) {
    const bound = 4 * Math.sqrt(6 / (nVisible + nHidden));
    this.W = theano.shared(fill([nVisible, nHidden], () => (2 * r.uniform() - 1) * bound), { name: "W" });
    this.bHid = theano.shared(theano.zeros([nHidden], "float32"), { name: "b" });
    this.bVis = theano.shared(theano.zeros([nVisible], "float32"), { name: "b_prime" });
    this.params = [this.W, this.bHid, this.bVis];
  }

  /** Keeps each pixel with probability 1 - level, zeroes it otherwise. */
  corrupted(x: Var, level: number): Var {
    return T.mul(this.srng.binomial(x.shape, 1, 1 - level, "float32"), x);
  }

  hidden(x: Var): Var {
    return T.sigmoid(T.add(T.dot(x, this.W), this.bHid));
  }

  reconstructed(h: Var): Var {
    return T.sigmoid(T.add(T.dot(h, this.W.T), this.bVis));
  }

  /** The mean over the minibatch of the summed cross-entropy between reconstruction and clean input. */
  cost(x: Var, corruption: number): Var {
    const input = corruption > 0 ? this.corrupted(x, corruption) : x;
    const z = this.reconstructed(this.hidden(input));
    return T.mean(T.sum(T.binaryCrossentropy(z, x), 1));
  }
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), "A denoising autoencoder (tied weights, sigmoid, 30 % binomial corruption) on MNIST by minibatch SGD (deeplearning.net's dA.py).");
  const epochs = args.epochs ?? (args.quick ? 4 : 5);
  const batch = 20;
  const nHidden = args.quick ? 100 : 500;
  const corruption = 0.3;
  const learningRate = 0.1;

  const [data, loadS] = timed(() => mnist(args.quick ? { train: 3000, valid: 500, test: 0 } : { train: 50000, valid: 10000, test: 0 }));
  const train = sharedDigits(data.train, "train");
  const valid = sharedDigits(data.valid, "valid");

  const index = T.lscalar("index");
  const x = T.fmatrix("x");
  const da = new DenoisingAutoencoder(rng(args.seed), new theano.RandomStreams(args.seed), 28 * 28, nHidden);
  const cost = da.cost(x, corruption);
  const grads = theano.grad(cost, da.params);
  const updates = da.params.map((p, i): [theano.SharedVariable, Var] => [p, T.sub(p, T.mul(learningRate, grads[i]!))]);
  const [fns, compileS] = timed(() => ({
    train: theano.function([index], cost, { updates, givens: minibatchGivens(index, batch, [[x, train.x]]), name: "train_da" }),
    validate: theano.function([index], da.cost(x, 0), { givens: minibatchGivens(index, batch, [[x, valid.x]]), name: "reconstruction_cost" }),
  }));
  console.log(
    `denoising autoencoder 784-${nHidden}-784 (tied weights, sigmoid, ${100 * corruption} % corruption) on MNIST${args.quick ? " (--quick: a subset)" : ""}: ` +
      `${train.n} training, ${valid.n} validation digits (loaded in ${loadS.toFixed(1)} s); batch ${batch}, lr ${learningRate}, ${epochs} epochs, seed ${args.seed}; compiled in ${compileS.toFixed(1)} s`,
  );
  const r = trainEpochs({
    epochs,
    train: fns.train,
    nTrainBatches: Math.floor(train.n / batch),
    validate: fns.validate,
    nValidBatches: Math.floor(valid.n / batch),
    validKind: "cost",
  });
  console.log(`done in ${r.seconds.toFixed(1)} s: best validation reconstruction cost ${r.bestValid.toFixed(4)} (epoch ${r.bestEpoch})`);
  checkLossDropped("denoising_autoencoder", r.firstLoss, r.lastLoss);
}

if (isMain(import.meta.url)) main();
