"""LRFinder: the learning-rate range test, drawn as it runs; pick a learning rate by clicking."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import traitlets

from ._base import StreamWidget, bundle
from ._range import MIN_ITERATIONS
from ._suggest import suggest, valley

DIVERGED_RATIO = 1.5
"""The tail is drawn greyed from the first lr after the minimum whose smoothed loss is
this many times the minimum."""


class LRFinder(StreamWidget):
    """The learning-rate range test (fastai's ``lr_find``), live, with a click-to-pick chart.

    Plain PyTorch: ``LRFinder(model, optimizer, loss_fn, train_loader).run()``.  fastai:
    :func:`lr_find`.  Afterwards ``finder.lrs`` and ``finder.losses`` (smoothed, like
    fastai's Recorder) hold the curve, ``finder.suggestions`` is fastai's
    ``SuggestedLRs`` namedtuple and ``finder.lr`` the learning rate the user clicked
    (the default suggestion until then).  The model, optimizer and random streams are
    exactly as before the run.
    """

    _esm = bundle("lr_finder")

    suggestion_marks: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    default_lr = traitlets.Float(None, allow_none=True).tag(sync=True)
    picked_lr = traitlets.Float(None, allow_none=True).tag(sync=True)
    diverged_at = traitlets.Float(None, allow_none=True).tag(sync=True)
    code_template = traitlets.Unicode("learn.fit_one_cycle(4, {lr})").tag(sync=True)
    progress = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    title = traitlets.Unicode("LR finder").tag(sync=True)
    height = traitlets.Int(360, min=120).tag(sync=True)

    def __init__(
        self,
        model: Any = None,
        optimizer: Any = None,
        loss_fn: Any = None,
        train_loader: Any = None,
        *,
        title: str = "LR finder",
        max_hz: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(title=title, max_hz=max_hz, **kwargs)
        self._torch_parts = (model, optimizer, loss_fn, train_loader)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.suggestions: Any = None
        self._notes: list[str] = []

    @property
    def lr(self) -> float | None:
        """The learning rate the user picked on the chart, else the default suggestion."""
        return self.picked_lr if self.picked_lr is not None else self.default_lr

    def run(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_it: int = 100,
        stop_div: bool = True,
        suggest_funcs: Sequence[Any] = (valley,),
    ) -> LRFinder:
        """Run the range test on the plain PyTorch parts given to the constructor."""
        from .integrations.torch import range_test

        model, optimizer, loss_fn, loader = self._torch_parts
        if model is None or optimizer is None or loss_fn is None or loader is None:
            raise TypeError("LRFinder(model, optimizer, loss_fn, train_loader) needs all four")
        batches = _length(loader)
        self._start(num_it, batches)
        lrs, losses = range_test(
            model,
            optimizer,
            loss_fn,
            loader,
            start_lr,
            end_lr,
            num_it,
            stop_div,
            on_batch=self._on_batch,
        )
        self._finish(lrs, losses, max(int(num_it), MIN_ITERATIONS), suggest_funcs)
        return self

    # -- the run, shared by the fastai and PyTorch paths --------------------------------------

    def _start(self, num_it: int, batches: int | None) -> None:
        self._notes = []
        if num_it < MIN_ITERATIONS:
            self._notes.append(f"num_it={num_it} raised to {MIN_ITERATIONS} (fastai's minimum)")
        total = max(int(num_it), MIN_ITERATIONS)
        if batches is not None and 0 < batches < total:
            self._notes.append(
                f"the loader has {batches} batches: it was cycled to reach {total} iterations"
            )
        self._stream.clear()
        self.lrs, self.losses, self.suggestions = [], [], None
        self._progress_start(total)
        self.message = "; ".join(self._notes)
        self.show()

    def _on_batch(self, i: int, lr: float, raw: float, smooth: float) -> None:
        self._stream.append("raw", lr, raw)
        self._stream.append("loss", lr, smooth)
        self._progress_update(i + 1)

    def _finish(
        self, lrs: list[float], losses: list[float], num_it: int, funcs: Sequence[Any]
    ) -> None:
        self.lrs, self.losses = list(lrs), list(losses)
        self.suggestions, points = suggest(self.lrs, self.losses, num_it, funcs)
        marks = []
        for name, value, point in zip(
            self.suggestions._fields, self.suggestions, points, strict=True
        ):
            if value is not None and point is not None:
                marks.append({"name": name, "lr": float(value), "loss": float(point[1])})
        notes = list(self._notes)
        finite = np.isfinite(np.asarray(self.losses, dtype=float))
        if self.losses and not finite.any():
            notes.append("all losses were NaN or infinite: no suggestion")
        elif self.losses and not finite.all():
            stop = self.lrs[int(np.argmin(finite))]
            notes.append(f"stopped at lr={stop:.2g}: the loss became NaN or infinite")
        elif len(self.losses) > 1 and min(self.losses) >= self.losses[0]:
            notes.append(
                "the loss never decreased: try a larger end_lr, or check the model and the data"
            )
        state = "done" if len(self.losses) >= num_it else "stopped"
        self._progress_end(len(self.losses), num_it, state)
        with self.hold_sync():  # the result reaches the browser as one message
            self.suggestion_marks = marks
            self.default_lr = marks[0]["lr"] if marks else None
            self.diverged_at = _divergence(self.lrs, self.losses)
            self.message = "; ".join(notes)
        self._stream.finish()
        self._defer_state()
        if not self.live:
            print(f"LR finder: {self.suggestions}" + (f" ({self.message})" if notes else ""))

    def _deferred_state(self) -> dict[str, Any]:
        return {"progress": self._progress}


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:  # an iterable without a length: fine, it is only for the message
        return None


def _divergence(lrs: list[float], losses: list[float]) -> float | None:
    """The lr from which the curve has clearly diverged (the greyed tail), if it did."""
    y = np.asarray(losses, dtype=float)
    if y.size < 2 or not np.isfinite(y).any():
        return None
    best = int(np.nanargmin(np.where(np.isfinite(y), y, np.nan)))
    for i in range(best + 1, y.size):
        if not math.isfinite(y[i]) or y[i] > DIVERGED_RATIO * y[best]:
            return float(lrs[i])
    return None


def lr_find(
    learn: Any,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_div: bool = True,
    suggest_funcs: Sequence[Any] = (valley,),
) -> LRFinder:
    """fastai's ``learn.lr_find()`` as a live widget: same numbers, click to pick.

    Displays the finder, runs the range test (restoring the model from memory, so a
    read-only ``learn.path`` works) and returns it: ``finder.suggestions``,
    ``finder.lrs``, ``finder.losses`` and, once the user clicked, ``finder.lr``.
    """
    from .integrations.fastai import range_test

    finder = LRFinder(title="LR finder")
    opt = learn.opt
    unfrozen = opt is not None and getattr(opt, "frozen_idx", 0) == 0 and len(opt.param_lists) > 1
    if unfrozen:
        upper = float(learn.lr) / 10 if not isinstance(learn.lr, slice) else 3e-4
        finder.code_template = f"learn.fit_one_cycle(4, slice({{lr}}, {upper:.0e}))"
    finder._start(num_it, len(learn.dls.train))
    lrs, losses = range_test(learn, start_lr, end_lr, num_it, stop_div, on_batch=finder._on_batch)
    finder._finish(lrs, losses, max(int(num_it), MIN_ITERATIONS), suggest_funcs)
    return finder
