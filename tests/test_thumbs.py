"""Thumbnails: small, right-looking for every PIL mode, broken files reported and never raised,
a byte-bounded LRU, and a background prefetch that never blocks the caller."""

from __future__ import annotations

import io
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fastwidgets import _thumbs
from fastwidgets._thumbs import Thumb, Thumbnailer, check


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth gradients plus noise (so JPEG does not shrink it to
    nothing and the original file is big)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
    arr = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _save(im: Image.Image, path: Path, fmt: str | None = None, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, **kw)
    return path


def _decode(t: Thumb) -> Image.Image:
    im = Image.open(io.BytesIO(t.data))
    im.load()
    return im


# -- good images ---------------------------------------------------------------------------


def test_large_jpeg_gives_a_small_jpeg(root: Path) -> None:
    src = _save(_noise(2000, 1500), root / "cat" / "big.jpg", quality=95)
    t = Thumbnailer(root).get(src, 128)
    assert t.broken is None
    assert t.mime == "image/jpeg"
    assert (t.width, t.height) == (128, 96)  # aspect ratio kept, longest side = size
    assert len(t.data) < src.stat().st_size / 20
    im = _decode(t)
    assert im.format == "JPEG" and im.size == (128, 96)
    # The content survives: the gradient runs left (dark red) to right (bright red).
    px = np.asarray(im.convert("RGB"), dtype=float)
    assert px[:, :10, 0].mean() < 80 < 180 < px[:, -10:, 0].mean()


def test_relative_path_is_taken_from_the_root(root: Path) -> None:
    _save(_noise(300, 200), root / "a" / "x.png")
    t = Thumbnailer(root).get(Path("a/x.png"), 64)
    assert t.broken is None and (t.width, t.height) == (64, 43)


def test_small_image_is_not_enlarged_and_tiny_ones_may_be_png(root: Path) -> None:
    # A flat 32x32 icon: PNG is far smaller than any JPEG, so PNG is chosen.
    src = _save(Image.new("RGB", (32, 32), (10, 200, 30)), root / "icon.png")
    t = Thumbnailer(root).get(src, 128)
    assert (t.width, t.height) == (32, 32)
    assert t.mime == "image/png"
    assert _decode(t).getpixel((5, 5)) == (10, 200, 30)
    # Noisy 32x32: whichever is smaller, and it decodes to 32x32.
    src2 = _save(_noise(32, 32), root / "noisy.png")
    t2 = Thumbnailer(root).get(src2, 128)
    assert t2.mime in ("image/png", "image/jpeg") and _decode(t2).size == (32, 32)


@pytest.mark.parametrize("size", [48, 128, 256])
def test_dimensions_fit_the_requested_size(root: Path, size: int) -> None:
    tall = _save(_noise(300, 900), root / "tall.jpg")
    wide = _save(_noise(1000, 100), root / "wide.png")
    th = Thumbnailer(root)
    for p in (tall, wide):
        t = th.get(p, size)
        assert max(t.width, t.height) == size and min(t.width, t.height) >= 1
        assert _decode(t).size == (t.width, t.height)


def test_transparency_is_flattened_on_white(root: Path) -> None:
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (50, 50, 150, 150))
    src = _save(rgba, root / "logo.png")
    im = _decode(Thumbnailer(root).get(src, 100)).convert("RGB")
    assert im.size == (100, 100)
    corner, centre = im.getpixel((2, 2)), im.getpixel((50, 50))
    assert corner == (255, 255, 255)  # transparent -> white card background, not black
    assert isinstance(centre, tuple) and centre[0] > 200 and centre[1] < 60


def test_palette_with_transparency_and_la(root: Path) -> None:
    pal = Image.new("P", (64, 64), 0)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.paste(1, (16, 16, 48, 48))
    src = _save(pal, root / "pal.png", transparency=0)
    im = _decode(Thumbnailer(root).get(src, 32)).convert("RGB")
    assert im.getpixel((0, 0)) == (255, 255, 255)
    mid = im.getpixel((16, 16))
    assert isinstance(mid, tuple) and mid[2] > 200 and mid[0] < 60
    # Palette without transparency: plain colours.
    src2 = _save(pal, root / "pal2.png")
    im2 = _decode(Thumbnailer(root).get(src2, 32)).convert("RGB")
    assert im2.getpixel((0, 0)) == (0, 0, 0)
    la = Image.new("LA", (64, 64), (0, 0))
    la.paste((80, 255), (0, 0, 32, 64))
    src3 = _save(la, root / "la.png")
    im3 = _decode(Thumbnailer(root).get(src3, 64)).convert("L")
    assert im3.getpixel((10, 10)) == pytest.approx(80, abs=3)
    assert im3.getpixel((60, 10)) == 255


def test_grayscale_and_bilevel_stay_gray(root: Path) -> None:
    gray = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1)), "L")
    src = _save(gray, root / "g.png")
    im = _decode(Thumbnailer(root).get(src, 128))
    assert im.mode == "L" and im.size == (128, 32)
    src2 = _save(gray.convert("1"), root / "bw.png")
    assert _decode(Thumbnailer(root).get(src2, 64)).mode == "L"
    src3 = _save(gray, root / "g.jpg")
    assert _decode(Thumbnailer(root).get(src3, 64)).mode == "L"


def test_sixteen_bit_grayscale_is_scaled_not_clipped(root: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    src = _save(Image.fromarray(ramp), root / "depth.png")
    assert Image.open(src).mode.startswith("I")
    im = _decode(Thumbnailer(root).get(src, 256))
    px = np.asarray(im.convert("L"), dtype=float)
    # PIL's own I;16 -> L conversion clips: everything above 255 would be white.
    assert px[:, :5].mean() < 10 and px[:, -5:].mean() > 245
    assert 110 < px[:, 120:136].mean() < 145


def test_cmyk_and_exif_rotation(root: Path) -> None:
    src = _save(_noise(400, 300).convert("CMYK"), root / "print.jpg")
    t = Thumbnailer(root).get(src, 100)
    assert t.broken is None and _decode(t).mode == "RGB" and (t.width, t.height) == (100, 75)
    # A phone photo stored landscape with "rotate 90" in EXIF is shown portrait, as a
    # browser shows the original.
    im = _noise(400, 300)
    exif = Image.Exif()
    exif[0x0112] = 6
    src2 = _save(im, root / "phone.jpg", exif=exif.tobytes())
    t2 = Thumbnailer(root).get(src2, 100)
    assert (t2.width, t2.height) == (75, 100)


def test_other_formats(root: Path) -> None:
    frames = [Image.new("P", (80, 40), i) for i in range(3)]
    src = root / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    src2 = _save(_noise(90, 60), root / "x.webp")
    src3 = _save(_noise(90, 60), root / "x.bmp")
    src4 = _save(_noise(90, 60).convert("RGBA"), root / "x.tif")
    th = Thumbnailer(root)
    for p in (src, src2, src3, src4):
        t = th.get(p, 45)
        assert t.broken is None and max(t.width, t.height) == 45, p


def test_mpo_from_a_camera_is_allowed(root: Path) -> None:
    src = root / "camera.jpg"
    _noise(120, 90).save(src, "MPO", save_all=True, append_images=[_noise(120, 90, seed=1)])
    assert Image.open(src).format == "MPO"
    t = Thumbnailer(root).get(src, 60)
    assert t.broken is None and (t.width, t.height) == (60, 45)
    assert check(src) is None


EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 16 16
%%EndComments
0 0 moveto 16 16 lineto stroke
showpage
%%EOF
"""


def test_formats_outside_the_allowed_ones_are_never_parsed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import EpsImagePlugin

    ran: list[Any] = []

    def ghostscript(*args: Any, **kwargs: Any) -> Any:
        ran.append(args)
        raise AssertionError("Ghostscript must never run on a file from the data set")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs")  # as if Ghostscript were installed
    (root / "eps.png").write_bytes(EPS)
    (root / "ps.jpg").write_bytes(EPS.replace(b" EPSF-3.0", b""))
    ico = _save(_noise(32, 32), root / "icon.png", "ICO")  # a real image, a rare plugin
    th = Thumbnailer(root)
    for path in (root / "eps.png", root / "ps.jpg", ico):
        t = th.get(path, 64)
        assert t.broken == "not an image (format not allowed)", (path, t.broken)
        assert t.data == b""
        assert th.check(path) == "not an image (format not allowed)"
        assert th.check(path, deep=True) == "not an image (format not allowed)"
    assert ran == []
    # Garbage matching no plugin at all keeps its own reason.
    (root / "junk.png").write_bytes(b"\x01\x02 not any format at all, just bytes")
    assert th.get(root / "junk.png", 64).broken == "not an image (unknown format)"


# -- broken files ----------------------------------------------------------------------------


def _broken_files(root: Path, outside: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, a word the reason must contain)."""
    good = io.BytesIO()
    _noise(300, 200).save(good, "PNG")
    png = good.getvalue()
    good = io.BytesIO()
    _noise(300, 200).save(good, "JPEG")
    jpg = good.getvalue()
    (root / "empty.png").write_bytes(b"")
    (root / "trunc.png").write_bytes(png[: len(png) // 2])
    (root / "trunc.jpg").write_bytes(jpg[: len(jpg) // 2])
    (root / "text.png").write_text("this is not an image\n")
    (root / "folder.png").mkdir()
    outside.mkdir(exist_ok=True)
    (outside / "secret.png").write_bytes(png)
    os.symlink(outside / "secret.png", root / "link.png")
    return {
        "zero bytes": (root / "empty.png", "empty"),
        "truncated png": (root / "trunc.png", "truncated"),
        "truncated jpeg": (root / "trunc.jpg", "truncated"),
        "text named .png": (root / "text.png", "not an image"),
        "missing": (root / "nope.png", "missing"),
        "directory": (root / "folder.png", "folder"),
        "symlink out of root": (root / "link.png", "outside"),
        "dotdot out of root": (root / ".." / "outside" / "secret.png", "outside"),
        "absolute out of root": (outside / "secret.png", "outside"),
        "NUL in the name": (Path("a\0b.png"), "invalid path"),
    }


def test_broken_files_give_a_reason_and_never_raise(root: Path, tmp_path: Path) -> None:
    th = Thumbnailer(root)
    for name, (path, word) in _broken_files(root, tmp_path / "outside").items():
        for size in (64, 128):
            t = th.get(path, size)
            assert t.broken is not None and word in t.broken, (name, t.broken)
            assert (t.data, t.mime, t.width, t.height) == (b"", "", 0, 0), name


def test_check_probe_gives_the_same_reasons(root: Path, tmp_path: Path) -> None:
    th = Thumbnailer(root)
    for name, (path, word) in _broken_files(root, tmp_path / "outside").items():
        reason = th.check(path, deep=True)
        assert reason is not None and word in reason, (name, reason)
        if name != "truncated jpeg":  # a JPEG's header is fine: only decoding finds it
            reason = th.check(path)
            assert reason is not None and word in reason, (name, reason)
    good = _save(_noise(100, 100), root / "ok.jpg")
    assert th.check(good) is None and th.check(good, deep=True) is None
    assert check(good) is None  # the module function, unconfined
    assert check(tmp_path / "outside" / "secret.png", root) == "outside the root folder"


def test_decompression_bomb_is_broken(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _save(_noise(200, 200), root / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # warn above 1x, raise above 2x
    th = Thumbnailer(root)
    t = th.get(src, 64)  # 40,000 px: above 2x -> PIL raises DecompressionBombError
    assert t.broken is not None and "too many pixels" in t.broken
    src2 = _save(_noise(120, 100), root / "bomb2.png")  # 12,000 px: PIL only warns
    with pytest.warns(Image.DecompressionBombWarning):
        t2 = th.get(src2, 64)
    assert t2.broken is not None and "decompression bomb" in t2.broken
    with pytest.warns(Image.DecompressionBombWarning):
        assert "too many pixels" in (th.check(src2) or "")


def test_random_garbage_never_raises(root: Path) -> None:
    rng = random.Random(0)
    good = io.BytesIO()
    _noise(64, 64).save(good, "PNG")
    png = bytearray(good.getvalue())
    th = Thumbnailer(root)
    for n in range(40):
        data = bytearray(png)
        for _ in range(rng.randint(1, 30)):  # flip bytes anywhere past the signature
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        p = root / f"fuzz{n}.png"
        p.write_bytes(bytes(data))
        t = th.get(p, 32)
        assert (t.broken is None) == bool(t.data)
        th.check(p)


# -- cache -------------------------------------------------------------------------------------


def test_cache_hits_and_sizes_are_separate(root: Path) -> None:
    src = _save(_noise(300, 300), root / "a.jpg")
    th = Thumbnailer(root)
    a = th.get(src, 64)
    assert th.get(src, 64) is a
    assert th.get(Path("a.jpg"), 64) is a  # same file, same entry
    b = th.get(src, 128)
    assert b.width == 128 and a.width == 64
    s = th.stats
    assert (s.hits, s.misses, s.entries) == (2, 2, 2)
    assert s.bytes == len(a.data) + len(b.data) + 2 * _thumbs._ENTRY_OVERHEAD


def test_lru_stays_under_max_bytes_and_evicts_least_recent(root: Path) -> None:
    paths = [_save(_noise(200, 200, seed=i), root / f"{i}.jpg") for i in range(12)]
    probe = Thumbnailer(root).get(paths[0], 96)
    one = len(probe.data) + _thumbs._ENTRY_OVERHEAD
    th = Thumbnailer(root, max_bytes=int(one * 3.5))  # room for 3 thumbnails (similar sizes)
    for p in paths[:3]:
        th.get(p, 96)
    assert th.stats.entries == 3
    th.get(paths[0], 96)  # 0 is now the most recent; 1 the least
    th.get(paths[3], 96)  # evicts 1
    before = th.stats
    th.get(paths[0], 96)
    th.get(paths[2], 96)
    th.get(paths[3], 96)
    assert th.stats.hits == before.hits + 3
    th.get(paths[1], 96)
    assert th.stats.misses == before.misses + 1
    for p in paths:
        th.get(p, 96)
        assert th.stats.bytes <= th.max_bytes
    # An entry bigger than the whole budget is returned but not cached.
    tiny = Thumbnailer(root, max_bytes=100)
    assert tiny.get(paths[0], 96).broken is None and tiny.stats.entries == 0


def test_changed_file_is_remade(root: Path) -> None:
    src = _save(_noise(100, 100), root / "a.png")
    th = Thumbnailer(root)
    assert th.get(src, 50).width == 50
    _save(_noise(200, 50), root / "tmp.png")
    os.replace(root / "tmp.png", src)  # what apply/undo or a re-download does
    assert (th.get(src, 50).width, th.get(src, 50).height) == (50, 13)
    src.write_bytes(b"")
    assert th.get(src, 50).broken == "empty file (0 bytes)"


# -- prefetch and threads -------------------------------------------------------------------


def test_prefetch_makes_later_gets_hits(root: Path) -> None:
    paths = [_save(_noise(300, 200, seed=i), root / f"{i}.jpg") for i in range(10)]
    th = Thumbnailer(root)
    th.prefetch(paths, 128)
    assert th.wait_idle(timeout=30)
    assert th.stats.prefetched == 10
    for p in paths:
        assert th.get(p, 128).width == 128
    s = th.stats
    assert (s.hits, s.misses) == (10, 0)
    th.prefetch(paths, 128)  # already cached: nothing is made again
    assert th.wait_idle(timeout=30) and th.stats.prefetched == 10
    th.close()


def test_idle_worker_ends_and_restarts(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_thumbs, "_WORKER_IDLE_S", 0.05)
    paths = [_save(_noise(50, 50, seed=i), root / f"{i}.png") for i in range(4)]
    th = Thumbnailer(root)
    th.prefetch(paths[:2], 32)
    worker = th._worker
    assert worker is not None
    worker.join(10)  # idle for 0.05 s after its work: it ends (no thread per old cleaner)
    assert not worker.is_alive() and th._worker is None
    th.prefetch(paths[2:], 32)  # a new one starts
    assert th.wait_idle(10) and th.stats.prefetched == 4


class _Gate:
    """Wraps Thumbnailer._build so that a test decides when the first build may finish."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.built: list[str] = []
        real_build = Thumbnailer._build

        def build(real: str, size: int) -> Thumb:
            self.built.append(Path(real).name)
            self.started.set()
            assert self.release.wait(30)
            return real_build(real, size)

        monkeypatch.setattr(Thumbnailer, "_build", staticmethod(build))


def test_prefetch_never_blocks_and_newer_requests_replace_pending(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [_save(_noise(100, 100, seed=i), root / f"old{i}.png") for i in range(5)]
    new = [_save(_noise(100, 100, seed=i), root / f"new{i}.png") for i in range(3)]
    gate = _Gate(monkeypatch)
    th = Thumbnailer(root)
    t0 = time.perf_counter()
    th.prefetch(old, 64)
    assert gate.started.wait(30)  # the worker is stuck on old0
    th.prefetch(new, 64)  # the user turned the page: old1..old4 are dropped
    assert time.perf_counter() - t0 < 1.0  # the caller never waited for the build
    assert not th.wait_idle(timeout=0.05)
    gate.release.set()
    assert th.wait_idle(timeout=30)
    assert gate.built == ["old0.png", "new0.png", "new1.png", "new2.png"]
    th.close()


def test_get_waits_for_the_same_thumbnail_in_flight(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _save(_noise(100, 100), root / "a.png")
    gate = _Gate(monkeypatch)
    th = Thumbnailer(root)
    th.prefetch([src], 64)
    assert gate.started.wait(30)
    got: list[Thumb] = []
    reader = threading.Thread(target=lambda: got.append(th.get(src, 64)))
    reader.start()
    time.sleep(0.05)
    assert not got  # waiting for the worker, not decoding it a second time
    gate.release.set()
    reader.join(30)
    assert got and got[0].width == 64
    assert gate.built == ["a.png"]
    th.close()


def test_threads_hammering_one_cache(root: Path) -> None:
    paths = [_save(_noise(120, 90, seed=i), root / f"{i}.jpg") for i in range(30)]
    (root / "bad.png").write_bytes(b"nope")
    paths.append(root / "bad.png")
    th = Thumbnailer(root, max_bytes=30_000)  # a few entries: constant eviction
    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(150):
                p = rng.choice(paths)
                size = rng.choice((32, 64))
                t = th.get(p, size)
                if p.name == "bad.png":
                    assert t.broken is not None
                else:
                    assert t.broken is None and max(t.width, t.height) == size
                if rng.random() < 0.1:
                    th.prefetch(rng.sample(paths, 5), size)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert th.wait_idle(timeout=60)
    assert not errors, errors[:3]
    with th._lock:  # the books balance: total == sum of the entries' costs
        assert th._bytes == sum(c for _, _, c in th._cache.values()) <= th.max_bytes
    s = th.stats
    assert s.hits + s.misses == 6 * 150
    th.close()
    th.prefetch(paths, 32)  # after close: ignored, returns at once
    assert th.wait_idle(timeout=1)
