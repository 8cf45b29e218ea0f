"""Typed labels: the audit kinds, recovery actions and outcomes every layer writes.

They are ``StrEnum``s, so they are plain strings where stored (the audit trail, metric labels)
and a typo is a type error where written. A metric label built from these is bounded by
construction. The failure kinds themselves are
:class:`~yesman_recovery.actors.diagnosis.FailureKind`.
"""

from __future__ import annotations

import enum


class AuditKind(enum.StrEnum):
    """The ``kind`` of an audit event (what ``yesman-recovery audit --kind`` filters on)."""

    RECOVERY = "recovery"  # something was wrong and was acted on (or given up on)
    SESSION = "session"  # a session's own life: its spec, its release by the user
    SUPERVISOR = "supervisor"  # a supervisor gave up
    CORRUPTION = "corruption"  # a stored record failed its checksum
    TRANSACTION = "transaction"  # a transaction ended, parked or was abandoned
    HEALTH = "health"  # a health check healed, suppressed a heal, escalated or flapped
    CONFIG = "config"  # the configuration was reloaded (or a reload was rejected)
    CONTROL = "control"  # a session-control verb was run (reset, pause, resume, forget...)
    BREAKER = "breaker"  # a circuit breaker changed state


class Action(enum.StrEnum):
    """What was done about a failure."""

    RESTORE = "restore"
    RECREATE_MISSING = "recreate_missing"
    RESPAWN = "respawn"
    SIGCONT = "sigcont"
    KILL_SERVER = "kill_server"
    WAIT = "wait"
    GIVE_UP = "give_up"
    REARM = "rearm"
    RELEASE = "release"
    LOAD_SPEC = "load_spec"
    CREATE = "create"
    BEFORE_SCRIPT = "before_script"  # a yesman session's before_script, run before creating it
    RELOAD = "reload"
    RESET = "reset"
    PAUSE = "pause"
    RESUME = "resume"
    FORGET = "forget"
    RESUME_AGENT = "resume_agent"  # an agent pane came back (on its conversation, or fresh)
    START = "start"  # a daemon started (audited when the one before it did not stop cleanly)


class Outcome(enum.StrEnum):
    """How an action ended (the ``outcome`` label of ``yesman_recovery_recoveries_total``)."""

    SUCCESS = "success"
    FAILED = "failed"
    ATTEMPTED = "attempted"  # a first step was taken; its result shows later
    ESCALATED = "escalated"  # the gentle step did not do; the server was replaced
