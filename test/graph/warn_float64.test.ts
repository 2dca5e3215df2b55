/**
 * warn_float64 (issue 16.6, Theano's flag): with floatX=float32, a float64 variable the user
 * declares (T.dvector, T.tensor of dtype float64, a float64 shared variable) and a node making a
 * float64 result are reported with the user's line that created them; float32 graphs and
 * floatX=float64 are quiet.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { warningsOf } from "../helpers.js";

const T = theano.tensor;


describe("warn_float64", () => {
  it("raise: a float64 result in a float32 graph throws a TypeMismatchError naming the user's line", () => {
    const d = theano.config.change({ floatX: "float64" }, () => T.dvector("d")); // declared where float64 is the default
    theano.config.change({ floatX: "float32", warn_float64: "raise" }, () => {
      const x = T.fvector("x");
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

  it("declaring a float64 variable is reported at its line: T.dvector, T.tensor, theano.shared", async () => {
    theano.config.change({ floatX: "float32", warn_float64: "raise" }, () => {
      expect(() => T.dvector("d")).toThrow(/the variable d is float64 while floatX=float32 \(warn_float64=raise\), at .*warn_float64\.test\.ts/);
      expect(() => T.tensor({ dtype: "float64", shape: [null, 3], name: "t" })).toThrow(theano.TypeMismatchError);
      expect(() => theano.shared(theano.zeros([2], "float64"), { name: "w" })).toThrow(/the shared variable w is float64/);
      // float32 and integer declarations are fine
      expect(() => [T.fvector("f"), T.lvector("i"), theano.shared(theano.zeros([2], "float32"))]).not.toThrow();
    });
    const msgs = await warningsOf(() =>
      theano.config.change({ floatX: "float32", warn_float64: "warn" }, () => {
        for (let i = 0; i < 3; i++) T.dmatrix("m"); // one line: one warning
      }),
    );
    const mine = msgs.filter((m) => m.includes("the variable m is float64"));
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
