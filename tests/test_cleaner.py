"""ImageCleaner end to end in Python: sources, decisions through the widget's messages,
thumbnails, the journal, cleaned.csv read back by fastai, moves, and duplicates."""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from fastwidgets import ImageCleaner
from fastwidgets._paths import OutsideRoot

from ._data import digits_image_learner, digits_png_folder
from .conftest import Kernel

HOSTILE = "<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, set[str]]:
    """Digits as PNG folders with 10% flipped labels, and a small CNN trained on them."""
    root = tmp_path_factory.mktemp("digits")
    flipped = digits_png_folder(root, flip=0.1)
    learn = digits_image_learner(root)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(3, 1e-2)
    return root, learn, flipped


def _small_tree(root: Path, n: int = 6) -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for k in range(n):
        label = "cat" if k % 2 else "dog"
        split = "valid" if k >= n - 2 else "train"
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(folder / f"{k}.png")
        names.append(f"{split}/{label}/{k}.png")
    return names


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- sources --------------------------------------------------------------------------------------


def test_from_learner_ranks_train_and_valid_by_fastais_own_losses(
    trained: tuple[Path, Any, set[str]],
) -> None:
    root, learn, flipped = trained
    cleaner = ImageCleaner.from_learner(learn, scan=False)
    items = cleaner.items
    assert len(items) == len(learn.dls.train_ds) + len(learn.dls.valid_ds)
    assert set(items.split) == {"train", "valid"}
    # The same numbers as fastai's own get_preds on the valid set.
    _probs, _targs, losses = learn.get_preds(ds_idx=1, with_loss=True)
    valid = items[items.split == "valid"]
    np.testing.assert_allclose(valid.loss.to_numpy(), losses.numpy(), rtol=1e-5)
    assert list(valid.name) == [p.relative_to(root).as_posix() for p in learn.dls.valid_ds.items]
    # The first page is the highest losses, and most flipped labels are near the top.
    page = cleaner.page_items
    assert [c["loss"] for c in page] == sorted(items.loss, reverse=True)[: len(page)]
    top = set(items.sort_values("loss", ascending=False).name[: len(items) // 10])
    assert len(top & flipped) / len(flipped) > 0.6
    assert cleaner.progress == {
        "done": len(items),
        "total": len(items),
        "eta": 0.0,
        "state": "done",
    }


def test_from_folder_labels_by_parent_folder_in_name_order(tmp_path: Path) -> None:
    names = _small_tree(tmp_path)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    items = cleaner.items
    assert list(items.name) == sorted(names)
    assert list(items.label) == [n.split("/")[1] for n in sorted(names)]
    assert list(items.split) == [n.split("/")[0] for n in sorted(names)]
    assert items.loss.isna().all()


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"labels": ["dog"]}, ValueError, "labels has 1 entries"),
        ({"losses": [1.0, 2.0]}, ValueError, "losses has shape"),
        ({"losses": ["a"] * 6}, TypeError, "losses must be numbers"),
        ({"classes": ["dog"]}, ValueError, "not among the classes"),
        ({"splits": ["test"] * 6}, ValueError, "use 'train'/'valid'"),
    ],
)
def test_bad_sources_are_refused_with_a_clear_error(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    names = _small_tree(tmp_path)
    args: dict[str, Any] = {"labels": [n.split("/")[1] for n in names], **kwargs}
    with pytest.raises(error, match=words):
        ImageCleaner(names, root=tmp_path, scan=False, **args)


def test_paths_outside_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    names = _small_tree(root)
    outside = tmp_path / "secret.png"
    shutil.copy(root / names[0], outside)
    with pytest.raises(OutsideRoot, match="not a file under the root"):
        ImageCleaner([*names, "../secret.png"], ["dog"] * (len(names) + 1), root=root)
    # A symlink inside the root that leads out is listed but never read or sent.
    (root / "train" / "dog" / "link.png").symlink_to(outside)
    cleaner = ImageCleaner.from_folder(root, scan=False)
    assert "train/dog/link.png" not in list(cleaner.items.name)


# -- decisions through the widget -----------------------------------------------------------------


def test_browser_decisions_reach_python_and_bad_ones_record_nothing(
    tmp_path: Path, kernel: Kernel
) -> None:
    names = _small_tree(tmp_path)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    comm = kernel.comm
    index = {name: i for i, name in enumerate(cleaner.items.name)}
    dog0, cat1 = index["train/dog/0.png"], index["train/cat/1.png"]
    comm.receive({"type": "decide", "action": "relabel", "item": dog0, "label": "cat"})
    comm.receive({"type": "decide", "action": "delete", "item": cat1, "deleted": True})
    assert cleaner.counts["relabelled"] == 1 and cleaner.counts["deleted"] == 1
    card = next(c for c in cleaner.page_items if c["i"] == dog0)
    assert card["new_label"] == "cat"
    # A bad label and an unknown item: a message in the widget, nothing recorded.
    comm.receive({"type": "decide", "action": "relabel", "item": cat1, "label": "horse"})
    assert "horse" in cleaner.message and "ValueError" in cleaner.message
    comm.receive({"type": "decide", "action": "delete", "item": 99})
    assert "KeyError" in cleaner.message
    assert cleaner.counts["relabelled"] == 1 and cleaner.counts["deleted"] == 1
    # Undo and redo from the keyboard's messages, across a filter change.
    cleaner.view = {**cleaner.view, "filters": {**cleaner.view["filters"], "label": "cat"}}
    comm.receive({"type": "undo"})
    assert cleaner.items.deleted.sum() == 0 and cleaner.can_redo
    comm.receive({"type": "redo"})
    assert bool(cleaner.items.deleted[cat1]) and cleaner.message == ""
    assert len(names) == 6


def test_the_view_is_validated_and_filters_select_items(tmp_path: Path) -> None:
    _small_tree(tmp_path, n=10)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False, page_size=3)
    assert cleaner.page_info == {"page": 0, "pages": 4, "matching": 10, "total": 10}
    cleaner.view = {**cleaner.view, "page": 99, "sort": "nonsense", "page_size": 0}
    assert cleaner.view["sort"] == "loss" and cleaner.view["page_size"] == 1
    assert cleaner.view["page"] == 9  # the last page of 10 one-item pages
    cleaner.view = {
        **cleaner.view,
        "page": 0,
        "page_size": 50,
        "filters": {"split": "valid", "label": "unknown-class"},
    }
    assert cleaner.view["filters"]["label"] is None
    assert {c["split"] for c in cleaner.page_items} == {"valid"}
    cleaner.relabel("valid/cat/9.png", "dog")
    cleaner.view = {**cleaner.view, "filters": {"changed": True}}
    assert [c["name"] for c in cleaner.page_items] == ["valid/cat/9.png"]


def test_thumbnails_are_sent_as_compressed_bytes_and_broken_files_say_why(
    tmp_path: Path, kernel: Kernel
) -> None:
    big = tmp_path / "train" / "dog"
    big.mkdir(parents=True)
    Image.new("RGB", (800, 600), (200, 10, 10)).save(big / HOSTILE)
    (big / "empty.png").write_bytes(b"")
    (big / "text.png").write_text("not an image")
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    order = {n: i for i, n in enumerate(cleaner.items.name)}
    kernel.comm.receive({"type": "thumbs", "items": list(order.values()), "size": 96})
    content, buffers = kernel.comm.custom()[-1]
    assert content["type"] == "thumbs" and content["size"] == 96
    by_name = {
        cleaner.items.name[m["i"]]: (m, b) for m, b in zip(content["items"], buffers, strict=True)
    }
    meta, data = by_name[f"train/dog/{HOSTILE}"]
    assert meta["broken"] is None and meta["mime"] in ("image/jpeg", "image/png")
    assert max(meta["w"], meta["h"]) <= 96 and len(data) < (big / HOSTILE).stat().st_size
    assert Image.open(io.BytesIO(data)).size == (meta["w"], meta["h"])
    for name in ("empty.png", "text.png"):
        meta, data = by_name[f"train/dog/{name}"]
        assert meta["broken"] and data == b""
    assert cleaner.counts["broken"] == 2
    cleaner.view = {**cleaner.view, "filters": {"broken": True}}
    assert sorted(c["name"] for c in cleaner.page_items) == [
        "train/dog/empty.png",
        "train/dog/text.png",
    ]


def test_the_background_scan_finds_every_broken_file(tmp_path: Path) -> None:
    _small_tree(tmp_path)
    (tmp_path / "train" / "dog" / "zero.png").write_bytes(b"")
    cleaner = ImageCleaner.from_folder(tmp_path)
    deadline = time.monotonic() + 10
    while cleaner.counts.get("broken", 0) < 1 or cleaner.items.broken.isna().all():
        assert time.monotonic() < deadline, "the scan never reported the broken file"
        time.sleep(0.05)
    assert cleaner.items.set_index("name").broken["train/dog/zero.png"]


# -- the journal and cleaned.csv ----------------------------------------------------------------


def test_a_new_cleaner_on_the_same_root_replays_every_decision(tmp_path: Path) -> None:
    _small_tree(tmp_path)
    first = ImageCleaner.from_folder(tmp_path, scan=False)
    first.relabel("train/dog/0.png", "cat")
    first.delete("train/cat/1.png")
    first.delete("train/cat/3.png")
    first.undo()
    # A "kernel restart": nothing saved explicitly, a fresh cleaner on the same folder.
    second = ImageCleaner.from_folder(tmp_path, scan=False)
    pd_items = second.items.set_index("name")
    assert pd_items.new_label["train/dog/0.png"] == "cat"
    assert bool(pd_items.deleted["train/cat/1.png"]) and not pd_items.deleted["train/cat/3.png"]
    assert second.redo() and bool(second.items.set_index("name").deleted["train/cat/3.png"])


def test_cleaned_csv_is_kept_current_and_save_writes_it_now(tmp_path: Path) -> None:
    names = _small_tree(tmp_path)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    cleaner.relabel("train/dog/0.png", "cat")
    cleaner.delete("train/cat/1.png")
    csv_path = tmp_path / "cleaned.csv"
    deadline = time.monotonic() + 5
    while not csv_path.exists():  # debounced, not instant
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.8)
    rows = _csv_rows(csv_path)
    assert [r["name"] for r in rows] == [n for n in sorted(names) if n != "train/cat/1.png"]
    assert next(r for r in rows if r["name"] == "train/dog/0.png")["label"] == "cat"
    assert {r["is_valid"] for r in rows} == {"True", "False"}
    cleaner.keep("train/dog/0.png")
    assert cleaner.save() == csv_path
    assert next(r for r in _csv_rows(csv_path) if r["name"] == "train/dog/0.png")["label"] == "dog"


def test_fastai_retrains_from_cleaned_csv(trained: tuple[Path, Any, set[str]]) -> None:
    from fastai.vision.all import ImageDataLoaders, Resize

    root, learn, flipped = trained
    cleaner = ImageCleaner.from_learner(learn, scan=False)
    items = cleaner.items.set_index("name")
    fixed = sorted(flipped)[:5]
    for name in fixed:  # the true digit is in the file, not the folder: use the model's
        cleaner.relabel(name, str(items.pred[name]))
    cleaner.delete(sorted(flipped)[5])
    path = cleaner.save()
    dls = ImageDataLoaders.from_csv(
        root, path.name, valid_col="is_valid", item_tfms=Resize(16), bs=32, num_workers=0
    )
    assert len(dls.train_ds) + len(dls.valid_ds) == len(items) - 1
    got = {Path(p).relative_to(root).as_posix(): str(dls.vocab[y]) for p, y in _labelled(dls)}
    assert all(got[name] == str(items.pred[name]) for name in fixed)
    assert sorted(flipped)[5] not in got
    new = digits_image_learner(root)
    new.dls = dls
    with new.no_bar(), new.no_logging():
        new.fit(1)  # trains on what fastai read back
    assert np.isfinite(new.recorder.losses[-1].item())


def _labelled(dls: Any) -> list[tuple[Any, int]]:
    out = []
    for ds in (dls.train_ds, dls.valid_ds):
        paths = [ds.tls[0].tfms.fs[0](row) for _, row in ds.items.iterrows()]
        out += [(p, int(ds.tls[1][k])) for k, p in enumerate(paths)]
    return out


# -- moving files ----------------------------------------------------------------------------------


def test_apply_moves_files_never_deletes_them_and_can_be_undone(tmp_path: Path) -> None:
    _small_tree(tmp_path)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    cleaner.relabel("train/dog/0.png", "cat")
    cleaner.delete("train/cat/1.png")
    before = sorted(p.read_bytes() for p in tmp_path.rglob("*.png"))
    plan = cleaner.apply(dry_run=True)
    assert {(s["name"], s["action"], s["dst"]) for s in plan if s["dst"]} == {
        ("train/dog/0.png", "relabel", "train/cat/0.png"),
        ("train/cat/1.png", "trash", "trash/train/cat/1.png"),
    }
    assert (tmp_path / "train/dog/0.png").exists()  # a dry run touches nothing
    # A name clash: train/cat/0.png exists already? make it so.
    shutil.copy(tmp_path / "train/cat/1.png", tmp_path / "train/cat/0.png")
    log = cleaner.apply()
    after = sorted(p.read_bytes() for p in tmp_path.rglob("*.png"))
    assert len(after) == len(before) + 1  # the clash file was added, nothing was lost
    assert (tmp_path / "train/cat/0 (1).png").exists()
    assert (tmp_path / "trash/train/cat/1.png").exists()
    assert "train/cat/0 (1).png" in [r["name"] for r in _csv_rows(tmp_path / "cleaned.csv")]
    cleaner.undo_apply(log)
    assert (tmp_path / "train/dog/0.png").exists() and (tmp_path / "train/cat/1.png").exists()
    assert "train/dog/0.png" in list(cleaner.items.name)


# -- duplicates -----------------------------------------------------------------------------------


def test_find_duplicates_finds_every_planted_pair_and_flags_leaks(
    tmp_path: Path, kernel: Kernel
) -> None:
    root = tmp_path / "digits"
    digits_png_folder(root)
    files = sorted(root.rglob("*.png"))
    rng = np.random.default_rng(1)
    picks = [files[k] for k in rng.choice(len(files), 12, replace=False)]
    planted: list[tuple[str, str]] = []
    for k, src in enumerate(picks):
        if k < 6:  # exact copies; the odd ones land in the valid set: a leak
            split = "valid" if k % 2 else "train"
            dst = root / split / src.parent.name / f"copy{k}.png"
            shutil.copy(src, dst)
        else:  # near copies: a little brighter
            dst = src.with_name(f"near{k}.png")
            ImageEnhance.Brightness(Image.open(src)).enhance(1.1).save(dst)
        planted.append((src.relative_to(root).as_posix(), dst.relative_to(root).as_posix()))
    learn = digits_image_learner(root)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(3, 1e-2)
    cleaner = ImageCleaner.from_learner(learn, scan=False)
    pairs = cleaner.find_duplicates()
    found = {frozenset((a, b)) for a, b in zip(pairs.a_name, pairs.b_name, strict=True)}
    assert all(frozenset(p) in found for p in planted)
    by_pair = {
        frozenset((a, b)): row
        for a, b, row in zip(pairs.a_name, pairs.b_name, pairs.itertuples(), strict=True)
    }
    for src, dst in planted[:6]:
        row = by_pair[frozenset((src, dst))]
        assert row.kind == "exact"
        assert row.leak == (src.split("/")[0] != dst.split("/")[0])
    assert cleaner.view["mode"] == "pairs" and cleaner.pairs
    # "delete right" from the browser deletes that item, as one undoable step.
    first = cleaner.pairs[0]
    kernel.comm.receive(
        {"type": "pair", "a": first["a"], "b": first["b"], "verdict": "delete_right"}
    )
    assert bool(cleaner.items.deleted[first["b"]]) and cleaner.pairs[0]["verdict"] == "delete_right"
    cleaner.undo()
    assert not cleaner.items.deleted[first["b"]]


def test_outside_a_notebook_nothing_is_sent_and_the_api_works(tmp_path: Path) -> None:
    _small_tree(tmp_path)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    assert not cleaner.live
    cleaner.relabel("train/dog/0.png", "cat")
    cleaner._send_thumbs([0, 1], 64)  # a browser request in a script: no comm, no error
    assert cleaner.counts["relabelled"] == 1


def test_pair_verdicts_follow_undo_and_bad_pairs_from_the_browser_are_refused(
    tmp_path: Path, kernel: Kernel
) -> None:
    names = _small_tree(tmp_path)
    shutil.copy(tmp_path / names[0], tmp_path / "valid" / "dog" / "copy.png")
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False)
    cleaner.find_duplicates()
    pair = cleaner.pairs[0]
    assert pair["kind"] == "exact" and pair["leak"]
    comm = kernel.comm
    comm.receive({"type": "pair", "a": pair["a"], "b": pair["b"], "verdict": "delete_left"})
    assert cleaner.pairs[0]["verdict"] == "delete_left"
    cleaner.undo()
    assert cleaner.pairs[0]["verdict"] is None and not cleaner.items.deleted.any()
    for bad in ({"a": -1, "b": pair["b"]}, {"a": 10**9, "b": 0}, {"a": "x", "b": 0}):
        comm.receive({"type": "pair", **bad, "verdict": "keep_both"})
        assert "KeyError" in cleaner.message
    comm.receive({"type": "pair", "a": pair["a"], "b": pair["b"], "verdict": "burn"})
    assert "burn" in cleaner.message
    # A thumbnail request does not wipe the complaint before the user saw it.
    comm.receive({"type": "thumbs", "items": [0], "size": 64})
    assert "burn" in cleaner.message
    assert cleaner.can_redo and not cleaner.items.deleted.any()  # nothing new recorded


def test_a_page_change_sends_its_thumbnails_before_its_cards_and_the_next_page_after(
    tmp_path: Path, kernel: Kernel
) -> None:
    _small_tree(tmp_path, n=12)
    cleaner = ImageCleaner.from_folder(tmp_path, scan=False, page_size=4)
    first = len(kernel.comm.published)
    cleaner.view = {**cleaner.view, "page": 1}
    kinds = []
    for _, d, _ in kernel.comm.published[first:]:
        if d.get("method") == "custom":
            kinds.append(("thumbs", [m["i"] for m in d["content"]["items"]]))
        elif d.get("method") == "update" and "page_items" in d.get("state", {}):
            kinds.append(("cards", [c["i"] for c in d["state"]["page_items"]]))
    order = cleaner._table.order("loss")
    page1, page2 = [int(i) for i in order[4:8]], [int(i) for i in order[8:12]]
    # Page 1's thumbnails were pushed with page 0 already: only the cards, then page 2's.
    assert kinds == [("cards", page1), ("thumbs", page2)]
    # A browser that lost them (a reload) asks, and gets them again.
    kernel.comm.receive({"type": "thumbs", "items": page1, "size": 128})
    assert [m["i"] for m in kernel.comm.custom()[-1][0]["items"]] == page1


def test_closing_stops_the_background_scan(tmp_path: Path) -> None:
    _small_tree(tmp_path, n=10)
    cleaner = ImageCleaner.from_folder(tmp_path)
    cleaner.close()
    deadline = time.monotonic() + 5
    while cleaner._scanning.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)
