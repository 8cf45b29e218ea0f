"""How a pane the project creates gets the user's own login shell, integrated, and its program.

**Decision.** A program must be the pane's foreground process-group leader with its own argv
(so ``#{pane_current_command}``, automatic window names, ``jobs`` and ``fg`` show it), started
as a job of the user's interactive login shell (rc files, ``PATH``, Ctrl-Z, back at the prompt
after it ends), with at most the plain command on the screen and nothing in the history. So,
as VS Code does for its terminals, the project starts the pane's shell itself with a small
integration (:mod:`.shell_snippets`) and then *types the plain command* at its prompt, once the
shell reports that prompt:

- the pane command is :func:`pane_command`: a ``/bin/sh -c`` that ``exec``\\ s the pane's
  ``$SHELL`` (tmux's ``default-shell``), so no wrapper process is left: bash with
  ``--init-file`` (a file that reads ``/etc/profile`` and the first of ``~/.bash_profile``,
  ``~/.bash_login``, ``~/.profile``, as a login bash does, then the snippet); zsh as a login
  shell with a ``ZDOTDIR`` whose ``.zshenv`` puts the user's ``ZDOTDIR`` back, reads the user's
  ``.zshenv`` and the snippet (zsh then reads the user's own ``.zprofile``, ``.zshrc``,
  ``.zlogin``); fish as a login shell with ``--init-command`` (after its config). Any other
  shell (``sh``, ``dash``, ``nu``, ``xonsh``…) is started as ``$SHELL -l``, as before;
- the command is typed as the user would type it (:func:`typed_line`), quoted for that shell,
  with a leading space (kept out of the history by ``ignorespace``/``HIST_IGNORE_SPACE``; fish
  never keeps such lines);
- a shell without the snippet (one the snippet does not know, or whose rc ``exec``\\ s another
  shell) gets the old launcher line instead (:func:`~.programs.launch_line`), which records
  the exit status itself: nothing fails, the window is then named after ``sh``.

A bash started this way is not a "login shell" for ``shopt login_shell`` (``logout`` says to use
``exit``, ``~/.bash_logout`` is not read); everything else a login bash reads, it reads.

The files live in a private directory named after their content
(``$XDG_CACHE_HOME/yesman-recovery/shell/<hash>``, mode 0700), written once; a pane whose files
are missing starts ``$SHELL -l`` as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import stat
from collections.abc import Sequence
from contextlib import suppress

from yesman_recovery.tmux.shell_snippets import SHELLS, SNIPPETS

logger = logging.getLogger(__name__)

BASH_INIT = """# Read what a login bash reads, then the yesman-recovery integration.
[ -r /etc/profile ] && . /etc/profile
for __yr_f in ~/.bash_profile ~/.bash_login ~/.profile; do
    if [ -r "$__yr_f" ]; then . "$__yr_f"; break; fi
done
unset __yr_f
"""
ZSHENV = """# Give the user's ZDOTDIR back, read the user's .zshenv, then the integration.
if [[ -n ${YR_USER_ZDOTDIR-} ]]; then ZDOTDIR=$YR_USER_ZDOTDIR; else unset ZDOTDIR; fi
unset YR_USER_ZDOTDIR
[[ -r ${ZDOTDIR:-$HOME}/.zshenv ]] && source ${ZDOTDIR:-$HOME}/.zshenv
"""

DISPATCH = """d=$1 s=${SHELL:-/bin/sh}
case ${s##*/} in
bash) [ -r "$d/bash-init" ] && exec "$s" --init-file "$d/bash-init" ;;
zsh) [ -r "$d/zsh/.zshenv" ] && YR_USER_ZDOTDIR=${ZDOTDIR-} ZDOTDIR=$d/zsh exec "$s" -l ;;
fish) [ -r "$d/init.fish" ] && exec "$s" -l --init-command "source '$d/init.fish'" ;;
esac
exec "$s" -l"""
"""The pane's first process: ``exec``\\ s ``$SHELL`` with the integration (see the module)."""


def _files(snippet_dir: str) -> dict[str, str]:
    return {
        "bash-init": BASH_INIT + SNIPPETS["bash"],
        os.path.join("zsh", ".zshenv"): ZSHENV + SNIPPETS["zsh"],
        "init.fish": SNIPPETS["fish"],
    }


def _digest() -> str:
    text = "\0".join(f"{k}\0{v}" for k, v in sorted(_files("").items())) + DISPATCH
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _private(path: str) -> bool:
    info = os.lstat(path)
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def integration_dir(base: str | None = None) -> str | None:
    """The directory of the integration files, written if missing; None when it cannot be.

    ``base`` defaults to ``$XDG_CACHE_HOME/yesman-recovery/shell`` (``~/.cache``). A directory
    not owned by this user or writable by others is not used (its files would run in panes).
    """
    if base is None:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        base = os.path.join(cache, "yesman-recovery", "shell")
    path = os.path.join(base, _digest())
    if "'" in path or "\\" in path:  # it is quoted for fish's --init-command
        logger.warning("shell integration not used: %r holds a quote or a backslash", path)
        return None
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if not _private(path) or not _private(base):
            logger.warning("shell integration not used: %s is not private", path)
            return None
        for name, text in _files(path).items():
            target = os.path.join(path, name)
            if os.path.exists(target):
                continue
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            tmp = f"{target}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, target)
    except OSError as exc:
        logger.warning("shell integration not used: %s", exc)
        return None
    return path


def pane_command(directory: str) -> tuple[str, ...]:
    """The pane command (an argv, run without a shell by tmux) that starts the integrated shell."""
    return ("/bin/sh", "-c", DISPATCH, "yesman-recovery", directory)


def replay_pane_command(path: str, directory: str) -> tuple[str, ...]:
    """:func:`pane_command` that first prints the saved text in ``path`` and removes it."""
    script = 'cat -- "$1"; rm -f -- "$1"; shift\n' + DISPATCH
    return ("/bin/sh", "-c", script, "yesman-recovery", path, directory)


def is_dispatch(argv: Sequence[str] | None) -> bool:
    """True iff ``argv`` is :func:`pane_command`'s ``sh`` before it ``exec``\\ s the shell."""
    return bool(argv) and len(argv or ()) > 2 and DISPATCH in (argv or ())[2]


def integrated_shell(argv: Sequence[str] | None) -> str | None:
    """The name of the shell ``argv`` runs when the snippet knows it (``bash``…), else None."""
    if not argv:
        return None
    name = os.path.basename(argv[0]).lstrip("-")
    return name if name in SHELLS else None


# --- typing a command as the user would -------------------------------------------------------


_BARE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def _plain(arg: str) -> bool:
    return all(c.isprintable() and not 0xDC80 <= ord(c) <= 0xDCFF for c in arg)


def _escape(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    named = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e"}
    if c in named:
        return named[c]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def posix_quote(arg: str) -> str:
    """``arg`` as one word for bash or zsh: ``shlex.quote``, or ``$'…'`` when it holds control
    characters or bytes that are not UTF-8 (so the typed line stays one line)."""
    if _plain(arg):
        return shlex.quote(arg)
    inner = "".join(
        "\\\\" if c == "\\" else "\\'" if c == "'" else c if _plain(c) else _escape(c) for c in arg
    )
    return f"$'{inner}'"


def fish_quote(arg: str) -> str:
    """``arg`` as one fish word: single quotes (``\\`` and ``'`` escaped), control characters and
    bytes that are not UTF-8 as fish escapes between quoted parts."""
    if _BARE.fullmatch(arg):
        return arg
    out: list[str] = []
    part: list[str] = []
    for c in arg:
        if _plain(c):
            part.append("\\\\" if c == "\\" else "\\'" if c == "'" else c)
            continue
        out.append("'" + "".join(part) + "'")
        part = []
        escaped = _escape(c)
        out.append(escaped.replace("\\x", "\\X") if 0xDC80 <= ord(c) <= 0xDCFF else escaped)
    out.append("'" + "".join(part) + "'")
    return "".join(p for p in out if p != "''") or "''"


def typed_line(argv: Sequence[str], shell: str) -> str:
    """The line typed at ``shell``'s prompt to run ``argv``: a leading space (no history), then
    each word quoted for that shell."""
    quote = fish_quote if shell == "fish" else posix_quote
    return " " + " ".join(quote(a) for a in argv)


def parse_line(line: str) -> tuple[str, ...] | None:
    """The words of a reported command line (POSIX quoting), or None when it does not split."""
    with suppress(ValueError):
        return tuple(shlex.split(line))
    return None
