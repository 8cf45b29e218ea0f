"""yesman-recovery: an error-recovery runtime for long-running AI agent sessions in tmux.

The supervision tree is importable from here::

    from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, SupervisedActor, Supervisor
"""

from __future__ import annotations

import logging

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
    "__version__",
]
