/**
 * Option-object validation for the compile stage's entry points (`theano.function`, `f.copy`,
 * `In`, `Out`, `shared`). TypeScript rejects an unknown key at compile time, but plain
 * JavaScript, `as any` and Theano's snake_case spellings (`delete_updates`) reach us at run time,
 * where a silently ignored option gives silently wrong results (issue 12.3). So every unknown key
 * is an InputError that names it, the valid keys, and the camelCase spelling when that is valid.
 */

import { InputError } from "../errors.js";

const camel = (k: string): string => k.replace(/_+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** Throws InputError unless `opts` is undefined or a plain object whose keys are all in `valid`. */
export function checkOptions(what: string, opts: unknown, valid: readonly string[]): void {
  if (opts === undefined) return;
  const list = valid.join(", ");
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new InputError(`${what}: the options must be an object with keys among ${list}; got ${Array.isArray(opts) ? "an array" : String(opts)}`);
  }
  const unknown = Object.keys(opts).filter((k) => !valid.includes(k));
  if (unknown.length === 0) return;
  const hints = unknown.filter((k) => camel(k) !== k && valid.includes(camel(k))).map((k) => `'${k}' is spelt '${camel(k)}' here`);
  throw new InputError(
    `${what}: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")}; the valid options are ${list}` +
      (hints.length > 0 ? ` (${hints.join("; ")})` : ""),
  );
}
