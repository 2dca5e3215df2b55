/**
 * ffi.ts's spawnAndWait, the compiler's way of starting `cc` without forking a large heap, and
 * the compiler through it and through spawnSync.
 */
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { spawnAndWait } from "../../../src/link/c/ffi.js";
import { compileFlags, compileSharedObject, findCompiler, setFastSpawnForTests } from "../../../src/link/c/compiler.js";
import { config } from "../../../src/config/index.js";
import { CompileError } from "../../../src/errors.js";

const linux = process.platform === "linux";

describe("spawnAndWait", () => {
  it.runIf(linux)("returns the exit status, 128 + the signal for a killed child, and 127 for a program that is not there", () => {
    expect(spawnAndWait(["/bin/sh", "-c", "exit 3"], process.env)).toBe(3);
    expect(spawnAndWait(["/bin/sh", "-c", "exit 0"], process.env)).toBe(0);
    expect(spawnAndWait(["/bin/sh", "-c", "kill -KILL $$"], process.env)).toBe(128 + 9);
    expect(spawnAndWait(["/nonexistent/theano-ts-no-such-program"], process.env)).toBe(127);
  });

  it.runIf(linux)("passes the environment given, not the process's", () => {
    const d = mkdtempSync(join(tmpdir(), "theano-ts-spawn-"));
    try {
      const out = join(d, "env.txt");
      expect(spawnAndWait(["/bin/sh", "-c", `printf '%s|%s' "$THEANO_TS_SPAWN_A" "$HOME" > '${out}'`], { THEANO_TS_SPAWN_A: "a b", HOME: undefined })).toBe(0);
      expect(readFileSync(out, "utf8")).toBe("a b|");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it.runIf(linux)("starts children with default signal dispositions and an empty mask (SIGPIPE and SIGTERM end them), from a worker thread too", async () => {
    // Node ignores SIGPIPE; an ignored disposition would survive exec without SETSIGDEF.
    expect(spawnAndWait(["/bin/sh", "-c", "kill -PIPE $$; exit 0"], process.env)).toBe(128 + 13);
    const url = new URL("../../../src/link/c/ffi.ts", import.meta.url).href;
    const code = `const { parentPort } = require("node:worker_threads");
      import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(url)}); })
        .then((m) => parentPort.postMessage(m.spawnAndWait(["/bin/sh", "-c", "kill -TERM $$; exit 0"], process.env)), (e) => parentPort.postMessage(String(e)));`;
    const w = new Worker(code, { eval: true });
    const got = await new Promise((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
    });
    await w.terminate();
    expect(got).toBe(128 + 15);
  });
});

describe("the compiler starts cc through spawnAndWait and through spawnSync alike", () => {
  const haveCc = findCompiler() !== null;
  const SRC = "int th_answer(void) { return 42; }\n";
  for (const fast of [true, false]) {
    it.runIf(haveCc)(`${fast ? "spawnAndWait" : "spawnSync"}: builds a module, and a broken one is a CompileError quoting the compiler's first error`, () => {
      const was = setFastSpawnForTests(fast);
      const d = mkdtempSync(join(tmpdir(), "theano-ts-spawn-cc-"));
      try {
        const so = compileSharedObject(SRC, { dir: join(d) });
        expect(so.endsWith("mod.so")).toBe(true);
        const bad = mkdtempSync(join(d, "bad-"));
        let err: unknown;
        try {
          compileSharedObject("int th_answer(void) { return undeclared_name; }\n", { dir: bad });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(CompileError);
        expect((err as Error).message).toMatch(/undeclared_name/);
        expect(readFileSync(join(bad, "compile.log"), "utf8")).toMatch(/undeclared_name/);
      } finally {
        setFastSpawnForTests(was);
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
});

describe("modules link with gold where binutils has it (a seventh of a build at -O0)", () => {
  const haveCc = findCompiler() !== null;
  const goldHere = process.platform === "linux" && (process.env["PATH"] ?? "").split(":").some((d) => d !== "" && existsSync(join(d, "ld.gold")));
  // gold records itself in a note section of what it links (.note.gnu.gold-version: "gold 1.16"); bfd does not.
  const linkedByGold = (so: string): boolean => readFileSync(so).includes(Buffer.from("\0gold "));

  it.runIf(haveCc && goldHere)("ld.gold on PATH: -fuse-ld=gold in the flags, and the module carries gold's note", () => {
    expect(compileFlags()).toContain("-fuse-ld=gold");
    const d = mkdtempSync(join(tmpdir(), "theano-ts-gold-"));
    try {
      expect(linkedByGold(compileSharedObject("int th_answer(void) { return 42; }\n", { dir: d }))).toBe(true);
      const bfd = mkdtempSync(join(d, "bfd-"));
      expect(linkedByGold(compileSharedObject("int th_answer(void) { return 42; }\n", { dir: bfd, flags: compileFlags().filter((f) => f !== "-fuse-ld=gold") }))).toBe(false);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it.runIf(haveCc)("a linker named in gcc.cxxflags wins, and no ld.gold on PATH means the default linker", () => {
    const named = config.change({ "gcc.cxxflags": `${String(config.gcc.cxxflags)} -fuse-ld=bfd` }, () => compileFlags());
    expect(named).toContain("-fuse-ld=bfd");
    expect(named).not.toContain("-fuse-ld=gold");
    const path = process.env["PATH"];
    process.env["PATH"] = "/nonexistent-theano-ts-dir";
    try {
      expect(compileFlags()).not.toContain("-fuse-ld=gold");
    } finally {
      process.env["PATH"] = path;
    }
  });
});
