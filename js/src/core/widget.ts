/**
 * anywidget glue shared by every streaming widget. The store is kept per MODEL (not per
 * view) so that several views of one widget share the data and a view created later
 * starts complete. `initialize` attaches it; `render` finds it (and attaches it lazily on
 * hosts that do not call `initialize`).
 */
import type { AnyModel } from "@anywidget/types";
import { decodeMessage, decodeSnapshot, RESYNC, type Float64Source } from "./protocol";
import { SeriesStore } from "./store";

/** The traits the streaming core reads. */
export interface StreamTraits {
  snapshot: unknown;
}

type Model = AnyModel<StreamTraits>;

/** Collects cleanup steps (model listeners, observers, ...) to run once, in reverse. */
export class Disposer {
  private readonly steps: (() => void)[] = [];

  add(step: () => void): void {
    this.steps.push(step);
  }

  /** `model.on(event, fn)`, undone by `dispose`. */
  on(model: AnyModel<any>, event: string, fn: (...args: any[]) => void): void {
    model.on(event, fn);
    this.add(() => model.off(event as never, fn));
  }

  dispose(): void {
    for (const step of this.steps.splice(0).reverse()) step();
  }
}

/**
 * A stable identity for a widget's model. anywidget hands `initialize` and each `render`
 * its own proxy object, so a proxy cannot key per-model state (a second store would be
 * attached, with a second message listener); Python's `_fw_id` trait (StreamWidget) can.
 */
export function modelKey(model: AnyModel<any>): unknown {
  const id: unknown = model.get("_fw_id");
  return typeof id === "string" && id !== "" ? id : model;
}

const stores = new Map<unknown, SeriesStore>();

/**
 * Creates the model's store and wires it: custom messages feed it, a gap asks Python to
 * resync, the `snapshot` trait fills it provisionally (only while it holds no live data),
 * and one resync is requested right away so the exact data replaces the snapshot as soon
 * as the kernel is idle. Returns the cleanup for anywidget's `initialize`.
 */
export function attachStream(model: Model): () => void {
  const store = new SeriesStore({ requestResync: () => model.send(RESYNC) });
  const key = modelKey(model);
  stores.set(key, store);
  const d = new Disposer();

  d.on(model, "msg:custom", (msg: unknown, buffers: Float64Source[] = []) => {
    try {
      const decoded = decodeMessage(msg, buffers);
      if (decoded) store.apply(decoded);
    } catch (err) {
      console.warn("fastwidgets: bad stream message, asking for a resync", err);
      store.requestResync();
    }
  });

  const loadSnapshot = () => {
    if (store.isEmpty || store.provisional) store.loadSnapshot(decodeSnapshot(model.get("snapshot")));
  };
  d.on(model, "change:snapshot", loadSnapshot);
  loadSnapshot();
  store.requestResync();

  return () => {
    d.dispose();
    if (stores.get(key) === store) stores.delete(key);
  };
}

/** The model's store, attaching it first if `initialize` has not run. */
export function streamStore(model: Model): SeriesStore {
  let store = stores.get(modelKey(model));
  if (!store) {
    attachStream(model);
    store = stores.get(modelKey(model))!;
  }
  return store;
}

/**
 * Wires a view's redraws: on new data in the store, on a change of any of `traits`
 * (after `onTraitChange`, which syncs the view's controls), and when the root's width
 * changes. Everything is undone by `d.dispose()`.
 */
export function redrawOn(opts: {
  model: AnyModel<any>;
  store: SeriesStore;
  traits: readonly string[];
  root: HTMLElement;
  d: Disposer;
  redraw: () => void;
  onTraitChange: () => void;
  drawnWidth: () => number;
}): void {
  const { model, store, traits, root, d, redraw, onTraitChange, drawnWidth } = opts;
  d.add(store.subscribe(redraw));
  for (const trait of traits) {
    d.on(model, `change:${trait}`, () => {
      onTraitChange();
      redraw();
    });
  }
  const resize = new ResizeObserver(() => {
    if (root.clientWidth && root.clientWidth !== drawnWidth()) redraw();
  });
  resize.observe(root);
  d.add(() => resize.disconnect());
}
