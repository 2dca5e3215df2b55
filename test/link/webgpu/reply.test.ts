/**
 * The synchronous bridge to the WebGPU executor (runtime.ts's awaitReply), driven by a scripted
 * worker instead of a device, so the interleavings that a loaded machine produces by chance happen
 * on every run: a late notify from one reply waking the wait of the next request, a reply that
 * comes after its request timed out. Needs no adapter.
 */

import { describe, expect, it } from "vitest";
import { MessageChannel, Worker } from "node:worker_threads";
import { awaitReply } from "../../../src/link/webgpu/runtime.js";

// Request 1: answered at once. Request 2: first a bare notify with no reply and no bump (what a
// preempted worker's late notify of reply 1 looks like to the waiting thread), then the reply
// 150 ms later. Request 3: answered after 400 ms (its waiter gives up at 100 ms), and request 4
// at once, after that stale reply.
const SCRIPT = String.raw`
const { workerData } = require("node:worker_threads");
const { port, flag } = workerData;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
function reply(id, msg) { port.postMessage({ ...msg, id }); Atomics.add(flag, 0, 1); Atomics.notify(flag, 0); }
let chain = Promise.resolve();
port.on("message", (m) => { chain = chain.then(async () => {
  if (m.wait === 2) { await sleep(50); Atomics.notify(flag, 0); await sleep(150); }
  if (m.wait === 3) await sleep(400);
  if (m.op === "quit") { port.close(); return; }
  reply(m.wait, { ok: true, echo: m.op });
}); });
`;

describe("WebGPU bridge: replies are matched to their requests", () => {
  it("a stray wake-up is not an answer, and a late reply is not the next request's", () => {
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(SCRIPT, { eval: true, workerData: { port: port2, flag }, transferList: [port2] });
    try {
      port1.postMessage({ op: "first", wait: 1 });
      expect(awaitReply(port1, flag, 1, 10_000)).toEqual({ ok: true, message: { ok: true, echo: "first", id: 1 } });
      port1.postMessage({ op: "second", wait: 2 });
      expect(awaitReply(port1, flag, 2, 10_000)).toEqual({ ok: true, message: { ok: true, echo: "second", id: 2 } });
      port1.postMessage({ op: "third", wait: 3 });
      const timedOut = awaitReply(port1, flag, 3, 100);
      expect(timedOut.ok).toBe(false);
      port1.postMessage({ op: "fourth", wait: 4 });
      // Reply 3 arrives first (after ~300 ms more) and is dropped; reply 4 is this request's.
      expect(awaitReply(port1, flag, 4, 10_000)).toEqual({ ok: true, message: { ok: true, echo: "fourth", id: 4 } });
    } finally {
      void worker.terminate();
      port1.close();
    }
  });
});
