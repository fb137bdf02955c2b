import { describe, expect, it } from "vitest";
import { lowerBound, minMaxDownsample, upperBound } from "../src/core/downsample";

function noisy(n: number) {
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = i;
    y[i] = Math.exp(-i / (n / 4)) + 0.1 * Math.sin(i * 12.9898);
  }
  return { x, y };
}

describe("binary search", () => {
  const x = Float64Array.of(0, 1, 1, 2, 5);
  it("finds bounds on non-decreasing x", () => {
    expect(lowerBound(x, 5, 1)).toBe(1);
    expect(upperBound(x, 5, 1)).toBe(3);
    expect(lowerBound(x, 5, -1)).toBe(0);
    expect(upperBound(x, 5, 9)).toBe(5);
    expect(lowerBound(x, 3, 9)).toBe(3);
  });
});

describe("minMaxDownsample", () => {
  it("returns short series unchanged (as a copy)", () => {
    const x = Float64Array.of(0, 1, 2);
    const y = Float64Array.of(1, NaN, 3);
    const out = minMaxDownsample(x, y, 3, null, 10);
    expect(Array.from(out.y)).toEqual([1, NaN, 3]);
    expect(out.y).not.toBe(y);
  });

  it("emits at most 2 points per bucket and keeps the global min and max", () => {
    const { x, y } = noisy(100_000);
    y[31_337] = 50;
    y[77_777] = -50;
    const out = minMaxDownsample(x, y, x.length, null, 500);
    expect(out.x.length).toBeLessThanOrEqual(2 * 500 + 2);
    expect(out.x.length).toBeGreaterThan(500);
    expect([out.x[0], out.x[out.x.length - 1]]).toEqual([0, 99_999]);
    expect(Math.max(...out.y)).toBe(50);
    expect(Math.min(...out.y)).toBe(-50);
    expect(out.x).toContain(31_337);
    for (let i = 1; i < out.x.length; i++) expect(out.x[i]).toBeGreaterThan(out.x[i - 1]);
  });

  it("keeps a non-finite value as a gap in its bucket", () => {
    const { x, y } = noisy(10_000);
    y[4242] = NaN;
    y[8000] = Infinity;
    y[9000] = -Infinity;
    const out = minMaxDownsample(x, y, x.length, null, 100);
    expect(out.x.length).toBeLessThanOrEqual(3 * 100 + 2);
    const bad = Array.from(out.y.keys()).filter((i) => !Number.isFinite(out.y[i]));
    expect(bad.map((i) => [out.x[i], out.y[i]])).toEqual([[4242, NaN], [8000, Infinity], [9000, -Infinity]]);
  });

  it("clips to the x-range, keeping one point beyond each end", () => {
    const { x, y } = noisy(100_000);
    const out = minMaxDownsample(x, y, x.length, [1000, 2000], 2000);
    expect(out.x[0]).toBe(999);
    expect(out.x[out.x.length - 1]).toBe(2001);
    expect(out.x.length).toBe(1003); // fits: every point kept
    const zoomed = minMaxDownsample(x, y, x.length, [1000, 50_000], 100);
    expect(zoomed.x[0]).toBe(999);
    expect(zoomed.x[zoomed.x.length - 1]).toBe(50_001);
    expect(zoomed.x.length).toBeLessThanOrEqual(2 * 100 + 2);
  });

  it("handles a range with no points and equal x values without throwing", () => {
    const { x, y } = noisy(1000);
    expect(minMaxDownsample(x, y, 1000, [5000, 6000], 10).x.length).toBe(1);
    const same = new Float64Array(100).fill(3);
    expect(minMaxDownsample(same, y.subarray(0, 100), 100, null, 10).x.length).toBeLessThanOrEqual(2 + 2);
  });

  it("downsamples a million points fast", () => {
    const { x, y } = noisy(1_000_000);
    const t = performance.now();
    const out = minMaxDownsample(x, y, x.length, null, 1000);
    expect(performance.now() - t).toBeLessThan(100);
    expect(out.x.length).toBeLessThanOrEqual(2 * 1000 + 2);
  });
});
