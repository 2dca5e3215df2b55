/**
 * The gradient stage (API.md §7): `grad`, `Lop`, `Rop`, `jacobian`, `hessian`, the
 * gradient-only ops, and `verifyGrad`. It consumes graphs and produces more graph.
 */
export { grad, Lop, DisconnectedType } from "./grad.js";
export type { GradOptions, GradOptionsZero } from "./grad.js";
export { ZeroGrad, DisconnectedGrad, GradClip, zeroGrad, disconnectedGrad, gradClip } from "./ops.js";
export { verifyGrad } from "./verify.js";
export { jacobian, hessian, Rop, setJacobianLoop, JACOBIAN_UNROLL_LIMIT } from "./jacobian.js";
export type { JacobianLoop } from "./jacobian.js";
export type { JacobianOptions, RopOptions } from "./jacobian.js";
export type { VerifyGradOptions } from "./verify.js";
