"""fastai adapters: turn a Learner's events into calls on fastwidgets widgets.

fastai asks four things of a callback: ``cb.learn`` (set on add/remove), ``cb.name``
(the attribute it becomes on the learner), ``cb.order`` and ``cb(event_name)``.  A widget
provides them through :class:`CallbackProxy` and the work happens in a plain adapter
class here.  Neither subclasses fastai's ``Callback``: its ``__call__`` and
``__setattr__`` go through fastai's attribute delegation to the learner on every one of
the ~11 events of every batch, which cost more than the whole stream (6% of a 1 ms
step).  So ``import fastwidgets`` never imports fastai, and a training step pays only for
the events the adapter handles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..curve import LiveCurve


class CallbackProxy:
    """Lets a widget go straight into fastai's ``cbs=``."""

    order = 65  # after Recorder (50) has the epoch's values and the schedulers (60) set lr
    _adapter: Any = None
    _handlers: dict[str, Callable[[], None]] | None = None

    def _fastai_adapter(self) -> Any:
        if self._adapter is None:
            self._adapter = make_adapter(self)
            self._handlers = {
                event: getattr(self._adapter, event) for event in type(self._adapter).events
            }
        return self._adapter

    @property
    def name(self) -> str:
        """The attribute name fastai gives this callback on the learner."""
        return "live_curve"

    @property
    def learn(self) -> Any:
        """The learner this widget is attached to (None when detached)."""
        return None if self._adapter is None else self._adapter.learn

    @learn.setter
    def learn(self, learner: Any) -> None:
        if learner is None and self._adapter is None:
            return
        self._fastai_adapter().learn = learner

    def __call__(self, event_name: str) -> None:
        handlers = self._handlers
        if handlers is None:
            self._fastai_adapter()
            handlers = self._handlers
        assert handlers is not None
        handler = handlers.get(event_name)
        if handler is not None:
            handler()


def make_adapter(widget: Any) -> Any:
    """Build the adapter that drives ``widget`` from fastai's events."""
    from ..curve import LiveCurve

    if isinstance(widget, LiveCurve):
        return LiveCurveCallback(widget)
    raise TypeError(f"{type(widget).__name__} cannot be used as a fastai callback")


class LiveCurveCallback:
    """Streams fastai's per-batch loss, lr, momentum and per-epoch values to a LiveCurve.

    The iteration counter lives here, so a second fit continues the same curve.  It stays
    silent during ``lr_find`` (an ``lr_finder`` callback is present) and ``get_preds``
    (which has no ``before_fit``).
    """

    events = ("before_fit", "after_batch", "after_epoch", "after_fit", "after_cancel_fit")

    def __init__(self, curve: LiveCurve) -> None:
        self.curve = curve
        self.learn: Any = None
        self.step = 0
        self.epoch_offset = 0
        self.active = False

    def before_fit(self) -> None:
        learn = self.learn
        self.active = not hasattr(learn, "lr_finder") and not hasattr(learn, "gather_preds")
        if not self.active:
            return
        self.epoch_offset = self.curve.epochs_logged
        # In a script fastai's ProgressCallback already prints the epoch table.
        self.curve.print_epochs = not hasattr(learn, "progress")
        self._mark_phase()
        self.curve.show()

    def _mark_phase(self) -> None:
        opt = self.learn.opt
        frozen = opt is not None and getattr(opt, "frozen_idx", 0) > 0
        phases = self.curve.phases
        if not frozen and not phases:
            return
        label = "frozen" if frozen else "unfrozen"
        if not phases or phases[-1]["label"] != label:
            self.curve.mark_phase(label, self.step)

    def after_batch(self) -> None:
        learn = self.learn
        if not (self.active and learn.training):
            return
        hypers = learn.opt.hypers[-1]
        if "mom" in hypers:
            self.curve.log(self.step, train_loss=learn.loss, lr=hypers["lr"], mom=hypers["mom"])
        else:
            self.curve.log(self.step, train_loss=learn.loss, lr=hypers["lr"])
        self.step += 1

    def after_epoch(self) -> None:
        if not self.active:
            return
        rec = getattr(self.learn, "recorder", None)
        values: dict[str, float] = {}
        if rec is not None and rec.values:
            names = list(rec.metric_names[1:])
            if names and names[-1] == "time":
                names = names[:-1]
            for name, value in zip(names, rec.values[-1], strict=False):
                if name == "train_loss" or value is None:
                    continue
                values[str(name)] = float(value)
        # A second fit restarts fastai's epoch at 0; the curve keeps counting.
        self.curve.log_epoch(self.epoch_offset + int(self.learn.epoch), **values)

    def after_fit(self) -> None:
        if self.active:
            self.curve.close()
        self.active = False

    def after_cancel_fit(self) -> None:
        if self.active:
            self.curve.close()


_CLASSES: dict[str, type] = {}  # fastai Callback subclasses, built on first use


def range_test(
    learn: Any,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_it: int = 100,
    stop_div: bool = True,
    on_batch: Callable[[int, float, float, float], None] | None = None,
) -> tuple[list[float], list[float]]:
    """fastai's learning-rate range test, with the model restored from memory.

    Same schedule, smoothing and stop rule as ``Learner.lr_find`` (so the same numbers),
    plus a stop on a NaN or infinite loss.  Returns the recorded lrs and smoothed losses.
    Nothing is written to ``learn.path``, and the model, optimizer and RNG streams are
    exactly as before afterwards, also after an exception or a KeyboardInterrupt.
    ``on_batch(i, lr, raw_loss, smoothed)`` sees each batch (the widget draws from it).
    """
    from .._range import RangeRule
    from .._restore import preserved

    if len(learn.dls.train) == 0:
        raise ValueError("the training DataLoader is empty: the range test needs batches")
    rule = RangeRule(start_lr, end_lr, num_it, stop_div)
    cb = _range_test_callback_class()(rule, on_batch)
    had_opt = learn.opt is not None
    if not had_opt:
        learn.create_opt()
    n_epoch = rule.num_it // len(learn.dls.train) + 1
    try:
        with preserved(learn.model, learn.opt), learn.no_logging():
            learn.fit(n_epoch, cbs=cb)
    finally:
        if not had_opt:
            learn.opt = None
    return cb.lrs, cb.losses


def _range_test_callback_class() -> type:
    cls = _CLASSES.get("range_test")
    if cls is not None:
        return cls
    from fastai.callback.core import Callback, CancelFitException, CancelValidException

    from .._range import RangeRule

    class RangeTest(Callback):  # type: ignore[misc]
        """fastai's ``LRFinder`` without its temporary file, stopping on NaN/inf too."""

        order = 60  # as fastai's LRFinder (a ParamScheduler): after the Recorder (50)

        def __init__(self, rule: RangeRule, on_batch: Any = None):
            self.rule, self.on_batch = rule, on_batch
            self.lrs: list[float] = []
            self.losses: list[float] = []

        @property
        def name(self) -> str:
            return "lr_finder"  # how other callbacks (LiveCurve) recognise a range test

        def before_batch(self) -> None:
            self.learn.opt.set_hyper("lr", self.rule.lr(self.train_iter))

        def after_batch(self) -> None:
            smooth = float(self.learn.smooth_loss)
            self.lrs.append(self.learn.opt.hypers[-1]["lr"])
            self.losses.append(smooth)
            if self.on_batch is not None:
                raw = float(self.learn.loss.item())
                self.on_batch(self.train_iter - 1, self.lrs[-1], raw, smooth)
            if self.rule.should_stop(self.train_iter, smooth):
                raise CancelFitException()

        def before_validate(self) -> None:
            raise CancelValidException()

        def after_fit(self) -> None:
            self.learn.opt.zero_grad()

    _CLASSES["range_test"] = RangeTest
    return RangeTest
