"""The ImageCleaner's item table: what is known of every item, and the view's selection.

Columns are numpy arrays (not a DataFrame, not a dict per item), because 100,000 items
must cost a few MB and a page change must filter and sort them in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SORTS = ("loss", "confidence", "name")
SPLITS = ("train", "valid")
PAGE_SIZES = (1, 500)
THUMB_SIZES = (48, 256)

DEFAULT_VIEW: dict[str, Any] = {
    "page": 0,
    "page_size": 24,
    "sort": "loss",
    "filters": {"label": None, "split": None, "pred": None, "changed": False, "broken": False},
    "thumb_size": 128,
    "mode": "grid",
}


@dataclass
class ItemTable:
    """Every item of one cleaner, as parallel columns.

    ``label`` and ``pred`` are indices into ``classes`` (``pred`` is -1 where unknown);
    ``loss`` and ``prob`` are NaN where unknown; ``valid`` is the split.
    """

    names: list[str]
    classes: list[str]
    label: npt.NDArray[np.int32]
    valid: npt.NDArray[np.bool_]
    loss: npt.NDArray[np.float32]
    pred: npt.NDArray[np.int32]
    prob: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        self._orders: dict[str, npt.NDArray[np.intp]] = {}

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def build(
        cls,
        names: Sequence[str],
        labels: Sequence[Any],
        *,
        classes: Sequence[str] | None = None,
        losses: Any = None,
        preds: Any = None,
        probs: Any = None,
        splits: Any = None,
    ) -> ItemTable:
        """Check and convert the user's columns; every error names what is wrong."""
        n = len(names)
        label_names = _as_labels("labels", labels, classes, n)
        vocab = list(classes) if classes is not None else sorted(set(label_names))
        index = {c: k for k, c in enumerate(vocab)}
        unknown = sorted({lab for lab in label_names if lab not in index})
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not among the classes {vocab}")
        label = np.fromiter((index[lab] for lab in label_names), np.int32, n)

        loss = _floats("losses", losses, n)
        prob_matrix = None
        if probs is not None:
            arr = np.asarray(_numpy(probs), dtype=np.float32)
            if arr.ndim == 2:
                if arr.shape != (n, len(vocab)):
                    raise ValueError(
                        f"probs has shape {arr.shape}; expected ({n}, {len(vocab)}) "
                        f"(items x classes) or ({n},) (the predicted class's probability)"
                    )
                prob_matrix = arr
        pred = np.full(n, -1, np.int32)
        if preds is not None:
            pred_names = _as_labels("preds", preds, vocab, n)
            bad = sorted({p for p in pred_names if p not in index})
            if bad:
                raise ValueError(f"preds {bad[:5]} are not among the classes {vocab}")
            pred = np.fromiter((index[p] for p in pred_names), np.int32, n)
        elif prob_matrix is not None:
            pred = prob_matrix.argmax(axis=1).astype(np.int32)
        if prob_matrix is not None:
            prob = np.where(pred >= 0, prob_matrix[np.arange(n), np.maximum(pred, 0)], np.nan)
            prob = prob.astype(np.float32)
        else:
            prob = _floats("probs", probs, n)
        return cls(list(names), vocab, label, _splits(splits, n), loss, pred, prob)

    # -- selection ----------------------------------------------------------------------------

    def forget_order(self, sort: str) -> None:
        """Drop a cached order whose key changed (names, after files moved)."""
        self._orders.pop(sort, None)

    def order(self, sort: str) -> npt.NDArray[np.intp]:
        """All items in the sort order (cached: sorting 100,000 items once is ~10 ms).

        Unknown losses and confidences go last; ties keep name order.
        """
        cached = self._orders.get(sort)
        if cached is not None:
            return cached
        if sort == "loss":
            key = np.where(np.isnan(self.loss), np.inf, -self.loss.astype(np.float64))
            order = np.argsort(key, kind="stable")
        elif sort == "confidence":
            key = np.where(np.isnan(self.prob), np.inf, self.prob.astype(np.float64))
            order = np.argsort(key, kind="stable")
        elif sort == "name":
            order = np.argsort(np.asarray(self.names, dtype=object), kind="stable")
        else:
            raise ValueError(f"sort must be one of {SORTS}, not {sort!r}")
        self._orders[sort] = order
        return order

    def select(
        self,
        view: Mapping[str, Any],
        changed: npt.NDArray[np.bool_],
        broken: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.intp]:
        """The items a view shows, in order.  ``label`` filters on the original label, so
        relabelling an item never shifts the pages the user is walking through."""
        filters = view["filters"]
        mask = np.ones(len(self), bool)
        if filters.get("label") is not None:
            mask &= self.label == self.classes.index(filters["label"])
        if filters.get("pred") is not None:
            mask &= self.pred == self.classes.index(filters["pred"])
        if filters.get("split") is not None:
            mask &= self.valid == (filters["split"] == "valid")
        if filters.get("changed"):
            mask &= changed
        if filters.get("broken"):
            mask &= broken
        order = self.order(view["sort"])
        return order if mask.all() else order[mask[order]]

    def check_view(self, view: Mapping[str, Any]) -> dict[str, Any]:
        """A complete, valid view from a partial or bad one (what the browser sent)."""
        if not isinstance(view, Mapping):
            view = {}
        out: dict[str, Any] = {**DEFAULT_VIEW, **{k: v for k, v in view.items() if k != "filters"}}
        given = view.get("filters")
        filters = {**DEFAULT_VIEW["filters"], **(given if isinstance(given, Mapping) else {})}
        for key in ("label", "pred"):
            if not isinstance(filters[key], str) or filters[key] not in self.classes:
                filters[key] = None
        if not isinstance(filters["split"], str) or filters["split"] not in SPLITS:
            filters["split"] = None
        filters["changed"] = bool(filters["changed"])
        filters["broken"] = bool(filters["broken"])
        out["filters"] = {k: filters[k] for k in DEFAULT_VIEW["filters"]}
        out["sort"] = (
            out["sort"] if isinstance(out["sort"], str) and out["sort"] in SORTS else "loss"
        )
        out["page_size"] = _clamp(out["page_size"], *PAGE_SIZES, DEFAULT_VIEW["page_size"])
        out["thumb_size"] = _clamp(out["thumb_size"], *THUMB_SIZES, DEFAULT_VIEW["thumb_size"])
        out["page"] = _clamp(out["page"], 0, 1 << 30, 0)
        out["mode"] = out["mode"] if out["mode"] in ("grid", "pairs") else "grid"
        return {k: out[k] for k in DEFAULT_VIEW}

    def row(self, i: int) -> dict[str, Any]:
        """One item's fixed columns, as the browser and ``items`` show them."""
        pred = int(self.pred[i])
        return {
            "i": i,
            "name": self.names[i],
            "label": self.classes[int(self.label[i])],
            "split": "valid" if self.valid[i] else "train",
            "loss": _opt(self.loss[i]),
            "pred": self.classes[pred] if pred >= 0 else None,
            "prob": _opt(self.prob[i]),
        }


def _clamp(value: Any, low: int, high: int, default: int) -> int:
    try:
        return min(max(int(value), low), high)
    except (TypeError, ValueError):
        return default


def _opt(value: np.floating[Any]) -> float | None:
    return None if np.isnan(value) else float(value)


def _numpy(values: Any) -> Any:
    detach = getattr(values, "detach", None)  # a torch tensor, without importing torch
    return detach().cpu().numpy() if detach is not None else values


def _as_labels(what: str, values: Any, classes: Sequence[str] | None, n: int) -> list[str]:
    values = _numpy(values)
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries for {n} items")
    out: list[str] = []
    for v in values.tolist() if isinstance(values, np.ndarray) else values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if classes is None or not 0 <= int(v) < len(classes):
                raise ValueError(
                    f"{what} holds the class index {v}, but classes "
                    f"{'were not given' if classes is None else f'has {len(classes)} entries'}"
                )
            out.append(classes[int(v)])
        else:
            raise TypeError(f"{what} must hold class names or class indices, not {v!r}")
    return out


def _floats(what: str, values: Any, n: int) -> npt.NDArray[np.float32]:
    if values is None:
        return np.full(n, np.nan, np.float32)
    try:
        arr = np.asarray(_numpy(values), dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be numbers: {err}") from None
    if arr.shape != (n,):
        raise ValueError(f"{what} has shape {arr.shape}; expected ({n},), one per item")
    return arr


def _splits(values: Any, n: int) -> npt.NDArray[np.bool_]:
    if values is None:
        return np.zeros(n, bool)
    values = _numpy(values)
    if len(values) != n:
        raise ValueError(f"splits has {len(values)} entries for {n} items")
    out = np.zeros(n, bool)
    for k, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
        if isinstance(v, (bool, np.bool_)) or v in (0, 1):
            out[k] = bool(v)
        elif v in SPLITS:
            out[k] = v == "valid"
        else:
            raise ValueError(f"splits[{k}] is {v!r}; use 'train'/'valid' or is_valid booleans")
    return out
