import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FrameScheduler, nonFiniteMarkers } from "../src/core/plot";

describe("FrameScheduler", () => {
  let frames: FrameRequestCallback[] = [];
  const flushFrame = async () => {
    const due = frames;
    frames = [];
    for (const cb of due) await cb(0);
  };
  beforeEach(() => {
    frames = [];
    vi.stubGlobal("requestAnimationFrame", (cb: FrameRequestCallback) => frames.push(cb));
    vi.stubGlobal("cancelAnimationFrame", () => (frames = []));
  });
  afterEach(() => vi.unstubAllGlobals());

  it("coalesces many requests into one draw per frame", async () => {
    let draws = 0;
    const s = new FrameScheduler(() => void draws++);
    for (let i = 0; i < 100; i++) s.request();
    expect(frames.length).toBe(1);
    await flushFrame();
    expect(draws).toBe(1);
    expect(frames.length).toBe(0);
  });

  it("schedules one more frame for a request made during an async draw", async () => {
    let draws = 0;
    let finish = () => {};
    const s = new FrameScheduler(() => {
      draws++;
      return new Promise<void>((r) => (finish = r));
    });
    s.request();
    const running = flushFrame();
    s.request();
    s.request();
    expect(frames.length).toBe(0); // no second draw while one runs
    finish();
    await running;
    expect(frames.length).toBe(1);
    const next = flushFrame();
    finish();
    await next;
    expect(draws).toBe(2);
  });

  it("does nothing after dispose", async () => {
    let draws = 0;
    const s = new FrameScheduler(() => void draws++);
    s.request();
    s.dispose();
    s.request();
    await flushFrame();
    expect(draws).toBe(0);
  });
});

describe("nonFiniteMarkers", () => {
  const xy = (ys: number[]) => ({ x: Float64Array.from(ys, (_, i) => i), y: Float64Array.from(ys) });

  it("returns null when every value is finite", () => {
    expect(nonFiniteMarkers([xy([1, 2, 3])], false)).toBeNull();
  });

  it("puts NaN and +inf at the top and -inf at the bottom of the finite range", () => {
    const m = nonFiniteMarkers([xy([1, NaN, 5, Infinity]), xy([-2, -Infinity])], false)!;
    expect(m.x).toEqual([1, 3, 1]);
    expect(m.y).toEqual([5, 5, -2]);
    expect(m.text).toEqual(["NaN", "inf", "-inf"]);
  });

  it("ignores values a log axis cannot show when placing markers", () => {
    const m = nonFiniteMarkers([xy([-1, 0, 0.1, 10, -Infinity])], true)!;
    expect(m.y).toEqual([0.1]);
  });

  it("copes with no finite value at all", () => {
    expect(nonFiniteMarkers([xy([NaN])], false)!.y).toEqual([0]);
  });
});
