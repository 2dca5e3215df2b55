/**
 * Runs before every test file. vitest's worker talks to the runner over an RPC channel whose
 * calls time out after 60 s; the replies are only read when the worker's event loop turns.
 * A file of synchronous tests (C compiles are synchronous: `theano.function` is) never turns
 * it between tests, so on a loaded machine a run of them longer than 60 s ended in
 * "Timeout calling onTaskUpdate" although every test passed. One macrotask turn after each
 * test keeps the channel answered: the limit becomes one test's own duration.
 */

import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
