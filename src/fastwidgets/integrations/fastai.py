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

import contextlib
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..curve import LiveCurve


MAX_ROWS = 4096
"""Rows a fastai callback collects before it hands them over whatever the stream says:
a bound on the buffer (in a script nothing is sent, and `history` drains it on read)."""

HAND_OVER_BUDGET = 0.003
"""The share of the training loop's wall time that handing rows over (and the message
that follows) may take.  The hand-overs slow down where they cost more, never above the
curve's ``max_hz``."""

FOLLOW_UP = 0.0015
"""Seconds a hand-over costs the loop after it returns, whatever its size: the kernel's
IOPub thread takes its turns on the GIL to send the message.  Measured in a kernel on a
~1.5 ms step: the ten steps after a hand-over took 1-2.5 ms more than the steps before
it.  With it, hand-overs come at most every (cost + FOLLOW_UP) / HAND_OVER_BUDGET, 0.5 s
or more."""

MAX_HAND_OVER_WAIT = 1.0
"""Seconds a costly hand-over may hold back the next: the chart never freezes longer."""


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

    A batch only appends a row to the curve's buffer: off the CPU the loss stays a
    (detached) tensor, so the curve adds no device sync of its own per step.  The rows
    go to the stream together when it may send (at most ``max_hz`` times a second, less
    where a hand-over costs more than ``HAND_OVER_BUDGET`` of the loop's time, but at
    least every ``MAX_HAND_OVER_WAIT``), when training ends (before the validation pass,
    which may be long) and at the end of each epoch.  Converting and appending each
    step cost more than the rest of the widget on a 1 ms step.
    """

    events = (
        "before_fit",
        "after_batch",
        "after_train",
        "after_epoch",
        "after_fit",
        "after_cancel_fit",
    )

    def __init__(self, curve: LiveCurve) -> None:
        self.curve = curve
        self.learn: Any = None
        self.step = 0
        self.epoch_offset = 0
        self.active = False
        # the last param group's hypers when the optimizer keeps them in a dict that the
        # schedulers update in place (fastai's Optimizer); None: read them every step
        # (OptimWrapper builds fresh dicts from torch's param_groups on each access)
        self._hypers: dict[str, Any] | None = None
        self._next_hand_over = 0.0  # perf_counter time before which rows stay buffered
        self._cost = 0.0  # a hand-over's cost, smoothed (one slow one must not stall)
        self._cell_hook: Callable[..., None] | None = None

    def before_fit(self) -> None:
        learn = self.learn
        self.active = not hasattr(learn, "lr_finder") and not hasattr(learn, "gather_preds")
        if not self.active:
            return
        self.epoch_offset = self.curve.epochs_logged
        # In a script fastai's ProgressCallback already prints the epoch table.
        self.curve.print_epochs = not hasattr(learn, "progress")
        self._mark_phase()
        self._hypers = _stable_hypers(learn.opt)
        self._declare_series()
        self._watch_cell()
        self.curve.show()
        self.curve._stream.begin()  # rows come in batches: not done between two of them

    def _declare_series(self) -> None:
        """Name every series the fit will log, so their metadata reaches the browser in
        one state message at the start instead of one per new series."""
        from ..curve import EPOCH_SERIES

        hypers = self._hypers if self._hypers is not None else self.learn.opt.hypers[-1]
        step = ["train_loss", "lr"] + (["mom"] if "mom" in hypers else [])
        self.curve._declare(dict.fromkeys(step, 0.0), per="step")
        names = [self.curve._epoch_name(n) for n in self._recorded() if n != "train_loss"]
        self.curve._declare(dict.fromkeys([EPOCH_SERIES, *names], 0.0), per="epoch")

    def _recorded(self) -> list[str]:
        """The names of the recorder's per-epoch values, in their order (the train loss
        among them; the curve has it per step)."""
        rec = getattr(self.learn, "recorder", None)
        names = [str(n) for n in getattr(rec, "metric_names", [])[1:]]
        return names[:-1] if names and names[-1] == "time" else names

    def _watch_cell(self) -> None:
        """fastai calls neither after_fit nor after_cancel_fit when the fit dies of an
        exception or a KeyboardInterrupt: when the notebook cell ends, close the curve
        (the rows still buffered are drawn and the snapshot stored)."""
        ip = _ipython()
        if ip is None or self._cell_hook is not None:
            return

        def after_cell(*_args: Any) -> None:
            self._unwatch_cell()
            if self.active:
                self.active = False
                self.curve.close()

        self._cell_hook = after_cell
        ip.events.register("post_run_cell", after_cell)

    def _unwatch_cell(self) -> None:
        hook, self._cell_hook = self._cell_hook, None
        ip = _ipython()
        if hook is not None and ip is not None:
            with contextlib.suppress(ValueError):
                ip.events.unregister("post_run_cell", hook)

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
        loss = learn.loss
        try:
            # On the CPU the value is read now (no device to wait for, and cheaper than
            # keeping a tensor); elsewhere it stays a tensor until the hand-over's one copy.
            loss = loss.item() if loss.is_cpu else loss.detach()
        except AttributeError:  # not a tensor: the hand-over converts (or names) it
            pass
        except RuntimeError:  # not one number: the hand-over says so
            loss = loss.detach()
        hypers = self._hypers
        if hypers is None:
            hypers = learn.opt.hypers[-1]
        rows = self.curve._rows
        rows.append((self.step, loss, hypers.get("lr"), hypers.get("mom")))
        self.step += 1
        if len(rows) >= MAX_ROWS or (
            time.perf_counter() >= self._next_hand_over and self.curve._stream.due()
        ):
            self._hand_over()

    def _hand_over(self) -> None:
        start = time.perf_counter()
        self.curve._drain()
        # what hand-overs cost sets when the next may come: at most HAND_OVER_BUDGET of
        # the loop's time (the in-thread part is measured; the IOPub thread's follows it)
        cost = time.perf_counter() - start
        self._cost = cost if not self._cost else 0.7 * self._cost + 0.3 * cost
        wait = min((self._cost + FOLLOW_UP) / HAND_OVER_BUDGET, MAX_HAND_OVER_WAIT)
        self._next_hand_over = start + wait
        if self._hypers is not None:
            self._hypers = _stable_hypers(self.learn.opt)  # a new optimizer since?

    def after_train(self) -> None:
        if self.active:
            self._hand_over()  # the epoch's last steps are drawn while it validates

    def after_epoch(self) -> None:
        if not self.active:
            return
        rec = getattr(self.learn, "recorder", None)
        values: dict[str, float] = {}
        if rec is not None and rec.values:
            for name, value in zip(self._recorded(), rec.values[-1], strict=False):
                if name == "train_loss" or value is None:
                    continue
                values[name] = float(value)
        # A second fit restarts fastai's epoch at 0; the curve keeps counting.
        self.curve.log_epoch(self.epoch_offset + int(self.learn.epoch), **values)

    def after_fit(self) -> None:
        self._unwatch_cell()
        if self.active:
            self.curve.close()
        self.active = False

    def after_cancel_fit(self) -> None:
        if self.active:
            self.curve.close()


def _stable_hypers(opt: Any) -> dict[str, Any] | None:
    """The last param group's hypers dict when the optimizer keeps it (fastai's
    Optimizer: the schedulers set it in place), None when each access builds a new one
    (fastai's OptimWrapper around a torch optimizer)."""
    if opt is None:
        return None
    last: dict[str, Any] = opt.hypers[-1]
    return last if opt.hypers[-1] is last else None


def _ipython() -> Any:
    """The running IPython shell, or None (a script; IPython not even imported)."""
    mod = sys.modules.get("IPython")
    get = getattr(mod, "get_ipython", None) if mod is not None else None
    return get() if get is not None else None


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


# -- ImageCleaner -------------------------------------------------------------------------------


def _split_loaders(learn: Any) -> list[tuple[bool, Any]]:
    """(is_valid, loader) for the train and valid sets: in order, unshuffled, nothing
    dropped.  Train items get the validation transforms (see ``_as_valid``)."""
    dls = learn.dls
    out = []
    for valid, dl in ((False, dls.train), (True, dls.valid)):
        if len(dl.dataset) == 0:
            continue
        out.append((valid, dl.new(shuffle=False, drop_last=False)))
    if not out:
        raise ValueError("the learner's DataLoaders hold no items")
    return out


def _as_valid(dl: Any) -> Any:
    """A context in which ``dl`` applies its validation transforms: a loss measured on an
    augmented (randomly cropped, flipped) train image says more about the crop than
    about the label."""
    from contextlib import nullcontext

    dataset = dl.dataset
    return dataset.set_split_idx(1) if hasattr(dataset, "set_split_idx") else nullcontext()


def _no_bar(learn: Any) -> Any:
    """fastai's own progress bar off: the cleaner draws one (with ETA) in its widget."""
    from contextlib import nullcontext

    return learn.no_bar() if hasattr(learn, "no_bar") else nullcontext()


def _item_paths(dataset: Any) -> list[Any]:
    """The image file behind each item: the items themselves (``from_folder``,
    ``from_name_func``...), or what the first transforms make of a row (``from_csv``,
    ``from_df``)."""
    from pathlib import Path

    items = dataset.items
    rows = [items.iloc[k] for k in range(len(items))] if hasattr(items, "iloc") else list(items)
    if rows and isinstance(rows[0], (str, Path)):
        return rows
    tls = getattr(dataset, "tls", None)
    funcs = list(tls[0].tfms.fs) if tls else []
    out = []
    for row in rows:
        x = row
        for f in funcs:
            if isinstance(x, (str, Path)):
                break
            x = f(x)
        if not isinstance(x, (str, Path)):
            raise TypeError(
                "ImageCleaner.from_learner needs a learner whose items are image files; "
                f"an item of this one is {type(row).__name__}"
            )
        out.append(x)
    return out


def _progress_callback_class() -> type:
    cls = _CLASSES.get("progress")
    if cls is not None:
        return cls
    from fastai.callback.core import Callback

    class ItemProgress(Callback):  # type: ignore[misc]
        """Counts the items ``get_preds`` has done, for the cleaner's progress bar."""

        order = 100

        def __init__(self, on_items: Callable[[int], None]):
            self.on_items = on_items

        def after_batch(self) -> None:
            self.on_items(len(self.learn.yb[0]) if self.learn.yb else 0)

    _CLASSES["progress"] = ItemProgress
    return ItemProgress


def cleaner_sources(
    learn: Any, on_progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Per-item loss, predicted class and its probability over the train and valid sets,
    with ``learn.get_preds(with_loss=True)``; the arguments of an ``ImageCleaner``.

    ``on_progress(done, total)`` is called after each batch.
    """
    import torch

    vocab = getattr(learn.dls, "vocab", None)
    if vocab is None or (len(vocab) and isinstance(vocab[0], (list, tuple))):
        raise TypeError("ImageCleaner.from_learner needs a single-label classifier")
    classes = [str(c) for c in vocab]
    loaders = _split_loaders(learn)
    total = sum(len(dl.dataset) for _, dl in loaders)
    done = 0

    def counted(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done, total)

    paths: list[Any] = []
    labels: list[Any] = []
    losses, probs, splits = [], [], []
    for valid, dl in loaders:
        paths.extend(_item_paths(dl.dataset))
        with _as_valid(dl), _no_bar(learn):
            prob, targ, loss = learn.get_preds(
                dl=dl, with_loss=True, cbs=[_progress_callback_class()(counted)]
            )
        if prob.ndim != 2 or targ.ndim != 1:
            raise TypeError("ImageCleaner.from_learner needs a single-label classifier")
        labels.extend(targ.tolist())
        losses.append(loss.float())
        probs.append(prob.float())
        splits.extend([valid] * len(targ))
    if len(paths) != len(labels):
        raise RuntimeError(f"{len(paths)} item files for {len(labels)} predictions")
    prob_all = torch.cat(probs)
    root = getattr(learn.dls, "path", None)
    return {
        "paths": paths,
        "labels": labels,
        "losses": torch.cat(losses).numpy(),
        "preds": prob_all.argmax(dim=1).numpy(),
        "probs": prob_all.numpy(),
        "splits": splits,
        "root": root if root is not None and str(root) not in ("", ".") else None,
        "classes": classes,
    }


def cleaner_embeddings(learn: Any) -> Any:
    """The learner's body features for every train then valid item (the cleaner's order):
    the input of the model's last top-level layer (the head), pooled to one vector,
    centred and L2-normalised."""
    import torch

    from .._duplicates import pool

    children = list(learn.model.children())
    if not children:
        raise TypeError("the learner's model has no layers to take the body's output from")
    head = children[-1]
    chunks: list[Any] = []

    def grab(_module: Any, inputs: tuple[Any, ...]) -> None:
        chunks.append(pool(inputs[0]).float().cpu())

    handle = head.register_forward_pre_hook(grab)
    try:
        for _valid, dl in _split_loaders(learn):
            with _as_valid(dl), _no_bar(learn):
                learn.get_preds(dl=dl)
    finally:
        handle.remove()
    features = torch.cat(chunks)
    # Centred first: after a ReLU every feature is positive and any two images have a
    # cosine near 1, which would bury the real near-duplicates among ordinary neighbours.
    return torch.nn.functional.normalize(features - features.mean(dim=0), dim=1)
