"""The streaming core shared by every widget.

Python keeps the full history of each named series in append-only float64 buffers and
streams only the new points to the browser, throttled, as binary buffers.  The wire
format is written down once here and once in ``js/src/core/protocol.ts``:

* Python -> JS ``{"type": "delta", "seq": k, "series": [{"name", "start", "count"}]}``
  with two buffers per listed series (x then y, little-endian float64).  ``start`` is the
  index of the first new point, so the browser can detect a lost message.
* Python -> JS ``{"type": "reset", ...}``: same layout, every series from index 0.
* JS -> Python ``{"type": "resync"}``: answered with a ``reset``.
* The ``snapshot`` trait ``{"version": 1, "series": [{"name", "total", "x", "y"}]}`` holds a
  min/max-downsampled copy, so a reloaded page draws the curve without the kernel.

Why a throttle and one message per flush: Jupyter Server silently drops iopub messages
above 1000/s, and every trait assignment re-sends the whole value.  Each tick of the
throttle sends exactly one message (a delta, or now and then the snapshot), so the
message rate never exceeds ``max_hz`` however fast the training loop appends.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Message = tuple[dict[str, Any], list[bytes]]
SendFn = Callable[[dict[str, Any], list[bytes]], None]
SnapshotFn = Callable[[dict[str, Any] | None], None]

PROTOCOL_VERSION = 1


def as_float(series: str, value: object) -> float:
    """Convert one logged value to float, or raise a ``TypeError`` naming the series.

    Accepts Python and numpy numbers and one-element tensors/arrays (read with
    ``.item()``, which neither warns about autograd nor copies); NaN and infinities are
    kept: the chart shows them instead of hiding a broken run.
    """
    if type(value) is float:  # the common case, once per value per training step
        return value
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(
            f"series {series!r}: expected a number, got {type(value).__name__} {value!r}"
        )
    item = getattr(value, "item", None)
    try:
        return float(item() if callable(item) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"series {series!r}: expected a number, got {type(value).__name__}"
        ) from err


class Series:
    """An append-only list of (x, y) float64 points with amortised O(1) appends."""

    __slots__ = ("_n", "_x", "_y", "name")

    def __init__(self, name: str, capacity: int = 1024) -> None:
        self.name = name
        self._x: FloatArray = np.empty(capacity, dtype=np.float64)
        self._y: FloatArray = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        """Add one point; the buffers double when full."""
        if self._n == self._x.shape[0]:
            self._grow(self._n + 1)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1

    def extend(self, xs: npt.ArrayLike, ys: npt.ArrayLike) -> None:
        """Add many points at once (x and y of equal length)."""
        xa = np.asarray(xs, dtype=np.float64).ravel()
        ya = np.asarray(ys, dtype=np.float64).ravel()
        if xa.shape != ya.shape:
            raise ValueError(f"series {self.name!r}: x has {xa.size} values, y has {ya.size}")
        end = self._n + xa.size
        if end > self._x.shape[0]:
            self._grow(end)
        self._x[self._n : end] = xa
        self._y[self._n : end] = ya
        self._n = end

    def _grow(self, needed: int) -> None:
        cap = max(needed, 2 * self._x.shape[0], 16)
        for attr in ("_x", "_y"):
            old = getattr(self, attr)
            new = np.empty(cap, dtype=np.float64)
            new[: self._n] = old[: self._n]
            setattr(self, attr, new)

    @property
    def x(self) -> FloatArray:
        """A read-only view of the x values."""
        view = self._x[: self._n]
        view.flags.writeable = False
        return view

    @property
    def y(self) -> FloatArray:
        """A read-only view of the y values."""
        view = self._y[: self._n]
        view.flags.writeable = False
        return view

    @property
    def last_x(self) -> float:
        """The x of the last point (NaN when empty)."""
        return float(self._x[self._n - 1]) if self._n else math.nan

    def clear(self) -> None:
        """Forget every point (keeps the capacity)."""
        self._n = 0


class Throttle:
    """Lets an action through at most ``max_hz`` times a second.

    The window starts at the first call to :meth:`ready`, so a burst of appends
    produces its first message one interval later, not immediately.  The clock is
    injectable so tests can drive time by hand.
    """

    def __init__(self, max_hz: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not max_hz > 0:
            raise ValueError(f"max_hz must be > 0, got {max_hz!r}")
        self.interval = 1.0 / max_hz
        self._clock = clock
        self._last: float | None = None
        self.last_asked = -math.inf

    def ready(self) -> bool:
        """True when an interval has passed since the last :meth:`fire` (or first call)."""
        now = self.last_asked = self._clock()
        if self._last is None:
            self._last = now
            return False
        return now - self._last >= self.interval - 1e-9  # float clocks drift by ulps

    def fire(self) -> None:
        """Record that the action happened now."""
        self._last = self._clock()

    def restart(self) -> None:
        """Start a fresh window (used after a forced flush)."""
        self._last = None


def downsample_minmax(x: FloatArray, y: FloatArray, buckets: int) -> tuple[FloatArray, FloatArray]:
    """Keep each bucket's min and max point (in x order); a bucket with a NaN keeps a NaN.

    Returns the input unchanged when it already has at most ``2 * buckets`` points.
    """
    n = x.shape[0]
    if n <= 2 * buckets:
        return x.copy(), y.copy()
    per = -(-n // buckets)
    pad = per * buckets - n
    lo = np.concatenate([y, np.full(pad, np.inf)]).reshape(buckets, per)
    hi = np.concatenate([y, np.full(pad, -np.inf)]).reshape(buckets, per)
    base = np.arange(buckets) * per
    # argmin/argmax return the first NaN of a row, so gaps survive downsampling.
    imin = base + np.argmin(lo, axis=1)
    imax = base + np.argmax(hi, axis=1)
    idx = np.unique(np.concatenate([imin, imax]))
    idx = idx[idx < n]
    return x[idx], y[idx]


def _f64(values: FloatArray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


Scheduler = Callable[[float, Callable[[], None]], None]

WATCHDOG_PERIODS = 10.0
"""While a loop keeps appending, its own ticks send; the timer only checks in this many
intervals later (1 s at 10 Hz) in case the loop went quiet without calling finish()."""


class _TimerThread:
    """One daemon thread that runs callbacks at deadlines, for every stream in the process.

    Arming is cheap (a heap push and a notify), so a stream can re-arm ten times a
    second without creating threads.  ipykernel's iopub channel is thread-safe.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = 0
        self._thread: threading.Thread | None = None

    def __call__(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._count, fn))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fastwidgets-timer", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                _, _, fn = heapq.heappop(self._heap)
            with contextlib.suppress(Exception):  # a failed send must not kill the timer
                fn()


thread_timer = _TimerThread()


class SeriesStream:
    """Named series plus a throttled channel to the frontend.

    The one rule: at most one message per ``1/max_hz`` seconds, whatever happens.  A
    message is a delta of new points (``send``) or, when the widget's synced state changed
    or the snapshot is due, one state update (``on_state`` gets the fresh snapshot and
    applies it with any deferred traits in one sync).  Points that arrive while the
    throttle is closed are sent by a trailing timer, so the end of a fit, or a slow
    loop that stops logging, still reaches the browser within one interval.

    The snapshot is for a notebook reopened from its saved widget state (a page cannot
    fetch state while a cell runs).  It goes out at the end of a run (outside one, when
    the stream goes quiet) and in between at most every ``snapshot_every`` seconds: it
    is the costliest message (the whole history is downsampled), so the period is long.

    Nothing is sent while ``enabled`` is False (a plain script, or a torch.distributed
    rank other than 0), but the data is kept for the Python API.
    """

    def __init__(
        self,
        send: SendFn,
        on_state: SnapshotFn | None = None,
        *,
        max_hz: float = 10.0,
        snapshot_every: float = 10.0,
        snapshot_buckets: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        schedule: Scheduler | None = None,
    ) -> None:
        self._send = send
        self._on_state = on_state
        self._throttle = Throttle(max_hz, clock)
        self._watch_after = WATCHDOG_PERIODS * self._throttle.interval
        self._clock = clock
        self._schedule = schedule or thread_timer
        self.snapshot_every = snapshot_every
        self.snapshot_buckets = snapshot_buckets
        self._series: dict[str, Series] = {}
        self._sent: dict[str, int] = {}
        self._seq = 0
        self._last_snapshot: float | None = None
        self._snapshot_stale = False
        self._state_dirty = False
        self._last_was_state = False
        self._timer_due: float | None = None  # when the armed timer fires (None: unarmed)
        self._timer_gen = 0  # a timer armed earlier than this one is a no-op
        self._reset_next = False  # replace() happened: the next data message is a reset
        self._producing = False  # between begin() and finish(): more points will come
        # The trailing timer runs on another thread; appends and sends take turns.
        self._lock = threading.RLock()
        self.enabled = True

    # -- data -------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._series

    def __iter__(self) -> Iterator[Series]:
        return iter(list(self._series.values()))

    def __getitem__(self, name: str) -> Series:
        return self._series[name]

    @property
    def names(self) -> list[str]:
        """Series names in creation order."""
        return list(self._series)

    def series(self, name: str) -> Series:
        """The series called ``name``, created empty on first use."""
        s = self._series.get(name)
        if s is None:
            with self._lock:
                s = self._series[name] = Series(name)
                self._sent[name] = 0
        return s

    def append(self, name: str, x: float, y: float) -> None:
        """Append one point and send if the throttle allows."""
        with self._lock:
            self.series(name).append(x, y)
            self.tick()

    def append_row(self, x: float, values: Mapping[str, float]) -> None:
        """Append one point to each named series at the same x, then maybe send once."""
        with self._lock:
            for name, y in values.items():
                self.series(name).append(x, y)
            self.tick()

    def extend(self, name: str, xs: npt.ArrayLike, ys: npt.ArrayLike) -> None:
        """Append many points to one series, then maybe send."""
        with self._lock:
            self.series(name).extend(xs, ys)
            self.tick()

    def extend_rows(self, xs: npt.ArrayLike, columns: Mapping[str, npt.ArrayLike]) -> None:
        """Append many points to each named series at the same xs, then maybe send once
        (a buffered loop handing over what it collected: one delta, never half a row)."""
        xa = np.asarray(xs, dtype=np.float64).ravel()
        cols = {name: np.asarray(ys, dtype=np.float64).ravel() for name, ys in columns.items()}
        for name, ya in cols.items():  # all checked before any is extended
            if ya.shape != xa.shape:
                raise ValueError(f"series {name!r}: x has {xa.size} values, y has {ya.size}")
        with self._lock:
            for name, ya in cols.items():
                self.series(name).extend(xa, ya)
            self.tick()

    def due(self) -> bool:
        """Whether a send would go out now: enabled and the throttle open.  A loop that
        buffers its own values asks this to know when to hand them over."""
        return self.enabled and self._throttle.ready()

    def clear(self) -> None:
        """Drop every series and tell the frontend at once (a reset with no series)."""
        with self._lock:
            self._producing = False
            self._series.clear()
            self._sent.clear()
            if self.enabled:
                self._emit(self.reset_message())
            self.state_changed()

    def replace(self, data: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]) -> None:
        """Swap every series for ``data`` ({name: (xs, ys)}), sent as ONE reset message.

        For widgets that recompute a whole result (a trajectory) rather than append to
        it.  The throttle still holds: replacements faster than ``max_hz`` coalesce and the
        last one goes out within an interval.
        """
        with self._lock:
            self._series.clear()
            self._sent.clear()
            for name, (xs, ys) in data.items():
                self.series(name).extend(xs, ys)
            self._reset_next = True
            self.tick()
            # Nothing else may come (a slider let go): the timer sends the rest and then
            # the snapshot, as at the end of a fit.
            self._throttle.last_asked = -math.inf
            if self.pending or self._snapshot_stale:
                self._arm_timer()

    # -- sending ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """How many points are waiting to be sent (a pending empty reset counts as one)."""
        points = sum(len(s) - self._sent[n] for n, s in self._series.items())
        return points or int(self._reset_next)

    def state_changed(self) -> None:
        """The widget changed synced state (e.g. series metadata): send it on the next tick."""
        if self._on_state is None:
            return
        self._state_dirty = True
        self._snapshot_stale = True
        self._arm_timer()

    @property
    def settled(self) -> bool:
        """True when everything, data and state, has been sent."""
        return not (self.pending or self._snapshot_stale or self._state_dirty)

    def tick(self) -> None:
        """Send one message if the throttle is open, else make sure a timer will."""
        if not self.enabled:
            return
        if not self._throttle.ready():
            self._watch()
            return
        self._send_one()
        self._watch()  # the state may have gone first, the points still wait

    def _watch(self) -> None:
        """If the loop stops logging now, the timer still sends what is pending (a timer
        armed further out, for a snapshot during a run, would be too late)."""
        due = self._timer_due
        if due is not None and due <= self._throttle.last_asked + self._watch_after:
            return  # (checked first: `pending` adds up every series)
        if self._state_dirty or self.pending:
            self._arm_timer(WATCHDOG_PERIODS)

    def _send_one(self) -> None:
        with self._lock:
            now = self._clock()
            if self._last_snapshot is None:
                self._last_snapshot = now  # the first snapshot waits a full period
            # Quiet (nothing pending, no run announced): the snapshot goes at once, as the
            # data may be final.  During a run it keeps to its period.
            snapshot_due = self._snapshot_stale and (
                now - self._last_snapshot >= self.snapshot_every
                or not (self.pending or self._producing)
            )
            state_wanted = self._on_state is not None and (self._state_dirty or snapshot_due)
            # State and data take turns when both wait, so state that changes every step
            # (a progress bar) cannot starve the points, nor the points the state.
            # A replaced result goes before any state: the view is waiting to redraw.
            data_first = self._last_was_state or self._reset_next
            if state_wanted and not (self.pending and data_first):
                # During a run, changed state (a new series' metadata) goes alone: the
                # snapshot, the costliest message, keeps to its period.
                self.publish_state(snapshot=snapshot_due or not self._producing)
                self._last_was_state = True
            elif self.pending:
                self._emit(self.delta_message())
                self._last_was_state = False
            else:
                return
            self._throttle.fire()

    def _arm_timer(self, periods: float = 1.0) -> None:
        if not self.enabled:
            return
        due = self._clock() + periods * self._throttle.interval
        if self._timer_due is not None and self._timer_due <= due:
            return
        self._timer_due = due
        self._timer_gen += 1
        gen = self._timer_gen
        self._schedule(periods * self._throttle.interval, lambda: self._on_timer(gen))

    def _on_timer(self, gen: int) -> None:
        with self._lock:
            if gen != self._timer_gen:
                return  # superseded by an earlier deadline
            self._timer_due = None
            if not self.enabled:
                return
            if self._clock() - self._throttle.last_asked < self._throttle.interval:
                # The loop is still appending and its own ticks send: stay out of its way
                # (no wake-ups on the training thread's cores) and look again later.
                self._arm_timer(WATCHDOG_PERIODS)
                return
            if self._throttle.ready():
                self._send_one()
            if self.pending or self._state_dirty:
                self._arm_timer()
            elif self._snapshot_stale:
                self._arm_timer(self._snapshot_periods())

    def _snapshot_periods(self) -> float:
        """Intervals until a stale snapshot may go: one when the stream is quiet; during a
        run, the rest of its period (the timer thread need not wake up every interval)."""
        if not self._producing or self._last_snapshot is None:
            return 1.0
        left = self._last_snapshot + self.snapshot_every - self._clock()
        return max(1.0, left / self._throttle.interval)

    def flush(self) -> None:
        """Send every pending point now, bypassing the throttle (an explicit user call)."""
        with self._lock:
            if self.enabled and self.pending:
                self._emit(self.delta_message())
                self._throttle.fire()
            if self._snapshot_stale:
                self._arm_timer()

    def begin(self) -> None:
        """A run starts (a fit) and will end with :meth:`finish`.  Until then the
        snapshot keeps to ``snapshot_every`` even when every point has been sent: a
        producer that hands its points over in batches is not done between batches."""
        self._producing = True

    def finish(self) -> None:
        """End of a fit: what is pending, then the final snapshot, go out on the next ticks."""
        with self._lock:
            self._producing = False
            self._snapshot_stale = self._on_state is not None
            # The loop said it is done: the timer need not wait for it to go quiet.
            self._throttle.last_asked = -math.inf
            if self.pending or self._snapshot_stale:
                self._arm_timer()

    def handle_message(self, content: Mapping[str, Any]) -> None:
        """React to a message from the frontend (only ``resync`` for now)."""
        if content.get("type") == "resync" and self.enabled:
            with self._lock:
                self._emit(self.reset_message())

    def _emit(self, message: Message) -> None:
        content, buffers = message
        self._send(content, buffers)
        self._snapshot_stale = self._on_state is not None

    def delta_message(self) -> Message:
        """Build the delta of every series' unsent points and mark them sent (a reset
        instead, after :meth:`replace`)."""
        if self._reset_next:
            return self.reset_message()
        entries: list[dict[str, Any]] = []
        buffers: list[bytes] = []
        for name, s in self._series.items():
            start = self._sent[name]
            n = len(s)
            if n > start:
                entries.append({"name": name, "start": start, "count": n - start})
                buffers.append(_f64(s.x[start:n]))
                buffers.append(_f64(s.y[start:n]))
                self._sent[name] = n
        self._seq += 1
        return {"type": "delta", "seq": self._seq, "series": entries}, buffers

    def reset_message(self) -> Message:
        """Build a reset carrying the full data of every series."""
        self._reset_next = False
        entries: list[dict[str, Any]] = []
        buffers: list[bytes] = []
        for name, s in self._series.items():
            entries.append({"name": name, "start": 0, "count": len(s)})
            buffers.append(_f64(s.x))
            buffers.append(_f64(s.y))
            self._sent[name] = len(s)
        self._seq += 1
        return {"type": "reset", "seq": self._seq, "series": entries}, buffers

    def snapshot(self) -> dict[str, Any]:
        """A downsampled copy of every series, for the ``snapshot`` trait."""
        out = []
        for name, s in self._series.items():
            x, y = downsample_minmax(s.x, s.y, self.snapshot_buckets)
            out.append({"name": name, "total": len(s), "x": _f64(x), "y": _f64(y)})
        return {"version": PROTOCOL_VERSION, "series": out}

    def publish_state(self, snapshot: bool = True) -> None:
        """Give ``on_state`` the cue to sync deferred state, with a fresh snapshot (or
        None: the deferred state alone, the snapshot staying stale)."""
        # The dirty flag is cleared first, so state that another thread changes while
        # this one syncs goes next time; the stale one after, so `settled` waits for the
        # send.
        self._state_dirty = False
        if self._on_state is not None and self.enabled:
            self._on_state(self.snapshot() if snapshot else None)
        if snapshot:
            self._last_snapshot = self._clock()
            self._snapshot_stale = self._state_dirty
