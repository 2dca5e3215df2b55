/**
 * The Wasm binary emitter on its own: LEB128 encodings, a module with an imported JS function,
 * an imported memory, scalar loops, v128 arithmetic and lanes, validated by the engine and run;
 * and the modules the wasm linker writes validate with and without SIMD.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../../src/index.js";
import { FunctionBuilder, ModuleBuilder, s32, u32, wasmApi, wasmSimdSupported } from "../../../src/link/wasm/emitter.js";
import { generateWasm } from "../../../src/link/wasm/linker.js";

const { T } = theano;
const api = wasmApi()!;

describe("wasm emitter", () => {
  it("encodes LEB128 as the spec's examples", () => {
    expect(u32(0)).toEqual([0]);
    expect(u32(127)).toEqual([0x7f]);
    expect(u32(128)).toEqual([0x80, 0x01]);
    expect(u32(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(u32(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(s32(-1)).toEqual([0x7f]);
    expect(s32(63)).toEqual([0x3f]);
    expect(s32(64)).toEqual([0xc0, 0x00]);
    expect(s32(-64)).toEqual([0x40]);
    expect(s32(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(s32(0x80000000)).toEqual(s32(-0x80000000));
    expect(() => u32(-1)).toThrow(RangeError);
  });

  it("builds a module with an imported function and memory; scalar and v128 code run", () => {
    expect(wasmSimdSupported()).toBe(true);
    const m = new ModuleBuilder();
    const half = m.importFunction("js", "half", ["f64"], ["f64"]);
    m.importMemory("env", "mem", 1, 4);
    // sum(p, n): f64 sum of n float32 at p, each through the import.
    const sum = new FunctionBuilder(["i32", "i32"], ["f64"]);
    const acc = sum.local("f64");
    const i = sum.local("i32");
    sum.block().loop();
    sum.get(i).get(1).op("i32.ge_u").brIf(1);
    sum.get(acc).get(0).get(i).i32(4).op("i32.mul").op("i32.add").mem("f32.load").op("f64.promote_f32").call(half).op("f64.add").set(acc);
    sum.get(i).i32(1).op("i32.add").set(i);
    sum.br(0).end().end();
    sum.get(acc);
    m.addFunction(sum, "sum");
    // mad4(p, q, out): out[0..4] = p[0..4] * q[0..4] + 1.5 (f32x4), returns lane 3.
    const mad = new FunctionBuilder(["i32", "i32", "i32"], ["f32"]);
    const v = mad.local("v128");
    mad.get(2).get(0).v128Load().get(1).v128Load().simd("f32x4.mul").f32(1.5).simd("f32x4.splat").simd("f32x4.add").tee(v).v128Store();
    mad.get(v).extractLane("f32x4", 3);
    m.addFunction(mad, "mad4");
    const bytes = m.encode();
    expect(api.validate(bytes)).toBe(true);
    const mem = new api.Memory({ initial: 1, maximum: 4 });
    const inst = new api.Instance(new api.Module(bytes), { env: { mem }, js: { half: (x: number) => x / 2 } });
    const f32 = new Float32Array(mem.buffer);
    f32.set([1, 2, 3, 4], 0);
    f32.set([10, 20, 30, -40], 4);
    expect((inst.exports["sum"] as (p: number, n: number) => number)(0, 4)).toBe(5);
    expect((inst.exports["mad4"] as (p: number, q: number, o: number) => number)(0, 16, 32)).toBe(-158.5);
    expect([...new Float32Array(mem.buffer, 32, 4)]).toEqual([11.5, 41.5, 91.5, -158.5]);
  });

  it("rejects imports declared after a defined function; an invalid body fails validation", () => {
    const m = new ModuleBuilder();
    m.addFunction(new FunctionBuilder([], []));
    expect(() => m.importFunction("js", "f", [], [])).toThrow();
    const bad = new ModuleBuilder();
    const f = new FunctionBuilder([], ["i32"]);
    f.f64(1); // wrong result type
    bad.addFunction(f);
    expect(api.validate(bad.encode())).toBe(false);
  });

  it("the linker's modules validate with and without v128 loops", () => {
    const x = T.tensor({ dtype: "float32", shape: [null, null], name: "x" });
    const y = T.tensor({ dtype: "float64", shape: [null], name: "y" });
    const f = theano.function([x, y], [T.maximum(x.mul(2).add(1), 0).sqrt(), T.tanh(x).sum(1), T.lt(y, 0), T.max(y)], { mode: new theano.Mode("wasm", "fast_run") }) as unknown as { fgraph: theano.FunctionGraph };
    const order = f.fgraph.toposort();
    for (const simd of [true, false]) {
      const prog = generateWasm(order, simd);
      expect(api.validate(prog.bytes), `simd=${simd}`).toBe(true);
      expect(prog.kernelOf.filter((k) => k !== null).length).toBeGreaterThan(0);
    }
    expect(generateWasm(order, true).bytes.length).toBeGreaterThan(generateWasm(order, false).bytes.length);
  });
});
