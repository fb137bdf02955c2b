import { describe, expect, it } from "vitest";
import fixtures from "./fixtures/ema.json";
import { ema, IncrementalEma } from "../src/core/smooth";

type Num = number | string;
const num = (v: Num): number => (typeof v === "number" ? v : Number(v)); // "NaN", "Infinity", "-Infinity"

/** Equal as floats: same non-finite value, or within 1e-12 relative (pow may differ by an ulp across languages). */
function expectClose(actual: ArrayLike<number>, expected: number[]) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(e)) expect(a).toBe(e);
    else expect(Math.abs(a - e)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(e)));
  }
}

describe("ema (TensorBoard rules)", () => {
  it("matches a hand computation", () => {
    // w = 0.6: last = 0.4, 0.4*0.6 + 0.4*2 = 1.04; debias 1 - 0.6 = 0.4, 1 - 0.36 = 0.64
    expectClose(ema([1, 2], 0.6), [0.4 / 0.4, 1.04 / 0.64]);
  });

  it("returns a constant series as is", () => {
    expect(Array.from(ema([2, 2, 2], 0.9))).toEqual([2, 2, 2]);
  });

  it("passes non-finite values through without updating the state", () => {
    const out = ema([1, NaN, Infinity, 2], 0.6);
    expect(out[1]).toBeNaN();
    expect(out[2]).toBe(Infinity);
    expect(out[3]).toBeCloseTo(1.04 / 0.64, 12);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))("matches the shared fixture: %s", (_, f) => {
    expectClose(ema(f.input.map(num), f.weight), f.expected.map(num));
  });
});

describe("IncrementalEma", () => {
  it.each(fixtures.map((f) => [f.name, f] as const))("equals ema() bit for bit when fed one point at a time: %s", (_, f) => {
    const ys = Float64Array.from(f.input.map(num));
    const inc = new IncrementalEma();
    for (let n = 1; n <= ys.length; n++) {
      expect(Array.from(inc.update(ys, n, f.weight, 1))).toEqual(Array.from(ema(ys.subarray(0, n), f.weight)));
    }
  });

  it("recomputes when the weight or the generation changes", () => {
    const ys = Float64Array.of(1, 5, 2, 8, 3);
    const inc = new IncrementalEma();
    inc.update(ys, 5, 0.6, 1);
    expect(Array.from(inc.update(ys, 5, 0.9, 1))).toEqual(Array.from(ema(ys, 0.9)));
    const replaced = Float64Array.of(4, 4, 1);
    expect(Array.from(inc.update(replaced, 3, 0.9, 2))).toEqual(Array.from(ema(replaced, 0.9)));
  });

  it("smooths a million points quickly, in chunks", () => {
    const n = 1_000_000;
    const ys = new Float64Array(n);
    for (let i = 0; i < n; i++) ys[i] = Math.exp(-i / 2e5) + Math.sin(i);
    const inc = new IncrementalEma();
    const t = performance.now();
    let out: Float64Array = new Float64Array();
    for (let k = 100_000; k <= n; k += 100_000) out = inc.update(ys, k, 0.98, 1);
    expect(performance.now() - t).toBeLessThan(500);
    const ref = ema(ys, 0.98);
    let mismatches = 0;
    for (let i = 0; i < n; i++) if (!Object.is(out[i], ref[i])) mismatches++;
    expect(mismatches).toBe(0);
  });
});
