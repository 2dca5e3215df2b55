/**
 * issue 12.6: test/setup.ts makes vitest's progress reports one-way, so a test that blocks the
 * event loop past the worker RPC's 60 s timeout cannot end the run red. This fails when a
 * vitest upgrade changes the internals it relies on (the reports would be calls again); the
 * blocking case itself is test/slow/rpc_block.test.ts (65 s, run by .ci/run).
 */
import { expect, test } from "vitest";

test("vitest's worker sends onTaskUpdate one way (the setup file's proxy is installed)", async () => {
  const state = (globalThis as { __vitest_worker__?: { rpc?: { onTaskUpdate: (...a: unknown[]) => Promise<unknown> } } }).__vitest_worker__;
  const installed = (globalThis as { __theanoOneWayRpc?: unknown }).__theanoOneWayRpc;
  expect(state?.rpc).toBeDefined();
  expect(installed).toBe(state!.rpc);
  // a one-way report resolves at once, with no reply to wait for
  await expect(state!.rpc!.onTaskUpdate([], [])).resolves.toBeUndefined();
});
