"""LiveCurve: the Python API, the messages it sends, and its text mode."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fastwidgets import LiveCurve

from ._client import Client
from .conftest import Kernel


def test_plain_loop_api_builds_series_history_and_meta() -> None:
    curve = LiveCurve()
    for step in range(20):
        curve.log(step, train_loss=1.0 / (step + 1), lr=0.01, grad_norm=0.5)
        if step % 10 == 9:
            curve.log_epoch(step // 10, valid_loss=0.4, accuracy=0.8)
    curve.close()
    assert curve.series_meta["train_loss"] == {"panel": "loss", "per": "step"}
    assert curve.series_meta["lr"] == {"panel": "lr", "per": "step"}
    assert curve.series_meta["grad_norm"] == {"panel": "loss", "per": "step"}
    assert curve.series_meta["valid_loss"] == {"panel": "loss", "per": "epoch"}
    assert curve.series_meta["accuracy"] == {"panel": "metric", "per": "epoch"}
    h = curve.history
    assert list(h.columns) == [
        "step",
        "epoch",
        "train_loss",
        "lr",
        "grad_norm",
        "valid_loss",
        "accuracy",
    ]
    assert len(h) == 20
    assert h.loc[h.step == 9, "valid_loss"].item() == 0.4
    assert h.loc[h.step == 19, "epoch"].item() == 1
    assert h.loc[h.step == 3, "epoch"].item() == 0
    assert h["valid_loss"].notna().sum() == 2


def test_epoch_values_named_like_step_series_get_their_own_series() -> None:
    curve = LiveCurve()
    curve.log(0, train_loss=1.0)
    curve.log_epoch(0, train_loss=0.9)
    assert "train_loss (epoch)" in curve.series_meta
    assert curve.history["train_loss (epoch)"].dropna().tolist() == [0.9]


def test_non_numeric_value_raises_type_error_naming_series_and_records_nothing() -> None:
    curve = LiveCurve()
    curve.log(0, train_loss=1.0)
    with pytest.raises(TypeError, match="'valid_loss'"):
        curve.log_epoch(0, valid_loss="high")
    with pytest.raises(TypeError, match="'train_loss'"):
        curve.log(1, train_loss=[1, 2])
    assert len(curve.history) == 1
    assert "valid_loss" not in curve.series_meta


def test_nan_inf_and_huge_values_are_kept(kernel: Kernel) -> None:
    curve = LiveCurve()
    values = [1.0, math.nan, math.inf, -math.inf, 1144188288.0, 0.5]
    for i, v in enumerate(values):
        curve.log(i, train_loss=v)
    curve.log_epoch(0, valid_loss=1144188288.0)
    curve.close()
    kernel.settle(curve)
    got = curve.history["train_loss"].to_numpy()
    np.testing.assert_array_equal(got, np.array(values))
    client = Client()
    for content, buffers in kernel.comm.custom():
        client.apply(content, buffers)
    np.testing.assert_array_equal(client.y["train_loss"], values)
    fig = curve.to_figure()  # export copes with them too
    assert len(fig.data) >= 2


def test_history_to_csv_round_trips(tmp_path: Path) -> None:
    curve = LiveCurve()
    for step in range(5):
        curve.log(step, train_loss=step * 0.1, lr=1e-3)
    curve.log_epoch(0, valid_loss=0.2)
    out = curve.to_csv(tmp_path / "h.csv")
    back = pd.read_csv(out)
    pd.testing.assert_frame_equal(back, curve.history, check_dtype=False)


def test_to_figure_draws_the_same_panels() -> None:
    curve = LiveCurve(title="run 1", log_y=True)
    curve.mark_phase("frozen", 0)
    for step in range(30):
        curve.log(step, train_loss=1.0 / (step + 1), lr=1e-3 * step, mom=0.9)
    curve.log_epoch(0, valid_loss=0.3, accuracy=0.9)
    curve.mark_phase("unfrozen")
    for step in range(30, 40):
        curve.log(step, train_loss=0.1, lr=1e-4, mom=0.9)
    fig = curve.to_figure()
    names = [t.name for t in fig.data]
    assert {"train_loss", "train_loss (raw)", "lr", "mom", "valid_loss", "accuracy"} <= set(names)
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.title.text == "run 1"
    texts = [a.text for a in fig.layout.annotations]
    assert "frozen" in texts and "unfrozen" in texts
    smoothed = next(t for t in fig.data if t.name == "train_loss")
    raw = next(t for t in fig.data if t.name == "train_loss (raw)")
    assert not np.allclose(smoothed.y, raw.y)


def test_outside_a_notebook_it_prints_one_line_per_epoch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    curve = LiveCurve()
    assert not curve.live
    for epoch in range(3):
        for step in range(epoch * 4, epoch * 4 + 4):
            curve.log(step, train_loss=1.0)
        curve.log_epoch(epoch, valid_loss=0.5, accuracy=0.75)
    curve.close()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [str(e), "1.000000", "0.500000", "0.750000"] for e in range(3)
    ]


def test_in_a_kernel_it_streams_and_prints_nothing(
    kernel: Kernel, capsys: pytest.CaptureFixture[str]
) -> None:
    curve = LiveCurve(max_hz=1e9)
    assert curve.live
    curve.log(0, train_loss=1.0)
    curve.log(1, train_loss=0.5)
    curve.log_epoch(0, valid_loss=0.4)
    curve.close()
    kernel.settle(curve)
    assert capsys.readouterr().out == ""
    client = Client()
    for content, buffers in kernel.comm.custom():
        client.apply(content, buffers)
    assert client.y["train_loss"] == [1.0, 0.5]
    assert client.y["valid_loss"] == [0.4] and client.x["valid_loss"] == [1.0]
    assert client.y["_epoch"] == [0.0]
    # the final snapshot reached the browser as a trait update
    assert any("snapshot" in u for u in kernel.comm.updates())


def test_browser_settings_reach_python(kernel: Kernel) -> None:
    curve = LiveCurve()
    kernel.comm.handle_msg(
        {
            "content": {"data": {"method": "update", "state": {"log_y": True, "smoothing": 0.9}}},
            "buffers": [],
        }
    )
    assert curve.log_y is True and curve.smoothing == 0.9


def test_resync_request_from_the_browser_gets_the_full_data(kernel: Kernel) -> None:
    curve = LiveCurve()
    for i in range(100):
        curve.log(i, train_loss=float(i))
    kernel.comm.receive({"type": "resync"})
    content, buffers = kernel.comm.custom()[-1]
    assert content["type"] == "reset"
    client = Client()
    client.apply(content, buffers)
    assert client.y["train_loss"] == [float(i) for i in range(100)]


def test_a_widget_never_displayed_stays_bounded(kernel: Kernel) -> None:
    curve = LiveCurve()
    n = 200_000
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        curve.log(i, train_loss=0.5)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    # the recording comm keeps what was "sent": that copy lives in the test, not the widget
    grown -= sum(len(b) for c in kernel.comms for _, _, bufs in c.published for b in bufs)
    # the history itself (x and y, float64, at most doubled) and nothing queued on top
    assert grown < 2 * 16 * n + 1_000_000
    assert curve._stream.pending < n


def test_step_going_backwards_warns_once() -> None:
    curve = LiveCurve()
    curve.log(10, train_loss=1.0)
    with pytest.warns(UserWarning, match="backwards"):
        curve.log(5, train_loss=1.0)
    curve.log(4, train_loss=1.0)  # no second warning


def test_pickles_as_a_fresh_curve_so_learn_export_works() -> None:
    import pickle

    curve = LiveCurve(title="run")
    curve.log(0, train_loss=1.0)
    back = pickle.loads(pickle.dumps(curve))
    assert isinstance(back, LiveCurve) and back.title == "run" and len(back.history) == 0


def test_log_many_records_columns_like_log_does() -> None:
    one, many = LiveCurve(), LiveCurve()
    for i in range(5):
        one.log(i, train_loss=1.0 / (i + 1), lr=0.01 * i)
    many.log_many(range(5), train_loss=[1.0 / (i + 1) for i in range(5)], lr=np.arange(5) * 0.01)
    pd.testing.assert_frame_equal(one.history, many.history)
    assert one.series_meta == many.series_meta


def test_log_many_refuses_bad_columns_and_records_nothing() -> None:
    curve = LiveCurve()
    with pytest.raises(TypeError, match="series 'lr': expected numbers"):
        curve.log_many([0, 1], train_loss=[1.0, 2.0], lr=["a", "b"])
    with pytest.raises(ValueError, match="series 'lr': 1 values for 2 steps"):
        curve.log_many([0, 1], train_loss=[1.0, 2.0], lr=[0.1])
    assert len(curve.history) == 0
    with pytest.warns(UserWarning, match="backwards"):
        curve.log_many([3, 2], train_loss=[1.0, 2.0])
