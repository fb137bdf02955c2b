import { describe, expect, it } from "vitest";
import { drawScene, nearestPoint, toPixel, type Ctx2D, type Scene } from "../src/core/trajcanvas";

const BOX = { x: [0, 10] as [number, number], y: [0, 5] as [number, number] };

function scene(over: Partial<Scene> = {}): Scene {
  return {
    box: BOX, width: 200, height: 100, minimum: [9, 4], start: [0, 0], startStroke: "#333",
    paths: [
      { color: "red", label: "SGD", steps: [0, 1, 2, 3], a1: [0, 1, 2, 3], a2: [0, 1, 2, 3], markers: true },
      { color: "blue", label: "Adam", steps: [0, 1, 2], a1: [0, 2, 4], a2: [0, 0.5, 1], markers: false },
    ],
    current: [1, 2],
    ...over,
  };
}

/** A context that records what is drawn: each fill/stroke with its style and path. */
function recorder() {
  const ops: { op: string; style: string; points: number[][] }[] = [];
  let path: number[][] = [];
  const ctx = {
    fillStyle: "", strokeStyle: "", lineWidth: 1, lineJoin: "miter",
    setTransform: () => {}, clearRect: () => ops.push({ op: "clear", style: "", points: [] }),
    beginPath: () => (path = []), closePath: () => {},
    moveTo: (x: number, y: number) => path.push([x, y]), lineTo: (x: number, y: number) => path.push([x, y]),
    arc: (x: number, y: number, r: number) => path.push([x, y, r]),
    fill: () => ops.push({ op: "fill", style: String(ctx.fillStyle), points: path }),
    stroke: () => ops.push({ op: "stroke", style: String(ctx.strokeStyle), points: path }),
  };
  return { ctx: ctx as unknown as Ctx2D, ops };
}

describe("toPixel", () => {
  it("maps the box onto the plot area, y down", () => {
    expect(toPixel(BOX, 200, 100, 0, 0)).toEqual([0, 100]);
    expect(toPixel(BOX, 200, 100, 10, 5)).toEqual([200, 0]);
    expect(toPixel(BOX, 200, 100, 5, 2.5)).toEqual([100, 50]);
  });

  it("clamps far points and drops non-finite ones", () => {
    expect(toPixel(BOX, 200, 100, 1e30, -1e30)).toEqual([1e5, 1e5]);
    expect(toPixel(BOX, 200, 100, NaN, 1)).toBeNull();
    expect(toPixel(BOX, 200, 100, 1, Infinity)).toBeNull();
  });
});

describe("nearestPoint", () => {
  it("finds the step under the mouse", () => {
    // red step 2 = (2, 2) → (40, 60)
    expect(nearestPoint(scene(), 42, 58)).toEqual({ path: 0, index: 2 });
  });

  it("prefers the nearer of two runs, the later one on a tie", () => {
    // (0, 0) is step 0 of both runs
    expect(nearestPoint(scene(), 0, 100)).toEqual({ path: 1, index: 0 });
    // blue step 1 = (2, 0.5) → (40, 90); red step 1 = (1, 1) → (20, 80)
    expect(nearestPoint(scene(), 38, 89)).toEqual({ path: 1, index: 1 });
  });

  it("finds the minimum (path -1)", () => {
    expect(nearestPoint(scene(), 181, 21)).toEqual({ path: -1, index: 0 });
  });

  it("is null beyond the radius", () => {
    expect(nearestPoint(scene(), 120, 50)).toBeNull();
    expect(nearestPoint(scene(), 52, 60, 8)).toBeNull(); // 12 px from red step 2
    expect(nearestPoint(scene(), 52, 60, 13)).toEqual({ path: 0, index: 2 });
  });
});

describe("drawScene", () => {
  it("draws paths, dots only where asked, the minimum, the current steps and the start, in that order", () => {
    const { ctx, ops } = recorder();
    drawScene(ctx, scene(), 2);
    expect(ops[0].op).toBe("clear");
    const summary = ops.slice(1).map((o) => `${o.op}:${o.style}`);
    expect(summary).toEqual([
      "stroke:red", ...Array(4).fill("fill:red"), // red path and a dot per step
      "stroke:blue", // blue: no dots
      "fill:#ffc107", "stroke:#333", // the minimum's star
      "fill:red", "stroke:#fff", "fill:blue", "stroke:#fff", // the current steps
      "fill:#fff", "stroke:#333", // the start handle
    ]);
    // the red path goes through its steps in pixels
    expect(ops[1].points).toEqual([[0, 100], [20, 80], [40, 60], [60, 40]]);
    // red's current step is its step 1, blue's its step 2 = (4, 1) → (80, 80)
    const current = ops.filter((o) => o.op === "fill" && o.points[0]?.[2] === 6);
    expect(current.map((o) => o.points[0].slice(0, 2))).toEqual([[20, 80], [80, 80]]);
  });

  it("skips non-finite points and leaves out what is not there", () => {
    const { ctx, ops } = recorder();
    const s = scene({
      paths: [{ color: "red", label: "SGD", steps: [0, 1, 2], a1: [0, NaN, 2], a2: [0, 1, 2], markers: true }],
      current: [1], minimum: null, start: null,
    });
    drawScene(ctx, s, 1);
    expect(ops[1]).toEqual({ op: "stroke", style: "red", points: [[0, 100], [40, 60]] });
    // two dots, no star, no current step (its point is NaN), no start handle
    expect(ops.slice(2).map((o) => o.op)).toEqual(["fill", "fill"]);
  });
});
