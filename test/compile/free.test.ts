/**
 * f.free() and SharedVariable.dispose(): freeing a function makes later calls a clear error, not
 * a crash, and both release memory at once (issue 13.10), whatever still holds the function.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const { T } = theano;
const LINKERS = ["c", "js", "py"] as const;

describe("f.free()", () => {
  for (const linker of LINKERS) {
    it(`makes later calls raise a TheanoError (${linker})`, () => {
      const x = T.dvector("x");
      const f = theano.config.change({ linker }, () => theano.function([x], x.mul(2).add(1)));
      expect(f([1, 2]).toArray()).toEqual([3, 5]);
      f.free();
      expect(() => f([1, 2])).toThrow(theano.TheanoError);
      expect(() => f([1, 2])).toThrow(/freed/);
    });
  }
});

// A collector to call: vitest's forks run without --expose-gc, and the flag can be set at run time.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** External ArrayBuffer memory in MB after full collections (TypedArray storage lives there). */
function arrayMB(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().arrayBuffers / 2 ** 20;
}

const MB8 = 1 << 20; // float64 elements in 8 MB

/** Ten 8 MB shared variables read by one function, with an in-place update and a borrowed output. */
function tenShared(linker: (typeof LINKERS)[number]): { svs: theano.SharedVariable[]; f: theano.TheanoFunction<theano.NDArray[]> } {
  const svs = Array.from({ length: 10 }, (_, i) => theano.shared(new Float64Array(MB8).fill(i + 1), { name: `s${i}` }));
  let total = svs[0]!.sum();
  for (const s of svs.slice(1)) total = total.add(s.sum());
  const f = theano.config.change({ linker }, () =>
    theano.function([], [total, theano.Out(svs[1]!.mul(2), { borrow: true })], { updates: [[svs[0]!, svs[0]!.add(1)]] }),
  );
  return { svs, f };
}

describe("issue 13.10: dispose() and free() release memory at once", () => {
  for (const linker of LINKERS) {
    it(`dispose() of shared variables used by a live function frees their buffers (${linker})`, () => {
      const base = arrayMB();
      const { svs, f } = tenShared(linker);
      expect(f()[0]!.toArray()).toBe(MB8 * 55);
      f(); // a second call: buffers of the previous one are reused or dropped
      expect(arrayMB() - base).toBeGreaterThan(80);
      for (const s of svs) s.dispose();
      // The function stays alive (and callable until it needs a disposed value): only its
      // borrowed 8 MB output may remain.
      expect(arrayMB() - base).toBeLessThan(12);
      expect(() => f()).toThrow(/disposed/);
      expect(typeof f).toBe("function");
    });

    it(`free() then dispose() releases every buffer without dropping the function (${linker})`, () => {
      const base = arrayMB();
      const { svs, f } = tenShared(linker);
      f();
      f();
      const held = arrayMB() - base;
      expect(held).toBeGreaterThan(80);
      f.free();
      for (const s of svs) s.dispose();
      expect(arrayMB() - base).toBeLessThan(2);
      expect(() => f()).toThrow(/freed/);
      expect(typeof f).toBe("function");
    });
  }
});
