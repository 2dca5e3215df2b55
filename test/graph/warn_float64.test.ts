/**
 * warn_float64 (issue 16.6, Theano's flag): with floatX=float32, a node making a float64 result
 * is reported with the user's line that created it; float32 graphs and floatX=float64 are quiet.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { warningsOf } from "../helpers.js";

const T = theano.tensor;


describe("warn_float64", () => {
  it("raise: a float64 result in a float32 graph throws a TypeMismatchError naming the user's line", () => {
    theano.config.change({ floatX: "float32", warn_float64: "raise" }, () => {
      const x = T.fvector("x");
      const d = T.dvector("d");
      expect(() => x.add(d)).toThrow(theano.TypeMismatchError);
      let msg = "";
      try {
        x.mul(d);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toMatch(/makes a float64 result while floatX=float32/);
      expect(msg).toContain("warn_float64.test.ts");
      expect(msg).toMatch(/astype\("float32"\)/);
      // float32 all the way: nothing to say
      expect(() => T.tanh(x.mul(2)).sum()).not.toThrow();
    });
  });

  it("warn: one warning per line, even when the graph is cloned by theano.function", async () => {
    const msgs = await warningsOf(() =>
      theano.config.change({ floatX: "float32", warn_float64: "warn" }, () => {
        const x = T.fvector("x");
        const d = T.dvector("d");
        const y = x.add(d);
        theano.function([x, d], y, { mode: new theano.Mode("py", "fast_run") });
      }),
    );
    const mine = msgs.filter((m) => m.includes("float64 result"));
    expect(mine.length).toBe(1);
    expect(mine[0]).toContain("warn_float64.test.ts");
  });

  it("ignore (the default) and floatX=float64 say nothing", async () => {
    const msgs = await warningsOf(() => {
      theano.config.change({ floatX: "float32" }, () => T.fvector("x").add(T.dvector("d")));
      theano.config.change({ floatX: "float64", warn_float64: "raise" }, () => T.fvector("x").add(T.dvector("d")));
    });
    expect(msgs.filter((m) => m.includes("float64 result"))).toEqual([]);
  });
});
