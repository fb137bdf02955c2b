"""The SGD playground widget: settings as traits, refusals that keep the state, one
message per recompute, divergence reported, user data."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets

from fastwidgets.sgd import SGDPlayground

from ._client import Client
from .conftest import Kernel


def test_defaults_are_the_lesson_and_the_limit_is_about_one() -> None:
    p = SGDPlayground()
    assert (p.n, p.lr, p.steps, p.optimizer, p.start) == (100, 0.1, 100, "sgd", [-1.0, 1.0])
    assert 0.85 < p.stability_limit < 1.15
    traj = p.trajectory
    assert list(traj.columns) == ["run", "optimizer", "lr", "step", "a1", "a2", "loss"]
    assert len(traj) == 101 and traj.loss.iloc[-1] < traj.loss.iloc[0]
    assert (traj.a1.iloc[0], traj.a2.iloc[0]) == (-1.0, 1.0)
    assert p.message == ""
    # The true minimum is near the line the data was made from: a = (3, 2) + mean noise.
    assert abs(p.minimum[0] - 3) < 0.3 and abs(p.minimum[1] - 2.5) < 0.3


def test_an_lr_above_the_limit_diverges_visibly_without_nan() -> None:
    p = SGDPlayground(lr=1.5)
    assert p.message.startswith("diverged at step ")
    assert "stability limit ≈ 0.998" in p.message
    traj = p.trajectory
    assert np.isfinite(traj[["a1", "a2", "loss"]].to_numpy()).all()
    assert traj.loss.iloc[-1] > 1e3 * traj.loss.iloc[0]
    k = p.runs[0]["diverged_at"]
    assert isinstance(k, int) and f"step {k} " in p.message
    assert int(traj.step.iloc[-1]) in (k - 1, k)  # stopped there, finite points only
    p.lr = 0.5
    assert p.message == ""


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("lr", 0.0, "lr"),
        ("lr", float("nan"), "lr"),
        ("batch_size", 101, "batch_size"),
        ("n", 1, "n"),
        ("optimizer", "rmsprop", "optimizer"),
        ("compare", [{"optimizer": "sgd"}], "compare"),
        ("compare", [{"optimizer": "sgd", "lr": 0.1}] * 3, "at most 2"),
    ],
)
def test_invalid_settings_are_refused_and_the_state_is_kept(
    name: str, value: object, words: str
) -> None:
    p = SGDPlayground()
    before = p.trajectory
    with pytest.raises(traitlets.TraitError, match=words):
        setattr(p, name, value)
    assert getattr(p, name) == getattr(SGDPlayground(), name)
    assert p.trajectory.equals(before)


def test_a_refused_value_from_the_browser_is_put_back_with_a_message(kernel: Kernel) -> None:
    p = SGDPlayground()
    kernel.settle(p)
    before = len(kernel.comm.updates())
    kernel.comm.handle_msg(
        {
            "content": {"data": {"method": "update", "state": {"lr": -2.0}, "buffer_paths": []}},
            "buffers": [],
        }
    )
    assert p.lr == 0.1 and p.message.startswith("refused: lr")
    sent = kernel.comm.updates()[before:]
    assert {"lr": 0.1} in [{k: v for k, v in u.items() if k == "lr"} for u in sent]


def test_each_change_is_one_message_that_rebuilds_every_run(kernel: Kernel) -> None:
    p = SGDPlayground(compare=[{"optimizer": "adam", "lr": 0.1}])
    kernel.settle(p)
    client = Client()
    for content, buffers in kernel.comm.custom():
        client.apply(content, buffers)
    assert set(client.y) == {"data", "r0:a1", "r0:a2", "r0:loss", "r1:a1", "r1:a2", "r1:loss"}
    before = len(kernel.comm.custom())
    p.lr = 0.3
    kernel.settle(p)
    sent = kernel.comm.custom()[before:]
    assert [c["type"] for c, _ in sent] == ["reset"]
    for content, buffers in sent:
        client.apply(content, buffers)
    traj = p.trajectory
    np.testing.assert_array_equal(client.y["r0:a1"], traj[traj.optimizer == "sgd"].a1)
    # A reload draws from the snapshot, with no kernel work.
    names = {s["name"] for s in p.snapshot["series"]}
    assert "r1:loss" in names


def test_user_data_any_1d_regression_and_its_fixed_n() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 50)
    y = 0.5 * x - 1 + 0.1 * rng.standard_normal(50)
    p = SGDPlayground(x=x, y=y, steps=300, lr=0.3)
    assert p.n == 50 and p.user_data
    assert abs(p.trajectory.a1.iloc[-1] - 0.5) < 0.1 and abs(p.trajectory.a2.iloc[-1] + 1) < 0.1
    with pytest.raises(traitlets.TraitError, match="fixed"):
        p.n = 10
    with pytest.raises(ValueError, match="x"):
        SGDPlayground(x=x, y=y[:-1])


def test_minibatch_momentum_and_adam_side_by_side_and_the_code_shown() -> None:
    p = SGDPlayground(
        batch_size=10,
        compare=[
            {"optimizer": "momentum", "lr": 0.05, "momentum": 0.8},
            {"optimizer": "adam", "lr": 0.1},
        ],
    )
    traj = p.trajectory
    assert list(dict.fromkeys(traj.optimizer)) == ["sgd", "momentum", "adam"]
    sgd = traj[traj.optimizer == "sgd"].loss.to_numpy()
    assert (np.diff(sgd) > 0).any()  # minibatches: a noisy path
    assert "batch" in p.code and "Adam" in p.code
    scope: dict[str, object] = {}
    exec(p.code, scope)  # the code shown is the code that ran
    runs = scope["runs"]
    assert isinstance(runs, list) and len(runs) == 3
    np.testing.assert_allclose(np.asarray(runs[0][1]), sgd[: len(runs[0][1])], rtol=1e-6)


def test_browser_changes_of_several_settings_recompute_once(kernel: Kernel) -> None:
    p = SGDPlayground()
    kernel.settle(p)
    calls = []
    original = p._recompute
    p._recompute = lambda: (calls.append(1), original())  # type: ignore[method-assign]
    kernel.comm.handle_msg(
        {
            "content": {
                "data": {
                    "method": "update",
                    "state": {"lr": 0.2, "steps": 50, "optimizer": "momentum"},
                    "buffer_paths": [],
                }
            },
            "buffers": [],
        }
    )
    assert len(calls) == 1 and len(p.trajectory) == 51
    assert p.trajectory.run.iloc[0] == "momentum β=0.9 lr=0.2"


def test_data_settings_cannot_be_given_with_your_own_data() -> None:
    with pytest.raises(ValueError, match="n come from the x and y"):
        SGDPlayground(x=[0.0, 1.0, 2.0], y=[1.0, 2.0, 3.0], n=5)


def test_a_refusal_from_code_is_shown_in_the_widget_too() -> None:
    p = SGDPlayground()
    with pytest.raises(traitlets.TraitError):
        p.batch_size = 1000
    assert p.message.startswith("refused: batch_size")
