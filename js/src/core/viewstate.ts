/**
 * The ImageCleaner's `view` trait (page, page size, sort, filters, thumbnail size, mode),
 * which both sides write: the browser sets it on every control change, Python clamps it
 * and writes the corrected value back. Pure functions, so the rules are tested in node.
 */

import { isRecord } from "./guards";

export type Sort = "loss" | "confidence" | "name";
export type Split = "train" | "valid";
export type Mode = "grid" | "pairs";

export interface Filters {
  label: string | null;
  split: Split | null;
  pred: string | null;
  changed: boolean;
  broken: boolean;
}

export interface CleanerView {
  page: number;
  page_size: number;
  sort: Sort;
  filters: Filters;
  thumb_size: number;
  mode: Mode;
}

/** A change to the view: any fields, filters merged key by key. */
export type ViewPatch = Partial<Omit<CleanerView, "filters">> & { filters?: Partial<Filters> };

export const SORTS: readonly Sort[] = ["loss", "confidence", "name"];
export const PAGE_SIZES: readonly number[] = [12, 24, 48, 96, 200];
export const THUMB_MIN = 48;
export const THUMB_MAX = 256;

export const DEFAULT_VIEW: CleanerView = Object.freeze({
  page: 0,
  page_size: 24,
  sort: "loss",
  filters: Object.freeze({ label: null, split: null, pred: null, changed: false, broken: false }),
  thumb_size: 128,
  mode: "grid",
}) as CleanerView;

/**
 * A JSON object, arrays excluded (unlike core/guards' isRecord): a view or its filters
 * sent as an array is junk, and falls back to the defaults rather than being read.
 */
function isObject(v: unknown): v is Record<string, unknown> {
  return isRecord(v) && !Array.isArray(v);
}

function int(v: unknown, fallback: number, lo: number, hi: number): number {
  const n = Math.round(Number(v));
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : fallback;
}

function optString(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

/**
 * The view as the controls read it, whatever the trait holds (null, an older shape, junk):
 * each field valid or its default. Python is the one that clamps the page to the pages
 * there are; here only the types and the thumbnail range are enforced.
 */
export function normalizeView(raw: unknown): CleanerView {
  const v = isObject(raw) ? raw : {};
  const f = isObject(v.filters) ? v.filters : {};
  const d = DEFAULT_VIEW;
  return {
    page: int(v.page, d.page, 0, Number.MAX_SAFE_INTEGER),
    page_size: int(v.page_size, d.page_size, 1, 100_000),
    sort: SORTS.includes(v.sort as Sort) ? (v.sort as Sort) : d.sort,
    filters: {
      label: optString(f.label),
      split: f.split === "train" || f.split === "valid" ? f.split : null,
      pred: optString(f.pred),
      changed: f.changed === true,
      broken: f.broken === true,
    },
    thumb_size: int(v.thumb_size, d.thumb_size, THUMB_MIN, THUMB_MAX),
    mode: v.mode === "pairs" ? "pairs" : "grid",
  };
}

function sameFilters(a: Filters, b: Filters): boolean {
  return a.label === b.label && a.split === b.split && a.pred === b.pred && a.changed === b.changed && a.broken === b.broken;
}

/**
 * The view after `patch`. A change of filters, sort or page size starts again at page 0
 * (the old page number means nothing in the new order), unless the patch sets the page
 * itself. Returns null when nothing changes, so no trait write goes out for it.
 */
export function changeView(view: CleanerView, patch: ViewPatch): CleanerView | null {
  const filters: Filters = { ...view.filters, ...(patch.filters ?? {}) };
  const next: CleanerView = { ...view, ...patch, filters };
  const reorder = !sameFilters(filters, view.filters) || next.sort !== view.sort || next.page_size !== view.page_size;
  if (reorder && patch.page === undefined) next.page = 0;
  if (
    next.page === view.page && next.page_size === view.page_size && next.sort === view.sort &&
    sameFilters(next.filters, view.filters) && next.thumb_size === view.thumb_size && next.mode === view.mode
  ) return null;
  return next;
}

/**
 * The view on page `view.page + delta`, kept within [0, pages - 1]; null at either end.
 * `pages` is Python's count for the current filters (page_info).
 */
export function stepPage(view: CleanerView, delta: number, pages: number): CleanerView | null {
  const last = Math.max(0, Math.floor(pages) - 1);
  const page = Math.min(last, Math.max(0, view.page + delta));
  return page === view.page ? null : { ...view, page };
}

/**
 * The trait value to write: the normalised view over the trait's current value, so keys
 * this version of the frontend does not know (a newer Python) survive the round trip.
 */
export function toTrait(view: CleanerView, current: unknown): Record<string, unknown> {
  const base = isObject(current) ? current : {};
  const filters = isObject(base.filters) ? base.filters : {};
  return { ...base, ...view, filters: { ...filters, ...view.filters } };
}

/** The page sizes to offer: the usual ones plus the current one when it is not among them. */
export function pageSizeChoices(current: number): number[] {
  return PAGE_SIZES.includes(current) ? [...PAGE_SIZES] : [...PAGE_SIZES, current].sort((a, b) => a - b);
}
