/**
 * A second process for test/link/c/trust.test.ts (possibly run as another uid): compiles
 * `x * k + 1` with the linker given, in the compiledir given, and prints one JSON line with the
 * result or the error's class and message. Warnings go to stderr as usual, for the test to count.
 *
 * Usage: node --import tsx test/link/c/cache_dir_child.ts <compiledir> <linker> <k>
 */

import * as theano from "../../../src/index.js";

const [dir, linker, k] = process.argv.slice(2);
if (dir === undefined || linker === undefined || k === undefined) throw new Error("usage: cache_dir_child.ts <compiledir> <linker> <k>");
let line: unknown;
try {
  line = theano.config.change({ compiledir: dir, linker: linker as "auto" }, () => {
    const x = theano.T.dvector("x");
    const f = theano.function([x], x.mul(Number(k)).add(1));
    return { value: (f([1, 2]) as theano.NDArray).toArray() };
  });
} catch (e) {
  line = { error: (e as Error).name, message: (e as Error).message };
}
process.stdout.write(`${JSON.stringify(line)}\n`);
