/**
 * Scan's loop in generated code (issue 14.4): on the C backend a body that is one C segment runs
 * its steps 1..n-1 in one native call (src/link/c/step_loop.ts); on the JS backend they run in one
 * JS loop over the compiled body (src/link/host_loop.ts). Each case runs with `scan.native_loop`
 * on and off: the values must be identical (the same compiled body, only the loop differs), the
 * loop must have run the steps it could, and an error at a later step must be the host path's.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { findCompiler } from "../../src/link/c/compiler.js";
import { cStepLoopStats } from "../../src/link/c/step_loop.js";
import { hostStepLoopStats } from "../../src/link/host_loop.js";
import { expectClose } from "../helpers.js";

const { T } = theano;
type TV = theano.TensorVariable;
type NDArray = theano.NDArray;
const one = (o: TV | TV[]): TV => o as TV;
const many = (o: TV | TV[]): TV[] => o as TV[];

type Fn = (...a: unknown[]) => NDArray | NDArray[];
const flat = (r: NDArray | NDArray[]): Array<Array<number | bigint>> => (Array.isArray(r) ? r : [r]).map((a) => Array.from(a.toFlat() as ArrayLike<number | bigint>));


/** The error a call raises (class name and message), or null. */
function errorOf(f: () => unknown): { name: string; message: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    return { name: (e as Error).constructor.name, message: (e as Error).message };
  }
}

const rand = (n: number, seed: number): number[] => Array.from({ length: n }, (_v, i) => Math.sin(seed * 1000 + i * 1.37) * 0.5);

const LINKERS = (["c", "js"] as const).filter((l) => l !== "c" || findCompiler() !== null);

describe.each(LINKERS)("issue 14.4: scan's loop in generated code on the %s linker", (linker) => {
  const mode = new theano.Mode(linker, "fast_run");
  const compile = (ins: TV[], outs: TV | TV[]): Fn => theano.function(ins, outs, { mode }) as unknown as Fn;
  const stats = linker === "c" ? cStepLoopStats : hostStepLoopStats;
  /** Runs `build()`'s function on `args` with the loop off, then on; returns both results and the steps the loop ran. */
  function bothWays(build: () => Fn, args: unknown[]): { host: NDArray | NDArray[]; native: NDArray | NDArray[]; steps: number } {
    const host = theano.config.change({ "scan.native_loop": false }, () => build()(...args));
    const before = stats().steps;
    const native = theano.config.change({ "scan.native_loop": true }, () => build()(...args));
    return { host, native, steps: stats().steps - before };
  }

  it("a loop-carried float32 state (x * 0.5 + 1): identical values, steps 1..n-1 native", () => {
    const build = (): Fn => {
      const x0 = T.fscalar("x0");
      const [ys] = theano.scan({ fn: (x: TV) => x.mul(0.5).add(1), outputsInfo: [x0], nSteps: 1000 });
      return compile([x0], one(ys));
    };
    const r = bothWays(build, [theano.array(3, "float32")]);
    expect(flat(r.native)).toEqual(flat(r.host));
    expect(r.steps).toBe(999);
    expect(Math.abs(Number(flat(r.native)[0]![999]) - 2)).toBeLessThan(1e-6);
  });

  it("an RNN: a matrix sequence, a state, a map-like output and a non-sequence; forwards and backwards", () => {
    for (const goBackwards of [false, true]) {
      const build = (): Fn => {
        const X = T.dtensor3("X");
        const h0 = T.dmatrix("h0");
        const W = T.dmatrix("W");
        const V = T.dmatrix("V");
        const [hs, ys] = many(
          theano.scan({
            fn: (x: TV, h: TV, w: TV, v: TV) => {
              const hn = T.tanh(T.dot(x, w).add(T.dot(h, v)));
              return [hn, hn.sum(1)];
            },
            sequences: [X],
            outputsInfo: [h0, null],
            nonSequences: [W, V],
            goBackwards,
          })[0] as unknown as TV[],
        );
        return compile([X, h0, W, V], [hs!, ys!]);
      };
      const X = theano.array(rand(7 * 3 * 4, 1), "float64").reshape([7, 3, 4]);
      const h0 = theano.array(rand(3 * 5, 2), "float64").reshape([3, 5]);
      const W = theano.array(rand(4 * 5, 3), "float64").reshape([4, 5]);
      const V = theano.array(rand(5 * 5, 4), "float64").reshape([5, 5]);
      const r = bothWays(build, [X, h0, W, V]);
      expect(flat(r.native)).toEqual(flat(r.host));
      expect((r.native as NDArray[])[0]!.shape).toEqual([7, 3, 5]);
      expect(r.steps).toBe(6);
    }
  });

  it("a strided and reversed sequence view, and sequence taps [-1, 0, 1]", () => {
    const build = (): Fn => {
      const x = T.dmatrix("x");
      const seq = x.get("::-1", 1); // column 1, last row first: stride -3
      // every operation reads the state: nothing moves out of the loop (scan_pushout_seqs)
      const [y] = theano.scan({ fn: (a: TV, b: TV, c: TV, acc: TV) => acc.mul(a).add(b).sub(c), sequences: [{ input: seq, taps: [-1, 0, 1] }], outputsInfo: T.constant(1, { dtype: "float64" }) });
      return compile([x], one(y));
    };
    const x = theano.array([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5], "float64").reshape([5, 3]);
    const r = bothWays(build, [x]);
    expect(flat(r.native)).toEqual(flat(r.host));
    expectClose(r.native as NDArray, [6, 25, 76]); // rows (5, 4, 3), (4, 3, 2), (3, 2, 1) of the reversed column
    expect(r.steps).toBe(2);
  });

  it("Fibonacci with taps [-2, -1]: the whole history and, through scan_save_mem, a ring of the last rows", () => {
    const whole = (): Fn => {
      const init = T.lvector("init");
      const [fib] = theano.scan({ fn: (a: TV, b: TV) => a.add(b), outputsInfo: [{ initial: init, taps: [-2, -1] }], nSteps: 10 });
      return compile([init], one(fib));
    };
    const r = bothWays(whole, [[0, 1]]);
    expect((r.native as NDArray).toArray()).toEqual([1, 2, 3, 5, 8, 13, 21, 34, 55, 89]);
    expect(r.steps).toBe(9);
    const last = (): Fn => {
      const init = T.lvector("init");
      const [fib] = theano.scan({ fn: (a: TV, b: TV) => a.add(b), outputsInfo: [{ initial: init, taps: [-2, -1] }], nSteps: 60 });
      return compile([init], one(fib).get(-1));
    };
    const s = bothWays(last, [[0, 1]]);
    expect(flat(s.native)).toEqual(flat(s.host));
    expect(flat(s.native)[0]![0]).toBe(2504730781961n);
    expect(s.steps).toBe(59);
  });

  it("scanUntil stops the native loop at the step whose condition is true", () => {
    const build = (): Fn => {
      const [d] = theano.scan({ fn: (p: TV) => [p.mul(2), theano.scanUntil(p.mul(2).gt(50))], outputsInfo: T.constant(1, { dtype: "float64" }), nSteps: 100 });
      return compile([], one(d));
    };
    const r = bothWays(build, []);
    expectClose(r.native as NDArray, [2, 4, 8, 16, 32, 64]);
    expect(r.steps).toBe(5);
  });

  it("an error at a later step is the host path's error (an index out of range at step 2)", () => {
    const build = (): Fn => {
      const A = T.dmatrix("A");
      const idx = T.lvector("idx");
      const [rows] = theano.scan({ fn: (i: TV, a: TV) => a.get(i).mul(2), sequences: [idx], nonSequences: [A] });
      return compile([A, idx], one(rows));
    };
    const A = theano.array([1, 2, 3, 4, 5, 6], "float64").reshape([3, 2]);
    const host = theano.config.change({ "scan.native_loop": false }, () => errorOf(() => build()(A, [0, 1, 7])));
    const before = stats().calls;
    const native = theano.config.change({ "scan.native_loop": true }, () => errorOf(() => build()(A, [0, 1, 7])));
    expect(host).not.toBeNull();
    expect(native).toEqual(host);
    expect(native!.message).toMatch(/7/);
    expect(stats().calls).toBe(before + 1);
    // the same function with good indices afterwards
    expectClose(theano.config.change({ "scan.native_loop": true }, () => build()(A, [2, 0, 1])) as NDArray, [[10, 12], [2, 4], [6, 8]]);
  });

  it("a map-like output that changes shape at step 2 is the host path's ShapeError", () => {
    const build = (): Fn => {
      const n = T.lvector("n");
      const [z] = theano.scan({ fn: (k: TV) => T.alloc(T.constant(1.5, { dtype: "float64" }), k), sequences: [n] });
      return compile([n], one(z));
    };
    const host = theano.config.change({ "scan.native_loop": false }, () => errorOf(() => build()([3, 3, 5])));
    const native = theano.config.change({ "scan.native_loop": true }, () => errorOf(() => build()([3, 3, 5])));
    expect(host?.name).toBe("ShapeError");
    expect(native).toEqual(host);
    expect(native!.message).toMatch(/at step 2/);
  });

  it("a body with a host node: on C, step by step as before (no native loop); on JS, the JS loop", () => {
    const build = (): Fn => {
      const X = T.dmatrix("X");
      const [y] = theano.scan({ fn: (x: TV) => T.diff(x.mul(2), 1, 0).sum(), sequences: [X] });
      return compile([X], one(y));
    };
    const r = bothWays(build, [theano.array([1, 2, 4, 0, 5, 5, 2, 9, 1], "float64").reshape([3, 3])]);
    expect(flat(r.native)).toEqual(flat(r.host));
    expectClose(r.native as NDArray, [6, 10, -2]);
    expect(r.steps).toBe(linker === "c" ? 0 : 2);
  });

  it("the gradient scan of an RNN runs natively too, and equals the host loop's", () => {
    const build = (): Fn => {
      const X = T.dtensor3("X");
      const h0 = T.dmatrix("h0");
      const W = T.dmatrix("W");
      const [hs] = theano.scan({ fn: (x: TV, h: TV, w: TV) => T.tanh(x.add(T.dot(h, w))), sequences: [X], outputsInfo: [h0], nonSequences: [W] });
      const loss = one(hs).sum();
      return compile([X, h0, W], theano.grad(loss, [W, h0]) as TV[]);
    };
    const X = theano.array(rand(6 * 2 * 3, 5), "float64").reshape([6, 2, 3]);
    const h0 = theano.array(rand(2 * 3, 6), "float64").reshape([2, 3]);
    const W = theano.array(rand(9, 7), "float64").reshape([3, 3]);
    const r = bothWays(build, [X, h0, W]);
    expect(flat(r.native)).toEqual(flat(r.host));
    expect(r.steps).toBeGreaterThan(0);
  });
});
