/**
 * A second process for test/link/c/cache.test.ts: loads one generated module through the
 * compile cache in the compiledir given on the command line and prints one JSON line saying
 * whether it built the module or found it, and what the module computes.
 *
 * Usage: node --import tsx test/link/c/cache_child.ts <compiledir> <variant>
 */

import { config } from "../../../src/config/index.js";
import { loadModule } from "../../../src/link/cache.js";
import { childSource } from "./cache_sources.js";

const [dir, variant] = process.argv.slice(2);
if (dir === undefined || variant === undefined) throw new Error("usage: cache_child.ts <compiledir> <variant>");
const v = Number(variant);
config.change({ compiledir: dir }, () => {
  const m = loadModule(childSource(v));
  const value = m.library.func("int theano_ts_child(int a)")(1);
  process.stdout.write(`${JSON.stringify({ key: m.key, fromCache: m.fromCache, value, pid: process.pid })}\n`);
});
