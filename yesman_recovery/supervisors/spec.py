"""Child and supervisor specifications: frozen records with OTP's names and defaults.

A :class:`ChildSpec` says how to start a child (a :class:`SupervisedActor` subclass and its
arguments), when to restart it (:class:`Restart`), how long it may take to stop (``shutdown``)
and, optionally, how long to wait before restarting it (:class:`Backoff`).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yesman_recovery.supervisors.actor import SupervisedActor


class Strategy(enum.StrEnum):
    """What a supervisor restarts when one child dies (OTP's restart strategies)."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that died."""
    ONE_FOR_ALL = "one_for_all"
    """Every child: the others are stopped in reverse start order, then all start in order."""
    REST_FOR_ONE = "rest_for_one"
    """The child that died and every child started after it."""


class Restart(enum.StrEnum):
    """When a child that exited is restarted (OTP's restart types)."""

    PERMANENT = "permanent"
    """Always."""
    TRANSIENT = "transient"
    """Only after an abnormal exit (a crash or a failed start), not after a normal stop."""
    TEMPORARY = "temporary"
    """Never; its spec is dropped when it exits."""


@dataclass(frozen=True)
class Backoff:
    """Delay before restarting a child: ``min(max, initial * multiplier**(n-1))`` plus jitter.

    ``n`` counts consecutive restarts of the child and goes back to 1 once the child has stayed
    up for ``reset_after`` seconds. ``jitter`` is the fraction of the delay added at random
    (Akka's ``randomFactor``): 0.2 makes a 1 s delay land in [1.0, 1.2) s.
    """

    initial: float = 0.1
    max: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        _positive("initial", self.initial)
        _positive("max", self.max)
        if self.max < self.initial:
            raise ValueError(f"`max` ({self.max}) must be at least `initial` ({self.initial})")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1.0):
            raise ValueError(f"`multiplier` must be >= 1, got {self.multiplier}")
        if not (math.isfinite(self.jitter) and 0.0 <= self.jitter <= 1.0):
            raise ValueError(f"`jitter` must be between 0 and 1, got {self.jitter}")
        _positive("reset_after", self.reset_after)

    def base_delay(self, n: int) -> float:
        """The delay before restart number ``n`` (1-based), without jitter."""
        if n < 1:
            raise ValueError(f"`n` must be >= 1, got {n}")
        # Compare exponents instead of computing huge powers: multiplier**(n-1) overflows fast.
        if self.multiplier > 1.0:
            limit = math.log(self.max / self.initial) / math.log(self.multiplier)
            if n - 1 >= limit:
                return self.max
        return min(self.max, self.initial * self.multiplier ** (n - 1))

    def delay(self, n: int, rng: random.Random | None = None) -> float:
        """The delay before restart number ``n`` with jitter drawn from ``rng``."""
        base = self.base_delay(n)
        if self.jitter == 0.0:
            return base
        draw = (rng or random).random()
        return base * (1.0 + self.jitter * draw)


class _Default(float):
    """A default that depends on whether the child is a supervisor (see :class:`ChildSpec`)."""


_DEFAULT_SHUTDOWN = _Default(5.0)
_DEFAULT_START_TIMEOUT = _Default(10.0)
SUPERVISOR_START_TIMEOUT = 300.0
"""Default ``start_timeout`` of a supervisor child: its start is the sum of its children's."""


@dataclass(frozen=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    ``start`` is a :class:`SupervisedActor` subclass, constructed as
    ``start(*args, **kwargs)`` on every (re)start. ``shutdown`` is the seconds the child gets to
    stop before it is abandoned; ``None`` waits without limit. Left out, it is 5 s for a worker
    and ``None`` for a :class:`~yesman_recovery.supervisors.supervisor.Supervisor` (whose own
    children are each bounded, so its stop is bounded too). ``start_timeout`` is the seconds its
    ``on_start`` may take; left out, 10 s for a worker and 300 s for a supervisor (which starts
    all its children in its ``on_start``).
    """

    id: str
    start: type[SupervisedActor]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = _DEFAULT_SHUTDOWN
    backoff: Backoff | None = None
    start_timeout: float = _DEFAULT_START_TIMEOUT

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"`id` must be a non-empty string, got {self.id!r}")
        if self.shutdown is not None and not self.shutdown > 0:
            raise ValueError(f"`shutdown` must be positive or None, got {self.shutdown}")
        _positive("start_timeout", self.start_timeout)
        object.__setattr__(self, "restart", Restart(self.restart))
        if isinstance(self.shutdown, _Default) or isinstance(self.start_timeout, _Default):
            from yesman_recovery.supervisors.supervisor import Supervisor

            is_sup = isinstance(self.start, type) and issubclass(self.start, Supervisor)
            if isinstance(self.shutdown, _Default):
                object.__setattr__(self, "shutdown", None if is_sup else float(self.shutdown))
            if isinstance(self.start_timeout, _Default):
                timeout = SUPERVISOR_START_TIMEOUT if is_sup else float(self.start_timeout)
                object.__setattr__(self, "start_timeout", timeout)


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number of seconds, got {value}")
