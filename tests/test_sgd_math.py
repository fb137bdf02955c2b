"""The SGD playground's math against the lesson's own code, torch.optim and numpy."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from fastwidgets import _sgd_math as m

# ---- the lesson, written out as in the 2019 notebook (fastai's `tensor(3., 2)` is
# torch.tensor([3., 2.]); `mse(y, y_hat)` is the lesson's argument order) ---------------


def lesson_data(n: int = 100, seed: int = 42) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    x = torch.ones(n, 2)
    x[:, 0].uniform_(-1.0, 1)
    a = torch.tensor([3.0, 2])
    y = x @ a + torch.rand(n)
    return x, y


def lesson_mse(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((y_hat - y) ** 2).mean()


def lesson_loop(
    x: torch.Tensor, y: torch.Tensor, lr: float = 1e-1, steps: int = 100
) -> tuple[list[list[float]], list[float]]:
    a = nn.Parameter(torch.tensor([-1.0, 1]))
    history, losses = [a.tolist()], []

    def update() -> None:
        y_hat = x @ a
        loss = lesson_mse(y, y_hat)
        losses.append(loss.detach().item())  # where the lesson prints it
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            a.sub_(lr * a.grad)  # type: ignore[operator]
            a.grad.zero_()  # type: ignore[union-attr]

    for _ in range(steps):
        update()
        history.append(a.tolist())
    losses.append(lesson_mse(y, x @ a).detach().item())
    return history, losses


def optim_loop(
    x: torch.Tensor, y: torch.Tensor, make_opt: Any, steps: int = 100
) -> tuple[list[list[float]], list[float]]:
    """torch.optim driven by hand, the usual way (zero_grad, backward, step)."""
    a = nn.Parameter(torch.tensor([-1.0, 1.0]))
    opt = make_opt([a])
    history, losses = [a.tolist()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = lesson_mse(x @ a, y)
        losses.append(loss.detach().item())
        loss.backward()
        opt.step()
        history.append(a.tolist())
    losses.append(lesson_mse(x @ a, y).detach().item())
    return history, losses


def assert_same(traj: m.Trajectory, history: list[list[float]], losses: list[float]) -> None:
    """Bitwise equality, step by step (float32 values widened exactly to float64)."""
    assert traj.a.dtype == np.float64 and traj.loss.dtype == np.float64
    if traj.diverged_at is None:  # else it stopped early, on purpose
        assert len(traj.a) == len(traj.loss) == len(history) == len(losses)
    np.testing.assert_array_equal(traj.a, np.array(history[: len(traj.a)]))
    np.testing.assert_array_equal(traj.loss, np.array(losses[: len(traj.loss)]))


# ---- data --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 15, 16, 100, 1000])
@pytest.mark.parametrize("seed", [0, 42, 2**40 + 3])
def test_make_data_is_the_lessons_data_and_leaves_the_global_rng_alone(n: int, seed: int) -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    X, y = m.make_data(n=n, seed=seed)
    assert torch.equal(torch.get_rng_state(), before)
    x0, y0 = lesson_data(n, seed)
    assert X.dtype == torch.float32 and X.shape == (n, 2) and y.shape == (n,)
    assert torch.equal(X, x0) and torch.equal(y, y0)


def test_make_data_normal_noise_and_scales() -> None:
    X, y = m.make_data(n=50, noise="normal", seed=3)
    torch.manual_seed(3)
    x0 = torch.ones(50, 2)
    x0[:, 0].uniform_(-1.0, 1)
    y0 = x0 @ torch.tensor([3.0, 2.0]) + 0.25 * torch.randn(50)
    assert torch.equal(X, x0) and torch.equal(y, y0)
    _, y_quiet = m.make_data(n=50, noise="normal", noise_scale=0.0, seed=3)
    assert torch.equal(y_quiet, x0 @ torch.tensor([3.0, 2.0]))
    _, y_big = m.make_data(n=50, noise="uniform", noise_scale=2.0, true_a=(-1.0, 0.5), seed=3)
    torch.manual_seed(3)
    x1 = torch.ones(50, 2)
    x1[:, 0].uniform_(-1.0, 1)
    assert torch.equal(y_big, x1 @ torch.tensor([-1.0, 0.5]) + 2.0 * torch.rand(50))


# ---- the default trajectory is the lesson, step by step ----------------------------------


def test_default_trajectory_equals_the_lessons_loop_exactly() -> None:
    x, y = lesson_data()
    history, losses = lesson_loop(x, y)
    X, Y = m.make_data()
    traj = m.trajectory(X, Y, m.Run("sgd", 0.1))
    assert traj.diverged_at is None and traj.steps == 100
    assert traj.a.shape == (101, 2) and traj.loss.shape == (101,)
    assert_same(traj, history, losses)
    assert traj.a[0].tolist() == [-1.0, 1.0]
    # and it learns the line: close to the least-squares answer after 100 steps
    assert np.allclose(traj.a[-1], m.minimum(X, Y), atol=0.05)
    assert traj.loss[-1] < traj.loss[0] / 50


def test_trajectory_works_inside_no_grad_and_leaves_the_rng_alone() -> None:
    X, y = m.make_data()
    ref = m.trajectory(X, y, m.Run("sgd", 0.1), batch_size=10, seed=5)
    torch.manual_seed(7)
    before = torch.get_rng_state()
    with torch.no_grad():
        got = m.trajectory(X, y, m.Run("sgd", 0.1), batch_size=10, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(got.a, ref.a)
    np.testing.assert_array_equal(got.loss, ref.loss)


def test_a_float64_default_dtype_changes_nothing() -> None:
    X, y = m.make_data()
    ref = [m.trajectory(X, y, m.Run(o, 0.1)) for o in m.OPTIMIZERS]
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        X2, y2 = m.make_data()
        got = [m.trajectory(X2, y2, m.Run(o, 0.1)) for o in m.OPTIMIZERS]
        X3 = m.features(X[:, 0].double())
    finally:
        torch.set_default_dtype(old)
    assert X2.dtype == y2.dtype == X3.dtype == torch.float32
    assert torch.equal(X2, X) and torch.equal(y2, y) and torch.equal(X3, X)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_array_equal(r.a, g.a)
        np.testing.assert_array_equal(r.loss, g.loss)


def test_loss_is_the_full_data_mse_at_each_point() -> None:
    X, y = m.make_data()
    for traj in (
        m.trajectory(X, y, m.Run("sgd", 0.3)),
        m.trajectory(X, y, m.Run("adam", 0.05), batch_size=7, seed=1),
    ):
        Xd, yd = X.double().numpy(), y.double().numpy()
        want = ((traj.a @ Xd.T - yd) ** 2).mean(axis=1)
        np.testing.assert_allclose(traj.loss, want, rtol=1e-5)


# ---- stability limit and divergence ------------------------------------------------------


def test_stability_limit_is_two_over_the_largest_hessian_eigenvalue() -> None:
    X, _ = m.make_data()
    Xd = X.double().numpy()
    H = 2.0 / len(Xd) * Xd.T @ Xd
    np.testing.assert_allclose(m.hessian(X).numpy(), H, rtol=1e-12)
    want = 2.0 / np.linalg.eigvalsh(H).max()
    assert math.isclose(m.stability_limit(X), want, rel_tol=1e-10)
    assert 0.85 <= m.stability_limit(X) <= 1.15  # "about 1.0" for the lesson's data
    # other data, other limit: x spread over [0, 10] makes the loss much steeper
    X2 = m.features(np.linspace(0, 10, 30))
    X2d = X2.double().numpy()
    want2 = 2.0 / np.linalg.eigvalsh(2.0 / 30 * X2d.T @ X2d).max()
    assert math.isclose(m.stability_limit(X2), want2, rel_tol=1e-10)
    assert m.stability_limit(X2) < 0.1


def test_lr_below_the_limit_converges_and_above_it_diverges() -> None:
    X, y = m.make_data()
    limit = m.stability_limit(X)
    best = np.array(m.minimum(X, y))
    below = m.trajectory(X, y, m.Run("sgd", 0.95 * limit), steps=300)
    assert below.diverged_at is None
    assert np.allclose(below.a[-1], best, atol=1e-3)
    # just above the limit the top direction's error grows by |1 - lr·λmax| > 1 each step
    above = m.trajectory(X, y, m.Run("sgd", 1.1 * limit), steps=1000)
    assert above.diverged_at is not None

    x, yy = lesson_data()
    history, losses = lesson_loop(x, yy, lr=1.5)
    traj = m.trajectory(X, y, m.Run("sgd", 1.5))
    k = traj.diverged_at
    # the error doubles each step (|1 - 1.5·λmax| ≈ 2), the loss grows 4-fold: 1e12 in ~20
    assert k is not None and 15 <= k <= 25
    assert np.isfinite(traj.a).all() and np.isfinite(traj.loss).all()
    # the diverged point itself is finite here, so it is kept: the values shoot off
    assert len(traj.a) == len(traj.loss) == k + 1
    limit = m.loss_limit(X, y)
    assert limit == 1e12 * max(traj.loss[0], (y**2).mean().item())  # float32, as computed
    assert traj.loss[k] > limit and (traj.loss[:k] <= limit).all()
    assert_same(traj, history, losses)  # the same numbers as the lesson until it stops
    assert traj.loss[k] > 1e6 * traj.loss[0]


@pytest.mark.parametrize("run", [m.Run("sgd", 1e30), m.Run("momentum", 1e36, 0.99)])
def test_a_huge_lr_returns_only_finite_values(run: m.Run) -> None:
    X, y = m.make_data()
    traj = m.trajectory(X, y, run, steps=50)
    assert traj.diverged_at is not None and traj.diverged_at <= 2
    assert np.isfinite(traj.a).all() and np.isfinite(traj.loss).all()
    assert len(traj.a) == len(traj.loss) >= 1
    assert traj.a[0].tolist() == [-1.0, 1.0]


def test_adam_at_a_large_lr_does_not_blow_up() -> None:
    # Adam's steps are bounded by about lr: no divergence report, all finite
    X, y = m.make_data()
    traj = m.trajectory(X, y, m.Run("adam", 5.0), steps=200)
    assert traj.diverged_at is None and np.isfinite(traj.a).all()


# ---- momentum and Adam are torch.optim ---------------------------------------------------


@pytest.mark.parametrize(("lr", "beta"), [(0.1, 0.9), (0.05, 0.5), (0.3, 0.0), (0.01, 0.99)])
def test_momentum_equals_torch_optim_sgd(lr: float, beta: float) -> None:
    X, y = m.make_data()
    history, losses = optim_loop(X, y, lambda p: torch.optim.SGD(p, lr=lr, momentum=beta), 150)
    traj = m.trajectory(X, y, m.Run("momentum", lr, beta), steps=150)
    assert traj.diverged_at is None and traj.steps == 150
    assert_same(traj, history, losses)


@pytest.mark.parametrize("lr", [0.1, 0.01, 0.5])
def test_adam_equals_torch_optim_adam(lr: float) -> None:
    X, y = m.make_data()
    history, losses = optim_loop(X, y, lambda p: torch.optim.Adam(p, lr=lr), 150)
    traj = m.trajectory(X, y, m.Run("adam", lr), steps=150)
    assert traj.diverged_at is None and traj.steps == 150
    assert_same(traj, history, losses)


def test_momentum_run_with_user_start_equals_torch_optim() -> None:
    X, y = m.make_data(n=40, noise="normal", seed=9)
    a = nn.Parameter(torch.tensor([4.5, -2.25]))
    opt = torch.optim.SGD([a], lr=0.2, momentum=0.8)
    history = [a.tolist()]
    for _ in range(60):
        opt.zero_grad()
        lesson_mse(X @ a, y).backward()  # type: ignore[no-untyped-call]
        opt.step()
        history.append(a.tolist())
    traj = m.trajectory(X, y, m.Run("momentum", 0.2, 0.8), steps=60, start=(4.5, -2.25))
    np.testing.assert_array_equal(traj.a, np.array(history))


# ---- minibatches -------------------------------------------------------------------------


def test_minibatch_is_reproducible_noisy_and_still_learns() -> None:
    X, y = m.make_data()
    run = m.Run("sgd", 0.05)
    one = m.trajectory(X, y, run, steps=400, batch_size=5, seed=1)
    again = m.trajectory(X, y, run, steps=400, batch_size=5, seed=1)
    other = m.trajectory(X, y, run, steps=400, batch_size=5, seed=2)
    np.testing.assert_array_equal(one.a, again.a)
    np.testing.assert_array_equal(one.loss, again.loss)
    assert not np.array_equal(one.a, other.a)
    full = m.trajectory(X, y, run, steps=400)
    assert not np.array_equal(one.a, full.a)
    # "stochastic" is visible: the full-data loss goes up now and then
    assert (np.diff(one.loss) > 1e-4).sum() >= 10
    # while full batch at this lr only goes down (up to float32 rounding at the bottom)
    assert (np.diff(full.loss) <= 1e-6).all()
    # and the path still gets near the minimum
    best = np.array(m.minimum(X, y))
    best_loss = m.quadratic(X, y)[2] - float(best @ m.quadratic(X, y)[1])
    assert np.abs(one.a[-50:].mean(axis=0) - best).max() < 0.1
    assert one.loss[-1] < 1.1 * best_loss + 0.01
    assert one.loss[-1] < one.loss[0] / 20


def test_batch_size_n_is_the_full_batch_exactly() -> None:
    X, y = m.make_data()
    for run in (m.Run("sgd", 0.1), m.Run("momentum", 0.1), m.Run("adam", 0.1)):
        full = m.trajectory(X, y, run)
        same = m.trajectory(X, y, run, batch_size=100, seed=3)
        np.testing.assert_array_equal(full.a, same.a)
        np.testing.assert_array_equal(full.loss, same.loss)


def test_minibatches_walk_a_fresh_shuffle_each_epoch() -> None:
    # One step per batch; with lr tiny enough a step is the batch gradient times lr, so
    # each epoch's batches together cover every point once: checked by recomputing them.
    X, y = m.make_data(n=10)
    traj = m.trajectory(X, y, m.Run("sgd", 0.01), steps=8, batch_size=3, seed=4)
    g = torch.Generator().manual_seed(4)
    batches = [*torch.randperm(10, generator=g).split(3), *torch.randperm(10, generator=g).split(3)]
    assert [len(b) for b in batches] == [3, 3, 3, 1, 3, 3, 3, 1]
    a = nn.Parameter(torch.tensor([-1.0, 1.0]))
    for t, idx in enumerate(batches):
        loss = lesson_mse(X[idx] @ a, y[idx])
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            a.sub_(0.01 * a.grad)  # type: ignore[operator]
            a.grad.zero_()  # type: ignore[union-attr]
        assert a.tolist() == traj.a[t + 1].tolist()


# ---- minimum and the quadratic form ------------------------------------------------------


def test_minimum_is_least_squares_and_quadratic_is_the_mse() -> None:
    for X, y in (m.make_data(), m.make_data(n=7, noise="normal", seed=1), m.make_data(n=2)):
        Xd, yd = X.double().numpy(), y.double().numpy()
        want = np.linalg.lstsq(Xd, yd, rcond=None)[0]
        np.testing.assert_allclose(m.minimum(X, y), want, rtol=1e-9, atol=1e-12)
        A, b, c = m.quadratic(X, y)
        assert A.shape == (2, 2) and b.shape == (2,) and isinstance(c, float)
        rng = np.random.default_rng(0)
        for a in rng.uniform(-10, 10, size=(20, 2)):
            mse = float(((Xd @ a - yd) ** 2).mean())
            assert math.isclose(a @ A @ a - 2 * b @ a + c, mse, rel_tol=1e-10, abs_tol=1e-12)
        # the minimum is where the gradient 2(Aa - b) vanishes
        np.testing.assert_allclose(A @ np.array(m.minimum(X, y)), b, atol=1e-9)


# ---- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"lr": 0.0}, "lr must be positive"),
        ({"lr": -0.1}, "lr must be positive"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"lr": float("inf")}, "lr must be a finite number"),
        ({"lr": "0.1"}, "lr must be a number"),
        ({"lr": True}, "lr must be a number"),
        ({"batch_size": 101, "n": 100}, "batch_size must be at most n = 100"),
        ({"batch_size": 0, "n": 100}, "batch_size must be at least 1"),
        ({"batch_size": 2.5}, "batch_size must be a whole number"),
        ({"batch_size": 11, "x": [1.0] * 10, "y": [2.0] * 10}, "batch_size must be at most n = 10"),
        ({"n": 1}, "n must be at least 2"),
        ({"n": 0}, "n must be at least 2"),
        ({"n": 10**9}, "n must be at most"),
        ({"n": 3.0}, "n must be a whole number"),
        ({"steps": 0}, "steps must be a whole number from 1 to 10,000"),
        ({"steps": 10_001}, "steps must be"),
        ({"momentum": 1.0}, "momentum must be a number in [0, 1)"),
        ({"momentum": -0.1}, "momentum must be"),
        ({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0]}, "x and y must have the same length, got 3 and 2"),
        ({"x": [1.0], "y": [1.0]}, "x and y need at least 2 points"),
        ({"x": [1.0, 2.0]}, "x and y must be given together"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of 'sgd', 'momentum', 'adam'"),
        ({"noise": "laplace"}, "noise must be 'uniform' or 'normal'"),
        ({"noise_scale": -1.0}, "noise_scale must be"),
        ({"seed": -1}, "seed must be"),
        ({"seed": 1.5}, "seed must be"),
        ({"start": (1.0,)}, "start must be two numbers"),
        ({"start": (float("nan"), 0.0)}, "start must be two finite numbers"),
        ({"start": (1e13, 0.0)}, "start must be two finite numbers within ±1e+12"),
        ({"n": 10_001}, "n must be at most 10,000, got 10001"),
        ({"x": [1.0] * 10_001, "y": [1.0] * 10_001}, "x and y can hold at most 10,000 points"),
        ({"compare": [{"optimizer": "sgd"}]}, "compare[0] needs lr"),
        ({"steps": 10_000, "n": 10_000}, "steps must be at most 3,000 with n = 10,000 and 1 run"),
    ],
)
def test_check_settings_refuses_with_a_clear_message(settings: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=r"^" + _re(says)):
        m.check_settings(**settings)


def _re(text: str) -> str:
    return re.escape(text)


def test_valid_settings_pass() -> None:
    m.check_settings(
        lr=0.1,
        momentum=0.0,
        optimizer="adam",
        batch_size=100,
        steps=10_000,
        n=100,
        noise="normal",
        noise_scale=0.0,
        seed=0,
        start=[-1, 1],
        x=np.zeros(100),
        y=torch.zeros(100),
    )
    m.check_settings(batch_size=None, noise_scale=None, lr=np.float32(1e-3), n=np.int64(2))


def test_entry_points_refuse_bad_input() -> None:
    X, y = m.make_data()
    with pytest.raises(ValueError, match="optimizer"):
        m.Run("rmsprop", 0.1)
    with pytest.raises(ValueError, match="lr must be positive"):
        m.Run("sgd", 0.0)
    with pytest.raises(ValueError, match="momentum"):
        m.Run("momentum", 0.1, momentum=1.5)
    with pytest.raises(ValueError, match="batch_size must be at most n = 100"):
        m.trajectory(X, y, m.Run("sgd", 0.1), batch_size=101)
    with pytest.raises(ValueError, match="steps"):
        m.trajectory(X, y, m.Run("sgd", 0.1), steps=0)
    with pytest.raises(ValueError, match="start"):
        m.trajectory(X, y, m.Run("sgd", 0.1), start=(math.inf, 0.0))
    with pytest.raises(ValueError, match="same length, got 100 and 99"):
        m.trajectory(X, y[:99], m.Run("sgd", 0.1))
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        m.trajectory(X[:, :1], y, m.Run("sgd", 0.1))
    with pytest.raises(ValueError, match="n must be at least 2"):
        m.make_data(n=1)
    with pytest.raises(ValueError, match="noise must be"):
        m.make_data(noise="poisson")
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        m.user_data([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        m.features([1.0, float("nan")])
    with pytest.raises(ValueError, match="y contains NaN"):
        m.user_data([1.0, 2.0], [1.0, float("inf")])
    with pytest.raises(ValueError, match="x must be 1-D"):
        m.features(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="x must be a 1-D sequence"):
        m.features(["a", "b"])
    with pytest.raises(ValueError, match="lr must be positive"):
        m.code({"lr": -1.0})
    with pytest.raises(ValueError, match="optimizer"):
        m.code({"compare": [{"optimizer": "lbfgs", "lr": 0.1}]})


# ---- "show code" runs and gives the same numbers -----------------------------------------


def run_code(
    text: str, **env: Any
) -> tuple[list[list[float]], list[float], list[tuple[Any, Any]] | None]:
    ns: dict[str, Any] = dict(env)
    with torch.random.fork_rng(devices=[]):  # the lesson's code seeds the global RNG
        exec(compile(text, "<sgd code>", "exec"), ns)
    return ns["history"], ns["losses"], ns.get("runs")


CODE_CASES: list[dict[str, Any]] = [
    {},  # the lesson
    {"optimizer": "sgd", "lr": 0.3, "batch_size": 10},
    {"optimizer": "sgd", "lr": 0.2, "batch_size": 30, "steps": 50},  # a short last batch
    {"optimizer": "momentum", "lr": 0.05, "momentum": 0.8},
    {"optimizer": "momentum", "lr": 0.05, "momentum": 0.9, "batch_size": 16, "seed": 7},
    {"optimizer": "adam", "lr": 0.1},
    {"optimizer": "adam", "lr": 0.02, "batch_size": 8, "batch_seed": 3, "steps": 70},
    {"noise": "normal", "noise_scale": 0.5, "n": 37, "seed": 11, "start": [2.5, -3.0]},
    {"noise": "uniform", "noise_scale": 0.1, "n": 20, "lr": 0.7, "steps": 30},
    {"lr": 1.5},  # diverges: the shown loop stops where the playground stops
    {"lr": 1.5, "batch_size": 10, "seed": 3},
    {"optimizer": "momentum", "lr": 3.0, "momentum": 0.9},  # above 2(1 + β)/λmax
    {"lr": 1e30, "steps": 5},  # the next point overflows: the playground drops it
]


@pytest.mark.parametrize("settings", CODE_CASES, ids=lambda s: repr(s)[:60])
def test_code_reproduces_the_trajectory(settings: dict[str, Any]) -> None:
    s = {**m._DEFAULTS, **settings}
    X, y = m.make_data(s["n"], s["noise"], s["noise_scale"], s["seed"])
    run = m.Run(s["optimizer"], s["lr"], s["momentum"])
    traj = m.trajectory(
        X, y, run, s["steps"], s["start"], s["batch_size"], s.get("batch_seed", s["seed"])
    )
    text = m.code(settings)
    history, losses, runs = run_code(text)
    assert runs is None
    assert_same(traj, history, losses)
    if traj.diverged_at is None:
        assert len(history) == len(traj.a) == s["steps"] + 1
    elif np.isfinite(history[-1]).all() and math.isfinite(losses[-1]):
        # the shown loop breaks where trajectory() stops: the very same finite points
        assert len(history) == len(traj.a) == traj.diverged_at + 1
        assert len(losses) == len(traj.loss)
    else:  # a point that overflowed: the code keeps it, the playground leaves it out
        assert len(history) == len(traj.a) + 1 == traj.diverged_at + 1
        assert np.isfinite(traj.a).all() and np.isfinite(traj.loss).all()


def test_shown_code_stops_a_diverging_run_with_finite_values() -> None:
    history, losses, _ = run_code(m.code({"lr": 1.5}))
    X, y = m.make_data()
    traj = m.trajectory(X, y, m.Run("sgd", 1.5))
    assert traj.diverged_at is not None and len(history) == traj.diverged_at + 1 < 101
    assert np.isfinite(history).all() and np.isfinite(losses).all()
    np.testing.assert_array_equal(np.array(history), traj.a)
    np.testing.assert_array_equal(np.array(losses), traj.loss)


def test_default_code_is_the_lessons_loop() -> None:
    text = m.code({})
    for line in (
        "torch.manual_seed(42)",
        "x = torch.ones(n, 2)",
        "x[:, 0].uniform_(-1.0, 1)",
        "y = x @ a + torch.rand(n)",
        "a = nn.Parameter(torch.tensor([-1.0, 1.0]))",
        "lr = 0.1",
        "for t in range(100):",
        "    loss.backward()",
        "        a.sub_(lr * a.grad)",
        "        a.grad.zero_()",
    ):
        assert line in text.splitlines(), line
    assert "torch.optim" not in text and "randperm" not in text and "batch_size" not in text
    assert "torch.optim.Adam([a], lr=lr" in m.code({"optimizer": "adam"})
    assert "momentum=0.5" in m.code({"optimizer": "momentum", "momentum": 0.5})


def test_code_with_compared_runs_reproduces_each_run() -> None:
    settings: dict[str, Any] = {
        "optimizer": "sgd",
        "lr": 0.1,
        "batch_size": 20,
        "compare": [
            {"optimizer": "momentum", "lr": 0.05, "momentum": 0.7},
            {"optimizer": "adam", "lr": 0.2},
        ],
    }
    X, y = m.make_data()
    runs = [m.Run("sgd", 0.1), m.Run("momentum", 0.05, 0.7), m.Run("adam", 0.2)]
    _, _, got = run_code(m.code(settings))
    assert got is not None and len(got) == 3
    for run, (history, losses) in zip(runs, got, strict=True):
        assert_same(m.trajectory(X, y, run, batch_size=20, seed=42), history, losses)


@pytest.mark.parametrize("kind", ["numpy", "column", "list", "pandas", "tensor_grad", "tensor_col"])
def test_code_for_user_data_reproduces_the_trajectory(kind: str) -> None:
    rng = np.random.default_rng(0)
    x1d = rng.uniform(-3, 3, 60)
    y1d = 0.5 * x1d - 1 + rng.normal(0, 0.3, 60)
    given: dict[str, Any] = {
        "numpy": (x1d, y1d),
        "column": (x1d[:, None], y1d[:, None]),  # shape (n, 1)
        "list": (x1d.tolist(), y1d.tolist()),
        "pandas": (__import__("pandas").Series(x1d), __import__("pandas").DataFrame({"y": y1d})),
        "tensor_grad": (torch.tensor(x1d, requires_grad=True), torch.tensor(y1d)),
        "tensor_col": (torch.tensor(x1d[:, None]), torch.tensor(y1d[:, None]).float()),
    }
    gx, gy = given[kind]
    X, y = m.user_data(gx, gy)
    for settings in (
        {"user_data": True, "lr": 0.05, "n": 60},
        {"user_data": True, "lr": 0.05, "optimizer": "adam", "batch_size": 6, "n": 60},
        {"user_data": True, "lr": 0.05, "batch_size": 60, "n": 60},  # = full batch
        {"user_data": True, "lr": 0.5, "n": 60},  # above this data's limit: diverges
    ):
        text = m.code(settings)
        assert "torch.manual_seed" not in text
        history, losses, _ = run_code(text, x1d=gx, y=gy)
        run = m.Run(settings.get("optimizer", "sgd"), settings["lr"])  # type: ignore[arg-type]
        traj = m.trajectory(X, y, run, batch_size=settings.get("batch_size"), seed=42)  # type: ignore[arg-type]
        assert_same(traj, history, losses)
        assert len(history) == len(traj.a) and len(losses) == len(traj.loss)
        if settings["lr"] == 0.5:
            assert traj.diverged_at is not None


def test_shown_momentum_and_adam_code_says_it_matches_torch_optim() -> None:
    note = "# the playground calls the same update as torch.optim's step(), bitwise equal"
    assert note not in m.code({}).splitlines()
    for optimizer in ("momentum", "adam"):
        assert note in m.code({"optimizer": optimizer}).splitlines()
    both = m.code({"compare": [{"optimizer": "adam", "lr": 0.1}]})
    assert both.splitlines().count(note) == 1


# ---- user data ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["list", "numpy", "tensor64", "column", "pandas"])
def test_user_data_fits_any_1d_regression(kind: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 200)
    yy = 0.5 * x - 1 + rng.normal(0, 0.5, 200)
    given: Any = {
        "list": x.tolist(),
        "numpy": x,
        "tensor64": torch.tensor(x),
        "column": x[:, None],
        "pandas": __import__("pandas").Series(x),
    }[kind]
    X, y = m.user_data(given, yy)
    assert X.dtype == torch.float32 and X.shape == (200, 2) and y.dtype == torch.float32
    assert torch.equal(X[:, 1], torch.ones(200))
    assert torch.equal(X[:, 0], torch.tensor(x, dtype=torch.float32))
    assert torch.equal(m.features(given), X)
    a1, a2 = m.minimum(X, y)
    assert abs(a1 - 0.5) < 0.05 and abs(a2 + 1) < 0.3
    limit = m.stability_limit(X)
    assert 0.0 < limit < 0.1  # x up to 10: far steeper than the lesson's data
    fit = m.trajectory(X, y, m.Run("sgd", 0.9 * limit), steps=3000)
    assert fit.diverged_at is None
    assert np.allclose(fit.a[-1], (a1, a2), atol=1e-2)
    fast = m.trajectory(X, y, m.Run("sgd", 2 * limit), steps=500)
    assert fast.diverged_at is not None and np.isfinite(fast.loss).all()


def test_labels() -> None:
    assert m.Run("sgd", 0.1).label == "SGD lr=0.1"
    assert m.Run("momentum", 0.01, 0.9).label == "momentum β=0.9 lr=0.01"
    assert m.Run("adam", 0.001).label == "Adam lr=0.001"


# ---- compare runs and Run: one strict rule -----------------------------------------------


def test_check_compare_cleans_valid_runs() -> None:
    assert m.MAX_COMPARE == 2
    assert m.check_compare([]) == []
    got = m.check_compare(
        (
            {"optimizer": "adam", "lr": np.float32(0.5)},
            {"optimizer": "momentum", "lr": 1, "momentum": np.float64(0.5)},
        )
    )
    assert got == [
        {"optimizer": "adam", "lr": 0.5, "momentum": 0.9},
        {"optimizer": "momentum", "lr": 1.0, "momentum": 0.5},
    ]
    assert all(type(c["lr"]) is float and type(c["momentum"]) is float for c in got)
    # a new list: the caller's dicts are left as they were
    given = [{"optimizer": "sgd", "lr": 0.1}]
    m.check_compare(given)
    assert given == [{"optimizer": "sgd", "lr": 0.1}]


@pytest.mark.parametrize(
    ("compare", "says"),
    [
        (None, "compare must be a list"),
        ("sgd", "compare must be a list"),
        ({"optimizer": "sgd", "lr": 0.1}, "compare must be a list"),
        ([{"optimizer": "sgd", "lr": 0.1}] * 3, "compare holds at most 2 runs (3 with the main"),
        ([0.1], "compare[0] must be a dict"),
        ([{"optimizer": "sgd", "lr": 0.1, "beta": 0.5}], "compare[0] has unknown keys beta"),
        ([{"lr": 0.1}], "compare[0] needs optimizer"),
        ([{"optimizer": "sgd"}], "compare[0] needs lr"),
        ([{}], "compare[0] needs optimizer and lr"),
        ([{"optimizer": None, "lr": 0.1}], "compare[0]: optimizer must be one of"),
        ([{"optimizer": "sgd", "lr": None}], "compare[0]: lr must be a number, got None"),
        (
            [{"optimizer": "sgd", "lr": 0.1}, {"optimizer": "sgd", "lr": -1}],
            "compare[1]: lr must be positive",
        ),
        ([{"optimizer": "sgd", "lr": math.inf}], "compare[0]: lr must be a finite number"),
        ([{"optimizer": "sgd", "lr": "0.1"}], "compare[0]: lr must be a number"),
        ([{"optimizer": "momentum", "lr": 0.1, "momentum": None}], "compare[0]: momentum"),
        ([{"optimizer": "momentum", "lr": 0.1, "momentum": 1.0}], "compare[0]: momentum"),
        ([{"optimizer": "rmsprop", "lr": 0.1}], "compare[0]: optimizer must be one of"),
    ],
)
def test_check_compare_refuses_with_a_clear_message(compare: object, says: str) -> None:
    with pytest.raises(ValueError, match=r"^" + _re(says)):
        m.check_compare(compare)
    if compare is not None:  # code() and check_settings follow the same rule
        with pytest.raises(ValueError, match=r"^" + _re(says)):
            m.code({"compare": compare})
        with pytest.raises(ValueError, match=r"^" + _re(says)):
            m.check_settings(compare=compare)


def test_run_checks_every_field_none_included() -> None:
    for lr, says in [
        (None, "lr must be a number, got None"),
        (math.nan, "lr must be a finite number"),
        (math.inf, "lr must be a finite number"),
        (0.0, "lr must be positive"),
        (-1.0, "lr must be positive"),
    ]:
        with pytest.raises(ValueError, match=r"^" + _re(says)):
            m.Run("sgd", lr)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^momentum must be a number in"):
        m.Run("momentum", 0.1, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^optimizer must be one of"):
        m.Run(None, 0.1)  # type: ignore[arg-type]
    run = m.Run("momentum", np.float32(0.5), np.float64(0.25))  # type: ignore[arg-type]
    assert type(run.lr) is float and type(run.momentum) is float
    assert (run.lr, run.momentum) == (0.5, 0.25)


# ---- divergence: relative to the data, and the reason given ------------------------------


def _big_line(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, n)
    return x, 3e6 * x + 1e6 + rng.normal(0, 1e4, n)


def test_data_of_a_large_scale_converges_without_a_false_divergence() -> None:
    x, yy = _big_line()
    X, y = m.user_data(x, yy)
    limit = m.stability_limit(X)
    best = np.array(m.minimum(X, y))
    for optimizer, lr in [("sgd", 0.1 * limit), ("sgd", 0.9 * limit), ("momentum", 0.05)]:
        traj = m.trajectory(X, y, m.Run(optimizer, lr), steps=500)
        assert traj.diverged_at is None, (optimizer, lr)
        assert traj.loss[0] > 1e12  # the old absolute MAX_LOSS called this diverged at step 0
        assert np.allclose(traj.a[-1], best, rtol=1e-4)
    # a start near that minimum (beyond the old ±1e6 start limit) is fine too
    near = m.trajectory(X, y, m.Run("sgd", 0.5), start=(2.9e6, 1.1e6), steps=200)
    assert near.diverged_at is None and np.allclose(near.a[-1], best, rtol=1e-4)
    # and above the limit it still diverges, with finite values
    wild = m.trajectory(X, y, m.Run("sgd", 1.5 * limit), steps=500)
    assert wild.diverged_at is not None
    assert np.isfinite(wild.a).all() and np.isfinite(wild.loss).all()
    assert wild.loss[-1] > m.loss_limit(X, y)


def test_data_of_a_small_scale_still_reports_divergence() -> None:
    x, yy = _big_line()
    X, y = m.user_data(x * 1e-3, yy * 1e-9)  # a ≈ (3, 1e-3), losses ≈ 1e-6
    limit = m.stability_limit(X)
    traj = m.trajectory(X, y, m.Run("sgd", 1.2 * limit), steps=2_500, start=(0.0, 0.0))
    assert traj.diverged_at is not None
    assert np.isfinite(traj.a).all() and np.isfinite(traj.loss).all()


def test_momentum_limit_is_one_plus_beta_times_sgds() -> None:
    X, y = m.make_data()
    limit = m.stability_limit(X)
    for beta in (0.0, 0.5, 0.9):
        ml = m.momentum_limit(X, beta)
        assert math.isclose(ml, (1 + beta) * limit, rel_tol=1e-12)
        below = m.trajectory(X, y, m.Run("momentum", 0.97 * ml, beta), steps=3000)
        above = m.trajectory(X, y, m.Run("momentum", 1.05 * ml, beta), steps=3000)
        assert below.diverged_at is None and above.diverged_at is not None, beta
    with pytest.raises(ValueError, match="momentum"):
        m.momentum_limit(X, 1.0)


def test_divergence_reason_names_the_limit_that_was_passed() -> None:
    X, y = m.make_data()
    limit = m.stability_limit(X)
    assert m.format_limit(limit) == "0.998"

    def why(run: m.Run, bs: int | None = None) -> str:
        traj = m.trajectory(X, y, run, batch_size=bs, seed=1, steps=2000)
        assert traj.diverged_at is not None, run
        return m.divergence_reason(run, limit, bs, 100)

    assert why(m.Run("sgd", 1.5)) == "lr above stability limit ≈ 0.998"
    assert why(m.Run("sgd", 1.5), bs=100) == "lr above stability limit ≈ 0.998"  # = full
    assert why(m.Run("sgd", 1.5), bs=10) == "lr above stability limit ≈ 0.998"
    assert why(m.Run("momentum", 3.0, 0.9)) == "lr above momentum's stability limit ≈ 1.9"
    # below the full-batch limit, small noisy batches can still tip a run over
    assert why(m.Run("sgd", 0.95, 0.9), bs=1) == (
        "small batches make steps noisier: lr near the limit ≈ 0.998 diverges"
    )
    assert m.divergence_reason(m.Run("momentum", 1.4, 0.5), limit, 2, 100) == (
        "small batches make steps noisier: lr near the limit ≈ 1.5 diverges"
    )
    assert m.divergence_reason(m.Run("adam", 50.0), limit, None, 100) == "lr too large for Adam"
    # momentum below its own limit but above plain SGD's is not "above the limit"
    assert "above" not in m.divergence_reason(m.Run("momentum", 1.5, 0.9), limit, None, 100)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.998477, "0.998"),
        (1.0, "1"),
        (0.0285, "0.0285"),
        (2 / 3, "0.667"),
        (1.8971, "1.9"),
        (1234.0, "1230"),
        (99.95, "100"),
        (1.125, "1.13"),  # a tie rounds up, as toPrecision does (not to even)
        (1e-7, "1e-7"),
        (1.5e21, "1.5e+21"),
        (0.0, ""),
        (-1.0, ""),
        (math.inf, ""),
        (math.nan, ""),
    ],
)
def test_format_limit_has_three_significant_digits(value: float, text: str) -> None:
    assert m.format_limit(value) == text


def test_format_limit_is_javascripts_text() -> None:
    # The view writes the limit with formatLimit (js/src/core/sgdform.ts), which is
    # String(Number(v.toPrecision(3))): the same text for many values.
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    rng = np.random.default_rng(0)
    values = [
        *(10.0 ** rng.uniform(-9, 23, 300)),
        *(rng.integers(1, 2000, 100) / 8),
        0.5,
        5e-324,
        1.7976931348623157e308,
    ]
    script = (
        "const v = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(v.map((x) => String(Number(x.toPrecision(3))))));"
    )
    out = subprocess.run(
        [node, "-e", script], input=json.dumps(values), capture_output=True, text=True, check=True
    )
    assert [m.format_limit(v) for v in values] == json.loads(out.stdout)


# ---- size limits and messages that name the setting changed ------------------------------


def test_n_and_the_work_of_a_recompute_are_capped() -> None:
    assert m.MAX_N == 10_000
    m.check_settings(n=10_000, steps=3_000)
    m.check_settings(n=10_000, steps=1_000, compare=[{"optimizer": "sgd", "lr": 0.1}] * 2)
    m.check_settings(n=100, steps=10_000, compare=[{"optimizer": "sgd", "lr": 0.1}] * 2)
    m.check_settings(n=10_000, batch_size=10, steps=3_000)
    two = [{"optimizer": "adam", "lr": 0.1}] * 2
    with pytest.raises(ValueError, match=r"^steps must be at most 1,000 with n = 10,000 and 3 r"):
        m.check_settings(n=10_000, steps=1_001, compare=two)
    with pytest.raises(ValueError, match=_re("steps · n · runs = 3,001 · 10,000 · 1 is above")):
        m.check_settings(n=10_000, steps=3_001, batch_size=5)  # minibatches record the full loss
    with pytest.raises(ValueError, match=r"^n must be at most 5,000 with steps = 2,000 and 3 runs"):
        m.check_settings(n=6_000, steps=2_000, compare=two, changed="n")
    with pytest.raises(ValueError, match=r"^no room for another run at steps = 2,000"):
        m.check_settings(n=6_000, steps=2_000, compare=two, changed="compare")
    with pytest.raises(ValueError, match=r"^steps must be at most 3,000"):
        m.check_settings(x=np.zeros(10_000), y=np.zeros(10_000), steps=3_001)
    X, y = m.make_data(n=10_000)
    with pytest.raises(ValueError, match=r"^steps must be at most 3,000"):
        m.trajectory(X, y, m.Run("sgd", 0.1), steps=3_001)
    with pytest.raises(ValueError, match=r"^steps must be at most"):
        m.code({"n": 10_000, "steps": 2_000, "compare": two})
    with pytest.raises(ValueError, match=r"^x and y can hold at most 10,000 points"):
        m.user_data(np.zeros(10_001), np.zeros(10_001))


def test_cross_field_messages_name_the_setting_changed() -> None:
    # n lowered below the batch size: the message is about n
    with pytest.raises(ValueError, match=r"^" + _re("n must be at least batch_size = 10, got 5")):
        m.check_settings(n=5, batch_size=10, changed="n")
    # the batch size raised above n (or nothing said): the message is about batch_size
    for changed in ("batch_size", None, "lr"):
        with pytest.raises(ValueError, match=r"^batch_size must be at most n = 5"):
            m.check_settings(n=5, batch_size=10, changed=changed)
    # with the user's x the points are fixed: always the batch size's fault
    with pytest.raises(ValueError, match=r"^batch_size must be at most n = 3"):
        m.check_settings(x=[1, 2, 3], y=[1, 2, 3], batch_size=10, changed="n")


def test_limits_match_the_browsers() -> None:
    # js/src/core/sgdform.ts checks what the user types against the same limits
    ts = (Path(__file__).parents[1] / "js" / "src" / "core" / "sgdform.ts").read_text()

    def const(name: str) -> int:
        found = re.search(rf"^export const {name} = ([0-9_]+);", ts, re.MULTILINE)
        assert found, name
        return int(found.group(1).replace("_", ""))

    assert const("MAX_STEPS") == m.MAX_STEPS
    assert const("MAX_N") == m.MAX_N
    assert const("MAX_RUNS") == 1 + m.MAX_COMPARE
