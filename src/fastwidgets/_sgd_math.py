"""The SGD playground's math: the lesson's line fit, computed with torch autograd.

fastai's lesson 2 (2019) fits ``y = x @ a`` with ``x = [x, 1]`` by gradient descent by
hand.  This module makes that data, runs the lesson's loop (and SGD with momentum, Adam
and minibatches through ``torch.optim``), and gives the quantities the views draw: the
Hessian's stability limit, the least-squares minimum and the loss as a quadratic form.
:func:`code` writes the Python that produces the same numbers, so "show code" shows the
code that ran.  The widget imports this module lazily: ``import fastwidgets`` stays free
of torch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn
from torch.optim.adam import adam as _optim_adam
from torch.optim.sgd import sgd as _optim_sgd

__all__ = [
    "DIVERGENCE_FACTOR",
    "MAX_COMPARE",
    "MAX_N",
    "MAX_START",
    "MAX_STEPS",
    "MAX_WORK",
    "NOISE_KINDS",
    "OPTIMIZERS",
    "Run",
    "Trajectory",
    "check_compare",
    "check_settings",
    "code",
    "divergence_reason",
    "features",
    "format_limit",
    "hessian",
    "loss_limit",
    "make_data",
    "minimum",
    "momentum_limit",
    "quadratic",
    "stability_limit",
    "trajectory",
    "user_data",
]

OPTIMIZERS = ("sgd", "momentum", "adam")
NOISE_KINDS = ("uniform", "normal")
DEFAULT_NOISE_SCALE = {"uniform": 1.0, "normal": 0.25}
"""``torch.rand(n)`` is the 2019 lesson's noise; ``0.25 * torch.randn(n)`` the other kind."""
MAX_STEPS = 10_000
"""The most steps of one run (js/src/core/sgdform.ts has the same; a test keeps them equal)."""
MAX_N = 10_000
"""The most data points: each step computes the loss on all of them, and a slider move
recomputes every run (js/src/core/sgdform.ts has the same; a test keeps them equal)."""
MAX_COMPARE = 2
"""The most runs ``compare`` adds to the main run: three side by side in all."""
MAX_WORK = 30_000_000
"""The most ``steps · n · runs`` (points visited by one recompute).  A step costs about
0.1 ms plus 0.01 µs per point in torch on a laptop core, so this keeps a recompute near a
second at n = 10,000; at the lesson's n = 100 it never binds (30,000 steps at most)."""
MAX_SEED = 2**63 - 1
MAX_START = 1e12
"""|start| bound: far beyond any line a float32 fit can hold, yet the loss there stays
finite in float32 for data of any sensible scale."""
DIVERGENCE_FACTOR = 1e12
"""A run has diverged at the first point whose loss is non-finite or above this times the
larger of the start's loss and ``mean(y²)`` (the flat line a = 0): relative, so data of
any scale works, and 1e12 (a parameter error a million times the start's) is far off any
chart and far below float32's overflow, so a diverging run ends on a huge but finite point
the charts show leaving.  The loss is a quadratic that grows with |a|, so this bounds the
parameters too."""
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8  # torch.optim.Adam's default
_RUN_KEYS = frozenset({"optimizer", "lr", "momentum"})
_DEFAULT_MOMENTUM = 0.9


def _mse(y_hat: Tensor, y: Tensor) -> Tensor:
    # The lesson's ``mse``; the same ops in the same order keep the numbers bitwise equal.
    return ((y_hat - y) ** 2).mean()


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _length(v: object, name: str) -> int:
    shape = getattr(v, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise ValueError(f"{name} must be a 1-D sequence of numbers, got a scalar")
        return int(shape[0])
    try:
        return len(v)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got {v!r}") from None


def _check_optimizer(optimizer: object) -> str:
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {optimizer!r}"
        )
    return optimizer


def _check_lr(lr: object) -> float:
    if not _is_number(lr):
        raise ValueError(f"lr must be a number, got {lr!r}")
    v = float(lr)  # type: ignore[arg-type]
    if not math.isfinite(v):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    if v <= 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    return v


def _check_momentum(momentum: object) -> float:
    if not (_is_number(momentum) and 0.0 <= float(momentum) < 1.0):  # type: ignore[arg-type]
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    return float(momentum)  # type: ignore[arg-type]


def check_compare(compare: object) -> list[dict[str, Any]]:
    """Validate ``compare`` (the runs shown beside the main one) and return it cleaned.

    A list (or tuple) of at most :data:`MAX_COMPARE` dicts with keys among
    ``optimizer, lr, momentum``: ``optimizer`` and ``lr`` are required, ``momentum`` is
    optional (0.9), and the values follow the main settings' rules (``None`` is invalid).
    Returns new dicts holding all three keys as plain ``str`` and ``float``; raises
    ``ValueError`` naming the entry otherwise.
    """
    if isinstance(compare, (str, bytes, Mapping)) or not isinstance(compare, Sequence):
        raise ValueError(
            f"compare must be a list of {{optimizer, lr, momentum}} dicts, got {compare!r}"
        )
    if len(compare) > MAX_COMPARE:
        raise ValueError(
            f"compare holds at most {MAX_COMPARE} runs ({MAX_COMPARE + 1} with the main run), "
            f"got {len(compare)}"
        )
    out: list[dict[str, Any]] = []
    for i, extra in enumerate(compare):
        where = f"compare[{i}]"
        if not isinstance(extra, Mapping):
            raise ValueError(f"{where} must be a dict of optimizer, lr and momentum, got {extra!r}")
        unknown = sorted(map(str, set(extra) - _RUN_KEYS))
        if unknown:
            raise ValueError(
                f"{where} has unknown keys {', '.join(unknown)}: "
                "a run is {optimizer, lr, momentum}"
            )
        missing = [k for k in ("optimizer", "lr") if k not in extra]
        if missing:
            raise ValueError(f"{where} needs {' and '.join(missing)}, got {dict(extra)!r}")
        try:
            out.append(
                {
                    "optimizer": _check_optimizer(extra["optimizer"]),
                    "lr": _check_lr(extra["lr"]),
                    "momentum": _check_momentum(extra.get("momentum", _DEFAULT_MOMENTUM)),
                }
            )
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return out


def check_settings(
    *,
    lr: object = None,
    momentum: object = None,
    optimizer: object = None,
    batch_size: object = None,
    steps: object = None,
    n: object = None,
    noise: object = None,
    noise_scale: object = None,
    seed: object = None,
    start: object = None,
    x: object = None,
    y: object = None,
    compare: object = None,
    changed: str | None = None,
) -> None:
    """Raise ``ValueError`` naming the first invalid setting; settings left ``None`` pass.

    ``batch_size=None`` means full batch and ``noise_scale=None`` the noise kind's default,
    so both are valid.  ``batch_size`` is checked against ``len(x)`` when ``x`` is given,
    else against ``n``.  ``compare`` is checked by :func:`check_compare`.  With ``steps``
    and ``n`` (or ``x``) known, ``steps · n · runs`` (runs = 1 + the compared ones) must
    be at most :data:`MAX_WORK`.  ``changed`` names the setting the user just changed, so
    a rule between two settings (batch size ≤ n, the work cap) names that one: lowering
    ``n`` below the batch size says "n must be at least batch_size = 10".
    """
    if optimizer is not None:
        _check_optimizer(optimizer)
    if lr is not None:
        _check_lr(lr)
    if momentum is not None:
        _check_momentum(momentum)
    if steps is not None and not (_is_int(steps) and 1 <= int(steps) <= MAX_STEPS):  # type: ignore[call-overload]
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS:,}, got {steps!r}")
    if noise is not None and noise not in NOISE_KINDS:
        raise ValueError(f"noise must be 'uniform' or 'normal', got {noise!r}")
    if noise_scale is not None and not (
        _is_number(noise_scale)
        and math.isfinite(float(noise_scale))  # type: ignore[arg-type]
        and float(noise_scale) >= 0  # type: ignore[arg-type]
    ):
        raise ValueError(f"noise_scale must be a finite number ≥ 0, got {noise_scale!r}")
    if seed is not None and not (_is_int(seed) and 0 <= int(seed) <= MAX_SEED):  # type: ignore[call-overload]
        raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    if start is not None:
        _check_start(start)
    runs = 1 if compare is None else 1 + len(check_compare(compare))
    if n is not None:
        if not _is_int(n):
            raise ValueError(f"n must be a whole number, got {n!r}")
        if int(n) < 2:  # type: ignore[call-overload]
            raise ValueError(f"n must be at least 2 (a line needs two points), got {n!r}")
        if int(n) > MAX_N:  # type: ignore[call-overload]
            raise ValueError(f"n must be at most {MAX_N:,}, got {n!r}")
    points = None if n is None else int(n)  # type: ignore[call-overload]
    if x is not None or y is not None:
        if x is None or y is None:
            raise ValueError("x and y must be given together")
        nx, ny = _length(x, "x"), _length(y, "y")
        if nx != ny:
            raise ValueError(f"x and y must have the same length, got {nx} and {ny}")
        if nx < 2:
            raise ValueError(f"x and y need at least 2 points (a line needs two), got {nx}")
        if nx > MAX_N:
            raise ValueError(f"x and y can hold at most {MAX_N:,} points, got {nx:,}")
        points = nx
    if batch_size is not None:
        if not _is_int(batch_size):
            raise ValueError(f"batch_size must be a whole number or None, got {batch_size!r}")
        bs = int(batch_size)  # type: ignore[call-overload]
        if bs < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size!r}")
        if points is not None and bs > points:
            if changed == "n" and x is None:
                raise ValueError(f"n must be at least batch_size = {bs}, got {points}")
            raise ValueError(
                f"batch_size must be at most n = {points} (the number of points), "
                f"got {batch_size!r}"
            )
    if steps is not None and points is not None:
        _check_work(int(steps), points, runs, changed)  # type: ignore[call-overload]


def _check_work(steps: int, n: int, runs: int, changed: str | None) -> None:
    # Every step records the full-data loss, a minibatch step included, so a step costs n.
    work = steps * n * runs
    if work <= MAX_WORK:
        return
    why = (
        f"steps · n · runs = {steps:,} · {n:,} · {runs} is above {MAX_WORK:,}, "
        "the most one recompute does"
    )
    runs_text = f"{runs} run{'s' if runs > 1 else ''}"
    if changed == "n":
        raise ValueError(
            f"n must be at most {MAX_WORK // (steps * runs):,} with steps = {steps:,} "
            f"and {runs_text} ({why})"
        )
    if changed == "compare":
        raise ValueError(f"no room for another run at steps = {steps:,} and n = {n:,} ({why})")
    raise ValueError(
        f"steps must be at most {MAX_WORK // (n * runs):,} with n = {n:,} and {runs_text} ({why})"
    )


def _check_start(start: object) -> tuple[float, float]:
    try:
        a1, a2 = (float(v) for v in start)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"start must be two numbers (a1, a2), got {start!r}") from None
    if not all(math.isfinite(v) and abs(v) <= MAX_START for v in (a1, a2)):
        raise ValueError(f"start must be two finite numbers within ±{MAX_START:g}, got {start!r}")
    return a1, a2


@dataclass(frozen=True)
class Run:
    """One optimizer run: ``"sgd"`` (the lesson's loop), ``"momentum"`` or ``"adam"``.

    ``momentum`` is β for ``torch.optim.SGD(momentum=β)``; the other optimizers ignore it.
    Every field is checked here, ``None`` included (an lr that is ``None``, non-finite or
    ≤ 0 raises ``ValueError`` naming lr), and the numbers are stored as plain floats.
    """

    optimizer: str
    lr: float
    momentum: float = _DEFAULT_MOMENTUM

    def __post_init__(self) -> None:
        # Frozen: the checked, converted values go in through object.__setattr__.
        object.__setattr__(self, "optimizer", _check_optimizer(self.optimizer))
        object.__setattr__(self, "lr", _check_lr(self.lr))
        object.__setattr__(self, "momentum", _check_momentum(self.momentum))

    @property
    def label(self) -> str:
        """A short legend label, e.g. ``"SGD lr=0.1"`` or ``"momentum β=0.9 lr=0.1"``."""
        if self.optimizer == "momentum":
            return f"momentum β={self.momentum:g} lr={self.lr:g}"
        return f"{'Adam' if self.optimizer == 'adam' else 'SGD'} lr={self.lr:g}"


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Every step of one run.

    ``a[t]`` is the parameter before step t (``a[0]`` is the start) and ``loss[t]`` the
    full-data MSE at ``a[t]``.  ``diverged_at`` is the first step whose loss is
    non-finite or above :func:`loss_limit`; the run stopped there and the arrays hold the
    finite points up to it (that point included when finite), so no NaN or inf ever
    leaves this module.
    """

    a: npt.NDArray[np.float64]
    loss: npt.NDArray[np.float64]
    diverged_at: int | None

    @property
    def steps(self) -> int:
        """The number of recorded steps (``len(loss) - 1``)."""
        return len(self.loss) - 1


def make_data(
    n: int = 100,
    noise: str = "uniform",
    noise_scale: float | None = None,
    seed: int = 42,
    true_a: Sequence[float] = (3.0, 2.0),
) -> tuple[Tensor, Tensor]:
    """The lesson's data: ``x`` (n, 2) float32 with columns ``[U(-1, 1), 1]`` and ``y`` (n,).

    Bitwise the numbers of ``torch.manual_seed(seed); x = torch.ones(n, 2);
    x[:, 0].uniform_(-1., 1); y = x @ tensor(3., 2) + torch.rand(n)``, drawn from a private
    generator so the caller's global random state is left alone.
    """
    check_settings(n=n, noise=noise, noise_scale=noise_scale, seed=seed)
    ta = _check_start(true_a)  # the same rule: two finite numbers
    scale = DEFAULT_NOISE_SCALE[noise] if noise_scale is None else float(noise_scale)
    # A CPU Generator seeded like the global one yields the same stream (checked in the
    # tests), so the lesson's numbers come out without touching the user's RNG.
    g = torch.Generator().manual_seed(int(seed))
    f32 = torch.float32  # explicit: a float64 default dtype must not change the lesson
    x = torch.ones(n, 2, dtype=f32)
    x[:, 0].uniform_(-1.0, 1, generator=g)
    a = torch.tensor(ta, dtype=f32)
    draw = (torch.rand if noise == "uniform" else torch.randn)(n, generator=g, dtype=f32)
    y = x @ a + scale * draw
    return x, y


def _as_1d_float32(v: object, name: str) -> Tensor:
    if isinstance(v, Tensor):
        t = v.detach().to("cpu", torch.float32)
    else:
        try:
            t = torch.as_tensor(np.asarray(v, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} must be a 1-D sequence of numbers: {e}") from None
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def features(x1d: object) -> Tensor:
    """User data ``x`` (1-D, or one column) as the lesson's features: columns ``[x, 1]``."""
    x = _as_1d_float32(x1d, "x")
    X = torch.ones(len(x), 2, dtype=torch.float32)
    X[:, 0] = x
    return X


def user_data(x: object, y: object) -> tuple[Tensor, Tensor]:
    """Validate a 1-D regression ``(x, y)`` and return ``(features(x), y)`` as float32."""
    check_settings(x=x, y=y)
    return features(x), _as_1d_float32(y, "y")


def _prepare(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {tuple(X.shape)}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {tuple(y.shape)}")
    check_settings(x=X, y=y)
    return X.detach().to("cpu", torch.float32), y.detach().to("cpu", torch.float32)


def hessian(X: Tensor) -> Tensor:
    """The MSE's Hessian ``2/n XᵀX`` (2, 2), in float64."""
    Xd = X.detach().to("cpu", torch.float64)
    return 2.0 / Xd.shape[0] * (Xd.T @ Xd)


def stability_limit(X: Tensor) -> float:
    """``2/λmax`` of the Hessian: plain full-batch SGD converges for lr below it."""
    lam = float(torch.linalg.eigvalsh(hessian(X))[-1])
    return 2.0 / lam if lam > 0 else math.inf


def momentum_limit(X: Tensor, beta: float) -> float:
    """``2(1 + β)/λmax``: full-batch SGD with momentum β converges for lr below it.

    Heavy-ball momentum on a quadratic is stable while ``lr·λ < 2(1 + β)`` for every
    eigenvalue λ of the Hessian, so the limit is plain SGD's times ``1 + β``.
    """
    return (1.0 + _check_momentum(beta)) * stability_limit(X)


def format_limit(limit: float) -> str:
    """A stability limit as the widget and the view both show it: 3 significant digits.

    The text of JavaScript's ``String(Number(v.toPrecision(3)))`` (``formatLimit`` in
    js/src/core/sgdform.ts): 0.998477 → ``"0.998"``, 1.0 → ``"1"``, 0.0285 → ``"0.0285"``,
    1234 → ``"1230"``; ``""`` for a limit that is not a positive finite number.
    """
    v = float(limit)
    if not (math.isfinite(v) and v > 0):
        return ""
    # toPrecision rounds the double's exact value, a tie up (Python's "g" rounds it to
    # even): 1.125 -> "1.13" in both here.
    exact = Decimal(v)
    r = float(exact.quantize(Decimal(1).scaleb(exact.adjusted() - 2), rounding=ROUND_HALF_UP))
    # String(number) is the shortest text that reads back the same double, as repr is,
    # in plain decimals from 1e-6 up to 1e21 and in exponent form ("1e-7") outside.
    if r == math.inf:  # rounded up past the largest double, as JS does
        return "Infinity"
    if 1e-6 <= r < 1e21:
        return format(Decimal(repr(r)).normalize(), "f")
    mantissa, exponent = repr(r).split("e")
    return f"{mantissa}e{'-' if exponent[0] == '-' else '+'}{int(exponent[1:])}"


def divergence_reason(run: Run, limit: float, batch_size: int | None, n: int) -> str:
    """Why ``run`` diverged, for the message "diverged at step k (<reason>)".

    ``limit`` is :func:`stability_limit` (plain SGD's 2/λmax); momentum's limit is
    ``(1 + β)·limit`` (:func:`momentum_limit`).  Full batch (``batch_size`` None or ≥ n)
    above the limit: "lr above stability limit ≈ L" / "lr above momentum's stability
    limit ≈ L".  Minibatches below it: "small batches make steps noisier: lr near the
    limit ≈ L diverges".  Adam has no such limit: "lr too large for Adam".  L is
    :func:`format_limit`'s text.
    """
    if run.optimizer == "adam":
        return "lr too large for Adam"
    if run.optimizer == "momentum":
        bound, whose = (1.0 + run.momentum) * limit, "momentum's stability limit"
    else:
        bound, whose = limit, "stability limit"
    text = format_limit(bound)
    if run.lr > bound:
        return f"lr above {whose} ≈ {text}"
    if batch_size is not None and batch_size < n:
        return f"small batches make steps noisier: lr near the limit ≈ {text} diverges"
    # Full batch at or just below the limit: float32 rounding can tip it over.
    return f"lr at the {whose} ≈ {text}"


def minimum(X: Tensor, y: Tensor) -> tuple[float, float]:
    """The least-squares ``a`` (the bottom of the loss), from ``torch.linalg.lstsq``."""
    Xd = X.detach().to("cpu", torch.float64)
    yd = y.detach().to("cpu", torch.float64)
    sol = torch.linalg.lstsq(Xd, yd.unsqueeze(1)).solution[:, 0]
    return float(sol[0]), float(sol[1])


def quadratic(
    X: Tensor, y: Tensor
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """``(A, b, c)`` with ``L(a) = aᵀAa - 2bᵀa + c`` the full-data MSE, for the contour.

    ``A = XᵀX/n``, ``b = Xᵀy/n``, ``c = yᵀy/n`` (float64), so the browser can evaluate the
    loss anywhere without the kernel.
    """
    Xd = X.detach().to("cpu", torch.float64).numpy()
    yd = y.detach().to("cpu", torch.float64).numpy()
    n = Xd.shape[0]
    return Xd.T @ Xd / n, Xd.T @ yd / n, float(yd @ yd / n)


def loss_limit(X: Tensor, y: Tensor, start: Sequence[float] = (-1.0, 1.0)) -> float:
    """The loss above which a run counts as diverged: :data:`DIVERGENCE_FACTOR` · the
    larger of the loss at ``start`` and ``mean(y²)``, both in float32 as the run computes
    them (the code shown by "show code" computes the same number the same way)."""
    X, y = _prepare(X, y)
    a = torch.tensor(_check_start(start), dtype=torch.float32)
    with torch.no_grad():
        return _loss_limit(X, y, a)


def _loss_limit(X: Tensor, y: Tensor, a: Tensor) -> float:
    # Written as in _run_code's "max_loss = ..." line: the same ops give the same float.
    return DIVERGENCE_FACTOR * max(_mse(X @ a, y).item(), (y**2).mean().item())


def _epoch_batches(n: int, batch_size: int, g: torch.Generator) -> list[Tensor]:
    # A fresh shuffle each epoch, cut in order; the last batch may be smaller.
    return list(torch.randperm(n, generator=g).split(batch_size))  # type: ignore[no-untyped-call]


def trajectory(
    X: Tensor,
    y: Tensor,
    run: Run,
    steps: int = 100,
    start: Sequence[float] = (-1.0, 1.0),
    batch_size: int | None = None,
    seed: int = 0,
) -> Trajectory:
    """Run ``run`` for ``steps`` steps from ``start`` on ``(X, y)`` and record every point.

    Plain SGD is the lesson's loop, ``loss = mse(X @ a, y); loss.backward();
    a.sub_(lr * a.grad); a.grad.zero_()``, so the defaults give the lesson's numbers
    exactly.  Momentum and Adam are ``torch.optim.SGD(momentum=β)`` and
    ``torch.optim.Adam(betas=(0.9, 0.999))``, stepped through the functions their
    ``step()`` calls (the tests check the numbers equal theirs, step by step).
    ``batch_size < n`` takes each step's gradient on a batch drawn in order from a fresh
    shuffle per epoch (``torch.Generator`` seeded with ``seed``); the recorded loss stays
    the full-data MSE, so the curves compare.  The run stops at the first diverged point
    (see :class:`Trajectory`).
    """
    X, y = _prepare(X, y)
    n = X.shape[0]
    check_settings(steps=steps, batch_size=batch_size, n=n, seed=seed)
    a1, a2 = _check_start(start)
    bs = n if batch_size is None else int(batch_size)
    # batch_size == n is the full batch: a shuffled full batch would sum in another order.
    g = None if bs >= n else torch.Generator().manual_seed(int(seed))
    update = _updater(run)
    batches: list[Tensor] = []
    # The caller may sit in torch.no_grad(); the loop needs autograd.
    with torch.enable_grad():
        a = nn.Parameter(torch.tensor([a1, a2], dtype=torch.float32))
        with torch.no_grad():
            max_loss = _loss_limit(X, y, a)
        if not math.isfinite(max_loss):
            raise ValueError(
                "the loss at start overflows float32: the data or the start are too large"
            )
        points = [a.tolist()]
        losses: list[float] = []
        for _ in range(steps):
            if g is None:
                loss = _mse(X @ a, y)
                full = loss.detach().item()
            else:
                if not batches:
                    batches = _epoch_batches(n, bs, g)
                idx = batches.pop(0)
                with torch.no_grad():
                    full = _mse(X @ a, y).item()
                loss = _mse(X[idx] @ a, y[idx])
            losses.append(full)
            if not full <= max_loss:  # also true for NaN: stop before stepping from it
                break
            loss.backward()  # type: ignore[no-untyped-call]
            update(a)
            points.append(a.tolist())
        if len(losses) < len(points):
            with torch.no_grad():
                losses.append(_mse(X @ a, y).item())
    return _finish(points, losses, max_loss)


def _updater(run: Run) -> Callable[[Tensor], None]:
    """The step for ``run`` as a function of the parameter, holding the optimizer state."""
    lr = float(run.lr)
    if run.optimizer == "sgd":

        def sgd(a: Tensor) -> None:
            grad = a.grad
            assert grad is not None
            with torch.no_grad():  # the lesson's update, op for op
                a.sub_(lr * grad)
                grad.zero_()

        return sgd
    # torch.optim.SGD/Adam.step() spend most of their time in hooks, profiling and
    # bookkeeping for a 2-element parameter; their functional kernels (what step() calls
    # on CPU, foreach=False) give the same numbers at a third of the cost.
    if run.optimizer == "momentum":
        bufs: list[Tensor | None] = [None]
        beta = float(run.momentum)

        def momentum(a: Tensor) -> None:
            grad = a.grad
            assert grad is not None
            with torch.no_grad():
                _optim_sgd(
                    [a],
                    [grad],
                    bufs,
                    foreach=False,
                    weight_decay=0.0,
                    momentum=beta,
                    lr=lr,
                    dampening=0.0,
                    nesterov=False,
                    maximize=False,
                )
            a.grad = None  # opt.zero_grad()

        return momentum
    exp_avg = torch.zeros(2, dtype=torch.float32)
    exp_avg_sq = torch.zeros(2, dtype=torch.float32)
    step = torch.tensor(0.0, dtype=torch.float32)  # Adam keeps its step count as a tensor

    def adam(a: Tensor) -> None:
        grad = a.grad
        assert grad is not None
        with torch.no_grad():
            _optim_adam(
                [a],
                [grad],
                [exp_avg],
                [exp_avg_sq],
                [],
                [step],
                foreach=False,
                amsgrad=False,
                beta1=_ADAM_BETAS[0],
                beta2=_ADAM_BETAS[1],
                lr=lr,
                weight_decay=0.0,
                eps=_ADAM_EPS,
                maximize=False,
            )
        a.grad = None

    return adam


def _finish(points: list[list[float]], losses: list[float], max_loss: float) -> Trajectory:
    a = np.array(points, dtype=np.float64).reshape(-1, 2)
    loss = np.array(losses, dtype=np.float64)
    finite = np.isfinite(a).all(axis=1) & np.isfinite(loss)
    bad = ~finite | (loss > max_loss)
    if not bad.any():
        return Trajectory(a, loss, None)
    at = int(np.argmax(bad))
    keep = at + 1 if finite[at] else at
    return Trajectory(a[:keep].copy(), loss[:keep].copy(), at)


# ---- the code shown by "show code" -------------------------------------------------------

_DEFAULTS: dict[str, Any] = {
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "batch_size": None,
    "steps": 100,
    "n": 100,
    "noise": "uniform",
    "noise_scale": None,
    "seed": 42,
    "start": (-1.0, 1.0),
    "true_a": (3.0, 2.0),
    "user_data": False,
    "compare": (),
}


_FACTOR_TEXT = f"{DIVERGENCE_FACTOR:.0e}".replace("+", "")  # "1e12", as a person writes it


def _f(v: float) -> str:
    return repr(float(v))


def _data_code(s: Mapping[str, Any]) -> list[str]:
    if s["user_data"]:
        return [
            "# Your data: x1d and y of the same length, shape (n,) or (n, 1); features [x, 1]",
            "def as_1d(v):  # a list, array, Series or tensor (even one that requires grad)",
            "    if isinstance(v, torch.Tensor):",
            "        return v.detach().cpu().float().reshape(-1)",
            "    return torch.as_tensor(np.asarray(v, dtype=np.float32)).reshape(-1)",
            "",
            "",
            "x1d, y = as_1d(x1d), as_1d(y)",
            "x = torch.ones(len(x1d), 2)",
            "x[:, 0] = x1d",
            "n = len(y)",
        ]
    noise = s["noise"]
    scale = DEFAULT_NOISE_SCALE[noise] if s["noise_scale"] is None else float(s["noise_scale"])
    draw = f"torch.{'rand' if noise == 'uniform' else 'randn'}(n)"
    ta = _check_start(s["true_a"])
    return [
        "# The data: a line plus noise, as in fastai's lesson 2 (2019)",
        f"n = {int(s['n'])}",
        f"torch.manual_seed({int(s['seed'])})",
        "x = torch.ones(n, 2)",
        "x[:, 0].uniform_(-1.0, 1)",
        f"a = torch.tensor([{_f(ta[0])}, {_f(ta[1])}])",
        f"y = x @ a + {draw if scale == 1.0 else f'{_f(scale)} * {draw}'}",
    ]


def _run_code(
    s: Mapping[str, Any],
    n: int | None,
    optimizer: str,
    lr: float,
    momentum: float,
    batch_seed: int,
) -> list[str]:
    a1, a2 = _check_start(s["start"])
    steps = int(s["steps"])
    bs = s["batch_size"]
    mini = bs is not None and (n is None or int(bs) < n)  # batch_size == n is the full batch
    label = Run(optimizer, lr, momentum).label
    kind = f"batches of {int(bs)}" if mini else "full batch"
    out = [
        f"# {label}, {steps} steps, {kind}",
        f"lr = {_f(lr)}",
        f"a = nn.Parameter(torch.tensor([{_f(a1)}, {_f(a2)}]))",
    ]
    if optimizer != "sgd":
        out.append("# the playground calls the same update as torch.optim's step(), bitwise equal")
    if optimizer == "momentum":
        out.append(f"opt = torch.optim.SGD([a], lr=lr, momentum={_f(momentum)})")
    elif optimizer == "adam":
        out.append("opt = torch.optim.Adam([a], lr=lr, betas=(0.9, 0.999))")
    out += [
        "history = [a.tolist()]  # a before each step",
        "losses = []  # the loss on all the data at each point of history",
        "# the run has diverged once the loss passes this (the playground stops there too)",
        "with torch.no_grad():",
        f"    max_loss = {_FACTOR_TEXT} * max(mse(x @ a, y).item(), (y ** 2).mean().item())",
    ]
    if mini:
        out += [
            f"batch_size = {int(bs)}",
            f"g = torch.Generator().manual_seed({batch_seed})  # the batches' own random numbers",
            "batches = []",
            f"for t in range({steps}):",
            "    if not batches:  # a new epoch: shuffle, then cut in batches",
            "        batches = list(torch.randperm(n, generator=g).split(batch_size))",
            "    idx = batches.pop(0)",
            "    with torch.no_grad():",
            "        losses.append(mse(x @ a, y).item())",
            "    loss = mse(x[idx] @ a, y[idx])",
        ]
    else:
        out += [
            f"for t in range({steps}):",
            "    loss = mse(x @ a, y)",
            "    losses.append(loss.detach().item())",
        ]
    out += [
        "    if not losses[-1] <= max_loss:  # diverged (or NaN): stop before stepping from it",
        "        break",
        "    loss.backward()",
    ]
    if optimizer == "sgd":
        out += [
            "    with torch.no_grad():",
            "        a.sub_(lr * a.grad)",
            "        a.grad.zero_()",
        ]
    else:
        out += ["    opt.step()", "    opt.zero_grad()"]
    out += [
        "    history.append(a.tolist())",
        "if len(losses) < len(history):  # the loss at the last point, unless it stopped there",
        "    with torch.no_grad():",
        "        losses.append(mse(x @ a, y).item())",
    ]
    return out


def code(settings: Mapping[str, Any]) -> str:
    """The Python that computes the current settings' runs, lesson style.

    ``settings`` holds the widget's settings: ``optimizer, lr, momentum, batch_size,
    steps, n, noise, noise_scale, seed, start`` (missing ones take the defaults), plus
    optionally ``compare`` (a list of ``{optimizer, lr, momentum}``), ``user_data``
    (``True``: the code starts from the user's ``x1d`` and ``y``) and ``batch_seed`` (the
    ``seed`` given to :func:`trajectory`; defaults to ``seed``).  Run as is, the code
    gives bitwise the numbers of :func:`make_data` and :func:`trajectory`: each run leaves
    ``history`` (a per step) and ``losses``; with compared runs, ``runs`` holds every
    run's ``(history, losses)`` in order.
    """
    given = {k: v for k, v in settings.items() if v is not None or k == "batch_size"}
    s = {**_DEFAULTS, **given}
    # With user data ``n`` should be len(x); unknown, a batch size is taken to mean batches.
    n = int(s["n"]) if not s["user_data"] or "n" in given else None
    check_settings(
        lr=s["lr"],
        momentum=s["momentum"],
        optimizer=s["optimizer"],
        batch_size=s["batch_size"],
        steps=s["steps"],
        n=None if n is None else s["n"],
        noise=s["noise"],
        noise_scale=s["noise_scale"],
        seed=s["seed"],
        start=s["start"],
        compare=s["compare"],
    )
    batch_seed = s.get("batch_seed", s["seed"])
    check_settings(seed=batch_seed)
    runs = [(s["optimizer"], float(s["lr"]), float(s["momentum"]))]
    runs += [(c["optimizer"], c["lr"], c["momentum"]) for c in check_compare(s["compare"])]
    lines = ["import torch", "from torch import nn"]
    if s["user_data"]:
        lines.insert(0, "import numpy as np")
    lines += [
        "",
        *_data_code(s),
        "",
        "",
        "def mse(y_hat, y):",
        "    return ((y_hat - y) ** 2).mean()",
    ]
    if len(runs) > 1:
        lines += ["", "", "runs = []  # (history, losses) of each run"]
    for opt, lr, beta in runs:
        lines += ["", "", *_run_code(s, n, opt, lr, beta, int(batch_seed))]
        if len(runs) > 1:
            lines.append("runs.append((history, losses))")
    return "\n".join(lines) + "\n"
