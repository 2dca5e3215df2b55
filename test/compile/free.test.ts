/** f.free(): releases the function's buffers; calling it afterwards is a clear error, not a crash. */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const { T } = theano;

describe("f.free()", () => {
  for (const linker of ["js", "py"] as const) {
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
