/**
 * BLAS rewrites: sums containing dot(x, y) become one Gemm node (structure), values are those
 * of the unrewritten graph, `optimizer_excluding=gemm_optimizer` turns it off, and the in-place
 * Gemm overwrites only what the destroy handler allows (an updated shared value, a dead
 * intermediate), never a caller's array.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import type { Op, Variable } from "../../src/graph/basic.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { Dot } from "../../src/tensor/blas.js";
import { Gemm } from "../../src/tensor/gemm.js";
import { expectClose } from "../helpers.js";

const { T } = theano;
type Fn = (...a: unknown[]) => NDArray | NDArray[];
type TF = theano.TheanoFunction<NDArray | NDArray[]>;

function rand(shape: number[], seed: number, dtype: "float32" | "float64" = "float64"): NDArray {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 2 ** 32) * 4 - 2;
  }
  return new NDArray("float64", shape, d).astype(dtype);
}

/**
 * On the JS linker unless `flags` names one: the rewrites do not depend on it, and the C backend's
 * GEMM (every layout, alpha, beta) is checked by test/link/c/agreement.test.ts.
 */
const compile = (ins: Variable[], outs: Variable | Variable[], flags: Record<string, string> = {}, opts: object = {}): TF =>
  theano.config.change({ linker: "js", ...flags } as never, () => theano.function(ins as never, outs as never, opts as never));

const count = (f: TF, cls: abstract new (...a: never[]) => Op): number => [...f.fgraph.nodes].filter((n) => n.op instanceof cls).length;
const gemms = (f: TF): Gemm[] => [...f.fgraph.nodes].filter((n) => n.op instanceof Gemm).map((n) => n.op as Gemm);

/** Asserts the rewritten function computes what the unrewritten graph does (perform, no rewrites). */
function expectSameValues(ins: Variable[], out: Variable, args: NDArray[]): TF {
  const f = compile(ins, out);
  const ref = compile(ins, out, { optimizer: "None", linker: "py" });
  expectClose((f as unknown as Fn)(...args) as NDArray, (ref as unknown as Fn)(...args) as NDArray);
  return f;
}

describe("gemm_optimizer", () => {
  const x = T.dmatrix("x");
  const y = T.dmatrix("y");
  const z = T.dmatrix("z");
  const X = rand([4, 3], 1);
  const Y = rand([3, 5], 2);
  const Z = rand([4, 5], 3);

  const cases: Array<[string, theano.TensorVariable, number]> = [
    ["a*z + b*dot(x,y)", z.mul(2).add(T.dot(x, y).mul(3)), 1],
    ["z + dot(x,y)", z.add(T.dot(x, y)), 1],
    ["z - dot(x,y)", z.sub(T.dot(x, y)), 1],
    ["dot(x,y)*a + z", T.dot(x, y).mul(0.25).add(z), 1],
    ["dot(x,y) - z*b", T.dot(x, y).sub(z.mul(1.5)), 1],
    ["-dot(x,y) + z", T.dot(x, y).neg().add(z), 1],
    ["(z + dot(x,y)) + exp(z) (an add tree)", z.add(T.dot(x, y)).add(T.exp(z)), 1],
    ["z - (2*dot(x,y) - exp(z))", z.sub(T.dot(x, y).mul(2).sub(T.exp(z))), 1],
  ];
  for (const [name, out, n] of cases) {
    it(`${name} becomes ${n} Gemm node and no Dot, with unchanged values`, () => {
      const f = expectSameValues([x, y, z], out, [X, Y, Z]);
      expect(count(f, Gemm)).toBe(n);
      expect(count(f, Dot)).toBe(0);
    });
  }

  it("a symbolic scale becomes Gemm's alpha: z + s*dot(x, y)", () => {
    const s = T.dscalar("s");
    const out = z.add(T.dot(x, y).mul(s));
    const f = compile([x, y, z, s], out);
    expect(count(f, Gemm)).toBe(1);
    const ref = compile([x, y, z, s], out, { optimizer: "None", linker: "py" });
    const S = theano.array(-0.75, "float64");
    expectClose((f as unknown as Fn)(X, Y, Z, S) as NDArray, (ref as unknown as Fn)(X, Y, Z, S) as NDArray);
  });

  it("a sum of two products becomes two Gemms", () => {
    const u = T.dmatrix("u");
    const v = T.dmatrix("v");
    const out = z.add(T.dot(x, y)).add(T.dot(u, v).mul(0.5));
    const f = compile([x, y, z, u, v], out);
    expect(count(f, Gemm)).toBe(2);
    expect(count(f, Dot)).toBe(0);
    const ref = compile([x, y, z, u, v], out, { optimizer: "None", linker: "py" });
    const args = [X, Y, Z, rand([4, 2], 7), rand([2, 5], 8)];
    expectClose((f as unknown as Fn)(...args) as NDArray, (ref as unknown as Fn)(...args) as NDArray);
  });

  it("a broadcast bias is added after the Gemm; a bias alone does not make one", () => {
    const b = T.drow("b");
    const B = rand([1, 5], 9);
    const alone = expectSameValues([x, y, b], T.dot(x, y).add(b), [X, Y, B]);
    expect(count(alone, Gemm)).toBe(0);
    expect(count(alone, Dot)).toBe(1);
    const both = expectSameValues([x, y, z, b], z.add(T.dot(x, y)).add(b), [X, Y, Z, B]);
    expect(count(both, Gemm)).toBe(1);
  });

  it("float32 graphs become float32 Gemms", () => {
    const xf = T.fmatrix("xf");
    const yf = T.fmatrix("yf");
    const zf = T.fmatrix("zf");
    const out = zf.mul(0.5).sub(T.dot(xf, yf).mul(0.1));
    const f = compile([xf, yf, zf], out);
    expect(count(f, Gemm)).toBe(1);
    const ref = compile([xf, yf, zf], out, { optimizer: "None", linker: "py" });
    const args = [rand([4, 3], 1, "float32"), rand([3, 5], 2, "float32"), rand([4, 5], 3, "float32")];
    const r = (f as unknown as Fn)(...args) as NDArray;
    expect(r.dtype).toBe("float32");
    expectClose(r, (ref as unknown as Fn)(...args) as NDArray);
  });

  it("leaves a product another node reads, and a product not in a sum", () => {
    const d = T.dot(x, y);
    const f = compile([x, y, z], [z.add(d), T.exp(d)]);
    expect(count(f, Gemm)).toBe(0);
    expect(count(compile([x, y], T.dot(x, y).mul(2)), Gemm)).toBe(0);
    // Matrix-vector products are Dot's (no Gemv here).
    const v = T.dvector("v");
    expect(count(compile([x, v], T.dot(x, v).add(1)), Gemm)).toBe(0);
  });

  it("optimizer_excluding=gemm_optimizer (or blas) leaves Dot, with the same values", () => {
    const out = z.mul(2).add(T.dot(x, y).mul(3));
    for (const name of ["gemm_optimizer", "blas"]) {
      const f = compile([x, y, z], out, { optimizer_excluding: name });
      expect(count(f, Gemm)).toBe(0);
      expect(count(f, Dot)).toBe(1);
      expectClose((f as unknown as Fn)(X, Y, Z) as NDArray, (compile([x, y, z], out) as unknown as Fn)(X, Y, Z) as NDArray);
    }
  });
});

describe("local_inplace_gemm", () => {
  const x = T.dmatrix("x");
  const g = T.dmatrix("g");

  it("updates a shared W by W - lr*dot(x, g) in place, leaving the caller's arrays alone", () => {
    const W0 = rand([3, 4], 1);
    const W0copy = W0.copy();
    const W = theano.shared(W0, { name: "W" });
    const step = compile([x, g], [], {}, { updates: [[W, W.sub(T.dot(x, g).mul(0.1))]] });
    const gs = gemms(step);
    expect(gs).toHaveLength(1);
    expect(gs[0]!.inplace).toBe(true);
    const X = rand([3, 2], 2);
    const G = rand([2, 4], 3);
    const X0 = X.copy();
    const G0 = G.copy();
    let expected = W0copy;
    const wv = T.dmatrix("wv");
    const ref = compile([wv, x, g], wv.sub(T.dot(x, g).mul(0.1)), { optimizer: "None", linker: "py" });
    for (let call = 0; call < 3; call++) {
      (step as unknown as Fn)(X, G);
      expected = (ref as unknown as Fn)(expected, X, G) as NDArray;
      expectClose(W.getValue(), expected);
    }
    expectClose(X, X0, { rtol: 0, atol: 0 });
    expectClose(G, G0, { rtol: 0, atol: 0 });
    expectClose(W0, W0copy, { rtol: 0, atol: 0 });
  });

  it("never overwrites a user input z", () => {
    const z = T.dmatrix("z");
    const f = compile([x, g, z], z.sub(T.dot(x, g)));
    const gs = gemms(f);
    expect(gs).toHaveLength(1);
    expect(gs[0]!.inplace).toBe(false);
    const Z = rand([3, 4], 4);
    const Z0 = Z.copy();
    (f as unknown as Fn)(rand([3, 2], 5), rand([2, 4], 6), Z);
    expectClose(Z, Z0, { rtol: 0, atol: 0 });
  });

  it("never overwrites a shared value that is not updated to this result", () => {
    const W0 = rand([3, 4], 8);
    const W = theano.shared(W0.copy(), { name: "W" });
    const f = compile([x, g], W.add(T.dot(x, g)));
    expect(gemms(f).map((o) => o.inplace)).toEqual([false]);
    (f as unknown as Fn)(rand([3, 2], 5), rand([2, 4], 6));
    expectClose(W.getValue(), W0, { rtol: 0, atol: 0 });
  });

  it("overwrites an input marked mutable (Theano's In(x, mutable=True)), with the right result", () => {
    const z = T.dmatrix("z");
    const out = z.sub(T.dot(x, g));
    const f = compile([x, g, new theano.In(z, { mutable: true }) as unknown as Variable], out);
    expect(gemms(f).map((o) => o.inplace)).toEqual([true]);
    const args = [rand([3, 2], 5), rand([2, 4], 6), rand([3, 4], 7)];
    const want = (compile([x, g, z], out, { optimizer: "None", linker: "py" }) as unknown as Fn)(...args) as NDArray;
    expectClose((f as unknown as Fn)(...args.map((a) => a.copy())) as NDArray, want);
  });

  it("overwrites a dead intermediate, and the result is right", () => {
    const z = T.dmatrix("z");
    const out = T.exp(z).sub(T.dot(x, g));
    const f = compile([x, g, z], out);
    expect(gemms(f).map((o) => o.inplace)).toEqual([true]);
    const args = [rand([3, 2], 5), rand([2, 4], 6), rand([3, 4], 7)];
    const ref = compile([x, g, z], out, { optimizer: "None", linker: "py" });
    expectClose((f as unknown as Fn)(...args) as NDArray, (ref as unknown as Fn)(...args) as NDArray);
  });

  it("does not overwrite a value another output still needs", () => {
    const z = T.dmatrix("z");
    const e = T.exp(z);
    const f = compile([x, g, z], [e.sub(T.dot(x, g)), e]);
    expect(gemms(f).every((o) => !o.inplace)).toBe(true);
    const Z = rand([3, 4], 7);
    const [, ev] = (f as unknown as Fn)(rand([3, 2], 5), rand([2, 4], 6), Z) as NDArray[];
    const expE = compile([z], T.exp(z), { optimizer: "None", linker: "py" });
    expectClose(ev!, (expE as unknown as Fn)(Z) as NDArray);
  });

  it("optimizer_excluding=inplace keeps Gemm{no_inplace}", () => {
    const W = theano.shared(rand([3, 4], 1), { name: "W" });
    const step = compile([x, g], [], { optimizer_excluding: "inplace" }, { updates: [[W, W.sub(T.dot(x, g).mul(0.1))]] });
    expect(gemms(step).map((o) => o.inplace)).toEqual([false]);
    const step2 = compile([x, g], [], { optimizer_excluding: "local_inplace_gemm" }, { updates: [[W, W.sub(T.dot(x, g).mul(0.1))]] });
    expect(gemms(step2).map((o) => o.inplace)).toEqual([false]);
  });
});
