"""Every metric of yesman-recovery, defined in one place on the application's own registry.

Names carry the ``yesman_recovery_`` prefix, base units and ``_total`` for counters; labels are
bounded (supervisor, child, session name, check, kind, outcome, op, state) and never carry a
transaction or checkpoint id. Embedding never touches the host's global registry: each
:class:`RecoveryMetrics` owns a fresh :class:`CollectorRegistry` unless one is passed in.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from yesman_recovery.version import __version__

PREFIX = "yesman_recovery"

# Checkpoint writes take ~0.4 ms durable and ~10 us fast: buckets from 10 us to 1 s.
STORAGE_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
# Recoveries take from tens of milliseconds (respawn a pane) to seconds (rebuild a server).
RECOVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
# Probes take from microseconds (a callable) to their timeout (seconds).
HEALTH_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Transactions last from a millisecond (a few journaled steps) to minutes (remote calls).
TRANSACTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                       10.0, 30.0, 60.0, 300.0)  # fmt: skip
DETECTION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class RecoveryMetrics:
    """The metric objects, as attributes, registered on :attr:`registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # auto_describe: collectors without describe() (process, platform) are asked their
        # names at registration, so `/metrics?name[]=process_open_fds` finds them.
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        reg = self.registry
        if registry is None:
            # process_* (CPU, memory, descriptors) and python_info, on our registry only: a host
            # that passes its own registry usually has them already (the global one does).
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)

        # --- build / supervision ---------------------------------------------------------
        self.build_info = Info(f"{PREFIX}_build", "Version of yesman-recovery.", registry=reg)
        self.build_info.info({"version": __version__})
        self.child_restarts = Counter(
            f"{PREFIX}_child_restarts",
            "Children restarted by a supervisor, by the reason of the restart.",
            ["supervisor", "child", "reason"],
            registry=reg,
        )
        self.daemon_healthy = Gauge(
            f"{PREFIX}_healthy",
            "1 while /healthz answers 200 (the daemon's health verdict), 0 while it answers 503.",
            registry=reg,
        )
        self.unhealthy_reasons = Gauge(
            f"{PREFIX}_unhealthy_reasons",
            "Reasons /healthz answers 503 for now, by kind (supervisor, session_failed, "
            "server_unreachable, critical_check).",
            ["reason"],
            registry=reg,
        )
        self.supervisor_children = Gauge(
            f"{PREFIX}_supervisor_children",
            "Children of each supervisor by state.",
            ["supervisor", "state"],
            registry=reg,
        )
        self.restart_intensity_exceeded = Counter(
            f"{PREFIX}_restart_intensity_exceeded",
            "Times a supervisor gave up because its children restarted too often.",
            ["supervisor"],
            registry=reg,
        )
        self.children_abandoned = Counter(
            f"{PREFIX}_children_abandoned",
            "Children that did not stop within their shutdown timeout and were abandoned.",
            ["supervisor"],
            registry=reg,
        )

        # --- storage ---------------------------------------------------------------------
        self.checkpoint_duration = Histogram(
            f"{PREFIX}_checkpoint_duration_seconds",
            "Time of checkpoint store operations.",
            ["op"],
            buckets=STORAGE_BUCKETS,
            registry=reg,
        )
        self.checkpoints = Counter(
            f"{PREFIX}_checkpoints",
            "Checkpoint store operations by outcome.",
            ["op", "outcome"],
            registry=reg,
        )
        self.checkpoint_corruptions = Counter(
            f"{PREFIX}_checkpoint_corruptions",
            "Stored records found corrupt (checksum mismatch or undecodable).",
            registry=reg,
        )
        self.store_bytes = Gauge(
            f"{PREFIX}_store_bytes",
            "Bytes used by the LMDB store, by database.",
            ["db"],
            registry=reg,
        )
        self.store_map_bytes = Gauge(
            f"{PREFIX}_store_map_bytes",
            "Size of the LMDB memory map (the store's current capacity).",
            registry=reg,
        )
        self.store_map_used_bytes = Gauge(
            f"{PREFIX}_store_map_used_bytes",
            "Bytes of the LMDB memory map in use (the store file's high-water mark).",
            registry=reg,
        )

        # --- tmux sessions ---------------------------------------------------------------
        self.recoveries = Counter(
            f"{PREFIX}_recoveries",
            "Session recoveries by failure kind and outcome.",
            ["kind", "outcome"],
            registry=reg,
        )
        self.recovery_duration = Histogram(
            f"{PREFIX}_recovery_duration_seconds",
            "Time from detecting a failure to a validated recovery.",
            ["kind"],
            buckets=RECOVERY_BUCKETS,
            registry=reg,
        )
        self.failure_detection = Histogram(
            f"{PREFIX}_failure_detection_seconds",
            "Time from a failure's onset (where known) to its detection.",
            ["kind"],
            buckets=DETECTION_BUCKETS,
            registry=reg,
        )
        self.sessions_created = Counter(
            f"{PREFIX}_sessions_created",
            "Declared sessions built from their spec because they did not exist yet, by outcome.",
            ["outcome"],
            registry=reg,
        )
        self.agent_resumes = Counter(
            f"{PREFIX}_agent_resumes",
            "Agent panes brought back by a recovery, by agent and outcome: own (seen again on "
            "its own conversation), fresh (its conversation gone or unknown), failed.",
            ["agent", "outcome"],
            registry=reg,
        )
        self.sessions = Gauge(
            f"{PREFIX}_sessions",
            "Watched tmux sessions by state.",
            ["state"],
            registry=reg,
        )

        # --- health checks ---------------------------------------------------------------
        self.health_check_status = Gauge(
            f"{PREFIX}_health_check_status",
            "1 while a health check is healthy, 0 while it is failing or not yet known.",
            ["check"],
            registry=reg,
        )
        self.health_check_duration = Histogram(
            f"{PREFIX}_health_check_duration_seconds",
            "Time of one health check probe (a timed-out probe counts as its timeout).",
            ["check"],
            buckets=HEALTH_BUCKETS,
            registry=reg,
        )
        self.health_check_failures = Counter(
            f"{PREFIX}_health_check_failures",
            "Failing health check results (timeouts and exceptions included).",
            ["check"],
            registry=reg,
        )
        self.heal_actions = Counter(
            f"{PREFIX}_heal_actions",
            "Heal actions run by health checks, by outcome.",
            ["check", "outcome"],
            registry=reg,
        )
        self.heal_suppressed = Counter(
            f"{PREFIX}_heal_suppressed",
            "Heals that were due but not run: flapping, budget exhausted, or in progress.",
            ["check", "reason"],
            registry=reg,
        )
        self.health_check_flapping = Gauge(
            f"{PREFIX}_health_check_flapping",
            "1 while a health check is flapping (heals suppressed), else 0.",
            ["check"],
            registry=reg,
        )
        self.health_check_escalated = Gauge(
            f"{PREFIX}_health_check_escalated",
            "1 while a health check is escalated (heals exhausted or none to run), else 0.",
            ["check"],
            registry=reg,
        )

        # --- retry policies and circuit breakers (resilience4j's names and labels) ---------
        self.retry_calls = Counter(
            f"{PREFIX}_retry_calls",
            "Calls through a retry policy, by outcome (kind) and whether they were retried.",
            ["policy", "kind"],
            registry=reg,
        )
        self.retry_budget_tokens = Gauge(
            f"{PREFIX}_retry_budget_tokens",
            "Tokens left in a retry policy's budget; a retry needs one.",
            ["policy"],
            registry=reg,
        )
        self.breaker_state = Gauge(
            f"{PREFIX}_circuit_breaker_state",
            "Circuit breaker state: 1 for the state it is in, 0 for the others.",
            ["breaker", "state"],
            registry=reg,
        )
        self.breaker_calls = Counter(
            f"{PREFIX}_circuit_breaker_calls",
            "Calls through a circuit breaker by kind (successful, failed, not_permitted, slow).",
            ["breaker", "kind"],
            registry=reg,
        )
        self.breaker_transitions = Counter(
            f"{PREFIX}_circuit_breaker_transitions",
            "Circuit breaker state transitions.",
            ["breaker", "from", "to"],
            registry=reg,
        )

        # --- transactions ----------------------------------------------------------------
        self.transactions = Counter(
            f"{PREFIX}_transactions",
            "Transactions that ended (or parked for an operator), by outcome.",
            ["outcome"],
            registry=reg,
        )
        for outcome in ("committed", "compensated", "parked", "abandoned"):
            self.transactions.labels(outcome)
        self.transactions_in_flight = Gauge(
            f"{PREFIX}_transactions_in_flight",
            "Transactions being run by this process now.",
            registry=reg,
        )
        self.transaction_duration = Histogram(
            f"{PREFIX}_transaction_duration_seconds",
            "Time from a transaction's begin record to its terminal record.",
            buckets=TRANSACTION_BUCKETS,
            registry=reg,
        )
        self.transaction_steps = Counter(
            f"{PREFIX}_transaction_steps",
            "Transaction step attempts by registered action and outcome (done, failed).",
            ["action", "outcome"],
            registry=reg,
        )
        self.compensations = Counter(
            f"{PREFIX}_compensations",
            "Compensation attempts by outcome (done, failed).",
            ["outcome"],
            registry=reg,
        )
        for outcome in ("done", "failed"):
            self.compensations.labels(outcome)
        self.config_reloads = Counter(
            f"{PREFIX}_config_reloads",
            "Configuration reloads by outcome (applied, rejected: file invalid, failed).",
            ["outcome"],
            registry=reg,
        )
        for outcome in ("applied", "rejected", "failed"):
            self.config_reloads.labels(outcome)


_default: RecoveryMetrics | None = None


def default_metrics() -> RecoveryMetrics:
    """A process-wide :class:`RecoveryMetrics` on its own registry, for callers that pass none."""
    global _default
    if _default is None:
        _default = RecoveryMetrics()
    return _default
