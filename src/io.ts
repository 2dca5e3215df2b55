/**
 * `theano.save` / `theano.load`: NumPy `.npy` and `.npz` files on disk (API.md §2, "Files").
 *
 * The formats live in src/ndarray/npy.ts and zip.ts (pure, browser-safe); this file adds only
 * the file system and NumPy's path conventions: `np.save` appends `.npy` to a path that does not
 * end in it, `np.savez` appends `.npz`, and `np.load` decides by the file's magic bytes, not its
 * name. Like NumPy these calls are synchronous.
 *
 * Node-only. `node:fs` is fetched at call time through `process.getBuiltinModule` rather than
 * imported statically, so that importing the library's entry point in a browser does not fail;
 * there `save`/`load` raise an InputError and `toNpyBytes`/`fromNpyBytes` remain usable.
 */

import { InputError } from "./errors.js";
import { type ArrayLike, NDArray } from "./ndarray/ndarray.js";
import { type ArrayRecord, fromNpyBytes, fromNpzBytes, isArrayRecord, isNpyBytes, toNpyBytes, toNpzBytes } from "./ndarray/npy.js";
import { looksLikeZip } from "./ndarray/zip.js";

interface FsSubset {
  readFileSync(path: string): Uint8Array;
  writeFileSync(path: string, data: Uint8Array): void;
}

function fs(what: string): FsSubset {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.("node:fs") as FsSubset | undefined;
  if (!mod) {
    throw new InputError(`${what} needs Node.js >= 20.16 (process.getBuiltinModule); elsewhere use toNpyBytes/fromNpyBytes and toNpzBytes/fromNpzBytes`);
  }
  return mod;
}

/** File-system failures become InputErrors that say which file and why (ENOENT, EACCES, ...). */
function fsCall<T>(action: string, path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    throw new InputError(`cannot ${action} ${JSON.stringify(path)}: ${typeof code === "string" ? code + " " : ""}${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Writes `x` to `path` and returns the path written.
 *
 * - A record `{ name: array, ... }` (or a Map) is written as an `.npz` archive with one
 *   `name.npy` member per array (`np.savez`); `.npz` is appended to the path if missing.
 * - A single array to a path ending in `.npz` is stored as the member `arr_0` (`np.savez(path, x)`).
 * - Otherwise a single array is written as `.npy` (`np.save`), appending `.npy` to a path that does
 *   not end in it, exactly as NumPy does (`"w.bin"` becomes `"w.bin.npy"`).
 *
 * `x` may be anything `array()` accepts; ragged nested arrays raise InputError.
 */
export function save(path: string, x: ArrayLike | ArrayRecord): string {
  if (typeof path !== "string" || path === "") throw new InputError(`save needs a non-empty file path, got ${JSON.stringify(path)}`);
  let bytes: Uint8Array;
  if (isArrayRecord(x)) {
    if (!path.endsWith(".npz")) path += ".npz";
    bytes = toNpzBytes(x);
  } else if (path.endsWith(".npz")) {
    bytes = toNpzBytes({ arr_0: x });
  } else {
    if (!path.endsWith(".npy")) path += ".npy";
    bytes = toNpyBytes(x);
  }
  const { writeFileSync } = fs("save");
  fsCall("write", path, () => writeFileSync(path, bytes));
  return path;
}

/**
 * Reads a `.npy` file (an NDArray) or an `.npz` archive (a record of NDArrays keyed by member
 * name without `.npy`), deciding by the magic bytes, not the name.
 */
export function load(path: string): NDArray | Record<string, NDArray> {
  if (typeof path !== "string" || path === "") throw new InputError(`load needs a non-empty file path, got ${JSON.stringify(path)}`);
  const { readFileSync } = fs("load");
  const raw = fsCall("read", path, () => readFileSync(path));
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  if (isNpyBytes(bytes)) return fromNpyBytes(bytes, path);
  if (looksLikeZip(bytes)) return fromNpzBytes(bytes, path);
  const start = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new InputError(
    `${path}: not a .npy or .npz file (it starts with ${start ? `bytes ${start}` : "nothing: the file is empty"}; .npy files start with \\x93NUMPY, .npz files with PK)`,
  );
}

/** `load` for a file that must hold one array (a `.npy`); the result is typed as an NDArray. */
export function loadNpy(path: string): NDArray {
  const r = load(path);
  if (!(r instanceof NDArray)) throw new InputError(`${path}: expected a .npy file holding one array, found an .npz archive (use load or loadNpz)`);
  return r;
}

/** `load` for a file that must be an `.npz` archive; the result is typed as a record. */
export function loadNpz(path: string): Record<string, NDArray> {
  const r = load(path);
  if (r instanceof NDArray) throw new InputError(`${path}: expected an .npz archive, found a .npy file holding one array (use load or loadNpy)`);
  return r;
}
