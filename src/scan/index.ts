/**
 * Loops and branches (API.md §8): `scan` and its relatives, `ifelse`.
 */
export { scan, scanUntil, map, reduce, foldl, foldr, ScanUntil } from "./scan.js";
export type { ScanOptions, SequenceSpec, OutputSpec, ScanUpdates, ScanOutputs } from "./scan.js";
export { Scan } from "./op.js";
import "./jacobian.js"; // jacobian/hessian of unknown length loop with scan
export { ifelse, IfElse } from "./ifelse.js";
