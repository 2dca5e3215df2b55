/**
 * The rewrite engine: queries over tagged databases, equilibrium to a fixed point, the bound
 * on cycling rewrites, on_opt_error, type checks on replacements, optimizer_verbose's format,
 * presets and Mode.including/excluding/requiring, merge and useless-node removal.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as theano from "../../src/index.js";
import type { Apply, Variable } from "../../src/graph/basic.js";
import { FunctionGraph } from "../../src/graph/fgraph.js";
import {
  EquilibriumDB,
  RewriteContext,
  SequenceDB,
  graphRewriter,
  nodeRewriter,
  optdb,
  presetQuery,
  rewriteGraph,
  rewriteLog,
} from "../../src/rewriting/index.js";
import { Elemwise } from "../../src/tensor/elemwise.js";
import { elemwiseOf } from "../../src/tensor/math.js";
import * as S from "../../src/scalar/table.js";
import { expectClose } from "../helpers.js";

const { T } = theano;

const scalarName = (n: Apply): string => (n.op instanceof Elemwise ? n.op.scalarOp.name : n.op.toString());
const names = (fg: FunctionGraph): string[] => fg.toposort().map(scalarName);
const isOp = (v: Variable, name: string): boolean => !!v.owner && v.owner.op instanceof Elemwise && v.owner.op.scalarOp.name === name;

const negNeg = nodeRewriter({
  name: "test_neg_neg",
  tags: ["test_tag"],
  tracks: [Elemwise],
  transform(node) {
    const x = node.inputs[0]!;
    return isOp(node.outputs[0]!, "neg") && isOp(x, "neg") ? [x.owner!.inputs[0]!] : null;
  },
});

let warnings: string[] = [];
beforeEach(() => {
  warnings = [];
  vi.spyOn(process, "emitWarning").mockImplementation(((m: string | Error) => {
    warnings.push(String(m));
  }) as never);
});
afterEach(() => vi.restoreAllMocks());

describe("queries", () => {
  const db = new SequenceDB("test");
  const eq = db.register(new EquilibriumDB("stage"), { position: 1, tags: ["fast_run"] });
  eq.register(negNeg, "fast_run");
  eq.register(nodeRewriter({ name: "other", tracks: null, transform: () => null }), "fast_run", "extra");
  db.register(graphRewriter({ name: "g", tags: ["fast_run", "g_tag"], apply: () => undefined }), { position: 0 });
  db.register(graphRewriter({ name: "late", tags: ["special"], apply: () => undefined }), { position: 5 });
  const describeSteps = (q: Parameters<SequenceDB["select"]>[0]): string[] =>
    db.select(q).map((s) => (s.kind === "graph" ? s.rewriter.name : `${s.name}[${s.rewriters.map((r) => r.name).join(",")}]`));

  it("orders by position and filters by include / exclude / require, names or tags", () => {
    expect(describeSteps(presetQuery("fast_run"))).toEqual(["g", "stage[test_neg_neg,other]"]);
    expect(describeSteps(presetQuery("fast_run", ["special"]))).toEqual(["g", "stage[test_neg_neg,other]", "late"]);
    expect(describeSteps(presetQuery("fast_run", [], ["test_neg_neg", "g_tag"]))).toEqual(["stage[other]"]);
    expect(describeSteps(presetQuery("fast_run", [], ["stage"]))).toEqual(["g"]);
    expect(describeSteps(presetQuery("fast_run", [], [], ["test_tag"]))).toEqual(["stage[test_neg_neg]"]);
    // Including one rewriter by name runs it even when its stage is not in the preset.
    expect(describeSteps(presetQuery("merge", ["test_neg_neg"]))).toEqual(["stage[test_neg_neg]"]);
    expect(describeSteps(presetQuery("None"))).toEqual([]);
  });

  it("rejects duplicate names and unknown presets", () => {
    expect(() => eq.register(negNeg)).toThrow(/already holds a rewriter named test_neg_neg/);
    expect(() => presetQuery("fastest")).toThrow(/unknown optimizer preset "fastest"; valid presets are None, merge, fast_compile, fast_run, o1/);
  });

  it("the standard stages sit at Theano's positions", () => {
    const order = optdb.names;
    const at = (n: string): number => order.indexOf(n);
    for (const n of ["merge1", "canonicalize", "stabilize", "blas", "specialize", "merge2", "elemwise_fusion", "inplace_elemwise_optimizer", "merge3"]) expect(at(n)).toBeGreaterThanOrEqual(0);
    expect(at("merge1")).toBeLessThan(at("canonicalize"));
    expect(at("canonicalize")).toBeLessThan(at("stabilize"));
    expect(at("stabilize")).toBeLessThan(at("blas"));
    expect(at("blas")).toBeLessThan(at("specialize"));
    expect(at("specialize")).toBeLessThan(at("elemwise_fusion"));
    expect(at("elemwise_fusion")).toBeLessThan(at("inplace_elemwise_optimizer"));
    expect(at("inplace_elemwise_optimizer")).toBeLessThan(at("merge3"));
  });
});

describe("equilibrium", () => {
  it("applies node rewriters until none fires", () => {
    const x = T.dvector("x");
    let y: theano.TensorVariable = x;
    for (let i = 0; i < 10; i++) y = T.neg(y);
    const fg = new FunctionGraph([x], [T.exp(y)]);
    const db = new SequenceDB("t");
    db.register(new EquilibriumDB("eq"), { position: 0, tags: ["all"] }).register(negNeg, "all");
    const ctx = rewriteGraph(fg, { include: ["all"], exclude: [], require: [] }, { db });
    expect(names(fg)).toEqual(["exp"]);
    expect(ctx.stats.applied.get("test_neg_neg")).toBe(5);
  });

  it("stops a cycling pair of rewrites with a warning naming them", () => {
    const swap = (from: string, to: S.ScalarOp, name: string) =>
      nodeRewriter({ name, tracks: [Elemwise], transform: (node) => (isOp(node.outputs[0]!, from) ? [elemwiseOf(to).call(node.inputs[0]!)] : null) });
    const db = new SequenceDB("t");
    const eq = db.register(new EquilibriumDB("eq"), { position: 0, tags: ["all"] });
    eq.register(swap("tanh", S.sin, "tanh_to_sin"), "all");
    eq.register(swap("sin", S.tanh, "sin_to_tanh"), "all");
    const x = T.dvector("x");
    const fg = new FunctionGraph([x], [T.tanh(x).mul(2)]);
    rewriteGraph(fg, { include: ["all"], exclude: [], require: [] }, { db, ctx: new RewriteContext({ maxUseRatio: 4 }) });
    expect(warnings.join("\n")).toMatch(/rewrite group eq stopped after \d+ replacements .*tanh_to_sin \(\d+ times\).*sin_to_tanh \(\d+ times\)|sin_to_tanh \(\d+ times\).*tanh_to_sin/);
    expect(fg.nodes.size).toBe(3); // tanh or sin, DimShuffle of 2, mul
  });
});

describe("errors and checks", () => {
  const throwing = nodeRewriter({
    name: "broken_rewrite",
    tracks: [Elemwise],
    transform() {
      throw new Error("boom");
    },
  });
  const run = (onError: "warn" | "raise" | "ignore", r = throwing): FunctionGraph => {
    const db = new SequenceDB("t");
    db.register(new EquilibriumDB("eq"), { position: 0, tags: ["all"] }).register(r, "all");
    db.register(new EquilibriumDB("eq2"), { position: 1, tags: ["all"] }).register(negNeg, "all");
    const x = T.dvector("x");
    const fg = new FunctionGraph([x], [T.neg(T.neg(x)).mul(3)]);
    rewriteGraph(fg, { include: ["all"], exclude: [], require: [] }, { db, ctx: new RewriteContext({ onError }) });
    return fg;
  };

  it("on_opt_error=warn skips the failing rewrite with a warning naming it; others still run", () => {
    const fg = run("warn");
    expect(warnings.some((w) => /rewrite broken_rewrite failed and was skipped \(on_opt_error=warn\): boom/.test(w))).toBe(true);
    expect(names(fg)).toEqual(["DimShuffle{x}", "mul"]);
  });

  it("on_opt_error=raise rethrows; ignore is silent", () => {
    expect(() => run("raise")).toThrow("boom");
    run("ignore");
    expect(warnings).toEqual([]);
  });

  it("on_opt_error comes from the flag through theano.function", () => {
    const x = T.dvector("x");
    const db = optdb.get("canonicalize") as EquilibriumDB;
    const name = `broken_in_canonicalize_${Math.random().toString(36).slice(2)}`;
    db.register(nodeRewriter({ name, tracks: [Elemwise], transform: () => { throw new Error("kaput"); } }), "canonicalize", "only_this_test");
    const f = theano.config.change({ optimizer_including: "only_this_test" }, () => theano.function([x], x.mul(2)));
    expect(warnings.some((w) => w.includes(`rewrite ${name} failed`) && w.includes("kaput"))).toBe(true);
    expectClose(f([1, 2]) as theano.NDArray, [2, 4]);
    expect(() => theano.config.change({ optimizer_including: "only_this_test", on_opt_error: "raise" }, () => theano.function([x], x.mul(2)))).toThrow("kaput");
  });

  it("refuses a replacement of another dtype or rank, naming the rewrite", () => {
    const toFloat32 = nodeRewriter({ name: "bad_dtype", tracks: [Elemwise], transform: (node) => (isOp(node.outputs[0]!, "exp") ? [T.cast(node.outputs[0]! as theano.TensorVariable, "float32")] : null) });
    const db = new SequenceDB("t");
    db.register(new EquilibriumDB("eq"), { position: 0, tags: ["all"] }).register(toFloat32, "all");
    const x = T.dvector("x");
    const fg = new FunctionGraph([x], [T.exp(x)]);
    rewriteGraph(fg, { include: ["all"], exclude: [], require: [] }, { db, ctx: new RewriteContext({ onError: "warn" }) });
    expect(warnings.join("\n")).toMatch(/rewrite bad_dtype tried to replace .* dtype float32 differs from float64; the replacement was refused/);
    expect(names(fg)).toEqual(["exp"]);
  });
});

describe("optimizer_verbose", () => {
  it("prints one line per replacement in Theano's format", () => {
    const lines: string[] = [];
    const write = rewriteLog.write;
    rewriteLog.write = (l) => void lines.push(l);
    try {
      const x = T.dvector("x");
      theano.config.change({ optimizer_verbose: true, optimizer_excluding: "fusion:inplace" }, () => theano.function([x], [T.exp(x), T.exp(x)]));
    } finally {
      rewriteLog.write = write;
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines).toContain("rewriting: rewrite merge replaces Elemwise{exp}.0 of Elemwise{exp}(x) with Elemwise{exp}.0 of Elemwise{exp}(x)");
    for (const l of lines) expect(l).toMatch(/^rewriting: rewrite \S+ replaces .+ of .+ with .+ of .+$/);
  });

  it("is silent by default", () => {
    const spy = vi.spyOn(rewriteLog, "write");
    const x = T.dvector("x");
    theano.function([x], [T.exp(x), T.exp(x)]);
    expect(spy).not.toHaveBeenCalled();
  });
});

describe("presets, flags and Mode", () => {
  const x = T.dvector("x");
  const graph = (): theano.TensorVariable[] => [T.exp(x).add(T.exp(x)).mul(2)];
  const compileWith = (flags: Record<string, unknown>, mode?: theano.Mode) => theano.config.change(flags as never, () => theano.function([x], graph(), mode ? { mode } : {}));
  const opsOf = (f: { fgraph: FunctionGraph }): string[] => names(f.fgraph);

  it("fast_run merges, fuses and works in place; excluding by tag or name turns parts off", () => {
    const f = compileWith({});
    expect(f.fgraph.nodes.size).toBe(2); // exp, then one fused (add, mul)
    expect([...f.fgraph.nodes].some((n) => n.op.destroyMap.size > 0)).toBe(true);
    expect(compileWith({ optimizer_excluding: "merge:fusion:inplace" }).fgraph.nodes.size).toBe(4);
    expect(opsOf(compileWith({ optimizer_excluding: "fusion:inplace" }))).toEqual(["exp", "add", "mul"]);
    expect([...compileWith({ optimizer: "o3" }).fgraph.nodes].some((n) => n.op.destroyMap.size > 0)).toBe(false);
    for (const f2 of [f, compileWith({ optimizer: "None" }), compileWith({ optimizer: "o1" }), compileWith({ optimizer: "o2" })]) {
      expectClose((f2 as (v: number[]) => theano.NDArray[])([0, 1])[0]!, [4, 4 * Math.E]);
    }
  });

  it("None runs nothing; merge only merges; o2 fuses without specializing", () => {
    expect(compileWith({ optimizer: "None" }).fgraph.nodes.size).toBe(5); // 2 exp, add, DimShuffle of 2, mul
    expect(opsOf(compileWith({ optimizer: "merge" }))).toEqual(["exp", "add", "DimShuffle{x}", "mul"]);
    expect(compileWith({ optimizer: "o2" }).fgraph.nodes.size).toBe(2);
  });

  it("Mode.including/excluding/requiring and the unknown-name case (no error, nothing excluded)", () => {
    const base = new theano.Mode(null, "fast_run");
    expect(compileWith({}, base.excluding("merge", "fusion", "inplace")).fgraph.nodes.size).toBe(4);
    expect(compileWith({}, new theano.Mode(null, "None").including("merge")).fgraph.nodes.size).toBe(5); // None runs nothing
    // merge + fusion: the DimShuffle of the constant stays (constant folding is not included).
    expect(compileWith({}, new theano.Mode(null, "merge").including("fusion")).fgraph.nodes.size).toBe(3);
    expect(compileWith({}, base.requiring("merge")).fgraph.nodes.size).toBe(4); // only rewrites tagged merge run
    expect(compileWith({ optimizer_excluding: "local_gpuaelemwise" }).fgraph.nodes.size).toBe(2);
  });
});

describe("merge and useless nodes", () => {
  it("merges equal constants by value and dtype, keeping -0 and other dtypes apart", () => {
    const x = T.dvector("x");
    const c = (v: number, dtype: "float64" | "float32" = "float64") => theano.tensor.constant(v, { dtype });
    const outs = [x.mul(c(2)), x.add(c(2)), x.sub(c(-0)), x.sub(c(0)), T.cast(x, "float32").mul(c(2, "float32"))];
    const fg = new FunctionGraph([x], outs);
    rewriteGraph(fg, presetQuery("merge"));
    const consts = new Set([...fg.variables].filter((v) => v.isConstant && (fg.clients.get(v)?.length ?? 0) > 0).map((v) => v.id));
    expect(consts.size).toBe(4); // 2.0 (f64), -0, 0, 2.0 (f32)
  });

  it("merges identical nodes in chains in one pass", () => {
    const x = T.dmatrix("x");
    const a = T.exp(x.T).add(1);
    const b = T.exp(x.T).add(1);
    const fg = new FunctionGraph([x], [a.mul(b)]);
    rewriteGraph(fg, presetQuery("merge"));
    expect(names(fg).sort()).toEqual(["DimShuffle{1,0}", "DimShuffle{x,x}", "add", "exp", "mul"]);
  });

  it("removes identity elemwise, identity dimshuffle and redundant specifyShape", () => {
    const x = T.dmatrix("x");
    const y = T.tensorCopy(T.specifyShape(x.dimshuffle(0, 1), [null, null])).mul(2);
    const fg = new FunctionGraph([x], [y]);
    rewriteGraph(fg, presetQuery("fast_run", [], ["fusion", "inplace"]));
    expect(names(fg)).toEqual(["mul"]);
    const f = theano.function([x], y);
    expectClose(f([[1, 2]]) as theano.NDArray, [[2, 4]]);
  });
});
