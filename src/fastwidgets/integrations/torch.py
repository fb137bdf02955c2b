"""Plain PyTorch adapters: training loops without fastai.

Same rules as the fastai adapters, so a plain PyTorch user gets the same numbers and the
same guarantees (groundwork for the LR finder of issue 3; not public API yet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BETA = 0.98
"""fastai's Recorder smoothing: a debiased exponential moving average of the loss."""


def range_test(
    model: Any,
    optimizer: Any,
    loss_fn: Callable[[Any, Any], Any],
    loader: Iterable[Any],
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_div: bool = True,
    on_batch: Callable[[int, float, float, float], None] | None = None,
) -> tuple[list[float], list[float]]:
    """The learning-rate range test on a plain model, optimizer and loader.

    Batch i uses lr = start·(end/start)^(i/num_it) on every parameter group; the loader
    is cycled when it has fewer batches than ``num_it`` (at least 6).  The loss is smoothed
    like fastai's Recorder; the test stops when the smoothed loss exceeds 4 times the best so far
    (``stop_div``) or is NaN/inf.  ``on_batch(i, lr, raw_loss, smoothed)`` sees each batch.
    Afterwards the model, optimizer and RNG streams are exactly as before, also after an
    exception or a KeyboardInterrupt.  Returns the lrs and smoothed losses.
    """
    from .._range import RangeRule
    from .._restore import preserved

    rule = RangeRule(start_lr, end_lr, num_it, stop_div)
    lrs: list[float] = []
    losses: list[float] = []
    with preserved(model, optimizer):
        model.train()
        avg = 0.0
        i = 0
        while i < rule.num_it:
            seen = False
            for xb, yb in loader:
                seen = True
                lr = rule.lr(i)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss = loss_fn(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                i += 1
                raw = float(loss.item())
                avg = BETA * avg + (1 - BETA) * raw
                smooth = avg / (1 - BETA**i)
                lrs.append(lr)
                losses.append(smooth)
                if on_batch is not None:
                    on_batch(i - 1, lr, raw, smooth)
                if rule.should_stop(i, smooth):
                    return lrs, losses
            if not seen:
                raise ValueError("the training loader is empty: the range test needs batches")
    return lrs, losses
