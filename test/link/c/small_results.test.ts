/**
 * issue 15.5: small results of a C segment are written into a per-export scratch buffer and
 * copied out (src/link/c/linker.ts SMALL_EXPORT_BYTES), and theano.function skips its aliasing
 * checks when every result is fresh (Thunk.freshOutputs). Neither may ever let two results, or
 * a result and the scratch, share memory: each returned array must be the caller's alone.
 */
import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";

const T = theano.tensor;
const C = new theano.Mode("c", "fast_run");
const JS = new theano.Mode("js", "fast_run");
const hasC = cCompilerStatus().ok;

const vec = (n: number, dtype: "float32" | "float64" | "int64" = "float32"): theano.NDArray =>
  theano.array(
    Array.from({ length: n }, (_, i) => i + 1),
    dtype,
  );

describe("small results and fresh outputs", () => {
  for (const [label, mode] of [["c", C], ["js", JS]] as const) {
    if (label === "c" && !hasC) continue;
    it(`${label}: results of successive calls never share memory, at and around the small size`, () => {
      for (const n of [0, 1, 15, 16, 17, 40]) {
        const x = T.fvector("x");
        const f = theano.function([x], [x.mul(2).add(1), x.sub(1)], { mode });
        const xv = vec(n);
        const [a1, b1] = f(xv) as theano.NDArray[];
        const [a2, b2] = f(xv) as theano.NDArray[];
        expect(Array.from(a1!.data as Float32Array)).toEqual(Array.from({ length: n }, (_, i) => 2 * (i + 1) + 1));
        expect(Array.from(b1!.data as Float32Array)).toEqual(Array.from({ length: n }, (_, i) => i));
        if (n === 0) continue;
        // every result is its own memory: writing one changes no other, nor the next call's
        (a1!.data as Float32Array).fill(-7);
        expect(Array.from(a2!.data as Float32Array)).toEqual(Array.from({ length: n }, (_, i) => 2 * (i + 1) + 1));
        expect(Array.from(b1!.data as Float32Array)).toEqual(Array.from({ length: n }, (_, i) => i));
        const [a3] = f(xv) as theano.NDArray[];
        expect(a3!.data[0]).toBe(3);
        expect(a1!.data.buffer).not.toBe(a2!.data.buffer);
        expect(a1!.data.buffer).not.toBe(b1!.data.buffer);
        expect(a2!.data.buffer).not.toBe(b2!.data.buffer);
      }
    });

    it(`${label}: int64 and float64 small results, and an output listed twice`, () => {
      const i = T.lvector("i");
      const d = T.dvector("d");
      const f = theano.function([i, d], [i.mul(3), d.mul(0.5), i.mul(3)], { mode });
      const [p, q, r] = f(vec(8, "int64"), vec(9, "float64")) as theano.NDArray[];
      expect(Array.from(p!.data as BigInt64Array)).toEqual([3n, 6n, 9n, 12n, 15n, 18n, 21n, 24n]);
      expect(Array.from(q!.data as Float64Array)).toEqual(Array.from({ length: 9 }, (_, k) => (k + 1) / 2));
      // the same variable twice: two arrays, not one shared
      expect(Array.from(r!.data as BigInt64Array)).toEqual(Array.from(p!.data as BigInt64Array));
      expect(r!.data.buffer).not.toBe(p!.data.buffer);
    });

    it(`${label}: an output that is an input, or a view of one, is still copied`, () => {
      const x = T.fvector("x");
      const f = theano.function([x], [x, x.dimshuffle(0, "x"), x.mul(2)], { mode });
      const xv = vec(4);
      const [same, view, twice] = f(xv) as theano.NDArray[];
      expect(same!.data.buffer).not.toBe(xv.data.buffer);
      expect(view!.data.buffer).not.toBe(xv.data.buffer);
      (same!.data as Float32Array).fill(0);
      (view!.data as Float32Array).fill(0);
      expect(Array.from(xv.data as Float32Array)).toEqual([1, 2, 3, 4]);
      expect(Array.from(twice!.data as Float32Array)).toEqual([2, 4, 6, 8]);
    });

    it(`${label}: updates of small shared variables commit once per call, each its own memory`, () => {
      const w = theano.shared(vec(3), { name: "w" });
      const v = theano.shared(vec(3), { name: "v" });
      const x = T.fvector("x");
      const f = theano.function([x], w.add(x), { mode, updates: [[w, w.mul(2)], [v, w.add(1)]] });
      const out = f(vec(3)) as theano.NDArray;
      expect(Array.from(out.data as Float32Array)).toEqual([2, 4, 6]);
      expect(Array.from(w.getValue().data as Float32Array)).toEqual([2, 4, 6]);
      expect(Array.from(v.getValue().data as Float32Array)).toEqual([2, 3, 4]);
      expect(w.getValue().data.buffer).not.toBe(v.getValue().data.buffer);
      expect(out.data.buffer).not.toBe(w.getValue().data.buffer);
      f(vec(3));
      expect(Array.from(w.getValue().data as Float32Array)).toEqual([4, 8, 12]);
      expect(Array.from(v.getValue().data as Float32Array)).toEqual([3, 5, 7]);
    });
  }
});
