"""What a supervisor reports about its children: states, per-child info, counts, and the tree.

Plain records built in the supervisor's thread and handed to callers (``which_children``,
``count_children``); :func:`describe_tree` asks level by level from the caller's thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pykka

from yesman_recovery.supervisors.refs import ChildRef, SupervisedRef


class ChildState(enum.StrEnum):
    """Where a child is in its life, as :meth:`Supervisor.which_children` reports it."""

    RUNNING = "running"
    RESTARTING = "restarting"
    """Exited (or failed to start) and waiting for its restart: backoff or a retry."""
    STOPPED = "stopped"
    """Not running and not going to be restarted unless asked (``restart_child``)."""


@dataclass(frozen=True)
class ChildInfo:
    """One child as seen by its supervisor at the moment it was asked."""

    id: str
    state: ChildState
    incarnation: int
    restarts: int
    uptime: float | None
    last_exit: str | None
    is_supervisor: bool
    ref: ChildRef | None
    """A :class:`SupervisedRef` (an actor) or a ``TaskRef`` (a coroutine child); None unless
    running."""


@dataclass(frozen=True)
class ChildCounts:
    """OTP's ``count_children``: specs, running children, and how many are supervisors."""

    specs: int
    active: int
    supervisors: int
    workers: int


def describe_tree(ref: pykka.ActorRef[Any], *, timeout: float = 2.0) -> dict[str, Any]:
    """The JSON-able tree below the supervisor ``ref`` (for ``/status``), asked level by level.

    Runs in the caller's thread: each supervisor is asked for its children with ``timeout``;
    a supervisor that does not answer shows as ``"state": "unresponsive"``.
    """
    return _describe(ref, "root", timeout)


def _describe(ref: pykka.ActorRef[Any], node_id: str, timeout: float) -> dict[str, Any]:
    try:
        infos: list[ChildInfo] = ref.proxy().which_children().get(timeout=timeout)
    except (pykka.Timeout, pykka.ActorDeadError):
        return {"id": node_id, "kind": "supervisor", "state": "unresponsive", "children": []}
    children: list[dict[str, Any]] = []
    for info in infos:
        node: dict[str, Any] = {
            "id": info.id,
            "kind": "supervisor" if info.is_supervisor else "worker",
            "state": info.state.value,
            "incarnation": info.incarnation,
            "restarts": info.restarts,
            "uptime_seconds": None if info.uptime is None else round(info.uptime, 3),
            "last_exit": info.last_exit,
        }
        if info.is_supervisor:
            sub = isinstance(info.ref, SupervisedRef) and _describe(info.ref, info.id, timeout)
            node["children"] = sub["children"] if sub else []
        children.append(node)
    return {"id": node_id, "kind": "supervisor", "state": "running", "children": children}
