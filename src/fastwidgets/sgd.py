"""SGDPlayground: the lesson's line fit by gradient descent, computed by torch, animated.

Every setting is a trait.  A change (from code or from a control) makes Python recompute
every trajectory with torch and send them as one message on the shared stream; the browser
animates and scrubs them without the kernel.
"""

from __future__ import annotations

import threading
from typing import Any, NoReturn

import numpy as np
import traitlets

from ._base import StreamWidget, bundle

SETTINGS = (
    "lr",
    "momentum",
    "optimizer",
    "batch_size",
    "steps",
    "n",
    "noise",
    "noise_scale",
    "seed",
    "start",
    "compare",
)


class SGDPlayground(StreamWidget):
    """Fit a line ``y = a1·x + a2`` by gradient descent, as in the lesson, and watch it.

    ``SGDPlayground()`` is the lesson exactly: 100 points, ``x ~ U(-1, 1)``, true
    ``a = (3, 2)``, ``torch.rand`` noise, start ``(-1, 1)``, lr 0.1, 100 full-batch steps.
    ``SGDPlayground(x=..., y=...)`` fits your own 1-D data.  Settings (``lr``,
    ``momentum``, ``optimizer``, ``batch_size``, ``steps``, ``n``, ``noise``,
    ``noise_scale``, ``seed``, ``start``, ``compare``) are traits shared with the
    controls; an invalid one is refused with a clear message and the previous state is
    kept.  ``playground.trajectory`` holds every step of every run,
    ``playground.stability_limit`` the largest stable lr of plain SGD.
    """

    _esm = bundle("sgd")

    lr = traitlets.Float(0.1).tag(sync=True)
    momentum = traitlets.Float(0.9).tag(sync=True)
    optimizer = traitlets.Unicode("sgd").tag(sync=True)
    batch_size = traitlets.Int(None, allow_none=True).tag(sync=True)
    steps = traitlets.Int(100).tag(sync=True)
    n = traitlets.Int(100).tag(sync=True)
    noise = traitlets.Unicode("uniform").tag(sync=True)
    noise_scale = traitlets.Float(None, allow_none=True).tag(sync=True)
    seed = traitlets.Int(42).tag(sync=True)
    start: traitlets.List[float] = traitlets.List(traitlets.Float(), [-1.0, 1.0]).tag(sync=True)
    compare: traitlets.List[dict[str, Any]] = traitlets.List(traitlets.Dict()).tag(sync=True)
    show_code = traitlets.Bool(False).tag(sync=True)

    # Results, Python -> browser.
    code = traitlets.Unicode("").tag(sync=True)
    stability = traitlets.Float(0.0).tag(sync=True)
    minimum: traitlets.List[float] = traitlets.List(traitlets.Float()).tag(sync=True)
    quad = traitlets.Dict().tag(sync=True)
    runs: traitlets.List[dict[str, Any]] = traitlets.List(traitlets.Dict()).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    user_data = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self, x: Any = None, y: Any = None, *, max_hz: float = 30.0, **settings: Any
    ) -> None:
        from . import _sgd_math

        self._user_xy: tuple[Any, Any] | None = None
        if x is not None or y is not None:
            if x is None or y is None:
                raise ValueError("give both x and y (or neither, for the lesson's data)")
            X, Y = _sgd_math.user_data(x, y)
            given = sorted(set(settings) & {"n", "noise", "noise_scale"})
            if given:
                raise ValueError(f"{', '.join(given)} come from the x and y you passed")
            settings["n"] = len(Y)
            self._user_xy = (X, Y)
        self._ready = False
        self._batching = False
        super().__init__(max_hz=max_hz, **settings)
        self.user_data = self._user_xy is not None
        self._trajectories: list[tuple[dict[str, Any], Any]] = []
        self._data_key: tuple[Any, ...] | None = None
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._compute_lock = threading.RLock()
        self._ready = True
        self._recompute()

    # -- validation ---------------------------------------------------------------------------

    def _check(self, name: str, value: Any) -> Any:
        from . import _sgd_math

        settings = {k: getattr(self, k) for k in SETTINGS}
        settings[name] = value
        # With the user's own x and y, only the data settings are frozen; the seed still
        # draws the minibatches.
        fixed = self._user_xy is not None and self._ready and name in ("n", "noise", "noise_scale")
        if fixed and value != getattr(self, name):
            self._refuse(f"{name} comes from the x and y you passed; it is fixed")
        if self._user_xy is not None:
            settings["x"], settings["y"] = self._user_xy[0][:, 0], self._user_xy[1]
        try:
            _sgd_math.check_settings(**settings, changed=name)
        except (ValueError, TypeError) as err:
            self._refuse(str(err))
        return value

    def _refuse(self, why: str) -> NoReturn:
        # Shown in the widget too: a refusal from code must not leave an older message up.
        if self._ready:
            self.message = f"refused: {why}"
        raise traitlets.TraitError(why)

    @traitlets.validate(*SETTINGS)
    def _validate(self, proposal: Any) -> Any:
        return self._check(proposal["trait"].name, proposal["value"])

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Values from the browser: one recompute for all of them; a value Python refuses
        is explained in ``message`` and its control put back."""
        self._batching = True  # several traits may change at once: recompute once, after
        refused = False
        try:
            super().set_state(sync_data)
        except traitlets.TraitError as err:
            refused = True
            # Set after the fact: traitlets rolls back every change made in the failed call.
            self.message = f"refused: {err}"
            self.send_state([k for k in sync_data if k in self.keys])
        finally:
            self._batching = False
        if set(sync_data) & set(SETTINGS):
            message = self.message
            self._recompute()  # what was accepted before a refusal still counts
            if refused:
                self.message = message

    # -- computation --------------------------------------------------------------------------

    @traitlets.observe(*SETTINGS)
    def _on_setting(self, _change: Any) -> None:
        if self._ready and not self._batching:
            self._recompute()

    def _data(self) -> tuple[Any, Any]:
        from . import _sgd_math

        if self._user_xy is not None:
            return self._user_xy
        key = (self.n, self.noise, self.noise_scale, self.seed)
        if key != self._data_key:
            self._xy = _sgd_math.make_data(
                self.n, noise=self.noise, noise_scale=self.noise_scale, seed=self.seed
            )
            self._data_key = key
        return self._xy

    def _run_specs(self) -> list[dict[str, Any]]:
        main = {"optimizer": self.optimizer, "lr": self.lr, "momentum": self.momentum}
        from . import _sgd_math

        return [main, *_sgd_math.check_compare(self.compare)]

    def _recompute(self) -> None:
        import torch

        # Two-element parameters: torch's thread pool costs more than it saves (a step at
        # n = 10,000 took 2-8 ms with the default threads, 0.1-0.2 ms with one).
        # JupyterLab hands comm messages to a kernel subshell: a drag can recompute while
        # a cell sets a trait or reads `trajectory`; one at a time, results swapped whole.
        with self._compute_lock:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                self._compute()
            finally:
                torch.set_num_threads(threads)

    def _compute(self) -> None:
        from . import _sgd_math

        X, Y = self._data()
        limit = _sgd_math.stability_limit(X)
        series: dict[str, tuple[Any, Any]] = {"data": (X[:, 0].numpy(), Y.numpy())}
        runs: list[dict[str, Any]] = []
        notes: list[str] = []
        # Built aside and swapped in at the end: JupyterLab sends comm messages on a kernel
        # subshell, so this runs on another thread than a cell reading `trajectory`.
        trajectories: list[tuple[dict[str, Any], Any]] = []
        fresh: dict[tuple[Any, ...], Any] = {}
        for k, spec in enumerate(self._run_specs()):
            run = _sgd_math.Run(spec["optimizer"], float(spec["lr"]), float(spec["momentum"]))
            start = (float(self.start[0]), float(self.start[1]))
            # A slider moves one run: the others come from the cache, not from autograd.
            memo = (run, self._data_key, self.steps, start, self.batch_size, self.seed)
            traj = self._memo.get(memo)
            if traj is None:
                try:
                    traj = _sgd_math.trajectory(
                        X,
                        Y,
                        run,
                        steps=self.steps,
                        start=start,
                        batch_size=self.batch_size,
                        seed=self.seed,
                    )
                except ValueError as err:  # e.g. a start whose loss overflows float32
                    notes.append(f"{run.label}: {err}")
                    continue
            fresh[memo] = traj
            key = f"r{k}"
            steps = np.arange(len(traj.loss), dtype=float)
            series[f"{key}:a1"] = (steps, traj.a[:, 0])
            series[f"{key}:a2"] = (steps, traj.a[:, 1])
            series[f"{key}:loss"] = (steps, traj.loss)
            label = run.label
            runs.append({**spec, "key": key, "label": label, "diverged_at": traj.diverged_at})
            trajectories.append(({**spec, "label": label}, traj))
            if traj.diverged_at is not None:
                why = _sgd_math.divergence_reason(run, limit, self.batch_size, len(Y))
                prefix = f"{label}: " if len(self._run_specs()) > 1 else ""
                notes.append(f"{prefix}diverged at step {traj.diverged_at} ({why})")
        self._trajectories = trajectories
        self._memo = fresh  # only the runs shown now: the cache cannot grow
        A, b, c = _sgd_math.quadratic(X, Y)
        with self.hold_sync():
            self.stability = limit
            self.minimum = [float(v) for v in _sgd_math.minimum(X, Y)]
            self.quad = {"A": np.asarray(A).tolist(), "b": np.asarray(b).tolist(), "c": float(c)}
            self.runs = runs
            self.code = _sgd_math.code(self._code_settings())
            self.message = "; ".join(notes)
        self._stream.replace(series)  # the snapshot for a reload follows when idle

    def _code_settings(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in SETTINGS}
        out["user_data"] = self._user_xy is not None
        return out

    # -- Python API ---------------------------------------------------------------------------

    @property
    def stability_limit(self) -> float:
        """The largest stable lr of plain full-batch SGD on the current data: 2/λmax of
        the loss's Hessian (about 1.0 for the lesson's data)."""
        return float(self.stability)

    @property
    def trajectory(self) -> Any:
        """Every step of every run shown: a DataFrame with columns run (its label),
        optimizer, lr, step, a1, a2 and loss (a diverged run stops at its last finite
        step)."""
        import pandas as pd

        frames = []
        with self._compute_lock:
            shown = list(self._trajectories)
        for spec, traj in shown:
            k = len(traj.loss)
            frames.append(
                pd.DataFrame(
                    {
                        "run": [spec["label"]] * k,
                        "optimizer": [spec["optimizer"]] * k,
                        "lr": [float(spec["lr"])] * k,
                        "step": np.arange(k),
                        "a1": traj.a[:, 0],
                        "a2": traj.a[:, 1],
                        "loss": traj.loss,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)
