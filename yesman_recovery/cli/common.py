"""Options and helpers shared by every ``yesman-recovery`` command.

``--config FILE`` and ``--state-dir DIR`` are accepted both on the group
(``yesman-recovery --state-dir D run``) and on each command decorated with
:func:`common_options` (``yesman-recovery run --config F``). The group's options also read
``YESMAN_RECOVERY_CONFIG`` and ``YESMAN_RECOVERY_STATE_DIR``. Precedence, strongest first: the
option after the command, the option before it, the environment variable, then the config file's
``[storage] path`` (state directory only), then the built-in default.

Both values live in ``ctx.meta``, which click shares across a whole command invocation, so
commands read them through :func:`load_config` and :func:`resolve_state_dir` and never look at
their own parameters.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from yesman_recovery.config import Config

CONFIG_ENV = "YESMAN_RECOVERY_CONFIG"
STATE_DIR_ENV = "YESMAN_RECOVERY_STATE_DIR"

_CONFIG_PATH_KEY = "yesman_recovery.config_path"
_STATE_DIR_KEY = "yesman_recovery.state_dir"
_CONFIG_KEY = "yesman_recovery.config"

F = TypeVar("F", bound=Callable[..., Any])


class ConfigUsageError(click.ClickException):
    """A configuration problem reported by the CLI: message on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        lines = self.format_message().splitlines()
        if len(lines) > 1:
            lines = [f"invalid configuration ({len(lines)} problems):", *(f"  {x}" for x in lines)]
        click.echo(f"yesman-recovery: error: {lines[0]}", err=True, file=file)
        for line in lines[1:]:
            click.echo(line, err=True, file=file)


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Path | None], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        # A later (command-level) option overrides an earlier (group-level) one; None means
        # "not given here", which must not erase what the group already recorded.
        if value is not None:
            ctx.meta[key] = value

    return callback


def _config_option(*, envvar: str | None) -> Callable[[F], F]:
    return click.option(
        "--config",
        "-c",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=envvar,
        expose_value=False,
        is_eager=True,
        callback=_remember(_CONFIG_PATH_KEY),
        help=f"Configuration file (TOML). Env: {CONFIG_ENV}.",
    )


def _state_dir_option(*, envvar: str | None) -> Callable[[F], F]:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=envvar,
        expose_value=False,
        is_eager=True,
        callback=_remember(_STATE_DIR_KEY),
        help=f"State directory (checkpoints, journal, audit). Env: {STATE_DIR_ENV}.",
    )


def group_options(f: F) -> F:
    """Add ``--config`` and ``--state-dir`` to the top-level group, with their env variables."""
    return _config_option(envvar=CONFIG_ENV)(_state_dir_option(envvar=STATE_DIR_ENV)(f))


def common_options(f: F) -> F:
    """Add ``--config FILE`` and ``--state-dir DIR`` to a command.

    The options are not passed to the function: call :func:`load_config` and
    :func:`resolve_state_dir` with the click context instead. Env variables are read by the group
    only, so that an option given before the command is not overridden by the environment.
    """
    return _config_option(envvar=None)(_state_dir_option(envvar=None)(f))


def config_path(ctx: click.Context) -> Path | None:
    """The configuration file chosen on the command line or in the environment, if any."""
    value = ctx.meta.get(_CONFIG_PATH_KEY)
    return value if isinstance(value, Path) else None


def load_config(ctx: click.Context) -> Config:
    """Load and validate the configuration once per invocation; exit 2 with a message if bad.

    With no ``--config`` and no ``YESMAN_RECOVERY_CONFIG`` the built-in defaults apply.
    """
    cached = ctx.meta.get(_CONFIG_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    path = config_path(ctx)
    if path is None:  # the built-in defaults need no parsing, so no schema to import
        from yesman_recovery.config.model import Config

        ctx.meta[_CONFIG_KEY] = Config.default()
        return ctx.meta[_CONFIG_KEY]  # type: ignore[no-any-return]
    from yesman_recovery import config as config_module
    from yesman_recovery.errors import ConfigError

    try:
        loaded = config_module.load_config(path)
    except ConfigError as exc:
        raise ConfigUsageError(str(exc)) from None
    ctx.meta[_CONFIG_KEY] = loaded
    return loaded


def resolve_state_dir(ctx: click.Context) -> Path:
    """The state directory: ``--state-dir`` / env, else the config's ``[storage] path``, else the
    default (``$XDG_STATE_HOME/yesman-recovery`` or ``~/.local/state/yesman-recovery``).

    Loads the configuration (and so may exit 2) when no directory was given explicitly.
    """
    explicit = ctx.meta.get(_STATE_DIR_KEY)
    if isinstance(explicit, Path):
        return explicit.expanduser()
    return load_config(ctx).storage.path


def existing_state_dir(ctx: click.Context) -> Path:
    """The resolved state directory for a reader; exits 1 naming it when it is missing or
    cannot be read. Creates nothing: readers never change the state directory."""
    state_dir = resolve_state_dir(ctx)
    try:
        if not state_dir.is_dir():
            what = "is not a directory" if state_dir.exists() else "does not exist"
            fail(
                f"the state directory {state_dir} {what}; pass the daemon's with --state-dir "
                f"(or {STATE_DIR_ENV}, or [storage] path in --config), or start a daemon on it "
                "with `yesman-recovery run`"
            )
        os.listdir(state_dir)
    except PermissionError:
        fail(
            f"cannot read the state directory {state_dir}: permission denied; run as its owner, "
            f"or if it is yours: `chmod 700 {shlex.quote(str(state_dir))}`"
        )
    except OSError as exc:
        fail(f"cannot read the state directory {state_dir}: {exc.strerror}")
    return state_dir


def json_lines_option(func: F) -> F:
    """``--json`` (one JSON array) and ``--jsonl`` (one JSON object per line) for list output."""
    func = click.option("--jsonl", "as_jsonl", is_flag=True,
                        help="Print JSON lines, one object each.")(func)  # fmt: skip
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")(func)


def echo_json_list(items: list[Any], *, jsonl: bool) -> None:
    """Print ``items`` as the project's JSON convention says: an array, or JSON lines."""
    import json

    if jsonl:
        for item in items:
            click.echo(json.dumps(item, ensure_ascii=False))
    else:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))


PIPED_WIDTH = 1000
"""Console width when output is piped: one row or tree node per line, for grep."""


def output_console() -> Console:
    """A rich console for tables and trees; piped output is not wrapped at 80 columns.

    Every string it prints is literal: no markup (a session named ``a[bold]b`` or a message
    naming ``[breakers.NAME]`` is shown as written), no ``:emoji:`` codes, no highlighting.
    Styles are given as ``Text`` styles, never as markup, so user text needs no escaping.
    """
    from rich.console import Console

    console = Console(highlight=False, markup=False, emoji=False)
    if console.is_terminal:
        return console
    return Console(highlight=False, markup=False, emoji=False, width=PIPED_WIDTH)


TMUX_MISSING = (
    "tmux is not installed (no `tmux` on PATH): install it (`sudo apt-get install tmux`, "
    "`brew install tmux`) or add its directory to PATH"
)


class StatusUnavailable(Exception):
    """No usable ``/status`` document at a URL; the message says why and what to do."""


def fail(message: str) -> NoReturn:
    """Print ``yesman-recovery: message`` on stderr and exit with status 1."""
    click.echo(f"yesman-recovery: {message}", err=True)
    raise click.exceptions.Exit(1)


def url_option(func: F) -> F:
    """``--url``: the daemon's endpoint; default from the configuration's ``[metrics] listen``."""
    return click.option(
        "--url",
        metavar="URL",
        help="Base URL of the daemon's endpoint. Default: [metrics] listen of the configuration "
        "(http://127.0.0.1:9464).",
    )(func)


def format_uptime(seconds: float) -> str:
    """``12.3s``, ``3m 12s``, ``2h 5m``, ``4d 2h``: two units at most."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"
