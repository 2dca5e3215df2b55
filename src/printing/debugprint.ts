/**
 * `debugprint` (API.md §10): Theano's text rendering of a graph, one variable a line, children
 * indented under ` |`. Every node gets an id (`[id A]`) the first time it is printed; later
 * occurrences print the id only, so shared subgraphs are shown once. For a compiled function the
 * optimized graph is printed, each node with its position in the execution order and its
 * destroy/view maps (`d={0: [0]}`), which is how Theano users check that fusion, GEMM and
 * in-place rewrites happened.
 *
 * The walk is iterative (an explicit stack), so deep graphs print without recursion limits.
 */

import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";

export interface DebugprintOptions {
  /** Also write the text to stdout (default true, as Theano). */
  print?: boolean;
  /** Print each variable's type after it (Theano's `print_type`). */
  printType?: boolean;
  /** Stop expanding below this depth (default: unlimited). */
  depth?: number;
}

/** What debugprint accepts: variables, or a compiled function (anything with an `fgraph`). */
export type Printable = Variable | readonly Variable[] | { readonly fgraph: FunctionGraph };

/** `A`, `B`, ... `Z`, `BA`, ... as Theano numbers its ids. */
function idName(n: number): string {
  let s = "";
  do {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26);
  } while (n > 0);
  return s;
}

function mapText(m: ReadonlyMap<number, readonly number[]>): string {
  return `{${[...m].map(([o, ins]) => `${o}: [${ins.join(", ")}]`).join(", ")}}`;
}

export function debugprint(obj: Printable, opts: DebugprintOptions = {}): string {
  const isFunction = (typeof obj === "object" || typeof obj === "function") && obj !== null && !Array.isArray(obj) && "fgraph" in obj;
  const fgraph = isFunction ? (obj as { fgraph: FunctionGraph }).fgraph : null;
  const roots: readonly Variable[] = fgraph ? fgraph.outputs : Array.isArray(obj) ? (obj as readonly Variable[]) : [obj as Variable];
  const order = new Map<Apply, number>();
  if (fgraph) fgraph.toposort().forEach((n, i) => order.set(n, i));

  const ids = new Map<Apply | Variable, string>();
  const idOf = (key: Apply | Variable): { id: string; seen: boolean } => {
    const seen = ids.has(key);
    if (!seen) ids.set(key, idName(ids.size));
    return { id: ids.get(key)!, seen };
  };

  const lines: string[] = [];
  const withInner: Apply[] = [];
  const walk = (root: Variable, base: string): void => {
    const stack: Array<{ v: Variable; prefix: string; depth: number }> = [{ v: root, prefix: base, depth: 0 }];
    while (stack.length > 0) {
      const { v, prefix, depth } = stack.pop()!;
      const node = v.owner;
      const type = opts.printType ? ` <${v.type.toString()}>` : "";
      if (!node) {
        const { id } = idOf(v);
        const label = v.isConstant ? String(v.name ?? constantText(v)) : v.name ?? `<${v.type.toString()}>`;
        lines.push(`${prefix}${label} [id ${id}]${type}`);
        continue;
      }
      const { id, seen } = idOf(node);
      if (!seen && node.op.innerGraphs().length > 0) withInner.push(node);
      const outIdx = node.outputs.length > 1 ? `.${v.index}` : "";
      let line = `${prefix}${node.op.toString()}${outIdx} [id ${id}]${type} '${v.name ?? ""}'`;
      if (order.has(node)) line += `   ${order.get(node)}`;
      if (node.op.destroyMap.size > 0) line += ` d=${mapText(node.op.destroyMap)}`;
      if (node.op.viewMap.size > 0) line += ` v=${mapText(node.op.viewMap)}`;
      lines.push(line);
      if (seen || (opts.depth !== undefined && depth + 1 >= opts.depth)) continue;
      const child = `${prefix} |`;
      // Push in reverse so the first input prints first.
      for (let i = node.inputs.length - 1; i >= 0; i--) stack.push({ v: node.inputs[i]!, prefix: child, depth: depth + 1 });
    }
  };
  for (const root of roots) walk(root, "");
  // Theano's "Inner graphs" section: each op with graphs inside (a Scan's step, an IfElse's
  // branches) once, under its id, the inner outputs marked with ">" (nested ones follow).
  if (withInner.length > 0) lines.push("", "Inner graphs:");
  for (let k = 0; k < withInner.length; k++) {
    const node = withInner[k]!;
    for (const g of node.op.innerGraphs()) {
      lines.push("", `${node.op.toString()} [id ${ids.get(node)}] (${g.name})`);
      for (const out of g.outputs) walk(out, " >");
    }
  }
  const text = lines.join("\n") + "\n";
  if (opts.print ?? true) {
    const out = (globalThis as { process?: { stdout?: { write(t: string): unknown } } }).process?.stdout;
    if (out) out.write(text);
    else console.log(text);
  }
  return text;
}

/** Theano's rendering: `TensorConstant{0.5}`, `TensorConstant{[1 2 3]}`, long ones by size. */
function constantText(v: Variable): string {
  const data = v.constantData as { size?: number; shape?: readonly number[]; toFlat?(): ArrayLike<number | bigint> } | undefined;
  if (!data || typeof data !== "object" || typeof data.size !== "number" || !data.toFlat) return `Constant{${String(data)}}`;
  if (data.size > 8) return `TensorConstant{shape=(${data.shape!.join(", ")})}`;
  const flat = Array.from(data.toFlat(), (x) => String(x));
  return `TensorConstant{${data.shape!.length === 0 ? flat[0] : `[${flat.join(" ")}]`}}`;
}
