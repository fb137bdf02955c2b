/**
 * Picking in data coordinates on a plotly graph div: is a client point inside the plot
 * area, and which axis value lies under it. Used by the LR finder (the lr under a click)
 * and the SGD playground (the start point under a click on the contour). Reads plotly's
 * own axis objects on `gd._fullLayout`, so no plotly import: testable in node with fakes.
 */
import { pixelToLog } from "./logaxis";

/** What plotly keeps on an axis that we read. */
export interface PlotAxis {
  /** Pixel (from the plot area's edge) to linearised value: log10 on a log axis. */
  p2l?: (px: number) => number;
  range?: number[];
  _offset?: number;
  _length?: number;
}

/** What plotly keeps on the graph div that we read: the axes and the plot area. */
export interface FullLayout {
  xaxis?: PlotAxis;
  yaxis?: PlotAxis;
  _size?: { l: number; t: number; w: number; h: number };
}

/** A plotly graph div as far as picking needs it. */
export interface GraphLike {
  getBoundingClientRect(): { left: number; top: number };
}

export function fullLayout(gd: GraphLike): FullLayout | undefined {
  return (gd as { _fullLayout?: FullLayout })._fullLayout;
}

/** Whether the client point lies in the plot area (not the margins, axes or modebar). */
export function inPlotArea(gd: GraphLike, clientX: number, clientY: number): boolean {
  const size = fullLayout(gd)?._size;
  if (!size) return false;
  const rect = gd.getBoundingClientRect();
  const x = clientX - rect.left - size.l;
  const y = clientY - rect.top - size.t;
  return x >= 0 && x <= size.w && y >= 0 && y <= size.h;
}

/**
 * The linearised axis value under a client coordinate (clientX for "x", clientY for
 * "y"), clamped to the plot area: the data value on a linear axis, its log10 on a log
 * axis. Plotly's `p2l` takes a pixel from the plot area's left (x) or top (y) edge;
 * without it the drawn range is mapped linearly (y grows upwards). Null before a draw.
 */
export function axisValueAt(gd: GraphLike, axis: "x" | "y", client: number): number | null {
  const fl = fullLayout(gd);
  const ax = axis === "x" ? fl?.xaxis : fl?.yaxis;
  const size = fl?._size;
  if (!ax || !size) return null;
  const rect = gd.getBoundingClientRect();
  const offset = ax._offset ?? (axis === "x" ? size.l : size.t);
  const length = ax._length ?? (axis === "x" ? size.w : size.h);
  const px = Math.min(length, Math.max(0, client - (axis === "x" ? rect.left : rect.top) - offset));
  let v: number;
  if (typeof ax.p2l === "function") v = ax.p2l(px);
  else if (Array.isArray(ax.range) && ax.range.length === 2) {
    const [r0, r1] = [Number(ax.range[0]), Number(ax.range[1])];
    v = pixelToLog(px, length, axis === "x" ? [r0, r1] : [r1, r0]);
  } else return null;
  return Number.isFinite(v) ? v : null;
}
