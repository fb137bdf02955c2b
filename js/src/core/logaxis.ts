/**
 * Pure helpers for a log10 x axis (learning rates): the pixel <-> value mapping plotly
 * uses on a log axis, a nudge by a fraction of a decade, and the compact lr format used
 * in code snippets. DOM- and plotly-free, so testable in node.
 */

/**
 * The value at pixel `px` (relative to the plot area's left edge) on a log axis of
 * `length` px showing log10 range [r0, r1]. Plotly's `ax.p2l(px)` returns the log10 of
 * this (`(px - ax._b) / ax._m` with `_m = length / (r1 - r0)`, `_b = -_m * r0`).
 */
export function pixelToLog(px: number, length: number, range: readonly [number, number]): number {
  const [r0, r1] = range;
  return length > 0 ? r0 + (px * (r1 - r0)) / length : r0;
}

/** Inverse of pixelToLog: the pixel (from the plot area's left edge) of a log10 value. */
export function logToPixel(log10: number, length: number, range: readonly [number, number]): number {
  const [r0, r1] = range;
  return r1 !== r0 ? ((log10 - r0) * length) / (r1 - r0) : 0;
}

/** `v` moved by `decades` on a log scale (e.g. 1/20 decade: v * 10^0.05). */
export function nudgeLog(v: number, decades: number): number {
  return v * Math.pow(10, decades);
}

/**
 * A learning rate as users type it: 2 significant digits, exponent form below 1e-2
 * (`3e-3`, `1.5e-4`), plain otherwise (`0.05`, `0.15`, `2.5`). "" for a value that is
 * not a finite positive number.
 */
export function formatLr(v: number | null | undefined): string {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) return "";
  const r = Number(v.toPrecision(2)); // round first: 9.96e-3 is 0.01, not 1e-2
  if (r >= 1e-2) return String(r);
  const [mant, exp] = r.toExponential(1).split("e");
  return `${mant.replace(/\.0$/, "")}e${Number(exp)}`;
}
