/**
 * `theano-ts check`'s MPI report (src/cli/check.ts through `theano.distributed.probeInit`): the
 * library `init()` would open, its ABI and version, and the thread level MPI_Init_thread
 * grants, learnt by a child process that initialises MPI alone; a child that does not finish in
 * time is killed and said so, never waited for. Where no MPI library is installed, the report
 * says what was searched.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { hasLibmpi, hasLibmpich } from "./mpirun.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const D = theano.distributed;

describe("the MPI thread level in theano-ts check", () => {
  it("probeInit: the library, ABI, version and thread level from a child process; this process loads no MPI", { timeout: 60_000 }, () => {
    const r = D.probeInit();
    if (hasLibmpi || hasLibmpich) {
      expect(r.library).toBe(hasLibmpi ? "libmpi.so.40" : "libmpich.so.12");
      expect(r.abi).toBe(hasLibmpi ? "openmpi" : "mpich");
      expect(r.version).toMatch(hasLibmpi ? /^Open MPI v\d/ : /^MPICH Version: \d/);
      expect(r.init).toMatchObject({ ok: true, threadLevel: expect.stringMatching(/^MPI_THREAD_(SINGLE|FUNNELED|SERIALIZED|MULTIPLE)$/) });
    } else {
      expect(r.library).toBeNull();
      expect(r.tried.join("; ")).toContain("libmpi.so.40");
      expect(r.init).toBeNull();
    }
    expect(D.initialized()).toBe(false);
    const maps = spawnSync("cat", [`/proc/${process.pid}/maps`], { encoding: "utf8" }).stdout;
    expect(maps).not.toMatch(/libmpi\.so|libmpich\.so/);
  });

  it("a child that does not finish in time is killed, and the report says so", { timeout: 60_000 }, () => {
    const t0 = performance.now();
    const r = D.probeInit(0.05);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(r.library).toBeNull();
    expect(r.problem).toBe("could not look for MPI: the child process did not finish within 0.05 s (killed)");
    expect(r.init).toBeNull();
  });

  it.skipIf(!hasLibmpich)("the flag picks MPICH: check --json and the text report", { timeout: 120_000 }, () => {
    const env = { ...process.env, THEANO_FLAGS: [process.env.THEANO_FLAGS, "distributed.mpi_library=mpich"].filter(Boolean).join(",") };
    const json = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "check", "--no-bench", "--json"], { cwd: ROOT, encoding: "utf8", env, timeout: 100_000 });
    const mpi = (JSON.parse(json.stdout) as { mpi: theano.distributed.MpiCheck }).mpi;
    expect(mpi, JSON.stringify(mpi)).toMatchObject({ library: "libmpich.so.12", abi: "mpich", why: "distributed.mpi_library=mpich", problem: null, init: { ok: true, threadLevel: expect.stringMatching(/^MPI_THREAD_/) } });
    const text = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "check", "--no-bench"], { cwd: ROOT, encoding: "utf8", env, timeout: 100_000 }).stdout;
    expect(text).toMatch(/\n {2}library {8}libmpich\.so\.12 \(MPICH ABI\); chosen by: distributed\.mpi_library=mpich\n/);
    expect(text).toMatch(/\n {2}thread level {3}MPI_THREAD_\w+ \(MPI_THREAD_FUNNELED asked; MPI_Init_thread in a child process, [\d.]+ s\)\n/);
  });
});
