"""A clock the tests move by hand (the stream's throttle and timers read it)."""

from __future__ import annotations


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t
