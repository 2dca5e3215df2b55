/**
 * Build batches (src/link/batch.ts): inside `withBuildBatch` the compile cache starts modules'
 * compilers without waiting for them (cache.ts `startModule`), and they run at once; the batch's
 * end waits for every one of them; a failed build is a CompileError for whoever loads it; and
 * theano.function builds a scan's inner modules and its own in one batch.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as theano from "../../../src/index.js";
import { config } from "../../../src/config/index.js";
import { CompileError } from "../../../src/errors.js";
import { atBatchEnd, inBuildBatch, withBuildBatch } from "../../../src/link/batch.js";
import { type LoadedModule, startModule } from "../../../src/link/cache.js";
import { findCompiler, startSharedObject } from "../../../src/link/c/compiler.js";

const haveCc = findCompiler() !== null && process.platform === "linux";
let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "theano-ts-batch-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const module = (k: number): string => `int th_batch_${k}(int a) { return a * ${k} + 1; }\n`;

describe("build batches", () => {
  it("run deferred tasks in order at the end of the outermost batch, and rethrow the first failure", () => {
    const log: string[] = [];
    expect(inBuildBatch()).toBe(false);
    expect(atBatchEnd(() => log.push("never"))).toBe(false);
    const r = withBuildBatch(() => {
      atBatchEnd(() => log.push("a"));
      withBuildBatch(() => atBatchEnd(() => log.push("inner")));
      expect(log).toEqual([]); // the nested batch joined the outer one
      atBatchEnd(() => log.push("b"));
      return 7;
    });
    expect(r).toBe(7);
    expect(log).toEqual(["a", "inner", "b"]);
    expect(() =>
      withBuildBatch(() => {
        atBatchEnd(() => {
          throw new Error("first");
        });
        atBatchEnd(() => log.push("still run"));
        atBatchEnd(() => {
          throw new Error("second");
        });
      }),
    ).toThrow("first");
    expect(log.at(-1)).toBe("still run");
    expect(inBuildBatch()).toBe(false);
  });

  it.runIf(haveCc)("compile the modules started in one batch at the same time (a compiler that logs its start and end)", () => {
    // A wrapper around the compiler: writes "start", sleeps, writes "end", then compiles.
    const log = join(dir, "cc.log");
    const wrapper = join(dir, "cc-wrapper.sh");
    writeFileSync(wrapper, `#!/bin/sh\ncase " $* " in *" -o "*) echo start >> '${log}'; sleep 1; echo end >> '${log}';; esac\nexec ${findCompiler()!.command} "$@"\n`);
    chmodSync(wrapper, 0o755);
    config.change({ cxx: wrapper }, () => {
      const flags = ["-O0", "-fPIC", "-shared"];
      const started = [1, 2].map((k) => startSharedObject(module(k), { dir: mkdtempSync(join(dir, "so-")), flags, parallel: 1 }));
      for (const s of started) expect(s.finish()).toMatch(/mod\.so$/);
    });
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["start", "start", "end", "end"]);
  });

  it.runIf(haveCc)("load every module started in a batch by its end; the same module twice is built once", () => {
    config.change({ compiledir: join(dir, "cache1") }, () => {
      let waits: Array<() => LoadedModule> = [];
      withBuildBatch(() => {
        waits = [startModule(module(3)), startModule(module(3)), startModule(module(4))];
      });
      const mods = waits.map((w) => w());
      expect(mods[0]!.fromCache).toBe(false);
      expect(mods[1]!.path).toBe(mods[0]!.path);
      expect(mods[0]!.library.func("int th_batch_3(int a)")(2)).toBe(7);
      expect(mods[1]!.library.func("int th_batch_3(int a)")(5)).toBe(16);
      expect(mods[2]!.library.func("int th_batch_4(int a)")(2)).toBe(9);
      for (const m of mods) m.library.close();
    });
  });

  it.runIf(haveCc)("a module that fails to compile is a CompileError for whoever loads it, and loading it again tries again", () => {
    config.change({ compiledir: join(dir, "cache2") }, () => {
      let wait: (() => LoadedModule) | null = null;
      withBuildBatch(() => {
        wait = startModule("int th_broken(void) { return undeclared_thing; }\n");
      });
      expect(() => wait!()).toThrow(CompileError);
      expect(() => wait!()).toThrow(/undeclared_thing/);
    });
  });

  it.runIf(haveCc)("theano.function builds a scan's inner modules with its own and returns a function that runs", () => {
    config.change({ compiledir: join(dir, "cache3") }, () => {
      const x = theano.tensor.fvector("x");
      const h0 = theano.tensor.fscalar("h0");
      const [ys] = theano.scan({ fn: (v: theano.TensorVariable, acc: theano.TensorVariable) => acc.mul(2).add(v), sequences: [x], outputsInfo: [h0] });
      const f = theano.function([x, h0], (ys as theano.TensorVariable).sum(), { mode: new theano.Mode("c", "fast_run") });
      expect(inBuildBatch()).toBe(false);
      // steps: 1, 2*1+2 = 4, 2*4+3 = 11 → 16
      expect(Number((f(theano.array([1, 2, 3], "float32"), theano.array(0, "float32")) as theano.NDArray).item())).toBe(16);
    });
  });
});
