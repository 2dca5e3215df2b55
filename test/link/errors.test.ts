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

  it("keeps ShapeError a ShapeError and turns foreign errors into TheanoErrors", () => {
    expect(wrapNodeError(new ShapeError("bad"), node, [])).toBeInstanceOf(ShapeError);
    const e = wrapNodeError(new RangeError("oops"), node, []);
    expect(e).toBeInstanceOf(TheanoError);
    expect((e as Error).cause).toBeInstanceOf(RangeError);
  });
});
