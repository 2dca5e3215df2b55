/**
 * `Out(v, { borrow: true })` on the C linker: the next call may write into the buffer it handed
 * out (Theano's borrow), which saves the page faults of fresh memory on big outputs. Reuse only
 * happens when the size is unchanged, when every output position of the value is borrowed, and
 * when no input of the call lives in that buffer (f(f(x)) stays right).
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { evaluate, expectClose } from "../../helpers.js";

const { T } = theano;
type NDArray = theano.NDArray;
const C = new theano.Mode("c", "fast_run");

const vec = (xs: number[]): NDArray => theano.array(xs, "float64");

describe.skipIf(!cCompilerStatus().ok)("borrowed outputs on the C linker", () => {
  const x = T.dvector("x");
  const y = T.tanh(x.get(T.slice(null, null, -1))).mul(2).add(T.sum(x));

  it("reuse the previous call's buffer when the size is unchanged, and stay right", () => {
    const f = theano.function([x], theano.Out(y, { borrow: true }), { mode: C });
    const r1 = f(vec([1, 2, 3])) as NDArray;
    expectClose(r1, evaluate([y], new Map([[x, vec([1, 2, 3])]]))[0]!);
    const r2 = f(vec([-1, 0.5, 4])) as NDArray;
    expect(r2.data.buffer === r1.data.buffer).toBe(true);
    expectClose(r2, evaluate([y], new Map([[x, vec([-1, 0.5, 4])]]))[0]!);
    // a new size: fresh memory
    const r3 = f(vec([1, 2, 3, 4])) as NDArray;
    expect(r3.data.buffer === r2.data.buffer).toBe(false);
    expectClose(r3, evaluate([y], new Map([[x, vec([1, 2, 3, 4])]]))[0]!);
  });

  it("never write into a buffer the call reads: f(f(x)) with a reversing kernel", () => {
    const f = theano.function([x], theano.Out(y, { borrow: true }), { mode: C });
    const r1 = f(vec([0.1, 0.2, 0.3, 0.4])) as NDArray;
    const want = evaluate([y], new Map([[x, r1.copy()]]))[0]!;
    const r2 = f(r1) as NDArray;
    expect(r2.data.buffer === r1.data.buffer).toBe(false);
    expectClose(r2, want);
  });

  it("give fresh memory every call without borrow, or when the value is also an unborrowed output", () => {
    for (const outs of [[y], [theano.Out(y, { borrow: true }), y]]) {
      const f = theano.function([x], outs, { mode: C });
      const a = (f(vec([1, 2])) as NDArray[])[0]!;
      const keep = a.copy();
      const b = f(vec([3, 4])) as NDArray[];
      for (const r of b) expect(r.data.buffer === a.data.buffer).toBe(false);
      expectClose(a, keep);
    }
  });
});
