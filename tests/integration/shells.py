"""A user's own shell for tests: a HOME with that shell's rc files, a tmux server using it.

The rc files do what real ones do: keep a history file (ignoring lines that start with a space,
as Debian's defaults and most users' do), add their own prompt hook (``PROMPT_COMMAND``,
``precmd``, ``fish_prompt``) that logs the last status to ``hook.log`` — the integration must
chain with it, never replace it — and, when asked, sleep in the login rc (nvm, conda) or source
the integration snippet, as ``eval "$(yesman-recovery shell-init bash)"`` would.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.shell_snippets import SNIPPETS

SHELLS = [s for s in ("bash", "zsh", "fish") if shutil.which(s)]
LAUNCHER_TEXT = ("trap :", "@yr_exit", "yesman-recovery", "--init-file", "sh -c")
"""Words of a launcher or of the integration that must never reach a screen or a history."""


@dataclass(frozen=True)
class UserShell:
    name: str
    path: str
    home: Path
    hook_log: Path
    history: Path

    def history_text(self) -> str:
        return self.history.read_text(errors="replace") if self.history.exists() else ""


def make_home(root: Path, shell: str, *, rc_sleep: float = 0.0, snippet: bool = False) -> UserShell:
    """A HOME for ``shell`` under ``root`` (see the module docstring)."""
    home = root / f"home-{shell}"
    home.mkdir(parents=True, exist_ok=True)
    log = home / "hook.log"
    (home / "snippet").write_text(SNIPPETS[shell])
    wait = f"sleep {rc_sleep}\n" if rc_sleep else ""
    source = f". '{home}/snippet'\n" if snippet else ""
    if shell == "bash":
        history = home / ".bash_history"
        (home / ".bash_profile").write_text(
            f"{wait}export PATH={os.environ['PATH']}\nHISTFILE={history}\nHISTCONTROL=ignorespace\n"
            f"PROMPT_COMMAND='echo \"bash $?\" >> {log}; history -a'\n{source}"
        )
    elif shell == "zsh":
        history = home / ".zsh_history"
        (home / ".zprofile").write_text(f"{wait}export PATH={os.environ['PATH']}\n")
        (home / ".zshrc").write_text(
            f"HISTFILE={history}\nSAVEHIST=100\nHISTSIZE=100\n"
            "setopt INC_APPEND_HISTORY HIST_IGNORE_SPACE\n"
            f'precmd() {{ echo "zsh $?" >> {log} }}\n{source}'
        )
    else:
        history = home / ".local/share/fish/fish_history"
        config = home / ".config/fish/config.fish"
        config.parent.mkdir(parents=True, exist_ok=True)
        (home / ".config/fish/conf.d").mkdir(exist_ok=True)
        # fish's first start generates completions in a background job: a user's fish did
        # that long ago (a shell with a job is the user's work, left alone by the daemon)
        (home / ".local/share/fish/generated_completions").mkdir(parents=True, exist_ok=True)
        config.write_text(
            f"{wait}set -gx PATH {' '.join(os.environ['PATH'].split(':'))}\n"
            "set -g fish_greeting ''\n"
            f"function fish_prompt; echo \"fish $status\" >> {log}; echo -n '> '; end\n"
            + (f"source '{home}/snippet'\n" if snippet else "")
        )
    return UserShell(shell, shutil.which(shell) or shell, home, log, history)


def shell_client(user: UserShell, monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> TmuxClient:
    """A client of a fresh isolated server whose panes run ``user``'s shell in its HOME."""
    monkeypatch.setenv("HOME", str(user.home))
    monkeypatch.setenv("SHELL", user.path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(user.home / ".cache"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("ZDOTDIR", raising=False)
    config = config_dir / f"tmux-{user.name}.conf"
    config.write_text(f"set -g default-shell {user.path}\nset -g history-limit 2000\n")
    return TmuxClient(socket_name=f"yr-test-{secrets.token_hex(6)}", config_file=str(config))
