import { it } from "vitest";
import * as theano from "../src/index.js";
import * as T from "../src/tensor/index.js";
import { array } from "../src/ndarray/ndarray.js";
it("probe", () => {
  const x = T.vector("x");
  const y = T.vector("y");
  for (const linker of ["js", "py"]) {
    const fn = (theano as any).function;
    const out = (theano as any).config.change({ linker }, () => {
      const f = fn([x, y], [T.cast(x, "bool"), T.clip(x, y, 0.5), T.pow(y, x), T.all(x), T.maximum(x, y), T.any(T.mul(x, 1))]);
      return f(array([0.5, NaN, -0.0, 3], "float64"), array([1, 1, 0.0, -1], "float64"));
    });
    console.log(linker, out.map((o: any) => o.toString()));
  }
});
