/**
 * The loop of `jacobian` and `hessian` for expressions of unknown or long length (src/gradient
 * /jacobian.ts): a scan over the row indices, row i = grad(expr[i], wrt), as Theano writes it.
 * The outer variables the rows read become the scan's non-sequences, so the rewrites move the
 * forward computation out of the loop (scan_pushout_non_seqs) and, on the C backend, the rows
 * loop inside the module.
 */

import { grad } from "../gradient/grad.js";
import { setJacobianLoop } from "../gradient/jacobian.js";
import { arange } from "../tensor/alloc.js";
import { shape } from "../tensor/shape.js";
import type { TensorVariable } from "../tensor/variable.js";
import { scan } from "./scan.js";

setJacobianLoop((expr, wrt, opts) => {
  const [rows] = scan({
    fn: (i: TensorVariable) => grad(expr.get(i), [...wrt], opts),
    sequences: [arange(shape(expr, 0))],
    name: "jacobian",
  });
  return Array.isArray(rows) ? (rows as TensorVariable[]) : [rows as TensorVariable];
});
