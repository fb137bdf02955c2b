/**
 * ImageCleaner: a grid of thumbnails to review a dataset by loss, relabel or delete items
 * with the mouse or the keyboard, and a list of near-duplicate pairs. Python owns every
 * decision and the paging (`page_items` is the page in view); this view shows them, writes
 * the `view` trait when a control changes, and sends decisions as custom messages.
 *
 * Thumbnails come as image bytes in message buffers and are kept per model (several views
 * share them) as blob URLs in a bounded LRU that revokes what it evicts.
 *
 * Everything from Python (names, labels, reasons) goes into the DOM as text only.
 */
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import { formatCount, formatLoss, formatProb, matchingText, pageText, progressText } from "./core/cardtext";
import { el, setClass, setText } from "./core/dom";
import { columnsFromTops, keyAction, moveFocus, refocus } from "./core/grid";
import { isolateKeys } from "./core/keys";
import {
  readClasses, readCounts, readItems, readPageInfo, readPairs, readRunning,
  type PageItem, type Pair, type Verdict,
} from "./core/pageitems";
import { deletedAs, PendingDecisions, relabelled } from "./core/pending";
import { injectStyle } from "./core/plot";
import { ThumbCache, thumbKey, type Thumb } from "./core/thumbcache";
import { decodeThumbs, thumbsRequest, type ByteSource } from "./core/thumbmsg";
import {
  changeView, normalizeView, pageSizeChoices, SORTS, stepPage, THUMB_MAX, THUMB_MIN, toTrait,
  type CleanerView, type ViewPatch,
} from "./core/viewstate";
import { Disposer, modelKey } from "./core/widget";

interface CleanerTraits {
  classes: string[];
  view: Record<string, unknown>;
  page_items: unknown[];
  page_info: unknown;
  counts: unknown;
  can_undo: boolean;
  can_redo: boolean;
  message: string;
  progress: unknown;
  pairs: unknown[];
}

type Model = AnyModel<CleanerTraits>;

/** Thumbnails kept in the browser (a page of 200 plus its prefetched successor fit twice). */
const THUMB_CACHE_ENTRIES = 600;
/** A thumbnail asked for and not received is asked for again after this long. */
const ASK_AGAIN_MS = 5000;
/**
 * Thumbnails missing from what is shown are asked for after this short pause, which
 * coalesces a burst of trait changes into one request and lets a push that Python sends
 * right behind a page change land first.
 */
const ASK_DELAY_MS = 30;

/** The sort options as Python orders them (`_items.ItemTable.order`). */
const SORT_TEXT: Record<CleanerView["sort"], string> = {
  loss: "loss (highest first)",
  confidence: "confidence (lowest first)",
  name: "name",
};

const TRAITS = ["classes", "view", "page_items", "page_info", "counts", "can_undo", "can_redo", "message", "progress", "pairs"] as const;

const CSS = `
.fw-cleaner { --fw-thumb: 128px; --fw-accent: var(--jp-brand-color1, #1976d2); --fw-muted: var(--jp-ui-font-color2, #777);
  --fw-border: var(--jp-border-color2, #ddd); --fw-warn: var(--jp-warn-color0, #e65100); --fw-error: var(--jp-error-color1, #d32f2f);
  font: 12px var(--jp-ui-font-family, system-ui, sans-serif); color: var(--jp-ui-font-color1, #333); outline: none; }
.fw-cleaner:focus-visible { box-shadow: 0 0 0 2px var(--fw-accent) inset; }
.fw-cleaner [hidden] { display: none !important; }
.fw-cleaner .fw-toolbar, .fw-cleaner .fw-status, .fw-cleaner .fw-pager { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; padding: 3px 4px; }
.fw-cleaner label { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
.fw-cleaner select, .fw-cleaner button { font: inherit; color: inherit; background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px; padding: 1px 6px; }
.fw-cleaner select { max-width: 14em; }
.fw-cleaner button { cursor: pointer; }
.fw-cleaner button:hover:not(:disabled) { background: var(--jp-layout-color2, #eee); }
.fw-cleaner button:disabled { opacity: 0.45; cursor: default; }
.fw-cleaner .fw-thumb-size { width: 90px; }
.fw-cleaner .fw-counts { font-variant-numeric: tabular-nums; white-space: pre-wrap; }
.fw-cleaner .fw-count-relabelled b { color: var(--fw-accent); }
.fw-cleaner .fw-count-deleted b { color: var(--fw-error); }
.fw-cleaner .fw-count-broken b { color: var(--fw-warn); }
.fw-cleaner .fw-message { color: var(--fw-warn); white-space: pre-wrap; }
.fw-cleaner .fw-keys { color: var(--fw-muted); }
.fw-cleaner .fw-progress { display: flex; align-items: center; gap: 8px; padding: 8px 4px; font-variant-numeric: tabular-nums; }
.fw-cleaner .fw-progress progress { width: 240px; }
.fw-cleaner .fw-matching, .fw-cleaner .fw-page-label { font-variant-numeric: tabular-nums; }
.fw-cleaner .fw-matching { color: var(--fw-muted); }
.fw-cleaner .fw-grid { display: grid; gap: 6px; padding: 4px;
  grid-template-columns: repeat(auto-fill, minmax(max(calc(var(--fw-thumb) + 14px), 120px), 1fr)); }
.fw-cleaner .fw-stale { opacity: 0.6; }
.fw-cleaner .fw-card { position: relative; display: flex; flex-direction: column; gap: 2px; padding: 6px; min-width: 0;
  border: 1px solid var(--fw-border); border-radius: 4px; background: var(--jp-layout-color1, #fff); cursor: pointer; }
.fw-cleaner .fw-card.fw-focused { outline: 2px solid var(--fw-accent); outline-offset: -1px; }
.fw-cleaner:not(:focus-within) .fw-card.fw-focused { outline-style: dashed; }
/* relabelled: a bar along the top, so it does not read as the focus outline */
.fw-cleaner .fw-card.fw-relabelled { box-shadow: inset 0 3px 0 var(--fw-accent); }
.fw-cleaner .fw-card.fw-deleted { opacity: 0.45; background: var(--jp-layout-color2, #f1f1f1); }
.fw-cleaner .fw-card.fw-deleted .fw-name, .fw-cleaner .fw-card.fw-deleted .fw-thumb { text-decoration: line-through; }
.fw-cleaner .fw-card.fw-deleted .fw-thumb img { filter: grayscale(1); }
.fw-cleaner .fw-thumb { width: var(--fw-thumb); height: var(--fw-thumb); align-self: center; display: flex;
  align-items: center; justify-content: center; overflow: hidden; border-radius: 3px; background: var(--jp-layout-color2, #eee); }
.fw-cleaner .fw-thumb img { width: 100%; height: 100%; object-fit: contain; }
.fw-cleaner .fw-thumb img.fw-pixelated { image-rendering: pixelated; }
.fw-cleaner .fw-placeholder { width: 100%; height: 100%; }
.fw-cleaner .fw-broken-box { padding: 4px; font-size: 11px; color: var(--fw-error); text-align: center; overflow-wrap: anywhere;
  overflow: hidden; max-height: 100%; }
.fw-cleaner .fw-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.fw-cleaner .fw-label, .fw-cleaner .fw-pred, .fw-cleaner .fw-loss-row { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.fw-cleaner .fw-new-label { color: var(--fw-accent); font-weight: 600; }
.fw-cleaner .fw-relabelled .fw-orig-label { text-decoration: line-through; color: var(--fw-muted); }
.fw-cleaner .fw-pred { color: var(--fw-muted); }
.fw-cleaner .fw-pred.fw-mismatch { color: var(--fw-warn); }
.fw-cleaner .fw-loss-row { display: flex; justify-content: space-between; align-items: center; gap: 4px; color: var(--fw-muted); }
.fw-cleaner .fw-split { font-size: 10px; padding: 0 4px; border-radius: 8px; border: 1px solid var(--fw-border); }
.fw-cleaner .fw-split-valid { border-color: var(--fw-accent); color: var(--fw-accent); }
.fw-cleaner .fw-card-controls { display: flex; gap: 4px; margin-top: 2px; }
.fw-cleaner .fw-relabel { flex: 1; min-width: 0; }
.fw-cleaner .fw-deleted .fw-delete { color: var(--fw-error); border-color: var(--fw-error); }
.fw-cleaner .fw-empty { padding: 16px 4px; color: var(--fw-muted); }
.fw-cleaner .fw-pairs { display: flex; flex-direction: column; gap: 6px; padding: 4px; }
.fw-cleaner .fw-pair { display: flex; align-items: center; gap: 10px; padding: 6px; border: 1px solid var(--fw-border); border-radius: 4px; }
.fw-cleaner .fw-pair.fw-has-verdict { background: var(--jp-layout-color2, #f5f5f5); }
.fw-cleaner .fw-pair-left, .fw-cleaner .fw-pair-right { display: flex; flex-direction: column; gap: 2px; width: calc(var(--fw-thumb) + 8px); min-width: 0; }
.fw-cleaner .fw-pair-info { display: flex; flex-direction: column; gap: 4px; flex: 1; min-width: 10em; }
.fw-cleaner .fw-pair-buttons { display: flex; flex-wrap: wrap; gap: 4px; }
.fw-cleaner .fw-pair button.fw-active { border-color: var(--fw-accent); color: var(--fw-accent); font-weight: 600; }
.fw-cleaner .fw-pair .fw-chosen { opacity: 0.45; text-decoration: line-through; }
.fw-cleaner .fw-leak { color: var(--fw-error); font-weight: 600; }
.fw-cleaner .fw-kind { font-size: 10px; padding: 0 4px; border-radius: 8px; border: 1px solid var(--fw-border); }
.fw-cleaner .fw-verdict { color: var(--fw-muted); }
`;

/* ---------------------------------------------------------------- thumbnails (per model) */

/** The model's thumbnails: filled by Python's "thumbs" messages, shared by its views. */
class ThumbStore {
  readonly cache = new ThumbCache(THUMB_CACHE_ENTRIES);
  /** Keys asked for and not yet received, with when: not asked again until ASK_AGAIN_MS. */
  private readonly asked = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  views = 0;

  constructor(private readonly model: Model) {}

  receive(msg: unknown, buffers: readonly ByteSource[]): void {
    const thumbs = decodeThumbs(msg, buffers);
    if (!thumbs) return;
    for (const t of thumbs) {
      const url = t.broken === null ? URL.createObjectURL(new Blob([t.bytes as Uint8Array<ArrayBuffer>], { type: t.mime })) : null;
      this.cache.set(t.i, t.size, { url, broken: t.broken, w: t.w, h: t.h });
      // Decoded now, while no card shows it: a prefetched page then appears with its
      // cards, not a frame or two after them.
      if (url !== null) {
        const warm = new Image();
        warm.src = url;
        warm.decode().catch(() => undefined);
      }
      this.asked.delete(thumbKey(t.i, t.size));
    }
    if (thumbs.length) for (const fn of this.listeners) fn();
  }

  /** Asks Python for the thumbnails of `items` at `size` that are neither cached nor on their way. */
  ask(items: readonly number[], size: number): void {
    const now = Date.now();
    const need: number[] = [];
    for (const i of new Set(items)) {
      const key = thumbKey(i, size);
      const at = this.asked.get(key);
      if (this.cache.has(i, size) || (at !== undefined && now - at < ASK_AGAIN_MS)) continue;
      need.push(i);
      this.asked.set(key, now);
    }
    if (need.length) this.model.send(thumbsRequest(need, size));
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  clear(): void {
    this.cache.clear();
    this.asked.clear();
  }
}

const thumbStores = new Map<unknown, ThumbStore>();

function attachThumbs(model: Model): () => void {
  const store = new ThumbStore(model);
  const key = modelKey(model);
  thumbStores.set(key, store);
  const onMsg = (msg: unknown, buffers: ByteSource[] = []) => store.receive(msg, buffers);
  model.on("msg:custom", onMsg);
  return () => {
    model.off("msg:custom", onMsg);
    store.clear();
    if (thumbStores.get(key) === store) thumbStores.delete(key);
  };
}

function thumbStore(model: Model): ThumbStore {
  if (!thumbStores.has(modelKey(model))) attachThumbs(model);
  return thumbStores.get(modelKey(model))!;
}

/* ---------------------------------------------------------------- small DOM pieces */

/** Writes text only when it differs (no DOM churn on every trait update). */
/** A <select> whose options are (value, text) pairs, rebuilt only when they change. */
function setOptions(select: HTMLSelectElement, options: readonly [string, string][]): void {
  const key = JSON.stringify(options);
  if (select.dataset.fwOptions === key) return;
  select.dataset.fwOptions = key;
  select.replaceChildren(
    ...options.map(([value, text]) => {
      const o = document.createElement("option");
      o.value = value;
      o.text = text;
      return o;
    }),
  );
}

/** A labelled control in the toolbar: `<label>text <control></label>`. */
function labelled<K extends "select" | "input">(parent: HTMLElement, text: string, tag: K, cls: string, after = false): HTMLElementTagNameMap[K] {
  const label = el("label", "fw-ctl", parent);
  if (!after) label.append(text);
  const control = el(tag, cls, label);
  if (after) label.append(text);
  return control;
}

/** The image box of a card or pair side: the image, an empty placeholder, or "broken: reason". */
class ThumbBox {
  readonly box: HTMLDivElement;
  private readonly img: HTMLImageElement;
  private readonly placeholder: HTMLDivElement;
  private readonly broken: HTMLDivElement;

  constructor(parent: HTMLElement) {
    this.box = el("div", "fw-thumb", parent);
    this.img = el("img", "fw-img", this.box);
    this.img.draggable = false;
    this.img.hidden = true;
    // Thumbnails are never enlarged in Python: a tiny image (8x8 digits) fills the box
    // here, drawn as crisp pixels rather than a blur.
    this.img.addEventListener("load", () => {
      this.img.classList.toggle("fw-pixelated", this.img.naturalWidth * 2 <= this.box.clientWidth);
    });
    this.placeholder = el("div", "fw-placeholder", this.box);
    this.broken = el("div", "fw-broken-box", this.box);
    this.broken.hidden = true;
  }

  show(name: string, thumb: Thumb | undefined, brokenReason: string | null): void {
    const reason = brokenReason ?? thumb?.broken ?? null;
    const url = reason === null ? thumb?.url ?? null : null;
    this.broken.hidden = reason === null;
    if (reason !== null) setText(this.broken, `broken: ${reason}`);
    this.img.hidden = url === null;
    if (url !== null && this.img.getAttribute("src") !== url) {
      this.img.src = url;
      this.img.alt = name;
    }
    if (url === null && this.img.hasAttribute("src")) this.img.removeAttribute("src");
    this.placeholder.hidden = url !== null || reason !== null;
  }
}

/** One card of the grid, updated in place when its item changes (its image is not reloaded). */
class Card {
  readonly root: HTMLDivElement;
  private readonly thumb: ThumbBox;
  private readonly name: HTMLDivElement;
  private readonly orig: HTMLSpanElement;
  private readonly arrow: HTMLSpanElement;
  private readonly newLabel: HTMLSpanElement;
  private readonly pred: HTMLDivElement;
  private readonly loss: HTMLSpanElement;
  private readonly split: HTMLSpanElement;
  private readonly select: HTMLSelectElement;
  private readonly del: HTMLButtonElement;

  constructor(readonly i: number) {
    const root = (this.root = document.createElement("div"));
    root.className = "fw-card";
    root.dataset.item = String(i);
    this.thumb = new ThumbBox(root);
    this.name = el("div", "fw-name", root);
    const label = el("div", "fw-label", root);
    this.orig = el("span", "fw-orig-label", label);
    this.arrow = el("span", "fw-arrow", label);
    this.arrow.textContent = " → ";
    this.newLabel = el("span", "fw-new-label", label);
    this.pred = el("div", "fw-pred", root);
    const lossRow = el("div", "fw-loss-row", root);
    this.loss = el("span", "fw-loss", lossRow);
    this.split = el("span", "fw-split", lossRow);
    const controls = el("div", "fw-card-controls", root);
    this.select = el("select", "fw-relabel", controls);
    this.select.title = "Relabel (keys 1–9)";
    this.del = el("button", "fw-delete", controls);
    this.del.type = "button";
  }

  update(item: PageItem, classes: readonly string[], thumb: Thumb | undefined, focused: boolean): void {
    const { root } = this;
    const current = item.new_label ?? item.label;
    root.dataset.name = item.name;
    root.dataset.label = current;
    setClass(root, "fw-deleted", item.deleted);
    setClass(root, "fw-relabelled", item.new_label !== null);
    setClass(root, "fw-broken", (item.broken ?? thumb?.broken ?? null) !== null);
    setClass(root, "fw-focused", focused);
    this.thumb.show(item.name, thumb, item.broken);
    setText(this.name, item.name);
    if (this.name.title !== item.name) this.name.title = item.name;
    setText(this.orig, item.label);
    this.arrow.hidden = this.newLabel.hidden = item.new_label === null;
    setText(this.newLabel, item.new_label ?? "");
    const prob = formatProb(item.prob);
    this.pred.hidden = item.pred === null;
    setText(this.pred, item.pred === null ? "" : `pred ${item.pred}${prob ? ` (${prob})` : ""}`);
    setClass(this.pred, "fw-mismatch", item.pred !== null && item.pred !== current);
    const loss = formatLoss(item.loss);
    this.loss.hidden = loss === "";
    setText(this.loss, loss ? `loss ${loss}` : "");
    setText(this.split, item.split);
    this.split.hidden = item.split === "";
    const splitClass = `fw-split fw-split-${item.split === "valid" ? "valid" : "train"}`;
    if (this.split.className !== splitClass) this.split.className = splitClass;
    const options: [string, string][] = classes.map((c) => [c, c]);
    if (!classes.includes(current)) options.unshift([current, current]);
    setOptions(this.select, options);
    if (this.select.value !== current) this.select.value = current;
    setText(this.del, item.deleted ? "Restore" : "Delete");
    this.del.setAttribute("aria-pressed", String(item.deleted));
    this.del.title = item.deleted ? "Keep this item (d)" : "Delete this item (d)";
  }
}

/** One pair of the duplicates list. */
class PairRow {
  readonly root: HTMLDivElement;
  private readonly left: ThumbBox;
  private readonly right: ThumbBox;
  private readonly leftSide: HTMLDivElement;
  private readonly rightSide: HTMLDivElement;
  private readonly leftName: HTMLDivElement;
  private readonly rightName: HTMLDivElement;
  private readonly similarity: HTMLSpanElement;
  private readonly kind: HTMLSpanElement;
  private readonly leak: HTMLSpanElement;
  private readonly verdict: HTMLSpanElement;
  private readonly buttons = new Map<Verdict, HTMLButtonElement>();

  constructor(readonly pair: Pair) {
    const root = (this.root = document.createElement("div"));
    root.className = "fw-pair";
    root.dataset.a = String(pair.a);
    root.dataset.b = String(pair.b);
    this.leftSide = el("div", "fw-pair-left", root);
    this.left = new ThumbBox(this.leftSide);
    this.leftName = el("div", "fw-name", this.leftSide);
    this.rightSide = el("div", "fw-pair-right", root);
    this.right = new ThumbBox(this.rightSide);
    this.rightName = el("div", "fw-name", this.rightSide);
    const info = el("div", "fw-pair-info", root);
    const line = el("div", "fw-pair-meta", info);
    this.similarity = el("span", "fw-similarity", line);
    line.append(" ");
    this.kind = el("span", "fw-kind", line);
    this.leak = el("div", "fw-leak", info);
    this.leak.textContent = "leak: train ↔ valid";
    const buttons = el("div", "fw-pair-buttons", info);
    for (const [verdict, text] of [["delete_left", "delete left"], ["delete_right", "delete right"], ["keep_both", "keep both"]] as const) {
      const b = el("button", `fw-${verdict.replace("_", "-")}`, buttons);
      b.type = "button";
      b.dataset.verdict = verdict;
      b.textContent = text;
      this.buttons.set(verdict, b);
    }
    this.verdict = el("span", "fw-verdict", info);
  }

  update(pair: Pair, left: Thumb | undefined, right: Thumb | undefined): void {
    const root = this.root;
    root.dataset.verdict = pair.verdict ?? "";
    root.dataset.leak = String(pair.leak);
    setClass(root, "fw-has-verdict", pair.verdict !== null);
    this.left.show(pair.a_name, left, null);
    this.right.show(pair.b_name, right, null);
    setText(this.leftName, pair.a_name);
    this.leftName.title = pair.a_name;
    setText(this.rightName, pair.b_name);
    this.rightName.title = pair.b_name;
    setText(this.similarity, pair.similarity === null ? "" : `similarity ${pair.similarity.toFixed(3)}`);
    setText(this.kind, pair.kind);
    this.leak.hidden = !pair.leak;
    setText(this.verdict, pair.verdict ? `verdict: ${pair.verdict.replace("_", " ")}` : "");
    for (const [v, b] of this.buttons) {
      setClass(b, "fw-active", pair.verdict === v);
      b.setAttribute("aria-pressed", String(pair.verdict === v));
    }
    setClass(this.leftSide, "fw-chosen", pair.verdict === "delete_left");
    setClass(this.rightSide, "fw-chosen", pair.verdict === "delete_right");
  }
}

/* ---------------------------------------------------------------- the view */

function isField(target: EventTarget | null): boolean {
  const t = target as HTMLElement | null;
  if (!t || !t.tagName) return false;
  return t.tagName === "SELECT" || t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable;
}

class CleanerWidgetView {
  private readonly d = new Disposer();
  private readonly thumbs: ThumbStore;
  private readonly pending = new PendingDecisions();
  private readonly root: HTMLDivElement;
  // toolbar
  private readonly fLabel: HTMLSelectElement;
  private readonly fSplit: HTMLSelectElement;
  private readonly fPred: HTMLSelectElement;
  private readonly fChanged: HTMLInputElement;
  private readonly fBroken: HTMLInputElement;
  private readonly sort: HTMLSelectElement;
  private readonly pageSize: HTMLSelectElement;
  private readonly thumbSize: HTMLInputElement;
  private readonly undo: HTMLButtonElement;
  private readonly redo: HTMLButtonElement;
  private readonly mode: HTMLSelectElement;
  // status, progress, pager, content
  private readonly counts: HTMLSpanElement;
  private readonly countNodes = new Map<string, HTMLElement>();
  private readonly message: HTMLSpanElement;
  private readonly keys: HTMLSpanElement;
  private readonly progress: HTMLDivElement;
  private readonly progressBar: HTMLProgressElement;
  private readonly progressText: HTMLSpanElement;
  private readonly pager: HTMLDivElement;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly pageLabel: HTMLSpanElement;
  private readonly matching: HTMLSpanElement;
  private readonly grid: HTMLDivElement;
  private readonly empty: HTMLDivElement;
  private readonly pairsBox: HTMLDivElement;

  private readonly cards = new Map<number, Card>();
  private readonly pairRows = new Map<string, PairRow>();
  /** The cards shown, in order, with pending decisions applied. */
  private items: PageItem[] = [];
  private focusPos = 0;
  private focusItem: number | null = null;
  /** Page of the pairs list (kept here: `pairs` is the whole list, paged in the browser). */
  private pairPage = 0;
  private renderQueued = false;
  private thumbTimer = 0;
  private rendered = 0;
  private destroyed = false;

  constructor(private readonly model: Model, host: HTMLElement) {
    injectStyle("fw-cleaner-style", CSS);
    this.thumbs = thumbStore(model);
    this.thumbs.views++;
    const root = (this.root = el("div", "fw-root fw-cleaner", host));
    root.dataset.fwWidget = "cleaner";
    root.tabIndex = 0;
    this.d.add(isolateKeys(root));

    const bar = el("div", "fw-toolbar", root);
    this.fLabel = labelled(bar, "class", "select", "fw-filter-label");
    this.fSplit = labelled(bar, "split", "select", "fw-filter-split");
    setOptions(this.fSplit, [["", "all"], ["train", "train"], ["valid", "valid"]]);
    this.fPred = labelled(bar, "predicted", "select", "fw-filter-pred");
    this.fChanged = labelled(bar, "changed only", "input", "fw-filter-changed", true);
    this.fChanged.type = "checkbox";
    this.fBroken = labelled(bar, "broken only", "input", "fw-filter-broken", true);
    this.fBroken.type = "checkbox";
    this.sort = labelled(bar, "sort", "select", "fw-sort");
    setOptions(this.sort, SORTS.map((s) => [s, SORT_TEXT[s]]));
    this.pageSize = labelled(bar, "per page", "select", "fw-page-size");
    this.thumbSize = labelled(bar, "size", "input", "fw-thumb-size");
    Object.assign(this.thumbSize, { type: "range", min: String(THUMB_MIN), max: String(THUMB_MAX), step: "8" });
    this.undo = el("button", "fw-undo", bar);
    this.undo.type = "button";
    this.undo.textContent = "Undo";
    this.undo.title = "Undo the last decision (z)";
    this.redo = el("button", "fw-redo", bar);
    this.redo.type = "button";
    this.redo.textContent = "Redo";
    this.redo.title = "Redo (Z)";
    this.mode = labelled(bar, "show", "select", "fw-mode");
    setOptions(this.mode, [["grid", "grid"], ["pairs", "duplicate pairs"]]);

    const status = el("div", "fw-status", root);
    this.counts = el("span", "fw-counts", status);
    for (const k of ["kept", "relabelled", "deleted", "broken"]) {
      if (this.countNodes.size) this.counts.append(" · ");
      this.countNodes.set(k, el("span", `fw-count fw-count-${k}`, this.counts));
    }
    this.message = el("span", "fw-message", status);
    this.keys = el("span", "fw-keys", status);

    this.progress = el("div", "fw-progress", root);
    this.progressBar = el("progress", "fw-progress-bar", this.progress);
    this.progressText = el("span", "fw-progress-text", this.progress);

    this.pager = el("div", "fw-pager", root);
    this.prev = el("button", "fw-prev", this.pager);
    this.prev.type = "button";
    this.prev.textContent = "‹ Prev";
    this.prev.title = "Previous page (p)";
    this.pageLabel = el("span", "fw-page-label", this.pager);
    this.next = el("button", "fw-next", this.pager);
    this.next.type = "button";
    this.next.textContent = "Next ›";
    this.next.title = "Next page (n)";
    this.matching = el("span", "fw-matching", this.pager);

    this.grid = el("div", "fw-grid", root);
    this.empty = el("div", "fw-empty", root);
    this.empty.textContent = "No items match these filters.";
    this.pairsBox = el("div", "fw-pairs", root);

    this.wire();
    this.render();
    this.scheduleThumbs();
  }

  destroy(): void {
    this.destroyed = true;
    clearTimeout(this.thumbTimer);
    this.d.dispose();
    // the last view of the model frees the blobs; a later view asks for what it shows
    if (--this.thumbs.views <= 0) this.thumbs.clear();
  }

  /* ------------------------------------------------------------ wiring */

  private listen<K extends keyof HTMLElementEventMap>(node: HTMLElement, type: K, fn: (ev: HTMLElementEventMap[K]) => void): void {
    node.addEventListener(type, fn);
    this.d.add(() => node.removeEventListener(type, fn));
  }

  private wire(): void {
    const { model } = this;
    for (const trait of TRAITS) {
      this.d.on(model, `change:${trait}`, () => {
        if (trait === "page_items") this.pending.reconcile(readItems(model.get("page_items")));
        if (trait === "page_items" || trait === "pairs" || trait === "view") this.scheduleThumbs();
        this.scheduleRender();
      });
    }
    this.d.add(this.thumbs.subscribe(() => this.scheduleRender()));

    const onSelect = (node: HTMLSelectElement, patch: (v: string) => ViewPatch) =>
      this.listen(node, "change", () => {
        this.setView(patch(node.value));
        this.root.focus({ preventScroll: true });
      });
    onSelect(this.fLabel, (v) => ({ filters: { label: v || null } }));
    onSelect(this.fSplit, (v) => ({ filters: { split: v === "train" || v === "valid" ? v : null } }));
    onSelect(this.fPred, (v) => ({ filters: { pred: v || null } }));
    onSelect(this.sort, (v) => ({ sort: SORTS.includes(v as CleanerView["sort"]) ? (v as CleanerView["sort"]) : "loss" }));
    onSelect(this.pageSize, (v) => ({ page_size: Number(v) }));
    onSelect(this.mode, (v) => ({ mode: v === "pairs" ? "pairs" : "grid" }));
    this.listen(this.fChanged, "change", () => this.setView({ filters: { changed: this.fChanged.checked } }));
    this.listen(this.fBroken, "change", () => this.setView({ filters: { broken: this.fBroken.checked } }));
    // the slider resizes at once; Python hears (and sends thumbnails of the new size) on release
    this.listen(this.thumbSize, "input", () => this.root.style.setProperty("--fw-thumb", `${Number(this.thumbSize.value)}px`));
    this.listen(this.thumbSize, "change", () => {
      this.setView({ thumb_size: Number(this.thumbSize.value) });
      this.scheduleThumbs();
    });
    // buttons hand the focus back to the root: a button that becomes disabled (next on the
    // last page) would drop it to the document, and the keys would stop working
    const onButton = (node: HTMLButtonElement, fn: () => void) =>
      this.listen(node, "click", () => {
        fn();
        this.root.focus({ preventScroll: true });
      });
    onButton(this.undo, () => this.sendUndo(false));
    onButton(this.redo, () => this.sendUndo(true));
    onButton(this.prev, () => this.step(-1));
    onButton(this.next, () => this.step(1));

    // cards: one delegated listener per event type
    this.listen(this.grid, "click", (ev) => {
      const target = ev.target as HTMLElement;
      const card = target.closest<HTMLElement>(".fw-card");
      if (!card) return;
      const pos = this.items.findIndex((it) => String(it.i) === card.dataset.item);
      if (pos < 0) return;
      this.setFocus(pos, false);
      if (target.closest(".fw-delete")) this.toggleDelete(this.items[pos]);
      if (!isField(target)) this.root.focus({ preventScroll: true });
    });
    this.listen(this.grid, "change", (ev) => {
      const target = ev.target as HTMLElement;
      if (!(target instanceof HTMLSelectElement) || !target.classList.contains("fw-relabel")) return;
      const item = this.items.find((it) => String(it.i) === target.closest<HTMLElement>(".fw-card")?.dataset.item);
      if (item) this.relabel(item, target.value);
      this.root.focus({ preventScroll: true });
    });
    this.listen(this.pairsBox, "click", (ev) => {
      const button = (ev.target as HTMLElement).closest<HTMLElement>("button[data-verdict]");
      const row = button?.closest<HTMLElement>(".fw-pair");
      if (!button || !row) return;
      const a = Number(row.dataset.a);
      const b = Number(row.dataset.b);
      this.model.send({ type: "pair", a, b, verdict: button.dataset.verdict as Verdict });
    });
    this.listen(this.root, "keydown", (ev) => this.onKey(ev));
  }

  /* ------------------------------------------------------------ actions */

  private view(): CleanerView {
    return normalizeView(this.model.get("view"));
  }

  private setView(patch: ViewPatch): void {
    const current = this.view();
    const next = changeView(current, patch);
    if (!next) return;
    if (next.page !== current.page || next.page_size !== current.page_size || next.sort !== current.sort ||
        JSON.stringify(next.filters) !== JSON.stringify(current.filters)) {
      // a new page or a new order: the focus starts on the first card
      this.focusPos = 0;
      this.focusItem = null;
    }
    this.writeView(next);
  }

  private writeView(next: CleanerView): void {
    this.model.set("view", toTrait(next, this.model.get("view")));
    this.model.save_changes();
  }

  private pairsMode(): boolean {
    return this.view().mode === "pairs" && readPairs(this.model.get("pairs")).length > 0;
  }

  /** Next (+1) or previous (-1) page, of the grid or of the pairs; the focus goes to the first card. */
  private step(delta: 1 | -1): void {
    if (this.pairsMode()) {
      const pages = Math.max(1, Math.ceil(readPairs(this.model.get("pairs")).length / this.view().page_size));
      const page = Math.min(pages - 1, Math.max(0, this.pairPage + delta));
      if (page === this.pairPage) return;
      this.pairPage = page;
      this.scheduleThumbs();
      this.scheduleRender();
      return;
    }
    const info = readPageInfo(this.model.get("page_info"), this.items.length);
    const next = stepPage(this.view(), delta, info.pages);
    if (!next) return;
    this.focusPos = 0;
    this.focusItem = null;
    this.writeView(next);
  }

  private relabel(item: PageItem, label: string): void {
    this.pending.set(item.i, relabelled(item, label));
    this.model.send({ type: "decide", action: "relabel", item: item.i, label });
    this.scheduleRender();
  }

  private toggleDelete(item: PageItem): void {
    const deleted = !item.deleted;
    this.pending.set(item.i, deletedAs(item, deleted));
    this.model.send({ type: "decide", action: "delete", item: item.i, deleted });
    this.scheduleRender();
  }

  private sendUndo(redo: boolean): void {
    // what undo restores is Python's to say: drop the guesses shown meanwhile
    this.pending.clear();
    this.model.send({ type: redo ? "redo" : "undo" });
    this.scheduleRender();
  }

  private setFocus(pos: number, scroll: boolean): void {
    if (pos < 0 || pos >= this.items.length) return;
    this.focusPos = pos;
    this.focusItem = this.items[pos].i;
    for (const [i, card] of this.cards) setClass(card.root, "fw-focused", i === this.focusItem);
    this.root.dataset.fwFocus = String(this.focusItem);
    if (scroll) this.cards.get(this.focusItem)?.root.scrollIntoView?.({ block: "nearest" });
  }

  /** Columns as laid out: the cards on the first card's row. */
  private columns(): number {
    const tops: number[] = [];
    for (const item of this.items) {
      const card = this.cards.get(item.i);
      if (card) tops.push(card.root.offsetTop);
    }
    return columnsFromTops(tops);
  }

  private onKey(ev: KeyboardEvent): void {
    if (isField(ev.target)) {
      // keys belong to the control (type-ahead, arrows); Escape hands them back to the grid
      if (ev.key === "Escape") {
        ev.preventDefault();
        this.root.focus({ preventScroll: true });
      }
      return;
    }
    const classes = readClasses(this.model.get("classes"));
    const action = keyAction(ev, classes.length);
    if (!action) return;
    if (action.kind === "escape") return;
    ev.preventDefault();
    const focused = this.pairsMode() ? undefined : this.items[this.focusPos];
    switch (action.kind) {
      case "move":
        if (!this.pairsMode()) this.setFocus(moveFocus(this.focusPos, action.dir, this.items.length, this.columns()), true);
        break;
      case "relabel":
        if (focused) this.relabel(focused, classes[action.cls]);
        break;
      case "toggleDelete":
        if (focused) this.toggleDelete(focused);
        break;
      case "undo":
      case "redo":
        this.sendUndo(action.kind === "redo");
        break;
      case "page":
        this.step(action.delta);
        break;
    }
  }

  /* ------------------------------------------------------------ thumbnails */

  /** Asks for the missing thumbnails of what is shown, after a short pause (ASK_DELAY_MS). */
  private scheduleThumbs(): void {
    if (this.destroyed) return;
    clearTimeout(this.thumbTimer);
    this.thumbTimer = window.setTimeout(() => this.askThumbs(), ASK_DELAY_MS);
  }

  private askThumbs(): void {
    if (this.destroyed) return;
    const size = this.view().thumb_size;
    const wanted: number[] = [];
    if (this.pairsMode()) {
      for (const p of this.visiblePairs()) wanted.push(p.a, p.b);
    } else {
      for (const it of readItems(this.model.get("page_items"))) if (it.broken === null) wanted.push(it.i);
    }
    this.thumbs.ask(wanted, size);
  }

  /* ------------------------------------------------------------ rendering */

  private scheduleRender(): void {
    if (this.renderQueued || this.destroyed) return;
    this.renderQueued = true;
    // trait changes of one Python update arrive as a burst of events: render once after it
    queueMicrotask(() => {
      this.renderQueued = false;
      if (!this.destroyed) this.render();
    });
  }

  private visiblePairs(): Pair[] {
    const pairs = readPairs(this.model.get("pairs"));
    const size = this.view().page_size;
    const pages = Math.max(1, Math.ceil(pairs.length / size));
    this.pairPage = Math.min(this.pairPage, pages - 1);
    return pairs.slice(this.pairPage * size, (this.pairPage + 1) * size);
  }

  private render(): void {
    const { model } = this;
    const view = this.view();
    const classes = readClasses(model.get("classes"));
    const pairs = readPairs(model.get("pairs"));
    const running = readRunning(model.get("progress"));
    const pairsMode = view.mode === "pairs" && pairs.length > 0;

    // toolbar
    const all: [string, string][] = [["", "all"]];
    setOptions(this.fLabel, [...all, ...classes.map((c): [string, string] => [c, c])]);
    setOptions(this.fPred, [...all, ...classes.map((c): [string, string] => [c, c])]);
    this.fLabel.value = view.filters.label ?? "";
    this.fSplit.value = view.filters.split ?? "";
    this.fPred.value = view.filters.pred ?? "";
    this.fChanged.checked = view.filters.changed;
    this.fBroken.checked = view.filters.broken;
    this.sort.value = view.sort;
    setOptions(this.pageSize, pageSizeChoices(view.page_size).map((n) => [String(n), String(n)]));
    this.pageSize.value = String(view.page_size);
    if (document.activeElement !== this.thumbSize) this.thumbSize.value = String(view.thumb_size);
    this.root.style.setProperty("--fw-thumb", `${view.thumb_size}px`);
    this.undo.disabled = !model.get("can_undo");
    this.redo.disabled = !model.get("can_redo");
    (this.mode.parentElement as HTMLElement).hidden = pairs.length === 0;
    this.mode.value = pairsMode ? "pairs" : "grid";
    for (const node of [this.fLabel, this.fSplit, this.fPred, this.fChanged, this.fBroken, this.sort]) {
      (node.parentElement as HTMLElement).hidden = pairsMode;
    }

    // status
    const counts = readCounts(model.get("counts"));
    for (const [k, node] of this.countNodes) {
      const n = counts[k as keyof typeof counts];
      const key = JSON.stringify([k, n]);
      if (node.dataset.fwKey === key) continue;
      node.dataset.fwKey = key;
      const b = document.createElement("b");
      b.textContent = formatCount(n);
      node.replaceChildren(`${k} `, b);
    }
    Object.assign(this.counts.dataset, {
      kept: String(counts.kept), relabelled: String(counts.relabelled), deleted: String(counts.deleted),
      broken: String(counts.broken), total: String(counts.total),
    });
    const message = String(model.get("message") ?? "");
    setText(this.message, message);
    this.message.hidden = message === "";
    const digits = classes.slice(0, 9).map((c, k) => `${k + 1} ${c}`).join(" · ");
    setText(this.keys, pairsMode ? "keys: n/p page · z undo · Z redo"
      : `keys: arrows move · ${digits ? `${digits} · ` : ""}d delete · z undo · Z redo · n/p page`);

    // progress: the grid waits for the losses
    this.progress.hidden = running === null;
    if (running) {
      if (running.total === null) this.progressBar.removeAttribute("value"); // indeterminate until the total is known
      else {
        this.progressBar.max = Math.max(1, running.total);
        this.progressBar.value = Math.min(running.total, running.done);
      }
      setText(this.progressText, progressText(running));
    }
    this.pager.hidden = running !== null;
    this.grid.hidden = running !== null || pairsMode;
    this.pairsBox.hidden = running !== null || !pairsMode;

    if (pairsMode) {
      this.renderPairs(pairs, view);
      this.empty.hidden = true;
    } else {
      this.renderGrid(classes, view);
      this.empty.hidden = running !== null || this.items.length > 0;
    }
    this.rendered++;
    Object.assign(this.root.dataset, {
      fwMode: pairsMode ? "pairs" : "grid",
      fwRendered: String(this.rendered),
      fwRunning: String(running !== null),
    });
  }

  private renderGrid(classes: readonly string[], view: CleanerView): void {
    const items = (this.items = readItems(this.model.get("page_items")).map((it) => this.pending.apply(it)));
    const info = readPageInfo(this.model.get("page_info"), items.length);
    setText(this.pageLabel, pageText(info.page, info.pages));
    setText(this.matching, matchingText(info.matching, info.total));
    this.prev.disabled = view.page <= 0;
    this.next.disabled = view.page >= info.pages - 1;
    // waiting for Python to answer a page change
    setClass(this.grid, "fw-stale", view.page !== info.page);
    Object.assign(this.root.dataset, { fwPage: String(info.page), fwPages: String(info.pages) });

    this.focusPos = refocus(items.map((it) => it.i), this.focusItem, this.focusPos);
    this.focusItem = this.focusPos >= 0 ? items[this.focusPos].i : null;
    this.root.dataset.fwFocus = this.focusItem === null ? "" : String(this.focusItem);
    if (this.focusPos < 0) this.focusPos = 0;

    const shown = new Set(items.map((it) => it.i));
    for (const i of [...this.cards.keys()]) if (!shown.has(i)) this.cards.delete(i);
    const nodes: HTMLElement[] = [];
    for (const item of items) {
      let card = this.cards.get(item.i);
      if (!card) this.cards.set(item.i, (card = new Card(item.i)));
      const thumb = item.broken === null ? this.thumbs.cache.getOrStandIn(item.i, view.thumb_size) : undefined;
      card.update(item, classes, thumb, item.i === this.focusItem);
      nodes.push(card.root);
    }
    const children = this.grid.children;
    if (children.length !== nodes.length || nodes.some((n, k) => children[k] !== n)) this.grid.replaceChildren(...nodes);
  }

  private renderPairs(pairs: readonly Pair[], view: CleanerView): void {
    const shown = this.visiblePairs();
    const pages = Math.max(1, Math.ceil(pairs.length / view.page_size));
    setText(this.pageLabel, pageText(this.pairPage, pages));
    const leaks = pairs.filter((p) => p.leak).length;
    setText(this.matching, `${formatCount(pairs.length)} ${pairs.length === 1 ? "pair" : "pairs"}${leaks ? ` · ${formatCount(leaks)} leak${leaks === 1 ? "" : "s"}` : ""}`);
    this.prev.disabled = this.pairPage <= 0;
    this.next.disabled = this.pairPage >= pages - 1;
    Object.assign(this.root.dataset, { fwPage: String(this.pairPage), fwPages: String(pages) });

    const keys = new Set(shown.map((p) => `${p.a}:${p.b}`));
    for (const key of [...this.pairRows.keys()]) if (!keys.has(key)) this.pairRows.delete(key);
    const nodes: HTMLElement[] = [];
    for (const pair of shown) {
      const key = `${pair.a}:${pair.b}`;
      let row = this.pairRows.get(key);
      if (!row) this.pairRows.set(key, (row = new PairRow(pair)));
      row.update(pair, this.thumbs.cache.getOrStandIn(pair.a, view.thumb_size), this.thumbs.cache.getOrStandIn(pair.b, view.thumb_size));
      nodes.push(row.root);
    }
    const children = this.pairsBox.children;
    if (children.length !== nodes.length || nodes.some((n, k) => children[k] !== n)) this.pairsBox.replaceChildren(...nodes);
  }
}

const initialize: Initialize<CleanerTraits> = ({ model }) => attachThumbs(model);

const render: Render<CleanerTraits> = ({ model, el: host }) => {
  const view = new CleanerWidgetView(model, host);
  return () => view.destroy();
};

export default { initialize, render };
