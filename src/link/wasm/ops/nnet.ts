/**
 * Wasm generators for `Softmax` and `LogSoftmax` on float32/float64 (src/tensor/nnet.ts):
 * `kernel(out, osl, ose, x, xsl, xse, nl, n)` computes nl lanes of n elements, lane l reading
 * x + l·xsl + i·xse and writing out + l·osl + i·ose (byte strides; the host, ../linker.ts,
 * merges the other axes and loops over any beyond one).
 *
 * Each lane is `perform`'s own float64 arithmetic in its order: the lane maximum (NaN as soon as
 * an element is NaN), then Σ exp(x - max), then exp(x - max) · (1 / Σ) for Softmax, or
 * x - max - log Σ for LogSoftmax (whose non-finite maximum becomes 0, as scipy's log_softmax),
 * rounded once to the output dtype. float64 calls the imported Math.exp and Math.log (V8 calls
 * them without leaving Wasm): bit for bit. float32 computes exp with the float64 exp written in
 * Wasm (`emitExp64`, ./elemwise.ts; about 5x cheaper than the call), which is within 1e-15
 * relative of Math.exp and clamps its argument to [-110, 100]: harmless where x - max <= 0 (Σ
 * >= 1, and e^-110 rounds to float32 0 as exp of anything lower does), so it is used except in a
 * LogSoftmax lane whose maximum was not finite (x itself is then exponentiated: Math.exp). The
 * float32 results equal perform's but where the float64 value lies within about 1e-15 of a float32
 * rounding boundary, as for the Elemwise exp.
 */

import type { Apply } from "../../../graph/basic.js";
import { LogSoftmax, Softmax } from "../../../tensor/nnet.js";
import type { TensorType } from "../../../tensor/type.js";
import { FunctionBuilder } from "../emitter.js";
import { type JsImport, emitExp64 } from "./elemwise.js";

const MATH_EXP: JsImport = { key: "Math.exp", arity: 1, fn: Math.exp };
const MATH_LOG: JsImport = { key: "Math.log", arity: 1, fn: Math.log };

export function wasmNnetSupported(node: Apply): boolean {
  if (!(node.op instanceof Softmax || node.op instanceof LogSoftmax)) return false;
  const d = (node.inputs[0]!.type as TensorType).dtype;
  return d === "float32" || d === "float64";
}

/** The JS functions the node's kernel imports. */
export function nnetImports(node: Apply): JsImport[] {
  if (!wasmNnetSupported(node)) return [];
  return node.op instanceof LogSoftmax ? [MATH_EXP, MATH_LOG] : [MATH_EXP];
}

export function softmaxKernel(node: Apply, importIndex: (key: string) => number): FunctionBuilder {
  const log = node.op instanceof LogSoftmax;
  const f32 = (node.inputs[0]!.type as TensorType).dtype === "float32";
  const f = new FunctionBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"], []);
  const [OUT, OSL, OSE, X, XSL, XSE, NL, N] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [l, i, p, q, o] = [0, 1, 2, 3, 4].map(() => f.local("i32")) as [number, number, number, number, number];
  const [m, s, v, t] = [0, 1, 2, 3].map(() => f.local("f64")) as [number, number, number, number];
  const fin = f.local("i32");
  const expIdx = importIndex(MATH_EXP.key);
  /** exp of the float64 on the stack: Math.exp, or on float32 the Wasm exp (see above). */
  const exp = (): void => {
    if (!f32) f.call(expIdx);
    else if (!log) emitExp64(f);
    else {
      f.set(v);
      f.get(fin).if("f64");
      f.get(v);
      emitExp64(f);
      f.op("else").get(v).call(expIdx).end();
    }
  };
  const load = (): void => {
    f.get(q).mem(f32 ? "f32.load" : "f64.load");
    if (f32) f.op("f64.promote_f32");
  };
  /** for (i = 0, q = p; i < N; i++, q += XSE) body */
  const lane = (body: () => void): void => {
    f.i32(0).set(i);
    f.get(p).set(q);
    f.block().loop();
    f.get(i).get(N).op("i32.ge_u").brIf(1);
    body();
    f.get(i).i32(1).op("i32.add").set(i);
    f.get(q).get(XSE).op("i32.add").set(q);
    f.br(0).end().end();
  };

  f.block().loop();
  f.get(l).get(NL).op("i32.ge_u").brIf(1);
  f.get(X).get(l).get(XSL).op("i32.mul").op("i32.add").set(p);
  f.get(OUT).get(l).get(OSL).op("i32.mul").op("i32.add").set(o);
  // m = max over the lane, NaN (and stop) at the first NaN.
  f.f64(-Infinity).set(m);
  lane(() => {
    load();
    f.set(v);
    f.get(v).get(v).op("f64.ne").if();
    f.get(v).set(m);
    f.br(2); // leave the lane loop (if -> loop -> block)
    f.end();
    f.get(v).get(m).get(v).get(m).op("f64.gt").op("select").set(m);
  });
  if (log) {
    // A non-finite maximum (NaN, ±inf) becomes 0: m - m is 0 exactly when m is finite.
    f.get(m).get(m).op("f64.sub").f64(0).op("f64.eq").set(fin);
    f.get(m).f64(0).get(fin).op("select").set(m);
  }
  f.f64(0).set(s);
  lane(() => {
    f.get(s);
    load();
    f.get(m).op("f64.sub");
    exp();
    f.op("f64.add").set(s);
  });
  if (log) f.get(s).call(importIndex(MATH_LOG.key)).set(t);
  else f.f64(1).get(s).op("f64.div").set(t);
  lane(() => {
    f.get(o);
    load();
    f.get(m).op("f64.sub");
    if (log) f.get(t).op("f64.sub");
    else {
      exp();
      f.get(t).op("f64.mul");
    }
    if (f32) f.op("f32.demote_f64");
    f.mem(f32 ? "f32.store" : "f64.store");
    f.get(o).get(OSE).op("i32.add").set(o);
  });
  f.get(l).i32(1).op("i32.add").set(l);
  f.br(0).end().end();
  return f;
}
