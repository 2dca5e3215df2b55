/**
 * Big graphs on the C backend: compile time must stay roughly linear in the graph and bounded.
 * (In test/slow/: the 300-step chain is a minute of gcc on a loaded 2-core machine; CI runs it.)
 * Codegen cuts every segment into chunk functions of bounded size (gcc's optimiser is
 * superlinear in one function's size), builds big modules at -O1 (C_O3_MAX_SOURCE), and
 * `linker=auto` hands a function whose C would exceed C_AUTO_MAX_SOURCE to the next backend in
 * its order (wasm, JS where there is no WebAssembly) with one warning. Times are measured by bench scripts, never asserted here; these tests check that
 * the compiles finish and the values are right.
 */

import { describe, expect, it, vi } from "vitest";
import * as theano from "../../src/index.js";
import { cCompilerStatus } from "../../src/link/c/compiler.js";
import { C_AUTO_MAX_SOURCE, C_O3_MAX_SOURCE, cSource } from "../../src/link/c/linker.js";
import { evaluate, expectClose } from "../helpers.js";

const { T } = theano;
const hasC = cCompilerStatus().ok;

/** y <- (tanh(y) + sum(y)) * 0.25, `steps` times (a contraction for 3 elements: values stay finite). */
function chain(steps: number): { x: theano.TensorVariable; y: theano.TensorVariable } {
  const x = T.dvector("x");
  let y = x;
  for (let i = 0; i < steps; i++) y = T.tanh(y).add(T.sum(y)).mul(0.25);
  return { x, y };
}

function reference(steps: number, x0: readonly number[]): number[] {
  let y = [...x0];
  for (let i = 0; i < steps; i++) {
    const s = y.reduce((a, b) => a + b, 0);
    y = y.map((v) => (Math.tanh(v) + s) * 0.25);
  }
  return y;
}

const X0 = [0.5, -1.25, 2];

describe.skipIf(!hasC)("big graphs on the C backend", () => {
  it("cuts a segment into bounded chunk functions and compiles a 300-step chain (above the -O3 size) under linker=c", () => {
    const { x, y } = chain(300);
    const f = theano.function([x], y, { mode: new theano.Mode("c", "fast_run") });
    const prog = cSource(f.fgraph);
    expect(prog.source.length).toBeGreaterThan(C_O3_MAX_SOURCE);
    // every chunk stays small: the biggest function body is a few tens of kB however big the graph
    const chunks = prog.source.match(/TH_UNIT_FN __attribute__\(\(noinline\)\) int th_seg\d+_c\d+\(/g) ?? [];
    expect(chunks.length).toBeGreaterThan(20);
    expectClose(f(X0) as theano.NDArray, theano.array(reference(300, X0)));
    // a second shape uses the same module
    expectClose(f([1, 2, 3, -4]) as theano.NDArray, theano.array(reference(300, [1, 2, 3, -4])));
  }, 120_000);

  it("cuts segments where their pointer arguments (inputs + exports) would pass what the FFI declares", () => {
    // 90 inputs and 70 outputs: no single C function can take them all
    const xs = [...Array(90).keys()].map((i) => T.dvector(`x${i}`));
    let acc = T.tanh(xs[0]!);
    const outs: theano.TensorVariable[] = [];
    for (let i = 1; i < xs.length; i++) {
      acc = acc.add(T.tanh(xs[i]!).mul(i));
      if (i % 9 === 0 || i > 80) outs.push(acc.mul(0.5));
    }
    for (let i = 0; i < 60; i++) outs.push(xs[i]!.mul(xs[i + 1]!));
    const f = theano.function(xs, outs, { mode: new theano.Mode("c", "None") });
    const prog = cSource(f.fgraph);
    expect(prog.segments.length).toBeGreaterThan(1);
    for (const seg of prog.segments) expect(seg.inputs.length + seg.exports.length).toBeLessThanOrEqual(60);
    const vals = xs.map((_x, i) => theano.array([i * 0.01, -i * 0.02, 0.5]));
    const got = f(...(vals as never[])) as theano.NDArray[];
    const want = evaluate(outs, new Map(xs.map((x, i) => [x as never, vals[i]])));
    got.forEach((g, i) => expectClose(g, want[i]!));
  });

  it("runs a 3000-step chain (6000 nodes) under linker=auto on wasm with one warning that says why", () => {
    const { x, y } = chain(3000);
    const spy = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const f = theano.function([x], y, { mode: new theano.Mode("auto", "fast_run") });
      expect(cSource(f.fgraph).source.length).toBeGreaterThan(C_AUTO_MAX_SOURCE);
      const calls = spy.mock.calls.map((c) => String(c[0])).filter((m) => /MB of C/.test(m));
      expect(calls.length).toBe(1);
      expect(calls[0]).toMatch(/runs on the wasm backend.*linker=c/);
      expectClose(f(X0) as theano.NDArray, theano.array(reference(3000, X0)));
      // the chain's nodes ran in the function's wasm module, not on the host
      const backends = new Set([...f.fgraph.nodes].map((n) => n.tag.backend));
      expect(backends.has("wasm")).toBe(true);
      expect(backends.has("c")).toBe(false);
    } finally {
      spy.mockRestore();
    }
  }, 120_000);
});
