"""The learning-rate range test's schedule and stop rule, shared by every trainer adapter."""

from __future__ import annotations

import math

MIN_ITERATIONS = 6  # fastai's floor for num_it


class RangeRule:
    """fastai's ``LRFinder`` rule: an exponential lr schedule from ``start_lr`` to
    ``end_lr`` over ``num_it`` batches, stopping when the smoothed loss exceeds 4 times
    the best so far (``stop_div``), and, unlike fastai, on a NaN or infinite loss."""

    def __init__(self, start_lr: float, end_lr: float, num_it: int, stop_div: bool) -> None:
        if not 0 < start_lr < end_lr:
            raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr!r} and {end_lr!r}")
        self.start_lr, self.end_lr = float(start_lr), float(end_lr)
        self.num_it = max(int(num_it), MIN_ITERATIONS)
        self.stop_div = stop_div
        self.best = math.inf

    def lr(self, i: int) -> float:
        """The learning rate of batch ``i`` (0-based)."""
        return float(self.start_lr * (self.end_lr / self.start_lr) ** (i / self.num_it))

    def should_stop(self, done: int, smoothed: float) -> bool:
        """After ``done`` batches whose smoothed loss is now ``smoothed``: stop?"""
        if not math.isfinite(smoothed):
            return True
        self.best = min(self.best, smoothed)
        if self.stop_div and smoothed > 4 * self.best:
            return True
        return done >= self.num_it
