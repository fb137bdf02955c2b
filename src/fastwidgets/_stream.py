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

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Message = tuple[dict[str, Any], list[bytes]]
SendFn = Callable[[dict[str, Any], list[bytes]], None]
SnapshotFn = Callable[[dict[str, Any]], None]

PROTOCOL_VERSION = 1


def as_float(series: str, value: object) -> float:
    """Convert one logged value to float, or raise a ``TypeError`` naming the series.

    Accepts Python and numpy numbers and one-element tensors/arrays (via ``__float__``);
    NaN and infinities are kept: the chart shows them instead of hiding a broken run.
    """
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(
            f"series {series!r}: expected a number, got {type(value).__name__} {value!r}"
        )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
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

    def ready(self) -> bool:
        """True when an interval has passed since the last :meth:`fire` (or first call)."""
        now = self._clock()
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


class SeriesStream:
    """Named series plus a throttled delta channel to the frontend.

    ``send`` delivers one custom message (content, buffers); ``on_snapshot`` stores the
    snapshot dict in a synced trait.  Both are skipped while ``enabled`` is False (for
    example on a non-zero torch.distributed rank), but the data is still kept.
    """

    def __init__(
        self,
        send: SendFn,
        on_snapshot: SnapshotFn | None = None,
        *,
        max_hz: float = 10.0,
        snapshot_every: float = 2.0,
        snapshot_buckets: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._on_snapshot = on_snapshot
        self._throttle = Throttle(max_hz, clock)
        self._clock = clock
        self.snapshot_every = snapshot_every
        self.snapshot_buckets = snapshot_buckets
        self._series: dict[str, Series] = {}
        self._sent: dict[str, int] = {}
        self._seq = 0
        self._last_snapshot = -math.inf
        self._snapshot_stale = False
        self.enabled = True

    # -- data -------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._series

    def __iter__(self) -> Iterator[Series]:
        return iter(self._series.values())

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
            s = self._series[name] = Series(name)
            self._sent[name] = 0
        return s

    def append(self, name: str, x: float, y: float) -> None:
        """Append one point and flush if the throttle allows."""
        self.series(name).append(x, y)
        self.tick()

    def append_row(self, x: float, values: Mapping[str, float]) -> None:
        """Append one point to each named series at the same x, then maybe flush once."""
        for name, y in values.items():
            self.series(name).append(x, y)
        self.tick()

    def extend(self, name: str, xs: npt.ArrayLike, ys: npt.ArrayLike) -> None:
        """Append many points to one series, then maybe flush."""
        self.series(name).extend(xs, ys)
        self.tick()

    def clear(self) -> None:
        """Drop every series and tell the frontend (a reset with no series)."""
        self._series.clear()
        self._sent.clear()
        if self.enabled:
            self._emit(self.reset_message())
        self._snapshot_stale = True
        self.publish_snapshot()

    # -- sending ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """How many points are waiting to be sent."""
        return sum(len(s) - self._sent[n] for n, s in self._series.items())

    def tick(self) -> None:
        """Send at most one message if an interval has passed: the snapshot when it is
        due, else the delta (which then waits one more interval; nothing is lost)."""
        if not self.enabled or not self._throttle.ready():
            return
        if self.pending == 0:
            return
        now = self._clock()
        if self._last_snapshot == -math.inf:
            self._last_snapshot = now  # the first snapshot waits a full period
        if self._on_snapshot is not None and now - self._last_snapshot >= self.snapshot_every:
            self.publish_snapshot()
        else:
            self._emit(self.delta_message())
        self._throttle.fire()

    def flush(self) -> None:
        """Send everything pending now, ignoring the throttle (end of a fit, close)."""
        if self.enabled and self.pending:
            self._emit(self.delta_message())
        self._throttle.restart()

    def finish(self) -> None:
        """Flush, then refresh the snapshot so a reload shows the final curve."""
        self.flush()
        if self._snapshot_stale:
            self.publish_snapshot()

    def handle_message(self, content: Mapping[str, Any]) -> None:
        """React to a message from the frontend (only ``resync`` for now)."""
        if content.get("type") == "resync" and self.enabled:
            self._emit(self.reset_message())

    def _emit(self, message: Message) -> None:
        content, buffers = message
        self._send(content, buffers)
        self._snapshot_stale = True

    def delta_message(self) -> Message:
        """Build the delta of every series' unsent points and mark them sent."""
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

    def publish_snapshot(self) -> None:
        """Store a fresh snapshot through ``on_snapshot`` (when enabled)."""
        self._last_snapshot = self._clock()
        if self._on_snapshot is not None and self.enabled:
            self._on_snapshot(self.snapshot())
            self._snapshot_stale = False
