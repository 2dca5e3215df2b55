/**
 * The C backend's all-reduce inside the generated module (src/link/c/ops/distributed.ts): on 2
 * and 4 processes the compiled training step has no host AllReduce node, and its parameters are
 * bit for bit those of the same step with the all-reduce on the host
 * (`distributed.c_collectives=False`); allGather in the module too (gather_child.ts), with the
 * values of the host path; a rank that leaves mid-training makes the others raise a
 * BackendError naming it from inside C, and one that stops coming hits the deadline, without a
 * hang. Child: c_child.ts, under `mpirun` with a deadline (mpirun.ts). A function compiled before
 * init() keeps the node on the host (first test, in-process); the rest of the collectives'
 * behaviour (values, gradients, disagreeing ranks), now through C too, is mpi.test.ts's.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import type { Apply } from "../../src/graph/basic.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";
import { MPI, expectGathers, lines, mpirun } from "./mpirun.js";

type Row = { rank: number; size: number; dtype: string; inC: boolean; params: number[][]; place: string[] };

describe.skipIf(!cCompilerStatus().ok)("allReduce on the C linker without init()", () => {
  it("stays a host node (the function needs no MPI until it runs), and says init() is missing", () => {
    const x = theano.T.vector("x");
    const f = theano.config.change({ linker: "c" }, () => theano.function([x], theano.distributed.allReduce(x.mul(2), "mean")));
    const place = f.fgraph.toposort().map((n: Apply) => `${String(n.op)}:${String(n.tag.backend)}`);
    expect(place.filter((p: string) => p.startsWith("AllReduce"))).toEqual([expect.stringMatching(/:host$/)]);
    expect(place.some((p: string) => p.endsWith(":c"))).toBe(true);
    expect(() => f([1, 2])).toThrow(/call theano.distributed.init\(\) first/);
  });
});

describe.skipIf(!MPI)("allReduce inside the C module", () => {
  it("2 and 4 processes: no host AllReduce node, and the same bits as the host path", { timeout: 600_000 }, async () => {
    for (const n of [2, 4]) {
      const run = await mpirun(n, "c_child.ts");
      const place = lines(run, "PLACE") as unknown as Row[];
      const res = lines(run, "RESULT") as unknown as Row[];
      expect(res.length, run.out).toBe(4 * n);
      for (const p of place) expect(p.place, run.out).toEqual(Array(5).fill(p.inC ? "c" : "host"));
      for (const dtype of ["float64", "float32"]) {
        const host = res.find((r) => r.dtype === dtype && !r.inC)!;
        for (const r of res.filter((q) => q.dtype === dtype)) expect(r.params, `${n} processes, rank ${r.rank}, ${dtype}, ${r.inC ? "in C" : "host"}`).toEqual(host.params);
      }
      console.log(`mpirun -np ${n}: in-C and host all-reduce give identical parameters on every rank (${run.seconds.toFixed(1)} s)`);
    }
  });

  it("allGather: 2 and 4 processes, every node in the module, the values of the host path", { timeout: 600_000 }, async () => {
    for (const n of [2, 4]) {
      const run = await mpirun(n, "gather_child.ts");
      expectGathers(run, n);
      console.log(`mpirun -np ${n}: allGather along axes 0 and 1, of a strided view and in a gradient, in C and on the host: the expected values on every rank (${run.seconds.toFixed(1)} s)`);
    }
  });

  it("a rank that exits mid-training makes the others raise a BackendError naming it, from C", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "c_child.ts", ["exit", "5"], 120);
    expect(run.out).toMatch(/PLACE \{"rank":0,"size":2,"dtype":"float64","inC":true,"place":\["c","c","c","c","c"\]\}/);
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: rank 1 \(pid \d+\) exited with code 3 after \d+ collective operations, while rank 0 waits in allReduce\{(mean|sum)\} of shape \[[\d, ]+\] float64/);
    expect(run.seconds).toBeLessThan(120);
  });

  it("a rank that does not come within init's timeoutS makes the others raise, never hang", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "c_child.ts", ["stuck", "5"], 120);
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: allReduce\{(mean|sum)\} of shape \[[\d, ]+\] float64 \(agreement\) on rank 0 did not complete within 2 s/);
    expect(run.seconds).toBeLessThan(25); // rank 1 would sleep 30 s: mpirun ends it once rank 0 has left
  });

  it("a killed rank makes the others fail naming it, never hang", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "c_child.ts", ["kill", "5"], 120);
    // as in mpi.test.ts: rank 0 raises, unless mpirun (which ends the job when a rank dies of a signal) stops it first
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: rank 1 \(pid \d+\) is no longer running.*waits in allReduce|process rank 1 with PID \d+ on node \S+ exited on signal 9/);
    expect(run.out).not.toMatch(/Segmentation fault|signal 11/);
    expect(run.seconds).toBeLessThan(120);
  });
});
