#!/usr/bin/env node
/**
 * The browser build of theano-ts (issue 18.4): one ES module, `dist/browser/theano-ts.js`, that
 * package.json's `exports["."].browser` names, so `import * as theano from "theano-ts"` in an app
 * bundled for the browser (esbuild, Vite, webpack) gets it instead of the Node build.
 *
 * The library imports Node built-ins (node:fs for the compile cache, node:child_process for the C
 * compiler, koffi for native code, worker_threads for Wasm threads). None of them is reached when
 * the library is imported, and in a browser `linker=auto` chooses the Wasm backend (no C compiler
 * is found), which needs none of them. Here each built-in is replaced by a module with the same
 * export names whose every function throws an Error naming what is not available in a browser,
 * so a path that does reach one (a C linker asked for by name, the disk cache) fails with that
 * sentence instead of a bundler's "could not resolve". `koffi` and the optional `webgpu` package
 * are replaced the same way (a browser's WebGPU is `navigator.gpu`).
 *
 *   node scripts/browser_bundle.mjs [--entry dist/index.js] [--out dist/browser/theano-ts.js]
 *
 * `npm run build` runs it after tsc. Also importable: `buildBrowserBundle({ entry, outfile })`.
 */
import { builtinModules } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The esbuild plugin that turns Node built-ins, koffi and webpgu into throwing stand-ins. */
function nodeStandIns() {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  return {
    name: "theano-ts-node-stand-ins",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => (builtins.has(args.path) || args.path === "koffi" || args.path === "webgpu" ? { path: args.path, namespace: "theano-ts-stand-in" } : undefined));
      build.onLoad({ filter: /.*/, namespace: "theano-ts-stand-in" }, async (args) => {
        const names = builtins.has(args.path) ? Object.keys(await import(args.path.startsWith("node:") ? args.path : `node:${args.path}`)) : [];
        const what = JSON.stringify(args.path);
        const lines = [
          `const missing = (name) => new Error("theano-ts in the browser: " + ${what} + (name ? "." + name : "") + " is not available here (a Node-only path: the C backend, the disk compile cache, MPI); the js and wasm linkers run without it");`,
          `export default new Proxy({}, { get(_t, k) { throw missing(String(k)); } });`,
        ];
        for (const n of names) {
          if (n === "default" || !/^[A-Za-z_$][\w$]*$/.test(n)) continue;
          // Constructors (Worker, MessageChannel) must stay classes; plain values become functions too.
          lines.push(/^[A-Z]/.test(n) && n !== n.toUpperCase() ? `export class ${n} { constructor() { throw missing(${JSON.stringify(n)}); } }` : n === "constants" ? `export const constants = {};` : `export function ${n}() { throw missing(${JSON.stringify(n)}); }`);
        }
        return { contents: lines.join("\n"), loader: "js" };
      });
    },
  };
}

/** Builds the bundle; resolves to esbuild's metafile (inputs and the output's size). */
export async function buildBrowserBundle({ entry = resolve(root, "dist/index.js"), outfile = resolve(root, "dist/browser/theano-ts.js"), minify = false } = {}) {
  const esbuild = await import("esbuild");
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outfile,
    minify,
    sourcemap: false,
    metafile: true,
    logLevel: "warning",
    plugins: [nodeStandIns()],
  });
  return r.metafile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? resolve(process.argv[i + 1]) : undefined;
  };
  const meta = await buildBrowserBundle({ ...(arg("--entry") ? { entry: arg("--entry") } : {}), ...(arg("--out") ? { outfile: arg("--out") } : {}) });
  for (const [file, o] of Object.entries(meta.outputs)) console.log(`browser bundle: ${file} (${(o.bytes / 1e6).toFixed(2)} MB)`);
}
