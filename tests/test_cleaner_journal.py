"""The cleaner's decisions, undo/redo and journal replay (fastwidgets._journal)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastwidgets._journal import Decisions, journal_path
from fastwidgets._paths import OutsideRoot, SymlinkRefused

NAMES = ["cat/1.png", "cat/2.png", "dog/1.png", "dog/2.png", "bird/1.png"]
LABELS = ["cat", "cat", "dog", "dog", "bird"]


def make(root: Path | None = None, names: list[str] | None = None) -> Decisions:
    names = NAMES if names is None else names
    labels = [n.split("/")[0] for n in names]
    return Decisions(names, labels, journal=None if root is None else journal_path(root))


def snapshot(d: Decisions) -> tuple[object, ...]:
    """Everything replay must restore, including what undo and redo would do next."""
    return (
        [d.state(i) for i in range(len(d))],
        d.counts(),
        d.can_undo,
        d.can_redo,
        dict(d.pair_verdicts),
        list(d.names),
    )


def records(root: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in journal_path(root).read_text().splitlines()]


def test_relabel_delete_keep_semantics() -> None:
    d = make()
    assert d.classes == ["bird", "cat", "dog"]
    assert d.relabel(0, "dog")
    assert d.state(0) == ("dog", False) and d.final_label(0) == "dog" and d.label(0) == "cat"
    assert d.delete(0)
    assert d.state(0) == ("dog", True)  # delete keeps the new label
    assert d.relabel(0, "bird")
    assert d.state(0) == ("bird", False)  # relabel undeletes
    assert d.relabel("cat/1.png", "cat")
    assert d.state(0) == (None, False)  # back to the original label: no decision
    assert d.delete(Path("cat/2.png"))
    assert d.delete(1, False)
    assert d.state(1) == (None, False)
    d.relabel(2, "cat")
    d.delete(2)
    assert d.keep(2)
    assert d.state(2) == (None, False)
    assert d.relabel(np.int64(3), "bird")


def test_no_op_decisions_are_not_recorded(tmp_path: Path) -> None:
    d = make(tmp_path)
    assert not d.keep(0)
    assert not d.relabel(0, "cat")
    assert not d.delete(0, False)
    assert not d.can_undo
    assert not journal_path(tmp_path).exists()
    d.delete(0)
    assert not d.delete(0)
    assert len(records(tmp_path)) == 1


def test_counts_relabelled_and_deleted_counts_as_deleted() -> None:
    d = make()
    assert d.counts() == {"kept": 5, "relabelled": 0, "deleted": 0, "total": 5}
    d.relabel(0, "dog")
    d.relabel(1, "dog")
    d.delete(1)
    d.delete(4)
    assert d.counts() == {"kept": 2, "relabelled": 1, "deleted": 2, "total": 5}
    d.undo()
    d.undo()
    assert d.counts() == {"kept": 3, "relabelled": 2, "deleted": 0, "total": 5}
    assert list(d.changed_indices()) == [0, 1]
    assert d.final_labels() == ["dog", "dog", "dog", "dog", "bird"]
    assert d.new_labels() == ["dog", "dog", None, None, None]
    assert d.deleted_mask().tolist() == [False] * 5
    assert d.relabelled_mask().tolist() == [True, True, False, False, False]


def test_unknown_item_or_label_raises_and_records_nothing(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.relabel(0, "dog")
    before = snapshot(d)
    lines = journal_path(tmp_path).read_text()
    for item in ["cat/nope.png", Path("nope.png"), 5, -1, 99, "", True, 1.5, None]:
        with pytest.raises(KeyError) as err:
            d.delete(item)  # type: ignore[arg-type]
        assert str(item) in str(err.value)
    with pytest.raises(KeyError, match=r"cat/nope\.png"):
        d.relabel("cat/nope.png", "dog")
    with pytest.raises(ValueError, match=r"'fish'.*\['bird', 'cat', 'dog'\]"):
        d.relabel(1, "fish")
    with pytest.raises(ValueError, match="classes"):
        d.relabel(1, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="verdict"):
        d.record_pair(0, 1, "delete_both")
    with pytest.raises(ValueError, match="two items"):
        d.record_pair(0, 0, "keep_both")
    with pytest.raises(KeyError):
        d.record_pair(0, "ghost.png", "keep_both")
    assert snapshot(d) == before
    assert journal_path(tmp_path).read_text() == lines


def test_undo_redo_and_a_new_decision_clears_redo() -> None:
    d = make()
    assert not d.undo() and not d.redo()
    d.relabel(0, "dog")
    d.delete(3)
    assert d.undo()
    assert d.state(3) == (None, False) and d.state(0) == ("dog", False)
    assert d.can_redo
    assert d.redo()
    assert d.state(3) == (None, True)
    d.undo()
    d.keep(4)  # no-op: redo survives
    assert d.can_redo
    d.delete(4)
    assert not d.can_redo and not d.redo()
    assert d.undo() and d.undo()
    assert not d.can_undo and not d.undo()
    assert d.counts()["kept"] == 5


def test_undo_redo_across_many_items() -> None:
    n = 2000
    names = [f"c{i % 3}/{i}.png" for i in range(n)]
    d = make(names=names)
    rng = np.random.default_rng(0)
    history = [snapshot(d)[0]]
    for _ in range(300):
        i = int(rng.integers(n))
        action = rng.integers(3)
        if action == 0:
            changed = d.relabel(i, f"c{rng.integers(3)}")
        elif action == 1:
            changed = d.delete(i, bool(rng.integers(2)))
        else:
            changed = d.keep(i)
        if changed:
            history.append(snapshot(d)[0])
    for state in reversed(history[:-1]):
        assert d.undo()
        assert snapshot(d)[0] == state
    assert not d.undo()
    for state in history[1:]:
        assert d.redo()
        assert snapshot(d)[0] == state
    assert not d.redo()


def test_journal_records_and_crash_replay(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.relabel("cat/1.png", "dog")
    d.delete(2)
    d.delete(4)
    d.undo()
    d.record_pair(0, 1, "delete_right")
    d.undo()
    d.redo()
    d.undo()
    recs = records(tmp_path)
    assert recs[0]["op"] == "set" and recs[0]["name"] == "cat/1.png"
    assert recs[0]["before"] == [None, False] and recs[0]["after"] == ["dog", False]
    assert recs[0]["v"] == 1 and isinstance(recs[0]["t"], float)
    assert [r["op"] for r in recs] == ["set", "set", "set", "undo", "pair", "undo", "redo", "undo"]
    # The "crash": nothing is closed or flushed by hand; a new Decisions reads the file.
    again = make(tmp_path)
    assert snapshot(again) == snapshot(d)
    # ... and goes on from the same undo/redo stacks.
    assert again.redo() and d.redo()
    assert snapshot(again) == snapshot(d)
    assert again.pair_verdicts == {("cat/1.png", "cat/2.png"): "delete_right"}
    assert again.pair_verdict("cat/1.png", 1) == "delete_right"
    assert again.pair_verdict(1, 0) is None  # a pair is (a, b) in the order given
    for _ in range(3):
        assert again.undo() == d.undo()
        assert snapshot(again) == snapshot(d)
    assert not again.can_undo
    assert snapshot(make(tmp_path)) == snapshot(again)


def test_every_action_is_on_disk_before_the_call_returns(tmp_path: Path) -> None:
    d = make(tmp_path)
    for k, action in enumerate([lambda: d.delete(1), d.undo, d.redo, lambda: d.keep(1)]):
        action()
        assert len(records(tmp_path)) == k + 1


def test_pair_verdicts_set_deletions_as_one_step(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.relabel(1, "dog")
    assert d.record_pair(0, 1, "delete_left")
    assert (d.deleted(0), d.deleted(1)) == (True, False)
    assert d.record_pair(0, 1, "delete_right")  # changed mind: left comes back
    assert (d.deleted(0), d.deleted(1)) == (False, True)
    assert d.new_label(1) == "dog"  # labels are kept
    assert d.record_pair(0, 1, "keep_both")
    assert (d.deleted(0), d.deleted(1)) == (False, False)
    assert not d.record_pair(0, 1, "keep_both")
    d.record_moves([("cat/1.png", "trash/cat/1.png")])
    assert d.pair_verdicts == {("trash/cat/1.png", "cat/2.png"): "keep_both"}
    d.undo()
    assert d.pair_verdicts == {("trash/cat/1.png", "cat/2.png"): "delete_right"}
    d.undo()
    d.undo()
    assert d.pair_verdicts == {}
    assert snapshot(make(tmp_path)) == snapshot(d)


def test_on_change_hooks(tmp_path: Path) -> None:
    d = make(tmp_path)
    seen: list[list[int]] = []
    d.on_change.append(seen.append)
    d.relabel(2, "cat")
    d.keep(2)
    d.keep(2)  # no change, no call
    d.undo()
    d.record_pair(3, 4, "keep_both")  # only the verdict changes: both items reported
    d.record_moves([("dog/2.png", "dog/2b.png")])
    assert seen == [[2], [2], [2], [3, 4], [3]]

    def broken(_: list[int]) -> None:
        raise RuntimeError("hook failed")

    later: list[list[int]] = []
    d.on_change[:] = [broken, later.append]
    with pytest.raises(RuntimeError, match="hook failed"):
        d.delete(0)
    assert later == [[0]] and d.deleted(0)  # the action stands and every hook ran


def test_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.delete(0)
    d.relabel(1, "dog")
    path = journal_path(tmp_path)
    good = snapshot(d)
    with open(path, "a") as f:
        f.write('{"v":1,"op":"set","name":"dog/1.png","bef')  # the crash, mid-write
    with pytest.warns(UserWarning, match="line 3 is torn"):
        again = make(tmp_path)
    assert snapshot(again) == good
    again.delete(4)  # lands on its own line after the torn one
    with pytest.warns(UserWarning, match="line 3"):
        third = make(tmp_path)
    assert third.deleted(4) and snapshot(third) == snapshot(again)


def test_unknown_names_are_ignored_but_kept(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.delete("dog/1.png")
    d.delete("bird/1.png")
    d.relabel("cat/1.png", "bird")
    d.undo()
    # The dog folder is gone from the next session's items.
    fewer = ["cat/1.png", "cat/2.png", "bird/1.png"]
    e = make(tmp_path, names=fewer)
    assert [e.state(i) for i in range(3)] == [(None, False), (None, False), (None, True)]
    assert e.can_undo and e.can_redo
    assert e.redo() and e.new_label(0) == "bird"
    assert e.undo() and e.undo()
    assert e.undo() is False and not e.can_undo  # only the unknown item's step is left
    assert "dog/1.png" in journal_path(tmp_path).read_text()
    # A session with every item again sees the unknown item's decision once more.
    full = make(tmp_path)
    assert full.deleted(2) and not full.deleted(4)
    assert snapshot(make(tmp_path, names=fewer)) == snapshot(e)


def test_unknown_ops_and_labels_from_elsewhere_are_ignored(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    path.parent.mkdir()
    lines = [
        {"v": 2, "op": "future-op", "x": 1},
        {
            "v": 1,
            "op": "set",
            "name": "cat/1.png",
            "before": [None, False],
            "after": ["fish", True],
        },
        {
            "v": 1,
            "op": "set",
            "name": "cat/2.png",
            "before": [None, False],
            "after": ["dog", False],
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    d = make(tmp_path)
    assert d.state(0) == (None, True)  # the label "fish" is not ours: only delete applies
    assert d.state(1) == ("dog", False)


def test_record_moves_renames_and_replays(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.relabel("cat/1.png", "dog")
    d.delete("dog/2.png")
    renamed = d.record_moves([("cat/1.png", "dog/1 (1).png"), ("dog/2.png", "trash/dog/2.png")])
    assert renamed == [0, 3]
    assert d.names[0] == "dog/1 (1).png" and d.index("trash/dog/2.png") == 3
    with pytest.raises(KeyError):
        d.index("cat/1.png")
    d.undo()  # undoes the delete, naming the item by its new name in the journal
    assert records(tmp_path)[-2]["op"] == "moved"
    assert snapshot(make(tmp_path)) == snapshot(d)
    with pytest.raises(ValueError, match="is item"):
        d.record_moves([("cat/2.png", "dog/1.png")])
    assert d.record_moves([("not/there.png", "x.png")]) == []
    # A later session scans the moved files: the old names' decisions no longer apply
    # (they are what the moves did), so the rescan starts clean and agrees with the disk.
    rescan = ["bird/1.png", "cat/2.png", "dog/1 (1).png", "dog/1.png"]
    later = make(tmp_path, names=rescan)
    assert later.final_labels() == ["bird", "cat", "dog", "dog"]
    assert not later.changed_indices().size


def test_classes_given_and_original_labels_outside_them() -> None:
    d = Decisions(["a.png", "b.png"], ["cat", "odd"], classes=["cat", "dog"])
    assert d.classes == ["cat", "dog"]
    assert d.relabel(1, "dog")
    assert d.relabel(1, "odd")  # its own label means "unchanged"
    assert d.state(1) == (None, False)
    with pytest.raises(ValueError, match="odd"):
        d.relabel(0, "odd")
    with pytest.raises(ValueError, match="unique"):
        Decisions(["a.png", "a.png"], ["cat", "cat"])
    with pytest.raises(ValueError, match="labels"):
        Decisions(["a.png"], [])


def test_scale_replay_10000_actions_and_100000_items(tmp_path: Path) -> None:
    n = 100_000
    names = [f"c{i % 10}/{i}.png" for i in range(n)]
    labels = [f"c{i % 10}" for i in range(n)]
    path = journal_path(tmp_path)
    path.parent.mkdir()
    lines = []
    for k in range(10_000):
        name = names[(k * 7919) % n]
        if k % 4 == 3:
            lines.append({"v": 1, "op": "undo"})
        else:
            after = [f"c{k % 10}", False] if k % 2 else [None, True]
            lines.append(
                {"v": 1, "op": "set", "name": name, "before": [None, False], "after": after}
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    start = time.perf_counter()
    d = Decisions(names, labels, journal=path)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"replay took {elapsed:.2f} s"
    c = d.counts()
    assert c["kept"] + c["relabelled"] + c["deleted"] == n
    assert c["deleted"] == int(d.deleted_mask().sum())
    assert c["relabelled"] == int((d.relabelled_mask() & ~d.deleted_mask()).sum())
    assert c["deleted"] > 0 and c["relabelled"] > 0
    start = time.perf_counter()
    for _ in range(1000):
        d.counts()
    assert time.perf_counter() - start < 0.05  # O(1), not a pass over the items


def test_no_warnings_on_a_clean_replay(tmp_path: Path) -> None:
    d = make(tmp_path)
    d.delete(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(tmp_path)


def test_a_failed_journal_write_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make(tmp_path)
    d.delete(0)
    seen: list[list[int]] = []
    d.on_change.append(seen.append)
    before = snapshot(d)
    on_disk = journal_path(tmp_path).read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("fastwidgets._journal.os.fsync", disk_full)
    for action in [lambda: d.relabel(1, "dog"), d.undo, lambda: d.record_pair(1, 2, "delete_left")]:
        with pytest.raises(OSError, match="No space"):
            action()
        assert snapshot(d) == before
        assert journal_path(tmp_path).read_bytes() == on_disk  # the written line is cut
    assert seen == []


def test_hostile_names_in_the_journal(tmp_path: Path) -> None:
    names = [
        'cat/a,b "q".png',
        "cat/new\nline.png",
        "cat/<img src=x onerror=alert(1)>.png",
        "cat/猫.png",
    ]
    d = Decisions(names, ["cat"] * 4, classes=["cat", "dog"], journal=journal_path(tmp_path))
    for name in names:
        d.relabel(name, "dog")
    d.delete(names[1])
    d.undo()
    d.undo()
    assert len(journal_path(tmp_path).read_text().splitlines()) == 7  # one line per action
    again = Decisions(names, ["cat"] * 4, classes=["cat", "dog"], journal=journal_path(tmp_path))
    assert snapshot(again) == snapshot(d)
    assert again.new_labels() == ["dog", "dog", "dog", None]


# -- symlinks: the journal is never written or read through a link -------------------------


def test_a_symlinked_state_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / ".fastwidgets").symlink_to(outside)
    with pytest.raises(SymlinkRefused, match=r"\.fastwidgets") as err:
        make(root)
    assert isinstance(err.value, OutsideRoot)
    assert list(outside.iterdir()) == []  # nothing written through the link
    # A link that stays inside the root is refused too: the state folder is a real one.
    (root / ".fastwidgets").unlink()
    (root / "real_state").mkdir()
    (root / ".fastwidgets").symlink_to(root / "real_state")
    with pytest.raises(SymlinkRefused, match=r"\.fastwidgets"):
        make(root)


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlinked_journal_is_refused_and_its_target_untouched(
    tmp_path: Path, dangling: bool
) -> None:
    root = tmp_path / "data"
    (root / ".fastwidgets").mkdir(parents=True)
    target = tmp_path / "victim.txt"
    if not dangling:
        target.write_bytes(b"precious\n")
    journal_path(root).symlink_to(target)
    with pytest.raises(OutsideRoot, match=r"cleaner\.jsonl.*outside the root"):
        make(root)
    assert target.read_bytes() == b"precious\n" if not dangling else not target.exists()
    # A link to a file inside the root is no journal either.
    journal_path(root).unlink()
    (root / "notes.txt").write_bytes(b"mine\n")
    journal_path(root).symlink_to(root / "notes.txt")
    with pytest.raises(SymlinkRefused, match=r"cleaner\.jsonl.*symlink"):
        make(root)
    assert (root / "notes.txt").read_bytes() == b"mine\n"


def test_a_journal_link_planted_later_is_not_written_through(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    d = make(root)
    d.delete(0)
    before = snapshot(d)
    target = tmp_path / "victim.txt"
    target.write_bytes(b"precious\n")
    journal_path(root).unlink()
    journal_path(root).symlink_to(target)
    with pytest.raises(OutsideRoot, match=r"cleaner\.jsonl"):
        d.relabel(1, "dog")
    assert snapshot(d) == before  # not recorded: the write failed first
    assert target.read_bytes() == b"precious\n"


def test_a_journal_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(OutsideRoot, match="outside the root"):
        Decisions(["a.png"], ["cat"], journal=root / ".fastwidgets" / ".." / ".." / "x.jsonl")
