"""Where the code runs: inside a Jupyter kernel or a plain script, and on which rank."""

from __future__ import annotations

import os
import sys


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where a widget can be displayed).

    IPython is only looked up if already imported, so a plain script never pays for it.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def is_main_process() -> bool:
    """False on every torch.distributed rank but 0, so only one process draws and sends.

    ``RANK`` (set by torchrun and fastai's launchers) answers before the process group
    exists; afterwards the process group is asked, without importing torch ourselves.
    """
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()) == 0
    return os.environ.get("RANK", "0") in ("", "0")


def execution_count() -> int | None:
    """The running cell's number in a kernel (None outside one)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None
