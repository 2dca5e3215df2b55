/** `theano.printing` (API.md §10): debugprint, pp, toDot and pydotprint. */
export { debugprint } from "./debugprint.js";
export type { DebugprintOptions, Printable } from "./debugprint.js";
export { pp } from "./pp.js";
export type { PpPrintable } from "./pp.js";
export { toDot, toSvg, pydotprint } from "./dot.js";
export type { PydotprintOptions } from "./dot.js";
