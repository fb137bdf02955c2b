/**
 * The SGD playground's loss surface in the browser: L(a) = aᵀAa − 2bᵀa + c (the `quad`
 * trait) and the box the contour covers. Pure, so testable in node.
 */

/** `quad` as Python sends it: A 2×2, b 2-vector, c scalar. */
export interface Quad {
  A: [[number, number], [number, number]];
  b: [number, number];
  c: number;
}

export type Point = [number, number];

/** An axis-aligned box: [lo, hi] on a1 and on a2. */
export interface Box {
  x: [number, number];
  y: [number, number];
}

/**
 * A trajectory's parameters, step by step (a view of the series' y columns), and whether
 * the run diverged: the step it diverged at (Python's `diverged_at`), null when it did
 * not. Left out (undefined), the run is treated as one that may have diverged.
 */
export interface Path {
  a1: ArrayLike<number>;
  a2: ArrayLike<number>;
  divergedAt?: number | null;
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** `quad` checked: null unless every entry is a finite number. */
export function parseQuad(v: unknown): Quad | null {
  const q = v as { A?: unknown; b?: unknown; c?: unknown } | null;
  if (!q || typeof q !== "object") return null;
  const A = q.A as unknown[][] | undefined;
  const b = q.b as unknown[] | undefined;
  if (!Array.isArray(A) || A.length !== 2 || !Array.isArray(b) || b.length !== 2 || !finite(q.c)) return null;
  if (!A.every((row) => Array.isArray(row) && row.length === 2 && row.every(finite))) return null;
  if (!b.every(finite)) return null;
  return {
    A: [[A[0][0] as number, A[0][1] as number], [A[1][0] as number, A[1][1] as number]],
    b: [b[0] as number, b[1] as number],
    c: q.c,
  };
}

/** A finite [a1, a2] or null (`start`, `minimum`). */
export function parsePoint(v: unknown): Point | null {
  return Array.isArray(v) && v.length === 2 && finite(v[0]) && finite(v[1]) ? [v[0], v[1]] : null;
}

/** L(a) = aᵀAa − 2bᵀa + c. */
export function lossAt(q: Quad, a1: number, a2: number): number {
  const [[p, r], [s, t]] = q.A;
  return p * a1 * a1 + (r + s) * a1 * a2 + t * a2 * a2 - 2 * (q.b[0] * a1 + q.b[1] * a2) + q.c;
}

/**
 * The box the contour shows: the minimum and the start, padded by a quarter of the
 * larger side (at least a tenth of their scale, so a side of zero length still gets a
 * width), grown to take in every point of the runs that converged (`divergedAt: null`),
 * however wide their loops swing. A diverged run (or one not said: `divergedAt`
 * undefined) adds only its points within `reach` times that padded box around its
 * centre: the rest shoot off the chart instead of shrinking everything else to a dot.
 */
export function contourBox(minimum: Point | null, start: Point | null, paths: readonly Path[], reach = 2): Box | null {
  const anchors = [minimum, start].filter((p): p is Point => p !== null);
  if (!anchors.length) return null;
  let x0 = Math.min(...anchors.map((p) => p[0]));
  let x1 = Math.max(...anchors.map((p) => p[0]));
  let y0 = Math.min(...anchors.map((p) => p[1]));
  let y1 = Math.max(...anchors.map((p) => p[1]));
  const pad = Math.max((x1 - x0) / 4, (y1 - y0) / 4, 0.1 * Math.max(1, ...anchors.flat().map(Math.abs)));
  x0 -= pad;
  x1 += pad;
  y0 -= pad;
  y1 += pad;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const hx = ((x1 - x0) / 2) * reach;
  const hy = ((y1 - y0) / 2) * reach;
  for (const { a1, a2, divergedAt } of paths) {
    const n = Math.min(a1.length, a2.length);
    const all = divergedAt === null; // converged: all of it stays in view
    for (let i = 0; i < n; i++) {
      const u = a1[i];
      const v = a2[i];
      if (!Number.isFinite(u) || !Number.isFinite(v)) continue;
      if (!all && !(Math.abs(u - cx) <= hx && Math.abs(v - cy) <= hy)) continue;
      if (u < x0) x0 = u;
      if (u > x1) x1 = u;
      if (v < y0) y0 = v;
      if (v > y1) y1 = v;
    }
  }
  // a little room around points that sit on the edge, so their markers show whole
  const mx = (x1 - x0) * 0.03;
  const my = (y1 - y0) * 0.03;
  return { x: [x0 - mx, x1 + mx], y: [y0 - my, y1 + my] };
}

/**
 * The box to show next: `prev` while it still holds all of `next` and `next` fills at
 * least `fill` of each of its sides, else `next`. An lr move changes the trajectories a
 * little; the contour's axes (and its surface image) stay put instead of jumping.
 */
export function steadyBox(prev: Box | null, next: Box, fill = 0.6): Box {
  if (!prev) return next;
  const holds = (p: [number, number], n: [number, number]) =>
    p[0] <= n[0] && n[1] <= p[1] && n[1] - n[0] >= fill * (p[1] - p[0]);
  return holds(prev.x, next.x) && holds(prev.y, next.y) ? prev : next;
}

/**
 * A value picked with the mouse, rounded to about 1/500 of the span shown (the pixel
 * precision a click has): -0.98765 on a 5-wide axis becomes -0.99, so the start point
 * the user picks reads well in the code shown.
 */
export function snap(v: number, span: number): number {
  if (!Number.isFinite(v) || !(span > 0)) return v;
  const decimals = Math.min(12, Math.max(0, Math.ceil(-Math.log10(span / 500))));
  return Number(v.toFixed(decimals));
}

/** [min, max] of the finite values padded by `frac` of the span (±1 when flat); null when none. */
export function paddedRange(values: ArrayLike<number>, frac = 0.05): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return null;
  const pad = hi > lo ? (hi - lo) * frac : Math.max(1, Math.abs(hi) * 0.1);
  return [lo - pad, hi + pad];
}

/** One loss curve of the loss view. */
export interface LossCurve {
  loss: ArrayLike<number>;
  diverged: boolean;
}

/**
 * The loss view's y range (log10 units on a log axis, as plotly takes it). Linear: from
 * 0 (an MSE) to the highest loss of the runs that did not diverge, at most 10× the start
 * loss, so a diverging run shoots off the top. Log: every finite positive loss, the
 * diverging ones included (that is what the log view is for). Null: let plotly choose.
 */
export function lossRange(curves: readonly LossCurve[], log: boolean): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  let first = -Infinity;
  for (const { loss, diverged } of curves) {
    if (loss.length && Number.isFinite(loss[0])) first = Math.max(first, loss[0]);
    if (diverged && !log) continue;
    for (let i = 0; i < loss.length; i++) {
      const v = loss[i];
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (log) {
    if (lo > hi) return null;
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const pad = Math.max(0.1, (b - a) * 0.05);
    return [a - pad, b + pad];
  }
  if (first > 0) hi = Math.min(Math.max(hi, first), 10 * first);
  if (!(hi > 0) || !Number.isFinite(hi)) return null;
  return [0, hi * 1.05];
}
