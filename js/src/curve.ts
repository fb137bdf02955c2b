/**
 * LiveCurve: a live training chart (loss, metrics, lr/momentum) fed by the streaming
 * core. Python sends points; everything the user does (zoom, smoothing, log y) happens
 * here, because the kernel is busy training and would only hear about it afterwards.
 *
 * Top panel: per-step losses (faint raw + EMA-smoothed), per-epoch losses as markers,
 * per-epoch metrics on a right-hand axis. Bottom panel (when present): lr left, mom right.
 * Epoch boundaries (series "_epoch") are dotted lines, `phases` shaded regions.
 */
import { el } from "./core/dom";
import { isolateKeys } from "./core/keys";
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import Plotly from "plotly.js-basic-dist-min";
import type { Annotations, Data, Layout, PlotRelayoutEvent, PlotlyHTMLElement, Shape } from "plotly.js";
import { minMaxDownsample, type XY } from "./core/downsample";
import { FrameScheduler, injectStyle, nonFiniteMarkers, PALETTE, PLOT_CONFIG, themeColors } from "./core/plot";
import { IncrementalEma } from "./core/smooth";
import type { Series, SeriesStore } from "./core/store";
import { attachStream, Disposer, redrawOn, streamStore, type StreamTraits } from "./core/widget";

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
type AxisKey = "xaxis" | "yaxis" | "yaxis2" | "yaxis3" | "yaxis4";

/** Which y axis each panel draws on: y/y2 share the top panel, y3/y4 the bottom one. */
const AXIS: Record<Panel, "y" | "y2" | "y3" | "y4"> = { loss: "y", metric: "y2", lr: "y3", mom: "y4" };
const MARGIN = { l: 64, r: 64, t: 12, b: 40 };
/** Series whose name starts with this are internal (e.g. "_epoch" boundaries), not traces. */
const INTERNAL = "_";
const MAX_EPOCH_LINES = 100;
/** Axis titles, drawn as HTML next to the plot (see drawAxisTitles). */
const AXIS_TITLES: Record<AxisKey, string> = { xaxis: "iteration", yaxis: "loss", yaxis2: "metric", yaxis3: "lr", yaxis4: "mom" };
/** Distance of a y title's centre from the figure's edge, of the x title's from its bottom (px). */
const TITLE_INSET = { x: 8, y: 16 };

/**
 * Epoch ends and training phases, in data x. Drawn as HTML behind (shading, lines) and
 * above (labels) the transparent plot rather than as plotly shapes and annotations, which
 * plotly redraws on every pass, twice per zoom (~3 ms a zoom); here a zoom moves a few
 * elements. The PNG gets them back as shapes and annotations.
 */
interface Decorations {
  epochs: number[];
  phases: { x0: number; x1: number; label: string; shaded: boolean }[];
}

/** The plot area in px, relative to the plot div. */
interface Box {
  l: number;
  t: number;
  w: number;
  h: number;
}

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
.fw-curve .fw-plot-frame { position: relative; }
.fw-curve .fw-plot { position: relative; z-index: 1; }
.fw-curve .fw-axis-title { position: absolute; pointer-events: none; white-space: nowrap; line-height: 1;
  font: 13px "Open Sans", verdana, arial, sans-serif; transform: translate(-50%, -50%); }
.fw-curve .fw-deco { position: absolute; overflow: hidden; pointer-events: none; z-index: 0; }
.fw-curve .fw-deco.fw-over { z-index: 2; }
.fw-curve .fw-deco > * { position: absolute; top: 0; left: 0; }
.fw-curve .fw-epoch { bottom: 0; width: 0; border-left: 1px dotted rgba(128,128,128,0.6); }
.fw-curve .fw-phase { bottom: 0; }
.fw-curve .fw-phase-label { padding: 2px 3px; white-space: nowrap; line-height: 1.1; opacity: 0.8;
  font: 10px "Open Sans", verdana, arial, sans-serif; }
.fw-curve .fw-axis-title.fw-vertical { transform: translate(-50%, -50%) rotate(-90deg); }
`;


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
  private readonly axisTitles = new Map<AxisKey, HTMLSpanElement>();
  private axisTitlesKey = "";
  /** Decoration layers behind and above the plot, and their elements' x extents. */
  private readonly under: HTMLDivElement;
  private readonly over: HTMLDivElement;
  private decoKey = "";
  /** x1: the right edge of a region, null for a line; label: shown only while x0 is in range. */
  private decoItems: { node: HTMLElement; x0: number; x1: number | null; label?: boolean }[] = [];
  private decoRange: [number, number] | null = null;
  private box: Box = { l: 0, t: 0, w: 0, h: 0 };
  private lastDeco: Decorations = { epochs: [], phases: [] };
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
    const frame = el("div", "fw-plot-frame", this.root);
    this.under = el("div", "fw-deco", frame);
    this.plot = el("div", "fw-plot", frame);
    this.over = el("div", "fw-deco fw-over", frame);
    for (const key of Object.keys(AXIS_TITLES) as AxisKey[]) {
      const title = el("span", key === "xaxis" ? "fw-axis-title" : "fw-axis-title fw-vertical", frame);
      title.textContent = AXIS_TITLES[key];
      title.hidden = true;
      this.axisTitles.set(key, title);
    }

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
    redrawOn({
      model, store: this.store, root: this.root, d: this.d, redraw,
      traits: ["series_meta", "phases", "height", "smoothing", "log_y", "title"],
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

  /** The PNG gets plotly's own legend and axis titles, since the HTML ones are not part of the plot. */
  private downloadPng(): void {
    const gd = this.plot as Partial<PlotlyHTMLElement>;
    if (!gd.data || !gd.layout) return;
    const layout: Record<string, unknown> = { ...gd.layout, showlegend: true, margin: { ...gd.layout.margin, t: 40 } };
    for (const key of Object.keys(AXIS_TITLES) as AxisKey[]) {
      const axis = layout[key];
      if (axis) layout[key] = { ...axis, title: { text: AXIS_TITLES[key] } };
    }
    Object.assign(layout, decorationLayout(this.lastDeco, themeColors(this.root).shade));
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

  /**
   * Places the HTML axis titles where plotly would put its own: centred on the x axis
   * below its tick labels, and beside each y axis' domain. Touches the DOM only when
   * the figure's geometry changes, never on a zoom.
   */
  private drawAxisTitles(layout: Partial<Layout>, color: string): void {
    const width = Number(layout.width);
    const height = Number(layout.height);
    const m = { ...MARGIN, ...layout.margin };
    const plotH = height - m.t - m.b;
    const geometry: [AxisKey, number, number][] = [];
    const lay = layout as Record<AxisKey, { domain?: number[]; side?: string; overlaying?: string } | undefined>;
    for (const key of Object.keys(AXIS_TITLES) as AxisKey[]) {
      const axis = lay[key];
      if (!axis) continue;
      if (key === "xaxis") {
        geometry.push([key, m.l + (width - m.l - m.r) / 2, height - TITLE_INSET.x]);
        continue;
      }
      const base = axis.overlaying ? lay[`${axis.overlaying.replace("y", "yaxis")}` as AxisKey] : axis;
      const [d0, d1] = base?.domain ?? [0, 1];
      const x = axis.side === "right" ? width - TITLE_INSET.y : TITLE_INSET.y;
      geometry.push([key, x, m.t + (1 - (d0 + d1) / 2) * plotH]);
    }
    const key = JSON.stringify([geometry, color]);
    if (key === this.axisTitlesKey) return;
    this.axisTitlesKey = key;
    const shown = new Map(geometry.map(([k, x, y]) => [k, [x, y]]));
    for (const [k, title] of this.axisTitles) {
      const at = shown.get(k);
      title.hidden = !at;
      if (!at) continue;
      title.style.left = `${at[0]}px`;
      title.style.top = `${at[1]}px`;
      title.style.color = color;
    }
  }

  /** Follows zoom/pan on the shared x axis, so the next draw downsamples that range. */
  private onRelayout(ev: PlotRelayoutEvent & Record<string, unknown>): void {
    const r = ev["xaxis.range"];
    if (ev["xaxis.autorange"]) this.viewRange = null;
    else if (ev["xaxis.range[0]"] !== undefined && ev["xaxis.range[1]"] !== undefined) {
      this.viewRange = [Number(ev["xaxis.range[0]"]), Number(ev["xaxis.range[1]"])];
    } else if (Array.isArray(r) && r.length === 2) this.viewRange = [Number(r[0]), Number(r[1])];
    else return;
    this.scheduler.drawNow();
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
      // The raw line is faint noise under the smoothed one: min and max every 2 px keep its
      // envelope at half the SVG vertices (the software rasteriser's cost on a zoom).
      // lr/mom are smooth schedules in a short panel: a bucket per 4 px is plenty.
      const raw = minMaxDownsample(s.x, s.y, s.length, range, axis === "y3" || axis === "y4" ? buckets / 4 : buckets / 2);
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
    const deco = (this.lastDeco = this.decorations(xMax));
    const bottom = used.has("y3") || used.has("y4");
    // ticklabeloverflow "allow" skips plotly's per-label overflow check, a forced layout
    // per tick label on every redraw (~5 ms of each zoom frame); an explicit type skips
    // the scan of every trace's data that guesses it. No plotly axis titles: plotly
    // measures each one against its tick labels on every full redraw (~4 ms a zoom), so
    // they are HTML (drawAxisTitles).
    const axisStyle = { gridcolor: theme.grid, zeroline: false, ticklabeloverflow: "allow" as const, type: "linear" as const };
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
      // tickangle 0: no overlap check (a measurement per label) to pick an angle
      xaxis: { ...axisStyle, anchor: bottom ? "y3" : "y", tickangle: 0 },
      yaxis: {
        ...axisStyle, domain: bottom ? [0.34, 1] : [0, 1],
        type: logY ? "log" : "linear", uirevision: logY ? "log" : "linear",
      },
    };
    if (used.has("y2")) layout.yaxis2 = { ...axisStyle, overlaying: "y", side: "right", showgrid: false };
    if (bottom) layout.yaxis3 = { ...axisStyle, domain: [0, 0.26], exponentformat: "e" };
    if (used.has("y4")) layout.yaxis4 = { ...axisStyle, overlaying: "y3", side: "right", showgrid: false };

    const fresh = !(this.plot as Partial<PlotlyHTMLElement>).on;
    const gd = await Plotly.react(this.plot, traces as Data[], layout, PLOT_CONFIG);
    if (this.destroyed) {
      Plotly.purge(this.plot);
      return;
    }
    if (fresh) {
      gd.on("plotly_relayout", (ev) => this.onRelayout(ev as PlotRelayoutEvent & Record<string, unknown>));
      // a pan moves the plot before the relayout: keep the decorations with it
      gd.on("plotly_relayouting", (ev) => {
        const r = ev as Record<string, unknown>;
        const r0 = Number(r["xaxis.range[0]"]);
        const r1 = Number(r["xaxis.range[1]"]);
        if (Number.isFinite(r0) && Number.isFinite(r1)) this.placeDecorations([r0, r1]);
      });
    }
    this.renderLegend(legend);
    this.drawAxisTitles(layout, theme.text);
    const m = { ...MARGIN, ...layout.margin };
    this.box = { l: m.l, t: m.t, w: width - m.l - m.r, h: height - m.t - m.b };
    this.renderDecorations(deco, theme.shade);
    const xr = gd.layout.xaxis?.range;
    if (Array.isArray(xr) && xr.length === 2) this.placeDecorations([Number(xr[0]), Number(xr[1])]);
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
  private decorations(xMax: number): Decorations {
    const deco: Decorations = { epochs: [], phases: [] };
    const epochs = this.store.get("_epoch");
    if (epochs) {
      const step = Math.ceil(epochs.length / MAX_EPOCH_LINES);
      for (let i = 0; i < epochs.length; i += step) {
        const x = epochs.x[i];
        if (Number.isFinite(x)) deco.epochs.push(x);
      }
    }
    const trait = this.model.get("phases");
    const phases = (Array.isArray(trait) ? trait : [])
      .filter((p) => p && Number.isFinite(p.x))
      .sort((a, b) => a.x - b.x);
    phases.forEach((p, i) => {
      const end = i + 1 < phases.length ? phases[i + 1].x : Math.max(xMax, p.x);
      deco.phases.push({ x0: p.x, x1: end, label: String(p.label ?? ""), shaded: i % 2 === 0 });
    });
    return deco;
  }

  /** (Re)builds the decoration elements when they or the plot area change; placeDecorations positions them. */
  private renderDecorations(deco: Decorations, shade: string): void {
    const key = JSON.stringify([deco, shade, this.box]);
    if (key === this.decoKey) return;
    this.decoKey = key;
    this.decoRange = null;
    const { l, t, w, h } = this.box;
    for (const layer of [this.under, this.over]) {
      Object.assign(layer.style, { left: `${l}px`, top: `${t}px`, width: `${w}px`, height: `${h}px` });
    }
    const items: typeof this.decoItems = [];
    const under: HTMLElement[] = [];
    const over: HTMLElement[] = [];
    for (const p of deco.phases) {
      if (p.shaded) {
        const node = document.createElement("div");
        node.className = "fw-phase";
        node.style.background = shade;
        under.push(node);
        items.push({ node, x0: p.x0, x1: p.x1 });
      }
      const label = document.createElement("span");
      label.className = "fw-phase-label";
      label.textContent = p.label;
      over.push(label);
      items.push({ node: label, x0: p.x0, x1: null, label: true });
    }
    for (const x of deco.epochs) {
      const node = document.createElement("div");
      node.className = "fw-epoch";
      under.push(node);
      items.push({ node, x0: x, x1: null });
    }
    this.under.replaceChildren(...under);
    this.over.replaceChildren(...over);
    this.decoItems = items;
  }

  /** Moves the decorations to the x range [r0, r1] (a transform and a width per element). */
  private placeDecorations(range: [number, number]): void {
    if (this.decoRange && this.decoRange[0] === range[0] && this.decoRange[1] === range[1]) return;
    this.decoRange = range;
    const [r0, r1] = range;
    const w = this.box.w;
    const scale = r1 !== r0 ? w / (r1 - r0) : 0;
    // clamped a little outside the box (which clips), so huge zooms give sane CSS values
    const px = (x: number) => Math.min(w + 10, Math.max(-10, (x - r0) * scale));
    for (const { node, x0, x1, label } of this.decoItems) {
      const a = px(x0);
      node.style.transform = `translateX(${a}px)`;
      if (x1 !== null) node.style.width = `${Math.max(0, px(x1) - a)}px`;
      // like plotly's annotations, a label whose x is out of range is hidden
      if (label) node.style.visibility = a < 0 || a > w ? "hidden" : "";
    }
  }
}

/** The decorations as plotly shapes and annotations, for the PNG. */
function decorationLayout(deco: Decorations, shade: string): { shapes: Partial<Shape>[]; annotations: Partial<Annotations>[] } {
  const shapes: Partial<Shape>[] = deco.epochs.map((x) => ({
    type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, layer: "below",
    line: { color: "rgba(128,128,128,0.6)", width: 1, dash: "dot" },
  }));
  const annotations: Partial<Annotations>[] = [];
  for (const p of deco.phases) {
    if (p.shaded) {
      shapes.push({
        type: "rect", xref: "x", yref: "paper", x0: p.x0, x1: p.x1, y0: 0, y1: 1, layer: "below",
        fillcolor: shade, line: { width: 0 },
      });
    }
    annotations.push({
      xref: "x", yref: "paper", x: p.x0, y: 1, xanchor: "left", yanchor: "top", showarrow: false,
      text: p.label, font: { size: 10 }, opacity: 0.8,
    });
  }
  return { shapes, annotations };
}

const initialize: Initialize<CurveTraits> = ({ model }) => attachStream(model);

const render: Render<CurveTraits> = ({ model, el: host }) => {
  const view = new CurveView(model, host);
  return () => view.destroy();
};

export default { initialize, render };
