/**
 * A step player for animations that run in the browser at display rate: the view calls
 * `tick(now)` once per animation frame and draws when the shown step changed. Pure state
 * (time comes in as an argument), so testable in node.
 *
 * New data (`load`): a playing animation starts over from step 0; a paused one shows the
 * last step (the result of the change at once, which is what a user dragging a slider
 * wants to see). The first data with a step to play plays from step 0, like the lesson's
 * animation.
 */
export class Player {
  /** The last step there is (0 when there is no data). */
  last = 0;
  /** Steps per second while playing. */
  speed: number;
  playing = false;
  /** Position in steps; fractional while playing, the shown step is its floor. */
  private pos = 0;
  /** Time of the previous tick while playing (ms), null right after play or a jump. */
  private prev: number | null = null;
  private loaded = false;

  constructor(speed = 25) {
    this.speed = speed;
  }

  /** The step shown. */
  get step(): number {
    return Math.min(this.last, Math.floor(this.pos));
  }

  /** New data with steps 0..last: see the class comment for what is shown. */
  load(last: number): void {
    this.last = Math.max(0, Math.floor(last));
    if (!this.loaded) {
      this.loaded = this.last > 0;
      this.playing = this.last > 0;
      this.pos = 0;
    } else if (this.playing) this.pos = 0;
    else this.pos = this.last;
    this.prev = null;
  }

  /** Plays from the current step; from 0 when at the end. */
  play(): void {
    if (this.step >= this.last) this.pos = 0;
    this.playing = this.last > 0;
    this.prev = null;
  }

  pause(): void {
    this.playing = false;
    this.prev = null;
  }

  /** One step forward (pauses). */
  stepOnce(): void {
    this.pause();
    this.pos = Math.min(this.last, this.step + 1);
  }

  /** Back to step 0 (pauses). */
  reset(): void {
    this.pause();
    this.pos = 0;
  }

  /** Shows step `s` (clamped; pauses): the step slider and hovering a point. */
  seek(s: number): void {
    this.pause();
    this.pos = Number.isFinite(s) ? Math.min(this.last, Math.max(0, Math.round(s))) : 0;
  }

  /**
   * Advances by the time since the previous tick (the first tick after play only starts
   * the clock). Stops at the last step. Returns whether the shown step changed.
   */
  tick(now: number): boolean {
    if (!this.playing) return false;
    const before = this.step;
    if (this.prev !== null) {
      // a long gap (hidden tab, a slow frame) moves at most a quarter second's worth
      const dt = Math.min(250, Math.max(0, now - this.prev));
      this.pos += (this.speed * dt) / 1000;
    }
    this.prev = now;
    if (this.pos >= this.last) {
      this.pos = this.last;
      this.playing = false;
      this.prev = null;
    }
    return this.step !== before;
  }
}
