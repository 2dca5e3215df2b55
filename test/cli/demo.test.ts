/**
 * `theano-ts demo` as a user runs it: through the CLI entry in a child process (stdout is a pipe,
 * so the progress must come as plain lines), in `--quick` mode so it takes seconds. The full run
 * (≥ 98 % in under a minute) is measured by hand and quoted in README; this checks the pieces.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { CURVE_FILE, DEMO_DETAILS, DEMO_USAGE, parseDemoArgs } from "../../src/cli/demo.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const tsx = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href;
const out = mkdtempSync(join(tmpdir(), "theano-ts-demo-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const cli = (...args: string[]): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, ["--import", tsx, join(root, "src/cli/main.ts"), ...args], { cwd: root, encoding: "utf8", timeout: 240_000 });

/** Every tag closed in order: enough to say the hand-written SVG is well-formed XML. */
function tagsBalance(xml: string): boolean {
  const open: string[] = [];
  for (const [, close, name, selfClose] of xml.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (close) {
      if (open.pop() !== name) return false;
    } else if (!selfClose) open.push(name!);
  }
  return open.length === 0;
}

describe("theano-ts demo", () => {
  it("--quick trains on MNIST: the loss falls, it prints the accuracy and the timings, and writes the SVG curve", () => {
    const r = cli("demo", "--quick", "--out", out);
    expect(r.stderr.includes("Error") ? r.stderr : "").toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/MNIST \(--quick: a subset\), 10,000 training and 2,000 held-out test digits/);
    expect(r.stdout).not.toContain("\r"); // not a terminal: plain lines
    const epochs = [...r.stdout.matchAll(/^epoch (\d+)\/3: train loss (\d+\.\d+).*test loss (\d+\.\d+), accuracy (\d+\.\d+)%; [\d,]+ samples\/s$/gm)];
    expect(epochs.map((m) => Number(m[1]))).toEqual([1, 2, 3]);
    const testLoss = epochs.map((m) => Number(m[3]));
    expect(testLoss[2]!).toBeLessThan(testLoss[0]!);
    const acc = /^test accuracy (\d+\.\d+)% on 2,000 held-out digits \(test loss (\d+\.\d+) -> (\d+\.\d+)\)$/m.exec(r.stdout);
    expect(acc).not.toBeNull();
    expect(Number(acc![1])).toBeGreaterThan(85);
    expect(Number(acc![3])).toBeLessThan(Number(acc![2]));
    expect(r.stdout).toMatch(/^total \d+\.\d s: data \d+\.\d s, compile \d+\.\d s, training \d+\.\d s \(150 steps, \d+\.\d+ ms per step\), evaluation/m);
    const file = join(out, CURVE_FILE);
    expect(r.stdout).toContain(`wrote the loss/accuracy curve to ${file}`);
    expect(existsSync(file)).toBe(true);
    const svg = readFileSync(file, "utf8");
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(tagsBalance(svg)).toBe(true);
    // Training loss, test loss and test accuracy, one point per epoch each.
    const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1]!.trim().split(" "));
    expect(lines.map((p) => p.length)).toEqual([3, 3, 3]);
    expect(svg).toContain("test accuracy");
    expect(svg).toContain(`${acc![1]}%`);
  }, 240_000);

  it("--model lenet picks the CNN and its own defaults; explicit flags still win; --quick applies to it", () => {
    expect(parseDemoArgs([]).model).toBe("mlp");
    const lenet = parseDemoArgs(["--model", "lenet"]);
    expect(lenet).toMatchObject({ model: "lenet", quick: false });
    const mlp = parseDemoArgs(["--model", "mlp"]);
    expect(mlp).toEqual(parseDemoArgs([]));
    // Its defaults differ from the MLP's (a convolutional step costs more, so fewer epochs).
    expect([lenet.epochs, lenet.batch, lenet.hidden, lenet.lr]).not.toEqual([mlp.epochs, mlp.batch, mlp.hidden, mlp.lr]);
    expect(parseDemoArgs(["--epochs", "5", "--model", "lenet", "--lr", "0.01", "--batch", "64", "--hidden", "100"])).toMatchObject({ model: "lenet", epochs: 5, lr: 0.01, batch: 64, hidden: 100 });
    expect(parseDemoArgs(["--model", "lenet", "--quick"])).toMatchObject({ model: "lenet", quick: true, epochs: 3, hidden: 128 });
    expect(() => parseDemoArgs(["--model", "cnn"])).toThrow(/--model must be mlp or lenet, got cnn/);
    expect(() => parseDemoArgs(["--model"])).toThrow(/--model needs a value/);
    expect(DEMO_USAGE).toContain("[--model mlp|lenet]");
    expect(DEMO_DETAILS).toMatch(/^  --model mlp\|lenet +the network \(default mlp\)$/m);
  });

  it("a bad flag prints the usage and exits 2", () => {
    const r = cli("demo", "--bogus");
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/unknown demo option "--bogus"; the options are --epochs, --batch, --hidden, --lr, --seed, --backend, --out, --quick, --model/);
    expect(r.stderr).toMatch(/Usage: theano-ts demo \[--epochs N\]/);
  });
});
