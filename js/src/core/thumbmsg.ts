/**
 * The ImageCleaner's thumbnail messages (the Python side is `fastwidgets.cleaner`).
 *
 * JS -> Python: `{"type":"thumbs","items":[i,...],"size":px}` asks for thumbnails.
 * Python -> JS: `{"type":"thumbs","size":px,"items":[{"i","mime","w","h","broken"},...]}`
 * with `buffers[k]` the image bytes of `items[k]` (empty when broken). Python sends one
 * when asked, and unasked for the page in view and the next one (prefetch).
 */

import { isRecord } from "./guards";

/** One decoded thumbnail: bytes to turn into a blob, or the reason the file is broken. */
export interface ThumbData {
  i: number;
  size: number;
  mime: string;
  w: number;
  h: number;
  /** Reason text when the file could not be read (bytes is then empty). */
  broken: string | null;
  bytes: Uint8Array;
}

/** What a comm buffer may arrive as (DataView in JupyterLab, ArrayBuffer elsewhere). */
export type ByteSource = DataView | ArrayBuffer | ArrayBufferView | ArrayLike<number>;

/** Image types an <img> may get; anything else is treated as JPEG (the bytes decide anyway). */
const MIME = /^image\/(jpeg|png|webp|gif|bmp)$/;

/** The bytes of a buffer, copied into a fresh ArrayBuffer (comm buffers may be views into a larger one). */
export function toBytes(src: ByteSource | null | undefined): Uint8Array {
  if (src == null) return new Uint8Array(0);
  if (src instanceof ArrayBuffer) return new Uint8Array(src.slice(0));
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
  return Uint8Array.from(src as ArrayLike<number>);
}

/**
 * Decodes a thumbs message. Null when the message is not one (other custom messages);
 * entries without a valid index are skipped, an entry with no bytes and no reason counts
 * as broken ("empty thumbnail"), so a card never waits forever for an image.
 */
export function decodeThumbs(msg: unknown, buffers: readonly ByteSource[] = []): ThumbData[] | null {
  if (!isRecord(msg) || msg.type !== "thumbs" || !Array.isArray(msg.items)) return null;
  const size = Number(msg.size);
  if (!Number.isFinite(size) || size <= 0) return null;
  const out: ThumbData[] = [];
  msg.items.forEach((entry: unknown, k: number) => {
    if (!isRecord(entry)) return;
    const i = Number(entry.i);
    if (!Number.isInteger(i) || i < 0) return;
    const bytes = toBytes(buffers[k]);
    let broken = entry.broken == null ? null : String(entry.broken);
    if (broken === null && bytes.byteLength === 0) broken = "empty thumbnail";
    const mime = typeof entry.mime === "string" && MIME.test(entry.mime) ? entry.mime : "image/jpeg";
    out.push({ i, size, mime, w: Number(entry.w) || 0, h: Number(entry.h) || 0, broken, bytes: broken === null ? bytes : new Uint8Array(0) });
  });
  return out;
}

/** The request for the thumbnails of `items` at `size` px. */
export function thumbsRequest(items: readonly number[], size: number): { type: "thumbs"; items: number[]; size: number } {
  return { type: "thumbs", items: [...items], size };
}
