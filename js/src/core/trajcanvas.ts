/**
 * The SGD playground's trajectories, drawn on a canvas over the contour's plot area:
 * each run's path with a dot per step, the minimum's star, each run's point at the step
 * shown and the start handle.
 *
 * Why not plotly traces: a new trajectory (every lr move) made plotly recompute and
 * redraw the whole contour plot, a styled SVG element per step (~27 ms of a ~45 ms
 * redraw); here a redraw is a few hundred canvas calls (<1 ms), and an animation frame
 * costs the same. Plotly keeps the axes and the surface image (core/surface.ts).
 *
 * `toPixel` and `nearestPoint` are pure (node tests); `drawScene` takes any 2D context.
 */
import type { Box, Point } from "./quadratic";

/** One run's path, as drawn. */
export interface ScenePath {
  color: string;
  /** The run's legend label, for the hover text. */
  label: string;
  /** The step of each point (a1[i], a2[i]). */
  steps: ArrayLike<number>;
  a1: ArrayLike<number>;
  a2: ArrayLike<number>;
  /** A dot per step (off for long runs, where they would merge into a thick line). */
  markers: boolean;
}

/** Everything the canvas shows; kept on the canvas as `fwScene` for the browser tests. */
export interface Scene {
  box: Box;
  /** The plot area in CSS pixels. */
  width: number;
  height: number;
  paths: ScenePath[];
  /** Each path's index at the step shown (same order as `paths`). */
  current: number[];
  minimum: Point | null;
  start: Point | null;
  /** The start handle's outline (the theme's text colour). */
  startStroke: string;
}

/** Coordinates beyond this many pixels off the plot are clamped (a diverged run's 1e30s). */
const FAR = 1e5;

/** Data to plot-area pixels (y down), clamped to ±FAR; null for a non-finite point. */
export function toPixel(box: Box, width: number, height: number, a1: number, a2: number): Point | null {
  if (!Number.isFinite(a1) || !Number.isFinite(a2)) return null;
  const x = ((a1 - box.x[0]) / (box.x[1] - box.x[0])) * width;
  const y = ((box.y[1] - a2) / (box.y[1] - box.y[0])) * height;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
  return [Math.max(-FAR, Math.min(FAR, x)), Math.max(-FAR, Math.min(FAR, y))];
}

/** What lies under the mouse: a run's step, or the minimum (`path` −1, `index` 0). */
export interface Hit {
  path: number;
  index: number;
}

/**
 * The step point nearest to plot-area pixel (x, y) within `radius` pixels, the minimum
 * when it is nearer; null when nothing is that close. A tie goes to the later run, the
 * one drawn on top.
 */
export function nearestPoint(scene: Scene, x: number, y: number, radius = 8): Hit | null {
  let best: Hit | null = null;
  let bestD = radius * radius;
  const consider = (path: number, index: number, a1: number, a2: number) => {
    const p = toPixel(scene.box, scene.width, scene.height, a1, a2);
    if (!p) return;
    const d = (p[0] - x) ** 2 + (p[1] - y) ** 2;
    if (d <= bestD) {
      bestD = d;
      best = { path, index };
    }
  };
  scene.paths.forEach((p, k) => {
    const n = Math.min(p.a1.length, p.a2.length);
    for (let i = 0; i < n; i++) consider(k, i, p.a1[i], p.a2[i]);
  });
  if (scene.minimum) consider(-1, 0, scene.minimum[0], scene.minimum[1]);
  return best;
}

/** The subset of CanvasRenderingContext2D that drawing needs. */
export type Ctx2D = Pick<
  CanvasRenderingContext2D,
  | "setTransform" | "clearRect" | "beginPath" | "moveTo" | "lineTo" | "arc" | "closePath" | "fill" | "stroke"
  | "fillStyle" | "strokeStyle" | "lineWidth" | "lineJoin"
>;

function circle(ctx: Ctx2D, p: Point, r: number, fill: string, stroke: string | null, width = 0): void {
  ctx.beginPath();
  ctx.arc(p[0], p[1], r, 0, 2 * Math.PI);
  ctx.fillStyle = fill;
  ctx.fill();
  if (stroke) {
    ctx.strokeStyle = stroke;
    ctx.lineWidth = width;
    ctx.stroke();
  }
}

function star(ctx: Ctx2D, p: Point, r: number): void {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    const rr = k % 2 ? r * 0.45 : r;
    const q: Point = [p[0] + rr * Math.cos(a), p[1] + rr * Math.sin(a)];
    if (k) ctx.lineTo(q[0], q[1]);
    else ctx.moveTo(q[0], q[1]);
  }
  ctx.closePath();
  ctx.fillStyle = "#ffc107";
  ctx.fill();
  ctx.strokeStyle = "#333";
  ctx.lineWidth = 1;
  ctx.stroke();
}

/**
 * Draws `scene` on a context whose canvas is `ratio` device pixels per CSS pixel, in the
 * order plotly drew them: paths, the minimum, the current steps, the start handle.
 */
export function drawScene(ctx: Ctx2D, scene: Scene, ratio: number): void {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, scene.width * ratio, scene.height * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const px = (a1: number, a2: number) => toPixel(scene.box, scene.width, scene.height, a1, a2);
  ctx.lineJoin = "round";
  for (const path of scene.paths) {
    const n = Math.min(path.a1.length, path.a2.length);
    const pts: Point[] = [];
    for (let i = 0; i < n; i++) {
      const p = px(path.a1[i], path.a2[i]);
      if (p) pts.push(p);
    }
    if (!pts.length) continue;
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (const p of pts.slice(1)) ctx.lineTo(p[0], p[1]);
    ctx.strokeStyle = path.color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    if (path.markers) for (const p of pts) circle(ctx, p, 2, path.color, null);
  }
  const min = scene.minimum && px(scene.minimum[0], scene.minimum[1]);
  if (min) star(ctx, min, 8);
  scene.paths.forEach((path, k) => {
    const i = scene.current[k];
    const p = i === undefined ? null : px(path.a1[i], path.a2[i]);
    if (p) circle(ctx, p, 6, path.color, "#fff", 1.5);
  });
  const start = scene.start && px(scene.start[0], scene.start[1]);
  if (start) circle(ctx, start, 7, "#fff", scene.startStroke, 2);
}
