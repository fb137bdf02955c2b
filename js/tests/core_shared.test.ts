import { describe, expect, it, vi } from "vitest";
import { formatEta } from "../src/core/cardtext";
import { setClass, setText } from "../src/core/dom";
import { isRecord } from "../src/core/guards";
import { normalizeView, DEFAULT_VIEW } from "../src/core/viewstate";

// lr_finder.ts imports Plotly, which needs a browser; its text helpers do not.
vi.mock("plotly.js-basic-dist-min", () => ({ default: {} }));

describe("isRecord (shared by the comm readers)", () => {
  it("accepts any non-null object, arrays included, and nothing else", () => {
    expect(isRecord({})).toBe(true);
    expect(isRecord({ a: 1 })).toBe(true);
    expect(isRecord([])).toBe(true);
    for (const v of [null, undefined, 0, "x", true]) expect(isRecord(v)).toBe(false);
  });

  it("viewstate keeps refusing arrays where it wants a JSON object", () => {
    const filters = Object.assign(["x"], { label: "cat", changed: true });
    expect(normalizeView({ filters }).filters).toEqual(DEFAULT_VIEW.filters);
    expect(normalizeView(Object.assign([], { page: 3 }))).toEqual(DEFAULT_VIEW);
  });
});

describe("ETA text, one helper for every progress line", () => {
  it("the LR finder's progress uses cardtext's formatEta", async () => {
    const { progressText } = await import("../src/lr_finder");
    const p = { done: 3, total: 10, state: "running" } as const;
    for (const eta of [4, 125, 3725]) {
      expect(progressText({ ...p, eta } as never)).toBe(`3 / 10 · ETA ${formatEta(eta)}`);
    }
    expect(progressText({ ...p, eta: 3725 } as never)).toBe("3 / 10 · ETA 1 h 2 min");
    expect(progressText({ ...p, eta: null } as never)).toBe("3 / 10");
  });
});

/** A stand-in element that counts DOM writes (the tests run without a DOM). */
function fakeNode(text: string, classes: string[] = []) {
  const set = new Set(classes);
  const node = {
    writes: 0,
    toggles: 0,
    _text: text,
    get textContent() {
      return this._text;
    },
    set textContent(v: string) {
      this.writes++;
      this._text = v;
    },
    classList: {
      contains: (c: string) => set.has(c),
      toggle: (c: string, on: boolean) => {
        node.toggles++;
        if (on) set.add(c);
        else set.delete(c);
        return on;
      },
    },
  };
  return node;
}

describe("setText / setClass", () => {
  it("write to the DOM only when something changes", () => {
    const n = fakeNode("a", ["x"]);
    const el = n as unknown as HTMLElement;
    setText(el, "a");
    expect(n.writes).toBe(0);
    setText(el, "<img src=x onerror=alert(1)>");
    expect(n.writes).toBe(1);
    expect(n.textContent).toBe("<img src=x onerror=alert(1)>");
    setClass(el, "x", true);
    expect(n.toggles).toBe(0);
    setClass(el, "x", false);
    setClass(el, "y", true);
    expect(n.toggles).toBe(2);
    expect(el.classList.contains("x")).toBe(false);
    expect(el.classList.contains("y")).toBe(true);
  });
});

describe("modelKey", () => {
  it("gives two proxies of one model the same key, so they share per-model state", async () => {
    const { modelKey } = await import("../src/core/widget");
    const state: Record<string, unknown> = { _fw_id: "abc" };
    const proxy = () => ({ get: (k: string) => state[k] }) as never;
    expect(modelKey(proxy())).toBe(modelKey(proxy()));
    const bare = { get: () => undefined } as never;
    expect(modelKey(bare)).toBe(bare); // no id: the object itself
  });
});
