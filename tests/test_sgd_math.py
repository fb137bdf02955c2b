"""The SGD playground's math against the lesson's own code, torch.optim and numpy."""

from __future__ import annotations

import math
import re
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
    assert k is not None and 5 < k < 100
    assert np.isfinite(traj.a).all() and np.isfinite(traj.loss).all()
    # the diverged point itself is finite here, so it is kept: the values shoot off
    assert len(traj.a) == len(traj.loss) == k + 1
    assert np.abs(traj.a[k]).max() > m.MAX_PARAM or traj.loss[k] > m.MAX_LOSS
    assert np.abs(traj.a[k - 1]).max() <= m.MAX_PARAM and traj.loss[k - 1] <= m.MAX_LOSS
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
        ({"start": (1e7, 0.0)}, "start must be two finite numbers"),
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
    {"lr": 1.5},  # diverges: the code's numbers match up to where the widget stops
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


def test_code_for_user_data_reproduces_the_trajectory() -> None:
    rng = np.random.default_rng(0)
    x1d = rng.uniform(-3, 3, 60)
    y1d = 0.5 * x1d - 1 + rng.normal(0, 0.3, 60)
    X, y = m.user_data(x1d, y1d)
    for settings in (
        {"user_data": True, "lr": 0.05, "n": 60},
        {"user_data": True, "lr": 0.05, "optimizer": "adam", "batch_size": 6, "n": 60},
        {"user_data": True, "lr": 0.05, "batch_size": 60, "n": 60},  # = full batch
    ):
        text = m.code(settings)
        assert "torch.manual_seed" not in text
        history, losses, _ = run_code(text, x1d=x1d, y=y1d)
        run = m.Run(settings.get("optimizer", "sgd"), 0.05)  # type: ignore[arg-type]
        traj = m.trajectory(X, y, run, batch_size=settings.get("batch_size"), seed=42)  # type: ignore[arg-type]
        assert_same(traj, history, losses)


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
