/**
 * Rate limit for sends while the user drags a control: the first call runs at once, calls
 * within `ms` of the last run collapse into one trailing run, `flush` runs a pending call
 * now (on release, so the final value always goes out). Clock and timer are injectable
 * for tests.
 */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class Throttle {
  private last = -Infinity;
  private timer: unknown = null;

  constructor(private readonly fn: () => void, private readonly ms: number, private readonly timers: Timers = REAL) {}

  /** Runs now if the last run was at least `ms` ago, else once when that time is up. */
  call(): void {
    if (this.timer !== null) return; // a trailing run is already due
    const wait = this.last + this.ms - this.timers.now();
    if (wait <= 0) this.run();
    else this.timer = this.timers.setTimeout(() => this.run(), wait);
  }

  /** Runs a pending call now; `always`: run even when none is pending. */
  flush(always = false): void {
    if (this.timer !== null || always) this.run();
  }

  /** Drops a pending call. */
  cancel(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private run(): void {
    this.cancel();
    this.last = this.timers.now();
    this.fn();
  }
}
