import { describe, expect, it } from "vitest";
import { CompileError, ShapeError, TheanoError } from "../../src/errors.js";
import { wrapNodeError } from "../../src/link/errors.js";
import * as T from "../../src/tensor/index.js";

const node = T.exp(T.dvector("x")).owner!;

describe("wrapNodeError", () => {
  it("keeps the class and CompileError's paths, and names the node", () => {
    const e = wrapNodeError(new CompileError("cc failed", "/tmp/a.c", "/tmp/a.log"), node, []);
    expect(e).toBeInstanceOf(CompileError);
    expect((e as CompileError).sourcePath).toBe("/tmp/a.c");
    expect((e as CompileError).logPath).toBe("/tmp/a.log");
    expect(e.message).toMatch(/^cc failed/);
    expect(e.message).toContain("Apply node that caused the error");
    expect(e.name).toBe("CompileError");
    expect(String(e.stack)).toContain("CompileError: cc failed");
  });

  it("issue 13.3: an allocation RangeError inside perform becomes a ShapeError naming the bytes", () => {
    const e = wrapNodeError(new RangeError("Invalid typed array length: 1099511627776"), node, []);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain("1099511627776 elements of float64: 8796093022208 bytes");
    expect(e.message).toContain("too large to allocate");
    expect(wrapNodeError(new RangeError("Array buffer allocation failed"), node, [])).toBeInstanceOf(ShapeError);
  });

  it("keeps ShapeError a ShapeError and turns foreign errors into TheanoErrors", () => {
    expect(wrapNodeError(new ShapeError("bad"), node, [])).toBeInstanceOf(ShapeError);
    const e = wrapNodeError(new RangeError("oops"), node, []);
    expect(e).toBeInstanceOf(TheanoError);
    expect((e as Error).cause).toBeInstanceOf(RangeError);
  });
});
