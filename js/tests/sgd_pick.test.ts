import { describe, expect, it } from "vitest";
import { axisValueAt, inPlotArea, type FullLayout } from "../src/core/pick";

/** A graph div as plotly leaves it: at (100, 50) on the page, plot area 400×300 at (60, 20). */
function graph(fl: FullLayout) {
  return { _fullLayout: fl, getBoundingClientRect: () => ({ left: 100, top: 50 }) };
}

const size = { l: 60, t: 20, w: 400, h: 300 };

describe("inPlotArea", () => {
  it("is true inside the plot area only", () => {
    const gd = graph({ _size: size });
    expect(inPlotArea(gd, 160, 70)).toBe(true);
    expect(inPlotArea(gd, 560, 370)).toBe(true);
    expect(inPlotArea(gd, 159, 100)).toBe(false); // left margin (y axis labels)
    expect(inPlotArea(gd, 300, 371)).toBe(false); // below
    expect(inPlotArea(graph({}), 300, 100)).toBe(false); // not drawn yet
  });
});

describe("axisValueAt", () => {
  it("maps x left to right and y bottom to top from the drawn ranges", () => {
    const gd = graph({ _size: size, xaxis: { range: [-2, 6] }, yaxis: { range: [0, 3] } });
    expect(axisValueAt(gd, "x", 160)).toBe(-2);
    expect(axisValueAt(gd, "x", 560)).toBe(6);
    expect(axisValueAt(gd, "x", 360)).toBe(2);
    expect(axisValueAt(gd, "y", 70)).toBe(3); // top edge
    expect(axisValueAt(gd, "y", 370)).toBe(0);
    expect(axisValueAt(gd, "y", 220)).toBe(1.5);
  });

  it("clamps to the plot area", () => {
    const gd = graph({ _size: size, xaxis: { range: [-2, 6] }, yaxis: { range: [0, 3] } });
    expect(axisValueAt(gd, "x", 0)).toBe(-2);
    expect(axisValueAt(gd, "y", 1000)).toBe(0);
  });

  it("prefers plotly's own p2l with the axis' offset", () => {
    const xs: number[] = [];
    const gd = graph({ _size: size, xaxis: { _offset: 70, _length: 380, p2l: (px) => (xs.push(px), px / 100) } });
    expect(axisValueAt(gd, "x", 270)).toBe(1);
    expect(xs).toEqual([100]);
  });

  it("is null before a draw or for a broken mapping", () => {
    expect(axisValueAt(graph({}), "x", 10)).toBeNull();
    expect(axisValueAt(graph({ _size: size, yaxis: {} }), "y", 10)).toBeNull();
    expect(axisValueAt(graph({ _size: size, xaxis: { p2l: () => NaN } }), "x", 200)).toBeNull();
  });
});
