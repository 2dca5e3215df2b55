/**
 * theano.distributed on MPICH (issue 19: "MPICH should work too"): its integer-handle ABI beside
 * Open MPI's (src/distributed/mpi.ts `MPICH_ABI`), on the host path and from generated C
 * (src/link/c/ops/distributed.ts). The same child programs as mpi.test.ts and
 * c_collectives.test.ts run under MPICH's launcher, `mpiexec.mpich -n 2` (Debian installs it
 * beside Open MPI's default `mpirun`), and must give the same values; the watch (a rank that
 * exits, stops coming, or is killed) must end every rank without a hang. Which library a
 * process opens (flag, launcher's environment, search order) is checked in-process, and a
 * library that is not the launcher's is refused on every rank. Skipped, with one line saying
 * why, where MPICH is not installed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { MPI_SONAMES, libraryCandidates } from "../../src/distributed/mpi.js";
import { MPI, expectGathers, expectOps, lines, mpirun, noMpich } from "./mpirun.js";

if (noMpich) console.warn(`test/distributed/mpich.test.ts: the MPICH tests are skipped: ${noMpich} (apt-get install mpich libmpich-dev)`);

const MPICH = { launcher: "mpich" } as const;

describe("which MPI library a process opens", () => {
  it("init's library, then the flag, then the launcher's environment, then Open MPI's before MPICH's", () => {
    expect(libraryCandidates("/opt/x/libmpi.so", "mpich", { OMPI_COMM_WORLD_SIZE: "2" }).candidates).toEqual(["/opt/x/libmpi.so"]);
    expect(libraryCandidates(undefined, "mpich", { OMPI_COMM_WORLD_SIZE: "2" })).toEqual({ candidates: ["libmpich.so.12", "libmpi.so.12"], why: "distributed.mpi_library=mpich" });
    expect(libraryCandidates(undefined, "openmpi", { PMI_SIZE: "2" }).candidates).toEqual(["libmpi.so.40"]);
    expect(libraryCandidates(undefined, "auto", { OMPI_COMM_WORLD_SIZE: "4" })).toEqual({ candidates: MPI_SONAMES.openmpi, why: "started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is set)" });
    for (const env of [{ PMI_SIZE: "2" }, { PMI_RANK: "0" }, { HYDRA_CONTROL_FD: "7" }]) expect(libraryCandidates(undefined, "auto", env).candidates).toEqual(MPI_SONAMES.mpich);
    expect(libraryCandidates(undefined, "auto", {}).candidates).toEqual(["libmpi.so.40", "libmpich.so.12", "libmpi.so.12", "libmpi.so"]);
    expect(theano.config.distributed.mpi_library).toBe("auto");
  });
});

describe.skipIf(noMpich !== null)("theano.distributed under MPICH (mpiexec.mpich -n 2)", () => {
  it("values and gradients of allReduce, allGather and broadcast: those of Open MPI, through MPICH's library", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "ops_child.ts", [], 180, MPICH);
    expectOps(run, 2);
    for (const r of lines(run, "OPS")) expect(r.info, run.out).toMatchObject({ library: "libmpich.so.12", version: expect.stringMatching(/^MPICH Version: \d/) });
    // the exit notices are received before MPI_Finalize: UCX has no unreceived message to warn of
    expect(run.out).not.toMatch(/was not matched/);
    expect(run.code, run.out).toBe(0);
  });

  it("allReduce inside the C module: no host node, the bits of the host path", { timeout: 300_000 }, async () => {
    const run = await mpirun(2, "c_child.ts", [], 240, MPICH);
    type Row = { rank: number; dtype: string; inC: boolean; params: number[][]; place: string[] };
    const res = lines(run, "RESULT") as unknown as Row[];
    expect(res.length, run.out).toBe(8);
    for (const p of lines(run, "PLACE") as unknown as Row[]) expect(p.place, run.out).toEqual(Array(5).fill(p.inC ? "c" : "host"));
    for (const dtype of ["float64", "float32"]) {
      const host = res.find((r) => r.dtype === dtype && !r.inC)!;
      for (const r of res.filter((q) => q.dtype === dtype)) expect(r.params, `rank ${r.rank}, ${dtype}, ${r.inC ? "in C" : "host"}`).toEqual(host.params);
    }
  });

  it("allGather inside the C module: the values of the host path", { timeout: 300_000 }, async () => {
    expectGathers(await mpirun(2, "gather_child.ts", [], 240, MPICH), 2);
  });

  it("a rank that exits mid-training makes the other raise a BackendError naming it, from C", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "c_child.ts", ["exit", "5"], 120, MPICH);
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: rank 1 \(pid \d+\) exited with code 3 after \d+ collective operations, while rank 0 waits in allReduce\{(mean|sum)\} of shape \[[\d, ]+\] float64/);
    expect(run.seconds).toBeLessThan(120);
  });

  it("a rank that does not come within timeoutS: the deadline; with Hydra's -disable-auto-cleanup too, no hang in MPI_Finalize", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "ops_child.ts", ["stuck"], 120, MPICH);
    expect(run.out).toContain("CAUGHT rank 0 BackendError: barrier on rank 0 did not complete within 2 s");
    expect(run.seconds).toBeLessThan(25); // Hydra ends rank 1 (asleep for 30 s) once rank 0 has left without MPI_Finalize
    // Here Hydra ends nothing: rank 1 wakes, passes the barrier (rank 0 had entered it), and at
    // exit skips MPI_Finalize, which rank 0's exit notice says it will not join.
    const kept = await mpirun(2, "ops_child.ts", ["stuck"], 120, { ...MPICH, launcherArgs: ["-disable-auto-cleanup"] });
    expect(kept.out).toContain("CAUGHT rank 0 BackendError: barrier on rank 0 did not complete within 2 s");
    expect(kept.out).not.toMatch(/Debugger listening/); // Hydra's SIGUSR1 does not open Node's inspector
    expect(kept.seconds).toBeLessThan(60);
    expect(kept.signal).toBeNull();
  });

  it("a killed rank makes the other fail naming it, never hang", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "sgd_child.ts", ["kill", "5"], 120, MPICH);
    // Rank 0's watch sees the pid gone (BackendError) unless Hydra, which ends the job when a
    // process dies of a signal, ends rank 0 first, naming the dead process's pid.
    expect(run.out).toMatch(/CAUGHT rank 0 BackendError: rank 1 \(pid \d+\) is no longer running|BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\s+=\s+PID \d+ RUNNING AT \S+\s+=\s+EXIT CODE: 9/);
    expect(run.out).not.toMatch(/Segmentation fault|signal 11/);
    expect(run.seconds).toBeLessThan(120);
    console.log(`MPICH, killed rank: ${/CAUGHT rank 0 BackendError/.test(run.out) ? "rank 0 raised BackendError naming rank 1" : "Hydra ended rank 0 first, naming the killed pid"} (${run.seconds.toFixed(1)} s)`);
  });

  it("mpiexec.mpich -n 2 theano-ts demo --quick trains data-parallel on MPICH's library, rank 0 reporting", { timeout: 300_000 }, () => {
    const r = spawnSync("mpiexec.mpich", ["-iface", "lo", "-n", "2", process.execPath, "--import", "tsx", "src/cli/main.ts", "demo", "--quick", "--out", mkdtempSync(join(tmpdir(), "theano-ts-mpich-demo-"))], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      encoding: "utf8",
      timeout: 280_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/data-parallel on 2 processes \(theano\.distributed\.DataParallel, libmpich\.so\.12\)/);
    // The same global batches as Open MPI's `demo --np 2 --quick` (data_parallel.test.ts): its accuracy.
    const acc = /test accuracy (\d+\.\d+)%/.exec(out);
    expect(acc, out).not.toBeNull();
    expect(Number(acc![1])).toBeGreaterThan(85);
    expect(out.match(/test accuracy/g)?.length, "only rank 0 reports").toBe(1);
  });
});

describe.skipIf(noMpich !== null || !MPI)("a library that is not the launcher's", () => {
  it("Open MPI's mpirun starting processes that open MPICH's library: init raises, naming both, before any collective", { timeout: 240_000 }, async () => {
    const run = await mpirun(2, "ops_child.ts", [], 120, { env: { THEANO_FLAGS: [process.env.THEANO_FLAGS, "distributed.mpi_library=mpich"].filter(Boolean).join(",") } });
    // (every rank raises; mpirun ends the job at the first one's exit, so one or both say it)
    expect(run.out).toMatch(/BackendError: theano.distributed.init: the launcher started 2 processes \(OMPI_COMM_WORLD_SIZE=2: Open MPI's mpirun\) but libmpich\.so\.12 \(MPICH ABI\) sees a world of 1/);
    expect(run.code).not.toBe(0);
    expect(run.out).toContain("set distributed.mpi_library=openmpi");
    expect(lines(run, "OPS")).toEqual([]);
  });
});
