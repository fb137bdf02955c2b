"""TensorBoard's debiased exponential moving average, the same formula as js/src/core/smooth.ts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def ema_debiased(values: npt.ArrayLike, weight: float) -> npt.NDArray[np.float64]:
    """Smooth ``values`` like TensorBoard's scalar dashboard.

    A constant series is returned as is, non-finite points pass through without touching
    the running state, and the bias towards the zero start is removed with
    ``1 - weight**n`` where n counts the finite points so far.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1], got {weight!r}")
    ys = np.asarray(values, dtype=np.float64).ravel()
    out = ys.copy()
    if ys.size == 0 or bool(np.all(ys == ys[0])):
        return out
    last = 0.0
    count = 0
    for i, y in enumerate(ys.tolist()):
        if not math.isfinite(y):
            continue
        last = last * weight + (1.0 - weight) * y
        count += 1
        debias = 1.0 if weight == 1.0 else 1.0 - weight**count
        out[i] = last / debias
    return out
