/**
 * Runs before every test file. vitest's worker reports each test to its runner over an RPC
 * channel whose calls time out after 60 s, and replies are only read when the worker's event
 * loop turns. A test starts by sending such a report; a synchronous test (C compiles are
 * synchronous: `theano.function` is) then keeps the loop from turning, so on a loaded machine a
 * test longer than 60 s ended the run with "Timeout calling onTaskUpdate" although every test
 * passed (issue 12.6). Before each test, one round trip on the same channel waits until the
 * runner has answered what was sent so far; after each test, one macrotask turn reads what came
 * in meanwhile. Nothing is left waiting while a test blocks, whatever its length.
 */

import { afterEach, beforeEach } from "vitest";

interface WorkerRpc {
  onTaskUpdate?: (packs: unknown[], events: unknown[]) => Promise<void>;
}

beforeEach(async () => {
  // vitest's worker state (not a public API: when it is absent, only the turn below is left).
  const rpc = (globalThis as { __vitest_worker__?: { rpc?: WorkerRpc } }).__vitest_worker__?.rpc;
  await rpc?.onTaskUpdate?.([], []);
});

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
