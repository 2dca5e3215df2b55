/**
 * A character-level language model: an LSTM over the characters of a small public-domain text
 * (`data/the_raven.txt`, three poems by Edgar Allan Poe), in the spirit of Karpathy's char-rnn,
 * through the public API only.
 *
 * The recurrence is one `theano.scan` over time; `theano.grad` differentiates through it (BPTT),
 * and RMSProp with elementwise gradient clipping updates the parameters (the learning rate
 * decays by a constant factor per epoch). The text is cut into `batch` contiguous streams read
 * `seqLen` characters at a time; the LSTM's last state of one minibatch is the first of the
 * next (the state lives in shared variables updated by the training function, outside the
 * gradient: truncated BPTT), and an epoch is one pass over the text. After training, a second scan samples text: each step draws the next character with
 * `RandomStreams.choice` from the softmax of the model's output at a temperature, and feeds it
 * back; one call of the compiled function writes a whole sample.
 *
 * Each epoch prints the mean training loss in nats and bits per character. `--quick` trains a
 * smaller LSTM for a few epochs and exits 1 unless the loss of the last epoch is below the first.
 *
 *   npx tsx examples/char_rnn.ts                 # 128 LSTM units, 30 epochs, then samples
 *   npx tsx examples/char_rnn.ts --quick         # a smoke test: 64 units, a few epochs
 *   npx tsx examples/char_rnn.ts --hidden 256 --epochs 60 --temperature 0.6 --text my.txt
 */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as theano from "../src/index.js";
import { checkLossDropped, ownFlags, parseArgs, rng, timed } from "./util.js";

const { T } = theano;
type Var = theano.TensorVariable;

const USAGE = [
  "A character-level LSTM language model written with theano.scan, trained by BPTT and RMSProp, then sampled with RandomStreams.",
  "",
  "Model options (before or after the common ones):",
  "  --hidden N        LSTM units (default 128; 64 with --quick)",
  "  --seq-len N       characters per BPTT window (default 50)",
  "  --batch N         parallel streams of text (default 8)",
  "  --lr X            RMSProp learning rate (default 0.02, times 0.95 each epoch)",
  "  --temperature X   sampling temperature (default 0.7)",
  "  --text FILE       the training text (default examples/data/the_raven.txt)",
].join("\n");

const own = ownFlags(process.argv.slice(2), { "--hidden": "int", "--seq-len": "int", "--batch": "int", "--lr": "number", "--temperature": "number", "--text": "string" }, USAGE);
const args = parseArgs(own.rest, USAGE);
const nHidden = (own.values.hidden as number | undefined) ?? (args.quick ? 64 : 128);
const seqLen = (own.values["seq-len"] as number | undefined) ?? 50;
const batch = (own.values.batch as number | undefined) ?? 8;
const lr = (own.values.lr as number | undefined) ?? 0.02;
const temperature = (own.values.temperature as number | undefined) ?? 0.7;
const epochs = args.epochs ?? (args.quick ? 10 : 30);
const floatX = "float32";
const DECAY = 0.95; // RMSProp's moving average of squared gradients
const CLIP = 5; // elementwise gradient clipping, as char-rnn
const LR_DECAY = 0.95; // the learning rate is multiplied by this after every epoch

// --- data: the text as character ids, cut into `batch` contiguous streams ---------------------
const textPath = (own.values.text as string | undefined) ?? fileURLToPath(new URL("./data/the_raven.txt", import.meta.url));
const text = readFileSync(textPath, "utf8");
const chars = [...new Set(text)].sort();
const vocab = chars.length;
const idOf = new Map(chars.map((c, i) => [c, i]));
const ids = Int32Array.from(text, (c) => idOf.get(c)!);
const streamLen = Math.floor((ids.length - 1) / batch);
const steps = Math.floor(streamLen / seqLen);
if (steps < 1) throw new Error(`char_rnn: ${textPath} has ${ids.length} characters, too few for ${batch} streams of ${seqLen}`);
/** Minibatch b: inputs and next-character targets, time-major [seqLen, batch]. */
const window = (b: number): [theano.NDArray, theano.NDArray] => {
  const xs = new Int32Array(seqLen * batch);
  const ys = new Int32Array(seqLen * batch);
  for (let t = 0; t < seqLen; t++) {
    for (let s = 0; s < batch; s++) {
      const at = s * streamLen + b * seqLen + t;
      xs[t * batch + s] = ids[at]!;
      ys[t * batch + s] = ids[at + 1]!;
    }
  }
  return [new theano.NDArray("int32", [seqLen, batch], xs), new theano.NDArray("int32", [seqLen, batch], ys)];
};

// --- the model: an LSTM (input, forget, output gates and the cell candidate in one matrix) ----
const r = rng(args.seed);
const init = (rows: number, cols: number, scale: number): theano.NDArray => new theano.NDArray(floatX, [rows, cols], Float32Array.from({ length: rows * cols }, () => r.normal() * scale));
const H = nHidden;
const Wx = theano.shared(init(vocab, 4 * H, 0.1), { name: "Wx" }); // one-hot input x Wx is a row lookup
const Wh = theano.shared(init(H, 4 * H, 1 / Math.sqrt(H)), { name: "Wh" });
// Forget-gate bias 1 (Jozefowicz et al. 2015): the cell remembers by default early in training.
const b = theano.shared(theano.array(Float32Array.from({ length: 4 * H }, (_, i) => (i >= H && i < 2 * H ? 1 : 0)), floatX), { name: "b" });
const Wy = theano.shared(init(H, vocab, 1 / Math.sqrt(H)), { name: "Wy" });
const by = theano.shared(theano.zeros([vocab], floatX), { name: "by" });
const params = [Wx, Wh, b, Wy, by];

/** One LSTM step; `xw` is the input's row of Wx. */
const lstmStep = (xw: Var, h: Var, c: Var): [Var, Var] => {
  const pre = T.add(T.add(xw, T.dot(h, Wh)), b);
  const gate = (k: number): Var => pre.get(":", `${k * H}:${(k + 1) * H}`);
  const cNext = T.add(T.mul(T.sigmoid(gate(1)), c), T.mul(T.sigmoid(gate(0)), T.tanh(gate(3))));
  return [T.mul(T.sigmoid(gate(2)), T.tanh(cNext)), cNext];
};
const logitsOf = (h: Var): Var => T.add(T.dot(h, Wy), by);

const x = T.imatrix("x");
const y = T.imatrix("y");
const lrNow = theano.shared(theano.array(lr, floatX), { name: "lr" });
const h0 = theano.shared(theano.zeros([batch, H], floatX), { name: "h0" });
const c0 = theano.shared(theano.zeros([batch, H], floatX), { name: "c0" });
// The input projection of every step at once, outside the loop: a [seqLen, batch, 4H] lookup.
const [states] = theano.scan({ fn: lstmStep, sequences: Wx.get(x), outputsInfo: [h0, c0], name: "lstm" });
const [hs, cs] = states as unknown as [Var, Var];
const logits = logitsOf(hs.reshape([-1, H]));
const loss = T.mean(T.categoricalCrossentropy(T.softmax(logits), y.flatten()));
const grads = theano.grad(loss, params);
const updates: Array<[theano.SharedVariable, Var]> = [
  [h0, hs.get(-1)],
  [c0, cs.get(-1)],
];
params.forEach((p, i) => {
  const g = T.clip(grads[i]!, -CLIP, CLIP);
  const ms = theano.shared(theano.zeros(p.getValue({ borrow: true }).shape, floatX), { name: `ms_${p.name}` });
  const msNext = T.add(T.mul(DECAY, ms), T.mul(1 - DECAY, T.sqr(g)));
  updates.push([ms, msNext], [p, T.sub(p, T.div(T.mul(lrNow, g), T.sqrt(T.add(msNext, 1e-8))))]);
});
const [train, compileS] = timed(() => theano.function([x, y], loss, { updates, name: "train_char_rnn" }));

// --- sampling: a scan that feeds each drawn character back ------------------------------------
const srng = new theano.RandomStreams(args.seed);
const first = T.lvector("first"); // the first character, a batch of one
const nChars = T.lscalar("n_chars");
const temp = T.fscalar("temperature");
const zeros = T.zeros([1, H], floatX);
const [drawn, drawUpdates] = theano.scan({
  fn: (ch: Var, h: Var, c: Var) => {
    const [hNext, cNext] = lstmStep(Wx.get(ch), h, c);
    const p = T.softmax(T.div(logitsOf(hNext), temp)).get(0);
    return [srng.choice([1], vocab, { p }), hNext, cNext];
  },
  outputsInfo: [first, zeros, zeros],
  nSteps: nChars,
  name: "sample",
});
const [sampleIds] = drawn as Var[];
const [sampler, samplerS] = timed(() => theano.function([first, nChars, temp], sampleIds!, { updates: drawUpdates, name: "sample_char_rnn" }));
const sample = (start: string, n: number): string => {
  const out = sampler(theano.array([idOf.get(start) ?? 0], "int64"), n, temperature) as theano.NDArray;
  return start + Array.from(out.data as BigInt64Array, (i) => chars[Number(i)]).join("");
};

console.log(
  `char_rnn: LSTM ${vocab}-${H}-${vocab} on ${textPath.split(/[\\/]/).pop()} (${ids.length} characters, ${vocab} distinct), ` +
    `${batch} streams x ${seqLen} steps of BPTT, RMSProp lr ${lr} (x${LR_DECAY} per epoch), ${epochs} epoch${epochs === 1 ? "" : "s"} of ${steps} minibatches, seed ${args.seed}` +
    `${args.quick ? " (--quick)" : ""}; compiled in ${(compileS + samplerS).toFixed(1)} s (${train.mode.linker().name} linker)`,
);

// --- training ---------------------------------------------------------------------------------
const losses: number[] = [];
for (let epoch = 1; epoch <= epochs; epoch++) {
  h0.setValue(theano.zeros([batch, H], floatX));
  c0.setValue(theano.zeros([batch, H], floatX));
  lrNow.setValue(theano.array(lr * LR_DECAY ** (epoch - 1), floatX));
  const [mean, s] = timed(() => {
    let sum = 0;
    for (let i = 0; i < steps; i++) sum += Number((train(...window(i)) as theano.NDArray).item());
    return sum / steps;
  });
  losses.push(mean);
  console.log(
    `epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}: training loss ${mean.toFixed(4)} nats (${(mean / Math.LN2).toFixed(3)} bits) per character, ` +
      `${s.toFixed(1)} s (${((1000 * s) / steps).toFixed(1)} ms per minibatch of ${seqLen} steps)`,
  );
}

console.log(`\nsamples at temperature ${temperature}:`);
for (const start of ["O", "T", "Q"]) console.log(`--- ${JSON.stringify(start)} ---\n${sample(start, args.quick ? 120 : 300)}`);
console.log();
checkLossDropped("char_rnn training loss", losses[0]!, losses[losses.length - 1]!);
