import { describe, expect, it } from "vitest";
import { formatLr, logToPixel, nudgeLog, pixelToLog } from "../src/core/logaxis";

describe("formatLr", () => {
  it("uses exponent form below 1e-2, 2 significant digits", () => {
    expect(formatLr(3e-3)).toBe("3e-3");
    expect(formatLr(0.003)).toBe("3e-3");
    expect(formatLr(1.5e-4)).toBe("1.5e-4");
    expect(formatLr(1.4567e-4)).toBe("1.5e-4");
    expect(formatLr(2.0001e-5)).toBe("2e-5");
    expect(formatLr(9.1e-3)).toBe("9.1e-3");
    expect(formatLr(1e-10)).toBe("1e-10");
  });

  it("is plain from 1e-2 up", () => {
    expect(formatLr(0.05)).toBe("0.05");
    expect(formatLr(0.01)).toBe("0.01");
    expect(formatLr(0.0123)).toBe("0.012");
    expect(formatLr(0.15)).toBe("0.15");
    expect(formatLr(2.5)).toBe("2.5");
    expect(formatLr(123)).toBe("120");
  });

  it("rounds before choosing the form", () => {
    expect(formatLr(9.96e-3)).toBe("0.01");
    expect(formatLr(9.94e-3)).toBe("9.9e-3");
  });

  it("gives '' for nothing to format", () => {
    for (const v of [null, undefined, 0, -1e-3, NaN, Infinity]) expect(formatLr(v)).toBe("");
  });

  it("round-trips through Number", () => {
    for (const v of [3e-3, 1.5e-4, 0.05, 6.3e-7]) expect(Number(formatLr(v))).toBeCloseTo(v, 12);
  });
});

describe("log axis pixel math", () => {
  // plotly's log axis: _m = length / (r1 - r0), _b = -_m * r0, p2l(px) = (px - _b) / _m
  const plotlyP2l = (px: number, length: number, [r0, r1]: [number, number]) => {
    const m = length / (r1 - r0);
    const b = -m * r0;
    return (px - b) / m;
  };

  it("matches plotly's p2l", () => {
    const range: [number, number] = [-7, 1];
    for (const px of [0, 1, 123.4, 400, 800]) {
      expect(pixelToLog(px, 800, range)).toBeCloseTo(plotlyP2l(px, 800, range), 12);
    }
  });

  it("maps the ends of the plot area to the ends of the range", () => {
    expect(pixelToLog(0, 500, [-6, 0])).toBe(-6);
    expect(pixelToLog(500, 500, [-6, 0])).toBe(0);
    expect(10 ** pixelToLog(250, 500, [-6, 0])).toBeCloseTo(1e-3, 15);
  });

  it("logToPixel inverts pixelToLog", () => {
    const range: [number, number] = [-5.3, -0.7];
    for (const px of [0, 17, 333, 640]) expect(logToPixel(pixelToLog(px, 640, range), 640, range)).toBeCloseTo(px, 9);
  });

  it("survives degenerate geometry", () => {
    expect(pixelToLog(10, 0, [-3, -1])).toBe(-3);
    expect(logToPixel(-2, 100, [-2, -2])).toBe(0);
  });

  it("nudges by a fraction of a decade", () => {
    expect(nudgeLog(1e-3, 1 / 20)).toBeCloseTo(1e-3 * 10 ** 0.05, 15);
    let v = 1e-3;
    for (let i = 0; i < 20; i++) v = nudgeLog(v, 1 / 20);
    expect(v).toBeCloseTo(1e-2, 12);
    for (let i = 0; i < 20; i++) v = nudgeLog(v, -1 / 20);
    expect(v).toBeCloseTo(1e-3, 14);
  });
});
