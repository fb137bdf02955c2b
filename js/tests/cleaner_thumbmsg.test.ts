import { describe, expect, it } from "vitest";
import { decodeThumbs, thumbsRequest, toBytes } from "../src/core/thumbmsg";

const JPEG = [0xff, 0xd8, 0xff, 0xe0, 1, 2, 3];

describe("toBytes", () => {
  it("reads DataView, ArrayBuffer, typed arrays and plain arrays", () => {
    const buf = new Uint8Array([9, 9, ...JPEG, 9]).buffer;
    expect([...toBytes(new DataView(buf, 2, JPEG.length))]).toEqual(JPEG);
    expect([...toBytes(new Uint8Array(buf, 2, JPEG.length))]).toEqual(JPEG);
    expect([...toBytes(new Uint8Array(JPEG).buffer)]).toEqual(JPEG);
    expect([...toBytes(JPEG)]).toEqual(JPEG);
    expect(toBytes(undefined).byteLength).toBe(0);
  });

  it("copies, so the blob never holds the rest of a shared buffer", () => {
    const big = new Uint8Array(1000);
    const bytes = toBytes(new DataView(big.buffer, 10, 5));
    expect(bytes.byteLength).toBe(5);
    expect(bytes.buffer.byteLength).toBe(5);
  });
});

describe("decodeThumbs", () => {
  it("pairs each entry with its buffer", () => {
    const msg = {
      type: "thumbs",
      size: 128,
      items: [
        { i: 4, mime: "image/jpeg", w: 128, h: 96, broken: null },
        { i: 7, mime: "image/png", w: 20, h: 20, broken: null },
      ],
    };
    const out = decodeThumbs(msg, [new DataView(new Uint8Array(JPEG).buffer), new Uint8Array([1, 2]).buffer])!;
    expect(out.map((t) => [t.i, t.size, t.mime, t.w, t.h, t.broken, t.bytes.byteLength])).toEqual([
      [4, 128, "image/jpeg", 128, 96, null, JPEG.length],
      [7, 128, "image/png", 20, 20, null, 2],
    ]);
  });

  it("keeps broken entries with their reason and no bytes", () => {
    const out = decodeThumbs(
      { type: "thumbs", size: 64, items: [{ i: 1, mime: "image/jpeg", w: 0, h: 0, broken: "zero bytes" }] },
      [new ArrayBuffer(0)],
    )!;
    expect(out[0].broken).toBe("zero bytes");
    expect(out[0].bytes.byteLength).toBe(0);
  });

  it("counts an entry without bytes or reason as broken", () => {
    const out = decodeThumbs({ type: "thumbs", size: 64, items: [{ i: 1 }] }, [])!;
    expect(out[0].broken).toBe("empty thumbnail");
  });

  it("skips entries without a valid index and replaces non-image types", () => {
    const out = decodeThumbs(
      {
        type: "thumbs", size: 64,
        items: [null, { i: -1 }, { i: 1.5 }, { i: "x" }, { i: 2, mime: "text/html" }],
      },
      [null as never, new ArrayBuffer(1), new ArrayBuffer(1), new ArrayBuffer(1), new Uint8Array(JPEG)],
    )!;
    expect(out.map((t) => [t.i, t.mime])).toEqual([[2, "image/jpeg"]]);
  });

  it("returns null for other messages", () => {
    expect(decodeThumbs({ type: "delta", series: [] })).toBeNull();
    expect(decodeThumbs(null)).toBeNull();
    expect(decodeThumbs({ type: "thumbs", size: 0, items: [] })).toBeNull();
    expect(decodeThumbs({ type: "thumbs", size: 64 })).toBeNull();
  });

  it("builds the request", () => {
    expect(thumbsRequest([3, 1], 96)).toEqual({ type: "thumbs", items: [3, 1], size: 96 });
  });
});
