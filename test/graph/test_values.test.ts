/**
 * compute_test_value (issue 16.3, Theano's flag): nodes run on test values while the graph is
 * built, so a shape error is raised at the user's own line.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const T = theano.tensor;

describe("compute_test_value", () => {
  it("raise: a shape mismatch is a ShapeError while building, naming the op and the user's line", () => {
    theano.config.change({ compute_test_value: "raise" }, () => {
      const x = T.fmatrix("x");
      const w = T.fmatrix("w");
      x.tag.testValue = theano.ones([4, 3], "float32");
      w.tag.testValue = theano.ones([5, 2], "float32");
      let err: unknown = null;
      try {
        T.dot(x, w);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(theano.ShapeError);
      expect((err as Error).message).toMatch(/computing the test value of dot at .*test_values\.test\.ts/);
    });
  });

  it("outputs carry test values, through constants and shared variables", () => {
    theano.config.change({ compute_test_value: "raise" }, () => {
      const x = T.fvector("x");
      x.tag.testValue = [1, 2, 3];
      const s = theano.shared(theano.array([10, 20, 30], "float32"), { name: "s" });
      const y = x.mul(2).add(s);
      const tv = y.tag.testValue as theano.NDArray;
      expect(tv).toBeInstanceOf(theano.NDArray);
      expect(Array.from(tv.data as Float32Array)).toEqual([12, 24, 36]);
      expect((y.sum().tag.testValue as theano.NDArray).toFlat()[0]).toBe(72);
    });
  });

  it("a test value of the wrong dtype or rank is refused when used", () => {
    theano.config.change({ compute_test_value: "raise" }, () => {
      const x = T.fmatrix("x");
      x.tag.testValue = [1, 2, 3];
      expect(() => x.mul(2)).toThrow(theano.TheanoError);
    });
  });

  it("a missing test value: raise throws an InputError, ignore skips, off computes nothing", () => {
    const build = () => T.fvector("x").mul(2);
    theano.config.change({ compute_test_value: "raise" }, () => {
      expect(build).toThrow(theano.InputError);
      expect(build).toThrow(/has no test value; set x\.tag\.testValue/);
    });
    theano.config.change({ compute_test_value: "ignore" }, () => {
      expect(build().tag.testValue).toBeUndefined();
    });
    const x = T.fvector("x");
    x.tag.testValue = [1, 2];
    expect(x.mul(2).tag.testValue).toBeUndefined();
  });

  it("compiling does not recompute test values (rewrites and clones run without them)", () => {
    theano.config.change({ compute_test_value: "raise" }, () => {
      const x = T.fvector("x");
      x.tag.testValue = [1, 2, 3];
      const y = T.exp(x).mul(2).sum();
      // the rewritten graph's new nodes have no test values to compute, and nothing raises
      const f = theano.function([x], y, { mode: new theano.Mode("py", "fast_run") });
      expect((f(theano.array([0, 0, 0], "float32")) as theano.NDArray).toFlat()[0]).toBeCloseTo(6, 5);
    });
  });
});
