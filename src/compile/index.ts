/** Compiling graphs into callable functions: `function`, `In`, `Out`, `shared`, `Mode`. */
import "./eval.js";
import "./debug_modes.js";
export { function_, In, Out, warn } from "./function.js";
export type { FunctionOptions, CopyOptions, TheanoFunction, UpdatesLike, GivensLike } from "./function.js";
export { shared, SharedVariable, isShared } from "./shared.js";
export { Mode, FAST_RUN, FAST_COMPILE, getMode, registerRewritePipeline } from "./mode.js";
export type { ModeName, LinkerName, RewriteQuery } from "./mode.js";
export { NanGuardMode, DebugMode } from "./debug_modes.js";
export type { NanGuardOptions } from "./debug_modes.js";
export { RandomStreams } from "./random_streams.js";
