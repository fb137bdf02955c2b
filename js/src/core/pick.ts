/**
 * Picking in data coordinates on a plotly graph div: is a client point inside the plot
 * area, and which axis value lies under it. Used by the LR finder (the lr under a click)
 * and the SGD playground (the start point under a click on the contour). Reads plotly's
 * own axis objects on `gd._fullLayout`, so no plotly import: testable in node with fakes.
 * `dragOnPlot` is the mouse drag both share (press in the plot area, follow, release).
 */
import { pixelToLog } from "./logaxis";
import type { Disposer } from "./widget";

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

/** What `dragOnPlot` does at each stage of a drag; see there. */
export interface PlotDrag {
  /**
   * Whether a mousedown may start a drag, asked only for a left-button press inside the
   * plot area and not on the modebar (e.g. "is there a value under the mouse yet").
   */
  accept(ev: MouseEvent): boolean;
  /** Once accepted, before the first `move` (e.g. focus the widget). */
  start?(ev: MouseEvent): void;
  /** The pointer at `ev`: on the press and each move (`final` false), then on release (`final` true). */
  move(ev: MouseEvent, final: boolean): void;
  /** Also keep the press from plotly's own handlers (its zoom/pan drag). Default false. */
  stopPropagation?: boolean;
}

/** A drag hooked by `dragOnPlot`. */
export interface PlotDragHandle {
  /** Between an accepted press and its release (or the disposal that ends it). */
  readonly dragging: boolean;
}

/**
 * Hooks a mouse drag on a plotly graph div. A left-button mousedown (captured on `gd`)
 * inside the plot area, not on the modebar, that `h.accept`s starts a drag: its default
 * is prevented (no text selection), with `h.stopPropagation` it goes no further, then
 * `dragging` is true, `h.start` and `h.move(ev, false)` run, and window-level mousemove /
 * mouseup listeners follow the pointer even outside the plot: `move(ev, false)` on each
 * move; on mouseup the drag ends (listeners removed, `dragging` false) and then
 * `move(ev, true)` runs. `disposer` removes the mousedown listener and ends a drag in
 * progress without a final move.
 */
export function dragOnPlot(gd: GraphLike & EventTarget, h: PlotDrag, disposer: Pick<Disposer, "add">): PlotDragHandle {
  let dragging = false;
  const onMove = (ev: MouseEvent) => h.move(ev, false);
  const onUp = (ev: MouseEvent) => {
    stop();
    h.move(ev, true);
  };
  const stop = () => {
    if (!dragging) return;
    dragging = false;
    window.removeEventListener("mousemove", onMove);
    window.removeEventListener("mouseup", onUp);
  };
  const onDown = (ev: MouseEvent) => {
    if (ev.button !== 0 || (ev.target as Element | null)?.closest?.(".modebar")) return;
    if (!inPlotArea(gd, ev.clientX, ev.clientY) || !h.accept(ev)) return;
    ev.preventDefault();
    if (h.stopPropagation) ev.stopPropagation();
    dragging = true;
    h.start?.(ev);
    h.move(ev, false);
    window.addEventListener("mousemove", onMove);
    window.addEventListener("mouseup", onUp);
  };
  // { capture: true } rather than a bare `true`: node's EventTarget (the tests) ignores
  // the latter on removal; browsers take both alike
  gd.addEventListener("mousedown", onDown as EventListener, { capture: true });
  disposer.add(() => {
    gd.removeEventListener("mousedown", onDown as EventListener, { capture: true });
    stop();
  });
  return {
    get dragging() {
      return dragging;
    },
  };
}
