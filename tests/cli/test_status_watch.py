"""One frame of ``status --watch``, drawn from a status document (sections it may hold)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from yesman_recovery.cli.common import StatusUnavailable
from yesman_recovery.cli.status_cmd import render_status
from yesman_recovery.cli.status_watch import render_frame


def _draw(fetch: Any) -> str:
    console = Console(width=160, record=True, force_terminal=False)
    console.print(render_frame("http://127.0.0.1:1", None, 2.0, fetch, render_status))
    return console.export_text()


def test_a_frame_shows_sessions_breakers_checks_and_transactions(
    status_document: dict[str, Any],
) -> None:
    document = {
        **status_document,
        "sessions": [{"name": "agent-1", "mode": "declared", "state": "paused", "detail": "x"}],
        "breakers": [{"name": "model-api", "state": "open", "failures": 3}],
        "checks": [{"name": "disk", "state": "failing", "detail": {"free": 1}}],
        "transactions": [{"id": "t-1", "state": "parked", "step": "push"}],
    }
    text = _draw(lambda _base: document)
    assert "agent-1" in text
    assert "paused" in text
    assert "model-api" in text
    assert "health checks" in text
    assert "failing" in text
    assert "transactions" in text
    assert "parked" in text
    assert "every 2 s  Ctrl-C to quit" in text


def test_a_daemon_not_answering_is_shown_not_fatal() -> None:
    def fetch(_base: str) -> dict[str, Any]:
        raise StatusUnavailable("no daemon answers at http://127.0.0.1:1/status")

    assert "not answering: no daemon answers" in _draw(fetch)


def test_a_frame_shows_the_verdict_and_user_text_as_written(
    status_document: dict[str, Any], capsys: Any
) -> None:
    from yesman_recovery.cli.common import output_console

    name = "a[bold]b;$(x) :smile:"
    reason = {"kind": "session_failed", "subject": name, "detail": "failed: [red]gave up"}
    document = {
        **status_document,
        "healthy": False,
        "verdict": {"healthy": False, "reasons": [reason]},
        "sessions": [{"name": name, "mode": "declared", "state": "failed", "detail": "[/]"}],
        "tmux_servers": {"where": "here", "problem": "cannot start tmux servers [x]: no bus"},
    }
    frame = render_frame("http://127.0.0.1:1", None, 2.0, lambda _base: document, render_status)
    output_console().print(frame)
    text = capsys.readouterr().out
    assert "unhealthy  http://127.0.0.1:1" in text
    assert f"unhealthy: session_failed {name}: failed: [red]gave up" in text
    assert name in text.replace(f"session_failed {name}", "")
    assert "[/]" in text
    assert "warning: cannot start tmux servers [x]: no bus" in text
