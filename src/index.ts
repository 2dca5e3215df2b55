/**
 * The public API of theano-ts (API.md), and nothing else.
 */
export {
  TheanoError,
  InputError,
  ShapeError,
  TypeMismatchError,
  GradientError,
  MissingInputError,
  UnusedInputError,
  CompileError,
  BackendError,
  NaNError,
  DebugModeError,
  ConfigError,
} from "./errors.js";
export { NDArray, array, asarray, zeros, ones, full, arange } from "./ndarray/ndarray.js";
export type { ArrayLike, NestedArray, Scalar } from "./ndarray/ndarray.js";
export { DTYPES, resultType, promoteTypes, canCastSafely } from "./ndarray/dtype.js";
export type { DType, FloatDType, TypedArray } from "./ndarray/dtype.js";
export { broadcastShapes } from "./ndarray/broadcast.js";
