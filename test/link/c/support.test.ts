/**
 * Accuracy of the C support header's math (src/link/c/support.ts): each vectorisable function
 * runs in a compiled loop over edge values (±0, ±Inf, NaN, subnormals, overflow/underflow
 * thresholds) and ~100k points spread over every exponent, and is compared with the float64
 * reference (Math.* or src/scalar/math.ts) rounded to the result's precision. Documented bound:
 * float32 within 3 ulp; float64 within 2 ulp; NaN, ±Inf and ±0 exactly as C99.
 */

import { beforeAll, describe, expect, it } from "vitest";
import { loadModule } from "../../../src/link/cache.js";
import { cCompilerStatus } from "../../../src/link/c/compiler.js";
import type { NativeFunction } from "../../../src/link/c/ffi.js";
import { SUPPORT_HEADER } from "../../../src/link/c/support.js";
import * as M from "../../../src/scalar/math.js";

const F32: Array<[string, (x: number) => number]> = [
  ["expf", Math.exp],
  ["logf", Math.log],
  ["log1pf", Math.log1p],
  ["expm1f", Math.expm1],
  ["tanhf", Math.tanh],
  ["sigmoidf", M.sigmoid],
  ["softplusf", M.softplus],
  ["erff", M.erf],
  ["sinf", Math.sin],
  ["cosf", Math.cos],
];
const F64: Array<[string, (x: number) => number]> = [
  ["exp", Math.exp],
  ["sigmoid", M.sigmoid],
  ["softplus", M.softplus],
  ["log", Math.log],
  ["tanh", Math.tanh],
];

function source(): string {
  const lines = [SUPPORT_HEADER, "void t_powf(int64_t n, const float *x, const float *y, float *z) { for (int64_t i = 0; i < n; i++) z[i] = th_powf(x[i], y[i]); }"];
  for (const [f] of F32) lines.push(`void t_${f}(int64_t n, const float *x, float *y) { for (int64_t i = 0; i < n; i++) y[i] = th_${f}(x[i]); }`);
  for (const [f] of F64) lines.push(`void t_${f}(int64_t n, const double *x, double *y) { for (int64_t i = 0; i < n; i++) y[i] = th_${f}(x[i]); }`);
  return lines.join("\n");
}

/** Edge values, then points with every exponent (random bits), then dense points in [-40, 40]. */
function points(single: boolean): number[] {
  const edges = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, -0.5, 1e-45, -1e-45, 1e-38, 1.17549435e-38, 88.72, 88.73, 89, -87.3, -103.9, -104, 709.7, 710, -745, 0.625, -0.625, 0.34657, 1e-8, -1e-8, 3.9, 4, -4, 10, 33.3, -37, 3.4e38, -3.4e38, 1e300, 5e-324];
  const out = [...edges];
  let s = 12345;
  const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648);
  const buf = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 40000; i++) {
    if (single) buf.setUint32(0, (next() << 1) ^ next());
    else buf.setUint32(0, (next() << 1) ^ next()), buf.setUint32(4, next() ^ (next() << 3));
    const v = single ? buf.getFloat32(0) : buf.getFloat64(0);
    if (Number.isFinite(v)) out.push(v);
  }
  for (let i = 0; i < 60000; i++) out.push((next() / 2147483648) * 80 - 40);
  return out;
}

/** Distance in units of the last place of the rounded reference. */
function ulps(got: number, ref: number, single: boolean): number {
  const r = single ? Math.fround(ref) : ref;
  if (Number.isNaN(r)) return Number.isNaN(got) ? 0 : Infinity;
  if (!Number.isFinite(r) || r === 0) return Object.is(got, r) || (r === 0 && got === 0 && Object.is(Math.sign(got), Math.sign(r))) ? 0 : Math.abs(got - r) / (single ? 2 ** -149 : 5e-324);
  const e = Math.floor(Math.log2(Math.abs(r)));
  const spacing = Math.max(2 ** (e - (single ? 23 : 52)), single ? 2 ** -149 : 5e-324);
  return Math.abs(got - ref) / spacing;
}

let fns: Map<string, NativeFunction>;

beforeAll(() => {
  const st = cCompilerStatus();
  if (!st.ok) throw new Error(`these tests need a C compiler: ${st.reason}`);
  const mod = loadModule(source());
  fns = new Map();
  for (const [f] of F32) fns.set(f, mod.library.func(`void t_${f}(int64_t n, float *x, float *y)`));
  for (const [f] of F64) fns.set(f, mod.library.func(`void t_${f}(int64_t n, double *x, double *y)`));
  fns.set("powf", mod.library.func("void t_powf(int64_t n, float *x, float *y, float *z)"));
});

describe("support header math", () => {
  for (const [name, ref] of F32) {
    it(`th_${name}: float32 within 3 ulp of the float64 reference, C99 specials`, () => {
      const xs = Float32Array.from(points(true));
      const ys = new Float32Array(xs.length);
      fns.get(name)!(xs.length, xs, ys);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < xs.length; i++) {
        const r = ref(xs[i]!);
        const u = ulps(ys[i]!, r, true);
        if (!(u <= worst)) [worst, at] = [u, xs[i]!];
      }
      expect(worst, `worst at x=${at}: got ${ys[xs.indexOf(at)]}, want ${Math.fround(ref(at))}`).toBeLessThanOrEqual(3);
    });
  }
  for (const [name, ref] of F64) {
    it(`th_${name}: float64 within 2 ulp of Math/scalar-math reference`, () => {
      const xs = Float64Array.from(points(false));
      const ys = new Float64Array(xs.length);
      fns.get(name)!(xs.length, xs, ys);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < xs.length; i++) {
        const u = ulps(ys[i]!, ref(xs[i]!), false);
        if (!(u <= worst)) [worst, at] = [u, xs[i]!];
      }
      expect(worst, `worst at x=${at}`).toBeLessThanOrEqual(2);
    });
  }

  it("th_powf: within 1 ulp of powFloat (C99's pow) over random and special pairs", () => {
    const special = [0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1e-30, 1e30, Infinity, -Infinity, NaN, 1.5, -1.5, 127, -127, 16777216, 1e10];
    const xs: number[] = [];
    const ys: number[] = [];
    for (const a of special) for (const b of special) xs.push(a), ys.push(b);
    let s = 7;
    const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 50000; i++) {
      xs.push((next() - 0.3) * 10 ** (next() * 8 - 4));
      ys.push(i % 3 === 0 ? Math.round((next() - 0.5) * 40) : (next() - 0.5) * 30);
    }
    const x = Float32Array.from(xs);
    const y = Float32Array.from(ys);
    const z = new Float32Array(x.length);
    fns.get("powf")!(x.length, x, y, z);
    let worst = 0;
    let at = "";
    for (let i = 0; i < x.length; i++) {
      const u = ulps(z[i]!, M.powFloat(x[i]!, y[i]!), true);
      if (!(u <= worst)) [worst, at] = [u, `pow(${x[i]}, ${y[i]}) = ${z[i]}, want ${Math.fround(M.powFloat(x[i]!, y[i]!))}`];
    }
    expect(worst, at).toBeLessThanOrEqual(1);
  });

  it("C99 special values", () => {
    const call = (f: string, x: number): number => {
      const y = new Float32Array(1);
      fns.get(f)!(1, Float32Array.of(x), y);
      return y[0]!;
    };
    expect(call("expf", -Infinity)).toBe(0);
    expect(call("expf", Infinity)).toBe(Infinity);
    expect(call("expf", 89)).toBe(Infinity);
    expect(call("logf", 0)).toBe(-Infinity);
    expect(call("logf", -0)).toBe(-Infinity);
    expect(call("logf", -1)).toBeNaN();
    expect(call("logf", Infinity)).toBe(Infinity);
    expect(call("log1pf", -1)).toBe(-Infinity);
    expect(Object.is(call("log1pf", -0), -0)).toBe(true);
    expect(Object.is(call("expm1f", -0), -0)).toBe(true);
    expect(call("expm1f", -Infinity)).toBe(-1);
    expect(Object.is(call("tanhf", -0), -0)).toBe(true);
    expect(call("tanhf", -Infinity)).toBe(-1);
    expect(call("sigmoidf", -Infinity)).toBe(0);
    expect(call("sigmoidf", Infinity)).toBe(1);
    expect(call("softplusf", Infinity)).toBe(Infinity);
    expect(call("softplusf", -Infinity)).toBe(0);
    expect(Object.is(call("erff", -0), -0)).toBe(true);
    expect(call("erff", -Infinity)).toBe(-1);
    for (const [f] of F32) expect(call(f, NaN), f).toBeNaN();
  });
});
