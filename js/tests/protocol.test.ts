import { describe, expect, it } from "vitest";
import { decodeMessage, decodeSnapshot, ProtocolError, toFloat64 } from "../src/core/protocol";

/** Little-endian float64 bytes of `values`, placed at `offset` inside a larger buffer. */
function f64View(values: number[], offset = 0): DataView {
  const buf = new ArrayBuffer(offset + values.length * 8 + 3);
  const dv = new DataView(buf, offset, values.length * 8);
  values.forEach((v, i) => dv.setFloat64(i * 8, v, true));
  return dv;
}

describe("toFloat64", () => {
  it("views an aligned DataView without copying", () => {
    const dv = f64View([1, 2.5, NaN], 8);
    const a = toFloat64(dv);
    expect(Array.from(a)).toEqual([1, 2.5, NaN]);
    expect(a.buffer).toBe(dv.buffer);
  });

  it("copies an unaligned DataView", () => {
    const dv = f64View([1, -Infinity, 1e9], 3);
    const a = toFloat64(dv);
    expect(Array.from(a)).toEqual([1, -Infinity, 1e9]);
    expect(a.buffer).not.toBe(dv.buffer);
  });

  it("accepts ArrayBuffer and plain arrays", () => {
    expect(Array.from(toFloat64(f64View([4, 5]).buffer as ArrayBuffer).subarray(0, 2))).toEqual([4, 5]);
    expect(Array.from(toFloat64([7, 8]))).toEqual([7, 8]);
  });
});

describe("decodeMessage", () => {
  it("decodes a delta with one buffer pair per series", () => {
    const msg = {
      type: "delta", seq: 3,
      series: [{ name: "a", start: 10, count: 2 }, { name: "b", start: 0, count: 1 }],
    };
    const out = decodeMessage(msg, [f64View([1, 2], 5), f64View([3, 4]), f64View([0]), f64View([NaN], 1)]);
    expect(out?.type).toBe("delta");
    expect(out?.seq).toBe(3);
    expect(out?.series.map((s) => [s.name, s.start, Array.from(s.x), Array.from(s.y)])).toEqual([
      ["a", 10, [1, 2], [3, 4]],
      ["b", 0, [0], [NaN]],
    ]);
  });

  it("ignores messages that are not stream messages", () => {
    expect(decodeMessage({ type: "pick", value: 1 })).toBeNull();
    expect(decodeMessage("hello")).toBeNull();
  });

  it("rejects malformed stream messages", () => {
    expect(() => decodeMessage({ type: "delta", series: [{ name: "a", start: 0, count: 2 }] }, [])).toThrow(ProtocolError);
    expect(() => decodeMessage({ type: "delta", series: [{ name: "a", start: 0, count: 3 }] }, [f64View([1]), f64View([1])])).toThrow(ProtocolError);
    expect(() => decodeMessage({ type: "reset", series: [{ name: "a", start: -1, count: 0 }] }, [f64View([]), f64View([])])).toThrow(ProtocolError);
  });
});

describe("decodeSnapshot", () => {
  it("decodes series with their true totals", () => {
    const snap = { version: 1, series: [{ name: "loss", total: 1000, x: f64View([0, 999], 4), y: f64View([2, 0.1]) }] };
    const [s] = decodeSnapshot(snap);
    expect(s.name).toBe("loss");
    expect(s.total).toBe(1000);
    expect(Array.from(s.x)).toEqual([0, 999]);
    expect(Array.from(s.y)).toEqual([2, 0.1]);
  });

  it("treats null, {} and unknown versions as empty", () => {
    expect(decodeSnapshot(null)).toEqual([]);
    expect(decodeSnapshot({})).toEqual([]);
    expect(decodeSnapshot({ version: 2, series: [] })).toEqual([]);
  });
});
