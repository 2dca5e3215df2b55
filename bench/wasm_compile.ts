/**
 * Wasm compile time of bench/wasm.ts's W3 MLP training step (784-512-512-10, batch 256; issue 20
 * asks at most 50 ms), in three states, each in fresh Node processes (children of this script):
 *   cold     a new process and an empty compile cache: code generation plus WebAssembly compilation;
 *   disk     a new process, the program in the compile cache (src/link/wasm/cache.ts): no code generation;
 *   process  the same graph compiled again in one process: neither (the module is cached by its bytes).
 * "link" is the wasm linker's part of theano.function (code generation or cache load, WebAssembly
 * compilation and instantiation, the host nodes' JS loops); "function" adds the rewrites. Median of
 * --runs children per state.
 *
 *   npx tsx bench/wasm_compile.ts [--runs 5]
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TensorVariable as TV } from "../src/index.js";

interface Split {
  functionMs: number;
  linkMs: number;
  codegenMs: number;
  cacheLoadMs: number;
  compileMs: number;
}

async function child(compiledir: string, twice: boolean): Promise<Split[]> {
  const theano = await import("../src/index.js");
  const { T } = theano;
  const one = (): Split => {
    const X = T.fmatrix("X");
    const y = T.ivector("y");
    const init = (r: number, c: number) => theano.shared(theano.zeros([r, c], "float32"));
    const zeros = (n: number) => theano.shared(theano.zeros([n], "float32"));
    const ps = [init(784, 512), zeros(512), init(512, 512), zeros(512), init(512, 10), zeros(10)] as unknown as TV[];
    const h1 = T.relu(T.dot(X, ps[0]!).add(ps[1]!));
    const h2 = T.relu(T.dot(h1, ps[2]!).add(ps[3]!));
    const p = T.softmax(T.dot(h2, ps[4]!).add(ps[5]!));
    const loss = T.mean(T.crossentropyCategorical1Hot(p, y));
    const grads = theano.grad(loss, ps) as TV[];
    const updates = ps.map((w, i) => [w, w.sub(grads[i]!.mul(0.01))]);
    const t0 = performance.now();
    const f = theano.function([X, y], loss, { mode: new theano.Mode("wasm"), updates: updates as never, profile: true });
    const functionMs = performance.now() - t0;
    const c = f.profile!.toJSON().compile as { linkMs: number; codegenMs: number; cacheLoadMs: number; compileMs: number };
    return { functionMs, linkMs: c.linkMs, codegenMs: c.codegenMs, cacheLoadMs: c.cacheLoadMs, compileMs: c.compileMs };
  };
  return theano.config.change({ compiledir }, () => (twice ? [one(), one()] : [one()]));
}

if (process.argv[2] === "--child") {
  const out = await child(process.argv[3]!, process.argv[4] === "twice");
  console.log(JSON.stringify(out));
} else {
  const k = process.argv.indexOf("--runs");
  const runs = k >= 0 ? Number(process.argv[k + 1]) || 5 : 5;
  const self = fileURLToPath(import.meta.url);
  const run = (dir: string, twice: boolean): Split[] =>
    JSON.parse(execFileSync(process.execPath, ["--import", "tsx", self, "--child", dir, twice ? "twice" : "once"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").pop()!) as Split[];
  const states: Record<"cold" | "disk" | "process", Split[]> = { cold: [], disk: [], process: [] };
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), "theano-ts-wasm-compile-"));
    try {
      const [cold, again] = run(dir, true);
      states.cold.push(cold!);
      states.process.push(again!);
      states.disk.push(run(dir, false)[0]!);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`Wasm compile of the W3 MLP training step, median of ${runs} fresh processes (ms, wall clock); node ${process.version}`);
  console.log("| state | link | code generation | cache load | WebAssembly compile + instantiate | theano.function |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [name, xs] of Object.entries(states)) {
    const m = (f: (s: Split) => number): string => med(xs.map(f)).toFixed(1);
    console.log(`| ${name} | ${m((s) => s.linkMs)} | ${m((s) => s.codegenMs)} | ${m((s) => s.cacheLoadMs)} | ${m((s) => s.compileMs)} | ${m((s) => s.functionMs)} |`);
  }
}
