"""fastai's learning-rate suggestions (``fastai/callback/schedule.py``), without fastai.

The LR finder must give the numbers fastai gives, so each rule is fastai's, line for line,
on the same float32 tensors fastai builds from the recorder.  ``tests/test_suggest.py``
checks them against fastai's own functions on many curves.  Where fastai goes wrong we
differ on purpose: the curve is cut at the first non-finite loss (fastai cuts only at NaN),
and a curve too short to judge gets no suggestion instead of an arbitrary number.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Point = tuple[float, float]
Rule = Callable[[Any, Any, int], tuple[float, Point]]

MIN_POINTS = 2
"""Fewer usable points than this after slicing: no suggestion (all-NaN runs, tiny runs)."""


def valley(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """The middle of the longest valley (fastai's default)."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx]), (float(lrs[idx]), float(losses[idx]))


def slide(
    lrs: Any,
    losses: Any,
    num_it: int,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> tuple[float, Point]:
    """fastai's interval slide rule."""
    loss_np = np.asarray(losses)
    loss_grad = np.gradient(loss_np)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while (l_idx >= -len(loss_np)) and (abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh):
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    suggestion = float(local_min_lr) * adjust_value
    at = np.interp(np.log10(suggestion), np.log10(np.asarray(lrs)), loss_np)
    return suggestion, (suggestion, float(at))


def minimum(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """A tenth of the learning rate with the lowest loss."""
    lr_min = lrs[losses.argmin()].item()
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_min))]
    return lr_min / 10, (lr_min, float(loss_idx))


def steep(lrs: Any, losses: Any, num_it: int) -> tuple[float, Point]:
    """Where the loss falls fastest (per log step of the learning rate)."""
    grads = (losses[1:] - losses[:-1]) / (lrs[1:].log() - lrs[:-1].log())
    lr_steep = lrs[grads.argmin()].item()
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_steep))]
    return lr_steep, (lr_steep, float(loss_idx))


RULES: dict[str, Rule] = {"valley": valley, "slide": slide, "minimum": minimum, "steep": steep}


def rule_name(func: Any) -> str:
    """The field name fastai gives a suggestion function (partials by their function)."""
    inner = getattr(func, "func", func)
    return str(getattr(inner, "__name__", inner))


def suggest(
    lrs: Sequence[float], losses: Sequence[float], num_it: int, funcs: Sequence[Any] = (valley,)
) -> tuple[Any, list[Point | None]]:
    """Suggestions as fastai's ``SuggestedLRs`` namedtuple, plus the point each marks.

    ``funcs`` are ours or fastai's functions (or partials of them); each is looked up by
    name, so ``suggest_funcs=(valley, steep)`` written for fastai works unchanged.
    """
    import torch

    lr_t = torch.tensor(list(lrs)[num_it // 10 : -5])
    loss_t = torch.tensor(list(losses)[num_it // 10 : -5])
    bad = torch.nonzero(~torch.isfinite(loss_t.view(-1)))
    if len(bad) > 0:
        cut = int(bad.min())
        lr_t, loss_t = lr_t[:cut], loss_t[:cut]
    names = [rule_name(f) for f in funcs]
    values: list[float | None] = []
    points: list[Point | None] = []
    for func, name in zip(funcs, names, strict=True):
        args: tuple[Any, ...] = tuple(getattr(func, "args", ()))
        kwargs: dict[str, Any] = dict(getattr(func, "keywords", None) or {})
        rule = RULES.get(name) or getattr(func, "func", func)
        try:
            if len(loss_t) < MIN_POINTS:
                raise ValueError("too few finite losses")
            value, point = rule(lr_t, loss_t, num_it, *args, **kwargs)
        except (IndexError, ValueError, RuntimeError):
            # Too short a curve for this rule (fastai raises or returns noise): no number.
            values.append(None)
            points.append(None)
            continue
        values.append(float(value))
        points.append((float(point[0]), float(point[1])))
    suggested = collections.namedtuple("SuggestedLRs", names)  # type: ignore[misc]
    return suggested(*values), points
