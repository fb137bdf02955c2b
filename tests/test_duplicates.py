"""Duplicates: content hashes find byte copies, the blocked top-k cosine search finds planted
near copies (the same as a brute-force N x N search, without building one), leaks flagged."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance
from torch import nn

from fastwidgets._duplicates import (
    content_hashes,
    embed,
    exact_pairs,
    near_pairs,
    pairs_table,
    pool,
)

# -- a planted-duplicates dataset --------------------------------------------------------------


def _picture(rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A structured picture: a random smooth colour field plus a random bright rectangle."""
    field = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    im = Image.fromarray(field, "RGB").resize((size, size), Image.Resampling.BICUBIC)
    arr = np.asarray(im).copy()
    x0, y0 = rng.integers(0, size - 16, 2)
    w, h = rng.integers(8, 16, 2)
    arr[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    arr = np.clip(arr + rng.normal(0, 4, arr.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


class Planted:
    """200 images under ``root``: originals, byte copies and near copies, with known pairs."""

    def __init__(self, root: Path, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.root = root
        self.paths: list[Path] = []
        self.splits: list[str] = []
        self.exact: set[tuple[int, int]] = set()
        self.near: set[tuple[int, int]] = set()
        originals: list[int] = []
        for n in range(150):
            p = root / ("cat" if n % 2 else "dog") / f"orig{n:03d}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            _picture(rng).save(p)
            originals.append(self._add(p, rng))
        src = iter(rng.permutation(originals).tolist())
        # 12 byte copies under other names (two of them copied twice: groups of three).
        for n in range(10):
            i = next(src)
            j = self._add(self._copy(i, f"copy{n}.png"), rng)
            self.exact.add((i, j))
            if n < 2:
                k = self._add(self._copy(i, f"copy{n}b.png"), rng)
                self.exact.add((i, k))  # a group gives (first, other) pairs
        # Near copies: re-encoded JPEG, a 1-pixel shift, a slight brightness change.
        for n in range(12):
            i = next(src)
            im = Image.open(self.paths[i]).convert("RGB")
            p = self.paths[i].with_name(f"near{n}.jpg")
            if n % 3 == 0:
                im.save(p, "JPEG", quality=70)
            elif n % 3 == 1:
                arr = np.roll(np.asarray(im), 1, axis=1)
                arr[:, 0] = arr[:, 1]
                Image.fromarray(arr).save(p, "PNG")
            else:
                ImageEnhance.Brightness(im).enhance(1.08).save(p, "PNG")
            self.near.add((i, self._add(p, rng)))
        while len(self.paths) < 200:  # fill up with more originals
            p = root / "cat" / f"extra{len(self.paths)}.png"
            _picture(rng).save(p)
            self._add(p, rng)

    def _add(self, p: Path, rng: np.random.Generator) -> int:
        self.paths.append(p)
        self.splits.append("valid" if rng.random() < 0.3 else "train")
        return len(self.paths) - 1

    def _copy(self, i: int, name: str) -> Path:
        dst = self.paths[i].with_name(name)
        shutil.copyfile(self.paths[i], dst)
        return dst

    def batches(self, bs: int = 32) -> list[torch.Tensor]:
        arrs = [np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in self.paths]
        x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2) / 255.0
        return list(torch.split(x, bs))


class _Center(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(dim=1, keepdim=True)


def _pixel_body() -> nn.Module:
    """Pooled pixels, centred: a deterministic stand-in for a CNN body whose similarity
    ignores a brightness change and barely moves with a 1-pixel shift or JPEG noise."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten(), _Center())


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return Planted(tmp_path_factory.mktemp("planted"))


def test_planted_exact_duplicates_are_all_found_by_hash(planted: Planted) -> None:
    hashes = content_hashes(planted.paths)
    assert all(h is not None for h in hashes)
    assert set(exact_pairs(hashes)) == planted.exact
    assert len(planted.exact) == 12


def test_planted_near_duplicates_are_all_found(planted: Planted) -> None:
    emb = embed(_pixel_body(), planted.batches())
    assert emb.shape == (200, 192) and emb.dtype == torch.float32
    found = near_pairs(emb, k=5, threshold=0.95)
    pairs = {(i, j) for i, j, _ in found}
    # Every planted pair, and nothing else (byte copies have identical embeddings, and the
    # two copies of a group of three pair with each other too).
    groups = {(j, k) for i, j in planted.exact for i2, k in planted.exact if i == i2 and j < k}
    assert pairs == planted.near | planted.exact | groups
    assert all(0.95 <= s <= 1.0 for _, _, s in found)
    sims = [s for _, _, s in found]
    assert sims == sorted(sims, reverse=True)

    table = pairs_table(exact_pairs(content_hashes(planted.paths)), found, planted.splits)
    kinds = {(r["a"], r["b"]): r["kind"] for r in table}
    assert {p for p, kind in kinds.items() if kind == "exact"} == planted.exact
    assert {p for p, kind in kinds.items() if kind == "near"} == planted.near  # no group dupes
    for r in table:
        assert r["leak"] == (planted.splits[r["a"]] != planted.splits[r["b"]])
        assert set(r) == {"a", "b", "similarity", "kind", "leak"}
    assert any(r["leak"] for r in table) and not all(r["leak"] for r in table)


# -- near_pairs against brute force ------------------------------------------------------------


def _brute(emb: torch.Tensor, k: int, threshold: float) -> dict[tuple[int, int], float]:
    x = torch.nn.functional.normalize(emb.double(), dim=1)
    sims = x @ x.T
    sims.fill_diagonal_(float("-inf"))
    v, j = sims.topk(min(k, len(x) - 1), dim=1)
    out: dict[tuple[int, int], float] = {}
    for i in range(len(x)):
        for s, jj in zip(v[i].tolist(), j[i].tolist(), strict=True):
            if s >= threshold:
                key = (min(i, jj), max(i, jj))
                out[key] = max(out.get(key, -2.0), s)
    return out


def _clustered(n: int, d: int, seed: int) -> torch.Tensor:
    """Random points, a third of them jittered copies of others: many pairs at all levels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    src = torch.randint(0, n // 2, (n // 3,), generator=g)
    x[n - n // 3 :] = x[src] + 0.3 * torch.randn(n // 3, d, generator=g)
    return x * torch.rand(n, 1, generator=g) * 5  # norms vary: rows must be normalised


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("threshold", [0.5, 0.9])
def test_chunking_does_not_change_the_result(k: int, threshold: float) -> None:
    emb = _clustered(300, 8, seed=k)
    want = _brute(emb, k, threshold)
    assert len(want) > 20
    calls: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        calls.append((done, total))

    for chunk in (7, 64, 299, 300, 4096):
        calls.clear()
        got = near_pairs(emb, k=k, threshold=threshold, chunk=chunk, progress=record)
        nb = -(-300 // chunk)
        assert calls == [(i + 1, nb * (nb + 1) // 2) for i in range(len(calls))] and calls
        assert {(i, j) for i, j, _ in got} == set(want), chunk
        for i, j, s in got:
            assert i < j
            assert s == pytest.approx(want[i, j], abs=1e-5)


def test_near_pairs_edge_cases() -> None:
    assert near_pairs(torch.empty(0, 4)) == []
    assert near_pairs(torch.ones(1, 4)) == []
    two = torch.tensor([[1.0, 0.0], [2.0, 0.01]])
    [(i, j, s)] = near_pairs(two, k=10, chunk=1)  # k above N - 1 is fine
    assert (i, j) == (0, 1) and s == pytest.approx(1.0, abs=1e-4)
    assert near_pairs(two, threshold=1.01) == []
    # Zero and non-finite rows pair with nothing, and do not hide real pairs.
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0], [float("nan"), 1.0], [1.0, 0.001], [0, 0]])
    assert [(a, b) for a, b, _ in near_pairs(x, k=1, chunk=2)] == [(0, 3)]
    # Other dtypes are computed in float32; identical rows score 1.0 (not 1.0000001).
    for dtype in (torch.float16, torch.float64, torch.bfloat16):
        got = near_pairs(x.nan_to_num(0.0).to(dtype), k=2)
        assert [(a, b) for a, b, _ in got] == [(0, 3)] and got[0][2] <= 1.0
    with pytest.raises(ValueError, match="expected an"):
        near_pairs(torch.ones(3))
    with pytest.raises(ValueError, match="k and chunk"):
        near_pairs(torch.ones(3, 2), k=0)


def test_ties_in_a_large_identical_group_still_link_every_member() -> None:
    # 20 identical rows with k=5: each row sees only 5 of the 19 others, but every row is in
    # some pair, and every reported pair really is identical.
    x = torch.cat(
        [torch.ones(20, 4), torch.randn(30, 4, generator=torch.Generator().manual_seed(0))]
    )
    got = near_pairs(x, k=5, threshold=0.999, chunk=6)
    members = {i for i, j, _ in got} | {j for _, j, _ in got}
    assert set(range(20)) <= members
    assert all(i < 20 and j < 20 for i, j, _ in got)


def test_large_n_stays_in_bounded_memory() -> None:
    # 20,000 rows: an N x N float32 matrix would take 1.6 GB; the blocks take 4 MB.
    n, d = 20_000, 32
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(n, d, generator=g)
    planted = [(int(a), int(b)) for a, b in torch.randperm(n, generator=g)[:40].view(20, 2)]
    for a, b in planted:
        emb[b] = emb[a] + 0.01 * torch.randn(d, generator=g)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    got = near_pairs(emb, k=3, threshold=0.95, chunk=1024)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, grown_mb
    assert {(i, j) for i, j, _ in got} == {(min(a, b), max(a, b)) for a, b in planted}


# -- hashes --------------------------------------------------------------------------------


def test_content_hashes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    big = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    (root / "a.bin").write_bytes(big)
    (root / "b.bin").write_bytes(big)
    (root / "c.bin").write_bytes(big[:-1])
    (root / "d").mkdir()
    (tmp_path / "out.bin").write_bytes(big)
    os.symlink(tmp_path / "out.bin", root / "link.bin")
    paths = [root / n for n in ("a.bin", "b.bin", "c.bin", "d", "missing", "link.bin", "x\0")]
    hs = content_hashes(paths)
    assert hs[0] == hs[1] == hashlib.blake2b(big, digest_size=20).hexdigest() == hs[5]
    assert hs[2] is not None and hs[2] != hs[0]
    assert hs[3] is None and hs[4] is None and hs[6] is None
    assert content_hashes(paths * 40, workers=4) == hs * 40  # threads keep the order
    confined = content_hashes(paths, root=root)
    assert confined[:5] == hs[:5] and confined[5] is None  # the link leads out of the root
    assert content_hashes([]) == []


def test_content_hashes_confined_with_the_shared_root_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "1.png").write_bytes(b"one")
    (tmp_path / "out.png").write_bytes(b"one")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # names relative to the root, wherever the kernel runs
    names = [Path("cat/1.png"), Path("cat/../cat/1.png"), Path("../out.png"), root / "cat/1.png"]
    got = content_hashes(names, root=root)
    one = hashlib.blake2b(b"one", digest_size=20).hexdigest()
    assert got == [one, one, None, one]
    # The confinement is _paths.resolve_under's, not a second copy of it.
    from fastwidgets import _duplicates

    calls: list[Any] = []
    real = _duplicates.resolve_under

    def spy(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(_duplicates, "resolve_under", spy)
    content_hashes(names, root=root)
    assert len(calls) == len(names)


def test_exact_pairs_groups() -> None:
    hs = ["x", "y", None, "x", None, "x", "z", "y"]
    assert exact_pairs(hs) == [(0, 3), (0, 5), (1, 7)]
    assert exact_pairs([]) == [] and exact_pairs([None, None]) == []
    assert len(exact_pairs(["same"] * 1000)) == 999  # (first, other), not k(k-1)/2


# -- embed ---------------------------------------------------------------------------------


def _conv_body() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
        nn.Conv2d(8, 16, 3, stride=2),
    )  # fmt: skip


def test_embed_pools_normalises_and_restores_modes() -> None:
    body = _conv_body()
    body.train()
    body[3].eval()  # a layer switched off inside a training model must stay as it was
    modes = [m.training for m in body.modules()]
    bn = body[1]
    assert isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None
    bn_stats = bn.running_mean.clone()
    xs = [torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    emb = embed(body, iter(xs))
    assert [m.training for m in body.modules()] == modes
    assert torch.equal(bn.running_mean, bn_stats)  # run in eval mode: statistics untouched
    assert emb.shape == (15, 16) and emb.dtype == torch.float32 and not emb.requires_grad
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(15))
    body.eval()
    with torch.no_grad():
        want = torch.nn.functional.normalize(body(torch.cat(xs)).mean(dim=(2, 3)), dim=1)
    torch.testing.assert_close(emb, want, atol=1e-5, rtol=1e-5)
    # Deterministic: eval mode, so dropout is off.
    torch.testing.assert_close(embed(body, xs), emb)


def test_embed_output_shapes() -> None:
    x = torch.randn(4, 6)
    torch.testing.assert_close(embed(nn.Identity(), [x]), torch.nn.functional.normalize(x))

    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    assert embed(Pair(), [torch.randn(2, 3, 5)]).shape == (2, 3)  # (B, C, L) averaged over L
    assert embed(Pair(), [torch.randn(2, 3, 4, 4)]).shape == (2, 3)
    assert embed(nn.Identity(), []).shape == (0, 0)
    assert pool(torch.ones(2, 3, 4, 4)).shape == (2, 3)
    with pytest.raises(ValueError, match="cannot pool"):
        pool(torch.ones(3))


# -- pairs_table -----------------------------------------------------------------------------


def test_pairs_table() -> None:
    splits = ["train", "valid", "train", "train", "valid", "train"]
    exact = [(0, 1), (0, 2)]
    near = [(1, 2, 1.0), (0, 1, 0.99999), (3, 4, 0.97), (2, 5, 0.96), (5, 3, 0.955)]
    rows = pairs_table(exact, near, splits)
    assert rows == [
        {"a": 0, "b": 1, "similarity": 1.0, "kind": "exact", "leak": True},
        {"a": 0, "b": 2, "similarity": 1.0, "kind": "exact", "leak": False},
        {"a": 3, "b": 4, "similarity": 0.97, "kind": "near", "leak": True},
        {"a": 2, "b": 5, "similarity": 0.96, "kind": "near", "leak": False},
        {"a": 3, "b": 5, "similarity": 0.955, "kind": "near", "leak": False},
    ]
    # An is-valid flag per item works the same.
    flags = [s == "valid" for s in splits]
    assert [r["leak"] for r in pairs_table(exact, near, flags)] == [r["leak"] for r in rows]
    assert pairs_table([], [], []) == []
