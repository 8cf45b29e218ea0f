"""/metrics as Prometheus and people fetch it: formats, gzip, name[] and series from the start."""

from __future__ import annotations

import gzip
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from yesman_recovery.actors.context import SessionState
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.actors.http import StatusServer
from yesman_recovery.actors.series import prime_daemon_series
from yesman_recovery.labels import Outcome
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.metrics.series import prime_supervisor

from .conftest import promtool


@pytest.fixture
def metrics() -> RecoveryMetrics:
    metrics = RecoveryMetrics()
    prime_daemon_series(metrics)
    prime_supervisor(metrics, "sessions", ["work"])
    metrics.recoveries.labels("crashed", "success").inc()
    metrics.checkpoint_duration.labels("create").observe(0.0004)
    return metrics


@pytest.fixture
def url(metrics: RecoveryMetrics) -> Iterator[str]:
    server = StatusServer("127.0.0.1", 0, metrics.registry, lambda: True, lambda: {})
    server.start()
    yield server.url + "/metrics"
    server.stop()


def get(url: str, **headers: str) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(response.headers), response.read()


def test_a_plain_scrape_gets_the_classic_text_format(url: str) -> None:
    headers, body = get(url)
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in headers
    assert b'yesman_recovery_recoveries_total{kind="crashed",outcome="success"} 1.0' in body


def test_openmetrics_is_served_when_asked_for(url: str) -> None:
    headers, body = get(url, Accept="application/openmetrics-text; version=1.0.0")
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    assert b"# TYPE yesman_recovery_recoveries counter" in body


def test_gzip_is_served_when_accepted(url: str) -> None:
    headers, body = get(url, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"yesman_recovery_sessions{" in gzip.decompress(body)
    assert int(headers["Content-Length"]) == len(body)


def test_name_filters_restrict_the_output(url: str) -> None:
    _, body = get(url + "?name[]=yesman_recovery_sessions&name[]=process_open_fds")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert names == {"yesman_recovery_sessions", "process_open_fds"}


def test_known_series_exist_at_zero_before_their_first_event(url: str) -> None:
    _, body = get(url)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    for state in SessionState:
        assert value("yesman_recovery_sessions", state=state.value) == 0
    for kind in FailureKind:
        for outcome in Outcome:
            expected = 1 if (kind, outcome) == ("crashed", "success") else 0
            assert value("yesman_recovery_recoveries_total", kind=kind, outcome=outcome) == expected
        assert value("yesman_recovery_recovery_duration_seconds_count", kind=kind) == 0
    assert value("yesman_recovery_checkpoints_total", op="create", outcome="ok") == 0
    assert value("yesman_recovery_restart_intensity_exceeded_total", supervisor="sessions") == 0
    restarts = {"supervisor": "sessions", "child": "work", "reason": "crashed"}
    assert value("yesman_recovery_child_restarts_total", **restarts) == 0
    assert value("process_open_fds") > 0
    assert "python_info" in {name for name, _ in samples}


def test_promtool_finds_nothing_to_lint(url: str) -> None:
    _, body = get(url)
    done = subprocess.run(
        [promtool(), "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    problems = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, problems
    assert not problems.strip()


def test_an_embedding_host_keeps_its_registry_and_gets_no_process_collector_twice() -> None:
    host = CollectorRegistry()
    RecoveryMetrics(host)  # a host registry with its own process collector would clash
    names = {family.name for family in host.collect()}
    assert "yesman_recovery_recoveries" in names
    assert "process_open_fds" not in names
    before = {family.name for family in REGISTRY.collect()}
    RecoveryMetrics()
    assert {family.name for family in REGISTRY.collect()} == before
