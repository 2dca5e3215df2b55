/**
 * What the distributed tests share: whether `mpirun` and libmpi are here (and MPICH's
 * `mpiexec.mpich` with its library), and running a child program under `mpirun -np n`
 * (oversubscribed, loopback only) or `mpiexec.mpich -n n` with a deadline after which the whole
 * process group is killed, so no test can hang.
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { MPI_SONAMES } from "../../src/distributed/mpi.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const mpirunVersion = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
/** Open MPI's mpirun (the tests pass it Open MPI's options). */
export const hasMpirun = mpirunVersion.status === 0 && /Open MPI|OpenRTE/.test(mpirunVersion.stdout ?? "");
const ldconfig = spawnSync("/sbin/ldconfig", ["-p"], { encoding: "utf8" }).stdout ?? "";
export const hasLibmpi = MPI_SONAMES.openmpi.some((l) => ldconfig.includes(l));
/** Both: the mpirun tests can run. */
export const MPI = hasMpirun && hasLibmpi;
/** MPICH's launcher (Debian: `mpiexec.mpich`, beside Open MPI's default `mpirun`) and library. */
export const hasMpiexecMpich = spawnSync("mpiexec.mpich", ["--version"], { encoding: "utf8" }).status === 0;
export const hasLibmpich = MPI_SONAMES.mpich.some((l) => ldconfig.includes(l));
/** Why the MPICH tests cannot run here, or null when they can. */
export const noMpich: string | null = !hasMpiexecMpich ? "no mpiexec.mpich" : !hasLibmpich ? `no ${MPI_SONAMES.mpich.join(" or ")}` : null;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  seconds: number;
}

export interface LaunchOptions {
  /** Open MPI's `mpirun` (default) or MPICH's `mpiexec.mpich`. */
  readonly launcher?: "openmpi" | "mpich";
  /** More options for the launcher. */
  readonly launcherArgs?: readonly string[];
  /** Variables added to the environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * `mpirun -np n node --import tsx test/distributed/<child> ...args` (or, with launcher "mpich",
 * `mpiexec.mpich -iface lo -n n ...`), killed (process group) after `limitS`.
 */
export function mpirun(n: number, child: string, args: string[] = [], limitS = 180, opts: LaunchOptions = {}): Promise<Run> {
  const t0 = Date.now();
  const program = [process.execPath, "--import", "tsx", `test/distributed/${child}`, ...args];
  const extra = opts.launcherArgs ?? [];
  const [command, argv] =
    opts.launcher === "mpich"
      ? ["mpiexec.mpich", ["-iface", "lo", ...extra, "-n", String(n), ...program]]
      : ["mpirun", ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", ...extra, "-np", String(n), ...program]];
  const p = spawn(command, argv, { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
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

/**
 * ops_child.ts's `OPS` lines on `P` processes: the collectives' values and gradients on every
 * rank (rank r holds x = [r + 1, 10 r, -r]), whichever MPI ran them.
 */
export function expectOps(run: Run, P: number): void {
  const res = lines(run, "OPS");
  expect(res.length, run.out).toBe(P);
  const ranks = [...Array(P).keys()];
  const xs = ranks.map((r) => [r + 1, 10 * r, 0 - r]); // (+0 for rank 0: JSON has no -0)
  const col = (i: number): number[] => xs.map((x) => x[i]!);
  const sum = [0, 1, 2].map((i) => col(i).reduce((a, b) => a + b, 0));
  const max = [0, 1, 2].map((i) => Math.max(...col(i)));
  for (const r of res) {
    const k = r.rank as number;
    expect(r.size).toBe(P);
    expect(r.localRank).toBe(k);
    expect((r.info as { threadLevel: string }).threadLevel).toMatch(/MPI_THREAD_(FUNNELED|SERIALIZED|MULTIPLE)/);
    expect(r.sum).toEqual(sum);
    expect(r.mean).toEqual(sum.map((v) => v / P));
    expect(r.max).toEqual(max);
    expect(r.min).toEqual([0, 1, 2].map((i) => Math.min(...col(i))));
    expect(r.gather).toEqual(xs.flat());
    expect(r.gather1).toEqual([xs.flat()]);
    expect(r.dsum).toEqual([1, 2, 3].map((w) => P * w));
    expect(r.dmean).toEqual([1, 2, 3]);
    // max: every rank's w goes to the rank(s) holding the maximum (ties share it)
    expect(r.dmax).toEqual([0, 1, 2].map((i) => (xs[k]![i] === max[i] ? P * (i + 1) : 0)));
    expect(r.dgather).toEqual([1, 2, 3].map((w) => w * ranks.reduce((a, q) => a + q + 1, 0)));
    expect(r.t).toEqual([(P - 1) * 1.5, 7]);
  }
}

type GatherRow = { rank: number; size: number; dtype: string; inC: boolean; place: string[]; out: Array<{ shape: number[]; values: number[] }> };

/**
 * gather_child.ts's lines on `P` processes: every AllGather node where asked (in the module or
 * on the host), and on every rank, dtype and path the values worked out here.
 */
export function expectGathers(run: Run, P: number): void {
  const place = lines(run, "PLACE") as unknown as GatherRow[];
  const res = lines(run, "RESULT") as unknown as GatherRow[];
  expect(res.length, run.out).toBe(6 * P);
  for (const p of place) expect(p.place, run.out).toEqual(Array(4).fill(p.inC ? "c" : "host"));
  const x = (r: number): number[][] => [[0, 10, 20], [30, 40, 50]].map((row) => row.map((v) => v + r));
  const ranks = [...Array(P).keys()];
  for (const r of res) {
    const want = [
      { shape: [6 * P], values: ranks.flatMap((q) => x(q).flat()) },
      { shape: [2, 3 * P], values: [0, 1].flatMap((i) => ranks.flatMap((q) => x(q)[i]!)) },
      { shape: [3 * P, 2], values: ranks.flatMap((q) => [0, 1, 2].flatMap((j) => [x(q)[0]![j]!, x(q)[1]![j]!])) },
      { shape: [2 * P, 3], values: ranks.flatMap((q) => x(q).flat()) },
    ];
    // the gradient of sum(allGather(x, 1) * [0, 1, ..., 3P - 1]) over every rank's cost: P times this rank's columns of w
    if (r.dtype !== "int32") want.push({ shape: [2, 3], values: [0, 1].flatMap(() => [0, 1, 2].map((j) => P * (3 * r.rank + j))) });
    expect(r.out, `${P} processes, rank ${r.rank}, ${r.dtype}, ${r.inC ? "in C" : "host"}`).toEqual(want);
  }
}
