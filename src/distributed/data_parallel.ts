/**
 * `theano.distributed.DataParallel` (issue 19): synchronous data-parallel SGD over MPI, the
 * Horovod recipe expressed as one compiled theano function per rank.
 *
 * Every rank holds the whole dataset and the same model. Each step, every rank takes its part of
 * one global batch (the shard plan below), computes the gradients of its local mean loss, and one
 * `AllReduce{mean}` averages them — all of them at once: the flattened gradients (plus the loss
 * and the metrics) are concatenated into one buffer per dtype, reduced once, and split back
 * (Horovod's tensor fusion: one collective a step instead of one per parameter, so latency is
 * paid once). The optimiser's updates follow in the same compiled call, so parameters never
 * leave the function between steps and every rank applies the same update to the same values.
 *
 * Agreement before work: at construction the ranks all-gather a hash of the compiled graph and
 * of the training configuration; any difference raises `BackendError` on every rank, naming the
 * ranks, before a collective could be entered out of step. Then rank 0's parameters are broadcast.
 * Checkpoints are `.npz` files written by rank 0 (the others wait on the outcome) and read by
 * every rank, which then agree that they all read the same one.
 */

import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { BackendError, InputError, TheanoError, TypeMismatchError } from "../errors.js";
import { type Mode, type ModeName } from "../compile/mode.js";
import { type TheanoFunction, function_ } from "../compile/function.js";
import { SharedVariable, shared } from "../compile/shared.js";
import { grad } from "../gradient/grad.js";
import { debugprint } from "../printing/debugprint.js";
import { DTYPES, type DType, isFloat } from "../ndarray/dtype.js";
import { NDArray, allocData } from "../ndarray/ndarray.js";
import { fromNpzBytes, toNpzBytes } from "../ndarray/npy.js";
import { mulberry32 } from "../ndarray/rng.js";
import { concatenate } from "../tensor/join.js";
import { slice } from "../tensor/subtensor.js";
import { cast } from "../tensor/math.js";
import { tensor } from "../tensor/constructors.js";
import { TensorVariable } from "../tensor/variable.js";
import { type MpiWorld, requireWorld } from "./mpi.js";
import { allReduce } from "./ops.js";

/** A learning rate: a constant, or a schedule of the global step number (0 for the first step). */
export type LearningRate = number | ((step: number) => number);

/** The update rule, applied after the gradients' all-reduce, inside the compiled step. */
export type Optimizer =
  /** p <- p - lr g */
  | { readonly kind: "sgd"; readonly lr: LearningRate }
  /**
   * Classical momentum v <- mu v - lr g, p <- p + v (Nesterov: p <- p + mu v - lr g with the new
   * v). The velocities are shared variables (`DataParallel.state`), zero at the start.
   */
  | { readonly kind: "momentum"; readonly lr: LearningRate; readonly momentum?: number; readonly nesterov?: boolean };

/**
 * How the epoch's samples are dealt to the ranks (P ranks, global batch B, local batch b = B/P,
 * S = floor(N / B) steps per epoch; positions index the epoch's order: the identity, or a
 * permutation drawn from `shuffle` and the epoch number, the same on every rank):
 * - `strided` (PyTorch's DistributedSampler): rank r takes positions r, r+P, r+2P, ...; step k's
 *   global batch is positions [kB, (k+1)B), the batch one process would take, so P processes
 *   compute what one process computes on the whole batch (to the rounding of the reduction).
 * - `contiguous`: rank r takes the block [r S b, (r+1) S b) and walks it b at a time; every
 *   sample of the epoch is still used once, but a step's global batch mixes P distant blocks.
 * In both, the last N - S B positions of each epoch's order (fewer than one global batch) are
 * left out of that epoch, so every rank runs the same S steps; with `shuffle` a different
 * remainder is left out each epoch.
 */
export type ShardKind = "strided" | "contiguous";

export interface DataParallelOptions {
  /** The model's parameters: shared float variables, broadcast from rank 0 at construction. */
  readonly params: readonly SharedVariable[];
  /** The symbolic inputs of the loss, axis 0 the sample axis (e.g. [x, y]). */
  readonly inputs: readonly TensorVariable[];
  /** A scalar float: the MEAN over the batch's samples (the all-reduced mean of the ranks' means is then the global batch's mean). */
  readonly loss: TensorVariable;
  /** The whole dataset, one array per input, equal lengths along axis 0; the same on every rank. */
  readonly data: readonly NDArray[];
  /** The global batch: samples per step over all ranks together; a multiple of the number of ranks. */
  readonly batchSize: number;
  readonly optimizer: Optimizer;
  /** Default `strided`. */
  readonly shard?: ShardKind;
  /** A seed: the epoch's samples are permuted (differently each epoch, identically on every rank). Default: no shuffling. */
  readonly shuffle?: number | false;
  /** Scalar means over the batch (accuracy, ...), averaged over the ranks in the same all-reduce as the gradients. */
  readonly metrics?: Readonly<Record<string, TensorVariable>>;
  /** The compilation mode of the training function. */
  readonly mode?: ModeName | Mode;
}

/** What a step (or an epoch, averaged over its steps) reports: the global batch's loss and metrics. */
export interface StepResult {
  readonly loss: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/** The arithmetic of the shard plan (see `ShardKind`), independent of MPI. */
export interface ShardPlan {
  /** Samples in the dataset. */
  readonly n: number;
  readonly batchSize: number;
  readonly size: number;
  readonly rank: number;
  readonly shard: ShardKind;
  readonly shuffle: number | false;
}

/** Steps per epoch: whole global batches in the dataset. */
export function stepsPerEpoch(plan: ShardPlan): number {
  return Math.floor(plan.n / plan.batchSize);
}

/** The epoch's order of the samples: the identity (null) or its seeded permutation. */
export function epochOrder(plan: ShardPlan, epoch: number): Int32Array | null {
  if (plan.shuffle === false) return null;
  const order = Int32Array.from({ length: plan.n }, (_, i) => i);
  const uniform = mulberry32((plan.shuffle + Math.imul(epoch + 1, 0x9e3779b9)) >>> 0);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** The samples this rank takes at global step `step` (given that epoch's order). */
export function shardIndices(plan: ShardPlan, step: number, order: Int32Array | null, out: Int32Array = new Int32Array(plan.batchSize / plan.size)): Int32Array {
  const S = stepsPerEpoch(plan);
  const b = plan.batchSize / plan.size;
  const k = step % S;
  for (let j = 0; j < b; j++) {
    const pos = plan.shard === "strided" ? (k * b + j) * plan.size + plan.rank : plan.rank * S * b + k * b + j;
    out[j] = order ? order[pos]! : pos;
  }
  return out;
}

/** Checks the plan (every mistake an `InputError` naming it). */
function checkPlan(plan: ShardPlan): void {
  const { n, batchSize: B, size } = plan;
  if (!Number.isInteger(B) || B < 1) throw new InputError(`DataParallel: batchSize must be a positive integer (the global batch over all ranks), got ${String(B)}`);
  if (B % size !== 0) throw new InputError(`DataParallel: batchSize ${B} is not a multiple of the ${size} ranks; every rank takes batchSize / size samples a step (try ${Math.max(size, B - (B % size))})`);
  if (B > n) throw new InputError(`DataParallel: batchSize ${B} is more than the ${n} samples of the dataset`);
  if (plan.shard !== "strided" && plan.shard !== "contiguous") throw new InputError(`DataParallel: shard must be "strided" or "contiguous", got ${String(plan.shard)}`);
  if (plan.shuffle !== false && !(Number.isInteger(plan.shuffle) && plan.shuffle >= 0 && plan.shuffle <= 0xffffffff)) {
    throw new InputError(`DataParallel: shuffle must be false or an integer seed from 0 to 4294967295, got ${String(plan.shuffle)}`);
  }
}

/**
 * Sets every shared variable to its value on `root` (the initial parameters of data-parallel
 * training). Each rank must pass the same variables in the same order; the other ranks take
 * root's shapes.
 */
export function broadcast(sharedVars: readonly SharedVariable[], root = 0): void {
  const w = requireWorld("theano.distributed.broadcast");
  if (!Number.isInteger(root) || root < 0 || root >= w.size) throw new BackendError(`broadcast: root ${root} is not a rank of this world of ${w.size} processes`);
  for (const v of sharedVars) if (!(v instanceof SharedVariable)) throw new TypeMismatchError(`broadcast takes shared variables, got ${String(v)}`);
  // Root's dtypes and shapes first, so the others can allocate and check.
  const values = w.rank === root ? sharedVars.map((v) => v.getValue({ borrow: true }).contiguous()) : [];
  const len = new Float64Array([w.rank === root ? sharedVars.length + values.reduce((n, a) => n + 2 + a.ndim, 0) : 0]);
  w.broadcast(len, "float64", root, "broadcast (header length)");
  const header = new Float64Array(len[0]!);
  if (w.rank === root) {
    let i = 0;
    header[i++] = sharedVars.length;
    for (const a of values) {
      header[i++] = DTYPES.indexOf(a.dtype);
      header[i++] = a.ndim;
      for (const d of a.shape) header[i++] = d;
    }
  }
  w.broadcast(header, "float64", root, "broadcast (header)");
  if (header[0] !== sharedVars.length) {
    throw w.broken ?? new BackendError(`broadcast: rank ${root} broadcasts ${header[0]} shared variables, rank ${w.rank} passed ${sharedVars.length}: every rank must pass the same variables`);
  }
  let i = 1;
  sharedVars.forEach((v, k) => {
    const dtype = DTYPES[header[i++]!]!;
    const shape = Array.from(header.subarray(i + 1, i + 1 + header[i]!));
    i += 1 + shape.length;
    if (dtype !== v.type.dtype) throw new TypeMismatchError(`broadcast: shared variable ${k} (${v.label}) is ${v.type.dtype} on rank ${w.rank} but ${dtype} on rank ${root}`);
    const data = w.rank === root ? values[k]!.data : allocData(dtype, shape);
    w.broadcast(data, dtype, root, `broadcast of ${v.label}`);
    if (w.rank !== root) v.setValue(new NDArray(dtype, shape, data), { borrow: true });
  });
}

/** "rank 1" / "ranks 0, 2". */
const ranksText = (rs: readonly number[]): string => `rank${rs.length > 1 ? "s" : ""} ${rs.join(", ")}`;

/** The first 48 bits of a SHA-256 as two exact doubles (for an all-gather), and as hex. */
function hash48(text: string): { pair: [number, number]; hex: string } {
  const d = createHash("sha256").update(text).digest();
  return { pair: [d.readUIntBE(0, 3), d.readUIntBE(3, 3)], hex: d.subarray(0, 6).toString("hex") };
}

/**
 * Synchronous data-parallel training (see the module header). Every rank constructs it with the
 * same model, loss, optimiser, batch size and dataset (after `init()`), then calls `step()` or
 * `epoch()` the same number of times. The parameters' shapes are fixed at construction (the
 * fused buffer is laid out from them). Errors: `InputError` / `TypeMismatchError` for a bad
 * configuration (on each rank, before any collective), `BackendError` when the ranks disagree
 * or one is gone.
 */
export class DataParallel {
  readonly params: readonly SharedVariable[];
  /** The optimiser's state: one velocity per parameter for momentum, none for sgd. */
  readonly state: readonly SharedVariable[];
  /** The compiled step: (local batch inputs..., lr) -> [global loss, global metrics...]; parameters and state updated in place. */
  readonly train: TheanoFunction<NDArray[]>;
  readonly plan: ShardPlan;
  readonly stepsPerEpoch: number;
  /** Samples per step on this rank (batchSize / size). */
  readonly localBatch: number;
  /** The hash every rank agreed on (of the compiled graph's debugprint and the configuration). */
  readonly graphHash: string;
  private readonly world: MpiWorld;
  private readonly optimizer: Optimizer;
  private readonly metricNames: readonly string[];
  private readonly data: readonly NDArray[];
  private readonly rowLength: readonly number[];
  private readonly batch: readonly NDArray[];
  private readonly indices: Int32Array;
  private order: { epoch: number; order: Int32Array | null } = { epoch: -1, order: null };
  private steps = 0;

  constructor(opts: DataParallelOptions) {
    const w = requireWorld("theano.distributed.DataParallel");
    this.world = w;
    const { params, inputs, loss, data, optimizer } = opts;
    // The configuration, checked in the order a user would fix it.
    if (!Array.isArray(params) || params.length === 0) throw new InputError("DataParallel: params must be a non-empty array of shared variables (the model's parameters)");
    params.forEach((p, i) => {
      if (!(p instanceof SharedVariable)) throw new TypeMismatchError(`DataParallel: params[${i}] is not a shared variable (${String(p)})`);
      if (!isFloat(p.type.dtype)) throw new TypeMismatchError(`DataParallel: params[${i}] (${p.label}) is ${p.type.dtype}; parameters trained by gradient descent must be float32 or float64`);
      if (params.indexOf(p) !== i) throw new InputError(`DataParallel: params[${i}] (${p.label}) is also params[${params.indexOf(p)}]; give each parameter once`);
    });
    if (!Array.isArray(inputs) || inputs.length === 0) throw new InputError("DataParallel: inputs must be a non-empty array of the loss's symbolic inputs (e.g. [x, y])");
    if (!Array.isArray(data) || data.length !== inputs.length) throw new InputError(`DataParallel: data must hold one array per input (${inputs.length}), got ${Array.isArray(data) ? data.length : String(data)}`);
    inputs.forEach((x, i) => {
      const d = data[i];
      if (!(x instanceof TensorVariable) || x.owner) throw new InputError(`DataParallel: inputs[${i}] must be a free symbolic tensor (like T.matrix("x")), got ${String(x)}`);
      if (x.type.ndim === 0) throw new InputError(`DataParallel: inputs[${i}] (${x.label}) is a scalar; inputs need a sample axis 0 (a constant belongs in the graph)`);
      if (!(d instanceof NDArray)) throw new InputError(`DataParallel: data[${i}] must be an NDArray (theano.array(...)), got ${String(d)}`);
      if (d.dtype !== x.type.dtype || d.ndim !== x.type.ndim) throw new TypeMismatchError(`DataParallel: data[${i}] is ${d.dtype} of ${d.ndim} dimensions [${d.shape.join(", ")}] but inputs[${i}] (${x.label}) is ${x.type}`);
      if (d.shape[0] !== data[0]!.shape[0]) throw new InputError(`DataParallel: data[${i}] has ${d.shape[0]} samples but data[0] has ${data[0]!.shape[0]}; every input's array needs one row per sample`);
    });
    if (!(loss instanceof TensorVariable) || loss.type.ndim !== 0 || !isFloat(loss.type.dtype)) {
      throw new TypeMismatchError(`DataParallel: loss must be a float scalar (the mean over the batch), got ${loss instanceof TensorVariable ? `${loss.label} of type ${loss.type}` : String(loss)}`);
    }
    const metrics = opts.metrics ?? {};
    this.metricNames = Object.keys(metrics);
    for (const [name, m] of Object.entries(metrics)) {
      if (!(m instanceof TensorVariable) || m.type.ndim !== 0) throw new TypeMismatchError(`DataParallel: metric ${name} must be a scalar tensor (a mean over the batch), got ${m instanceof TensorVariable ? String(m.type) : String(m)}`);
    }
    this.plan = { n: data[0]!.shape[0]!, batchSize: opts.batchSize, size: w.size, rank: w.rank, shard: opts.shard ?? "strided", shuffle: opts.shuffle ?? false };
    checkPlan(this.plan);
    this.optimizer = checkOptimizer(optimizer);
    this.params = [...params];
    this.stepsPerEpoch = stepsPerEpoch(this.plan);
    this.localBatch = this.plan.batchSize / w.size;

    // The step's graph: gradients, fused into one flat buffer per dtype, one AllReduce{mean}
    // each (one in all when the parameters share a dtype), split back to the parameters' shapes.
    const grads = grad(loss, this.params);
    const lossDtype: DType = this.params.some((p) => p.type.dtype === loss.type.dtype) ? loss.type.dtype : this.params[0]!.type.dtype;
    const dtypes = [...new Set(this.params.map((p) => p.type.dtype))];
    const reduced: TensorVariable[] = new Array(this.params.length);
    const outputs: TensorVariable[] = [];
    for (const dtype of dtypes) {
      const members = this.params.flatMap((p, i) => (p.type.dtype === dtype ? [i] : []));
      const scalars = dtype === lossDtype ? [loss, ...this.metricNames.map((k) => metrics[k]!)] : [];
      const pieces = [...members.map((i) => grads[i]!.flatten()), ...scalars.map((s) => cast(s, dtype).reshape([1]))];
      const fused = allReduce(concatenate(pieces), "mean");
      let at = 0;
      for (const i of members) {
        const shape = this.params[i]!.getValue({ borrow: true }).shape;
        const n = shape.reduce((a, b) => a * b, 1);
        reduced[i] = fused.get(slice(at, at + n)).reshape([...shape]);
        at += n;
      }
      scalars.forEach((_s, k) => outputs.push(fused.get(at + k)));
    }
    const lrDtype = lossDtype;
    const lr = tensor({ dtype: lrDtype, shape: [], name: "lr" });
    const updates: Array<[SharedVariable, TensorVariable]> = [];
    const state: SharedVariable[] = [];
    const opt = this.optimizer;
    this.params.forEach((p, i) => {
      const dtype = p.type.dtype;
      const g = reduced[i]!;
      const step = cast(lr, dtype).mul(g);
      switch (opt.kind) {
        case "sgd":
          updates.push([p, cast(p.sub(step), dtype)]);
          break;
        case "momentum": {
          const mu = opt.momentum ?? 0.9;
          const v = shared(new NDArray(dtype, p.getValue({ borrow: true }).shape, allocData(dtype, p.getValue({ borrow: true }).shape)), { name: `velocity_${p.name ?? i}` });
          state.push(v);
          const v1 = cast(v.mul(mu).sub(step), dtype);
          updates.push([v, v1], [p, cast(opt.nesterov ? p.add(v1.mul(mu)).sub(step) : p.add(v1), dtype)]);
          break;
        }
        default:
          opt satisfies never;
      }
    });
    this.state = state;
    this.train = function_([...inputs, lr], outputs, { updates, mode: opts.mode, name: "data_parallel_step" }) as TheanoFunction<NDArray[]>;

    // Agreement: the same compiled graph and configuration on every rank, or an error on all.
    const config = {
      n: this.plan.n,
      batchSize: this.plan.batchSize,
      shard: this.plan.shard,
      shuffle: this.plan.shuffle,
      optimizer: { ...opt, lr: typeof opt.lr === "number" ? opt.lr : "schedule" },
      params: this.params.map((p) => [p.type.dtype, p.getValue({ borrow: true }).shape]),
      data: data.map((d) => [d.dtype, d.shape]),
      metrics: this.metricNames,
    };
    const { pair, hex } = hash48(`${debugprint(this.train, { print: false })}\n${JSON.stringify(config)}`);
    this.graphHash = hex;
    const all = new Float64Array(2 * w.size);
    w.allGather(new Float64Array(pair), all, "float64", "DataParallel (graph hash)");
    const groups = new Map<string, number[]>();
    for (let r = 0; r < w.size; r++) {
      const h = `${all[2 * r]!.toString(16).padStart(6, "0")}${all[2 * r + 1]!.toString(16).padStart(6, "0")}`;
      groups.set(h, [...(groups.get(h) ?? []), r]);
    }
    if (groups.size > 1) {
      const table = [...groups].map(([h, rs]) => `${ranksText(rs)}: ${h}`).join("; ");
      throw new BackendError(
        `DataParallel on rank ${w.rank}: the ranks built different training steps (hash of the compiled graph and the configuration — ${table}); every rank must build the same model, loss, optimiser, batch size and dataset shape, or the ranks would enter different collectives`,
      );
    }
    broadcast(this.params, 0);

    // Batch buffers, filled from the dataset each step.
    this.data = data.map((d) => d.contiguous());
    this.rowLength = this.data.map((d) => d.shape.slice(1).reduce((a, b) => a * b, 1));
    this.batch = this.data.map((d) => {
      const shape = [this.localBatch, ...d.shape.slice(1)];
      return new NDArray(d.dtype, shape, allocData(d.dtype, shape));
    });
    this.indices = new Int32Array(this.localBatch);
  }

  /** Global steps done (what a checkpoint saves and `load` restores). */
  get stepCount(): number {
    return this.steps;
  }

  /** The epoch the next step belongs to (0 first). */
  get epochNumber(): number {
    return Math.floor(this.steps / this.stepsPerEpoch);
  }

  /** This rank's samples at global step `step` (default: the next one). */
  sampleIndices(step = this.steps): Int32Array {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (this.order.epoch !== epoch) this.order = { epoch, order: epochOrder(this.plan, epoch) };
    return shardIndices(this.plan, step, this.order.order, this.indices);
  }

  /** One step on one global batch (every rank must call it); returns that batch's loss and metrics. */
  step(): StepResult {
    const idx = this.sampleIndices();
    this.data.forEach((d, k) => {
      const len = this.rowLength[k]!;
      const src = d.data;
      const dst = this.batch[k]!.data;
      for (let j = 0; j < idx.length; j++) dst.set(src.subarray(idx[j]! * len, (idx[j]! + 1) * len) as never, j * len);
    });
    const lr = this.learningRate(this.steps);
    const out = this.train(...this.batch, lr);
    this.steps++;
    const metrics: Record<string, number> = {};
    this.metricNames.forEach((k, i) => (metrics[k] = Number(out[i + 1]!.get())));
    return { loss: Number(out[0]!.get()), metrics };
  }

  /** The steps left in the current epoch; returns their mean loss and metrics. */
  epoch(): StepResult {
    const end = (this.epochNumber + 1) * this.stepsPerEpoch;
    let n = 0;
    let loss = 0;
    const sums: Record<string, number> = Object.fromEntries(this.metricNames.map((k) => [k, 0]));
    while (this.steps < end) {
      const r = this.step();
      loss += r.loss;
      for (const k of this.metricNames) sums[k]! += r.metrics[k]!;
      n++;
    }
    return { loss: loss / n, metrics: Object.fromEntries(this.metricNames.map((k) => [k, sums[k]! / n])) };
  }

  private learningRate(step: number): number {
    const lr = this.optimizer.lr;
    const v = typeof lr === "number" ? lr : lr(step);
    if (!Number.isFinite(v)) throw new InputError(`DataParallel: the learning-rate schedule gave ${v} at step ${step}; it must return a finite number`);
    return v;
  }

  /**
   * Writes a checkpoint: an `.npz` (appended to `path` if missing) with `param_<i>`,
   * `state_<i>` (the optimiser's) and `step`, written by rank 0 only (to a temporary file renamed
   * into place); every rank returns once it is there, or raises if rank 0 could not write it.
   * Returns the path written.
   */
  save(path: string): string {
    if (typeof path !== "string" || path === "") throw new InputError(`DataParallel.save needs a non-empty file path, got ${JSON.stringify(path)}`);
    const file = path.endsWith(".npz") ? path : `${path}.npz`;
    const w = this.world;
    let failure: unknown = null;
    if (w.rank === 0) {
      try {
        const arrays: Record<string, NDArray> = { step: new NDArray("float64", [], new Float64Array([this.steps])) };
        this.params.forEach((p, i) => (arrays[`param_${i}`] = p.getValue({ borrow: true })));
        this.state.forEach((s, i) => (arrays[`state_${i}`] = s.getValue({ borrow: true })));
        const tmp = `${file}.tmp-${process.pid}`;
        writeFileSync(tmp, toNpzBytes(arrays));
        renameSync(tmp, file);
      } catch (e) {
        failure = e;
      }
    }
    // The outcome from rank 0; the broadcast also holds the others until the file is there.
    const ok = new Float64Array([failure === null ? 1 : 0]);
    w.broadcast(ok, "float64", 0, `DataParallel.save(${file})`);
    if (failure !== null) throw failure instanceof TheanoError ? failure : new InputError(`DataParallel.save: rank 0 could not write ${file}: ${(failure as Error).message}`, { cause: failure });
    if (ok[0] !== 1) throw new BackendError(`DataParallel.save: rank 0 could not write ${file} (rank 0 raised the reason); no checkpoint was written`);
    return file;
  }

  /**
   * Resumes from a checkpoint `save` wrote: every rank reads `path` (a file system all ranks
   * see), checks it against this model (count, dtypes and shapes of the parameters and state),
   * and the ranks agree that they all read it and the same step before any value is set; the
   * next step is the checkpoint's step, on the same samples an uninterrupted run would take.
   */
  load(path: string): void {
    const w = this.world;
    let values: NDArray[] = [];
    let step = -1;
    let failure: unknown = null;
    try {
      if (typeof path !== "string" || path === "") throw new InputError(`DataParallel.load needs a non-empty file path, got ${JSON.stringify(path)}`);
      const raw = readFileSync(path);
      const rec = fromNpzBytes(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), path);
      const want = [...this.params.map((p, i) => [`param_${i}`, p] as const), ...this.state.map((s, i) => [`state_${i}`, s] as const)];
      const extra = Object.keys(rec).filter((k) => k !== "step" && !want.some(([name]) => name === k));
      if (extra.length > 0) throw new InputError(`${path}: holds ${extra.join(", ")}, which this model (${this.params.length} parameters, ${this.state.length} optimiser state arrays) has not: a checkpoint of another model or optimiser`);
      values = want.map(([name, v]) => {
        const a = rec[name];
        const cur = v.getValue({ borrow: true });
        if (!a) throw new InputError(`${path}: no ${name} (for ${v.label}): a checkpoint of another model or optimiser`);
        if (a.dtype !== cur.dtype || a.shape.join() !== cur.shape.join()) throw new InputError(`${path}: ${name} is ${a.dtype} [${a.shape.join(", ")}] but ${v.label} is ${cur.dtype} [${cur.shape.join(", ")}]`);
        return a;
      });
      const s = rec.step;
      step = s && s.size === 1 ? Number(s.toFlat()[0]) : -1;
      if (!Number.isInteger(step) || step < 0) throw new InputError(`${path}: no step counter (a non-negative integer "step"): not a DataParallel checkpoint`);
    } catch (e) {
      failure = e;
    }
    // Every rank read it, and the same step, or every rank raises (naming the ranks).
    const mine = new Float64Array([failure === null ? 1 : 0, step]);
    const all = new Float64Array(2 * w.size);
    w.allGather(mine, all, "float64", `DataParallel.load(${path})`);
    const ranks = [...Array(w.size).keys()];
    const failed = ranks.filter((r) => all[2 * r] !== 1);
    if (failure !== null) throw failure instanceof TheanoError ? failure : new InputError(`DataParallel.load: rank ${w.rank} could not read ${path}: ${(failure as Error).message}`, { cause: failure });
    if (failed.length > 0) throw new BackendError(`DataParallel.load(${path}): ${ranksText(failed)} could not read the checkpoint (each raised the reason); rank ${w.rank} keeps its state`);
    if (ranks.some((r) => all[2 * r + 1] !== step)) {
      throw new BackendError(`DataParallel.load(${path}): the ranks read different checkpoints (${ranks.map((r) => `rank ${r}: step ${all[2 * r + 1]}`).join(", ")}); they must all see the same file`);
    }
    [...this.params, ...this.state].forEach((v, i) => v.setValue(values[i]!));
    this.steps = step;
  }
}

function checkOptimizer(o: Optimizer): Optimizer {
  if (typeof o !== "object" || o === null) throw new InputError(`DataParallel: optimizer must be { kind: "sgd", lr } or { kind: "momentum", lr, momentum? }, got ${String(o)}`);
  const lr = o.lr;
  if (!(typeof lr === "function" || (typeof lr === "number" && Number.isFinite(lr) && lr > 0))) throw new InputError(`DataParallel: optimizer.lr must be a positive number or a function of the step, got ${String(lr)}`);
  switch (o.kind) {
    case "sgd":
      return o;
    case "momentum": {
      const mu = o.momentum ?? 0.9;
      if (!(typeof mu === "number" && mu >= 0 && mu < 1)) throw new InputError(`DataParallel: optimizer.momentum must be a number in [0, 1), got ${String(mu)}`);
      return o;
    }
    default:
      throw new InputError(`DataParallel: optimizer.kind must be "sgd" or "momentum", got ${String((o as { kind: unknown }).kind)}`);
  }
}
