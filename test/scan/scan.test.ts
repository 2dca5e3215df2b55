/**
 * `theano.scan` and its relatives (issue 14, API.md §8) on the py, js and c linkers (c where a
 * compiler is found): the semantics Theano users rely on (taps, goBackwards, while loops,
 * shared-variable updates, nesting, 0 steps), backpropagation through time against the unrolled
 * graph and finite differences, and each bad input's documented error.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { findCompiler } from "../../src/link/c/compiler.js";
import { cBuildCount } from "../../src/link/c/linker.js";
import { expectClose } from "../helpers.js";

const { T } = theano;
type TV = theano.TensorVariable;
type NDArray = theano.NDArray;

const LINKERS = (["py", "js", "c"] as const).filter((l) => l !== "c" || findCompiler() !== null);
const modeFor = (l: (typeof LINKERS)[number]): theano.Mode => new theano.Mode(l, l === "py" ? "None" : "fast_run");
const one = (o: TV | TV[]): TV => o as TV;
const many = (o: TV | TV[]): TV[] => o as TV[];

describe.each(LINKERS)("issue 14.1: scan on the %s linker", (linker) => {
  const mode = modeFor(linker);
  const fn = (ins: TV[], outs: TV | TV[], opts: Omit<theano.FunctionOptions, "mode"> = {}) => theano.function(ins, outs, { ...opts, mode }) as unknown as (...a: unknown[]) => NDArray & NDArray[];

  it("A^k by repeated multiplication", () => {
    const A = T.dmatrix("A");
    const k = T.lscalar("k");
    const [res, upd] = theano.scan({ fn: (p: TV, a: TV) => p.dot(a), outputsInfo: T.identityLike(A), nonSequences: A, nSteps: k, name: "power" });
    expect(upd).toEqual([]);
    const f = fn([A, k], one(res).get(-1));
    expectClose(f([[1, 1], [0, 1]], 5), [[1, 5], [0, 1]]);
    expectClose(f([[2, 0], [0, 3]], 3), [[8, 0], [0, 27]]);
    expect(String(one(res).owner!.inputs[0]!.owner!.op)).toMatch(/^Scan\{power/);
  });

  it("Fibonacci with taps [-2, -1] from [0, 1] for 10 steps", () => {
    const init = T.lvector("init");
    const [fib] = theano.scan({ fn: (a: TV, b: TV) => a.add(b), outputsInfo: [{ initial: init, taps: [-2, -1] }], nSteps: 10 });
    expect(fn([init], one(fib))([0, 1]).toArray()).toEqual([1, 2, 3, 5, 8, 13, 21, 34, 55, 89]);
  });

  it("sequence taps [-1, 0, 1] (steps = length minus the tap span)", () => {
    const x = T.dvector("x");
    const [y] = theano.scan({ fn: (a: TV, b: TV, c: TV) => a.add(b.mul(10)).add(c.mul(100)), sequences: [{ input: x, taps: [-1, 0, 1] }] });
    expectClose(fn([x], one(y))([1, 2, 3, 4, 5]), [321, 432, 543]);
  });

  it("goBackwards reads the sequences from the end", () => {
    const x = T.dvector("x");
    const [y] = theano.scan({ fn: (a: TV, acc: TV) => acc.mul(10).add(a), sequences: x, outputsInfo: T.constant(0, { dtype: "float64" }), goBackwards: true });
    expectClose(fn([x], one(y))([1, 2, 3]), [3, 32, 321]);
    const [z] = theano.scan({ fn: (a: TV, b: TV) => a.sub(b), sequences: [{ input: x, taps: [-1, 0] }], goBackwards: true });
    expectClose(fn([x], one(z))([1, 2, 4, 8]), [-4, -2, -1]); // x[t-1] - x[t], from the last t to the first
  });

  it("scanUntil: doubling from 1 while <= 50 gives [2, 4, 8, 16, 32, 64]", () => {
    const [d] = theano.scan({ fn: (p: TV) => [p.mul(2), theano.scanUntil(p.mul(2).gt(50))], outputsInfo: T.constant(1, { dtype: "float64" }), nSteps: 100 });
    expectClose(fn([], one(d))(), [2, 4, 8, 16, 32, 64]);
  });

  it("map, reduce, foldl and foldr", () => {
    const x = T.dvector("x");
    const m = T.dmatrix("m");
    const [sq, u1] = theano.map((a: TV) => a.mul(a), x);
    expect(u1).toEqual([]);
    expectClose(fn([x], one(sq))([1, 2, 3]), [1, 4, 9]);
    const [rows] = theano.map((r: TV, s: TV) => r.sum().mul(s), m, [T.constant(2, { dtype: "float64" })]);
    expectClose(fn([m], one(rows))([[1, 2], [3, 4]]), [6, 14]);
    const zero = T.constant(0, { dtype: "float64" });
    const [total] = theano.reduce((a: TV, acc: TV) => acc.add(a), x, zero);
    expectClose(fn([x], one(total))([1, 2, 3, 4]), 10);
    const [l] = theano.foldl((a: TV, acc: TV) => acc.mul(10).add(a), x, zero);
    const [r] = theano.foldr((a: TV, acc: TV) => acc.mul(10).add(a), x, zero);
    expectClose(fn([x], one(l))([1, 2, 3]), 123);
    expectClose(fn([x], one(r))([1, 2, 3]), 321);
  });

  it("several outputs come back as an array, in outputsInfo order (states and map-like mixed)", () => {
    const x = T.dvector("x");
    const [outs] = theano.scan({ fn: (a: TV, s: TV) => [a.mul(2), s.add(a)], sequences: x, outputsInfo: [null, T.constant(0, { dtype: "float64" })] });
    const [doubled, cum] = many(outs);
    const [d, c] = fn([x], [doubled!, cum!])([1, 2, 3]);
    expectClose(d!, [2, 4, 6]);
    expectClose(c!, [1, 3, 6]);
  });

  it("nested scan (a scan inside fn)", () => {
    const m = T.dmatrix("m");
    const [rowCum] = theano.scan({
      fn: (r: TV) => one(theano.scan({ fn: (a: TV, acc: TV) => acc.add(a), sequences: r, outputsInfo: T.constant(0, { dtype: "float64" }) })[0]),
      sequences: m,
    });
    expectClose(fn([m], one(rowCum))([[1, 2, 3], [4, 5, 6]]), [[1, 3, 6], [4, 9, 15]]);
  });

  it("0 steps gives outputs of length 0", () => {
    const x = T.dmatrix("x");
    const [y] = theano.map((r: TV) => r.mul(2), x);
    const out = fn([x], one(y))(theano.zeros([0, 3], "float64"));
    expect([...out.shape]).toEqual([0, 3]);
  });

  it("0 steps of a state: an empty history of the state's row shape", () => {
    const h0 = T.dvector("h0");
    const n = T.lscalar("n");
    const [s] = theano.scan({ fn: (p: TV) => p.add(1), outputsInfo: h0, nSteps: n });
    const out = fn([h0, n], one(s))([1, 2], 0);
    expect([...out.shape]).toEqual([0, 2]);
    expectClose(fn([h0, n], one(s))([1, 2], 2), [[2, 3], [3, 4]]);
  });

  it("shared variables used and updated inside fn (found automatically; updates applied once per step)", () => {
    const w = theano.shared(theano.array([2], "float64"), { name: "w" });
    const count = theano.shared(theano.array(0, "float64"), { name: "count" });
    const x = T.dvector("x");
    const [y, updates] = theano.scan({ fn: (a: TV) => [a.mul(w.get(0) as TV), [[count, count.add(1)]]], sequences: x });
    expect(updates.length).toBe(1);
    expect(updates[0]![0]).toBe(count);
    const f = fn([x], one(y), { updates });
    expectClose(f([1, 2, 3]), [2, 4, 6]);
    expectClose(count.getValue(), 3);
    f([1]);
    expectClose(count.getValue(), 4);
    // the body sees the updated value at every step
    const acc = theano.shared(theano.array(0, "float64"), { name: "acc" });
    const [seen, upd2] = theano.scan({ fn: (a: TV) => [acc.add(a), [[acc, acc.add(a)]]], sequences: x });
    expectClose(fn([x], one(seen), { updates: upd2 })([1, 2, 3]), [1, 3, 6]);
    expectClose(acc.getValue(), 6);
  });

  it("outer variables used inside fn become inputs (unless strict); their gradient flows", () => {
    const x = T.dvector("x");
    const k = T.dscalar("k");
    const [y] = theano.scan({ fn: (a: TV) => a.mul(k), sequences: x });
    expectClose(fn([x, k], one(y))([1, 2, 3], 2), [2, 4, 6]);
    expectClose(fn([x, k], theano.grad(one(y).sum(), k))([1, 2, 3], 2), 6);
    expect(() => theano.scan({ fn: (a: TV) => a.mul(k), sequences: x, strict: true, name: "st" })).toThrow(/scan 'st': strict is set but fn uses k/);
  });

  it("nSteps symbolic and smaller than the sequence", () => {
    const x = T.dvector("x");
    const n = T.lscalar("n");
    const [y] = theano.scan({ fn: (a: TV) => a.mul(3), sequences: x, nSteps: n });
    expectClose(fn([x, n], one(y))([1, 2, 3, 4], 2), [3, 6]);
  });
});

describe.each(LINKERS)("issue 14.2: scan gradients on the %s linker", (linker) => {
  const mode = modeFor(linker);
  const X = T.dmatrix("X");
  const W = T.dmatrix("W");
  const U = T.dmatrix("U");
  const h0 = T.dvector("h0");
  const x = [[0.1, 0.2], [0.3, -0.1], [0.5, 0.4], [-0.2, 0.7]];
  const w = [[0.2, -0.3], [0.4, 0.1]];
  const u = [[0.5, 0.1], [-0.2, 0.3]];
  const h = [0.1, -0.2];
  const rnn = (Xv: TV, Wv: TV, Uv: TV, hv: TV, opts: { truncateGradient?: number } = {}): TV =>
    one(theano.scan({ fn: (xt: TV, ht: TV, Wi: TV, Ui: TV) => T.tanh(xt.dot(Ui).add(ht.dot(Wi))), sequences: Xv, outputsInfo: hv, nonSequences: [Wv, Uv], ...opts })[0]);
  const lossOf = (H: TV): TV => H.mul(H).sum().add(H.get(-1).sum());

  it("a tanh RNN's loss w.r.t. W, the inputs, U and h0 equals the unrolled graph's gradient", () => {
    const gs = theano.grad(lossOf(rnn(X, W, U, h0)), [W, X, h0, U]);
    let hh: TV = h0;
    const hs: TV[] = [];
    for (let t = 0; t < x.length; t++) {
      hh = T.tanh(X.get(t).dot(U).add(hh.dot(W)));
      hs.push(hh);
    }
    const gsU = theano.grad(lossOf(T.stack(hs)), [W, X, h0, U]);
    const a = theano.function([X, W, U, h0], gs, { mode })(x, w, u, h);
    const b = theano.function([X, W, U, h0], gsU, { mode })(x, w, u, h);
    a.forEach((g, i) => expectClose(g, b[i]!, { rtol: 1e-10, atol: 1e-12 }));
  });

  it("matches verifyGrad (finite differences)", () => {
    theano.gradient.verifyGrad((Xv, Wv, Uv, hv) => lossOf(rnn(Xv!, Wv!, Uv!, hv!)), [theano.array(x), theano.array(w), theano.array(u), theano.array(h)], { seed: 3 });
  });

  it("states with taps [-2, -1] and sequence taps [-1, 0]: verifyGrad", () => {
    theano.gradient.verifyGrad(
      (s, init, c) => {
        const [y] = theano.scan({
          fn: (xm: TV, x0: TV, a: TV, b: TV, cc: TV) => T.tanh(a.mul(cc).add(b.mul(0.5)).add(xm.mul(x0))),
          sequences: [{ input: s!, taps: [-1, 0] }],
          outputsInfo: [{ initial: init!, taps: [-2, -1] }],
          nonSequences: c!,
        });
        return one(y).sum();
      },
      [theano.array([0.3, -0.2, 0.5, 0.1, 0.7]), theano.array([0.2, -0.4]), theano.array(0.8)],
      { seed: 5 },
    );
  });

  it("a Hessian-vector product through scan equals finite differences of the gradient", () => {
    const v = T.dmatrix("v");
    const g = theano.grad(lossOf(rnn(X, W, U, h0)), W);
    const hv = theano.function([X, W, U, h0, v], theano.grad(g.mul(v).sum(), W), { mode });
    const fg = theano.function([X, W, U, h0], g, { mode });
    const vv = [[1, 0.5], [-0.3, 0.2]];
    const eps = 1e-6;
    const shift = (s: number) => w.map((r, i) => r.map((e, j) => e + s * eps * vv[i]![j]!));
    const a = Array.from(fg(x, shift(1), u, h).toFlat() as Float64Array);
    const b = Array.from(fg(x, shift(-1), u, h).toFlat() as Float64Array);
    const fd = theano.array(a.map((p, k) => (p - b[k]!) / (2 * eps))).reshape([2, 2]);
    expectClose(hv(x, w, u, h, vv), fd, { rtol: 1e-6, atol: 1e-8 });
  });

  it("Rop through scan equals finite differences", () => {
    const v = T.dmatrix("v");
    const H = rnn(X, W, U, h0);
    const r = theano.function([X, W, U, h0, v], theano.gradient.Rop(H, W, v), { mode });
    const f = theano.function([X, W, U, h0], H, { mode });
    const vv = [[1, 0.5], [-0.3, 0.2]];
    const eps = 1e-6;
    const shift = (s: number) => w.map((row, i) => row.map((e, j) => e + s * eps * vv[i]![j]!));
    const a = Array.from(f(x, shift(1), u, h).toFlat() as Float64Array);
    const b = Array.from(f(x, shift(-1), u, h).toFlat() as Float64Array);
    expectClose(r(x, w, u, h, vv), theano.array(a.map((p, k) => (p - b[k]!) / (2 * eps))).reshape([x.length, 2]), { rtol: 1e-6, atol: 1e-8 });
  });

  it("gradients of a loop of 0 steps: zeros for W, an empty one for X, the external one for h0", () => {
    const gs = theano.grad(rnn(X, W, U, h0).sum().add(h0.sum()), [W, X, h0]);
    const [gw, gx, gh] = theano.function([X, W, U, h0], gs, { mode })(theano.zeros([0, 2], "float64"), w, u, h);
    expectClose(gw!, [[0, 0], [0, 0]]);
    expect([...gx!.shape]).toEqual([0, 2]);
    expectClose(gh!, [1, 1]);
    const e = T.dvector("e");
    const [last] = theano.reduce((a: TV, acc: TV) => acc.add(a), e, T.constant(7, { dtype: "float64" }));
    expectClose(theano.function([e], one(last), { mode })([]), 7); // a fold of nothing is its start
  });

  it("goBackwards with sequence taps, nSteps shorter than the sequence, integer sequences, nested scans", () => {
    theano.gradient.verifyGrad(
      (xs, wv) => {
        const [y] = theano.scan({
          fn: (a: TV, b: TV, hh: TV, Wi: TV) => T.tanh(a.mul(b).add(hh.dot(Wi))),
          sequences: [{ input: xs!, taps: [-1, 1] }],
          outputsInfo: T.zeros([2], "float64"),
          nonSequences: wv!,
          goBackwards: true,
        });
        return one(y).mul(one(y)).sum();
      },
      [theano.array([[0.1, 0.3], [0.2, -0.5], [0.7, 0.1], [0.3, 0.3]]), theano.array([[0.2, 0.1], [-0.3, 0.5]])],
      { seed: 2 },
    );
    const n = T.lscalar("n");
    const [H2] = theano.scan({ fn: (xt: TV, ht: TV) => xt.mul(ht), sequences: X, outputsInfo: h0, nSteps: n });
    expectClose(theano.function([X, h0, n], theano.grad(one(H2).sum(), X), { mode })([[1, 2], [3, 4], [5, 6]], [1, 1], 2), [[4, 5], [1, 2], [0, 0]]);
    const iv = T.lvector("iv");
    const xv = T.dvector("xv");
    const [m] = theano.scan({ fn: (i: TV, xx: TV, acc: TV) => acc.add(xx.mul(i)), sequences: [iv, xv], outputsInfo: T.constant(0, { dtype: "float64" }) });
    expectClose(theano.function([iv, xv], theano.grad(one(m).sum(), xv), { mode })([1, 2, 3], [1, 1, 1]), [3, 4, 3]);
    const M = T.dmatrix("M");
    const [nest] = theano.scan({ fn: (r: TV) => one(theano.reduce((a: TV, acc: TV) => acc.add(a.mul(a)), r, T.constant(0, { dtype: "float64" }))[0]), sequences: M });
    expectClose(theano.function([M], theano.grad(one(nest).sum(), M), { mode })([[1, 2], [3, 4]]), [[2, 4], [6, 8]]);
  });

  it("the gradient flows through shared-variable updates inside fn", () => {
    const s = T.dscalar("s");
    const k = T.dscalar("k");
    const acc = theano.shared(theano.array(0, "float64"), { name: "acc" });
    const [d, updates] = theano.scan({ fn: (p: TV) => [p.mul(2), [[acc, acc.add(p.mul(k))]]], outputsInfo: s, nSteps: 3 });
    const final = updates[0]![1]; // acc after 3 steps: s·k + 2s·k + 4s·k
    const [gs, gk] = theano.function([s, k], theano.grad(final.add(one(d).sum()), [s, k]), { mode })(1.5, 2);
    expectClose(gs!, 7 * 2 + (2 + 4 + 8));
    expectClose(gk!, 7 * 1.5);
    expectClose(acc.getValue(), 0); // no update applied: not passed to theano.function
  });

  it("a while loop is differentiated over the steps it took", () => {
    const s = T.dscalar("s");
    const k = T.dscalar("k");
    const [d] = theano.scan({ fn: (p: TV, kk: TV) => [p.mul(kk), theano.scanUntil(p.mul(kk).gt(50))], outputsInfo: s, nonSequences: k, nSteps: 100 });
    const [gs, gk] = theano.function([s, k], theano.grad(one(d).sum(), [s, k]), { mode })(1, 2);
    // outputs 2, 4, ..., 64 = s·k^t for t = 1..6
    expectClose(gs!, 2 + 4 + 8 + 16 + 32 + 64);
    expectClose(gk!, [1, 2, 3, 4, 5, 6].reduce((a, t) => a + t * 2 ** (t - 1), 0));
  });

  it("truncateGradient = k backpropagates through the last k steps only", () => {
    const H = rnn(X, W, U, h0, { truncateGradient: 2 });
    const loss = H.get(-1).sum();
    const [gX, gh] = theano.grad(loss, [X, h0]);
    const [vx, vh] = theano.function([X, W, U, h0], [gX!, gh!], { mode })(x, w, u, h);
    const full = theano.grad(rnn(X, W, U, h0).get(-1).sum(), X);
    const vf = theano.function([X, W, U, h0], full, { mode })(x, w, u, h);
    expectClose(vx!.slice([0, 2]), [[0, 0], [0, 0]]);
    expectClose(vx!.slice([2, 4]), vf.slice([2, 4]));
    expectClose(vh!, [0, 0]);
  });
});

describe("issue 14 (bad input): each a documented error naming the scan and the argument", () => {
  const x = T.dvector("x");
  const id = (a: TV): TV => a;
  it("initial values that taps reach before the start of", () => {
    expect(() => theano.scan({ fn: (a: TV, b: TV) => a.add(b), outputsInfo: [{ initial: T.constant([1], { dtype: "float64" }), taps: [-2, -1] }], nSteps: 3, name: "fib" })).toThrow(theano.ShapeError);
    expect(() => theano.scan({ fn: (a: TV, b: TV) => a.add(b), outputsInfo: [{ initial: T.constant([1], { dtype: "float64" }), taps: [-2, -1] }], nSteps: 3, name: "fib" })).toThrow(/scan 'fib'.*outputsInfo\[0\].*2 steps before the start/);
    const init = T.dvector("init");
    const [y] = theano.scan({ fn: (a: TV, b: TV) => a.add(b), outputsInfo: [{ initial: init, taps: [-3, -1] }], nSteps: 3, name: "tri" });
    const f = theano.function([init], one(y), { mode: modeFor("py") });
    expect(() => f([1, 2])).toThrow(/scan 'tri'.*rows/);
    expect(() => theano.scan({ fn: id, sequences: [{ input: T.constant([1, 2], { dtype: "float64" }), taps: [-2, 0] }], name: "short" })).toThrow(/scan 'short': sequence 0.*no step/);
    expect(() => theano.scan({ fn: id, outputsInfo: [{ initial: x, taps: [0] }], nSteps: 2 })).toThrow(theano.InputError);
  });

  it("nSteps negative or larger than a sequence", () => {
    expect(() => theano.scan({ fn: id, sequences: x, nSteps: -1, name: "neg" })).toThrow(/scan 'neg': nSteps is -1/);
    expect(() => theano.scan({ fn: id, sequences: T.constant([1, 2, 3], { dtype: "float64" }), nSteps: 5, name: "long" })).toThrow(theano.ShapeError);
    const n = T.lscalar("n");
    const [y] = theano.scan({ fn: id, sequences: x, nSteps: n, name: "sym" });
    for (const l of LINKERS) {
      const f = theano.function([x, n], one(y), { mode: modeFor(l) });
      expect(() => f([1, 2, 3], 5)).toThrow(theano.ShapeError);
      expect(() => f([1, 2, 3], 5)).toThrow(/scan 'sym': nSteps \(5\) is larger than sequence 0 \(x\)/);
      expect(() => f([1, 2, 3], -2)).toThrow(/scan 'sym': nSteps is -2/);
    }
  });

  it("outputsInfo of the wrong rank or dtype: TypeMismatchError naming the output, both types and T.cast", () => {
    expect(() => theano.scan({ fn: (a: TV) => a.sum(), sequences: T.dmatrix("m"), outputsInfo: x, name: "rank" })).toThrow(theano.TypeMismatchError);
    expect(() => theano.scan({ fn: (_a: TV, h: TV) => h.dot(T.dmatrix("W")).sum(), sequences: x, outputsInfo: x, name: "rank" })).toThrow(/scan 'rank': output 0 of fn has type .* but outputsInfo\[0\].*T\.cast/);
    expect(() => theano.scan({ fn: (h: TV) => h.mul(0.5), outputsInfo: T.lscalar("k"), nSteps: 3, name: "dt" })).toThrow(/output 0 .*float64.*int64/);
  });

  it("fn returning the wrong number of outputs", () => {
    expect(() => theano.scan({ fn: (a: TV) => [a, a], outputsInfo: T.dscalar("s"), nSteps: 2, name: "count" })).toThrow(/scan 'count': fn returned 2 outputs but outputsInfo has 1 entry/);
  });

  it("a non-scalar until condition", () => {
    expect(() => theano.scan({ fn: (a: TV) => [a.mul(2), theano.scanUntil(a.gt(1))], outputsInfo: x, nSteps: 3, name: "wh" })).toThrow(/scan 'wh': the until condition must be a scalar/);
  });

  it("a state whose shape changes between steps; repeated taps", () => {
    const h = T.dvector("h");
    const [y] = theano.scan({ fn: (p: TV) => T.concatenate([p, p]), outputsInfo: h, nSteps: 2, name: "grow" });
    const f = theano.function([h], one(y), { mode: modeFor("py") });
    expect(() => f([1])).toThrow(/scan 'grow': at step 0, output 0 has shape \[2\] but its initial value's rows have shape \[1\]/);
    expect(() => theano.scan({ fn: id, sequences: [{ input: x, taps: [0, 0] }], name: "rep" })).toThrow(/scan 'rep', sequence 0: taps \[0,0\] repeat an entry/);
  });

  it("no sequences and no nSteps; unknown options", () => {
    expect(() => theano.scan({ fn: id, outputsInfo: x })).toThrow(theano.InputError);
    expect(() => theano.scan({ fn: id, sequences: x, n_steps: 3 } as never)).toThrow(/'n_steps' is spelt 'nSteps'/);
  });

});

describe("inner graphs compile with the outer function, as Theano's do", () => {
  it.skipIf(findCompiler() === null)("a scan's and an ifelse's inner C modules are built by theano.function, not by the first call", () => {
    const x = T.dvector("x");
    // A body no other test builds (a fresh module, so the count below sees it).
    const k = 1 + Math.random();
    const [ys] = theano.scan({ fn: (a: theano.TensorVariable) => T.tanh(a.mul(k)).add(k), sequences: x });
    const z = theano.ifelse(T.sum(x).gt(0), T.exp(x).mul(k), T.log1p(T.abs(x)).mul(k));
    const before = cBuildCount();
    const f = theano.function([x], [ys as theano.TensorVariable, z as theano.TensorVariable], { mode: new theano.Mode("c", "fast_run") });
    const built = cBuildCount() - before;
    expect(built).toBeGreaterThanOrEqual(3); // the scan body and both branches (and the outer module where it has C)
    f([1, 2, 3]);
    f([-1, -2, -3]);
    expect(cBuildCount() - before).toBe(built);
  });
});
