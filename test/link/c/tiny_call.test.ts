/**
 * Tiny calls of C-compiled functions (issue 15.5, c/linker.ts `withTinyPath`): under
 * linker=auto, a graph of elementwise nodes, dimshuffles and reductions called with at most
 * TINY_CALL_ELEMENTS input elements runs its JS backend's code (no FFI call); larger calls, other
 * graphs, linker=c by name and profiled functions run the C module. Both paths give perform's
 * values, the same errors, and update shared variables the same way.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { ShapeError } from "../../../src/errors.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { TINY_CALL_ELEMENTS, tinyCallStats } from "../../../src/link/c/linker.js";
import { expectClose } from "../../helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
const hasC = cCompilerStatus().ok;
const ramp = (n: number, dtype: "float32" | "float64" = "float64", k = 1): NDArray => theano.array(Array.from({ length: n }, (_, i) => k * ((i % 7) * 0.25 - 0.5)), dtype);
const counted = <R>(fn: () => R): [R, number] => {
  const before = tinyCallStats.js;
  const r = fn();
  return [r, tinyCallStats.js - before];
};

describe.skipIf(!hasC)("tiny calls of C-compiled functions run their JS code", () => {
  it.each(["float64", "float32"] as const)("exact elementwise on %s: tiny inputs take the JS path, larger ones the C module, with the same bits", (dtype) => {
    const x = T.vector("x", dtype);
    const y = T.vector("y", dtype);
    const outs = [x.mul(y).add(1).div(3), T.maximum(x, y).sub(x.abs())];
    const f = theano.function([x, y], outs);
    const onC = theano.function([x, y], outs, { mode: new theano.Mode("c", "fast_run") }); // by name: never the JS code
    expect([...f.fgraph.nodes].some((n) => n.tag.backend === "host" || n.tag.backend === "js")).toBe(false); // the function is the C module's
    for (const n of [1, 10, TINY_CALL_ELEMENTS / 2, TINY_CALL_ELEMENTS, 200]) {
      const [a, b] = [ramp(n, dtype), ramp(n, dtype, 3.3)];
      const [out, viaJs] = counted(() => f(a, b) as NDArray[]);
      expect(viaJs, `n=${n}`).toBe(2 * n <= TINY_CALL_ELEMENTS ? 1 : 0);
      const c = onC(a, b) as NDArray[];
      out.forEach((o, k) => expectClose(o, c[k]!, { rtol: 0, atol: 0 })); // the same bits as the C module's
      const av = a.toArray() as number[];
      const bv = b.toArray() as number[];
      expectClose(out[0]!, theano.array(av.map((v, i) => (v * bv[i]! + 1) / 3), dtype));
      expectClose(out[1]!, theano.array(av.map((v, i) => Math.max(v, bv[i]!) - Math.abs(v)), dtype));
    }
  });

  it("graphs whose C and JS results may differ (transcendentals, float sums, int64) always call the C module", () => {
    // (a function's results never depend on the size of the call)
    const x = T.fvector("x");
    const fs = [theano.function([x], T.tanh(x)), theano.function([x], T.sum(x)), theano.function([x], x.exp().add(1))];
    const [, n] = counted(() => fs.forEach((f) => f(ramp(5, "float32"))));
    expect(n).toBe(0);
    // int64 (the JS backend's is a double, exact to 2^53): 2^53 + 1 + 1 stays exact, on C
    const i = T.vector("i", "int64");
    const g = theano.function([i], i.add(1));
    const [r, m] = counted(() => g(theano.array([9007199254740993n, -9223372036854775808n] as unknown as number[], "int64")) as NDArray);
    expect(m).toBe(0);
    expect(Array.from(r.toFlat() as BigInt64Array)).toEqual([9007199254740994n, -9223372036854775807n]);
  });

  it("linker=c by name, a graph with a product, and a profiled function always call the C module", () => {
    const x = T.dvector("x");
    const m = T.dmatrix("m");
    const byName = theano.function([x], x.mul(2), { mode: new theano.Mode("c", "fast_run") });
    const withDot = theano.function([m, x], T.dot(m, x));
    const profiled = theano.function([x], x.mul(2), { profile: true });
    const [, n] = counted(() => {
      expectClose(byName(ramp(4)) as NDArray, ramp(4, "float64", 2));
      expectClose(withDot(theano.array([[1, 2], [3, 4]], "float64"), theano.array([1, 1], "float64")) as NDArray, theano.array([3, 7], "float64"));
      expectClose(profiled(ramp(4)) as NDArray, ramp(4, "float64", 2));
    });
    expect(n).toBe(0);
  });

  it("updates of a shared variable agree across the two paths, call after call; an update the JS code would make in place keeps the C path", () => {
    const x = T.dvector("x");
    const acc = theano.shared(theano.zeros([3], "float64"), { name: "acc" });
    // acc's new value does not read acc: nothing is written in place on either path
    const f = theano.function([x], x.mul(2), { updates: [[acc, x.add(x.max()).add(x.max())]] });
    const small = theano.array([1, 2, 3], "float64");
    const big = theano.array(Array.from({ length: 100 }, () => 0.5), "float64");
    const [, viaJs] = counted(() => {
      expectClose(f(small) as NDArray, theano.array([2, 4, 6], "float64")); // JS: acc <- 7, 8, 9
      expectClose(acc.getValue(), theano.array([7, 8, 9], "float64"));
      expectClose(f(big) as NDArray, theano.array(Array.from({ length: 100 }, () => 1), "float64")); // C: acc <- 100 of 1.5
      expectClose(acc.getValue(), theano.array(Array.from({ length: 100 }, () => 1.5), "float64"));
      expectClose(f(small) as NDArray, theano.array([2, 4, 6], "float64")); // C: acc's 100 elements are a value of the call too
      expectClose(acc.getValue(), theano.array([7, 8, 9], "float64"));
      expectClose(f(small) as NDArray, theano.array([2, 4, 6], "float64")); // JS again (3 + 3 elements)
    });
    expect(viaJs).toBe(2);
    acc.setValue(theano.array([1, 2, 3], "float64"));
    // acc + x: the JS backend would add in place over acc's memory, which the C module never
    // does; theano.function lends copies by what the backend writes, so such a graph keeps C.
    const g = theano.function([x], T.sum(acc), { updates: [[acc, acc.add(x)]] });
    const [, viaJs2] = counted(() => {
      expectClose(g(small) as NDArray, theano.array(6, "float64"));
      expectClose(g(small) as NDArray, theano.array(12, "float64"));
    });
    expect(viaJs2).toBe(0);
    expectClose(acc.getValue(), theano.array([3, 6, 9], "float64"));
  });

  it("a tiny call with shapes that disagree raises the ShapeError the C module raises", () => {
    const x = T.fvector("x");
    const y = T.fvector("y");
    const f = theano.function([x, y], x.add(y));
    const c = theano.function([x, y], x.add(y), { mode: new theano.Mode("c", "fast_run") });
    const errOf = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return null;
    };
    const [tiny, viaJs] = counted(() => errOf(() => f(ramp(3, "float32"), ramp(4, "float32"))));
    const big = errOf(() => f(ramp(300, "float32"), ramp(400, "float32")));
    const byName = errOf(() => c(ramp(3, "float32"), ramp(4, "float32")));
    expect(viaJs).toBe(1); // the JS path raised it
    for (const e of [tiny, big, byName]) expect(e).toBeInstanceOf(ShapeError);
    expect(String((tiny as Error).message)).toMatch(/3/);
    expect(String((tiny as Error).message)).toMatch(/4/);
  });
});
