/**
 * The browser-side copy of a widget's streamed series. It lives at model level (see
 * widget.ts) so every view of a widget shares it, and it applies the protocol's
 * delta/reset/snapshot rules (protocol.ts) including gap detection and resync requests.
 */
import type { SeriesChunk, SnapshotSeries, StreamMessage } from "./protocol";

/** One series: growable float64 columns, filled up to `length`. */
export class Series {
  x = new Float64Array(16);
  y = new Float64Array(16);
  /** Points held here (a provisional snapshot may hold fewer than Python has). */
  length = 0;
  /** Start index the next delta should carry (Python's point count as far as we know). */
  count = 0;
  /**
   * Changes whenever points already held are replaced (reset, snapshot), never on append,
   * so caches derived from a prefix of the series (smoothing) know when to start over.
   */
  generation: number;

  constructor(readonly name: string, generation: number) {
    this.generation = generation;
  }

  /** The held x values (a view, valid until the next append). */
  get xs(): Float64Array {
    return this.x.subarray(0, this.length);
  }

  /** The held y values (a view, valid until the next append). */
  get ys(): Float64Array {
    return this.y.subarray(0, this.length);
  }

  /** Appends x[from..], y[from..]; capacity doubles so appends stay amortised O(1). */
  append(x: Float64Array, y: Float64Array, from = 0): void {
    const n = x.length - from;
    if (n <= 0) return;
    const need = this.length + n;
    if (need > this.x.length) {
      let cap = this.x.length;
      while (cap < need) cap *= 2;
      const nx = new Float64Array(cap);
      const ny = new Float64Array(cap);
      nx.set(this.x.subarray(0, this.length));
      ny.set(this.y.subarray(0, this.length));
      this.x = nx;
      this.y = ny;
    }
    this.x.set(from ? x.subarray(from) : x, this.length);
    this.y.set(from ? y.subarray(from) : y, this.length);
    this.length = need;
  }
}

export interface StoreOptions {
  /** Sends the resync request to Python. */
  requestResync?: () => void;
  /** Clock in ms (tests inject one). */
  now?: () => number;
  /** An unanswered resync request may be repeated after this many ms. */
  resyncRetryMs?: number;
}

/** All series of one widget, plus a version counter bumped on every change. */
export class SeriesStore {
  /** Bumped on every change, so a view can tell whether it needs to redraw. */
  version = 0;
  /** True while the data comes from the snapshot trait and no reset has arrived yet. */
  provisional = false;
  /** Resync requests sent so far (for status and tests). */
  resyncRequests = 0;

  private readonly map = new Map<string, Series>();
  private readonly listeners = new Set<() => void>();
  private generations = 0;
  private resyncOutstanding = false;
  private resyncSentAt = 0;
  private readonly sendResync: () => void;
  private readonly now: () => number;
  private readonly retryMs: number;

  constructor(opts: StoreOptions = {}) {
    this.sendResync = opts.requestResync ?? (() => {});
    this.now = opts.now ?? (() => Date.now());
    this.retryMs = opts.resyncRetryMs ?? 2000;
  }

  get(name: string): Series | undefined {
    return this.map.get(name);
  }

  /** Series in order of first appearance. */
  get series(): Series[] {
    return [...this.map.values()];
  }

  get isEmpty(): boolean {
    return this.map.size === 0;
  }

  /** Calls `fn` after every change; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  apply(msg: StreamMessage): void {
    if (msg.type === "reset") this.applyReset(msg.series);
    else this.applyDelta(msg.series);
  }

  /**
   * Appends new points. start == count: append. start > count (a message was lost):
   * append anyway so the chart keeps moving, and ask for one resync. start < count
   * (overlap): drop the points we already have and append the rest.
   */
  applyDelta(chunks: readonly SeriesChunk[]): void {
    let changed = false;
    let gap = false;
    for (const c of chunks) {
      let s = this.map.get(c.name);
      if (!s) {
        s = new Series(c.name, ++this.generations);
        this.map.set(c.name, s);
        changed = true;
      }
      const n = c.x.length;
      if (c.start > s.count) gap = true;
      const skip = Math.max(0, s.count - c.start);
      if (skip < n) {
        s.append(c.x, c.y, skip);
        s.count = c.start + n;
        changed = true;
      }
    }
    if (gap) this.requestResync();
    if (changed) this.changed();
  }

  /** Replaces everything with the full data in `chunks`; ends a provisional state. */
  applyReset(chunks: readonly SeriesChunk[]): void {
    this.map.clear();
    for (const c of chunks) this.replace(c.name, c.x, c.y, c.start + c.x.length);
    this.provisional = false;
    this.resyncOutstanding = false;
    this.changed();
  }

  /**
   * Loads a downsampled snapshot as provisional data (each series' count = total, so
   * live deltas continue from where Python is). Returns false, changing nothing, when
   * the snapshot holds no series.
   */
  loadSnapshot(series: readonly SnapshotSeries[]): boolean {
    if (series.length === 0) return false;
    this.map.clear();
    for (const s of series) this.replace(s.name, s.x, s.y, s.total);
    this.provisional = true;
    this.changed();
    return true;
  }

  /**
   * Asks Python for a reset, at most one outstanding request: another is sent only
   * after a reset arrived or after `resyncRetryMs` without an answer.
   */
  requestResync(): void {
    const t = this.now();
    if (this.resyncOutstanding && t - this.resyncSentAt < this.retryMs) return;
    this.resyncOutstanding = true;
    this.resyncSentAt = t;
    this.resyncRequests++;
    this.sendResync();
  }

  private replace(name: string, x: Float64Array, y: Float64Array, count: number): void {
    const s = new Series(name, ++this.generations);
    s.append(x, y);
    s.count = count;
    this.map.set(name, s);
  }

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }
}
