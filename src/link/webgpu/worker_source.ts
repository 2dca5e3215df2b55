/**
 * The WebGPU executor, as the source text of a worker thread (runtime.ts starts it with
 * `new Worker(source, { eval: true })`). WebGPU is asynchronous (`requestAdapter`, `mapAsync`
 * return promises) while `theano.function`'s call is synchronous (API.md §6), so in Node the
 * whole GPU lives in this worker and the main thread waits on it with `Atomics.wait` only where
 * it needs an answer (device acquisition, a shader compile, a read-back); uploads, frees and
 * dispatches are posted without waiting and run in order.
 *
 * The executor is the backend contract STYLE.md asks for, nothing per-op: init (adapter and
 * device), alloc, write, free, compile (a pipeline, cached by its WGSL text), run (bind buffers,
 * dispatch), read. It is plain JavaScript kept as text so that it needs no loader (the package
 * runs from `src/` under tsx/vitest and from `dist/`); a browser build can start the same text
 * as a Blob worker. Requests: `{ op, ...args, wait }` (`wait`: the id of a request the main thread
 * waits on); such a request gets one reply, carrying that id,
 * `{ ok: true, ... } | { ok: false, error, kind }` and the counter in `workerData.flag` is bumped (the
 * main thread matches replies to requests by id: runtime.ts's awaitReply).
 */

export const WORKER_SOURCE = String.raw`
"use strict";
const { workerData } = require("node:worker_threads");
const { port, flag } = workerData;
let gpu = null, adapter = null, device = null;
const buffers = new Map();
const pipelines = new Map();
let pending = null; // the first asynchronous error (validation, out of memory), reported once
let lost = null; // the device was lost: every later request fails with this, never with garbage

// A reply is posted first, then the counter moves: the waiting thread never sees a moved counter
// without the message that moved it (it matches replies to requests by id).
function reply(id, msg) {
  port.postMessage({ ...msg, id });
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
}

function infoOf(a) {
  const i = a.info || {};
  const limits = {};
  for (const k of ["maxStorageBufferBindingSize", "maxBufferSize", "maxStorageBuffersPerShaderStage",
    "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupsPerDimension",
    "maxComputeWorkgroupStorageSize", "maxBindGroups"]) limits[k] = a.limits[k];
  return {
    vendor: i.vendor || "", architecture: i.architecture || "", device: i.device || "",
    description: i.description || "", subgroupMinSize: i.subgroupMinSize || 0, subgroupMaxSize: i.subgroupMaxSize || 0,
    fallback: !!(i.isFallbackAdapter || a.isFallbackAdapter),
    features: [...a.features].sort(), limits,
  };
}

async function init(m) {
  if (m.pkg) {
    let mod;
    try {
      mod = await import(m.pkg);
    } catch (e) {
      return { ok: false, kind: "package", error: String(e && e.message || e) };
    }
    Object.assign(globalThis, mod.globals);
    gpu = mod.create(m.dawnOptions);
  } else if (globalThis.navigator && globalThis.navigator.gpu) {
    gpu = globalThis.navigator.gpu;
  } else return { ok: false, kind: "package", error: "navigator.gpu is absent" };
  try {
    adapter = await gpu.requestAdapter(m.adapterOptions);
  } catch (e) {
    return { ok: false, kind: "adapter", error: String(e && e.message || e) };
  }
  if (!adapter) return { ok: false, kind: "adapter", error: "requestAdapter() returned null" };
  const info = infoOf(adapter);
  const missing = m.requiredFeatures.filter((f) => !adapter.features.has(f));
  if (missing.length > 0) return { ok: false, kind: "feature", error: missing.join(", "), info };
  // Ask for what the adapter offers of the limits kernels use (defaults are lower).
  const requiredLimits = {};
  for (const k of ["maxStorageBufferBindingSize", "maxBufferSize", "maxStorageBuffersPerShaderStage",
    "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupStorageSize"]) requiredLimits[k] = adapter.limits[k];
  try {
    device = await adapter.requestDevice({ requiredFeatures: m.requiredFeatures, requiredLimits });
  } catch (e) {
    return { ok: false, kind: "device", error: String(e && e.message || e), info };
  }
  device.lost.then((l) => { lost = { kind: "lost", error: "the device was lost (" + (l.reason || "unknown") + "): " + (l.message || "no message") }; });
  device.addEventListener && device.addEventListener("uncapturederror", (ev) => {
    if (!pending) pending = { kind: "runtime", error: String(ev.error && ev.error.message || ev.error) };
  });
  const limits = {};
  for (const k of Object.keys(info.limits)) limits[k] = device.limits[k];
  return { ok: true, info: { ...info, limits } };
}

async function compile(m) {
  if (pipelines.has(m.code)) return { ok: true, cached: true };
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: m.code });
  const ci = await module.getCompilationInfo();
  const messages = ci.messages.filter((x) => x.type === "error").map((x) => ({ line: x.lineNum, pos: x.linePos, message: x.message }));
  let pipeline = null;
  if (messages.length === 0) pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const err = await device.popErrorScope();
  if (messages.length > 0 || err) return { ok: false, kind: "compile", messages, error: err ? err.message : messages[0].message };
  pipelines.set(m.code, pipeline);
  return { ok: true, cached: false };
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

function handle(m) {
  switch (m.op) {
    case "alloc": {
      // An out-of-memory error is reported (with the pool's statistics) at the next answer.
      device.pushErrorScope("out-of-memory");
      buffers.set(m.id, device.createBuffer({ size: Math.max(4, Math.ceil(m.bytes / 4) * 4), usage: STORAGE() }));
      device.popErrorScope().then((e) => { if (e && !pending) pending = { kind: "oom", error: String(e.message || e), bytes: m.bytes }; });
      return null;
    }
    case "write": {
      // writeBuffer wants a multiple of 4 bytes.
      const bytes = new Uint8Array(m.data);
      const padded = bytes.byteLength % 4 === 0 ? bytes : (() => { const p = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4); p.set(bytes); return p; })();
      if (padded.byteLength > 0) device.queue.writeBuffer(buffers.get(m.id), 0, padded);
      return null;
    }
    case "destroy": // the device goes away (tests of the loss path; close)
      device.destroy();
      return null;
    case "free": {
      const b = buffers.get(m.id);
      if (b) { b.destroy(); buffers.delete(m.id); }
      return null;
    }
    case "run": {
      const pipeline = pipelines.get(m.code);
      const entries = m.buffers.map((id, binding) => ({ binding, resource: { buffer: buffers.get(id) } }));
      const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(m.groups[0], m.groups[1], 1);
      pass.end();
      device.queue.submit([enc.finish()]);
      return null;
    }
    default:
      return undefined;
  }
}

async function read(m) {
  const src = buffers.get(m.id);
  const size = Math.max(4, Math.ceil(m.bytes / 4) * 4);
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const range = staging.getMappedRange();
  // A lost device maps to an empty range: say so rather than hand back a short result.
  if (range.byteLength < m.bytes) {
    staging.destroy();
    return lost ? { ok: false, ...lost } : { ok: false, kind: "runtime", error: "a read-back of " + m.bytes + " bytes (buffer " + m.id + ") mapped only " + range.byteLength + " bytes" };
  }
  const data = range.slice(0, m.bytes);
  staging.unmap();
  staging.destroy();
  return { ok: true, data };
}

async function serve(m) {
  try {
    let r;
    if (m.op === "init") r = await init(m);
    else if (!device) r = { ok: false, kind: "device", error: "no device" };
    else if (m.op === "compile") r = await compile(m);
    else if (m.op === "read") r = await read(m);
    else if (m.op === "sync") { await device.queue.onSubmittedWorkDone(); r = { ok: true }; }
    else r = handle(m);
    if (r === undefined) r = { ok: false, kind: "protocol", error: "unknown request " + m.op };
    if (m.wait) {
      if (lost && m.op !== "init") r = { ok: false, ...lost };
      else if (pending && r.ok) { r = { ok: false, ...pending }; pending = null; }
      reply(m.wait, r);
    }
  } catch (e) {
    // A request that failed because the device went away reports the loss.
    if (device && !lost && m.op !== "init") await Promise.race([device.lost.then(() => undefined), new Promise((ok) => setTimeout(ok, 50))]);
    const err = lost && m.op !== "init" ? lost : { kind: "runtime", error: String(e && e.stack || e) };
    if (m.wait) reply(m.wait, { ok: false, ...err });
    else if (!pending) pending = err;
  }
}

let chain = Promise.resolve();
port.on("message", (m) => { chain = chain.then(() => serve(m)); });
`;
