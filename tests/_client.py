"""A reference browser-side store in Python, following js/src/core/store.ts's rules.

The protocol tests use it to check that what Python sends is enough to rebuild the data
exactly, lost messages included.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Client:
    def __init__(self) -> None:
        self.x: dict[str, list[float]] = {}
        self.y: dict[str, list[float]] = {}
        self.count: dict[str, int] = {}
        self.resync_requested = False

    def apply(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        if content["type"] == "reset":
            self.x, self.y, self.count = {}, {}, {}
            self.resync_requested = False
        for i, entry in enumerate(content["series"]):
            name, start, n = entry["name"], entry["start"], entry["count"]
            xs = np.frombuffer(buffers[2 * i], dtype="<f8")
            ys = np.frombuffer(buffers[2 * i + 1], dtype="<f8")
            assert xs.size == ys.size == n
            have = self.count.get(name, 0)
            if start > have:
                self.resync_requested = True
            skip = max(0, have - start)
            self.x.setdefault(name, []).extend(xs[skip:].tolist())
            self.y.setdefault(name, []).extend(ys[skip:].tolist())
            self.count[name] = max(have, start + n)
