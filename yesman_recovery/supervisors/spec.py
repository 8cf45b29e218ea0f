"""Child and supervisor specifications: frozen records with OTP's names and defaults.

A :class:`ChildSpec` says how to start a child (a :class:`SupervisedActor` subclass, or a
coroutine run as a task on an event loop, and its arguments), when to restart it
(:class:`Restart`), how long it may take to stop (``shutdown``)
and, optionally, how long to wait before restarting it (:class:`Backoff`).
"""

from __future__ import annotations

import enum
import inspect
import math
import random
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from yesman_recovery.backoff import exponential_delay

if TYPE_CHECKING:
    import asyncio

    from yesman_recovery.supervisors.actor import SupervisedActor
    from yesman_recovery.supervisors.tasks import TaskWorker

ChildStart: TypeAlias = (
    "type[SupervisedActor] | type[TaskWorker] | Callable[..., Coroutine[Any, Any, Any]]"
)
"""What a :class:`ChildSpec` starts: an actor class, a task worker class or an async function."""


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
        return exponential_delay(n, self.initial, self.max, self.multiplier)

    def delay(self, n: int, rng: random.Random | None = None) -> float:
        """The delay before restart number ``n`` with jitter drawn from ``rng``."""
        base = self.base_delay(n)
        if self.jitter == 0.0:
            return base
        draw = (rng or random).random()
        return base * (1.0 + self.jitter * draw)


WORKER_SHUTDOWN = 5.0
"""Default ``shutdown`` of a child whose ``start`` names none (an async function)."""
WORKER_START_TIMEOUT = 10.0
"""Default ``start_timeout`` of a child whose ``start`` names none (an async function)."""


class _Unset(enum.Enum):
    """Marks an argument of :class:`ChildSpec` that was left out (``None`` means unbounded)."""

    UNSET = "unset"


_UNSET = _Unset.UNSET


@dataclass(frozen=True, init=False)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    ``start`` is one of:

    - a :class:`~yesman_recovery.supervisors.actor.SupervisedActor` subclass (a thread),
      constructed as ``start(*args, **kwargs)`` on every (re)start;
    - an async function, run as ``start(*args, **kwargs)`` in a task on ``loop``;
    - a :class:`~yesman_recovery.supervisors.tasks.TaskWorker` subclass, constructed likewise
      and run in a task on ``loop`` (``on_start``, ``run``, ``on_exit``).

    ``loop`` is for the last two only; left out, it is the event loop running where the spec is
    made (a spec of a coroutine child made outside a running loop must name its loop).

    ``shutdown`` is the seconds the child gets to stop before it is abandoned; ``None`` waits
    without limit. ``start_timeout`` is the seconds its start may take. Left out, both come from
    the ``start`` class (``default_shutdown``, ``default_start_timeout``): 5 s and 10 s for a
    worker; unbounded and 300 s for a
    :class:`~yesman_recovery.supervisors.supervisor.Supervisor`, whose own children are each
    bounded and which starts all of them in its ``on_start``.
    """

    id: str
    start: ChildStart
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    restart: Restart
    shutdown: float | None
    backoff: Backoff | None
    start_timeout: float
    loop: asyncio.AbstractEventLoop | None = field(compare=False)
    """The event loop of a coroutine child; None for an actor child."""

    def __init__(  # noqa: PLR0917 - positional order kept from OTP's child spec tuple
        self,
        id: str,
        start: ChildStart,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        restart: Restart | str = Restart.PERMANENT,
        shutdown: float | _Unset | None = _UNSET,
        backoff: Backoff | None = None,
        start_timeout: float | _Unset = _UNSET,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"`id` must be a non-empty string, got {id!r}")
        task = runs_as_task(start)
        if not task and not (isinstance(start, type) and hasattr(start, "spawn")):
            raise TypeError(
                f"child {id!r}: `start` must be a SupervisedActor subclass, a TaskWorker "
                f"subclass or an async function, got {start!r}"
            )
        if not isinstance(args, tuple | list):
            raise TypeError(f"child {id!r}: `args` must be a tuple, got {args!r}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise TypeError(f"child {id!r}: `kwargs` must be a mapping, got {kwargs!r}")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"child {id!r}: `backoff` must be a Backoff or None, got {backoff!r}")
        if isinstance(shutdown, _Unset):
            shutdown = getattr(start, "default_shutdown", WORKER_SHUTDOWN)
        if shutdown is not None and not shutdown > 0:
            raise ValueError(f"`shutdown` must be positive or None, got {shutdown}")
        if isinstance(start_timeout, _Unset):
            start_timeout = getattr(start, "default_start_timeout", WORKER_START_TIMEOUT)
        _positive("start_timeout", start_timeout)
        if task:
            loop = _task_loop(id, loop)
        elif loop is not None:
            raise ValueError(
                f"child {id!r}: `loop` is for coroutine children only; its `start` is an actor"
            )
        fields = {
            "id": id,
            "start": start,
            "args": tuple(args),
            "kwargs": {} if kwargs is None else kwargs,
            "restart": _restart(id, restart),
            "shutdown": shutdown,
            "backoff": backoff,
            "start_timeout": start_timeout,
            "loop": loop,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @property
    def runs_as_task(self) -> bool:
        """True iff the child is a coroutine (an async function or a TaskWorker) on ``loop``."""
        return self.loop is not None


def _restart(child_id: str, restart: str) -> Restart:
    try:
        return Restart(restart)
    except ValueError:
        allowed = ", ".join(r.value for r in Restart)
        raise ValueError(
            f"child {child_id!r}: `restart` must be one of {allowed}; got {restart!r}"
        ) from None


def runs_as_task(start: object) -> bool:
    """Whether ``start`` is an async function or a class that runs as a task (a TaskWorker)."""
    if isinstance(start, type):
        return bool(getattr(start, "runs_as_task", False))
    return inspect.iscoroutinefunction(start)


def _task_loop(child_id: str, loop: object) -> asyncio.AbstractEventLoop:
    import asyncio  # only coroutine children need it; the CLI never imports it

    if loop is None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            raise ValueError(
                f"child {child_id!r} is a coroutine child made outside a running event loop: "
                f"pass `loop=` (the loop its task runs on)"
            ) from None
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise TypeError(f"child {child_id!r}: `loop` must be an asyncio event loop, got {loop!r}")
    return loop


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number of seconds, got {value}")
