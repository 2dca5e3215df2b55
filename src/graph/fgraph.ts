/**
 * FunctionGraph: a graph with fixed inputs and outputs that rewrites may edit in place
 * (Theano's `graph/fg.py`).
 *
 * It tracks, for every variable, its clients (the nodes, or output slots, that read it), so a
 * rewrite can replace a variable everywhere at once. Features observe every change (imports,
 * prunes, input changes) and may veto one; shape inference and destroy handling are features.
 * Construction clones the user's graph, so rewriting never changes the variables the user holds.
 */

import { TheanoError } from "../errors.js";
import { Apply, type Variable, cloneGraph, toposort } from "./basic.js";

/** A client of a variable: input `index` of a node, or output slot `index` of the graph. */
export type Client = readonly [Apply | "output", number];

export interface Feature {
  onAttach?(fg: FunctionGraph): void;
  onImport?(fg: FunctionGraph, node: Apply, reason: string): void;
  onPrune?(fg: FunctionGraph, node: Apply, reason: string): void;
  onChangeInput?(fg: FunctionGraph, node: Apply | "output", index: number, oldVar: Variable, newVar: Variable, reason: string): void;
  /** Throws to veto a replacement that would break the feature's invariant. */
  validate?(fg: FunctionGraph): void;
  /**
   * Refines a topological order to honour constraints the data flow does not show (the destroy
   * handler: every reader of a buffer runs before the node that overwrites it).
   */
  schedule?(fg: FunctionGraph, order: Apply[]): Apply[];
}

export class FunctionGraph {
  readonly inputs: Variable[];
  readonly outputs: Variable[];
  readonly nodes = new Set<Apply>();
  readonly variables = new Set<Variable>();
  readonly clients = new Map<Variable, Client[]>();
  // Each client record's position in its variable's list, and the record of (node, input), so
  // that removing a client costs O(1) even for a variable with tens of thousands of readers
  // (a merged constant): replacing or pruning stays linear in the graph's size.
  private readonly clientPos = new Map<Client, number>();
  private readonly clientRef = new Map<Apply | "output", Client[]>();
  readonly features: Feature[] = [];
  /** Original variable (the user's) -> its copy in this graph. */
  readonly memo: Map<Variable, Variable>;

  constructor(inputs: readonly Variable[], outputs: readonly Variable[], opts: { clone?: boolean; replace?: ReadonlyMap<Variable, Variable> } = {}) {
    const clone = opts.clone ?? true;
    this.memo = clone ? cloneGraph(inputs, outputs, { replace: opts.replace, copyInputs: true }) : new Map();
    const get = (v: Variable): Variable => this.memo.get(v) ?? v;
    this.inputs = inputs.map(get);
    this.outputs = outputs.map(get);
    for (const i of this.inputs) this.addVariable(i);
    const inputSet = new Set(this.inputs);
    this.importSorted(toposort(this.outputs, inputSet), inputSet, "init");
    this.outputs.forEach((o, i) => {
      this.addVariable(o);
      this.addClient(o, "output", i);
    });
  }

  private addVariable(v: Variable): void {
    if (!this.variables.has(v)) {
      this.variables.add(v);
      if (!this.clients.has(v)) this.clients.set(v, []);
    }
  }

  clientsOf(v: Variable): Client[] {
    let c = this.clients.get(v);
    if (!c) {
      c = [];
      this.clients.set(v, c);
    }
    return c;
  }

  private addClient(v: Variable, node: Apply | "output", index: number): void {
    const c: Client = [node, index];
    const cs = this.clientsOf(v);
    this.clientPos.set(c, cs.length);
    cs.push(c);
    let refs = this.clientRef.get(node);
    if (!refs) this.clientRef.set(node, (refs = []));
    refs[index] = c;
  }

  private removeClient(v: Variable, node: Apply | "output", index: number): void {
    const cs = this.clientsOf(v);
    const c = this.clientRef.get(node)?.[index];
    let k = c ? this.clientPos.get(c) : undefined;
    if (k === undefined || cs[k] !== c) k = cs.findIndex(([n, j]) => n === node && j === index);
    if (k < 0) return;
    const removed = cs[k]!;
    const last = cs.pop()!;
    if (last !== removed) {
      cs[k] = last;
      this.clientPos.set(last, k);
    }
    this.clientPos.delete(removed);
  }

  /** Adds `node` (and every node it needs that is not in the graph yet). */
  importNode(node: Apply, reason: string): void {
    if (this.nodes.has(node)) return;
    const inputSet = new Set(this.inputs);
    // The search stops at variables the graph already computes, so importing one node costs
    // the size of what is new, not of the whole graph above it.
    const known = new Set<Variable>(inputSet);
    const seen = new Set<Apply>([node]);
    const stack: Apply[] = [node];
    while (stack.length > 0) {
      for (const v of stack.pop()!.inputs) {
        if (!v.owner || known.has(v)) continue;
        if (this.nodes.has(v.owner)) known.add(v);
        else if (!seen.has(v.owner)) {
          seen.add(v.owner);
          stack.push(v.owner);
        }
      }
    }
    this.importSorted(toposort(node.outputs, known), inputSet, reason);
  }

  /** Adds nodes given in topological order, skipping those already in the graph. */
  private importSorted(order: readonly Apply[], inputSet: ReadonlySet<Variable>, reason: string): void {
    const fresh = order.filter((n) => !this.nodes.has(n));
    for (const n of fresh) {
      for (const v of n.inputs) {
        if (!v.owner && !v.isConstant && !inputSet.has(v)) {
          throw new TheanoError(`a rewrite introduced the variable ${v.label}, which is not an input of the graph`);
        }
      }
      this.nodes.add(n);
      n.outputs.forEach((o) => this.addVariable(o));
      n.inputs.forEach((v, i) => {
        this.addVariable(v);
        this.addClient(v, n, i);
      });
      for (const f of this.features) f.onImport?.(this, n, reason);
    }
  }

  /** Removes `node` and any producer left without clients. */
  private pruneIfUnused(v: Variable, reason: string): void {
    const stack: Variable[] = [v];
    while (stack.length > 0) {
      const cur = stack.pop()!;
      const node = cur.owner;
      if (!node || !this.nodes.has(node)) continue;
      if (node.outputs.some((o) => this.clientsOf(o).length > 0)) continue;
      this.nodes.delete(node);
      for (const o of node.outputs) {
        this.variables.delete(o);
        this.clients.delete(o);
      }
      node.inputs.forEach((inp, i) => {
        this.removeClient(inp, node, i);
        if (this.clientsOf(inp).length === 0) stack.push(inp);
      });
      this.clientRef.delete(node);
      for (const f of this.features) f.onPrune?.(this, node, reason);
    }
  }

  /**
   * Points input `index` of `node` (or output slot `index`) at `newVar`, whose type must equal
   * the old one's or be more precise (a known static size where the old one had none).
   * `unchecked` skips the check (undoing a replacement restores the original variable).
   */
  changeInput(node: Apply | "output", index: number, newVar: Variable, reason: string, unchecked = false): void {
    const oldVar = node === "output" ? this.outputs[index]! : node.inputs[index]!;
    if (oldVar === newVar) return;
    const sup = (oldVar.type as { isSuperOf?: (t: unknown) => boolean }).isSuperOf;
    if (!unchecked && !oldVar.type.equals(newVar.type) && !(sup && sup.call(oldVar.type, newVar.type))) {
      throw new TheanoError(`${reason}: cannot replace ${oldVar.label} of type ${oldVar.type} with ${newVar.label} of type ${newVar.type}`);
    }
    if (newVar.owner && !this.nodes.has(newVar.owner)) this.importNode(newVar.owner, reason);
    this.addVariable(newVar);
    if (node === "output") this.outputs[index] = newVar;
    else node.inputs[index] = newVar;
    this.removeClient(oldVar, node, index);
    this.addClient(newVar, node, index);
    for (const f of this.features) f.onChangeInput?.(this, node, index, oldVar, newVar, reason);
    this.pruneIfUnused(oldVar, reason);
  }

  /** Replaces every use of `oldVar` with `newVar`. */
  replace(oldVar: Variable, newVar: Variable, reason = "replace"): void {
    if (oldVar === newVar) return;
    for (const [node, i] of [...this.clientsOf(oldVar)]) this.changeInput(node, i, newVar, reason);
  }

  replaceAll(pairs: ReadonlyArray<readonly [Variable, Variable]>, reason = "replace"): void {
    for (const [a, b] of pairs) this.replace(a, b, reason);
  }

  attachFeature(f: Feature): void {
    this.features.push(f);
    f.onAttach?.(this);
  }

  validate(): void {
    for (const f of this.features) f.validate?.(this);
  }

  /** Nodes in an order where each follows its inputs' producers and the features' constraints. */
  toposort(): Apply[] {
    let order = toposort(this.outputs, new Set(this.inputs));
    for (const f of this.features) if (f.schedule) order = f.schedule(this, order);
    return order;
  }

  toString(): string {
    return `FunctionGraph(${this.toposort().map(String).join(", ")})`;
  }
}
