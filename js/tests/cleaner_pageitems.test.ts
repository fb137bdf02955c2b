import { describe, expect, it } from "vitest";
import { readClasses, readCounts, readItems, readPageInfo, readPairs, readRunning } from "../src/core/pageitems";

describe("readItems", () => {
  it("reads cards and fills missing fields", () => {
    const items = readItems([
      { i: 3, name: "cat/1.png", label: "cat", new_label: "dog", deleted: true, split: "valid", loss: 2.5, pred: "dog", prob: 0.9, broken: null },
      { i: 4, name: "<img src=x onerror=alert(1)>.png", label: "cat" },
      { name: "no index" },
      { i: -1 },
      { i: "5" },
      null,
    ]);
    expect(items).toEqual([
      { i: 3, name: "cat/1.png", label: "cat", new_label: "dog", deleted: true, split: "valid", loss: 2.5, pred: "dog", prob: 0.9, broken: null },
      { i: 4, name: "<img src=x onerror=alert(1)>.png", label: "cat", new_label: null, deleted: false, split: "", loss: null, pred: null, prob: null, broken: null },
    ]);
    expect(readItems(null)).toEqual([]);
    expect(readItems({})).toEqual([]);
  });

  it("keeps the broken reason as text", () => {
    expect(readItems([{ i: 0, broken: "truncated" }])[0].broken).toBe("truncated");
  });
});

describe("readPageInfo / readCounts / readRunning", () => {
  it("reads the pager, or makes one from the page", () => {
    expect(readPageInfo({ page: 2, pages: 5, matching: 100, total: 1000 }, 24)).toEqual({ page: 2, pages: 5, matching: 100, total: 1000 });
    expect(readPageInfo(null, 7)).toEqual({ page: 0, pages: 1, matching: 7, total: 7 });
    expect(readPageInfo({}, 7)).toEqual({ page: 0, pages: 1, matching: 0, total: 0 });
  });

  it("reads counts", () => {
    expect(readCounts({ kept: 5, relabelled: 2, deleted: 1, broken: 3, total: 8 })).toEqual({ kept: 5, relabelled: 2, deleted: 1, broken: 3, total: 8 });
    expect(readCounts(null)).toEqual({ kept: 0, relabelled: 0, deleted: 0, broken: 0, total: 0 });
  });

  it("reads progress only while running", () => {
    expect(readRunning({ done: 10, total: 100, eta: 3.5, state: "running" })).toEqual({ done: 10, total: 100, eta: 3.5, state: "running" });
    expect(readRunning({ done: 0, total: null, eta: null, state: "running" })).toEqual({ done: 0, total: null, eta: null, state: "running" });
    expect(readRunning({ done: 100, total: 100, eta: 0, state: "done" })).toBeNull();
    expect(readRunning(null)).toBeNull();
  });
});

describe("readPairs / readClasses", () => {
  it("reads pairs, with unknown verdicts as none", () => {
    const pairs = readPairs([
      { a: 1, b: 2, a_name: "a.png", b_name: "b.png", similarity: 0.99, kind: "near", leak: true, verdict: "keep_both" },
      { a: 3, b: 4, a_name: "c.png", b_name: "d.png", similarity: 1, kind: "exact", leak: false, verdict: "bogus" },
      { a: 5 },
    ]);
    expect(pairs).toEqual([
      { a: 1, b: 2, a_name: "a.png", b_name: "b.png", similarity: 0.99, kind: "near", leak: true, verdict: "keep_both" },
      { a: 3, b: 4, a_name: "c.png", b_name: "d.png", similarity: 1, kind: "exact", leak: false, verdict: null },
    ]);
  });

  it("reads classes as strings", () => {
    expect(readClasses(["cat", "dog"])).toEqual(["cat", "dog"]);
    expect(readClasses(null)).toEqual([]);
  });
});
