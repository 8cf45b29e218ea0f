"""``yesman-recovery status``: the running daemon's supervision tree, from its ``/status``."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click
from rich.text import Text
from rich.tree import Tree

from yesman_recovery.cli.common import (
    StatusUnavailable,
    common_options,
    fail,
    format_uptime,
    load_config,
    output_console,
    url_option,
)

REQUEST_TIMEOUT = 5.0
STATE_STYLES = {
    "running": "green",
    "restarting": "yellow",
    "starting": "yellow",
    "stopping": "yellow",
    "stopped": "dim",
    "failed": "bold red",
}


@click.command()
@common_options
@url_option
@click.option("--json", "as_json", is_flag=True, help="Print the /status document as JSON.")
@click.option(
    "--watch",
    "-w",
    is_flag=True,
    help="Refresh in place like top: tree, sessions, breakers, latest recoveries; Ctrl-C quits.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@click.option("--iterations", type=click.IntRange(min=1), default=None, hidden=True)
@click.pass_context
def status(
    ctx: click.Context,
    *,
    url: str | None,
    as_json: bool,
    watch: bool,
    interval: float,
    iterations: int | None,
) -> None:
    """Show the running daemon's supervision tree; exit 1 if no daemon answers."""
    base = url if url is not None else load_config(ctx).metrics.url
    if watch:
        if as_json:
            raise click.UsageError("--watch and --json do not go together")
        from yesman_recovery.cli.status_watch import watch_status

        watch_status(ctx, base, get_status, render_status, interval=interval,
                     iterations=iterations)  # fmt: skip
        return
    document = fetch_status(base)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    console = output_console()
    console.print(render_status(document, base))
    breakers = [b for b in document.get("breakers") or () if isinstance(b, dict)]
    if breakers:
        from yesman_recovery.cli.breakers_cmds import render_breakers

        console.print(render_breakers(breakers))


def status_url(base: str) -> str:
    """``base`` + ``/status`` unless it already names that path; ``http://`` if no scheme."""
    base = base.strip().rstrip("/")
    if "://" not in base:
        base = "http://" + base
    return base if base.endswith("/status") else base + "/status"


def fetch_status(base: str) -> dict[str, Any]:
    """GET the status document; exits 1 with a message when nothing usable answers."""
    try:
        return get_status(base)
    except StatusUnavailable as exc:
        fail(str(exc))


def get_status(base: str) -> dict[str, Any]:
    """GET the status document; raises :class:`StatusUnavailable` when nothing usable answers."""
    url = status_url(base)
    if urllib.parse.urlsplit(url).port == 0:
        raise StatusUnavailable(
            f"{url} names port 0 ([metrics] listen picks any free port), so the daemon's address "
            "is not known here: pass --url with the address `yesman-recovery run` printed"
        )
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read())
        raise StatusUnavailable(f"the daemon at {url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StatusUnavailable(
            f"no daemon answers at {url} ({reason}); start one with `yesman-recovery run`, "
            "or pass --url with the address it printed"
        ) from None
    try:
        document = json.loads(body)
    except ValueError:
        raise StatusUnavailable(
            f"{url} did not answer with JSON; is --url the yesman-recovery endpoint?"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("tree"), dict):
        raise StatusUnavailable(
            f"{url} answered JSON without a status tree; is --url the yesman-recovery endpoint?"
        )
    return document


def render_status(document: dict[str, Any], base: str) -> Tree:
    """A rich tree: the daemon's health verdict and why (what ``/healthz`` says), then one line
    per supervisor or worker, with state, restarts, uptime, last exit."""
    healthy = bool(document.get("healthy"))
    title = Text.assemble(
        ("yesman-recovery ", "bold"),
        str(document.get("version", "?")),
        "  ",
        ("healthy", "green") if healthy else ("unhealthy", "bold red"),
        f"  {base}",
    )
    tree = Tree(title)
    verdict = document.get("verdict")
    for line in verdict_lines(verdict):
        tree.add(Text(f"unhealthy: {line}", style="red"))  # Text: user text is never markup
    servers = document.get("tmux_servers")
    if isinstance(servers, dict) and servers.get("problem"):
        tree.add(Text(f"warning: {servers['problem']}", style="yellow"))
    _add_node(tree, document["tree"])
    return tree


def verdict_lines(verdict: object) -> list[str]:
    """One line per reason of a ``/healthz`` verdict: ``session_failed agent: failed: …``."""
    reasons = verdict.get("reasons") if isinstance(verdict, dict) else None
    return [
        f"{r.get('kind', '?')} {r.get('subject', '?')}: {r.get('detail', '')}"
        for r in reasons or ()
        if isinstance(r, dict)
    ]


def _add_node(parent: Tree, node: dict[str, Any]) -> None:
    branch = parent.add(node_label(node))
    for child in node.get("children") or ():
        if isinstance(child, dict):
            _add_node(branch, child)


def node_label(node: dict[str, Any]) -> Text:
    """``id  kind  state  restarts N  up 3m 12s  last exit: ...`` with user text unescaped."""
    state = str(node.get("state", "?"))
    label = Text.assemble(
        (str(node.get("id", "?")), "bold"),
        "  ",
        (str(node.get("kind", "?")), "cyan"),
        "  ",
        (state, STATE_STYLES.get(state, "")),
    )
    restarts = node.get("restarts")
    if restarts:
        label.append(f"  restarts {restarts}", style="yellow")
    uptime = node.get("uptime_seconds")
    if isinstance(uptime, int | float):
        label.append(f"  up {format_uptime(float(uptime))}")
    last_exit = node.get("last_exit")
    if last_exit:
        label.append(f"  last exit: {last_exit}", style="dim")
    return label


def _error_detail(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip() or "no detail"
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return json.dumps(parsed)
