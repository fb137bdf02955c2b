"""Thumbnails for the ImageCleaner: made with PIL on demand, cached, prefetched, never raising.

The browser only ever receives small compressed images (JPEG, or PNG when that is smaller for
a tiny image), never the original file.  A file that cannot be shown (missing, empty,
truncated, not an image, too many pixels, outside the root) gives a ``Thumb`` whose
``broken`` holds a short reason for the card, instead of an exception: one bad file scraped
from the web must not take the widget down.

Thread model: the kernel thread calls ``get`` while one daemon worker fills the cache for the
next page (``prefetch``).  The cache is guarded by one lock, and images are decoded and
encoded outside it (PIL releases the GIL there), so the two run side by side.
"""

from __future__ import annotations

import io
import os
import stat
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._paths import OutsideRoot, resolve_under

__all__ = ["CacheStats", "Thumb", "Thumbnailer", "check"]

# A cache entry costs its bytes plus this, so that a flood of broken (empty) thumbnails
# still counts against the budget.
_ENTRY_OVERHEAD = 256
# Below this many output pixels the PNG encoding is tried too: for a tiny image (a 32x32
# icon, an MNIST digit) it is often smaller than JPEG's headers and tables alone.
_TRY_PNG_PIXELS = 64 * 64
_JPEG_QUALITY = 85
# The formats PIL may open.  Without ``formats=`` PIL tries every plugin it has, by the
# file's bytes whatever its name: an EPS or PS file named ``x.png`` would be rendered by
# Ghostscript (a separate interpreter, with its own history of exploits), and rare plugins
# (FITS, SPIDER, PSD, ...) would parse untrusted data scraped from the web.  Only the
# common raster formats of image data sets are allowed.  MPO (multi-picture JPEG from
# cameras) is opened by PIL's JPEG plugin, so allowing JPEG allows it.
_ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "TIFF")
_formats_lock = threading.Lock()
_formats: tuple[str, ...] | None = None
# The prefetch worker ends after this long without work (and is restarted on demand).
_WORKER_IDLE_S = 30.0
# EXIF orientation -> the transpose that shows the image upright (as a browser shows the
# original file); the thumbnail is re-encoded without EXIF, so it must be applied here.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Thumb:
    """A thumbnail ready to send: encoded bytes, MIME type and pixel size.

    ``broken`` is ``None`` for a good image; otherwise a short human reason, with
    ``data == b""``, ``mime == ""`` and a size of 0 x 0.
    """

    data: bytes
    mime: str
    width: int
    height: int
    broken: str | None = None


@dataclass(frozen=True)
class CacheStats:
    """Counters of a ``Thumbnailer``: ``get`` hits and misses, cached bytes and entries."""

    hits: int
    misses: int
    bytes: int
    entries: int
    prefetched: int


class _Broken(Exception):
    """Raised inside this module with the reason a file cannot be shown; never escapes."""


def _broken(reason: str) -> Thumb:
    return Thumb(b"", "", 0, 0, broken=reason)


def _under_root(path: Path, root_real: str | None) -> str:
    """The real path of ``path`` under the root (``_paths.resolve_under``), as ``_Broken``
    instead of an exception, so a refused file shows as a broken card."""
    if root_real is None:
        return os.path.realpath(path)
    try:
        return os.fspath(resolve_under(root_real, path))
    except OutsideRoot:
        raise _Broken("outside the root folder") from None
    except (ValueError, OSError, TypeError) as err:  # e.g. a NUL byte in the name
        raise _Broken(f"invalid path ({err})") from None


def _stat_file(real: str) -> os.stat_result:
    """``os.stat`` of a path that must be a non-empty regular file, else ``_Broken``."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise _Broken("missing file") from None
    except PermissionError:
        raise _Broken("permission denied") from None
    except (OSError, ValueError) as err:
        raise _Broken(f"cannot read: {getattr(err, 'strerror', None) or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _Broken("a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise _Broken("not a regular file")
    if st.st_size == 0:
        raise _Broken("empty file (0 bytes)")
    return st


def _allowed_formats() -> tuple[str, ...]:
    """The allowed formats this PIL build has (asking PIL for one it lacks is an error)."""
    global _formats
    with _formats_lock:
        if _formats is None:
            Image.init()  # registers every plugin: which of ours exist is then known
            _formats = tuple(f for f in _ALLOWED_FORMATS if f in Image.OPEN)
        return _formats


def _other_format(real: str) -> str | None:
    """The format, outside the allowed ones, whose signature the file's first bytes carry.

    Only the plugins' ``accept`` functions run (a comparison of the first bytes), never a
    plugin's parser, so the reason can tell "EPS named .png" from garbage safely.
    """
    try:
        with open(real, "rb") as f:
            prefix = f.read(16)
    except OSError:
        return None
    for fmt, (_factory, accept) in list(Image.OPEN.items()):
        if fmt in _ALLOWED_FORMATS or accept is None:
            continue
        try:
            result = accept(prefix)
        except Exception:  # noqa: BLE001 - a plugin's own check failing means "not it"
            continue
        if result and not isinstance(result, str):  # a str is a warning, not a match
            return fmt
    return None


def _open(real: str) -> Image.Image:
    """Open an image lazily (header only), refusing decompression bombs, else ``_Broken``.

    PIL warns above ``Image.MAX_IMAGE_PIXELS`` and raises above twice that; both are
    refused here with the size in the reason.  The pixel count is checked by hand instead of
    turning PIL's warning into an error, because ``warnings.catch_warnings`` changes
    process-wide state and is not safe from the prefetch thread.  Only the formats in
    ``_ALLOWED_FORMATS`` are tried; any other is ``"not an image (format not allowed)"``.
    """
    try:
        im = Image.open(real, formats=_allowed_formats())
    except Image.DecompressionBombError as err:
        raise _Broken(f"too many pixels ({err})") from None
    except UnidentifiedImageError:
        if _other_format(real) is not None:
            raise _Broken("not an image (format not allowed)") from None
        raise _Broken("not an image (unknown format)") from None
    except PermissionError:
        raise _Broken("permission denied") from None
    except (OSError, ValueError, SyntaxError) as err:  # PIL reports bad headers as any of these
        raise _Broken(f"not an image ({err})") from None
    limit = Image.MAX_IMAGE_PIXELS
    w, h = im.size
    if limit is not None and w * h > limit:
        im.close()
        raise _Broken(f"too many pixels ({w}x{h}, limit {limit}): decompression bomb guard")
    return im


def _to_displayable(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to ``L``, ``LA``, ``RGB`` or ``RGBA`` (8 bits per channel).

    Palette images keep their transparency (as alpha); 16- and 32-bit grayscale is scaled
    down to 8 bits (PIL's own conversion clips instead, which shows most 16-bit images as
    white); CMYK and the other colour spaces go through PIL's RGB conversion.
    """
    mode = im.mode
    if mode in ("L", "RGB", "RGBA", "LA"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            if lo >= 0.0 and hi <= 255.0:
                pass  # already 8-bit values in a wider mode
            elif lo >= 0.0 and hi <= 65535.0:
                arr = arr / 257.0  # 16-bit data opened as "I" (older PIL, some TIFFs)
            else:
                arr = (arr - lo) * (255.0 / (hi - lo))  # floats / 32-bit: stretch to range
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if mode in ("RGBa", "La"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, I;16 variants PIL converts, ...


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite a transparent image on white: JPEG has no alpha, and a white card
    background is what the user expects behind a logo with a transparent background."""
    if im.mode == "RGBA":
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.getchannel("A"))
        return bg
    if im.mode == "LA":
        bg = Image.new("L", im.size, 255)
        bg.paste(im.getchannel("L"), mask=im.getchannel("A"))
        return bg
    return im


def _encode(im: Image.Image) -> tuple[bytes, str]:
    """JPEG at quality 85, or PNG when that is smaller (only tried for tiny images)."""
    out = io.BytesIO()
    im.save(out, "JPEG", quality=_JPEG_QUALITY)
    data, mime = out.getvalue(), "image/jpeg"
    if im.width * im.height <= _TRY_PNG_PIXELS:
        out = io.BytesIO()
        im.save(out, "PNG", compress_level=6)
        if out.tell() < len(data):
            data, mime = out.getvalue(), "image/png"
    return data, mime


def _decode_error(err: BaseException) -> str:
    """The reason for a decoding error: PIL says "truncated" in several spellings."""
    msg = str(err) or type(err).__name__
    return "truncated file" if "truncat" in msg.lower() else f"corrupt image ({msg})"


def _make(real: str, size: int) -> Thumb:
    """Decode, shrink and encode one image file (already confined and stat-checked)."""
    with _open(real) as im:
        try:
            if im.format in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale straight away (DCT scaling):
                # a 4000x3000 photo is then never fully decoded for a 128 px card.
                im.draft("RGB", (size, size))
            im.load()
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except Exception:  # noqa: BLE001 - a bad EXIF block must not hide the image
                orientation = 1
            small = _to_displayable(im)
            # thumbnail() keeps the aspect ratio and never enlarges; reducing_gap=2 first
            # shrinks by an integer factor (fast), then resamples the last <2x with BICUBIC.
            small.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
            small = _flatten_alpha(small)
            if orientation in _ORIENTATION:
                small = small.transpose(_ORIENTATION[orientation])
            data, mime = _encode(small)
            return Thumb(data, mime, small.width, small.height)
        except _Broken:
            raise
        except Image.DecompressionBombError as err:
            raise _Broken(f"too many pixels ({err})") from None
        except MemoryError:
            raise _Broken("too large to decode (out of memory)") from None
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as err:
            # PIL reports truncated or corrupt data with any of these, depending on the codec.
            raise _Broken(_decode_error(err)) from None


def check(path: Path, root: Path | None = None, *, deep: bool = False) -> str | None:
    """A fast probe for a background scan: ``None`` if the file looks like a good image,
    else the reason it is broken (the same reasons as ``Thumbnailer.get``).

    Reads the header and runs PIL's ``verify`` (which checks PNG chunk CRCs, so a truncated
    PNG is caught) without decoding pixels.  A truncated JPEG has a valid header and is only
    caught by decoding: pass ``deep=True`` to decode (at 1/8 scale for JPEG), or rely on
    ``Thumbnailer.get`` reporting it when the card is shown.  With ``root`` given, a path
    outside it is refused.  Never raises.
    """
    try:
        root_real = os.path.realpath(root) if root is not None else None
        real = _under_root(path, root_real)
        _stat_file(real)
        if deep:
            _make(real, 16)
            return None
        with _open(real) as im:
            try:
                im.verify()
            except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as err:
                return _decode_error(err)
        return None
    except _Broken as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - a probe must never crash the scan
        return f"unreadable ({type(err).__name__}: {err})"


_Key = tuple[str, int]
_Signature = tuple[int, int, int]  # (st_ino, st_size, st_mtime_ns): the file changed if it differs


class Thumbnailer:
    """Makes thumbnails of the files under ``root`` and keeps the recent ones in memory.

    ``get`` returns a cached thumbnail or makes it; ``prefetch`` makes thumbnails ahead of
    time in one background thread.  The cache is an LRU keyed by (real path, size) whose
    entries' bytes total at most ``max_bytes``; an entry is remade when its file's
    size, inode or modification time changed (the file was replaced or moved).
    """

    def __init__(self, root: Path, max_bytes: int = 64 << 20) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._root_real = os.path.realpath(self.root)
        self._lock = threading.Lock()
        self._cache: OrderedDict[_Key, tuple[_Signature, Thumb, int]] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._prefetched = 0
        # Prefetch worker state, guarded by _cond (which shares _lock).
        self._cond = threading.Condition(self._lock)
        self._pending: deque[_Key] = deque()
        self._busy: _Key | None = None
        self._worker: threading.Thread | None = None
        self._closed = False

    # -- public API --------------------------------------------------------------------
    def get(self, path: Path, size: int) -> Thumb:
        """The thumbnail of ``path`` (absolute, or relative to the root) fitting in
        ``size`` x ``size`` pixels.  Never raises: a bad file gives ``Thumb.broken``."""
        try:
            real = _under_root(path, self._root_real)
            sig = self._signature(real)
        except _Broken as err:
            with self._lock:
                self._misses += 1
            return _broken(str(err))
        size = max(1, int(size))
        key = (real, size)
        with self._cond:
            # If the prefetch worker is making this very thumbnail, wait for it rather than
            # decoding the same file twice.
            while self._busy == key:
                self._cond.wait()
            thumb = self._lookup(key, sig)
            if thumb is not None:
                self._hits += 1
                return thumb
            self._misses += 1
        thumb = self._build(real, size)
        with self._lock:
            self._store(key, sig, thumb)
        return thumb

    def prefetch(self, paths: Iterable[Path], size: int) -> None:
        """Make the thumbnails of ``paths`` in the background, in order, and return at once.

        A new call replaces the work still pending from an earlier one (the user has moved
        on to another page); the thumbnail being made at that moment is finished.
        """
        keys: list[_Key] = []
        for p in paths:
            try:
                keys.append((_under_root(p, self._root_real), max(1, int(size))))
            except _Broken:
                continue  # get() reports it; nothing to cache
        with self._cond:
            if self._closed:
                return
            self._pending = deque(keys)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="fastwidgets-thumbnails", daemon=True
                )
                self._worker.start()
            self._cond.notify_all()

    def check(self, path: Path, *, deep: bool = False) -> str | None:
        """The module's :func:`check` confined to this root: ``None`` if ``path`` looks like a
        good image, else why it is broken.  Fast (header only unless ``deep``); never raises."""
        return check(path, self.root, deep=deep)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no prefetch work is pending or running; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and self._busy is None, timeout=timeout
            )

    def close(self) -> None:
        """Drop pending prefetch work and stop the worker thread (the cache stays usable)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=5)

    def clear(self) -> None:
        """Empty the cache (the counters are kept)."""
        with self._lock:
            self._cache.clear()
            self._bytes = 0

    @property
    def stats(self) -> CacheStats:
        """Hits and misses of ``get``, bytes and entries in the cache, thumbnails prefetched."""
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._bytes, len(self._cache), self._prefetched
            )

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _signature(real: str) -> _Signature:
        st = _stat_file(real)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    @staticmethod
    def _build(real: str, size: int) -> Thumb:
        try:
            return _make(real, size)
        except _Broken as err:
            return _broken(str(err))
        except Exception as err:  # noqa: BLE001 - a codec bug on one file must not crash
            return _broken(f"unreadable ({type(err).__name__}: {err})")

    def _lookup(self, key: _Key, sig: _Signature) -> Thumb | None:
        """The cached thumbnail if current, moved to the recent end (call with the lock)."""
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] != sig:  # the file changed on disk since: drop the stale thumbnail
            del self._cache[key]
            self._bytes -= entry[2]
            return None
        self._cache.move_to_end(key)
        return entry[1]

    def _store(self, key: _Key, sig: _Signature, thumb: Thumb) -> None:
        """Insert, then evict the least recently used entries over budget (with the lock)."""
        cost = len(thumb.data) + _ENTRY_OVERHEAD
        old = self._cache.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        if cost > self.max_bytes:
            return  # would evict everything else and still not fit
        self._cache[key] = (sig, thumb, cost)
        self._bytes += cost
        while self._bytes > self.max_bytes:
            _, (_, _, c) = self._cache.popitem(last=False)
            self._bytes -= c

    def _work(self) -> None:
        """The prefetch worker: takes pending keys one at a time; ends when closed or idle.

        Ending when idle matters in a notebook: every re-run of a cell makes a new cleaner,
        and a worker waiting forever would keep each old one (and its cache) alive.
        ``prefetch`` starts a new worker when needed.
        """
        while True:
            with self._cond:
                if not self._pending and not self._closed:
                    self._cond.wait_for(lambda: self._pending or self._closed, _WORKER_IDLE_S)
                if self._closed or not self._pending:
                    if self._worker is threading.current_thread():
                        self._worker = None
                    return
                key = self._pending.popleft()
                self._busy = key
            try:
                real, size = key
                try:
                    sig = self._signature(real)
                except _Broken:
                    continue  # get() will report it; a missing file is not worth caching
                with self._lock:
                    if self._lookup(key, sig) is not None:
                        continue
                thumb = self._build(real, size)
                with self._lock:
                    self._store(key, sig, thumb)
                    self._prefetched += 1
            finally:
                with self._cond:
                    self._busy = None
                    self._cond.notify_all()
