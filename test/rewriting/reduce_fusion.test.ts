/**
 * Reduction fusion: an elementwise producer, a keepdims DimShuffle and an elementwise consumer
 * fuse with a CAReduce into one FusedReduce node (structure); values are those of the unfused
 * graph on both the generated JS kernel (fast and strided paths) and perform; excluding
 * `reduction_fusion` / `fusion` / `local_careduce_fusion` turns it off; the gradient matches
 * finite differences.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { ShapeError } from "../../src/errors.js";
import type { Op, Variable } from "../../src/graph/basic.js";
import { FunctionGraph } from "../../src/graph/fgraph.js";
import { verifyGrad } from "../../src/gradient/index.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { mergeGraph, presetQuery, rewriteGraph } from "../../src/rewriting/index.js";
import { FusedReduce } from "../../src/tensor/fused_reduce.js";
import { CAReduce } from "../../src/tensor/math.js";
import { evaluate, expectClose, inferredShapes } from "../helpers.js";

const { T } = theano;
type Fn = (...a: unknown[]) => NDArray | NDArray[];
type TF = theano.TheanoFunction<NDArray | NDArray[]>;

function rand(shape: number[], seed: number, dtype: "float32" | "float64" = "float64", lo = -2, hi = 2): NDArray {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return new NDArray("float64", shape, d).astype(dtype);
}

const compile = (ins: Variable[], outs: Variable | Variable[], flags: Record<string, string> = {}): TF =>
  theano.config.change(flags as never, () => theano.function(ins as never, outs as never));
const count = (f: TF, cls: abstract new (...a: never[]) => Op): number => [...f.fgraph.nodes].filter((n) => n.op instanceof cls).length;
const call = (f: TF, args: NDArray[]): NDArray => (f as unknown as Fn)(...args) as NDArray;

/**
 * Compiles `out` fused (js and py linkers) and unfused, checks the values agree with the
 * unrewritten graph's, and returns the fused js function. float32 results may differ from the
 * unfused ones only where the unfused graph rounds differently (it does not here: same order).
 */
function checkFused(ins: Variable[], out: Variable, args: NDArray[], opts: { fusedNodes?: number } = {}): TF {
  const js = compile(ins, out, { linker: "js" });
  const py = compile(ins, out, { linker: "py" });
  const unfused = compile(ins, out, { linker: "js", optimizer_excluding: "reduction_fusion" });
  const ref = compile(ins, out, { linker: "py", optimizer: "None" });
  expect(count(js, FusedReduce)).toBeGreaterThanOrEqual(1);
  if (opts.fusedNodes !== undefined) expect(js.fgraph.nodes.size).toBe(opts.fusedNodes);
  expect(count(js, CAReduce)).toBe(0);
  expect(count(unfused, FusedReduce)).toBe(0);
  const want = call(ref, args);
  expectClose(call(js, args), want);
  expectClose(call(py, args), want);
  expectClose(call(unfused, args), want);
  return js;
}

describe("local_careduce_fusion", () => {
  it("compiles sum((x*0.5+0.1)**2) (W2-like) to exactly one FusedReduce node", () => {
    const x = T.fmatrix("x");
    const f = checkFused([x], T.sum(T.pow(x.mul(0.5).add(0.1), 2)), [rand([7, 5], 1, "float32")], { fusedNodes: 1 });
    expect(f.fgraph.toposort()[0]!.op).toBeInstanceOf(FusedReduce);
  });

  it("fuses sum(exp(x)*y) into one node, bitwise equal to the unfused float32 result", () => {
    const x = T.fvector("x");
    const y = T.fvector("y");
    const out = T.sum(T.exp(x).mul(y));
    const args = [rand([1001], 2, "float32"), rand([1001], 3, "float32")];
    const f = checkFused([x, y], out, args, { fusedNodes: 1 });
    const unfused = compile([x, y], out, { linker: "js", optimizer_excluding: "reduction_fusion" });
    expectClose(call(f, args), call(unfused, args), { rtol: 0, atol: 0 });
  });

  const x3 = T.dtensor3("x3");
  const X3 = rand([3, 4, 5], 4);
  const variants: Array<[string, theano.TensorVariable]> = [
    ["sum axis 0", T.sum(T.exp(x3), 0)],
    ["sum axis 2", T.sum(T.exp(x3), 2)],
    ["sum axes (0, 2)", T.sum(T.sqr(x3), [0, 2])],
    ["sum axes (1, 2), keepdims", T.sum(T.sqr(x3), [1, 2], { keepdims: true })],
    ["sum axis 1, keepdims", T.sum(T.abs(x3), 1, { keepdims: true })],
    ["prod axis 1", T.prod(x3.mul(0.5).add(1), 1)],
    ["max axis 2", T.max(T.sin(x3), 2)],
    ["min axes (0, 1), keepdims", T.min(T.cos(x3), [0, 1], { keepdims: true })],
    ["mean axis 1 (epilogue: division)", T.mean(T.exp(x3), 1)],
    ["sqrt(sum(sqr), keepdims) (epilogue after keepdims)", T.sqrt(T.sum(T.sqr(x3), 2, { keepdims: true }))],
    ["log(sum(exp(x))) over everything", T.log(T.sum(T.exp(x3)))],
  ];
  for (const [name, out] of variants) {
    it(`${name}: fused, values unchanged (js fast/strided paths and perform)`, () => {
      checkFused([x3], out, [X3]);
      // A transposed (strided) input takes the kernel's general path.
      checkFused([x3], out, [rand([5, 4, 3], 5).transpose(2, 1, 0)]);
    });
  }

  it("epilogue with an extra input of the reduced shape: sum(x, 1)*w + b", () => {
    const x = T.dmatrix("x");
    const w = T.dvector("w");
    const b = T.dscalar("b");
    const f = checkFused([x, w, b], T.sum(T.exp(x), 1).mul(w).add(b), [rand([4, 6], 6), rand([4], 7), theano.array(0.5, "float64")]);
    expect(count(f, FusedReduce)).toBe(1);
    const node = [...f.fgraph.nodes].find((n) => n.op instanceof FusedReduce)!;
    expect((node.op as FusedReduce).epilogue).not.toBeNull();
  });

  it("a bias update b - lr*sum(d, axis=0) (column sums, leading-axes path, epilogue)", () => {
    const d = T.fmatrix("d");
    const b = T.fvector("b");
    const f = checkFused([d, b], b.sub(T.sum(T.tanh(d), 0).mul(0.01)), [rand([33, 7], 16, "float32"), rand([7], 17, "float32")], { fusedNodes: 1 });
    expect((f.fgraph.toposort()[0]!.op as FusedReduce).epilogue).not.toBeNull();
  });

  it("broadcast prologue inputs: sum(x * row, axis=0)", () => {
    const x = T.dmatrix("x");
    const r = T.drow("r");
    checkFused([x, r], T.sum(x.mul(r), 0), [rand([5, 3], 8), rand([1, 3], 9)]);
  });

  it("does not absorb a producer another node reads, nor a consumer that broadcasts the result", () => {
    const x = T.dmatrix("x");
    const e = T.exp(x);
    const shared = compile([x], [T.sum(e), e]);
    expect(count(shared, CAReduce)).toBe(1);
    expect(count(shared, FusedReduce)).toBe(0);
    // x - max(x, keepdims): the consumer has x's shape, not the reduced one.
    // (The keepdims DimShuffle is absorbed; the subtraction stays outside.)
    const out = x.sub(T.max(x, 1, { keepdims: true }));
    const f = compile([x], out);
    const red = [...f.fgraph.nodes].filter((n) => n.op instanceof FusedReduce);
    expect(red).toHaveLength(1);
    expect((red[0]!.op as FusedReduce).epilogue).toBeNull();
    expect((red[0]!.op as FusedReduce).keepdims).toBe(true);
    expect(f.fgraph.nodes.size).toBe(2);
    const X = rand([3, 4], 15);
    expectClose(call(f, [X]), call(compile([x], out, { optimizer: "None", linker: "py" }), [X]));
  });

  it("optimizer_excluding=reduction_fusion, fusion or local_careduce_fusion leaves the CAReduce", () => {
    const x = T.fmatrix("x");
    const out = T.sum(T.sqr(x.mul(0.5).add(0.1)));
    for (const name of ["reduction_fusion", "fusion", "local_careduce_fusion"]) {
      const f = compile([x], out, { optimizer_excluding: name });
      expect(count(f, FusedReduce)).toBe(0);
      expect(count(f, CAReduce)).toBe(1);
    }
  });

  it("max over an empty lane raises as CAReduce does", () => {
    const x = T.dmatrix("x");
    const f = compile([x], T.max(T.exp(x), 1));
    expect(count(f, FusedReduce)).toBe(1);
    expect(() => call(f, [new NDArray("float64", [2, 0], new Float64Array(0))])).toThrow(ShapeError);
    const g = compile([x], T.sum(T.exp(x), 1));
    expectClose(call(g, [new NDArray("float64", [2, 0], new Float64Array(0))]), [0, 0]);
  });

  it("NaN wins in max/min, as in CAReduce", () => {
    const x = T.dvector("x");
    const f = compile([x], T.max(x.mul(2), 0));
    expect(count(f, FusedReduce)).toBe(1);
    expect(Number(call(f, [theano.array([1, NaN, 3], "float64")]).item())).toBeNaN();
    expect(Number(call(f, [theano.array([NaN, 1, 3], "float64")]).item())).toBeNaN();
  });
});

/** `build`'s output after elementwise and reduction fusion (nothing else), on the same inputs. */
function fused(build: () => theano.TensorVariable, inputs: Variable[]): theano.TensorVariable {
  const fg = new FunctionGraph(inputs, [build()], { clone: false });
  rewriteGraph(fg, presetQuery("None", ["fusion"]));
  const out = fg.outputs[0] as theano.TensorVariable;
  expect(out.owner?.op).toBeInstanceOf(FusedReduce);
  return out;
}

describe("FusedReduce", () => {
  it("gradients match finite differences (prologue, keepdims, epilogue with extras)", () => {
    const pts = [rand([3, 4], 10), rand([3, 4], 11, "float64", 0.5, 2)];
    verifyGrad((x, y) => fused(() => T.sum(T.exp(x!).mul(y!)), [x!, y!]), pts);
    verifyGrad((x, y) => fused(() => T.sqrt(T.sum(T.sqr(x!).mul(y!), 1, { keepdims: true })), [x!, y!]), pts);
    verifyGrad((x, w) => fused(() => T.sum(T.tanh(x!), 0).mul(T.sum(w!, 0)), [x!, w!]), pts);
    verifyGrad((x) => fused(() => T.max(T.sin(x!), 1), [x!]), [rand([3, 4], 12)]);
    verifyGrad((x) => fused(() => T.prod(x!.add(3), [0, 1]), [x!]), [rand([2, 3], 13)]);
  });

  it("infers its output shape symbolically (with and without keepdims)", () => {
    const x = T.dtensor3("x");
    const X = rand([2, 3, 4], 14);
    const a = fused(() => T.sum(T.exp(x), [0, 2]), [x]);
    const b = fused(() => T.sqrt(T.sum(T.exp(x), 1, { keepdims: true })), [x]);
    expect(inferredShapes([a], new Map([[x, X]]))[0]).toEqual([3]);
    expect(inferredShapes([b], new Map([[x, X]]))[0]).toEqual([2, 1, 4]);
    expect([...(b.type as theano.TensorType).shape]).toEqual([null, 1, null]);
    expectClose(evaluate([b], new Map([[x, X]]))[0]!, evaluate([T.sqrt(T.sum(T.exp(x), 1, { keepdims: true }))], new Map([[x, X]]))[0]!);
  });

  it("equal fusions compare equal (so merge can share them); different axes or epilogues do not", () => {
    const x = T.dmatrix("x");
    const op = (o: theano.TensorVariable): Op => o.owner!.op;
    const a = op(fused(() => T.sum(T.exp(x), 1), [x]));
    const b = op(fused(() => T.sum(T.exp(x), 1), [x]));
    const c = op(fused(() => T.sum(T.exp(x), 0), [x]));
    const d = op(fused(() => T.sqrt(T.sum(T.exp(x), 1)), [x]));
    expect(a.equals(b)).toBe(true);
    expect(a.key).toBe(b.key);
    expect(a.equals(c)).toBe(false);
    expect(a.equals(d)).toBe(false);
    // Two equal FusedReduce nodes on the same input merge into one.
    const fg = new FunctionGraph([x], [fused(() => T.sum(T.exp(x), 1), [x]), fused(() => T.sum(T.exp(x), 1), [x])], { clone: false });
    expect(fg.nodes.size).toBe(2);
    mergeGraph(fg, (pairs) => pairs.forEach(([o, n]) => fg.replace(o, n, "merge")));
    expect(fg.nodes.size).toBe(1);
  });
});
