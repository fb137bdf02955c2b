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
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from fastwidgets._paths import STATE_DIR, TRASH_DIR, relative_name, resolve_under
from fastwidgets._stream import Scheduler, thread_timer

CLEANED_CSV = "cleaned.csv"

# One writer at a time: the debounced timer thread and save() share the temporary name.
_WRITE_LOCK = threading.Lock()


def _bools(values: Iterable[bool]) -> list[bool]:
    # tolist() turns a numpy array into Python bools at C speed (str() of them is then
    # True/False, and the zips below stay fast for 100,000 rows).
    tolist = getattr(values, "tolist", None)
    return [bool(v) for v in (tolist() if callable(tolist) else values)]


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
    temporary file is removed.
    """
    root = Path(root)
    path = root / CLEANED_CSV
    tmp = root / f".{CLEANED_CSV}.tmp-{os.getpid()}"
    valid, gone = _bools(is_valid), _bools(deleted)
    if not len(names) == len(labels) == len(valid) == len(gone):
        raise ValueError(
            f"lengths differ: {len(names)} names, {len(labels)} labels, "
            f"{len(valid)} is_valid, {len(gone)} deleted"
        )
    with _WRITE_LOCK:
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
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
            tmp.unlink(missing_ok=True)
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
    relabelled.
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
        elif new is not None and move_relabelled:
            entry = {"name": name, "action": "relabel", "src": name}
            pure = PurePosixPath(name)
            reason = _bad_folder_name(new)
            if reason is None and pure.parent.name != label:
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


def _fsync_line(f: Any, record: dict[str, Any]) -> None:
    f.write(json.dumps(record) + "\n")
    f.flush()
    os.fsync(f.fileno())


def apply_moves(root: str | os.PathLike[str], plan: Iterable[dict[str, Any]]) -> Path:
    """Make the planned moves (entries whose ``dst`` is set) and return the move log's path.

    Every source and destination is checked to be under the root before anything moves
    (:class:`~fastwidgets._paths.OutsideRoot` otherwise).  A destination taken meanwhile
    gets the next free `` (k)`` name: no file is ever overwritten or deleted.  Each move is
    written to the log before it is made; :func:`read_moves` gives the moves made.
    """
    root = Path(root)
    todo = [(str(e["src"]), str(e["dst"])) for e in plan if e.get("dst")]
    for src, dst in todo:  # all checks first: a refused entry must not leave a half-apply
        resolve_under(root, src)
        resolve_under(root, dst)
        relative_name(root, src)
        relative_name(root, dst)
    state = resolve_under(root, STATE_DIR)
    state.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    log = state / f"moves-{stamp}.jsonl"
    taken: set[str] = set()
    with open(log, "x", encoding="utf-8") as f:
        _fsync_line(f, {"v": 1, "op": "apply", "t": round(time.time(), 3)})
        for src, planned in todo:
            if not os.path.lexists(root / src):
                warnings.warn(f"{src!r} is gone; not moved", stacklevel=2)
                continue
            dst = _free_name(root, planned, taken)
            taken.add(dst)
            parent = PurePosixPath(dst).parent
            made = [p for p in [parent, *parent.parents] if not (root / p).exists()]
            for folder in reversed(made):
                # Logged so undo can remove it again, if it is still empty.
                _fsync_line(f, {"mkdir": folder.as_posix()})
                resolve_under(root, folder).mkdir()
            _fsync_line(f, {"src": src, "dst": dst})
            os.rename(root / src, root / dst)
    return log


def _log_root(log_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    log = Path(log_path)
    if log.parent.name != STATE_DIR:
        raise ValueError(f"{log} is not a move log (those are in <root>/{STATE_DIR}/)")
    return log, log.parent.parent


def _read_log(log: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            warnings.warn(f"{log}: line {number} is torn; skipped", stacklevel=3)
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_moves(log_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """The ``(src, dst)`` moves a log records that were made (the file is at ``dst``)."""
    log, root = _log_root(log_path)
    return [
        (str(r["src"]), str(r["dst"]))
        for r in _read_log(log)
        if "src" in r
        and os.path.lexists(root / str(r["dst"]))
        and not os.path.lexists(root / str(r["src"]))
    ]


def undo_moves(log_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Move back the files a move log (``<root>/.fastwidgets/moves-*.jsonl``) moved.

    Newest move first.  A file no longer at its destination is skipped with a warning; if
    its old place is taken meanwhile it comes back under a free `` (k)`` name.  Folders the
    apply created are removed again when empty.  Returns the ``(from, to)`` moves made, in
    the form ``Decisions.record_moves`` takes.
    """
    log, root = _log_root(log_path)
    records = _read_log(log)
    moves = [(str(r["src"]), str(r["dst"])) for r in records if "src" in r and "dst" in r]
    for src, dst in moves:
        resolve_under(root, src)
        resolve_under(root, dst)
    done: list[tuple[str, str]] = []
    taken: set[str] = set()
    for src, dst in reversed(moves):
        if not os.path.lexists(root / dst):
            if not os.path.lexists(root / src):
                warnings.warn(f"{dst!r} is gone; cannot move it back to {src!r}", stacklevel=2)
            continue  # else the crash came before this move: the file never left
        back = _free_name(root, src, taken)
        taken.add(back)
        if back != src:
            warnings.warn(f"{src!r} is taken; {dst!r} moved back as {back!r}", stacklevel=2)
        (root / back).parent.mkdir(parents=True, exist_ok=True)
        os.rename(root / dst, root / back)
        done.append((dst, back))
    for r in reversed(records):
        if "mkdir" in r:
            folder = resolve_under(root, str(r["mkdir"]))
            with contextlib.suppress(OSError):  # rmdir only ever removes an empty folder
                folder.rmdir()
    return done
