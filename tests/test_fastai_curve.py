"""LiveCurve as a fastai callback, on a real Learner trained on real digits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fastwidgets import LiveCurve

from ._data import body_head_learner, digits_learner
from .conftest import Kernel


def test_fit_one_cycle_streams_loss_lr_mom_and_epoch_values(tmp_path: Path, kernel: Kernel) -> None:
    learn = digits_learner(tmp_path)
    curve = LiveCurve()
    with learn.no_bar():
        learn.fit_one_cycle(2, 3e-3, cbs=curve)
    n_batches = len(learn.dls.train)
    h = curve.history
    assert len(h) == 2 * n_batches
    assert h["step"].tolist() == list(range(2 * n_batches))
    np.testing.assert_allclose(h["lr"], learn.recorder.lrs)
    assert h["mom"].notna().all()
    # valid loss and the learner's metric, once per epoch, at the epoch's last iteration
    epochs = h.dropna(subset=["valid_loss"])
    assert epochs["step"].tolist() == [n_batches - 1, 2 * n_batches - 1]
    np.testing.assert_allclose(epochs["valid_loss"], [v[1] for v in learn.recorder.values])
    np.testing.assert_allclose(epochs["accuracy"], [v[2] for v in learn.recorder.values])
    kernel.settle(curve)  # the synced traits follow the data on the stream's throttle
    assert curve.series_meta["accuracy"]["panel"] == "metric"
    assert learn.cbs.filter(lambda c: c is curve) == []  # fastai removed it after the fit


class _RawLoss:
    """Records fastai's raw per-batch training loss (what LiveCurve should show)."""

    name, order, learn = "raw_loss", 70, None

    def __init__(self) -> None:
        self.values: list[float] = []

    def __call__(self, event: str) -> None:
        if event == "after_batch" and self.learn.training:
            self.values.append(float(self.learn.loss))


def test_the_losses_are_fastais_raw_batch_losses_read_without_a_sync_per_step(
    tmp_path: Path, kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    learn = digits_learner(tmp_path)
    raw, curve = _RawLoss(), LiveCurve()
    # every Tensor.item() fastwidgets makes (a device sync on a GPU)
    ours: list[int] = []
    item = torch.Tensor.item

    def counting_item(self: torch.Tensor) -> object:
        if "fastwidgets" in sys._getframe(1).f_code.co_filename:
            ours.append(1)
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    with learn.no_bar():
        learn.fit(2, 1e-3, cbs=[curve, raw])
    h = curve.history
    np.testing.assert_allclose(h["train_loss"], raw.values, rtol=1e-6)
    assert len(raw.values) == 2 * len(learn.dls.train)
    assert ours == []  # the losses reach the host stacked, once per hand-over


def test_hand_overs_keep_to_their_share_of_the_loops_time(
    tmp_path: Path, kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from fastwidgets.integrations import fastai as adapter

    learn = digits_learner(tmp_path)
    curve = LiveCurve()
    slow: list[float] = []
    drain = LiveCurve._drain

    def slow_drain(self: LiveCurve) -> None:  # a machine where a hand-over takes 20 ms
        if self._rows:
            slow.append(time.perf_counter())
            time.sleep(0.02)
        drain(self)

    monkeypatch.setattr(LiveCurve, "_drain", slow_drain)
    start = time.perf_counter()
    with learn.no_bar():
        learn.fit(2, 1e-3, cbs=curve)
    elapsed = time.perf_counter() - start
    # each waits 0.02 / HAND_OVER_BUDGET (6.7 s) for the next: one in the first epoch
    # (when the stream is first due), then only the epochs' ends (2) and the fit's (0)
    during = [t for t in slow if t - start < elapsed]
    assert len(during) <= 2 + 1 + elapsed * adapter.HAND_OVER_BUDGET / 0.02
    assert len(curve.history) == 2 * len(learn.dls.train)  # nothing lost


def test_second_fit_continues_the_curve_and_phases_of_fine_tune(
    tmp_path: Path, kernel: Kernel
) -> None:
    learn = body_head_learner(tmp_path)
    curve = LiveCurve()
    learn.add_cb(curve)  # attached once
    with learn.no_bar():
        learn.fine_tune(1, 1e-3, freeze_epochs=1)
        learn.fit(1, 1e-3)
    n = len(learn.dls.train)
    h = curve.history
    assert h["step"].tolist() == list(range(3 * n))
    assert h.dropna(subset=["valid_loss"])["epoch"].tolist() == [0, 1, 2]
    assert [p["label"] for p in curve.phases] == ["frozen", "unfrozen"]
    assert [p["x"] for p in curve.phases] == [0, n]


def test_silent_during_lr_find_and_get_preds(tmp_path: Path, kernel: Kernel) -> None:
    learn = digits_learner(tmp_path)
    curve = LiveCurve()
    learn.add_cb(curve)
    with learn.no_bar():
        learn.lr_find(num_it=20, show_plot=False)
        learn.get_preds()
        assert len(curve.history) == 0
        learn.fit(1, 1e-3)
        learn.get_preds(ds_idx=0)
    assert len(curve.history) == len(learn.dls.train)


def test_in_a_script_with_fastai_it_never_crashes_and_leaves_the_table_to_fastai(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learn = digits_learner(tmp_path)
    curve = LiveCurve()
    learn.fit(1, 1e-3, cbs=curve)
    out = capsys.readouterr().out
    assert "valid_loss" in out  # fastai's own table, printed once
    assert out.count("valid_loss") == 1
    assert len(curve.history) == len(learn.dls.train)


def test_import_does_not_import_fastai() -> None:
    import subprocess

    code = "import sys, fastwidgets; print('fastai' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
