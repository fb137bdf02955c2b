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


def digits_png_folder(
    root: Path,
    *,
    flip: float = 0.0,
    valid_pct: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> set[str]:
    """scikit-learn's digits written as PNGs in ``root/{train,valid}/<digit>/<k>.png``.

    A share ``flip`` of the images goes into a wrong digit's folder on purpose (label
    noise); returns the names (relative to ``root``) of those.
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(seed)
    n = len(data.target) if limit is None else min(limit, len(data.target))
    order = rng.permutation(len(data.target))[:n]
    n_valid = round(n * valid_pct)
    flipped_idx = set(rng.choice(n, size=round(n * flip), replace=False).tolist())
    flipped: set[str] = set()
    for k, idx in enumerate(order):
        label = int(data.target[idx])
        if k in flipped_idx:
            label = (label + int(rng.integers(1, 10))) % 10
        split = "valid" if k < n_valid else "train"
        folder = root / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (data.images[idx] * 255.0 / 16.0).astype("uint8")
        name = f"{split}/{label}/{k:04d}.png"
        Image.fromarray(pixels, mode="L").save(root / name)
        if k in flipped_idx:
            flipped.add(name)
    return flipped


def digits_image_learner(root: Path, *, size: int = 16, bs: int = 64, seed: int = 0) -> Any:
    """A fastai vision Learner on a :func:`digits_png_folder`: a small CNN whose model is
    ``Sequential(body, head)`` like ``vision_learner``'s (the cleaner hooks the head)."""
    import random

    import fastai.callback.all  # noqa: F401 - before seeding: it patches Learner
    from fastai.layers import ConvLayer
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy
    from fastai.vision.augment import Resize
    from fastai.vision.data import ImageDataLoaders

    random.seed(seed)
    torch.manual_seed(seed)
    dls = ImageDataLoaders.from_folder(
        root,
        train="train",
        valid="valid",
        item_tfms=Resize(size),
        bs=bs,
        num_workers=0,
        device="cpu",
    )
    body = nn.Sequential(
        ConvLayer(3, 16, stride=2), ConvLayer(16, 32, stride=2), ConvLayer(32, 64, stride=2)
    )
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, len(dls.vocab)))
    return Learner(
        dls,
        nn.Sequential(body, head),
        loss_func=CrossEntropyLossFlat(),
        metrics=accuracy,
        path=root,
    )
