"""Supervision: child specs, the SupervisedActor base, the Supervisor actor, intensity,
backoff, clock and scheduler; coroutine children (``TaskWorker``, ``TaskRef``) on asyncio."""

from typing import TYPE_CHECKING, Any

from yesman_recovery.supervisors.actor import (
    ChildExited,
    ChildRef,
    SupervisedActor,
    SupervisedFuture,
    SupervisedRef,
)
from yesman_recovery.supervisors.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from yesman_recovery.supervisors.restart import ExitKind, ExitReason, IntensityWindow
from yesman_recovery.supervisors.scheduler import (
    ManualScheduler,
    Periodic,
    Scheduler,
    ThreadScheduler,
    Tick,
    default_scheduler,
)
from yesman_recovery.supervisors.spec import Backoff, ChildSpec, Restart, Strategy
from yesman_recovery.supervisors.supervisor import (
    ChildCounts,
    ChildInfo,
    ChildState,
    Supervisor,
    describe_tree,
)

__all__ = [
    "SYSTEM_CLOCK",
    "Backoff",
    "ChildCounts",
    "ChildExited",
    "ChildInfo",
    "ChildRef",
    "ChildSpec",
    "ChildState",
    "Clock",
    "ExitKind",
    "ExitReason",
    "IntensityWindow",
    "ManualClock",
    "ManualScheduler",
    "Periodic",
    "Restart",
    "Scheduler",
    "Strategy",
    "SupervisedActor",
    "SupervisedFuture",
    "SupervisedRef",
    "Supervisor",
    "SystemClock",
    "TaskRef",
    "TaskWorker",
    "ThreadScheduler",
    "Tick",
    "default_scheduler",
    "describe_tree",
]

if TYPE_CHECKING:
    from yesman_recovery.supervisors.tasks import TaskRef, TaskWorker


def __getattr__(name: str) -> Any:
    # Coroutine children import asyncio; a program (or the CLI) without them never pays for it.
    if name in ("TaskRef", "TaskWorker"):
        from yesman_recovery.supervisors import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
