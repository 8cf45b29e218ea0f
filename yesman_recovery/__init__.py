"""yesman-recovery: an error-recovery runtime for long-running AI agent sessions in tmux.

The supervision tree is importable from here::

    from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, SupervisedActor, Supervisor

and so are coroutine children (``TaskWorker``) and the asyncio bridge (``aio``), imported on
first use so that a program without asyncio never loads it.
Those names are imported on first use (PEP 562), so ``import yesman_recovery.cli`` does not load
pykka and prometheus_client: the command line starts in tens of milliseconds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from yesman_recovery.version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from yesman_recovery.supervisors import (
        Backoff,
        ChildSpec,
        Restart,
        Strategy,
        SupervisedActor,
        Supervisor,
    )

__all__ = [
    "Backoff",
    "ChildSpec",
    "Restart",
    "Strategy",
    "SupervisedActor",
    "Supervisor",
    "TaskWorker",
    "__version__",
    "aio",
]

if TYPE_CHECKING:
    from yesman_recovery import aio
    from yesman_recovery.supervisors.tasks import TaskWorker


def __getattr__(name: str) -> Any:
    if name == "TaskWorker":
        from yesman_recovery.supervisors.tasks import TaskWorker

        return TaskWorker
    if name == "aio":
        import importlib

        return importlib.import_module("yesman_recovery.aio")
    if name in __all__:
        from yesman_recovery import supervisors

        return getattr(supervisors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
