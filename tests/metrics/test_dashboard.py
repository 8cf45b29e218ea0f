"""The shipped Grafana dashboard: generated from code, importable, naming only real metrics."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from yesman_recovery.metrics import dashboard
from yesman_recovery.metrics.definitions import RecoveryMetrics

from .conftest import DASHBOARD, NAME, exported_names

# Every panel of the 0.1.0 dashboard (hand-written JSON generator): row, title, type, unit and
# queries, as that generator wrote them.
BEFORE = Path(__file__).parent / "data" / "dashboard-panels-0.1.0.json"


def test_the_shipped_file_is_what_the_code_generates() -> None:
    assert DASHBOARD.read_text() == dashboard.render(), (
        "regenerate it: python -m yesman_recovery.metrics.dashboard"
    )


def test_it_is_importable_by_the_ui_and_by_file_provisioning() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert board["__inputs"][0]["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["instance"]["multi"]
    assert variables["instance"]["includeAll"]
    assert board["uid"] == "yesman-recovery"


def test_panel_ids_and_ref_ids_are_unique_and_every_query_selects_the_instance() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    ids = Counter(p["id"] for p in panels)
    assert all(n == 1 for n in ids.values()), ids
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert 'instance=~"$instance"' in expr, panel["title"]
            if "rate(" in expr or "increase(" in expr:
                assert "[$__rate_interval]" in expr, panel["title"]


def test_the_panels_cover_what_operators_watch() -> None:
    exprs = " ".join(e for _, _, e in dashboard.expressions())
    for name in (
        "sessions", "recoveries_total", "recovery_duration_seconds_bucket",
        "failure_detection_seconds_bucket", "child_restarts_total",
        "restart_intensity_exceeded_total", "checkpoint_duration_seconds_bucket", "store_bytes",
        "store_map_used_bytes", "health_check_status", "heal_actions_total",
        "health_check_flapping", "health_check_escalated", "circuit_breaker_state",
        "circuit_breaker_calls_total", "retry_calls_total", "transactions_total",
        "transactions_in_flight",
    ):  # fmt: skip
        assert f"yesman_recovery_{name}{{" in exprs, name


def test_queries_name_only_metrics_the_project_exports() -> None:
    exported = exported_names(RecoveryMetrics().registry) | {"up"}
    for title, ref, expr in dashboard.expressions():
        for name in NAME.findall(expr):
            assert name in exported, f"{title} {ref} names {name}, which is not exported"


def test_the_generator_writes_the_file_it_is_given(tmp_path: Path) -> None:
    target = tmp_path / "board" / "yesman-recovery.json"
    assert dashboard.main([str(target)]) == 0
    assert target.read_text() == DASHBOARD.read_text()


def test_every_panel_and_query_of_the_hand_written_dashboard_is_kept() -> None:
    before = json.loads(BEFORE.read_text())
    row = None
    after = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        after.append(
            {
                "row": row,
                "title": panel["title"],
                "type": panel["type"],
                "unit": panel["fieldConfig"]["defaults"]["unit"],
                "targets": [
                    {k: t[k] for k in ("refId", "expr", "legendFormat")} for t in panel["targets"]
                ],
            }
        )
    missing = [p for p in before if p not in after]
    assert missing == [], f"{len(missing)} panels lost or changed: {missing}"
    assert len(before) == 25
    assert sum(len(p["targets"]) for p in before) == 32


def test_without_the_sdk_the_generator_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("grafana_foundation_sdk")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.setitem(sys.modules, "grafana_foundation_sdk", None)
    target = tmp_path / "board.json"
    assert dashboard.main([str(target)]) == 1
    assert not target.exists()
    err = capsys.readouterr().err
    assert "needs grafana-foundation-sdk: pip install 'yesman-recovery[test]'" in err
