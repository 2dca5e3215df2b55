/**
 * Every WGSL elementwise kernel against the reference `perform` (issue 18): each scalar-table
 * row that has a WGSL form, for float32 / int32 / uint32 / bool operands, on contiguous,
 * strided (a transposed host view), broadcast, empty, size-1, 0-d and odd shapes (not multiples
 * of the 256-thread workgroup), then fused Composites.
 *
 * NaN/Inf/-0 on the device (WGSL lets compilers assume finite floats in builtins, so these are
 * pinned here): isnan/isinf are bit tests and exact; minimum/maximum/clip propagate NaN as
 * NumPy; +, -, *, / follow IEEE (Inf - Inf = NaN, 1/0 = Inf); comparisons with NaN are false
 * (neq true); sign(NaN) = NaN, sign(-0) = 0; where() takes NaN as true. Transcendental builtins
 * (exp, tanh, sin, ...) are WGSL's f32 builtins: within a few ULP of the host's float64-then-
 * rounded result (tolerances below), not bit-exact; denormals may flush to zero (WGSL allows it).
 * Out-of-range float → int casts clamp on the device and wrap on the host: not tested.
 */

import { describe, expect } from "vitest";
import * as theano from "../../../src/index.js";
import { NDArray } from "../../../src/ndarray/ndarray.js";
import { SCALAR_OPS } from "../../../src/scalar/table.js";
import { Elemwise } from "../../../src/tensor/elemwise.js";
import { grid } from "../../../src/link/webgpu/ops/elemwise.js";
import { mulberry32 as rng } from "../../../src/ndarray/rng.js";
import { expectClose } from "../../helpers.js";
import { announceWebGpu, gpuIt } from "./adapter.js";

const { T } = theano;
type D = "float32" | "int32" | "uint32" | "bool";
type TV = ReturnType<typeof T.tensor>;

const ok = announceWebGpu();


const DOMAIN: Record<string, [number, number][]> = {
  sqrt: [[0.1, 5]], log: [[0.1, 5]], log2: [[0.1, 5]], log10: [[0.1, 5]], log1p: [[-0.9, 3]],
  arcsin: [[-0.95, 0.95]], arccos: [[-0.95, 0.95]], arctanh: [[-0.95, 0.95]], arccosh: [[1.05, 5]], tan: [[-1.2, 1.2]],
  pow: [[0.2, 3], [-2, 2]], trueDiv: [[-3, 3], [0.5, 3]], intDiv: [[-6, 6], [0.5, 3]], mod: [[-6, 6], [0.5, 3]],
};

function values(dtype: D, shape: number[], lohi: [number, number], r: () => number, op: string, arg: number): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = r();
    if (dtype === "bool") xs.push(u < 0.5 ? 0 : 1);
    else if (dtype === "int32") xs.push(op === "pow" && arg === 1 ? Math.floor(u * 6) : Math.floor(-50 + 100 * u));
    else if (dtype === "uint32") xs.push(op === "pow" && arg === 1 ? Math.floor(u * 6) : Math.floor(100 * u));
    else {
      let v = lohi[0] + (lohi[1] - lohi[0]) * u;
      // Divisors of either sign, never near 0.
      if ((op === "trueDiv" || op === "intDiv" || op === "mod") && arg === 1 && r() < 0.5) v = -v;
      xs.push(v);
    }
  }
  return theano.asarray(theano.array(xs, dtype).reshape(shape), dtype);
}


const TOL: Record<string, [number, number]> = {
  exp: [2e-6, 1e-6], exp2: [2e-6, 1e-6], expm1: [4e-6, 1e-6], sinh: [4e-6, 1e-6], cosh: [4e-6, 1e-6], pow: [4e-6, 1e-6],
  tan: [1e-5, 1e-5], sin: [1e-5, 1e-5], cos: [1e-5, 1e-5], log10: [2e-6, 1e-6], arccos: [2e-6, 1e-6], arcsinh: [4e-6, 1e-6],
  arccosh: [4e-6, 1e-6], arctanh: [4e-6, 1e-6], arcsin: [2e-6, 1e-6], arctan: [2e-6, 1e-6], arctan2: [2e-6, 1e-6],
  // WGSL computes f32 % as a - b * trunc(a / b), not exactly as fmod: off by an ulp of the divisor.
  mod: [1e-6, 1e-6], intDiv: [1e-6, 1e-6], softplus: [4e-6, 1e-6], log1p: [4e-6, 1e-6], tanh: [2e-6, 2e-6],
};

/** Compiles `build` on the device and on the host reference (`perform`, no rewrites) and compares on every case. */
function agree(name: string, dtypes: readonly D[], build: (xs: TV[]) => TV, cases: ReadonlyArray<{ label: string; shapes: number[][]; decl?: Array<Array<number | null>>; strided?: boolean }>, seed = 1): void {
  const r = rng(seed);
  for (const c of cases) {
    const xs = dtypes.map((d, k) => T.tensor({ dtype: d, shape: c.decl?.[k] ?? c.shapes[k]!.map(() => null), name: `x${k}` }));
    const out = build(xs);
    const ref = theano.config.change({ device: "cpu", linker: "py", optimizer: "None" }, () => theano.function(xs, out));
    const dev = theano.config.change({ device: "webgpu", optimizer: "None" }, () => theano.function(xs, out));
    const lohi = DOMAIN[name] ?? [[-3, 3]];
    let args = dtypes.map((d, k) => values(d, c.shapes[k]!, lohi[k] ?? lohi[0]!, r, name, k));
    if (c.strided) args = args.map((a) => (a.ndim === 2 ? theano.asarray(a.toArray(), a.dtype).reshape([a.shape[1]!, a.shape[0]!]).transpose(1, 0) : a));
    const want = ref(...args) as NDArray;
    const got = dev(...args) as NDArray;
    const [rtol, atol] = TOL[name] ?? [1e-6, 1e-7];
    expectClose(got, want, { rtol, atol, what: `${name}(${dtypes.join(", ")}) ${c.label}` });
  }
}

const unaryCases = [
  { label: "contiguous 3x5", shapes: [[3, 5]] },
  { label: "odd 7x37", shapes: [[7, 37]] },
  { label: "odd 3x347 (over 4 workgroups)", shapes: [[3, 347]] },
  { label: "strided (transposed view)", shapes: [[4, 6]], strided: true },
  { label: "size-1", shapes: [[1, 1]] },
  { label: "empty", shapes: [[0, 3]] },
];
const binaryCases = [
  { label: "contiguous 3x5", shapes: [[3, 5], [3, 5]] },
  { label: "odd 9x29", shapes: [[9, 29], [9, 29]] },
  { label: "broadcast row", shapes: [[4, 5], [1, 5]], decl: [[null, null], [1, null]] },
  { label: "broadcast col and row", shapes: [[4, 1], [1, 5]], decl: [[null, 1], [1, null]] },
  { label: "strided (transposed views)", shapes: [[4, 6], [4, 6]], strided: true },
  { label: "size-1", shapes: [[1, 1], [1, 1]] },
  { label: "empty", shapes: [[0, 3], [0, 3]] },
];

const elem = (name: string, xs: TV[]): TV => new Elemwise(SCALAR_OPS.get(name)!).call(...xs) as TV;

const FLOAT_UNARY = ["neg", "abs", "sign", "inv", "sqr", "sqrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
  "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "sigmoid", "softplus", "floor", "ceil", "trunc",
  "roundHalfToEven", "roundHalfAwayFromZero", "isnan", "isinf", "identity"];
const FLOAT_BINARY = ["add", "sub", "mul", "trueDiv", "intDiv", "mod", "pow", "minimum", "maximum", "arctan2", "eq", "neq", "lt", "le", "gt", "ge"];
const INT_UNARY = ["neg", "abs", "sign", "sqr", "floor", "ceil", "trunc", "roundHalfToEven", "isnan", "isinf", "not", "identity"];
const INT_BINARY = ["add", "sub", "mul", "intDiv", "mod", "pow", "minimum", "maximum", "and", "or", "xor", "eq", "neq", "lt", "le", "gt", "ge"];
const BOOL_UNARY = ["not", "abs", "identity", "isnan"];
const BOOL_BINARY = ["add", "mul", "and", "or", "xor", "minimum", "maximum", "eq", "neq", "lt", "le", "gt", "ge"];

describe.skipIf(!ok)("WGSL elemwise kernels agree with perform", () => {
  for (const name of FLOAT_UNARY) gpuIt(`float32 ${name}`, () => agree(name, ["float32"], (xs) => elem(name, xs), unaryCases));
  for (const name of FLOAT_BINARY) gpuIt(`float32 ${name}`, () => agree(name, ["float32", "float32"], (xs) => elem(name, xs), binaryCases));
  for (const d of ["int32", "uint32"] as const) {
    for (const name of INT_UNARY.filter((n) => !(d === "uint32" && n === "neg"))) gpuIt(`${d} ${name}`, () => agree(name, [d], (xs) => elem(name, xs), unaryCases));
    for (const name of INT_BINARY) gpuIt(`${d} ${name}`, () => agree(name, [d, d], (xs) => elem(name, xs), binaryCases));
  }
  for (const name of BOOL_UNARY) gpuIt(`bool ${name}`, () => agree(name, ["bool"], (xs) => elem(name, xs), unaryCases));
  for (const name of BOOL_BINARY) gpuIt(`bool ${name}`, () => agree(name, ["bool", "bool"], (xs) => elem(name, xs), binaryCases));

  gpuIt("mixed dtypes convert as NumPy: int32 + float32 -> float32 under floatX=float32, bool * int32, uint32 < int32 stays host-free", () => {
    theano.config.change({ floatX: "float32" }, () => {
      agree("add", ["int32", "float32"], (xs) => xs[0]!.add(xs[1]!).astype("float32") as TV, binaryCases.slice(0, 3));
      agree("mul", ["bool", "int32"], (xs) => elem("mul", xs), binaryCases.slice(0, 3));
      agree("trueDiv", ["int32", "int32"], (xs) => elem("trueDiv", xs), [{ label: "ints to float32", shapes: [[3, 5], [3, 5]] }]);
    });
  });

  gpuIt("where, clip and casts", () => {
    agree("where", ["bool", "float32", "float32"], (xs) => elem("where", xs), [{ label: "3x5", shapes: [[3, 5], [3, 5], [3, 5]] }, { label: "broadcast", shapes: [[4, 5], [1, 5], [4, 1]], decl: [[null, null], [1, null], [null, 1]] }]);
    agree("clip", ["float32", "float32", "float32"], (xs) => elem("clip", xs), [{ label: "3x5", shapes: [[3, 5], [3, 5], [3, 5]] }]);
    agree("clip", ["int32", "int32", "int32"], (xs) => elem("clip", xs), [{ label: "3x5", shapes: [[3, 5], [3, 5], [3, 5]] }]);
    for (const [from, to] of [["float32", "int32"], ["int32", "float32"], ["bool", "float32"], ["float32", "bool"], ["int32", "uint32"], ["uint32", "int32"], ["int32", "bool"]] as const) {
      agree("identity", [from], (xs) => T.cast(xs[0]!, to) as TV, unaryCases.slice(0, 2));
    }
  });

  gpuIt("0-d and 1-d operands; pow of negative bases with integral exponents", () => {
    agree("mul", ["float32", "float32"], (xs) => elem("mul", xs), [{ label: "0-d", shapes: [[], []] }]);
    agree("add", ["float32", "float32"], (xs) => elem("add", xs), [{ label: "1-d 1001", shapes: [[1001], [1001]] }]);
    const x = T.fvector("x");
    const y = T.fvector("y");
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x, y], T.pow(x, y)));
    const got = f(theano.array([-2, -2, -3, 0, 0, 2, -1], "float32"), theano.array([2, 3, 0.5, 0, -1, -1, Infinity], "float32")) as NDArray;
    expect(Array.from(got.toFlat() as Float32Array)).toEqual([4, -8, NaN, 1, Infinity, 0.5, 1]);
  });

  gpuIt("NaN, Inf and -0 as documented in the header", () => {
    const x = T.fvector("x");
    const y = T.fvector("y");
    const outs = [T.isnan(x), T.isinf(x), T.minimum(x, y), T.maximum(x, y), x.add(y), x.mul(y), T.lt(x, y), T.neq(x, y), T.sign(x), T.where(x, 1, 2)] as TV[];
    const f = theano.config.change({ device: "webgpu", optimizer: "None" }, () => theano.function([x, y], outs));
    const ref = theano.config.change({ device: "cpu", linker: "py", optimizer: "None" }, () => theano.function([x, y], outs));
    const a = theano.array([NaN, Infinity, -Infinity, -0, 1, NaN, Infinity], "float32");
    const b = theano.array([1, -Infinity, -Infinity, 0, NaN, NaN, 2], "float32");
    const got = f(a, b) as NDArray[];
    const want = ref(a, b) as NDArray[];
    got.forEach((g, i) => expectClose(g, want[i]!, { rtol: 0, atol: 0, what: `output ${i}` }));
  });

  gpuIt("fused Composites (FAST_RUN fusion) match the host", () => {
    const x = T.fmatrix("x");
    const y = T.fmatrix("y");
    const b = T.tensor({ dtype: "float32", shape: [1, null], name: "b" });
    const out = T.tanh(x.mul(2).add(b)).sub(T.exp(y.neg())).mul(T.sigmoid(x.sub(y)));
    const f = theano.config.change({ device: "webgpu" }, () => theano.function([x, y, b], out));
    expect(theano.printing.debugprint(f)).toMatch(/GpuElemwise\{Composite\{/);
    const ref = theano.config.change({ device: "cpu", linker: "py" }, () => theano.function([x, y, b], out));
    const r = rng(7);
    const xv = values("float32", [13, 21], [-2, 2], r, "", 0);
    const yv = values("float32", [13, 21], [-2, 2], r, "", 0);
    const bv = values("float32", [1, 21], [-2, 2], r, "", 0);
    expectClose(f(xv, yv, bv) as NDArray, ref(xv, yv, bv) as NDArray, { rtol: 4e-6, atol: 1e-6, what: "composite" });
  });

  gpuIt("the launch grid splits past 65535 workgroups", () => {
    expect(grid(256)).toEqual([1, 1]);
    expect(grid(257)).toEqual([2, 1]);
    expect(grid(65535 * 256 + 1)).toEqual([65535, 2]);
    expect(grid(70000, 1)).toEqual([65535, 2]);
  });
});
