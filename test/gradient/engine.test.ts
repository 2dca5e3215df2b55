/**
 * The gradient engine (src/gradient/grad.ts) on test-local ops whose gradients are known
 * exactly, so these tests do not depend on the op families' own grads: options, error
 * messages, multi-output nodes, disconnection, known gradients, considerConstant, integer
 * paths, central broadcasting and casting, gradients of gradients, Lop/Rop, the gradient-only
 * ops on both linkers, and verifyGrad.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import * as theano from "../../src/index.js";
import { Apply, GradUndefined, type GradResult, Op, type Value, type Variable } from "../../src/graph/basic.js";
import { typedArrayCtor } from "../../src/ndarray/dtype.js";
import { NDArray, array } from "../../src/ndarray/ndarray.js";
import { DisconnectedType } from "../../src/gradient/index.js";
import { TensorType } from "../../src/tensor/type.js";
import type { TensorVariable } from "../../src/tensor/variable.js";
import { evaluate, expectClose } from "../helpers.js";

const { T, GradientError } = theano;
const G = theano.gradient;

/** Elementwise map of a float array, keeping its dtype. */
const mapArr = (a: NDArray, f: (v: number) => number): NDArray => new NDArray(a.dtype, a.shape, (typedArrayCtor(a.dtype) as Float64ArrayConstructor).from(a.toFlat() as Float64Array, f));
const ttype = (v: Variable): TensorType => v.type as TensorType;
const tv = (v: Variable): TensorVariable => v as TensorVariable;

/** y = k·x; the gradient is k·g. Counts its grad calls. */
class Scale extends Op {
  calls = 0;
  constructor(readonly k: number) {
    super();
  }
  override props(): Record<string, unknown> {
    return { k: this.k };
  }
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [mapArr(x as NDArray, (v) => this.k * v)];
  }
  override inferShape(_n: Apply, [s]: Array<Variable[] | null>): Variable[][] {
    return [s!];
  }
  override grad(_i: Variable[], [g]: Variable[]): GradResult[] {
    this.calls++;
    return [this.k === 1 ? g! : tv(g!).mul(this.k)];
  }
}

/** The identity with no gradient and no notDifferentiable: the engine must name it. */
class NoGradOp extends Op {
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [x];
  }
}

/** The identity marked not differentiable: its input is disconnected. */
class NotDiffOp extends NoGradOp {
  override notDifferentiable = "test: no gradient by design";
}

/** a + b, whose gradient with respect to b is undefined. */
class HalfUndefined extends Op {
  makeNode(a: Variable, b: Variable): Apply {
    return new Apply(this, [a, b], [a.type]);
  }
  perform(_n: Apply, [a, b]: Value[]): Value[] {
    const bb = (b as NDArray).toFlat();
    return [new NDArray("float64", (a as NDArray).shape, Float64Array.from((a as NDArray).toFlat() as Float64Array, (v, i) => v + Number(bb[i])))];
  }
  override grad(_i: Variable[], [g]: Variable[]): GradResult[] {
    return [g!, new GradUndefined(this, 1, "test reason: b enters through a black box")];
  }
}

/** Two outputs, 2x and 3x; records the output gradients it was given. */
class TwoOut extends Op {
  seen: Variable[][] = [];
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type, x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [mapArr(x as NDArray, (v) => 2 * v), mapArr(x as NDArray, (v) => 3 * v)];
  }
  override grad(_i: Variable[], [g0, g1]: Variable[]): GradResult[] {
    this.seen.push([g0!, g1!]);
    return [tv(g0!).mul(2).add(tv(g1!).mul(3))];
  }
}

/**
 * Repeats a row (1, n) three times, to (3, n). Its grad returns the output gradient as it is,
 * (3, n): the engine must sum it back to the input's (1, n).
 */
class TileRows extends Op {
  makeNode(x: Variable): Apply {
    const t = ttype(x);
    return new Apply(this, [x], [new TensorType(t.dtype, [3, t.shape[1]!])]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    const a = (x as NDArray).toFlat();
    const n = a.length;
    const out = new Float64Array(3 * n);
    for (let r = 0; r < 3; r++) for (let j = 0; j < n; j++) out[r * n + j] = Number(a[j]);
    return [new NDArray("float64", [3, n], out)];
  }
  override grad(_i: Variable[], [g]: Variable[]): GradResult[] {
    return [g!];
  }
}

/** The sum of all elements; its grad returns the 0-d output gradient, which the engine broadcasts. */
class Total extends Op {
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [new TensorType(ttype(x).dtype, [])]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    const a = (x as NDArray).toFlat() as Float64Array;
    return [new NDArray("float64", [], Float64Array.of(a.reduce((p, q) => p + q, 0)))];
  }
  override grad(_i: Variable[], [g]: Variable[]): GradResult[] {
    return [g!];
  }
}

/** The identity whose gradient comes back in float64 (the engine casts it to float32). */
class Widen extends Op {
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [x];
  }
  override grad(_i: Variable[], [g]: Variable[]): GradResult[] {
    return [tv(g!).astype("float64").mul(1.5)];
  }
}

/** An integer tensor as float64; the gradient goes to the integer input unchanged. */
class IntToFloat extends Op {
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [new TensorType("float64", ttype(x).shape)]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [(x as NDArray).astype("float64")];
  }
  override grad(_i: Variable[], [g]: Variable[]): GradResult[] {
    return [g!];
  }
}

/** y = x², with a deliberately wrong gradient 3x·g: verifyGrad must catch it. */
class WrongSquare extends Op {
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [mapArr(x as NDArray, (v) => v * v)];
  }
  override grad([x]: Variable[], [g]: Variable[]): GradResult[] {
    return [tv(x!).mul(3).mul(tv(g!))];
  }
}

const val = (v: Variable, givens: Array<[Variable, unknown]>): NDArray => evaluate([v], new Map(givens))[0]!;
const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe("grad: arguments", () => {
  it("one wrt gives one gradient, an array gives an array in order", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const cost = tv(new Scale(2).call(x)).mul(y).sum();
    const gx = theano.grad(cost, x);
    const [a, b] = theano.grad(cost, [y, x]);
    const givens: Array<[Variable, unknown]> = [
      [x, [1, 2]],
      [y, [3, 5]],
    ];
    expectClose(val(a!, givens), [2, 4]);
    expectClose(val(b!, givens), [6, 10]);
    expectClose(val(gx, givens), [6, 10]);
  });

  it("a non-scalar cost is a GradientError that suggests .sum()", () => {
    const x = T.dvector("x");
    const e = errorOf(() => theano.grad(x.mul(2), x));
    expect(e).toBeInstanceOf(GradientError);
    expect(e.message).toMatch(/must be a scalar/);
    expect(e.message).toContain(".sum()");
  });

  it("an integer cost and an integer wrt are GradientErrors", () => {
    const i = T.lvector("i");
    const x = T.dvector("x");
    expect(() => theano.grad(i.sum(), x)).toThrow(GradientError);
    expect(() => theano.grad(i.sum(), x)).toThrow(/float scalar/);
    const e = errorOf(() => theano.grad(x.sum(), i));
    expect(e).toBeInstanceOf(GradientError);
    expect(e.message).toMatch(/integer dtype int64/);
  });

  it("no cost and no known gradients is a GradientError", () => {
    const x = T.dvector("x");
    expect(() => theano.grad(null, x)).toThrow(GradientError);
  });

  it("the gradient of the cost with respect to itself is one", () => {
    const c = T.dscalar("c");
    expectClose(val(theano.grad(c, c), [[c, 3]]), 1);
  });
});

describe("grad: accumulation, multi-output, broadcasting, dtypes", () => {
  it("sums the contributions of several clients", () => {
    const x = T.dvector("x");
    const s = new Scale(3);
    const cost = tv(s.call(x)).add(x.mul(x)).add(x).sum(); // 3x + x² + x
    expectClose(val(theano.grad(cost, x), [[x, [1, -2]]]), [6, 0]);
  });

  it("gives zeros for the outputs of a multi-output node that receive no gradient", () => {
    const x = T.dvector("x");
    const op = new TwoOut();
    const [a, b] = op.makeNode(x).outputs as [TensorVariable, TensorVariable];
    const g0 = theano.grad(a.sum(), x);
    expectClose(val(g0, [[x, [1, 2]]]), [2, 2]);
    const [ga, gb] = op.seen[0]!;
    expect(ttype(gb!).equals(ttype(b))).toBe(true);
    expectClose(val(gb!, [[x, [1, 2]]]), [0, 0]);
    expectClose(val(ga!, [[x, [1, 2]]]), [1, 1]);
    // Both outputs used: 2 + 3 per element.
    expectClose(val(theano.grad(a.add(b).sum(), x), [[x, [1, 2]]]), [5, 5]);
  });

  it("sums a gradient over the axes its input was broadcast along", () => {
    const r = T.drow("r");
    const tiled = new TileRows().call(r) as TensorVariable;
    const w = T.dmatrix("w");
    const g = theano.grad(tiled.mul(w).sum(), r);
    expect(ttype(g).shape[0]).toBe(1);
    expect(g.ndim).toBe(2);
    const wv = [
      [1, 2],
      [3, 4],
      [5, 6],
    ];
    expectClose(val(g, [[r, [[7, 8]]], [w, wv]]), [[9, 12]]);
  });

  it("broadcasts a gradient of lower rank up to its input's shape", () => {
    const m = T.dmatrix("m");
    const cost = tv(new Total().call(m)).mul(3);
    const g = theano.grad(cost, m);
    expect(g.ndim).toBe(2);
    expectClose(val(g, [[m, [[1, 2, 3], [4, 5, 6]]]]), [[3, 3, 3], [3, 3, 3]]);
  });

  it("casts every gradient to its variable's dtype", () => {
    const x = T.fvector("x");
    const y = new Widen().call(x) as TensorVariable;
    const g = theano.grad(y.sum(), x);
    expect(g.dtype).toBe("float32");
    expectClose(val(g, [[x, array([1, 2], "float32")]]), array([1.5, 1.5], "float32"));
  });

  it("gradients of gradients: d²/dx² x³ = 6x", () => {
    const x = T.dscalar("x");
    const g1 = theano.grad(x.mul(x).mul(x), x);
    const g2 = theano.grad(g1, x);
    const g3 = theano.grad(g2, x);
    expectClose(val(g1, [[x, 2]]), 12);
    expectClose(val(g2, [[x, 2]]), 12);
    expectClose(val(g3, [[x, 2]]), 6);
  });

  it("takes gradients with respect to intermediate variables", () => {
    const x = T.dvector("x");
    const h = new Scale(2).call(x) as TensorVariable;
    const cost = h.mul(h).sum();
    const [gh, gx] = theano.grad(cost, [h, x]);
    expectClose(val(gh!, [[x, [1, 3]]]), [4, 12]); // 2h
    expectClose(val(gx!, [[x, [1, 3]]]), [8, 24]); // 8x
  });
});

describe("grad: long graphs", () => {
  it("differentiates a chain of 10000 nodes without deep recursion", () => {
    const x = T.dvector("x");
    const one = new Scale(1);
    let y: TensorVariable = x;
    for (let i = 0; i < 10000; i++) y = tv(one.call(y));
    const g = theano.grad(y.sum(), x);
    expectClose(val(g, [[x, [1, 2]]]), [1, 1]);
  });
});

describe("grad: only nodes on a path from a wrt to the cost are asked", () => {
  it("does not call op.grad off the path", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const s = new Scale(5);
    const cost = x.mul(s.call(y) as TensorVariable).sum();
    theano.grad(cost, x);
    expect(s.calls).toBe(0);
    theano.grad(cost, y);
    expect(s.calls).toBe(1);
  });

  it("an op without grad off the path is fine; on the path it is a GradientError naming it", () => {
    const x = T.dvector("x");
    const y = T.dvector("y");
    const cost = x.mul(new NoGradOp().call(y) as TensorVariable).sum();
    expect(() => theano.grad(cost, x)).not.toThrow();
    const e = errorOf(() => theano.grad(cost, y));
    expect(e).toBeInstanceOf(GradientError);
    expect(e.message).toContain("NoGradOp does not define its gradient");
    expect(e.message).toContain("engine.test.ts");
  });

  it("a GradUndefined on the path names the op, the input, the reason and the line", () => {
    const a = T.dvector("a");
    const b = T.dvector("b");
    const out = new HalfUndefined().call(a, b) as TensorVariable;
    const cost = out.sum();
    expectClose(val(theano.grad(cost, a), [[a, [1, 2]], [b, [3, 4]]]), [1, 1]);
    const e = errorOf(() => theano.grad(cost, b));
    expect(e).toBeInstanceOf(GradientError);
    expect(e.message).toContain("HalfUndefined");
    expect(e.message).toContain("input 1 (b)");
    expect(e.message).toContain("test reason: b enters through a black box");
    expect(e.message).toContain("engine.test.ts");
  });
});

describe("grad: disconnected inputs", () => {
  it("raises by default, naming the wrt and where it was made", () => {
    const x = T.dvector("x");
    const unused = T.dvector("unused");
    const e = errorOf(() => theano.grad(x.sum(), unused));
    expect(e).toBeInstanceOf(GradientError);
    expect(e.message).toContain("wrt[0] (unused");
    expect(e.message).toContain("engine.test.ts");
    expect(e.message).toContain('disconnectedInputs: "ignore"');
  });

  it("a notDifferentiable op disconnects its inputs", () => {
    const x = T.dvector("x");
    const cost = (new NotDiffOp().call(x) as TensorVariable).sum();
    expect(() => theano.grad(cost, x)).toThrow(GradientError);
    const g = theano.grad(cost.add(x.sum()), x);
    expectClose(val(g, [[x, [1, 2]]]), [1, 1]);
  });

  it("warn emits a warning and returns zeros; ignore is silent", () => {
    const x = T.dvector("x");
    const u = T.dvector("u");
    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const g = theano.grad(x.sum(), u, { disconnectedInputs: "warn" });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(String(spy.mock.calls[0]![0])).toContain("wrt[0] (u");
    expectClose(val(g, [[u, [4, 5, 6]]]), [0, 0, 0]);
    theano.grad(x.sum(), u, { disconnectedInputs: "ignore" });
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it("returnDisconnected: zero, null or a DisconnectedType variable", () => {
    const x = T.dvector("x");
    const u = T.dmatrix("u");
    const z = theano.grad(x.sum(), u, { disconnectedInputs: "ignore" });
    expect(z.ndim).toBe(2);
    expectClose(val(z, [[u, [[1, 2]]]]), [[0, 0]]);
    expect(theano.grad(x.sum(), u, { disconnectedInputs: "ignore", returnDisconnected: "null" })).toBeNull();
    const d = theano.grad(x.sum(), [x, u], { disconnectedInputs: "ignore", returnDisconnected: "disconnected" });
    expect(d[0]!.type).toBeInstanceOf(TensorType);
    expect(d[1]!.type).toBeInstanceOf(DisconnectedType);
  });

  it("considerConstant cuts the gradient at the given variables", () => {
    const x = T.dvector("x");
    const y = new Scale(3).call(x) as TensorVariable;
    const cost = x.mul(y).sum(); // 3x²
    expectClose(val(theano.grad(cost, x), [[x, [1, 2]]]), [6, 12]);
    expectClose(val(theano.grad(cost, x, { considerConstant: [y] }), [[x, [1, 2]]]), [3, 6]);
    expect(() => theano.grad(y.sum(), x, { considerConstant: [y] })).toThrow(GradientError);
  });

  it("integer intermediates carry a zero gradient, not an error", () => {
    // IntToFloat's grad passes the gradient on to its integer input (as Theano's Cast does);
    // the engine turns a gradient reaching an integer variable into zero.
    const x = T.dvector("x");
    const viaInt = (new IntToFloat().call(x.astype("int32")) as TensorVariable).sum();
    expectClose(val(theano.grad(viaInt, x), [[x, [1.5, 2.5]]]), [0, 0]);
    expectClose(val(theano.grad(viaInt.add(x.sum()), x), [[x, [1.5, 2.5]]]), [1, 1]);
  });
});

describe("grad: known gradients", () => {
  it("starts from an intermediate variable without a cost", () => {
    const x = T.dvector("x");
    const h = new Scale(2).call(x) as TensorVariable;
    const gh = T.dvector("gh");
    const g = theano.grad(null, x, { knownGrads: new Map([[h as Variable, gh as Variable]]) });
    expectClose(val(g, [[x, [1, 2]], [gh, [10, 20]]]), [20, 40]);
  });

  it("a known gradient is final, and combines with the cost's other paths", () => {
    const x = T.dvector("x");
    const h = new Scale(2).call(x) as TensorVariable;
    const cost = h.sum().add(x.sum()); // the known gradient replaces h's own
    const g = theano.grad(cost, x, { knownGrads: new Map([[h as Variable, T.constant([5, 5]) as Variable]]) });
    expectClose(val(g, [[x, [1, 2]]]), [11, 11]);
  });

  it("a known gradient of the wrong rank is a GradientError", () => {
    const x = T.dvector("x");
    expect(() => theano.grad(null, x, { knownGrads: new Map([[x as Variable, T.dmatrix() as Variable]]) })).toThrow(/rank/);
  });
});

describe("Lop and Rop", () => {
  it("Lop is the vector-Jacobian product", () => {
    const x = T.dvector("x");
    const v = T.dvector("v");
    const y = x.mul(x); // J = diag(2x)
    expectClose(val(G.Lop(y, x, v), [[x, [1, 2, 3]], [v, [1, 10, 100]]]), [2, 40, 600]);
  });

  it("Rop is the Jacobian-vector product, via double Lop when ops have no rop", () => {
    const x = T.dvector("x");
    const v = T.dvector("v");
    const y = new Scale(2).call(x.mul(x)) as TensorVariable; // J = diag(4x)
    expectClose(val(G.Rop(y, x, v), [[x, [1, 2, 3]], [v, [1, 10, 100]]]), [4, 80, 1200]);
    const w = T.dmatrix("w"); // y = w·x: Rop wrt w along dw is dw·x
    const dw = T.dmatrix("dw");
    const z = T.dot(w, x);
    const givens: Array<[Variable, unknown]> = [
      [x, [1, 2]],
      [w, [[1, 2], [3, 4]]],
      [dw, [[1, 0], [0, 1]]],
    ];
    expectClose(val(G.Rop(z, w, dw), givens), [1, 2]);
  });

  it("Rop uses the ops' rop where every op on the path has one", () => {
    const x = T.dvector("x");
    const v = T.dvector("v");
    const y = G.gradClip(G.zeroGrad(x), -1, 1);
    expectClose(val(G.Rop(y, x, v), [[x, [1, 2]], [v, [3, 4]]]), [0, 0]);
    expect(() => G.Rop(T.dvector("other").mul(2), x, v)).toThrow(GradientError);
  });
});

describe("zeroGrad, disconnectedGrad, gradClip", () => {
  const x = T.dvector("x");
  const cases = [
    { name: "zeroGrad", y: G.zeroGrad(x), grad: [0, 0, 0] },
    { name: "gradClip", y: G.gradClip(x, -1, 1.5), grad: [-1, 1.5, 0.5] },
  ];
  for (const c of cases) {
    it(`${c.name}: identity forward (py and js linkers), gradient rewritten`, () => {
      const cost = c.y.mul(T.constant([-3, 4, 0.5])).sum();
      const g = theano.grad(cost, x);
      for (const linker of ["py", "js"] as const) {
        const f = theano.function([x], [c.y, g], { mode: new theano.Mode(linker) });
        const [yv, gv] = f([1, 2, 3]);
        expectClose(yv!, [1, 2, 3]);
        expectClose(gv!, c.grad);
      }
    });
  }

  it("disconnectedGrad: identity forward, the input is disconnected", () => {
    const y = G.disconnectedGrad(x);
    expectClose(val(y, [[x, [1, 2]]]), [1, 2]);
    expect(() => theano.grad(y.sum(), x)).toThrow(GradientError);
    expectClose(val(theano.grad(y.mul(x).sum(), x), [[x, [1, 2]]]), [1, 2]);
    const f = theano.function([x], y, { mode: new theano.Mode("js") });
    expectClose(f([4, 5]), [4, 5]);
  });

  it("gradClip rejects lo > hi", () => {
    expect(() => G.gradClip(x, 2, 1)).toThrow(GradientError);
  });

  it("the ops infer shapes", () => {
    const node = G.zeroGrad(x).owner!;
    const s = [T.constant(7, { dtype: "int64" })];
    expect(node.op.inferShape!(node, [s])[0]![0]!.id).toBe(s[0]!.id);
  });
});

describe("verifyGrad", () => {
  it("accepts correct gradients, for float64 and float32 points", () => {
    G.verifyGrad((a, b) => a!.mul(b!).add(a!.mul(a!)), [[[1, 2], [3, 4]], [[0.5, -1], [2, 0.25]]]);
    G.verifyGrad((a) => new Scale(-2).call(a!) as TensorVariable, [array([1, 2, 3], "float32")]);
    G.verifyGrad((a) => a!.mul(a!).sum(), [3], { nTests: 3, seed: 7 });
  });

  it("rejects a wrong gradient, naming the input, the index and both values", () => {
    const e = errorOf(() => G.verifyGrad((a, b) => b!.add(new WrongSquare().call(a!) as TensorVariable), [[0, 2], [1, 1]]));
    expect(e).toBeInstanceOf(GradientError);
    expect(e.message).toMatch(/input 0 at index \[1\]/); // at x = 0 both gradients are 0
    const m = /is ([\d.]+) \(analytic\) but ([\d.]+) \(finite differences/.exec(e.message)!;
    expect(Number(m[1]) / Number(m[2])).toBeCloseTo(1.5, 6); // 3x·r against 2x·r
  });

  it("tolerances are options: loose enough ones accept the wrong gradient", () => {
    const wrong = (a: TensorVariable | undefined): TensorVariable => new WrongSquare().call(a!) as TensorVariable;
    expect(() => G.verifyGrad(wrong, [[1, 2]], { nTests: 1 })).toThrow(GradientError);
    expect(() => G.verifyGrad(wrong, [[1, 2]], { nTests: 1, absTol: 10 })).not.toThrow();
    expect(() => G.verifyGrad(wrong, [[1, 2]], { nTests: 1, relTol: 0.5, eps: 1e-5 })).not.toThrow();
  });

  it("rejects integer points", () => {
    expect(() => G.verifyGrad((a) => a!.sum(), [array([1, 2], "int32")])).toThrow(GradientError);
  });
});
