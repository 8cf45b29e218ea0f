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
@click.pass_context
def status(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Show the running daemon's supervision tree; exit 1 if no daemon answers."""
    base = url if url is not None else load_config(ctx).metrics.url
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
    url = status_url(base)
    if urllib.parse.urlsplit(url).port == 0:
        fail(
            f"{url} names port 0 ([metrics] listen picks any free port), so the daemon's address "
            "is not known here: pass --url with the address `yesman-recovery run` printed"
        )
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read())
        fail(f"the daemon at {url} answered {exc.code}: {detail}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(
            f"no daemon answers at {url} ({reason}); start one with `yesman-recovery run`, "
            "or pass --url with the address it printed"
        )
    try:
        document = json.loads(body)
    except ValueError:
        fail(f"{url} did not answer with JSON; is --url the yesman-recovery endpoint?")
    if not isinstance(document, dict) or not isinstance(document.get("tree"), dict):
        fail(f"{url} answered JSON without a status tree; is --url the yesman-recovery endpoint?")
    return document


def render_status(document: dict[str, Any], base: str) -> Tree:
    """A rich tree: one line per supervisor or worker, with state, restarts, uptime, last exit."""
    healthy = bool(document.get("healthy"))
    title = Text.assemble(
        ("yesman-recovery ", "bold"),
        str(document.get("version", "?")),
        "  ",
        ("healthy", "green") if healthy else ("unhealthy", "bold red"),
        f"  {base}",
    )
    tree = Tree(title)
    _add_node(tree, document["tree"])
    return tree


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
