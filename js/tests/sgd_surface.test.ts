import { describe, expect, it } from "vitest";
import { lossAt, type Box, type Quad } from "../src/core/quadratic";
import { levelStep, surfacePixels, SURFACE_STYLE } from "../src/core/surface";

// L(a) = |a|²: z = sqrt(L) = |a|, the distance to the origin, so the levels are circles
const BOWL: Quad = { A: [[1, 0], [0, 1]], b: [0, 0], c: 0 };
const BOX: Box = { x: [-1, 1], y: [-1, 1] };

const rgb = (px: Uint8ClampedArray, w: number, i: number, j: number) => Array.from(px.slice(4 * (j * w + i), 4 * (j * w + i) + 3));
const brightness = (c: number[]) => c[0] + c[1] + c[2];

describe("levelStep", () => {
  it("is a round number near span / count", () => {
    expect(levelStep(1, 10)).toBe(0.1);
    expect(levelStep(18, 18)).toBe(1);
    expect(levelStep(3.3, 18)).toBe(0.2);
    expect(levelStep(4.4, 18)).toBe(0.25);
    expect(levelStep(700, 18)).toBe(50);
  });

  it("falls back to 1 for an empty or broken span", () => {
    expect(levelStep(0, 18)).toBe(1);
    expect(levelStep(NaN, 18)).toBe(1);
    expect(levelStep(Infinity, 18)).toBe(1);
  });
});

describe("surfacePixels", () => {
  const W = 101;
  const px = surfacePixels(BOWL, BOX, [0, 0], W, W);

  it("is width × height opaque RGBA pixels", () => {
    expect(px).toHaveLength(W * W * 4);
    for (let k = 3; k < px.length; k += 4) expect(px[k]).toBe(255);
  });

  it("fills the lowest band at the minimum with the low colour's end", () => {
    const centre = rgb(px, W, 50, 50);
    const far = rgb(px, W, 0, 10); // |a| ≈ 1.27: between the lines at 1.2 and 1.3
    expect(brightness(centre)).toBeLessThan(brightness(far)); // low is the darker blue
    for (let c = 0; c < 3; c++) expect(Math.abs(centre[c] - SURFACE_STYLE.low[c])).toBeLessThan(12);
  });

  it("is symmetric like the bowl", () => {
    for (const [i, j] of [[10, 30], [25, 70], [3, 48]]) {
      expect(rgb(px, W, i, j)).toEqual(rgb(px, W, W - 1 - i, j));
      expect(rgb(px, W, i, j)).toEqual(rgb(px, W, i, W - 1 - j));
    }
  });

  it("draws a line on each level: a pixel on a circle |a| = level is darker than its band", () => {
    // zmax = √2 at the corners: step 0.1, so circles at 0.1, 0.2, ...; along the row
    // through the centre the pixel centres are at a1 = -1 + (i + 0.5)·2/101
    const a1 = (i: number) => -1 + ((i + 0.5) * 2) / W;
    const onLine = Array.from({ length: W }, (_, i) => i).find((i) => Math.abs(Math.abs(a1(i)) - 0.5) < 0.005)!;
    expect(onLine).toBeDefined();
    const line = rgb(px, W, onLine, 50);
    // two pixels towards the centre: inside the same band's neighbour, off the line
    const off = rgb(px, W, onLine + (a1(onLine) < 0 ? 2 : -2), 50);
    expect(brightness(line)).toBeLessThan(brightness(off) - 30);
  });

  it("puts row 0 at the box's top (a2 = box.y[1])", () => {
    // a tilted bowl whose minimum is in the top left: the top-left pixel is the low one
    const q: Quad = { A: [[1, 0], [0, 1]], b: [-0.9, 0.9], c: lossAt(BOWL, 0, 0) };
    const p = surfacePixels(q, BOX, [-0.9, 0.9], 50, 50);
    expect(brightness(rgb(p, 50, 2, 2))).toBeLessThan(brightness(rgb(p, 50, 47, 47)));
  });

  it("never writes NaN: a flat surface (singular A) and no minimum are one band", () => {
    const flat: Quad = { A: [[0, 0], [0, 0]], b: [0, 0], c: 5 };
    const p = surfacePixels(flat, BOX, null, 20, 10);
    expect(p).toHaveLength(20 * 10 * 4);
    const first = rgb(p, 20, 0, 0);
    for (let j = 0; j < 10; j++) for (let i = 0; i < 20; i++) expect(rgb(p, 20, i, j)).toEqual(first);
  });
});
