"""Root confinement and folder scans for the image cleaner.

Every file the cleaner reads, sends or moves lies under one root folder.  Names are paths
relative to that root with ``/`` separators, so they stay the same across sessions and
operating systems.  A name or symlink that leads outside the root is refused: a data set
scraped from the web, or a crafted ``../`` name in a journal, must never make the widget
read or move someone's other files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import warnings
from collections.abc import Iterable
from pathlib import Path, PurePath

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)
"""Lower-case suffixes :func:`scan_folder` treats as images (PIL opens all of them)."""

STATE_DIR = ".fastwidgets"
"""The folder under the root that holds the journal and move logs."""

TRASH_DIR = "trash"
"""The folder under the root that ``apply()`` moves deleted items into."""

TRAIN_DIR = "train"
"""The top-level folder of the training split (fastai's ``from_folder`` default)."""

VALID_DIRS = frozenset({"valid", "val"})
"""Top-level folder names that put every image below them in the validation split."""


class OutsideRoot(ValueError):
    """A path, or a symlink on the way to it, leads outside the cleaner's root."""


class SymlinkRefused(OutsideRoot):
    """A file or folder of the cleaner's own state (journal, move log, cleaned.csv's
    temporary file) is a symlink.  Those are never followed: a planted link could make an
    append or a truncation land on any file the user can write."""


# Flags that exist on POSIX only; 0 elsewhere (Windows has no symlink-following opens to
# guard against in the same way, and a plain lstat check is made there instead).
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_under(root: str | os.PathLike[str], name_or_path: str | os.PathLike[str]) -> Path:
    """The real path of ``name_or_path`` (relative to ``root`` unless absolute).

    Every symlink on the way is followed, so a link that points outside the root is caught
    as well as a ``../`` name.  The file need not exist (a move's destination does not yet).
    Raises :class:`OutsideRoot`, naming the path and the root, when it leads outside.
    """
    real_root = os.path.realpath(root)
    target = os.path.join(real_root, os.fspath(name_or_path))  # an absolute path wins
    real = os.path.realpath(target)
    if not _is_within(real, real_root):
        raise OutsideRoot(
            f"{os.fspath(name_or_path)!r} leads to {real!r}, outside the root {real_root!r}; "
            "only files under the root are read or moved"
        )
    return Path(real)


def _refuse_link(path: str | os.PathLike[str], err: OSError) -> Exception:
    """``err`` from an ``O_NOFOLLOW`` open, as :class:`SymlinkRefused` when the path was a
    link (Linux says ELOOP, the BSDs EMLINK), else unchanged."""
    if err.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
        return SymlinkRefused(
            f"{os.fspath(path)!r} is a symlink; the cleaner never follows a link for its own "
            "files (remove the link, or point the cleaner at the real folder)"
        )
    return err


def open_nofollow(
    root: str | os.PathLike[str],
    path: str | os.PathLike[str],
    flags: int,
    mode: int = 0o666,
) -> int:
    """``os.open(path, flags)`` for one of the cleaner's own files, refusing symlinks.

    ``path`` (absolute, or relative to ``root``) must lie under ``root``
    (:class:`OutsideRoot`), and neither it nor its folder may be a symlink
    (:class:`SymlinkRefused`, naming the link).  The folder is opened with ``O_NOFOLLOW``
    and the file with ``O_NOFOLLOW`` relative to that folder's descriptor, so a link
    swapped in after the check is not followed either.  Returns the file descriptor.
    """
    resolve_under(root, path)
    full = os.path.join(os.fspath(root), os.fspath(path))
    folder, base = os.path.split(full)
    if not O_NOFOLLOW or os.open not in os.supports_dir_fd:  # Windows: check, then open
        for p in (folder, full):
            if os.path.islink(p):
                raise _refuse_link(p, OSError(errno.ELOOP, "symlink"))
        return os.open(full, flags | O_CLOEXEC, mode)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    except OSError as err:
        raise _refuse_link(folder, err) from None
    try:
        return os.open(base, flags | O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as err:
        raise _refuse_link(full, err) from None
    finally:
        os.close(dir_fd)


def state_dir(root: str | os.PathLike[str], *, create: bool = False) -> Path:
    """``<root>/.fastwidgets``, the folder of the journal and the move logs.

    Refused (:class:`SymlinkRefused`) when it is a symlink, and (:class:`OutsideRoot`) when
    it resolves outside the root; ``create=True`` makes it when missing.
    """
    path = Path(root) / STATE_DIR
    if os.path.islink(path):
        raise _refuse_link(path, OSError(errno.ELOOP, "symlink"))
    resolve_under(root, STATE_DIR)
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(parents=True)
        if os.path.islink(path):  # made a link between the check and the mkdir
            raise _refuse_link(path, OSError(errno.ELOOP, "symlink"))
    return path


def relative_name(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """The POSIX name of ``path`` relative to ``root`` (raises :class:`OutsideRoot`).

    The name is taken from the path as written (a symlink inside the root keeps its own
    name), after checking that its real target is under the root too.
    """
    resolve_under(root, path)
    abs_root = os.path.abspath(root)
    abs_path = os.path.abspath(os.path.join(abs_root, os.fspath(path)))
    if not _is_within(abs_path, abs_root):
        # Written through another spelling of the root (e.g. the root is itself a symlink
        # and the path uses its target): fall back to the real paths.
        abs_root = os.path.realpath(abs_root)
        abs_path = os.path.realpath(abs_path)
    rel = os.path.relpath(abs_path, abs_root)
    if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
        raise OutsideRoot(f"{os.fspath(path)!r} is not a file under the root {abs_root!r}")
    return PurePath(rel).as_posix()


def names_under(
    root: str | os.PathLike[str] | None,
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[Path, list[str]]:
    """The root (absolute) and each path's POSIX name relative to it, in order.

    ``root=None`` takes the deepest folder holding every path.  A relative path is taken
    relative to the root; if no such file exists but it names a file under the root from
    the working directory (fastai's items for ``path=Path('bears')`` look like
    ``bears/grizzly/1.jpg``), that is used instead.  A path, or symlink, leading outside the
    root raises :class:`OutsideRoot` naming it (every symlink is followed, as in
    :func:`resolve_under`).
    """
    given = [os.fspath(p) for p in paths]
    if root is None:
        if not given:
            raise ValueError("no paths, so no root to take them relative to")
        root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in given])
    abs_root = os.path.abspath(root)
    real_root = os.path.realpath(abs_root)
    sep = os.sep
    prefix, real_prefix = abs_root.rstrip(sep) + sep, real_root.rstrip(sep) + sep
    # Per folder: its real path, its entries and which of them are symlinks.  One scandir
    # per folder replaces an lstat per file (DirEntry knows symlinks without a stat call),
    # so 100,000 paths take a fraction of a second before the first page.
    folders: dict[str, tuple[str, set[str], set[str]]] = {}

    def listing(folder: str) -> tuple[str, set[str], set[str]]:
        got = folders.get(folder)
        if got is None:
            entries, links = set(), set()
            with contextlib.suppress(OSError), os.scandir(folder or sep) as it:
                for entry in it:
                    entries.add(entry.name)
                    if entry.is_symlink():
                        links.add(entry.name)
            real_dir = os.path.realpath(folder or sep).rstrip(sep) + sep
            got = folders[folder] = (real_dir, entries, links)
        return got

    def exists(path: str) -> bool:
        folder, _, base = path.rpartition(sep)
        return base in listing(folder)[1] or os.path.lexists(path)

    names: list[str] = []
    for p in given:
        absolute = os.path.isabs(p)
        path = os.path.normpath(p if absolute else prefix + p)
        if not absolute and not exists(path):
            from_cwd = os.path.abspath(p)
            if from_cwd.startswith(prefix) and exists(from_cwd):
                path = from_cwd
        folder, _, base = path.rpartition(sep)
        real_dir, entries, links = listing(folder)
        in_dir = real_dir + base
        # A name the listing does not hold exactly (a case-insensitive file system, or
        # a file made since) gets a real lstat: a symlink must never slip through.
        link = base in links if base in entries else os.path.islink(path)
        real = os.path.realpath(path) if link else in_dir
        if not real.startswith(real_prefix):
            raise OutsideRoot(
                f"{p!r} leads to {real!r}, which is not a file under the root {real_root!r}; "
                "only files under the root are read or moved"
            )
        if path.startswith(prefix):
            rel = path[len(prefix) :]
        elif path.startswith(real_prefix):  # written through the root's real path
            rel = path[len(real_prefix) :]
        else:  # through another symlink to the root: its folder's real place, own name
            rel = (in_dir if in_dir.startswith(real_prefix) else real)[len(real_prefix) :]
        names.append(rel if sep == "/" else rel.replace(sep, "/"))
    return Path(abs_root), names


def split_of(name: str) -> str:
    """``"valid"`` if the relative ``name`` lies in a top-level ``valid``/``val`` folder,
    else ``"train"`` (fastai's ``GrandparentSplitter`` on a ``train``/``valid`` layout)."""
    top, sep, _ = name.partition("/")
    return "valid" if sep and top in VALID_DIRS else "train"


def _split_folders(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Keep only the files of the top-level split folders, when there are any.

    fastai's ``ImageDataLoaders.from_folder`` lists ``train/`` and ``valid/`` only and
    splits by them, so a ``test/`` folder beside them is not part of the data set; the
    cleaner shows what fastai trains on.  Each other top-level folder holding images (and
    loose files at the top) is named in a warning, so nothing goes missing silently.
    """
    split_tops = {TRAIN_DIR, *VALID_DIRS}
    if not any(name.partition("/")[0] in split_tops for name, _, _ in found):
        return found
    kept: list[tuple[str, str, str]] = []
    skipped: dict[str, int] = {}
    for item in found:
        top, sep, _ = item[0].partition("/")
        if sep and top in split_tops:
            kept.append(item)
        else:
            key = top + "/" if sep else "(files at the top of the root)"
            skipped[key] = skipped.get(key, 0) + 1
    for key, n in sorted(skipped.items()):
        warnings.warn(
            f"{key!r} ({n} image{'s' if n != 1 else ''}) skipped: the root has train/valid "
            "folders, so only those are listed, as fastai's from_folder does",
            stacklevel=3,
        )
    return kept


def scan_folder(
    root: str | os.PathLike[str],
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> list[tuple[str, str, str]]:
    """Every image file under ``root``, as ``(name, label, split)`` sorted by name.

    ``label`` is the parent folder's name (fastai's ``parent_label``).  The splits mirror
    fastai's ``ImageDataLoaders.from_folder``: when the root has top-level ``train`` and/or
    ``valid`` (or ``val``) folders holding images, only the files under those are listed,
    split by them, and any other top-level folder with images (a ``test/``, say) is
    skipped with a warning naming it; otherwise every file is listed, as ``"train"``.
    Hidden files and folders (macOS ``._x.jpg`` copies, ``.ipynb_checkpoints``),
    ``.fastwidgets`` and the top-level ``trash`` folder are skipped.  A symlink whose
    target is outside the root is skipped with a warning naming it, so one bad link does
    not stop the scan; symlinked folders are not entered (their files, if under the root,
    are found at their real place, and a link to an ancestor would loop).
    """
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    real_root = os.path.realpath(root)
    root_label = os.path.basename(real_root)
    found: list[tuple[str, str, str]] = []
    # An explicit stack of (absolute dir, relative prefix) beats os.walk by skipping the
    # per-directory list building; 100,000 files scan in well under a second.
    stack: list[tuple[str, str]] = [(real_root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            warnings.warn(f"cannot list {folder!r}: {err}; skipped", stacklevel=2)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not _is_within(real, real_root):
                    warnings.warn(
                        f"{rel!r} is a symlink to {real!r}, outside the root {real_root!r}; "
                        "skipped",
                        stacklevel=2,
                    )
                    continue
                if os.path.isdir(real):
                    continue
            if entry.is_dir():
                if not (prefix == "" and entry.name == TRASH_DIR):
                    stack.append((entry.path, rel + "/"))
                continue
            if os.path.splitext(entry.name)[1].lower() in exts:
                label = prefix.rsplit("/", 2)[-2] if prefix else root_label
                found.append((rel, label, split_of(rel)))
    found.sort(key=lambda t: t[0])
    return _split_folders(found)
