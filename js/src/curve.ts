/**
 * LiveCurve: a live training chart (loss, metrics, lr/momentum) fed by the streaming
 * core. Python sends points; everything the user does (zoom, smoothing, log y) happens
 * here, because the kernel is busy training and would only hear about it afterwards.
 *
 * Top panel: per-step losses (faint raw + EMA-smoothed), per-epoch losses as markers,
 * per-epoch metrics on a right-hand axis. Bottom panel (when present): lr left, mom right.
 * Epoch boundaries (series "_epoch") are dotted lines, `phases` shaded regions.
 */
import { isolateKeys } from "./core/keys";
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import Plotly from "plotly.js-basic-dist-min";
import type { Annotations, Data, Layout, PlotRelayoutEvent, PlotlyHTMLElement, Shape } from "plotly.js";
import { minMaxDownsample, type XY } from "./core/downsample";
import { FrameScheduler, injectStyle, nonFiniteMarkers, PALETTE, PLOT_CONFIG, themeColors } from "./core/plot";
import { IncrementalEma } from "./core/smooth";
import type { Series, SeriesStore } from "./core/store";
import { attachStream, Disposer, streamStore, type StreamTraits } from "./core/widget";

type Panel = "loss" | "metric" | "lr" | "mom";

interface CurveTraits extends StreamTraits {
  series_meta: Record<string, { panel?: Panel; per?: "step" | "epoch" }> | null;
  phases: { x: number; label: string }[] | null;
  smoothing: number;
  log_y: boolean;
  height: number;
  title: string;
}

type Model = AnyModel<CurveTraits>;

/** Which y axis each panel draws on: y/y2 share the top panel, y3/y4 the bottom one. */
const AXIS: Record<Panel, "y" | "y2" | "y3" | "y4"> = { loss: "y", metric: "y2", lr: "y3", mom: "y4" };
const MARGIN = { l: 64, r: 64, t: 12, b: 40 };
/** Series whose name starts with this are internal (e.g. "_epoch" boundaries), not traces. */
const INTERNAL = "_";
const MAX_EPOCH_LINES = 100;

const CSS = `
.fw-curve { font: 12px var(--jp-ui-font-family, system-ui, sans-serif); color: var(--jp-ui-font-color1, #333); }
.fw-curve .fw-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; padding: 2px 4px 4px; }
.fw-curve .fw-title { font-weight: 600; font-size: 13px; margin-right: auto; }
.fw-curve label { display: inline-flex; align-items: center; gap: 4px; cursor: pointer; }
.fw-curve .fw-smoothing { width: 96px; }
.fw-curve .fw-smoothing-value { min-width: 2.6em; font-variant-numeric: tabular-nums; }
.fw-curve button { font: inherit; padding: 1px 8px; border: 1px solid var(--jp-border-color1, #bbb);
  border-radius: 3px; background: var(--jp-layout-color1, #fff); color: inherit; cursor: pointer; }
.fw-curve button:hover { background: var(--jp-layout-color2, #eee); }
.fw-curve .fw-status { color: var(--jp-ui-font-color2, #777); font-variant-numeric: tabular-nums; }
.fw-curve .fw-legend { display: flex; flex-wrap: wrap; gap: 2px 10px; padding: 0 4px; min-height: 18px; }
.fw-curve .fw-legend button { border: none; background: none; padding: 0 2px; display: inline-flex; align-items: center; gap: 5px; }
.fw-curve .fw-legend .fw-swatch { width: 16px; height: 3px; border-radius: 1px; }
.fw-curve .fw-legend .fw-hidden { opacity: 0.4; text-decoration: line-through; }
`;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, parent: HTMLElement): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  parent.appendChild(node);
  return node;
}

/** The colour at 25% opacity (cheaper to render than a trace opacity, which composites a layer). */
function faint(hex: string): string {
  const v = parseInt(hex.slice(1), 16);
  return `rgba(${v >> 16},${(v >> 8) & 255},${v & 255},0.25)`;
}

function clampSmoothing(v: unknown): number {
  const w = Number(v);
  return Number.isFinite(w) ? Math.min(0.999, Math.max(0, w)) : 0.6;
}

/** One rendered view; several may show the same model (they share its store). */
class CurveView {
  private readonly store: SeriesStore;
  private readonly d = new Disposer();
  private readonly scheduler = new FrameScheduler(() => this.draw());
  private readonly root: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly title: HTMLSpanElement;
  private readonly logY: HTMLInputElement;
  private readonly smoothing: HTMLInputElement;
  private readonly smoothingValue: HTMLSpanElement;
  private readonly status: HTMLSpanElement;
  private readonly legend: HTMLDivElement;
  /** Series the user hid by clicking their legend entry (not drawn at all). */
  private readonly hidden = new Set<string>();
  private legendKey = "";
  private readonly smoothers = new Map<string, IncrementalEma>();
  private readonly colors = new Map<string, string>();
  /** Visible x-range after a zoom/pan; null = everything (autorange). */
  private viewRange: [number, number] | null = null;
  private drawn = 0;
  private width = 0;
  private destroyed = false;

  constructor(private readonly model: Model, host: HTMLElement) {
    injectStyle("fw-curve-style", CSS);
    this.store = streamStore(model);
    this.root = el("div", "fw-root fw-curve", host);
    this.root.dataset.fwWidget = "curve";
    this.d.add(isolateKeys(this.root));
    const bar = el("div", "fw-toolbar", this.root);
    this.title = el("span", "fw-title", bar);

    const logLabel = el("label", "fw-ctl", bar);
    this.logY = el("input", "fw-logy", logLabel);
    this.logY.type = "checkbox";
    logLabel.append("log y");

    const smLabel = el("label", "fw-ctl", bar);
    smLabel.append("smoothing");
    this.smoothing = el("input", "fw-smoothing", smLabel);
    Object.assign(this.smoothing, { type: "range", min: "0", max: "0.99", step: "0.01" });
    this.smoothingValue = el("span", "fw-smoothing-value", smLabel);

    const reset = el("button", "fw-reset", bar);
    reset.textContent = "Reset view";
    reset.title = "Show all points";
    const png = el("button", "fw-png", bar);
    png.textContent = "PNG";
    png.title = "Download the chart as PNG";
    this.status = el("span", "fw-status", bar);
    this.legend = el("div", "fw-legend", this.root);
    this.plot = el("div", "fw-plot", this.root);

    // Controls act locally at once (the model fires change events on set); Python hears
    // about it via save_changes whenever the kernel gets to it.
    this.logY.addEventListener("change", () => {
      model.set("log_y", this.logY.checked);
      model.save_changes();
    });
    this.smoothing.addEventListener("input", () => model.set("smoothing", Number(this.smoothing.value)));
    this.smoothing.addEventListener("change", () => model.save_changes());
    reset.addEventListener("click", () => this.resetView());
    png.addEventListener("click", () => this.downloadPng());
    this.legend.addEventListener("click", (ev) => {
      const name = (ev.target as Element).closest<HTMLElement>(".fw-legend-item")?.dataset.series;
      if (name === undefined) return;
      if (!this.hidden.delete(name)) this.hidden.add(name);
      this.scheduler.request();
    });

    const redraw = () => this.scheduler.request();
    this.d.add(this.store.subscribe(redraw));
    for (const trait of ["series_meta", "phases", "height", "smoothing", "log_y", "title"]) {
      this.d.on(model, `change:${trait}`, () => {
        this.syncControls();
        redraw();
      });
    }
    const resize = new ResizeObserver(() => {
      if (this.root.clientWidth && this.root.clientWidth !== this.width) redraw();
    });
    resize.observe(this.root);
    this.d.add(() => resize.disconnect());

    this.syncControls();
    redraw();
  }

  destroy(): void {
    this.destroyed = true;
    this.scheduler.dispose();
    this.d.dispose();
    Plotly.purge(this.plot);
  }

  private syncControls(): void {
    const w = clampSmoothing(this.model.get("smoothing"));
    this.smoothing.value = String(w);
    this.smoothingValue.textContent = w.toFixed(2);
    this.logY.checked = Boolean(this.model.get("log_y"));
    this.title.textContent = this.model.get("title") || "";
  }

  private resetView(): void {
    this.viewRange = null;
    const layout = (this.plot as Partial<PlotlyHTMLElement>).layout;
    if (!layout) return;
    const update: Record<string, boolean> = {};
    for (const key of ["xaxis", "yaxis", "yaxis2", "yaxis3", "yaxis4"]) {
      if (key in layout) update[`${key}.autorange`] = true;
    }
    void Plotly.relayout(this.plot, update as Partial<Layout>);
  }

  /** The PNG gets plotly's own legend, since the HTML one is not part of the plot. */
  private downloadPng(): void {
    const gd = this.plot as Partial<PlotlyHTMLElement>;
    if (!gd.data || !gd.layout) return;
    const layout = { ...gd.layout, showlegend: true, margin: { ...gd.layout.margin, t: 40 } };
    void Plotly.downloadImage({ data: gd.data, layout } as unknown as PlotlyHTMLElement, {
      format: "png",
      filename: this.model.get("title") || "curve",
      width: this.plot.clientWidth || null,
      height: Number(this.model.get("height")) || null,
    });
  }

  /**
   * An HTML legend instead of plotly's: plotly re-lays out its legend on every redraw,
   * which cost ~10 ms per zoom frame. Rebuilt only when its entries change.
   */
  private renderLegend(items: { name: string; color: string }[]): void {
    const key = JSON.stringify([items, [...this.hidden]]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren(
      ...items.map(({ name, color }) => {
        const item = document.createElement("button");
        item.className = this.hidden.has(name) ? "fw-legend-item fw-hidden" : "fw-legend-item";
        item.dataset.series = name;
        item.title = "Click to show/hide";
        const swatch = document.createElement("span");
        swatch.className = "fw-swatch";
        swatch.style.background = color;
        item.append(swatch, name);
        return item;
      }),
    );
  }

  /** Follows zoom/pan on the shared x axis, so the next draw downsamples that range. */
  private onRelayout(ev: PlotRelayoutEvent & Record<string, unknown>): void {
    const r = ev["xaxis.range"];
    if (ev["xaxis.autorange"]) this.viewRange = null;
    else if (ev["xaxis.range[0]"] !== undefined && ev["xaxis.range[1]"] !== undefined) {
      this.viewRange = [Number(ev["xaxis.range[0]"]), Number(ev["xaxis.range[1]"])];
    } else if (Array.isArray(r) && r.length === 2) this.viewRange = [Number(r[0]), Number(r[1])];
    else return;
    this.scheduler.request();
  }

  private colorOf(name: string): string {
    let c = this.colors.get(name);
    if (!c) {
      c = PALETTE[this.colors.size % PALETTE.length];
      this.colors.set(name, c);
    }
    return c;
  }

  private smoothed(s: Series, w: number): Float64Array {
    let ema = this.smoothers.get(s.name);
    if (!ema) this.smoothers.set(s.name, (ema = new IncrementalEma()));
    return ema.update(s.y, s.length, w, s.generation);
  }

  private async draw(): Promise<void> {
    const model = this.model;
    const w = clampSmoothing(model.get("smoothing"));
    const logY = Boolean(model.get("log_y"));
    const height = Number(model.get("height")) || 420;
    const meta = model.get("series_meta") ?? {};
    const width = (this.width = this.root.clientWidth || 800);
    const buckets = Math.max(64, width - MARGIN.l - MARGIN.r);
    const range = this.viewRange;

    const traces: Partial<Data>[] = [];
    const rawByAxis = new Map<string, XY[]>();
    const used = new Set<string>();
    const points: Record<string, number> = {};
    const legend: { name: string; color: string }[] = [];
    let total = 0;
    let xMax = -Infinity;
    for (const s of this.store.series) {
      points[s.name] = s.length;
      if (s.length) xMax = Math.max(xMax, s.x[s.length - 1]);
      if (s.name.startsWith(INTERNAL)) continue;
      total += s.length;
      const color = this.colorOf(s.name);
      legend.push({ name: s.name, color });
      if (this.hidden.has(s.name)) continue;
      const m = meta[s.name] ?? {};
      const panel: Panel = m.panel && m.panel in AXIS ? m.panel : "loss";
      const axis = AXIS[panel];
      used.add(axis);
      const raw = minMaxDownsample(s.x, s.y, s.length, range, buckets);
      rawByAxis.set(axis, [...(rawByAxis.get(axis) ?? []), raw]);
      const base = { type: "scatter" as const, name: s.name, legendgroup: s.name, yaxis: axis, xaxis: "x" };
      if (m.per === "epoch") {
        traces.push({ ...base, ...raw, mode: "lines+markers", line: { color, width: 1.5 }, marker: { color, size: 6 } });
      } else if (panel === "loss" && w > 0) {
        traces.push({ ...base, ...raw, mode: "lines", line: { color: faint(color), width: 1 }, hoverinfo: "skip", showlegend: false });
        // smooth, so one point per pixel is enough (min and max of a bucket coincide)
        const sm = minMaxDownsample(s.x, this.smoothed(s, w), s.length, range, buckets / 2);
        traces.push({ ...base, ...sm, mode: "lines", line: { color, width: 2 } });
      } else {
        traces.push({ ...base, ...raw, mode: "lines", line: { color, width: 1.5 } });
      }
    }
    for (const [axis, views] of rawByAxis) {
      const m = nonFiniteMarkers(views, axis === "y" && logY);
      if (!m) continue;
      traces.push({
        type: "scatter", mode: "markers", x: m.x, y: m.y, hovertext: m.text, hoverinfo: "x+text",
        yaxis: axis, xaxis: "x", name: "non-finite", showlegend: false, cliponaxis: false,
        marker: { color: "#e00", symbol: "x", size: 9 },
      });
    }

    const theme = themeColors(this.root);
    const { shapes, annotations } = this.decorations(xMax, theme.shade);
    const bottom = used.has("y3") || used.has("y4");
    // ticklabeloverflow "allow" skips plotly's per-label overflow check, a forced layout
    // per tick label on every redraw (~5 ms of each zoom frame)
    const axisStyle = { gridcolor: theme.grid, zeroline: false, ticklabeloverflow: "allow" as const };
    const layout: Partial<Layout> = {
      width,
      height,
      margin: { ...MARGIN, r: used.has("y2") || used.has("y4") ? MARGIN.r : 16 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: theme.text, size: 11 },
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1.0, yanchor: "bottom" },
      hovermode: "x",
      uirevision: "fw",
      showlegend: false,
      shapes,
      annotations,
      xaxis: { ...axisStyle, anchor: bottom ? "y3" : "y", title: { text: "iteration" } },
      yaxis: {
        ...axisStyle, domain: bottom ? [0.34, 1] : [0, 1], title: { text: "loss" },
        type: logY ? "log" : "linear", uirevision: logY ? "log" : "linear",
      },
    };
    if (used.has("y2")) layout.yaxis2 = { ...axisStyle, overlaying: "y", side: "right", showgrid: false, title: { text: "metric" } };
    if (bottom) layout.yaxis3 = { ...axisStyle, domain: [0, 0.26], title: { text: "lr" }, exponentformat: "e" };
    if (used.has("y4")) layout.yaxis4 = { ...axisStyle, overlaying: "y3", side: "right", showgrid: false, title: { text: "mom" } };

    const fresh = !(this.plot as Partial<PlotlyHTMLElement>).on;
    const gd = await Plotly.react(this.plot, traces as Data[], layout, PLOT_CONFIG);
    if (this.destroyed) {
      Plotly.purge(this.plot);
      return;
    }
    if (fresh) gd.on("plotly_relayout", (ev) => this.onRelayout(ev as PlotRelayoutEvent & Record<string, unknown>));
    this.renderLegend(legend);
    this.drawn++;
    const source = this.store.provisional ? "snapshot" : "live";
    this.status.textContent = `${total.toLocaleString()} points · ${source}`;
    Object.assign(this.root.dataset, {
      fwPoints: JSON.stringify(points),
      fwSource: source,
      fwLogY: String(logY),
      fwSmoothing: String(w),
      fwDrawn: String(this.drawn),
    });
  }

  /** Dotted lines at epoch ends and shaded, labelled regions for training phases. */
  private decorations(xMax: number, shade: string): { shapes: Partial<Shape>[]; annotations: Partial<Annotations>[] } {
    const shapes: Partial<Shape>[] = [];
    const annotations: Partial<Annotations>[] = [];
    const epochs = this.store.get("_epoch");
    if (epochs) {
      const step = Math.ceil(epochs.length / MAX_EPOCH_LINES);
      for (let i = 0; i < epochs.length; i += step) {
        const x = epochs.x[i];
        if (!Number.isFinite(x)) continue;
        shapes.push({
          type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, layer: "below",
          line: { color: "rgba(128,128,128,0.6)", width: 1, dash: "dot" },
        });
      }
    }
    const trait = this.model.get("phases");
    const phases = (Array.isArray(trait) ? trait : [])
      .filter((p) => p && Number.isFinite(p.x))
      .sort((a, b) => a.x - b.x);
    phases.forEach((p, i) => {
      const end = i + 1 < phases.length ? phases[i + 1].x : Math.max(xMax, p.x);
      if (i % 2 === 0) {
        shapes.push({
          type: "rect", xref: "x", yref: "paper", x0: p.x, x1: end, y0: 0, y1: 1, layer: "below",
          fillcolor: shade, line: { width: 0 },
        });
      }
      annotations.push({
        xref: "x", yref: "paper", x: p.x, y: 1, xanchor: "left", yanchor: "top", showarrow: false,
        text: String(p.label ?? ""), font: { size: 10 }, opacity: 0.8,
      });
    });
    return { shapes, annotations };
  }
}

const initialize: Initialize<CurveTraits> = ({ model }) => attachStream(model);

const render: Render<CurveTraits> = ({ model, el: host }) => {
  const view = new CurveView(model, host);
  return () => view.destroy();
};

export default { initialize, render };
