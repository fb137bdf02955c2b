import { describe, expect, it } from "vitest";
import { deletedAs, PendingDecisions, relabelled } from "../src/core/pending";

const item = (i: number, new_label: string | null = null, deleted = false) => ({ i, label: "cat", new_label, deleted, name: `${i}.png` });

describe("decision states", () => {
  it("relabel to the original label means unchanged, and undeletes", () => {
    expect(relabelled({ label: "cat" }, "dog")).toEqual({ new_label: "dog", deleted: false });
    expect(relabelled({ label: "cat" }, "cat")).toEqual({ new_label: null, deleted: false });
  });

  it("delete keeps the new label", () => {
    expect(deletedAs({ new_label: "dog", deleted: false }, true)).toEqual({ new_label: "dog", deleted: true });
  });
});

describe("PendingDecisions", () => {
  it("shows a pending decision over the server's state", () => {
    const p = new PendingDecisions();
    p.set(1, { new_label: null, deleted: true });
    expect(p.apply(item(1))).toMatchObject({ i: 1, deleted: true, name: "1.png" });
    expect(p.apply(item(2))).toEqual(item(2));
  });

  it("lets a double toggle read its own first press", () => {
    const p = new PendingDecisions();
    const shown1 = p.apply(item(1));
    p.set(1, deletedAs(shown1, !shown1.deleted));
    const shown2 = p.apply(item(1)); // the server has not answered yet
    p.set(1, deletedAs(shown2, !shown2.deleted));
    expect(p.apply(item(1)).deleted).toBe(false);
  });

  it("drops an entry once the server confirms it", () => {
    const p = new PendingDecisions();
    p.set(1, { new_label: "dog", deleted: false });
    p.reconcile([item(1)]);
    expect(p.size).toBe(1);
    p.reconcile([item(1, "dog")]);
    expect(p.size).toBe(0);
  });

  it("keeps a young unconfirmed entry, drops a stale one", () => {
    let t = 0;
    const p = new PendingDecisions(2000, () => t);
    p.set(1, { new_label: null, deleted: true });
    t = 500;
    p.reconcile([item(1)]);
    expect(p.apply(item(1)).deleted).toBe(true);
    t = 2501;
    p.reconcile([item(1)]);
    expect(p.apply(item(1)).deleted).toBe(false);
  });

  it("drops entries of items no longer shown, and clears", () => {
    const p = new PendingDecisions();
    p.set(1, { new_label: null, deleted: true });
    p.set(2, { new_label: null, deleted: true });
    p.reconcile([item(2)]);
    expect(p.size).toBe(1);
    p.clear();
    expect(p.size).toBe(0);
  });
});
