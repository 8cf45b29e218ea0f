"""Supervision: child specs, the SupervisedActor base, the Supervisor actor, intensity,
backoff, clock and scheduler."""

from yesman_recovery.supervisors.actor import ChildExited, SupervisedActor, SupervisedRef
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
    "SupervisedRef",
    "Supervisor",
    "SystemClock",
    "ThreadScheduler",
    "Tick",
    "default_scheduler",
    "describe_tree",
]
