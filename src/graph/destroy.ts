/**
 * The destroy handler (Theano's `graph/destroyhandler.py`): a FunctionGraph feature that makes
 * in-place operations safe.
 *
 * An op's `destroyMap` says which inputs an output overwrites, its `viewMap` which inputs an
 * output shares memory with. From both, every variable gets a buffer (the variable that first
 * owned the memory: its root) and a version (how many destroyers the memory went through). The
 * handler guarantees, for each node that destroys a variable v:
 *
 * - v's memory is not a constant's, nor a function input's unless that input is mutable (an
 *   updated shared variable, or `In(x, { mutable: true })`: Theano lets those be overwritten);
 * - no other node destroys the same version of that memory, and no version-mates is an output;
 * - every other reader of that version (v, and every view of it) runs before the destroyer: the
 *   handler adds these orderings to `FunctionGraph.toposort`, and refuses (InconsistencyError)
 *   a graph where a reader depends on the destroyer's result.
 *
 * Destroyers of mutable inputs (and what depends on them) are scheduled last. That alone cannot
 * keep a failing call from changing a shared variable (a node that reads the in-place result may
 * fail after it): `theano.function` lends such calls a copy instead (`overwrittenInputs`).
 *
 * In-place rewrites use `planner`, an incremental form of the same checks over a fixed order,
 * so making a 50 000-node chain in-place costs linear time.
 */

import { TheanoError } from "../errors.js";
import { type Apply, type Variable, toposort } from "./basic.js";
import type { Feature, FunctionGraph } from "./fgraph.js";

/** A change that would break the destroy handler's guarantees (rewrites are undone on it). */
export class InconsistencyError extends TheanoError {}

type Buf = { readonly root: Variable; readonly version: number };

/** The buffer (root, version) of each variable along an order, and the members of each version. */
class BufferMap {
  readonly buf = new Map<Variable, Buf>();
  readonly members = new Map<string, Variable[]>();

  of(v: Variable): Buf {
    let b = this.buf.get(v);
    if (!b) {
      b = { root: v, version: 0 };
      this.add(v, b);
    }
    return b;
  }

  static key(b: Buf): string {
    return `${b.root.id}:${b.version}`;
  }

  private add(v: Variable, b: Buf): void {
    this.buf.set(v, b);
    const k = BufferMap.key(b);
    const m = this.members.get(k);
    if (m) m.push(v);
    else this.members.set(k, [v]);
  }

  /** Registers the outputs of `node` (after its inputs). */
  visit(node: Apply): void {
    node.outputs.forEach((o, i) => {
      const d = node.op.destroyMap.get(i);
      const src = d?.[0] ?? node.op.viewMap.get(i)?.[0];
      if (src === undefined) this.add(o, { root: o, version: 0 });
      else {
        const b = this.of(node.inputs[src]!);
        this.add(o, { root: b.root, version: b.version + (d ? 1 : 0) });
      }
    });
  }
}

/** One destroyed input of a node: (input index). */
const destroyedInputs = (node: Apply): number[] => [...new Set([...node.op.destroyMap.values()].flat())];

export class DestroyHandler implements Feature {
  private fg: FunctionGraph | null = null;
  readonly mutable: Set<Variable>;
  readonly destroyers = new Set<Apply>();
  /** Set while an in-place pass that checks as it goes is running. */
  private suspended = 0;

  constructor(opts: { mutable?: Iterable<Variable> } = {}) {
    this.mutable = new Set(opts.mutable ?? []);
  }

  onAttach(fg: FunctionGraph): void {
    if (this.fg && this.fg !== fg) throw new TheanoError("a DestroyHandler serves one FunctionGraph");
    this.fg = fg;
    for (const n of fg.nodes) if (n.op.destroyMap.size > 0) this.destroyers.add(n);
  }

  onImport(_fg: FunctionGraph, node: Apply): void {
    if (node.op.destroyMap.size > 0) this.destroyers.add(node);
  }

  onPrune(_fg: FunctionGraph, node: Apply): void {
    this.destroyers.delete(node);
  }

  /** Why `fg` may not destroy the memory of `root`, or null when it may. */
  private protectedReason(fg: FunctionGraph, root: Variable): string | null {
    if (root.isConstant) return `it is the constant ${root.label}`;
    if (fg.inputs.includes(root) && !this.mutable.has(root)) return `it is the function input ${root.label}, which is not mutable`;
    return null;
  }

  /**
   * The orderings the destroyers need (reader -> destroyer), checking every guarantee; throws
   * InconsistencyError naming the first violation.
   */
  private constraints(fg: FunctionGraph): Map<Apply, Apply[]> {
    const before = new Map<Apply, Apply[]>();
    if (this.destroyers.size === 0) return before;
    const bufs = new BufferMap();
    for (const v of fg.inputs) bufs.of(v);
    const order = toposort(fg.outputs, new Set(fg.inputs));
    const destroyedBy = new Map<string, Apply>();
    const outputs = new Set(fg.outputs);
    for (const node of order) {
      for (const j of destroyedInputs(node)) {
        const v = node.inputs[j]!;
        const b = bufs.of(v);
        const why = this.protectedReason(fg, b.root);
        if (why) throw new InconsistencyError(`${node} would overwrite ${v.label}, but ${why}`);
        const k = BufferMap.key(b);
        const other = destroyedBy.get(k);
        if (other && other !== node) throw new InconsistencyError(`${node} and ${other} both overwrite the memory of ${v.label}`);
        destroyedBy.set(k, node);
        for (const m of bufs.members.get(k)!) {
          if (outputs.has(m)) throw new InconsistencyError(`${node} would overwrite ${m.label}, which is an output of the function`);
          for (const [c, idx] of fg.clientsOf(m)) {
            if (c === "output" || c === node) {
              if (c === node && !(m === v && idx === j)) throw new InconsistencyError(`${node} overwrites ${v.label} and also reads its memory through input ${idx}`);
              continue;
            }
            let list = before.get(node);
            if (!list) before.set(node, (list = []));
            list.push(c);
          }
        }
      }
      bufs.visit(node);
    }
    return before;
  }

  validate(fg: FunctionGraph): void {
    if (this.suspended > 0 || this.destroyers.size === 0) return;
    // A reader that depends on the destroyer's result makes the constraints cyclic.
    this.scheduleWith(fg, this.constraints(fg));
  }

  schedule(fg: FunctionGraph, order: Apply[]): Apply[] {
    if (this.destroyers.size === 0) return order;
    return this.scheduleWith(fg, this.constraints(fg));
  }

  private scheduleWith(fg: FunctionGraph, before: Map<Apply, Apply[]>): Apply[] {
    const inFg = (n: Apply): boolean => fg.nodes.has(n);
    const deps = (n: Apply): Apply[] => {
      const d: Apply[] = [];
      for (const v of n.inputs) if (v.owner && inFg(v.owner)) d.push(v.owner);
      const extra = before.get(n);
      if (extra) d.push(...extra);
      return d;
    };
    const roots: Apply[] = [];
    for (const o of fg.outputs) if (o.owner && inFg(o.owner)) roots.push(o.owner);
    for (const n of before.keys()) roots.push(n);
    // Iterative DFS post-order over data and ordering dependencies.
    const order: Apply[] = [];
    const state = new Map<Apply, 1 | 2>();
    for (const r of roots) {
      if (state.get(r) === 2) continue;
      const stack: Array<[Apply, Apply[], number]> = [[r, deps(r), 0]];
      state.set(r, 1);
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        if (top[2] < top[1].length) {
          const d = top[1][top[2]++]!;
          const s = state.get(d);
          if (s === 1) throw new InconsistencyError(`the in-place operations cannot be ordered: ${d} must run both before and after ${top[0]}`);
          if (s === undefined) {
            state.set(d, 1);
            stack.push([d, deps(d), 0]);
          }
        } else {
          state.set(top[0], 2);
          order.push(top[0]);
          stack.pop();
        }
      }
    }
    // Move destroyers of inputs (and everything that must follow them) to the end.
    const late = new Set<Apply>();
    const after = new Map<Apply, Apply[]>();
    for (const [d, cs] of before) for (const c of cs) (after.get(c) ?? after.set(c, []).get(c)!).push(d);
    const work: Apply[] = [];
    for (const d of this.destroyers) {
      if (!inFg(d)) continue;
      if (destroyedInputs(d).some((j) => fg.inputs.includes(rootOf(d.inputs[j]!)))) work.push(d);
    }
    while (work.length > 0) {
      const n = work.pop()!;
      if (late.has(n)) continue;
      late.add(n);
      for (const o of n.outputs) for (const [c] of fg.clientsOf(o)) if (c !== "output" && !late.has(c)) work.push(c);
      for (const d of after.get(n) ?? []) if (!late.has(d)) work.push(d);
    }
    if (late.size === 0) return order;
    return [...order.filter((n) => !late.has(n)), ...order.filter((n) => late.has(n))];
  }

  /** Runs `fn` (an in-place pass that checks as it goes) without validating every replacement. */
  trusting<R>(fn: () => R): R {
    this.suspended++;
    try {
      return fn();
    } finally {
      this.suspended--;
    }
  }

  /**
   * Incremental checks for an in-place pass over `fg.toposort()`: visit nodes in that order,
   * asking `whyNot(node, j)` before making `node` overwrite input j, `replaced(old, new)` after
   * swapping a node for its in-place version, then `visit(node)`.
   */
  planner(fg: FunctionGraph): InplacePlanner {
    return new InplacePlanner(this, fg);
  }

  /** @internal */
  reasonProtected(fg: FunctionGraph, root: Variable): string | null {
    return this.protectedReason(fg, root);
  }
}

/**
 * The inputs of `fg` whose memory `nodes` (default: every node of `fg`) may overwrite: each
 * destroyed operand's root through any chain of views and in-place results. `theano.function`
 * never hands a call the storage of a shared variable in this set (it lends a copy), so a call
 * that throws changes no shared variable, whatever the backend and wherever the failing node is.
 */
export function overwrittenInputs(fg: FunctionGraph, nodes: Iterable<Apply> = fg.nodes): Set<Variable> {
  const inputs = new Set(fg.inputs);
  const found = new Set<Variable>();
  for (const node of nodes) {
    for (const j of destroyedInputs(node)) {
      const r = rootOf(node.inputs[j]!);
      if (inputs.has(r)) found.add(r);
    }
  }
  return found;
}

/** The memory root of `v` by following view and destroy maps upwards. */
function rootOf(v: Variable): Variable {
  let cur = v;
  for (;;) {
    const n = cur.owner;
    if (!n) return cur;
    const src = n.op.destroyMap.get(cur.index)?.[0] ?? n.op.viewMap.get(cur.index)?.[0];
    if (src === undefined) return cur;
    cur = n.inputs[src]!;
  }
}

export class InplacePlanner {
  readonly order: Apply[];
  private readonly pos = new Map<Apply, number>();
  private readonly bufs = new BufferMap();
  private readonly destroyed = new Set<string>();
  private readonly outputs: Set<Variable>;

  constructor(
    private readonly dh: DestroyHandler,
    private readonly fg: FunctionGraph,
  ) {
    this.order = fg.toposort();
    this.order.forEach((n, i) => this.pos.set(n, i));
    for (const v of fg.inputs) this.bufs.of(v);
    this.outputs = new Set(fg.outputs);
  }

  /** Why `node` may not overwrite its input j (null: it may). Call before `visit(node)`. */
  whyNot(node: Apply, j: number): string | null {
    const v = node.inputs[j]!;
    const b = this.bufs.of(v);
    const why = this.dh.reasonProtected(this.fg, b.root);
    if (why) return why;
    const k = BufferMap.key(b);
    if (this.destroyed.has(k)) return `another node already overwrites ${v.label}`;
    const p = this.pos.get(node)!;
    for (const m of this.bufs.members.get(k)!) {
      if (this.outputs.has(m)) return `${m.label} is an output of the function`;
      for (const [c, idx] of this.fg.clientsOf(m)) {
        if (c === "output") return `${m.label} is an output of the function`;
        if (c === node) {
          if (!(m === v && idx === j)) return `${node} also reads that memory through input ${idx}`;
        } else if ((this.pos.get(c) ?? Infinity) > p) return `${c} reads ${m.label} later`;
      }
    }
    return null;
  }

  /** `next` took the place of `prev` (same inputs, in-place op). */
  replaced(prev: Apply, next: Apply): void {
    this.pos.set(next, this.pos.get(prev)!);
  }

  /** Registers `node`'s outputs and what it destroys. */
  visit(node: Apply): void {
    for (const j of destroyedInputs(node)) this.destroyed.add(BufferMap.key(this.bufs.of(node.inputs[j]!)));
    this.bufs.visit(node);
  }
}

/** The destroy handler of `fg`, attaching one (with no mutable inputs) when there is none. */
export function destroyHandlerOf(fg: FunctionGraph): DestroyHandler {
  const dh = fg.features.find((f): f is DestroyHandler => f instanceof DestroyHandler);
  if (dh) return dh;
  const made = new DestroyHandler();
  fg.attachFeature(made);
  return made;
}
