"""yesman-recovery: an error-recovery runtime for long-running AI agent sessions in tmux.

The supervision tree is importable from here::

    from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, SupervisedActor, Supervisor

Those names are imported on first use (PEP 562), so ``import yesman_recovery.cli`` does not load
pykka and prometheus_client: the command line starts in tens of milliseconds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

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
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from yesman_recovery import supervisors

        return getattr(supervisors, name)
    raise AttributeError(f"module 'yesman_recovery' has no attribute {name!r}")
