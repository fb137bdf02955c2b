"""The wire format, pinned in a fixture that the TypeScript tests decode too.

`js/tests/fixtures/protocol.json` holds messages made by `SeriesStream` (two deltas, the
second after a lost one, then the reset that answers a resync, and a snapshot).  This test
checks Python still produces exactly those bytes; `js/tests/crosslang.test.ts` checks the
browser's decoder and store rebuild the expected series from them.  Regenerate with
`FW_UPDATE_FIXTURES=1 pytest tests/test_protocol_fixture.py` after a deliberate change.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

from fastwidgets._stream import SeriesStream

FIXTURE = Path(__file__).resolve().parents[1] / "js" / "tests" / "fixtures" / "protocol.json"


def _b64(buffers: list[bytes]) -> list[str]:
    return [base64.b64encode(b).decode() for b in buffers]


def _plain(values: Any) -> list[float | str]:
    return [
        v if math.isfinite(v) else str(v).replace("inf", "Infinity").replace("nan", "NaN")
        for v in values
    ]


def build() -> dict[str, Any]:
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    snaps: list[dict[str, Any]] = []
    stream = SeriesStream(
        lambda c, b: sent.append((c, b)),
        snaps.append,
        schedule=lambda delay, fn: None,
        snapshot_buckets=2,
    )
    stream.extend("train_loss", [0, 1, 2], [2.0, math.nan, 1.5])
    stream.flush()
    stream.extend("train_loss", [3, 4], [math.inf, 1.0])
    stream.extend("lr", [0, 1, 2, 3, 4], [1e-3, 2e-3, 3e-3, 4e-3, 5e-3])
    stream.flush()
    stream.extend("train_loss", [5], [-math.inf])
    stream.flush()
    stream.handle_message({"type": "resync"})
    stream.publish_state()
    messages = [{"content": c, "buffers": _b64(b)} for c, b in sent]
    snap = snaps[-1]
    return {
        "messages": messages,
        "lost": [1],  # the browser test drops messages[1] and must ask for a resync
        "snapshot": {
            "version": snap["version"],
            "series": [
                {
                    "name": s["name"],
                    "total": s["total"],
                    "x": _b64([s["x"]])[0],
                    "y": _b64([s["y"]])[0],
                }
                for s in snap["series"]
            ],
        },
        "expected": {
            s.name: {"x": _plain(s.x.tolist()), "y": _plain(s.y.tolist())} for s in stream
        },
    }


def test_python_produces_the_pinned_wire_format() -> None:
    data = build()
    if os.environ.get("FW_UPDATE_FIXTURES") == "1":
        FIXTURE.write_text(json.dumps(data, indent=1) + "\n")
    assert json.loads(FIXTURE.read_text()) == json.loads(json.dumps(data))
