"""The widget base shared by every fastwidgets widget: an anywidget fed by a SeriesStream."""

from __future__ import annotations

import base64
import gzip
import pathlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anywidget
import traitlets

from . import _env
from ._stream import SeriesStream

STATIC = pathlib.Path(__file__).parent / "static"


_MISSING_ESM = """
export default { render({ el }) {
  el.textContent = "fastwidgets: the frontend bundle %s is missing; run `make lab` "
    + "(or `pip install -e .`, which runs the js/ build).";
} };
"""


def bundle(name: str) -> pathlib.Path | str:
    """The built frontend bundle for a widget.

    A source checkout without a JS build still imports: the widget then says in the
    notebook what to run, instead of ``import fastwidgets`` failing.
    """
    path = STATIC / f"{name}.js"
    if path.exists():
        return path
    return _MISSING_ESM % name


_PACKED = re.compile(r'"(H4sI[A-Za-z0-9+/]*={0,2})"')  # base64 of gzip's magic 1f 8b 08


def unpacked_bundle(text: str) -> str:
    """The JS a bundle file runs in the browser: the file itself, or, for a large bundle
    that js/build.mjs gzipped into a loader module, the source packed inside it."""
    match = _PACKED.search(text)
    if match is None:
        return text
    return gzip.decompress(base64.b64decode(match.group(1))).decode("utf-8")


class StreamWidget(anywidget.AnyWidget):
    """An anywidget whose series flow through one throttled :class:`SeriesStream`.

    Subclasses set ``_esm`` and call ``self._stream.append...``; they never write their
    own throttle, buffer or serializer.  Outside a kernel, and on torch.distributed ranks
    other than 0, nothing is sent (the data is still kept for the Python API).
    """

    snapshot = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    _fw_id = traitlets.Unicode(
        help="A stable id for the frontend's per-model state (anywidget gives each view "
        "its own model proxy object, so the proxy cannot be the key)."
    ).tag(sync=True)
    max_hz = traitlets.Float(10.0, help="Most messages per second sent to the browser.")

    def __init__(self, *, max_hz: float = 10.0, **kwargs: Any) -> None:
        super().__init__(max_hz=max_hz, **kwargs)
        self._main = _env.is_main_process()
        self._live = _env.in_kernel() and self._main
        self._displayed_in: int | None = None
        self._stream = SeriesStream(self._send_message, self._store_snapshot, max_hz=max_hz)
        self._stream.enabled = self._live
        self._progress: dict[str, Any] | None = None
        self._progress_t0 = 0.0
        self.on_msg(self._on_frontend_message)

    # The stream's timer thread syncs state (snapshot, progress) while the kernel thread
    # may be syncing too; ipywidgets' pending-state set is not thread-safe, so every sync
    # goes through one lock.  Neither side takes the stream's lock while holding it.
    @property
    def _sync_guard(self) -> threading.RLock:
        lock: threading.RLock | None = self.__dict__.get("_sync_lock_obj")
        if lock is None:
            lock = self.__dict__.setdefault("_sync_lock_obj", threading.RLock())
        assert lock is not None
        return lock

    @contextmanager
    def hold_sync(self) -> Iterator[None]:
        """ipywidgets' ``hold_sync`` (many traits, one message), safe across threads."""
        with self._sync_guard, super().hold_sync():
            yield

    def _should_send_property(self, key: str, value: Any) -> Any:
        with self._sync_guard:
            return super()._should_send_property(key, value)

    def send_state(self, key: Any = None) -> None:
        """ipywidgets' ``send_state``, under the widget's sync lock."""
        with self._sync_guard:
            super().send_state(key)

    @traitlets.default("_fw_id")
    def _new_id(self) -> str:
        return uuid.uuid4().hex

    def open(self) -> None:
        """Open the comm, except on torch.distributed ranks other than 0 (they stay silent)."""
        if _env.is_main_process():
            super().open()

    def _send_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.send(content, buffers=buffers)

    def _store_snapshot(self, snapshot: dict[str, Any] | None) -> None:
        # One state message: the snapshot (None: not this time) plus whatever synced
        # traits were held back.
        with self.hold_sync():
            for name, value in self._deferred_state().items():
                setattr(self, name, value)
            if snapshot is not None:
                self.snapshot = snapshot

    def _progress_start(self, total: int | None) -> None:
        """A progress bar (done, total, ETA) that goes out with the throttled state."""
        self._progress_t0 = time.monotonic()
        self._progress = {"done": 0, "total": total, "eta": None, "state": "running"}

    def _progress_update(self, done: int, total: int | None = None) -> None:
        assert self._progress is not None
        total = self._progress["total"] if total is None else total
        rate = (time.monotonic() - self._progress_t0) / done if done else None
        eta = rate * (total - done) if rate is not None and total is not None else None
        self._progress = {"done": done, "total": total, "eta": eta, "state": "running"}
        self._defer_state()

    def _progress_end(self, done: int, total: int | None, state: str = "done") -> None:
        self._progress = {"done": done, "total": total, "eta": 0.0, "state": state}

    def _deferred_state(self) -> dict[str, Any]:
        """Synced traits that change while streaming; sent with the next state tick
        instead of at once, so they share the throttle's one-message-per-interval."""
        return {}

    def _defer_state(self) -> None:
        """Call after changing what :meth:`_deferred_state` returns."""
        if self._live:
            self._stream.state_changed()
        else:
            for name, value in self._deferred_state().items():
                setattr(self, name, value)

    def _on_frontend_message(self, _widget: Any, content: Any, _buffers: list[Any]) -> None:
        if isinstance(content, dict):
            self._stream.handle_message(content)

    @property
    def live(self) -> bool:
        """True when this widget draws in a notebook (a kernel and rank 0)."""
        return self._live

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._displayed_in = _env.execution_count()
        return super()._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        # IPython asks this before any repr: a widget that showed itself while the cell
        # ran (a progress bar, a live curve) is not shown a second time when the cell
        # ends with its name, as `cleaner = ImageCleaner.from_learner(learn); cleaner`.
        count = _env.execution_count()
        if self._displayed_in is not None and self._displayed_in == count:
            return
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
        display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]

    def show(self) -> None:
        """Display the widget once per cell (a later cell gets a second, shared view)."""
        if self._live:
            self._ipython_display_()
