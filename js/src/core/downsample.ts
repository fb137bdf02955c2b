/**
 * Min/max downsampling of a series with non-decreasing x over an x-range, so a million
 * points draw as a few thousand without losing spikes: the range is cut into `buckets`
 * equal x-intervals (one per pixel) and each bucket emits its lowest and highest point in
 * x order. A bucket holding a non-finite y also emits that point (NaN, +inf or -inf, the
 * first one), which breaks the line there and lets the caller mark it.
 */

/** First index i in [0, n) with x[i] >= v (n if none); x must be non-decreasing. */
export function lowerBound(x: ArrayLike<number>, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i in [0, n) with x[i] > v (n if none); x must be non-decreasing. */
export function upperBound(x: ArrayLike<number>, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface XY {
  x: Float64Array;
  y: Float64Array;
}

/**
 * Downsamples x[0..n), y[0..n) to the points visible in `range` (all when null), plus
 * one point beyond each end so lines run to the plot's edges. At most 2 points per
 * bucket plus the two end points, one more in a bucket that holds a non-finite value. Returns fresh arrays (plotly
 * diffs by reference, so reusing buffers would hide updates).
 */
export function minMaxDownsample(
  x: Float64Array,
  y: Float64Array,
  n: number,
  range: readonly [number, number] | null,
  buckets: number,
): XY {
  let i0 = 0;
  let i1 = n;
  if (range) {
    i0 = Math.max(0, lowerBound(x, n, range[0]) - 1);
    i1 = Math.min(n, upperBound(x, n, range[1]) + 1);
  }
  buckets = Math.max(1, Math.floor(buckets));
  if (i1 - i0 <= 2 * buckets) return { x: x.slice(i0, i1), y: y.slice(i0, i1) };

  const ox = new Float64Array(3 * buckets + 2);
  const oy = new Float64Array(3 * buckets + 2);
  let m = 0;
  const x0 = x[i0];
  const span = x[i1 - 1] - x0;
  const scale = span > 0 ? buckets / span : 0;
  let bucket = -1;
  let minI = -1;
  let maxI = -1;
  let badI = -1;
  let prev = -1;
  const emit = (k: number) => {
    if (k > prev) {
      ox[m] = x[k];
      oy[m++] = y[k];
      prev = k;
    }
  };
  const flush = () => {
    // the bucket's distinct points in x order (-1 = none)
    let a = minI;
    let b = maxI;
    let c = badI;
    if (a > b) [a, b] = [b, a];
    if (b > c) [b, c] = [c, b];
    if (a > b) [a, b] = [b, a];
    emit(a);
    emit(b);
    emit(c);
  };

  emit(i0); // the end points too, so lines reach the plot's edges exactly
  for (let i = i0; i < i1; i++) {
    let b = ((x[i] - x0) * scale) | 0;
    if (b >= buckets) b = buckets - 1;
    if (b !== bucket) {
      if (bucket >= 0) flush();
      bucket = b;
      minI = maxI = badI = -1;
    }
    const v = y[i];
    if (v - v === 0) {
      // finite
      if (minI < 0 || v < y[minI]) minI = i;
      if (maxI < 0 || v > y[maxI]) maxI = i;
    } else if (badI < 0) {
      badI = i;
    }
  }
  flush();
  emit(i1 - 1);
  return { x: ox.slice(0, m), y: oy.slice(0, m) };
}
