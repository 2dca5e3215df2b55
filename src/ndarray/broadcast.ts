/**
 * Broadcasting arithmetic on shapes.
 *
 * `broadcastShapes` is NumPy's rule on concrete shapes (a 1 stretches). The graph layer uses
 * `broadcastStatic` with Theano's stricter rule: a dimension broadcasts only when it is
 * statically known to be 1; `null` is an unknown size that is never stretched.
 */

import { ShapeError } from "../errors.js";

const fmt = (s: readonly (number | null)[]): string => `(${s.map((d) => (d === null ? "?" : d)).join(", ")}${s.length === 1 ? "," : ""})`;

/** NumPy broadcasting of concrete shapes; lower ranks are padded on the left. */
export function broadcastShapes(...shapes: ReadonlyArray<readonly number[]>): number[] {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    const pad = nd - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const o = out[pad + i]!;
      if (d === o || d === 1) continue;
      if (o === 1) out[pad + i] = d;
      else throw new ShapeError(`shapes ${shapes.map(fmt).join(" and ")} cannot be broadcast together (axis ${pad + i}: ${o} vs ${d})`);
    }
  }
  return out;
}

/**
 * Theano's static broadcasting: `null` is unknown; a 1 broadcasts against anything; two known
 * sizes that differ (neither 1) conflict now, at graph-building time.
 */
export function broadcastStatic(...shapes: ReadonlyArray<ReadonlyArray<number | null>>): Array<number | null> {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  const out: Array<number | null> = new Array(nd).fill(1);
  for (const s of shapes) {
    const pad = nd - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const o = out[pad + i]!;
      if (d === 1) continue;
      if (o === 1) out[pad + i] = d;
      else if (d === null) continue;
      else if (o === null) out[pad + i] = d;
      else if (o !== d) throw new ShapeError(`static shapes ${shapes.map(fmt).join(" and ")} cannot be broadcast together (axis ${pad + i}: ${o} vs ${d})`);
    }
  }
  return out;
}
