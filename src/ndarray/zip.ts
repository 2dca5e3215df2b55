/**
 * A minimal ZIP archive reader and writer: just enough for NumPy's `.npz` files.
 *
 * An `.npz` is an ordinary ZIP archive with one `.npy` member per array: `np.savez` stores the
 * members (method 0), `np.savez_compressed` deflates them (method 8). The layout followed here is
 * PKWARE's APPNOTE.TXT: local file headers followed by the member data, then a central directory
 * and an end-of-central-directory record (EOCD) at the very end of the file.
 *
 * The writer emits stored members only, with sizes and CRCs known up front (no data
 * descriptors), a fixed 1980-01-01 timestamp (as NumPy does, so archives are reproducible) and
 * no ZIP64 fields, which every ZIP reader accepts. The reader trusts the central directory for
 * sizes, method and CRC, as the format intends, and uses local headers only to find where the data
 * starts. That matters for NumPy's archives: Python's zipfile writes a ZIP64 extra field with
 * 0xFFFFFFFF placeholder sizes into every local header it opens for writing, while the central
 * records carry the real 32-bit sizes. True ZIP64 archives (members or archives over 4 GiB, or
 * more than 65535 members) are rejected with a clear error.
 *
 * This file is pure (no Node imports) so it runs in browsers. Inflating needs a raw-DEFLATE
 * decoder: Node's zlib is looked up at run time through `process.getBuiltinModule`, and callers
 * elsewhere can pass their own `inflateRaw`.
 */

import { InputError } from "../errors.js";

/** One archive member: its name and uncompressed bytes. */
export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

/** Decodes raw DEFLATE data (no zlib/gzip wrapper) whose inflated size is known. */
export type InflateRaw = (compressed: Uint8Array, uncompressedSize: number) => Uint8Array;

export interface ReadZipOptions {
  /** Raw-DEFLATE decoder for compressed members; defaults to Node's `zlib.inflateRawSync`. */
  inflateRaw?: InflateRaw;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (the IEEE 802.3 polynomial, reflected: 0xEDB88320), one table lookup per byte.

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 ZIP stores for each member (same as zlib's `crc32`). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Record signatures and fixed sizes (APPNOTE 4.3.7, 4.3.12, 4.3.16, 4.3.15).

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const EOCD_SIZE = 22;
/** The EOCD may be followed by a comment of up to 65535 bytes, so search that far back. */
const MAX_EOCD_SEARCH = EOCD_SIZE + 0xffff;

/** "version needed to extract" 2.0: the baseline for stored and deflated members. */
const VERSION_20 = 20;
/** "version made by": UNIX (3) in the high byte, so readers honour the permission bits below. */
const MADE_BY_UNIX_20 = (3 << 8) | VERSION_20;
/** rw------- regular-file permissions, as Python's zipfile gives members it writes. */
const EXTERNAL_ATTR_RW = (0o100600 << 16) >>> 0;
/** MS-DOS date 1980-01-01 ((year-1980) << 9 | month << 5 | day), time 00:00:00. */
const DOS_DATE_1980 = (0 << 9) | (1 << 5) | 1;
const DOS_TIME_MIDNIGHT = 0;
/** General-purpose flag bit 11: the name is UTF-8. */
const FLAG_UTF8 = 1 << 11;
const FLAG_ENCRYPTED = 1 << 0;

const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

// ---------------------------------------------------------------------------------------------
// Writing

/** A ZIP archive holding `entries` stored uncompressed, in the given order. */
export function writeZip(entries: readonly ZipEntry[]): Uint8Array {
  const names = entries.map((e) => utf8Encoder.encode(e.name));
  const seen = new Set<string>();
  for (const [i, e] of entries.entries()) {
    if (seen.has(e.name)) throw new InputError(`cannot write a ZIP archive with two members named ${JSON.stringify(e.name)}`);
    seen.add(e.name);
    if (names[i]!.length > 0xffff) throw new InputError(`ZIP member name ${JSON.stringify(e.name.slice(0, 40))}... is longer than 65535 bytes`);
  }
  let localTotal = 0;
  let centralTotal = 0;
  for (const [i, e] of entries.entries()) {
    localTotal += LOCAL_HEADER_SIZE + names[i]!.length + e.data.length;
    centralTotal += CENTRAL_HEADER_SIZE + names[i]!.length;
  }
  // Without ZIP64 every size and offset must fit 32 bits, and the member count 16 bits.
  if (entries.length > 0xffff || localTotal + centralTotal > 0xffffffff) {
    throw new InputError(
      `the archive would need ZIP64 (${entries.length} members, ${localTotal + centralTotal} bytes); theano-ts writes archives of at most 65535 members and 4 GiB`,
    );
  }

  const out = new Uint8Array(localTotal + centralTotal + EOCD_SIZE);
  const view = new DataView(out.buffer);
  const offsets: number[] = [];
  const crcs: number[] = [];
  let p = 0;
  for (const [i, e] of entries.entries()) {
    const name = names[i]!;
    const crc = crc32(e.data);
    const flags = isAscii(e.name) ? 0 : FLAG_UTF8;
    offsets.push(p);
    crcs.push(crc);
    view.setUint32(p, SIG_LOCAL, true);
    view.setUint16(p + 4, VERSION_20, true);
    view.setUint16(p + 6, flags, true);
    view.setUint16(p + 8, METHOD_STORED, true);
    view.setUint16(p + 10, DOS_TIME_MIDNIGHT, true);
    view.setUint16(p + 12, DOS_DATE_1980, true);
    view.setUint32(p + 14, crc, true);
    view.setUint32(p + 18, e.data.length, true); // compressed size (stored: the same)
    view.setUint32(p + 22, e.data.length, true);
    view.setUint16(p + 26, name.length, true);
    view.setUint16(p + 28, 0, true); // no extra field
    out.set(name, p + LOCAL_HEADER_SIZE);
    out.set(e.data, p + LOCAL_HEADER_SIZE + name.length);
    p += LOCAL_HEADER_SIZE + name.length + e.data.length;
  }
  const centralStart = p;
  for (const [i, e] of entries.entries()) {
    const name = names[i]!;
    view.setUint32(p, SIG_CENTRAL, true);
    view.setUint16(p + 4, MADE_BY_UNIX_20, true);
    view.setUint16(p + 6, VERSION_20, true);
    view.setUint16(p + 8, isAscii(e.name) ? 0 : FLAG_UTF8, true);
    view.setUint16(p + 10, METHOD_STORED, true);
    view.setUint16(p + 12, DOS_TIME_MIDNIGHT, true);
    view.setUint16(p + 14, DOS_DATE_1980, true);
    view.setUint32(p + 16, crcs[i]!, true);
    view.setUint32(p + 20, e.data.length, true);
    view.setUint32(p + 24, e.data.length, true);
    view.setUint16(p + 28, name.length, true);
    view.setUint16(p + 30, 0, true); // extra length
    view.setUint16(p + 32, 0, true); // comment length
    view.setUint16(p + 34, 0, true); // disk number
    view.setUint16(p + 36, 0, true); // internal attributes
    view.setUint32(p + 38, EXTERNAL_ATTR_RW, true);
    view.setUint32(p + 42, offsets[i]!, true);
    out.set(name, p + CENTRAL_HEADER_SIZE);
    p += CENTRAL_HEADER_SIZE + name.length;
  }
  view.setUint32(p, SIG_EOCD, true);
  view.setUint16(p + 4, 0, true); // this disk
  view.setUint16(p + 6, 0, true); // disk where the central directory starts
  view.setUint16(p + 8, entries.length, true);
  view.setUint16(p + 10, entries.length, true);
  view.setUint32(p + 12, p - centralStart, true);
  view.setUint32(p + 16, centralStart, true);
  view.setUint16(p + 20, 0, true); // comment length
  return out;
}

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

// ---------------------------------------------------------------------------------------------
// Reading

/** True when `bytes` starts like a ZIP archive (a local header, or the EOCD of an empty one). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) return false;
  return (bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6);
}

/**
 * Every file member of a ZIP archive, in central-directory order, inflated and CRC-checked.
 * Directory entries are skipped. `source` names the archive in error messages.
 */
export function readZip(bytes: Uint8Array, source = "<bytes>", options: ReadZipOptions = {}): ZipEntry[] {
  const fail = (problem: string): never => {
    throw new InputError(`${source}: ${problem}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (p: number): number => view.getUint16(p, true);
  const u32 = (p: number): number => view.getUint32(p, true);

  if (bytes.length < EOCD_SIZE) fail(`not a ZIP archive: ${bytes.length} bytes is too short to hold the end-of-central-directory record`);
  // The EOCD is the last record; scan backwards past a possible archive comment. Prefer a
  // record whose comment ends exactly at the end of the file (the signature bytes may also occur
  // inside a comment), then accept one followed by stray bytes, as Python's zipfile does.
  let eocd = -1;
  const lowest = Math.max(0, bytes.length - MAX_EOCD_SEARCH);
  for (const exact of [true, false]) {
    for (let p = bytes.length - EOCD_SIZE; eocd < 0 && p >= lowest; p--) {
      if (u32(p) !== SIG_EOCD) continue;
      const end = p + EOCD_SIZE + u16(p + 20);
      if (exact ? end === bytes.length : end <= bytes.length) eocd = p;
    }
  }
  if (eocd < 0) fail("not a ZIP archive, or a truncated one: no end-of-central-directory record found");

  const disk = u16(eocd + 4);
  const cdDisk = u16(eocd + 6);
  const countHere = u16(eocd + 8);
  const count = u16(eocd + 10);
  const cdSize = u32(eocd + 12);
  const cdOffset = u32(eocd + 16);
  const hasZip64Locator = eocd >= 20 && u32(eocd - 20) === SIG_ZIP64_LOCATOR;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff || (hasZip64Locator && (countHere === 0xffff || cdOffset === 0xffffffff))) {
    fail("ZIP64 archives (over 4 GiB or over 65535 members) are not supported");
  }
  if (disk !== 0 || cdDisk !== 0 || countHere !== count) fail("multi-disk (split) ZIP archives are not supported");
  if (cdOffset + cdSize > eocd) fail(`corrupt ZIP archive: the central directory (offset ${cdOffset}, ${cdSize} bytes) overlaps the end record at ${eocd}`);

  const inflate = options.inflateRaw ?? nodeInflateRaw;
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_SIZE > cdOffset + cdSize || u32(p) !== SIG_CENTRAL) {
      fail(`corrupt ZIP archive: central directory record ${i} of ${count} is missing or damaged (at byte ${p})`);
    }
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    const compressedSize = u32(p + 20);
    const size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    const localOffset = u32(p + 42);
    const recordEnd = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (recordEnd > cdOffset + cdSize) fail(`corrupt ZIP archive: central directory record ${i} runs past the directory's end`);
    const rawName = bytes.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen);
    const name = decodeName(rawName, flags, fail);
    const what = `member ${JSON.stringify(name)}`;
    p = recordEnd;

    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) {
      fail(`${what} uses ZIP64 sizes (over 4 GiB), which are not supported`);
    }
    if (flags & FLAG_ENCRYPTED) fail(`${what} is encrypted, which is not supported`);
    if (method !== METHOD_STORED && method !== METHOD_DEFLATED) {
      fail(`${what} uses compression method ${method}; only stored (0) and deflated (8) members are supported`);
    }

    // The local header repeats the name and has its own extra field (Python puts a ZIP64 one
    // there); only its lengths matter, to find the data.
    if (localOffset + LOCAL_HEADER_SIZE > cdOffset || u32(localOffset) !== SIG_LOCAL) {
      fail(`corrupt ZIP archive: the local header of ${what} is missing at byte ${localOffset}`);
    }
    const dataStart = localOffset + LOCAL_HEADER_SIZE + u16(localOffset + 26) + u16(localOffset + 28);
    if (dataStart + compressedSize > cdOffset) {
      fail(`truncated or corrupt ZIP archive: the data of ${what} (${compressedSize} bytes at byte ${dataStart}) runs past the central directory`);
    }
    if (name.endsWith("/") && size === 0) continue; // a directory entry
    const stored = bytes.subarray(dataStart, dataStart + compressedSize);

    if (method === METHOD_STORED && compressedSize !== size) {
      fail(`corrupt ZIP archive: stored ${what} has compressed size ${compressedSize} but size ${size}`);
    }
    const data = method === METHOD_STORED ? stored : inflateMember(inflate, stored, size, what, fail);
    const actual = crc32(data);
    if (actual !== crc) {
      fail(`CRC mismatch in ${what}: the archive says ${hex32(crc)}, the data gives ${hex32(actual)} (the file is corrupt)`);
    }
    entries.push({ name, data });
  }
  return entries;
}

function inflateMember(inflate: InflateRaw, stored: Uint8Array, size: number, what: string, fail: (problem: string) => never): Uint8Array {
  let data: Uint8Array;
  try {
    data = inflate(stored, size);
  } catch (e) {
    // zlib reports bad streams and oversized output with its own errors; say which member.
    if (e instanceof InputError) return fail(`cannot inflate ${what}: ${e.message}`);
    return fail(`cannot inflate ${what} (corrupt deflate data?): ${e instanceof Error ? e.message : String(e)}`);
  }
  if (data.length !== size) fail(`corrupt ZIP archive: ${what} inflates to ${data.length} bytes, the directory says ${size}`);
  return data;
}

const hex32 = (n: number): string => "0x" + n.toString(16).padStart(8, "0");

function decodeName(raw: Uint8Array, flags: number, fail: (problem: string) => never): string {
  if (flags & FLAG_UTF8) {
    try {
      return utf8Decoder.decode(raw);
    } catch {
      fail("corrupt ZIP archive: a member name flagged UTF-8 is not valid UTF-8");
    }
  }
  // Names without the UTF-8 flag are officially CP437; in practice they are ASCII (and
  // Python's zipfile sets the flag whenever a name is not). Decode bytes >= 0x80 as UTF-8 when
  // that works, else byte by byte.
  try {
    return utf8Decoder.decode(raw);
  } catch {
    let s = "";
    for (const b of raw) s += String.fromCharCode(b);
    return s;
  }
}

/** Node's zlib, found at run time so this module has no static Node imports. */
function nodeInflateRaw(compressed: Uint8Array, uncompressedSize: number): Uint8Array {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const zlib = proc?.getBuiltinModule?.("node:zlib") as
    | { inflateRawSync(buf: Uint8Array, options?: { maxOutputLength?: number }): Uint8Array }
    | undefined;
  if (!zlib?.inflateRawSync) {
    throw new InputError(
      "this archive has deflated (np.savez_compressed) members, and no raw-DEFLATE decoder is available: " +
        "process.getBuiltinModule('node:zlib') needs Node >= 20.16; elsewhere pass options.inflateRaw",
    );
  }
  // Cap the output at the declared size (+1 so an overlong stream is detected, not truncated):
  // a corrupt or hostile size must not let a small archive inflate without bound.
  return zlib.inflateRawSync(compressed, { maxOutputLength: Math.max(1, uncompressedSize + 1) });
}
