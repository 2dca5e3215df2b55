/**
 * The tensor namespace `T` (API.md §3–§5): constructors, every op family's functions, and the
 * `nnet`/`nlinalg` sub-namespaces. Families add one `export *` line each.
 */
export * from "./constructors.js";
export * from "./math.js";
export * from "./shape.js";
export * from "./subtensor.js";
export * from "./join.js";
export * from "./alloc.js";
export { dimshuffle, transpose } from "./basic.js";
export { TensorType } from "./type.js";
export { TensorVariable, TensorConstant, constant, asTensorVariable } from "./variable.js";
export { Elemwise, DimShuffle } from "./elemwise.js";
export * from "./nnet.js";
export * from "./blas.js";
export * from "./extra.js";
export { nlinalg } from "./nlinalg.js";
export { RandomVariable } from "./random.js";
