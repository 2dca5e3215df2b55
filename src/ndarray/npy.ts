/**
 * NumPy's `.npy` and `.npz` formats: bytes <-> NDArray (API.md §2, "Files").
 *
 * A `.npy` file is a 6-byte magic string (`\x93NUMPY`), a 2-byte format version, the length of
 * the header, the header itself (a Python dict literal naming `descr`, `fortran_order` and
 * `shape`, padded with spaces and a final newline so the data starts on a 64-byte boundary) and
 * then the raw elements. An `.npz` is a ZIP archive of `.npy` members (see zip.ts). The format is
 * NumPy's NEP 1 ("A simple file format for NumPy arrays") as documented in `numpy.lib.format`;
 * this is an independent implementation of that description.
 *
 * Writing reproduces NumPy 2's choices byte for byte (checked against files np.save wrote, in
 * test/fixtures/npy): version 1.0 unless the header needs more than 65535 bytes, keys in sorted
 * order with a trailing `, ` before the closing brace, Python's tuple spelling for the shape,
 * NumPy's 21-character growth allowance after the header, little-endian data in C order.
 * Reading accepts what NumPy reads: versions 1.0, 2.0 and 3.0, any byte order (`<`, `>`, `=`,
 * `|`), Fortran-ordered data, 0-d and empty arrays, single-quoted or double-quoted strings and the
 * Python 2 `L` suffix on shape integers. Every failure is an InputError that names the source and
 * the problem, raised before any large allocation.
 *
 * This module is pure (no Node imports) so it works in browsers; file I/O is in src/io.ts.
 */

import { InputError } from "../errors.js";
import { type DType, type TypedArray, itemsize as dtypeItemsize, typedArrayCtor } from "./dtype.js";
import { type ArrayLike, NDArray, asarray } from "./ndarray.js";
import { type ReadZipOptions, looksLikeZip, readZip, writeZip } from "./zip.js";

/** The 6 bytes every .npy file starts with. */
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const MAGIC_LEN = MAGIC.length;
/** NumPy aligns the data to 64 bytes so any dtype can be memory-mapped in place. */
const ARRAY_ALIGN = 64;
/**
 * NumPy leaves room after the header for the growing axis to reach 21 digits (the length of the
 * largest size any dtype could have), so files can be appended to without rewriting the header.
 */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** True on every platform theano-ts targets, but checked rather than assumed. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The `<kind><size>` part of a descr for each dtype, and the byte-order prefix NumPy gives it. */
const DESCR_OF: Record<DType, string> = {
  bool: "|b1",
  int8: "|i1",
  uint8: "|u1",
  int16: "<i2",
  int32: "<i4",
  int64: "<i8",
  uint16: "<u2",
  uint32: "<u4",
  uint64: "<u8",
  float32: "<f4",
  float64: "<f8",
};

const DTYPE_OF_TYPESTR: Record<string, DType> = {
  b1: "bool",
  i1: "int8",
  u1: "uint8",
  i2: "int16",
  i4: "int32",
  i8: "int64",
  u2: "uint16",
  u4: "uint32",
  u8: "uint64",
  f4: "float32",
  f8: "float64",
};

/**
 * One-character type codes some writers use instead of kind+size (`'<d'` for `'<f8'`). Only
 * the codes whose size does not depend on the writer's platform (unlike `l`, `L`).
 */
const CHAR_CODES: Record<string, string> = {
  "?": "b1",
  b: "i1",
  B: "u1",
  h: "i2",
  H: "u2",
  i: "i4",
  I: "u4",
  q: "i8",
  Q: "u8",
  f: "f4",
  d: "f8",
};

const KIND_NAMES: Record<string, string> = {
  b: "bool",
  i: "int",
  u: "uint",
  f: "float",
  c: "complex",
  O: "Python object",
  S: "byte string",
  a: "byte string",
  U: "unicode string",
  V: "raw or structured",
  M: "datetime64",
  m: "timedelta64",
  T: "variable-width string",
};

const SUPPORTED_DESCRS = (Object.keys(DESCR_OF) as DType[]).map((d) => `${d} ${DESCR_OF[d]}`).join(", ");

/** What a .npy header says. */
export interface NpyHeader {
  /** Format version, e.g. [1, 0]. */
  readonly version: readonly [number, number];
  /** The descr string as written, e.g. `"<f4"`. */
  readonly descr: string;
  readonly dtype: DType;
  /** Byte order of the data: `"<"` or `">"` (`=` and `|` resolved to this host's). */
  readonly byteOrder: "<" | ">";
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Byte offset of the first element. */
  readonly dataOffset: number;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * The `.npy` file NumPy's `np.save` writes for this array, byte for byte: elements in C order
 * whatever the array's strides, little-endian. Accepts anything `array()` accepts.
 */
export function toNpyBytes(x: ArrayLike): Uint8Array {
  const a = asarray(x);
  const header = npyHeaderBytes(DESCR_OF[a.dtype], a.shape);
  const flat = a.toFlat();
  const out = new Uint8Array(header.length + flat.byteLength);
  out.set(header, 0);
  const body = out.subarray(header.length);
  body.set(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength));
  const size = dtypeItemsize(a.dtype);
  if (!HOST_LITTLE_ENDIAN && size > 1) swapBytes(body, size);
  if (a.dtype === "bool") {
    // NumPy bools are exactly 0 or 1; keep any other byte from leaking into the file.
    for (let i = 0; i < body.length; i++) body[i] = body[i] ? 1 : 0;
  }
  return out;
}

/** Magic, version, header length and the padded header dict, as NumPy lays them out. */
function npyHeaderBytes(descr: string, shape: readonly number[]): Uint8Array {
  // Python's repr of a tuple: "()", "(5,)", "(2, 3)".
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) dict += " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  // Version 1.0 stores the header length in 2 bytes; 2.0 in 4, and is used only when needed.
  for (const [major, lengthBytes] of [
    [1, 2],
    [2, 4],
  ] as const) {
    const prefix = MAGIC_LEN + 2 + lengthBytes;
    // Always at least one byte of padding: an already-aligned header gets a full 64 more.
    const pad = ARRAY_ALIGN - ((prefix + dict.length + 1) % ARRAY_ALIGN);
    const headerLen = dict.length + pad + 1;
    if (headerLen >= 2 ** (8 * lengthBytes)) continue;
    const out = new Uint8Array(prefix + headerLen);
    out.set(MAGIC, 0);
    out[MAGIC_LEN] = major;
    out[MAGIC_LEN + 1] = 0;
    for (let i = 0; i < lengthBytes; i++) out[MAGIC_LEN + 2 + i] = Math.floor(headerLen / 2 ** (8 * i)) & 0xff;
    for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
    out.fill(0x20, prefix + dict.length, out.length - 1);
    out[out.length - 1] = 0x0a;
    return out;
  }
  throw new InputError(`the .npy header for shape (${shape.join(", ")}) would exceed 4 GiB`);
}

// ---------------------------------------------------------------------------------------------
// Reading

const toBytes = (bytes: Uint8Array | ArrayBuffer): Uint8Array => (bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));

/** True when `bytes` starts with the .npy magic string. */
export function isNpyBytes(bytes: Uint8Array | ArrayBuffer): boolean {
  const b = toBytes(bytes);
  return b.length >= MAGIC_LEN && MAGIC.every((m, i) => b[i] === m);
}

/** Parses and validates the header of a .npy file; `source` names it in error messages. */
export function readNpyHeader(bytes: Uint8Array | ArrayBuffer, source = "npy data"): NpyHeader {
  const b = toBytes(bytes);
  const fail = (problem: string): never => {
    throw new InputError(`${source}: ${problem}`);
  };
  if (!isNpyBytes(b)) {
    const start = [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    fail(`not a .npy file: it does not start with the magic string \\x93NUMPY (first bytes: ${start || "none, the file is empty"})`);
  }
  if (b.length < MAGIC_LEN + 4) fail(`truncated .npy file: ${b.length} bytes end inside the format version and header length`);
  const major = b[MAGIC_LEN]!;
  const minor = b[MAGIC_LEN + 1]!;
  if (![1, 2, 3].includes(major) || minor !== 0) fail(`unsupported .npy format version ${major}.${minor}; theano-ts reads 1.0, 2.0 and 3.0`);
  const lengthBytes = major === 1 ? 2 : 4;
  if (b.length < MAGIC_LEN + 2 + lengthBytes) fail(`truncated .npy file: ${b.length} bytes end inside the header length`);
  let headerLen = 0;
  for (let i = lengthBytes - 1; i >= 0; i--) headerLen = headerLen * 256 + b[MAGIC_LEN + 2 + i]!;
  const headerStart = MAGIC_LEN + 2 + lengthBytes;
  const dataOffset = headerStart + headerLen;
  if (dataOffset > b.length) fail(`truncated .npy file: the header says it is ${headerLen} bytes long but only ${b.length - headerStart} follow`);

  const raw = b.subarray(headerStart, dataOffset);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      return fail("bad .npy header: a version 3.0 header must be UTF-8");
    }
  } else {
    text = "";
    for (const c of raw) text += String.fromCharCode(c); // latin-1
  }
  const dict = parsePythonLiteral(text, (msg) => fail(`bad .npy header (${msg}): ${abbreviate(text)}`));
  if (!(dict instanceof Map)) return fail(`bad .npy header (not a dict): ${abbreviate(text)}`);
  const keys = [...dict.keys()].sort();
  if (keys.join(",") !== "descr,fortran_order,shape") {
    fail(`bad .npy header: it must hold exactly the keys 'descr', 'fortran_order' and 'shape', found ${keys.map((k) => `'${k}'`).join(", ") || "none"}`);
  }
  const fortranOrder = dict.get("fortran_order");
  if (typeof fortranOrder !== "boolean") fail(`bad .npy header: fortran_order must be True or False, got ${pyRepr(fortranOrder)}`);
  const shapeValue = dict.get("shape");
  if (!Array.isArray(shapeValue) || !shapeValue.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    return fail(`bad .npy header: shape must be a tuple of non-negative integers, got ${pyRepr(shapeValue)}`);
  }
  const shape = shapeValue as number[];
  const { dtype, byteOrder } = parseDescr(dict.get("descr"), fail);
  return { version: [major, minor], descr: String(dict.get("descr")), dtype, byteOrder, fortranOrder: fortranOrder as boolean, shape, dataOffset };
}

function parseDescr(descr: PyValue | undefined, fail: (problem: string) => never): { dtype: DType; byteOrder: "<" | ">" } {
  const supported = `theano-ts reads ${SUPPORTED_DESCRS} (any byte order)`;
  if (typeof descr !== "string") {
    const kind = Array.isArray(descr) ? "structured dtype" : "dtype";
    return fail(`unsupported ${kind} ${pyRepr(descr)}; ${supported}`);
  }
  // [byte order][kind][size][unit], e.g. "<f8", "|b1", ">i4", "<M8[ns]", or a char code "<d".
  const m = /^([<>=|]?)([a-zA-Z?])(\d*)(\[.*\])?$/.exec(descr);
  const typestr = m && !m[4] ? (m[3] === "" ? CHAR_CODES[m[2]!] : m[2]! + m[3]!) : undefined;
  const dtype = typestr !== undefined ? DTYPE_OF_TYPESTR[typestr] : undefined;
  if (m === null || dtype === undefined) {
    const what = m?.[2] === "f" && m[3] === "2" ? "float16" : m ? KIND_NAMES[m[2]!] : undefined;
    return fail(`unsupported dtype '${descr}'${what ? ` (${what})` : ""}; ${supported}`);
  }
  const order = m[1]!;
  // '=' is "native" and '|' "not applicable": both mean this machine's order, as in NumPy.
  const byteOrder = order === "<" || order === ">" ? order : HOST_LITTLE_ENDIAN ? "<" : ">";
  return { dtype, byteOrder };
}

/**
 * The array stored in a .npy file. Always a fresh C-contiguous array that owns its buffer:
 * Fortran-ordered data is put back in C order, foreign byte orders are swapped.
 */
export function fromNpyBytes(bytes: Uint8Array | ArrayBuffer, source = "npy data"): NDArray {
  const b = toBytes(bytes);
  const h = readNpyHeader(b, source);
  const size = dtypeItemsize(h.dtype);
  // Unchecked product: a shape too large for any array is a file whose data cannot follow
  // (the InputError below), not a ShapeError of a computation.
  const count = h.shape.reduce((a, d) => a * d, 1);
  const nbytes = count * size;
  const available = b.length - h.dataOffset;
  const shapeRepr = `(${h.shape.join(", ")}${h.shape.length === 1 ? "," : ""})`;
  if (!Number.isSafeInteger(nbytes) || nbytes > available) {
    throw new InputError(
      `${source}: truncated .npy file: shape ${shapeRepr} of '${h.descr}' needs ${Number.isSafeInteger(nbytes) ? nbytes : "more than 2**53"} bytes of data but ${available} follow the header`,
    );
  }
  // Copy into a fresh, aligned buffer: the source bytes may sit at any offset (inside an .npz)
  // and the array must not alias a buffer the caller may reuse.
  const buffer = new ArrayBuffer(nbytes);
  const u8 = new Uint8Array(buffer);
  u8.set(b.subarray(h.dataOffset, h.dataOffset + nbytes));
  if (size > 1 && (h.byteOrder === "<") !== HOST_LITTLE_ENDIAN) swapBytes(u8, size);
  if (h.dtype === "bool") for (let i = 0; i < u8.length; i++) u8[i] = u8[i] ? 1 : 0;
  const data = new (typedArrayCtor(h.dtype))(buffer) as TypedArray;
  if (!h.fortranOrder || h.shape.length < 2 || count === 0) return new NDArray(h.dtype, h.shape, data);
  // Column-major data: view it with Fortran strides, then copy out in C order.
  const strides: number[] = [];
  let s = 1;
  for (const d of h.shape) {
    strides.push(s);
    s *= d;
  }
  return new NDArray(h.dtype, h.shape, data, strides).copy();
}

/** Reverses the bytes of every `size`-byte element in place. */
function swapBytes(u8: Uint8Array, size: number): void {
  for (let i = 0; i + size <= u8.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = u8[lo]!;
      u8[lo] = u8[hi]!;
      u8[hi] = t;
    }
  }
}

const abbreviate = (text: string): string => {
  const t = JSON.stringify(text.trimEnd());
  return t.length > 200 ? t.slice(0, 200) + "..." : t;
};

// ---------------------------------------------------------------------------------------------
// The header is a Python literal (NumPy reads it with ast.literal_eval). This is a small
// recursive-descent parser for the subset a header can hold: dicts, tuples, lists, strings,
// integers, True/False/None.

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

function parsePythonLiteral(text: string, fail: (msg: string) => never): PyValue {
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && " \t\n\r\f\v".includes(text[i]!)) i++;
  };
  const expect = (c: string): void => {
    skipSpace();
    if (text[i] !== c) fail(`expected '${c}' at column ${i}`);
    i++;
  };
  const value = (depth: number): PyValue => {
    if (depth > 32) fail("nested too deeply");
    skipSpace();
    const c = text[i];
    if (c === undefined) return fail("unexpected end");
    if (c === "{") {
      i++;
      const map = new Map<string, PyValue>();
      for (;;) {
        skipSpace();
        if (text[i] === "}") break;
        const key = value(depth + 1);
        if (typeof key !== "string") fail(`dict keys must be strings, got ${pyRepr(key)}`);
        expect(":");
        map.set(key as string, value(depth + 1));
        skipSpace();
        if (text[i] === ",") i++;
        else if (text[i] !== "}") fail(`expected ',' or '}' at column ${i}`);
      }
      i++;
      return map;
    }
    if (c === "(" || c === "[") {
      const close = c === "(" ? ")" : "]";
      i++;
      const items: PyValue[] = [];
      let sawComma = false;
      for (;;) {
        skipSpace();
        if (text[i] === close) break;
        items.push(value(depth + 1));
        skipSpace();
        if (text[i] === ",") {
          sawComma = true;
          i++;
        } else if (text[i] !== close) fail(`expected ',' or '${close}' at column ${i}`);
      }
      i++;
      // "(5)" is just 5 in Python; only "(5,)" is a tuple.
      return c === "(" && items.length === 1 && !sawComma ? items[0]! : items;
    }
    const str = /^[uUbB]?(['"])/.exec(text.slice(i, i + 2));
    if (str) {
      i += str[0].length;
      const quote = str[1]!;
      let s = "";
      for (;;) {
        const ch = text[i++];
        if (ch === undefined || ch === "\n") return fail("unterminated string");
        if (ch === quote) return s;
        if (ch !== "\\") {
          s += ch;
          continue;
        }
        const e = text[i++];
        const simple: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", t: "\t", r: "\r", "0": "\0" };
        if (e !== undefined && simple[e] !== undefined) s += simple[e];
        else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(i, i + 2))) {
          s += String.fromCharCode(parseInt(text.slice(i, i + 2), 16));
          i += 2;
        } else return fail(`unsupported string escape '\\${e ?? ""}'`);
      }
    }
    // Integers; Python 2 wrote long shapes with an 'L' suffix, which NumPy still accepts.
    const num = /^[-+]?\d+[lL]?(?![\w.])/.exec(text.slice(i));
    if (num) {
      i += num[0].length;
      return Number(num[0].replace(/[lL]$/, ""));
    }
    const word = /^(True|False|None)\b/.exec(text.slice(i));
    if (word) {
      i += word[0].length;
      return word[1] === "None" ? null : word[1] === "True";
    }
    return fail(`unexpected ${JSON.stringify(text.slice(i, i + 10))} at column ${i}`);
  };
  const result = value(0);
  skipSpace();
  if (i !== text.length) fail(`unexpected ${JSON.stringify(text.slice(i, i + 10))} after the dict at column ${i}`);
  return result;
}

/** Python-like spelling of a parsed header value, for error messages. */
function pyRepr(v: PyValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "string") return `'${v}'`;
  if (typeof v === "number") return String(v);
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `'${k}': ${pyRepr(x)}`).join(", ")}}`;
  return `(${v.map(pyRepr).join(", ")}${v.length === 1 ? "," : ""})`;
}

// ---------------------------------------------------------------------------------------------
// .npz: a ZIP archive of .npy members named `<key>.npy`.

/** A record of arrays: a plain object or a Map from names to anything `array()` accepts. */
export type ArrayRecord = Readonly<Record<string, ArrayLike>> | ReadonlyMap<string, ArrayLike>;

/** True for a plain `{ ... }` object (not an array, TypedArray, NDArray or class instance) or a Map. */
export function isArrayRecord(x: unknown): x is ArrayRecord {
  if (x instanceof Map) return true;
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * The `.npz` archive `np.savez` would write for these arrays: one stored (uncompressed)
 * `<name>.npy` member each, in the record's order.
 */
export function toNpzBytes(arrays: ArrayRecord): Uint8Array {
  if (!isArrayRecord(arrays)) {
    throw new InputError("toNpzBytes takes a record of arrays ({ name: array, ... } or a Map)");
  }
  const items = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  return writeZip(
    items.map(([name, value]) => {
      if (typeof name !== "string") throw new InputError(`.npz array names must be strings, got ${typeof name}`);
      try {
        return { name: `${name}.npy`, data: toNpyBytes(value as ArrayLike) };
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`array ${JSON.stringify(name)}: ${e.message}`, { cause: e });
        throw e;
      }
    }),
  );
}

/**
 * The arrays in an `.npz` archive (stored or deflated members), keyed by member name without
 * the `.npy` suffix, in archive order. Every member must be a .npy array.
 */
export function fromNpzBytes(bytes: Uint8Array | ArrayBuffer, source = "npz data", options: ReadZipOptions = {}): Record<string, NDArray> {
  const b = toBytes(bytes);
  if (!looksLikeZip(b)) {
    const start = [...b.subarray(0, 4)].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    throw new InputError(`${source}: not an .npz file: it does not start with a ZIP signature "PK" (first bytes: ${start || "none, the file is empty"})`);
  }
  const out: Record<string, NDArray> = {};
  for (const entry of readZip(b, source, options)) {
    const where = `${source} member ${JSON.stringify(entry.name)}`;
    if (!isNpyBytes(entry.data)) throw new InputError(`${where}: not a .npy array (theano-ts reads .npz archives whose members are all arrays)`);
    const key = entry.name.endsWith(".npy") ? entry.name.slice(0, -4) : entry.name;
    // defineProperty, not assignment: a member named "__proto__.npy" must become a plain key.
    Object.defineProperty(out, key, { value: fromNpyBytes(entry.data, where), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
