"""What a health check is: a probe, an optional heal, its policy, and how results look.

A *probe* is a callable taking no arguments that returns a :class:`ProbeResult`, a ``bool``, or
raises (a failure with the exception's message). It may be ``async``: it then runs on the event
loop given with it (``CheckSpec.loop``), or in a private loop on the check's worker thread. A
*heal* is a :class:`HealAction`: a key (two checks whose heals share a key never heal at once), a
callable returning a :class:`HealResult`, a ``bool`` or ``None`` (success), and a description."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yesman_recovery.health.policy import CheckPolicy

if TYPE_CHECKING:
    import asyncio

TAIL_CHARS = 2000
"""Characters of a command's output kept with its result."""


@dataclass(frozen=True)
class ProbeResult:
    """One probe's answer: ``ok``, a one-line ``detail`` for people, and an output tail."""

    ok: bool
    detail: str = ""
    output: str = ""


@dataclass(frozen=True)
class HealResult:
    """How a heal ended: ``outcome`` is ``success``, ``failed``, ``timeout`` or ``handed_over``."""

    outcome: str
    detail: str = ""
    exit_status: int | None = None
    output: str = ""


ProbeFn = Callable[[], "ProbeResult | bool | Awaitable[ProbeResult | bool]"]
HealFn = Callable[[], "HealResult | bool | Awaitable[HealResult | bool | None] | None"]


@dataclass(frozen=True)
class HealAction:
    """A heal: ``run()`` does it; ``key`` names the action so two checks never run it at once."""

    key: str
    run: HealFn
    description: str = ""


@dataclass(frozen=True)
class CheckSpec:
    """One check: its ``name`` (the ``check`` label), ``kind``, probe, heal and policy.

    ``critical`` makes a failing check turn ``/healthz`` to 503. ``restart_on_escalation`` is a
    supervisor child path such as ``"tmux/watcher"`` restarted when the check escalates.
    ``loop`` is the event loop an ``async`` probe or heal runs on, as a task (the loop is never
    blocked); without one, an ``async`` callable runs in a private event loop on the check's
    worker thread (``asyncio.run``), which is what a daemon without a loop of its own does.
    """

    name: str
    probe: ProbeFn
    kind: str = "custom"
    policy: CheckPolicy = field(default_factory=CheckPolicy)
    heal: HealAction | None = None
    critical: bool = False
    restart_on_escalation: str | None = None
    loop: asyncio.AbstractEventLoop | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"`name` must be a non-empty string, got {self.name!r}")
        if not callable(self.probe):
            raise TypeError(f"check {self.name!r}: `probe` must be callable, got {self.probe!r}")


def is_async(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions (and callables whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with an async __call__
    )


def as_probe_result(value: object) -> ProbeResult:
    """Normalise what a probe returned; anything but a ProbeResult or bool is a failure."""
    if isinstance(value, ProbeResult):
        return value
    if isinstance(value, bool):
        return ProbeResult(value, "ok" if value else "probe returned False")
    return ProbeResult(False, f"probe returned {value!r}; expected a bool or ProbeResult")


def as_heal_result(value: object) -> HealResult:
    """Normalise what a heal returned: None/True success, False failed."""
    if isinstance(value, HealResult):
        return value
    if value is None or value is True:
        return HealResult("success")
    if value is False:
        return HealResult("failed", "heal returned False")
    return HealResult("failed", f"heal returned {value!r}; expected None, a bool or HealResult")


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The last ``limit`` characters of ``text``."""
    return text if len(text) <= limit else "…" + text[-limit:]
