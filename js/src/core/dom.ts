/** Tiny DOM helpers every view uses. */

/** Creates a `<tag class=cls>` appended to `parent`. Text goes in with textContent only. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, parent: HTMLElement): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  parent.appendChild(node);
  return node;
}

/**
 * Sets `node`'s text (as textContent: never parsed as HTML) only when it differs, so a
 * re-render that changes nothing leaves the DOM, and the browser's layout, untouched.
 */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** Turns the class `cls` on or off on `node`, touching the DOM only when it changes. */
export function setClass(node: HTMLElement, cls: string, on: boolean): void {
  if (node.classList.contains(cls) !== on) node.classList.toggle(cls, on);
}
