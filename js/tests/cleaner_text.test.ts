import { describe, expect, it } from "vitest";
import { formatCount, formatEta, formatLoss, formatProb, matchingText, pageText, progressText } from "../src/core/cardtext";

describe("card text", () => {
  it("formats counts with commas", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(0)).toBe("0");
    expect(formatCount(NaN)).toBe("0");
    expect(formatCount(undefined)).toBe("0");
  });

  it("formats probabilities as percentages", () => {
    expect(formatProb(0.873)).toBe("87%");
    expect(formatProb(1)).toBe("100%");
    expect(formatProb(0)).toBe("0%");
    expect(formatProb(null)).toBe("");
    expect(formatProb(NaN)).toBe("");
  });

  it("formats losses with two decimals", () => {
    expect(formatLoss(2.3149)).toBe("2.31");
    expect(formatLoss(0)).toBe("0.00");
    expect(formatLoss(Infinity)).toBe("inf");
    expect(formatLoss(NaN)).toBe("nan");
    expect(formatLoss(null)).toBe("");
  });

  it("formats ETAs", () => {
    expect(formatEta(12.4)).toBe("12 s");
    expect(formatEta(125)).toBe("2 min 5 s");
    expect(formatEta(3725)).toBe("1 h 2 min");
    expect(formatEta(-3)).toBe("0 s");
  });

  it("writes the progress line", () => {
    expect(progressText({ done: 1234, total: 10000, eta: 12 })).toBe("Computing losses: 1,234 / 10,000 · ETA 12 s");
    expect(progressText({ done: 5, total: 10, eta: null })).toBe("Computing losses: 5 / 10");
    expect(progressText({ done: 5, total: null, eta: null })).toBe("Computing losses: 5");
    expect(progressText({ done: 1, total: 2, eta: 1, label: "Embedding" })).toBe("Embedding: 1 / 2 · ETA 1 s");
  });

  it("writes the pager", () => {
    expect(pageText(0, 12)).toBe("page 1 of 12");
    expect(pageText(11, 12)).toBe("page 12 of 12");
    expect(pageText(0, 0)).toBe("page 1 of 1");
    expect(matchingText(120, 10000)).toBe("120 matching of 10,000 items");
    expect(matchingText(1, 1)).toBe("1 matching of 1 item");
  });
});
