// The vitest environment is node (no jsdom/happy-dom): node's own EventTarget and Event
// stand in for the graph div, the window and the MouseEvents, dispatched for real.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { dragOnPlot, type PlotDrag } from "../src/core/pick";
import { Disposer } from "../src/core/widget";

/** A graph div as plotly leaves it: at (100, 50) on the page, plot area 400×300 at (60, 20). */
function graph() {
  return Object.assign(new EventTarget(), {
    _fullLayout: { _size: { l: 60, t: 20, w: 400, h: 300 } },
    getBoundingClientRect: () => ({ left: 100, top: 50 }),
  });
}

/** A mouse event as far as the drag reads it. */
function mouse(type: string, clientX: number, clientY: number, button = 0): MouseEvent {
  return Object.assign(new Event(type, { cancelable: true }), { clientX, clientY, button }) as unknown as MouseEvent;
}

let win: EventTarget;
let gd: ReturnType<typeof graph>;
let d: Disposer;
let log: string[];

function hook(over: Partial<PlotDrag> = {}) {
  return dragOnPlot(gd, {
    accept: (ev) => (log.push(`accept ${ev.clientX}`), true),
    start: (ev) => log.push(`start ${ev.clientX}`),
    move: (ev, final) => log.push(`move ${ev.clientX} ${final}`),
    ...over,
  }, d);
}

beforeEach(() => {
  win = new EventTarget();
  vi.stubGlobal("window", win);
  gd = graph();
  d = new Disposer();
  log = [];
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("dragOnPlot", () => {
  it("presses, follows the window and releases with a final move", () => {
    const drag = hook();
    const down = mouse("mousedown", 200, 100);
    gd.dispatchEvent(down);
    expect(down.defaultPrevented).toBe(true);
    expect(drag.dragging).toBe(true);
    win.dispatchEvent(mouse("mousemove", 250, 100));
    win.dispatchEvent(mouse("mousemove", 900, 900)); // outside the plot: still followed
    win.dispatchEvent(mouse("mouseup", 260, 100));
    expect(log).toEqual(["accept 200", "start 200", "move 200 false", "move 250 false", "move 900 false", "move 260 true"]);
    expect(drag.dragging).toBe(false);
    win.dispatchEvent(mouse("mousemove", 300, 100)); // listeners gone
    win.dispatchEvent(mouse("mouseup", 300, 100));
    expect(log).toHaveLength(6);
  });

  it("ends the drag before the final move", () => {
    let during: boolean | null = null;
    const drag = hook({ move: (_ev, final) => { if (final) during = drag.dragging; } });
    gd.dispatchEvent(mouse("mousedown", 200, 100));
    win.dispatchEvent(mouse("mouseup", 210, 100));
    expect(during).toBe(false);
  });

  it("ignores other buttons, the margins, the modebar and refused presses", () => {
    const drag = hook({ accept: (ev) => (log.push(`accept ${ev.clientX}`), ev.clientX !== 300) });
    gd.dispatchEvent(mouse("mousedown", 200, 100, 2)); // right button
    gd.dispatchEvent(mouse("mousedown", 120, 100)); // left margin
    const onBar = mouse("mousedown", 200, 100);
    Object.defineProperty(onBar, "target", { value: { closest: (s: string) => (s === ".modebar" ? {} : null) } });
    gd.dispatchEvent(onBar);
    const refused = mouse("mousedown", 300, 100);
    gd.dispatchEvent(refused);
    expect(log).toEqual(["accept 300"]);
    expect(refused.defaultPrevented).toBe(false);
    expect(drag.dragging).toBe(false);
    win.dispatchEvent(mouse("mousemove", 250, 100));
    expect(log).toEqual(["accept 300"]);
  });

  it("stops propagation only when asked", () => {
    hook();
    const plain = mouse("mousedown", 200, 100);
    const spy = vi.spyOn(plain, "stopPropagation");
    gd.dispatchEvent(plain);
    expect(spy).not.toHaveBeenCalled();
    win.dispatchEvent(mouse("mouseup", 200, 100));

    d.dispose();
    d = new Disposer();
    hook({ stopPropagation: true });
    const stopped = mouse("mousedown", 200, 100);
    const spy2 = vi.spyOn(stopped, "stopPropagation");
    gd.dispatchEvent(stopped);
    expect(spy2).toHaveBeenCalledOnce();
  });

  it("disposal unhooks the press and ends a drag without a final move", () => {
    const drag = hook();
    gd.dispatchEvent(mouse("mousedown", 200, 100));
    d.dispose();
    expect(drag.dragging).toBe(false);
    win.dispatchEvent(mouse("mousemove", 250, 100));
    win.dispatchEvent(mouse("mouseup", 250, 100));
    gd.dispatchEvent(mouse("mousedown", 200, 100));
    expect(log).toEqual(["accept 200", "start 200", "move 200 false"]);
  });
});
