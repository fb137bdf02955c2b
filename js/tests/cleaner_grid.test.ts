import { describe, expect, it } from "vitest";
import { columnsFromTops, keyAction, moveFocus, refocus } from "../src/core/grid";

describe("keyAction", () => {
  it("maps arrows to moves", () => {
    expect(keyAction({ key: "ArrowLeft" }, 3)).toEqual({ kind: "move", dir: "left" });
    expect(keyAction({ key: "ArrowRight" }, 3)).toEqual({ kind: "move", dir: "right" });
    expect(keyAction({ key: "ArrowUp" }, 3)).toEqual({ kind: "move", dir: "up" });
    expect(keyAction({ key: "ArrowDown" }, 3)).toEqual({ kind: "move", dir: "down" });
  });

  it("maps 1-9 to the class index, ignoring digits past the classes", () => {
    expect(keyAction({ key: "1" }, 3)).toEqual({ kind: "relabel", cls: 0 });
    expect(keyAction({ key: "3" }, 3)).toEqual({ kind: "relabel", cls: 2 });
    expect(keyAction({ key: "4" }, 3)).toBeNull();
    expect(keyAction({ key: "9" }, 12)).toEqual({ kind: "relabel", cls: 8 });
    expect(keyAction({ key: "0" }, 12)).toBeNull();
    expect(keyAction({ key: "1" }, 0)).toBeNull();
  });

  it("maps d / D / Delete to toggling delete", () => {
    for (const key of ["d", "D", "Delete"]) expect(keyAction({ key }, 2)).toEqual({ kind: "toggleDelete" });
  });

  it("maps z to undo and Z to redo", () => {
    expect(keyAction({ key: "z" }, 2)).toEqual({ kind: "undo" });
    expect(keyAction({ key: "Z" }, 2)).toEqual({ kind: "redo" });
  });

  it("maps n / p to pages", () => {
    expect(keyAction({ key: "n" }, 2)).toEqual({ kind: "page", delta: 1 });
    expect(keyAction({ key: "p" }, 2)).toEqual({ kind: "page", delta: -1 });
  });

  it("leaves modified keys and other keys to the browser", () => {
    expect(keyAction({ key: "z", ctrlKey: true }, 2)).toBeNull();
    expect(keyAction({ key: "d", metaKey: true }, 2)).toBeNull();
    expect(keyAction({ key: "1", altKey: true }, 2)).toBeNull();
    for (const key of ["a", "Enter", " ", "Tab", "Shift", "F5", "x"]) expect(keyAction({ key }, 2)).toBeNull();
    expect(keyAction({ key: "Escape" }, 2)).toEqual({ kind: "escape" });
  });
});

describe("moveFocus", () => {
  // 10 cards in 4 columns:
  //  0 1 2 3
  //  4 5 6 7
  //  8 9
  it("steps left/right by one, clamped to the grid", () => {
    expect(moveFocus(5, "left", 10, 4)).toBe(4);
    expect(moveFocus(5, "right", 10, 4)).toBe(6);
    expect(moveFocus(0, "left", 10, 4)).toBe(0);
    expect(moveFocus(9, "right", 10, 4)).toBe(9);
    expect(moveFocus(3, "right", 10, 4)).toBe(4); // wraps to the next row, like reading order
  });

  it("steps up/down by the columns", () => {
    expect(moveFocus(5, "up", 10, 4)).toBe(1);
    expect(moveFocus(1, "down", 10, 4)).toBe(5);
    expect(moveFocus(5, "down", 10, 4)).toBe(9);
    expect(moveFocus(1, "up", 10, 4)).toBe(1);
    expect(moveFocus(9, "down", 10, 4)).toBe(9);
  });

  it("goes down to the last card when the last row is shorter", () => {
    expect(moveFocus(6, "down", 10, 4)).toBe(9);
    expect(moveFocus(7, "down", 10, 4)).toBe(9);
    // already on the last row: stays
    expect(moveFocus(8, "down", 10, 4)).toBe(8);
  });

  it("handles one column, empty grids and junk input", () => {
    expect(moveFocus(2, "down", 5, 1)).toBe(3);
    expect(moveFocus(2, "up", 5, 1)).toBe(1);
    expect(moveFocus(0, "down", 0, 4)).toBe(-1);
    expect(moveFocus(42, "left", 5, 4)).toBe(3);
    expect(moveFocus(-3, "right", 5, 4)).toBe(1);
    expect(moveFocus(0, "down", 5, 0)).toBe(1);
    expect(moveFocus(0, "down", 5, NaN)).toBe(1);
  });
});

describe("columnsFromTops", () => {
  it("counts the cards on the first row", () => {
    expect(columnsFromTops([4, 4, 4, 4, 150, 150, 150, 150, 296])).toBe(4);
    expect(columnsFromTops([4, 150, 296])).toBe(1);
    expect(columnsFromTops([10, 10, 10])).toBe(3);
  });

  it("tolerates sub-pixel differences", () => {
    expect(columnsFromTops([4, 4.5, 3.8, 150.2])).toBe(3);
  });

  it("is 1 with no cards, and all in one row without layout", () => {
    expect(columnsFromTops([])).toBe(1);
    expect(columnsFromTops([0, 0, 0, 0, 0])).toBe(5);
  });
});

describe("refocus", () => {
  it("follows the focused item when it is still shown", () => {
    expect(refocus([7, 3, 9], 9, 0)).toBe(2);
  });

  it("keeps the position when the item left the page, clamped", () => {
    expect(refocus([7, 3, 9], 42, 1)).toBe(1);
    expect(refocus([7, 3], 42, 5)).toBe(1);
    expect(refocus([7, 3], null, -1)).toBe(0);
  });

  it("is -1 on an empty page", () => {
    expect(refocus([], 3, 2)).toBe(-1);
  });
});
