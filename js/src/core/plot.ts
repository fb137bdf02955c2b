/**
 * Plot helpers shared by every widget: a frame scheduler (never redraw per message),
 * the non-finite marker trace, theme colours read from JupyterLab's CSS variables, and
 * the plotly config we use everywhere. Nothing here imports plotly itself, so the core
 * stays testable in node.
 */
import type { Config } from "plotly.js";
import type { XY } from "./downsample";

/**
 * Coalesces redraw requests into at most one draw per animation frame, and never runs
 * two (async) draws at once: a request during a draw schedules one more frame after it.
 */
export class FrameScheduler {
  private frame = 0;
  private dirty = false;
  private busy = false;
  private disposed = false;

  constructor(private readonly draw: () => Promise<void> | void) {}

  request(): void {
    this.dirty = true;
    if (!this.frame && !this.busy && !this.disposed) this.frame = requestAnimationFrame(this.run);
  }

  /**
   * Draws at once instead of on the next frame, for user interactions such as a zoom:
   * the re-downsampled view then lands in the same frame as plotly's own redraw of the
   * new range, so the user never sees the coarse intermediate picture.
   */
  drawNow(): void {
    this.dirty = true;
    if (this.busy || this.disposed) return; // the running draw re-runs: dirty is set
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    void this.run();
  }

  dispose(): void {
    this.disposed = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  private readonly run = async (): Promise<void> => {
    this.frame = 0;
    if (!this.dirty || this.disposed) return;
    this.dirty = false;
    this.busy = true;
    try {
      await this.draw();
    } catch (err) {
      console.error("fastwidgets: draw failed", err);
    } finally {
      this.busy = false;
      if (this.dirty) this.request();
    }
  };
}

/** Points of non-finite values, to draw as red crosses where the line has a gap. */
export interface Markers {
  x: number[];
  y: number[];
  text: string[];
}

/**
 * Places a marker for every non-finite y in `traces` (downsampled views): +inf and NaN
 * at the top of the finite range of those traces, -inf at the bottom. On a log axis only
 * positive values count for the range (plotly cannot place anything else).
 */
export function nonFiniteMarkers(traces: readonly XY[], logAxis: boolean): Markers | null {
  let lo = Infinity;
  let hi = -Infinity;
  let found = false;
  for (const { y } of traces) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (Number.isFinite(v)) {
        if (logAxis && v <= 0) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      } else {
        found = true;
      }
    }
  }
  if (!found) return null;
  if (lo > hi) lo = hi = logAxis ? 1 : 0;
  const m: Markers = { x: [], y: [], text: [] };
  for (const { x, y } of traces) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (Number.isFinite(v)) continue;
      m.x.push(x[i]);
      m.y.push(v === -Infinity ? lo : hi);
      m.text.push(Number.isNaN(v) ? "NaN" : v > 0 ? "inf" : "-inf");
    }
  }
  return m;
}

/** Plotly's default colourway: users recognise it. */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];

export interface Theme {
  text: string;
  grid: string;
  /** Translucent fill that reads on light and dark backgrounds. */
  shade: string;
}

/** Colours from JupyterLab's theme variables when present, so dark themes work. */
export function themeColors(el: Element): Theme {
  const css = getComputedStyle(el);
  const pick = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    text: pick("--jp-ui-font-color1", "#333"),
    grid: pick("--jp-border-color2", "#e5e5e5"),
    shade: "rgba(128,128,128,0.10)",
  };
}

/** Plotly config for every widget: modebar kept (zoom, pan, reset, PNG), no logo. */
export const PLOT_CONFIG: Partial<Config> = {
  displaylogo: false,
  responsive: false,
  scrollZoom: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d"],
};

/** Adds a stylesheet to the document once per id (widgets ship their CSS in the bundle).
 *  The document is asked each time: the module is shared page-wide, and a page may drop
 *  the element. */
export function injectStyle(id: string, css: string): void {
  if (document.getElementById(id)) return;
  const style = document.createElement("style");
  style.id = id;
  style.textContent = css;
  document.head.appendChild(style);
}
