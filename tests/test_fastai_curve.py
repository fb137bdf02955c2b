"""LiveCurve as a fastai callback, on a real Learner trained on real digits."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fastwidgets import LiveCurve

from ._clock import FakeClock
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


class _Watch:
    """Notes what LiveCurve holds at the first batch and when validation starts."""

    name, order, learn = "watch", 70, None

    def __init__(self, curve: LiveCurve) -> None:
        self.curve = curve
        self.first_meta: dict[str, Any] | None = None
        self.at_validate: list[tuple[int, int]] = []  # (rows buffered, train points sent)

    def __call__(self, event: str) -> None:
        if event == "after_batch" and self.first_meta is None:
            self.first_meta = dict(self.curve._meta)
        elif event == "before_validate":
            stream = self.curve._stream
            sent = len(stream["train_loss"]) if "train_loss" in stream else 0
            self.at_validate.append((len(self.curve._rows), sent))


def test_series_are_named_at_the_start_and_each_epochs_rows_handed_over_before_validation(
    tmp_path: Path, kernel: Kernel
) -> None:
    learn = digits_learner(tmp_path)
    curve = LiveCurve()
    watch = _Watch(curve)
    with learn.no_bar():
        learn.fit(2, 1e-3, cbs=[curve, watch])
    # one series_meta for the whole fit, from its first batch on
    assert watch.first_meta == curve._meta
    assert {"train_loss", "lr", "mom", "valid_loss", "accuracy"} <= set(curve._meta)
    # a long validation pass does not hold back the epoch's last training steps
    n = len(learn.dls.train)
    assert watch.at_validate == [(0, n), (0, 2 * n)]


class _RawLoss:
    """Records fastai's raw per-batch training loss (what LiveCurve should show)."""

    name, order, learn = "raw_loss", 70, None

    def __init__(self) -> None:
        self.values: list[float] = []

    def __call__(self, event: str) -> None:
        if event == "after_batch" and self.learn.training:
            self.values.append(float(self.learn.loss))


class _OffTheCPU:
    """Makes fastai's loss look like a tensor on an accelerator (this machine has none)."""

    name, order, learn = "off_the_cpu", 55, None  # after the Recorder, before LiveCurve

    def __init__(self) -> None:
        import torch

        class DeviceTensor(torch.Tensor):
            @property
            def is_cpu(self) -> bool:
                return False

        self.cls = DeviceTensor

    def __call__(self, event: str) -> None:
        if event == "after_batch" and self.learn.training:
            self.learn.loss = self.learn.loss.as_subclass(self.cls)


@pytest.mark.parametrize("device", ["cpu", "accelerator"])
def test_the_losses_are_fastais_raw_batch_losses_read_without_a_sync_per_step(
    tmp_path: Path, kernel: Kernel, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    import torch

    learn = digits_learner(tmp_path)
    raw, curve = _RawLoss(), LiveCurve()
    # every Tensor.item() fastwidgets makes (a device sync off the CPU)
    ours: list[int] = []
    item = torch.Tensor.item

    def counting_item(self: torch.Tensor) -> object:
        if "fastwidgets" in sys._getframe(1).f_code.co_filename:
            ours.append(1)
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    cbs = [curve, raw] + ([_OffTheCPU()] if device == "accelerator" else [])
    with learn.no_bar():
        learn.fit(2, 1e-3, cbs=cbs)
    h = curve.history
    np.testing.assert_allclose(h["train_loss"], raw.values, rtol=1e-6)
    assert len(raw.values) == 2 * len(learn.dls.train)
    if device == "accelerator":
        assert ours == []  # the losses reach the host stacked, once per hand-over
    else:
        assert len(ours) == len(raw.values)  # read at once: no tensor is kept


class _FakeLearn:
    """What the adapter reads of a Learner during training steps."""

    def __init__(self, hypers: list[dict[str, float]]) -> None:
        import torch

        self.training = True
        self.loss = torch.tensor(0.5)
        self.opt = type("Opt", (), {"hypers": hypers})()


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        # each waits (its cost + 1.5 ms of IOPub follow-up) / 0.3% of the loop's time
        (0.0001, (17, 20)),  # cheap: one every 0.53 s
        (0.001, (11, 13)),  # 1 ms: one every 0.83 s
        (0.05, (9, 11)),  # 50 ms would mean 17 s: capped at one a second
    ],
)
def test_hand_overs_keep_to_their_share_of_the_loops_time(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch, cost: float, expected: tuple[int, int]
) -> None:
    import types

    from fastwidgets.integrations import fastai as adapter_module

    clock = FakeClock()
    monkeypatch.setattr(adapter_module, "time", types.SimpleNamespace(perf_counter=clock))
    curve = LiveCurve()
    curve._stream._clock = curve._stream._throttle._clock = clock
    drain = LiveCurve._drain
    hand_overs: list[float] = []

    def costly_drain(self: LiveCurve) -> None:
        if self._rows:
            hand_overs.append(clock.t)
            clock.t += cost
        drain(self)

    monkeypatch.setattr(LiveCurve, "_drain", costly_drain)
    cb = curve._fastai_adapter()
    cb.learn = _FakeLearn([{"lr": 0.1, "mom": 0.9}])
    cb.active = True
    cb._hypers = adapter_module._stable_hypers(cb.learn.opt)
    for _ in range(10_000):  # 10 s of 1 ms steps
        clock.t += 0.001
        cb.after_batch()
    assert expected[0] <= len(hand_overs) <= expected[1], len(hand_overs)
    assert max(b - a for a, b in pairwise(hand_overs)) <= 1.0 + cost + 0.002
    curve.close()
    assert len(curve.history) == 10_000  # nothing lost


def test_lr_and_mom_follow_the_schedule_with_a_torch_optimizer(
    tmp_path: Path, kernel: Kernel
) -> None:
    # fastai's OptimWrapper builds its hypers dicts anew on each access: they must be
    # read every step, not kept
    from functools import partial

    import torch
    from fastai.optimizer import OptimWrapper

    learn = digits_learner(tmp_path, opt_func=partial(OptimWrapper, opt=torch.optim.SGD))
    curve = LiveCurve()
    with learn.no_bar():
        learn.fit_one_cycle(2, 1e-2, cbs=curve)
    h = curve.history
    np.testing.assert_allclose(h["lr"], learn.recorder.lrs)
    assert h["lr"].nunique() > len(learn.dls.train)  # it moved every step


def test_a_fit_that_dies_still_gets_its_rows_drawn_when_the_cell_ends(
    tmp_path: Path, kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastwidgets.integrations import fastai as adapter_module

    class Events:
        def __init__(self) -> None:
            self.hooks: list[Any] = []

        def register(self, name: str, fn: Any) -> None:
            assert name == "post_run_cell"
            self.hooks.append(fn)

        def unregister(self, name: str, fn: Any) -> None:
            self.hooks.remove(fn)

    shell = type("Shell", (), {"events": Events()})()
    monkeypatch.setattr(adapter_module, "_ipython", lambda: shell)

    class Interrupt:
        name, order, learn = "interrupt", 70, None

        def __init__(self) -> None:
            self.n = 0

        def __call__(self, event: str) -> None:
            if event == "after_batch" and self.learn.training:
                self.n += 1
                if self.n == 30:
                    raise KeyboardInterrupt

    learn = digits_learner(tmp_path)
    curve = LiveCurve()
    with pytest.raises(KeyboardInterrupt), learn.no_bar():
        learn.fit(3, 1e-3, cbs=[curve, Interrupt()])
    assert len(shell.events.hooks) == 1  # neither after_fit nor after_cancel_fit ran
    for hook in list(shell.events.hooks):
        hook(None)  # the cell ends
    assert shell.events.hooks == []
    kernel.settle(curve)
    assert curve._stream.pending == 0 and curve._rows == []
    assert curve.history["step"].tolist() == list(range(30))
    # a fit that ends normally leaves no hook behind
    with learn.no_bar():
        learn.fit(1, 1e-3, cbs=curve)
    assert shell.events.hooks == []


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
