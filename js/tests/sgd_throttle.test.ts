import { describe, expect, it } from "vitest";
import { Throttle, type Timers } from "../src/core/throttle";

/** A clock and timers the test moves by hand. */
function fakeTimers() {
  let now = 0;
  let pending: { at: number; fn: () => void; id: number } | null = null;
  let ids = 0;
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      pending = { at: now + ms, fn, id: ++ids };
      return pending.id;
    },
    clearTimeout: (h) => {
      if (pending && pending.id === h) pending = null;
    },
  };
  const advance = (ms: number) => {
    now += ms;
    if (pending && pending.at <= now) {
      const { fn } = pending;
      pending = null;
      fn();
    }
  };
  return { timers, advance, hasPending: () => pending !== null };
}

describe("Throttle", () => {
  it("runs the first call at once and collapses a burst into one trailing run", () => {
    const t = fakeTimers();
    let runs = 0;
    const th = new Throttle(() => runs++, 50, t.timers);
    th.call();
    expect(runs).toBe(1);
    for (let i = 0; i < 5; i++) {
      t.advance(5);
      th.call();
    }
    expect(runs).toBe(1);
    t.advance(24);
    expect(runs).toBe(1);
    t.advance(1); // 50 ms after the first run
    expect(runs).toBe(2);
    expect(t.hasPending()).toBe(false);
  });

  it("sends at most every `ms` while dragging", () => {
    const t = fakeTimers();
    let runs = 0;
    const th = new Throttle(() => runs++, 50, t.timers);
    for (let i = 0; i < 100; i++) { // 1 s of mouse moves at 100 Hz
      th.call();
      t.advance(10);
    }
    expect(runs).toBeGreaterThanOrEqual(19);
    expect(runs).toBeLessThanOrEqual(21);
  });

  it("flush runs a pending call now, and only with `always` when none is pending", () => {
    const t = fakeTimers();
    let runs = 0;
    const th = new Throttle(() => runs++, 50, t.timers);
    th.call();
    th.call();
    th.flush();
    expect(runs).toBe(2);
    expect(t.hasPending()).toBe(false);
    th.flush();
    expect(runs).toBe(2);
    th.flush(true);
    expect(runs).toBe(3);
  });

  it("cancel drops a pending call", () => {
    const t = fakeTimers();
    let runs = 0;
    const th = new Throttle(() => runs++, 50, t.timers);
    th.call();
    th.call();
    th.cancel();
    t.advance(100);
    expect(runs).toBe(1);
  });
});
