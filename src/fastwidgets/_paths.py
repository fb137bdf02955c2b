"""Root confinement and folder scans for the image cleaner.

Every file the cleaner reads, sends or moves lies under one root folder.  Names are paths
relative to that root with ``/`` separators, so they stay the same across sessions and
operating systems.  A name or symlink that leads outside the root is refused: a data set
scraped from the web, or a crafted ``../`` name in a journal, must never make the widget
read or move someone's other files.
"""

from __future__ import annotations

import contextlib
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

VALID_DIRS = frozenset({"valid", "val"})
"""Folder names that put every image below them in the validation split."""


class OutsideRoot(ValueError):
    """A path, or a symlink on the way to it, leads outside the cleaner's root."""


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
    """``"valid"`` if a folder in the relative ``name`` is called valid/val, else ``"train"``."""
    folders = name.split("/")[:-1]
    return "valid" if any(f in VALID_DIRS for f in folders) else "train"


def scan_folder(
    root: str | os.PathLike[str],
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> list[tuple[str, str, str]]:
    """Every image file under ``root``, as ``(name, label, split)`` sorted by name.

    ``label`` is the parent folder's name (fastai's ``parent_label``), ``split`` is
    ``"valid"`` when a folder below the root is called ``valid`` or ``val``.  Hidden files
    and folders (macOS ``._x.jpg`` copies, ``.ipynb_checkpoints``), ``.fastwidgets`` and the
    top-level ``trash`` folder are skipped.  A symlink whose target is outside the root is
    skipped with a warning naming it, so one bad link does not stop the scan; symlinked
    folders are not entered (their files, if under the root, are found at their real place,
    and a link to an ancestor would loop).
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
    return found
