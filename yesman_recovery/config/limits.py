"""Upper bounds of every duration, size and count the configuration accepts.

A value past its bound is a configuration error (exit 2 at ``config check`` and ``run``), not a
value that overflows later: ``command_timeout = 1e308`` once passed the check and then broke every
tmux call. The bounds are far above any useful setting; docs/configuration.md lists them
("Limits and bad input").
"""

from __future__ import annotations

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

MAX_DURATION = DAY
"""Any duration not listed below: restart windows, backoff, grace periods, maintenance."""
MAX_POLL_INTERVAL = HOUR
MIN_POLL_INTERVAL = 0.01
MAX_COMMAND_TIMEOUT = 5 * MINUTE
MAX_RETENTION_AGE = 3650 * DAY  # ten years
MAX_COUNT = 10_000
"""Restart intensities: ``max_restarts``, ``program_max_restarts``."""
MAX_KEEP_LAST = 10_000_000
MAX_SCROLLBACK_LINES = 100_000
MAX_SCOPE_BYTES = 1 << 40  # the store's own maximum map size
MAX_BACKOFF_MULTIPLIER = 100.0
MIN_STATE_SIZE = 64 * 1024
MAX_STATE_SIZE = 1 << 30
