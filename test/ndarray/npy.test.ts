/**
 * .npy / .npz reading and writing against files NumPy wrote (test/fixtures/npy, made by
 * test/fixtures/make_npy_fixtures.py; no Python needed here).
 *
 * The byte-identity checks are the compatibility contract: for every C-order little-endian
 * fixture, `toNpyBytes(fromNpyBytes(bytes))` must reproduce NumPy's file exactly, so files
 * theano-ts writes are the files NumPy would have written.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { InputError } from "../../src/errors.js";
import { type DType, DTYPES } from "../../src/ndarray/dtype.js";
import { NDArray, arange, array, full, zeros } from "../../src/ndarray/ndarray.js";
import { fromNpyBytes, fromNpzBytes, readNpyHeader, toNpyBytes, toNpzBytes } from "../../src/ndarray/npy.js";
import { crc32, readZip, writeZip } from "../../src/ndarray/zip.js";
import { load, loadNpy, loadNpz, save } from "../../src/io.js";

const FIXTURES = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../fixtures/npy");
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));

interface Expected {
  dtype: DType;
  shape: number[];
  values: Array<number | string | boolean>;
  roundtrip_bytes: boolean;
}
const EXPECTED = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as {
  numpy_version: string;
  npy: Record<string, Expected>;
  npz: Record<string, Record<string, Expected>>;
  errors: Record<string, string>;
};

/** The expected value of one element, as the NDArray stores it (bigint for 64-bit ints). */
function decode(v: number | string | boolean, dtype: DType): number | bigint {
  if (dtype === "bool") return v ? 1 : 0;
  if (dtype === "int64" || dtype === "uint64") return BigInt(v as string);
  if (typeof v === "number") return v;
  const special: Record<string, number> = { nan: NaN, inf: Infinity, "-inf": -Infinity, "-0.0": -0 };
  return special[v as string] ?? Number(v);
}

/** Element-wise exact comparison: NaN equals NaN, -0 differs from 0, bigints compare exactly. */
function expectMatches(a: NDArray, e: Expected, where: string): void {
  expect(a.dtype, where).toBe(e.dtype);
  expect([...a.shape], where).toEqual(e.shape);
  const flat = [...a.toFlat()];
  expect(flat.length, where).toBe(e.values.length);
  flat.forEach((v, i) => {
    const want = decode(e.values[i]!, e.dtype);
    if (!Object.is(v, want)) expect.fail(`${where}[${i}]: got ${String(v)}, expected ${String(want)}`);
  });
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Asserts `f` throws an InputError whose message contains every one of `parts`. */
function expectInputError(f: () => unknown, ...parts: string[]): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught, "expected an InputError").toBeInstanceOf(InputError);
  for (const p of parts) expect((caught as Error).message).toContain(p);
}

/** A .npy file with a hand-written header (padded like NumPy's) followed by `data`. */
function npyWithHeader(dict: string, data: Uint8Array = new Uint8Array(0), version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const pad = 64 - ((prefix + dict.length + 1) % 64);
  const header = dict + " ".repeat(pad) + "\n";
  const out = new Uint8Array(prefix + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  if (version !== 1) new DataView(out.buffer).setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(data, prefix + header.length);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), "theano-ts-npy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe(".npy fixtures written by NumPy", () => {
  it("cover every dtype theano-ts holds", () => {
    const dtypes = new Set(Object.values(EXPECTED.npy).map((e) => e.dtype));
    for (const d of DTYPES) expect(dtypes.has(d), d).toBe(true);
  });

  for (const [name, e] of Object.entries(EXPECTED.npy)) {
    it(`reads ${name}`, () => {
      const a = fromNpyBytes(fixture(name), name);
      expectMatches(a, e, name);
      // Always C-contiguous and owning exactly its elements, Fortran and big-endian included.
      expect(a.isContiguous).toBe(true);
      expect(a.data.length).toBe(a.size);
      expectMatches(load(join(FIXTURES, name)) as NDArray, e, name);
    });

    if (e.roundtrip_bytes) {
      it(`writes ${name} back byte for byte`, () => {
        const bytes = fixture(name);
        expect(bytesEqual(toNpyBytes(fromNpyBytes(bytes)), bytes)).toBe(true);
      });
    } else {
      it(`rewrites ${name} as C-order little-endian with the same values`, () => {
        const out = toNpyBytes(fromNpyBytes(fixture(name)));
        const h = readNpyHeader(out);
        expect(h.fortranOrder).toBe(false);
        expect(h.version).toEqual([1, 0]);
        expect(h.descr).not.toMatch(/^>/);
        expectMatches(fromNpyBytes(out), e, name);
      });
    }
  }

  it("reads headers NumPy 2 writes (the exact text)", () => {
    const h = readNpyHeader(fixture("float32.npy"));
    expect(h).toMatchObject({ version: [1, 0], descr: "<f4", dtype: "float32", fortranOrder: false, shape: [2, 3], dataOffset: 128 });
    const text = new TextDecoder().decode(toNpyBytes(zeros([2, 3], "float32")).subarray(10, 128));
    expect(text).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".padEnd(117) + "\n");
    const headerText = (b: Uint8Array): string => new TextDecoder().decode(b.subarray(10, readNpyHeader(b).dataOffset));
    expect(headerText(toNpyBytes(array(1.5)))).toBe("{'descr': '<f8', 'fortran_order': False, 'shape': (), }".padEnd(117) + "\n");
    expect(headerText(toNpyBytes(array([1, 2, 3, 4, 5], "int8")))).toBe("{'descr': '|i1', 'fortran_order': False, 'shape': (5,), }".padEnd(117) + "\n");
    expect(headerText(toNpyBytes(array([true])))).toContain("{'descr': '|b1', ");
  });

  for (const [name, descr] of Object.entries(EXPECTED.errors)) {
    it(`rejects ${name} naming its dtype`, () => {
      expectInputError(() => fromNpyBytes(fixture(name), name), name, descr, "theano-ts reads", "<f8");
      expectInputError(() => load(join(FIXTURES, name)), name, descr);
    });
  }
});

describe(".npz fixtures written by NumPy", () => {
  for (const [name, members] of Object.entries(EXPECTED.npz)) {
    it(`reads ${name}`, () => {
      for (const r of [fromNpzBytes(fixture(name), name), load(join(FIXTURES, name)) as Record<string, NDArray>]) {
        expect(Object.keys(r)).toEqual(Object.keys(members));
        for (const [k, e] of Object.entries(members)) expectMatches(r[k]!, e, `${name}[${k}]`);
      }
    });
  }

  it("writes members byte-identical to np.savez's and an archive NumPy's layout agrees with", () => {
    const theirs = readZip(fixture("record.npz"));
    const ours = readZip(toNpzBytes(fromNpzBytes(fixture("record_compressed.npz"))));
    expect(ours.map((m) => m.name)).toEqual(theirs.map((m) => m.name));
    ours.forEach((m, i) => expect(bytesEqual(m.data, theirs[i]!.data), m.name).toBe(true));
  });

  it("uses a caller's raw-DEFLATE decoder when given one", () => {
    const calls: number[] = [];
    const inflateRaw = (data: Uint8Array, size: number): Uint8Array => {
      calls.push(size);
      const zlib = process.getBuiltinModule("node:zlib");
      return new Uint8Array(zlib.inflateRawSync(data));
    };
    const r = fromNpzBytes(fixture("record_compressed.npz"), "c.npz", { inflateRaw });
    expect(calls.length).toBe(Object.keys(r).length);
    expectMatches(r.x!, EXPECTED.npz["record_compressed.npz"]!.x!, "x");
  });

  it("says what is missing when no deflate decoder is available", () => {
    const spy = vi.spyOn(process, "getBuiltinModule").mockReturnValue(undefined as never);
    try {
      expectInputError(() => fromNpzBytes(fixture("record_compressed.npz"), "c.npz"), "c.npz", "savez_compressed", "inflateRaw");
      // Stored archives need no decoder.
      expect(Object.keys(fromNpzBytes(fixture("record.npz")))).toContain("x");
    } finally {
      spy.mockRestore();
    }
  });
});

describe("writing", () => {
  it("writes non-contiguous arrays in C order", () => {
    const base = arange(24, "int32").reshape([2, 3, 4]);
    for (const view of [base.transpose(2, 0, 1), base.slice([null, null, -1], [0, 3, 2]), base.T.slice(1)]) {
      expect(view.isContiguous).toBe(false);
      const bytes = toNpyBytes(view);
      expect(bytesEqual(bytes, toNpyBytes(view.copy()))).toBe(true);
      const back = fromNpyBytes(bytes);
      expect(back.shape).toEqual(view.shape);
      expect(back.toArray()).toEqual(view.toArray());
    }
  });

  it("accepts whatever array() accepts", () => {
    expect(bytesEqual(toNpyBytes([[1, 2], [3, 4]]), toNpyBytes(array([[1, 2], [3, 4]], "int64")))).toBe(true);
    expect(fromNpyBytes(toNpyBytes(new Float32Array([1, 2]))).dtype).toBe("float32");
    expect(fromNpyBytes(toNpyBytes(3.5)).item()).toBe(3.5);
    expect(fromNpyBytes(toNpyBytes(true)).dtype).toBe("bool");
  });

  it("round-trips int64 and uint64 extremes exactly", () => {
    const i = new NDArray("int64", [4], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -1n, 2n ** 53n + 1n]));
    const u = new NDArray("uint64", [3], new BigUint64Array([0n, 2n ** 64n - 1n, 2n ** 63n]));
    for (const a of [i, u]) {
      const back = fromNpyBytes(toNpyBytes(a));
      expect(back.data.constructor).toBe(a.data.constructor);
      expect([...back.data]).toEqual([...a.data]);
    }
    expect(bytesEqual(toNpyBytes(fromNpyBytes(fixture("int64.npy"))), fixture("int64.npy"))).toBe(true);
  });

  it("pads exactly-aligned headers by a whole block, like NumPy", () => {
    const bytes = fixture("aligned_header_f8.npy");
    const h = readNpyHeader(bytes);
    expect(h.dataOffset % 64).toBe(0);
    // The dict ends 64 bytes before the data: the pad is a whole block of spaces, not zero bytes.
    expect(new TextDecoder().decode(bytes.subarray(h.dataOffset - 65, h.dataOffset))).toBe(" ".repeat(64) + "\n");
    expect(bytesEqual(toNpyBytes(full(h.shape, 7, "float64")), bytes)).toBe(true);
  });

  it("writes npz archives other ZIP readers accept", () => {
    const bytes = toNpzBytes(new Map<string, unknown>([["a", [1, 2]], ["ünïcode", 2.5], ["__proto__", [true]]]) as never);
    // The end record, central directory and CRCs check out with our reader...
    const members = readZip(bytes);
    expect(members.map((m) => m.name)).toEqual(["a.npy", "ünïcode.npy", "__proto__.npy"]);
    // ...and the header fields are the plain (non-ZIP64) ones: version 2.0, stored, real sizes.
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getUint32(0, true)).toBe(0x04034b50);
    expect(view.getUint16(4, true)).toBe(20);
    expect(view.getUint16(8, true)).toBe(0);
    expect(view.getUint32(18, true)).toBe(members[0]!.data.length);
    expect(view.getUint32(14, true)).toBe(crc32(members[0]!.data));
    const r = fromNpzBytes(bytes);
    expect(Object.keys(r)).toEqual(["a", "ünïcode", "__proto__"]);
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(r["__proto__"]!.toArray()).toEqual([true]);
    expect(r["ünïcode"]!.item()).toBe(2.5);
  });

  it("computes the standard CRC-32", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe("save and load on disk", () => {
  const sample: Record<DType, NDArray> = {
    bool: array([[true, false, true], [false, true, true]]),
    int8: array([[-128, 0, 127], [1, -1, 5]], "int8"),
    int16: array([[-32768, 0, 32767], [1, -1, 5]], "int16"),
    int32: array([[-(2 ** 31), 0, 2 ** 31 - 1], [1, -1, 5]], "int32"),
    int64: new NDArray("int64", [2, 3], new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n, 1n, -1n, 2n ** 53n + 1n])),
    uint8: array([[0, 255, 1], [2, 3, 4]], "uint8"),
    uint16: array([[0, 65535, 1], [2, 3, 4]], "uint16"),
    uint32: array([[0, 2 ** 32 - 1, 1], [2, 3, 4]], "uint32"),
    uint64: new NDArray("uint64", [2, 3], new BigUint64Array([0n, 2n ** 64n - 1n, 2n ** 63n, 1n, 2n, 3n])),
    float32: array([[NaN, Infinity, -Infinity], [-0, 1.5, 3.4028234663852886e38]], "float32"),
    float64: array([[NaN, Infinity, -Infinity], [-0, 5e-324, Number.MAX_VALUE]], "float64"),
  };

  for (const dtype of DTYPES) {
    it(`round-trips ${dtype}`, () => {
      const a = sample[dtype];
      const path = save(join(tmp, `rt_${dtype}.npy`), a);
      expect(path).toBe(join(tmp, `rt_${dtype}.npy`));
      expect(bytesEqual(new Uint8Array(readFileSync(path)), toNpyBytes(a))).toBe(true);
      const b = loadNpy(path);
      expect(b.dtype).toBe(dtype);
      expect(b.shape).toEqual([2, 3]);
      [...a.data].forEach((v, i) => expect(Object.is(b.data[i], v), `${dtype}[${i}]`).toBe(true));
    });
  }

  it("round-trips 0-d and empty arrays", () => {
    for (const a of [array(-7, "int16"), zeros([0, 3], "float32"), zeros([0], "uint64"), zeros([4, 0, 2], "bool")]) {
      const b = load(save(join(tmp, "shape"), a)) as NDArray;
      expect(b.dtype).toBe(a.dtype);
      expect(b.shape).toEqual(a.shape);
      expect([...b.data]).toEqual([...a.data]);
    }
  });

  it("follows NumPy's path rules and returns the path written", () => {
    expect(save(join(tmp, "plain"), [1, 2])).toBe(join(tmp, "plain.npy"));
    expect(save(join(tmp, "w.bin"), [1, 2])).toBe(join(tmp, "w.bin.npy")); // np.save appends .npy to any other name
    expect(save(join(tmp, "rec"), { a: [1, 2], b: 3.5 })).toBe(join(tmp, "rec.npz")); // np.savez appends .npz
    expect(existsSync(join(tmp, "rec.npz"))).toBe(true);
    const one = save(join(tmp, "one.npz"), [[1.5, 2.5]]);
    expect(one).toBe(join(tmp, "one.npz"));
    const r = loadNpz(one);
    expect(Object.keys(r)).toEqual(["arr_0"]);
    expect(r.arr_0!.toArray()).toEqual([[1.5, 2.5]]);
  });

  it("round-trips a record of every dtype through .npz", () => {
    const path = save(join(tmp, "all.npz"), sample);
    const r = loadNpz(path);
    expect(Object.keys(r)).toEqual(Object.keys(sample));
    for (const [k, a] of Object.entries(sample)) {
      expect(r[k]!.dtype).toBe(a.dtype);
      expect(bytesEqual(toNpyBytes(r[k]!), toNpyBytes(a)), k).toBe(true);
    }
  });

  it("detects the format by magic bytes, not by name", () => {
    const p = join(tmp, "really_an_archive.npy");
    writeFileSync(p, toNpzBytes({ z: [1] }));
    expect(Object.keys(load(p))).toEqual(["z"]);
    expectInputError(() => loadNpy(p), p, "npz");
    const q = join(tmp, "really_an_array.npz");
    writeFileSync(q, toNpyBytes([1, 2]));
    expect(load(q)).toBeInstanceOf(NDArray);
    expectInputError(() => loadNpz(q), q, ".npy");
  });
});

describe("errors", () => {
  it("rejects ragged input to save and toNpyBytes", () => {
    expectInputError(() => save(join(tmp, "ragged.npy"), [[1, 2], [3]]), "ragged");
    expectInputError(() => save(join(tmp, "ragged.npz"), { a: [[1, 2], [3]] }), "ragged", '"a"');
    expect(existsSync(join(tmp, "ragged.npy"))).toBe(false);
  });

  it("rejects files that are not .npy or .npz", () => {
    const p = join(tmp, "text.npy");
    writeFileSync(p, "hello, world");
    expectInputError(() => load(p), p, "not a .npy or .npz file", "68 65 6c 6c");
    const empty = join(tmp, "empty.npy");
    writeFileSync(empty, "");
    expectInputError(() => load(empty), empty, "empty");
    expectInputError(() => fromNpyBytes(new TextEncoder().encode("PK\x03\x04..."), "x.npy"), "x.npy", "magic");
    expectInputError(() => load(join(tmp, "does-not-exist.npy")), "does-not-exist.npy", "ENOENT");
  });

  it("rejects truncated .npy files at every cut", () => {
    const full = fixture("float64.npy");
    for (const cut of [0, 3, 6, 8, 9, 10, 60, 127, 128, 129, 150, full.length - 1]) {
      const p = join(tmp, `cut${cut}.npy`);
      writeFileSync(p, full.subarray(0, cut));
      expectInputError(() => load(p), p);
      expectInputError(() => fromNpyBytes(full.subarray(0, cut), "f.npy"), "f.npy");
    }
    expectInputError(() => fromNpyBytes(full.subarray(0, 150), "f.npy"), "truncated", "48 bytes", "22 follow");
  });

  it("rejects a huge shape before allocating for it", () => {
    const bytes = npyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000000000), }");
    expectInputError(() => fromNpyBytes(bytes, "huge.npy"), "huge.npy", "truncated");
  });

  it("rejects bad headers", () => {
    const cases: Array<[string, string]> = [
      ["{'descr': '<f8', 'shape': (1,), }", "exactly the keys"],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "exactly the keys"],
      ["{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }", "fortran_order"],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "shape"],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': 3, }", "shape"],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,), }", "bad .npy header"],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", "bad .npy header"],
      ["not a dict at all", "bad .npy header"],
      ["['descr', '<f8']", "not a dict"],
      ["{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } trailing", "bad .npy header"],
      ["{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", "float16"],
      ["{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "Python object"],
      ["{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", "complex"],
      ["{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }", "structured"],
      ["{'descr': 'nonsense', 'fortran_order': False, 'shape': (1,), }", "'nonsense'"],
    ];
    for (const [dict, part] of cases) expectInputError(() => fromNpyBytes(npyWithHeader(dict, new Uint8Array(16)), "h.npy"), "h.npy", part);
    const v9 = npyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", new Uint8Array(8));
    v9[6] = 9;
    expectInputError(() => fromNpyBytes(v9, "v.npy"), "v.npy", "version 9.0");
  });

  it("accepts header spellings NumPy accepts", () => {
    const data = new Uint8Array(new Int32Array([1, 2, 3, 4]).buffer);
    const spellings = [
      '{"descr": "<i4", "fortran_order": False, "shape": (2, 2)}',
      "{'shape': (2L, 2L), 'fortran_order': False, 'descr': '<i4'}",
      "{ 'descr' : '<i4' ,\t'fortran_order':False,'shape':[2,2] , }",
      "{'descr': '<i', 'fortran_order': False, 'shape': (2, 2), }",
    ];
    for (const s of spellings) expect(fromNpyBytes(npyWithHeader(s, data), s).toArray()).toEqual([[1, 2], [3, 4]]);
    const v2 = npyWithHeader("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2), }", data, 2);
    expect(fromNpyBytes(v2).toArray()).toEqual([[1, 3], [2, 4]]);
    const bool = npyWithHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", new Uint8Array([0, 1, 7]));
    expect([...fromNpyBytes(bool).data]).toEqual([0, 1, 1]);
  });

  it("rejects corrupt and truncated .npz archives", () => {
    const good = fixture("record.npz");
    const members = readZip(good);
    // Flip one data byte of the first member: its CRC no longer matches.
    const bad = good.slice();
    const local = new DataView(good.buffer, good.byteOffset);
    const at = 30 + local.getUint16(26, true) + local.getUint16(28, true) + 130; // past the local header, into x's data
    bad[at] = bad[at]! ^ 0xff;
    expect(members[0]!.name).toBe("x.npy");
    const p = join(tmp, "crc.npz");
    writeFileSync(p, bad);
    expectInputError(() => load(p), p, "CRC mismatch", "x.npy");
    // Cut anywhere: the end record is gone or the directory points past the data.
    for (const cut of [4, 100, good.length - 23, good.length - 1]) {
      const q = join(tmp, `cut${cut}.npz`);
      writeFileSync(q, good.subarray(0, cut));
      expectInputError(() => load(q), q);
    }
    // A damaged deflate stream in a compressed archive.
    const comp = fixture("record_compressed.npz").slice();
    comp.fill(0xff, 60, 80);
    expectInputError(() => fromNpzBytes(comp, "c.npz"), "c.npz", "x.npy");
  });

  it("rejects ZIP64 archives and members that are not arrays", () => {
    const bytes = toNpzBytes({ a: [1] }).slice();
    const view = new DataView(bytes.buffer);
    const eocd = bytes.length - 22;
    view.setUint32(eocd + 16, 0xffffffff, true);
    expectInputError(() => fromNpzBytes(bytes, "z.npz"), "z.npz", "ZIP64");
    const text = writeZip([{ name: "notes.txt", data: new TextEncoder().encode("hi") }]);
    expectInputError(() => fromNpzBytes(text, "t.npz"), "t.npz", "notes.txt", "not a .npy array");
    const broken = writeZip([{ name: "a.npy", data: fixture("float64.npy").subarray(0, 140) }]);
    expectInputError(() => fromNpzBytes(broken, "b.npz"), "b.npz", "a.npy", "truncated");
  });
});
