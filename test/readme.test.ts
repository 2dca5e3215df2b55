/**
 * README.md's quick tour: every ```ts block runs on its own, as a new user pastes it into an
 * empty file (issue 12.8: a block once used `T` and `v` without defining them). Each block is
 * written next to this file with `theano-ts` pointing at the sources, and run by node + tsx in
 * a scratch working directory (the tour saves .npy/.npz files).
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
// The tsx loader by path: the scratch directory has no node_modules to resolve "tsx" from.
const tsx = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href;
const blocks = [...readFileSync(join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("README quick tour", () => {
  it("has TypeScript blocks to check", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  blocks.forEach((code, k) => {
    it(`block ${k + 1} runs on its own`, () => {
      expect(code).toMatch(/from "theano-ts"/);
      const file = join(here, `.readme_block_${process.pid}_${k}.ts`);
      const cwd = mkdtempSync(join(tmpdir(), "theano-ts-readme-"));
      writeFileSync(file, code.replaceAll('from "theano-ts"', `from ${JSON.stringify(join(root, "src/index.ts"))}`));
      try {
        const r = spawnSync(process.execPath, ["--import", tsx, file], { cwd, encoding: "utf8", timeout: 240_000 });
        expect(r.stderr.replace(/\(node:\d+\) Warning: theano-ts[^\n]*\n?|\(Use `node --trace-warnings[^\n]*\n?/g, "")).toBe("");
        expect(r.status).toBe(0);
      } finally {
        rmSync(file, { force: true });
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  });
});
