/**
 * Intermediates on the C linker (issue 15.3): an export of a C segment that only host nodes of
 * the same call read, and a scan's histories that only the graph reads, are written again into
 * the previous call's buffers (no fresh pages, no external memory for V8 to collect). With
 * allow_gc=False (Theano's "keep intermediate storage between calls") the function holds them
 * until it is freed; with the default allow_gc=True it lets them go once it has not been called
 * for a while (`intermediateRelease.idleMs`). Nothing the caller can see is ever such a buffer: an
 * output, or what a host node may pass on into an output, gets fresh memory each call.
 */

import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { afterEach, describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { Apply, Op, type Value, type Variable } from "../../../src/graph/basic.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { intermediateRelease } from "../../../src/link/c/linker.js";
import { NDArray } from "../../../src/ndarray/ndarray.js";

const { T } = theano;
const hasC = cCompilerStatus().ok;

/** A host node (no C generator): 2·x into a fresh array; records the memory x arrived in. */
class Spy extends Op {
  seen: ArrayBufferLike[] = [];
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    const a = x as NDArray;
    this.seen.push(a.data.buffer);
    return [new NDArray(a.dtype, a.shape, Float64Array.from(a.toFlat() as Float64Array, (v) => 2 * v))];
  }
}

/** A host node that hands its input on as its output, declaring nothing (as a careless op might). */
class PassOn extends Op {
  makeNode(x: Variable): Apply {
    return new Apply(this, [x], [x.type]);
  }
  perform(_n: Apply, [x]: Value[]): Value[] {
    return [x];
  }
}

const ramp = (k: number): NDArray => theano.array(Array.from({ length: 12 }, (_, i) => Math.sin(i + k)), "float64").reshape([3, 4]);
const compile = (allowGc: boolean, ins: Variable[], outs: Variable[]) =>
  theano.config.change({ allow_gc: allowGc }, () => theano.function(ins, outs as never, { mode: new theano.Mode("c", "fast_run") }));

// A collector to call (as test/compile/free.test.ts): vitest's forks run without --expose-gc.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const IDLE_MS = intermediateRelease.idleMs;
afterEach(() => {
  intermediateRelease.idleMs = IDLE_MS;
});

describe.skipIf(!hasC)("intermediate exports keep their buffers between calls", () => {
  it("an export read only by a host node is written again in the same memory; results stay right", () => {
    for (const allowGc of [false, true]) {
      const x = T.dmatrix("x");
      const spy = new Spy();
      const y = spy.makeNode(T.exp(x)).outputs[0] as theano.TensorVariable; // exp in C, exported to the spy
      const f = compile(allowGc, [x], [T.tanh(y).sum()]);
      for (const k of [0, 1, 2]) {
        const got = (f(ramp(k)) as NDArray[])[0]!.item() as number;
        const want = (ramp(k).toFlat() as Float64Array).reduce((s, v) => s + Math.tanh(2 * Math.exp(v)), 0);
        expect(got).toBeCloseTo(want, 12);
      }
      expect(spy.seen.length).toBe(3);
      expect(new Set(spy.seen).size).toBe(1);
    }
  });

  it("allow_gc=True lets them go after the function has been idle; allow_gc=False holds them", async () => {
    intermediateRelease.idleMs = 40;
    const heldMB: number[] = [];
    for (const allowGc of [true, false]) {
      const x = T.dvector("x");
      const spy = new Spy();
      const y = spy.makeNode(T.exp(x)).outputs[0] as theano.TensorVariable; // an 8 MB export
      const f = compile(allowGc, [x], [T.sum(y)]);
      const xv = theano.zeros([1 << 20], "float64");
      f(xv);
      f(xv);
      await sleep(300);
      for (let i = 0; i < 3; i++) gc();
      heldMB.push(process.memoryUsage().arrayBuffers / 2 ** 20);
      f(xv);
      // idle: the next call took fresh memory (allow_gc=True); held: the same buffer again
      expect(new Set(spy.seen).size).toBe(allowGc ? 2 : 1);
      f.free();
    }
    // after the idle time allow_gc=True gave the 8 MB buffer back; allow_gc=False still holds it
    expect(heldMB[1]! - heldMB[0]!).toBeGreaterThan(7);
  });

  it("never a buffer the caller can see: outputs, and what a host node passes on into one", () => {
    const x = T.dmatrix("x");
    const pass = new PassOn().makeNode(T.exp(x)).outputs[0] as theano.TensorVariable; // exp exported, then returned
    const spy = new Spy();
    const viaView = spy.makeNode(T.exp(x.mul(3)).get("1:")).outputs[0] as theano.TensorVariable;
    const f = compile(false, [x], [pass, T.exp(x.add(1)), viaView]);
    const first = f(ramp(0)) as NDArray[];
    const kept = first.map((a) => Float64Array.from(a.toFlat() as Float64Array));
    const second = f(ramp(5)) as NDArray[];
    // the first call's results are untouched by the second
    first.forEach((a, i) => expect(Array.from(a.toFlat() as Float64Array)).toEqual(Array.from(kept[i]!)));
    second.forEach((a, i) => expect(a.data.buffer).not.toBe(first[i]!.data.buffer));
    const want = Array.from(ramp(5).toFlat() as Float64Array, Math.exp);
    (second[0]!.toFlat() as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
  });
});

describe.skipIf(!hasC)("a scan writes its histories into the previous call's buffers", () => {
  it("the hidden states of an RNN that only C reads come back in the same memory; values agree under both allow_gc", () => {
    const run = (allowGc: boolean): { bufs: Set<ArrayBufferLike>; hist: Set<ArrayBufferLike>; vals: number[] } => {
      const X = T.dtensor3("X");
      const h0 = T.dmatrix("h0");
      const W = T.dmatrix("W");
      const [hs] = theano.scan({ fn: (x: theano.TensorVariable, h: theano.TensorVariable) => T.tanh(x.add(T.dot(h, W))), sequences: [X], outputsInfo: [h0] });
      const spy = new Spy();
      const seen = spy.makeNode((hs as theano.TensorVariable).mul(1.5)).outputs[0] as theano.TensorVariable;
      const onHistory = new Spy(); // reads the scan's output itself
      const direct = onHistory.makeNode(hs as theano.TensorVariable).outputs[0] as theano.TensorVariable;
      const f = compile(allowGc, [X, h0, W], [T.sum(seen), (hs as theano.TensorVariable).get(-1).sum(), T.sum(direct)]);
      const vals: number[] = [];
      for (const k of [0, 1, 2]) {
        const xv = theano.array(Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.sin(i * 0.7 + k)), "float64").reshape([5, 2, 3]);
        const out = f(xv, theano.zeros([2, 3], "float64"), theano.array(Array.from({ length: 9 }, (_, i) => Math.cos(i) * 0.4), "float64").reshape([3, 3])) as NDArray[];
        vals.push(...out.map((o) => o.item() as number));
      }
      return { bufs: new Set(spy.seen), hist: new Set(onHistory.seen), vals };
    };
    const kept = run(false);
    const fresh = run(true);
    kept.vals.forEach((v, i) => expect(v).toBeCloseTo(fresh.vals[i]!, 12));
    // mul(1.5) of the history is an export of C, the history the scan's own: one buffer each
    // for the three calls
    for (const r of [kept, fresh]) {
      expect(r.bufs.size).toBe(1);
      expect(r.hist.size).toBe(1);
    }
  });
});
