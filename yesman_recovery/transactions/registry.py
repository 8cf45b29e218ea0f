"""The registry of actions: named callables a transaction step may run or compensate with.

Steps are journaled by name because closures cannot be: after a crash, the process that
finishes a transaction finds its actions again by name in its registry. Register every action
before the transactions supervisor starts, so that recovery finds them.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from yesman_recovery.timeouts import call_with_timeout

ActionFn = Callable[["StepContext"], Any] | Callable[["StepContext"], Awaitable[Any]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class StepContext:
    """What an action (or its compensation) receives.

    ``key`` is the step's stable idempotency key, ``"<transaction>:<index>"``: the same for
    every attempt, for the compensation and after a restart; pass it to the outside world so
    that a repeated call is recognised. ``results`` holds the results of the earlier steps (in
    step order); in a compensation, ``result`` is this step's own result, or None when the step
    may have run without its result reaching the journal (a crash or a timeout).
    """

    transaction: str
    name: str
    index: int
    action: str
    args: dict[str, Any]
    key: str
    attempt: int
    results: tuple[Any, ...] = ()
    result: Any = None
    compensating: bool = False


@dataclass(frozen=True)
class Action:
    """One registered action: its callable, its compensation's name, and whether it is
    idempotent (safe to run again with the same key after a crash)."""

    name: str
    fn: ActionFn
    compensate: str | None
    idempotent: bool

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


class ActionRegistry:
    """Actions by name. Thread-safe; registering a name twice is an error.

    Use it as a decorator factory::

        actions = ActionRegistry()

        @actions.register("create_dir", compensate="remove_dir", idempotent=True)
        def create_dir(step: StepContext) -> dict[str, str]: ...
    """

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}  # guarded by _lock
        self._lock = threading.Lock()

    def register(
        self, name: str, *, compensate: str | None = None, idempotent: bool = False
    ) -> Callable[[F], F]:
        """Register the decorated callable (plain or ``async``) under ``name``.

        ``compensate`` names the action that undoes it (registered before or after this one);
        ``idempotent`` says it may safely run again with the same key.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"an action name must be a non-empty string, got {name!r}")
        if compensate is not None and (not isinstance(compensate, str) or not compensate):
            raise ValueError(f"`compensate` must be an action name or None, got {compensate!r}")

        def decorate(fn: F) -> F:
            self.add(Action(name, fn, compensate, bool(idempotent)))
            return fn

        return decorate

    def add(self, action: Action) -> None:
        """Register an :class:`Action`; ``ValueError`` if its name is taken."""
        if not callable(action.fn):
            raise ValueError(f"action {action.name!r}: {action.fn!r} is not callable")
        with self._lock:
            if action.name in self._actions:
                raise ValueError(
                    f"an action named {action.name!r} is already registered; pick another name"
                )
            self._actions[action.name] = action

    def get(self, name: str) -> Action:
        """The action called ``name``; ``LookupError`` naming the known ones if none."""
        with self._lock:
            found = self._actions.get(name)
            if found is None:
                raise LookupError(f"unknown action {name!r}; {self.describe_known()}")
            return found

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._actions

    def names(self) -> list[str]:
        """Registered names, sorted."""
        with self._lock:
            return sorted(self._actions)

    def describe_known(self) -> str:
        names = sorted(self._actions)
        return "registered: " + ", ".join(names) if names else "no action is registered"


def call(action: Action, step: StepContext, timeout: float | None) -> Any:
    """Run an action in the caller's thread; ``TimeoutError`` after ``timeout`` seconds.

    A plain callable with a timeout runs in a helper daemon thread: Python cannot stop a thread,
    so after a timeout the call may still be running, and its effect may still happen — the
    step is then treated as possibly executed and compensated. An ``async`` action runs on a
    fresh event loop with ``asyncio.wait_for``, which cancels it on timeout.
    """
    if action.is_async:
        coro = action.fn(step)
        return asyncio.run(_bounded(coro, timeout))
    if timeout is None:
        return action.fn(step)
    return call_with_timeout(
        lambda: action.fn(step), timeout, what=action.name, thread=f"step {step.key}"
    )


async def _bounded(coro: Awaitable[Any], timeout: float | None) -> Any:
    if timeout is None:
        return await coro
    try:
        return await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise TimeoutError(f"did not finish within {timeout} s") from None
