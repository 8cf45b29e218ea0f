"""Reloads of one app run one at a time and coalesced, so a storm of SIGHUPs costs a few.

A reload reads the files when it begins; a request made before a reload began is answered by
that reload, not run again. The last request is therefore always answered by a reload that
read the files after it: the last valid configuration wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ReloadQueue:
    """Reloads of one app, one at a time, coalesced: a request answered by a reload that began
    after it was made (so read the files after it) is not run again. A storm of SIGHUPs costs a
    few reloads, and the last one reads the files as they are last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held while a reload runs
        self._count = threading.Lock()  # guards the two numbers
        self._requested = 0
        self._covered = 0  # every request up to this one was answered by a reload begun after it
        self._answer: dict[str, Any] = {}

    @property
    def requested(self) -> int:
        """How many reloads were asked for so far."""
        with self._count:
            return self._requested

    def run(self, reload: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._count:
            self._requested += 1
            mine = self._requested
        with self._lock:
            with self._count:
                if self._covered >= mine:
                    return {**self._answer, "coalesced": True}
                begun = self._requested
            answer = reload()
            with self._count:
                self._covered, self._answer = begun, answer
            return answer
