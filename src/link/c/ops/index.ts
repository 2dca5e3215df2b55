/**
 * The C generators that live in their own files, one per family of `src/tensor/` (ARCHITECTURE.md
 * "Backends"). Importing this module registers them with codegen.ts (`registerCGenerator`); the
 * C linker imports it. Add a family's file here with one import line.
 */
import "./subtensor.js";
import "./conv.js";
import "./shape.js";
import "./math.js";
import "./extra.js";
import "./alloc.js";
import "./distributed.js";
export {};
