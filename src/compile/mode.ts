/**
 * Modes (Theano's `compile/mode.py`): which rewrites run and which linker turns the graph
 * into code. `FAST_RUN` (all rewrites, the fastest linker) and `FAST_COMPILE` (few rewrites,
 * the JS linker). The rewrite pipeline is a registered slot: src/rewriting fills it; until a
 * query is registered, modes run no rewrites.
 */

import { config } from "../config/index.js";
import { ConfigError } from "../errors.js";
import type { FunctionGraph } from "../graph/fgraph.js";
import { autoLinker, autoLinkerChoice, cLinker } from "../link/c/linker.js";
import { onAccelerator, requireUsableDevice } from "../link/device/index.js";
import { tuneHostHeap } from "../link/host_heap.js";
import { jsLinker } from "../link/js/linker.js";
import { pyLinker } from "../link/py.js";
import { placeOnWebGpu, webgpuLinker } from "../link/webgpu/index.js";
import { wasmLinker } from "../link/wasm/linker.js";
import type { Linker } from "../link/types.js";

export type ModeName = "FAST_RUN" | "FAST_COMPILE" | "DebugMode" | "NanGuardMode";
export type LinkerName = "auto" | "c" | "wasm" | "js" | "py";

/** The rewrite pipeline: (graph, optimizer preset, including, excluding, requiring). */
export type RewritePipeline = (fgraph: FunctionGraph, query: RewriteQuery) => void;
export interface RewriteQuery {
  optimizer: string;
  including: readonly string[];
  excluding: readonly string[];
  requiring: readonly string[];
}

const pipeline: { run?: RewritePipeline } = {};

/** Called by src/rewriting when it loads. */
export function registerRewritePipeline(run: RewritePipeline): void {
  pipeline.run = run;
}

const splitNames = (s: string): string[] => s.split(":").map((x) => x.trim()).filter((x) => x.length > 0);

function linkerFor(name: LinkerName): Linker {
  switch (name) {
    case "py":
      return pyLinker;
    case "js":
      return jsLinker;
    case "auto":
      return autoLinker();
    case "c":
      return cLinker;
    case "wasm":
      return wasmLinker;
    default:
      name satisfies never;
      throw new ConfigError(`unknown linker ${String(name)}`);
  }
}

export class Mode {
  constructor(
    readonly linkerName: LinkerName | null = null,
    readonly optimizer: string | null = null,
    readonly includeTags: readonly string[] = [],
    readonly excludeTags: readonly string[] = [],
    readonly requireTags: readonly string[] = [],
  ) {}

  /** What `linker=auto` picks in this process (C, else wasm, else js) and why; `theano-ts check` prints it. */
  static autoLinker(): { readonly linker: "c" | "wasm" | "js"; readonly why: string } {
    const { linker, why } = autoLinkerChoice();
    return { linker: linker.name as "c" | "wasm" | "js", why };
  }

  /** The linker: this mode's, else the `linker` flag. */
  linker(): Linker {
    requireUsableDevice();
    tuneHostHeap();
    // device=webgpu: the graph was placed by `rewrite`; device nodes run through the device linker.
    if (onAccelerator()) return webgpuLinker;
    return linkerFor(this.linkerName ?? config.linker);
  }

  rewrite(fgraph: FunctionGraph): void {
    const query: RewriteQuery = {
      optimizer: this.optimizer ?? config.optimizer,
      including: [...splitNames(config.optimizer_including), ...this.includeTags],
      // A device, and the wasm linker, have no FusedReduce kernel yet: keep Elemwise and CAReduce
      // apart (for placement; for Wasm kernels instead of a FusedReduce's perform on the host).
      excluding: [
        ...splitNames(config.optimizer_excluding),
        ...this.excludeTags,
        ...(onAccelerator() || this.wasmLinked() ? ["local_careduce_fusion"] : []),
      ],
      requiring: [...splitNames(config.optimizer_requiring), ...this.requireTags],
    };
    if (query.optimizer !== "None") pipeline.run?.(fgraph, query);
    // Device placement is the last rewrite (src/link/device/placement.ts), whatever the optimizer.
    if (onAccelerator()) {
      requireUsableDevice();
      placeOnWebGpu(fgraph);
    }
  }

  /** Whether the graph goes to the wasm linker (named, or what `auto` picks here). */
  private wasmLinked(): boolean {
    const name = this.linkerName ?? config.linker;
    return name === "wasm" || (name === "auto" && autoLinkerChoice().linker.name === "wasm");
  }

  including(...tags: string[]): Mode {
    return new Mode(this.linkerName, this.optimizer, [...this.includeTags, ...tags], this.excludeTags, this.requireTags);
  }

  excluding(...tags: string[]): Mode {
    return new Mode(this.linkerName, this.optimizer, this.includeTags, [...this.excludeTags, ...tags], this.requireTags);
  }

  requiring(...tags: string[]): Mode {
    return new Mode(this.linkerName, this.optimizer, this.includeTags, this.excludeTags, [...this.requireTags, ...tags]);
  }

  toString(): string {
    return `Mode(linker=${this.linkerName ?? config.linker}, optimizer=${this.optimizer ?? config.optimizer})`;
  }
}

export const FAST_RUN = new Mode(null, "fast_run");
export const FAST_COMPILE = new Mode("js", "fast_compile");

/**
 * The checking modes (debug_modes.ts: NanGuardMode, DebugMode) register here when they load, so
 * this module does not import the module whose classes extend `Mode` (an import cycle).
 */
const namedModes = new Map<"DebugMode" | "NanGuardMode", () => Mode>();

export function registerNamedMode(name: "DebugMode" | "NanGuardMode", make: () => Mode): void {
  namedModes.set(name, make);
}

export function getMode(m: ModeName | Mode | undefined): Mode {
  if (m instanceof Mode) return m;
  const name = m ?? config.mode;
  switch (name) {
    case "FAST_RUN":
      return m === undefined ? new Mode(null, null) : FAST_RUN;
    case "FAST_COMPILE":
      return FAST_COMPILE;
    case "DebugMode":
    case "NanGuardMode": {
      const make = namedModes.get(name);
      // src/compile/index.ts loads debug_modes.ts; only a caller that bypasses it gets here.
      if (!make) throw new ConfigError(`mode ${name} is not loaded: import it from theano-ts (src/compile/index.ts loads src/compile/debug_modes.ts)`);
      return make();
    }
    default:
      throw new ConfigError(`unknown mode ${JSON.stringify(name)}; valid modes are FAST_RUN, FAST_COMPILE, DebugMode, NanGuardMode`);
  }
}
