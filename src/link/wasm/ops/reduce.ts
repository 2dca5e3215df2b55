/**
 * Wasm generators for CAReduce sum, max and min on float32/float64:
 * `kernel(out, nk, sk, nr0, sr0, nr1, sr1, x)` writes nk contiguous results, result k reducing
 * the nr0 x nr1 block at x + k*sk (byte strides; the host merges axes, loops over further kept
 * axes, and runs perform when more than two reduced axes remain after merging).
 *
 * As `CAReduce.perform`: one float64 accumulator per result, elements in the reduced axes'
 * row-major order, rounded once to the output dtype (so float32 sums agree bit for bit);
 * max/min keep the first NaN, else take v when v > acc (v < acc), starting from -inf (+inf),
 * which gives the same value as starting from the first element.
 */

import type { Apply } from "../../../graph/basic.js";
import { CAReduce } from "../../../tensor/math.js";
import type { TensorType } from "../../../tensor/type.js";
import { FunctionBuilder } from "../emitter.js";

const isF = (d: string): d is "float32" | "float64" => d === "float32" || d === "float64";

export function wasmReduceSupported(node: Apply): boolean {
  const op = node.op;
  if (!(op instanceof CAReduce)) return false;
  if (op.kind !== "add" && op.kind !== "maximum" && op.kind !== "minimum") return false;
  const din = (node.inputs[0]!.type as TensorType).dtype;
  return isF(din) && isF(op.dtype) && (node.outputs[0]!.type as TensorType).dtype === op.dtype;
}

export function reduceKernel(node: Apply): FunctionBuilder {
  const op = node.op as CAReduce;
  const din = (node.inputs[0]!.type as TensorType).dtype as "float32" | "float64";
  const dout = op.dtype as "float32" | "float64";
  const f = new FunctionBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"], []);
  const [OUT, NK, SK, NR0, SR0, NR1, SR1, X] = [0, 1, 2, 3, 4, 5, 6, 7];
  const k = f.local("i32");
  const a = f.local("i32");
  const b = f.local("i32");
  const p = f.local("i32");
  const q = f.local("i32");
  const o = f.local("i32");
  const acc = f.local("f64");
  const v = f.local("f64");
  f.get(OUT).set(o);
  f.block().loop();
  f.get(k).get(NK).op("i32.ge_u").brIf(1);
  f.get(X).get(k).get(SK).op("i32.mul").op("i32.add").set(p);
  f.f64(op.kind === "add" ? 0 : op.kind === "maximum" ? -Infinity : Infinity).set(acc);
  f.i32(0).set(a);
  f.block().loop();
  f.get(a).get(NR0).op("i32.ge_u").brIf(1);
  f.get(p).get(a).get(SR0).op("i32.mul").op("i32.add").set(q);
  f.i32(0).set(b);
  f.block().loop();
  f.get(b).get(NR1).op("i32.ge_u").brIf(1);
  f.get(q).mem(din === "float32" ? "f32.load" : "f64.load");
  if (din === "float32") f.op("f64.promote_f32");
  if (op.kind === "add") f.get(acc).op("f64.add").set(acc);
  else {
    // acc = acc != acc ? acc : ((v cmp acc) || v != v ? v : acc)
    f.set(v);
    f.get(acc);
    f.get(v).get(acc).get(v).get(acc).op(op.kind === "maximum" ? "f64.gt" : "f64.lt").get(v).get(v).op("f64.ne").op("i32.or").op("select");
    f.get(acc).get(acc).op("f64.ne").op("select").set(acc);
  }
  f.get(q).get(SR1).op("i32.add").set(q);
  f.get(b).i32(1).op("i32.add").set(b);
  f.br(0).end().end();
  f.get(a).i32(1).op("i32.add").set(a);
  f.br(0).end().end();
  f.get(o).get(acc);
  if (dout === "float32") f.op("f32.demote_f64");
  f.mem(dout === "float32" ? "f32.store" : "f64.store");
  f.get(o).i32(dout === "float32" ? 4 : 8).op("i32.add").set(o);
  f.get(k).i32(1).op("i32.add").set(k);
  f.br(0).end().end();
  return f;
}
