/**
 * `theano.distributed.DataParallel` (issue 19). The shard plan's arithmetic and the need for
 * `init()` run in-process; training runs data_parallel_child.ts under `mpirun` on 1, 2 and 4
 * processes: equality with one process on the whole batch, one fused AllReduce a step,
 * checkpoint and resume in a new job, bad configurations and different graphs on different
 * ranks raising on every rank. Skipped with one line without mpirun or libmpi.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { BackendError } from "../../src/errors.js";
import { parseDemoArgs } from "../../src/cli/demo.js";
import { mpirunArgv } from "../../src/cli/demo_mpi.js";
import { MPI, hasMpirun, lines, mpirun } from "./mpirun.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** `theano-ts demo ...` through the CLI entry in a child process. */
const demo = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "demo", ...args], { cwd: ROOT, encoding: "utf8", env, timeout: 400_000 });

const D = theano.distributed;

if (!MPI) console.warn(`test/distributed/data_parallel.test.ts: the mpirun tests are skipped: no ${hasMpirun ? "libmpi" : "mpirun"} (apt-get install openmpi-bin libopenmpi-dev)`);

describe("DataParallel's shard plan", () => {
  const plan = (size: number, rank: number, shard: "strided" | "contiguous", shuffle: number | false = false): theano.distributed.ShardPlan => ({ n: 37, batchSize: 8, size, rank, shard, shuffle });
  const take = (size: number, shard: "strided" | "contiguous", step: number, shuffle: number | false = false): number[][] =>
    Array.from({ length: size }, (_, r) => {
      const p = plan(size, r, shard, shuffle);
      return Array.from(D.shardIndices(p, step, D.epochOrder(p, Math.floor(step / D.stepsPerEpoch(p)))));
    });

  it("strided: step k's global batch is what one process takes, on every process count", () => {
    expect(D.stepsPerEpoch(plan(2, 0, "strided"))).toBe(4); // 37 samples, batch 8: 5 left out an epoch
    expect(take(2, "strided", 1)).toEqual([[8, 10, 12, 14], [9, 11, 13, 15]]);
    for (const shuffle of [false, 11] as const) {
      for (let step = 0; step < 9; step++) {
        const one = take(1, "strided", step, shuffle)[0]!;
        for (const size of [2, 4, 8]) expect(take(size, "strided", step, shuffle).flat().sort((a, b) => a - b), `${size} ranks, step ${step}`).toEqual([...one].sort((a, b) => a - b));
      }
    }
  });

  it("contiguous: each rank walks its own block; every sample used at most once an epoch", () => {
    expect(take(2, "contiguous", 0)).toEqual([[0, 1, 2, 3], [16, 17, 18, 19]]);
    expect(take(2, "contiguous", 3)).toEqual([[12, 13, 14, 15], [28, 29, 30, 31]]);
    const epoch = [0, 1, 2, 3].flatMap((s) => take(4, "contiguous", 4 + s, 5).flat());
    expect(new Set(epoch).size).toBe(32);
  });

  it("shuffling permutes each epoch differently, and the same way on every rank", () => {
    const p = plan(1, 0, "strided", 11);
    const [a, b] = [D.epochOrder(p, 0)!, D.epochOrder(p, 1)!];
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(37).keys()]);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(Array.from(D.epochOrder(plan(4, 3, "strided", 11), 0)!)).toEqual(Array.from(a));
  });

  it("needs init() first", () => {
    const x = theano.T.matrix("x");
    const W = theano.shared(theano.zeros([5, 1]), { name: "W" });
    expect(() => new D.DataParallel({ params: [W], inputs: [x], loss: theano.T.mean(theano.T.dot(x, W)), data: [theano.zeros([8, 5])], batchSize: 4, optimizer: { kind: "sgd", lr: 0.1 } })).toThrow(BackendError);
  });
});

describe("theano-ts demo --np", () => {
  it("parses --np and spells every option out for the ranks", () => {
    const opts = parseDemoArgs(["--np", "2", "--quick"]);
    expect(opts.np).toBe(2);
    expect(() => parseDemoArgs(["--np", "0"])).toThrow(/--np needs a positive integer, got 0/);
    const argv = mpirunArgv(opts);
    expect(argv.slice(0, 3)).toEqual(["-np", "2", "--oversubscribe"]);
    expect(argv.join(" ")).toContain("demo --model mlp --epochs 3 --batch 200 --hidden 128 --lr 0.3 --seed 1234 --out . --quick");
  });

  it("without mpirun on PATH it says so and how to get it (exit 1)", () => {
    const empty = mkdtempSync(join(tmpdir(), "theano-ts-no-mpirun-"));
    const run = demo(["--np", "2", "--quick"], { ...process.env, PATH: empty });
    rmSync(empty, { recursive: true, force: true });
    expect(run.stderr).toContain("theano-ts demo --np 2: no mpirun on PATH; install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), or run the demo without --np");
    expect(run.status).toBe(1);
  });

  it.skipIf(!MPI)("demo --np 2 --quick trains on 2 processes, rank 0 reporting", { timeout: 400_000 }, () => {
    const out = mkdtempSync(join(tmpdir(), "theano-ts-demo-np-"));
    try {
      const run = demo(["--np", "2", "--quick", "--epochs", "1", "--out", out]);
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain("data-parallel on 2 processes (theano.distributed.DataParallel");
      expect(run.stdout.match(/^epoch 1\/1: train loss/gm)?.length, run.stdout).toBe(1); // one report, from rank 0
      expect(run.stdout).toMatch(/test accuracy (\d+\.\d+)% on 2,000 held-out digits/);
      expect(existsSync(join(out, "theano-ts-demo-curve.svg"))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!MPI)("DataParallel under mpirun", () => {
  it("1, 2 and 4 processes give the same parameters after 20 steps, with one AllReduce a step", { timeout: 600_000 }, async () => {
    type Row = { rank: number; size: number; dtype: string; params: number[][]; losses: number[]; steps: number };
    const rows: Row[] = [];
    for (const n of [1, 2, 4]) {
      const run = await mpirun(n, "data_parallel_child.ts", ["equal"], 300);
      const got = lines(run, "RESULT") as unknown as Row[];
      expect(got.length, run.out).toBe(2 * n);
      rows.push(...got);
      // Every gradient, the loss and the metric go through one fused, in-place AllReduce{mean}.
      for (const a of lines(run, "ALLREDUCE")) expect(a, run.out).toMatchObject({ ids: 1, nodes: ["AllReduce{op=mean, inplace=true}"] });
      console.log(`mpirun -np ${n}: ${run.seconds.toFixed(1)} s`);
    }
    for (const dtype of ["float64", "float32"]) {
      const one = rows.find((r) => r.size === 1 && r.dtype === dtype)!;
      expect(one.steps).toBe(20);
      for (const n of [2, 4]) {
        const ranks = rows.filter((r) => r.size === n && r.dtype === dtype);
        expect(ranks.length).toBe(n);
        let maxDiff = 0;
        let maxLoss = 0;
        for (const r of ranks) {
          // The ranks hold the same bits: one reduction, the same result on every rank.
          expect(r.params, `${n} processes, rank ${r.rank}, ${dtype}`).toEqual(ranks[0]!.params);
          r.params.flat().forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - one.params.flat()[i]!))));
          r.losses.forEach((v, i) => (maxLoss = Math.max(maxLoss, Math.abs(v - one.losses[i]!))));
        }
        expect(maxDiff, `${n} processes against 1, ${dtype}`).toBeLessThan(dtype === "float64" ? 1e-12 : 2e-5);
        expect(maxLoss).toBeLessThan(dtype === "float64" ? 1e-12 : 2e-5);
        console.log(`${dtype}, ${n} processes: every rank identical; max |difference| to 1 process on the whole batch: parameters ${maxDiff.toExponential(2)}, losses ${maxLoss.toExponential(2)}`);
      }
    }
  });

  it("a checkpoint at step 10 resumed in a new job to step 20 equals 20 uninterrupted steps, bit for bit", { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "theano-ts-dp-"));
    try {
      const file = join(dir, "ckpt.npz");
      const full = await mpirun(2, "data_parallel_child.ts", ["ckpt", file], 300);
      const resumed = await mpirun(2, "data_parallel_child.ts", ["resume", file], 300);
      const a = lines(full, "FULL");
      const b = lines(resumed, "RESUMED");
      expect(a.length, full.out).toBe(2);
      expect(b.length, resumed.out).toBe(2);
      for (const r of b) {
        expect(r.step).toBe(10);
        expect(r.params).toEqual(a[0]!.params);
      }
      // What rank 0 wrote is an ordinary .npz: parameters, momentum velocities, the step counter.
      const rec = theano.loadNpz(file);
      expect(Object.keys(rec).sort()).toEqual(["param_0", "param_1", "param_2", "param_3", "state_0", "state_1", "state_2", "state_3", "step"]);
      expect(Number(rec.step!.get())).toBe(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bad configurations raise documented errors; different graphs on two ranks raise on every rank, naming them", { timeout: 300_000 }, async () => {
    const run = await mpirun(2, "data_parallel_child.ts", ["mismatch"], 200);
    for (const r of [0, 1]) {
      expect(run.out).toContain(`CAUGHT rank ${r} odd-batch InputError: DataParallel: batchSize 7 is not a multiple of the 2 ranks`);
      expect(run.out).toContain(`CAUGHT rank ${r} big-batch InputError: DataParallel: batchSize 40 is more than the 37 samples`);
      expect(run.out).toContain(`CAUGHT rank ${r} dtype TypeMismatchError: DataParallel: data[0] is float32`);
      expect(run.out).toContain(`CAUGHT rank ${r} vector-loss TypeMismatchError: DataParallel: loss must be a float scalar`);
      expect(run.out).toContain(`CAUGHT rank ${r} momentum InputError: DataParallel: optimizer.momentum must be a number in [0, 1), got 1.5`);
      expect(run.out).toMatch(new RegExp(`CAUGHT rank ${r} graph BackendError: DataParallel on rank ${r}: the ranks built different training steps \\(.*rank 0: [0-9a-f]{12}; rank 1: [0-9a-f]{12}\\)`));
      expect(run.out).toContain(`DONE rank ${r}`);
    }
    expect(run.code, run.out).toBe(0);
  });
});
