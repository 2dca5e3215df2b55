/**
 * Configuration (API.md §9): the flag schema (schema.ts) and `theano.config` loaded from
 * defaults, THEANORC and THEANO_FLAGS (config.ts). Importing this module loads the config, so a
 * bad flag fails at start-up.
 */
export {
  config,
  createConfig,
  configCacheKey,
  flagSource,
  formatSource,
  describeFlag,
  parseFlagsString,
  parseRc,
} from "./config.js";
export type { Config, ConfigOptions, FlagAssignment, FlagSource } from "./config.js";
export { SCHEMA, FLAG_NAMES, isFlagName } from "./schema.js";
export type {
  ConfigSection,
  ConfigTree,
  DefaultContext,
  Device,
  FlagName,
  FlagSpec,
  FlagType,
  FlagValues,
  GpuDevice,
} from "./schema.js";
