"""Injected clocks: every timestamp in the simulator comes from one of these, never from time.time().

A clock answers `now()` in whole Unix seconds, as the SDK's types expect.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Callable, Protocol

from ftsim.pricing.planning.bounds import MAX_AS_OF

__all__ = ["Clock", "ManualClock", "ScaledClock", "DEFAULT_START", "CLOCK_END", "to_micros"]

# 2026-11-01T00:00:00Z: the default start of a manual clock, so that the same seed gives the same world.
DEFAULT_START = 1_793_491_200
# The last second the simulated world may reach: the end of the planner's last as-of date. Past the year 9999 no
# date can be written, and a world whose clock got there answered every request with a 500, for good (the clock
# never moves back); the planner's bound leaves its horizons inside the calendar too.
CLOCK_END = int(dt.datetime.combine(MAX_AS_OF, dt.time(23, 59, 59), dt.timezone.utc).timestamp())


class Clock(Protocol):
    """Anything with `now()` (Unix seconds), `advance(seconds)` and `set(when)`."""

    def now(self) -> int:
        """The simulated present, in whole Unix seconds."""
        ...

    def advance(self, seconds: float) -> int:
        """Move forward by `seconds`; the new present."""
        ...

    def set(self, when: float) -> None:
        """Jump to `when` if it is ahead (resuming from a persisted clock); never moves back."""
        ...


_MICRO = 1_000_000


def to_micros(seconds: float) -> int:
    """`seconds` as whole microseconds (the manual clock's resolution)."""
    return round(seconds * _MICRO)


class ManualClock:
    """A clock that moves only when told to (speed 0).

    It counts whole microseconds, not a float of seconds: ten advances of 0.1 s must land where one of 1 s does
    (a float sum falls short of the second, and the world would differ with how the clock was advanced)."""

    speed = 0.0

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._micros = to_micros(start)
        self._lock = threading.Lock()

    def now(self) -> int:
        """Current simulated time, in whole seconds."""
        return self._micros // _MICRO

    def micros(self) -> int:
        """Current simulated time, in whole microseconds (what `Backend.clock_room` measures the room to the end in)."""
        return self._micros

    def advance(self, seconds: float) -> int:
        """Move the clock forward; negative moves are refused."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._micros += to_micros(seconds)
            return self._micros // _MICRO

    def advance_micros(self, micros: int) -> int:
        """Move forward by whole microseconds (exact where a float of seconds is not: past about 4e9 s)."""
        if micros < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._micros += micros
            return self._micros // _MICRO

    def set(self, when: float) -> None:
        """Jump to `when` if it is ahead (used to resume from a persisted clock)."""
        with self._lock:
            self._micros = max(self._micros, to_micros(when))


class ScaledClock:
    """Simulated time running `speed` simulated seconds per real second, plus manual advances."""

    def __init__(self, start: float, speed: float, real: Callable[[], float] = time.monotonic) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = float(speed)
        self._real = real
        self._anchor_real = real()
        self._anchor_sim = float(start)
        self._lock = threading.Lock()

    def now(self) -> int:
        """Current simulated time, in whole seconds."""
        with self._lock:
            return int(self._anchor_sim + (self._real() - self._anchor_real) * self.speed)

    def advance(self, seconds: float) -> int:
        """Jump forward by `seconds` on top of the running time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._anchor_sim += seconds
        return self.now()

    def set(self, when: float) -> None:
        """Jump to `when` if it is ahead."""
        with self._lock:
            current = self._anchor_sim + (self._real() - self._anchor_real) * self.speed
            if when > current:
                self._anchor_sim += when - current
