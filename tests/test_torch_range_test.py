"""The plain PyTorch range test: schedule, cycling, stops and the restore guarantee."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fastwidgets.integrations.torch import range_test


def setup(n: int = 320, bs: int = 32):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    x = torch.randn(n, 8)
    y = (x.sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)
    return model, opt, loader


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_schedule_cycles_a_short_loader_and_restores() -> None:
    model, opt, loader = setup(n=160)  # 5 batches for 40 iterations
    before = snapshot(model)
    seen: list[tuple[int, float]] = []
    lrs, losses = range_test(
        model,
        opt,
        nn.functional.cross_entropy,
        loader,
        num_it=40,
        stop_div=False,
        on_batch=lambda i, lr, raw, sm: seen.append((i, lr)),
    )
    assert len(lrs) == 40 == len(losses)
    assert lrs == [1e-7 * (10 / 1e-7) ** (i / 40) for i in range(40)]
    assert [i for i, _ in seen] == list(range(40))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert opt.param_groups[0]["lr"] == 0.1


def test_num_it_is_at_least_six_and_divergence_stops() -> None:
    model, opt, loader = setup()
    lrs, _ = range_test(model, opt, nn.functional.cross_entropy, loader, num_it=2)
    assert len(lrs) == 6
    lrs, losses = range_test(
        model, opt, nn.functional.cross_entropy, loader, start_lr=1.0, end_lr=1e8, num_it=100
    )
    assert len(losses) < 100


def test_nan_loss_stops_at_once() -> None:
    model, opt, loader = setup()
    calls = {"n": 0}

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * math.nan if calls["n"] >= 5 else loss

    _, losses = range_test(model, opt, loss_fn, loader, num_it=50)
    assert len(losses) == 5 and math.isnan(losses[-1])


def test_empty_loader_and_interrupt_leave_the_model_unchanged() -> None:
    model, opt, _ = setup()
    before = snapshot(model)
    model.eval()
    with pytest.raises(ValueError, match="empty"):
        range_test(model, opt, nn.functional.cross_entropy, [], num_it=10)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not model.training  # the test's model.train() was undone too
    model, opt, loader = setup()
    before = snapshot(model)
    calls = {"n": 0}

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(out, y)

    with pytest.raises(KeyboardInterrupt):
        range_test(model, opt, loss_fn, loader, num_it=50)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
