"""LiveCurve: the training curve, drawn live while a model trains."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import traitlets

from ._base import StreamWidget, bundle
from ._smoothing import ema_debiased
from ._stream import as_float
from .integrations.fastai import CallbackProxy

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

EPOCH_SERIES = "_epoch"
"""Hidden series of epoch boundaries: x = last iteration of the epoch, y = epoch index."""


def _step_panel(name: str) -> str:
    low = name.lower()
    if low == "lr" or low.startswith("lr_") or low.startswith("lr/"):
        return "lr"
    if low in ("mom", "momentum", "beta1", "beta"):
        return "mom"
    return "loss"


def _epoch_panel(name: str) -> str:
    return "loss" if "loss" in name.lower() else "metric"


def _column(name: str, values: Any) -> npt.NDArray[np.float64]:
    """One column of :meth:`LiveCurve.log_many` as float64: numbers, arrays, or tensors
    (on any device, with or without grad), else a ``TypeError`` naming the series."""
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError, RuntimeError):
        pass
    try:
        return _host_floats(values, name)
    except (TypeError, ValueError) as err:
        raise TypeError(f"series {name!r}: expected numbers") from err


def _host_floats(values: Any, name: str = "train_loss") -> npt.NDArray[np.float64]:
    """Values (tensors, usually on the training device, or numbers) as float64: the
    tensors stacked (detached) and copied to the host at once."""
    items = list(values)
    if items and type(items[0]) is float:  # a CPU fit's losses, read as they came
        with contextlib.suppress(TypeError, ValueError):
            return np.fromiter(items, np.float64, len(items))
    try:
        import torch

        # fastai's loss is 0-d: stacked, one value each (else not one number per step)
        stacked = torch.stack(items).detach().reshape(-1)
        if stacked.numel() == len(items):
            return np.asarray(stacked.to("cpu", torch.float64).numpy(), dtype=np.float64)
    except (ImportError, RuntimeError, TypeError):  # not tensors, shapes or devices differ
        pass
    return np.array([as_float(name, v) for v in items], np.float64)


def _format_time(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


class LiveCurve(CallbackProxy, StreamWidget):
    """The training curve, live: loss per batch, validation and metrics per epoch, LR.

    Use it as a fastai callback (``learn.fit_one_cycle(3, 3e-3, cbs=LiveCurve())``) or
    from any loop with :meth:`log`, :meth:`log_epoch` and :meth:`close`.  Zoom, log
    scale and smoothing happen in the browser and never wait for the kernel.  Outside a
    notebook it prints one line per epoch instead of drawing.
    """

    _esm = bundle("curve")

    series_meta = traitlets.Dict().tag(sync=True)
    phases: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    smoothing = traitlets.Float(0.6, min=0.0, max=0.999).tag(sync=True)
    log_y = traitlets.Bool(False).tag(sync=True)
    height = traitlets.Int(420, min=120).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        title: str = "",
        *,
        smoothing: float = 0.6,
        log_y: bool = False,
        height: int = 420,
        max_hz: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            title=title, smoothing=smoothing, log_y=log_y, height=height, max_hz=max_hz, **kwargs
        )
        self._last_step = -math.inf
        self._warned_backwards = False
        self._epoch_rows: list[dict[str, float]] = []
        self._printed_header: list[str] | None = None
        self._epoch_started = time.monotonic()
        self._epoch_first_step = 0
        self.print_epochs = True
        self._meta: dict[str, dict[str, str]] = {}
        # (step, loss, lr, mom) rows the fastai callback collected since its last hand-over:
        # the loss stays a tensor until then (no conversion per step), see `_drain`.  The
        # list object never changes (the training thread appends while another may drain).
        self._rows: list[tuple[int, Any, Any, Any]] = []
        self._drain_lock = threading.Lock()

    # -- logging ------------------------------------------------------------------------

    def log(self, step: float, **values: object) -> None:
        """Record per-step values (``train_loss=``, ``lr=``, ``mom=``, any other name).

        A new name becomes a new series.  Non-finite values are kept and drawn as gaps
        with a marker; a non-numeric value raises ``TypeError`` naming the series.
        """
        x = as_float("step", step)
        row = {name: as_float(name, v) for name, v in values.items()}
        self._drain()
        self._check_order(x, x, stacklevel=3)
        self._declare(row, per="step")
        self._stream.append_row(x, row)

    def log_many(self, steps: npt.ArrayLike, **columns: npt.ArrayLike) -> None:
        """Record several steps at once: ``steps`` and every column (``train_loss=``,
        ``lr=``, ...) are sequences of the same length.  For a loop that collects its
        values and hands them over now and then; one message carries them all.
        """
        x = np.asarray(steps, dtype=np.float64).ravel()
        cols: dict[str, npt.NDArray[np.float64]] = {}
        for name, values in columns.items():
            cols[name] = _column(name, values)
            if cols[name].shape != x.shape:
                raise ValueError(f"series {name!r}: {cols[name].size} values for {x.size} steps")
        self._drain()
        with self._drain_lock:
            self._log_rows(x, cols, stacklevel=5)

    def _log_rows(
        self,
        x: npt.NDArray[np.float64],
        cols: dict[str, npt.NDArray[np.float64]],
        stacklevel: int = 4,
    ) -> None:
        if not x.size:
            return
        finite = x[np.isfinite(x)]
        if finite.size:
            down = np.flatnonzero(np.diff(finite) < 0)
            if down.size:  # backwards within the batch: that pair is the one to name
                self._check_order(
                    float(finite[down[0] + 1]),
                    float(finite.max()),
                    float(finite[down[0]]),
                    stacklevel=stacklevel,
                )
            else:
                self._check_order(float(finite[0]), float(finite.max()), stacklevel=stacklevel)
        self._declare(dict.fromkeys(cols, 0.0), per="step")
        self._stream.extend_rows(x, cols)

    def _check_order(
        self, first: float, last: float, before: float | None = None, *, stacklevel: int
    ) -> None:
        """Warn once when steps go backwards (``first`` after ``before``, by default the
        highest step so far); ``last`` is the highest step just logged."""
        before = self._last_step if before is None else before
        if first < before and not self._warned_backwards:
            self._warned_backwards = True
            warnings.warn(
                f"LiveCurve: step went backwards ({first} after {before}); "
                "the curve expects increasing steps",
                stacklevel=stacklevel,
            )
        self._last_step = max(self._last_step, last)

    def _drain(self) -> None:
        """Hand the fastai callback's collected rows to the stream (one device-to-host
        copy for all their losses).  Rows leave the buffer only once converted, and in
        place: a row the training thread appends meanwhile waits for the next drain."""
        if not self._rows:
            return
        with self._drain_lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        n = len(self._rows)
        if not n:
            return
        step_col, losses, lrs, moms = zip(*self._rows[:n], strict=True)
        steps = np.fromiter(step_col, np.float64, n)
        cols = {"train_loss": _host_floats(losses)}
        for name, values in (("lr", lrs), ("mom", moms)):
            try:  # plain floats, the usual case
                cols[name] = np.fromiter(values, np.float64, n)
            except TypeError:  # None where a param group has no such hyper, or tensors
                if any(v is not None for v in values):
                    cols[name] = np.array(
                        [math.nan if v is None else as_float(name, v) for v in values], np.float64
                    )
        del self._rows[:n]
        # the callback counts its steps up, so the order check needs only the first
        self._check_order(float(steps[0]), float(steps[-1]), stacklevel=3)
        self._declare(dict.fromkeys(cols, 0.0), per="step")
        self._stream.extend_rows(steps, cols)

    def log_epoch(self, epoch: int, **values: object) -> None:
        """Record per-epoch values (``valid_loss=``, metrics) at the epoch's last step."""
        epoch_f = as_float("epoch", epoch)
        row = {self._epoch_name(n): as_float(n, v) for n, v in values.items()}
        self._drain()
        x = self._last_step if self._last_step > -math.inf else epoch_f
        self._declare({EPOCH_SERIES: epoch_f, **row}, per="epoch")
        self._stream.append_row(x, {EPOCH_SERIES: epoch_f, **row})
        self._text_line(int(epoch_f), {n: float(v) for n, v in row.items()})

    def mark_phase(self, label: str, step: float | None = None) -> None:
        """Start a named phase (fastai's "frozen"/"unfrozen") at ``step`` (default: now)."""
        self._drain()
        x = step if step is not None else max(self._last_step + 1, 0.0)
        self.phases = [*self.phases, {"x": float(x), "label": str(label)}]

    def flush(self) -> None:
        """Send what is pending to the browser now."""
        self._drain()
        self._stream.flush()

    def close(self) -> None:
        """End of training: send everything and store the final snapshot.

        Unlike ``ipywidgets.Widget.close`` the chart stays on screen; use
        :meth:`close_widget` to tear the widget down.
        """
        self._drain()
        self._stream.finish()

    def close_widget(self) -> None:
        """Close the widget's comm (it disappears from the notebook)."""
        super().close()

    def __del__(self) -> None:
        # At interpreter shutdown the comm layer may already be gone: nothing to tell.
        with contextlib.suppress(Exception):
            super().close()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A chart is not part of a model: `learn.export()` pickles the learner with its
        # callbacks, and the exported learner gets a fresh, empty curve.
        return (LiveCurve, (self.title,))

    def __enter__(self) -> LiveCurve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading back -------------------------------------------------------------------

    @property
    def epochs_logged(self) -> int:
        """How many epochs :meth:`log_epoch` has recorded."""
        return len(self._stream[EPOCH_SERIES]) if EPOCH_SERIES in self._stream else 0

    @property
    def history(self) -> pd.DataFrame:
        """Every logged value as a DataFrame: one row per step, one column per series.

        Per-epoch values sit on the row of the epoch's last step; ``epoch`` tells which
        epoch each row belongs to (NaN before the first epoch ends in a plain loop).
        """
        import pandas as pd

        self._drain()
        columns: dict[str, pd.Series] = {}
        for s in self._stream:
            if s.name == EPOCH_SERIES or len(s) == 0:
                continue
            col = pd.Series(np.array(s.y), index=np.array(s.x), name=s.name)
            columns[s.name] = col[~col.index.duplicated(keep="last")]
        frame = pd.concat(columns.values(), axis=1) if columns else pd.DataFrame()
        frame = frame.sort_index()
        frame.index.name = "step"
        frame = frame.reset_index()
        if EPOCH_SERIES in self._stream and len(self._stream[EPOCH_SERIES]):
            ends = np.array(self._stream[EPOCH_SERIES].x)
            epochs = np.array(self._stream[EPOCH_SERIES].y)
            pos = np.searchsorted(ends, frame["step"].to_numpy(), side="left")
            known = pos < len(epochs)
            frame.insert(
                1, "epoch", np.where(known, epochs[np.minimum(pos, len(epochs) - 1)], np.nan)
            )
        return frame

    def to_csv(self, path: str | Path) -> Path:
        """Write :attr:`history` to ``path`` as CSV and return the path."""
        out = Path(path)
        self.history.to_csv(out, index=False)
        return out

    def to_figure(self) -> go.Figure:
        """The same chart as a ``plotly.graph_objects.Figure`` (for HTML/PNG export)."""
        from plotly.subplots import make_subplots

        self._drain()
        fig = make_subplots(
            rows=2,
            cols=1,
            shared_xaxes=True,
            row_heights=[0.7, 0.3],
            vertical_spacing=0.06,
            specs=[[{"secondary_y": True}], [{"secondary_y": True}]],
        )
        meta = self._meta
        for s in self._stream:
            info = meta.get(s.name)
            if info is None or s.name == EPOCH_SERIES or len(s) == 0:
                continue
            x, y = np.array(s.x), np.array(s.y)
            panel, per = info["panel"], info["per"]
            row = 2 if panel in ("lr", "mom") else 1
            secondary = panel in ("metric", "mom")
            if per == "step" and panel == "loss":
                fig.add_scatter(
                    x=x,
                    y=y,
                    name=f"{s.name} (raw)",
                    opacity=0.25,
                    line={"width": 1},
                    showlegend=False,
                    row=row,
                    col=1,
                )
                fig.add_scatter(x=x, y=ema_debiased(y, self.smoothing), name=s.name, row=row, col=1)
            elif per == "epoch":
                fig.add_scatter(
                    x=x,
                    y=y,
                    name=s.name,
                    mode="lines+markers",
                    row=row,
                    col=1,
                    secondary_y=secondary,
                )
            else:
                fig.add_scatter(x=x, y=y, name=s.name, row=row, col=1, secondary_y=secondary)
        if EPOCH_SERIES in self._stream:
            for end in np.array(self._stream[EPOCH_SERIES].x):
                fig.add_vline(x=float(end), line={"dash": "dot", "width": 1, "color": "#999"})
        for i, phase in enumerate(self.phases):
            stop = self.phases[i + 1]["x"] if i + 1 < len(self.phases) else None
            if stop is None:
                stop = max((float(s.x[-1]) for s in self._stream if len(s)), default=phase["x"])
            fig.add_vrect(
                x0=phase["x"],
                x1=stop,
                fillcolor="#888",
                opacity=0.08,
                line_width=0,
                annotation_text=phase["label"],
                annotation_position="top left",
            )
        fig.update_yaxes(
            title_text="loss",
            type="log" if self.log_y else "linear",
            row=1,
            col=1,
            secondary_y=False,
        )
        fig.update_yaxes(title_text="lr", row=2, col=1, secondary_y=False)
        fig.update_xaxes(title_text="iteration", row=2, col=1)
        fig.update_layout(
            title=self.title or None, height=self.height, legend={"orientation": "h", "y": 1.08}
        )
        return fig

    # -- internals ----------------------------------------------------------------------

    def _epoch_name(self, name: str) -> str:
        info = self._meta.get(name)
        return f"{name} (epoch)" if info is not None and info["per"] == "step" else name

    def _declare(self, row: dict[str, float], per: str) -> None:
        meta = self._meta
        if all(name in meta for name in row):
            return
        for name in row:
            if name not in meta:
                panel = _step_panel(name) if per == "step" else _epoch_panel(name)
                meta[name] = {"panel": panel, "per": per}
        self._defer_state()

    def _deferred_state(self) -> dict[str, Any]:
        return {"series_meta": dict(self._meta)}

    def _text_line(self, epoch: int, values: dict[str, float]) -> None:
        """Print fastai's table row when there is no chart to draw."""
        if self.live or not self._main or not self.print_epochs:
            return
        row: dict[str, str] = {"epoch": str(epoch)}
        if "train_loss" in self._stream and "train_loss" not in values:
            s = self._stream["train_loss"]
            recent = np.array(s.y[self._epoch_first_step :])
            finite = recent[np.isfinite(recent)]
            row["train_loss"] = f"{finite.mean():.6f}" if finite.size else "nan"
            self._epoch_first_step = len(s)
        for name, value in values.items():
            row[name] = f"{value:.6f}"
        now = time.monotonic()
        row["time"] = _format_time(now - self._epoch_started)
        self._epoch_started = now
        names = list(row)
        if self._printed_header != names:
            self._printed_header = names
            print("  ".join(f"{n:<12}" for n in names).rstrip(), file=sys.stdout)
        print("  ".join(f"{row[n]:<12}" for n in names).rstrip(), file=sys.stdout, flush=True)
