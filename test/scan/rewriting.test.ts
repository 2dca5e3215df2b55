/**
 * The scan rewrites (src/rewriting/scan.ts, issue 14.3): each fires (the compiled graph's
 * structure inside and outside the Scan), keeps the values of the graph without it on the py, js
 * and c linkers, keeps gradients equal to finite differences, and `optimizer_excluding=<name>`
 * (here `mode.excluding(name)`) turns it off. The inner graph gets the outer mode's whole pipeline.
 * Also `ifelse_lift_common` (src/rewriting/ifelse.ts, issue 14.5), which works the same way.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import type { Apply, Op, Variable } from "../../src/graph/basic.js";
import { ancestors, toposort } from "../../src/graph/basic.js";
import { findCompiler } from "../../src/link/c/compiler.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { Composite } from "../../src/scalar/composite.js";
import { IfElse } from "../../src/scan/ifelse.js";
import { Scan } from "../../src/scan/op.js";
import { Dot } from "../../src/tensor/blas.js";
import { Elemwise } from "../../src/tensor/elemwise.js";
import { Gemm } from "../../src/tensor/gemm.js";
import { expectClose } from "../helpers.js";

const { T } = theano;
type TV = theano.TensorVariable;
type TF = theano.TheanoFunction<NDArray | NDArray[]>;
type OpClass = abstract new (...a: never[]) => Op;

const LINKERS = (["py", "js", "c"] as const).filter((l) => l !== "c" || findCompiler() !== null);
const one = (o: TV | TV[]): TV => o as TV;
const many = (o: TV | TV[]): TV[] => o as TV[];

function rand(shape: number[], seed: number, scale = 1): NDArray {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return new NDArray("float64", shape, d);
}

const compile = (ins: Variable[], outs: Variable | Variable[], mode: theano.Mode, opts: object = {}): TF => theano.function(ins as never, outs as never, { mode, ...opts } as never) as TF;
const call = (f: TF, ...args: unknown[]): NDArray[] => {
  const r = (f as unknown as (...a: unknown[]) => NDArray | NDArray[])(...args);
  return Array.isArray(r) ? r : [r];
};

const scans = (f: TF): Array<Apply<Scan>> => [...f.fgraph.nodes].filter((n) => n.op instanceof Scan) as Array<Apply<Scan>>;
const outside = (f: TF, cls: OpClass): number => [...f.fgraph.nodes].filter((n) => n.op instanceof cls).length;
/** Nodes of `cls` in a Scan's inner graph (as the rewrites left it, before its own compilation). */
const inside = (node: Apply<Scan>, cls: OpClass): number => toposort(node.op.innerOutputs, new Set(node.op.innerInputs)).filter((n) => n.op instanceof cls).length;
const insideElemwise = (node: Apply<Scan>, name: string): number =>
  toposort(node.op.innerOutputs, new Set(node.op.innerInputs)).filter((n) => n.op instanceof Elemwise && n.op.scalarOp.name === name).length;

/**
 * The rewritten graph's values on `linker` equal the values of the graph without the rewrite
 * `name` (evaluated by perform: the reference needs no compiled module of its own, which halved
 * this file's C builds); returns the rewritten function and the reference.
 */
function sameWithout(linker: (typeof LINKERS)[number], name: string, ins: Variable[], outs: Variable | Variable[], args: unknown[]): [TF, TF] {
  const on = compile(ins, outs, new theano.Mode(linker, "fast_run"));
  const off = compile(ins, outs, new theano.Mode("py", "fast_run").excluding(name));
  const a = call(on, ...args);
  const b = call(off, ...args);
  a.forEach((v, i) => expectClose(v, b[i]!, { rtol: 1e-9, atol: 1e-11 }));
  return [on, off];
}

/** Central differences of `loss` along a random direction equal the compiled gradient's projection. */
function expectGradMatchesFD(f: TF, gradF: TF, points: NDArray[], seed: number): void {
  const grads = call(gradF, ...points);
  const eps = 1e-6;
  const dirs = points.map((p, i) => rand([...p.shape], seed + i));
  const flat = (a: NDArray): number[] => Array.from(a.toFlat() as ArrayLike<number>, Number);
  const shifted = (sgn: number): NDArray[] => points.map((p, i) => new NDArray("float64", [...p.shape], Float64Array.from(flat(p), (x, k) => x + sgn * eps * flat(dirs[i]!)[k]!)));
  const fd = (Number(call(f, ...shifted(1))[0]!.item()) - Number(call(f, ...shifted(-1))[0]!.item())) / (2 * eps);
  let analytic = 0;
  grads.forEach((g, i) => flat(g).forEach((x, k) => (analytic += x * flat(dirs[i]!)[k]!)));
  expect(Math.abs(fd - analytic)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
}

// An RNN with a batch: x_t (batch, 3), h (batch, 4).
const X = T.dtensor3("X");
const h0 = T.dmatrix("h0");
const W = T.dmatrix("W");
const U = T.dmatrix("U");
const b = T.dvector("b");
const rnn = (): TV => one(theano.scan({ fn: (x: TV, h: TV) => T.tanh(T.dot(x, W).add(b).add(T.dot(h, U))), sequences: X, outputsInfo: h0, name: "rnn" })[0]);
const xv = rand([5, 2, 3], 1);
const h0v = rand([2, 4], 2);
const wv = rand([3, 4], 3);
const uv = rand([4, 4], 4, 0.5);
const bv = rand([4], 5);

describe.each(LINKERS)("scan_pushout_seqs on the %s linker", (linker) => {
  it("the RNN input projection dot(x_t, W) + b becomes one product over the sequence, outside the loop", () => {
    const H = rnn();
    const [on, off] = sameWithout(linker, "scan_pushout_seqs", [X, h0, W, U, b], H, [xv, h0v, wv, uv, bv]);
    const [s] = scans(on);
    expect(inside(s!, Dot)).toBe(1); // only dot(h, U) is left in the loop
    expect(insideElemwise(s!, "add")).toBe(1);
    expect(outside(on, Dot)).toBe(1);
    const [s0] = scans(off);
    expect(inside(s0!, Dot)).toBe(2);
    expect(outside(off, Dot)).toBe(0);
    // The tag turns it off too.
    expect(inside(scans(compile([X, h0, W, U, b], H, new theano.Mode(linker, "fast_run").excluding("scan_pushout")))[0]!, Dot)).toBe(2);
  });

  it("vector rows, dot(W, x_t), elementwise chains of several sequences, goBackwards and taps", () => {
    const x = T.dmatrix("x");
    const y = T.dmatrix("y");
    const M = T.dmatrix("M");
    const [o] = theano.scan({
      fn: (xm: TV, xt: TV, yt: TV, acc: TV) => acc.add(T.exp(xt.mul(yt)).add(T.dot(M, xm))).add(T.dot(acc, M).mul(0.1)),
      sequences: [{ input: x, taps: [-1, 0] }, y],
      outputsInfo: T.zeros([3], "float64"),
      goBackwards: true,
    });
    const [on] = sameWithout(linker, "scan_pushout_seqs", [x, y, M], one(o), [rand([6, 3], 7), rand([6, 3], 8), rand([3, 3], 9)]);
    const [s] = scans(on);
    expect(inside(s!, Dot)).toBe(1);
    expect(insideElemwise(s!, "exp")).toBe(0);
  });
});

describe.each(LINKERS)("scan_pushout_non_seqs on the %s linker", (linker) => {
  it("computation on non-sequences only runs once, before the loop", () => {
    const A = T.dmatrix("A");
    const k = T.lscalar("k");
    const [p] = theano.scan({ fn: (acc: TV, a: TV) => T.dot(acc, T.exp(a).mul(0.5).add(a.T)), outputsInfo: T.identityLike(A), nonSequences: A, nSteps: k, name: "power" });
    const [on, off] = sameWithout(linker, "scan_pushout_non_seqs", [A, k], one(p), [rand([3, 3], 11), 4]);
    const [s] = scans(on);
    expect(insideElemwise(s!, "exp")).toBe(0);
    expect(outside(on, Elemwise) > 0 && toposort(on.fgraph.outputs).some((n) => n.op instanceof Elemwise && /exp/.test(String(n.op)))).toBe(true);
    expect(insideElemwise(scans(off)[0]!, "exp")).toBe(1);
  });
});

describe.each(LINKERS)("scan rewrites and gradients on the %s linker", (linker) => {
  const loss = (H: TV): TV => H.mul(H).sum().add(H.get(-1).sum());

  it("an RNN training step: gradients equal those without the scan rewrites, and finite differences", () => {
    const H = rnn();
    const gs = theano.grad(loss(H), [W, U, b, X, h0]);
    const args = [xv, h0v, wv, uv, bv];
    const [on, off] = sameWithout(linker, "scan", [X, h0, W, U, b], gs, args);
    // The backward scan's body reads the forward step's states (tanh's gradient uses its output)
    // rather than computing the step again, so neither it nor the graph around it holds a second
    // forward pass: outside the loops only x_t·W (pushed out of the forward scan) is a product.
    const grad = scans(on).find((n) => n.op.info.name.startsWith("grad_of"))!;
    const grad0 = scans(off).find((n) => n.op.info.name.startsWith("grad_of"))!;
    expect(inside(grad, Dot)).toBeLessThan(inside(grad0, Dot));
    expect(insideElemwise(grad, "tanh")).toBe(0);
    expect(insideElemwise(grad0, "tanh")).toBe(0);
    expect(outside(on, Dot)).toBe(1);
    const tanhs = (f: TF): number => [...f.fgraph.nodes].filter((n) => n.op instanceof Elemwise && /tanh/.test(String(n.op))).length;
    expect(tanhs(on) + tanhs(off)).toBe(0);
    // scan_pushout_add: the weight gradients (accumulators of dot(x_tᵀ, δ_t), dot(h_{t-1}ᵀ, δ_t)
    // and δ_t) leave the loop; only the state carrying δ back through U stays, keeping one row.
    expect(grad.op.nStates).toBe(1);
    expect(grad0.op.nStates).toBe(4);
    expect(grad.op.info.keep?.[0]).toBe(1);
    // Without the gradient of X, the loop no longer computes δ_t·Wᵀ (scan_save_mem drops the dead output).
    const gW = compile([X, h0, W, U, b], theano.grad(loss(H), W), new theano.Mode(linker, "fast_run"));
    const gradW = scans(gW).find((n) => n.op.info.name.startsWith("grad_of"))!;
    expect(inside(gradW, Dot)).toBe(1);
    expect(gradW.op.info.keep?.[0]).toBe(1); // δ's state, read only by the loop itself: a ring of 2 rows
    const f = compile([X, h0, W, U, b], loss(H), new theano.Mode(linker, "fast_run"));
    const gf = compile([X, h0, W, U, b], [gs[3]!, gs[4]!, gs[0]!, gs[1]!, gs[2]!], new theano.Mode(linker, "fast_run")); // in the inputs' order
    expectGradMatchesFD(f, gf, args, 21);
  });
});

describe.each(LINKERS)("scan_pushout_add on the %s linker", (linker) => {
  it("an accumulator read only at the end becomes a sum after the loop; dot(a_tᵀ, b_t) one product", () => {
    const x = T.dvector("x");
    const [tot] = theano.reduce((a: TV, acc: TV) => acc.add(T.exp(a).mul(a)), x, T.constant(0.5, { dtype: "float64" }));
    const [on, off] = sameWithout(linker, "scan_pushout_add", [x], one(tot), [rand([9], 1)]);
    expect(scans(on)[0]!.op.nStates).toBe(0);
    expect(scans(off)[0]!.op.nStates).toBe(1);
    // Empty sequence: the initial value (a fold of nothing is its start).
    expectClose(call(on, new NDArray("float64", [0], new Float64Array(0)))[0]!, 0.5);

    const A = T.dmatrix("A0");
    const [outs] = theano.scan({
      fn: (xt: TV, h: TV, acc: TV) => {
        const hn = T.tanh(T.dot(h, U).add(xt));
        return [hn, acc.add(T.dot(xt.T, hn))];
      },
      sequences: X,
      outputsInfo: [h0, A],
    });
    const acc = many(outs)[1]!;
    const args = [rand([5, 2, 4], 2), rand([2, 4], 3), rand([4, 4], 4, 0.5), rand([4, 4], 5)];
    const [on2, off2] = sameWithout(linker, "scan_pushout_add", [X, h0, U, A], acc.get(-1), args);
    expect(scans(on2)[0]!.op.nStates).toBe(1);
    expect(outside(on2, Dot) + outside(on2, Gemm)).toBe(1); // init + dot(...) is one Gemm
    expect(scans(off2)[0]!.op.nStates).toBe(2);
    // Read whole, the accumulator stays in the loop.
    const [whole] = sameWithout(linker, "scan_pushout_add", [X, h0, U, A], acc, args);
    expect(scans(whole)[0]!.op.nStates).toBe(2);
  });
});

describe.each(LINKERS)("scan_save_mem on the %s linker", (linker) => {
  it("result[-1] of an RNN, theano.reduce, Fibonacci's last value (taps [-2, -1]) keep only the rows they read", () => {
    const H = rnn();
    const [on, off] = sameWithout(linker, "scan_save_mem", [X, h0, W, U, b], [H.get(-1), H.get(-2)], [xv, h0v, wv, uv, bv]);
    expect(scans(on)[0]!.op.info.keep).toEqual([3]); // H = out[1:]: its initial row and the two last
    expect(scans(off)[0]!.op.info.keep).toBeUndefined();

    const x = T.dvector("x");
    const [tot] = theano.reduce((a: TV, acc: TV) => acc.mul(0.5).add(a), x, T.constant(0, { dtype: "float64" }));
    const [r] = sameWithout(linker, "scan_save_mem", [x], one(tot), [rand([50], 3)]);
    expect(scans(r)[0]!.op.info.keep).toEqual([1]);

    const init = T.dvector("init");
    const n = T.lscalar("n");
    const [fib] = theano.scan({ fn: (a: TV, c: TV) => a.add(c).mul(0.9), outputsInfo: [{ initial: init, taps: [-2, -1] }], nSteps: n });
    const [fo] = sameWithout(linker, "scan_save_mem", [init, n], [one(fib).get(-1), one(fib).get(-3)], [[1, 1], 10]);
    expect(scans(fo)[0]!.op.info.keep).toEqual([5]);
    // 0 and 1 steps: the rewrite leaves in-bounds reads as they were (reduce of nothing is its start).
    expectClose(call(r, new NDArray("float64", [0], new Float64Array(0)))[0]!, 0);
    const [fo1] = sameWithout(linker, "scan_save_mem", [init, n], one(fib).get(-1), [[1, 2], 1]);
    expect(scans(fo1)[0]!.op.info.keep).toEqual([3]);
    // Reads past the start raise as they do without the rewrite: Fibonacci's 3rd-last value
    // after 2 steps, the last value of a loop of 0 steps.
    const [fo3, fo3Off] = [compile([init, n], one(fib).get(-3), new theano.Mode(linker, "fast_run")), compile([init, n], one(fib).get(-3), new theano.Mode(linker, "fast_run").excluding("scan_save_mem"))];
    expect(scans(fo3)[0]!.op.info.keep).toEqual([5]);
    for (const f of [fo3, fo3Off]) {
      expect(() => call(f, [1, 2], 2)).toThrow(theano.TheanoError);
      expectClose(call(f, [1, 2], 3)[0]!, call(fo3Off, [1, 2], 3)[0]!);
    }
    const [h] = theano.scan({ fn: (p: TV) => p.mul(2), outputsInfo: init, nSteps: n });
    const [last, lastOff] = [compile([init, n], one(h).get(-1), new theano.Mode(linker, "fast_run")), compile([init, n], one(h).get(-1), new theano.Mode(linker, "fast_run").excluding("scan_save_mem"))];
    for (const f of [last, lastOff]) expect(() => call(f, [1, 2], 0)).toThrow(theano.TheanoError);
    expectClose(call(last, [1, 2], 3)[0]!, call(lastOff, [1, 2], 3)[0]!);
  });

  it("map-like outputs, while loops, several outputs; an output read whole is kept whole", () => {
    const x = T.dvector("x");
    const [outs] = theano.scan({ fn: (a: TV, acc: TV) => [acc.mul(0.5).add(a), a.mul(a)], sequences: x, outputsInfo: [T.constant(0, { dtype: "float64" }), null] });
    const [acc, sq] = many(outs);
    const [on] = sameWithout(linker, "scan_save_mem", [x], [acc!.get(-1), sq!.get(-2)], [rand([7], 4)]);
    expect(scans(on)[0]!.op.info.keep).toEqual([2, 2]);
    const [whole] = sameWithout(linker, "scan_save_mem", [x], [acc!.get(-1), sq!], [rand([7], 4)]);
    expect(scans(whole)[0]!.op.info.keep).toEqual([2, 0]);
    // An output nothing reads leaves the loop.
    const [dead, alive] = sameWithout(linker, "scan_save_mem", [x], acc!.get(-1), [rand([7], 4)]);
    expect(scans(dead)[0]!.op.info.nNitSot).toBe(0);
    expect(scans(alive)[0]!.op.info.nNitSot).toBe(1);
    const [d] = theano.scan({ fn: (p: TV) => [p.mul(2), theano.scanUntil(p.mul(2).gt(50))], outputsInfo: T.constant(1, { dtype: "float64" }), nSteps: 100 });
    const [w] = sameWithout(linker, "scan_save_mem", [], one(d).get(-1), []);
    expect(scans(w)[0]!.op.info.keep).toEqual([2]);
    expectClose(call(w)[0]!, 64);
  });
});

describe.each(LINKERS)("scan_merge on the %s linker", (linker) => {
  it("two loops over the same sequence become one; a loop reading another's result does not merge", () => {
    const x = T.dmatrix("x");
    const c = T.dvector("c");
    const [m1] = theano.map((r: TV) => r.mul(2).sum(), x);
    const [m2] = theano.scan({ fn: (r: TV, acc: TV, cc: TV) => acc.add(r.mul(cc)), sequences: x, outputsInfo: T.zerosLike(c), nonSequences: c });
    const [on, off] = sameWithout(linker, "scan_merge", [x, c], [one(m1), one(m2)], [rand([6, 3], 5), rand([3], 6)]);
    expect(scans(on)).toHaveLength(1);
    expect(scans(off)).toHaveLength(2);
    const [m3] = theano.map((v: TV) => v.mul(3), one(m1));
    const [dep] = sameWithout(linker, "scan_merge", [x], one(m3), [rand([6, 3], 5)]);
    expect(scans(dep)).toHaveLength(2);
  });
});

describe("the inner graph gets the outer mode's pipeline", () => {
  it("Gemm and fusion inside the loop; none with optimizer=None", () => {
    const H = one(theano.scan({ fn: (x: TV, h: TV) => T.tanh(T.dot(h, U).add(x)).mul(2), sequences: T.dtensor3("Xs"), outputsInfo: h0 })[0]);
    const Xs = ancestors([H]).find((v) => v.name === "Xs")!;
    const f = compile([Xs, h0, U], H, new theano.Mode("js", "fast_run"));
    const node = scans(f)[0]!;
    const innerOps = [...node.op.inner.fn(node).fgraph.nodes].map((n) => n.op);
    expect(innerOps.some((op) => op instanceof Gemm)).toBe(true);
    expect(innerOps.some((op) => op instanceof Elemwise && op.scalarOp instanceof Composite)).toBe(true);
    const g = compile([Xs, h0, U], H, new theano.Mode("js", "None"));
    const n0 = scans(g)[0]!;
    expect([...n0.op.inner.fn(n0).fgraph.nodes].some((n) => n.op instanceof Gemm)).toBe(false);
  });
});

describe.each(LINKERS)("ifelse_lift_common on the %s linker", (linker) => {
  const branchNodes = (f: TF): Array<{ then: Apply[]; else: Apply[] }> =>
    [...f.fgraph.nodes]
      .filter((n) => n.op instanceof IfElse)
      .map((n) => {
        const op = n.op as IfElse;
        return { then: toposort(op.then.outputs, new Set(op.then.inputs)), else: toposort(op.else.outputs, new Set(op.else.inputs)) };
      });
  const exps = (ns: Apply[]): number => ns.filter((n) => n.op instanceof Elemwise && n.op.scalarOp.name === "exp").length;

  it("computation both branches do runs once before the branch; what one branch alone does stays lazy", () => {
    const c = T.dscalar("c");
    const x = T.dvector("x");
    const i = T.lscalar("i");
    const z = theano.ifelse(c, T.exp(x.mul(2)).sum().add(x.get(i)), T.exp(x.mul(2)).mean()) as TV;
    const [on, off] = sameWithout(linker, "ifelse_lift_common", [c, x, i], z, [1, [0.1, 0.2, 0.3], 1]);
    const [b] = branchNodes(on);
    expect(exps(b!.then) + exps(b!.else)).toBe(0);
    expect([...on.fgraph.nodes].some((n) => n.op instanceof Elemwise && /exp/.test(String(n.op)))).toBe(true);
    const [b0] = branchNodes(off);
    expect(exps(b0!.then)).toBe(1);
    expect(exps(b0!.else)).toBe(1);
    expectClose(call(on, 0, [0.1, 0.2, 0.3], 10)[0]!, call(off, 0, [0.1, 0.2, 0.3], 10)[0]!); // the then branch's index 10 never runs
    expect(() => call(on, 1, [0.1, 0.2, 0.3], 10)).toThrow(theano.ShapeError);
    // Gradients through the rewritten IfElse (the gradient is two more IfElses): with and without, and finite differences.
    const g = theano.grad(z, x);
    sameWithout(linker, "ifelse_lift_common", [c, x, i], g, [0, [0.1, 0.2, 0.3], 1]);
    const lossOf = (cv: number): [TF, TF] => {
      const cc = T.constant(cv, { dtype: "float64" });
      const zz = theano.ifelse(cc, T.exp(x.mul(2)).sum().add(x.get(1)), T.exp(x.mul(2)).mean()) as TV;
      return [compile([x], zz, new theano.Mode(linker, "fast_run")), compile([x], theano.grad(zz, x), new theano.Mode(linker, "fast_run"))];
    };
    for (const cv of [0, 1]) {
      const [lf, gf] = lossOf(cv);
      expectGradMatchesFD(lf, gf, [rand([3], 7)], 9);
    }
  });
});

describe.each(LINKERS)("scan residuals and scan_subsume on the %s linker", (linker) => {
  it("an LSTM's gradient reads the gates the forward scan kept: one forward loop, no second forward pass, gradients as without the rewrite and as finite differences", () => {
    const B = 2;
    const Hd = 3;
    const X = T.dtensor3("X");
    const h0 = T.dmatrix("h0");
    const c0 = T.dmatrix("c0");
    const Wx = T.dmatrix("Wx");
    const Wh = T.dmatrix("Wh");
    const step = (x: TV, h: TV, c: TV): TV[] => {
      const z = T.dot(x, Wx).add(T.dot(h, Wh));
      const gate = (k: number): TV => z.get(":", `${k * Hd}:${(k + 1) * Hd}`);
      const cn = T.sigmoid(gate(1)).mul(c).add(T.sigmoid(gate(0)).mul(T.tanh(gate(2))));
      return [T.sigmoid(gate(3)).mul(T.tanh(cn)), cn];
    };
    const [out] = theano.scan({ fn: step, sequences: [X], outputsInfo: [h0, c0], name: "lstm" });
    const [hs, cs] = many(out);
    const loss = hs!.mul(hs!).sum().add(cs!.get(-1).sum());
    const gs = theano.grad(loss, [X, h0, c0, Wx, Wh]); // in the inputs' order, for the finite differences
    const args = [rand([4, B, 2], 31, 0.8), rand([B, Hd], 32, 0.5), rand([B, Hd], 33, 0.5), rand([2, 4 * Hd], 34, 0.6), rand([Hd, 4 * Hd], 35, 0.6)];
    const [on, off] = sameWithout(linker, "scan_subsume", [X, h0, c0, Wx, Wh], gs, args);
    // The gradient built the forward scan again with the gates as map-like outputs; the rewrite
    // keeps that one loop (without it, both run).
    const fwd = (f: TF): Array<Apply<Scan>> => scans(f).filter((n) => !n.op.info.name.startsWith("grad_of"));
    expect(fwd(on).length).toBe(1);
    expect(fwd(on)[0]!.op.info.nNitSot).toBeGreaterThan(0);
    expect(fwd(off).length).toBe(2);
    // No second forward pass: outside the loops, the only products are x_t·Wx (pushed out of the
    // forward scan) and the two weight gradients (recomputing the gates would add x_t·Wx on the
    // reversed sequence and h_{t-1}·Wh over all steps); the backward body's products are δ·Whᵀ
    // (the state's gradient) and δ·Wxᵀ (the inputs').
    const grad = scans(on).find((n) => n.op.info.name.startsWith("grad_of"))!;
    expect(outside(on, Dot)).toBe(1);
    expect(outside(on, Gemm)).toBe(2);
    expect(inside(grad, Dot) + inside(grad, Gemm)).toBe(2);
    expect(insideElemwise(grad, "sigmoid") + insideElemwise(grad, "tanh")).toBeLessThanOrEqual(3);
    const f = compile([X, h0, c0, Wx, Wh], loss, new theano.Mode(linker, "fast_run"));
    expectGradMatchesFD(f, on, args, 41);
  });
});
