/**
 * docs/playbook.md (issue 16.9): every ```ts block runs on its own (as README's do) and every
 * `npx theano-ts ...` line of its ```sh blocks runs through the CLI and exits 0, each in a
 * scratch working directory with a compile cache of its own.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const tsx = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href;
const text = readFileSync(join(root, "docs/playbook.md"), "utf8");
const tsBlocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const commands = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split("\n").filter((l) => l.startsWith("npx theano-ts ")));
const cache = mkdtempSync(join(tmpdir(), "theano-ts-playbook-cache-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const env = { ...process.env, THEANO_FLAGS: `compiledir=${join(cache, "compiledir")}` };
// What each block must print: the error it demonstrates really happened, the tool really ran.
const EXPECTED: readonly RegExp[] = [
  /cuda0.*no CUDA backend|CUDA backend/i,
  /the variable d is float64 while floatX=float32\n.*makes a float64 result while floatX=float32/,
  /caught at build time: .*dot/,
  /This node fuses 3 nodes of your graph:[\s\S]*Backtrace when the node is created/,
  /wrote graph\.svg/,
  /Function profiling[\s\S]*Message: step[\s\S]*Apply/,
  /NaN/,
];
const quiet = (s: string): string => s.replace(/\(node:\d+\) Warning: theano-ts[^\n]*\n?|\(Use `node --trace-warnings[^\n]*\n?/g, "");

describe("docs/playbook.md", () => {
  it("has code and commands to check", () => {
    expect(tsBlocks.length).toBe(EXPECTED.length);
    expect(commands.length).toBeGreaterThanOrEqual(4);
  });

  tsBlocks.forEach((code, k) => {
    it(`block ${k + 1} runs on its own`, () => {
      expect(code).toMatch(/from "theano-ts"/);
      const file = join(here, `.playbook_block_${process.pid}_${k}.ts`);
      const cwd = mkdtempSync(join(tmpdir(), "theano-ts-playbook-"));
      writeFileSync(file, code.replaceAll('from "theano-ts"', `from ${JSON.stringify(join(root, "src/index.ts"))}`));
      try {
        const r = spawnSync(process.execPath, ["--import", tsx, file], { cwd, encoding: "utf8", timeout: 240_000, env });
        expect(quiet(r.stderr)).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(EXPECTED[k]!);
      } finally {
        rmSync(file, { force: true });
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  });

  commands.forEach((line) => {
    it(`\`${line}\` exits 0`, () => {
      const args = line.slice("npx theano-ts ".length).split(/\s+/);
      const r = spawnSync(process.execPath, ["--import", tsx, join(root, "src/cli/main.ts"), ...args], { cwd: root, encoding: "utf8", timeout: 240_000, env });
      expect(r.stderr.includes("Error") ? r.stderr : "").toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    });
  });
});
