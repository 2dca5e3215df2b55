/**
 * Gemm{inplace} on the C linker: an update `W + alpha·x·y` of a shared variable is written over
 * the buffer the call gets for W (the destroy handler proved nothing reads it afterwards; since
 * issue 13.1 that is a copy in W's spare buffer, swapped in on success), in one pass with alpha
 * and beta applied by the kernel. The host hands W's memory over only when it is laid out as the
 * output and no other input of the call lives in it; an operand that is a view of W is read from
 * a copy. Every case is checked against the py linker (perform) on the same data.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { mulberry32 } from "../../../src/ndarray/rng.js";
import { FunctionGraph } from "../../../src/graph/fgraph.js";
import { cLinker } from "../../../src/link/c/linker.js";
import { Gemm } from "../../../src/tensor/gemm.js";
import { expectClose } from "../../helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
const C = new theano.Mode("c", "fast_run");
const PY = new theano.Mode("py", "fast_run");

function randm(r: number, c: number, seed: number, dtype: "float32" | "float64" = "float64"): NDArray {
  const rnd = mulberry32(seed);
  return theano.array(
    Array.from({ length: r }, () => Array.from({ length: c }, () => rnd() * 2 - 1)),
    dtype,
  );
}

/**
 * Runs `steps` updates of a fresh shared W on linker `mode`; returns W's values and how many
 * buffers W's storage went through (two when every update was written in place: the value and its
 * spare swap; `container.value` looks without exposing the storage as a borrow would).
 */
function run(
  mode: theano.Mode,
  w0: NDArray,
  build: (W: theano.TensorVariable) => { inputs: theano.TensorVariable[]; update: theano.TensorVariable },
  args: NDArray[],
  steps = 3,
): { value: NDArray; buffers: number; gemm: string[] } {
  const S = theano.shared(w0.copy(), { name: "W" });
  const { inputs, update } = build(S as unknown as theano.TensorVariable);
  const f = theano.function(inputs, [], { mode, updates: [[S, update]] });
  const seen = new Set<ArrayBufferLike>([S.container.value!.data.buffer]);
  for (let i = 0; i < steps; i++) {
    f(...args);
    seen.add(S.container.value!.data.buffer);
  }
  const gemm = [...f.fgraph.nodes].map((n) => String(n.op)).filter((s) => s.startsWith("Gemm"));
  return { value: S.getValue(), buffers: seen.size, gemm };
}

describe.skipIf(!cCompilerStatus().ok)("Gemm{inplace} on the C linker", () => {
  it("updates a shared weight matrix in place (two buffers swapped, none allocated per call), equal to perform, for any alpha", () => {
    for (const [lr, dtype] of [[0.01, "float32"], [-2.5, "float64"], [1, "float64"]] as const) {
      const x = dtype === "float32" ? T.fmatrix("x") : T.dmatrix("x");
      const g = dtype === "float32" ? T.fmatrix("g") : T.dmatrix("g");
      const build = (W: theano.TensorVariable) => ({ inputs: [x, g], update: W.sub(T.dot(x.T, g).mul(lr)) });
      const args = [randm(33, 40, 1, dtype), randm(33, 27, 2, dtype)];
      const c = run(C, randm(40, 27, 3, dtype), build, args);
      const p = run(PY, randm(40, 27, 3, dtype), build, args);
      expect(c.gemm).toEqual(["Gemm{inplace}"]);
      expect(c.buffers).toBe(2);
      expectClose(c.value, p.value);
    }
  });

  it("an update that reads W itself stays out of place (the destroy handler's rule) and right", () => {
    const y = T.dmatrix("y");
    for (const build of [
      (W: theano.TensorVariable) => ({ inputs: [y], update: W.add(T.dot(W, y).mul(0.5)) }),
      (W: theano.TensorVariable) => ({ inputs: [y], update: W.sub(T.dot(y, W.T).mul(0.25)) }),
    ]) {
      const args = [randm(24, 24, 5)];
      const c = run(C, randm(24, 24, 6), build, args);
      const p = run(PY, randm(24, 24, 6), build, args);
      expectClose(c.value, p.value);
    }
  });

  it("a W laid out otherwise (a transposed view) gets a fresh buffer and the same values", () => {
    const x = T.dmatrix("x");
    const g = T.dmatrix("g");
    const build = (W: theano.TensorVariable) => ({ inputs: [x, g], update: W.add(T.dot(x, g).mul(0.1)) });
    const args = [randm(30, 20, 7), randm(20, 30, 8)];
    const wT = randm(30, 30, 9).transpose();
    const c = run(C, wT, build, args, 1);
    const p = run(PY, wT, build, args, 1);
    expectClose(c.value, p.value);
  });

  it("the same array passed as another input is never overwritten", () => {
    const x = T.dmatrix("x");
    const S = theano.shared(randm(16, 16, 10), { name: "W" });
    const W = S as unknown as theano.TensorVariable;
    const f = theano.function([x], [], { mode: C, updates: [[S, W.add(T.dot(x, x).mul(0.5))]] });
    expect([...f.fgraph.nodes].map((n) => String(n.op))).toContain("Gemm{inplace}");
    const same = S.getValue({ borrow: true });
    const keep = same.copy();
    f(same);
    const want = theano.function([x], T.dot(x, x).mul(0.5).add(x), { mode: PY })(keep) as NDArray;
    expectClose(S.getValue(), want);
  });

  it("a Gemm{inplace} whose operand is a view of z reads that operand from a copy (linker level, no destroy handler)", () => {
    const z = T.dmatrix("z");
    const y = T.dmatrix("y");
    for (const [xv, yv, n] of [[z.T, y, 20], [y, z.T, 20], [z, z.T, 20], [z.T, y, 72], [z, z.T, 72]] as const) {
      const out = new Gemm(true).makeNode(z, T.constant(0.5), xv, yv, T.constant(1, { dtype: "float64" })).outputs[0]!;
      const fg = new FunctionGraph([z, y], [out]);
      const thunk = cLinker.make(fg);
      // 20: the unpacked small-product path; 72: the packed, blocked kernel
      const zv = randm(n, n, 11);
      const yv0 = randm(n, n, 12);
      const want = new Gemm(false).perform(new Gemm(false).makeNode(z, T.constant(0.5), xv, yv, T.constant(1, { dtype: "float64" })), [
        zv.copy(),
        theano.array(0.5, "float64"),
        xv === y ? yv0 : xv === z ? zv.copy() : zv.copy().transpose(),
        yv === y ? yv0 : zv.copy().transpose(),
        theano.array(1, "float64"),
      ])[0] as NDArray;
      const got = thunk([zv, yv0])[0] as NDArray;
      expect(got.data.buffer === zv.data.buffer).toBe(true);
      expectClose(got, want);
    }
  });
});
