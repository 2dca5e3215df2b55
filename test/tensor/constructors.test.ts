/**
 * The symbolic constructors and Theano's names on `T` (issue 12.4): the plural constructors
 * (`T.dscalars("x", "y")`), the typed singular forms, `T.switch` (a reserved word, exported as a
 * property name), `T.grad`/`T.Lop`/`T.Rop`/`T.jacobian`/`T.hessian`, and `x.broadcastable`.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { expectClose } from "../helpers.js";

const { T } = theano;

describe("issue 12.4: Theano's constructor names", () => {
  it("plural constructors take names as varargs, one separated string, or a count", () => {
    const [x, y] = T.dscalars("x", "y");
    expect([x!.name, y!.name]).toEqual(["x", "y"]);
    expect([x!.dtype, x!.ndim]).toEqual(["float64", 0]);
    const f = theano.function([x!, y!], x!.add(y!));
    expectClose(f(2, 3), 5);

    const ms = T.fmatrices("a, b c");
    expect(ms.map((m) => m.name)).toEqual(["a", "b", "c"]);
    expect(ms.every((m) => m.dtype === "float32" && m.ndim === 2)).toBe(true);
    const three = T.ivectors(3);
    expect(three.length).toBe(3);
    expect(three.every((v) => v.dtype === "int32" && v.ndim === 1 && v.name === null)).toBe(true);
    expect(T.dscalars("only").map((v) => v.name)).toEqual(["only"]);
  });

  it("every rank and typed prefix has a singular and a plural form", () => {
    const ranks: Array<[string, string, number]> = [
      ["scalar", "scalars", 0], ["vector", "vectors", 1], ["matrix", "matrices", 2], ["row", "rows", 2],
      ["col", "cols", 2], ["tensor3", "tensor3s", 3], ["tensor4", "tensor4s", 4], ["tensor5", "tensor5s", 5],
    ];
    const prefixes: Array<[string, string]> = [["b", "int8"], ["w", "int16"], ["i", "int32"], ["l", "int64"], ["f", "float32"], ["d", "float64"]];
    const t = T as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const [one, many, ndim] of ranks) {
      for (const [p, dtype] of [["", theano.config.floatX], ...prefixes] as Array<[string, string]>) {
        const v = t[p + one]!("v") as theano.TensorVariable;
        expect([p + one, v.dtype, v.ndim]).toEqual([p + one, dtype, ndim]);
        const vs = t[p + many]!("a", "b") as theano.TensorVariable[];
        expect([p + many, vs.length, vs[1]!.dtype, vs[1]!.ndim, vs[1]!.name]).toEqual([p + many, 2, dtype, ndim, "b"]);
      }
    }
    expect(T.row().broadcastable).toEqual([true, false]);
    expect(T.lcols(1)[0]!.broadcastable).toEqual([false, true]);
  });

  it("bad arguments to a plural constructor raise InputError", () => {
    expect(() => T.dscalars(-1)).toThrow(theano.InputError);
    expect(() => T.dscalars(1.5)).toThrow(theano.InputError);
    expect(() => (T.dscalars as (...a: unknown[]) => unknown)("x", 2)).toThrow(/names \(strings\) or one count/);
  });
});

describe("issue 12.4: Theano's names on T and on variables", () => {
  it("T.switch is T.where (and T.switch_ stays)", () => {
    expect(T.switch).toBe(T.where);
    expect(T.switch_).toBe(T.where);
    const x = T.dvector("x");
    const f = theano.function([x], T.switch(x.gt(0), x, x.neg()));
    expectClose(f([-2, 0, 3]), [2, 0, 3]);
  });

  it("T.grad, T.Lop, T.Rop, T.jacobian, T.hessian are the gradient stage's", () => {
    expect(T.grad).toBe(theano.grad);
    expect(T.Lop).toBe(theano.gradient.Lop);
    expect(T.Rop).toBe(theano.gradient.Rop);
    expect(T.jacobian).toBe(theano.gradient.jacobian);
    expect(T.hessian).toBe(theano.gradient.hessian);
    expect(theano.tensor).toBe(T);
    const x = T.dscalar("x");
    expectClose(theano.function([x], T.grad(x.mul(x), x))(3), 6);
  });

  it("x.broadcastable is x.type.broadcastable", () => {
    const x = T.tensor({ dtype: "float32", shape: [1, null, 3], name: "x" });
    expect(x.broadcastable).toEqual([true, false, false]);
    expect(x.broadcastable).toEqual(x.type.broadcastable);
    expect(T.dmatrix("m").dimshuffle("x", 0, 1).broadcastable).toEqual([true, false, false]);
  });
});

describe("constructor arguments (Theano's keywords as an options object)", () => {
  it("T.vector({ name, dtype }) is a named vector of that dtype, not a floatX vector named [object Object]", () => {
    const v = T.vector({ name: "v", dtype: "int32" });
    expect(v.name).toBe("v");
    expect(v.dtype).toBe("int32");
    expect(T.fmatrix({ name: "m" }).dtype).toBe("float32");
    expect(T.matrix({ dtype: "float64" }).name).toBeNull();
  });

  it("bad arguments are InputErrors naming the problem", () => {
    expect(() => T.vector({ name: "v", dtyp: "int32" } as never)).toThrow(/unknown option 'dtyp'/);
    expect(() => T.vector(42 as never)).toThrow(theano.InputError);
    expect(() => T.vector({ name: "v", dtype: "int32" }, "int32")).toThrow(/dtype once/);
    expect(() => T.fvector("x", "float64")).toThrow(/makes float32 tensors/);
    expect(() => T.vector("x", "float31" as never)).toThrow(theano.TheanoError);
  });
});
