/**
 * Keyboard and focus logic of a grid of cards (the ImageCleaner's), kept free of the DOM
 * so it is tested in node: which action a key means, where the focus goes, and how many
 * columns the browser actually laid out.
 */

/** What a key press asks for. `relabel` carries the 0-based class index. */
export type GridAction =
  | { kind: "move"; dir: "left" | "right" | "up" | "down" }
  | { kind: "relabel"; cls: number }
  | { kind: "toggleDelete" }
  | { kind: "undo" }
  | { kind: "redo" }
  | { kind: "page"; delta: 1 | -1 }
  | { kind: "escape" };

/** The parts of a KeyboardEvent the mapping reads. */
export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

const ARROWS: Record<string, "left" | "right" | "up" | "down"> = {
  ArrowLeft: "left",
  ArrowRight: "right",
  ArrowUp: "up",
  ArrowDown: "down",
};

/**
 * The action of a key, or null for a key that is not a shortcut. `z` is undo and `Z`
 * (shift) redo, read from `key` so the browser's keyboard layout decides what a letter is.
 * Keys with Ctrl/Cmd/Alt are left to the browser (copy, reload, ...). A digit beyond the
 * number of classes is not a shortcut, so it does nothing rather than relabel to nothing.
 */
export function keyAction(ev: KeyLike, nClasses: number): GridAction | null {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  const key = ev.key;
  if (key in ARROWS) return { kind: "move", dir: ARROWS[key] };
  if (key.length === 1 && key >= "1" && key <= "9") {
    const cls = key.charCodeAt(0) - 49; // "1" -> 0
    return cls < nClasses ? { kind: "relabel", cls } : null;
  }
  switch (key) {
    case "d":
    case "D":
    case "Delete":
      return { kind: "toggleDelete" };
    case "z":
      return { kind: "undo" };
    case "Z":
      return { kind: "redo" };
    case "n":
    case "N":
      return { kind: "page", delta: 1 };
    case "p":
    case "P":
      return { kind: "page", delta: -1 };
    case "Escape":
      return { kind: "escape" };
    default:
      return null;
  }
}

/**
 * The focus after an arrow: left/right step by one, up/down by a row of `columns`. A move
 * that would leave the grid stays put (up from the first row, down from the last), except
 * that down from a row above a shorter last row lands on the last card, as in a file
 * manager. An empty grid has no focus (-1); a focus out of range is clamped first.
 */
export function moveFocus(pos: number, dir: "left" | "right" | "up" | "down", count: number, columns: number): number {
  if (count <= 0) return -1;
  const cols = Math.max(1, Math.floor(columns) || 1);
  const at = Math.min(count - 1, Math.max(0, Math.floor(pos) || 0));
  switch (dir) {
    case "left":
      return Math.max(0, at - 1);
    case "right":
      return Math.min(count - 1, at + 1);
    case "up":
      return at - cols >= 0 ? at - cols : at;
    case "down": {
      if (at + cols < count) return at + cols;
      // a card in a lower row exists only if the last card's row is below ours
      return Math.floor((count - 1) / cols) > Math.floor(at / cols) ? count - 1 : at;
    }
  }
}

/**
 * The number of columns laid out, from the cards' top offsets in order: the cards that
 * share the first card's row. Tops within `tolerance` px count as one row (sub-pixel
 * layouts). With no layout (a hidden grid reports 0 for all) every card is in one row.
 */
export function columnsFromTops(tops: readonly number[], tolerance = 2): number {
  if (!tops.length) return 1;
  const first = tops[0];
  let n = 0;
  while (n < tops.length && Math.abs(tops[n] - first) <= tolerance) n++;
  return Math.max(1, n);
}

/**
 * Where the focus goes when the cards change: the same item if it is still shown, else the
 * same position (clamped), so after a decision that takes a card off the page the next one
 * is focused. -1 for an empty page.
 */
export function refocus(items: readonly number[], focusedItem: number | null, pos: number): number {
  if (!items.length) return -1;
  if (focusedItem !== null) {
    const at = items.indexOf(focusedItem);
    if (at >= 0) return at;
  }
  return Math.min(items.length - 1, Math.max(0, pos));
}
