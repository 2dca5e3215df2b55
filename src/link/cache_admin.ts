/**
 * The compile cache's management, as the public API offers it (`theano.cache`) and as
 * `theano-ts cache list|verify|clear|cleanup` (src/cli/cache.ts) runs it: the data functions of
 * src/link/cache.ts under short names, so the command line stays a client of the public API.
 */

export {
  compiledir as directory,
  listEntries as list,
  verifyCache as verify,
  clearCache as clear,
  ageCache as cleanup,
} from "./cache.js";
export type { CacheEntryInfo, VerifyReport } from "./cache.js";
