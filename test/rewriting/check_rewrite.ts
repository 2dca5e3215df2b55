/**
 * `checkRewrite`: the test utility for one rewrite (issue 5, item 4). Compiles a graph twice
 * through `theano.function` (default pipeline, or `optimizer`), once with the rewrite (name or
 * tag) included and once with it excluded, runs both on seeded random inputs (or given values),
 * asserts the outputs agree within the dtype's tolerance, and returns the rewritten graph (for
 * structural assertions) and the names of the rewrites that fired (from `optimizer_verbose`).
 *
 *     const r = checkRewrite([x], T.log(x.add(1)), "local_log1p");
 *     expect(r.applied).toContain("local_log1p");
 *     expect(r.ops).toEqual(["log1p"]);
 */

import { expect } from "vitest";
import * as theano from "../../src/index.js";
import type { Variable } from "../../src/graph/basic.js";
import type { FunctionGraph } from "../../src/graph/fgraph.js";
import { type DType, isFloat } from "../../src/ndarray/dtype.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { rewriteLog } from "../../src/rewriting/index.js";
import { Elemwise } from "../../src/tensor/elemwise.js";
import { Composite } from "../../src/scalar/composite.js";
import type { TensorType } from "../../src/tensor/type.js";
import { expectClose } from "../helpers.js";

export interface CheckRewriteOptions {
  /** Input values (default: seeded random values of each input's type). */
  values?: unknown[];
  /** Size of dimensions whose static size is unknown (default 3). */
  size?: number;
  /** Range of random float values (default [-2, 2)); integers are drawn in [0, 5). */
  range?: [number, number];
  seed?: number;
  /** Preset for both compilations (default: the `optimizer` flag, fast_run). */
  optimizer?: "fast_run" | "fast_compile" | "merge" | "None" | "o1" | "o2" | "o3" | "o4";
  /** Further rewrites to exclude from both (e.g. ["fusion", "inplace"] to see nodes one by one). */
  excluding?: string[];
  rtol?: number;
  atol?: number;
  linker?: "js" | "py";
}

export interface CheckRewriteResult {
  /** The graph rewritten with the rewrite. */
  fgraph: FunctionGraph;
  /** The graph rewritten without it. */
  without: FunctionGraph;
  /** The rewritten graph's nodes in order: an Elemwise as its scalar op's name, else the op's string. */
  ops: string[];
  /** Names of the rewrites that replaced something, in order (repeats kept). */
  applied: string[];
  /** The outputs computed by the rewritten function. */
  outputs: NDArray[];
}

function randomValue(t: TensorType, size: number, range: [number, number], seed: number): NDArray {
  const shape = t.shape.map((d) => d ?? size);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  let s = seed >>> 0 || 1;
  const float = isFloat(t.dtype);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    data[i] = t.dtype === "bool" ? Number(u < 0.5) : float ? range[0] + (range[1] - range[0]) * u : Math.floor(5 * u);
  }
  return new NDArray("float64", shape, data).astype(t.dtype as DType);
}

/** An Elemwise as its scalar op's name (plus Theano's in-place suffix, e.g. `exp[(0, 0)]`), any other op as its string. */
export const opNames = (fg: FunctionGraph): string[] =>
  fg.toposort().map((n) => {
    if (!(n.op instanceof Elemwise) || n.op.outputDtype !== null || n.op.scalarOp instanceof Composite) return n.op.toString();
    const pattern = [...n.op.inplacePattern].map(([o, i]) => `(${o}, ${i})`).join(", ");
    return pattern ? `${n.op.scalarOp.name}[${pattern}]` : n.op.scalarOp.name;
  });

export function checkRewrite(inputs: Variable[], outputs: Variable | Variable[], rewrite: string | string[], opts: CheckRewriteOptions = {}): CheckRewriteResult {
  const names = Array.isArray(rewrite) ? rewrite : [rewrite];
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const excl = opts.excluding ?? [];
  const flags = (extraIncl: string[], extraExcl: string[]): Record<string, unknown> => ({
    ...(opts.optimizer ? { optimizer: opts.optimizer } : {}),
    ...(opts.linker ? { linker: opts.linker } : {}),
    optimizer_including: extraIncl.join(":"),
    optimizer_excluding: [...excl, ...extraExcl].join(":"),
  });
  const applied: string[] = [];
  const write = rewriteLog.write;
  rewriteLog.write = (line: string) => {
    const m = /^rewriting: rewrite (\S+) replaces /.exec(line);
    if (m) applied.push(m[1]!);
  };
  let withIt: theano.TheanoFunction<NDArray[]>;
  try {
    withIt = theano.config.change({ ...flags(names, []), optimizer_verbose: true } as never, () => theano.function(inputs, outs, { onUnusedInput: "ignore" }));
  } finally {
    rewriteLog.write = write;
  }
  const withoutIt = theano.config.change(flags([], names) as never, () => theano.function(inputs, outs, { onUnusedInput: "ignore" }));
  const seed = opts.seed ?? 1234;
  const values =
    opts.values ?? inputs.map((v, k) => randomValue(v.type as TensorType, opts.size ?? 3, opts.range ?? [-2, 2], seed + 7919 * k));
  const copies = () => values.map((v) => (v instanceof NDArray ? v.copy() : v));
  const got = withIt(...copies());
  const want = withoutIt(...copies());
  const tol = { ...(opts.rtol !== undefined ? { rtol: opts.rtol } : {}), ...(opts.atol !== undefined ? { atol: opts.atol } : {}) };
  got.forEach((g, k) => expectClose(g, want[k]!, tol));
  // Calling again must give the same values (in-place rewrites must not corrupt anything).
  const again = withIt(...copies());
  again.forEach((g, k) => expectClose(g, got[k]!, { rtol: 0, atol: 0 }));
  expect(got.length).toBe(outs.length);
  return { fgraph: withIt.fgraph, without: withoutIt.fgraph, ops: opNames(withIt.fgraph), applied, outputs: got };
}
