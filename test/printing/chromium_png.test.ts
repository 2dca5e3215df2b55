/**
 * A picture of a compiled function, rendered by a real browser (issue 16.5): the SVG that
 * `theano.printing.toSvg` lays out (no Graphviz) is opened in headless Chromium, screenshotted
 * to PNG, and the PNG is decoded here and checked: its size is the SVG's, every box and ellipse
 * is drawn in its fill colour, and every one holds dark label pixels (text that rendered).
 *
 * Chromium is Debian's `chromium` package (`.ci/run` installs it where apt can); on a machine
 * without it the test is skipped and says so in one line.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import * as theano from "../../src/index.js";
import { findChromium } from "../chromium.js";

const T = theano.tensor;

const CHROMIUM = findChromium();
if (!CHROMIUM) console.warn("chromium_png.test.ts skipped: no Chromium on PATH (apt-get install chromium, or set CHROME_PATH)");

interface Image {
  readonly width: number;
  readonly height: number;
  /** RGBA, 8 bits a channel, row-major. */
  readonly rgba: Uint8Array;
}

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are). */
function decodePng(bytes: Buffer): Image {
  const SIGNATURE = "89504e470d0a1a0a";
  if (bytes.subarray(0, 8).toString("hex") !== SIGNATURE) throw new Error("not a PNG");
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString("latin1", at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || interlace !== 0 || (colour !== 2 && colour !== 6)) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      channels = colour === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0;
      const b = up[i]!;
      const c = i >= channels ? up[i - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      row[i] = (src[i]! + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) rgba[p * 4 + k] = pixels[p * channels + k]!;
    rgba[p * 4 + 3] = channels === 4 ? pixels[p * channels + 3]! : 255;
  }
  return { width, height, rgba };
}

/** The shapes of the SVG that carry a label: boxes (inputs, outputs, shared) and ellipses (ops). */
function labelledShapes(svg: string): Array<{ x: number; y: number; w: number; h: number; fill: string }> {
  const shapes: Array<{ x: number; y: number; w: number; h: number; fill: string }> = [];
  for (const m of svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="(#[0-9a-f]{6})"/g)) {
    shapes.push({ x: Number(m[1]), y: Number(m[2]), w: Number(m[3]), h: Number(m[4]), fill: m[5]! });
  }
  for (const m of svg.matchAll(/<ellipse cx="([\d.]+)" cy="([\d.]+)" rx="([\d.]+)" ry="([\d.]+)" fill="(#[0-9a-f]{6})"/g)) {
    const [cx, cy, rx, ry] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
    // the rectangle inscribed in the ellipse, where its label is
    shapes.push({ x: cx - rx * 0.7, y: cy - ry * 0.7, w: rx * 1.4, h: ry * 1.4, fill: m[5]! });
  }
  return shapes;
}

const dir = mkdtempSync(join(tmpdir(), "theano-ts-png-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!CHROMIUM)("toSvg rendered by headless Chromium", () => {
  it("the PNG of a compiled softmax(x.w + b) is the SVG's size, every shape in its colour, every label drawn", () => {
    const x = T.fmatrix("x");
    const w = theano.shared(theano.ones([3, 2], "float32"), { name: "w" });
    const b = theano.shared(theano.zeros([2], "float32"), { name: "b" });
    const f = theano.function([x], T.softmax(T.dot(x, w).add(b)));
    const svg = theano.printing.toSvg(f);
    const [, width, height] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number) as [number, number, number];
    const svgPath = join(dir, "f.svg");
    const pngPath = join(dir, "f.png");
    writeFileSync(svgPath, svg);
    const r = spawnSync(
      CHROMIUM!,
      ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", `--user-data-dir=${join(dir, "profile")}`, `--window-size=${width},${height}`, `--screenshot=${pngPath}`, `file://${svgPath}`],
      { encoding: "utf8", timeout: 120_000 },
    );
    expect(r.error, `chromium did not finish: ${String(r.error)}`).toBeUndefined();
    const png = readFileSync(pngPath);
    expect(png.length).toBeGreaterThan(1000);
    const img = decodePng(png);
    expect([img.width, img.height]).toEqual([width, height]);

    const pixel = (px: number, py: number): [number, number, number] => {
      const i = (Math.round(py) * img.width + Math.round(px)) * 4;
      return [img.rgba[i]!, img.rgba[i + 1]!, img.rgba[i + 2]!];
    };
    const near = (a: readonly number[], b: readonly number[]): boolean => a.every((v, k) => Math.abs(v - b[k]!) <= 24);
    const hex = (h: string): number[] => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));

    const shapes = labelledShapes(svg);
    expect(shapes.length).toBeGreaterThanOrEqual(6); // x, w, b, output, and at least dot/gemm and softmax
    for (const s of shapes) {
      let fill = 0;
      let dark = 0;
      let total = 0;
      for (let py = s.y + 3; py < s.y + s.h - 3; py++) {
        for (let px = s.x + 3; px < s.x + s.w - 3; px++) {
          const c = pixel(px, py);
          total++;
          if (near(c, hex(s.fill))) fill++;
          if (c[0] + c[1] + c[2] < 3 * 110) dark++;
        }
      }
      const where = `shape at (${s.x}, ${s.y}) filled ${s.fill}`;
      expect(fill / total, `${where}: its fill colour covers too little`).toBeGreaterThan(0.5);
      expect(dark, `${where}: no label drawn`).toBeGreaterThan(15);
      expect(dark / total, `${where}: mostly dark, not a label`).toBeLessThan(0.4);
    }
    // the background between shapes is white
    expect(near(pixel(2, 2), [255, 255, 255])).toBe(true);
  });
});
