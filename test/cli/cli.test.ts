import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

function capture(): { io: { out(t: string): void; err(t: string): void }; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

describe("theano-ts command", () => {
  it("lists demo in the help and explains it", async () => {
    const c = capture();
    expect(await main(["--help"], c.io)).toBe(0);
    expect(c.out()).toMatch(/demo \[--epochs N\]/);
    const d = capture();
    expect(await main(["demo", "--help"], d.io)).toBe(0);
    expect(d.out()).toContain("theano.grad");
  });

  it("rejects bad demo options with exit code 2 and a message naming them", async () => {
    for (const args of [["--epoch", "2"], ["--epochs", "0"], ["--batch", "x"], ["--batch", "99999"]]) {
      const c = capture();
      expect(await main(["demo", ...args], c.io)).toBe(2);
      expect(c.err()).toMatch(/epoch|batch/);
    }
  });

  it("demo trains: the loss falls and it exits 0", async () => {
    const c = capture();
    expect(await main(["demo", "--epochs", "2", "--hidden", "32"], c.io)).toBe(0);
    const losses = [...c.out().matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
    expect(losses.length).toBeGreaterThanOrEqual(3);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    expect(c.out()).toMatch(/ms per step/);
  }, 60_000);
});
