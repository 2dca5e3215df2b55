import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

function capture(): { io: { out(t: string): void; err(t: string): void }; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

describe("theano-ts command", () => {
  it("lists demo in the help and explains every option", async () => {
    const c = capture();
    expect(await main(["--help"], c.io)).toBe(0);
    expect(c.out()).toMatch(/demo \[--epochs N\]/);
    const d = capture();
    expect(await main(["demo", "--help"], d.io)).toBe(0);
    expect(d.out()).toContain("theano.grad");
    expect(d.out()).toContain("MNIST");
    for (const flag of ["--epochs N", "--batch N", "--hidden N", "--lr X", "--seed N", "--backend c|js|auto", "--out DIR", "--quick"]) expect(d.out()).toContain(`  ${flag} `);
  });

  it("rejects bad demo options with exit code 2 and a message naming them", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--epoch", "2"], /unknown demo option "--epoch"/],
      [["--epochs", "0"], /--epochs needs a positive integer, got 0/],
      [["--batch", "x"], /--batch needs a positive integer, got x/],
      [["--batch", "99999"], /--batch may be at most 60000/],
      [["--quick", "--batch", "20000"], /--batch may be at most 10000 with --quick/],
      [["--lr", "-1"], /--lr needs a positive number, got -1/],
      [["--seed", "1.5"], /--seed needs an integer/],
      [["--backend", "gpu"], /--backend must be c, js or auto, got gpu/],
      [["--out"], /--out needs a value/],
    ];
    for (const [args, message] of cases) {
      const c = capture();
      expect(await main(["demo", ...args], c.io)).toBe(2);
      expect(c.err()).toMatch(message);
      expect(c.err()).toMatch(/Usage: theano-ts demo /);
    }
  });
});
