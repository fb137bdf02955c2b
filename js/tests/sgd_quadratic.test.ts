import { describe, expect, it } from "vitest";
import { contourBox, lossAt, lossRange, paddedRange, parsePoint, parseQuad, snap, steadyBox, type Box, type Quad } from "../src/core/quadratic";

// the lesson's surface in round numbers: x ~ U(-1, 1) with a column of ones, y = 3x + 2
// (no noise): A = E[[x², x], [x, 1]] = [[1/3, 0], [0, 1]], b = A·(3, 2), c = E[y²] = 3 + 4
const Q: Quad = { A: [[1 / 3, 0], [0, 1]], b: [1, 2], c: 7 };

describe("lossAt", () => {
  it("is aᵀAa − 2bᵀa + c", () => {
    expect(lossAt(Q, 3, 2)).toBeCloseTo(0, 12); // the minimum, no noise
    expect(lossAt(Q, 0, 0)).toBe(7);
    // start (-1, 1): 1/3 + 1 − 2(−1 + 2) + 7
    expect(lossAt(Q, -1, 1)).toBeCloseTo(1 / 3 + 1 - 2 + 7, 12);
  });

  it("uses both off-diagonal entries", () => {
    const q: Quad = { A: [[1, 0.5], [0.25, 2]], b: [0, 0], c: 0 };
    expect(lossAt(q, 1, 1)).toBeCloseTo(1 + 0.75 + 2, 12);
  });
});

describe("parseQuad / parsePoint", () => {
  it("accepts what Python sends", () => {
    expect(parseQuad({ A: [[1, 0], [0, 1]], b: [1, 2], c: 3 })).toEqual({ A: [[1, 0], [0, 1]], b: [1, 2], c: 3 });
    expect(parsePoint([-1, 1])).toEqual([-1, 1]);
  });

  it("refuses junk", () => {
    for (const v of [null, undefined, {}, { A: [[1, 0]], b: [1, 2], c: 3 }, { A: [[1, NaN], [0, 1]], b: [1, 2], c: 3 },
      { A: [[1, 0], [0, 1]], b: [1], c: 3 }, { A: [[1, 0], [0, 1]], b: [1, 2], c: null }]) {
      expect(parseQuad(v)).toBeNull();
    }
    for (const v of [null, [1], [1, NaN], [1, "2"], "1,2"]) expect(parsePoint(v)).toBeNull();
  });
});

describe("contourBox", () => {
  it("covers the minimum and the start, padded", () => {
    const box = contourBox([3, 2.5], [-1, 1], [])!;
    expect(box.x[0]).toBeLessThan(-1);
    expect(box.x[1]).toBeGreaterThan(3);
    expect(box.y[0]).toBeLessThan(1);
    expect(box.y[1]).toBeGreaterThan(2.5);
    // padding: a quarter of the larger side (4), plus 3% of the result
    expect(box.x[0]).toBeCloseTo(-2 - 0.03 * 6, 9);
    expect(box.y[1]).toBeCloseTo(3.5 + 0.03 * 3.5, 9);
  });

  it("takes in trajectory points near the box", () => {
    const box = contourBox([3, 2.5], [-1, 1], [{ a1: [-1, 5, 3], a2: [1, 4.5, 2.5] }])!;
    expect(box.x[1]).toBeGreaterThan(5);
    expect(box.y[1]).toBeGreaterThan(4.5);
  });

  it("leaves out a diverging run's far points (they shoot off the chart)", () => {
    const far = { a1: [-1, 40, -1e3, 1e6, NaN], a2: [1, -50, 1e4, -1e6, Infinity] };
    const near = contourBox([3, 2.5], [-1, 1], [])!;
    expect(contourBox([3, 2.5], [-1, 1], [far])).toEqual(near); // not said: as diverged
    expect(contourBox([3, 2.5], [-1, 1], [{ ...far, divergedAt: 4 }])).toEqual(near);
  });

  it("keeps every point of a converging run in view, however wide its loops", () => {
    // momentum with β near 1 swings far past the minimum and comes back: not a divergence
    const loop = { a1: [-1, 30, -20, 10, 3], a2: [1, -25, 18, -4, 2.5], divergedAt: null };
    const box = contourBox([3, 2.5], [-1, 1], [loop])!;
    expect(box.x[0]).toBeLessThan(-20);
    expect(box.x[1]).toBeGreaterThan(30);
    expect(box.y[0]).toBeLessThan(-25);
    expect(box.y[1]).toBeGreaterThan(18);
    // the same points from a run that diverged: only those within reach count
    const wild = contourBox([3, 2.5], [-1, 1], [{ ...loop, divergedAt: 3 }])!;
    expect(wild.x[1]).toBeLessThan(30);
    expect(wild.y[0]).toBeGreaterThan(-25);
  });

  it("takes in a converged run and leaves out a diverged one, side by side", () => {
    const converged = { a1: [-1, 25, 3], a2: [1, 2, 2.5], divergedAt: null };
    const diverged = { a1: [-1, -80, 1e6], a2: [1, 90, -1e6], divergedAt: 2 };
    const box = contourBox([3, 2.5], [-1, 1], [converged, diverged])!;
    expect(box.x[1]).toBeGreaterThan(25);
    expect(box).toEqual(contourBox([3, 2.5], [-1, 1], [converged]));
  });

  it("takes the run objects of the view as they are (their divergedAt says it)", () => {
    // sgd.ts passes its RunData (a1, a2, divergedAt and more): structurally a Path
    const run = { key: "r0", label: "SGD", a1: new Float64Array([-1, 40]), a2: new Float64Array([1, 2]), divergedAt: null };
    expect(contourBox([3, 2.5], [-1, 1], [run])!.x[1]).toBeGreaterThan(40);
  });

  it("ignores non-finite points of a converged run", () => {
    const odd = { a1: [-1, NaN, Infinity], a2: [1, 2, 2], divergedAt: null };
    expect(contourBox([3, 2.5], [-1, 1], [odd])).toEqual(contourBox([3, 2.5], [-1, 1], []));
  });

  it("gives a start on the minimum a box of its own scale", () => {
    const box = contourBox([3, 2], [3, 2], [])!;
    expect(box.x[1] - box.x[0]).toBeGreaterThan(0.5);
    expect(box.y[1] - box.y[0]).toBeGreaterThan(0.5);
    expect(contourBox([0, 0], null, [])!.x[1]).toBeGreaterThan(0);
  });

  it("is null without anything to show", () => {
    expect(contourBox(null, null, [])).toBeNull();
  });
});

describe("steadyBox", () => {
  const prev: Box = { x: [-2, 4], y: [0, 4] };

  it("keeps the box shown while the new one fits inside and fills most of it", () => {
    expect(steadyBox(prev, { x: [-1.5, 3.8], y: [0.2, 3.5] })).toBe(prev);
  });

  it("takes the new box when a point would fall outside", () => {
    const next: Box = { x: [-2.5, 4], y: [0, 4] };
    expect(steadyBox(prev, next)).toBe(next);
  });

  it("takes the new box when it is much smaller (the runs moved in)", () => {
    const next: Box = { x: [0, 2], y: [1, 3] };
    expect(steadyBox(prev, next)).toBe(next);
  });

  it("takes the new box when there is none yet", () => {
    expect(steadyBox(null, prev)).toBe(prev);
  });
});

describe("paddedRange / lossRange", () => {
  it("pads the finite values", () => {
    expect(paddedRange([0, 10, NaN, Infinity], 0.1)).toEqual([-1, 11]);
    expect(paddedRange([2, 2])).toEqual([1, 3]);
    expect(paddedRange([])).toBeNull();
  });

  it("linear: 0 to the highest loss of the runs that converge, at most 10× the start", () => {
    const ok = { loss: [8, 4, 1], diverged: false };
    const wild = { loss: [8, 40, 1e9], diverged: true };
    expect(lossRange([ok, wild], false)).toEqual([0, 8 * 1.05]);
    const overshoot = { loss: [8, 200, 1], diverged: false };
    expect(lossRange([overshoot], false)![1]).toBeCloseTo(80 * 1.05, 9);
    expect(lossRange([wild], false)).toEqual([0, 8 * 1.05]);
    expect(lossRange([], false)).toBeNull();
  });

  it("log: every positive finite loss, in log10 units", () => {
    const r = lossRange([{ loss: [10, 1, 0.01, 0, NaN], diverged: false }, { loss: [10, 1e6], diverged: true }], true)!;
    expect(r[0]).toBeCloseTo(-2 - 0.4, 9);
    expect(r[1]).toBeCloseTo(6 + 0.4, 9);
    expect(lossRange([{ loss: [0, -1], diverged: false }], true)).toBeNull();
  });
});

describe("snap", () => {
  it("rounds to about a pixel of the span", () => {
    expect(snap(-0.98765, 5)).toBe(-0.99);
    expect(snap(1.23456, 50)).toBe(1.2);
    expect(snap(0.0123456, 0.05)).toBe(0.0123);
    expect(snap(7.7, 5000)).toBe(8);
  });

  it("leaves odd input alone", () => {
    expect(snap(1.2345, 0)).toBe(1.2345);
    expect(snap(NaN, 5)).toBeNaN();
  });
});
