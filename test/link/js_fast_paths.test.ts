/**
 * The JS linker's elementwise kernels check shapes inline for the ranks and broadcastable axes
 * the types declare, and wrap results with `NDArray.fresh` (issue 15.5: a call on tiny arrays).
 * These check that the inline paths give perform's values on every layout and raise perform's
 * errors, and that `NDArray.fresh` makes the same array the checked constructor makes.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { NDArray } from "../../src/ndarray/ndarray.js";

const { T } = theano;
const JS = new theano.Mode("js", "fast_run");
const PY = new theano.Mode("py", "fast_run");
const seq = (n: number, k = 1): Float32Array => Float32Array.from({ length: n }, (_, i) => (i + 1) * k);

function both(inputs: theano.TensorVariable[], out: theano.TensorVariable, args: NDArray[]): [NDArray, NDArray] {
  const fj = theano.function(inputs, out, { mode: JS });
  const fp = theano.function(inputs, out, { mode: PY });
  return [fj(...args) as NDArray, fp(...args) as NDArray];
}

describe("JS elementwise kernels: inline shape checks", () => {
  it("agree with perform on contiguous, transposed, sliced, broadcast and 0-d operands", () => {
    const m = T.fmatrix("m");
    const n = T.fmatrix("n");
    const r = T.frow("r");
    const c = T.fcol("c");
    const s = T.fscalar("s");
    const M = new NDArray("float32", [3, 4], seq(12));
    const N = new NDArray("float32", [4, 3], seq(12, 0.5)).T; // strides [1, 3]
    const S = new NDArray("float32", [3, 4], seq(24), [8, 2], 1); // every second column, offset 1
    const cases: Array<[theano.TensorVariable[], theano.TensorVariable, NDArray[]]> = [
      [[m, n], m.add(n), [M, M]],
      [[m, n], m.mul(n).sub(1), [M, N]],
      [[m, r], m.add(r), [M, new NDArray("float32", [1, 4], seq(4))]],
      [[m, c], m.sub(c), [M, new NDArray("float32", [3, 1], seq(3))]],
      [[r, c], r.add(c), [new NDArray("float32", [1, 4], seq(4)), new NDArray("float32", [3, 1], seq(3))]],
      [[m, s], m.mul(s), [M, new NDArray("float32", [], Float32Array.of(2.5))]],
      [[s], s.add(s).mul(3), [new NDArray("float32", [], Float32Array.of(-1.5))]],
      [[m, n], m.add(n), [new NDArray("float32", [0, 4], new Float32Array(0)), new NDArray("float32", [0, 4], new Float32Array(0))]],
    ];
    cases.push([[m, n], m.add(n), [S, M]], [[m, n], m.sub(n), [N, S]]);
    for (const [ins, out, args] of cases) {
      const [j, p] = both(ins, out, args);
      expect(j.shape).toEqual(p.shape);
      expect(j.strides).toEqual(p.strides);
      expect(Object.isFrozen(j.shape) && Object.isFrozen(j.strides)).toBe(true);
      expect(Array.from(j.data as Float32Array)).toEqual(Array.from(p.toFlat() as Float32Array));
    }
  });

  it("raise perform's ShapeError when shapes do not match", () => {
    const m = T.fmatrix("m");
    const n = T.fmatrix("n");
    const bad: Array<[theano.TensorVariable[], theano.TensorVariable, NDArray[], RegExp]> = [
      [[m, n], m.add(n), [new NDArray("float32", [3, 4], seq(12)), new NDArray("float32", [3, 5], seq(15))], /do not match on axis 1 \(input 0 has 4, input 1 has 5\)/],
      [[m, n], m.add(n), [new NDArray("float32", [3, 4], seq(12)), new NDArray("float32", [1, 4], seq(4))], /do not match on axis 0.*declare it with T\.row/],
    ];
    for (const [ins, out, args, msg] of bad) {
      for (const mode of [JS, PY]) {
        const f = theano.function(ins, out, { mode });
        expect(() => f(...args)).toThrow(theano.ShapeError);
        expect(() => f(...args)).toThrow(msg);
      }
    }
  });
});

describe("NDArray.fresh", () => {
  it("makes the contiguous array the checked constructor makes, frozen", () => {
    for (const shape of [[], [5], [2, 3], [2, 0, 4], [1, 1, 3]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = seq(size + 2); // a buffer may be longer than the shape
      const a = NDArray.fresh("float32", [...shape], data);
      const b = new NDArray("float32", shape, data);
      expect(a.shape).toEqual(b.shape);
      expect(a.strides).toEqual(b.strides);
      expect(a.offset).toBe(0);
      expect(a.isContiguous).toBe(true);
      expect(Object.isFrozen(a.shape) && Object.isFrozen(a.strides)).toBe(true);
      expect(Array.from(a.toFlat() as Float32Array)).toEqual(Array.from(b.toFlat() as Float32Array));
    }
  });

  it("a buffer shorter than the shape is the constructor's ShapeError, never a view past its end", () => {
    expect(() => NDArray.fresh("float32", [3, 4], new Float32Array(11))).toThrow(theano.ShapeError);
    expect(() => NDArray.fresh("float32", [12], new Float32Array(11))).toThrow(/does not fit a buffer of 11 elements/);
    expect(() => NDArray.fresh("float32", [], new Float32Array(0))).toThrow(theano.ShapeError);
  });
});
