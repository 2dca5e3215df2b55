/**
 * The canonicalize and specialize algebra (src/rewriting/math.ts): per rewrite, the structure
 * after rewriting through `theano.function`'s default mode, values equal to the unrewritten
 * graph's on random inputs, and `optimizer_excluding=<name>` turning it off.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { canonicalize, rewriteLog, specialize } from "../../src/rewriting/engine.js";
import { MATH_REWRITES } from "../../src/rewriting/math.js";
import { ShapeI } from "../../src/tensor/shape.js";
import { expectClose } from "../helpers.js";
import { checkRewrite, compile, ops, randomValues, run } from "./catalogue_helpers.js";

const { T } = theano;

const v3 = (seed = 1) => randomValues([3], -2, 2, seed);
const m23 = (seed = 2) => randomValues([2, 3], -2, 2, seed);
const pos3 = (seed = 3) => randomValues([3], 0.1, 3, seed);
const ints = theano.array([3, -2, 7], "int32");

describe("registration", () => {
  it("every rewrite is registered under its Theano name in canonicalize and/or specialize", () => {
    const names = new Set([...canonicalize.names, ...specialize.names]);
    for (const r of MATH_REWRITES) expect(names.has(r.name), r.name).toBe(true);
    expect(canonicalize.names).toContain("local_add_canonizer");
    expect(canonicalize.names).toContain("local_mul_canonizer");
    expect(specialize.names).toContain("local_pow_specialize");
    expect(specialize.names).not.toContain("local_add_canonizer");
  });
});

describe("canonicalize: the add canonizer", () => {
  it("x + y - x -> y", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const got = checkRewrite({ name: "local_add_canonizer", inputs: [x, y], output: x.add(y).sub(x), values: [v3(1), v3(2)], absent: ["add", "sub"] });
    expect(got).toEqual([]);
  });

  it("collects constants: (x + 1) + 2 - 0.5 is one add of 2.5", () => {
    const x = T.dvector("x");
    const f = compile([x], x.add(1).add(2).sub(0.5));
    expect(ops(f)).toEqual(["add"]);
    expectClose(run(f, [1, 2, 3])[0]!, [3.5, 4.5, 5.5]);
    const off = compile([x], x.add(1).add(2).sub(0.5), { excluding: ["local_add_canonizer"] });
    expect(ops(off)).toEqual(["add", "add", "sub"]);
    expectClose(run(off, [1, 2, 3])[0]!, [3.5, 4.5, 5.5]);
  });

  it("x - x -> zeros of x's shape (an Alloc; the canonizer treats x - x as exact, as Theano's does)", () => {
    const x = T.dmatrix("x");
    const f = compile([x], x.sub(x));
    expect(ops(f)).not.toContain("sub");
    expect(ops(f)).toContain("Alloc");
    expectClose(run(f, [[1, 2, 3]])[0]!, [[0, 0, 0]]);
  });

  it("keeps a dropped term's broadcasting: row - row + m keeps m's shape", () => {
    const r = T.drow("r");
    const m = T.dmatrix("m");
    const f = compile([r, m], m.add(r).sub(r));
    expect(ops(f)).toEqual([]);
    const f2 = compile([r, m], r.add(m).sub(m));
    expect(ops(f2)).not.toContain("sub");
    expectClose(run(f2, [[1, 2]], [[0, 0], [5, 5], [7, 7]])[0]!, [[1, 2], [1, 2], [1, 2]]);
  });

  it("integer trees are canonicalized too (exact constants)", () => {
    const x = T.ivector("x");
    const f = compile([x], x.add(2).sub(2));
    expect(ops(f)).toEqual([]);
    expectClose(run(f, ints)[0]!, ints);
  });
});

describe("canonicalize: the add canonizer, integer edge and verbose output", () => {
  it("integer constants that would leave the dtype's range are not folded", () => {
    const x = T.tensor({ dtype: "uint8", shape: [null], name: "x" });
    const out = x.add(200).add(100);
    const f = compile([x], out);
    expect(ops(f)).toEqual(["add", "add"]);
    expectClose(run(f, theano.array([1, 2], "uint8"))[0]!, run(compile([x], out, { optimizer: "None" }), theano.array([1, 2], "uint8"))[0]!);
  });

  it("optimizer_verbose names the rewrite in Theano's format", () => {
    const x = T.dvector("x");
    const lines: string[] = [];
    const orig = rewriteLog.write;
    rewriteLog.write = (l: string) => void lines.push(l);
    try {
      theano.config.change({ optimizer_verbose: true } as never, () => compile([x], x.add(1).add(2)));
    } finally {
      rewriteLog.write = orig;
    }
    expect(lines.some((l) => l.startsWith("rewriting: rewrite local_add_canonizer replaces "))).toBe(true);
  });
});

describe("canonicalize: the mul canonizer", () => {
  it("x * y / x -> y", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    checkRewrite({ name: "local_mul_canonizer", inputs: [x, y], output: x.mul(y).div(x), values: [pos3(1), v3(2)], absent: ["mul", "trueDiv"] });
  });

  it("x / 4 -> x * 0.25, and constants fold: 2 * x * 3 -> x * 6", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_mul_canonizer", inputs: [x], output: x.div(4), values: [v3()], present: ["mul"], absent: ["trueDiv"] });
    const f = compile([x], T.mul(2, x).mul(3));
    expect(ops(f)).toEqual(["mul"]);
    expectClose(run(f, [1, 2, 3])[0]!, [6, 12, 18]);
  });

  it("(-x) * (-y) -> x * y", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    checkRewrite({ name: "local_mul_canonizer", inputs: [x, y], output: x.neg().mul(y.neg()), values: [v3(1), v3(2)], absent: ["neg"], alsoExcluding: ["local_add_canonizer"] });
  });

  it("local_mul_zero: x * 0 -> zeros shaped like x (ints)", () => {
    const x = T.imatrix("x");
    const got = checkRewrite({ name: "local_mul_zero", inputs: [x], output: x.mul(0), values: [[[1, 2], [3, 4]]], absent: ["mul"], alsoExcluding: ["local_mul_specialize"] });
    expect(got).toContain("Alloc");
  });

  it("float x * 0 is 0 even for inf (Theano's choice)", () => {
    const x = T.dvector("x");
    const f = compile([x], x.mul(0));
    expectClose(run(f, [1, Infinity])[0]!, [0, 0]);
  });
});

describe("canonicalize: involutions, powers, exp/log", () => {
  it("local_neg_neg: -(-x) -> x", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_neg_neg", inputs: [x], output: x.neg().neg(), values: [v3()], absent: ["neg"], alsoExcluding: ["local_add_canonizer", "local_mul_canonizer"] });
  });

  it("local_inv_inv: inv(inv(x)) -> x", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_inv_inv", inputs: [x], output: T.inv(T.inv(x)), values: [pos3()], absent: ["inv"], alsoExcluding: ["local_mul_canonizer"] });
  });

  it("local_pow_canonicalize: x ** 1 -> x, x ** 0 -> ones", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_pow_canonicalize", inputs: [x], output: x.pow(1), values: [v3()], absent: ["pow"], alsoExcluding: ["local_pow_specialize"] });
    const f = compile([x], x.pow(0));
    expect(ops(f)).not.toContain("pow");
    expectClose(run(f, [2, 0, -1])[0]!, [1, 1, 1]);
  });

  it("local_exp_log: log(exp(x)) -> x, log1p(expm1(x)) -> x", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_exp_log", inputs: [x], output: T.log(T.exp(x)), values: [v3()], absent: ["log", "exp"] });
    checkRewrite({ name: "local_exp_log", inputs: [x], output: T.log1p(T.expm1(x)), values: [v3()], absent: ["log1p", "expm1"] });
  });

  it("local_exp_log_nan_switch: exp(log(x)) -> where(x >= 0, x, NaN)", () => {
    const x = T.dvector("x");
    const got = checkRewrite({ name: "local_exp_log_nan_switch", inputs: [x], output: T.exp(T.log(x)), values: [theano.array([-1, 0, 2.5])], present: ["where"], absent: ["exp", "log"] });
    expect(got).toContain("ge");
  });
});

describe("canonicalize: dimshuffles, casts, reshapes", () => {
  it("local_dimshuffle_lift: merges consecutive DimShuffles (m.T.T -> m)", () => {
    const m = T.dmatrix("m");
    checkRewrite({ name: "local_dimshuffle_lift", inputs: [m], output: m.T.T, values: [m23()], absent: ["DimShuffle{1,0}"] });
  });

  it("local_dimshuffle_lift: exp(m).T -> exp(m.T) (the shuffle moves to the input)", () => {
    const m = T.dmatrix("m");
    const f = compile([m], T.exp(m).T);
    expect(ops(f)).toEqual(["DimShuffle{1,0}", "exp"]);
    const off = compile([m], T.exp(m).T, { excluding: ["local_dimshuffle_lift"] });
    expect(ops(off)).toEqual(["exp", "DimShuffle{1,0}"]);
    expectClose(run(f, m23())[0]!, run(off, m23())[0]!);
  });

  it("local_cast_cast: a lossless inner cast disappears; a lossy one stays", () => {
    const x = T.bvector("x");
    checkRewrite({
      name: "local_cast_cast",
      inputs: [x],
      output: T.cast(T.cast(x, "int32"), "float64"),
      values: [theano.array([1, -5, 100], "int8")],
      present: ["Elemwise{cast{float64}}"],
      absent: ["Elemwise{cast{int32}}"],
    });
    const y = T.dvector("y");
    const f = compile([y], T.cast(T.cast(y, "int32"), "float64"));
    expect(ops(f)).toEqual(["Elemwise{cast{int32}}", "Elemwise{cast{float64}}"]);
    expectClose(run(f, [1.5, -2.7])[0]!, [1, -2]);
  });

  it("local_reshape_chain: reshape(reshape(x)) -> one reshape", () => {
    const m = T.dmatrix("m");
    checkRewrite({ name: "local_reshape_chain", inputs: [m], output: m.reshape([6]).reshape([3, 2]), values: [m23()], present: ["Reshape{2}"], absent: ["Reshape{1}"] });
  });

  it("local_useless_reshape: a vector reshaped to a vector", () => {
    const x = T.dvector("x");
    checkRewrite({ name: "local_useless_reshape", inputs: [x], output: x.reshape([-1]).mul(2), values: [v3()], absent: ["Reshape{1}"] });
  });
});

describe("canonicalize: shapes", () => {
  it("local_shape_to_shape_i + local_shape_i_lift: exp(m).shape needs neither exp nor Shape", () => {
    const m = T.dmatrix("m");
    const got = checkRewrite({ name: "local_shape_to_shape_i", inputs: [m], output: T.exp(m).shape, values: [m23()], present: ["MakeVector"], absent: ["Shape"] });
    expect(got).not.toContain("exp");
  });

  it("local_shape_i_lift: Shape_i of an Elemwise is its input's Shape_i", () => {
    const m = T.dmatrix("m");
    checkRewrite({ name: "local_shape_i_lift", inputs: [m], output: T.shape(T.exp(m), 1), values: [m23()], absent: ["exp"] });
  });

  it("local_shape_i_lift: Shape_i of an Alloc is its size argument", () => {
    const m = T.dmatrix("m");
    const n = T.lscalar("n");
    const got = checkRewrite({ name: "local_shape_i_lift", inputs: [m, n], output: T.shape(T.alloc(T.exp(m), n, T.shape(m, 0), T.shape(m, 1)), 0).mul(2), values: [m23(), 5], absent: ["Alloc"] });
    expect(got).not.toContain("exp");
  });

  it("local_shape_i_of_known: Shape_i of a statically known axis is a constant", () => {
    const x = T.dvector("x");
    const out = new ShapeI(0).call(T.specifyShape(x, [3])) as theano.TensorVariable;
    // (local_shape_i_lift would get the same constant from SpecifyShape's shape inference.)
    checkRewrite({ name: "local_shape_i_of_known", inputs: [x], output: out.mul(2), values: [v3()], absent: ["Shape_i{0}"], alsoExcluding: ["local_shape_i_lift"] });
    const f = compile([x], out);
    expect(ops(f)).toEqual([]);
    expectClose(run(f, [1, 2, 3])[0]!, theano.array(3, "int64"));
  });

  it("local_subtensor_make_vector: x.shape[1] is Shape_i{1}(x)", () => {
    const m = T.dmatrix("m");
    const got = checkRewrite({ name: "local_subtensor_make_vector", inputs: [m], output: m.shape.get(1), values: [m23()], present: ["Shape_i{1}"], absent: ["MakeVector", "Subtensor{1}"] });
    expect(got).toEqual(["Shape_i{1}"]);
  });
});

describe("canonicalize: subtensors", () => {
  const m = T.dmatrix("m");
  const vals = randomValues([5, 4], -2, 2, 9);
  const merged: Array<[string, theano.TensorVariable, string]> = [
    ["m[1:][0] -> m[1]", m.get("1:").get(0), "Subtensor{1}"],
    ["m[1:4][1:2] -> m[2:3]", m.get("1:4").get("1:2"), "Subtensor{2:3}"],
    ["m[:, 1:][2] -> m[2, 1:]", m.get(":", "1:").get(2), "Subtensor{2, 1:}"],
    ["m[1:][:, :3] -> m[1:, :3]", m.get("1:").get(":", ":3"), "Subtensor{1:, :3}"],
    ["m[2][1:] -> m[2, 1:]", m.get(2).get("1:"), "Subtensor{2, 1:}"],
  ];
  for (const [label, out, op] of merged) {
    it(`local_subtensor_merge: ${label}`, () => {
      const got = checkRewrite({ name: "local_subtensor_merge", inputs: [m], output: out, values: [vals], present: [op] });
      expect(got).toEqual([op]);
    });
  }

  it("compositions that are not exact stay two nodes (strided, negative, index into a bounded slice)", () => {
    for (const out of [m.get("::2").get("1:"), m.get("-3:").get("1:"), m.get("1:3").get(0)]) {
      const f = compile([m], out);
      expect(ops(f)).toHaveLength(2);
      expectClose(run(f, vals)[0]!, run(compile([m], out, { optimizer: "None" }), vals)[0]!);
    }
  });
});

describe("canonicalize: reductions", () => {
  it("local_op_of_op: sum(sum(m, 0)) -> one sum over both axes", () => {
    const m = T.dmatrix("m");
    checkRewrite({ name: "local_op_of_op", inputs: [m], output: T.sum(T.sum(m, 0)), values: [m23()], present: ["Sum{axis=(0, 1)}"], absent: ["Sum{axis=(0)}"] });
    const t = T.tensor3("t");
    const f = compile([t], T.max(T.max(t, 1), 1));
    expect(ops(f)).toEqual(["Max{axis=(1, 2)}"]);
  });

  it("local_reduce_broadcastable: a sum over an axis of size 1 is a DimShuffle", () => {
    const r = T.drow("r");
    checkRewrite({ name: "local_reduce_broadcastable", inputs: [r], output: T.sum(r, 0), values: [randomValues([1, 3])], present: ["DimShuffle{1}"], absent: ["Sum{axis=(0)}"] });
    const m = T.tensor({ dtype: "float64", shape: [null, 1, null], name: "m" });
    const f = compile([m], T.sum(m, [1, 2]));
    expect(ops(f)).toEqual(["DimShuffle{0,2}", "Sum{axis=(1)}"]);
  });

  it("local_cut_useless_reduce: a sum over no axis is a cast", () => {
    const x = T.bvector("x");
    checkRewrite({ name: "local_cut_useless_reduce", inputs: [x], output: T.sum(x, []), values: [theano.array([1, 2, 3], "int8")], present: ["Elemwise{cast{int64}}"], absent: ["Sum{axis=()}"] });
  });
});

describe("specialize", () => {
  const x = T.dvector("x");
  const cases: Array<[string, theano.TensorVariable, string[], string[]]> = [
    ["x**2", x.pow(2), ["sqr"], ["pow"]],
    ["x**0.5", x.pow(0.5), ["sqrt"], ["pow"]],
    ["x**-0.5", x.pow(-0.5), ["sqrt", "inv"], ["pow"]],
    ["x**-1", x.pow(-1), ["inv"], ["pow"]],
    ["x**-2", x.pow(-2), ["sqr", "inv"], ["pow"]],
  ];
  for (const [label, out, present, absent] of cases) {
    it(`local_pow_specialize: ${label}`, () => {
      checkRewrite({ name: "local_pow_specialize", inputs: [x], output: out, values: [pos3()], present, absent });
    });
  }

  it("local_pow_specialize_device: x**5 and x**-3 by repeated squaring", () => {
    const got = checkRewrite({ name: "local_pow_specialize_device", inputs: [x], output: x.pow(5), values: [v3()], present: ["sqr", "mul"], absent: ["pow"] });
    expect(got.filter((o) => o === "sqr")).toHaveLength(2);
    checkRewrite({ name: "local_pow_specialize_device", inputs: [x], output: x.pow(-3), values: [pos3()], present: ["inv"], absent: ["pow"] });
    const xi = T.ivector("xi");
    checkRewrite({ name: "local_pow_specialize_device", inputs: [xi], output: xi.pow(3), values: [ints], present: ["mul"], absent: ["pow"] });
  });

  it("local_mul_specialize: int x * 1 -> x, x * -1 -> -x", () => {
    const xi = T.ivector("xi");
    checkRewrite({ name: "local_mul_specialize", inputs: [xi], output: xi.mul(1), values: [ints], absent: ["mul"] });
    checkRewrite({ name: "local_mul_specialize", inputs: [xi], output: xi.mul(-1), values: [ints], present: ["neg"], absent: ["mul"] });
  });

  it("local_mul_specialize: int x / 1 -> cast(x); local_intdiv_by_one: int x // 1 -> x", () => {
    const xi = T.ivector("xi");
    const got = checkRewrite({ name: "local_mul_specialize", inputs: [xi], output: T.trueDiv(xi, 1), values: [ints], absent: ["trueDiv"] });
    expect(got).toEqual(["Elemwise{cast{float64}}"]);
    checkRewrite({ name: "local_intdiv_by_one", inputs: [xi], output: T.intDiv(xi, 1).mul(2), values: [ints], absent: ["intDiv"] });
  });

  it("local_add_specialize: int x + 0 -> x, x - 0 -> x", () => {
    const xi = T.ivector("xi");
    checkRewrite({ name: "local_add_specialize", inputs: [xi], output: xi.add(0).mul(2), values: [ints], absent: ["add"], alsoExcluding: ["local_add_canonizer"] });
    checkRewrite({ name: "local_add_specialize", inputs: [xi], output: xi.sub(0).mul(2), values: [ints], absent: ["sub"], alsoExcluding: ["local_add_canonizer"] });
  });

  it("local_mul_to_sqr: x * x -> sqr(x)", () => {
    checkRewrite({ name: "local_mul_to_sqr", inputs: [x], output: x.mul(x), values: [v3()], present: ["sqr"], absent: ["mul"] });
  });

  it("local_div_to_inv: 1 / x -> inv(x)", () => {
    checkRewrite({ name: "local_div_to_inv", inputs: [x], output: T.trueDiv(1, x), values: [pos3()], present: ["inv"], absent: ["trueDiv"] });
  });
});

describe("values survive the whole pipeline (fusion included)", () => {
  it("a mixed expression agrees with the unrewritten graph in float32 and float64", () => {
    for (const dtype of ["float32", "float64"] as const) {
      const x = T.vector("x", dtype);
      const y = T.vector("y", dtype);
      const out = x.mul(y).div(x).add(x.pow(3)).sub(T.log(T.exp(y))).add(x.div(4));
      const f = compile([x, y], out, { structure: false });
      const ref = compile([x, y], out, { optimizer: "None", structure: false });
      const a = randomValues([5], 0.5, 2, 7, dtype);
      const b = randomValues([5], -2, 2, 8, dtype);
      expectClose(run(f, a, b)[0]!, run(ref, a, b)[0]!, dtype === "float32" ? { rtol: 1e-5, atol: 1e-5 } : {});
    }
  });
});
