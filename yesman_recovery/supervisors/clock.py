"""The clock lives in :mod:`yesman_recovery.clock` (a base module); kept importable from here."""

from __future__ import annotations

from yesman_recovery.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]
