/**
 * Decisions the browser has sent but Python has not confirmed yet, shown at once on the
 * cards. Without them a key pressed twice before the kernel answers would read the old
 * state twice: `d d` would send "delete" twice instead of delete then restore.
 *
 * An entry goes away when a `page_items` update shows the same state (confirmed), or at
 * the first update after `maxAgeMs` that does not (Python refused it or something else,
 * such as an undo from a script, changed the item): the server's state then wins.
 */

/** The decision part of an item. */
export interface DecisionState {
  new_label: string | null;
  deleted: boolean;
}

/** The state after relabelling to `label`: back to "unchanged" when it is the original, and not deleted. */
export function relabelled(item: { label: string }, label: string): DecisionState {
  return { new_label: label === item.label ? null : label, deleted: false };
}

/** The state after setting deleted (the new label is kept). */
export function deletedAs(state: DecisionState, deleted: boolean): DecisionState {
  return { new_label: state.new_label, deleted };
}

function same(a: DecisionState, b: DecisionState): boolean {
  return (a.new_label ?? null) === (b.new_label ?? null) && Boolean(a.deleted) === Boolean(b.deleted);
}

export class PendingDecisions {
  private readonly entries = new Map<number, { state: DecisionState; at: number }>();

  constructor(
    private readonly maxAgeMs = 2000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  set(i: number, state: DecisionState): void {
    this.entries.set(i, { state: { new_label: state.new_label, deleted: state.deleted }, at: this.now() });
  }

  /** The item as shown: its pending state over the server's. */
  apply<T extends { i: number } & DecisionState>(item: T): T {
    const e = this.entries.get(item.i);
    return e ? { ...item, new_label: e.state.new_label, deleted: e.state.deleted } : item;
  }

  /** After a `page_items` update: drops confirmed entries, stale ones, and those of items no longer shown. */
  reconcile(items: readonly ({ i: number } & DecisionState)[]): void {
    const shown = new Map(items.map((it) => [it.i, it]));
    const t = this.now();
    for (const [i, e] of this.entries) {
      const server = shown.get(i);
      if (!server || same(server, e.state) || t - e.at > this.maxAgeMs) this.entries.delete(i);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
