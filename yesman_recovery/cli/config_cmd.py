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
    cfg, files, problems = _check_specs(cfg)
    if problems:
        for line in files:
            click.echo(line)
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
    if cfg.yesman is not None:
        folder = cfg.yesman.sessions_dir or "none"
        if cfg.yesman.sessions_dir is not None and not cfg.yesman.sessions_dir.is_dir():
            folder = f"{folder} (no such folder: declares nothing)"
        click.echo(f"  yesman:     sessions_dir {folder}, projects {cfg.yesman.projects or 'none'}")
    if files:
        click.echo(f"  specs:      {len(files)} read")
        for line in files:
            click.echo(f"  {line}")
    if cfg.retry or cfg.breakers:
        click.echo(f"  retry:      {', '.join(sorted(cfg.retry)) or 'none'}")
        click.echo(f"  breakers:   {', '.join(sorted(cfg.breakers)) or 'none'}")


def _check_specs(
    cfg: config_module.Config,
) -> tuple[config_module.Config, list[str], list[str]]:
    """Read every spec and ``[yesman]`` file: the resolved configuration, one line per file
    read (OK or ERROR), and the errors and refused layouts, each naming the file and the key."""
    from yesman_recovery.config.declared import resolve  # tmuxp only when a spec is named

    resolution = resolve(cfg)
    explicit = {s.name: i for i, s in enumerate(cfg.sessions) if s.spec is not None}
    lines: list[str] = []
    problems: list[str] = []
    for report in resolution.reports:
        where = ""
        if report.session in explicit:
            where = f"{cfg.source}: sessions[{explicit[report.session]}].spec: "
        if report.error is not None:
            problems.append(f"{where}{report.error}")
            lines.append(f"  {report.origin}: ERROR (session {report.session})")
            continue
        problems += [f"{where}{warning}" for warning in report.warnings]
        template = f", template {report.files[1]}" if len(report.files) > 1 else ""
        warned = len(report.warnings)
        ok = f"OK, {warned} warning{'s' if warned > 1 else ''}" if warned else "OK"
        lines.append(f"  {report.origin}: {ok} (session {report.session}{template})")
    problems += resolution.problems
    return resolution.config, lines, problems


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
