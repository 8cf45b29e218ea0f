"""The one exception hierarchy of yesman-recovery.

Every error the package raises on purpose derives from :class:`RecoveryError`. Errors caused by
what a user wrote (a config file, a CLI argument, a state that is not JSON) also derive from
:class:`ValueError` and say how to fix the input.
"""

from __future__ import annotations


class RecoveryError(Exception):
    """Base class of every error raised on purpose by yesman-recovery."""


class ConfigError(RecoveryError, ValueError):
    """A configuration file or value is invalid; the message names file, key, value and fix."""


# --- supervision -------------------------------------------------------------------------------


class SupervisorError(RecoveryError):
    """A supervisor operation was misused or could not be carried out."""


class StartError(SupervisorError):
    """An actor's ``on_start`` raised or did not finish within its start timeout."""


class RestartIntensityExceeded(SupervisorError):
    """A supervisor restarted children more than ``max_restarts`` times in ``max_seconds``."""


class ActorInterrupted(RecoveryError):
    """A ``SystemExit`` or ``KeyboardInterrupt`` raised inside an actor, turned into a crash.

    Pykka stops *every* actor in the process when a handler raises a ``BaseException``; a
    supervised actor converts it into this exception so only that actor dies and its supervisor
    decides what happens next.
    """


# --- storage -----------------------------------------------------------------------------------


class StoreError(RecoveryError):
    """The checkpoint store cannot be opened, read or written."""


class CorruptRecordError(StoreError):
    """A stored record failed its checksum or could not be decoded; the message names it."""


class DamagedStoreError(StoreError):
    """The store's data file is truncated or not an LMDB file; the message says what to do."""


class SchemaError(StoreError):
    """The store was written by a newer schema than this version understands."""


class RecordNotFoundError(StoreError, LookupError):
    """No record has the given id (never created, deleted, or pruned by retention)."""


# --- tmux --------------------------------------------------------------------------------------


class TmuxError(RecoveryError):
    """A tmux command failed; the message holds tmux's own words."""

    output = ""
    """What tmux printed before it stopped (the output of a chain's earlier commands)."""


class TmuxTimeout(TmuxError):
    """tmux did not answer within the command timeout: the server is unresponsive (frozen)."""


class TmuxServerGone(TmuxError):
    """No tmux server is running on the socket."""


class SpecError(RecoveryError, ValueError):
    """A tmuxp-format session spec is invalid; the message names the file and key."""


# --- metrics endpoint --------------------------------------------------------------------------


class EndpointError(RecoveryError):
    """The HTTP endpoint cannot listen on its address, or was used before it started."""


# --- resilience (retry, circuit breakers) --------------------------------------------------------


class ResilienceError(RecoveryError):
    """A retry policy or circuit breaker refused or gave up on a call."""


class CallNotPermitted(ResilienceError):
    """A circuit breaker is open (or forced open) and refused the call without running it.

    ``breaker`` is the breaker's name and ``state`` its state at the refusal.
    """

    def __init__(self, breaker: str, state: str, retry_in: float | None = None) -> None:
        self.breaker = breaker
        self.state = state
        self.retry_in = retry_in
        when = f"; the next probe is allowed in {retry_in:.3g}s" if retry_in is not None else ""
        super().__init__(f"circuit breaker {breaker!r} is {state.replace('_', '-')}{when}")


class RetryBudgetExhausted(ResilienceError):
    """A retry was due but the policy's retry budget is empty: the call fails fast.

    The call's own last error is the ``__cause__``.
    """

    def __init__(self, policy: str, attempts: int) -> None:
        self.policy = policy
        self.attempts = attempts
        super().__init__(
            f"retry budget of policy {policy!r} is empty after {attempts} attempt(s): not "
            "retrying, the dependency is failing too often (the budget refills as calls succeed)"
        )


class UnknownNameError(ResilienceError, LookupError):
    """No retry policy or circuit breaker has the given name; the message lists the known ones."""

    def __str__(self) -> str:  # LookupError's str() would quote the message
        return str(self.args[0]) if self.args else ""


# --- transactions ------------------------------------------------------------------------------


class TransactionError(RecoveryError):
    """A transaction could not be started, found or changed; the message says which and why."""


class TransactionInterrupted(TransactionError):
    """The actor running a transaction ended before the transaction did (the process is
    stopping, or its supervisor gave up); the journal still has it, and the next start of its
    owner finishes it."""
