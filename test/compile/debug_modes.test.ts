/**
 * NanGuardMode and DebugMode (issue 16 item 2, API.md §10): NanGuard names the first node whose
 * output holds NaN/Inf/huge values, its creation line and the function inputs involved;
 * DebugMode compares every node's compiled code with its perform, checks destroy maps and the
 * rewrites' result, and is shown to fail on a deliberately wrong perform.
 */

import { describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { config } from "../../src/config/index.js";
import type { Apply, Value } from "../../src/graph/basic.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { findCompiler } from "../../src/link/c/compiler.js";
import { expectClose } from "../helpers.js";

const { T } = theano;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

/** Runs `fn` with `op.perform` replaced by `patched(original)` on that op object only. */
function withPerform<R>(op: theano.Op, patched: (orig: (node: Apply, inputs: Value[]) => Value[]) => (node: Apply, inputs: Value[]) => Value[], fn: () => R): R {
  const orig = op.perform.bind(op);
  (op as { perform: unknown }).perform = patched(orig);
  try {
    return fn();
  } finally {
    delete (op as { perform?: unknown }).perform;
  }
}

describe("NanGuardMode", () => {
  it("issue 16.2: NaN raises NaNError naming the first bad node, its creation line and the function input", () => {
    const x = T.dvector("x");
    const y = T.log(x).mul(2).add(1); // log makes the NaN; mul and add only carry it
    const f = theano.function([x], y.sum(), { mode: "NanGuardMode" });
    expectClose(f([1, 2, 3]), theano.array(2 * Math.log(6) + 3, "float64"));
    const e = thrown(() => f([1, -2, 3]));
    expect(e).toBeInstanceOf(theano.NaNError);
    expect(e.message).toMatch(/output 0 of Elemwise\{log\} holds NaN: 1 of 3 elements, the first at \[1\]/);
    expect(e.message).toMatch(/The node was created at .*debug_modes\.test\.ts:\d+:\d+/);
    expect(e.message).toContain("node input 0 (x): float64 shape [3], min -2, max 3");
    expect(e.message).toContain("It depends on the function's input 0 (x).");
  });

  it("issue 16.2: Inf and values above 1e10 are caught; options and flags turn each check off", () => {
    const x = T.fvector("x");
    const inv = theano.function([x], T.trueDiv(1, x), { mode: "NanGuardMode" });
    expect(thrown(() => inv(theano.array([1, 0], "float32"))).message).toMatch(/holds Inf: 1 of 2 elements, the first at \[1\] \(Infinity\)/);

    const big = T.exp(x);
    const f = theano.function([x], big, { mode: "NanGuardMode" });
    const e = thrown(() => f(theano.array([1, 30], "float32")));
    expect(e).toBeInstanceOf(theano.NaNError);
    expect(e.message).toMatch(/a value above 10000000000 in magnitude: 1 of 2 elements, the largest 10686474\d+ at \[1\]/);
    const lenient = theano.function([x], big, { mode: new theano.NanGuardMode({ bigIsError: false }) });
    expect(lenient(theano.array([1, 30], "float32")).get(1)).toBeGreaterThan(1e10);
    const g = config.change({ "NanGuardMode.big_is_error": false }, () => theano.function([x], big, { mode: "NanGuardMode" }));
    expect(g(theano.array([1, 30], "float32")).get(1)).toBeGreaterThan(1e10);
    // Integers are never "big".
    const i = T.lvector("i");
    const h = theano.function([i], i.mul(1e6), { mode: "NanGuardMode" });
    expect(h([1e6]).item()).toBe(1e12);
  });

  it("issue 16.2: NanGuardMode on the JS and C backends checks each node's generated code", () => {
    const x = T.dvector("x");
    const y = T.log(x).mul(2).add(1);
    const linkers: Array<"js" | "c"> = findCompiler() ? ["js", "c"] : ["js"];
    for (const linker of linkers) {
      const f = theano.function([x], y, { mode: new theano.NanGuardMode({ linker }) });
      expectClose(f([1, Math.E]), theano.array([1, 3], "float64"));
      const e = thrown(() => f([1, -1]));
      expect(e).toBeInstanceOf(theano.NaNError);
      expect(e.message).toMatch(/output 0 of Elemwise\{log\}.* holds NaN: 1 of 2 elements, the first at \[1\]/);
      f.free();
    }
    if (!findCompiler()) expect(() => theano.function([x], y, { mode: new theano.NanGuardMode({ linker: "c" }) })).toThrow(theano.ConfigError);
  });

  it("issue 16.2: the report shows an in-place node's input as it was before the node overwrote it", () => {
    const x = T.dvector("x");
    const y = T.log(x.sub(3)); // sub's result is an intermediate: log runs in place on it
    const f = theano.function([x], y, { mode: "NanGuardMode" });
    const node = f.fgraph.toposort().find((n) => String(n.op).startsWith("Elemwise{log}"))!;
    const e = thrown(() => f([4, 1]));
    expect(e.message).toContain("node input 0 (");
    expect(e.message).toMatch(/node input 0 \(.*\): float64 shape \[2\], min -2, max 1$/m);
    expect(node.op.destroyMap.size === 0 || e.message.includes("[(0, 0)]")).toBe(true);
  });

  it("issue 16.2: THEANO_FLAGS=mode=NanGuardMode selects it for functions compiled without a mode", () => {
    const x = T.dvector("x");
    const f = config.change({ mode: "NanGuardMode" }, () => theano.function([x], T.log(x)));
    expect(f.mode).toBeInstanceOf(theano.NanGuardMode);
    expect(thrown(() => f([-1]))).toBeInstanceOf(theano.NaNError);
  });

  it("issue 16.2: a NaN given as an input is reported as that input, before any node runs", () => {
    const x = T.dvector("x");
    const w = theano.shared(theano.array([1, 1], "float64"), { name: "w" });
    const f = theano.function([x], x.mul(w), { mode: "NanGuardMode" });
    const e = thrown(() => f([NaN, 1]));
    expect(e).toBeInstanceOf(theano.NaNError);
    expect(e.message).toMatch(/function input 0 \(x\) holds NaN/);
    w.setValue(theano.array([Infinity, 1], "float64"));
    expect(thrown(() => f([1, 1])).message).toMatch(/function input 1 \(w\) holds Inf/);
  });
});

describe("DebugMode", () => {
  it("issue 16.2: a correct graph runs and agrees with FAST_RUN", () => {
    const x = T.dmatrix("x");
    const W = T.dmatrix("W");
    const y = T.nnet.sigmoid(T.dot(x, W)).sum(1);
    const args = [theano.array([[1, 2], [3, 4]], "float64"), theano.array([[0.5, -1], [0.25, 2]], "float64")];
    const f = theano.function([x, W], y, { mode: "DebugMode" });
    expect(f.mode.toString()).toContain("DebugMode");
    expectClose(f(...args), theano.function([x, W], y)(...args));
    f.free(); // frees every per-node module too
  });

  it("issue 16.2: a perform that differs from the compiled code raises DebugModeError with the node and both values", () => {
    const x = T.dvector("x");
    const y = T.exp(x);
    const f = theano.function([x], y, { mode: "DebugMode" });
    const e = withPerform(
      y.owner!.op,
      (orig) => (node, inputs) => {
        const [r] = orig(node, inputs) as [NDArray];
        const out = r.copy();
        (out.data as Float64Array)[1]! += 1;
        return [out];
      },
      () => thrown(() => f([0, 0, 0])),
    );
    expect(e).toBeInstanceOf(theano.DebugModeError);
    expect(e.message).toMatch(/the (JS|C) code of Elemwise\{exp\} and its reference perform disagree on output 0: element \[1\] is 1 instead of 2/);
    expect(e.message).toMatch(/perform: float64 shape \[3\], min 1, max 2/);
    expect(e.message).toMatch(/The node was created at .*debug_modes\.test\.ts/);
  });

  it("issue 16.2: writing into an input the destroy map does not declare raises DebugModeError", () => {
    const x = T.dvector("x");
    const y = T.exp(x);
    const f = theano.function([x], y, { mode: "DebugMode" });
    const e = withPerform(
      y.owner!.op,
      (orig) => (node, inputs) => {
        const r = orig(node, inputs);
        ((inputs[0] as NDArray).data as Float64Array)[0] = 99;
        return r;
      },
      () => thrown(() => f([0, 0])),
    );
    expect(e).toBeInstanceOf(theano.DebugModeError);
    expect(e.message).toMatch(/Elemwise\{exp\} wrote into its input 0 \(x\) on its reference perform, which its destroy map does not declare: element \[0\] is 99 instead of 0/);
  });

  it("issue 16.2: a rewrite that changes a result is caught (the graph as written vs the rewritten one)", () => {
    const x = T.dvector("x");
    const y = T.log(T.add(1, T.exp(x))); // rewritten into softplus(x): the log node is gone
    const f = theano.function([x], y, { mode: "DebugMode" });
    expect(f.fgraph.toposort().some((n) => n.op === y.owner!.op)).toBe(false);
    expectClose(f([0.5, 1]), theano.array([Math.log1p(Math.exp(0.5)), Math.log1p(Math.exp(1))], "float64"));
    // Make the graph as written compute something else: only the rewrite check can see it.
    const e = withPerform(
      y.owner!.op,
      (orig) => (node, inputs) => [(orig(node, inputs)[0] as NDArray).astype("float64").copy()].map((a) => {
        (a.data as Float64Array)[0] = 0;
        return a;
      }),
      () => thrown(() => f([0.5, 1])),
    );
    expect(e).toBeInstanceOf(theano.DebugModeError);
    expect(e.message).toMatch(/the rewrites changed a result: output 0 .* differs from the graph as written: element \[0\] is 0\.97\d+ instead of 0/);
    // ... and names the rewrite whose replacement differs from what it replaced.
    expect(e.message).toMatch(/The rewrite (\S+) replaced Elemwise\{log\}.* by .*which differ on these inputs: element \[0\]/);
    expect(e.message).toMatch(/optimizer_excluding=\S+/);
  });

  it("issue 16.2: an inferShape that disagrees with perform raises DebugModeError", () => {
    const x = T.dmatrix("x");
    const W = T.dmatrix("W");
    const y = T.dot(x, W);
    const op = y.owner!.op;
    const orig = op.inferShape!.bind(op);
    // Wrong on purpose: the two dimensions of the product swapped. Read when compiling.
    (op as { inferShape: unknown }).inferShape = (node: Apply, shapes: Parameters<typeof orig>[1]) => orig(node, shapes).map((s) => [...s].reverse());
    let f;
    try {
      f = theano.function([x, W], y, { mode: new theano.DebugMode().excluding("fast_run") });
    } finally {
      delete (op as { inferShape?: unknown }).inferShape;
    }
    const e = thrown(() => f(theano.zeros([2, 3], "float64"), theano.zeros([3, 4], "float64")));
    expect(e).toBeInstanceOf(theano.DebugModeError);
    expect(e.message).toMatch(/the inferShape of dot gives output 0 the shape \[4, 2\], but perform computed \[2, 4\]/);
  });

  it("issue 16.2: DebugMode.warn_only warns instead of raising", async () => {
    const x = T.dvector("x");
    const y = T.exp(x);
    const f = theano.function([x], y, { mode: "DebugMode" });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const out = withPerform(
        y.owner!.op,
        (orig) => (node, inputs) => [(orig(node, inputs)[0] as NDArray).copy()].map((a) => {
          (a.data as Float64Array)[0] = 5;
          return a;
        }),
        () => config.change({ "DebugMode.warn_only": true }, () => f([0, 0])),
      );
      expect(out.get(0)).toBe(5);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.some((w) => /DebugMode: the (JS|C) code of Elemwise\{exp\} and its reference perform disagree/.test(w))).toBe(true);
  });
});
