/**
 * The ImageCleaner's text: numbers on cards, the pager, the counts and the progress line.
 * Counts use "1,234" grouping whatever the browser's locale, so what tests read is stable.
 */

/** 1234567 -> "1,234,567" (non-finite or missing -> "0"). */
export function formatCount(n: unknown): string {
  const v = Math.round(Number(n));
  return Number.isFinite(v) ? v.toLocaleString("en-US") : "0";
}

/** A probability as a percentage: 0.873 -> "87%"; "" when unknown. */
export function formatProb(p: unknown): string {
  if (typeof p !== "number" || !Number.isFinite(p)) return "";
  return `${Math.round(Math.min(1, Math.max(0, p)) * 100)}%`;
}

/** A loss with two decimals ("2.31"), "inf"/"nan" for non-finite ones; "" when unknown. */
export function formatLoss(x: unknown): string {
  if (typeof x !== "number") return "";
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return x.toFixed(2);
}

/** Seconds left as "12 s", "3 min 5 s", "1 h 2 min" (every progress line's ETA: the
 * cleaner's and the LR finder's). */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * The progress trait's line, e.g. "Computing losses: 1,234 / 10,000 · ETA 12 s": no total
 * while it is unknown (null), no ETA while that is.
 */
export function progressText(p: { done?: unknown; total?: unknown; eta?: unknown; label?: unknown }): string {
  const label = typeof p.label === "string" && p.label ? p.label : "Computing losses";
  let text = `${label}: ${formatCount(p.done)}${p.total == null ? "" : ` / ${formatCount(p.total)}`}`;
  if (typeof p.eta === "number" && Number.isFinite(p.eta)) text += ` · ETA ${formatEta(p.eta)}`;
  return text;
}

/** "page 3 of 12" (1-based; an empty result still reads "page 1 of 1"). */
export function pageText(page: unknown, pages: unknown): string {
  const n = Math.max(1, Math.round(Number(pages)) || 0);
  const k = Math.min(n, Math.max(1, (Math.round(Number(page)) || 0) + 1));
  return `page ${k} of ${n}`;
}

/** "120 matching of 10,000 items". */
export function matchingText(matching: unknown, total: unknown): string {
  const t = Math.round(Number(total));
  return `${formatCount(matching)} matching of ${formatCount(total)} ${t === 1 ? "item" : "items"}`;
}
