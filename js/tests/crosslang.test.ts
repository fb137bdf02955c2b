// The browser side of tests/test_protocol_fixture.py: decode the messages Python made.
import { describe, expect, it } from "vitest";
import { decodeMessage, decodeSnapshot } from "../src/core/protocol";
import { SeriesStore } from "../src/core/store";

interface Fixture {
  messages: { content: unknown; buffers: string[] }[];
  lost: number[];
  snapshot: { version: number; series: { name: string; total: number; x: string; y: string }[] };
  expected: Record<string, { x: (number | string)[]; y: (number | string)[] }>;
}

import data from "./fixtures/protocol.json";

const fixture = data as Fixture;

const view = (b64: string): DataView => {
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new DataView(bytes.buffer);
};
const num = (v: number | string): number => Number(v);

describe("messages made by Python's SeriesStream", () => {
  it("rebuild the exact series after a lost delta and the resync", () => {
    let resyncs = 0;
    const store = new SeriesStore({ requestResync: () => resyncs++ });
    fixture.messages.forEach((m, i) => {
      if (fixture.lost.includes(i)) return;
      const decoded = decodeMessage(m.content, m.buffers.map(view));
      expect(decoded).not.toBeNull();
      store.apply(decoded!);
      if (decoded!.type === "delta" && i > Math.max(...fixture.lost)) expect(resyncs).toBe(1);
    });
    for (const [name, want] of Object.entries(fixture.expected)) {
      const s = store.get(name)!;
      expect(Array.from(s.xs)).toEqual(want.x.map(num));
      expect(Array.from(s.ys)).toEqual(want.y.map(num));
    }
    expect(store.provisional).toBe(false);
  });

  it("decode the snapshot with each series' true total", () => {
    const snap = fixture.snapshot;
    const series = decodeSnapshot({
      version: snap.version,
      series: snap.series.map((s) => ({ ...s, x: view(s.x), y: view(s.y) })),
    });
    const totals = Object.fromEntries(series.map((s) => [s.name, s.total]));
    expect(totals).toEqual({ train_loss: 6, lr: 5 });
    for (const s of series) expect(s.x.length).toBeLessThanOrEqual(s.total);
  });
});
