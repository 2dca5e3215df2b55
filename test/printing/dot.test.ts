/**
 * toDot / pydotprint (API.md §10, issue 16.5): DOT text of a graph or a compiled function, and
 * a picture written as DOT or as SVG laid out without Graphviz.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";

const T = theano.tensor;
const dir = mkdtempSync(join(tmpdir(), "theano-ts-dot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function graph() {
  const x = T.fmatrix("x");
  const w = theano.shared(theano.ones([3, 2], "float32"), { name: "w" });
  return { x, y: T.softmax(T.dot(x, w).add(1)) };
}

describe("toDot and pydotprint", () => {
  it("toDot: every node and input once, an edge per input of each node, inputs green, shared cyan, outputs blue", () => {
    const { y } = graph();
    const dot = theano.printing.toDot(y);
    expect(dot.startsWith('digraph "theano" {')).toBe(true);
    expect(dot.trimEnd().endsWith("}")).toBe(true);
    for (const op of ["dot", "Elemwise{add}", "Softmax{axis=1}"]) expect(dot).toContain(`label="${op}"`);
    expect(dot).toMatch(/v\d+ \[label="x\\nTensorType\(float32, \(\?, \?\)\)", shape=box, style=filled, fillcolor="#7bd67b"\]/);
    expect(dot).toMatch(/label="w\\n[^"]*", shape=box, style=filled, fillcolor="#7fe3f0"/);
    expect(dot).toMatch(/label="output 0\\n[^"]*", shape=box, style=filled, fillcolor="#4f9cf7"/);
    const nodes = (dot.match(/shape=ellipse/g) ?? []).length;
    const edges = (dot.match(/ -> /g) ?? []).length;
    expect(nodes).toBe(4); // dot, the constant's DimShuffle, add, softmax
    expect(edges).toBe(2 + 1 + 2 + 1 + 1); // dot(x, w), DimShuffle(1), add(.., ..), softmax(..), -> output
  });

  it("toDot of a compiled function draws its optimized graph", () => {
    const { x, y } = graph();
    const f = theano.function([x], y, { mode: new theano.Mode("py", "fast_run") });
    const dot = theano.printing.toDot(f);
    for (const n of f.fgraph.toposort()) expect(dot).toContain(`label="${n.op.toString().replace(/"/g, '\\"')}"`);
  });

  it("pydotprint writes DOT and a self-contained SVG, and resolves to the path", async () => {
    const { x, y } = graph();
    const f = theano.function([x], y, { mode: new theano.Mode("py", "fast_run") });
    const dotPath = await theano.printing.pydotprint(f, { outfile: join(dir, "g.dot"), format: "dot" });
    expect(readFileSync(dotPath, "utf8")).toBe(theano.printing.toDot(f));
    const svgPath = await theano.printing.pydotprint(f, { outfile: join(dir, "g.svg") });
    const svg = readFileSync(svgPath, "utf8");
    expect(svg.startsWith("<svg xmlns=")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain(">Softmax{axis=1}</text>");
    // as many shapes as boxes and ellipses drawn, a line per edge
    expect((svg.match(/<ellipse /g) ?? []).length).toBe(f.fgraph.toposort().length);
    expect((svg.match(/<line /g) ?? []).length).toBe(f.fgraph.toposort().reduce((a, n) => a + n.inputs.length, 0) + 1);
    await expect(theano.printing.pydotprint(f, { outfile: join(dir, "g.png"), format: "png" as never })).rejects.toThrow(theano.InputError);
  });

  it("labels are escaped: names with quotes and angle brackets stay valid DOT and SVG", () => {
    const x = T.fvector('a "quoted" <name>');
    const y = x.mul(2);
    expect(theano.printing.toDot(y)).toContain('a \\"quoted\\" <name>');
    expect(theano.printing.toSvg(y)).toContain("a &quot;quoted&quot; &lt;name&gt;");
  });

  it("a Scan's step is drawn as a cluster beside the node that runs it", () => {
    const x = T.fmatrix("x");
    const [ys] = theano.scan({ fn: (row: theano.TensorVariable, acc: theano.TensorVariable) => T.tanh(acc.add(row)), sequences: [x], outputsInfo: [T.zerosLike(x.get(0))] });
    const dot = theano.printing.toDot(ys as theano.TensorVariable);
    expect(dot).toMatch(/subgraph cluster_\S+ \{\n\s+label="Scan[^"]*\(step\)"; style=dashed;/);
    const cluster = dot.slice(dot.indexOf("subgraph cluster_"));
    expect(cluster).toContain('label="Elemwise{tanh}"');
    expect(dot).toMatch(/n\d+ -> \S+ \[style=dashed, lhead=cluster_\S+, label="step"\]/);
    // every brace closes
    expect((dot.match(/\{/g) ?? []).length - (dot.match(/\}/g) ?? []).length).toBe(0);
  });

  it("a compiled function's pictures show which nodes run on the host and which in generated code", () => {
    const x = T.fvector("x");
    const y = T.sort(T.exp(x)).mul(2); // sort runs through perform on the JS backend
    const f = theano.function([x], y, { mode: new theano.Mode("js", "fast_run") });
    const dot = theano.printing.toDot(f);
    expect(dot).toMatch(/label="Sort[^"]*\\n\(host\)"[^\]]*color="#d32f2f"/);
    expect(dot).toMatch(/label="Elemwise\{[^"]*"[^\]]*color="#2e7d32"/);
    const svg = theano.printing.toSvg(f);
    expect(svg).toContain(">(host)</text>");
    expect(svg).toContain('stroke="#d32f2f"');
  });

  it("a 20 000-node chain prints without recursion limits", () => {
    let y = T.fvector("x") as theano.TensorVariable;
    for (let i = 0; i < 10_000; i++) y = y.mul(1.0001);
    const dot = theano.printing.toDot(y);
    expect((dot.match(/shape=ellipse/g) ?? []).length).toBeGreaterThanOrEqual(10_000);
  });
});
