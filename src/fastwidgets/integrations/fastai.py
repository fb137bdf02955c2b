"""fastai adapters: turn a Learner's events into calls on fastwidgets widgets.

This is the only module that imports fastai, and only when a widget is first used as a
fastai callback: ``import fastwidgets`` stays fast and works without fastai.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..curve import LiveCurve


class CallbackProxy:
    """Lets a widget go straight into fastai's ``cbs=`` without subclassing fastai.

    fastai needs four things of a callback: ``cb.learn`` (set on add/remove), ``cb.name``
    (the attribute it becomes on the learner), ``cb.order`` and ``cb(event_name)``.  The
    proxy forwards them to a real ``fastai.callback.core.Callback`` built on first use.
    """

    order = 65  # after Recorder (50) has computed the epoch's values and lr schedules (60)
    _adapter_instance: Any = None

    def _fastai_adapter(self) -> Any:
        if self._adapter_instance is None:
            self._adapter_instance = make_adapter(self)
        return self._adapter_instance

    @property
    def name(self) -> str:
        """The attribute name fastai gives this callback on the learner."""
        return "live_curve"

    @property
    def learn(self) -> Any:
        """The learner this widget is attached to (None when detached)."""
        return None if self._adapter_instance is None else self._adapter_instance.learn

    @learn.setter
    def learn(self, learner: Any) -> None:
        if learner is None and self._adapter_instance is None:
            return
        self._fastai_adapter().learn = learner

    def __call__(self, event_name: str) -> Any:
        return self._fastai_adapter()(event_name)


def make_adapter(widget: Any) -> Any:
    """Build the fastai Callback that drives ``widget``."""
    from ..curve import LiveCurve

    if isinstance(widget, LiveCurve):
        return _live_curve_callback_class()(widget)
    raise TypeError(f"{type(widget).__name__} cannot be used as a fastai callback")


_CLASSES: dict[str, type] = {}


def _live_curve_callback_class() -> type:
    cls = _CLASSES.get("live_curve")
    if cls is not None:
        return cls
    from fastai.callback.core import Callback

    class LiveCurveCallback(Callback):  # type: ignore[misc]
        """Streams fastai's per-batch loss, lr, momentum and per-epoch values to a LiveCurve.

        The iteration counter lives here, so a second fit continues the same curve.  It
        stays silent during ``lr_find`` (an ``lr_finder`` callback is present) and during
        ``get_preds`` (no ``before_fit``).
        """

        order = CallbackProxy.order

        def __init__(self, curve: LiveCurve) -> None:
            self.curve = curve
            self.step = 0
            self.epoch_offset = 0
            self.active = False

        def before_fit(self) -> None:
            learn = self.learn
            self.active = not hasattr(learn, "lr_finder") and not hasattr(learn, "gather_preds")
            if not self.active:
                return
            self.epoch_offset = self.curve.epochs_logged
            # fastai's ProgressCallback already prints the epoch table in a script.
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
            if not (self.active and self.learn.training):
                return
            hypers = self.learn.opt.hypers[-1]
            values = {"train_loss": self.learn.loss, "lr": hypers["lr"]}
            if "mom" in hypers:
                values["mom"] = hypers["mom"]
            self.curve.log(self.step, **values)
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

    _CLASSES["live_curve"] = LiveCurveCallback
    return LiveCurveCallback
