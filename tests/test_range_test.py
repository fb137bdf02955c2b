"""The range test gives fastai's numbers, restores from memory, and fails cleanly."""

from __future__ import annotations

import random
from pathlib import Path

import fastai.callback.all  # noqa: F401 - imported before any seeding: importing it draws RNG
import numpy as np
import pytest
import torch

from fastwidgets.integrations.fastai import range_test

from ._data import digits_learner


def seeded_learner(path: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    # fastai's DataLoader draws its shuffling RNG from `random` when it is built.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return digits_learner(path, seed=0)


def state(learn) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {k: v.clone() for k, v in learn.model.state_dict().items()}


@pytest.mark.parametrize("num_it", [6, 60, 100])
def test_same_lrs_and_losses_as_learn_lr_find(tmp_path: Path, num_it: int) -> None:
    ours = seeded_learner(tmp_path / "a")
    with ours.no_bar():
        lrs, losses = range_test(ours, num_it=num_it)
    theirs = seeded_learner(tmp_path / "b")
    with theirs.no_bar():
        theirs.lr_find(num_it=num_it, show_plot=False)
    assert len(lrs) == len(theirs.recorder.lrs)
    np.testing.assert_allclose(lrs, theirs.recorder.lrs, rtol=1e-12)
    np.testing.assert_allclose(losses, [float(v) for v in theirs.recorder.losses], rtol=1e-6)


def test_model_and_rng_unchanged_and_no_file_written(tmp_path: Path) -> None:
    learn = seeded_learner(tmp_path)
    with learn.no_bar():
        learn.fit(1, 1e-3)
    before = state(learn)
    torch.manual_seed(3)
    expect = torch.rand(1).item()
    torch.manual_seed(3)
    with learn.no_bar():
        range_test(learn, num_it=30)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.rand(1).item() == expect
    assert not (tmp_path / "models").exists()


def test_read_only_path_works(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        learn = seeded_learner(ro)
        with learn.no_bar():
            lrs, _ = range_test(learn, num_it=20)
        assert len(lrs) == 20
    finally:
        ro.chmod(0o755)


def test_stops_early_when_the_loss_explodes(tmp_path: Path) -> None:
    learn = seeded_learner(tmp_path)
    with learn.no_bar():
        _, losses = range_test(learn, start_lr=1e2, end_lr=1e9, num_it=100)
    assert len(losses) < 100


def test_an_empty_loader_is_refused_and_the_model_untouched(tmp_path: Path) -> None:
    from fastai.data.core import DataLoaders

    learn = seeded_learner(tmp_path)
    learn.dls = DataLoaders.from_dsets([], list(learn.dls.valid.dataset), bs=64, device="cpu")
    before = state(learn)
    with pytest.raises(ValueError, match="empty"):
        range_test(learn)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, before[k])
