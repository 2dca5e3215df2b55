/**
 * Loops and branches (API.md §8): `scan` and its relatives, `ifelse`.
 */
export { scan, scanUntil, map, reduce, foldl, foldr, ScanUntil } from "./scan.js";
export type { ScanOptions, SequenceSpec, OutputSpec, ScanUpdates, ScanOutputs } from "./scan.js";
export { Scan } from "./op.js";
export { ifelse, IfElse } from "./ifelse.js";
