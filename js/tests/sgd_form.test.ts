import { describe, expect, it } from "vitest";
import {
  formatLimit, formatNumber, lrToSlider, MAX_N, MAX_RUNS, MAX_STEPS, nextCompare, parseBatch, parseCompare, parseLr, parseMomentum, parseN,
  parseNoiseScale, parseSeed, parseSteps, sliderFraction, sliderToLr,
} from "../src/core/sgdform";

describe("lr slider", () => {
  it("maps log10 positions to lrs of 3 significant digits", () => {
    expect(sliderToLr(-1)).toBe(0.1);
    expect(sliderToLr(-3)).toBe(0.001);
    expect(sliderToLr(1)).toBe(10);
    expect(sliderToLr(-0.82)).toBe(0.151);
    expect(sliderToLr(Math.log10(1.5))).toBe(1.5);
  });

  it("clamps to 1e-3 … 10", () => {
    expect(sliderToLr(-7)).toBe(0.001);
    expect(sliderToLr(3)).toBe(10);
    expect(lrToSlider(1e-6)).toBe(-3);
    expect(lrToSlider(100)).toBe(1);
    expect(lrToSlider(0.1)).toBeCloseTo(-1, 12);
    for (const v of [0, -1, NaN, null, "0.1"]) expect(lrToSlider(v)).toBe(-3);
  });

  it("round-trips", () => {
    for (const lr of [0.001, 0.003, 0.1, 0.5, 1, 2.5, 10]) expect(sliderToLr(lrToSlider(lr))).toBe(lr);
  });

  it("places the stability limit along the slider", () => {
    expect(sliderFraction(1)).toBeCloseTo(0.75, 12);
    expect(sliderFraction(0.001)).toBe(0);
    expect(sliderFraction(10)).toBe(1);
    expect(sliderFraction(20)).toBeNull();
    expect(sliderFraction(1e-4)).toBeNull();
    for (const v of [0, NaN, null, undefined]) expect(sliderFraction(v)).toBeNull();
  });
});

describe("formats", () => {
  it("formatNumber keeps significant digits, drops trailing zeros", () => {
    expect(formatNumber(0.1)).toBe("0.1");
    expect(formatNumber(0.15135612)).toBe("0.151");
    expect(formatNumber(1.005, 4)).toBe("1.005");
    expect(formatNumber(NaN)).toBe("");
  });

  it("formatLimit shows 3 significant digits, the text of Python's format_limit", () => {
    // the same cases as tests/test_sgd_math.py::test_format_limit_has_three_significant_digits
    const cases: [number, string][] = [
      [0.998477, "0.998"], [1.0, "1"], [0.0285, "0.0285"], [2 / 3, "0.667"], [1.8971, "1.9"],
      [1234, "1230"], [99.95, "100"], [1.125, "1.13"], [1e-7, "1e-7"], [1.5e21, "1.5e+21"],
      [0, ""], [-1, ""], [Infinity, ""], [NaN, ""],
    ];
    for (const [v, text] of cases) expect(formatLimit(v)).toBe(text);
  });
});

describe("local checks of typed values", () => {
  const ok = <T>(v: T) => ({ ok: true, value: v });

  it("lr: a positive number", () => {
    expect(parseLr("0.1")).toEqual(ok(0.1));
    expect(parseLr(" 1e-3 ")).toEqual(ok(0.001));
    for (const t of ["0", "-1", "", "abc", "inf", "NaN"]) expect(parseLr(t).ok).toBe(false);
    const p = parseLr("-1");
    expect(!p.ok && p.message).toMatch(/lr must be a positive number/);
  });

  it("n: a whole number 2 … 10,000, not below the batch size", () => {
    expect(parseN("100", null)).toEqual(ok(100));
    expect(parseN("2", null)).toEqual(ok(2));
    expect(parseN("10000", null)).toEqual(ok(10000));
    for (const t of ["1", "0", "-5", "2.5", "", "x", "10001", "1e6"]) expect(parseN(t, null).ok).toBe(false);
    const big = parseN("10001", null);
    expect(!big.ok && big.message).toMatch(/from 2 to 10,000/);
    expect(parseN("20", 10)).toEqual(ok(20));
    const p = parseN("5", 10);
    // the words of Python's check_settings(changed="n")
    expect(!p.ok && p.message).toMatch(/^n must be at least batch_size = 10, got 5/);
  });

  it("batch size: full or 1…n", () => {
    for (const t of ["", "full", "Full", " all "]) expect(parseBatch(t, 100)).toEqual(ok(null));
    expect(parseBatch("10", 100)).toEqual(ok(10));
    expect(parseBatch("100", 100)).toEqual(ok(100));
    for (const t of ["101", "0", "-1", "1.5", "x"]) expect(parseBatch(t, 100).ok).toBe(false);
    const p = parseBatch("200", 100);
    expect(!p.ok && p.message).toMatch(/n = 100/);
  });

  it("steps: 1 … 10,000", () => {
    expect(parseSteps("100")).toEqual(ok(100));
    expect(parseSteps("10000")).toEqual(ok(10000));
    for (const t of ["0", "10001", "1.5", ""]) expect(parseSteps(t).ok).toBe(false);
    const p = parseSteps("0");
    expect(!p.ok && p.message).toMatch(/^steps must be a whole number from 1 to 10,000/);
  });

  it("limits: Python's (tests/test_sgd_math.py reads these lines)", () => {
    expect([MAX_RUNS, MAX_STEPS, MAX_N]).toEqual([3, 10_000, 10_000]);
  });

  it("seed: a whole number ≥ 0", () => {
    expect(parseSeed("42")).toEqual(ok(42));
    expect(parseSeed("0")).toEqual(ok(0));
    for (const t of ["-1", "1.5", "", "x"]) expect(parseSeed(t).ok).toBe(false);
  });

  it("momentum: 0 ≤ β < 1", () => {
    expect(parseMomentum("0.9")).toEqual(ok(0.9));
    expect(parseMomentum("0")).toEqual(ok(0));
    for (const t of ["1", "-0.1", "1.5", ""]) expect(parseMomentum(t).ok).toBe(false);
  });

  it("noise scale: empty for the default, else ≥ 0", () => {
    expect(parseNoiseScale("")).toEqual(ok(null));
    expect(parseNoiseScale("0.25")).toEqual(ok(0.25));
    expect(parseNoiseScale("0")).toEqual(ok(0));
    for (const t of ["-1", "x"]) expect(parseNoiseScale(t).ok).toBe(false);
  });
});

describe("compare runs", () => {
  it("adds the first optimizer not shown, at the main run's lr", () => {
    expect(nextCompare("sgd", [], 0.1, 0.9)).toEqual({ optimizer: "momentum", lr: 0.1, momentum: 0.9 });
    expect(nextCompare("sgd", [{ optimizer: "momentum", lr: 0.1, momentum: 0.9 }], 0.2, 0.8).optimizer).toBe("adam");
    expect(nextCompare("adam", [{ optimizer: "sgd", lr: 0.1, momentum: 0.9 }], 0.1, 0.9).optimizer).toBe("momentum");
  });

  it("cleans the trait: at most two, known optimizers, sane numbers", () => {
    expect(parseCompare(null)).toEqual([]);
    const runs = parseCompare([
      { optimizer: "adam", lr: 0.01, momentum: 0.9 },
      { optimizer: "rmsprop", lr: -1, momentum: "x" },
      { optimizer: "sgd", lr: 1, momentum: 0 },
    ]);
    expect(runs).toEqual([
      { optimizer: "adam", lr: 0.01, momentum: 0.9 },
      { optimizer: "sgd", lr: 0.1, momentum: 0.9 },
    ]);
  });
});
