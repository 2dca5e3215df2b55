/**
 * Composite: several scalar-table rows composed into one scalar op (Theano's
 * `scalar.Composite`), the unit of elementwise fusion. A composite is a small program: each
 * step applies a row to earlier values (inputs `i<k>` or steps `t<k>`), with the step's own
 * output dtype, and the last step is the result. Backends render it as statements, one local
 * per step, each coerced to its dtype (`Math.fround` for float32, wrapping for ints), so a
 * fused loop computes exactly what the unfused nodes would.
 */

import type { DType } from "../ndarray/dtype.js";
import { type ScalarOp, renderTemplate } from "./table.js";

/** An operand of a step: a composite input or an earlier step. */
export type Ref = { readonly input: number } | { readonly step: number };

export interface Step {
  readonly op: ScalarOp;
  readonly args: readonly Ref[];
  readonly dtype: DType;
}

/** Coerces a JS number expression to what storing it in a `dtype` TypedArray would keep. */
export function coerceJs(expr: string, dtype: DType): string {
  switch (dtype) {
    case "float64":
      return expr;
    // As a BigInt64Array/BigUint64Array store converts a double (the unfused graph's value):
    // truncated (+ 0: an integer has no -0), non-finite to 0, wrapped modulo 2^64.
    case "int64":
      return `((v) => (v >= -9223372036854775808 && v < 9223372036854775808 ? Math.trunc(v) + 0 : Number.isFinite(v) ? Number(BigInt.asIntN(64, BigInt(Math.trunc(v)))) : 0))(${expr})`;
    case "uint64":
      return `((v) => (v >= 0 && v < 18446744073709551616 ? Math.trunc(v) + 0 : Number.isFinite(v) ? Number(BigInt.asUintN(64, BigInt(Math.trunc(v)))) : 0))(${expr})`;
    case "float32":
      return `Math.fround(${expr})`;
    case "int32":
      return `((${expr}) | 0)`;
    case "uint32":
      return `((${expr}) >>> 0)`;
    case "int16":
      return `(((${expr}) << 16) >> 16)`;
    case "uint16":
      return `((${expr}) & 65535)`;
    case "int8":
      return `(((${expr}) << 24) >> 24)`;
    case "uint8":
      return `((${expr}) & 255)`;
    case "bool":
      return `((${expr}) !== 0 ? 1 : 0)`;
    default:
      dtype satisfies never;
      return expr;
  }
}

function coerceValue(v: number, dtype: DType): number {
  switch (dtype) {
    case "float32":
      return Math.fround(v);
    case "int32":
      return v | 0;
    case "uint32":
      return v >>> 0;
    case "int16":
      return (v << 16) >> 16;
    case "uint16":
      return v & 65535;
    case "int8":
      return (v << 24) >> 24;
    case "uint8":
      return v & 255;
    case "bool":
      return v !== 0 ? 1 : 0;
    case "int64":
    case "uint64":
      // What storing v into a BigInt64Array/BigUint64Array keeps (coerceJs renders the same).
      if (!Number.isFinite(v)) return 0;
      if (dtype === "int64" ? v >= -9223372036854775808 && v < 9223372036854775808 : v >= 0 && v < 18446744073709551616) return Math.trunc(v) + 0;
      return Number((dtype === "int64" ? BigInt.asIntN : BigInt.asUintN)(64, BigInt(Math.trunc(v))));
    default:
      return v;
  }
}

export class Composite implements ScalarOp {
  readonly name: string;
  readonly arity: number;
  readonly outDtype: ScalarOp["outDtype"];
  readonly js: ScalarOp["js"];
  readonly c: ScalarOp["c"];

  constructor(
    readonly inputDtypes: readonly DType[],
    readonly steps: readonly Step[],
  ) {
    this.arity = inputDtypes.length;
    const out = steps[steps.length - 1]!.dtype;
    this.outDtype = () => out;
    this.name = `Composite{${this.describe()}}`;
    // Single-expression forms are not used for composites: backends call `statements`.
    this.js = () => {
      throw new Error("Composite renders through statements()");
    };
    this.c = this.js;
  }

  /**
   * A Theano-style nested description, e.g. `sub(mul(tanh(add(mul(i0, 0.5), 0.1)), sigmoid(i0)), ...)`
   * for small composites; a linear program text (`t0=add(i0,i1);t1=exp(t0)`) beyond that, so
   * the name stays linear in the number of steps.
   */
  describe(): string {
    if (this.steps.length <= 8) {
      const txt: string[] = [];
      const ref = (r: Ref): string => ("input" in r ? `i${r.input}` : txt[r.step]!);
      this.steps.forEach((s) => txt.push(`${s.op.name}(${s.args.map(ref).join(", ")})`));
      return txt[txt.length - 1]!;
    }
    const ref = (r: Ref): string => ("input" in r ? `i${r.input}` : `t${r.step}`);
    return this.steps.map((s, k) => `t${k}=${s.op.name}(${s.args.map(ref).join(",")})`).join(";");
  }

  impl(args: readonly number[]): number {
    const vals: number[] = [];
    for (const s of this.steps) {
      const xs = s.args.map((r) => ("input" in r ? args[r.input]! : vals[r.step]!));
      vals.push(coerceValue(s.op.impl(xs, s.dtype), s.dtype));
    }
    return vals[vals.length - 1]!;
  }

  /** JS statements computing the result into `t<last>`; inputs are named by `inputNames`. */
  statements(inputNames: readonly string[], prefix = "t"): { lines: string[]; result: string } {
    const lines: string[] = [];
    const name = (r: Ref): string => ("input" in r ? inputNames[r.input]! : `${prefix}${r.step}`);
    const dtypeOf = (r: Ref): DType => ("input" in r ? this.inputDtypes[r.input]! : this.steps[r.step]!.dtype);
    this.steps.forEach((s, k) => {
      const expr = renderTemplate(s.op.js, s.args.map(name), s.dtype, s.args.map(dtypeOf));
      const last = k === this.steps.length - 1;
      lines.push(`const ${prefix}${k} = ${last ? expr : coerceJs(expr, s.dtype)};`);
    });
    return { lines, result: `${prefix}${this.steps.length - 1}` };
  }
}
