"""What a reload applies, decided from two configurations alone (no daemon)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yesman_recovery.actors.paused import PausedSessions
from yesman_recovery.config import parse_config
from yesman_recovery.reload import plan_reload
from yesman_recovery.storage import open_store


def _config(**doc: Any) -> Any:
    doc.setdefault("storage", {"path": "/tmp/yr-plan"})
    return parse_config(doc)


def test_sessions_added_removed_and_changed_are_told_apart() -> None:
    old = _config(sessions=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    new = _config(sessions=[{"name": "a"}, {"name": "c", "scrollback": 100}, {"name": "d"}])
    plan = plan_reload(old, new)
    assert plan.added == ("d",)
    assert plan.removed == ("b",)
    assert plan.changed == ("c",)
    assert plan.declared_set
    assert not plan.watcher  # no [tmux] watch setting changed
    assert not plan.needs_restart
    assert plan.summary() == "applied sessions added: d; sessions removed: b; sessions changed: c"


def test_a_tmux_program_setting_changes_every_adopted_session_and_declared_ones() -> None:
    plan = plan_reload(
        _config(sessions=[{"name": "a"}]),
        _config(sessions=[{"name": "a"}], tmux={"programs": ["claude", "sleep"]}),
    )
    assert plan.adopted
    assert plan.changed == ("a",)  # its program policy comes from [tmux] too
    assert not plan.watcher


def test_settings_read_at_start_are_reported_as_needing_a_restart() -> None:
    plan = plan_reload(
        _config(),
        _config(
            metrics={"listen": "127.0.0.1:9999"},
            storage={"path": "/tmp/yr-plan", "durability": "fast"},
            tmux={"socket_name": "other", "poll_interval": "3s"},
        ),
    )
    assert set(plan.needs_restart) == {
        "metrics.port",
        "storage.durability",
        "tmux.socket_name",
    }
    assert plan.watcher  # poll_interval is applied
    assert "needs a restart to apply: " in plan.summary()


def test_retry_policies_and_breakers_changed_by_name() -> None:
    old = _config(retry={"api": {"attempts": 3}}, breakers={"api": {}, "db": {}})
    new = _config(retry={"api": {"attempts": 5}}, breakers={"api": {}, "queue": {}})
    plan = plan_reload(old, new)
    assert plan.policies == ("api",)
    assert plan.breakers == ("db", "queue")


def test_the_same_file_changes_nothing() -> None:
    config = _config(sessions=[{"name": "a"}], retry={"api": {}})
    plan = plan_reload(config, _config(sessions=[{"name": "a"}], retry={"api": {}}))
    assert plan.empty
    assert plan.summary() == "no change to apply"


def test_a_pause_is_kept_in_the_store_and_may_end_by_itself(tmp_path: Path) -> None:
    now = [1000.0]
    with open_store(tmp_path) as store:
        PausedSessions(store, clock=lambda: now[0]).pause("a")
        PausedSessions(store, clock=lambda: now[0]).pause("b", 60.0)
        later = PausedSessions(store, clock=lambda: now[0])  # as a daemon started later
        assert [p.name for p in later.all()] == ["a", "b"]
        now[0] += 61.0
        assert later.get("b") is None  # its minute is over
        assert later.get("a") is not None
        assert later.resume("a") is not None
        assert later.resume("a") is None
        assert PausedSessions(store).all() == []


def test_reconfigure_replaces_only_the_named_breakers_and_policies() -> None:
    from yesman_recovery.metrics.definitions import RecoveryMetrics
    from yesman_recovery.resilience.registry import Resilience

    old = _config(retry={"api": {"attempts": 3}, "db": {}}, breakers={"api": {}, "db": {}})
    new = _config(retry={"api": {"attempts": 5}, "db": {}}, breakers={"api": {}, "queue": {}})
    resilience = Resilience.from_config(old, metrics=RecoveryMetrics())
    kept_policy, kept_breaker = resilience.policy("db"), resilience.breaker("api")
    plan = plan_reload(old, new)

    resilience.reconfigure(new.retry, new.breakers, plan.policies, plan.breakers)

    assert [b.name for b in resilience.breakers()] == ["api", "queue"]
    assert resilience.breaker("api") is kept_breaker  # unchanged: keeps its state
    assert resilience.policy("db") is kept_policy
    assert resilience.policy("api").policy.attempts == 5


def test_health_checks_added_removed_or_changed_are_applied_by_name() -> None:
    disk = {"name": "disk", "kind": "disk", "min_free": "1GiB"}
    tcp = {"name": "api", "kind": "tcp", "host": "127.0.0.1", "port": 9}
    old = parse_config({"health_checks": [disk, tcp]})
    new = parse_config({"health_checks": [{**disk, "min_free": "2GiB"}, {**tcp, "name": "db"}]})
    plan = plan_reload(old, new)
    assert plan.checks == ("api", "db", "disk")
    assert plan.needs_restart == ()
    assert "health checks: api, db, disk" in plan.summary()
    assert plan_reload(new, new).checks == ()
