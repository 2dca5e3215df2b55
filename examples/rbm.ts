/**
 * A restricted Boltzmann machine on binarised MNIST, after the deeplearning.net tutorial
 * "Restricted Boltzmann Machines" (`rbm.py`), through the public API only.
 *
 * Binary visible units v (784 pixels, ink above one half = 1) and binary hidden units h, with
 * free energy F(v) = -v·b - Σ_j softplus(vW + c)_j. Training is contrastive divergence (CD-k)
 * or, with `--persistent`, persistent CD (PCD-k): the Gibbs chain h → v → h is one `theano.scan`
 * of k steps whose body samples both layers with `RandomStreams.binomial`, a fresh draw at every
 * step and every call (the scan carries the generator's state and returns its update). The cost
 * is mean F(data) - mean F(chain end) with the chain end held constant in the gradient
 * (`considerConstant`, Theano's `consider_constant`): its gradient is the CD estimate of the
 * log-likelihood's. As in the tutorial the digits live in a shared variable and the training
 * function takes a minibatch index (`givens`).
 *
 * Each epoch prints the mean monitoring cost over its minibatches: for CD the reconstruction
 * cross-entropy (of the chain's first visible means against the data), for PCD the stochastic
 * pseudo-log-likelihood (784 · log σ(F(x with bit i flipped) - F(x))). The tutorial cycles i
 * through the pixels; here i is drawn at random each minibatch, so that a short run (whose few
 * hundred minibatches would only reach the blank top rows) still estimates the mean over pixels.
 *
 *   npx tsx examples/rbm.ts                      # CD-1, 500 hidden units, 20,000 digits, 5 epochs
 *   npx tsx examples/rbm.ts --persistent --k 15  # the tutorial's PCD-15
 *   npx tsx examples/rbm.ts --quick              # a smoke test: 100 hidden units, 2,000 digits
 *   npx tsx examples/rbm.ts --hidden 500 --lr 0.1 --batch 20 --train 50000 --epochs 15
 */

import * as theano from "../src/index.js";
import { checkLossDropped, mnist, ownFlags, parseArgs, timed } from "./util.js";

const { T } = theano;
type Var = theano.TensorVariable;

const USAGE = [
  "A binary RBM on binarised MNIST trained by CD-k or PCD-k, the Gibbs chain a theano.scan (deeplearning.net's rbm.py).",
  "",
  "RBM options (before or after the common ones):",
  "  --k N          Gibbs steps per update (default 1)",
  "  --persistent   persistent CD (PCD-k): the chain carries over between minibatches",
  "  --hidden N     hidden units (default 500; 100 with --quick)",
  "  --train N      training digits (default 20000; 2000 with --quick)",
  "  --batch N      minibatch size (default 20)",
  "  --lr X         learning rate (default 0.1)",
].join("\n");

const own = ownFlags(process.argv.slice(2), { "--k": "int", "--persistent": "switch", "--hidden": "int", "--train": "int", "--batch": "int", "--lr": "number" }, USAGE);
const args = parseArgs(own.rest, USAGE);
const k = (own.values.k as number | undefined) ?? 1;
const nHidden = (own.values.hidden as number | undefined) ?? (args.quick ? 100 : 500);
const nTrain = (own.values.train as number | undefined) ?? (args.quick ? 2000 : 20000);
const batch = (own.values.batch as number | undefined) ?? 20;
const lr = (own.values.lr as number | undefined) ?? 0.1;
const epochs = args.epochs ?? (args.quick ? 3 : 5);
const floatX = "float32";

// --- data: binarised digits in a shared variable ------------------------------------------------
const digits = mnist({ train: nTrain, valid: 0, test: 0 }).train;
const pixels = digits.x.data as Float32Array;
for (let i = 0; i < pixels.length; i++) pixels[i] = pixels[i]! > 0.5 ? 1 : 0;
const nVisible = digits.x.shape[1]!;
const trainX = theano.shared(digits.x, { name: "train_x", borrow: true });

// --- the model (the tutorial's RBM class) ------------------------------------------------------------
const srng = new theano.RandomStreams(args.seed);
// The tutorial's initialisation: W ~ U(±4 sqrt(6 / (nh + nv))), biases 0.
const bound = 4 * Math.sqrt(6 / (nHidden + nVisible));
const W = theano.shared(srng.uniform([nVisible, nHidden], -bound, bound, floatX).eval(), { name: "W" });
const hbias = theano.shared(theano.zeros([nHidden], floatX), { name: "hbias" });
const vbias = theano.shared(theano.zeros([nVisible], floatX), { name: "vbias" });
const params = [W, hbias, vbias];

const freeEnergy = (v: Var): Var => T.sub(T.neg(T.dot(v, vbias)), T.sum(T.softplus(T.add(T.dot(v, W), hbias)), 1));
/** [pre-sigmoid activation, mean, binary sample] of a layer given the other. */
const sampleLayer = (pre: Var): [Var, Var, Var] => {
  const mean = T.sigmoid(pre);
  return [pre, mean, srng.binomial(mean.shape, 1, mean, floatX)];
};
const sampleHGivenV = (v: Var): [Var, Var, Var] => sampleLayer(T.add(T.dot(v, W), hbias));
const sampleVGivenH = (h: Var): [Var, Var, Var] => sampleLayer(T.add(T.dot(h, W.T), vbias));

const x = T.fmatrix("x");
// PCD keeps the chain's hidden state between minibatches; CD starts it from the data.
const chainState = own.values.persistent === true ? theano.shared(theano.zeros([batch, nHidden], floatX), { name: "persistent_chain" }) : null;
const chainStart = chainState ?? sampleHGivenV(x)[2];
// gibbs_hvh: outputs [pre_v, v_mean, v_sample, pre_h, h_mean, h_sample]; only h_sample is fed back.
const [chain, chainUpdates] = theano.scan({
  fn: (h: Var) => {
    const v = sampleVGivenH(h);
    return [...v, ...sampleHGivenV(v[2])];
  },
  outputsInfo: [null, null, null, null, null, chainStart],
  nSteps: k,
  name: "gibbs_hvh",
});
const [preV, , vSamples, , , hSamples] = chain as Var[];
const chainEnd = vSamples!.get(-1);
const cost = T.sub(T.mean(freeEnergy(x)), T.mean(freeEnergy(chainEnd)));
const grads = theano.grad(cost, params, { considerConstant: [chainEnd] });
const updates: Array<[theano.SharedVariable, Var]> = [...chainUpdates];
params.forEach((p, i) => updates.push([p, T.sub(p, T.mul(lr, grads[i]!))]));

/** The monitoring cost, lower is better (the negated pseudo-log-likelihood for PCD). */
let monitor: Var;
let monitorName: string;
if (chainState) {
  updates.push([chainState, hSamples!.get(-1)]);
  const bit = srng.integers([], 0, nVisible);
  const flipped = T.setSubtensor(x.get(":", bit), T.sub(1, x.get(":", bit)));
  monitor = T.neg(T.mean(T.mul(nVisible, T.log(T.sigmoid(T.sub(freeEnergy(flipped), freeEnergy(x)))))));
  monitorName = "-pseudo-log-likelihood";
} else {
  const pv = T.sigmoid(preV!.get(0));
  monitor = T.neg(T.mean(T.sum(T.add(T.mul(x, T.log(pv)), T.mul(T.sub(1, x), T.log(T.sub(1, pv)))), 1)));
  monitorName = "reconstruction cross-entropy";
}

const index = T.lscalar("index");
const [train, compileS] = timed(() =>
  theano.function([index], monitor, { updates, givens: [[x, trainX.get(T.slice(T.mul(index, batch), T.mul(T.add(index, 1), batch)))]], name: "train_rbm" }),
);
console.log(
  `rbm: ${nVisible}-${nHidden} binary RBM, ${chainState ? "PCD" : "CD"}-${k}, ${nTrain} binarised MNIST digits, batch ${batch}, lr ${lr}, ` +
    `${epochs} epoch${epochs === 1 ? "" : "s"}, seed ${args.seed}${args.quick ? " (--quick)" : ""}; compiled in ${compileS.toFixed(1)} s (${train.mode.linker().name} linker)`,
);

// --- training ---------------------------------------------------------------------------------
const steps = Math.floor(nTrain / batch);
const costs: number[] = [];
for (let epoch = 1; epoch <= epochs; epoch++) {
  const [mean, s] = timed(() => {
    let sum = 0;
    for (let b = 0; b < steps; b++) sum += Number((train(b) as theano.NDArray).item());
    return sum / steps;
  });
  costs.push(mean);
  console.log(`epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}: ${monitorName} ${mean.toFixed(4)}, ${s.toFixed(1)} s (${((1000 * s) / steps).toFixed(2)} ms per minibatch)`);
}
checkLossDropped(`rbm ${monitorName}`, costs[0]!, costs[costs.length - 1]!);
