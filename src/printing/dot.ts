/**
 * Pictures of graphs (API.md §10, issue 16.5): `toDot` gives Graphviz's DOT text of a graph or a
 * compiled function's optimized graph, synchronously; `pydotprint` writes it to a file as DOT or
 * as SVG. The SVG is laid out here (no Graphviz, no Wasm, no download): nodes in layers by depth
 * from the inputs, edges as straight arrows, so a picture never depends on a system package.
 *
 * Colours follow Theano's pydotprint: graph inputs green, outputs blue, shared variables
 * cyan, constants grey; Apply nodes are ellipses, GEMM-family ops (dot, gemm, convolutions)
 * yellow, elementwise and fused kernels light grey, everything else white. In a compiled
 * function, nodes in generated code have a green outline and nodes the backend runs on the host
 * (their reference implementation, between kernels) a red one and "(host)" under the op. An edge
 * between two nodes is an intermediate result, labelled with its input position and type.
 */

import { InputError } from "../errors.js";
import type { Apply, Variable } from "../graph/basic.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import type { Printable } from "./debugprint.js";

/** What the picture holds: every Apply node from the inputs to the outputs, in order. */
interface GraphView {
  readonly nodes: Apply[];
  readonly inputs: Variable[];
  readonly outputs: readonly Variable[];
}

function viewOf(obj: Printable): GraphView {
  const isFunction = (typeof obj === "object" || typeof obj === "function") && obj !== null && !Array.isArray(obj) && "fgraph" in obj;
  if (isFunction) {
    const fg = (obj as { fgraph: FunctionGraph }).fgraph;
    const nodes = fg.toposort();
    const inputs = [...new Set([...fg.inputs, ...nodes.flatMap((n) => n.inputs.filter((v) => !v.owner))])];
    return { nodes, inputs, outputs: fg.outputs };
  }
  const outputs: readonly Variable[] = Array.isArray(obj) ? (obj as readonly Variable[]) : [obj as Variable];
  // Iterative post-order walk: the nodes in an order where inputs come first.
  const nodes: Apply[] = [];
  const inputs: Variable[] = [];
  const seen = new Set<Apply | Variable>();
  const stack: Array<{ v: Variable; expanded: boolean }> = outputs.map((v) => ({ v, expanded: false })).reverse();
  while (stack.length > 0) {
    const top = stack.pop()!;
    const node = top.v.owner;
    if (!node) {
      if (!seen.has(top.v)) {
        seen.add(top.v);
        inputs.push(top.v);
      }
      continue;
    }
    if (top.expanded) {
      if (!seen.has(node)) {
        seen.add(node);
        nodes.push(node);
      }
      continue;
    }
    if (seen.has(node)) continue;
    stack.push({ v: top.v, expanded: true });
    for (let i = node.inputs.length - 1; i >= 0; i--) stack.push({ v: node.inputs[i]!, expanded: false });
  }
  return { nodes, inputs, outputs };
}

const GEMM_FAMILY = /^(Dot|Gemm|Gemv|Ger|Dot22|BatchedDot|Conv|CorrMM|AbstractConv)/;
const KERNEL_FAMILY = /^(Elemwise|FusedReduce|CAReduce|Composite|Softmax|LogSoftmax)/;

function nodeColour(n: Apply): string {
  const cls = (n.op as object).constructor.name;
  if (GEMM_FAMILY.test(cls)) return "#ffd54f";
  if (KERNEL_FAMILY.test(cls)) return "#e0e0e0";
  return "#ffffff";
}

function isShared(v: Variable): boolean {
  return typeof (v as { getValue?: unknown }).getValue === "function";
}

function variableColour(v: Variable, isOutput: boolean): string {
  if (isOutput) return "#4f9cf7";
  if (v.isConstant) return "#bdbdbd";
  if (isShared(v)) return "#7fe3f0";
  return "#7bd67b";
}

function variableLabel(v: Variable): string {
  if (v.isConstant) {
    const d = v.constantData as { size?: number; toFlat?: () => ArrayLike<unknown> } | undefined;
    if (d && d.size !== undefined && d.size <= 4 && d.toFlat) return `${Array.from(d.toFlat(), String).join(", ")}`;
    return `constant ${v.type.toString()}`;
  }
  return `${v.name ?? v.label}\n${v.type.toString()}`;
}

const dotString = (s: string): string => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

/**
 * Graphviz DOT text of a graph, or of a compiled function's optimized graph. Ops that run graphs
 * inside themselves (a Scan's step, an IfElse's branches) get each inner graph drawn as a
 * cluster beside the graph, named after the node, with a dashed edge from the node to it.
 */
export function toDot(obj: Printable, opts: { name?: string } = {}): string {
  const L: string[] = [`digraph ${dotString(opts.name ?? "theano")} {`, `  rankdir=TB;`, `  compound=true;`, `  node [fontname="Helvetica", fontsize=10];`, `  edge [fontname="Helvetica", fontsize=8];`];
  const clusters: string[] = [];
  dotBody(viewOf(obj), "", L, clusters);
  L.push(...clusters, "}");
  return L.join("\n") + "\n";
}

/** The statements of one graph, ids prefixed with `p`; inner graphs become clusters. */
function dotBody(g: GraphView, p: string, L: string[], clusters: string[]): void {
  const outputs = new Set(g.outputs);
  const id = new Map<Apply | Variable, string>();
  g.inputs.forEach((v, i) => {
    id.set(v, `${p}v${i}`);
    L.push(`  ${p}v${i} [label=${dotString(variableLabel(v))}, shape=box, style=filled, fillcolor=${dotString(variableColour(v, outputs.has(v)))}];`);
  });
  g.nodes.forEach((n, i) => {
    id.set(n, `${p}n${i}`);
    // A compiled function's nodes say where they run: generated code (green outline) or the
    // host's reference implementation between kernels (red outline, "(host)").
    const where = n.tag.backend;
    const label = where === "host" ? `${n.op.toString()}\n(host)` : n.op.toString();
    const outline = where === "host" ? `, color="#d32f2f", penwidth=2` : where === "c" || where === "js" || where === "wasm" ? `, color="#2e7d32", penwidth=2` : "";
    L.push(`  ${p}n${i} [label=${dotString(label)}, shape=ellipse, style=filled, fillcolor=${dotString(nodeColour(n))}${outline}];`);
    n.op.innerGraphs().forEach((inner, j) => {
      const q = `${p}n${i}_${j}_`;
      const body: string[] = [];
      dotBody(viewOf(inner.outputs), q, body, clusters);
      clusters.push(`  subgraph cluster_${q} {`, `    label=${dotString(`${n.op.toString()} (${inner.name})`)}; style=dashed;`, ...body.map((l) => `  ${l}`), `  }`);
      const first = body.find((l) => /^\s*\S+ \[label=/.test(l))?.trim().split(" ")[0];
      if (first) L.push(`  ${p}n${i} -> ${first} [style=dashed, lhead=cluster_${q}, label=${dotString(inner.name)}];`);
    });
  });
  for (const n of g.nodes) {
    n.inputs.forEach((v, i) => {
      const from = v.owner ? id.get(v.owner) : id.get(v);
      if (from === undefined) return;
      // an intermediate result is the edge itself: its type on it; a position when it matters
      const pos = n.inputs.length > 1 ? `${i} ` : "";
      const label = v.owner ? `${pos}${v.type.toString()}` : pos.trim();
      L.push(`  ${from} -> ${id.get(n)}${label ? ` [label=${dotString(label)}]` : ""};`);
    });
  }
  g.outputs.forEach((v, k) => {
    if (!v.owner) return; // an input that is also an output is already drawn, in blue
    L.push(`  ${p}o${k} [label=${dotString(`${v.name ?? `output ${k}`}\n${v.type.toString()}`)}, shape=box, style=filled, fillcolor=${dotString(variableColour(v, true))}];`);
    L.push(`  ${id.get(v.owner)} -> ${p}o${k};`);
  });
}

const xml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** An SVG of the same picture, laid out in layers (depth from the inputs). */
export function toSvg(obj: Printable): string {
  const g = viewOf(obj);
  const outputs = new Set(g.outputs);
  type Box = { key: Apply | Variable | string; lines: string[]; fill: string; stroke: string; ellipse: boolean; rank: number; x: number; y: number; w: number; h: number };
  const boxes: Box[] = [];
  const boxOf = new Map<Apply | Variable | string, Box>();
  const add = (key: Apply | Variable | string, lines: string[], fill: string, ellipse: boolean, rank: number): Box => {
    const w = Math.max(60, Math.min(420, 7 * Math.max(...lines.map((l) => l.length)) + 24));
    const b: Box = { key, lines: lines.map((l) => (l.length > 58 ? `${l.slice(0, 55)}...` : l)), fill, stroke: "#333", ellipse, rank, x: 0, y: 0, w, h: 16 * lines.length + 14 };
    boxes.push(b);
    boxOf.set(key, b);
    return b;
  };
  for (const v of g.inputs) add(v, variableLabel(v).split("\n"), variableColour(v, outputs.has(v)), false, 0);
  const rank = new Map<Apply, number>();
  for (const n of g.nodes) {
    const r = 1 + Math.max(0, ...n.inputs.map((v) => (v.owner ? rank.get(v.owner) ?? 0 : 0)));
    rank.set(n, r);
    const where = n.tag.backend;
    const b = add(n, where === "host" ? [n.op.toString(), "(host)"] : [n.op.toString()], nodeColour(n), true, r);
    if (where === "host") b.stroke = "#d32f2f";
    else if (where === "c" || where === "js") b.stroke = "#2e7d32";
  }
  g.outputs.forEach((v, k) => {
    if (v.owner) add(`o${k}`, [v.name ?? `output ${k}`, v.type.toString()], variableColour(v, true), false, (rank.get(v.owner) ?? 0) + 1);
  });
  // Layout: one row per rank, boxes side by side.
  const rows = new Map<number, Box[]>();
  for (const b of boxes) rows.set(b.rank, [...(rows.get(b.rank) ?? []), b]);
  const gapX = 24;
  const gapY = 56;
  let y = 20;
  let width = 0;
  for (const r of [...rows.keys()].sort((a, b) => a - b)) {
    const row = rows.get(r)!;
    let x = 20;
    const h = Math.max(...row.map((b) => b.h));
    for (const b of row) {
      b.x = x;
      b.y = y + (h - b.h) / 2;
      x += b.w + gapX;
    }
    width = Math.max(width, x);
    y += h + gapY;
  }
  const height = y - gapY + 20;
  const S: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${Math.ceil(height)}" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height)}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  const edge = (a: Box, b: Box, label: string): void => {
    const x1 = a.x + a.w / 2;
    const y1 = a.y + a.h;
    const x2 = b.x + b.w / 2;
    const y2 = b.y;
    S.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="#555" stroke-width="1" marker-end="url(#arrow)"/>`);
    if (label) S.push(`<text x="${((x1 + x2) / 2 + 4).toFixed(1)}" y="${((y1 + y2) / 2).toFixed(1)}" font-size="9" fill="#333">${xml(label)}</text>`);
  };
  for (const n of g.nodes) {
    n.inputs.forEach((v, i) => {
      const from = boxOf.get(v.owner ?? v);
      if (from) edge(from, boxOf.get(n)!, n.inputs.length > 1 ? String(i) : "");
    });
  }
  g.outputs.forEach((v, k) => {
    if (v.owner) edge(boxOf.get(v.owner)!, boxOf.get(`o${k}`)!, "");
  });
  for (const b of boxes) {
    const cx = b.x + b.w / 2;
    const cy = b.y + b.h / 2;
    S.push(
      b.ellipse
        ? `<ellipse cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" rx="${(b.w / 2).toFixed(1)}" ry="${(b.h / 2).toFixed(1)}" fill="${b.fill}" stroke="${b.stroke}" stroke-width="${b.stroke === "#333" ? 1 : 2}"/>`
        : `<rect x="${b.x.toFixed(1)}" y="${b.y.toFixed(1)}" width="${b.w.toFixed(1)}" height="${b.h.toFixed(1)}" fill="${b.fill}" stroke="#333"/>`,
    );
    b.lines.forEach((l, i) => S.push(`<text x="${cx.toFixed(1)}" y="${(b.y + 19 + 16 * i).toFixed(1)}" text-anchor="middle">${xml(l)}</text>`));
  }
  S.push(`</svg>`);
  return S.join("\n") + "\n";
}

export interface PydotprintOptions {
  /** The file to write (default: `theano_graph.<format>` in the working directory). */
  outfile?: string;
  /** "svg" (default, laid out here) or "dot" (Graphviz's text, for `dot -Tpng`). */
  format?: "svg" | "dot";
}

/** Writes a picture of the graph; resolves to the path written (API.md §10). */
export async function pydotprint(obj: Printable, opts: PydotprintOptions = {}): Promise<string> {
  const format = opts.format ?? "svg";
  if (format !== "svg" && format !== "dot") throw new InputError(`pydotprint: format must be "svg" or "dot", got ${JSON.stringify(format)}`);
  const path = opts.outfile ?? `theano_graph.${format}`;
  const text = format === "dot" ? toDot(obj) : toSvg(obj);
  const { writeFile } = await import("node:fs/promises");
  await writeFile(path, text);
  return path;
}
