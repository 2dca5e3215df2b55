/**
 * A second process for test/link/c/unload.test.ts (issue 13.11): a crash at exit (OpenMP
 * threads running unmapped code after a library was unloaded) or in a worker thread only
 * shows in a process of its own. Each scenario prints one JSON line and exits naturally, so
 * koffi's finalizers unload whatever is still loaded, as in a user's program.
 *
 * Usage: node --import tsx test/link/c/unload_child.ts <scenario>
 * The parent sets OMP_NUM_THREADS above one, so OpenMP keeps idle threads even on one core.
 */

import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import * as theano from "../../../src/index.js";

const { T } = theano;

/** The compiled modules mapped into this process now (their paths). */
function mappedModules(): Set<string> {
  const lines = readFileSync("/proc/self/maps", "utf8").split("\n");
  return new Set(lines.filter((l) => /\/mod\.so( \(deleted\))?$/.test(l)).map((l) => l.slice(l.indexOf("/")).replace(/ \(deleted\)$/, "")));
}
const mapCount = (): number => readFileSync("/proc/self/maps", "utf8").trim().split("\n").length;

/**
 * A C function of its own module per `k`, whose kernel runs in an OpenMP parallel region
 * (openmp_elemwise_minsize=1) and a reduction; returns it, its module's path, and a check.
 */
function make(k: number, use?: (check: () => void) => void): { f: theano.TheanoFunction<theano.NDArray>; path: string; check(): void } {
  const x = T.dvector("x");
  const before = mappedModules();
  const f = theano.config.change({ linker: "c", openmp_elemwise_minsize: 1 }, () => theano.function([x], x.mul(13.11).add(k).sum()));
  const added = [...mappedModules()].filter((p) => !before.has(p));
  // Each k is a graph of its own, compiled once here: exactly one module appears.
  if (added.length === 0) throw new Error(`function ${k}: its module was already mapped (a freed function's module stayed loaded)`);
  if (added.length !== 1) throw new Error(`function ${k}: expected one new module mapped, found ${added.length}`);
  const xs = Array.from({ length: 1000 }, (_, i) => i % 7);
  const want = xs.reduce((a, v) => a + v * 13.11 + k, 0);
  const check = (): void => {
    const got = f(xs).toArray() as number;
    if (Math.abs(got - want) > 1e-9 * Math.abs(want)) throw new Error(`function ${k}: got ${got}, want ${want}`);
  };
  // `use`: call it without handing the function out (the caller then holds no reference).
  if (use) {
    use(check);
    return { f: null as unknown as theano.TheanoFunction<theano.NDArray>, path: added[0]!, check: () => {} };
  }
  return { f, path: added[0]!, check };
}

function gcFunction(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

const scenarios: Record<string, () => Promise<unknown> | unknown> = {
  /** Create, call and free functions of distinct modules; each module is unmapped on free. */
  free: () => {
    const start = mapCount();
    const stillMapped: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let k = 1; k <= 3; k++) {
        const { f, path, check } = make(k);
        for (let i = 0; i < 5; i++) check();
        f.free();
        if (mappedModules().has(path)) stillMapped.push(path);
      }
    }
    return { start, end: mapCount(), stillMapped };
  },
  /** Two functions of one graph share a module: it stays until the second is freed. */
  shared: () => {
    const a = make(4);
    a.check();
    const x = T.dvector("x");
    const b = theano.config.change({ linker: "c", openmp_elemwise_minsize: 1 }, () => theano.function([x], x.mul(13.11).add(4).sum()));
    a.f.free();
    const afterFirst = mappedModules().has(a.path);
    const got = b([1, 2]).toArray() as number;
    b.free();
    return { afterFirst, afterBoth: mappedModules().has(a.path), got };
  },
  /** A function dropped without free() gives its module back once collected. */
  dropped: async () => {
    const gc = gcFunction();
    const { path } = make(5, (c) => c());
    let rounds = 0;
    while (mappedModules().has(path) && rounds < 50) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
      rounds++;
    }
    return { unmapped: !mappedModules().has(path), rounds };
  },
  /** A worker thread runs and frees a parallel function, then exits; the main thread goes on. */
  worker: async () => {
    if (!isMainThread) return;
    // tsx's hooks are per thread: the worker registers them, then imports this file.
    const code = `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
    let report: { freedUnmapped?: boolean; kept?: string } = {};
    const exit = await new Promise<number>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: "inWorker" });
      w.on("message", (m: typeof report) => (report = m));
      w.on("error", reject);
      w.on("exit", resolve);
    });
    // The module the worker left loaded went with the worker (koffi unloads its libraries then).
    const keptUnmapped = report.kept !== undefined && !mappedModules().has(report.kept);
    const { f, check } = make(7);
    check();
    f.free();
    const g = make(8);
    g.check(); // left loaded: koffi unloads it at exit
    return { workerExit: exit, freedUnmapped: report.freedUnmapped, keptUnmapped };
  },
};

async function main(): Promise<void> {
  if (!isMainThread && workerData === "inWorker") {
    const { f, path, check } = make(6);
    for (let i = 0; i < 5; i++) check();
    f.free();
    const freedUnmapped = !mappedModules().has(path);
    const g = make(9);
    g.check(); // not freed: the worker's exit unloads it
    parentPort?.postMessage({ freedUnmapped, kept: g.path });
    return;
  }
  const name = process.argv[2] ?? "";
  const run = scenarios[name];
  if (!run) throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
  // The process's own libraries first (libgomp, the compiler probes, a BLAS), kept to the end.
  const x = T.dvector("x");
  const warm = theano.config.change({ linker: "c", openmp_elemwise_minsize: 1 }, () => theano.function([x], x.mul(0.5).sum()));
  warm([1, 2, 3]);
  // A graph still alive at exit, in a parallel region just before: koffi unloads it at exit.
  const last = make(10);
  last.check();
  const result = await run();
  last.check();
  warm([1, 2, 3]);
  console.log(JSON.stringify(result));
}

await main();
