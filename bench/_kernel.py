"""Run code in a real Jupyter kernel and keep every iopub message it publishes.

Benchmarks use it to measure what a notebook user pays: the widgets talk through the
kernel's real comm layer (ZMQ, message signing, the IOPub thread), and the client side
sees exactly the message stream a Jupyter Server would forward to the browser.

    from _kernel import Kernel

    with Kernel() as k:                      # starts the venv's python3 kernel
        k.run("import numpy as np")
        ex = k.run("print(1 + 1)", timeout=30)
        ex.stdout                           # '2\\n'
        ex.iopub                            # [IopubMsg(...), ...] stream, status, ...
        k.eval("np.arange(3).tolist()")     # [0, 1, 2], through user_expressions + JSON

Every wait has a deadline: a cell that runs past ``timeout`` is interrupted and raises
:class:`KernelTimeout`; the kernel is always shut down (and killed if it will not stop)
when the ``with`` block ends, on errors too, and at interpreter exit as a last resort.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import json
import queue
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


class KernelError(RuntimeError):
    """The cell raised; ``traceback`` holds the kernel's traceback text."""

    def __init__(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self.ename, self.evalue, self.traceback = ename, evalue, traceback
        super().__init__(f"{ename}: {evalue}\n" + _strip_ansi("\n".join(traceback)))


class KernelTimeout(TimeoutError):
    """A wait on the kernel ran past its deadline."""


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


@dataclass
class IopubMsg:
    """One iopub message as the client received it."""

    msg_type: str
    content: dict[str, Any]
    buffers: list[bytes]
    parent_id: str | None
    sent: float  # the kernel's header date, seconds since the epoch (time.time() scale)
    received: float  # the client's time.time() when it came off the socket
    json_bytes: int  # size of header + parent + metadata + content as JSON

    @property
    def buffer_bytes(self) -> int:
        return sum(len(b) for b in self.buffers)

    @property
    def size(self) -> int:
        """Approximate size on the wire (JSON parts + binary buffers, no signature)."""
        return self.json_bytes + self.buffer_bytes

    # -- comm helpers -------------------------------------------------------------------
    @property
    def comm_id(self) -> str | None:
        return self.content.get("comm_id") if self.msg_type.startswith("comm_") else None

    @property
    def comm_method(self) -> str | None:
        """ "custom" / "update" / ... for a widget ``comm_msg``, else None."""
        if self.msg_type != "comm_msg":
            return None
        data = self.content.get("data") or {}
        return data.get("method")

    @property
    def comm_payload(self) -> Any:
        """The custom message content (``data.content``) of a widget ``comm_msg``."""
        data = self.content.get("data") or {}
        return data.get("content")


@dataclass
class Execution:
    """What one ``run`` produced."""

    code: str
    msg_id: str
    started: float  # client time.time() just before the execute request was sent
    finished: float  # client time.time() when the kernel went idle
    reply: dict[str, Any]
    iopub: list[IopubMsg] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.reply.get("status"))

    @property
    def stdout(self) -> str:
        return "".join(
            m.content.get("text", "")
            for m in self.iopub
            if m.msg_type == "stream" and m.content.get("name") == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m.content.get("text", "")
            for m in self.iopub
            if m.msg_type == "stream" and m.content.get("name") == "stderr"
        )

    def between(self, t0: float, t1: float) -> list[IopubMsg]:
        """The messages the kernel sent within [t0, t1] (kernel ``time.time()`` scale)."""
        return [m for m in self.iopub if t0 <= m.sent <= t1]

    def user_expression(self, name: str) -> Any:
        """A user expression's value, evaluated as a Python literal from its text repr."""
        entry = self.reply.get("user_expressions", {}).get(name)
        if entry is None:
            raise KeyError(name)
        if entry.get("status") != "ok":
            raise KernelError(
                entry.get("ename", "?"), entry.get("evalue", ""), entry.get("traceback", [])
            )
        return ast.literal_eval(entry["data"]["text/plain"])


def _json_size(msg: dict[str, Any]) -> int:
    parts = (msg.get("header"), msg.get("parent_header"), msg.get("metadata"), msg.get("content"))
    return sum(len(json.dumps(p, default=str, separators=(",", ":"))) for p in parts)


def _as_epoch(date: Any, fallback: float) -> float:
    try:
        return float(date.timestamp())
    except AttributeError:
        return fallback


class Kernel:
    """A Jupyter kernel started with jupyter_client's KernelManager (default: the
    kernelspec ``python3``, which jupyter_client runs with this interpreter)."""

    def __init__(
        self,
        kernel_name: str = "python3",
        *,
        startup_timeout: float = 90.0,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self.cwd = cwd
        self.env = env
        self.km: KernelManager | None = None
        self.kc: Any = None
        self.stray: list[IopubMsg] = []  # messages that arrived between executions

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> Kernel:
        self.km = KernelManager(kernel_name=self.kernel_name)
        atexit.register(self.shutdown)
        kwargs: dict[str, Any] = {}
        if self.cwd is not None:
            kwargs["cwd"] = self.cwd
        if self.env is not None:
            kwargs["env"] = self.env
        self.km.start_kernel(**kwargs)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=self.startup_timeout)
        except RuntimeError as err:
            self.shutdown()
            raise KernelTimeout(f"kernel not ready after {self.startup_timeout} s: {err}") from err
        self.drain()
        return self

    def shutdown(self) -> None:
        """Stop the channels and the kernel; kill it if it does not stop in a few seconds.
        Safe to call twice."""
        kc, km = self.kc, self.km
        self.kc = self.km = None
        if kc is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                kc.stop_channels()
        if km is not None:
            try:
                if km.is_alive():
                    km.shutdown_kernel(now=False)  # waits shutdown_wait_time, then kills
            except Exception:  # noqa: BLE001
                with contextlib.suppress(Exception):
                    km.shutdown_kernel(now=True)
            with contextlib.suppress(Exception):
                km.cleanup_resources()

    def __enter__(self) -> Kernel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- running code -------------------------------------------------------------------
    def _wrap(self, msg: dict[str, Any]) -> IopubMsg:
        now = time.time()
        return IopubMsg(
            msg_type=msg["msg_type"],
            content=msg.get("content", {}),
            buffers=[bytes(b) for b in msg.get("buffers", [])],
            parent_id=(msg.get("parent_header") or {}).get("msg_id"),
            sent=_as_epoch(msg.get("header", {}).get("date"), now),
            received=now,
            json_bytes=_json_size(msg),
        )

    def drain(self, wait: float = 0.0) -> list[IopubMsg]:
        """Collect iopub messages already waiting (or arriving within ``wait`` s)."""
        got: list[IopubMsg] = []
        deadline = time.monotonic() + wait
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                got.append(self._wrap(self.kc.get_iopub_msg(timeout=left or 0.01)))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    break
        self.stray.extend(got)
        return got

    def run(
        self,
        code: str,
        *,
        timeout: float = 300.0,
        allow_errors: bool = False,
        user_expressions: dict[str, str] | None = None,
    ) -> Execution:
        """Execute ``code``; return its reply and every iopub message up to the kernel's
        idle status.  Raises KernelError if the cell failed (unless ``allow_errors``) and
        KernelTimeout (after interrupting the kernel) if it ran past ``timeout``."""
        if self.kc is None:
            raise RuntimeError("kernel not started")
        self.drain()
        started = time.time()
        msg_id = self.kc.execute(
            code, store_history=True, allow_stdin=False, user_expressions=user_expressions or {}
        )
        deadline = time.monotonic() + timeout
        iopub: list[IopubMsg] = []
        idle = False
        while not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                self._interrupt()
                raise KernelTimeout(f"cell ran past {timeout} s:\n{code[:300]}")
            try:
                raw = self.kc.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if self.km is None or not self.km.is_alive():
                    raise RuntimeError("the kernel died") from None
                continue
            m = self._wrap(raw)
            iopub.append(m)
            if (
                m.msg_type == "status"
                and m.parent_id == msg_id
                and m.content.get("execution_state") == "idle"
            ):
                idle = True
        finished = time.time()
        reply = self._reply(msg_id, deadline)
        ex = Execution(code, msg_id, started, finished, reply.get("content", {}), iopub)
        if ex.status != "ok" and not allow_errors:
            c = ex.reply
            raise KernelError(c.get("ename", "?"), c.get("evalue", ""), c.get("traceback", []))
        return ex

    def _reply(self, msg_id: str, deadline: float) -> dict[str, Any]:
        while True:
            left = max(1.0, deadline - time.monotonic())
            try:
                reply = self.kc.get_shell_msg(timeout=left)
            except queue.Empty:
                raise KernelTimeout("no execute_reply from the kernel") from None
            if (reply.get("parent_header") or {}).get("msg_id") == msg_id:
                return dict(reply)

    def _interrupt(self) -> None:
        if self.km is None:
            return
        try:
            self.km.interrupt_kernel()
            self.drain(wait=2.0)
        except Exception:  # noqa: BLE001 - the caller raises the timeout anyway
            pass

    def eval(self, expression: str, *, timeout: float = 60.0) -> Any:
        """The value of ``expression`` in the kernel, sent back as JSON."""
        ex = self.run(
            "", timeout=timeout, user_expressions={"v": f"__import__('json').dumps({expression})"}
        )
        return json.loads(ex.user_expression("v"))


# The kernel-side setup both fastai benchmarks share (format with bs, hidden,
# train_batches, valid_batches): generated data, pre-batched so a step costs what fastai's
# loop costs and not per-item collation, on one torch thread for stable timings.
TINY_DATA_SETUP = """
import torch
from torch import nn
torch.set_num_threads(1)
get_ipython().run_line_magic("matplotlib", "inline")
import fastai.callback.all  # noqa: F401 - patches lr_find, no_bar, ShowGraphCallback, ...
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.metrics import accuracy

_BS, _HIDDEN = {bs}, {hidden}
_g = torch.Generator().manual_seed(0)
_x = torch.randn(_BS * ({train_batches} + {valid_batches}), 64, generator=_g)
_noise = 0.5 * torch.randn(len(_x), 10, generator=_g)
_y = (_x @ torch.randn(64, 10, generator=_g) + _noise).argmax(1)
_batches = [(_x[i:i + _BS], _y[i:i + _BS]) for i in range(0, len(_x), _BS)]
_train, _valid = _batches[:{train_batches}], _batches[{train_batches}:]
"""
