"""Root confinement and folder scans (fastwidgets._paths)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from fastwidgets._paths import (
    OutsideRoot,
    names_under,
    relative_name,
    resolve_under,
    scan_folder,
    split_of,
)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_resolve_under_accepts_names_inside(root: Path) -> None:
    touch(root / "cat" / "1.png")
    assert resolve_under(root, "cat/1.png") == (root / "cat" / "1.png").resolve()
    assert resolve_under(root, Path("cat/1.png")) == (root / "cat" / "1.png").resolve()
    # Not yet existing (a move's destination) and a detour that comes back are fine.
    assert resolve_under(root, "dog/new.png") == (root / "dog" / "new.png").resolve()
    assert resolve_under(root, "cat/../cat/1.png") == (root / "cat" / "1.png").resolve()
    assert resolve_under(root, root / "cat" / "1.png") == (root / "cat" / "1.png").resolve()


@pytest.mark.parametrize("name", ["../secret.png", "cat/../../secret.png", "/etc/passwd", ".."])
def test_resolve_under_refuses_names_outside(root: Path, name: str) -> None:
    with pytest.raises(OutsideRoot) as err:
        resolve_under(root, name)
    message = str(err.value)
    assert name in message and str(root.resolve()) in message
    assert isinstance(err.value, ValueError)


def test_symlink_escaping_root_is_refused(root: Path, tmp_path: Path) -> None:
    secret = touch(tmp_path / "secret" / "passwords.png")
    (root / "cat").mkdir()
    os.symlink(secret, root / "cat" / "evil.png")
    os.symlink(secret.parent, root / "linked_dir")
    with pytest.raises(OutsideRoot, match=r"evil\.png"):
        resolve_under(root, "cat/evil.png")
    with pytest.raises(OutsideRoot, match="linked_dir"):
        resolve_under(root, "linked_dir/passwords.png")
    with pytest.raises(OutsideRoot):
        relative_name(root, root / "cat" / "evil.png")


def test_symlink_inside_root_is_allowed(root: Path) -> None:
    touch(root / "cat" / "1.png")
    os.symlink(root / "cat" / "1.png", root / "cat" / "link.png")
    assert resolve_under(root, "cat/link.png") == (root / "cat" / "1.png").resolve()
    # The name is the link's own, not its target's.
    assert relative_name(root, root / "cat" / "link.png") == "cat/link.png"


def test_relative_name(root: Path, tmp_path: Path) -> None:
    assert relative_name(root, root / "a" / "b c.png") == "a/b c.png"
    assert relative_name(root, "a/b.png") == "a/b.png"
    with pytest.raises(OutsideRoot):
        relative_name(root, tmp_path / "other.png")
    with pytest.raises(OutsideRoot):
        relative_name(root, root)
    # A root reached through a symlink: names written through its real path still work.
    alias = tmp_path / "alias"
    os.symlink(root, alias)
    assert relative_name(alias, root / "a" / "b.png") == "a/b.png"
    assert relative_name(root, alias / "a" / "b.png") == "a/b.png"


def test_scan_folder_order_labels_and_splits(root: Path) -> None:
    # No top-level train/valid folders: every file is listed, as train (fastai's
    # from_folder with valid_pct), whatever the folders below are called.
    for name in [
        "dog/b.png",
        "cat/2.jpg",
        "cat/10.JPEG",
        "dog/plain.png",
        "deep/valid/more/bird/z.png",
        "top.png",
        "cat/notes.txt",
        "cat/.hidden.png",
        ".ipynb_checkpoints/cat/1.png",
        ".fastwidgets/thumbs/1.png",
        "trash/cat/old.png",
        "cat/trash/kept.png",
    ]:
        touch(root / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is skipped, so nothing is warned about
        got = scan_folder(root)
    assert got == [
        ("cat/10.JPEG", "cat", "train"),
        ("cat/2.jpg", "cat", "train"),
        ("cat/trash/kept.png", "trash", "train"),  # only the top-level trash is skipped
        ("deep/valid/more/bird/z.png", "bird", "train"),  # not a top-level split folder
        ("dog/b.png", "dog", "train"),
        ("dog/plain.png", "dog", "train"),
        ("top.png", "data", "train"),  # parent_label: the root's own name
    ]
    assert [n for n, _, _ in got] == sorted(n for n, _, _ in got)
    assert scan_folder(root, extensions=["txt"]) == [("cat/notes.txt", "cat", "train")]


def test_scan_folder_with_split_folders_lists_only_those_like_fastai(root: Path) -> None:
    for name in [
        "train/dog/b.png",
        "train/cat/2.jpg",
        "train/cat/10.JPEG",
        "valid/cat/v.png",
        "val/dog/x.webp",
        "train/deep/valid/bird/z.png",
        "test/cat/t1.png",
        "test/dog/t2.png",
        "extra/cat/e.png",
        "notes/readme.txt",  # no images: nothing to warn about
        "top.png",
        "trash/train/cat/old.png",
    ]:
        touch(root / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = scan_folder(root)
    assert got == [
        ("train/cat/10.JPEG", "cat", "train"),
        ("train/cat/2.jpg", "cat", "train"),
        ("train/deep/valid/bird/z.png", "bird", "train"),  # split by the top folder only
        ("train/dog/b.png", "dog", "train"),
        ("val/dog/x.webp", "dog", "valid"),
        ("valid/cat/v.png", "cat", "valid"),
    ]
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3, messages
    assert "'extra/' (1 image) skipped" in messages[1]
    assert "'test/' (2 images) skipped" in messages[2]
    assert "files at the top" in messages[0]
    assert all(w.filename == __file__ for w in caught)  # points at the caller
    # Only a train folder (no valid one) splits too: everything there is train.
    for sub in ["valid", "val"]:
        for p in sorted((root / sub).rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        (root / sub).rmdir()
    with pytest.warns(UserWarning, match="test/"):
        only_train = scan_folder(root)
    assert {split for _, _, split in only_train} == {"train"}
    assert all(n.startswith("train/") for n, _, _ in only_train)


def test_split_of() -> None:
    assert split_of("valid/cat/1.png") == "valid"
    assert split_of("val/cat/1.png") == "valid"
    assert split_of("train/cat/1.png") == "train"
    assert split_of("train/valid/1.png") == "train"  # only the top-level folder counts
    assert split_of("cat/1.png") == "train"
    assert split_of("valid") == "train"  # a file named valid at the top


def test_scan_folder_skips_escaping_symlinks_with_a_warning(root: Path, tmp_path: Path) -> None:
    outside = touch(tmp_path / "outside" / "x.png")
    touch(root / "cat" / "1.png")
    os.symlink(outside, root / "cat" / "escape.png")
    os.symlink(outside.parent, root / "dogs")
    os.symlink(root, root / "cat" / "loop")  # an ancestor: must not loop
    os.symlink(root / "cat" / "1.png", root / "cat" / "alias.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = scan_folder(root)
    assert got == [("cat/1.png", "cat", "train"), ("cat/alias.png", "cat", "train")]
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "cat/escape.png" in messages[0] and "outside the root" in messages[0]
    assert "dogs" in messages[1]


def test_scan_folder_hostile_names(root: Path) -> None:
    names = [
        "cat/a,b.png",
        'cat/q"uote.png',
        "cat/ünï cödé.png",
        "cat/<img src=x onerror=alert(1)>.png",
    ]
    for n in names:
        touch(root / n)
    assert [n for n, _, _ in scan_folder(root)] == sorted(names)


def test_scan_folder_empty_and_many(root: Path) -> None:
    assert scan_folder(root) == []
    for k in range(300):
        touch(root / f"c{k % 3}" / f"{k:04d}.png", b"")
    got = scan_folder(root)
    assert len(got) == 300
    assert {lab for _, lab, _ in got} == {"c0", "c1", "c2"}


def test_names_under(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in ["cat/1.png", "dog/2.png", "dog/x, y.png"]:
        touch(root / n)
    got_root, names = names_under(root, [root / "cat/1.png", "dog/2.png", Path("dog/x, y.png")])
    assert got_root == root and names == ["cat/1.png", "dog/2.png", "dog/x, y.png"]
    # No root given: the deepest folder holding them all.
    assert names_under(None, [root / "cat/1.png", root / "dog/2.png"]) == (
        root,
        ["cat/1.png", "dog/2.png"],
    )
    # fastai's items with a relative path: relative to the working directory.
    monkeypatch.chdir(tmp_path)
    assert names_under("data", ["data/cat/1.png", "dog/2.png"]) == (
        root,
        ["cat/1.png", "dog/2.png"],
    )
    # A missing file is still named (the thumbnailer shows it as broken).
    assert names_under(root, ["cat/gone.png"])[1] == ["cat/gone.png"]
    # Through a symlink to the root, or the root's real path.
    alias = tmp_path / "alias"
    os.symlink(root, alias)
    assert names_under(alias, [root / "cat/1.png", alias / "dog/2.png"])[1] == [
        "cat/1.png",
        "dog/2.png",
    ]


def test_names_under_refuses_outside_paths(root: Path, tmp_path: Path) -> None:
    outside = touch(tmp_path / "outside.png")
    touch(root / "cat" / "1.png")
    os.symlink(outside, root / "cat" / "link.png")
    for bad in [outside, "../outside.png", "cat/link.png", root]:
        with pytest.raises(OutsideRoot, match="not a file under the root"):
            names_under(root, [root / "cat" / "1.png", bad])


def test_names_under_is_fast(root: Path) -> None:
    import time

    paths = [root / f"c{i % 10}" / f"{i}.png" for i in range(100_000)]
    start = time.perf_counter()
    _, names = names_under(root, paths)
    assert time.perf_counter() - start < 2.0
    assert names[12345] == "c5/12345.png"
