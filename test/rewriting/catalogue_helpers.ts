/**
 * Test helpers for the rewrite catalogue (math, stabilize, nnet), on top of the shared
 * `check_rewrite.ts` utility: compile through `theano.function` with the default optimizer, read the
 * rewritten graph's structure, and check that a rewrite fires, keeps values (against the graph
 * without it and against the unrewritten graph, optimizer=None), and that
 * `optimizer_excluding=<its name>` turns it off.
 */

import { expect } from "vitest";
import * as theano from "../../src/index.js";
import type { Variable } from "../../src/graph/basic.js";
import { NDArray } from "../../src/ndarray/ndarray.js";
import { expectClose } from "../helpers.js";
import { checkRewrite as checkOne, opNames } from "./check_rewrite.js";

/**
 * The linker the catalogue's functions run on. Rewrites do not depend on it (the same pipeline
 * runs for every linker), and each C module costs a compile: the C backend's values are checked by
 * the agreement and fuzz suites (test/link/), the numerical cases of stabilize.test.ts by
 * `defaultMode`, and the stability battery on every linker.
 */
const LINKER = "js";

/** What structure tests hide: fusion and in-place passes (they would fold the nodes away). */
const STRUCTURE_EXCLUDES = ["fusion", "inplace", "local_careduce_fusion"];

/**
 * Compiles with the default optimizer (fast_run) on LINKER. `structure` also excludes fusion and in-place
 * passes, so the catalogue's own results stay visible node by node.
 */
export function compile(inputs: Variable[], outputs: Variable | Variable[], opts: { excluding?: string[]; structure?: boolean; optimizer?: string } = {}): theano.TheanoFunction<unknown> {
  const excl = [...(opts.structure === false ? [] : STRUCTURE_EXCLUDES), ...(opts.excluding ?? [])];
  const flags: Record<string, string> = { optimizer_excluding: excl.join(":"), linker: LINKER };
  if (opts.optimizer) flags["optimizer"] = opts.optimizer;
  return theano.config.change(flags as never, () => theano.function(inputs as never, outputs as never));
}

/** The rewritten graph's nodes in order, each as its op's name (`log1p` for Elemwise{log1p}). */
export const ops = (f: theano.TheanoFunction<unknown>): string[] => opNames(f.fgraph);

/** Runs `f` and returns its outputs as a list. */
export function run(f: theano.TheanoFunction<unknown>, ...args: unknown[]): NDArray[] {
  const r = (f as unknown as (...a: unknown[]) => NDArray | NDArray[])(...args);
  return Array.isArray(r) ? r : [r];
}

/** Seeded uniform values in [lo, hi) (a small LCG: tests are reproducible). */
export function randomValues(shape: number[], lo = -2, hi = 2, seed = 1, dtype: "float64" | "float32" = "float64"): NDArray {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return new NDArray("float64", shape, data).astype(dtype);
}

export interface RewriteCase {
  /** The rewrite's registered name (or a tag it carries). */
  name: string;
  /** The rewriter name `optimizer_verbose` reports when it fires (default: `name`). */
  fires?: string;
  inputs: Variable[];
  output: Variable;
  /** Values of the inputs. */
  values: unknown[];
  /** Op names (see `ops`) the rewritten graph must contain... */
  present?: string[];
  /** ...and must not. */
  absent?: string[];
  /** Rewrites excluded in every compile (others that would do the same job). */
  alsoExcluding?: string[];
  /** Tolerance for the value comparison (default: the dtype's). */
  tol?: { rtol?: number; atol?: number };
}

/**
 * Asserts that the rewrite fires, the structure after rewriting (fusion and in-place passes
 * excluded), values equal to those without it and to the unrewritten graph (optimizer=None), and
 * that excluding it by name leaves its `present` ops out (or its `absent` ones in). Returns the
 * rewritten graph's op list.
 */
export function checkRewrite(c: RewriteCase): string[] {
  const r = checkOne(c.inputs, c.output, c.name, { linker: LINKER, values: c.values, excluding: [...STRUCTURE_EXCLUDES, ...(c.alsoExcluding ?? [])], ...(c.tol ?? {}) });
  expect(r.applied, `${c.fires ?? c.name} should fire`).toContain(c.fires ?? c.name);
  for (const p of c.present ?? []) expect(r.ops, `expected ${p} in [${r.ops.join(", ")}]`).toContain(p);
  for (const a of c.absent ?? []) expect(r.ops, `expected no ${a} in [${r.ops.join(", ")}]`).not.toContain(a);
  const ref = compile(c.inputs, c.output, { optimizer: "None", structure: false });
  expectClose(r.outputs[0]!, run(ref, ...c.values)[0]!, c.tol ?? {});
  const off = opNames(r.without);
  const stillAll = (c.present ?? []).every((p) => off.includes(p)) && (c.absent ?? []).every((a) => !off.includes(a));
  expect(stillAll, `optimizer_excluding=${c.name} should turn the rewrite off, got [${off.join(", ")}]`).toBe(false);
  return r.ops;
}
