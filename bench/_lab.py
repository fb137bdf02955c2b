"""JupyterLab for the browser benchmarks: the browser tests' own server (not a copy),
optionally with TCP_NODELAY on its websockets."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class _TmpFactory:
    """What the browser harness's ``lab_server`` fixture needs of pytest's
    ``tmp_path_factory``: ``mktemp(name)``; everything under one folder removed after."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="fw_cleaner_bench_"))

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=name, dir=self.base))


# --nodelay: JupyterLab's server with TCP_NODELAY on its websockets.  jupyter_server never
# calls tornado's set_nodelay(True), so a small message to the browser that follows another
# one (a comm message after the kernel's "busy" status) waits for the browser's delayed ACK:
# ~40 ms.  Loaded through sitecustomize, in the server process only.
NODELAY_SITECUSTOMIZE = """
try:
    import tornado.websocket as _ws

    _start_pinging = _ws.WebSocketProtocol13.start_pinging

    def start_pinging(self):
        self.stream.set_nodelay(True)
        return _start_pinging(self)

    _ws.WebSocketProtocol13.start_pinging = start_pinging
except Exception:
    pass
"""


@contextlib.contextmanager
def jupyterlab(nodelay: bool = False) -> Iterator[tuple[str, Path]]:
    """JupyterLab from this venv, started exactly as the browser tests start it
    (tests/browser/conftest.py's ``lab_server`` fixture, called as a plain generator)."""
    from tests.browser.conftest import lab_server

    factory = _TmpFactory()
    saved = os.environ.get("PYTHONPATH")

    def restore() -> None:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved

    try:
        if nodelay:
            site = factory.mktemp("site")
            (site / "sitecustomize.py").write_text(NODELAY_SITECUSTOMIZE)
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), saved]))
        with contextlib.contextmanager(lab_server.__wrapped__)(factory) as server:
            restore()  # the server has started with it: nothing else should get it
            yield server
    finally:
        restore()
        shutil.rmtree(factory.base, ignore_errors=True)
