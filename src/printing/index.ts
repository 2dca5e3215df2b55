/** `theano.printing` (API.md §10): debugprint and pp. */
export { debugprint } from "./debugprint.js";
export type { DebugprintOptions, Printable } from "./debugprint.js";
export { pp } from "./pp.js";
export type { PpPrintable } from "./pp.js";
