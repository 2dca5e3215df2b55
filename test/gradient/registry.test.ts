/**
 * Every operation states its gradient: each Op subclass exported by any module of src/tensor/
 * and src/gradient/ must have `grad` or `notDifferentiable`, and `inferShape`; every row of the
 * scalar table must have an entry in src/tensor/scalar_grads.ts (a rule or NOT_DIFFERENTIABLE).
 *
 * Modules are found by listing the folders, so a new op file is covered without editing this
 * test. `notDifferentiable` is usually a class field, visible only on an instance: an op without
 * `grad` is built with no arguments to read it (an op whose constructor needs arguments should
 * define `grad`, or make its notDifferentiable readable that way).
 */

import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import "../../src/index.js";
import { Apply, Op, type Variable } from "../../src/graph/basic.js";
import { SCALAR_OPS } from "../../src/scalar/table.js";
import * as scalarGrads from "../../src/tensor/scalar_grads.js";

type OpClass = (abstract new (...args: never[]) => Op) & { name: string };

async function exportedOpClasses(): Promise<Map<OpClass, string>> {
  const found = new Map<OpClass, string>();
  for (const dir of ["tensor", "gradient"]) {
    const url = new URL(`../../src/${dir}/`, import.meta.url);
    for (const file of readdirSync(url).filter((f) => f.endsWith(".ts")).sort()) {
      const mod = (await import(new URL(file, url).href)) as Record<string, unknown>;
      for (const value of Object.values(mod)) {
        if (typeof value === "function" && value.prototype instanceof Op && !found.has(value as OpClass)) found.set(value as OpClass, `src/${dir}/${file}`);
      }
    }
  }
  return found;
}

const classes = await exportedOpClasses();

/** Why `cls` fails the registry, or null when it passes. */
function problems(cls: OpClass): string[] {
  const out: string[] = [];
  const proto = cls.prototype as Op;
  if (typeof proto.inferShape !== "function") out.push("no inferShape");
  if (typeof proto.grad !== "function") {
    let reason: unknown;
    try {
      reason = (new (cls as unknown as new () => Op)()).notDifferentiable;
    } catch (e) {
      out.push(`no grad, and notDifferentiable cannot be read (constructing it with no arguments threw: ${(e as Error).message})`);
      return out;
    }
    if (typeof reason !== "string" || reason.length === 0) out.push("neither grad nor notDifferentiable");
  }
  return out;
}

describe("the op registry", () => {
  it("finds the op classes of every module", () => {
    // A floor on the count, so a broken enumeration cannot pass by finding nothing.
    expect(classes.size).toBeGreaterThanOrEqual(40);
    const names = [...classes.keys()].map((c) => c.name);
    for (const n of ["Elemwise", "DimShuffle", "CAReduce", "Dot", "Subtensor", "Join", "Alloc", "ZeroGrad"]) expect(names).toContain(n);
  });

  it("every op has grad or notDifferentiable, and inferShape", () => {
    const bad = [...classes].map(([cls, file]) => ({ name: `${cls.name} (${file})`, why: problems(cls) })).filter((b) => b.why.length > 0);
    expect(bad.map((b) => `${b.name}: ${b.why.join("; ")}`)).toEqual([]);
  });

  it("the check flags an op with neither gradient nor shape inference", () => {
    class Bare extends Op {
      makeNode(x: Variable): Apply {
        return new Apply(this, [x], [x.type]);
      }
      perform(_n: Apply, v: unknown[]): unknown[] {
        return v;
      }
    }
    class NeedsArgs extends Bare {
      constructor(readonly k: { n: number }) {
        super();
        if (k.n < 0) throw new Error("k");
      }
    }
    expect(problems(Bare)).toEqual(["no inferShape", "neither grad nor notDifferentiable"]);
    expect(problems(NeedsArgs)[1]).toMatch(/cannot be read/);
  });

  for (const [cls, file] of classes) {
    it(`${cls.name} (${file})`, () => {
      expect(problems(cls)).toEqual([]);
    });
  }
});

describe("the scalar table's gradients", () => {
  const table = scalarGrads.SCALAR_GRADS as Readonly<Record<string, unknown>>;

  it("every row has a gradient rule or is marked not differentiable", () => {
    const missing = [...SCALAR_OPS.keys()].filter((name) => !(typeof table[name] === "function" || table[name] === scalarGrads.NOT_DIFFERENTIABLE));
    expect(missing).toEqual([]);
  });

  it("every rule belongs to a row of the table", () => {
    expect(Object.keys(table).filter((name) => !SCALAR_OPS.has(name))).toEqual([]);
  });
});
