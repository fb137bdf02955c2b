"""cleaned.csv, the debounced writer, and apply()'s moves (fastwidgets._cleaned)."""

from __future__ import annotations

import csv
import errno
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
from fastwidgets._paths import OutsideRoot, SymlinkRefused, scan_folder

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


def test_a_planted_link_at_the_temporary_name_is_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    planted = root / f".cleaned.csv.tmp-{os.getpid()}"
    planted.symlink_to(victim)
    path = write_cleaned_csv(root, ["a/1.png"], ["a"], [True], [False])
    assert victim.read_bytes() == b"precious\n"  # neither truncated nor written
    assert planted.is_symlink() and os.readlink(planted) == str(victim)  # left alone
    assert read_rows(path) == [["name", "label", "is_valid"], ["a/1.png", "a", "True"]]
    assert not path.is_symlink()
    # A stale regular file at the name is left alone too; another name is used.
    planted.unlink()
    planted.write_bytes(b"someone's")
    write_cleaned_csv(root, ["a/2.png"], ["a"], [False], [False])
    assert planted.read_bytes() == b"someone's"
    assert read_rows(path)[1] == ["a/2.png", "a", "False"]
    assert sorted(p.name for p in root.iterdir()) == sorted(["cleaned.csv", planted.name])


def test_no_free_temporary_name_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cleaned.secrets, "token_hex", lambda n: "same")
    base = f".cleaned.csv.tmp-{os.getpid()}"
    for name in (base, f"{base}-same"):
        (tmp_path / name).symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError, match=r"temporary file for cleaned\.csv"):
        write_cleaned_csv(tmp_path, ["a/1.png"], ["a"], [True], [False])
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "cleaned.csv").exists()
    assert (tmp_path / base).is_symlink()


def test_a_cleaned_csv_linked_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    victim = tmp_path / "victim.csv"
    victim.write_bytes(b"precious\n")
    (root / "cleaned.csv").symlink_to(victim)
    with pytest.raises(OutsideRoot, match=r"cleaned\.csv"):
        write_cleaned_csv(root, ["a/1.png"], ["a"], [True], [False])
    assert victim.read_bytes() == b"precious\n"
    assert (root / "cleaned.csv").is_symlink()
    assert sorted(p.name for p in root.iterdir()) == ["cleaned.csv"]  # no temporary left


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


TREE_ITEMS = [  # what a learner would give: every file but the old trash, in name order
    "cat/<img src=x onerror=alert(1)>.png",
    "misc/odd.png",
    "train/cat/1.png",
    "train/cat/2.png",
    "train/cat/3.png",
    "train/dog/1.png",
    "train/dog/2.png",
    "valid/cat/9.png",
]


def decide(root: Path) -> Decisions:
    # misc/odd.png's label came from elsewhere (a learner), not from its folder.
    labels = ["dog" if n == "misc/odd.png" else n.split("/")[-2] for n in TREE_ITEMS]
    d = Decisions(TREE_ITEMS, labels)
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


def test_a_second_apply_moves_nothing_again(tree: Path) -> None:
    d = decide(tree)
    log = apply_moves(tree, plan_for(tree, d))
    d.record_moves(read_moves(log))
    after = files(tree)
    again = plan_for(tree, d)
    assert [e["name"] for e in again] == [d.names[i] for i in d.changed_indices()]
    reasons = {e["name"]: e["reason"] for e in again}
    assert all(e["dst"] is None for e in again)
    assert reasons == {
        "trash/cat/<img src=x onerror=alert(1)>.png": "already in trash",
        "train/dog/1 (1).png": "already in place",
        "trash/train/cat/2 (1).png": "already in trash",
        "trash/train/cat/3.png": "already in trash",
        "misc/odd.png": reasons["misc/odd.png"],  # still not movable, for its own reason
        "valid/dog/9.png": "already in place",
    }
    assert "not named after its label" in reasons["misc/odd.png"]
    log2 = apply_moves(tree, again)
    assert files(tree) == after and read_moves(log2) == []


def test_rename_noreplace_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    ways: list[Callable[[], None]] = [
        lambda: None,  # renameat2 where the libc has it, else link + unlink
        lambda: monkeypatch.setattr(_cleaned, "_renameat2", None),  # link + unlink
        lambda: monkeypatch.setattr(_cleaned.os, "link", no_link),  # checked rename
    ]
    for k, way in enumerate(ways):
        way()
        src, dst = tmp_path / f"src{k}", tmp_path / f"dst{k}"
        src.write_bytes(b"moving")
        dst.write_bytes(b"already here")
        with pytest.raises(FileExistsError):
            _cleaned._rename_noreplace(src, dst)
        assert src.read_bytes() == b"moving" and dst.read_bytes() == b"already here"
        dst.unlink()
        _cleaned._rename_noreplace(src, dst)
        assert not src.exists() and dst.read_bytes() == b"moving"
        # An item that is a symlink moves as the link itself.
        (tmp_path / f"link{k}").symlink_to(dst)
        _cleaned._rename_noreplace(tmp_path / f"link{k}", tmp_path / f"moved{k}")
        assert os.readlink(tmp_path / f"moved{k}") == str(dst)
        with pytest.raises(FileNotFoundError):
            _cleaned._rename_noreplace(tmp_path / "absent", tmp_path / f"x{k}")


def test_a_destination_taken_between_the_check_and_the_move_is_not_overwritten(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = files(tree)
    d = Decisions(["valid/cat/9.png"], ["cat"], classes=["cat", "dog"])
    d.relabel(0, "dog")
    plan = plan_for(tree, d)
    real_free_name = _cleaned._free_name
    raced: list[str] = []

    def racing_free_name(root: Path, name: str, taken: set[str]) -> str:
        got = real_free_name(root, name, taken)
        if not raced:  # another process writes there right after the check
            raced.append(got)
            (root / got).parent.mkdir(parents=True, exist_ok=True)
            (root / got).write_bytes(b"arrived in the race")
        return got

    monkeypatch.setattr(_cleaned, "_free_name", racing_free_name)
    log = apply_moves(tree, plan)
    assert raced == ["valid/dog/9.png"]
    assert (tree / "valid/dog/9.png").read_bytes() == b"arrived in the race"
    assert (tree / "valid/dog/9 (1).png").read_bytes() == b"valid/cat/9.png"
    assert read_moves(log) == [("valid/cat/9.png", "valid/dog/9 (1).png")]
    back = undo_moves(log)
    assert back == [("valid/dog/9 (1).png", "valid/cat/9.png")]
    assert (tree / "valid/dog/9.png").read_bytes() == b"arrived in the race"  # not moved
    assert files(tree) == {**before, "valid/dog/9.png": files(tree)["valid/dog/9.png"]}


def test_undo_with_a_root_refuses_a_log_from_elsewhere(tree: Path, tmp_path: Path) -> None:
    d = Decisions(["train/cat/1.png"], ["cat"], classes=["cat", "dog"])
    d.delete(0)
    log = apply_moves(tree, plan_for(tree, d))
    other = tmp_path / "other"
    (other / ".fastwidgets").mkdir(parents=True)
    copy = other / ".fastwidgets" / log.name
    copy.write_bytes(log.read_bytes())
    with pytest.raises(OutsideRoot, match=log.name):
        undo_moves(copy, root=tree)  # a log of another root
    (tree / "logs").mkdir()
    stray = tree / "logs" / log.name
    stray.write_bytes(log.read_bytes())
    with pytest.raises(ValueError, match="not a move log of"):
        undo_moves(stray, root=tree)  # under the root, but not in its .fastwidgets
    (tree / ".fastwidgets" / "linked.jsonl").symlink_to(stray)
    with pytest.raises(ValueError):
        undo_moves(tree / ".fastwidgets" / "linked.jsonl", root=tree)
    assert (tree / "trash/train/cat/1.png").exists()
    # The root's own log, by absolute path or by name relative to the root.
    assert read_moves(Path(".fastwidgets") / log.name, root=tree) == read_moves(log)
    assert undo_moves(Path(".fastwidgets") / log.name, root=tree) == [
        ("trash/train/cat/1.png", "train/cat/1.png")
    ]


def test_a_version_1_log_is_still_undone(tree: Path) -> None:
    before = files(tree)
    (tree / "train" / "cat" / "1.png").rename(tree / "train" / "dog" / "1 (1).png")
    log = tree / ".fastwidgets" / "moves-old.jsonl"
    log.parent.mkdir()
    log.write_text(
        json.dumps({"v": 1, "op": "apply"})
        + "\n"
        + json.dumps({"src": "train/cat/1.png", "dst": "train/dog/1 (1).png"})
        + "\n"
    )
    assert read_moves(log) == [("train/cat/1.png", "train/dog/1 (1).png")]
    assert undo_moves(log, root=tree) == [("train/dog/1 (1).png", "train/cat/1.png")]
    assert files(tree) == before


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
    real_move = _cleaned._rename_noreplace
    done = [0]

    def crashing_move(src: Any, dst: Any) -> None:
        if done[0] == 2:
            raise KeyboardInterrupt  # the kernel dies between logging and moving
        done[0] += 1
        real_move(src, dst)

    monkeypatch.setattr(_cleaned, "_rename_noreplace", crashing_move)
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


def test_apply_refuses_a_symlinked_state_folder(tree: Path, tmp_path: Path) -> None:
    before = files(tree)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tree / ".fastwidgets").symlink_to(elsewhere)
    d = Decisions(["train/cat/1.png"], ["cat"], classes=["cat", "dog"])
    d.delete(0)
    with pytest.raises(OutsideRoot, match=r"\.fastwidgets"):
        apply_moves(tree, plan_for(tree, d))
    assert files(tree) == before and list(elsewhere.iterdir()) == []
    # A link to a folder inside the root is refused as well: the log goes in no folder
    # but the real .fastwidgets.
    (tree / ".fastwidgets").unlink()
    (tree / "misc" / "state").mkdir()
    (tree / ".fastwidgets").symlink_to(tree / "misc" / "state")
    with pytest.raises(SymlinkRefused, match=r"\.fastwidgets.*symlink"):
        apply_moves(tree, plan_for(tree, d))
    assert files(tree) == before and list((tree / "misc" / "state").iterdir()) == []
