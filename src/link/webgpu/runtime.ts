/**
 * The WebGPU runtime on Node: adapter and device acquisition, buffers, pipelines and
 * dispatches, through the executor worker (worker_source.ts).
 *
 * Synchronous bridge: `theano.function`'s call is synchronous, WebGPU is not. The executor runs
 * in a worker thread; the main thread posts requests on a MessageChannel and, where it needs an
 * answer (acquisition, a compile, a read-back), blocks in `Atomics.wait` on a shared counter that
 * the worker bumps after replying, then takes the reply with `receiveMessageOnPort`. Uploads,
 * dispatches and frees are posted without waiting; the worker runs them in order. A worker that
 * does not answer within `TIMEOUT_MS` is a BackendError, never a hang. The `webgpu` package
 * (Dawn) is loaded only when `device=webgpu*` is asked for, inside the worker.
 * (`Atomics.wait` is refused on a browser's main thread: browsers get an async path later.)
 */

import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import { config } from "../../config/index.js";
import { BackendError, CompileError, warn } from "../../errors.js";
import { WORKER_SOURCE } from "./worker_source.js";

const TIMEOUT_MS = 120_000;
/** Bytes of freed buffers kept for reuse unless `lib.cnmem` (> 1, in MiB) says otherwise. */
const DEFAULT_CACHE = 256 * 2 ** 20;

/** What the adapter is (reported by `theano-ts check` and in errors). */
export interface AdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly features: readonly string[];
  readonly limits: Readonly<Record<string, number>>;
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  /** A software adapter (lavapipe, SwiftShader): correct, not fast. */
  readonly fallback: boolean;
  /** Dawn's backend: as asked (THEANO_WEBGPU_BACKEND), else the platform's default Dawn picks. */
  readonly backend: string;
}

export interface AcquireOptions {
  /** The module to load (default: the `webgpu` package as resolved from theano-ts). */
  readonly pkg?: string;
  /** Features the device must have. */
  readonly requiredFeatures?: readonly string[];
  /**
   * Dawn's backend: `THEANO_WEBGPU_BACKEND` (`vulkan` / `opengles`; default: Dawn's choice).
   * `opengles` runs on stock Mesa (GPU.md): surfaceless EGL, compatibility feature level.
   */
  readonly backend?: string;
  /** A named adapter (Dawn's `adapter=` option; default `THEANO_WEBGPU_ADAPTER`); tests use a missing one. */
  readonly adapter?: string;
}

/**
 * Blocks until the reply to request `id` arrives on `port`, or `timeoutMs` passes. The worker
 * posts a reply, then bumps `counter[0]` and notifies; this reads the counter, looks for the
 * reply, and only then waits for the counter to move. A wake-up is a hint, never the answer: the
 * worker can be preempted between its bump and its notify, so one reply's late notify may wake
 * the wait of the next request before that request's reply exists. (With a 0/1 flag taken as
 * the answer, that happened under load: a compile "not answered", and every later request took
 * its predecessor's reply: read-backs of 0 bytes.) A reply whose id is not `id` (the late answer
 * to a request that timed out) is dropped.
 */
export function awaitReply(
  // (typed structurally so that the published .d.ts needs no @types/node: a MessagePort)
  port: object,
  counter: Int32Array,
  id: number,
  timeoutMs: number,
): { ok: true; message: unknown } | { ok: false; wait: string } {
  const deadline = Date.now() + timeoutMs;
  let wait = "not woken";
  for (;;) {
    const seen = Atomics.load(counter, 0);
    const got = receiveMessageOnPort(port as MessagePort);
    if (got) {
      if ((got.message as { id?: unknown } | null)?.id === id) return { ok: true, message: got.message };
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) return { ok: false, wait };
    wait = Atomics.wait(counter, 0, seen, left);
  }
}

type Reply =
  | { ok: true; [k: string]: unknown }
  | { ok: false; kind: string; error: string; bytes?: number; info?: Omit<AdapterInfo, "backend">; messages?: Array<{ line: number; pos: number; message: string }> };

/** The device as the user asked for it (`check` probes while device=cpu: say "webgpu" then). */
const asked = (): string => (String(config.device).startsWith("webgpu") ? String(config.device) : "webgpu");

const FIX_DEVICE = "Set device=cpu (THEANO_FLAGS=device=cpu) to run on the CPU; theano-ts never falls back to the CPU silently";

function resolvePackage(): string | null {
  try {
    return createRequire(import.meta.url).resolve("webgpu");
  } catch {
    return null;
  }
}

export class WebGpuRuntime {
  readonly info: AdapterInfo;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private nextBuffer = 1;
  private readonly compiled = new Set<string>();
  /**
   * The caching allocator's statistics: live buffers and bytes (by size class), their peak, the
   * freed buffers kept for reuse, and how many requests reused one (`hits`) or created one.
   */
  readonly stats = { buffers: 0, bytes: 0, peakBytes: 0, cachedBuffers: 0, cachedBytes: 0, hits: 0, misses: 0, largestRequest: 0 };
  /** Bytes of freed buffers kept for reuse (`lib.cnmem` > 1 sets it in MiB). */
  readonly cacheLimit: number;
  private readonly sizes = new Map<number, number>();
  private readonly holders = new Map<number, number>();
  /** Freed buffers by size class, oldest first. */
  private readonly pool = new Map<number, number[]>();

  constructor(opts: AcquireOptions = {}) {
    const pkgPath = opts.pkg ?? resolvePackage();
    if (!pkgPath) {
      throw new BackendError(
        `device=${asked()}: the optional npm package "webgpu" (Dawn's Node binding) is not installed, so no WebGPU adapter can be opened from Node. ` +
          `Install it beside theano-ts (npm install webgpu; on Linux it needs a Vulkan driver such as Mesa's lavapipe, or backend=opengles on Mesa). ${FIX_DEVICE}.`,
      );
    }
    const backend = opts.backend ?? process.env["THEANO_WEBGPU_BACKEND"] ?? "";
    const dawnOptions: string[] = [];
    if (backend) dawnOptions.push(`backend=${backend}`);
    const adapter = opts.adapter ?? process.env["THEANO_WEBGPU_ADAPTER"];
    if (adapter) dawnOptions.push(`adapter=${adapter}`);
    if (backend === "opengles" && !process.env["EGL_PLATFORM"]) process.env["EGL_PLATFORM"] = "surfaceless";
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, flag: this.flag }, transferList: [port2] });
    this.worker.unref();
    port1.unref();
    const pkgUrl = opts.pkg && !opts.pkg.startsWith("/") ? opts.pkg : pathToFileURL(pkgPath).href;
    const requiredFeatures = [...(opts.requiredFeatures ?? [])];
    const r = this.call({
      op: "init",
      pkg: pkgUrl,
      dawnOptions,
      requiredFeatures,
      adapterOptions: backend === "opengles" ? { featureLevel: "compatibility" } : {},
    });
    if (!r.ok) {
      void this.worker.terminate();
      r.error = r.error.replace(/\s*\n\s*/g, " ");
      const what = `device=${asked()}${backend ? ` (THEANO_WEBGPU_BACKEND=${backend})` : ""}`;
      switch (r.kind) {
        case "package":
          throw new BackendError(`${what}: the "webgpu" package at ${pkgPath} could not be loaded: ${r.error}. Reinstall it (npm install webgpu). ${FIX_DEVICE}.`);
        case "adapter":
          throw new BackendError(
            `${what}: no WebGPU adapter was found (${r.error}). Dawn needs a Vulkan driver (on Debian: mesa-vulkan-drivers from bookworm-backports, Mesa >= 24, ` +
              `see .ci/setup-webgpu.sh) or THEANO_WEBGPU_BACKEND=opengles on Mesa's GL. ${FIX_DEVICE}.`,
          );
        case "feature":
          throw new BackendError(
            `${what}: the adapter ${describe(r.info)} lacks the feature(s) ${r.error} that were asked for; it offers ${r.info?.features.join(", ") || "none"}. ` +
              `Use an adapter that has them (another driver or GPU), or do not require them. ${FIX_DEVICE}.`,
          );
        default:
          throw new BackendError(`${what}: the adapter ${describe(r.info)} refused to create a device: ${r.error}. ${FIX_DEVICE}.`);
      }
    }
    const cnmem = Number(config.lib.cnmem);
    this.cacheLimit = cnmem > 1 ? Math.floor(cnmem * 2 ** 20) : DEFAULT_CACHE;
    if (cnmem > 0 && cnmem <= 1) {
      warn(
        `lib.cnmem=${cnmem} is a fraction of the device's memory, which WebGPU does not report: the WebGPU pool keeps up to ${DEFAULT_CACHE / 2 ** 20} MiB of freed buffers for reuse. Give MiB instead (lib.cnmem=512) to set that limit.`,
      );
    }
    const info = r["info"] as Omit<AdapterInfo, "backend">;
    const platformDefault = process.platform === "darwin" ? "metal" : process.platform === "win32" ? "d3d12" : "vulkan";
    this.info = { ...info, backend: backend || (/^OpenGL/.test(info.description) ? "opengl" : `${platformDefault} (Dawn's default here)`) };
  }

  /** Destroys the device (`device.lost` fires): how a test reaches the loss path. */
  destroyDevice(): void {
    this.post({ op: "destroy" });
  }

  /** Ends the executor thread (after a device loss). */
  close(): Promise<number> {
    return this.worker.terminate();
  }

  /** Numbers waited requests, so a reply is matched to its request (`awaitReply`). */
  private nextId = 1;

  /** Posts a request and blocks until the worker replies to it (or `TIMEOUT_MS` passes). */
  private call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Reply {
    if (this.lost !== null) return { ok: false, kind: "lost", error: this.lost }; // its executor may be gone
    const id = this.nextId++;
    this.port.postMessage({ ...msg, wait: id }, transfer);
    const got = awaitReply(this.port, this.flag, id, TIMEOUT_MS);
    if (got.ok) return got.message as Reply;
    throw new BackendError(
      `WebGPU: the device did not answer a "${String(msg["op"])}" request within ${TIMEOUT_MS / 1000} s (${got.wait}); the device may be lost or hung. ${FIX_DEVICE}.`,
    );
  }

  private post(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): void {
    if (this.lost !== null) return;
    this.port.postMessage(msg, transfer);
  }

  /** Set once the device is lost: this runtime answers every request with that error. */
  lost: string | null = null;

  private fail(r: Reply & { ok: false }, what: string): never {
    if (r.kind === "lost") {
      this.lost = r.error;
      throw new BackendError(
        `WebGPU device lost while ${what}: ${r.error}. Functions compiled on it keep failing; compile them again (theano.function) to open a new device. ${FIX_DEVICE}.`,
      );
    }
    if (r.kind === "oom") {
      const st = this.stats;
      const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
      this.trim();
      throw new BackendError(
        `WebGPU out of memory while ${what}: ${r.error}. The request was a buffer of ${mb(Number(r.bytes ?? 0))}; the pool held ${mb(st.bytes)} in ${st.buffers} live buffers ` +
          `(peak ${mb(st.peakBytes)}; largest request ${mb(st.largestRequest)}) and ${mb(st.cachedBytes)} cached, now released. Use smaller batches or arrays, or lower lib.cnmem. ${FIX_DEVICE}.`,
      );
    }
    throw new BackendError(`WebGPU error while ${what}: ${r.error}. ${FIX_DEVICE}.`);
  }

  /** Checks a buffer's size against the adapter's binding limit. */
  checkSize(bytes: number, what: string): void {
    const max = this.info.limits["maxStorageBufferBindingSize"]!;
    if (bytes > max) {
      throw new BackendError(
        `device=${asked()}: ${what} needs a buffer of ${bytes} bytes, over this adapter's maxStorageBufferBindingSize of ${max} bytes (${describe(this.info)}). ` +
          `Split the work into smaller arrays, use an adapter with a larger limit, or run on the CPU (device=cpu).`,
      );
    }
  }

  /**
   * A buffer of at least `bytes`: a freed one of the same size class when the pool has one (no
   * createBuffer, no fresh memory), else a new one of the class's size. Kernels read their
   * sizes from the metadata block, never from the buffer's length, so a larger buffer is fine;
   * queue order makes reuse safe (a kernel that wrote a buffer runs before one that reads it).
   */
  alloc(bytes: number, what: string): number {
    this.checkSize(bytes, what);
    const size = this.sizeClass(bytes);
    this.stats.largestRequest = Math.max(this.stats.largestRequest, bytes);
    const free = this.pool.get(size);
    let id = free?.pop();
    if (id !== undefined) {
      this.stats.hits++;
      this.stats.cachedBuffers--;
      this.stats.cachedBytes -= size;
    } else {
      id = this.nextBuffer++;
      this.stats.misses++;
      this.post({ op: "alloc", id, bytes: size });
    }
    this.sizes.set(id, size);
    this.stats.buffers++;
    this.stats.bytes += size;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.bytes);
    return id;
  }

  /** Powers of two from 256 bytes to 4 MiB, then whole MiB; never past the binding limit. */
  private sizeClass(bytes: number): number {
    const c = bytes <= 256 ? 256 : bytes <= 4 * 2 ** 20 ? 2 ** Math.ceil(Math.log2(bytes)) : Math.ceil(bytes / 2 ** 20) * 2 ** 20;
    return Math.max(bytes, Math.min(c, this.info.limits["maxStorageBufferBindingSize"]!));
  }

  /** Destroys every pooled buffer (after an out-of-memory error, or to give memory back). */
  trim(): void {
    for (const ids of this.pool.values()) for (const id of ids) this.post({ op: "free", id });
    this.pool.clear();
    this.stats.cachedBuffers = 0;
    this.stats.cachedBytes = 0;
  }

  write(id: number, data: ArrayBufferView): void {
    // Copy: the caller's memory stays theirs (the transfer list moves the copy, not theirs).
    const copy = new Uint8Array(data.byteLength);
    copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.post({ op: "write", id, data: copy.buffer }, [copy.buffer]);
  }

  /** One more holder of buffer `id` (a view); `free` drops one, the last one frees it. */
  retain(id: number): void {
    this.holders.set(id, (this.holders.get(id) ?? 1) + 1);
  }

  free(id: number): void {
    const b = this.sizes.get(id);
    if (b === undefined) return;
    const h = this.holders.get(id) ?? 1;
    if (h > 1) {
      this.holders.set(id, h - 1);
      return;
    }
    this.holders.delete(id);
    this.sizes.delete(id);
    this.stats.buffers--;
    this.stats.bytes -= b;
    if (b > this.cacheLimit) {
      this.post({ op: "free", id });
      return;
    }
    // Kept for reuse; over the limit, the oldest pooled buffers go first.
    let ids = this.pool.get(b);
    if (!ids) this.pool.set(b, (ids = []));
    ids.push(id);
    this.stats.cachedBuffers++;
    this.stats.cachedBytes += b;
    for (const [size, list] of this.pool) {
      while (this.stats.cachedBytes > this.cacheLimit && list.length > 0) {
        this.post({ op: "free", id: list.shift()! });
        this.stats.cachedBuffers--;
        this.stats.cachedBytes -= size;
      }
      if (this.stats.cachedBytes <= this.cacheLimit) break;
    }
  }

  read(id: number, bytes: number): ArrayBuffer {
    const r = this.call({ op: "read", id, bytes });
    if (!r.ok) this.fail(r, "reading a result back");
    const data = r["data"];
    if (!(data instanceof ArrayBuffer) || data.byteLength !== bytes) {
      throw new BackendError(
        `WebGPU error while reading a result back: asked for ${bytes} bytes of buffer ${id}, got ${data instanceof ArrayBuffer ? `${data.byteLength} bytes` : "no data"}. ${FIX_DEVICE}.`,
      );
    }
    return data;
  }

  /** Waits until every queued command has run (raises the first asynchronous error). */
  sync(): void {
    const r = this.call({ op: "sync" });
    if (!r.ok) this.fail(r, "waiting for the device");
  }

  /**
   * Compiles a compute pipeline (cached per process by its WGSL text). A WGSL error becomes a
   * CompileError quoting the line; the source is saved in the compiledir.
   */
  compile(code: string, what: string): void {
    if (this.compiled.has(code)) return;
    const r = this.call({ op: "compile", code });
    if (!r.ok) {
      if (r.kind !== "compile") this.fail(r, `compiling ${what}`);
      const path = saveSource(code);
      const m = r.messages?.[0];
      let quote = "";
      if (m && m.line > 0) {
        // The line, trimmed, and a caret under the column the compiler named.
        const text = code.split("\n")[m.line - 1] ?? "";
        const prefix = `  line ${m.line}: `;
        const column = Math.max(0, m.pos - 1 - (text.length - text.trimStart().length));
        quote = `\n${prefix}${text.trim()}\n${" ".repeat(prefix.length + column)}^ ${m.message}`;
      }
      throw new CompileError(
        `WGSL compile error in ${what}: ${m ? `${m.line}:${m.pos}: ${m.message}` : r.error}${quote}\nThe WGSL source is saved at ${path ?? "(the compiledir is not writable)"}.`,
        path ?? undefined,
      );
    }
    this.compiled.add(code);
  }

  /** Dispatches a compiled pipeline over `groups` workgroups with `buffers` bound in order. */
  run(code: string, buffers: readonly number[], groups: readonly [number, number]): void {
    this.post({ op: "run", code, buffers, groups });
  }
}

function describe(info: Omit<AdapterInfo, "backend"> | undefined): string {
  if (!info) return "(unknown)";
  return `"${info.description || info.device || info.architecture}" (vendor ${info.vendor || "?"})`;
}

function saveSource(code: string): string | null {
  try {
    const dir = join(String(config.compiledir), "webgpu");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${createHash("sha256").update(code).digest("hex").slice(0, 16)}.wgsl`);
    writeFileSync(path, code);
    return path;
  } catch {
    return null;
  }
}

let shared: WebGpuRuntime | null = null;
let sharedError: BackendError | null = null;

/**
 * The process's WebGPU device, opened on first use (`device=webgpu*`). A failure is remembered
 * and raised again, so every function compiled afterwards says the same thing quickly.
 */
export function webgpuRuntime(): WebGpuRuntime {
  const index = /^webgpu(\d+)$/.exec(String(config.device))?.[1];
  if (index !== undefined && Number(index) > 0) {
    throw new BackendError(
      `device=${config.device}: WebGPU offers one adapter per process here (webgpu = webgpu0); Dawn picks another by name with THEANO_WEBGPU_ADAPTER=<name> ` +
        `(theano-ts check shows the current one). ${FIX_DEVICE}.`,
    );
  }
  if (shared && shared.lost === null) return shared;
  if (shared) void shared.close(); // lost: the next function opens a new device
  if (sharedError) throw sharedError;
  try {
    shared = new WebGpuRuntime();
    return shared;
  } catch (e) {
    if (e instanceof BackendError) sharedError = e;
    throw e;
  }
}

/** For `theano-ts check`: the adapter, or why there is none; opens it when needed. */
export function probeWebGpu(): { info: AdapterInfo | null; error: string | null; package: string | null } {
  const pkg = resolvePackage();
  try {
    return { info: webgpuRuntime().info, error: null, package: pkg };
  } catch (e) {
    return { info: null, error: e instanceof Error ? e.message : String(e), package: pkg };
  }
}
