/**
 * Runs before every test file. vitest's worker reports each test's progress to its runner with
 * `onTaskUpdate` calls over an RPC channel that times out a call after 60 s. The reports are
 * sent on a throttle timer and their replies are only read when the worker's event loop turns,
 * and theano.function is synchronous (a C compile blocks the loop): on a loaded machine a test
 * that yielded once and then compiled for more than 60 s ended the run with "Timeout calling
 * onTaskUpdate" although every test passed (issue 12.6). The runner never uses the reply to a
 * report, so this file sends reports as one-way events instead, on the same channel and in the
 * same order: nothing is left waiting while a test blocks, whatever its length.
 */

interface Rpc {
  onTaskUpdate?: ((...args: unknown[]) => Promise<unknown>) & { asEvent?: (...args: unknown[]) => void };
}

// vitest's worker state (not a public API: when its shape differs, reports stay calls).
const state = (globalThis as { __vitest_worker__?: { rpc?: Rpc } }).__vitest_worker__;
const rpc = state?.rpc;
const asEvent = rpc?.onTaskUpdate?.asEvent;
// (Any key of vitest's RPC object is a remote method, so the marker lives beside it, not on it.)
const marked = globalThis as { __theanoOneWayRpc?: unknown };
if (state && rpc && typeof asEvent === "function" && marked.__theanoOneWayRpc !== rpc) {
  state.rpc = new Proxy(rpc, {
    get(target, key, receiver) {
      if (key === "onTaskUpdate") return (...args: unknown[]) => Promise.resolve(asEvent(...args));
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  marked.__theanoOneWayRpc = state.rpc;
}

/**
 * The suite builds hundreds of C modules (about 700 cold); gcc at -O0 takes about two thirds of
 * the time of -O1 (a sample of 40 of the suite's modules, compile and link:
 * 0.35 s at -O1, 0.23 s at -O0), and what the tests
 * check — values, shapes, errors, the cache — does not depend on the level. `.ci/run` runs the C
 * agreement and op files and the fuzz again at the default -O3 (THEANO_TS_TEST_O3=1), so code
 * that only -O3's vectoriser would break is still caught; THEANO_FLAGS naming gcc.cxxflags wins
 * over both.
 */
import { config as theanoConfig } from "../src/config/index.js";

if (process.env["THEANO_TS_TEST_O3"] !== "1" && !/(^|,)\s*gcc(\.|__)cxxflags\s*=/.test(process.env["THEANO_FLAGS"] ?? "")) {
  theanoConfig.gcc.cxxflags = "-O0";
  // Child processes the tests start (a second process finding the cache entry) build the same.
  process.env["THEANO_FLAGS"] = [process.env["THEANO_FLAGS"], "gcc.cxxflags=-O0"].filter(Boolean).join(",");
}
