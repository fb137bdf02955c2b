"""ImageCleaner: review images ranked by loss, relabel or delete them, write cleaned.csv.

Every decision goes to an append-only journal beside the data before the call returns,
so a kernel restart loses nothing; ``cleaned.csv`` at the root is kept current for
``ImageDataLoaders.from_csv(root, 'cleaned.csv', valid_col='is_valid')``.  Files on disk
are only ever moved, by an explicit :meth:`ImageCleaner.apply`, never deleted.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import traitlets

from . import _paths
from ._base import StreamWidget, bundle
from ._cleaned import (
    DebouncedWriter,
    apply_moves,
    plan_moves,
    read_moves,
    undo_moves,
    write_cleaned_csv,
)
from ._items import DEFAULT_VIEW, ItemTable
from ._journal import PAIR_VERDICTS, Decisions, Item, journal_path
from ._thumbs import Thumbnailer

BROWSER_THUMBS = 600
"""Thumbnails the browser keeps (js/src/cleaner.ts THUMB_CACHE_ENTRIES): what Python
counts as already pushed.  A thumbnail evicted there anyway is asked for again."""
MAX_THUMBS = 500
"""Thumbnails one request may ask for (a page is at most 500 items)."""
MAX_PAIRS = 1000
"""Duplicate pairs shown in the widget (``find_duplicates`` returns them all)."""
SCAN_BATCH = 64
"""Files the background scan checks before it yields to the kernel thread (a page change
must not wait behind it) and updates the live counts."""
SCAN_PAUSE = 0.002


class ImageCleaner(StreamWidget):
    """Images ranked by loss; relabel or delete them and get ``cleaned.csv``.

    ``ImageCleaner.from_learner(learn)`` ranks a fastai learner's train and valid images
    by loss; ``ImageCleaner.from_folder(root)`` lists a folder tree labelled by its
    parent folders; ``ImageCleaner(paths, labels, losses=..., preds=..., probs=...,
    splits=..., root=...)`` takes any source (plain PyTorch).  Decisions come from the
    widget or from code: :meth:`relabel`, :meth:`delete`, :meth:`keep`, :meth:`undo`,
    :meth:`redo`.  An item is its index or its path relative to the root.
    """

    _esm = bundle("cleaner")

    classes: traitlets.List[str] = traitlets.List(traitlets.Unicode()).tag(sync=True)
    view = traitlets.Dict(default_value=DEFAULT_VIEW).tag(sync=True)
    page_items: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    page_info = traitlets.Dict().tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    pairs: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        labels: Sequence[Any] | None = None,
        losses: Any = None,
        preds: Any = None,
        probs: Any = None,
        splits: Any = None,
        root: str | os.PathLike[str] | None = None,
        *,
        classes: Sequence[str] | None = None,
        page_size: int = 24,
        thumb_size: int = 128,
        scan: bool = True,
        max_hz: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_hz=max_hz, **kwargs)
        self._scan = scan
        self._scanning = threading.Event()
        self._pushed: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._embedder: Callable[[], Any] | None = None
        self._loaded = False
        self.view = {**DEFAULT_VIEW, "page_size": page_size, "thumb_size": thumb_size}
        if paths is not None or labels is not None:
            if paths is None or labels is None:
                raise TypeError("ImageCleaner needs both paths and labels")
            self._load(paths, labels, losses, preds, probs, splits, root, classes)

    # -- sources ------------------------------------------------------------------------------

    @classmethod
    def from_folder(cls, root: str | os.PathLike[str], **kwargs: Any) -> ImageCleaner:
        """Every image under ``root``, labelled by its parent folder, in name order.

        As fastai's ``from_folder``: with top-level ``train/`` and ``valid/`` (or ``val/``)
        folders, only those are listed, split by them (another top-level folder, such as
        ``test/``, is skipped with a warning); otherwise every image is in the train split.
        """
        base = Path(root)
        if not base.is_dir():
            raise FileNotFoundError(f"{base} is not a folder")
        found = _paths.scan_folder(base)
        if not found:
            raise ValueError(f"no image files under {base}")
        names, labels, splits = (list(col) for col in zip(*found, strict=True))
        return cls(names, labels, splits=splits, root=base, **kwargs)

    @classmethod
    def from_learner(cls, learn: Any, *, embeddings: bool = True, **kwargs: Any) -> ImageCleaner:
        """A fastai learner's train and valid images, ranked by their loss.

        One pass of ``learn.get_preds(with_loss=True)`` per split (with the validation
        transforms, so train items are not augmented), drawn as a progress bar with ETA.
        The learner's body gives the embeddings of :meth:`find_duplicates`.
        """
        from .integrations.fastai import cleaner_embeddings, cleaner_sources

        # fastai's get_preds has opened every file: none is broken, no scan needed.
        cleaner = cls(**{"scan": False, **kwargs})
        cleaner._progress_start(None)
        cleaner._defer_state()
        cleaner.show()
        try:
            src = cleaner_sources(learn, on_progress=cleaner._progress_update)
        finally:
            last = cleaner._progress or {}
            cleaner._progress_end(last.get("done", 0), last.get("total"))
            cleaner._stream.finish()
            cleaner._defer_state()
        cleaner._load(
            src["paths"],
            src["labels"],
            src["losses"],
            src["preds"],
            src["probs"],
            src["splits"],
            src["root"],
            src["classes"],
        )
        if embeddings:
            cleaner._embedder = lambda: cleaner_embeddings(learn)
        return cleaner

    def _load(
        self,
        paths: Sequence[str | os.PathLike[str]],
        labels: Sequence[Any],
        losses: Any,
        preds: Any,
        probs: Any,
        splits: Any,
        root: str | os.PathLike[str] | None,
        classes: Sequence[str] | None,
    ) -> None:
        if len(paths) == 0:
            raise ValueError("ImageCleaner needs at least one item")
        self.root, names = _paths.names_under(root, paths)
        self._table = ItemTable.build(
            names, labels, classes=classes, losses=losses, preds=preds, probs=probs, splits=splits
        )
        table = self._table
        self._broken = np.zeros(len(table), bool)
        self._reasons: dict[int, str] = {}
        self._thumbs = Thumbnailer(self.root)
        self._decisions = Decisions(
            table.names,
            [table.classes[k] for k in table.label],
            table.classes,
            journal=journal_path(self.root),
        )
        self._decisions.on_change.append(self._on_decisions)
        self._csv = DebouncedWriter(self._write_csv, on_error=self._csv_failed)
        self._loaded = True
        with self.hold_sync():
            self.classes = table.classes
            self._refresh_page()
            self._refresh_counts()
        if self._decisions.can_undo:
            self._csv.schedule()  # replayed decisions: make sure cleaned.csv says them
        if self._scan:
            self._scanning.set()
            threading.Thread(target=self._scan_files, name="fastwidgets-scan", daemon=True).start()
        self.show()

    # -- decisions ----------------------------------------------------------------------------

    def relabel(self, item: Item, label: str) -> None:
        """Give ``item`` the class ``label`` (undeletes it). ``ValueError`` for an unknown
        label, ``KeyError`` for an unknown item; nothing is recorded then."""
        self._need_items().relabel(item, label)

    def delete(self, item: Item, deleted: bool = True) -> None:
        """Leave ``item`` out of cleaned.csv (``deleted=False`` takes it back).  The file
        itself is never deleted."""
        self._need_items().delete(item, deleted)

    def keep(self, item: Item) -> None:
        """Keep ``item`` as it was: its original label, not deleted."""
        self._need_items().keep(item)

    def undo(self) -> bool:
        """Undo the last decision, whatever page or filter it was made on."""
        return bool(self._need_items().undo())

    def redo(self) -> bool:
        """Redo the last undone decision."""
        return bool(self._need_items().redo())

    def _need_items(self) -> Decisions:
        if not self._loaded:
            raise RuntimeError("this ImageCleaner has no items yet")
        return self._decisions

    def _on_decisions(self, changed: Any) -> None:
        self._csv.schedule()
        with self.hold_sync():
            on_page = {card["i"] for card in self.page_items}
            if on_page.intersection(int(i) for i in changed):
                self.page_items = [self._card(card["i"]) for card in self.page_items]
            self._refresh_counts()
            self._refresh_pairs()

    def _refresh_pairs(self) -> None:
        """Pair verdicts and names as the decisions now say (undo, redo and moves too)."""
        if not self.pairs:
            return
        names = self._decisions.names
        verdicts = self._decisions.pair_verdicts
        self.pairs = [
            {
                **row,
                "a_name": names[row["a"]],
                "b_name": names[row["b"]],
                "verdict": verdicts.get((names[row["a"]], names[row["b"]])),
            }
            for row in self.pairs
        ]

    def _csv_failed(self, err: Exception) -> None:
        self.message = f"cleaned.csv could not be written: {err}"

    # -- what Python sees ---------------------------------------------------------------------

    @property
    def items(self) -> Any:
        """Every item as a pandas DataFrame: name, label, new_label, deleted, split, loss,
        pred, prob, broken (the reason, or None)."""
        import pandas as pd

        decisions = self._need_items()
        table = self._table
        n = len(table)
        classes = np.asarray(table.classes, dtype=object)
        pred = [table.classes[k] if k >= 0 else None for k in table.pred.tolist()]
        return pd.DataFrame(
            {
                "name": table.names,
                "label": classes[table.label],
                # object columns: pandas 3 would make them strings with NaN for None.
                "new_label": pd.Series(decisions.new_labels(), dtype=object),
                "deleted": decisions.deleted_mask(),
                "split": np.where(table.valid, "valid", "train"),
                "loss": table.loss,
                "pred": pred,
                "prob": table.prob,
                "broken": pd.Series([self._reasons.get(i) for i in range(n)], dtype=object),
            }
        )

    def save(self) -> Path:
        """Write ``cleaned.csv`` now (it is also kept current as decisions are made)."""
        self._need_items()
        self._csv.flush()
        return self.root / "cleaned.csv"

    def _write_csv(self) -> Path:
        decisions = self._decisions
        with decisions.lock:  # one consistent state, even with the kernel deciding meanwhile
            names = list(decisions.names)
            labels = decisions.final_labels()
            deleted = decisions.deleted_mask().tolist()
        return write_cleaned_csv(self.root, names, labels, self._table.valid.tolist(), deleted)

    def apply(
        self,
        *,
        dry_run: bool = False,
        move_deleted_to: str | None = "trash",
        move_relabelled: bool = True,
    ) -> Any:
        """Move files to match the decisions (never deleting one).

        Deleted items go to ``<root>/<move_deleted_to>/``; relabelled items move to the
        folder of their new label.  ``dry_run=True`` returns the plan and touches nothing;
        otherwise the moves are logged under ``<root>/.fastwidgets/`` and the log's path
        is returned (:meth:`undo_apply` moves everything back).
        """
        decisions = self._need_items()
        table = self._table
        plan = plan_moves(
            self.root,
            decisions.names,
            [table.classes[k] for k in table.label],
            decisions.new_labels(),
            decisions.deleted_mask().tolist(),
            move_deleted_to=move_deleted_to,
            move_relabelled=move_relabelled,
        )
        if dry_run:
            return plan
        log = apply_moves(self.root, plan)
        # Only what really moved is recorded, also when apply_moves stopped halfway.
        self._renamed(decisions.record_moves(read_moves(log, root=self.root)))
        return log

    def undo_apply(self, log: str | os.PathLike[str]) -> None:
        """Move the files of an :meth:`apply` back, from its log."""
        self._renamed(self._need_items().record_moves(undo_moves(Path(log), root=self.root)))

    def _renamed(self, _changed: Any) -> None:
        # Items keep their index; only their names (and so cleaned.csv) change.
        self._table.names = self._decisions.names
        self._table.forget_order("name")
        self._csv.flush()
        with self.hold_sync():
            self.page_items = [self._card(card["i"]) for card in self.page_items]
            self._refresh_pairs()

    # -- near-duplicates ----------------------------------------------------------------------

    def find_duplicates(
        self, embeddings: Any = None, *, k: int = 5, threshold: float = 0.99
    ) -> Any:
        """Exact duplicates (same bytes) and near-duplicates (cosine of the learner's body
        embeddings ≥ ``threshold``), as a DataFrame; the widget shows them side by side.

        Pairs across train and valid are flagged as leaks.  ``embeddings`` (N x D) can be
        given for a cleaner that was not made from a learner.
        """
        import pandas as pd

        from . import _duplicates  # imports torch: only when asked for

        self._need_items()
        table = self._table
        paths = [self.root / name for name in table.names]
        exact = _duplicates.exact_pairs(_duplicates.content_hashes(paths, root=self.root))
        near: list[Any] = []
        if embeddings is None and self._embedder is not None:
            embeddings = self._embedder()
        if embeddings is not None:
            import torch

            emb = torch.as_tensor(embeddings, dtype=torch.float32)
            if emb.ndim != 2 or emb.shape[0] != len(table):
                raise ValueError(
                    f"embeddings has shape {tuple(emb.shape)}; expected ({len(table)}, D)"
                )
            near = _duplicates.near_pairs(emb, k=k, threshold=threshold)
        rows = _duplicates.pairs_table(exact, near, table.valid.tolist())
        verdicts = self._decisions.pair_verdicts
        for row in rows:
            row["a_name"], row["b_name"] = table.names[row["a"]], table.names[row["b"]]
            row["verdict"] = verdicts.get((row["a_name"], row["b_name"]))
        with self.hold_sync():
            # The most similar first; past MAX_PAIRS a page of pairs says little more.
            self.pairs = rows[:MAX_PAIRS]
            if len(rows) > MAX_PAIRS:
                self.message = f"{len(rows)} pairs found; the {MAX_PAIRS} most similar are shown"
            if rows:
                self.view = {**self.view, "mode": "pairs"}
        return pd.DataFrame(
            rows, columns=["a", "b", "a_name", "b_name", "similarity", "kind", "leak", "verdict"]
        )

    def _pair_verdict(self, a: Any, b: Any, verdict: Any) -> None:
        if verdict not in PAIR_VERDICTS:
            raise ValueError(f"unknown pair verdict {verdict!r}")
        if not any((row["a"], row["b"]) == (a, b) for row in self.pairs):
            raise KeyError(f"({a!r}, {b!r}) is not a pair shown")
        # One undoable step that also sets both items' deleted flags; the verdict shown
        # follows through _on_decisions.
        self._decisions.record_pair(a, b, verdict)

    # -- the page -----------------------------------------------------------------------------

    @traitlets.observe("view")
    def _on_view(self, change: dict[str, Any]) -> None:
        if not self._loaded:
            return
        good = self._table.check_view(change["new"])
        if good != change["new"]:
            self.view = good  # comes back here with a valid view
            return
        self._refresh_page()

    def _refresh_page(self) -> None:
        table = self._table
        view = self._table.check_view(self.view)
        selected = table.select(view, self._decisions.changed_mask(), self._broken)
        size = view["page_size"]
        pages = max(1, math.ceil(len(selected) / size))
        page = min(view["page"], pages - 1)
        shown = [int(i) for i in selected[page * size : (page + 1) * size]]
        px = view["thumb_size"]
        # The thumbnails go first (unless the browser has them already, pushed with the
        # previous page), so the cards find them cached and never ask.
        self._send_thumbs(shown, px, refresh=False, unless_pushed=True)
        with self.hold_sync():
            if page != view["page"]:
                self.view = {**view, "page": page}
            self.page_items = [self._card(i) for i in shown]
            self.page_info = {
                "page": page,
                "pages": pages,
                "matching": len(selected),
                "total": len(table),
            }
        # The next page's thumbnails go to the browser now, after the cards: "next" then
        # only waits for its cards.  The page after is made ahead in the background.
        following = [int(i) for i in selected[(page + 1) * size : (page + 2) * size]]
        self._send_thumbs(following, px, refresh=False, unless_pushed=True)
        after = selected[(page + 2) * size : (page + 3) * size]
        self._thumbs.prefetch([self.root / table.names[i] for i in after], px)

    def _card(self, i: int) -> dict[str, Any]:
        card = self._table.row(i)
        card["new_label"] = self._decisions.new_label(i)
        card["deleted"] = self._decisions.deleted(i)
        card["broken"] = self._reasons.get(i)
        return card

    def _counts(self) -> dict[str, int]:
        counts = dict(self._decisions.counts())
        counts["broken"] = len(self._reasons)
        counts["total"] = len(self._table)
        return counts

    def _refresh_counts(self) -> None:
        self.counts = self._counts()
        self.can_undo = self._decisions.can_undo
        self.can_redo = self._decisions.can_redo

    # -- thumbnails and broken files ----------------------------------------------------------

    def _send_thumbs(
        self,
        items: Sequence[Any],
        size: Any,
        *,
        refresh: bool = True,
        unless_pushed: bool = False,
    ) -> None:
        """Thumbnails as image bytes in binary buffers: a custom message, not the stream,
        because they answer one view's request and are never kept in the widget state."""
        if not self._live:
            return
        table = self._table
        size = self._table.check_view({"thumb_size": size})["thumb_size"]
        if unless_pushed:
            items = [i for i in items if (i, size) not in self._pushed]
            if not items:
                return
        metas: list[dict[str, Any]] = []
        buffers: list[bytes] = []
        newly_broken = False
        for raw in items[:MAX_THUMBS]:
            if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < len(table):
                continue
            thumb = self._thumbs.get(self.root / table.names[raw], size)
            if thumb.broken is not None and raw not in self._reasons:
                self._mark_broken(raw, thumb.broken)
                newly_broken = True
            metas.append(
                {
                    "i": raw,
                    "mime": thumb.mime,
                    "w": thumb.width,
                    "h": thumb.height,
                    "broken": thumb.broken,
                }
            )
            buffers.append(thumb.data)
            self._pushed[(raw, size)] = None
            self._pushed.move_to_end((raw, size))
        while len(self._pushed) > BROWSER_THUMBS:
            self._pushed.popitem(last=False)
        self.send({"type": "thumbs", "size": size, "items": metas}, buffers=buffers)
        if newly_broken and refresh:
            with self.hold_sync():
                self.page_items = [self._card(card["i"]) for card in self.page_items]
                self._refresh_counts()

    def _mark_broken(self, i: int, reason: str) -> None:
        self._reasons[i] = reason
        self._broken[i] = True

    def _scan_files(self) -> None:
        """Finds every broken file in the background (decoding each, so a truncated file
        is found too), so "broken only" and the count are complete without opening
        100,000 files before the first page."""
        total = len(self._table)
        for start in range(0, total, SCAN_BATCH):
            if not self._scanning.is_set():
                return  # closed
            names = self._table.names  # fresh: an apply() may have renamed items
            found = False
            for i in range(start, min(start + SCAN_BATCH, total)):
                if i not in self._reasons:
                    reason = self._thumbs.check(self.root / names[i], deep=True)
                    if reason is not None:
                        self._mark_broken(i, reason)
                        found = True
            if found:
                self._defer_state()
            time.sleep(SCAN_PAUSE)  # the kernel thread gets the GIL between batches
        self._scanning.clear()

    def close(self) -> None:
        """Close the widget and stop its background scan."""
        self._scanning.clear()
        super().close()

    def _deferred_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"progress": self._progress}
        if self._loaded:
            state["counts"] = self._counts()
        return state

    # -- messages from the browser ------------------------------------------------------------

    def _on_frontend_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        try:
            if kind == "thumbs":
                items = content.get("items")
                self._send_thumbs(items if isinstance(items, list) else [], content.get("size"))
                return
            if kind == "decide":
                self._decide(content)
            elif kind == "undo":
                self.undo()
            elif kind == "redo":
                self.redo()
            elif kind == "pair":
                self._pair_verdict(content.get("a"), content.get("b"), content.get("verdict"))
            else:
                super()._on_frontend_message(widget, content, buffers)
                return
            self.message = ""  # a decision went through: the last complaint is stale
        except (KeyError, ValueError, TypeError, IndexError) as err:
            # Shown in the widget: a bad click must not raise into the kernel's log only.
            self.message = f"{type(err).__name__}: {err}"

    def _decide(self, content: dict[str, Any]) -> None:
        action, item = content.get("action"), content.get("item")
        if not isinstance(item, int):
            raise TypeError(f"item must be an index, not {item!r}")
        if action == "relabel":
            self.relabel(item, str(content.get("label")))
        elif action == "delete":
            self.delete(item, bool(content.get("deleted", True)))
        elif action == "keep":
            self.keep(item)
        else:
            raise ValueError(f"unknown action {action!r}")
