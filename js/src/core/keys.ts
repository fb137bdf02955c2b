/**
 * Keyboard isolation for widgets living inside JupyterLab.
 *
 * JupyterLab sees every key twice: Lumino's shortcut registry on the document (capture
 * phase) and the notebook's own handler (bubble phase), which calls preventDefault on
 * arrows and letters in command mode. A range slider then never moves and a letter key
 * runs a notebook command. `data-lm-suppress-shortcuts` tells Lumino to skip shortcut
 * matching under the root, and stopping propagation at the root keeps the notebook out.
 */
export function isolateKeys(root: HTMLElement): () => void {
  root.dataset.lmSuppressShortcuts = "true";
  const stop = (e: KeyboardEvent) => e.stopPropagation();
  root.addEventListener("keydown", stop);
  root.addEventListener("keypress", stop);
  root.addEventListener("keyup", stop);
  return () => {
    root.removeEventListener("keydown", stop);
    root.removeEventListener("keypress", stop);
    root.removeEventListener("keyup", stop);
  };
}
