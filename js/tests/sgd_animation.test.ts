import { describe, expect, it } from "vitest";
import { Player } from "../src/core/animation";

describe("Player", () => {
  it("plays the first data from step 0 at `speed` steps per second", () => {
    const p = new Player(10);
    p.load(100);
    expect(p.playing).toBe(true);
    expect(p.step).toBe(0);
    expect(p.tick(1000)).toBe(false); // the first tick starts the clock
    expect(p.tick(1100)).toBe(true);
    expect(p.step).toBe(1);
    p.tick(1200);
    p.tick(1250);
    expect(p.step).toBe(2); // 2.5 steps
    expect(p.tick(1260)).toBe(false);
  });

  it("stops at the last step", () => {
    const p = new Player(1000);
    p.load(10);
    p.tick(0);
    p.tick(100);
    expect(p.step).toBe(10);
    expect(p.playing).toBe(false);
    expect(p.tick(200)).toBe(false);
  });

  it("does not jump after a long gap (hidden tab)", () => {
    const p = new Player(10);
    p.load(100);
    p.tick(0);
    p.tick(60_000);
    expect(p.step).toBe(2); // at most 250 ms worth
  });

  it("new data: restarts a playing animation, shows the last step when paused", () => {
    const p = new Player(10);
    p.load(100);
    p.tick(0);
    p.tick(250);
    p.tick(500);
    expect(p.step).toBe(5);
    p.load(50);
    expect([p.playing, p.step, p.last]).toEqual([true, 0, 50]);
    p.pause();
    p.load(80);
    expect([p.playing, p.step, p.last]).toEqual([false, 80, 80]);
  });

  it("an empty first load does not use up the autoplay", () => {
    const p = new Player();
    p.load(0);
    expect(p.playing).toBe(false);
    p.load(100);
    expect(p.playing).toBe(true);
    expect(p.step).toBe(0);
  });

  it("play from the end starts over; step, reset and seek pause", () => {
    const p = new Player(10);
    p.load(5);
    p.seek(5);
    expect(p.playing).toBe(false);
    p.play();
    expect([p.playing, p.step]).toEqual([true, 0]);
    p.stepOnce();
    expect([p.playing, p.step]).toEqual([false, 1]);
    p.seek(3.6);
    expect(p.step).toBe(4);
    p.seek(99);
    expect(p.step).toBe(5);
    p.stepOnce();
    expect(p.step).toBe(5);
    p.seek(-3);
    expect(p.step).toBe(0);
    p.seek(NaN);
    expect(p.step).toBe(0);
    p.play();
    p.reset();
    expect([p.playing, p.step]).toEqual([false, 0]);
  });

  it("play resumes from the current step with a fresh clock", () => {
    const p = new Player(10);
    p.load(100);
    p.seek(20);
    p.play();
    expect(p.step).toBe(20);
    expect(p.tick(5000)).toBe(false);
    p.tick(5100);
    expect(p.step).toBe(21);
  });

  it("has nothing to play without steps", () => {
    const p = new Player();
    p.load(10);
    p.load(0);
    p.play();
    expect(p.playing).toBe(false);
    expect(p.step).toBe(0);
  });
});
