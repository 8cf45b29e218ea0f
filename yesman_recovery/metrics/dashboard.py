"""The Grafana dashboard, as code: ``python -m yesman_recovery.metrics.dashboard`` writes it.

The JSON shipped as ``metrics/grafana/yesman-recovery.json`` is this module's output (a test
checks they match), so a panel is changed here and the file regenerated, never edited by hand.
It is built with Grafana's own dashboards-as-code library, ``grafana-foundation-sdk`` (its
builders and JSON encoder; ``schemaVersion`` 36 as the SDK writes it, which Grafana 10 and 11
migrate on load). The library only generates the file: it is imported when :func:`build` runs,
belongs to the ``test`` extra, and the daemon, the CLI and :func:`expressions` (which reads the
shipped file) never need it.

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
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from grafana_foundation_sdk.cog.builder import Builder

UID = "yesman-recovery"
TITLE = "yesman-recovery"
PATH = Path(__file__).parent / "grafana" / "yesman-recovery.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance"'
RATE = "$__rate_interval"
P = "yesman_recovery"
INSTANCES = f"label_values({P}_build_info, instance)"


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


def _panel(panel_id: int, panel: Panel, x: int, y: int) -> Builder[Any]:
    from grafana_foundation_sdk.builders import common, prometheus, stat, statetimeline, timeseries
    from grafana_foundation_sdk.models import common as models
    from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

    title, unit, kind, queries = panel
    legend = common.VizLegendOptions().show_legend(True).placement(models.LegendPlacement.BOTTOM)
    body: Any
    if kind == "stat":
        body = stat.Panel().reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    elif kind == "state":
        body = statetimeline.Panel().show_value(models.VisibilityMode.NEVER).legend(legend)
    else:
        body = timeseries.Panel().legend(legend.display_mode(models.LegendDisplayMode.TABLE))
    body.id(panel_id).title(title).unit(unit).grid_pos(GridPos(h=8, w=12, x=x, y=y))
    body.datasource(DataSourceRef(type_val=DATASOURCE["type"], uid=DATASOURCE["uid"]))
    for i, (expr, legend_format) in enumerate(queries):
        body.with_target(
            prometheus.Dataquery()
            .datasource(DATASOURCE)
            .expr(expr)
            .legend_format(legend_format)
            .ref_id(chr(65 + i))
        )
    return cast("Builder[Any]", body)


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dictionary, built with ``grafana-foundation-sdk``.

    Raises :class:`ModuleNotFoundError` naming the extra to install when the SDK is missing.
    """
    try:
        from grafana_foundation_sdk.builders import dashboard as grafana
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.models.dashboard import (
            DashboardCursorSync,
            DataSourceRef,
            GridPos,
            VariableRefresh,
            VariableSort,
        )
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "generating the dashboard needs grafana-foundation-sdk: "
            "pip install 'yesman-recovery[test]'"
        ) from exc

    board = (
        grafana.Dashboard(TITLE)
        .uid(UID)
        .description(
            "Sessions, recoveries, supervision, checkpoints, health checks, "
            "breakers, retries and transactions of yesman-recovery daemons."
        )
        .tags(["yesman-recovery", "tmux", "agents"])
        .timezone("")
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .version(1)
        .time("now-6h", "now")
        .with_variable(
            grafana.DatasourceVariable("DS_PROMETHEUS").label("Prometheus").type("prometheus")
        )
        .with_variable(
            grafana.QueryVariable("instance")
            .label("Instance")
            .datasource(DataSourceRef(type_val=DATASOURCE["type"], uid=DATASOURCE["uid"]))
            .query({"query": INSTANCES, "refId": "instance"})
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
        )
    )
    next_id, y = 1, 0
    for row_title, row_panels in ROWS:
        board.with_row(grafana.Row(row_title).id(next_id).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        next_id, y = next_id + 1, y + 1
        for i, panel in enumerate(row_panels):
            board.with_panel(_panel(next_id, panel, 12 * (i % 2), y + 8 * (i // 2)))
            next_id += 1
        y += 8 * ((len(row_panels) + 1) // 2)
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    # What Grafana's "export for sharing" adds around a dashboard, outside its model: the
    # datasource the import dialog asks for, and the Grafana the panels need.
    built["__inputs"] = [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "The Prometheus that scrapes the yesman-recovery daemons",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]
    built["__requires"] = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
    ]
    return built


def render() -> str:
    """The dashboard's JSON text, as shipped (sorted keys, two-space indent, final newline)."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def expressions(path: Path = PATH) -> list[tuple[str, str, str]]:
    """``(panel title, refId, PromQL)`` of every query in the shipped dashboard (read from the
    file, so reading needs no generator library)."""
    board = json.loads(path.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["refId"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard to ``argv[0]`` (default: the packaged file)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else PATH
    try:
        text = render()
    except ModuleNotFoundError as exc:  # the generator's library is a test extra
        print(f"error: {exc}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
