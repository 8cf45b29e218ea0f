"""What a pane's program is, and whether it comes back after it ended: pure rules, no tmux.

**Identity.** A program is known by what it runs, not by its interpreter: ``python3 -m
http.server 8000`` is ``python3 -m http.server``, ``python3 app.py`` is ``app``, ``python3 -c
CODE`` is ``python3 -c`` (never a word of the code), ``node …/claude-code/cli.js`` is ``claude``,
``npx prettier`` is ``npx prettier``, ``uv run pytest`` is ``uv run pytest``. Interpreter options
that take a value (``-X importtime``, ``-W error``, ``--require m``) are skipped with their value.

**Restart types**, as OTP's for children and systemd's ``Restart=``:

=============  ===========================================================================
``permanent``  comes back after every end but the user's own (exit status 0, Ctrl-C or Ctrl-\\
               from the terminal), also when how it ended is not known
``transient``  comes back only after an end known to be abnormal: killed by a signal the user
               did not send from the terminal, a non-zero exit status, lost with the server
``temporary``  never re-run; after a server crash its command line is typed at the prompt of
               the restored pane, not executed, so one key re-runs it
=============  ===========================================================================

A user's own exit is never undone, whatever the type. Defaults (:data:`DEFAULT_RULES`): AI
agents, editors, pagers and monitors are ``transient``; everything else — build, package and run
tools, one-shot commands — is ``temporary``, so a ``make deploy`` or an ``npm publish`` is never
repeated behind the user's back (tmux-resurrect likewise restores only a conservative list).
Commands a session spec declares take the session's restart type (default ``permanent``).

**Patterns** are shell globs matched against the program's name and against its command line
(the executable's basename and the arguments, joined by spaces): ``claude``, ``vim``,
``python3 -m http.server*``, ``make deploy*``. The first rule that matches wins; configured rules
come before the defaults.
"""

from __future__ import annotations

import enum
import os
import re
import shlex
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from yesman_recovery.defaults import DEFAULT_PROGRAMS


class ProgramRestart(enum.StrEnum):
    """When a program comes back after it ended (see the module docstring)."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


# --- identity --------------------------------------------------------------------------------

PYTHONS = re.compile(r"^(python|python[23](\.\d+)?|pypy3?)$")
NODES = frozenset({"node", "nodejs"})
OTHER_INTERPRETERS = frozenset({"ruby", "perl", "bash", "sh", "zsh", "dash"})
_PYTHON_VALUED = frozenset({"-X", "-W", "-Q", "--check-hash-based-pycs"})
_NODE_VALUED = frozenset(
    {"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
     "--title", "--env-file", "--inspect-port", "--input-type"}
)  # fmt: skip
_SHELL_VALUED = frozenset({"-I", "-r", "--init-file", "--rcfile", "-C", "--init-command"})
_NODE_CODE = frozenset({"-e", "--eval", "-p", "--print"})
_RUNNERS = {
    # runner: subcommands after which the next word names what runs
    "npx": frozenset(),
    "bunx": frozenset(),
    "uvx": frozenset(),
    "pipx": frozenset({"run"}),
    "uv": frozenset({"run", "tool"}),
    "npm": frozenset({"run", "run-script", "exec", "start", "test"}),
    "pnpm": frozenset({"run", "exec", "dlx"}),
    "yarn": frozenset({"run", "dlx", "exec"}),
    "bun": frozenset({"run", "x"}),
    "deno": frozenset({"run", "task", "serve"}),
    "cargo": frozenset({"run"}),
    "go": frozenset({"run"}),
    "poetry": frozenset({"run"}),
}


@dataclass(frozen=True)
class Program:
    """A program as the rules see it: ``name`` (what it runs) and ``command_line``."""

    name: str
    command_line: str


def executable(argv: Sequence[str]) -> str:
    """The basename of ``argv[0]`` (a login shell's leading ``-`` removed)."""
    return os.path.basename(argv[0]).lstrip("-") if argv else ""


def identify(argv: Sequence[str]) -> Program:
    """The :class:`Program` that ``argv`` runs (see the module docstring)."""
    if not argv:
        return Program("", "")
    exe = executable(argv)
    line = " ".join([exe, *argv[1:]])
    return Program(_name(exe, list(argv[1:])), line)


def program_name(argv: Sequence[str]) -> str:
    """The name of the program ``argv`` runs: ``identify(argv).name``."""
    return identify(argv).name


def _name(exe: str, args: list[str]) -> str:
    if PYTHONS.match(exe):
        return _python_name(exe, args)
    if exe in NODES:
        return _script_name(exe, args, _NODE_VALUED, _NODE_CODE)
    if exe in _RUNNERS:
        return _runner_name(exe, args)
    if exe in OTHER_INTERPRETERS:
        return _script_name(exe, args, _SHELL_VALUED, frozenset({"-e", "-c"}))
    return exe


def _python_name(exe: str, args: list[str]) -> str:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-":
            return f"{exe} -"
        if arg.startswith("--"):
            i += 2 if arg in _PYTHON_VALUED else 1
            continue
        if not arg.startswith("-"):
            return _script(arg)
        # A cluster of short flags such as -uc or -Wdefault: the first flag that takes a value
        # takes the rest of the cluster, or else the next argument.
        for pos, flag in enumerate(arg[1:], start=2):
            if flag in "cmWX":
                value = arg[pos:] or (args[i + 1] if i + 1 < len(args) else "")
                if flag == "c":
                    return f"{exe} -c"
                if flag == "m":
                    return f"{exe} -m {value}" if value else exe
                i += 0 if arg[pos:] else 1
                break
        i += 1
    return exe


def _script_name(exe: str, args: list[str], valued: frozenset[str], code: frozenset[str]) -> str:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in code:
            return f"{exe} {arg}"
        if arg in valued:
            i += 2
            continue
        if not arg.startswith("-"):
            return _script(arg)
        i += 1
    return exe


def _script(path: str) -> str:
    if "/claude-code/" in path:
        return "claude"
    return os.path.splitext(os.path.basename(path))[0] or path


def _runner_name(exe: str, args: list[str]) -> str:
    words = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-p", "--package", "--with", "--from"):
            skip = True  # the value names a package to install, not what runs
        elif not arg.startswith("-"):
            words.append(arg)
    subcommands = _RUNNERS[exe]
    if not subcommands:
        return f"{exe} {words[0]}" if words else exe
    if words and words[0] in subcommands:
        return " ".join([exe, *words[:2]])
    return " ".join([exe, *words[:1]])


# --- restart types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RestartRule:
    """Programs matching ``pattern`` (a glob) get ``restart``."""

    pattern: str
    restart: ProgramRestart

    def matches(self, program: Program) -> bool:
        """True iff the pattern matches the program's name or its whole command line."""
        return fnmatchcase(program.name, self.pattern) or fnmatchcase(
            program.command_line, self.pattern
        )


DEFAULT_RULES: tuple[RestartRule, ...] = tuple(
    RestartRule(name, ProgramRestart.TRANSIENT) for name in sorted(DEFAULT_PROGRAMS)
)
"""Agents, editors, pagers and monitors (:data:`~yesman_recovery.defaults.DEFAULT_PROGRAMS`)
come back after an abnormal end; anything else is ``temporary``."""


def restart_type(
    argv: Sequence[str],
    rules: Iterable[RestartRule] = DEFAULT_RULES,
    default: ProgramRestart = ProgramRestart.TEMPORARY,
) -> ProgramRestart:
    """The restart type of ``argv``: the first rule that matches, else ``default``."""
    program = identify(argv)
    for rule in rules:
        if rule.matches(program):
            return rule.restart
    return default


# --- how a program ended ---------------------------------------------------------------------


class Ending(enum.StrEnum):
    """How a program ended, as far as it can be known."""

    LOST = "lost"  # its pane or the whole server is gone (a crash, a kill of the server)
    EXITED = "exited"  # it exited with status 0
    FAILED = "failed"  # it exited with a non-zero status
    INTERRUPTED = "interrupted"  # the user stopped it from the terminal (Ctrl-C, Ctrl-\)
    KILLED = "killed"  # a signal the user did not send from the terminal
    UNKNOWN = "unknown"  # it is gone and nothing says how


USER_SIGNALS = frozenset({signal.SIGINT, signal.SIGQUIT})
"""Signals a user sends from the terminal to end the foreground program."""


def ending_of(status: int | None, signal_number: int | None) -> Ending:
    """Classify an exit from its status and the signal that killed it (tmux's ``pane_dead_*``).

    A shell reports a death by signal N as status ``128 + N``; both forms are understood.
    """
    if signal_number:
        return Ending.INTERRUPTED if signal_number in USER_SIGNALS else Ending.KILLED
    if status is None:
        return Ending.UNKNOWN
    if status == 0:
        return Ending.EXITED
    if 128 < status < 128 + 65:
        return ending_of(None, status - 128)
    return Ending.FAILED


def comes_back(restart: ProgramRestart, ending: Ending) -> bool:
    """True iff a program of type ``restart`` is started again after ``ending``.

    A temporary program never is (after ``LOST`` its command is typed, not run: see
    :func:`typed_after`); the user's own ends (``EXITED``, ``INTERRUPTED``) never are.
    """
    if restart is ProgramRestart.TEMPORARY or ending in (Ending.EXITED, Ending.INTERRUPTED):
        return False
    if restart is ProgramRestart.PERMANENT:
        return True
    return ending in (Ending.LOST, Ending.KILLED, Ending.FAILED)


def typed_after(restart: ProgramRestart, ending: Ending) -> bool:
    """True iff the command is typed at the prompt (not run) in the rebuilt pane."""
    return restart is ProgramRestart.TEMPORARY and ending is Ending.LOST


# --- how a program is started ----------------------------------------------------------------

EXIT_OPTION = "@yr_exit"
"""Pane option where a program started by :func:`launch_line` leaves its exit status."""
LAUNCHER_NAME = "yesman-recovery"
_LAUNCHER = (
    'trap : INT QUIT; "$@"; s=$?; '
    f'tmux set-option -p -t "$TMUX_PANE" {EXIT_OPTION} "$s" 2>/dev/null; exit "$s"'
)


def launch_line(argv: Sequence[str]) -> str:
    """The line typed at the pane's shell prompt to run ``argv`` and record how it ended.

    The user's own login shell runs it, so its rc files, ``PATH`` and exported variables apply
    and the user is back at that shell when the program ends; Ctrl-Z stops the job as usual.
    A small ``sh`` runs the exact argv (quoted, never re-parsed) and then stores its exit status
    in the pane option :data:`EXIT_OPTION` (``130`` after Ctrl-C); it survives SIGINT/SIGQUIT
    with a no-op trap (not an ignore, which the program would inherit). The leading space keeps
    the line out of shell history where ``ignorespace`` is set.
    """
    return " " + shlex.join(["sh", "-c", _LAUNCHER, LAUNCHER_NAME, *argv])


def launched_program(argv: Sequence[str]) -> tuple[str, ...] | None:
    """The program argv inside a :func:`launch_line` process's argv, or None if it is not one."""
    if len(argv) > 4 and list(argv[1:4]) == ["-c", _LAUNCHER, LAUNCHER_NAME]:
        return tuple(argv[4:])
    return None
