"""The Grafana dashboard, as code: ``python -m yesman_recovery.metrics.dashboard`` writes it.

The JSON shipped as ``metrics/grafana/yesman-recovery.json`` is this module's output (a test
checks they match), so a panel is changed here and the file regenerated, never edited by hand.
Plain dictionaries in Grafana's dashboard schema (``schemaVersion`` 39, Grafana 10.4 and 11)
rather than a builder library: the Python dashboard libraries either emit an older schema or
pin one Grafana release, and the schema needed here is a handful of keys.

Importable both ways: ``__inputs`` declares the ``DS_PROMETHEUS`` datasource for the UI's
import dialog, and a ``DS_PROMETHEUS`` datasource variable serves file provisioning (which does
not substitute ``__inputs``). An ``instance`` variable (several values, or all) selects the
hosts of a fleet; every query filters on ``instance=~"$instance"`` and rates use
``$__rate_interval``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

UID = "yesman-recovery"
TITLE = "yesman-recovery"
PATH = Path(__file__).parent / "grafana" / "yesman-recovery.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance"'
RATE = "$__rate_interval"
P = "yesman_recovery"


def _q(expr: str, legend: str) -> tuple[str, str]:
    return expr, legend


def _quantiles(metric: str, by: str) -> list[tuple[str, str]]:
    return [
        _q(
            f"histogram_quantile({q}, sum by ({by}, le) "
            f"(rate({P}_{metric}_bucket{{{SEL}}}[{RATE}])))",
            f"p{int(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.99)
    ]


# (title, unit, kind, queries); kind is "timeseries", "stat" or "state".
Panel = tuple[str, str, str, list[tuple[str, str]]]

ROWS: list[tuple[str, list[Panel]]] = [
    ("Sessions and recoveries", [
        ("Sessions by state", "short", "timeseries", [
            _q(f"sum by (state) ({P}_sessions{{{SEL}}})", "{{state}}")]),
        ("Recoveries by kind and outcome", "short", "timeseries", [
            _q(f"sum by (kind, outcome) (increase({P}_recoveries_total{{{SEL}}}[{RATE}]))",
               "{{kind}} {{outcome}}")]),
        ("Recovery time by kind", "s", "timeseries",
         _quantiles("recovery_duration_seconds", "kind")),
        ("Failure detection time by kind", "s", "timeseries",
         _quantiles("failure_detection_seconds", "kind")),
    ]),
    ("Supervision", [
        ("Restarts per supervisor and child", "short", "timeseries", [
            _q(f"sum by (supervisor, child) "
               f"(increase({P}_child_restarts_total{{{SEL}}}[{RATE}]))",
               "{{supervisor}}/{{child}}")]),
        ("Restart intensity exceeded", "short", "timeseries", [
            _q(f"sum by (supervisor) "
               f"(increase({P}_restart_intensity_exceeded_total{{{SEL}}}[{RATE}]))",
               "{{supervisor}}")]),
        ("Children by state", "short", "timeseries", [
            _q(f"sum by (supervisor, state) ({P}_supervisor_children{{{SEL}}})",
               "{{supervisor}} {{state}}")]),
    ]),
    ("Checkpoints and store", [
        ("Checkpoint write and restore p99", "s", "timeseries", [
            _q(f"histogram_quantile(0.99, sum by (op, le) (rate({P}_checkpoint_duration_seconds"
               f'_bucket{{{SEL}, op=~"create|restore|latest_good|journal_append"}}[{RATE}])))',
               "p99 {{op}}")]),
        ("Store size and map use", "bytes", "timeseries", [
            _q(f"sum by (db) ({P}_store_bytes{{{SEL}}})", "{{db}}"),
            _q(f"sum({P}_store_map_used_bytes{{{SEL}}})", "map used"),
            _q(f"sum({P}_store_map_bytes{{{SEL}}})", "map size")]),
        ("Checkpoint operations by outcome", "short", "timeseries", [
            _q(f"sum by (op, outcome) (increase({P}_checkpoints_total{{{SEL}}}[{RATE}]))",
               "{{op}} {{outcome}}")]),
        ("Corrupt records", "short", "stat", [
            _q(f"sum({P}_checkpoint_corruptions_total{{{SEL}}})", "corrupt")]),
    ]),
    ("Health checks", [
        ("Health check status (1 healthy)", "short", "state", [
            _q(f"{P}_health_check_status{{{SEL}}}", "{{instance}} {{check}}")]),
        ("Heals by outcome", "short", "timeseries", [
            _q(f"sum by (check, outcome) (increase({P}_heal_actions_total{{{SEL}}}[{RATE}]))",
               "{{check}} {{outcome}}")]),
        ("Flapping and escalated checks", "short", "timeseries", [
            _q(f"sum by (check) ({P}_health_check_flapping{{{SEL}}})", "flapping {{check}}"),
            _q(f"sum by (check) ({P}_health_check_escalated{{{SEL}}})", "escalated {{check}}")]),
        ("Health check failures", "short", "timeseries", [
            _q(f"sum by (check) (increase({P}_health_check_failures_total{{{SEL}}}[{RATE}]))",
               "{{check}}")]),
    ]),
    ("Breakers, retries, transactions", [
        ("Circuit breaker states", "short", "state", [
            _q(f"max by (breaker, state) ({P}_circuit_breaker_state{{{SEL}}}) == 1",
               "{{breaker}} {{state}}")]),
        ("Breaker calls by kind", "short", "timeseries", [
            _q(f"sum by (breaker, kind) "
               f"(increase({P}_circuit_breaker_calls_total{{{SEL}}}[{RATE}]))",
               "{{breaker}} {{kind}}")]),
        ("Retries by kind", "short", "timeseries", [
            _q(f"sum by (policy, kind) (increase({P}_retry_calls_total{{{SEL}}}[{RATE}]))",
               "{{policy}} {{kind}}")]),
        ("Transactions by outcome", "short", "timeseries", [
            _q(f"sum by (outcome) (increase({P}_transactions_total{{{SEL}}}[{RATE}]))",
               "{{outcome}}")]),
        ("Transactions in flight and parked", "short", "timeseries", [
            _q(f"sum({P}_transactions_in_flight{{{SEL}}})", "in flight"),
            _q(f'sum({P}_transactions_total{{{SEL}, outcome="parked"}})', "parked (total)")]),
    ]),
    ("Daemon", [
        ("Up", "short", "state", [_q(f'up{{job="yesman-recovery", {SEL}}}', "{{instance}}")]),
        ("Healthy: /healthz 200 (1) or 503 (0)", "short", "state", [
            _q(f"{P}_healthy{{{SEL}}}", "{{instance}}")]),
        ("Why /healthz is 503", "short", "timeseries", [
            _q(f"sum by (reason) ({P}_unhealthy_reasons{{{SEL}}})", "{{reason}}")]),
        ("CPU", "percentunit", "timeseries", [
            _q(f"rate(process_cpu_seconds_total{{{SEL}}}[{RATE}])", "{{instance}}")]),
        ("Resident memory", "bytes", "timeseries", [
            _q(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}")]),
        ("Open file descriptors", "short", "timeseries", [
            _q(f"process_open_fds{{{SEL}}}", "open {{instance}}"),
            _q(f"process_max_fds{{{SEL}}}", "limit {{instance}}")]),
        ("Configuration reloads by outcome", "short", "timeseries", [
            _q(f"sum by (outcome) (increase({P}_config_reloads_total{{{SEL}}}[{RATE}]))",
               "{{outcome}}")]),
    ]),
]  # fmt: skip


def _panel(panel_id: int, panel: Panel, x: int, y: int) -> dict[str, Any]:
    title, unit, kind, queries = panel
    targets = [
        {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
        for i, (expr, legend) in enumerate(queries)
    ]
    body: dict[str, Any] = {
        "id": panel_id,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": targets,
    }
    if kind == "stat":
        body.update(type="stat", options={"reduceOptions": {"calcs": ["lastNotNull"]}})
    elif kind == "state":
        body.update(type="state-timeline", options={"showValue": "never"})
    else:
        body.update(
            type="timeseries",
            options={"legend": {"displayMode": "table", "placement": "bottom"}},
        )
    return body


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dictionary."""
    panels: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row_title, row_panels in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id, y = next_id + 1, y + 1
        for i, panel in enumerate(row_panels):
            panels.append(_panel(next_id, panel, 12 * (i % 2), y + 8 * (i // 2)))
            next_id += 1
        y += 8 * ((len(row_panels) + 1) // 2)
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes the yesman-recovery daemons",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "uid": UID,
        "title": TITLE,
        "description": "Sessions, recoveries, supervision, checkpoints, health checks, "
        "breakers, retries and transactions of yesman-recovery daemons.",
        "tags": ["yesman-recovery", "tmux", "agents"],
        "timezone": "",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [_datasource_variable(), _instance_variable()]},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "DS_PROMETHEUS",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def _instance_variable() -> dict[str, Any]:
    return {
        "name": "instance",
        "label": "Instance",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": f"label_values({P}_build_info, instance)",
        "query": {"query": f"label_values({P}_build_info, instance)", "refId": "instance"},
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {},
        "hide": 0,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "options": [],
    }


def render() -> str:
    """The dashboard's JSON text, as shipped (sorted keys, two-space indent, final newline)."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def expressions() -> list[tuple[str, str, str]]:
    """``(panel title, refId, PromQL)`` of every query in the dashboard."""
    return [
        (panel["title"], target["refId"], target["expr"])
        for panel in build()["panels"]
        for target in panel.get("targets", [])
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard to ``argv[0]`` (default: the packaged file)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
