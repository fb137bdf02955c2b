/**
 * The streaming protocol between the Python kernel and the browser, written down once.
 * The Python twin is `src/fastwidgets/_stream.py`; both sides test against these shapes.
 *
 * Data model: named series, each an append-only list of (x, y) float64 points. Python
 * keeps the full history; the browser keeps what it has been sent.
 *
 * Python -> JS, custom messages (`model.on("msg:custom", (msg, buffers) => ...)`):
 *
 *   {"type": "delta", "seq": n, "series": [{"name": s, "start": i, "count": k}, ...]}
 *   {"type": "reset", "seq": n, "series": [{"name": s, "start": 0, "count": k}, ...]}
 *
 *   For series entry i, `buffers[2*i]` holds its x values and `buffers[2*i+1]` its y
 *   values, each `count` little-endian float64. `start` is the index (in Python's full
 *   history) of the first point carried. A delta appends; a reset carries the FULL data
 *   of every series and replaces the whole store (series it does not list are dropped).
 *   `seq` increases by one per message; the store relies on `start` for gap detection,
 *   which also catches lost messages, so `seq` is informational.
 *
 * JS -> Python, custom message:
 *
 *   {"type": "resync"}   Python answers with a `reset` (when the kernel is idle).
 *
 * Synced trait `snapshot` (saved with the notebook, so a re-opened notebook or a new
 * view shows the curve without a kernel):
 *
 *   {"version": 1, "series": [{"name": s, "total": n, "x": bytes, "y": bytes}, ...]}
 *
 *   x/y are a downsampled copy (float64 LE); `total` is the true number of points
 *   Python holds for that series, i.e. the start index of the next delta. The value may
 *   be null or {} when there is nothing yet.
 */

import { isRecord } from "./guards";

/** One series' slice of a delta/reset message, decoded. */
export interface SeriesChunk {
  name: string;
  start: number;
  x: Float64Array;
  y: Float64Array;
}

/** A decoded Python -> JS message. */
export interface StreamMessage {
  type: "delta" | "reset";
  seq: number;
  series: SeriesChunk[];
}

/** One series of a decoded snapshot trait. */
export interface SnapshotSeries {
  name: string;
  /** Number of points Python holds (x/y may hold fewer: they are downsampled). */
  total: number;
  x: Float64Array;
  y: Float64Array;
}

/** The message the browser sends to ask for a full `reset`. */
export const RESYNC = Object.freeze({ type: "resync" as const });

/** Raised for a message that claims to be ours but does not follow the protocol. */
export class ProtocolError extends Error {}

const HOST_IS_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Anything a float64 column may arrive as: buffers from the comm, or plain JSON. */
export type Float64Source = DataView | ArrayBuffer | ArrayBufferView | ArrayLike<number>;

/**
 * Reads little-endian float64 values as a Float64Array. An 8-aligned buffer on a
 * little-endian host is viewed without copying; anything else (unaligned offsets happen
 * with comm buffers, and Float64Array refuses them) is copied value by value.
 */
export function toFloat64(src: Float64Source): Float64Array {
  if (src instanceof Float64Array) return src;
  if (src instanceof ArrayBuffer) src = new DataView(src);
  if (ArrayBuffer.isView(src)) {
    const { buffer, byteOffset, byteLength } = src;
    const n = Math.floor(byteLength / 8);
    if (HOST_IS_LE && byteOffset % 8 === 0) return new Float64Array(buffer, byteOffset, n);
    const dv = new DataView(buffer, byteOffset, byteLength);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
    return out;
  }
  return Float64Array.from(src as ArrayLike<number>);
}

/**
 * Decodes a custom message. Returns null for messages that are not stream messages
 * (a widget may have other custom messages); throws ProtocolError for a malformed one.
 */
export function decodeMessage(msg: unknown, buffers: readonly Float64Source[] = []): StreamMessage | null {
  if (!isRecord(msg) || (msg.type !== "delta" && msg.type !== "reset")) return null;
  if (!Array.isArray(msg.series)) throw new ProtocolError(`${msg.type}: "series" is not a list`);
  const series = msg.series.map((entry: unknown, i: number): SeriesChunk => {
    if (!isRecord(entry) || typeof entry.name !== "string") {
      throw new ProtocolError(`${msg.type}: series[${i}] has no name`);
    }
    const start = Number(entry.start);
    const count = Number(entry.count);
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(count) || count < 0) {
      throw new ProtocolError(`${msg.type}: series[${i}] has a bad start/count`);
    }
    const xb = buffers[2 * i];
    const yb = buffers[2 * i + 1];
    if (xb === undefined || yb === undefined) throw new ProtocolError(`${msg.type}: buffers missing for ${entry.name}`);
    const x = toFloat64(xb);
    const y = toFloat64(yb);
    if (x.length < count || y.length < count) throw new ProtocolError(`${msg.type}: short buffers for ${entry.name}`);
    return { name: entry.name, start, x: x.subarray(0, count), y: y.subarray(0, count) };
  });
  return { type: msg.type, seq: Number(msg.seq) || 0, series };
}

/** Decodes the `snapshot` trait; null, {}, an unknown version or bad entries give []. */
export function decodeSnapshot(snap: unknown): SnapshotSeries[] {
  if (!isRecord(snap) || snap.version !== 1 || !Array.isArray(snap.series)) return [];
  const out: SnapshotSeries[] = [];
  for (const entry of snap.series as unknown[]) {
    if (!isRecord(entry) || typeof entry.name !== "string" || entry.x == null || entry.y == null) continue;
    const x = toFloat64(entry.x as Float64Source);
    const y = toFloat64(entry.y as Float64Source);
    const n = Math.min(x.length, y.length);
    const total = Number(entry.total);
    out.push({
      name: entry.name,
      total: Number.isInteger(total) && total >= n ? total : n,
      x: x.subarray(0, n),
      y: y.subarray(0, n),
    });
  }
  return out;
}
