/**
 * The JS backend against the `py` linker (every node through `perform`): every scalar-table row,
 * several dtypes and layouts (contiguous, transposed, step-sliced, broadcast, 0-d, empty), and
 * fused graphs. Both compute in doubles and store into the same TypedArrays, so results must
 * be identical (NaN equal to NaN).
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { SCALAR_OPS } from "../../src/scalar/table.js";
import { elemwiseOf, promoteOperands } from "../../src/tensor/math.js";
import type { DType } from "../../src/ndarray/dtype.js";
import { TypeMismatchError } from "../../src/errors.js";

const { T } = theano;

function sameValues(a: theano.NDArray, b: theano.NDArray): void {
  expect(a.dtype).toBe(b.dtype);
  expect([...a.shape]).toEqual([...b.shape]);
  const fa = a.toFlat();
  const fb = b.toFlat();
  for (let i = 0; i < fa.length; i++) {
    const x = fa[i]!;
    const y = fb[i]!;
    if (typeof x === "number" && Number.isNaN(x)) expect(Number.isNaN(y as number)).toBe(true);
    else expect(Object.is(x, y) || x === y).toBe(true);
  }
}

function both(inputs: theano.TensorVariable[], out: theano.TensorVariable, values: unknown[]): void {
  const js = theano.config.change({ linker: "js" }, () => theano.function(inputs, out, { onUnusedInput: "ignore" }));
  const py = theano.config.change({ linker: "py" }, () => theano.function(inputs, out, { onUnusedInput: "ignore" }));
  sameValues(js(...values), py(...values));
}

const SAMPLE = [-3.5, -1, -0.5, -0, 0, 0.25, 0.5, 1, 2, 7, 1e-7, 40, NaN, Infinity, -Infinity];

function valuesFor(dtype: DType, n: number, shift: number): theano.NDArray {
  const xs = Array.from({ length: n }, (_v, i) => SAMPLE[(i + shift) % SAMPLE.length]!);
  if (dtype === "bool") return theano.array(xs.map((v) => v > 0.3), "bool");
  if (dtype.startsWith("float")) return theano.array(xs, dtype);
  const ints = xs.map((v) => (Number.isFinite(v) ? Math.trunc(v * 3) : 5)).map((v) => (dtype.startsWith("u") ? Math.abs(v) : v));
  return theano.array(ints, dtype);
}

describe("js linker agrees with perform on every scalar-table row", () => {
  const dtypes: DType[] = ["float32", "float64", "int32", "int64", "uint8", "bool"];
  for (const row of SCALAR_OPS.values()) {
    it(row.name, () => {
      let tried = 0;
      for (const dtype of dtypes) {
        const vars = Array.from({ length: row.arity }, (_v, k) => T.tensor({ dtype, shape: [null, null], name: `a${k}` }));
        let out: theano.TensorVariable;
        try {
          out = elemwiseOf(row).call(...promoteOperands(vars)) as theano.TensorVariable;
        } catch (e) {
          if (e instanceof TypeMismatchError) continue;
          throw e;
        }
        tried++;
        const n = SAMPLE.length;
        const vals = vars.map((_v, k) => valuesFor(dtype, 3 * n, 3 * k).reshape([3, n]));
        both(vars, out, vals); // contiguous
        both(vars, out, vals.map((v) => v.T.copy().T)); // transposed views
        both(vars, out, vals.map((v) => v.slice(undefined as never, [null, null, 2]))); // step-sliced
        both(vars, out, vals.map((v) => v.slice([0, 0]))); // empty
      }
      expect(tried).toBeGreaterThan(0);
    });
  }
});

describe("layouts and fused graphs", () => {
  it("broadcast row + col, 0-d and size-1 operands", () => {
    const r = T.frow("r");
    const c = T.fcol("c");
    const s = T.fscalar("s");
    const out = r.add(c).mul(s).sub(T.exp(r));
    both([r, c, s], out, [[[1, 2, 3]], [[10], [20]], 0.5]);
    both([r, c, s], out, [[[1]], [[10]], 2]);
  });

  it("a fused W2-style graph on strided input", () => {
    const x = T.dmatrix("x");
    const out = T.tanh(x.mul(0.5).add(0.1)).mul(T.sigmoid(x)).sub(T.exp(x.neg().mul(x)));
    const v = theano.arange(-6, 6, 0.5, "float64").reshape([4, 6]);
    both([x], out, [v]);
    both([x], out, [v.T]);
    both([x], out, [v.slice([null, null, -1], [1, null, 2])]);
  });

  it("repeated calls never change an earlier result, and intermediates survive later nodes", () => {
    const x = T.dvector("x");
    const a = x.mul(2);
    const b = a.sum();
    const c = x.add(100).exp().add(1);
    const out = a.add(b).add(c.mul(0));
    const f = theano.function([x], [out, a.mul(3)]);
    const [o1, p1] = f([1, 2, 3]);
    const snapshot = [o1!.toArray(), p1!.toArray()];
    f([4, 5, 6]);
    f([7, 8, 9]);
    expect([o1!.toArray(), p1!.toArray()]).toEqual(snapshot);
    expect(o1!.toArray()).toEqual([2 + 12, 4 + 12, 6 + 12]);
  });
});
