"""ImageCleaner in JupyterLab + Chromium: a real fastai learner on digit PNGs, decisions by
mouse and keyboard that reach Python and cleaned.csv, a reload, a hostile file name, a
broken file, and a train/valid leak found by ``find_duplicates``.

One notebook and one kernel for every phase: the learner trains once, and the later phases
check that what the earlier ones decided is still there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Lab, write_notebook

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(1)>.png"
HOSTILE_NAME = f"valid/3/{HOSTILE}"
DUP = "valid/7/copy-of-train.png"
BROKEN = "train/5/empty.png"

SETUP = f"""
import csv, json, shutil, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
from PIL import Image
sys.path.insert(0, {str(REPO)!r})
from tests._data import digits_image_learner, digits_png_folder
from fastwidgets import ImageCleaner

root = Path("digits").resolve()
digits_png_folder(root, limit=300)
# the hostile name on a real image (inverted, so it is no byte copy of another file)
three = sorted((root / "valid" / "3").glob("*.png"))[0]
Image.fromarray(255 - np.asarray(Image.open(three))).save(root / {HOSTILE_NAME!r})
# a planted exact duplicate: a train image copied into the valid set, a leak
(root / "valid" / "7").mkdir(parents=True, exist_ok=True)
original = sorted((root / "train" / "7").glob("*.png"))[0]
shutil.copy(original, root / {DUP!r})
learn = digits_image_learner(root)
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(1, 1e-2)
print("FW:" + json.dumps({{"dup": [original.relative_to(root).as_posix(), {DUP!r}]}}))
"""

SHOW = "cleaner = ImageCleaner.from_learner(learn)"

# What Python holds: every item with its decision, and cleaned.csv as the csv module reads
# it.  The csv is kept current by a debounced write (no save() here): wait for it briefly.
READ = """
df = cleaner.items
# pandas 3 reads the unchanged items' None as a missing string (NaN): back to null
new = [None if pd.isna(x) else x for x in df.new_label]
items = [[r.name, r.label, n, bool(r.deleted), r.split] for r, n in zip(df.itertuples(), new)]
want = len(df) - int(df.deleted.sum()) + 1
for _ in range(40):
    with open(root / "cleaned.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) == want:
        break
    time.sleep(0.25)
print("FW:" + json.dumps({"items": items, "csv": rows, "counts": cleaner.counts}))
"""

# No model: a folder tree labelled by its folders, with a zero-byte PNG (fastai's loaders
# cannot open one, so it lives beside the learner's data, not in it).
BROKEN_SHOW = f"""
root2 = Path("with_broken").resolve()
digits_png_folder(root2, limit=30)
(root2 / "train" / "5").mkdir(parents=True, exist_ok=True)
(root2 / {BROKEN!r}).write_bytes(b"")
cleaner2 = ImageCleaner.from_folder(root2)
"""

BROKEN_READ = """
for _ in range(40):
    b = cleaner2.items
    if b.broken.notna().any():
        break
    time.sleep(0.25)
print("FW:" + json.dumps({"broken": dict(zip(b.name[b.broken.notna()], b.broken.dropna()))}))
"""

PAIRS = """
pairs = cleaner.find_duplicates()
exact = pairs[pairs.kind == "exact"]
print("FW:" + json.dumps([[int(r.a), int(r.b), r.a_name, r.b_name, bool(r.leak)]
                          for r in exact.itertuples()]))
"""

PAIRS_READ = """
df = cleaner.items
print("FW:" + json.dumps({n: bool(d) for n, d in zip(df.name, df.deleted)}))
"""

# The cleaner's root element inside notebook cell `cell`, then `fn(root, arg)`.
IN_CELL = (
    "([cell, arg]) => {{ const root = document.querySelectorAll('.jp-Notebook-cell')[cell]"
    "?.querySelector('.fw-cleaner'); return !!root && ({fn})(root, arg); }}"
)

CARDS = """(root) => Array.from(root.querySelectorAll('.fw-grid .fw-card')).map((c) => ({
    i: Number(c.dataset.item), name: c.dataset.name, label: c.dataset.label,
    relabelled: c.classList.contains('fw-relabelled'),
    deleted: c.classList.contains('fw-deleted'),
    focused: c.classList.contains('fw-focused'),
    select: c.querySelector('select.fw-relabel').value,
}))"""


class Cleaner:
    """The ImageCleaner shown under one notebook cell, seen and driven like a user would."""

    def __init__(self, lab: Lab, cell: int) -> None:
        self.lab = lab
        self.cell = cell
        self.root = lab.page.locator(".jp-Notebook-cell").nth(cell).locator(".fw-cleaner")

    def js(self, fn: str, arg: Any = None) -> Any:
        return self.lab.page.evaluate(IN_CELL.format(fn=fn), [self.cell, arg])

    def wait(self, fn: str, arg: Any = None, timeout: float = 30_000) -> None:
        self.lab.page.wait_for_function(
            IN_CELL.format(fn=fn), arg=[self.cell, arg], timeout=timeout
        )

    def cards(self) -> list[dict[str, Any]]:
        cards: list[dict[str, Any]] = self.js(CARDS)
        return cards

    def card(self, i: int) -> Any:
        return self.root.locator(f'.fw-card[data-item="{i}"]')

    def wait_ready(self, timeout: float = 120_000) -> None:
        """The losses are known and the first page is drawn."""
        self.wait(
            "(root) => root.dataset.fwRunning === 'false'"
            " && root.querySelectorAll('.fw-grid .fw-card').length > 0",
            timeout=timeout,
        )

    def wait_counts(self, **want: int) -> dict[str, int]:
        """Wait until the live counts (written only from Python's ``counts``) say ``want``."""
        self.wait(
            "(root, want) => { const d = root.querySelector('.fw-counts').dataset;"
            " return Object.entries(want).every(([k, v]) => d[k] === String(v)); }",
            want,
        )
        got: dict[str, str] = self.js("(root) => ({...root.querySelector('.fw-counts').dataset})")
        return {k: int(v) for k, v in got.items() if k != "fwKey"}

    def wait_page(self, page: int) -> None:
        self.wait(
            "(root, page) => root.dataset.fwPage === String(page)"
            " && !root.querySelector('.fw-grid').classList.contains('fw-stale')",
            page,
        )

    def wait_items(self, items: set[int]) -> list[dict[str, Any]]:
        """Wait until the grid shows exactly the cards of ``items`` (in any order)."""
        self.wait(
            "(root, want) => { const got = Array.from(root.querySelectorAll('.fw-grid .fw-card'))"
            ".map((c) => Number(c.dataset.item)).sort((a, b) => a - b);"
            " return JSON.stringify(got) === JSON.stringify(want); }",
            sorted(items),
        )
        return self.cards()

    def wait_thumbs(self) -> None:
        """Every card of the page that is not broken shows its decoded thumbnail."""
        self.wait(
            "(root) => { const cards = Array.from(root.querySelectorAll('.fw-grid .fw-card'))"
            ".filter((c) => !c.classList.contains('fw-broken'));"
            " return cards.length > 0 && cards.every((c) => { const img = c.querySelector("
            "'img.fw-img'); return !img.hidden && img.complete && img.naturalWidth > 0; }); }"
        )

    def press(self, key: str) -> None:
        # The keys go to whatever has the focus: the widget must have kept it.
        assert self.js("(root) => root.contains(document.activeElement)"), "widget lost focus"
        self.lab.page.keyboard.press(key)

    def shot(self, name: str) -> None:
        self.root.screenshot(path=str(self.lab.screenshot_path(name)))


def other_label(label: str, classes: list[str]) -> str:
    return next(c for c in classes if c != label)


def test_cleaner_decisions_reach_python_and_csv_survive_reload_and_pairs(lab: Lab) -> None:
    write_notebook(
        lab.root / "cleaner.ipynb",
        [SETUP, SHOW, READ, BROKEN_SHOW, BROKEN_READ, PAIRS, PAIRS_READ],
    )
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(d: Any) -> None:
        dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    lab.page.on("dialog", on_dialog)
    lab.page.on("pageerror", lambda e: errors.append(str(e)))
    lab.open("cleaner.ipynb")
    dup = lab.result(0)["dup"]
    lab.run_cell(1)
    grid = Cleaner(lab, 1)
    grid.wait_ready()
    classes = [str(k) for k in range(10)]
    total = grid.wait_counts(relabelled=0, deleted=0, broken=0)["total"]
    assert total == 302  # 300 digits + the hostile name + the planted copy

    # -- decisions on the first page (highest losses): by dropdown, by key, delete, undo ---
    first = grid.cards()
    assert len(first) == 24
    a, b, c = first[0], first[1], first[2]
    a_new = other_label(a["label"], classes)
    grid.card(a["i"]).locator("select.fw-relabel").select_option(a_new)
    grid.wait_counts(relabelled=1, deleted=0, kept=total - 1)

    grid.card(b["i"]).locator(".fw-name").click()
    grid.wait(f"(root) => root.dataset.fwFocus === '{b['i']}'")
    key = 1 if classes[0] != b["label"] else 2  # key k relabels to classes[k - 1]
    b_new = classes[key - 1]
    grid.press(str(key))
    grid.wait_counts(relabelled=2, deleted=0)

    grid.press("ArrowRight")  # the card right of b: c
    grid.wait(f"(root) => root.dataset.fwFocus === '{c['i']}'")
    grid.press("d")
    grid.wait_counts(relabelled=2, deleted=1, kept=total - 3)
    state = {x["i"]: x for x in grid.cards()}
    assert state[c["i"]]["deleted"] and not state[c["i"]]["relabelled"]
    assert state[a["i"]]["relabelled"] and state[a["i"]]["select"] == a_new
    assert state[b["i"]]["relabelled"] and state[b["i"]]["label"] == b_new

    grid.press("z")  # undo: the delete goes, the relabels stay
    grid.wait_counts(relabelled=2, deleted=0)
    grid.wait(
        f"(root) => !root.querySelector('.fw-card[data-item=\"{c['i']}\"]')"
        ".classList.contains('fw-deleted')"
    )
    grid.press("Shift+Z")  # redo
    grid.wait_counts(relabelled=2, deleted=1)
    grid.wait(
        f"(root) => root.querySelector('.fw-card[data-item=\"{c['i']}\"]')"
        ".classList.contains('fw-deleted')"
    )
    # the keys never reached JupyterLab's command mode: in it, a digit makes the cell a
    # markdown heading, and arrows move the active cell
    assert lab.page.evaluate(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " return [nb.widgets.map((c) => c.model.type), nb.activeCellIndex]; }"
    ) == [["code"] * 7, 1]
    grid.shot("cleaner_decisions.png")

    # -- pages: `n`, then the Next button; undo/redo still reach the decision on page 1 ---
    grid.press("n")
    grid.wait_page(1)
    second = {x["i"] for x in grid.cards()}
    assert len(second) == 24 and not second & {x["i"] for x in first}
    grid.root.locator(".fw-next").click()
    grid.wait_page(2)
    assert grid.root.locator(".fw-page-label").text_content() == "page 3 of 13"
    grid.press("z")
    grid.wait_counts(relabelled=2, deleted=0)
    grid.press("Shift+Z")
    grid.wait_counts(relabelled=2, deleted=1)

    # -- filters: the class filter (original labels), then "changed only" ------------------
    grid.root.locator("select.fw-filter-label").select_option(a["label"])
    grid.wait_page(0)
    grid.wait(
        "(root, i) => root.querySelector('.fw-grid .fw-card').dataset.item === String(i)", a["i"]
    )
    shown = {x["i"]: x for x in grid.cards()}
    assert shown[a["i"]]["relabelled"] and shown[a["i"]]["select"] == a_new
    grid.root.locator("input.fw-filter-changed").check()
    grid.root.locator("select.fw-filter-label").select_option("")
    changed = {x["i"]: x for x in grid.wait_items({a["i"], b["i"], c["i"]})}
    assert changed[a["i"]]["relabelled"] and changed[a["i"]]["label"] == a_new
    assert changed[b["i"]]["relabelled"] and changed[b["i"]]["label"] == b_new
    assert changed[c["i"]]["deleted"] and not changed[c["i"]]["relabelled"]
    assert grid.root.locator(".fw-matching").text_content() == f"3 matching of {total} items"
    counts = grid.wait_counts(kept=total - 3, relabelled=2, deleted=1, broken=0, total=total)
    text = grid.root.locator(".fw-counts").text_content()
    assert text == f"kept {total - 3} · relabelled 2 · deleted 1 · broken 0"
    grid.shot("cleaner_changed_only.png")

    # -- what reached Python: the items and cleaned.csv ------------------------------------
    py = lab.result(2)
    assert py["counts"] == counts
    decided = {row[0]: row for row in py["items"] if row[2] is not None or row[3]}
    assert decided == {
        a["name"]: [a["name"], a["label"], a_new, False, decided[a["name"]][4]],
        b["name"]: [b["name"], b["label"], b_new, False, decided[b["name"]][4]],
        c["name"]: [c["name"], c["label"], None, True, decided[c["name"]][4]],
    }
    header, *rows = py["csv"]
    assert header == ["name", "label", "is_valid"]
    assert len(rows) == total - 1
    expected = [
        [name, new or label, str(split == "valid")]
        for name, label, new, deleted, split in py["items"]
        if not deleted
    ]
    assert rows == expected
    by_name = {r[0]: r for r in rows}
    assert by_name[a["name"]][1] == a_new and by_name[b["name"]][1] == b_new
    assert c["name"] not in by_name

    # -- the hostile file name is text, never HTML ------------------------------------------
    grid.root.locator("input.fw-filter-changed").uncheck()
    grid.root.locator("select.fw-filter-split").select_option("valid")
    grid.root.locator("select.fw-filter-label").select_option("3")
    grid.root.locator("select.fw-sort").select_option("name")
    hostile = next(i for i, row in enumerate(py["items"]) if row[0] == HOSTILE_NAME)
    grid.wait(
        "(root, i) => { const cards = root.querySelectorAll('.fw-grid .fw-card');"
        " return cards.length > 1 && cards[cards.length - 1].dataset.item === String(i); }",
        hostile,
    )
    grid.wait_thumbs()
    card = grid.card(hostile)
    assert card.get_attribute("data-name") == HOSTILE_NAME
    assert card.locator(".fw-name").text_content() == HOSTILE_NAME
    assert card.locator(".fw-name").evaluate("(n) => n.childElementCount") == 0
    assert card.locator("img").count() == 1  # only the thumbnail, nothing injected
    assert grid.js("(root) => root.querySelectorAll('img[src=\"x\"]').length") == 0
    assert lab.page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert dialogs == []
    grid.shot("cleaner_hostile_name.png")

    # -- reload: the decisions and the thumbnails come back from the kernel ----------------
    for select in ("split", "label"):
        grid.root.locator(f"select.fw-filter-{select}").select_option("")
    grid.root.locator("select.fw-sort").select_option("loss")
    grid.wait(
        "(root, i) => root.querySelector('.fw-grid .fw-card').dataset.item === String(i)", a["i"]
    )
    lab.save()
    lab.page.reload()
    grid.wait_ready()
    grid.wait_thumbs()
    grid.wait_counts(kept=total - 3, relabelled=2, deleted=1, broken=0, total=total)
    grid.root.locator("input.fw-filter-changed").check()
    again = {x["i"]: x for x in grid.wait_items({a["i"], b["i"], c["i"]})}
    assert again[a["i"]]["relabelled"] and again[a["i"]]["select"] == a_new
    assert again[b["i"]]["relabelled"] and again[b["i"]]["select"] == b_new
    assert again[c["i"]]["deleted"]
    grid.wait_thumbs()
    grid.shot("cleaner_reloaded.png")
    grid.root.locator("input.fw-filter-changed").uncheck()

    # -- a broken file: shown with its reason, found by "broken only" -----------------------
    lab.run_cell(3)
    folder = Cleaner(lab, 3)
    folder.wait_ready()
    folder.wait_counts(broken=1, total=31)
    folder.root.locator("input.fw-filter-broken").check()
    folder.wait(
        "(root, name) => { const cards = root.querySelectorAll('.fw-grid .fw-card');"
        " return cards.length === 1 && cards[0].dataset.name === name; }",
        BROKEN,
    )
    box = folder.root.locator(".fw-card .fw-broken-box")
    assert box.is_visible()
    reason = (box.text_content() or "").removeprefix("broken: ")
    assert reason and reason != box.text_content()
    assert folder.root.locator(".fw-card img.fw-img").is_hidden()
    assert lab.result(4)["broken"] == {BROKEN: reason}
    folder.shot("cleaner_broken.png")

    # -- duplicates: the planted copy is an exact pair across train and valid, a leak -------
    exact = lab.result(5)
    planted = [p for p in exact if [p[2], p[3]] == dup]
    assert planted and planted[0][4] is True
    left, right = planted[0][0], planted[0][1]
    grid.wait("(root) => root.dataset.fwMode === 'pairs'")
    pair = grid.root.locator(f'.fw-pair[data-a="{left}"][data-b="{right}"]')
    pair.scroll_into_view_if_needed()
    assert pair.locator(".fw-leak").is_visible()
    assert pair.locator(".fw-kind").text_content() == "exact"
    assert pair.locator(".fw-pair-left .fw-name").text_content() == dup[0]
    assert pair.locator(".fw-pair-right .fw-name").text_content() == dup[1]
    pair.locator("button.fw-delete-right").click()
    grid.wait(
        f'(root) => root.querySelector(\'.fw-pair[data-a="{left}"][data-b="{right}"]\')'
        ".dataset.verdict === 'delete_right'"
    )
    deleted = lab.result(6)
    assert deleted[dup[1]] is True and deleted[dup[0]] is False
    assert deleted[c["name"]] is True  # the earlier delete is still there
    pair.screenshot(path=str(lab.screenshot_path("cleaner_pair.png")))

    assert dialogs == []
    assert errors == []
