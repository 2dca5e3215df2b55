/**
 * The C generators of MakeVector and of Reshape to a computed shape (src/link/c/ops/shape.ts):
 * a flatten with a symbolic batch and its gradient's reshape back (the shapes LeNet's step
 * computes) stay in one C segment and agree with perform on contiguous, strided and size-1
 * inputs; target sizes from graph inputs give perform's ShapeError (same wording) from the shape
 * phase for two -1, a negative size and a size that does not match; MakeVector's own output, when
 * it is a result, holds the sizes.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import type { Apply, Variable } from "../../../src/graph/basic.js";
import { cSource } from "../../../src/link/c/linker.js";
import { MakeVector, Reshape } from "../../../src/tensor/shape.js";
import { expectClose } from "../../helpers.js";
import { rand, requireCompiler } from "./agreement_helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
type TV = theano.TensorVariable;

const CF = new theano.Mode("c", "fast_run");
const PY = new theano.Mode("py", "fast_run");
const isShapeOp = (n: Apply): boolean => n.op instanceof MakeVector || n.op instanceof Reshape;

/** C (one segment, no MakeVector/Reshape on the host) against perform, on each case. */
function agree(ins: Variable[], outs: TV[], cases: Array<[string, NDArray[]]>): void {
  const fc = theano.function(ins, outs, { mode: CF, onUnusedInput: "ignore" });
  const prog = cSource(fc.fgraph);
  expect(prog.steps.filter((s) => s.kind === "host" && isShapeOp(s.node)).map((s) => (s.kind === "host" ? String(s.node.op) : ""))).toEqual([]);
  expect(prog.segments.flatMap((s) => s.nodes).filter((n) => n.op instanceof Reshape && !n.inputs[1]!.isConstant).length).toBeGreaterThan(0);
  const fp = theano.function(ins, outs, { mode: PY, onUnusedInput: "ignore" });
  for (const [what, values] of cases) {
    const got = fc(...values) as NDArray[];
    const want = fp(...values) as NDArray[];
    outs.forEach((_o, i) => {
      try {
        expect(got[i]!.shape).toEqual(want[i]!.shape);
        expectClose(got[i]!, want[i]!, { rtol: 1e-12, atol: 0 });
      } catch (e) {
        throw new Error(`${what}: output ${i}: ${(e as Error).message}`);
      }
    });
  }
}

describe("C generators for MakeVector and Reshape to a computed shape", () => {
  it("need a C compiler", () => requireCompiler());

  it("flatten with a symbolic batch, and the gradient's reshape back, in one segment", () => {
    const x = T.dtensor4("x");
    const w = T.dmatrix("w");
    const h = T.tanh(T.dot(x.flatten(2), w));
    const [gx] = theano.grad(T.sum(T.sqr(h)), [x]) as TV[];
    // a strided input (dimshuffle) is copied; a flatten to 3 axes keeps two symbolic sizes
    const outs = [h, gx!, x.dimshuffle(0, 1, 3, 2).flatten(2), x.flatten(3).mul(2)];
    const f = theano.function([x, w], outs, { mode: CF });
    expect(cSource(f.fgraph).segments.length).toBe(1);
    agree([x, w], outs, [
      ["batch 3", [rand("float64", [3, 2, 3, 4], 1), rand("float64", [24, 5], 2)]],
      ["batch 1", [rand("float64", [1, 2, 3, 4], 3), rand("float64", [24, 5], 4)]],
      ["transposed input", [rand("float64", [4, 3, 2, 3], 5).transpose(3, 2, 1, 0), rand("float64", [24, 5], 6)]],
    ]);
  });

  it("sizes from graph inputs: values, and perform's errors from the shape phase", () => {
    const x = T.dmatrix("x");
    const [a, b] = [T.lscalar("a"), T.lscalar("b")];
    const r = x.reshape([a, b, 2]);
    const outs = [r.add(1), r.sum(2)];
    const L = (v: number): NDArray => theano.array(v, "int64");
    agree([x, a, b], outs, [
      ["3x4 as 3x2x2", [rand("float64", [3, 4], 1), L(3), L(2)]],
      ["3x4 as -1x3x2", [rand("float64", [3, 4], 2), L(-1), L(3)]],
      ["3x4 as 2x-1x2", [rand("float64", [3, 4], 3), L(2), L(-1)]],
      ["empty as 0x5x2", [rand("float64", [0, 4], 4), L(0), L(5)]],
    ]);
    const fc = theano.function([x, a, b], r, { mode: CF });
    const fp = theano.function([x, a, b], r, { mode: PY });
    const bad: Array<[number, number, RegExp]> = [
      [-1, -1, /can only specify one unknown dimension in reshape \[-1, -1, 2\]/],
      [-3, 2, /reshape target \[-3, 2, 2\] holds an invalid dimension -3/],
      [5, 2, /cannot reshape an array of size 12 \(shape \[3, 4\]\) into shape \[5, 2, 2\]/],
      [-1, 5, /cannot reshape an array of size 12 \(shape \[3, 4\]\) into shape \[-1, 5, 2\]/],
      [2 ** 40, 2 ** 40, /cannot reshape an array of size 12/],
    ];
    for (const [va, vb, msg] of bad) {
      for (const f of [fc, fp]) {
        let err: unknown = null;
        try {
          f(rand("float64", [3, 4], 5), L(va), L(vb));
        } catch (e) {
          err = e;
        }
        expect(err, `${va}, ${vb}`).toBeInstanceOf(theano.ShapeError);
        expect((err as Error).message).toMatch(msg);
      }
    }
  });

  it("MakeVector's output as a result holds the sizes", () => {
    const x = T.dtensor3("x");
    const v = new MakeVector().call(T.shape(x, 0), T.shape(x, 2).mul(3), T.constant(-1, { dtype: "int64" })) as TV;
    const f = theano.function([x], [v], { mode: CF });
    expect(cSource(f.fgraph).steps.filter((s) => s.kind === "host").length).toBe(0);
    const got = (f(rand("float64", [2, 3, 5], 1)) as NDArray[])[0]!;
    expect(Array.from(got.toFlat() as BigInt64Array, Number)).toEqual([2, 15, -1]);
  });
});
