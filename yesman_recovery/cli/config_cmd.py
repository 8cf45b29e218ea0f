"""``yesman-recovery config check``: validate a configuration file without starting anything."""

from __future__ import annotations

from pathlib import Path

import click

from yesman_recovery import config as config_module
from yesman_recovery.cli.common import ConfigUsageError, common_options, config_path
from yesman_recovery.errors import ConfigError


@click.group("config")
def config_group() -> None:
    """Check configuration files."""


@config_group.command("check")
@common_options
@click.argument("path", required=False, type=click.Path(dir_okay=True, path_type=Path))
@click.pass_context
def check(ctx: click.Context, path: Path | None) -> None:
    """Validate PATH (default: --config or YESMAN_RECOVERY_CONFIG); exit 2 if it is invalid.

    The session specs it names are loaded too: a spec error, or a layout the daemon would
    leave out, is reported the same way.
    """
    target = path if path is not None else config_path(ctx)
    if target is None:
        raise ConfigUsageError(
            "config check needs a file: give PATH, --config FILE or YESMAN_RECOVERY_CONFIG"
        )
    try:
        cfg = config_module.load_config(target)
    except ConfigError as exc:
        raise ConfigUsageError(str(exc)) from None
    problems = _spec_problems(cfg)
    if problems:
        raise ConfigUsageError("\n".join(problems))
    metrics = f"{cfg.metrics.url}/metrics" if cfg.metrics.enabled else "disabled"
    socket = cfg.tmux.socket_path or (
        f"-L {cfg.tmux.socket_name}" if cfg.tmux.socket_name else "default"
    )
    click.echo(f"{cfg.source}: OK")
    click.echo(
        f"  supervisor: {cfg.supervisor.strategy.value}, at most {cfg.supervisor.max_restarts} "
        f"restarts in {cfg.supervisor.max_seconds:g}s"
    )
    click.echo(f"  metrics:    {metrics}")
    click.echo(f"  storage:    {_storage(ctx, cfg)}")
    click.echo(f"  tmux:       server {socket}, adopt {_adopt(cfg.tmux.adopt)}")
    names = ", ".join(s.name for s in cfg.sessions) or "none"
    click.echo(f"  sessions:   {len(cfg.sessions)} declared ({names})")
    if cfg.retry or cfg.breakers:
        click.echo(f"  retry:      {', '.join(sorted(cfg.retry)) or 'none'}")
        click.echo(f"  breakers:   {', '.join(sorted(cfg.breakers)) or 'none'}")


def _spec_problems(cfg: config_module.Config) -> list[str]:
    """Load every spec the configuration names; one line per error or refused layout."""
    from yesman_recovery.errors import SpecError
    from yesman_recovery.tmux.spec import check_spec  # tmuxp only when a spec is named

    problems: list[str] = []
    for index, session in enumerate(cfg.sessions):
        if session.spec is None:
            continue
        where = f"{cfg.source}: sessions[{index}].spec"
        try:
            _session, warnings = check_spec(session.spec)
        except SpecError as exc:
            problems.append(f"{where}: {exc}")
            continue
        problems += [f"{where}: {warning}" for warning in warnings]
    return problems


def _storage(ctx: click.Context, cfg: config_module.Config) -> str:
    """The state directory a daemon run with these options would use, and its durability."""
    given = ctx.meta.get("yesman_recovery.state_dir")  # --state-dir or YESMAN_RECOVERY_STATE_DIR
    if isinstance(given, Path):
        overridden = f"--state-dir overrides {cfg.storage.path}"
        return f"{given.expanduser()} ({cfg.storage.durability}; {overridden})"
    return f"{cfg.storage.path} ({cfg.storage.durability})"


def _adopt(patterns: tuple[str, ...]) -> str:
    if patterns == ("*",):
        return "all sessions"
    if not patterns:
        return "no undeclared sessions"
    return " ".join(patterns)
