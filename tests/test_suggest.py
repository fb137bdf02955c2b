"""Our LR suggestions equal fastai's own functions, curve for curve."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
from fastai.callback import schedule as fs

from fastwidgets._suggest import minimum, slide, steep, suggest, valley

FUNCS = [(valley, fs.valley), (slide, fs.slide), (minimum, fs.minimum), (steep, fs.steep)]


def fastai_suggestions(lrs: list[float], losses: list[float], num_it: int, funcs: list) -> list:
    """What `Learner.lr_find` computes from the recorder (schedule.py, lr_find's body)."""
    lr_t = torch.tensor(lrs[num_it // 10 : -5])
    loss_t = torch.tensor(losses[num_it // 10 : -5])
    nan_idxs = torch.nonzero(torch.isnan(loss_t.view(-1)))
    if len(nan_idxs) > 0:
        drop = min(nan_idxs)
        lr_t, loss_t = lr_t[:drop], loss_t[:drop]
    return [f(lr_t, loss_t, num_it)[0] for f in funcs]


def schedule(num_it: int, start: float = 1e-7, end: float = 10.0) -> list[float]:
    return [start * (end / start) ** (i / num_it) for i in range(num_it)]


def curves() -> list[tuple[str, list[float], list[float], int]]:
    rng = np.random.default_rng(0)
    out = []
    for seed in range(12):  # random walks of several lengths
        n = int(rng.integers(40, 160))
        walk = np.cumsum(rng.normal(0, 0.05, n)) + 2.5
        out.append((f"random{seed}", schedule(n), walk.tolist(), n))
    n = 100
    lr = np.array(schedule(n))
    shape = 2.3 - 1.5 / (1 + np.exp(-(np.log10(lr) + 3.5) * 2)) + np.exp(np.log10(lr) + 0.5)
    out.append(("lesson-shaped", lr.tolist(), shape.tolist(), n))
    out.append(("noisy", lr.tolist(), (shape + rng.normal(0, 0.08, n)).tolist(), n))
    out.append(("flat", lr.tolist(), [1.7] * n, n))
    diverging = shape.copy()
    diverging[80:] = np.nan
    out.append(("nan tail", lr.tolist(), diverging.tolist(), n))
    out.append(("short", schedule(30), (2 - np.linspace(0, 1, 30)).tolist(), 30))
    return out


@pytest.mark.parametrize("curve", curves(), ids=lambda c: c[0])
def test_each_rule_equals_fastai(curve: tuple[str, list[float], list[float], int]) -> None:
    _, lrs, losses, num_it = curve
    ours = suggest(lrs, losses, num_it, [f for f, _ in FUNCS])[0]
    try:
        theirs = fastai_suggestions(lrs, losses, num_it, [g for _, g in FUNCS])
    except IndexError:
        pytest.skip("fastai itself fails on this curve")
    assert list(ours) == theirs


def test_real_curve_from_fastai_lr_find(tmp_path) -> None:
    from ._data import digits_learner

    learn = digits_learner(tmp_path)
    with learn.no_bar():
        theirs = learn.lr_find(
            num_it=100, show_plot=False, suggest_funcs=(fs.valley, fs.slide, fs.minimum, fs.steep)
        )
    lrs, losses = learn.recorder.lrs, [float(v) for v in learn.recorder.losses]
    ours, points = suggest(lrs, losses, 100, (fs.valley, fs.slide, fs.minimum, fs.steep))
    assert ours == theirs
    assert ours._fields == ("valley", "slide", "minimum", "steep")
    assert all(p is not None for p in points)


def test_partials_and_field_names_work_like_fastai() -> None:
    lrs = schedule(100)
    losses = list(2 - np.log10(np.array(lrs)) / 20)
    ours = suggest(lrs, losses, 100, (partial(fs.slide, lr_diff=10), steep))[0]
    lr_t, loss_t = torch.tensor(lrs[10:-5]), torch.tensor(losses[10:-5])
    assert ours.slide == fs.slide(lr_t, loss_t, 100, lr_diff=10)[0]
    assert ours.steep == fs.steep(lr_t, loss_t, 100)[0]


def test_all_nan_gives_no_suggestion_and_inf_cuts_the_curve() -> None:
    lrs = schedule(100)
    none = suggest(lrs, [math.nan] * 100, 100, (valley, steep))[0]
    assert none.valley is None and none.steep is None
    losses = list(np.linspace(3, 1, 100))
    losses[60] = math.inf  # fastai would keep going past it
    ours = suggest(lrs, losses, 100, (minimum,))[0]
    assert ours.minimum == pytest.approx(lrs[59] / 10, rel=1e-6)
