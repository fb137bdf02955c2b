import { describe, expect, it } from "vitest";
import { changeView, DEFAULT_VIEW, normalizeView, pageSizeChoices, stepPage, toTrait, type CleanerView } from "../src/core/viewstate";

const view = (over: Partial<CleanerView> = {}): CleanerView => ({ ...normalizeView(DEFAULT_VIEW), ...over });

describe("normalizeView", () => {
  it("gives the defaults for nothing", () => {
    for (const raw of [null, undefined, {}, [], "x", 3]) expect(normalizeView(raw)).toEqual(DEFAULT_VIEW);
  });

  it("keeps valid fields and repairs bad ones", () => {
    const v = normalizeView({
      page: 3, page_size: 48, sort: "name", thumb_size: 999, mode: "pairs",
      filters: { label: "cat", split: "valid", pred: "", changed: true, broken: "yes" },
    });
    expect(v).toEqual({
      page: 3, page_size: 48, sort: "name", thumb_size: 256, mode: "pairs",
      filters: { label: "cat", split: "valid", pred: null, changed: true, broken: false },
    });
    expect(normalizeView({ sort: "bogus", page: -2, thumb_size: 10, mode: "x", filters: { split: "test" } })).toMatchObject({
      sort: "loss", page: 0, thumb_size: 48, mode: "grid", filters: { split: null },
    });
  });
});

describe("changeView", () => {
  it("resets the page on a filter, sort or page size change", () => {
    const v = view({ page: 4 });
    expect(changeView(v, { filters: { label: "dog" } })).toMatchObject({ page: 0, filters: { label: "dog", split: null } });
    expect(changeView(v, { filters: { changed: true } })?.page).toBe(0);
    expect(changeView(v, { sort: "name" })?.page).toBe(0);
    expect(changeView(v, { page_size: 96 })?.page).toBe(0);
  });

  it("keeps the page on a thumbnail size or mode change", () => {
    const v = view({ page: 4 });
    expect(changeView(v, { thumb_size: 64 })).toMatchObject({ page: 4, thumb_size: 64 });
    expect(changeView(v, { mode: "pairs" })).toMatchObject({ page: 4, mode: "pairs" });
  });

  it("merges filters key by key", () => {
    const v = view({ filters: { ...DEFAULT_VIEW.filters, label: "cat" } });
    expect(changeView(v, { filters: { split: "train" } })?.filters).toEqual({ ...DEFAULT_VIEW.filters, label: "cat", split: "train" });
  });

  it("is null when nothing changes", () => {
    const v = view({ page: 2, filters: { ...DEFAULT_VIEW.filters, label: "cat" } });
    expect(changeView(v, {})).toBeNull();
    expect(changeView(v, { filters: { label: "cat" } })).toBeNull();
    expect(changeView(v, { page: 2, sort: "loss" })).toBeNull();
  });

  it("does not touch its input", () => {
    const v = view({ page: 4 });
    const copy = JSON.parse(JSON.stringify(v));
    changeView(v, { filters: { label: "dog" }, sort: "name" });
    expect(v).toEqual(copy);
  });
});

describe("stepPage", () => {
  it("moves within the pages", () => {
    expect(stepPage(view({ page: 0 }), 1, 5)?.page).toBe(1);
    expect(stepPage(view({ page: 3 }), -1, 5)?.page).toBe(2);
  });

  it("is null at either end", () => {
    expect(stepPage(view({ page: 0 }), -1, 5)).toBeNull();
    expect(stepPage(view({ page: 4 }), 1, 5)).toBeNull();
    expect(stepPage(view({ page: 0 }), 1, 1)).toBeNull();
    expect(stepPage(view({ page: 0 }), 1, 0)).toBeNull();
  });

  it("pulls a page past the end back in", () => {
    expect(stepPage(view({ page: 9 }), 1, 5)?.page).toBe(4);
  });
});

describe("toTrait", () => {
  it("keeps keys this frontend does not know", () => {
    const current = { ...DEFAULT_VIEW, extra: 1, filters: { ...DEFAULT_VIEW.filters, future: "x" } };
    const out = toTrait(view({ page: 2 }), current);
    expect(out).toMatchObject({ page: 2, extra: 1, filters: { future: "x", label: null } });
  });

  it("writes a plain view over nothing", () => {
    expect(toTrait(view(), null)).toEqual(DEFAULT_VIEW);
  });
});

describe("pageSizeChoices", () => {
  it("adds the current size when it is not a usual one", () => {
    expect(pageSizeChoices(24)).toEqual([12, 24, 48, 96, 200]);
    expect(pageSizeChoices(30)).toEqual([12, 24, 30, 48, 96, 200]);
  });
});
