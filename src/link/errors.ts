/**
 * Errors raised while a node runs, rewritten to point at the user's graph: the node, its
 * inputs' types, and with `exception_verbosity=high` the inputs' shapes, strides, value
 * summaries and the user-code stack where the node was created. The error keeps its class
 * (a ShapeError stays a ShapeError), so callers can still catch by class.
 */

import { config } from "../config/index.js";
import { ShapeError, TheanoError } from "../errors.js";
import type { Apply } from "../graph/basic.js";
import { type DType, itemsize } from "../ndarray/dtype.js";
import { NDArray, formatBytes } from "../ndarray/ndarray.js";

function summary(v: unknown): string {
  if (!(v instanceof NDArray)) return String(v);
  const parts = [`shape=[${v.shape.join(", ")}]`, `strides=[${v.strides.join(", ")}]`, `dtype=${v.dtype}`];
  if (v.size > 0 && v.size <= 10) parts.push(`value=${v.toString()}`);
  else if (v.size > 0 && v.dtype !== "int64" && v.dtype !== "uint64") {
    const f = v.toFlat() as Float64Array;
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of f) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    parts.push(`min=${lo}`, `max=${hi}`);
  }
  return parts.join(", ");
}

/**
 * An allocation the JS runtime refused inside an op's `perform` (a RangeError: a length past
 * V8's TypedArray cap, or memory it would not give) as the ShapeError of a too-large result,
 * naming the elements and bytes asked for. Sizes computed through `shapeSize`/`allocData` fail
 * before this with the shape itself; this catches every other allocation site.
 */
function allocationError(err: unknown, node: Apply): unknown {
  if (!(err instanceof RangeError) || !/Invalid typed array length|Array buffer allocation failed|Invalid array buffer length|Invalid array length/.test(err.message)) return err;
  const n = Number(/length: (\d+(?:\.\d+)?(?:e\+?\d+)?)/.exec(err.message)?.[1] ?? NaN);
  const out = node.outputs[0]?.type as { dtype?: DType } | undefined;
  const size = Number.isFinite(n) && out?.dtype ? ` (${n} elements of ${out.dtype}: ${n * itemsize(out.dtype)} bytes, ${formatBytes(n * itemsize(out.dtype))})` : "";
  return new ShapeError(`${String(node.op)}: its result is too large to allocate${size}: more memory than this JavaScript runtime gives one array (${err.message}); use smaller shapes`, { cause: err });
}

/**
 * Late-bound: the package entry registers `debugprint` here (src/printing may not be imported
 * from src/link), so the high-verbosity report can print the failing node's subgraph.
 */
export const errorReport: { debugprint?: (node: Apply) => string } = {};

/**
 * The same error class with the node's story appended; non-Theano errors become TheanoErrors.
 * `order` is the compiled graph's toposort, for "toposort index k of n"; `inputs` are the values
 * the node was given (a constant input the backend did not pass is read from the graph).
 */
export function wrapNodeError(err: unknown, node: Apply, inputs: readonly unknown[], order?: readonly Apply[]): Error {
  if (err instanceof TheanoError && (err as { node?: Apply }).node) return err;
  err = allocationError(err, node);
  const base = err instanceof Error ? err.message : String(err);
  const index = order ? order.indexOf(node) : -1;
  const position = index >= 0 ? ` (toposort index ${index} of ${order!.length})` : "";
  const lines = [base, "", `Apply node that caused the error: ${node.toString()}${position}`];
  lines.push(`Inputs types: [${node.inputs.map((i) => i.type.toString()).join(", ")}]`);
  // A fused node (issue 16.4): the user's nodes inside it, each with the line that made it.
  const fused = node.trace.fused;
  if (fused.length > 1) {
    lines.push(`This node fuses ${fused.length} nodes of your graph:`);
    for (const part of fused) lines.push(`  ${part.op}${part.trace.where ? ` created at ${part.trace.where}` : ""}`);
  }
  if (config.exception_verbosity === "high") {
    node.inputs.forEach((inp, k) => lines.push(`  input ${k} (${inp.label}): ${summary(inputs[k] ?? (inp.isConstant ? inp.constantData : undefined))}`));
    const trace = node.trace.format(config.traceback.limit);
    lines.push("Backtrace when the node is created:", trace || "  (no user frames recorded)");
    if (errorReport.debugprint) lines.push("Debugprint of the apply node:", errorReport.debugprint(node).trimEnd());
  } else {
    const where = node.trace.where;
    if (where) lines.push(`The node was created at ${where}.`);
    lines.push("HINT: re-run with THEANO_FLAGS=exception_verbosity=high for the inputs' shapes and values and the full creation backtrace.");
  }
  const wrapped = rebuild(err, lines.join("\n"));
  // Not enumerable: test runners and loggers that walk an error's own properties would
  // otherwise walk the whole graph behind the node (vitest overflows the stack doing it).
  Object.defineProperty(wrapped, "node", { value: node, enumerable: false, writable: true, configurable: true });
  return wrapped;
}

/**
 * A new error of the same class as `err` with `message`, keeping its own fields (CompileError's
 * `sourcePath`/`logPath`) and `err` as the cause. Built without calling the subclass
 * constructor, whose parameters differ from class to class.
 */
function rebuild(err: unknown, message: string): TheanoError {
  if (!(err instanceof TheanoError)) return new TheanoError(message, { cause: err });
  const wrapped = Object.create(Object.getPrototypeOf(err) as object) as TheanoError;
  Object.assign(wrapped, err);
  for (const [key, value] of [["message", message], ["cause", err], ["name", err.name]] as const) {
    Object.defineProperty(wrapped, key, { value, enumerable: false, writable: true, configurable: true });
  }
  Error.captureStackTrace(wrapped, wrapNodeError);
  return wrapped;
}
