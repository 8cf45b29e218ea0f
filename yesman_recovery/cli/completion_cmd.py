"""``yesman-recovery completion bash|zsh|fish``: print the shell's completion script.

The script is click's own: at each TAB the shell runs ``yesman-recovery`` with
``_YESMAN_RECOVERY_COMPLETE=<shell>_complete`` set and click answers with the candidates (command
names, options, choices such as ``--log-level`` values, paths). Install it as the README says.
"""

from __future__ import annotations

import click

PROG_NAME = "yesman-recovery"
COMPLETE_VAR = "_YESMAN_RECOVERY_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish) on stdout.

    \b
    bash: yesman-recovery completion bash \
            > ~/.local/share/bash-completion/completions/yesman-recovery
    zsh:  yesman-recovery completion zsh > "${fpath[1]}/_yesman-recovery"
    fish: yesman-recovery completion fish > ~/.config/fish/completions/yesman-recovery.fish
    """
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    complete_class = get_completion_class(shell)
    if complete_class is None:  # click always knows these three; a guard for odd builds
        raise click.UsageError(f"click has no completion for {shell}")
    click.echo(complete_class(root, {}, PROG_NAME, COMPLETE_VAR).source())
