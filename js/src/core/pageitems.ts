/**
 * The ImageCleaner's data traits as the view reads them: cards of the page in view
 * (`page_items`), the pager (`page_info`), the live counts (`counts`), the loss pass'
 * progress (`progress`) and the duplicate pairs (`pairs`). Each reader accepts whatever
 * the trait holds (null before Python fills it, a saved older notebook) and returns
 * well-typed values, so the view never trips over a missing field.
 */

import { isRecord } from "./guards";

export interface PageItem {
  i: number;
  name: string;
  label: string;
  new_label: string | null;
  deleted: boolean;
  split: string;
  loss: number | null;
  pred: string | null;
  prob: number | null;
  /** Reason text when the file is known to be broken. */
  broken: string | null;
}

export interface PageInfo {
  page: number;
  pages: number;
  matching: number;
  total: number;
}

export interface Counts {
  kept: number;
  relabelled: number;
  deleted: number;
  broken: number;
  total: number;
}

export interface Progress {
  done: number;
  /** null until the loss pass knows how many items there are. */
  total: number | null;
  eta: number | null;
  state: string;
  label?: string;
}

export type Verdict = "keep_both" | "delete_left" | "delete_right";

export interface Pair {
  a: number;
  b: number;
  a_name: string;
  b_name: string;
  similarity: number | null;
  kind: string;
  leak: boolean;
  verdict: Verdict | null;
}

export const VERDICTS: readonly Verdict[] = ["delete_left", "delete_right", "keep_both"];

function index(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" ? v : null;
}

function str(v: unknown): string {
  return v == null ? "" : String(v);
}

function optStr(v: unknown): string | null {
  return v == null ? null : String(v);
}

function count(v: unknown): number {
  const n = Math.round(Number(v));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** The cards of `page_items`; entries without an item index are dropped. */
export function readItems(raw: unknown): PageItem[] {
  if (!Array.isArray(raw)) return [];
  const out: PageItem[] = [];
  for (const r of raw) {
    if (!isRecord(r)) continue;
    const i = index(r.i);
    if (i === null) continue;
    out.push({
      i,
      name: str(r.name),
      label: str(r.label),
      new_label: optStr(r.new_label),
      deleted: r.deleted === true,
      split: str(r.split),
      loss: num(r.loss),
      pred: optStr(r.pred),
      prob: num(r.prob),
      broken: r.broken == null || r.broken === false ? null : str(r.broken),
    });
  }
  return out;
}

/** `page_info`, or one computed from the page when Python has not set it. */
export function readPageInfo(raw: unknown, shown: number): PageInfo {
  const r = isRecord(raw) ? raw : {};
  return {
    page: count(r.page),
    pages: Math.max(1, count(r.pages)),
    matching: isRecord(raw) ? count(r.matching) : shown,
    total: isRecord(raw) ? count(r.total) : shown,
  };
}

/** The `counts` trait (kept, relabelled, deleted, broken, total); missing or junk counts read 0. */
export function readCounts(raw: unknown): Counts {
  const r = isRecord(raw) ? raw : {};
  return { kept: count(r.kept), relabelled: count(r.relabelled), deleted: count(r.deleted), broken: count(r.broken), total: count(r.total) };
}

/** The progress while the loss pass runs, null otherwise (done, stopped, or no pass at all). */
export function readRunning(raw: unknown): Progress | null {
  if (!isRecord(raw) || raw.state !== "running") return null;
  const eta = Number(raw.eta);
  return {
    done: count(raw.done),
    total: raw.total == null ? null : count(raw.total),
    eta: raw.eta != null && Number.isFinite(eta) ? eta : null,
    state: "running",
    ...(typeof raw.label === "string" ? { label: raw.label } : {}),
  };
}

/**
 * The duplicate pairs of `pairs`; entries without two item indices are dropped, an
 * unknown kind reads "near" and an unknown verdict null (undecided).
 */
export function readPairs(raw: unknown): Pair[] {
  if (!Array.isArray(raw)) return [];
  const out: Pair[] = [];
  for (const r of raw) {
    if (!isRecord(r)) continue;
    const a = index(r.a);
    const b = index(r.b);
    if (a === null || b === null) continue;
    out.push({
      a,
      b,
      a_name: str(r.a_name),
      b_name: str(r.b_name),
      similarity: num(r.similarity),
      kind: r.kind === "exact" ? "exact" : "near",
      leak: r.leak === true,
      verdict: VERDICTS.includes(r.verdict as Verdict) ? (r.verdict as Verdict) : null,
    });
  }
  return out;
}

/** The `classes` trait as strings, in order (null or junk -> []). */
export function readClasses(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.map((c) => String(c)) : [];
}
