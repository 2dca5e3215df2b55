/** `theano.printing` (API.md §10). */
export { debugprint } from "./debugprint.js";
export type { DebugprintOptions, Printable } from "./debugprint.js";
