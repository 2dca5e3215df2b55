/**
 * `theano.pp(var)` (API.md §10): Theano's one-line algebraic rendering of a graph,
 * `(x + (y * 2))`, `exp(x)`, `sum(x, axis=[1])`, `x.T`, `dot(x, W)`, `x[1:3, i]`.
 *
 * Binary elementwise operations print infix and fully parenthesised, as Theano's pprint does,
 * so no precedence rules are needed to read them back; every other elementwise operation prints
 * as a call of its scalar name. A DimShuffle that only inserts broadcastable axes under an
 * elementwise operation (or of a constant) is the broadcasting NumPy does implicitly, so it
 * prints as its input. Ops without a rule print as `Op{props}(args)`, as Theano's default
 * printer does.
 *
 * printing/ may import graph only (ARCHITECTURE.md), so ops are recognised by `opName` and
 * `props()`, never by class. The walk is iterative (toposort), and an expression longer than
 * MAX_EXPR characters is shown by its label, so a graph that reuses a subexpression many times
 * (x = x * x, forty times) prints in bounded space.
 */

import { type Apply, type Variable, toposort } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";

/** What pp accepts: a variable, several, or a compiled function (its optimized outputs). */
export type PpPrintable = Variable | readonly Variable[] | { readonly fgraph: FunctionGraph };

/** Subexpressions longer than this print as their label (see the header). */
export const MAX_EXPR = 4000;

const INFIX: Readonly<Record<string, string>> = {
  add: "+",
  sub: "-",
  mul: "*",
  trueDiv: "/",
  div: "/",
  intDiv: "//",
  mod: "%",
  pow: "**",
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
  eq: "==",
  neq: "!=",
  and: "&",
  or: "|",
  xor: "^",
};

const PREFIX: Readonly<Record<string, string>> = { neg: "-", not: "~" };

const REDUCE: Readonly<Record<string, string>> = { add: "sum", mul: "prod", maximum: "max", minimum: "min", and: "all", or: "any" };

const INT_PLACEHOLDER = /\b(?:u?int(?:8|16|32|64))\b/g;

function props(node: Apply): Record<string, unknown> {
  return node.op.props();
}

/** The DimShuffle pattern of `node`, or null when it is not one. */
function shufflePattern(node: Apply | null): readonly string[] | null {
  if (!node || node.op.opName !== "DimShuffle") return null;
  const p = props(node)["pattern"];
  return Array.isArray(p) ? (p as string[]) : null;
}

/** A pattern that keeps every axis in order and only inserts broadcastable ones ("x"). */
function onlyBroadcasts(pattern: readonly string[], inputNdim: number): boolean {
  const kept = pattern.filter((p) => p !== "x");
  return kept.length === inputNdim && kept.every((p, i) => p === String(i));
}

function ndimOf(v: Variable): number | null {
  const n = (v.type as { ndim?: unknown }).ndim;
  return typeof n === "number" ? n : null;
}

function render(node: Apply, out: Variable, arg: (v: Variable) => string, implicit: (v: Variable) => string): string {
  const op = node.op;
  const p = props(node);
  const multi = node.outputs.length > 1 ? `[${out.index}]` : "";
  switch (op.opName) {
    case "Elemwise": {
      const scalar = String(p["scalar"]);
      const args = node.inputs.map(implicit);
      if (scalar === "identity" && typeof p["dtype"] === "string") return `cast(${args[0]}, ${p["dtype"]})`;
      const infix = INFIX[scalar];
      if (infix && args.length === 2) return `(${args[0]} ${infix} ${args[1]})`;
      const prefix = PREFIX[scalar];
      if (prefix && args.length === 1) return `${prefix}${args[0]}`;
      return `${scalar}(${args.join(", ")})${multi}`;
    }
    case "CAReduce": {
      const name = REDUCE[String(p["op"])] ?? String(p["op"]);
      const axis = (p["axis"] as number[] | undefined) ?? [];
      const nd = ndimOf(node.inputs[0]!);
      const all = nd !== null && axis.length === nd && axis.every((a, i) => a === i);
      return all ? `${name}(${arg(node.inputs[0]!)})` : `${name}(${arg(node.inputs[0]!)}, axis=[${axis.join(", ")}])`;
    }
    case "DimShuffle": {
      const pattern = shufflePattern(node)!;
      const x = arg(node.inputs[0]!);
      const nd = ndimOf(node.inputs[0]!) ?? -1;
      if (pattern.length === nd && pattern.every((q) => q !== "x")) {
        if (pattern.every((q, i) => q === String(nd - 1 - i))) return `${x}.T`;
        return `${x}.transpose(${pattern.join(", ")})`;
      }
      return `${x}.dimshuffle(${pattern.map((q) => (q === "x" ? '"x"' : q)).join(", ")})`;
    }
    case "Dot":
      return `dot(${node.inputs.map(arg).join(", ")})`;
    case "Subtensor": {
      const idx = (p["idx"] as string[] | undefined) ?? [];
      let k = 1;
      // Symbolic indices and bounds print as their dtype in the op; put the inputs there.
      const text = idx.join(", ").replace(INT_PLACEHOLDER, (m) => (k < node.inputs.length ? arg(node.inputs[k++]!) : m));
      return `${arg(node.inputs[0]!)}[${text}]`;
    }
    default:
      return `${op.toString()}(${node.inputs.map(arg).join(", ")})${multi}`;
  }
}

/** One line per output: the algebraic form of each variable's graph. */
export function pp(what: PpPrintable): string {
  const outputs: readonly Variable[] = Array.isArray(what)
    ? (what as readonly Variable[])
    : "fgraph" in (what as object)
      ? (what as { fgraph: FunctionGraph }).fgraph.outputs
      : [what as Variable];
  const inputs = "fgraph" in (what as object) && !Array.isArray(what) ? new Set((what as { fgraph: FunctionGraph }).fgraph.inputs) : new Set<Variable>();
  const text = new Map<Variable, string>();
  const arg = (v: Variable): string => text.get(v) ?? v.label;
  // Implicit broadcasting: an Elemwise input that only gains broadcastable axes prints as itself.
  const implicit = (v: Variable): string => {
    const pattern = shufflePattern(v.owner);
    const src = v.owner?.inputs[0];
    if (pattern && src && onlyBroadcasts(pattern, ndimOf(src) ?? -1)) return arg(src);
    return arg(v);
  };
  for (const node of toposort(outputs, inputs)) {
    for (const out of node.outputs) {
      const s = render(node, out, arg, implicit);
      text.set(out, s.length > MAX_EXPR ? `{${out.label}: ${s.length} characters}` : s);
    }
  }
  return outputs.map((o) => {
    const pattern = shufflePattern(o.owner);
    const src = o.owner?.inputs[0];
    // A constant broadcast at the top prints as the constant.
    if (pattern && src?.isConstant && onlyBroadcasts(pattern, ndimOf(src) ?? -1)) return arg(src);
    return arg(o);
  }).join("\n");
}
