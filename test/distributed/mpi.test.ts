/**
 * theano.distributed (issue 19). The library-missing and not-initialised errors run in-process;
 * the rest run child programs under `mpirun` (sgd_child.ts, ops_child.ts) on 1, 2 and 4
 * processes (oversubscribed, loopback only), each with a deadline after which the whole
 * process group is killed: no test can hang. Without mpirun or libmpi those are skipped with
 * one line saying how to get them.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { BackendError, TypeMismatchError } from "../../src/errors.js";
import { MPI, expectOps, hasMpirun, lines, mpirun } from "./mpirun.js";

const D = theano.distributed;

if (!MPI) console.warn(`test/distributed/mpi.test.ts: the mpirun tests are skipped: no ${hasMpirun ? "libmpi" : "mpirun"} (apt-get install openmpi-bin libopenmpi-dev)`);

describe("theano.distributed without mpirun", () => {
  it("a library that cannot be opened is a BackendError naming it and how to install MPI", () => {
    const bad = "/nonexistent/libmpi.so.40";
    expect(() => D.init({ library: bad })).toThrow(BackendError);
    try {
      D.init({ library: bad });
    } catch (e) {
      expect((e as Error).message).toContain(bad);
      expect((e as Error).message).toContain("apt-get install openmpi-bin libopenmpi-dev");
    }
    // A library that loads but is not MPI is refused, saying so.
    expect(() => D.init({ library: "libc.so.6" })).toThrow(/libc.so.6 is not an MPI library \(it has no MPI_Init_thread\)/);
    expect(() => D.init({ timeoutS: 0 })).toThrow(/timeoutS must be a positive number of seconds/);
    expect(D.initialized()).toBe(false);
  });

  it("the collectives need init() first, said when the function runs; bad ops are refused when built", () => {
    const x = theano.T.vector("x");
    const f = theano.function([x], D.allReduce(x, "sum"));
    expect(() => f([1, 2])).toThrow(/call theano.distributed.init\(\) first/);
    expect(() => D.allReduce(theano.T.ivector("i"), "mean")).toThrow(TypeMismatchError);
    expect(() => D.allReduce(x, "prod" as "sum")).toThrow(/op must be one of sum, mean, max, min/);
    expect(() => D.allGather(theano.T.scalar("s"))).toThrow(TypeMismatchError);
    expect(String(D.allReduce(x, "mean").owner!.op)).toBe("AllReduce{op=mean}");
  });
});

describe.skipIf(!MPI)("theano.distributed under mpirun", () => {
  it("values and gradients of allReduce (sum, mean, max, min), allGather and broadcast on 2 processes", { timeout: 240_000 }, async () => {
    expectOps(await mpirun(2, "ops_child.ts"), 2);
  });

  it("ranks that disagree on a collective's size or operation all raise, and the world stays usable", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "ops_child.ts", ["mismatch"]);
    for (const r of [0, 1]) {
      expect(run.out).toContain(`CAUGHT rank ${r} ShapeError: allReduce{sum} of shape [${3 + r}] float64: the ranks hold different sizes (rank 0: 3 elements, rank 1: 4 elements)`);
      expect(run.out).toMatch(new RegExp(`CAUGHT rank ${r} BackendError: allReduce\\{${r ? "max" : "sum"}\\} .* rank ${1 - r} called a different collective operation at the same point`));
      expect(run.out).toContain(`DONE rank ${r} [1,2]`);
    }
    expect(run.code, run.out).toBe(0);
  });

  it("2 and 4 processes on shards of a global batch give the parameters of 1 process after 20 SGD steps", { timeout: 600_000 }, async () => {
    type Row = { rank: number; size: number; dtype: string; shards: number; params: number[][] };
    const results: Row[] = [];
    const refs: Row[] = [];
    for (const n of [1, 2, 4]) {
      const run = await mpirun(n, "sgd_child.ts");
      const got = lines(run, "RESULT") as unknown as Row[];
      expect(got.length, run.out).toBe(2 * n);
      results.push(...got);
      refs.push(...(lines(run, "REF") as unknown as Row[]));
      // Every gradient all-reduce of the compiled step runs in place (4 parameters, 2 dtypes).
      for (const g of lines(run, "INPLACE")) expect(g, run.out).toMatchObject({ inplace: 4, all: 4 });
      console.log(`mpirun -np ${n}: ${run.seconds.toFixed(1)} s`);
    }
    const flat = (r: Row): number[] => r.params.flat();
    for (const dtype of ["float64", "float32"]) {
      const one = flat(results.find((r) => r.size === 1 && r.dtype === dtype)!);
      for (const n of [2, 4]) {
        // The per-shard gradients summed in MPI_Allreduce's order on one process: bit for bit.
        const ref = flat(refs.find((r) => r.shards === n && r.dtype === dtype)!);
        const ranks = results.filter((r) => r.size === n && r.dtype === dtype);
        expect(ranks.length).toBe(n);
        let maxDiff = 0;
        for (const r of ranks) {
          expect(flat(r), `${n} processes, rank ${r.rank}, ${dtype}: bit-identical to the shard-sum reference`).toEqual(ref);
          for (const [i, v] of flat(r).entries()) maxDiff = Math.max(maxDiff, Math.abs(v - one[i]!));
        }
        // Against one process's whole-batch gradient: the summation order differs, to rounding.
        expect(maxDiff, `${n} processes against 1, ${dtype}`).toBeLessThan(dtype === "float64" ? 1e-12 : 1e-5);
        console.log(`${dtype}, ${n} processes: every rank bit-identical to the ordered shard sum; max |difference| to 1 process on the whole batch ${maxDiff.toExponential(2)}`);
      }
    }
  });

  it("a rank that exits early makes the others raise a BackendError naming it, at once", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "sgd_child.ts", ["exit", "5"], 120);
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: rank 1 \(pid \d+\) exited with code 3 after \d+ collective operations, while rank 0 waits in allReduce\{sum\}/);
    expect(run.seconds).toBeLessThan(120);
  });

  it("a rank that does not come within init's timeoutS makes the others raise, never hang", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "ops_child.ts", ["stuck"], 120);
    expect(run.out).toContain("CAUGHT rank 0 BackendError: barrier on rank 0 did not complete within 2 s");
    expect(run.seconds).toBeLessThan(25); // rank 1 would sleep 30 s: mpirun ends it once rank 0 has left
  });

  it("a killed rank makes the others fail naming it, never hang", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "sgd_child.ts", ["kill", "5"], 120);
    // Rank 0 sees the pid gone (BackendError), unless mpirun, which ends the job when a rank
    // dies of a signal, stops rank 0 first; either way the dead rank is named and nothing hangs.
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: rank 1 \(pid \d+\) is no longer running|process rank 1 with PID \d+ on node \S+ exited on signal 9/);
    expect(run.seconds).toBeLessThan(120);
    console.log(`killed rank: ${/CAUGHT rank 0 BackendError/.test(run.out) ? "rank 0 raised BackendError naming rank 1" : "mpirun stopped rank 0 first, naming rank 1"} (${run.seconds.toFixed(1)} s)`);
  });
});
