"""cleaned.csv and the file moves of ``apply()``.

``cleaned.csv`` (at the root) lists every item that is not deleted, with its final label:
``name,label,is_valid``, written with the csv module so commas, quotes, newlines and
unicode in names round-trip, and atomically (a temporary file in the root, then
``os.replace``) so a reader, or a crash, never sees half a file.  fastai reads it back with
``ImageDataLoaders.from_csv(root, 'cleaned.csv', valid_col='is_valid')``.

``apply()`` moves files and never deletes one: deleted items go to ``<root>/trash/<name>``,
relabelled ones to the folder of their new label.  A name already taken gets `` (1)``,
`` (2)``... before its suffix.  Each move is logged (and fsynced) before it happens, in
``<root>/.fastwidgets/moves-<UTC stamp>.jsonl``, so :func:`undo_moves` can put files back
even after a crash midway.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import functools
import json
import os
import secrets
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from fastwidgets._paths import (
    O_CLOEXEC,
    O_NOFOLLOW,
    STATE_DIR,
    TRASH_DIR,
    open_nofollow,
    relative_name,
    resolve_under,
    state_dir,
)
from fastwidgets._stream import Scheduler, thread_timer

CLEANED_CSV = "cleaned.csv"

ALREADY_IN_TRASH = "already in trash"
"""The plan's reason for a deleted item an earlier ``apply()`` already moved to the trash."""
ALREADY_IN_PLACE = "already in place"
"""The plan's reason for a relabelled item already in the folder of its new label."""

# The move log's version: 2 adds a {"moved": [src, dst]} record after each move made.
_LOG_VERSION = 2

# One writer at a time: the debounced timer thread and save() share the temporary name.
_WRITE_LOCK = threading.Lock()


def _bools(values: Iterable[bool]) -> list[bool]:
    # tolist() turns a numpy array into Python bools at C speed (str() of them is then
    # True/False, and the zips below stay fast for 100,000 rows).
    tolist = getattr(values, "tolist", None)
    return [bool(v) for v in (tolist() if callable(tolist) else values)]


def _create_tmp(root: Path) -> tuple[int, Path]:
    """Create the temporary file for ``cleaned.csv`` in ``root``: ``(fd, path)``.

    ``O_CREAT | O_EXCL | O_NOFOLLOW``: an existing file or a planted symlink at the name is
    never opened, followed or truncated; another name is tried instead (``-<random>``
    appended), and after a few tries the write fails with the name in the error.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC
    name = f".{CLEANED_CSV}.tmp-{os.getpid()}"
    for attempt in range(8):
        tmp = root / (name if attempt == 0 else f"{name}-{secrets.token_hex(4)}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(
        f"cannot create a temporary file for {CLEANED_CSV} in {root}: {name!r} and the "
        "other names tried already exist (left as they are)"
    )


def write_cleaned_csv(
    root: str | os.PathLike[str],
    names: Sequence[str],
    labels: Sequence[str],
    is_valid: Iterable[bool],
    deleted: Iterable[bool],
) -> Path:
    """Write ``<root>/cleaned.csv`` atomically and return its path.

    ``labels`` are the final labels (new where relabelled).  Rows keep the items' order;
    deleted items are left out.  If anything fails, the old file is left as it was and the
    temporary file is removed.  A ``cleaned.csv`` that is a symlink leading outside the
    root is refused (:class:`~fastwidgets._paths.OutsideRoot`); the temporary file is
    created exclusively, never through an existing file or link.
    """
    root = Path(root)
    path = root / CLEANED_CSV
    resolve_under(root, CLEANED_CSV)  # a cleaned.csv linked out of the root: refused
    valid, gone = _bools(is_valid), _bools(deleted)
    if not len(names) == len(labels) == len(valid) == len(gone):
        raise ValueError(
            f"lengths differ: {len(names)} names, {len(labels)} labels, "
            f"{len(valid)} is_valid, {len(gone)} deleted"
        )
    with _WRITE_LOCK:
        fd, tmp = _create_tmp(root)
        try:
            with open(fd, "w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(("name", "label", "is_valid"))
                writer.writerows(
                    (n, lab, "True" if v else "False")
                    for n, lab, v, d in zip(names, labels, valid, gone, strict=True)
                    if not d
                )
                f.flush()
                os.fsync(f.fileno())  # the data reaches the disk before the rename does
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # ours: made by _create_tmp just now
            raise
    return path


class DebouncedWriter:
    """Runs ``write_fn`` at most once per ``delay`` seconds while requests keep coming.

    :meth:`schedule` marks the output stale; the first call arms the shared trailing timer
    (``fastwidgets._stream.thread_timer``, or ``timer``), and when it fires one write
    covers every call made meanwhile.  :meth:`flush` writes now (``save()``).  An error in a timed
    write is kept in :attr:`last_error`, passed to ``on_error``, and the output stays stale
    so the next schedule or flush tries again.
    """

    def __init__(
        self,
        write_fn: Callable[[], Path],
        delay: float = 0.5,
        *,
        on_error: Callable[[Exception], None] | None = None,
        timer: Scheduler = thread_timer,
    ) -> None:
        self._write_fn = write_fn
        self.delay = delay
        self._on_error = on_error
        self._timer = timer
        self._state = threading.Lock()  # guards the flags; never held while writing
        self._writing = threading.Lock()  # one write at a time
        self._stale = False
        self._armed = False
        self.last_error: Exception | None = None

    @property
    def pending(self) -> bool:
        """Whether a scheduled write has not happened yet."""
        return self._stale

    def schedule(self, *_: Any) -> None:
        """Ask for a write within ``delay`` seconds (usable as a ``Decisions.on_change`` hook)."""
        with self._state:
            self._stale = True
            if self._armed:
                return
            self._armed = True
        self._timer(self.delay, self._fire)

    def _fire(self) -> None:
        with self._state:
            self._armed = False
            if not self._stale:
                return  # a flush() came first
            self._stale = False
        try:
            with self._writing:
                self._write_fn()
            self.last_error = None
        except Exception as err:  # noqa: BLE001 - no caller on the timer thread: report it
            self.last_error = err
            with self._state:
                self._stale = True
            if self._on_error is not None:
                self._on_error(err)

    def flush(self) -> Path:
        """Write now, whatever is pending, and return what ``write_fn`` returned."""
        with self._state:
            self._stale = False
        try:
            with self._writing:
                result = self._write_fn()
        except BaseException:
            with self._state:
                self._stale = True
            raise
        self.last_error = None
        return result


# -- apply: plan, move, undo ---------------------------------------------------------------


def _bad_folder_name(label: str) -> str | None:
    if label in ("", ".", "..") or any(c in label for c in "/\\\0"):
        return f"the label {label!r} is not a usable folder name"
    if label.startswith("."):
        return f"the label {label!r} would make a hidden folder"
    return None


def _free_name(root: Path, name: str, taken: set[str]) -> str:
    """``name``, or ``stem (k)suffix`` with the smallest k free on disk and in ``taken``."""
    candidate = name
    pure = PurePosixPath(name)
    k = 0
    while candidate in taken or os.path.lexists(root / candidate):
        k += 1
        candidate = str(pure.with_name(f"{pure.stem} ({k}){pure.suffix}"))
    return candidate


def plan_moves(
    root: str | os.PathLike[str],
    names: Sequence[str],
    labels: Sequence[str],
    new_labels: Sequence[str | None],
    deleted: Iterable[bool],
    *,
    move_deleted_to: str | None = TRASH_DIR,
    move_relabelled: bool = True,
) -> list[dict[str, Any]]:
    """The moves ``apply()`` would make, touching nothing.

    One dict per deleted or relabelled item, in item order: ``{"name", "action": "trash" |
    "relabel", "src", "dst", "reason"}`` with relative names.  ``dst`` is None and
    ``reason`` says why when the item cannot move (a relabelled item moves only when its
    parent folder is named after its original label; the file must exist and be under the
    root).  ``move_deleted_to=None`` leaves deleted items in place.  Deleted wins over
    relabelled.  A second apply moves nothing twice: a deleted item already under the
    trash folder is skipped with the reason ``"already in trash"``, a relabelled one whose
    folder is already named after its new label with ``"already in place"``.
    """
    root = Path(root)
    trash = None
    if move_deleted_to is not None:
        trash = relative_name(root, move_deleted_to)  # refuses "", ".", "../x", /abs...
        if trash.startswith(f"{STATE_DIR}/") or trash == STATE_DIR:
            raise ValueError(f"move_deleted_to={move_deleted_to!r} is the cleaner's own folder")
    plan: list[dict[str, Any]] = []
    taken: set[str] = set()
    gone = _bools(deleted)
    for name, label, new, dele in zip(names, labels, new_labels, gone, strict=True):
        if dele:
            if trash is None:
                continue
            entry: dict[str, Any] = {"name": name, "action": "trash", "src": name}
            dst, reason = f"{trash}/{name}", None
            if name.startswith(f"{trash}/"):  # moved there by an earlier apply
                reason = ALREADY_IN_TRASH
        elif new is not None and move_relabelled:
            entry = {"name": name, "action": "relabel", "src": name}
            pure = PurePosixPath(name)
            reason = _bad_folder_name(new)
            if reason is None and pure.parent.name == new:  # moved by an earlier apply
                reason = ALREADY_IN_PLACE
            elif reason is None and pure.parent.name != label:
                reason = (
                    f"its folder {pure.parent.as_posix()!r} is not named after its label "
                    f"{label!r}, so no folder stands for the new label"
                )
            dst = str(pure.parent.parent / new / pure.name) if reason is None else ""
        else:
            continue
        if reason is None:
            try:
                if not os.path.lexists(resolve_under(root, name)):
                    reason = "the file is missing"
                else:
                    resolve_under(root, dst)
            except ValueError as err:  # OutsideRoot
                reason = str(err)
        if reason is None:
            dst = _free_name(root, dst, taken)
            taken.add(dst)
        entry.update(dst=dst if reason is None else None, reason=reason)
        plan.append(entry)
    return plan


def _fsync_line(f: Any, record: dict[str, Any], *, sync: bool = True) -> None:
    f.write(json.dumps(record) + "\n")
    f.flush()
    if sync:
        os.fsync(f.fileno())


# -- moving without overwriting ------------------------------------------------------------
#
# Checking that a name is free and then renaming onto it races with anything else writing
# in the folder: os.rename would silently replace a file that arrived in between.  So the
# move itself refuses an existing destination: Linux's renameat2(RENAME_NOREPLACE), atomic;
# else a hard link (which fails on an existing name) and an unlink of the old name; and only
# on a file system with neither, a rename right after checking the name is still free.

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# Errors meaning "this primitive is not available here", not "the move failed".
_UNSUPPORTED = {
    errno.EINVAL,
    errno.ENOSYS,
    errno.EPERM,
    errno.EXDEV,
    errno.EMLINK,
    getattr(errno, "ENOTSUP", errno.EINVAL),
    getattr(errno, "EOPNOTSUPP", errno.EINVAL),
}


def _load_renameat2() -> Callable[[bytes, bytes], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, or a libc without it
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def renameat2(src: bytes, dst: bytes) -> int:
        if fn(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return 0
        return ctypes.get_errno() or errno.EIO

    return renameat2


_renameat2 = _load_renameat2()


def _rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Move ``src`` to ``dst``; ``FileExistsError`` if ``dst`` exists (it is left alone)."""
    if _renameat2 is not None:
        code = _renameat2(os.fsencode(src), os.fsencode(dst))
        if code == 0:
            return
        if code not in _UNSUPPORTED:  # EEXIST among them: raised as FileExistsError
            raise OSError(code, os.strerror(code), os.fspath(src), None, os.fspath(dst))
    try:
        # follow_symlinks=False: an item that is a symlink moves as the link itself.
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno not in _UNSUPPORTED:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "destination exists", os.fspath(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def _move_to_free_name(
    root: Path,
    src: str,
    wanted: str,
    taken: set[str],
    before: Callable[[str], None] = lambda _dst: None,
) -> str:
    """Move ``root/src`` to ``wanted`` or its first free `` (k)`` name; returns the name.

    ``before(dst)`` runs before each try (apply logs the move there).  A name taken between
    the check and the move is never overwritten: the next free name is tried.
    """
    while True:
        dst = _free_name(root, wanted, taken)
        taken.add(dst)
        before(dst)
        try:
            _rename_noreplace(root / src, root / dst)
        except FileExistsError:
            continue
        return dst


def apply_moves(root: str | os.PathLike[str], plan: Iterable[dict[str, Any]]) -> Path:
    """Make the planned moves (entries whose ``dst`` is set) and return the move log's path.

    Every source and destination is checked to be under the root before anything moves
    (:class:`~fastwidgets._paths.OutsideRoot` otherwise).  A destination taken meanwhile
    gets the next free `` (k)`` name, and the move itself refuses an existing destination,
    so no file is ever overwritten or deleted.  Each move is written to the log (fsynced)
    before it is made, and marked made after; :func:`read_moves` gives the moves made.
    """
    root = Path(root)
    todo = [(str(e["src"]), str(e["dst"])) for e in plan if e.get("dst")]
    for src, dst in todo:  # all checks first: a refused entry must not leave a half-apply
        resolve_under(root, src)
        resolve_under(root, dst)
        relative_name(root, src)
        relative_name(root, dst)
    state = state_dir(root, create=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    log = state / f"moves-{stamp}.jsonl"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    taken: set[str] = set()
    with open(open_nofollow(root, log, flags, 0o644), "w", encoding="utf-8") as f:
        _fsync_line(f, {"v": _LOG_VERSION, "op": "apply", "t": round(time.time(), 3)})

        def intend(src: str, dst: str) -> None:
            parent = PurePosixPath(dst).parent
            made = [p for p in [parent, *parent.parents] if not (root / p).exists()]
            for folder in reversed(made):
                # Logged so undo can remove it again, if it is still empty.
                _fsync_line(f, {"mkdir": folder.as_posix()})
                resolve_under(root, folder).mkdir()
            _fsync_line(f, {"src": src, "dst": dst})

        for src, planned in todo:
            if not os.path.lexists(root / src):
                warnings.warn(f"{src!r} is gone; not moved", stacklevel=2)
                continue
            dst = _move_to_free_name(root, src, planned, taken, functools.partial(intend, src))
            # Not fsynced on its own: the next record's fsync (or the last one) covers it,
            # and a record lost in a crash is recovered from the files (see _made_moves).
            _fsync_line(f, {"moved": [src, dst]}, sync=False)
        os.fsync(f.fileno())
    return log


def _log_root(
    log_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    if root is not None:
        log = Path(os.path.join(os.path.abspath(root), os.fspath(log_path)))
        real = resolve_under(root, log)  # OutsideRoot, naming the log
        if real.parent != Path(os.path.realpath(root)) / STATE_DIR:
            raise ValueError(
                f"{log} is not a move log of {root} (those are in {Path(root) / STATE_DIR}/)"
            )
        return log, Path(os.path.abspath(root))
    log = Path(os.path.abspath(log_path))
    if log.parent.name != STATE_DIR:
        raise ValueError(f"{log} is not a move log (those are in <root>/{STATE_DIR}/)")
    return log, log.parent.parent


def _read_log(log: Path, root: Path) -> list[dict[str, Any]]:
    state_dir(root)  # a symlinked .fastwidgets: refused, by name
    with open(open_nofollow(root, log, os.O_RDONLY), encoding="utf-8") as f:
        text = f.read()
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            warnings.warn(f"{log}: line {number} is torn; skipped", stacklevel=4)
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _made_moves(records: list[dict[str, Any]], root: Path) -> list[tuple[str, str]]:
    """The ``(src, dst)`` moves a log's records say were made, in order.

    A move is made when a ``moved`` record follows its intent.  The last intent may lack
    one (a crash between the move and its record): the files decide then, as they do for
    every intent of a version-1 log, which had no ``moved`` records.  Any other intent
    without one was a try whose name was taken meanwhile, and the next name was used.
    """
    version = next((r.get("v") for r in records if r.get("op") == "apply"), 1)
    intents = [(str(r["src"]), str(r["dst"])) for r in records if "src" in r and "dst" in r]
    done = {
        (str(r["moved"][0]), str(r["moved"][1]))
        for r in records
        if isinstance(r.get("moved"), list) and len(r["moved"]) == 2
    }
    last = len(intents) - 1

    def made(k: int, src: str, dst: str) -> bool:
        if (src, dst) in done:
            return True
        if version != 1 and k != last:
            return False  # a try whose name was taken: the next try has the move
        return os.path.lexists(root / dst) and not os.path.lexists(root / src)

    return [(src, dst) for k, (src, dst) in enumerate(intents) if made(k, src, dst)]


def read_moves(
    log_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """The ``(src, dst)`` moves a log records that were made (the file is at ``dst``).

    ``root``, when given, must hold the log in its ``.fastwidgets`` folder (as for
    :func:`undo_moves`).
    """
    log, base = _log_root(log_path, root)
    return [m for m in _made_moves(_read_log(log, base), base) if os.path.lexists(base / m[1])]


def undo_moves(
    log_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """Move back the files a move log (``<root>/.fastwidgets/moves-*.jsonl``) moved.

    With ``root`` given, a log that is not in ``<root>/.fastwidgets/`` is refused
    (``ValueError``, or :class:`~fastwidgets._paths.OutsideRoot` when it resolves outside
    the root); without it, the root is the folder above the log's.  Newest move first.  A
    file no longer at its destination is skipped with a warning; if its old place is taken
    meanwhile it comes back under a free `` (k)`` name (never overwriting).  Folders the
    apply created are removed again when empty.  Returns the ``(from, to)`` moves made, in
    the form ``Decisions.record_moves`` takes.
    """
    log, base = _log_root(log_path, root)
    records = _read_log(log, base)
    moves = _made_moves(records, base)
    for src, dst in moves:
        resolve_under(base, src)
        resolve_under(base, dst)
    done: list[tuple[str, str]] = []
    taken: set[str] = set()
    for src, dst in reversed(moves):
        if not os.path.lexists(base / dst):
            if not os.path.lexists(base / src):  # else already moved back (a second undo)
                warnings.warn(f"{dst!r} is gone; cannot move it back to {src!r}", stacklevel=2)
            continue
        (base / src).parent.mkdir(parents=True, exist_ok=True)
        back = _move_to_free_name(base, dst, src, taken)
        if back != src:
            warnings.warn(f"{src!r} is taken; {dst!r} moved back as {back!r}", stacklevel=2)
        done.append((dst, back))
    for r in reversed(records):
        if "mkdir" in r:
            folder = resolve_under(base, str(r["mkdir"]))
            with contextlib.suppress(OSError):  # rmdir only ever removes an empty folder
                folder.rmdir()
    return done
