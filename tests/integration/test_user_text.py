"""Every message true, every user string printed as written: a real daemon, a real tmux server
and the real CLI, with a session, a health check and a breaker whose names look like markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import kill_tmux_server
from yesman_recovery.cli import main
from yesman_recovery.tmux.client import TmuxClient

from .conftest import wait_until
from .daemon import Daemon, environment, write_config

pytestmark = pytest.mark.tmux

NAME = "a[bold]b;$(x)"


def cli(config: Path, *args: str) -> Result:
    """The CLI in this process (the daemon is a real one): as a user runs it, but fast."""
    env = environment(config.parent)
    return CliRunner().invoke(main, [*args, "--config", str(config)], env=env)


def test_user_text_is_shown_literally_and_unknown_names_are_refused(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "config.toml",
        tmux_client.socket_name or "",
        '[[health_checks]]\nname = "c[bold]k :smile:"\nkind = "command"\ncommand = ["true"]\n'
        'interval = "1s"\n',
    )
    tmux_client.run("new-session", "-d", "-s", NAME)
    daemon = Daemon(config)
    try:
        wait_until(lambda: daemon.sessions().get(NAME, {}).get("checkpointed"), 30)
        kill_tmux_server(tmux_client)  # a crash: the restore is audited under the name
        wait_until(lambda: cli(config, "audit", "--kind", "recovery", "--json").output != "[]\n")
        wait_until(lambda: daemon.state_of(NAME) == "healthy", 30)

        listed = cli(config, "sessions", "list", "--url", daemon.url).output
        assert f"{NAME}  adopted  healthy" in listed
        status = cli(config, "status", "--url", daemon.url).output
        assert f"└── {NAME}  worker  running" in status
        assert "c[bold]k :smile:  worker" in status
        audit = cli(config, "audit", "--kind", "recovery").output
        assert f"│ {NAME} │ restore" in audit
        assert f"│ {NAME} │" in cli(config, "checkpoints", "list").output
        assert "c[bold]k :smile:  command  healthy" in cli(config, "health").output
        breakers = cli(config, "breakers", "list").output
        assert breakers == "no circuit breakers (add [breakers.NAME] tables to the configuration)\n"

        for verb in ("pause", "resume", "reset", "forget"):
            refused = cli(config, "sessions", verb, "nosuch")
            assert refused.exit_code == 1, (verb, refused.output)
            assert NAME in refused.output or "paused: none" in refused.output, refused.output
            assert "Traceback" not in refused.output
        assert not any("Traceback" in line for line in daemon.stderr), "".join(daemon.stderr)

        missing = cli(config, "checkpoints", "list", "nosuch")
        assert missing.exit_code == 1
        assert missing.output == (
            f"yesman-recovery: no checkpoints of 'nosuch' in {tmp_path / 'state'}; scopes with "
            f"checkpoints: {NAME}\n"
        )
    finally:
        daemon.stop()
        kill_tmux_server(tmux_client)
