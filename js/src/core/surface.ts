/**
 * The SGD playground's loss surface drawn as pixels: filled contour bands and
 * anti-aliased level lines of a quadratic over a box, for a plotly layout image.
 *
 * Why not plotly's contour trace: plotly recomputes and redraws every trace of a plot
 * when any trace's data changes, so each new trajectory (an lr move) re-ran the contour
 * (about half the redraw). An image only changes when the surface, its box or the plot's
 * size does, and the quadratic is known exactly, so every pixel is evaluated instead of
 * interpolated from a grid: the lines are true ellipses at any zoom.
 *
 * Heights are sqrt(L − floor) (see `contourGrid`): evenly spaced levels of it are evenly
 * spaced ellipses. Pure, so testable in node; `surfaceDataUrl` is the browser's wrapper.
 */
import { lossAt, type Box, type Point, type Quad } from "./quadratic";

/** The fill's two ends (the minimum, the box's highest corner) and the lines' colour. */
export interface SurfaceStyle {
  low: [number, number, number];
  high: [number, number, number];
  line: [number, number, number, number];
  /** Line width in pixels of the image. */
  lineWidth: number;
  /** About how many levels span the box. */
  levels: number;
}

export const SURFACE_STYLE: SurfaceStyle = {
  low: [0xbc, 0xd6, 0xec],
  high: [0xfb, 0xfd, 0xff],
  line: [90, 90, 90, 0.5],
  lineWidth: 0.9,
  levels: 18,
};

/** A round level spacing near `span / count`: 1, 2, 2.5 or 5 times a power of ten. */
export function levelStep(span: number, count: number): number {
  if (!(span > 0) || !Number.isFinite(span) || !(count > 0)) return 1;
  const raw = span / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10);
}

/**
 * RGBA pixels (row 0 at the top, a2 = box.y[1]) of the surface over `box`, `width` ×
 * `height` pixels. A pixel's band is floor(z / step); its line alpha comes from its
 * distance in pixels to the nearest level, |z − level| / |∇z|, which L's exact gradient
 * gives: lines keep their width however steep the surface is.
 */
export function surfacePixels(
  q: Quad, box: Box, minimum: Point | null, width: number, height: number, style: SurfaceStyle = SURFACE_STYLE,
): Uint8ClampedArray<ArrayBuffer> {
  const w = Math.max(1, Math.floor(width));
  const h = Math.max(1, Math.floor(height));
  const dx = (box.x[1] - box.x[0]) / w;
  const dy = (box.y[1] - box.y[0]) / h;
  const z = new Float64Array(w * h);
  let floor = minimum ? lossAt(q, minimum[0], minimum[1]) : Infinity;
  const raw = new Float64Array(w * h);
  for (let j = 0; j < h; j++) {
    const a2 = box.y[1] - (j + 0.5) * dy;
    for (let i = 0; i < w; i++) {
      const v = lossAt(q, box.x[0] + (i + 0.5) * dx, a2);
      raw[j * w + i] = v;
      if (v < floor) floor = v;
    }
  }
  let zmax = 0;
  for (let k = 0; k < raw.length; k++) {
    const v = Math.sqrt(Math.max(0, raw[k] - floor));
    z[k] = Number.isFinite(v) ? v : 0;
    if (z[k] > zmax) zmax = z[k];
  }
  const step = levelStep(zmax, style.levels);
  const [[p, r], [s, t]] = q.A;
  const sym = (r + s) / 2;
  const out = new Uint8ClampedArray(w * h * 4);
  const [lr, lg, lb, la] = style.line;
  const half = style.lineWidth / 2;
  for (let j = 0; j < h; j++) {
    const a2 = box.y[1] - (j + 0.5) * dy;
    for (let i = 0; i < w; i++) {
      const k = j * w + i;
      const a1 = box.x[0] + (i + 0.5) * dx;
      const zk = z[k];
      const band = Math.floor(zk / step);
      const f = Math.min(1, zmax > 0 ? ((band + 0.5) * step) / zmax : 0);
      let R = style.low[0] + (style.high[0] - style.low[0]) * f;
      let G = style.low[1] + (style.high[1] - style.low[1]) * f;
      let B = style.low[2] + (style.high[2] - style.low[2]) * f;
      if (zk > step / 2) {
        // ∇L = (A + Aᵀ)a − 2b, ∇z = ∇L / 2z, in pixels of this image
        const gx = ((2 * (p * a1 + sym * a2) - 2 * q.b[0]) / (2 * zk)) * dx;
        const gy = ((2 * (sym * a1 + t * a2) - 2 * q.b[1]) / (2 * zk)) * dy;
        const g = Math.hypot(gx, gy);
        const off = Math.min(zk - band * step, (band + 1) * step - zk);
        const d = g > 0 ? off / g : Infinity;
        const alpha = la * Math.max(0, Math.min(1, half + 0.5 - d));
        R += (lr - R) * alpha;
        G += (lg - G) * alpha;
        B += (lb - B) * alpha;
      }
      out[4 * k] = R;
      out[4 * k + 1] = G;
      out[4 * k + 2] = B;
      out[4 * k + 3] = 255;
    }
  }
  return out;
}

/**
 * The surface as a PNG data URL (browser only: it needs a canvas), `ratio` image pixels
 * per CSS pixel (the lines keep their width on a retina screen).
 */
export function surfaceDataUrl(q: Quad, box: Box, minimum: Point | null, width: number, height: number, ratio = 1): string {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.floor(width));
  canvas.height = Math.max(1, Math.floor(height));
  const ctx = canvas.getContext("2d");
  if (!ctx) return "";
  const style = { ...SURFACE_STYLE, lineWidth: SURFACE_STYLE.lineWidth * ratio };
  const pixels = surfacePixels(q, box, minimum, canvas.width, canvas.height, style);
  ctx.putImageData(new ImageData(pixels, canvas.width, canvas.height), 0, 0);
  return canvas.toDataURL("image/png");
}
