/**
 * The browser's thumbnail cache: blob URLs (or broken-file reasons) by item and size, in
 * a least-recently-used map bounded by entry count. An evicted or replaced entry's URL is
 * revoked, so the blobs behind it are freed: without that every page visited would stay
 * in memory until the widget closes.
 */

/** A cached thumbnail: its blob URL, or null with the reason when the file is broken. */
export interface Thumb {
  url: string | null;
  broken: string | null;
  w: number;
  h: number;
}

/** The cache key of item `i` at `size` px. */
export function thumbKey(i: number, size: number): string {
  return `${i}:${size}`;
}

export class ThumbCache {
  /** Map iteration order is insertion order: the first key is the least recently used. */
  private readonly entries = new Map<string, Thumb>();
  /** Sizes ever cached, to find a stand-in at another size while the right one loads. */
  private readonly sizes = new Set<number>();

  constructor(
    readonly maxEntries = 600,
    private readonly revoke: (url: string) => void = (url) => URL.revokeObjectURL(url),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  has(i: number, size: number): boolean {
    return this.entries.has(thumbKey(i, size));
  }

  /** The thumbnail of item `i` at `size`, marked as recently used; undefined when absent. */
  get(i: number, size: number): Thumb | undefined {
    const key = thumbKey(i, size);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  /**
   * The thumbnail at `size`, else one of the item at another size (the nearest), so a
   * slider change shows the old image scaled instead of an empty box until the new one
   * arrives. A stand-in is not marked as used.
   */
  getOrStandIn(i: number, size: number): Thumb | undefined {
    const exact = this.get(i, size);
    if (exact) return exact;
    let best: Thumb | undefined;
    let bestGap = Infinity;
    for (const s of this.sizes) {
      const t = this.entries.get(thumbKey(i, s));
      if (t && Math.abs(s - size) < bestGap) {
        best = t;
        bestGap = Math.abs(s - size);
      }
    }
    return best;
  }

  /** Stores a thumbnail (revoking the URL it replaces), then evicts down to the bound. */
  set(i: number, size: number, thumb: Thumb): void {
    const key = thumbKey(i, size);
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      if (old.url && old.url !== thumb.url) this.revoke(old.url);
    }
    this.entries.set(key, thumb);
    this.sizes.add(size);
    while (this.entries.size > Math.max(1, this.maxEntries)) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Thumb];
      this.entries.delete(oldestKey);
      if (oldest.url) this.revoke(oldest.url);
    }
  }

  /** Drops everything, revoking every URL. */
  clear(): void {
    for (const t of this.entries.values()) if (t.url) this.revoke(t.url);
    this.entries.clear();
    this.sizes.clear();
  }
}
