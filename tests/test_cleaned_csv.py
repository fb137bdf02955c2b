"""cleaned.csv, the debounced writer, and apply()'s moves (fastwidgets._cleaned)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fastwidgets import _cleaned
from fastwidgets._cleaned import (
    DebouncedWriter,
    apply_moves,
    plan_moves,
    read_moves,
    undo_moves,
    write_cleaned_csv,
)
from fastwidgets._journal import Decisions, journal_path
from fastwidgets._paths import OutsideRoot, scan_folder

HOSTILE = [
    "cat/a,b.png",
    'cat/q"uo"te.png',
    "cat/it's.png",
    "cat/ünïcödé 猫.png",
    "cat/with space.png",
    "cat/<img src=x onerror=alert(1)>.png",
    "cat/new\nline.png",
    "cat/semi;colon\ttab.png",
    "dog/=cmd|' /C calc'!A0.png",
]


def read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def files(root: Path) -> dict[str, str]:
    """Every file under root (but the cleaner's own folder), with a hash of its bytes."""
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and ".fastwidgets" not in p.parts:
            out[p.relative_to(root).as_posix()] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def make_tree(root: Path, names: list[str]) -> None:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_bytes(n.encode())  # distinct contents, to see which file went where


# -- cleaned.csv --------------------------------------------------------------------------


def test_rows_order_labels_split_and_deleted_left_out(tmp_path: Path) -> None:
    path = write_cleaned_csv(
        tmp_path,
        ["b/2.png", "a/1.png", "b/3.png", "a/4.png"],
        ["b", "x", "b", "a"],
        np.array([False, True, False, True]),
        np.array([False, False, True, False]),
    )
    assert path == tmp_path / "cleaned.csv"
    assert read_rows(path) == [
        ["name", "label", "is_valid"],
        ["b/2.png", "b", "False"],
        ["a/1.png", "x", "True"],
        ["a/4.png", "a", "True"],
    ]
    assert path.read_bytes().startswith(b"name,label,is_valid\r\n")  # csv's own line ends
    with pytest.raises(ValueError, match="lengths differ"):
        write_cleaned_csv(tmp_path, ["a"], ["b"], [True, False], [False])


def test_hostile_names_round_trip_through_csv_and_pandas(tmp_path: Path) -> None:
    labels = ["label, with comma", 'la"bel', "ünï", "<b>x</b>"] * 3
    labels = labels[: len(HOSTILE)]
    valid = [i % 2 == 0 for i in range(len(HOSTILE))]
    path = write_cleaned_csv(tmp_path, HOSTILE, labels, valid, [False] * len(HOSTILE))
    rows = read_rows(path)[1:]
    assert rows == [[n, lab, str(v)] for n, lab, v in zip(HOSTILE, labels, valid, strict=True)]
    # fastai's from_csv reads with delimiter=None, so pandas sniffs the delimiter from the
    # first line: our header keeps that a comma whatever the names hold.
    fastai_way = {"header": "infer", "delimiter": None, "quoting": csv.QUOTE_MINIMAL}
    for kwargs in [{}, fastai_way]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)  # the python engine
            df = pd.read_csv(path, **kwargs)  # type: ignore[call-overload]
        assert list(df.columns) == ["name", "label", "is_valid"]
        assert df["name"].tolist() == HOSTILE
        assert df["label"].tolist() == labels
        assert df["is_valid"].dtype == bool and df["is_valid"].tolist() == valid


def test_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = write_cleaned_csv(tmp_path, ["a/1.png"], ["a"], [False], [False]).read_bytes()
    real_writer = csv.writer

    class DiskFull:
        def __init__(self, f: Any) -> None:
            self.inner = real_writer(f)

        def writerow(self, row: Any) -> None:
            self.inner.writerow(row)

        def writerows(self, rows: Any) -> None:
            for k, row in enumerate(rows):
                if k == 500:
                    raise OSError(28, "No space left on device")
                self.inner.writerow(row)

    monkeypatch.setattr(_cleaned.csv, "writer", DiskFull)
    names = [f"a/{i}.png" for i in range(1000)]
    with pytest.raises(OSError, match="No space"):
        write_cleaned_csv(tmp_path, names, ["a"] * 1000, [False] * 1000, [False] * 1000)
    assert (tmp_path / "cleaned.csv").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cleaned.csv"]

    monkeypatch.undo()

    def no_replace(src: Any, dst: Any) -> None:
        raise PermissionError("replace refused")

    monkeypatch.setattr(_cleaned.os, "replace", no_replace)
    with pytest.raises(PermissionError):
        write_cleaned_csv(tmp_path, names, ["a"] * 1000, [False] * 1000, [False] * 1000)
    assert (tmp_path / "cleaned.csv").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cleaned.csv"]


def test_100000_rows_are_quick(tmp_path: Path) -> None:
    n = 100_000
    names = [f"c{i % 10}/{i}.png" for i in range(n)]
    start = time.perf_counter()
    write_cleaned_csv(tmp_path, names, [n[:2] for n in names], np.zeros(n, bool), np.zeros(n, bool))
    assert time.perf_counter() - start < 1.0
    assert len(read_rows(tmp_path / "cleaned.csv")) == n + 1


# -- the debounced writer -----------------------------------------------------------------


class ManualTimer:
    """A stand-in for thread_timer that fires only when the test says so."""

    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> None:
        self.armed.append((delay, fn))

    def fire(self) -> None:
        armed, self.armed = self.armed, []
        for _, fn in armed:
            fn()


def test_debounced_writer_coalesces_requests() -> None:
    writes: list[int] = []
    timer = ManualTimer()
    w = DebouncedWriter(lambda: writes.append(1) or Path("x"), delay=0.5, timer=timer)
    for _ in range(100):
        w.schedule()
    assert len(timer.armed) == 1 and timer.armed[0][0] == 0.5
    assert writes == [] and w.pending
    timer.fire()
    assert writes == [1] and not w.pending
    w.schedule([3, 4])  # the on_change hook signature
    assert w.flush() == Path("x")
    assert writes == [1, 1]
    timer.fire()  # flush already wrote: the timer has nothing to do
    assert writes == [1, 1]


def test_debounced_writer_reports_errors_and_retries() -> None:
    errors: list[Exception] = []
    fail = [True]

    def write() -> Path:
        if fail[0]:
            raise OSError("disk full")
        return Path("ok")

    timer = ManualTimer()
    w = DebouncedWriter(write, on_error=errors.append, timer=timer)
    w.schedule()
    timer.fire()
    assert isinstance(w.last_error, OSError) and errors == [w.last_error] and w.pending
    with pytest.raises(OSError):
        w.flush()
    assert w.pending
    fail[0] = False
    assert w.flush() == Path("ok")
    assert w.last_error is None and not w.pending


def test_debounced_writer_on_the_shared_timer_keeps_the_csv_current(tmp_path: Path) -> None:
    names = [f"c{i % 2}/{i}.png" for i in range(50)]
    d = Decisions(names, [n[:2] for n in names], journal=journal_path(tmp_path))
    valid = np.arange(50) % 5 == 0
    calls = threading.Semaphore(0)

    def write() -> Path:
        path = write_cleaned_csv(tmp_path, d.names, d.final_labels(), valid, d.deleted_mask())
        calls.release()
        return path

    w = DebouncedWriter(write, delay=0.05)
    d.on_change.append(w.schedule)
    for i in range(10):
        d.delete(i)
    d.relabel(20, "c1")
    assert calls.acquire(timeout=5)
    time.sleep(0.2)
    rows = read_rows(tmp_path / "cleaned.csv")[1:]
    assert len(rows) == 40
    assert ["c0/20.png", "c1", "True"] in rows
    assert not w.pending


# -- apply: plan, moves, undo -------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_tree(
        root,
        [
            "train/cat/1.png",
            "train/cat/2.png",
            "train/cat/3.png",
            "train/dog/1.png",
            "train/dog/2.png",
            "valid/cat/9.png",
            "misc/odd.png",
            "trash/train/cat/2.png",  # an earlier apply's trash: a collision
            "cat/<img src=x onerror=alert(1)>.png",
        ],
    )
    return root


def decide(root: Path) -> Decisions:
    items = scan_folder(root)
    # misc/odd.png's label came from elsewhere (a learner), not from its folder.
    labels = ["dog" if n == "misc/odd.png" else lab for n, lab, _ in items]
    d = Decisions([n for n, _, _ in items], labels)
    d.relabel("train/cat/1.png", "dog")  # collides with train/dog/1.png
    d.delete("train/cat/2.png")  # collides with the old trash
    d.relabel("train/cat/3.png", "dog")
    d.delete("train/cat/3.png")  # relabelled and deleted: trash wins
    d.relabel("misc/odd.png", "cat")  # its folder is not its label: skipped
    d.relabel("valid/cat/9.png", "dog")
    d.delete("cat/<img src=x onerror=alert(1)>.png")
    return d


def plan_for(root: Path, d: Decisions, **kwargs: Any) -> list[dict[str, Any]]:
    return plan_moves(
        root,
        d.names,
        [d.label(i) for i in range(len(d))],
        d.new_labels(),
        d.deleted_mask(),
        **kwargs,
    )


def test_plan_is_a_dry_run(tree: Path) -> None:
    before = files(tree)
    d = decide(tree)
    plan = plan_for(tree, d)
    assert files(tree) == before
    by_name = {e["name"]: e for e in plan}
    assert [e["name"] for e in plan] == [d.names[i] for i in d.changed_indices()]
    hostile = "cat/<img src=x onerror=alert(1)>.png"
    assert by_name[hostile] == {
        "name": hostile,
        "action": "trash",
        "src": hostile,
        "dst": f"trash/{hostile}",
        "reason": None,
    }
    assert by_name["train/cat/1.png"]["dst"] == "train/dog/1 (1).png"
    assert by_name["train/cat/2.png"]["dst"] == "trash/train/cat/2 (1).png"
    assert by_name["train/cat/3.png"]["action"] == "trash"
    assert by_name["valid/cat/9.png"]["dst"] == "valid/dog/9.png"
    odd = by_name["misc/odd.png"]
    assert odd["action"] == "relabel" and odd["dst"] is None and "misc" in odd["reason"]
    assert plan_for(tree, d, move_deleted_to=None, move_relabelled=False) == []
    only_trash = plan_for(tree, d, move_relabelled=False)
    assert {e["action"] for e in only_trash} == {"trash"}


def test_plan_refuses_bad_labels_and_targets(tree: Path, tmp_path: Path) -> None:
    d = Decisions(["train/cat/1.png", "train/cat/2.png"], ["cat", "cat"], classes=["cat", "../x"])
    d.relabel(0, "../x")
    d.delete(1)
    plan = plan_for(tree, d)
    assert plan[0]["dst"] is None and "folder name" in plan[0]["reason"]
    for bad in ["../elsewhere", "/tmp", ".", ".fastwidgets"]:
        with pytest.raises(ValueError):
            plan_for(tree, d, move_deleted_to=bad)
    # A class folder that is a symlink out of the root is no place to move to.
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tree / "train" / "bird")
    d2 = Decisions(["train/cat/1.png"], ["cat"], classes=["cat", "bird"])
    d2.relabel(0, "bird")
    (entry,) = plan_for(tree, d2)
    assert entry["dst"] is None and "outside the root" in entry["reason"]


def test_apply_moves_never_deletes_and_undo_restores_exactly(tree: Path) -> None:
    before = files(tree)
    d = decide(tree)
    plan = plan_for(tree, d)
    log = apply_moves(tree, plan)
    after = files(tree)
    assert len(after) == len(before)  # moved, never deleted
    assert sorted(after.values()) == sorted(before.values())
    assert log.parent == tree / ".fastwidgets" and log.name.startswith("moves-")
    # Each file is where the plan said, with its own bytes.
    for e in plan:
        if e["dst"] is not None:
            assert after[e["dst"]] == before[e["src"]]
            assert e["src"] not in after
    assert after["train/dog/1.png"] == before["train/dog/1.png"]  # the collision kept both
    assert after["trash/train/cat/2.png"] == before["trash/train/cat/2.png"]
    assert after["misc/odd.png"] == before["misc/odd.png"]
    moves = read_moves(log)
    assert moves == [(e["src"], e["dst"]) for e in plan if e["dst"]]
    # The journal follows the files, so a replay stays consistent.
    d.record_moves(moves)
    assert "train/dog/1 (1).png" in d.names

    back = undo_moves(log)
    assert files(tree) == before
    assert sorted(back) == sorted((dst, src) for src, dst in moves)
    assert not (tree / "trash" / "cat").exists()  # folders the apply made are gone again
    assert (tree / "trash" / "train").exists()  # the older trash stays
    d.record_moves(back)
    assert "train/cat/1.png" in d.names
    assert undo_moves(log) == []  # a second undo finds nothing to move


def test_apply_picks_a_new_name_when_the_planned_one_was_taken_meanwhile(tree: Path) -> None:
    before = files(tree)
    d = decide(tree)
    plan = plan_for(tree, d)
    (tree / "valid" / "dog").mkdir()
    (tree / "valid" / "dog" / "9.png").write_bytes(b"arrived after the plan")
    apply_moves(tree, plan)
    after = files(tree)
    assert after["valid/dog/9.png"] == hashlib.sha1(b"arrived after the plan").hexdigest()
    assert after["valid/dog/9 (1).png"] == before["valid/cat/9.png"]
    assert len(after) == len(before) + 1


def test_apply_refuses_outside_the_root_before_moving_anything(tree: Path) -> None:
    before = files(tree)
    plan = [
        {"name": "train/cat/1.png", "src": "train/cat/1.png", "dst": "train/dog/x.png"},
        {"name": "train/cat/2.png", "src": "train/cat/2.png", "dst": "../stolen.png"},
    ]
    with pytest.raises(OutsideRoot, match="stolen"):
        apply_moves(tree, plan)
    plan[1] = {"name": "x", "src": "../../etc/hostname", "dst": "train/cat/h.png"}
    with pytest.raises(OutsideRoot):
        apply_moves(tree, plan)
    assert files(tree) == before
    # A forged log cannot move files from outside the root either.
    forged = tree / ".fastwidgets" / "moves-forged.jsonl"
    forged.parent.mkdir(exist_ok=True)
    forged.write_text(json.dumps({"src": "../outside.png", "dst": "train/cat/1.png"}) + "\n")
    with pytest.raises(OutsideRoot):
        undo_moves(forged)
    with pytest.raises(ValueError, match="not a move log"):
        undo_moves(tree / "moves.jsonl")
    assert files(tree) == before


def test_undo_after_a_crash_midway(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = files(tree)
    plan = plan_for(tree, decide(tree))
    real_rename = os.rename
    done = [0]

    def crashing_rename(src: Any, dst: Any) -> None:
        if done[0] == 2:
            raise KeyboardInterrupt  # the kernel dies between logging and moving
        done[0] += 1
        real_rename(src, dst)

    monkeypatch.setattr(_cleaned.os, "rename", crashing_rename)
    with pytest.raises(KeyboardInterrupt):
        apply_moves(tree, plan)
    monkeypatch.undo()
    (log,) = (tree / ".fastwidgets").glob("moves-*.jsonl")
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert sum("src" in r for r in logged) == 3  # the third was logged, never made
    assert len(read_moves(log)) == 2
    assert files(tree) != before
    undo_moves(log)
    assert files(tree) == before


def test_undo_does_not_overwrite_a_file_that_took_the_old_place(tree: Path) -> None:
    d = Decisions(["train/cat/1.png"], ["cat"], classes=["cat", "dog"])
    d.delete(0)
    log = apply_moves(tree, plan_for(tree, d))
    (tree / "train" / "cat" / "1.png").write_bytes(b"new file")
    with pytest.warns(UserWarning, match="taken"):
        back = undo_moves(log)
    assert back == [("trash/train/cat/1.png", "train/cat/1 (1).png")]
    assert (tree / "train" / "cat" / "1.png").read_bytes() == b"new file"
    assert (tree / "train" / "cat" / "1 (1).png").read_bytes() == b"train/cat/1.png"


# -- fastai reads it back -----------------------------------------------------------------


def test_fastai_reads_cleaned_csv_and_trains_one_batch(tmp_path: Path) -> None:
    pytest.importorskip("fastai")
    import fastai.callback.all  # noqa: F401 - patches no_bar onto Learner
    import torch
    from fastai.learner import Learner
    from fastai.vision.all import ImageDataLoaders, Resize
    from PIL import Image
    from torch import nn

    root = tmp_path / "pets"
    rng = np.random.default_rng(0)
    for split in ["train", "valid"]:
        for cls in ["cat", "dog"]:
            (root / split / cls).mkdir(parents=True)
            for k in range(6 if split == "train" else 4):
                pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
                name = f"{cls} {k}, ünï.png" if k == 0 else f"{k}.png"  # commas, spaces
                Image.fromarray(pixels).save(root / split / cls / name)
    items = scan_folder(root)
    assert len(items) == 20
    d = Decisions([n for n, _, _ in items], [lab for _, lab, _ in items])
    d.delete("train/cat/1.png")
    d.delete("valid/dog/2.png")
    d.relabel("train/cat/cat 0, ünï.png", "dog")
    d.relabel("valid/dog/3.png", "cat")
    path = write_cleaned_csv(
        root, d.names, d.final_labels(), [s == "valid" for _, _, s in items], d.deleted_mask()
    )
    expected = {(r[0], r[1], r[2] == "True") for r in read_rows(path)[1:]}
    assert len(expected) == 18

    dls = ImageDataLoaders.from_csv(
        root,
        "cleaned.csv",
        valid_col="is_valid",
        item_tfms=Resize(16),
        bs=4,
        num_workers=0,
        device="cpu",
    )
    got = set()
    for ds, is_valid in [(dls.train_ds, False), (dls.valid_ds, True)]:
        for k in range(len(ds)):
            name = ds.items.iloc[k]["name"]
            _, y = ds[k]
            got.add((name, dls.vocab[int(y)], is_valid))
    assert got == expected
    assert ("train/cat/cat 0, ünï.png", "dog", False) in got
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (4, 3, 16, 16) and tuple(yb.shape) == (4,)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, len(dls.vocab)))
    learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(), path=tmp_path)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr=1e-3)
    assert len(learn.recorder.losses) == len(dls.train)
    assert all(np.isfinite(float(v)) for v in learn.recorder.losses)
