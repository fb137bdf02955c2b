/**
 * The SGD playground's controls as pure functions: the log lr slider's mapping, number
 * formats, and the local checks of what the user types (so an invalid value is refused
 * in the browser with a message and never sent; Python refuses it as well).
 */

/** The lr slider's range in log10(lr): 1e-3 … 10. */
export const LR_LOG_RANGE: readonly [number, number] = [-3, 1];
/**
 * The most runs shown side by side (the main run and two to compare). Python's
 * `1 + MAX_COMPARE` (src/fastwidgets/_sgd_math.py); a Python test keeps them equal.
 */
export const MAX_RUNS = 3;
/** The most steps of one run: Python's `MAX_STEPS`, kept equal by a Python test. */
export const MAX_STEPS = 10_000;
/** The most data points: Python's `MAX_N`, kept equal by a Python test. */
export const MAX_N = 10_000;
export const OPTIMIZERS = ["sgd", "momentum", "adam"] as const;
export type Optimizer = (typeof OPTIMIZERS)[number];

export interface CompareRun {
  optimizer: Optimizer;
  lr: number;
  momentum: number;
}

/** `v` to `digits` significant digits, as short as JS writes it ("0.151", "1e-7"). */
export function formatNumber(v: number, digits = 3): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : "";
}

/** The lr at slider position `v` (log10 lr), to 3 significant digits: what gets sent. */
export function sliderToLr(v: number): number {
  const [lo, hi] = LR_LOG_RANGE;
  return Number(Math.pow(10, Math.min(hi, Math.max(lo, v))).toPrecision(3));
}

/** The slider position (log10 lr, clamped to the range) of an lr; the low end for junk. */
export function lrToSlider(lr: unknown): number {
  const [lo, hi] = LR_LOG_RANGE;
  return typeof lr === "number" && Number.isFinite(lr) && lr > 0 ? Math.min(hi, Math.max(lo, Math.log10(lr))) : lo;
}

/** Where an lr sits along the slider, 0…1; null outside the slider's range (no mark). */
export function sliderFraction(lr: unknown): number | null {
  if (typeof lr !== "number" || !Number.isFinite(lr) || lr <= 0) return null;
  const [lo, hi] = LR_LOG_RANGE;
  const f = (Math.log10(lr) - lo) / (hi - lo);
  return f >= 0 && f <= 1 ? f : null;
}

/**
 * A stability limit as the view shows it, to 3 significant digits: "0.998", "1",
 * "0.0285", "1230"; "" unless a positive finite number. The same text as Python's
 * `format_limit`, so the message from the kernel and the slider's mark agree.
 */
export function formatLimit(v: number): string {
  if (!Number.isFinite(v) || v <= 0) return "";
  return String(Number(v.toPrecision(3)));
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

/** A whole number typed by the user ("1e3" and "100.0" count; "1.5", "" do not). */
function integer(text: string): number | null {
  const t = text.trim();
  if (!t) return null;
  const v = Number(t);
  return Number.isSafeInteger(v) ? v : null;
}

/** A finite number typed by the user, or null. */
function number(text: string): number | null {
  const t = text.trim();
  if (!t) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/** lr as typed: a positive finite number (no upper bound: a huge lr diverges visibly). */
export function parseLr(text: string): Parsed<number> {
  const v = number(text);
  if (v === null || v <= 0) return fail(`lr must be a positive number (got "${text.trim()}")`);
  return { ok: true, value: v };
}

/** β of SGD with momentum: 0 ≤ β < 1. */
export function parseMomentum(text: string): Parsed<number> {
  const v = number(text);
  if (v === null || v < 0 || v >= 1) return fail(`momentum β must be at least 0 and below 1 (got "${text.trim()}")`);
  return { ok: true, value: v };
}

/** n: 2 … MAX_N points, and no fewer than the batch size (when not full batch). */
export function parseN(text: string, batchSize: number | null): Parsed<number> {
  const v = integer(text);
  if (v === null || v < 2 || v > MAX_N) return fail(`n must be a whole number from 2 to ${MAX_N.toLocaleString("en-US")} (got "${text.trim()}")`);
  if (batchSize !== null && batchSize > v) return fail(`n must be at least batch_size = ${batchSize}, got ${v}: lower the batch size first`);
  return { ok: true, value: v };
}

/** steps as typed: a whole number from 1 to MAX_STEPS. */
export function parseSteps(text: string): Parsed<number> {
  const v = integer(text);
  if (v === null || v < 1 || v > MAX_STEPS) return fail(`steps must be a whole number from 1 to ${MAX_STEPS.toLocaleString("en-US")} (got "${text.trim()}")`);
  return { ok: true, value: v };
}

/** seed as typed: a whole number ≥ 0 (up to 2^53 - 1, what a JS number holds exactly). */
export function parseSeed(text: string): Parsed<number> {
  const v = integer(text);
  if (v === null || v < 0) return fail(`seed must be a whole number ≥ 0 (got "${text.trim()}")`);
  return { ok: true, value: v };
}

/** Batch size: "", "full" or "all" for full batch (null), else a whole number 1…n. */
export function parseBatch(text: string, n: number): Parsed<number | null> {
  const t = text.trim().toLowerCase();
  if (t === "" || t === "full" || t === "all") return { ok: true, value: null };
  const v = integer(t);
  if (v === null || v < 1 || v > n) return fail(`batch size must be "full" or a whole number from 1 to n = ${n} (got "${text.trim()}")`);
  return { ok: true, value: v };
}

/** Noise scale: empty for the noise kind's default (null), else a number ≥ 0. */
export function parseNoiseScale(text: string): Parsed<number | null> {
  if (!text.trim()) return { ok: true, value: null };
  const v = number(text);
  if (v === null || v < 0) return fail(`noise scale must be a number ≥ 0, or empty for the default (got "${text.trim()}")`);
  return { ok: true, value: v };
}

/** The run "+ compare" adds: the first optimizer not shown yet, at the main run's lr. */
export function nextCompare(main: Optimizer, compare: readonly CompareRun[], lr: number, momentum: number): CompareRun {
  const shown = new Set<string>([main, ...compare.map((c) => c.optimizer)]);
  const optimizer = OPTIMIZERS.find((o) => !shown.has(o)) ?? main;
  return { optimizer, lr, momentum };
}

/** A `compare` trait value cleaned: at most MAX_RUNS - 1 entries with known optimizers. */
export function parseCompare(v: unknown): CompareRun[] {
  if (!Array.isArray(v)) return [];
  const out: CompareRun[] = [];
  for (const c of v.slice(0, MAX_RUNS - 1)) {
    if (!c || typeof c !== "object") continue;
    const o = (c as { optimizer?: unknown }).optimizer;
    const lr = Number((c as { lr?: unknown }).lr);
    const m = Number((c as { momentum?: unknown }).momentum);
    out.push({
      optimizer: (OPTIMIZERS as readonly unknown[]).includes(o) ? (o as Optimizer) : "sgd",
      lr: Number.isFinite(lr) && lr > 0 ? lr : 0.1,
      momentum: Number.isFinite(m) ? m : 0.9,
    });
  }
  return out;
}
