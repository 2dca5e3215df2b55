/**
 * The error classes of theano-ts (API.md §11).
 *
 * Every error the library raises on purpose is a `TheanoError` and exactly one of its
 * subclasses, so callers can `catch (e) { if (e instanceof theano.ShapeError) ... }`.
 * This module is a leaf: every stage of the pipeline may import it, it imports nothing.
 * Messages name the problem and, where there is one, the way out (Theano's messages often
 * did neither; ours must).
 */

export class TheanoError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // `new.target.name` keeps the subclass name in stack traces and `String(err)`.
    this.name = new.target.name;
  }
}

/** Bad values given to a function: count, names, dtype, rank, static shape; ragged nested arrays. */
export class InputError extends TheanoError {}

/** Shapes that disagree at run time, out-of-bounds indices, bad reshape/split sizes, static conflicts. */
export class ShapeError extends TheanoError {}

/** Graph-building dtype and rank conflicts. */
export class TypeMismatchError extends TheanoError {}

/** Non-scalar costs, disconnected inputs, ops without a gradient. */
export class GradientError extends TheanoError {}

/** A graph output depends on a variable that is neither an input, a shared variable nor a constant. */
export class MissingInputError extends TheanoError {}

/** An input that no output depends on (with `onUnusedInput: "raise"`). */
export class UnusedInputError extends TheanoError {}

/** Native code that did not build; `sourcePath` and `logPath` say where the evidence was kept. */
export class CompileError extends TheanoError {
  constructor(
    message: string,
    readonly sourcePath?: string,
    readonly logPath?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Device, driver or library problems, with what was looked for and what was found. */
export class BackendError extends TheanoError {}

/** NanGuardMode found a NaN, an Inf or a huge value. */
export class NaNError extends TheanoError {}

/** DebugMode found a compiled result that differs from the reference implementation. */
export class DebugModeError extends TheanoError {}

/** Unknown flag, bad flag value, unreadable rc file. */
export class ConfigError extends TheanoError {}

/**
 * The library's warning channel: Node's `process.emitWarning` when there is one (so tools and
 * `--no-warnings` treat it as a warning), else the console. Every stage may warn.
 */
export function warn(msg: string): void {
  const p = (globalThis as { process?: { emitWarning?: (m: string) => void } }).process;
  if (p?.emitWarning) p.emitWarning(msg);
  else console.warn(msg);
}
