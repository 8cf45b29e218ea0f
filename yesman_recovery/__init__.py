"""yesman-recovery: an error-recovery runtime for long-running AI agent sessions in tmux.

The supervision tree is importable from here::

    from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, SupervisedActor, Supervisor
"""

from __future__ import annotations

import logging

from yesman_recovery.supervisors import (
    Backoff,
    ChildSpec,
    Restart,
    Strategy,
    SupervisedActor,
    Supervisor,
)
from yesman_recovery.version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Backoff",
    "ChildSpec",
    "Restart",
    "Strategy",
    "SupervisedActor",
    "Supervisor",
    "__version__",
]
