/**
 * Native C backend: the fixes for the bugs the fuzzer found (test/link/fuzz.test.ts keeps one
 * regression each; these cover the neighbouring cases). Ranks above 16 (per-axis buffers sized
 * by the rank), memory that shrank after an NDArray was made (runSegment's bounds check),
 * logSoftmax's (x - m) - log(s), float -> int64 -> float giving +0, and nodes with more pointer
 * arguments than the FFI declares (packed segments). Values are compared with perform (py).
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { InputError, ShapeError } from "../../../src/errors.js";
import type { NDArray } from "../../../src/ndarray/ndarray.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import { cSource } from "../../../src/link/c/linker.js";
import { isPacked } from "../../../src/link/c/codegen.js";
import { expectClose } from "../../helpers.js";

const { T } = theano;
const HAS_C = cCompilerStatus().ok;
const C = new theano.Mode("c", "fast_run");
const PY = new theano.Mode("py", "fast_run");

/** A float64 array of `shape` with distinct values. */
function ramp(shape: number[], scale = 0.25): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return theano.array(Array.from({ length: n }, (_v, i) => ((i * 7) % 13) * scale - 1), "float64").reshape(shape);
}

describe.skipIf(!HAS_C)("c linker: any rank", () => {
  const shape20 = [...Array(20).fill(1), 2, 3];
  it("rank 22: transposed view as an output, reshape of a non-contiguous input, softmax on axes 0 and last", () => {
    const x = T.tensor({ dtype: "float64", shape: Array(shape20.length).fill(null), name: "x" });
    const outs = [x.T, x.T.reshape([-1]), T.softmax(x, 0), T.logSoftmax(x, -1), T.softmax(x.T, 2)];
    const v = ramp(shape20);
    const c = theano.function([x], outs, { mode: C })(v) as NDArray[];
    const p = theano.function([x], outs, { mode: PY })(v) as NDArray[];
    c.forEach((g, i) => expectClose(g, p[i]!));
  });

  it("rank 18 Alloc of a broadcast value runs in C", () => {
    const v = T.dvector("v");
    const n = T.lscalar("n");
    const dims = [...Array(17).fill(1), n];
    const out = T.alloc(v, ...dims);
    const fc = theano.function([v, n], out, { mode: C });
    expect(cSource(fc.fgraph).steps.every((s) => s.kind === "c")).toBe(true);
    const args = [theano.array([1.5, -2]), theano.array(2, "int64")] as const;
    expectClose(fc(...args), theano.function([v, n], out, { mode: PY })(...args));
  });
});

describe.skipIf(!HAS_C)("c linker: inputs over memory that shrank", () => {
  const x = T.dvector("x");
  const f = (): ((...a: unknown[]) => unknown) => theano.function([x], x.mul(2).sum(), { mode: C }) as (...a: unknown[]) => unknown;

  it("a detached buffer raises InputError naming the input, before any native call", () => {
    const buf = new ArrayBuffer(80);
    const a = new theano.NDArray("float64", [10], new Float64Array(buf));
    structuredClone(buf, { transfer: [buf] });
    expect(() => f()(a)).toThrow(InputError);
    // checked once for every linker where inputs are filtered (issue 13.4), naming the input
    expect(() => f()(a)).toThrow(/input 0 \('x'\).*detached/);
  });

  it("a reversed view (negative stride) over a shrunk resizable buffer raises InputError", () => {
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const buf = new Resizable(8 * 16, { maxByteLength: 8 * 64 });
    const a = new theano.NDArray("float64", [16], new Float64Array(buf)).slice([null, null, -1]);
    const g = f();
    expect(Number((g(a) as NDArray).item())).toBe(0);
    buf.resize(8 * 8);
    expect(() => g(a)).toThrow(InputError);
    buf.resize(8 * 16);
    expect(Number((g(a) as NDArray).item())).toBe(0);
  });

  it("an empty array over a detached buffer reads nothing and runs", () => {
    const buf = new ArrayBuffer(0);
    const a = new theano.NDArray("float64", [0], new Float64Array(buf));
    structuredClone(buf, { transfer: [buf] });
    expect(Number((f()(a) as NDArray).item())).toBe(0);
  });
});

describe.skipIf(!HAS_C)("c linker: logSoftmax of large logits", () => {
  for (const dtype of ["float32", "float64"] as const) {
    it(`${dtype}: contiguous and strided lanes agree with perform`, () => {
      const m = T.matrix("m", dtype);
      const v = theano.array([[1e5, 1e5 + 1, 1e5 - 3], [1e8, 1e8, 1e8], [-1e7, -1e7 + 2, 0]], dtype);
      const outs = [T.logSoftmax(m, -1), T.logSoftmax(m, 0), T.logSoftmax(m.T, -1)];
      const c = theano.function([m], outs, { mode: C })(v) as NDArray[];
      const p = theano.function([m], outs, { mode: PY })(v) as NDArray[];
      c.forEach((g, i) => expectClose(g, p[i]!));
    });
  }
});

describe.skipIf(!HAS_C)("c linker: float -> integer -> float conversions", () => {
  const vals = [-0.5, -0.953125, -0, 0.75, -3.7, 2.5, 1e30, -1e30, NaN, -Infinity, 9.3e18, -9.3e18];
  for (const dt of ["int64", "uint64", "int32", "int16", "int8", "uint8"] as const) {
    for (const to of ["float64", "float32"] as const) {
      it(`cast(cast(x, ${dt}), ${to}) is bit-identical to perform (+0, never -0)`, () => {
        const x = T.dvector("x");
        const out = T.cast(T.cast(x, dt), to);
        const v = theano.array(vals);
        const c = theano.function([x], out, { mode: C })(v).toFlat();
        const p = theano.function([x], out, { mode: PY })(v).toFlat();
        for (let i = 0; i < vals.length; i++) expect(Object.is(c[i], p[i]), `x = ${vals[i]}: C ${c[i]}, perform ${p[i]}`).toBe(true);
      });
    }
  }
});

describe.skipIf(!HAS_C)("c linker: nodes with more pointers than the FFI declares", () => {
  it("a fused add of 70 inputs and a 65-way join of matrices run in C (packed) and agree with perform", () => {
    const xs = Array.from({ length: 70 }, (_v, i) => T.dvector(`x${i}`));
    const ms = Array.from({ length: 65 }, (_v, i) => T.dmatrix(`m${i}`));
    const outs = [xs.reduce((s, v) => s.add(v)), T.concatenate(ms, 1)];
    const fc = theano.function([...xs, ...ms], outs, { mode: C });
    const prog = cSource(fc.fgraph);
    expect(prog.steps.every((s) => s.kind === "c")).toBe(true);
    expect(prog.segments.some(isPacked)).toBe(true);
    const vals = [...xs.map((_x, i) => theano.array([i, -i, 0.5 * i])), ...ms.map((_m, i) => ramp([2, 1 + (i % 3)], i))];
    const c = fc(...vals) as NDArray[];
    const p = theano.function([...xs, ...ms], outs, { mode: PY })(...vals) as NDArray[];
    c.forEach((g, i) => expectClose(g, p[i]!));
  });

  it("shape errors of a wide join and a wide elementwise node name the offending input", () => {
    const ms = Array.from({ length: 62 }, (_v, i) => T.dmatrix(`m${i}`));
    const j = theano.function(ms, T.concatenate(ms, 0), { mode: C });
    const good = ms.map(() => ramp([1, 3]));
    expect(() => j(...good.map((g, i) => (i === 40 ? ramp([1, 2]) : g)))).toThrow(/dimension 1 input 0 has size 3 and input 40 has size 2/);
    const e = theano.function(ms, ms.reduce((s, v) => s.add(v)), { mode: C });
    expect(() => e(...good.map((g, i) => (i === 50 ? ramp([1, 2]) : g)))).toThrow(ShapeError);
    expectClose(e(...good), theano.function(ms, ms.reduce((s, v) => s.add(v)), { mode: PY })(...good));
  });
});
