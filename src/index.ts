/**
 * The public API of theano-ts (API.md), and nothing else.
 */
import * as printingBase from "./printing/index.js";
import { profileSummary } from "./compile/profile.js";
import { errorReport } from "./link/errors.js";

// exception_verbosity=high prints the failing node's subgraph (src/link may not import printing).
errorReport.debugprint = (node) => printingBase.debugprint(node.outputs, { print: false, printType: true, depth: 3 });
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
export { config } from "./config/index.js";
export type { Config } from "./config/index.js";
export { save, load, loadNpy, loadNpz } from "./io.js";
export { toNpyBytes, fromNpyBytes, readNpyHeader, toNpzBytes, fromNpzBytes } from "./ndarray/npy.js";
export type { NpyHeader, ArrayRecord } from "./ndarray/npy.js";
export type { InflateRaw, ReadZipOptions } from "./ndarray/zip.js";

// --- the symbolic API -------------------------------------------------------------------------
import "./rewriting/index.js";
import * as T from "./tensor_api.js";
export { T, T as tensor };
export { function_ as function, function_ as fn, In, Out, shared, SharedVariable, Mode, FAST_RUN, FAST_COMPILE, NanGuardMode, DebugMode } from "./compile/index.js";
export type { FunctionOptions, CopyOptions, TheanoFunction, NanGuardOptions } from "./compile/index.js";
export { RandomStreams } from "./compile/index.js";
export { Variable, Constant, Apply, Op, Type } from "./graph/basic.js";
export { FunctionGraph } from "./graph/fgraph.js";
export { TensorType, TensorVariable, TensorConstant } from "./tensor/index.js";
export { grad } from "./gradient/index.js";
export * as gradient from "./gradient/index.js";
/** `theano.printing`: debugprint, pp, and (API.md §10) profileSummary, every profiled function's tables. */
export const printing = { ...printingBase, profileSummary };
export type { DebugprintOptions, Printable, PpPrintable } from "./printing/index.js";
export { ProfileStats } from "./compile/profile.js";
export type { ProfileJSON } from "./compile/profile.js";
export { debugprint, pp } from "./printing/index.js";
export type { GradOptions, VerifyGradOptions } from "./gradient/index.js";
/** The compile cache's management (`theano-ts cache list|verify|clear|cleanup`). */
export * as cache from "./link/cache_admin.js";
/** The environment report behind `theano-ts check` (compiler, OpenMP, BLAS, CUDA, WebGPU, cache, flags). */
export * as environment from "./link/environment.js";
/** Loops and branches (API.md §8). */
export { scan, scanUntil, map, reduce, foldl, foldr, ifelse } from "./scan/index.js";
export type { ScanOptions, ScanUpdates, ScanOutputs } from "./scan/index.js";
/** Data-parallel training over MPI (API.md §13): init, rank, size, allReduce, broadcast, ... */
export * as distributed from "./distributed/index.js";
