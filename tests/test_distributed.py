"""Under torch.distributed only rank 0 sends: two CPU processes on the gloo backend."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import contextlib
    import io

    import ipywidgets.comm
    import torch
    import torch.distributed as dist
    from torch import nn

    from fastwidgets import _env

    from .conftest import RecordingComm

    comms: list[RecordingComm] = []

    def create_comm(**kwargs: object) -> RecordingComm:
        c = RecordingComm(**kwargs)
        comms.append(c)
        return c

    ipywidgets.comm.create_comm = create_comm  # type: ignore[assignment]
    _env.in_kernel = lambda: True  # as in a notebook launched with notebook_launcher

    os.environ.pop("RANK", None)  # the process group alone must decide
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    from fastwidgets import LiveCurve

    model = nn.parallel.DistributedDataParallel(nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        curve = LiveCurve(max_hz=1e6)
        x, y = torch.randn(64, 4), torch.randn(64, 1)
        for step in range(50):
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            curve.log(step, train_loss=loss.item(), lr=0.1)
        curve.log_epoch(0, valid_loss=loss.item())
        curve.close()
    sent = sum(len(c.published) for c in comms)
    custom = sum(len(c.custom()) for c in comms)
    Path(out_dir, f"rank{rank}.json").write_text(
        json.dumps(
            {
                "live": curve.live,
                "custom": custom,
                "sent": sent,
                "stdout": buf.getvalue(),
                "points": len(curve.history),
            }
        )
    )
    dist.destroy_process_group()


def test_only_rank_zero_displays_and_sends(tmp_path: Path) -> None:
    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn"
    )
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["live"] is True and r0["custom"] > 0
    assert r1["live"] is False and r1["sent"] == 0  # not even a comm was opened
    assert r0["points"] == r1["points"] == 50  # both keep the data for the Python API
    assert r1["stdout"] == "" and r0["stdout"] == ""
