"""Small offline learners for tests: scikit-learn's 1,797 real 8x8 handwritten digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    return x, y


def digits_learner(path: Path | None = None, bs: int = 64, seed: int = 0, **kwargs: Any) -> Any:
    """A fastai Learner: an MLP on digits (1,437 train / 360 valid), a few ms per batch."""
    import fastai.callback.all  # noqa: F401 - patches fit_one_cycle, lr_find, no_bar onto Learner
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.metrics import accuracy

    torch.manual_seed(seed)
    x, y = digits_tensors()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    train, valid = perm[:1437], perm[1437:]
    train_ds = list(zip(x[train], y[train], strict=True))
    valid_ds = list(zip(x[valid], y[valid], strict=True))
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=bs, device="cpu")
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    return Learner(
        dls,
        model,
        loss_func=nn.CrossEntropyLoss(),
        metrics=accuracy,
        path=path or Path("."),
        **kwargs,
    )


def body_head_learner(path: Path | None = None, seed: int = 0) -> Any:
    """A learner with two parameter groups (body, head), so freeze/fine_tune mean something."""
    from fastai.learner import Learner

    base = digits_learner(path=path, seed=seed)
    body = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
    head = nn.Linear(64, 10)
    model = nn.Sequential(body, head)
    return Learner(
        base.dls,
        model,
        loss_func=nn.CrossEntropyLoss(),
        metrics=base.metrics,
        splitter=lambda m: [list(m[0].parameters()), list(m[1].parameters())],
        path=base.path,
    )
