"""``Resilience``: the retry policies and circuit breakers of one process, shared by name.

Code looks them up by name — ``policy("model-api")``, ``breaker("model-api")`` — so operators
tune them in ``[retry.<name>]`` and ``[breakers.<name>]`` tables without code changes. Every
named policy and breaker is created when the registry is, so its metric series exist (at 0)
before the first call. The module-level functions use a process-wide registry that
:func:`configure` fills from a configuration file; ``RecoveryApp`` has its own
(``app.resilience``), recording transitions in its audit trail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yesman_recovery.errors import UnknownNameError
from yesman_recovery.resilience.breakers import AuditSink, CircuitBreaker
from yesman_recovery.resilience.circuit import BreakerPolicy
from yesman_recovery.resilience.compose import NO_FALLBACK, Resilient
from yesman_recovery.resilience.retry import Retry, RetryPolicy

if TYPE_CHECKING:
    from yesman_recovery.config import Config
    from yesman_recovery.metrics.definitions import RecoveryMetrics

__all__ = ["Resilience", "breaker", "configure", "default_resilience", "policy"]


class Resilience:
    """Named :class:`Retry` policies and :class:`CircuitBreaker` s; any thread may use it."""

    def __init__(
        self,
        policies: Mapping[str, RetryPolicy] | None = None,
        breakers: Mapping[str, BreakerPolicy] | None = None,
        *,
        metrics: RecoveryMetrics | None = None,
        audit: AuditSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if metrics is None:
            from yesman_recovery.metrics.definitions import default_metrics

            metrics = default_metrics()
        self.metrics = metrics
        self.audit = audit
        self._clock = clock
        self._lock = threading.Lock()  # guards the two dicts (lookups read them lock-free)
        self._policies: dict[str, Retry] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        for name, retry_spec in (policies or {}).items():
            self.add_policy(name, retry_spec)
        for name, breaker_spec in (breakers or {}).items():
            self.add_breaker(name, breaker_spec)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        metrics: RecoveryMetrics | None = None,
        audit: AuditSink | None = None,
    ) -> Resilience:
        """The policies and breakers of a validated configuration's tables."""
        return cls(config.retry, config.breakers, metrics=metrics, audit=audit)

    # --- creating -----------------------------------------------------------------------

    def add_policy(self, name: str, spec: RetryPolicy | None = None, **options: Any) -> Retry:
        """Create the policy ``name`` (``ValueError`` if it exists); ``options`` go to
        :class:`Retry` (``wait=``, ``sleep=``, ``budget=``...)."""
        with self._lock:
            if name in self._policies:
                raise ValueError(f"a retry policy named {name!r} already exists")
            options.setdefault("clock", self._clock)
            retry = Retry(name, spec, metrics=self.metrics, **options)
            self._policies[name] = retry
        return retry

    def add_breaker(self, name: str, spec: BreakerPolicy | None = None) -> CircuitBreaker:
        """Create the breaker ``name`` (``ValueError`` if it exists)."""
        with self._lock:
            if name in self._breakers:
                raise ValueError(f"a circuit breaker named {name!r} already exists")
            created = CircuitBreaker(
                name, spec, metrics=self.metrics, audit=self.audit, clock=self._clock
            )
            self._breakers[name] = created
        return created

    def reconfigure(
        self,
        policies: Mapping[str, RetryPolicy],
        breakers: Mapping[str, BreakerPolicy],
        changed_policies: Iterable[str],
        changed_breakers: Iterable[str],
    ) -> None:
        """A reload: the named policies and breakers are dropped, then re-created if the new
        tables still have them. Unnamed ones keep their state (a breaker stays open); a caller
        holding a dropped object keeps using it until it looks the name up again."""
        for name in changed_policies:
            with self._lock:
                self._policies.pop(name, None)
            if name in policies:
                self.add_policy(name, policies[name])
        for name in changed_breakers:
            with self._lock:
                self._breakers.pop(name, None)
            if name in breakers:
                self.add_breaker(name, breakers[name])

    # --- looking up ---------------------------------------------------------------------

    def policy(self, name: str) -> Retry:
        """The retry policy ``name``; :class:`UnknownNameError` lists the known ones."""
        found = self._policies.get(name)
        if found is None:
            raise UnknownNameError(_unknown("retry policy", name, self._policies, "retry"))
        return found

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker ``name``; :class:`UnknownNameError` lists the known ones."""
        found = self._breakers.get(name)
        if found is None:
            raise UnknownNameError(_unknown("circuit breaker", name, self._breakers, "breakers"))
        return found

    def resilient(
        self,
        policy: str | None = None,
        breaker: str | None = None,
        *,
        fallback: Any = NO_FALLBACK,
        fallback_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> Resilient:
        """Retry → breaker → fallback by names: ``@res.resilient("api", "api", fallback=None)``."""
        return Resilient(
            retry=None if policy is None else self.policy(policy),
            breaker=None if breaker is None else self.breaker(breaker),
            fallback=fallback,
            fallback_on=fallback_on,
        )

    def policies(self) -> list[Retry]:
        """Every policy, by name."""
        return [self._policies[n] for n in sorted(self._policies)]

    def breakers(self) -> list[CircuitBreaker]:
        """Every breaker, by name."""
        return [self._breakers[n] for n in sorted(self._breakers)]

    def describe_breakers(self) -> list[dict[str, Any]]:
        """Every breaker's :meth:`CircuitBreaker.describe`, by name (``/status``)."""
        return [b.describe() for b in self.breakers()]


def _unknown(what: str, name: str, known: Mapping[str, object], table: str) -> str:
    names = ", ".join(sorted(known)) or "none"
    return (
        f"no {what} named {name!r}; known: {names} "
        f"(add a [{table}.{name}] table to the configuration to define it)"
    )


_default: Resilience | None = None
_default_lock = threading.Lock()


def default_resilience() -> Resilience:
    """The process-wide registry (empty until :func:`configure`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Resilience()
        return _default


def configure(
    source: Config | Path | str | None = None, *, metrics: RecoveryMetrics | None = None
) -> Resilience:
    """Fill the process-wide registry from a configuration file (or a loaded :class:`Config`).

    Raises ``ConfigError`` (a ``ValueError``) naming the file, key, value and what is allowed.
    Replaces the registry: look policies up again after calling it.
    """
    global _default
    from yesman_recovery.config import Config, load_config

    config = source if isinstance(source, Config) else load_config(source)
    made = Resilience.from_config(config, metrics=metrics)
    with _default_lock:
        _default = made
    return made


def policy(name: str) -> Retry:
    """The process-wide retry policy ``name`` (see :func:`configure`)."""
    return default_resilience().policy(name)


def breaker(name: str) -> CircuitBreaker:
    """The process-wide circuit breaker ``name`` (see :func:`configure`)."""
    return default_resilience().breaker(name)
