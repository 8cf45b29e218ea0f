"""Helpers for the observability tests: the shipped files and the names the project exports."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from yesman_recovery.metrics import definitions

METRICS_DIR = Path(definitions.__file__).parent
RULES = METRICS_DIR / "prometheus" / "alerts.yml"
RULE_TESTS = METRICS_DIR / "prometheus" / "alerts_test.yml"
DASHBOARD = METRICS_DIR / "grafana" / "yesman-recovery.json"

NAME = re.compile(r"\b(yesman_recovery_[a-z_]+|process_[a-z_]+|up)\b(?=\s*[{\[(])")


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name ``registry`` can expose (``_total``, ``_bucket``… included)."""
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "info": ("_info",),
        }.get(family.type, ())
        names.update(family.name + s for s in suffixes)
    return names


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:  # scripts/install.sh --test installs it
        pytest.fail("promtool is not installed; run scripts/install.sh --test")
    return path
