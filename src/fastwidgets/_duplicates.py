"""Duplicate and near-duplicate images, and train/valid leaks, for the ImageCleaner.

* Exact duplicates: files with the same bytes (BLAKE2b of the content).
* Near duplicates: pairs of items whose embeddings (from the model's body, pooled and
  L2-normalised) have a cosine similarity at or above a threshold, found by a blocked top-k
  search in torch.  The full N x N similarity matrix is never built: 100,000 items would
  need 40 GB for it; the blocks here need ``chunk**2 * 4`` bytes (64 MB at the default).
* A pair whose two items are in different splits is a leak: the validation score is then
  measured partly on training images.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from fastwidgets._paths import resolve_under

__all__ = ["content_hashes", "embed", "exact_pairs", "near_pairs", "pairs_table", "pool"]

_READ_CHUNK = 1 << 20


def _hash_file(path: Path, root_real: str | None) -> str | None:
    """BLAKE2b of a file's bytes, or ``None`` if it cannot be read (or is outside the root)."""
    try:
        # resolve_under raises OutsideRoot (a ValueError) for a path leading outside.
        real = os.path.realpath(path) if root_real is None else resolve_under(root_real, path)
        h = hashlib.blake2b(digest_size=20)
        with open(real, "rb") as f:
            # Chunked reads: memory stays flat whatever the file size.
            while block := f.read(_READ_CHUNK):
                h.update(block)
        return h.hexdigest()
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return None


def content_hashes(
    paths: Sequence[Path], *, root: Path | None = None, workers: int = 1
) -> list[str | None]:
    """The BLAKE2b hex digest of each file's content, in order; ``None`` where unreadable.

    About 30 us per small file already in the OS cache (the usual case: training has just
    read them).  ``workers`` > 1 reads slices of the list in threads, which helps only on
    cold or network storage: with cached files the GIL makes threads slower.  With ``root``
    given, a relative path is taken from the root, and a path that resolves outside it
    (``_paths.resolve_under``) is not read and gives ``None``.
    """
    root_real = os.path.realpath(root) if root is not None else None

    def run(part: Sequence[Path]) -> list[str | None]:
        return [_hash_file(Path(p), root_real) for p in part]

    workers = max(1, min(workers, len(paths) // 64))  # a thread per tiny slice costs more
    if workers == 1:
        return run(paths)
    # One contiguous slice per thread, not one task per file: a future per file costs
    # as much as hashing a small cached file.
    step = -(-len(paths) // workers)
    parts = [paths[s : s + step] for s in range(0, len(paths), step)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastwidgets-hash") as ex:
        return [h for part in ex.map(run, parts) for h in part]


def exact_pairs(hashes: Sequence[str | None]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of items with identical content hashes.

    A group of k identical files gives the k - 1 pairs (first, other) rather than all
    k (k - 1) / 2: deciding those pairs decides the group, and a folder with 1,000 copies of
    one placeholder image gives 999 pairs, not half a million.  ``None`` never matches.
    Sorted by ``(i, j)``.
    """
    first: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    for j, h in enumerate(hashes):
        if h is None:
            continue
        i = first.setdefault(h, j)
        if i != j:
            pairs.append((i, j))
    pairs.sort()
    return pairs


@torch.inference_mode()
def near_pairs(
    emb: torch.Tensor,
    k: int = 5,
    threshold: float = 0.95,
    chunk: int = 4096,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[int, int, float]]:
    """Pairs of rows of ``emb`` (N, D) with cosine similarity >= ``threshold``.

    For each row, its ``k`` most similar other rows are found (exactly, not approximately);
    those at or above the threshold give pairs ``(i, j, sim)`` with ``i < j``, each pair once.
    Sorted by similarity, descending, then by ``(i, j)``.

    Rows are L2-normalised on the fly; an all-zero row, or one with a NaN or infinity, scores
    0 against every row (so it pairs with nothing for any threshold above 0).  The work runs
    on ``emb``'s device in blocks of ``chunk`` queries x ``chunk`` keys, so the memory beyond
    ``emb`` is O(chunk * (chunk + D) + N * k) whatever N is; ``emb`` is never copied whole.

    ``progress(done, total)`` is called after each block (for a progress bar: 100,000 x 512
    takes about a minute on two CPU cores, and well under a second on a GPU).
    """
    if emb.ndim != 2:
        raise ValueError(f"near_pairs: expected an (N, D) tensor, got shape {tuple(emb.shape)}")
    if k < 1 or chunk < 1:
        raise ValueError(f"near_pairs: k and chunk must be >= 1, got k={k}, chunk={chunk}")
    n, d = emb.shape
    if n < 2:
        return []
    k = min(k, n - 1)
    chunk = min(chunk, n)
    dev = emb.device
    f32 = torch.float32
    # 1 / norm of every row (N floats); 0 for zero or non-finite rows, so they score 0.
    inv = torch.empty(n, dtype=f32, device=dev)
    all_finite = True
    for s in range(0, n, chunk):
        block = emb[s : s + chunk].to(f32)
        norms = torch.linalg.vector_norm(block, dim=1)
        finite = torch.isfinite(block).all(dim=1)
        all_finite = all_finite and bool(finite.all())
        ok = finite & (norms > 0)
        inv[s : s + chunk] = torch.where(ok, 1.0 / norms.clamp_min(1e-30), 0.0)

    # Buffers reused for every block: allocating 64 MB per block costs more in page faults
    # than the top-k bookkeeping.
    qbuf = torch.empty(chunk, d, dtype=f32, device=dev)
    kbuf = torch.empty(chunk, d, dtype=f32, device=dev)
    sbuf = torch.empty(chunk * chunk, dtype=f32, device=dev)

    def rows(s: int, e: int, out: torch.Tensor) -> torch.Tensor:
        o = out[: e - s]
        torch.mul(emb[s:e], inv[s:e, None], out=o)
        if not all_finite:
            o.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)  # NaN * 0 is NaN
        return o

    neg_inf = float("-inf")
    best_v = torch.full((n, k), neg_inf, dtype=f32, device=dev)
    best_i = torch.full((n, k), -1, dtype=torch.long, device=dev)

    def merge(sims: torch.Tensor, row0: int, col0: int) -> None:
        """Fold a block (rows row0.., columns col0..) into the running top-k of its rows.

        Only rows with some entry at or above the threshold can gain a pair from this block;
        on real data that is a small minority, so the top-k (the costly part after the
        matmul) runs on few rows."""
        hit = (sims.amax(dim=1) >= threshold).nonzero().squeeze(1)
        if hit.numel() == 0:
            return
        v, j = sims[hit].topk(min(k, sims.shape[1]), dim=1)
        g = hit + row0
        v = torch.cat([best_v[g], v], dim=1)
        j = torch.cat([best_i[g], j + col0], dim=1)
        v, pos = v.topk(k, dim=1)
        best_v[g] = v
        best_i[g] = j.gather(1, pos)

    # The similarity is symmetric, so only blocks on and above the diagonal are computed
    # (half the matmuls): each off-diagonal block serves its rows and, transposed, its columns.
    nb = (n + chunk - 1) // chunk
    total, done = nb * (nb + 1) // 2, 0
    for q0 in range(0, n, chunk):
        q1 = min(q0 + chunk, n)
        q = rows(q0, q1, qbuf)
        for k0 in range(q0, n, chunk):
            k1 = min(k0 + chunk, n)
            keys = q if k0 == q0 else rows(k0, k1, kbuf)
            sims = sbuf[: (q1 - q0) * (k1 - k0)].view(q1 - q0, k1 - k0)
            torch.mm(q, keys.T, out=sims)
            if k0 == q0:
                sims.fill_diagonal_(neg_inf)  # a row is not its own neighbour
                merge(sims, q0, q0)
            else:
                merge(sims, q0, k0)
                merge(sims.T, k0, q0)
            done += 1
            if progress is not None:
                progress(done, total)

    keep = best_v >= threshold
    ii = torch.arange(n, device=dev)[:, None].expand_as(best_i)[keep].tolist()
    jj = best_i[keep].tolist()
    ss = best_v[keep].tolist()
    best: dict[tuple[int, int], float] = {}
    for a, b, sim in zip(ii, jj, ss, strict=True):
        best[(a, b) if a < b else (b, a)] = sim  # both sides read the same block entry
    out = [(a, b, min(sim, 1.0)) for (a, b), sim in best.items()]
    out.sort(key=lambda t: (-t[2], t[0], t[1]))
    return out


def pool(out: Any) -> torch.Tensor:
    """A body's output as (B, D) features: spatial dims averaged (adaptive average pool to
    1 x 1 for a 4-D feature map), 2-D outputs as they are.  Not normalised.

    Also used by the fastai integration's hook on the learner's head input.
    """
    if isinstance(out, (tuple, list)):  # some bodies return (features, extras)
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"embed: the body returned {type(out).__name__}, not a tensor")
    if out.ndim == 4:
        return F.adaptive_avg_pool2d(out, 1).flatten(1)
    if out.ndim == 2:
        return out
    if out.ndim > 2:
        return out.flatten(2).mean(dim=2)  # (B, C, *spatial): same pooling, any rank
    raise ValueError(f"embed: cannot pool a body output of shape {tuple(out.shape)}")


def embed(body: torch.nn.Module, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """Embeddings of every image in ``batches``: the body's pooled output, float32, L2-normalised
    rows, concatenated in order on the CPU as an (N, D) tensor.

    Runs in eval mode (batch norm uses its running statistics, dropout is off) under
    ``torch.inference_mode``; each submodule's training flag is restored afterwards, so a
    body with some layers frozen in eval mode is left exactly as it was.  Batches are moved
    to the body's device.
    """
    modes = [(m, m.training) for m in body.modules()]
    param = next(body.parameters(), None)
    device = param.device if param is not None else None
    feats: list[torch.Tensor] = []
    body.eval()
    try:
        with torch.inference_mode():
            for xb in batches:
                if device is not None and xb.device != device:
                    xb = xb.to(device, non_blocking=True)
                f = pool(body(xb)).float()
                feats.append(F.normalize(f, dim=1).cpu())
    finally:
        for m, mode in modes:
            m.training = mode
    if not feats:
        return torch.empty(0, 0)
    return torch.cat(feats)


def pairs_table(
    exact: Iterable[tuple[int, int]],
    near: Iterable[tuple[int, int, float]],
    splits: Sequence[object],
) -> list[dict[str, Any]]:
    """One dict per pair to review: ``{"a", "b", "similarity", "kind", "leak"}``.

    ``kind`` is ``"exact"`` (same bytes, similarity 1.0) or ``"near"``; ``leak`` is true
    when ``a`` and ``b`` are in different splits (``splits[i]`` is any comparable value per
    item: ``"train"``/``"valid"``, or an is-valid flag).  A near pair that is also exact, or whose
    two items are both in one group of identical files (already shown as exact pairs with
    the group's first item), is dropped.  Exact pairs come first, in ``(a, b)`` order,
    then near pairs as given (``near_pairs`` sorts them by similarity, descending).
    """
    table: list[dict[str, Any]] = []
    group: dict[int, int] = {}  # item -> first item of its group of identical files
    seen: set[tuple[int, int]] = set()
    for i, j in exact:
        a, b = (i, j) if i < j else (j, i)
        if (a, b) in seen:
            continue
        seen.add((a, b))
        ga = group.setdefault(a, a)
        group.setdefault(b, ga)
        table.append(_row(a, b, 1.0, "exact", splits))
    for i, j, sim in near:
        a, b = (i, j) if i < j else (j, i)
        if (a, b) in seen:
            continue
        if a in group and group[a] == group.get(b):
            continue
        seen.add((a, b))
        table.append(_row(a, b, float(sim), "near", splits))
    return table


def _row(a: int, b: int, sim: float, kind: str, splits: Sequence[object]) -> dict[str, Any]:
    if not math.isfinite(sim):
        sim = 0.0
    return {"a": a, "b": b, "similarity": sim, "kind": kind, "leak": splits[a] != splits[b]}
