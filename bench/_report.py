"""Small helpers the benchmarks share: medians and percentiles, PASS/FAIL, memory, the
kernel's versions, JSON out."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KERNEL_INFO = (
    "{'python': __import__('sys').executable, "
    "'torch': torch.__version__, 'threads': torch.get_num_threads(), "
    "'fastai': __import__('fastai').__version__, "
    "'fastwidgets': __import__('fastwidgets').__version__, "
    "'backend': __import__('matplotlib').get_backend()}"
)
"""An expression evaluated in the benchmark kernel (after its setup imported torch)."""


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def median_ci(xs: Sequence[float], level: float = 0.90) -> tuple[float, float]:
    """A distribution-free confidence interval for the median: the order statistics
    x(k) and x(n+1-k) with the largest k whose binomial coverage is at least ``level``
    (no resampling, so the same numbers give the same interval).  NaNs when n < 5."""
    n = len(xs)
    ordered = sorted(xs)
    k_best = 0
    for k in range(1, n // 2 + 1):
        # P(x(k) <= median <= x(n+1-k)) = 1 - 2 P(Bin(n, 1/2) < k)
        below = sum(math.comb(n, i) for i in range(k)) / 2.0**n
        if 1.0 - 2.0 * below >= level:
            k_best = k
    if k_best == 0:
        return float("nan"), float("nan")
    return float(ordered[k_best - 1]), float(ordered[n - k_best])


def percentile(xs: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def proc_status_mb(field: str = "VmRSS", pid: int | str = "self") -> float:
    """A memory field of ``/proc/<pid>/status`` (VmRSS: resident now, VmHWM: its peak), MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # the file says kB
    raise KeyError(f"{field} not in /proc/{pid}/status")


def flag(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def kernel_line(info: dict[str, Any]) -> str:
    """One line saying what the kernel runs, printed above every table."""
    return (
        f"kernel: {info['python']}  torch {info['torch']} ({info['threads']} thread), "
        f"fastai {info['fastai']}, fastwidgets {info['fastwidgets']}, "
        f"matplotlib {info['backend']}"
    )


def write_json(path: Path | None, results: dict[str, Any]) -> None:
    """Write every figure to ``path`` (when given) for anyone comparing runs."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {path}")
