"""A click group whose commands are imported when used, so every command starts fast.

Commands are registered as ``"module:attribute"`` strings. Running one imports its module alone:
``yesman-recovery --version`` imports none, ``checkpoints list`` never loads pykka or the tmux
layer. ``--help`` and shell completion of command names import every command module (they need
each command's short help), which costs a few hundred milliseconds once per listing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A :class:`click.Group` that imports the commands named in ``lazy`` on first use."""

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = dict(lazy or {})

    def add_lazy(self, name: str, target: str) -> None:
        """Register command ``name`` as ``"package.module:attribute"``, imported when used."""
        if ":" not in target:
            raise ValueError(f"lazy command {name!r}: {target!r} is not 'module:attribute'")
        self.lazy[name] = target

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy:
            return command
        command = self._load(cmd_name)
        self.add_command(command, cmd_name)  # imported once per process
        return command

    def _load(self, name: str) -> click.Command:
        module_name, _, attribute = self.lazy[name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"lazy command {name!r}: {self.lazy[name]} is not a click command")
        return command
