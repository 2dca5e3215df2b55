/**
 * The small contract between `theano.function` and a backend: a linker turns a rewritten
 * FunctionGraph into a thunk from input values (in `fgraph.inputs` order) to output values
 * (in `fgraph.outputs` order). Backends own their code generation; shape checks, input
 * validation and updates stay in src/compile.
 */

import type { FunctionGraph } from "../graph/fgraph.js";
import type { Value } from "../graph/basic.js";
import type { MemoryPlan } from "./memory.js";

export type Thunk = ((inputs: readonly Value[]) => Value[]) & {
  /** Drops cached buffers and generated code; the thunk must not be called afterwards. */
  free?: () => void;
  /** The generated source, for backends that generate any. */
  source?: string;
  /** Planned and measured memory of the results (src/link/memory.ts). */
  memoryPlan?: MemoryPlan;
};

/** What `theano.function` tells a linker about how its results are used. */
export interface LinkOptions {
  /**
   * Per entry of `fgraph.outputs` (missing = false): the caller gave `Out(v, { borrow: true })`,
   * so the backend may hand out memory it overwrites on the next call (Theano's borrow).
   */
  readonly borrowed?: readonly boolean[];
}

export interface Linker {
  readonly name: "py" | "js" | "c" | "cuda";
  make(fgraph: FunctionGraph, opts?: LinkOptions): Thunk;
}
