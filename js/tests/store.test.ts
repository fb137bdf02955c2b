import { describe, expect, it } from "vitest";
import type { SeriesChunk } from "../src/core/protocol";
import { SeriesStore } from "../src/core/store";

function chunk(name: string, start: number, ys: number[]): SeriesChunk {
  return { name, start, x: Float64Array.from(ys, (_, i) => start + i), y: Float64Array.from(ys) };
}

function setup() {
  let t = 0;
  let requests = 0;
  const store = new SeriesStore({ requestResync: () => requests++, now: () => t });
  return { store, requests: () => requests, advance: (ms: number) => (t += ms) };
}

describe("SeriesStore", () => {
  it("appends in order and bumps the version", () => {
    const { store, requests } = setup();
    store.applyDelta([chunk("loss", 0, [3, 2])]);
    store.applyDelta([chunk("loss", 2, [1])]);
    const s = store.get("loss")!;
    expect(Array.from(s.ys)).toEqual([3, 2, 1]);
    expect(Array.from(s.xs)).toEqual([0, 1, 2]);
    expect(s.count).toBe(3);
    expect(store.version).toBe(2);
    expect(requests()).toBe(0);
  });

  it("grows past its initial capacity", () => {
    const { store } = setup();
    for (let i = 0; i < 100; i++) store.applyDelta([chunk("a", i, [i])]);
    expect(Array.from(store.get("a")!.ys)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("appends across a gap and asks for exactly one resync until a reset", () => {
    const { store, requests, advance } = setup();
    store.applyDelta([chunk("loss", 0, [1, 2])]);
    store.applyDelta([chunk("loss", 5, [6])]);
    expect(Array.from(store.get("loss")!.ys)).toEqual([1, 2, 6]);
    expect(store.get("loss")!.count).toBe(6);
    expect(requests()).toBe(1);
    store.applyDelta([chunk("loss", 9, [10])]);
    advance(500);
    store.applyDelta([chunk("loss", 20, [21])]);
    expect(requests()).toBe(1);
    store.applyReset([chunk("loss", 0, [1, 2, 3])]);
    store.applyDelta([chunk("loss", 7, [8])]);
    expect(requests()).toBe(2);
  });

  it("repeats an unanswered resync after the retry delay", () => {
    const { store, requests, advance } = setup();
    store.applyDelta([chunk("a", 3, [1])]);
    advance(2500);
    store.applyDelta([chunk("a", 9, [1])]);
    expect(requests()).toBe(2);
  });

  it("treats a new series starting past 0 as a gap", () => {
    const { store, requests } = setup();
    store.applyDelta([chunk("lr", 4, [0.1])]);
    expect(store.get("lr")!.count).toBe(5);
    expect(requests()).toBe(1);
  });

  it("skips the overlapping part of a delta", () => {
    const { store, requests } = setup();
    store.applyDelta([chunk("a", 0, [0, 1, 2])]);
    store.applyDelta([chunk("a", 1, [1, 2, 3, 4])]);
    expect(Array.from(store.get("a")!.ys)).toEqual([0, 1, 2, 3, 4]);
    const v = store.version;
    store.applyDelta([chunk("a", 2, [2, 3])]);
    expect(store.version).toBe(v);
    expect(store.get("a")!.count).toBe(5);
    expect(requests()).toBe(0);
  });

  it("replaces everything on reset", () => {
    const { store } = setup();
    store.applyDelta([chunk("a", 0, [1, 2]), chunk("b", 0, [5])]);
    const gen = store.get("a")!.generation;
    store.applyReset([chunk("a", 0, [9, 8, 7])]);
    expect(store.get("b")).toBeUndefined();
    expect(Array.from(store.get("a")!.ys)).toEqual([9, 8, 7]);
    expect(store.get("a")!.count).toBe(3);
    expect(store.get("a")!.generation).not.toBe(gen);
  });

  it("loads a snapshot provisionally until a reset arrives", () => {
    const { store } = setup();
    const snap = [{ name: "loss", total: 1000, x: Float64Array.of(0, 500, 999), y: Float64Array.of(3, 1, 0.5) }];
    expect(store.loadSnapshot(snap)).toBe(true);
    expect(store.provisional).toBe(true);
    expect(store.get("loss")!.length).toBe(3);
    expect(store.get("loss")!.count).toBe(1000);
    store.applyDelta([chunk("loss", 1000, [0.4])]);
    expect(store.get("loss")!.length).toBe(4);
    expect(store.provisional).toBe(true);
    store.applyReset([chunk("loss", 0, [3, 2, 1])]);
    expect(store.provisional).toBe(false);
    expect(store.get("loss")!.length).toBe(3);
  });

  it("ignores an empty snapshot", () => {
    const { store } = setup();
    expect(store.loadSnapshot([])).toBe(false);
    expect(store.provisional).toBe(false);
    expect(store.version).toBe(0);
  });

  it("notifies subscribers until they unsubscribe", () => {
    const { store } = setup();
    let calls = 0;
    const off = store.subscribe(() => calls++);
    store.applyDelta([chunk("a", 0, [1])]);
    off();
    store.applyDelta([chunk("a", 1, [1])]);
    expect(calls).toBe(1);
  });
});
