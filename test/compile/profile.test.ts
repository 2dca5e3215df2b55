/**
 * The profiler (API.md §10, issue 16.1): f.profile on every backend, Theano's tables, JSON, a
 * Chrome trace of the last call, the `profile` flag's registry, and timers only in profiled code.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { cCompilerStatus, findCompiler } from "../../src/link/c/compiler.js";
import { generateC } from "../../src/link/c/codegen.js";

const T = theano.tensor;
const hasC = cCompilerStatus().ok;
const dir = mkdtempSync(join(tmpdir(), "theano-ts-profile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mlp(linker: "c" | "js" | "py", opts: { profile?: boolean } = { profile: true }) {
  const x = T.fmatrix("x");
  const w = theano.shared(theano.ones([8, 4], "float32"), { name: "w" });
  const y = T.softmax(T.tanh(T.dot(x, w)));
  const cost = y.sum();
  const gw = theano.grad(cost, w);
  return theano.function([x], cost, { mode: new theano.Mode(linker, "fast_run"), updates: [[w, w.sub(gw.mul(0.1))]], name: `mlp_${linker}`, ...opts });
}
const xv = theano.array(Array.from({ length: 16 * 8 }, (_, i) => Math.sin(i)), "float32").reshape([16, 8]);

describe("the profiler", () => {
  for (const linker of ["c", "js", "py"] as const) {
    if (linker === "c" && !hasC) continue;
    it(`${linker}: every node of every call is timed, and the tables add up`, () => {
      const f = mlp(linker);
      const p = f.profile!;
      expect(p).toBeInstanceOf(theano.ProfileStats);
      for (let i = 0; i < 5; i++) f(xv);
      const j = p.toJSON();
      expect(j.name).toBe(`mlp_${linker}`);
      expect(j.linker).toBe(linker);
      expect(j.calls).toBe(5);
      expect(j.nodes.length).toBeGreaterThan(0);
      for (const n of j.nodes) {
        expect(n.calls).toBe(5);
        expect(n.ms).toBeGreaterThanOrEqual(0);
      }
      // nodes run inside calls: their time cannot exceed the calls' (clock granularity aside)
      expect(j.nodeMs).toBeLessThanOrEqual(j.callMs + 0.5);
      const sum = (xs: ReadonlyArray<{ ms: number }>): number => xs.reduce((a, b) => a + b.ms, 0);
      expect(sum(j.classes)).toBeCloseTo(j.nodeMs, 6);
      expect(sum(j.ops)).toBeCloseTo(j.nodeMs, 6);
      expect(j.classes.reduce((a, c) => a + c.share, 0)).toBeCloseTo(j.nodeMs > 0 ? 1 : 0, 6);
      expect(j.compile.rewriteMs).toBeGreaterThan(0);
      expect(j.compile.linkMs).toBeGreaterThan(0);
      if (linker === "c") expect(j.compile.compiled + j.compile.cacheLoads).toBe(1);
      // input shapes of each node (on C, "-" for a value that lives only inside a segment)
      for (const n of j.nodes) expect(n.inputShapes).not.toBeNull();
      expect(j.nodes.some((n) => n.inputShapes === "(16, 8), (8, 4)")).toBe(true);
      expect(p.summary({ nodes: 100 })).toContain("input shapes: (16, 8), (8, 4)");
      const text = p.summary();
      for (const h of ["Function profiling", `Message: mlp_${linker}`, "Time in 5 calls", "Compile time", "rewriting", "Class", "Ops", "Apply"]) expect(text).toContain(h);
      // the trace of the last call: one complete event per node run, in order
      const trace = join(dir, `trace_${linker}.json`);
      p.writeTrace(trace);
      const events = (JSON.parse(readFileSync(trace, "utf8")) as { traceEvents: Array<{ ph: string; ts: number; dur: number; name: string }> }).traceEvents;
      expect(events.length).toBe(j.nodes.length);
      for (const e of events) {
        expect(e.ph).toBe("X");
        expect(e.dur).toBeGreaterThanOrEqual(0);
        expect(e.ts).toBeGreaterThanOrEqual(0);
      }
    });
  }

  it("is off by default: no profile, and generated C has no timers unless profiled", () => {
    const f = mlp("js", {});
    expect(f.profile).toBeUndefined();
    const x = T.fvector("x");
    const g = theano.function([x], T.exp(x).sum(), { mode: new theano.Mode("js", "fast_run") });
    const plain = generateC(g.fgraph, { blas: false, ompMinSize: 65536 }).source;
    const timed = generateC(g.fgraph, { blas: false, ompMinSize: 65536, profile: true }).source;
    expect(plain).not.toContain("th_now");
    expect(timed).toContain("th_now");
    expect(timed).toContain("S->prof[");
  });

  it("profile_memory adds the planned and measured peak, the peak without in-place nodes and the biggest results", () => {
    const f = theano.config.change({ profile_memory: true }, () => mlp("js"));
    f(xv);
    const j = f.profile!.toJSON();
    expect(j.memory).not.toBeNull();
    expect(j.memory!.lastPeakBytes).toBeGreaterThan(0);
    const text = f.profile!.summary();
    expect(text).toContain("Memory: planned peak");
    expect(text).toContain("planned peak without in-place nodes");
    // static shapes: x is (?, 8) here, so sizes are unknown and the biggest list may be empty;
    // with every shape static, both are numbers and in-place never needs more memory
    const a = new theano.TensorType("float32", [256, 256]).makeVariable("a") as theano.TensorVariable;
    const g = theano.config.change({ profile_memory: true }, () =>
      theano.function([a], T.tanh(a.mul(2)).add(1).mul(a), { mode: new theano.Mode("js", "fast_run"), profile: true }),
    );
    g(theano.ones([256, 256], "float32"));
    const m = g.profile!.toJSON().memory!;
    expect(m.staticPeakBytes).not.toBeNull();
    expect(m.withoutInplaceBytes).not.toBeNull();
    expect(m.withoutInplaceBytes!).toBeGreaterThanOrEqual(m.staticPeakBytes!);
    expect(m.biggest.length).toBeGreaterThan(0);
    expect(m.biggest[0]!.bytes).toBe(256 * 256 * 4);
    // the C backend reports the plan too (its segments' temporaries are not measured: unknown)
    if (findCompiler() !== null) {
      const c = theano.config.change({ profile_memory: true }, () =>
        theano.function([a], T.tanh(a.mul(2)).add(1).mul(a), { mode: new theano.Mode("c", "fast_run"), profile: true }),
      );
      c(theano.ones([256, 256], "float32"));
      const mc = c.profile!.toJSON().memory!;
      expect(mc.staticPeakBytes).toBe(256 * 256 * 4);
      expect(mc.lastPeakBytes).toBeNull();
      expect(mc.biggest[0]!.bytes).toBe(256 * 256 * 4);
      expect(c.profile!.summary()).toMatch(/Memory: planned peak 256\.0 KiB \(from static shapes\), measured peak of the last call unknown/);
    }
  });

  it("with the profile flag every function is profiled and theano.printing.profileSummary() lists them", () => {
    const f = theano.config.change({ profile: true }, () => mlp("py", {}));
    expect(f.profile).toBeInstanceOf(theano.ProfileStats);
    f(xv);
    const all = theano.printing.profileSummary();
    expect(all).toContain("Message: mlp_py");
    expect(all).toMatch(/Sum of all\(\d+\) printed profiles/);
  });

  it("a Scan's inner graph is profiled under the outer node that runs it", () => {
    const x = T.fmatrix("x");
    const [ys] = theano.scan({ fn: (row: theano.TensorVariable, acc: theano.TensorVariable) => T.tanh(acc.add(row)), sequences: [x], outputsInfo: [T.zerosLike(x.get(0))] });
    const f = theano.function([x], (ys as theano.TensorVariable).sum(), { mode: new theano.Mode("js", "fast_run"), profile: true, name: "rnn" });
    f(theano.ones([7, 3], "float32"));
    const p = f.profile!;
    const inner = p.innerProfiles();
    expect(inner.length).toBe(1);
    expect(inner[0]!.node.op.constructor.name).toBe("Scan");
    expect(inner[0]!.profile.calls).toBe(7);
    expect(p.summary()).toMatch(/Inner graph of .*: 7 step\(s\)/);
  });

  it("a call that throws is still counted, and the profile stays usable", () => {
    const f = mlp("js");
    expect(() => f(theano.ones([3, 5], "float32"))).toThrow(theano.ShapeError);
    f(xv);
    expect(f.profile!.toJSON().calls).toBe(2);
  });
});
