"""The range test's state restore: exact, in memory, also after an interrupt."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from fastwidgets._restore import preserved


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))


def train_steps(model: nn.Module, opt: torch.optim.Optimizer, n: int = 5) -> None:
    model.train()
    for _ in range(n):
        x = torch.randn(32, 8)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb), k
        elif isinstance(va, dict):
            assert_same_state(va, vb)
        elif isinstance(va, list):
            assert len(va) == len(vb)
            for x, y in zip(va, vb, strict=True):
                if isinstance(x, dict):
                    assert_same_state(x, y)
                else:
                    assert x == y
        else:
            assert va == vb, k


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.Adam(p, lr=1e-3),
    ],
)
def test_params_buffers_optimizer_and_rngs_come_back_exactly(make_opt) -> None:
    model = bn_model()
    opt = make_opt(model.parameters())
    train_steps(model, opt)  # optimizer state and BN running stats are not trivial
    model.eval()
    model[0].weight.requires_grad_(False)  # as after a freeze
    before_model = {k: v.clone() for k, v in model.state_dict().items()}
    before_opt = opt.state_dict()
    import copy

    before_opt = copy.deepcopy(before_opt)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    expect = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)

    with preserved(model, opt):
        model[0].weight.requires_grad_(True)
        for g in opt.param_groups:
            g["lr"] = 10.0
        train_steps(model, opt, 20)
        random.random(), np.random.rand(), torch.rand(3)

    assert_same_state(model.state_dict(), before_model)
    assert_same_state(opt.state_dict(), before_opt)
    assert opt.param_groups[0]["lr"] in (0.1, 1e-3)
    assert model[0].weight.requires_grad is False
    assert not any(m.training for m in model.modules())
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expect


def test_keyboard_interrupt_still_restores() -> None:
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_steps(model, opt)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(KeyboardInterrupt), preserved(model, opt):
        train_steps(model, opt, 3)
        raise KeyboardInterrupt
    assert_same_state(model.state_dict(), before)


def test_fastai_optimizer_with_discriminative_lrs(tmp_path) -> None:
    from ._data import body_head_learner

    learn = body_head_learner(tmp_path)
    with learn.no_bar():
        learn.fine_tune(1, 1e-3)  # unfrozen, two parameter groups, Adam state present
    learn.opt.set_hyper("lr", [1e-5, 1e-3])
    before_model = {k: v.clone() for k, v in learn.model.state_dict().items()}
    import copy

    before_opt = copy.deepcopy(learn.opt.state_dict())
    with preserved(learn.model, learn.opt), learn.no_bar():
        learn.fit(1, 1.0)
    assert_same_state(learn.model.state_dict(), before_model)
    after = learn.opt.state_dict()
    assert [h["lr"] for h in after["hypers"]] == [1e-5, 1e-3]
    for sa, sb in zip(after["state"], before_opt["state"], strict=True):
        assert_same_state(sa, sb)
