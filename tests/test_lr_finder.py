"""LRFinder: fastai's numbers, the pick, and the bad-input messages (Python side)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import fastai.callback.all  # noqa: F401 - imported before any seeding: importing it draws RNG
import numpy as np
import pytest
import torch
from fastai.callback import schedule as fs
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fastwidgets import LRFinder, lr_find

from ._data import digits_learner, digits_tensors
from .conftest import Kernel


def seeded_learner(path: Path):  # type: ignore[no-untyped-def]
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    return digits_learner(path, seed=0)


def plain(n_batches: int = 22):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    x, y = digits_tensors()
    x, y = x[: 64 * n_batches], y[: 64 * n_batches]
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    return model, opt, nn.functional.cross_entropy, loader


def test_fastai_lr_find_gives_fastais_suggestions(tmp_path: Path) -> None:
    funcs = (fs.valley, fs.slide, fs.minimum, fs.steep)
    finder = lr_find(seeded_learner(tmp_path / "a"), num_it=80, suggest_funcs=funcs)
    theirs = seeded_learner(tmp_path / "b")
    with theirs.no_bar():
        expected = theirs.lr_find(num_it=80, show_plot=False, suggest_funcs=funcs)
    assert finder.suggestions == expected
    assert finder.suggestions._fields == ("valley", "slide", "minimum", "steep")
    np.testing.assert_allclose(finder.lrs, theirs.recorder.lrs, rtol=1e-12)
    assert finder.lr == finder.suggestions.valley  # until the user picks
    finder.picked_lr = 3e-3
    assert finder.lr == 3e-3


def test_plain_pytorch_run_and_the_chart_state(tmp_path: Path) -> None:
    model, opt, loss_fn, loader = plain()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    finder = LRFinder(model, opt, loss_fn, loader).run(num_it=50)
    assert len(finder.lrs) == len(finder.losses) > 10
    assert finder.suggestions.valley is not None
    assert [m["name"] for m in finder.suggestion_marks] == ["valley"]
    assert finder.default_lr == finder.suggestions.valley
    assert finder.progress["done"] == len(finder.losses)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_short_loader_and_small_num_it_are_explained() -> None:
    model, opt, loss_fn, loader = plain(n_batches=4)
    finder = LRFinder(model, opt, loss_fn, loader).run(num_it=3, stop_div=False)
    assert len(finder.lrs) == 6
    assert "raised to 6" in finder.message and "4 batches" in finder.message


def test_all_nan_losses_give_no_suggestion_and_say_so() -> None:
    model, opt, _, loader = plain()

    def nan_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, y) * math.nan

    finder = LRFinder(model, opt, nan_loss, loader).run(num_it=30)
    assert finder.suggestions.valley is None and finder.lr is None
    assert "NaN" in finder.message


def test_a_loss_that_never_decreases_is_reported() -> None:
    model, opt, _, loader = plain()
    count = {"n": 0}

    def rising(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        count["n"] += 1
        return nn.functional.cross_entropy(out, y) * 0 + count["n"]

    finder = LRFinder(model, opt, rising, loader).run(num_it=30, stop_div=False)
    assert "never decreased" in finder.message


def test_empty_loader_raises_and_outside_a_notebook_it_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, opt, loss_fn, loader = plain()
    with pytest.raises(ValueError, match="empty"):
        LRFinder(model, opt, loss_fn, []).run()
    with pytest.raises(TypeError, match="all four"):
        LRFinder(model).run()
    LRFinder(model, opt, loss_fn, loader).run(num_it=20)
    assert "SuggestedLRs(valley=" in capsys.readouterr().out


def test_in_a_kernel_it_streams_within_the_message_budget(kernel: Kernel) -> None:
    model, opt, loss_fn, loader = plain()
    finder = LRFinder(model, opt, loss_fn, loader)
    finder.run(num_it=60)
    kernel.settle(finder)
    custom = kernel.comm.custom()
    names = {e["name"] for c, _ in custom for e in c["series"]}
    assert names == {"raw", "loss"}
    assert any("progress" in u for u in kernel.comm.updates())


def test_the_final_progress_reaches_the_browser(kernel: Kernel) -> None:
    model, opt, loss_fn, loader = plain()
    finder = LRFinder(model, opt, loss_fn, loader).run(num_it=40)
    kernel.settle(finder)
    states = [u["progress"]["state"] for u in kernel.comm.updates() if u.get("progress")]
    assert states[-1] in ("done", "stopped")


def test_after_fine_tune_it_restores_discriminative_lrs_and_suggests_a_slice(
    tmp_path: Path,
) -> None:
    import copy

    from ._data import body_head_learner

    learn = body_head_learner(tmp_path)
    with learn.no_bar():
        learn.fine_tune(1, 1e-3)  # fastai#3658: lr_find after fine_tune used to crash
    before_model = {k: v.clone() for k, v in learn.model.state_dict().items()}
    before_hypers = copy.deepcopy(learn.opt.hypers)
    finder = lr_find(learn, num_it=40)
    assert "slice({lr}, " in finder.code_template
    assert [h["lr"] for h in learn.opt.hypers] == [h["lr"] for h in before_hypers]
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, before_model[k]), k


def test_interrupted_fastai_run_still_restores(tmp_path: Path) -> None:
    learn = seeded_learner(tmp_path)
    with learn.no_bar():
        learn.fit(1, 1e-3)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    finder = LRFinder()
    calls = {"n": 0}

    def interrupt(*_: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt

    finder._on_batch = interrupt  # type: ignore[method-assign]
    from fastwidgets.integrations.fastai import range_test

    with pytest.raises(KeyboardInterrupt), learn.no_bar():
        range_test(learn, num_it=50, on_batch=finder._on_batch)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, before[k]), k
