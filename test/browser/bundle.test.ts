/**
 * The browser build (issue 18.4, scripts/browser_bundle.mjs): an app that does
 * `import * as theano from "theano-ts"`, bundled by esbuild for the browser, loads in headless
 * Chromium (Debian's `chromium`) with no Node built-in reached at import time, then builds,
 * compiles and runs an MLP training step (linker=auto: the Wasm backend, no C compiler in a
 * page; and linker=js) and reports its loss; a Node-only path (the C linker asked for by name) fails with an
 * error that says so instead of a bundler's or the page's own. In CI's slow step (it starts
 * Chromium), beside test/printing/chromium_png.test.ts.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findChromium } from "../chromium.js";

const CHROMIUM = findChromium();
if (!CHROMIUM) console.warn("browser/bundle.test.ts: Chromium checks skipped: no Chromium on PATH (apt-get install chromium, or set CHROME_PATH)");
const scratch = mkdtempSync(join(tmpdir(), "theano-ts-browser-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// The page's program: a 2-layer MLP (tanh, softmax, cross-entropy, SGD on shared weights) on a
// 3-class problem, 60 steps; the loss, the linker and where the compiled nodes ran.
const APP = `
import * as theano from "theano-ts";
const { T } = theano;
const report = (o) => { document.body.textContent = "RESULT " + JSON.stringify(o); };
try {
  const x = T.dmatrix("x");
  const y = T.ivector("y");
  const rnd = (() => { let s = 7; return () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5; })();
  const X = [], Y = [];
  for (let i = 0; i < 90; i++) { const c = i % 3; const a = (2 * Math.PI * c) / 3 + rnd() * 0.5; X.push([Math.cos(a) * (1 + rnd() * 0.2), Math.sin(a) * (1 + rnd() * 0.2)]); Y.push(c); }
  const xs = theano.array(X), ys = theano.array(Y, "int32");
  const train = (mode) => {
    const W1 = theano.shared(theano.array(Array.from({ length: 2 }, () => Array.from({ length: 16 }, rnd))), { name: "W1" });
    const b1 = theano.shared(theano.zeros([16], "float64"), { name: "b1" });
    const W2 = theano.shared(theano.array(Array.from({ length: 16 }, () => Array.from({ length: 3 }, rnd))), { name: "W2" });
    const b2 = theano.shared(theano.zeros([3], "float64"), { name: "b2" });
    const h = T.tanh(T.dot(x, W1).add(b1));
    const p = T.nnet.softmax(T.dot(h, W2).add(b2));
    const loss = T.mean(T.nnet.categoricalCrossentropy(p, y));
    const params = [W1, b1, W2, b2];
    const grads = theano.grad(loss, params);
    const step = theano.function([x, y], loss, { updates: params.map((q, i) => [q, q.sub(grads[i].mul(0.5))]), ...(mode ? { mode: new theano.Mode(mode) } : {}) });
    const losses = [];
    for (let i = 0; i < 60; i++) losses.push(Number(step(xs, ys).toArray()));
    const backends = [...new Set([...step.fgraph.nodes].map((n) => String(n.tag.backend)))].sort();
    return { first: losses[0], last: losses[59], finite: losses.every(Number.isFinite), backends };
  };
  const auto = train(null);
  const js = train("js");
  let nodeOnly = "";
  try { theano.function([x], x.mul(2), { mode: new theano.Mode("c") }); nodeOnly = "no error"; } catch (e) { nodeOnly = e.constructor.name + ": " + e.message; }
  report({ linker: String(theano.config.linker), auto, js, nodeOnly });
} catch (e) {
  report({ error: String(e && e.stack || e) });
}
`;

describe("the browser bundle", () => {
  it("bundles with no Node built-in left to import", async () => {
    const { buildBrowserBundle } = (await import(resolve("scripts/browser_bundle.mjs") as string)) as { buildBrowserBundle: (o: object) => Promise<{ outputs: Record<string, { imports: unknown[]; bytes: number }> }> };
    const lib = join(scratch, "theano-ts.js");
    const meta = await buildBrowserBundle({ entry: resolve("src/index.ts"), outfile: lib });
    const out = Object.values(meta.outputs);
    expect(out).toHaveLength(1);
    expect(out[0]!.imports).toEqual([]); // every built-in became a stand-in inside the bundle
    const text = readFileSync(lib, "utf8");
    expect(text).not.toMatch(/from\s*["']node:/);
    // (esbuild's stand-in for a CommonJS require, which throws in a browser, is not there either;
    // the worker threads' source text that mentions node:worker_threads is a string, not an import)
    expect(text).not.toMatch(/__require\(/);
  });

  it.runIf(CHROMIUM)("an app importing theano-ts trains an MLP in headless Chromium on the wasm (auto) and js backends, and a Node-only path says so", async () => {
    const esbuild = await import("esbuild");
    const lib = join(scratch, "theano-ts.js"); // from the test above
    writeFileSync(join(scratch, "app.js"), APP);
    await esbuild.build({ entryPoints: [join(scratch, "app.js")], bundle: true, format: "esm", platform: "browser", outfile: join(scratch, "app.bundle.js"), alias: { "theano-ts": lib }, logLevel: "warning" });
    const bundle = readFileSync(join(scratch, "app.bundle.js"), "utf8").split("</script>").join("<\\/script>");
    const page = join(scratch, "page.html");
    // A classic script first: an error while the module loads (a Node global or built-in reached at import) lands in the page too.
    writeFileSync(page, `<!doctype html><html><body>loading</body><script>addEventListener("error", (e) => { document.body.textContent = "RESULT " + JSON.stringify({ error: e.message }); });</script><script type="module">${bundle}</script></html>`);
    const dom = execFileSync(CHROMIUM!, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=60000", "--dump-dom", `file://${page}`], { encoding: "utf8", timeout: 180_000, stdio: ["ignore", "pipe", "ignore"] });
    const m = /RESULT (\{.*?\})<\/body>/s.exec(dom);
    expect(m, dom.slice(0, 400)).not.toBeNull();
    interface Run { first: number; last: number; finite: boolean; backends: string[] }
    const r = JSON.parse(m![1]!.replace(/&quot;/g, '"').replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">")) as { error?: string; linker: string; auto: Run; js: Run; nodeOnly: string };
    expect(r.error).toBeUndefined();
    console.log(`browser: linker=${r.linker}: loss ${r.auto.first.toFixed(4)} -> ${r.auto.last.toFixed(4)} in 60 steps, nodes on ${r.auto.backends.join(", ")}; linker=js: ${r.js.first.toFixed(4)} -> ${r.js.last.toFixed(4)}, nodes on ${r.js.backends.join(", ")}; linker=c: ${r.nodeOnly}`);
    for (const [run, backend] of [[r.auto, "wasm"], [r.js, "js"]] as const) {
      expect(run.finite).toBe(true);
      expect(run.first).toBeGreaterThan(1); // about log 3 at the start
      expect(run.last).toBeLessThan(run.first / 4);
      expect(run.backends).toContain(backend);
      expect(run.backends).not.toContain("c");
    }
    expect(r.nodeOnly).toMatch(/compiler|browser/i);
  }, 240_000);
});
