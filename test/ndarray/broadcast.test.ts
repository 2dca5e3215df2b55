/**
 * Shape broadcasting (src/ndarray/broadcast.ts): NumPy's rule on concrete shapes
 * (`np.broadcast_shapes`), and Theano's static rule for graph types, where `null` is an unknown
 * size that never stretches and a conflict between known sizes is a ShapeError at build time.
 */

import { describe, expect, it } from "vitest";
import { ShapeError, TheanoError, broadcastShapes } from "../../src/index.js";
import { broadcastStatic } from "../../src/ndarray/broadcast.js";

describe("broadcastShapes (NumPy)", () => {
  // [shapes, np.broadcast_shapes(*shapes)]
  const ok: Array<[number[][], number[]]> = [
    [[], []],
    [[[]], []],
    [[[], [3]], [3]],
    [[[2, 3], [3]], [2, 3]],
    [[[2, 1], [1, 3]], [2, 3]],
    [[[4, 1, 3], [5, 1], [1]], [4, 5, 3]],
    [[[1], [7]], [7]],
    [[[0], [1]], [0]],
    [[[2, 0], [0]], [2, 0]],
    [[[1, 1, 1], [1]], [1, 1, 1]],
    [[[8, 1, 6, 1], [7, 1, 5]], [8, 7, 6, 5]],
    [[[3], [3], [3]], [3]],
  ];
  for (const [shapes, expected] of ok) {
    it(`${JSON.stringify(shapes)} -> ${JSON.stringify(expected)}`, () => {
      expect(broadcastShapes(...shapes)).toEqual(expected);
    });
  }

  const bad: number[][][] = [
    [[2], [3]],
    [[2, 3], [2]],
    [[0], [3]],
    [[3], [0]],
    [[4, 1, 3], [5, 1], [2]],
  ];
  for (const shapes of bad) {
    it(`${JSON.stringify(shapes)} raises ShapeError`, () => {
      expect(() => broadcastShapes(...shapes)).toThrow(ShapeError);
      expect(() => broadcastShapes(...shapes)).toThrow(TheanoError);
    });
  }

  it("the message names the shapes and the axis", () => {
    expect(() => broadcastShapes([2, 3], [4, 3])).toThrow(/shapes \(2, 3\) and \(4, 3\) cannot be broadcast together \(axis 0: 2 vs 4\)/);
    expect(() => broadcastShapes([2], [3])).toThrow(/\(2,\) and \(3,\)/);
  });

  it("does not modify its arguments", () => {
    const a = [2, 1];
    broadcastShapes(a, [2, 5]);
    expect(a).toEqual([2, 1]);
  });
});

describe("broadcastStatic (Theano's static shapes)", () => {
  it("a static 1 broadcasts against anything, known or unknown", () => {
    expect(broadcastStatic([1, 3], [4, 1])).toEqual([4, 3]);
    expect(broadcastStatic([1], [null])).toEqual([null]);
    expect(broadcastStatic([null], [1])).toEqual([null]);
    expect(broadcastStatic([1, 1], [1])).toEqual([1, 1]);
    expect(broadcastStatic([1], [0])).toEqual([0]);
  });

  it("unknown meets unknown: unknown; unknown meets a known size: that size", () => {
    expect(broadcastStatic([null, null], [null, null])).toEqual([null, null]);
    expect(broadcastStatic([null, 3], [5, null])).toEqual([5, 3]);
    expect(broadcastStatic([5], [null])).toEqual([5]);
    expect(broadcastStatic([null], [5], [null])).toEqual([5]);
  });

  it("lower ranks are padded on the left with 1s (broadcastable)", () => {
    expect(broadcastStatic([null, null], [3])).toEqual([null, 3]);
    expect(broadcastStatic([2, null, 4], [null, 1])).toEqual([2, null, 4]);
    expect(broadcastStatic([], [null])).toEqual([null]);
    expect(broadcastStatic()).toEqual([]);
  });

  it("two known sizes that differ (neither 1) conflict at build time", () => {
    expect(() => broadcastStatic([2], [3])).toThrow(ShapeError);
    expect(() => broadcastStatic([null, 2], [5, 3])).toThrow(/static shapes \(\?, 2\) and \(5, 3\) cannot be broadcast together \(axis 1: 2 vs 3\)/);
    expect(() => broadcastStatic([5], [null], [6])).toThrow(ShapeError);
    expect(() => broadcastStatic([0], [2])).toThrow(ShapeError);
  });
});
