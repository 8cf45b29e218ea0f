"""``yesman-recovery shell-init bash|zsh|fish``: print the shell-integration snippet.

Opt-in, like ``direnv hook`` or ``starship init``: put ``eval "$(yesman-recovery shell-init
bash)"`` at the end of ``~/.bashrc`` (zsh: ``~/.zshrc``; fish: ``yesman-recovery shell-init fish |
source`` in ``config.fish``). Each command a user then starts at a prompt inside tmux reports its
start and its end (status, signal) to its pane, so a program started by hand has a known ending:
exit 0 and Ctrl-C are left alone, a kill by a signal brings a ``transient`` program (every
agent) back. Panes the daemon creates get the same snippet without it; sourced twice, it
installs once. The text is :mod:`yesman_recovery.tmux.shell_snippets`.
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command("shell-init")
@click.argument("shell", type=click.Choice(SHELLS))
def shell_init(shell: str) -> None:
    """Print the shell integration of SHELL (bash, zsh or fish) on stdout.

    \b
    bash: eval "$(yesman-recovery shell-init bash)"    at the end of ~/.bashrc
    zsh:  eval "$(yesman-recovery shell-init zsh)"     at the end of ~/.zshrc
    fish: yesman-recovery shell-init fish | source     at the end of config.fish
    """
    from yesman_recovery.tmux.shell_snippets import SNIPPETS

    click.echo(SNIPPETS[shell], nl=False)
