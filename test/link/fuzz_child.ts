/**
 * A second process for test/link/fuzz.test.ts: runs one adversarial case that could crash the
 * process (a native out-of-bounds access kills it with SIGSEGV, which no `try` can catch) and
 * prints one JSON line: the values the C linker returned next to the `py` linker's, or the
 * error class it raised. A crash shows up in the parent as a signal or a non-zero status.
 *
 * Usage: node --import tsx test/link/fuzz_child.ts <case>
 */

import { writeSync } from "node:fs";
import * as theano from "../../src/index.js";
import type { NDArray } from "../../src/ndarray/ndarray.js";

const { T } = theano;
type TV = theano.TensorVariable;

/** A rank-`nd` float64 tensor of shape (2, 1, …, 1, 3), non-contiguous (a transposed buffer). */
function highRank(nd: number): { x: TV; value: NDArray } {
  const x = T.tensor({ dtype: "float64", shape: Array(nd).fill(null), name: "x" });
  const shape = Array<number>(nd).fill(1);
  shape[0] = 2;
  shape[nd - 1] = 3;
  const axes = [...Array(nd).keys()].reverse();
  const value = theano.arange(6, "float64").reshape([...shape].reverse()).transpose(...axes);
  return { x, value };
}

type Case = { inputs: TV[]; output: TV; args: NDArray[] };
const CASES: Record<string, () => Case> = {
  // Controls: the largest ranks that fit the fixed-size arrays below.
  rank16Reshape: () => {
    const { x, value } = highRank(16);
    return { inputs: [x], output: x.reshape([-1]), args: [value] };
  },
  rank17Softmax: () => {
    const { x, value } = highRank(17);
    return { inputs: [x], output: T.softmax(x, 0), args: [value.copy()] };
  },
  // th_copy_strided keeps its index in `int64_t idx[16]` (src/link/c/codegen.ts RUNTIME).
  rank17Reshape: () => {
    const { x, value } = highRank(17);
    return { inputs: [x], output: x.reshape([-1]), args: [value] };
  },
  // An exported view (DimShuffle) is copied out with th_copy_strided too.
  rank17TransposeOutput: () => {
    const { x, value } = highRank(17);
    return { inputs: [x], output: x.T, args: [value.copy()] };
  },
  // th_softmax_* keeps the output strides in `int64_t ys[16]`.
  rank18Softmax: () => {
    const { x, value } = highRank(18);
    return { inputs: [x], output: T.softmax(x, 0), args: [value.copy()] };
  },
  // A length-tracking view of a resizable ArrayBuffer that shrank after the NDArray was made:
  // the NDArray's bounds check ran at construction, the memory is gone at call time.
  shrunkBuffer: () => {
    const x = T.vector("x", "float64");
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const buf = new Resizable(8 << 20, { maxByteLength: 8 << 24 });
    const value = new theano.NDArray("float64", [1 << 20], new Float64Array(buf));
    buf.resize(0);
    return { inputs: [x], output: x.mul(2).sum(), args: [value] };
  },
};

// Usage: fuzz_child.ts <case> [<case> ...]: one JSON line per case, in order, as each finishes
// (one process for all of them: a crash still names the case that was running).
const names = process.argv.slice(2);
for (const name of names) if (!CASES[name]) throw new Error(`unknown case '${name}'; cases: ${Object.keys(CASES).join(", ")}`);
const run = (make: () => Case, linker: "c" | "py"): { ok: true; values: number[]; shape: number[] } | { ok: false; error: string } => {
  const { inputs, output, args } = make();
  try {
    const f = theano.function(inputs, output, { mode: new theano.Mode(linker) });
    const r = f(...args) as NDArray;
    return { ok: true, values: Array.from(r.toFlat() as ArrayLike<number>, Number), shape: [...r.shape] };
  } catch (e) {
    return { ok: false, error: (e as Error).constructor.name };
  }
};
for (const name of names) {
  const make = CASES[name]!;
  const py = run(make, "py");
  const c = run(make, "c");
  writeSync(1, `${JSON.stringify({ name, py, c })}\n`);
}
