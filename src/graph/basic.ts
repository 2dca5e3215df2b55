/**
 * The graph IR: Type, Variable, Constant, Apply, Op (Theano's `graph/basic.py` and `graph/op.py`).
 *
 * A Variable is a symbolic value of some Type, made either by the user (no owner) or as output
 * `index` of an Apply node, which applies an Op to input Variables. An Op states everything
 * about one operation once: `makeNode` (type checking and output types), `perform` (the
 * reference implementation on host values, the oracle for every backend), `inferShape`,
 * `grad`, and aliasing (`viewMap`/`destroyMap`). Every traversal here is iterative so graphs of
 * hundreds of thousands of nodes never hit the call-stack limit.
 */

import { config } from "../config/index.js";
import { InputError, TheanoError, TypeMismatchError, warn } from "../errors.js";

let nextId = 1;

/** A source location in user code, captured when a Variable is made. */
export interface Frame {
  readonly fn: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

// Frames from these paths are library internals and are hidden from users.
const LIBRARY_ROOT = (() => {
  const url = import.meta.url;
  const i = url.lastIndexOf("/graph/");
  return i >= 0 ? url.slice(0, i + 1) : url;
})();
const LIBRARY_PATH = LIBRARY_ROOT.replace(/^file:\/\//, "");

/**
 * The user-code stack where something is created. Capturing is cheap (V8 collects frames and
 * formats the text only when `.stack` is read), so parsing waits until an error needs it.
 */
export class CreationTrace {
  private readonly holder: { stack?: string };
  private parsed: Frame[] | undefined;

  constructor() {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 40;
    this.holder = {};
    Error.captureStackTrace?.(this.holder, CreationTrace);
    // `in`, not a read: reading `.stack` formats it now (with source maps under tsx/vitest,
    // tens of microseconds per variable), which is exactly the cost deferred to `frames`.
    if (!("stack" in this.holder)) this.holder.stack = new Error().stack ?? "";
    Error.stackTraceLimit = limit;
  }

  /** The frames in user code, innermost first. */
  get frames(): Frame[] {
    if (this.parsed) return this.parsed;
    const out: Frame[] = [];
    for (const line of (this.holder.stack ?? "").split("\n").slice(1)) {
      const m = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/.exec(line);
      if (!m) continue;
      const file = m[2]!;
      if (file.startsWith(LIBRARY_ROOT) || file.startsWith(LIBRARY_PATH) || file.startsWith("node:") || file.includes("/node_modules/vitest/") || file.includes("/node_modules/@vitest/")) continue;
      out.push({ fn: m[1] ?? "<anonymous>", file, line: Number(m[3]), column: Number(m[4]) });
    }
    this.parsed = out;
    return out;
  }

  /** "file:line:col" of the innermost user frame, or "" when unknown. */
  get where(): string {
    const f = this.frames[0];
    return f ? `${f.file}:${f.line}:${f.column}` : "";
  }

  /**
   * The nodes of the user's graph that a rewrite fused into the node carrying this trace (a
   * Composite, a FusedReduce), each with its own trace; empty for an ordinary node. An error in
   * the fused node names every one of their lines (issue 16.4), not an internal index.
   */
  fused: ReadonlyArray<{ readonly op: string; readonly trace: CreationTrace }> = [];

  /**
   * The trace of a node fusing `nodes`: `primary`'s frames (the user line errors point at
   * first) and the ops and traces of every node fused, flattened through earlier fusions.
   */
  static fusing(primary: CreationTrace, nodes: ReadonlyArray<{ readonly op: unknown; readonly trace: CreationTrace }>): CreationTrace {
    const t = Object.create(CreationTrace.prototype) as CreationTrace;
    Object.assign(t, { holder: primary.holder, parsed: primary.parsed });
    const parts: Array<{ op: string; trace: CreationTrace }> = [];
    for (const n of nodes) {
      if (n.trace.fused.length > 0) parts.push(...n.trace.fused);
      else parts.push({ op: String(n.op), trace: n.trace });
    }
    t.fused = parts;
    return t;
  }

  format(limit = 8): string {
    return this.frames
      .slice(0, limit)
      .map((f) => `  File "${f.file}", line ${f.line}, column ${f.column}, in ${f.fn}`)
      .join("\n");
  }
}

/** A Type describes the values a Variable may take and validates concrete values. */
export abstract class Type {
  abstract equals(other: Type): boolean;
  abstract toString(): string;
  /** Makes a fresh Variable of this type. */
  abstract makeVariable(name?: string | null): Variable;
}

// While set, new variables take this trace instead of capturing the stack (see withTrace).
let inheritedTrace: CreationTrace | null = null;

/**
 * Runs `fn` so that every variable it creates carries `trace` (Theano's `copy_stack_trace`):
 * a node a rewrite builds points at the user code of the node it replaces, and capturing no
 * stack keeps rewriting a large graph cheap.
 */
export function withTrace<R>(trace: CreationTrace, fn: () => R): R {
  const prev = inheritedTrace;
  inheritedTrace = trace;
  try {
    return fn();
  } finally {
    inheritedTrace = prev;
  }
}

export class Variable<T extends Type = Type> {
  readonly id: number;
  type: T;
  owner: Apply | null;
  /** Which output of `owner` this is. */
  index: number;
  name: string | null;
  readonly trace: CreationTrace;
  /** Free-form annotations rewrites and backends attach (Theano's `tag`). */
  readonly tag: Record<string, unknown> = {};

  constructor(type: T, owner: Apply | null = null, index = 0, name: string | null = null) {
    this.id = nextId++;
    this.type = type;
    this.owner = owner;
    this.index = index;
    this.name = name;
    this.trace = inheritedTrace ?? new CreationTrace();
  }

  /** A fresh, ownerless Variable of the same type and name. */
  cloneVariable(): Variable<T> {
    const v = this.type.makeVariable(this.name) as Variable<T>;
    Object.assign(v.tag, this.tag);
    return v;
  }

  /** Constants (of any type) carry their value; `isConstant(v)` is how the pipeline asks. */
  get isConstant(): boolean {
    return false;
  }

  get constantData(): unknown {
    return undefined;
  }

  /** Short label for messages: the name, else the op that made it, else `<Type>`. */
  get label(): string {
    if (this.name) return this.name;
    if (this.owner) return `${this.owner.op.toString()}.${this.index}`;
    return `<${this.type.toString()}>`;
  }

  toString(): string {
    return this.label;
  }

  /**
   * A flat description. Serializers that walk objects (JSON.stringify, test runners reporting
   * a failure, loggers) would otherwise follow owner/inputs through the whole graph, or call
   * getters such as TensorVariable.shape that build new variables without end.
   */
  toJSON(): { variable: string; type: string; id: number } {
    return { variable: this.label, type: this.type.toString(), id: this.id };
  }
}

/** A Variable with a fixed value (a constant in the graph; never an input). */
export class Constant<T extends Type = Type> extends Variable<T> {
  constructor(
    type: T,
    readonly data: unknown,
    name: string | null = null,
  ) {
    super(type, null, 0, name);
  }

  override cloneVariable(): Constant<T> {
    return this;
  }

  override get isConstant(): boolean {
    return true;
  }

  override get constantData(): unknown {
    return this.data;
  }
}

export const isConstant = (v: Variable): boolean => v.isConstant;

/** User lines already warned about by `warn_float64=warn` (once each: graphs are cloned when compiled). */
const float64Warned = new Set<string>();

/**
 * `warn_float64` (issue 16.6, Theano's flag): a node that makes a float64 result while floatX is
 * float32 is reported with the user's line that created it — an accidental upcast (a float64
 * constant, a `T.dvector` mixed in) silently doubles the memory and halves the speed of a
 * float32 model. `warn` warns once per line; `raise` throws a TypeMismatchError there.
 */
function checkFloat64(node: Apply): void {
  if (config.floatX !== "float32") return;
  if (!node.outputs.some((o) => (o.type as { dtype?: string }).dtype === "float64")) return;
  const where = node.trace.where;
  const msg =
    `${String(node.op)} makes a float64 result while floatX=float32 (warn_float64=${config.warn_float64})${where ? `, at ${where}` : ""}: ` +
    `one of its inputs is float64 (${node.inputs.map((v) => `${v.label}: ${String(v.type)}`).join(", ")}); cast it with .astype("float32") or build it as float32`;
  if (config.warn_float64 === "raise") throw new TypeMismatchError(msg);
  const key = where || msg;
  if (float64Warned.has(key)) return;
  float64Warned.add(key);
  warn(`theano-ts: ${msg}`);
}

/**
 * `warn_float64` for a variable the user declares (Theano warns when any float64 tensor variable
 * is created): a free float64 tensor (`T.dvector`, `T.tensor({ dtype: "float64" })`) or a float64
 * shared variable while floatX is float32, reported with the user's line as `checkFloat64` does.
 */
export function checkFloat64Variable(v: Variable, what: string): void {
  if (config.warn_float64 === "ignore" || config.floatX !== "float32") return;
  if ((v.type as { dtype?: string }).dtype !== "float64") return;
  const where = v.trace.where;
  const msg =
    `${what} ${v.label} is float64 while floatX=float32 (warn_float64=${config.warn_float64})${where ? `, at ${where}` : ""}: ` +
    `everything computed from it is float64 too; declare it float32 (T.fvector, dtype "float32") or cast it with .astype("float32")`;
  if (config.warn_float64 === "raise") throw new TypeMismatchError(msg);
  const key = where || msg;
  if (float64Warned.has(key)) return;
  float64Warned.add(key);
  warn(`theano-ts: ${msg}`);
}

/**
 * The test value of `v` (issue 16.3): a constant's data, `v.tag.testValue` (filtered to v's
 * type), a shared variable's value; undefined when it has none.
 */
function testValueOf(v: Variable): unknown {
  if (v.isConstant) return v.constantData;
  const t = v.tag.testValue;
  if (t !== undefined) {
    const filter = (v.type as { filter?: (x: unknown, o: { what: string }) => unknown }).filter;
    return filter ? filter.call(v.type, t, { what: `the test value of ${v.label}` }) : t;
  }
  const getValue = (v as { getValue?: (o: { borrow: boolean }) => unknown }).getValue;
  return typeof getValue === "function" ? getValue.call(v, { borrow: true }) : undefined;
}

/**
 * `compute_test_value` (Theano's flag, issue 16.3): every node the user builds runs its
 * reference `perform` on its inputs' test values, and its outputs get theirs, so a shape or
 * dtype error is raised at the user's own line while the graph is built, not deep inside a
 * compiled call. A missing test value is skipped (`ignore`), reported once (`warn`) or an
 * InputError (`raise`).
 */
function computeTestValues(node: Apply): void {
  const mode = config.compute_test_value;
  const values: unknown[] = [];
  for (const [i, v] of node.inputs.entries()) {
    const tv = testValueOf(v);
    if (tv === undefined) {
      if (mode === "ignore") return;
      const where = node.trace.where;
      const msg = `compute_test_value=${mode}: input ${i} (${v.label}) of ${String(node.op)}${where ? ` at ${where}` : ""} has no test value; set ${v.label}.tag.testValue = ... (an array of its type)`;
      if (mode === "raise") throw new InputError(msg);
      const key = `${where}\0${v.id}`;
      if (!testValueWarned.has(key)) {
        testValueWarned.add(key);
        warn(`theano-ts: ${msg}`);
      }
      return;
    }
    values.push(tv);
  }
  let outs: unknown[];
  try {
    outs = node.op.perform(node, values as Value[]);
  } catch (e) {
    if (e instanceof Error) {
      const where = node.trace.where;
      e.message = `${e.message} (computing the test value of ${String(node.op)}${where ? ` at ${where}` : ""}, compute_test_value=${mode})`;
    }
    throw e;
  }
  node.outputs.forEach((o, i) => (o.tag.testValue = outs[i]));
}
const testValueWarned = new Set<string>();

export class Apply<O extends Op = Op> {
  readonly op: O;
  inputs: Variable[];
  readonly outputs: Variable[];
  readonly trace: CreationTrace;
  /** Free-form annotations (e.g. the inferred output shapes a backend needs). */
  readonly tag: Record<string, unknown> = {};

  constructor(op: O, inputs: Variable[], outputTypes: Type[]) {
    this.op = op;
    this.inputs = inputs;
    this.outputs = outputTypes.map((t, i) => {
      const v = t.makeVariable(null);
      v.owner = this;
      v.index = i;
      return v;
    });
    this.trace = this.outputs[0]?.trace ?? new CreationTrace();
    if (inheritedTrace === null && config.warn_float64 !== "ignore") checkFloat64(this);
    // Test values: only for nodes the user builds (rewrites and clones run under withTrace).
    if (inheritedTrace === null && config.compute_test_value !== "off") computeTestValues(this);
  }

  get out(): Variable {
    if (this.outputs.length !== 1) throw new TheanoError(`${this.op} has ${this.outputs.length} outputs; use .outputs`);
    return this.outputs[0]!;
  }

  /** The same op applied to other inputs, with freshly made outputs of the same types. */
  cloneWithNewInputs(inputs: Variable[]): Apply<O> {
    // The copy keeps the original's creation trace: errors point at the user's line.
    const node = withTrace(this.trace, () => new Apply(this.op, inputs, this.outputs.map((o) => o.type)));
    node.outputs.forEach((o, i) => {
      o.name = this.outputs[i]!.name;
      Object.assign(o.tag, this.outputs[i]!.tag);
    });
    return node;
  }

  toString(): string {
    return `${this.op.toString()}(${this.inputs.map((i) => i.label).join(", ")})`;
  }

  /** A flat description (see Variable.toJSON). */
  toJSON(): { apply: string } {
    return { apply: this.toString() };
  }
}

/** What `Op.grad` gives per input: a gradient, `null` (disconnected), or a GradUndefined. */
export type GradResult = Variable | null | GradUndefined;

/**
 * "This op does not define the gradient with respect to input `index`" (Theano's
 * `grad_undefined`/`grad_not_implemented`). Harmless unless that input lies on a path to a `wrt`.
 */
export class GradUndefined {
  constructor(
    readonly op: Op,
    readonly index: number,
    readonly reason: string,
  ) {}
}

/** A value that flows at run time: for tensors an NDArray. Backends may carry other things. */
export type Value = unknown;

/**
 * The Op contract. `props()` gives identity: two ops of the same class with equal props are
 * the same operation (merge relies on it); it is also what `toString` prints.
 */
export abstract class Op {
  /** Output index -> input indices the output is a view of. */
  viewMap: ReadonlyMap<number, readonly number[]> = new Map();
  /** Output index -> input indices it overwrites. */
  destroyMap: ReadonlyMap<number, readonly number[]> = new Map();

  /** Parameters that make this op what it is; equality, hashing and printing use them. */
  props(): Record<string, unknown> {
    return {};
  }

  /**
   * The graphs an op runs inside itself (a Scan's step, an IfElse's branches), for printing
   * (debugprint's "Inner graphs" section); none for an ordinary op.
   */
  innerGraphs(): ReadonlyArray<{ readonly name: string; readonly outputs: readonly Variable[] }> {
    return [];
  }

  get opName(): string {
    return this.constructor.name;
  }

  /** Builds the Apply node, checking input types; raises TypeMismatchError/ShapeError. */
  abstract makeNode(...inputs: Variable[]): Apply;

  /**
   * The reference implementation: input values in, output values out. `reuse`, when a linker
   * gives it, holds this node's outputs of the previous call that nothing else holds any more
   * (allow_gc=False): an op may write its new outputs into them instead of fresh memory.
   */
  abstract perform(node: Apply, inputs: Value[], reuse?: ReadonlyArray<Value | undefined>): Value[];

  /**
   * Symbolic output shapes from symbolic input shapes (one array of scalar shape variables per
   * input; `null` for non-tensor inputs). Ops without it fall back to `shape(output)`.
   */
  inferShape?(node: Apply, inputShapes: Array<Variable[] | null>): Variable[][];

  /**
   * The gradient graph (Theano's `L_op`): given the node's inputs, its outputs and one gradient
   * per output (always a real variable: zeros where no gradient flows into that output), returns
   * one entry per input: a Variable (the gradient, same type as the input up to broadcasting
   * that the engine sums away), `null` when the input is disconnected from every output (integer
   * indices, shapes, comparisons), or a `GradUndefined` when the gradient exists mathematically
   * but is not defined by this op (the engine raises GradientError only if that input lies on
   * the path to a `wrt`).
   */
  grad?(inputs: Variable[], outputGrads: Variable[], outputs: Variable[]): GradResult[];

  /**
   * Set (to the reason) on ops with no gradient at all: every input is disconnected from the
   * outputs (comparisons, argmax, shape, integer-only ops). The registry test requires every op
   * to have either `grad` or this.
   */
  notDifferentiable?: string;

  /**
   * Forward-mode (Theano's `R_op`): given inputs and one tangent per input (`null` when that input
   * does not vary), returns one tangent per output (`null` when it is zero). Ops without it get
   * the engine's fallback (Rop through two Lops).
   */
  rop?(inputs: Variable[], evalPoints: Array<Variable | null>, outputs: Variable[]): Array<Variable | null>;

  equals(other: Op): boolean {
    if (this === other) return true;
    if (this.constructor !== other.constructor) return false;
    return stableKey(this.props()) === stableKey(other.props());
  }

  /** A string equal for equal ops (class name and props), used for hashing. */
  get key(): string {
    return `${this.opName}${stableKey(this.props())}`;
  }

  toString(): string {
    const p = this.props();
    const entries = Object.entries(p).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return this.opName;
    return `${this.opName}{${entries.map(([k, v]) => `${k}=${formatProp(v)}`).join(", ")}}`;
  }

  /** Convenience: `op.call(a, b)` makes the node and returns its single output. */
  call(...inputs: Variable[]): Variable {
    return this.makeNode(...inputs).out;
  }
}

function formatProp(v: unknown): string {
  if (Array.isArray(v)) return `(${v.map(formatProp).join(", ")})`;
  if (v instanceof Op) return v.toString();
  if (v && typeof v === "object" && "toString" in v && v.toString !== Object.prototype.toString) return String(v);
  if (typeof v === "object" && v !== null) return JSON.stringify(v);
  return String(v);
}

/** Deterministic JSON for props (ops nested in props use their own key). */
export function stableKey(v: unknown): string {
  if (v instanceof Op) return v.key;
  if (v === null || v === undefined) return String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableKey).join(",")}]`;
  if (v instanceof Type) return v.toString();
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableKey((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

// ---------------------------------------------------------------------------------------------
// Traversals (all iterative)

/** Every variable `outputs` depend on, stopping at `stopAt` (inputs of a function). */
export function ancestors(outputs: readonly Variable[], stopAt?: ReadonlySet<Variable>): Variable[] {
  const seen = new Set<Variable>();
  const out: Variable[] = [];
  const stack = [...outputs];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    out.push(v);
    if (v.owner && !(stopAt && stopAt.has(v))) for (const i of v.owner.inputs) stack.push(i);
  }
  return out;
}

/** Ownerless, non-constant ancestors: the variables a graph needs as inputs. */
export function graphInputs(outputs: readonly Variable[], stopAt?: ReadonlySet<Variable>): Variable[] {
  return ancestors(outputs, stopAt).filter((v) => (v.owner === null || (stopAt?.has(v) ?? false)) && !v.isConstant);
}

/**
 * Apply nodes between `inputs` and `outputs` in an order where every node follows the nodes
 * that produce its inputs (iterative DFS post-order; deterministic for a given graph).
 */
export function toposort(outputs: readonly Variable[], inputs: ReadonlySet<Variable> = new Set()): Apply[] {
  const order: Apply[] = [];
  const state = new Map<Apply, 1 | 2>(); // 1 = on stack, 2 = done
  for (const root of outputs) {
    if (!root.owner || inputs.has(root)) continue;
    const stack: Array<[Apply, number]> = [[root.owner, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [node, i] = top;
      if (i === 0) {
        if (state.get(node) === 2) {
          stack.pop();
          continue;
        }
        state.set(node, 1);
      }
      if (i < node.inputs.length) {
        top[1] = i + 1;
        const inp = node.inputs[i]!;
        if (inp.owner && !inputs.has(inp)) {
          const s = state.get(inp.owner);
          if (s === undefined) stack.push([inp.owner, 0]);
          else if (s === 1) throw new TheanoError(`the graph has a cycle through ${inp.owner}`);
        }
      } else {
        state.set(node, 2);
        order.push(node);
        stack.pop();
      }
    }
  }
  return order;
}

/**
 * Copies the graph between `inputs` and `outputs`. `replace` maps original variables to the
 * variables to use instead (givens); inputs not in `replace` are kept as they are unless
 * `copyInputs` asks for fresh ones. Nodes are copied (so rewriting the copy never touches the
 * user's graph) unless `shareUnchanged` lets nodes whose inputs did not change be reused. Returns the map from every original variable to its copy.
 */
export function cloneGraph(
  inputs: readonly Variable[],
  outputs: readonly Variable[],
  opts: { replace?: ReadonlyMap<Variable, Variable>; copyInputs?: boolean; shareUnchanged?: boolean } = {},
): Map<Variable, Variable> {
  const replace = opts.replace ?? new Map<Variable, Variable>();
  const memo = new Map<Variable, Variable>();
  const inputSet = new Set(inputs);
  // What a variable's copy is made from: a replaced variable from its replacement (so
  // replacement values that use other replaced variables, or inputs, resolve too), an input or
  // an ownerless variable from nothing, any other from its owner's inputs. Iterative DFS.
  const deps = (v: Variable): readonly Variable[] =>
    replace.has(v) ? [replace.get(v)!] : inputSet.has(v) || !v.owner ? [] : v.owner.inputs;
  const onStack = new Set<Variable>();
  const stack: Variable[] = [...outputs, ...inputs, ...replace.keys()].reverse();
  while (stack.length > 0) {
    const v = stack[stack.length - 1]!;
    if (memo.has(v)) {
      stack.pop();
      continue;
    }
    const missing = deps(v).filter((d) => !memo.has(d));
    if (missing.length > 0 && !onStack.has(v)) {
      onStack.add(v);
      for (let k = missing.length - 1; k >= 0; k--) {
        if (onStack.has(missing[k]!)) throw new TheanoError(`cloneGraph: the replacement of ${missing[k]!.label} depends on ${missing[k]!.label} itself`);
        stack.push(missing[k]!);
      }
      continue;
    }
    stack.pop();
    onStack.delete(v);
    if (replace.has(v)) memo.set(v, memo.get(replace.get(v)!)!);
    else if (inputSet.has(v)) memo.set(v, opts.copyInputs ? v.cloneVariable() : v);
    else if (!v.owner) memo.set(v, v);
    else {
      const node = v.owner;
      const newInputs = node.inputs.map((i) => memo.get(i)!);
      if (opts.shareUnchanged && newInputs.every((i, k) => i === node.inputs[k])) {
        node.outputs.forEach((o) => memo.set(o, o));
      } else {
        const copy = node.cloneWithNewInputs(newInputs);
        node.outputs.forEach((o, k) => memo.set(o, copy.outputs[k]!));
      }
    }
  }
  return memo;
}
