"""What the parts of one open store share: its environment, metrics and clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from yesman_recovery.clock import Clock
from yesman_recovery.errors import CorruptRecordError, RecordNotFoundError, StoreError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage.envelope import DEFAULT_MAX_STATE_SIZE
from yesman_recovery.storage.environment import Environment

# A stored time_ns is wall-clock nanoseconds; float seconds keep microseconds exact enough.
NS = 1_000_000_000


class Outcome:
    """The outcome label of one measured operation; ``value`` may be changed inside it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = "ok"


class StoreContext:
    """The environment, metrics and clock of one ``Store``; raises once the store is closed."""

    def __init__(
        self,
        env: Environment,
        metrics: RecoveryMetrics,
        clock: Clock,
        max_state_size: int = DEFAULT_MAX_STATE_SIZE,
    ) -> None:
        self._env: Environment | None = env  # None iff the owning Store was closed
        self.path = env.path
        self.metrics = metrics
        self.clock = clock
        self.max_state_size = max_state_size  # bytes of JSON a record may hold (read or write)

    @property
    def env(self) -> Environment:
        env = self._env
        if env is None:
            raise StoreError(f"the store in {self.path} is closed; open it again with open_store()")
        return env

    def detach(self) -> Environment | None:
        """Forget the environment (the store is closing); the environment, if still attached."""
        env, self._env = self._env, None
        return env

    def now_ns(self) -> int:
        """The clock's wall time in nanoseconds."""
        return int(self.clock.time() * NS)

    @contextmanager
    def measure(self, op: str) -> Iterator[Outcome]:
        """Time ``op`` into the duration histogram and count it by outcome.

        The outcome is ``ok`` unless the block sets another or raises (``corrupt``,
        ``not_found``, ``error``).
        """
        outcome = Outcome()
        start = self.clock.monotonic()
        try:
            yield outcome
        except CorruptRecordError:
            outcome.value = "corrupt"
            raise
        except RecordNotFoundError:
            outcome.value = "not_found"
            raise
        except BaseException:
            outcome.value = "error"
            raise
        finally:
            self.metrics.checkpoint_duration.labels(op).observe(self.clock.monotonic() - start)
            self.metrics.checkpoints.labels(op, outcome.value).inc()

    def found_corrupt(self, key: bytes) -> bool:
        """Count a corrupt record once per process; True iff it was not counted before."""
        reported = self.env.reported_corrupt
        if key in reported:
            return False
        reported.add(key)
        self.metrics.checkpoint_corruptions.inc()
        return True
