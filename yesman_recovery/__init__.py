"""yesman-recovery: an error-recovery runtime for long-running AI agent sessions in tmux.

The supervision tree is importable from here::

    from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, SupervisedActor, Supervisor

and so are coroutine children (``TaskWorker``) and the asyncio bridge (``aio``), imported on
first use so that a program without asyncio never loads it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

# Imported after __version__: the metric definitions read it.
from yesman_recovery.supervisors import (  # noqa: E402
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
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
