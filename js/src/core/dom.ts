/** Tiny DOM helpers every view uses. */

/** Creates a `<tag class=cls>` appended to `parent`. Text goes in with textContent only. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, parent: HTMLElement): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  parent.appendChild(node);
  return node;
}
