"""Python's EMA matches the TypeScript one on the shared fixture (js/tests/fixtures/ema.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fastwidgets._smoothing import ema_debiased

FIXTURE = Path(__file__).resolve().parents[1] / "js" / "tests" / "fixtures" / "ema.json"
CASES = json.loads(FIXTURE.read_text())


def _num(v: float | str) -> float:
    return float(v)  # "NaN", "Infinity", "-Infinity" parse as floats


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ema_matches_the_shared_fixture(case: dict[str, object]) -> None:
    got = ema_debiased([_num(v) for v in case["input"]], float(case["weight"]))  # type: ignore[arg-type, attr-defined]
    want = np.array([_num(v) for v in case["expected"]], dtype=float)  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_ema_by_hand_and_bad_weight() -> None:
    w = 0.5
    # last: 0.5, 1.25 -> debiased 0.5/0.5 = 1.0, 1.25/0.75
    got = ema_debiased([1.0, 2.0], w)
    assert got[0] == 1.0 and math.isclose(got[1], 1.25 / 0.75)
    with pytest.raises(ValueError):
        ema_debiased([1.0], 1.5)
