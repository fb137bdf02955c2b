"""The streaming core: buffers, throttle, downsampling and the wire protocol."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from fastwidgets._stream import Series, SeriesStream, Throttle, as_float, downsample_minmax

from ._client import Client
from ._clock import FakeClock


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []
        self.snapshots: list[dict[str, Any]] = []

    def send(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.sent.append((content, buffers))

    def snapshot(self, snap: dict[str, Any]) -> None:
        self.snapshots.append(snap)

    @property
    def messages(self) -> int:
        return len(self.sent) + len(self.snapshots)


class ManualTimer:
    """Stands in for the trailing-timer thread: callbacks run when the test says."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.due: list[tuple[float, Any]] = []
        self.fired = 0

    def __call__(self, delay: float, fn: Any) -> None:
        self.due.append((self.clock.t + delay, fn))

    def run(self, limit: int = 100) -> None:
        """Let time pass until no timer is left (the stream has settled)."""
        for _ in range(limit):
            if not self.due:
                return
            self.due.sort(key=lambda d: d[0])
            when, fn = self.due.pop(0)
            self.clock.t = max(self.clock.t, when)
            fn()
        raise AssertionError("timers never stopped re-arming")

    def run_until(self, t: float) -> None:
        """Fire the timers due by time ``t``, then set the clock to ``t``."""
        while self.due and min(d[0] for d in self.due) <= t:
            self.due.sort(key=lambda d: d[0])
            when, fn = self.due.pop(0)
            self.clock.t = max(self.clock.t, when)
            self.fired += 1
            fn()
        self.clock.t = t


def make_stream(**kwargs: Any) -> tuple[SeriesStream, Recorder, FakeClock]:
    rec, clock = Recorder(), FakeClock()
    timer = ManualTimer(clock)
    stream = SeriesStream(rec.send, rec.snapshot, clock=clock, schedule=timer, **kwargs)
    stream.timer = timer  # type: ignore[attr-defined]
    return stream, rec, clock


# -- Series ----------------------------------------------------------------------------


def test_series_appends_grow_geometrically_and_keep_every_point() -> None:
    s = Series("loss", capacity=4)
    capacities = set()
    for i in range(100_000):
        s.append(i, i * 0.5)
        capacities.add(s._x.shape[0])
    assert len(s) == 100_000
    # amortised O(1): the buffer is reallocated a logarithmic number of times
    assert len(capacities) <= math.ceil(math.log2(100_000 / 4)) + 1
    np.testing.assert_array_equal(s.x, np.arange(100_000, dtype=float))
    np.testing.assert_array_equal(s.y, np.arange(100_000) * 0.5)


def test_series_views_are_read_only_and_extend_checks_lengths() -> None:
    s = Series("a")
    s.extend([1, 2, 3], [4, 5, 6])
    with pytest.raises(ValueError):
        s.x[0] = 9
    with pytest.raises(ValueError, match="'a'"):
        s.extend([1, 2], [1])
    assert len(s) == 3 and s.last_x == 3.0


@pytest.mark.parametrize("bad", ["0.5", b"1", None, True, object(), [1.0, 2.0]])
def test_as_float_names_the_series_on_bad_values(bad: object) -> None:
    with pytest.raises(TypeError, match="'valid_loss'"):
        as_float("valid_loss", bad)


def test_as_float_keeps_non_finite_and_accepts_numpy_and_tensors() -> None:
    import torch

    assert math.isnan(as_float("a", float("nan")))
    assert as_float("a", float("inf")) == math.inf
    assert as_float("a", np.float32(2.5)) == 2.5
    assert as_float("a", torch.tensor(1.5)) == 1.5
    w = torch.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "requires_grad ... to a scalar" warning
        assert as_float("loss", w * 2) == 4.0
    assert as_float("a", 1144188288) == 1144188288.0


# -- Throttle --------------------------------------------------------------------------


def test_throttle_lets_through_once_per_interval_with_a_fake_clock() -> None:
    clock = FakeClock()
    th = Throttle(10, clock)
    assert not th.ready()  # the first call opens the window
    clock.t += 0.05
    assert not th.ready()
    clock.t += 0.05
    assert th.ready()
    th.fire()
    clock.t += 0.099
    assert not th.ready()
    clock.t += 0.001
    assert th.ready()
    with pytest.raises(ValueError):
        Throttle(0)


# -- downsampling ----------------------------------------------------------------------


def test_downsample_keeps_extremes_nan_gaps_and_bound() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(100_000, dtype=float)
    y = rng.normal(size=x.size)
    y[12_345] = 50.0
    y[54_321] = -50.0
    y[70_000] = np.nan
    dx, dy = downsample_minmax(x, y, 500)
    assert dx.size <= 1000
    assert np.all(np.diff(dx) > 0)
    assert 50.0 in dy and -50.0 in dy
    assert np.isnan(dy).sum() >= 1
    _small_x, small_y = downsample_minmax(x[:10], y[:10], 500)
    np.testing.assert_array_equal(small_y, y[:10])


# -- the protocol ----------------------------------------------------------------------


def test_100k_step_loop_sends_at_most_10_per_second_plus_2() -> None:
    stream, rec, clock = make_stream(max_hz=10)
    steps = 100_000
    for i in range(steps):
        clock.t += 0.001  # a 1 ms training step
        stream.append_row(i, {"train_loss": 1.0 / (i + 1), "lr": 1e-3})
    stream.finish()
    stream.timer.run()  # type: ignore[attr-defined]
    assert stream.settled
    seconds = steps * 0.001
    assert rec.messages <= 10 * seconds + 2
    assert rec.messages >= 10 * seconds * 0.9  # and it did stream while running
    client = Client()
    for content, buffers in rec.sent:
        client.apply(content, buffers)
    assert not client.resync_requested
    assert client.count == {"train_loss": steps, "lr": steps}
    np.testing.assert_array_equal(client.y["train_loss"], 1.0 / (np.arange(steps) + 1))


def test_bytes_per_flush_are_proportional_to_new_points() -> None:
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=1e9)
    for burst in (10, 100, 1000, 5000):
        for _i in range(burst):
            stream.append_row(len(stream.series("a")), {"a": 1.0, "b": 2.0})
        clock.t += 0.2
        stream.tick()
        content, buffers = rec.sent[-1]
        new = sum(e["count"] for e in content["series"])
        assert new == 2 * burst
        assert sum(len(b) for b in buffers) == 16 * new  # x and y, 8 bytes each


def test_a_dropped_message_is_recovered_by_resync() -> None:
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=1e9)
    client = Client()
    for i in range(1000):
        clock.t += 0.01
        stream.append_row(i, {"train_loss": float(i), "lr": 0.1})
    assert len(rec.sent) >= 5
    for k, (content, buffers) in enumerate(rec.sent):
        if k != 2:  # the third message is lost on the way
            client.apply(content, buffers)
    assert client.resync_requested
    assert client.count["train_loss"] < 0 or client.y["train_loss"] != list(map(float, range(1000)))
    before = len(rec.sent)
    stream.handle_message({"type": "resync"})
    content, buffers = rec.sent[before]
    assert content["type"] == "reset"
    client.apply(content, buffers)
    assert not client.resync_requested
    assert client.y["train_loss"] == list(map(float, range(len(client.y["train_loss"]))))
    assert client.count["train_loss"] == len(stream["train_loss"])


def test_unknown_messages_from_the_browser_are_ignored() -> None:
    stream, rec, _ = make_stream()
    stream.handle_message({"type": "nonsense"})
    stream.handle_message({})
    assert rec.sent == []


def test_snapshot_is_downsampled_and_counts_every_point() -> None:
    stream, rec, _clock = make_stream(snapshot_buckets=100)
    stream.extend("a", np.arange(50_000), np.sin(np.arange(50_000)))
    stream.finish()
    stream.timer.run()  # type: ignore[attr-defined]
    snap = rec.snapshots[-1]
    entry = snap["series"][0]
    assert snap["version"] == 1 and entry["name"] == "a" and entry["total"] == 50_000
    xs = np.frombuffer(entry["x"], "<f8")
    assert 0 < xs.size <= 200


def test_snapshot_is_refreshed_at_a_low_rate_while_streaming() -> None:
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=2.0)
    for i in range(10_000):
        clock.t += 0.001
        stream.append("a", i, 1.0)
    assert 4 <= len(rec.snapshots) <= 6  # every ~2 s of a 10 s run


def test_during_a_run_the_snapshot_waits_its_period_though_nothing_is_pending() -> None:
    # A buffering producer (LiveCurve's fastai callback) hands points over in batches:
    # between two batches the stream has sent everything, but the run is not over.
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=5.0)
    timer = stream.timer  # type: ignore[attr-defined]
    stream.begin()
    step = 0
    for _ in range(20):  # 10 s: a batch of 500 points every 0.5 s
        stream.extend_rows(np.arange(step, step + 500), {"a": np.ones(500)})
        step += 500
        timer.run_until(clock.t + 0.5)
    assert 1 <= len(rec.snapshots) <= 2  # ~every 5 s, not after every batch
    assert stream.pending == 0
    before = len(rec.snapshots)
    stream.finish()  # the end: the final snapshot goes at once
    timer.run()
    assert len(rec.snapshots) == before + 1
    assert rec.snapshots[-1]["series"][0]["total"] == 10_000
    assert stream.settled


def started_run(
    snapshot_every: float,
) -> tuple[SeriesStream, Recorder, FakeClock, ManualTimer, float]:
    """A stream in a run (``begin``) just given its first 100 points, and the start time."""
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=snapshot_every)
    t0 = clock.t
    stream.begin()
    stream.extend_rows(np.arange(100), {"a": np.ones(100)})
    return stream, rec, clock, stream.timer, t0  # type: ignore[attr-defined]


def test_during_a_run_changed_state_goes_without_the_snapshot() -> None:
    stream, rec, clock, timer, t0 = started_run(snapshot_every=5.0)
    stream.state_changed()  # e.g. a new series' metadata
    clock.t += 1.0
    stream.extend_rows(np.arange(100, 200), {"a": np.ones(100)})
    timer.run_until(t0 + 2.0)
    assert rec.snapshots == [None]  # the state went out, the snapshot waits
    assert not stream.settled  # it is still stale
    fired = timer.fired
    timer.run_until(t0 + 4.5)
    assert timer.fired == fired  # the timer sleeps until the snapshot is due
    stream.finish()
    stream.timer.run()  # type: ignore[attr-defined]
    assert rec.snapshots[-1] is not None and rec.snapshots[-1]["series"][0]["total"] == 200
    assert stream.settled


def test_during_a_run_points_left_by_a_paused_loop_go_out_before_the_snapshot_is_due() -> None:
    stream, _rec, clock, timer, t0 = started_run(snapshot_every=10.0)
    timer.run_until(t0 + 1.0)  # sent; the timer now sleeps until the snapshot is due
    assert stream.pending == 0
    clock.t += 0.2
    stream.extend_rows(np.arange(100, 110), {"a": np.ones(10)})  # sent at once
    assert stream.pending == 0
    clock.t += 0.01
    stream.extend_rows(np.arange(110, 120), {"a": np.ones(10)})  # throttle closed
    assert stream.pending == 10
    timer.run_until(t0 + 2.5)  # the loop pauses (a long validation pass)
    assert stream.pending == 0  # the watchdog sent them, 10 s early for the snapshot


def test_settled_waits_for_the_snapshot_send_and_state_changed_meanwhile_is_not_lost() -> None:
    stream, rec, _clock = make_stream(max_hz=10)
    seen: list[bool] = []

    def on_state(snap: dict[str, Any] | None) -> None:
        seen.append(stream.settled)  # a poller on another thread asks now
        if len(seen) == 1:
            stream.state_changed()  # another thread changes state during the sync
        rec.snapshot(snap)

    stream._on_state = on_state
    stream.extend_rows(np.arange(10), {"a": np.ones(10)})
    stream.timer.run()  # type: ignore[attr-defined]
    assert seen == [False, False]  # never settled while sending; the change went too
    assert len(rec.snapshots) == 2 and stream.settled


def test_without_a_run_a_quiet_stream_sends_its_snapshot_at_once() -> None:
    stream, rec, _clock = make_stream(max_hz=10, snapshot_every=1e9)
    stream.extend_rows(np.arange(100), {"a": np.ones(100)})
    stream.timer.run()  # type: ignore[attr-defined]
    assert len(rec.snapshots) == 1 and stream.settled


def test_disabled_stream_sends_nothing_but_keeps_the_data() -> None:
    stream, rec, clock = make_stream()
    stream.enabled = False
    for i in range(1000):
        clock.t += 0.01
        stream.append("a", i, i)
    stream.finish()
    stream.timer.run()  # type: ignore[attr-defined]
    stream.handle_message({"type": "resync"})
    assert rec.messages == 0
    assert len(stream["a"]) == 1000


def test_clear_resets_the_frontend() -> None:
    stream, rec, _ = make_stream()
    stream.append("a", 0, 1)
    stream.clear()
    assert rec.sent[-1][0] == {"type": "reset", "seq": rec.sent[-1][0]["seq"], "series": []}
    assert stream.names == []


def test_never_more_than_one_message_per_interval_end_of_fit_included() -> None:
    stream, _rec, clock = make_stream(max_hz=10, snapshot_every=0.5)
    times: list[float] = []
    stream._send = lambda c, b: times.append(clock.t)  # type: ignore[method-assign]
    stream._on_state = lambda s: times.append(clock.t)  # type: ignore[method-assign]
    for i in range(3000):
        clock.t += 0.001
        stream.append_row(i, {"a": 1.0})
        if i % 700 == 0:
            stream.state_changed()  # e.g. a new series' metadata
    stream.finish()
    stream.timer.run()  # type: ignore[attr-defined]
    assert stream.settled
    gaps = np.diff(times)
    assert gaps.min() >= 0.1 - 1e-9
    assert len(times) <= 3000 * 0.001 * 10 + 2


def test_a_loop_that_stops_logging_still_gets_its_last_points_sent() -> None:
    stream, rec, clock = make_stream(max_hz=10)
    for i in range(5):
        clock.t += 0.01
        stream.append("a", i, float(i))  # all within the first interval: throttle closed
    assert rec.sent == []
    stream.timer.run()  # the trailing timer fires one interval later
    client = Client()
    for content, buffers in rec.sent:
        client.apply(content, buffers)
    assert client.y["a"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rec.snapshots  # and the snapshot follows, one interval after


def test_state_changing_every_step_does_not_starve_the_points() -> None:
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=1e9)
    for i in range(2000):
        clock.t += 0.001
        stream.append("a", i, 1.0)
        stream.state_changed()  # e.g. a progress bar
    deltas, states = len(rec.sent), len(rec.snapshots)
    assert deltas >= 8 and states >= 8  # they alternate: ~10 each over 2 s


def test_finish_sends_the_rest_within_one_interval_not_the_watchdog() -> None:
    stream, _, clock = make_stream(max_hz=10)
    times: list[float] = []
    stream._send = lambda c, b: times.append(clock.t)  # type: ignore[method-assign]
    stream._on_state = lambda s: times.append(clock.t)  # type: ignore[method-assign]
    for i in range(50):
        clock.t += 0.001
        stream.append("a", i, 1.0)
    done = clock.t
    stream.finish()
    stream.timer.run()  # type: ignore[attr-defined]
    assert stream.settled and len(times) == 2  # the delta, then the snapshot
    assert times[-1] - done <= 2 * 0.1 + 1e-9  # not after the 1 s watchdog


def test_replace_sends_the_whole_result_as_one_reset_and_coalesces_fast_changes() -> None:
    stream, rec, clock = make_stream(max_hz=10)
    client = Client()
    stream.append("old", 0, 1)
    stream.timer.run()  # type: ignore[attr-defined]
    clock.t += 1  # the user moves a slider after a pause
    stream.replace({"r0:a1": ([0, 1, 2], [-1.0, 0.5, 1.0]), "r0:loss": ([0, 1, 2], [9, 4, 1])})
    # It goes out at once, as one reset that drops the "old" series.
    content, buffers = rec.sent[-1]
    assert len(buffers) == 4  # x and y of each series, float64
    assert content["type"] == "reset"
    assert [s["name"] for s in content["series"]] == ["r0:a1", "r0:loss"]
    # ...and three more inside one interval coalesce: only the last one is sent.
    for k in range(3):
        clock.t += 0.01
        stream.replace({"r0:a1": ([0], [float(k)])})
    assert rec.sent[-1][0] is content
    stream.timer.run()  # type: ignore[attr-defined]
    assert rec.sent[-2][0] is content and len(rec.sent) == 3  # old point, first, last
    for c, b in rec.sent:
        client.apply(c, b)
    assert client.y == {"r0:a1": [2.0]}
    assert stream.settled
    # An empty result still clears the browser.
    clock.t += 1
    stream.replace({})
    assert rec.sent[-1][0]["type"] == "reset" and rec.sent[-1][0]["series"] == []


def test_extend_rows_hands_over_many_rows_in_one_delta_or_none_at_all() -> None:
    stream, rec, clock = make_stream(max_hz=10, snapshot_every=1e9)
    assert not stream.due()  # the window opens with the first ask
    clock.t += 0.2
    assert stream.due()
    stream.extend_rows([0, 1, 2], {"train_loss": [3.0, 2.0, 1.0], "lr": [0.1, 0.2, 0.3]})
    assert len(rec.sent) == 1
    content, buffers = rec.sent[0]
    assert {e["name"]: e["count"] for e in content["series"]} == {"train_loss": 3, "lr": 3}
    assert sum(len(b) for b in buffers) == 16 * 6
    assert not stream.due()  # it just sent
    # a column of the wrong length: refused before any series grows
    with pytest.raises(ValueError, match="'lr': x has 2 values, y has 1"):
        stream.extend_rows([3, 4], {"train_loss": [0.5, 0.4], "lr": [0.1]})
    assert len(stream.series("train_loss")) == len(stream.series("lr")) == 3


def test_a_disabled_stream_is_never_due() -> None:
    stream, _rec, clock = make_stream(max_hz=10)
    stream.enabled = False
    stream.due()
    clock.t += 1.0
    assert not stream.due()
