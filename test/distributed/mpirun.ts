/**
 * What the distributed tests share: whether `mpirun` and libmpi are here, and running a child
 * program under `mpirun -np n` (oversubscribed, loopback only) with a deadline after which the
 * whole process group is killed, so no test can hang.
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MPI_LIBRARIES } from "../../src/distributed/index.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const hasMpirun = spawnSync("mpirun", ["--version"], { encoding: "utf8" }).status === 0;
const ldconfig = spawnSync("/sbin/ldconfig", ["-p"], { encoding: "utf8" }).stdout ?? "";
export const hasLibmpi = MPI_LIBRARIES.some((l) => ldconfig.includes(l));
/** Both: the mpirun tests can run. */
export const MPI = hasMpirun && hasLibmpi;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  seconds: number;
}

/** `mpirun -np n node --import tsx test/distributed/<child> ...args`, killed (process group) after `limitS`. */
export function mpirun(n: number, child: string, args: string[] = [], limitS = 180): Promise<Run> {
  const t0 = Date.now();
  const argv = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", "-np", String(n), process.execPath, "--import", "tsx", `test/distributed/${child}`, ...args];
  const p = spawn("mpirun", argv, { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  const timer = setTimeout(() => process.kill(-p.pid!, "SIGKILL"), limitS * 1000);
  return new Promise((resolve) =>
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, seconds: (Date.now() - t0) / 1000 });
    }),
  );
}

/** The `TAG {...}` JSON lines of a run. */
export function lines(run: Run, tag: string): Array<Record<string, unknown>> {
  return run.out.split("\n").filter((l) => l.startsWith(`${tag} `)).map((l) => JSON.parse(l.slice(tag.length + 1)) as Record<string, unknown>);
}
