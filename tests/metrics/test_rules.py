"""The shipped alert rules: valid for promtool, each unit-tested, each documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from yesman_recovery.metrics.definitions import RecoveryMetrics

from .conftest import NAME, RULE_TESTS, RULES, exported_names, promtool

RUNBOOK = Path(__file__).parents[2] / "docs" / "RUNBOOK.md"


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_every_rule_passes_its_promtool_unit_tests() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True, text=True, timeout=60, cwd=RULE_TESTS.parent, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_has_a_test_where_it_fires_and_one_where_it_does_not() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert names <= fired, f"never seen firing: {sorted(names - fired)}"
    assert names <= quiet, f"never seen quiet: {sorted(names - quiet)}"


def test_every_rule_has_a_summary_a_description_and_a_runbook_section() -> None:
    runbook = RUNBOOK.read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for rule in rules():
        notes = rule["annotations"]
        assert notes["summary"], rule["alert"]
        assert notes["description"], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        url = notes["runbook_url"]
        assert url.startswith("docs/RUNBOOK.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no section {url} in RUNBOOK"


def test_rules_name_only_metrics_the_project_exports() -> None:
    registry = CollectorRegistry()
    exported = exported_names(RecoveryMetrics(registry).registry) | {"up"}
    for rule in rules():
        for name in NAME.findall(rule["expr"]):
            assert name in exported, f"{rule['alert']} names {name}, which is not exported"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")
