/**
 * LRFinder: the learning-rate range test, drawn live (loss against lr on a log axis),
 * with fastai's suggestions as labelled markers and a pick the user sets by clicking or
 * dragging on the plot (or with the arrow keys). The pick goes back to Python
 * (`picked_lr`) and into a ready-to-copy line of code.
 *
 * Series (streaming core): "loss" = smoothed loss, "raw" = raw batch loss, both x = lr.
 */
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import Plotly from "plotly.js-basic-dist-min";
import type { Data, Layout, Shape } from "plotly.js";
import { formatEta } from "./core/cardtext";
import { el } from "./core/dom";
import { isolateKeys } from "./core/keys";
import { formatLr, nudgeLog } from "./core/logaxis";
import { axisValueAt, dragOnPlot, fullLayout } from "./core/pick";
import { FrameScheduler, injectStyle, nonFiniteMarkers, PALETTE, PLOT_CONFIG, themeColors } from "./core/plot";
import type { XY } from "./core/downsample";
import type { Series, SeriesStore } from "./core/store";
import { attachStream, Disposer, redrawOn, streamStore, type StreamTraits } from "./core/widget";

interface Suggestion {
  name: string;
  lr: number;
  loss: number;
}

interface Progress {
  done: number;
  total: number;
  eta: number | null;
  state: "running" | "done" | "stopped";
}

interface LrFinderTraits extends StreamTraits {
  suggestion_marks: Suggestion[] | null;
  default_lr: number | null;
  picked_lr: number | null;
  diverged_at: number | null;
  code_template: string;
  progress: Progress | null;
  message: string;
  title: string;
  height: number;
}

type Model = AnyModel<LrFinderTraits>;

const MARGIN = { l: 56, r: 16, t: 24, b: 40 };
/** Arrow keys move the pick by this many decades. */
const NUDGE_DECADES = 1 / 20;
const COLOR = PALETTE[0];
const RAW_COLOR = "rgba(31,119,180,0.25)";
const DIVERGED_COLOR = "#9a9a9a";
const PICK_COLOR = PALETTE[3];
const SUGGESTION_COLOR = PALETTE[1];

const CSS = `
.fw-lr-finder { font: 12px var(--jp-ui-font-family, system-ui, sans-serif); color: var(--jp-ui-font-color1, #333); outline: none; }
.fw-lr-finder:focus-visible { box-shadow: 0 0 0 2px var(--jp-brand-color1, #1f77b4) inset; }
.fw-lr-finder .fw-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; padding: 2px 4px 4px; }
.fw-lr-finder .fw-title { font-weight: 600; font-size: 13px; margin-right: auto; }
.fw-lr-finder .fw-progress { width: 120px; }
.fw-lr-finder .fw-progress-text, .fw-lr-finder .fw-message { color: var(--jp-ui-font-color2, #777); font-variant-numeric: tabular-nums; }
.fw-lr-finder .fw-plot { cursor: crosshair; }
.fw-lr-finder .fw-plot .modebar { cursor: default; }
.fw-lr-finder .fw-code-row { display: flex; align-items: center; gap: 8px; padding: 4px; }
.fw-lr-finder .fw-code { font: 12px var(--jp-code-font-family, monospace); padding: 2px 6px; border-radius: 3px;
  background: var(--jp-layout-color2, #f3f3f3); white-space: pre; overflow-x: auto; }
.fw-lr-finder button { font: inherit; padding: 1px 8px; border: 1px solid var(--jp-border-color1, #bbb);
  border-radius: 3px; background: var(--jp-layout-color1, #fff); color: inherit; cursor: pointer; }
.fw-lr-finder button:hover { background: var(--jp-layout-color2, #eee); }
`;


/** A positive finite number, or null (traits may hold null, NaN or junk). */
function positive(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null;
}

/** "k / n · ETA 3 s" (ETA left out when unknown). */
export function progressText(p: Progress): string {
  let text = `${p.done} / ${p.total}`;
  if (typeof p.eta === "number" && Number.isFinite(p.eta)) text += ` · ETA ${formatEta(p.eta)}`;
  return text;
}

/** The y range that keeps the curve readable: the finite smoothed losses before divergence, padded. */
function yRange(loss: Series | undefined, raw: Series | undefined, divergedAt: number | null): [number, number] | null {
  for (const s of [loss, raw]) {
    if (!s || !s.length) continue;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < s.length; i++) {
      if (divergedAt !== null && s.x[i] >= divergedAt) break;
      const v = s.y[i];
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo > hi) continue;
    const pad = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.02, 1e-6);
    return [lo - pad, hi + pad];
  }
  return null;
}

/** One rendered view; several may show the same model (they share its store). */
class LrFinderView {
  private readonly store: SeriesStore;
  private readonly d = new Disposer();
  private readonly scheduler = new FrameScheduler(() => this.draw());
  private readonly root: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly title: HTMLSpanElement;
  private readonly progress: HTMLProgressElement;
  private readonly progressLabel: HTMLSpanElement;
  private readonly message: HTMLSpanElement;
  private readonly codeRow: HTMLDivElement;
  private readonly code: HTMLElement;
  private drawn = 0;
  private width = 0;
  private destroyed = false;

  constructor(private readonly model: Model, host: HTMLElement) {
    injectStyle("fw-lr-finder-style", CSS);
    this.store = streamStore(model);
    this.root = el("div", "fw-root fw-lr-finder", host);
    this.root.dataset.fwWidget = "lr_finder";
    this.root.tabIndex = 0;
    this.d.add(isolateKeys(this.root));

    const bar = el("div", "fw-toolbar", this.root);
    this.title = el("span", "fw-title", bar);
    this.progress = el("progress", "fw-progress", bar);
    this.progressLabel = el("span", "fw-progress-text", bar);
    this.message = el("span", "fw-message", bar);
    this.plot = el("div", "fw-plot", this.root);
    this.codeRow = el("div", "fw-code-row", this.root);
    this.code = el("code", "fw-code", this.codeRow);
    const copy = el("button", "fw-copy", this.codeRow);
    copy.textContent = "Copy";
    copy.title = "Copy the code";
    copy.addEventListener("click", () => {
      try {
        void navigator.clipboard?.writeText(this.code.textContent ?? "").catch(() => {});
      } catch {
        // no clipboard (insecure context): nothing to do
      }
    });

    // Picking: mousedown in the plot area picks there, moving with the button held drags
    // the pick (locally: the model fires change events on set), mouseup tells Python.
    dragOnPlot(this.plot, {
      accept: (ev) => this.lrAt(ev.clientX) !== null,
      start: () => this.root.focus({ preventScroll: true }),
      move: (ev, final) => {
        const lr = this.lrAt(ev.clientX);
        if (lr !== null) model.set("picked_lr", lr);
        if (final) model.save_changes();
      },
    }, this.d);

    const onKey = (ev: KeyboardEvent) => {
      if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
      const lr = this.currentPick() ?? this.middleLr();
      if (lr === null) return;
      ev.preventDefault();
      model.set("picked_lr", nudgeLog(lr, ev.key === "ArrowRight" ? NUDGE_DECADES : -NUDGE_DECADES));
      model.save_changes();
    };
    this.root.addEventListener("keydown", onKey);
    this.d.add(() => this.root.removeEventListener("keydown", onKey));

    const redraw = () => this.scheduler.request();
    redrawOn({
      model, store: this.store, root: this.root, d: this.d, redraw,
      traits: ["suggestion_marks", "default_lr", "picked_lr", "diverged_at", "code_template", "progress", "message", "title", "height"],
      onTraitChange: () => this.syncControls(),
      drawnWidth: () => this.width,
    });

    this.syncControls();
    redraw();
  }

  destroy(): void {
    this.destroyed = true;
    this.scheduler.dispose();
    this.d.dispose();
    Plotly.purge(this.plot);
  }

  /** The pick shown: the user's, else the default suggestion. */
  private currentPick(): number | null {
    return positive(this.model.get("picked_lr")) ?? positive(this.model.get("default_lr"));
  }

  /** The geometric middle of the lr range drawn, a start for the arrow keys when nothing is picked. */
  private middleLr(): number | null {
    const r = fullLayout(this.plot)?.xaxis?.range;
    if (!Array.isArray(r) || r.length !== 2) return null;
    const mid = Math.pow(10, (Number(r[0]) + Number(r[1])) / 2);
    return Number.isFinite(mid) && mid > 0 ? mid : null;
  }

  /** The lr under a client x, clamped to the plot area (a log axis: the value is log10 lr). */
  private lrAt(clientX: number): number | null {
    const log10 = axisValueAt(this.plot, "x", clientX);
    if (log10 === null) return null;
    const lr = Math.pow(10, log10);
    return Number.isFinite(lr) && lr > 0 ? lr : null;
  }

  /** Toolbar and code line: text only (textContent), nothing from Python as HTML. */
  private syncControls(): void {
    const model = this.model;
    this.title.textContent = model.get("title") || "";
    this.message.textContent = model.get("message") || "";
    const p = model.get("progress");
    const running = !!p && p.state === "running";
    this.progress.hidden = !running;
    this.progressLabel.hidden = !running;
    if (p && running) {
      const total = Math.max(0, Number(p.total) || 0);
      this.progress.max = total || 1;
      this.progress.value = Math.min(total, Math.max(0, Number(p.done) || 0));
      this.progressLabel.textContent = progressText(p);
    }
    const lr = formatLr(this.currentPick());
    const template = model.get("code_template") || "";
    this.codeRow.hidden = !lr || !template;
    this.code.textContent = lr ? template.split("{lr}").join(lr) : template;
  }

  private async draw(): Promise<void> {
    const model = this.model;
    const height = Number(model.get("height")) || 360;
    const width = (this.width = this.root.clientWidth || 640);
    const divergedAt = positive(model.get("diverged_at"));
    const pick = this.currentPick();
    const theme = themeColors(this.root);
    const loss = this.store.get("loss");
    const raw = this.store.get("raw");

    const traces: Partial<Data>[] = [];
    const points: Record<string, number> = {};
    const views: XY[] = [];
    for (const s of this.store.series) points[s.name] = s.length;
    if (raw && raw.length) {
      const v = { x: raw.x.slice(0, raw.length), y: raw.y.slice(0, raw.length) };
      views.push(v);
      traces.push({
        type: "scatter", mode: "lines", name: "raw loss", x: v.x, y: v.y,
        line: { color: RAW_COLOR, width: 1 }, hoverinfo: "skip",
      });
    }
    if (loss && loss.length) {
      const n = loss.length;
      // the diverged part in grey, starting at the last point before it so the line is continuous
      let cut = n;
      if (divergedAt !== null) {
        cut = 0;
        while (cut < n && loss.x[cut] < divergedAt) cut++;
      }
      const ok = { x: loss.x.slice(0, cut), y: loss.y.slice(0, cut) };
      views.push({ x: loss.x.slice(0, n), y: loss.y.slice(0, n) });
      const hover = "lr %{x:.2e}<br>loss %{y:.4g}<extra></extra>";
      if (cut > 0) {
        traces.push({ type: "scatter", mode: "lines", name: "loss", ...ok, line: { color: COLOR, width: 2 }, hovertemplate: hover });
      }
      if (cut < n) {
        const from = Math.max(0, cut - 1);
        traces.push({
          type: "scatter", mode: "lines", name: "diverged", x: loss.x.slice(from, n), y: loss.y.slice(from, n),
          line: { color: DIVERGED_COLOR, width: 2 }, hovertemplate: `diverged<br>${hover}`,
        });
      }
    }
    const m = nonFiniteMarkers(views, false);
    if (m) {
      traces.push({
        type: "scatter", mode: "markers", x: m.x, y: m.y, hovertext: m.text, hoverinfo: "x+text",
        name: "non-finite", cliponaxis: false, marker: { color: "#e00", symbol: "x", size: 9 },
      });
    }
    const suggestions = (Array.isArray(model.get("suggestion_marks")) ? model.get("suggestion_marks")! : []).filter(
      (s) => s && positive(s.lr) !== null && Number.isFinite(s.loss),
    );
    if (suggestions.length) {
      traces.push({
        type: "scatter", mode: "text+markers", name: "suggestions",
        x: suggestions.map((s) => s.lr), y: suggestions.map((s) => s.loss),
        text: suggestions.map((s) => String(s.name ?? "")), textposition: "top center",
        textfont: { color: theme.text, size: 11 }, cliponaxis: false,
        marker: { color: SUGGESTION_COLOR, size: 9, line: { color: "#fff", width: 1 } },
        hovertemplate: "%{text}<br>lr %{x:.2e}<br>loss %{y:.4g}<extra></extra>",
      });
    }

    const shapes: Partial<Shape>[] = pick === null ? [] : [{
      type: "line", xref: "x", yref: "paper", x0: pick, x1: pick, y0: 0, y1: 1,
      line: { color: PICK_COLOR, width: 1.5, dash: "dash" },
    }];
    const yr = yRange(loss, raw, divergedAt);
    const axisStyle = { gridcolor: theme.grid, zeroline: false, ticklabeloverflow: "allow" as const, tickangle: 0 };
    const layout: Partial<Layout> = {
      width,
      height,
      margin: MARGIN,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: theme.text, size: 11 },
      showlegend: false,
      hovermode: "closest",
      dragmode: false,
      shapes,
      xaxis: { ...axisStyle, type: "log", exponentformat: "e", title: { text: "learning rate" } },
      yaxis: { ...axisStyle, type: "linear", title: { text: "loss" }, ...(yr ? { range: yr, autorange: false } : { autorange: true }) },
    };

    await Plotly.react(this.plot, traces as Data[], layout, PLOT_CONFIG);
    if (this.destroyed) {
      Plotly.purge(this.plot);
      return;
    }
    this.drawn++;
    Object.assign(this.root.dataset, {
      fwPoints: JSON.stringify(points),
      // the user's pick only (empty until they pick); fwLr: the lr shown (pick or default)
      fwPicked: String(positive(model.get("picked_lr")) ?? ""),
      fwLr: String(pick ?? ""),
      fwSource: this.store.provisional ? "snapshot" : "live",
      fwDrawn: String(this.drawn),
    });
  }
}

const initialize: Initialize<LrFinderTraits> = ({ model }) => attachStream(model);

const render: Render<LrFinderTraits> = ({ model, el: host }) => {
  const view = new LrFinderView(model, host);
  return () => view.destroy();
};

export default { initialize, render };
