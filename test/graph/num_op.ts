/**
 * The tiny Type and Op the graph tests build raw graphs with (no tensor ops): shared by
 * graph.test.ts and test/slow/graph_big.test.ts.
 */

import { Apply, Op, Type, Variable, type Value } from "../../src/graph/basic.js";

// --- a minimal Type and Op ---------------------------------------------------------------------

export class NumType extends Type {
  constructor(readonly kind = "num") {
    super();
  }
  equals(other: Type): boolean {
    return other instanceof NumType && other.kind === this.kind;
  }
  toString(): string {
    return this.kind;
  }
  makeVariable(name: string | null = null): Variable {
    return new Variable(this, null, 0, name);
  }
}
export const NUM = new NumType();
export const OTHER = new NumType("other");

/** Sums its inputs and adds `k`; `nout` copies of the result. */
export class SumOp extends Op {
  constructor(
    readonly k = 0,
    readonly nout = 1,
  ) {
    super();
  }
  override props(): Record<string, unknown> {
    return { k: this.k, nout: this.nout };
  }
  makeNode(...inputs: Variable[]): Apply {
    return new Apply(this, inputs, new Array(this.nout).fill(NUM));
  }
  perform(_node: Apply, inputs: Value[]): Value[] {
    const s = (inputs as number[]).reduce((a, b) => a + b, this.k);
    return new Array(this.nout).fill(s);
  }
}
export class OtherOp extends SumOp {}

export const num = (name: string): Variable => NUM.makeVariable(name);
export const sum = (k: number, ...xs: Variable[]): Variable => new SumOp(k).call(...xs);
