"""Exact, in-memory snapshot and restore of a training state (for the LR range test).

fastai's ``lr_find`` saves the model to a temporary file under ``learn.path/model_dir``,
which fails on a read-only path (fastai#1751), and restores neither the RNG streams nor
module modes.  This keeps copies in memory, on the tensors' own devices, and puts back
parameters and buffers (BatchNorm running stats included), ``requires_grad`` and
train/eval flags, the optimizer's state and hyper-parameters, and the python, numpy,
torch and CUDA random streams, even when the run in between is interrupted.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class TrainingState:
    """Everything :func:`restore` puts back."""

    model: dict[str, Any]
    requires_grad: list[bool]
    training: list[bool]
    optimizer: Any
    python_rng: Any
    numpy_rng: Any
    torch_rng: Any
    cuda_rng: Any


def _clone(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    return copy.deepcopy(obj)


def capture(model: Any, optimizer: Any = None) -> TrainingState:
    """Copy the state of ``model`` (an ``nn.Module``) and ``optimizer`` (torch's or fastai's,
    anything with ``state_dict``/``load_state_dict``; None to skip)."""
    import torch

    cuda_rng = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        cuda_rng = torch.cuda.get_rng_state_all()
    return TrainingState(
        model={k: _clone(v) for k, v in model.state_dict(keep_vars=False).items()},
        requires_grad=[p.requires_grad for p in model.parameters()],
        training=[m.training for m in model.modules()],
        optimizer=None if optimizer is None else copy.deepcopy(optimizer.state_dict()),
        python_rng=random.getstate(),
        numpy_rng=np.random.get_state(),
        torch_rng=torch.get_rng_state(),
        cuda_rng=cuda_rng,
    )


def restore(model: Any, optimizer: Any, state: TrainingState) -> None:
    """Put back what :func:`capture` copied (in place: references to parameters stay valid)."""
    import torch

    with torch.no_grad():
        model.load_state_dict(state.model, strict=True)
    for p, flag in zip(model.parameters(), state.requires_grad, strict=True):
        p.requires_grad_(flag)
        p.grad = None
    for m, flag in zip(model.modules(), state.training, strict=True):
        m.training = flag
    if optimizer is not None and state.optimizer is not None:
        # load_state_dict may keep references into what it is given: hand it a copy, so the
        # snapshot stays pristine if restore is called again.
        optimizer.load_state_dict(copy.deepcopy(state.optimizer))
    random.setstate(state.python_rng)
    np.random.set_state(state.numpy_rng)
    torch.set_rng_state(state.torch_rng)
    if state.cuda_rng is not None:
        torch.cuda.set_rng_state_all(state.cuda_rng)


@contextmanager
def preserved(model: Any, optimizer: Any = None) -> Iterator[TrainingState]:
    """Run the block, then restore ``model`` and ``optimizer`` exactly, whatever happened
    (an exception or a KeyboardInterrupt included)."""
    state = capture(model, optimizer)
    try:
        yield state
    finally:
        restore(model, optimizer, state)
