"""The cleaner's decisions: per-item state, undo/redo, and an append-only journal.

Each item has a decision ``(new_label, deleted)``: ``new_label`` is ``None`` when the label
is unchanged.  The state lives in numpy arrays (a few bytes per item, so 100,000 items cost
under a megabyte) plus running counts, so a decision and :meth:`Decisions.counts` are O(1).

Every action is appended to ``<root>/.fastwidgets/cleaner.jsonl`` (write, flush, fsync)
before the call returns, naming items by their relative name.  A new :class:`Decisions`
on the same journal replays it through the same code paths, so it ends with the same
state and the same undo/redo stacks: a kernel restart or a crash loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from fastwidgets._paths import STATE_DIR, open_nofollow, state_dir

JOURNAL_VERSION = 1
PAIR_VERDICTS = ("keep_both", "delete_left", "delete_right")

Item = int | str | os.PathLike[str]
ChangeHook = Callable[[list[int]], None]

# One item's change inside a step: (index, before code, before deleted, after code, after
# deleted).  A code is an index into ``Decisions._vocab``; -1 means "label unchanged".
_Change = tuple[int, int, bool, int, bool]


def journal_path(root: str | os.PathLike[str]) -> Path:
    """Where the cleaner keeps its journal for ``root``."""
    return Path(root) / STATE_DIR / "cleaner.jsonl"


class _Step:
    """One undoable action: item changes and, for a pair verdict, the verdict change.

    A step replayed from a journal whose items are all gone has no changes; it stays on
    the stacks (so later undo/redo records pop the same steps they popped when written)
    and undo/redo step over it.
    """

    __slots__ = ("changes", "pair")

    def __init__(
        self,
        changes: list[_Change],
        pair: tuple[tuple[int, int], str | None, str | None] | None = None,
    ) -> None:
        self.changes = changes
        self.pair = pair

    @property
    def empty(self) -> bool:
        return not self.changes and self.pair is None

    def indices(self) -> list[int]:
        """The items this step touches (both of a pair, even when only its verdict moved)."""
        out = [c[0] for c in self.changes]
        if self.pair is not None:
            out += [i for i in self.pair[0] if i not in out]
        return out


class Decisions:
    """The decision state of N items, with undo/redo over the whole history and a journal.

    ``names`` are the items' relative POSIX names, ``labels`` their original labels and
    ``classes`` the labels one may relabel to (default: the sorted set of ``labels``).
    ``journal`` is the journal file (see :func:`journal_path`); ``None`` keeps no journal.
    The journal's folder and the journal itself must not be symlinks, nor lead outside
    the root (the folder above ``.fastwidgets``): :class:`~fastwidgets._paths.SymlinkRefused`
    or :class:`~fastwidgets._paths.OutsideRoot`, naming the path, is raised at once.

    Actions return True when they changed something; an action that would leave the state
    as it is records nothing.  An unknown item raises ``KeyError``, an unknown label
    ``ValueError``; nothing is recorded then.  Callables in :attr:`on_change` are called
    with the changed indices after each recorded action (not during replay).  A lock makes
    reads from another thread (the debounced csv writer) see whole actions.
    """

    def __init__(
        self,
        names: Sequence[str],
        labels: Sequence[str],
        classes: Sequence[str] | None = None,
        journal: str | os.PathLike[str] | None = None,
    ) -> None:
        if len(names) != len(labels):
            raise ValueError(f"{len(names)} names but {len(labels)} labels")
        self.names: list[str] = list(names)
        self._index: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        if len(self._index) != len(self.names):
            dup = next(n for i, n in enumerate(self.names) if self._index[n] != i)
            raise ValueError(f"item names must be unique; {dup!r} appears twice")
        self.classes: list[str] = sorted(set(labels)) if classes is None else list(classes)
        # Original labels outside ``classes`` still need a code; they go after the classes.
        self._vocab: list[str] = list(self.classes)
        self._code: dict[str, int] = {c: k for k, c in enumerate(self._vocab)}
        for lab in dict.fromkeys(labels):
            if lab not in self._code:
                self._code[lab] = len(self._vocab)
                self._vocab.append(lab)
        self._vocab_arr: npt.NDArray[np.object_] = np.array([*self._vocab, None], dtype=object)
        n = len(self.names)
        self._orig = np.fromiter((self._code[lab] for lab in labels), dtype=np.int32, count=n)
        self._new = np.full(n, -1, dtype=np.int32)
        self._del = np.zeros(n, dtype=bool)
        self._n_deleted = 0
        self._n_relabelled = 0  # relabelled and not deleted
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._undo_real = 0  # non-empty steps on each stack, for can_undo/can_redo
        self._redo_real = 0
        self._pairs: dict[tuple[int, int], str] = {}  # by index: names change on moves
        self.on_change: list[ChangeHook] = []
        self.lock = threading.RLock()
        self.journal: Path | None = None if journal is None else Path(journal)
        self._needs_newline = False
        if self.journal is not None:
            self._replay(self.journal)

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.names)

    def index(self, item: Item) -> int:
        """The index of ``item`` (an index, or a relative name as str or Path).

        Raises ``KeyError`` naming the item when there is no such item.
        """
        if isinstance(item, (str, os.PathLike)):
            name = PurePosixPath(item) if isinstance(item, str) else PurePath(os.fspath(item))
            i = self._index.get(name.as_posix())
            if i is None:
                raise KeyError(
                    f"no item named {os.fspath(item)!r} (names are relative to the root)"
                )
            return i
        if isinstance(item, bool):
            raise KeyError(f"{item!r} is not an item (use an index or a relative name)")
        try:
            i = operator.index(item)
        except TypeError:
            raise KeyError(f"{item!r} is not an item (use an index or a relative name)") from None
        if not 0 <= i < len(self.names):
            raise KeyError(f"no item {i}: indices run from 0 to {len(self.names) - 1}")
        return i

    def label(self, i: int) -> str:
        """The original label of item ``i``."""
        return self._vocab[int(self._orig[i])]

    def new_label(self, i: int) -> str | None:
        """The new label of item ``i``, or None when unchanged."""
        code = int(self._new[i])
        return None if code < 0 else self._vocab[code]

    def final_label(self, i: int) -> str:
        """The label item ``i`` ends with (new if relabelled, else original)."""
        code = int(self._new[i])
        return self._vocab[code if code >= 0 else int(self._orig[i])]

    def deleted(self, i: int) -> bool:
        """Whether item ``i`` is marked deleted."""
        return bool(self._del[i])

    def state(self, i: int) -> tuple[str | None, bool]:
        """Item ``i``'s decision as ``(new_label, deleted)``."""
        return self.new_label(i), self.deleted(i)

    def deleted_mask(self) -> npt.NDArray[np.bool_]:
        """A copy of the deleted flags of every item."""
        with self.lock:
            return self._del.copy()

    def relabelled_mask(self) -> npt.NDArray[np.bool_]:
        """True where an item has a new label (deleted or not)."""
        with self.lock:
            return self._new >= 0

    def changed_mask(self) -> npt.NDArray[np.bool_]:
        """True where an item has any decision (relabelled or deleted)."""
        with self.lock:
            return (self._new >= 0) | self._del

    def changed_indices(self) -> npt.NDArray[np.intp]:
        """The indices of items with any decision, ascending."""
        return np.flatnonzero(self.changed_mask())

    def new_labels(self) -> list[str | None]:
        """Every item's new label (None where unchanged)."""
        with self.lock:
            out: list[str | None] = self._vocab_arr[self._new].tolist()  # -1 picks the None
            return out

    def final_labels(self) -> list[str]:
        """Every item's final label (new if relabelled, else original)."""
        with self.lock:
            codes = np.where(self._new >= 0, self._new, self._orig)
            out: list[str] = self._vocab_arr[codes].tolist()
            return out

    def counts(self) -> dict[str, int]:
        """``kept``, ``relabelled``, ``deleted`` and ``total``; relabelled+deleted is deleted."""
        with self.lock:
            total = len(self.names)
            return {
                "kept": total - self._n_relabelled - self._n_deleted,
                "relabelled": self._n_relabelled,
                "deleted": self._n_deleted,
                "total": total,
            }

    @property
    def pair_verdicts(self) -> dict[tuple[str, str], str]:
        """The verdict on each judged duplicate pair, keyed by ``(a name, b name)`` as given."""
        with self.lock:
            return {(self.names[a], self.names[b]): v for (a, b), v in self._pairs.items()}

    def pair_verdict(self, a: Item, b: Item) -> str | None:
        """The verdict on the pair ``(a, b)`` (in that order), or None."""
        return self._pairs.get((self.index(a), self.index(b)))

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` would change something."""
        return self._undo_real > 0

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` would change something."""
        return self._redo_real > 0

    # -- decisions ----------------------------------------------------------------------

    def relabel(self, item: Item, label: str) -> bool:
        """Give ``item`` the label ``label`` and undelete it (``label`` may be the original)."""
        with self.lock:
            i = self.index(item)
            code = self._label_code(i, label)
            changed = self._decide([(i, -1 if code == self._orig[i] else code, False)])
        return self._notify(changed)

    def delete(self, item: Item, deleted: bool = True) -> bool:
        """Mark ``item`` deleted (or, with ``deleted=False``, not deleted); keeps its label."""
        with self.lock:
            i = self.index(item)
            changed = self._decide([(i, int(self._new[i]), bool(deleted))])
        return self._notify(changed)

    def keep(self, item: Item) -> bool:
        """Clear ``item``'s decision: original label, not deleted."""
        with self.lock:
            i = self.index(item)
            changed = self._decide([(i, -1, False)])
        return self._notify(changed)

    def record_pair(self, a: Item, b: Item, verdict: str) -> bool:
        """Record a verdict on the duplicate pair ``(a, b)``, as one undoable action.

        ``delete_left`` deletes ``a`` and undeletes ``b``, ``delete_right`` the reverse,
        ``keep_both`` undeletes both; labels are kept.  Changing one's mind on a pair thus
        sets both items from the new verdict alone.  Returns True when something changed
        (the verdict or an item).
        """
        with self.lock:
            ia, ib = self.index(a), self.index(b)
            if ia == ib:
                raise ValueError(f"a pair needs two items, got {ia} twice")
            if verdict not in PAIR_VERDICTS:
                raise ValueError(f"unknown verdict {verdict!r}; expected one of {PAIR_VERDICTS}")
            wanted = [
                (ia, int(self._new[ia]), verdict == "delete_left"),
                (ib, int(self._new[ib]), verdict == "delete_right"),
            ]
            changed = self._decide(wanted, pair=((ia, ib), verdict))
        return self._notify(changed)

    def undo(self) -> bool:
        """Undo the last action (whatever page or filter it was made on)."""
        with self.lock:
            changed = self._travel(forward=False, write=True)
        return self._notify(changed)

    def redo(self) -> bool:
        """Redo the last undone action; a new decision clears what could be redone."""
        with self.lock:
            changed = self._travel(forward=True, write=True)
        return self._notify(changed)

    def record_moves(self, moves: Iterable[tuple[str, str]]) -> list[int]:
        """Rename items after their files moved: ``moves`` holds ``(old name, new name)``.

        Journaled (not undoable: :func:`fastwidgets._cleaned.undo_moves` reverses moves, and
        its result is recorded here too), so a replay renames at the same point of the
        history.  Unknown old names are ignored; returns the renamed indices.
        """
        with self.lock:
            pairs = [(str(src), str(dst)) for src, dst in moves]
            for src, dst in pairs:
                i, other = self._index.get(src), self._index.get(dst)
                if i is not None and other is not None and other != i:
                    raise ValueError(f"cannot rename {src!r} to {dst!r}: that name is item {other}")
            known = [(src, dst) for src, dst in pairs if src in self._index]
            if known:
                self._write({"op": "moved", "moves": [list(p) for p in known]})
            renamed = self._rename(known)
        self._notify(renamed)
        return renamed

    # -- internals ----------------------------------------------------------------------

    def _label_code(self, i: int, label: object) -> int:
        if isinstance(label, str):
            code = self._code.get(label)
            # The original label is always accepted (it means "unchanged").
            if code is not None and (code < len(self.classes) or code == self._orig[i]):
                return code
        raise ValueError(f"unknown label {label!r}; the classes are {self.classes}")

    def _decide(
        self,
        wanted: list[tuple[int, int, bool]],
        pair: tuple[tuple[int, int], str] | None = None,
    ) -> list[int]:
        """Record the step that makes the ``wanted`` states true; returns changed indices."""
        changes: list[_Change] = [
            (i, int(self._new[i]), bool(self._del[i]), code, dele)
            for i, code, dele in wanted
            if (int(self._new[i]), bool(self._del[i])) != (code, dele)
        ]
        pair_change = None
        if pair is not None:
            before = self._pairs.get(pair[0])
            if before != pair[1]:
                pair_change = (pair[0], before, pair[1])
        step = _Step(changes, pair_change)
        if step.empty:
            return []
        self._write(self._step_record(step))  # first: if the disk fails, nothing changed
        self._push(step)
        return step.indices()

    def _push(self, step: _Step) -> None:
        self._apply(step, forward=True)
        self._undo.append(step)
        self._undo_real += not step.empty
        self._redo.clear()
        self._redo_real = 0

    def _apply(self, step: _Step, forward: bool) -> None:
        for i, bcode, bdel, acode, adel in step.changes:
            code, dele = (acode, adel) if forward else (bcode, bdel)
            self._n_deleted += int(dele) - int(self._del[i])
            self._n_relabelled += int(code >= 0 and not dele) - int(
                self._new[i] >= 0 and not self._del[i]
            )
            self._new[i] = code
            self._del[i] = dele
        if step.pair is not None:
            key, before, after = step.pair
            verdict = after if forward else before
            if verdict is None:
                self._pairs.pop(key, None)
            else:
                self._pairs[key] = verdict

    def _travel(self, forward: bool, write: bool) -> list[int]:
        """Undo (``forward=False``) or redo one action; returns the changed indices.

        Live, ghost steps (see :class:`_Step`) on top are stepped over.  Each popped step
        is one journal record, so a replay, which pops one step per record, pops exactly
        the steps the live session popped.
        """
        src, dst = (self._redo, self._undo) if forward else (self._undo, self._redo)
        if write and not (self._redo_real if forward else self._undo_real):
            return []
        while src:
            if write:
                self._write({"op": "redo" if forward else "undo"})
            step = src.pop()
            self._apply(step, forward)
            dst.append(step)
            real = int(not step.empty)
            self._undo_real += real if forward else -real
            self._redo_real += -real if forward else real
            if not write or real:
                return step.indices()
        return []

    def _rename(self, pairs: list[tuple[str, str]]) -> list[int]:
        renamed: list[int] = []
        for src, dst in pairs:
            i = self._index.get(src)
            if i is None or (dst in self._index and self._index[dst] != i):
                continue
            del self._index[src]
            self._index[dst] = i
            self.names[i] = dst
            renamed.append(i)
        return renamed

    def _notify(self, indices: list[int]) -> bool:
        """Call the hooks (outside the lock, so a hook may wait on another thread)."""
        if not indices:
            return False
        # Every hook runs even if one fails (the csv writer must not starve the widget);
        # the first error is raised after: the action itself is already recorded.
        error: Exception | None = None
        for hook in list(self.on_change):
            try:
                hook(indices)
            except Exception as err:  # noqa: BLE001 - re-raised below
                error = error or err
        if error is not None:
            raise error
        return True

    # -- the journal --------------------------------------------------------------------

    def _label_json(self, code: int) -> str | None:
        return None if code < 0 else self._vocab[code]

    def _step_record(self, step: _Step) -> dict[str, Any]:
        if step.pair is not None:
            (ia, ib), _, verdict = step.pair
            return {
                "op": "pair",
                "a": self.names[ia],
                "b": self.names[ib],
                "verdict": verdict,
                "changes": [
                    [self.names[i], [self._label_json(bc), bd], [self._label_json(ac), ad]]
                    for i, bc, bd, ac, ad in step.changes
                ],
            }
        ((i, bc, bd, ac, ad),) = step.changes
        return {
            "op": "set",
            "name": self.names[i],
            "before": [self._label_json(bc), bd],
            "after": [self._label_json(ac), ad],
        }

    def _open_journal(self, journal: Path, flags: int, *, create: bool = False) -> int:
        """Open the journal, refusing a symlinked ``.fastwidgets`` or ``cleaner.jsonl``.

        The root is the folder above the journal's folder.  The journal is appended to
        and read on every session: following a planted link would let an append land on
        (or a replay read) a file outside the data.
        """
        root = journal.parent.parent
        if journal.parent.name == STATE_DIR:
            state_dir(root, create=create)  # refuses a symlinked .fastwidgets, by name
        elif create:
            journal.parent.mkdir(parents=True, exist_ok=True)
        return open_nofollow(root, journal, flags, 0o644)

    def _write(self, record: dict[str, Any]) -> None:
        if self.journal is None:
            return
        line = json.dumps({"v": JOURNAL_VERSION, **record, "t": round(time.time(), 3)})
        if self._needs_newline:
            # A torn last line from a crash: end it, so our record starts a line of its own.
            line = "\n" + line
        data = memoryview((line + "\n").encode("utf-8"))
        # Unbuffered, so that on failure nothing is left in a buffer to land later, and
        # the file is cut back to where it was: the action raises and is not recorded,
        # in this session or in any replay.
        fd = self._open_journal(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, create=True)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                raise
        finally:
            os.close(fd)
        self._needs_newline = False

    def _replay(self, path: Path) -> None:
        try:
            fd = self._open_journal(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        self._needs_newline = bool(data) and not data.endswith(b"\n")
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
                self._replay_one(record)
            except (ValueError, TypeError, KeyError, IndexError) as err:
                last = number == len(lines) or (number == len(lines) - 1 and not lines[-1])
                why = "torn (a crash mid-write?)" if last else f"unreadable ({err})"
                warnings.warn(f"{path}: line {number} is {why}; skipped", stacklevel=3)

    def _replayed_change(self, i: int, after: Any) -> list[_Change]:
        """Item ``i``'s change to the journaled ``after`` state (none if already there)."""
        label, dele = after
        dele = bool(dele)
        code = -1 if label is None else self._code.get(label)
        if code is not None and code == self._orig[i]:
            code = -1
        elif code is None or code >= len(self.classes):
            code = int(self._new[i])  # a label that is not a class now: keep the item's
        before = (int(self._new[i]), bool(self._del[i]))
        return [] if before == (code, dele) else [(i, *before, code, dele)]

    def _replay_one(self, rec: dict[str, Any]) -> None:
        op = rec.get("op")
        if op == "set":
            i = self._index.get(rec["name"])
            changes: list[_Change] = []
            if i is not None:
                changes += self._replayed_change(i, rec["after"])
            # Pushed even when the name is unknown, so later undo/redo records line up.
            self._push(_Step(changes))
        elif op == "pair":
            changes = []
            for name, _before, after in rec["changes"]:
                i = self._index.get(name)
                if i is not None:
                    changes += self._replayed_change(i, after)
            ia, ib = self._index.get(rec["a"]), self._index.get(rec["b"])
            pair = None
            if ia is not None and ib is not None and rec["verdict"] in PAIR_VERDICTS:
                pair = ((ia, ib), self._pairs.get((ia, ib)), rec["verdict"])
            self._push(_Step(changes, pair))
        elif op == "undo":
            self._travel(forward=False, write=False)
        elif op == "redo":
            self._travel(forward=True, write=False)
        elif op == "moved":
            self._rename([(str(s), str(d)) for s, d in rec["moves"]])
        # Unknown ops come from a newer version: ignored, and kept in the file.
