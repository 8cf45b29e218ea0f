"""The daemon's side of the breakers: audit records in its store, commands on its control channel.

``breakers.list`` answers every breaker's figures; ``breakers.open``, ``breakers.close``,
``breakers.reset`` and ``breakers.disable`` take ``{"name": NAME}`` and answer the breaker's
figures after the change. An unknown name is refused with the known names (``LookupError``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from yesman_recovery.resilience.breakers import CircuitBreaker

if TYPE_CHECKING:
    from yesman_recovery.resilience.registry import Resilience
    from yesman_recovery.storage import Store

__all__ = ["StoreAudit", "register_breaker_commands"]


class CommandRegistry(Protocol):
    """What :class:`yesman_recovery.control.ControlServer` offers to subsystems."""

    def register(self, command: str, handler: Callable[[dict[str, Any]], Any]) -> None: ...


class StoreAudit:
    """An audit sink writing to whatever store ``store()`` returns now (none: not recorded).

    ``RecoveryApp`` creates its breakers before it opens the store, and closes the store before
    a late transition could be recorded; this resolves the store at each transition.
    """

    def __init__(self, store: Callable[[], Store | None]) -> None:
        self._store = store

    def append(
        self, kind: str, subject: str, *, detail: str = "", action: str = "", outcome: str = ""
    ) -> str:
        store = self._store()
        if store is None:
            return ""
        return store.audit.append(kind, subject, detail=detail, action=action, outcome=outcome)


OVERRIDES: dict[str, tuple[Callable[[CircuitBreaker, str], None], str]] = {
    "open": (CircuitBreaker.force_open, "forced open by `yesman-recovery breakers open`"),
    "close": (CircuitBreaker.close, "closed by `yesman-recovery breakers close`"),
    "reset": (CircuitBreaker.reset, "reset by `yesman-recovery breakers reset`"),
    "disable": (CircuitBreaker.disable, "disabled by `yesman-recovery breakers disable`"),
}


def register_breaker_commands(control: CommandRegistry, resilience: Resilience) -> None:
    """Serve ``breakers.list`` and ``breakers.open|close|reset|disable`` from ``resilience``."""
    control.register("breakers.list", lambda _args: resilience.describe_breakers())
    for verb, (method, reason) in OVERRIDES.items():
        control.register(f"breakers.{verb}", _override(resilience, method, reason))


def _override(
    resilience: Resilience, method: Callable[[CircuitBreaker, str], None], reason: str
) -> Callable[[dict[str, Any]], Any]:
    def handle(args: dict[str, Any]) -> Any:
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError('args must hold the breaker\'s "name"')
        found = resilience.breaker(name)  # UnknownNameError (a LookupError) names the known
        method(found, reason)
        return found.describe()

    return handle
