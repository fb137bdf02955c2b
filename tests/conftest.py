"""Shared fixtures: a recording comm that stands in for the kernel's comm layer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets.comm
import pytest
from comm.base_comm import BaseComm

from fastwidgets import _env


class RecordingComm(BaseComm):
    """A comm that keeps every message the widget publishes, as the kernel would send it."""

    def __init__(self, **kwargs: Any) -> None:
        self.published: list[tuple[str, dict[str, Any], list[bytes]]] = []
        super().__init__(**kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        self.published.append((msg_type, data or {}, [bytes(b) for b in buffers or []]))

    # -- helpers for tests --
    def custom(self) -> list[tuple[dict[str, Any], list[bytes]]]:
        """The custom (delta/reset) messages, in order."""
        return [
            (d["content"], b)
            for t, d, b in self.published
            if t == "comm_msg" and d.get("method") == "custom"
        ]

    def updates(self) -> list[dict[str, Any]]:
        """The trait updates (state syncs), in order."""
        return [
            d["state"]
            for t, d, _ in self.published
            if t == "comm_msg" and d.get("method") == "update"
        ]

    def receive(self, content: dict[str, Any]) -> None:
        """Deliver a custom message from the browser to the widget."""
        self.handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )


@dataclass
class Kernel:
    comms: list[RecordingComm] = field(default_factory=list)

    def settle(self, widget: Any, timeout: float = 5.0) -> None:
        """Wait until the widget's trailing timer has sent everything (data and state)."""
        deadline = time.monotonic() + timeout
        while not widget._stream.settled:
            assert time.monotonic() < deadline, "the stream never settled"
            time.sleep(0.01)

    @property
    def comm(self) -> RecordingComm:
        return self.comms[-1]


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Kernel]:
    """Pretend to run inside a Jupyter kernel whose comms record every message."""
    k = Kernel()

    def create_comm(**kwargs: Any) -> RecordingComm:
        c = RecordingComm(**kwargs)
        k.comms.append(c)
        return c

    monkeypatch.setattr(ipywidgets.comm, "create_comm", create_comm)
    monkeypatch.setattr(_env, "in_kernel", lambda: True)
    yield k


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty dataset root for the cleaner's file tests (a subfolder, so "outside the
    root" has somewhere to be)."""
    r = tmp_path / "data"
    r.mkdir()
    return r
