/**
 * The gradient of Scan: backpropagation through time as another Scan (Theano's `Scan.L_op`).
 */
import { GradUndefined, type GradResult, type Variable } from "../graph/basic.js";
import type { Scan } from "./op.js";

export function scanGrad(op: Scan, inputs: Variable[], _outputGrads: Variable[], _outputs: Variable[]): GradResult[] {
  return inputs.map((_v, i) => new GradUndefined(op, i, "not yet"));
}
