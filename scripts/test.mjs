#!/usr/bin/env node
/**
 * `npm test`: the type check (`tsc --noEmit -p .`) and the core suite (`vitest run`, with any
 * arguments given to npm test) side by side, not one after the other: the type check is 10-20 s of
 * CPU that used to delay the first test file; run beside the suite it fills the cores while the
 * workers wait on compiles and child processes (issue 12.6). The type check's output is printed
 * when it ends, after the suite's when the suite ends first; the exit status is non-zero when
 * either fails.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const tscBin = require.resolve("typescript/bin/tsc");
const vitestBin = require.resolve("vitest/vitest.mjs");

/** Runs `node file args`; resolves to its exit status (1 when a signal ended it). */
function run(file, args, capture) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit" });
    let out = "";
    if (capture) {
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
    }
    child.on("error", (e) => resolve({ status: 1, out: `${out}${String(e)}\n` }));
    child.on("close", (code, signal) => resolve({ status: code ?? (signal ? 1 : 0), out }));
  });
}

const typecheck = run(tscBin, ["--noEmit", "-p", "."], true).then((r) => {
  if (r.status === 0) process.stdout.write("tsc --noEmit -p .: no type errors\n");
  else process.stdout.write(`tsc --noEmit -p . failed (exit status ${r.status}):\n${r.out}`);
  return r.status;
});
const suite = run(vitestBin, ["run", ...process.argv.slice(2)], false).then((r) => r.status);
const [t, s] = await Promise.all([typecheck, suite]);
process.exit(t !== 0 ? t : s);
