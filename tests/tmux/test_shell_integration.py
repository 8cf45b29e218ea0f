"""The shell integration's pure parts, checked against the real shells: typed lines parse back
to the exact argv, the files are private, reports are validated, endings attributed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from yesman_recovery.actors.diagnosis import ending_in
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.programs import Ending, program_name
from yesman_recovery.tmux.prompt import at_prompt
from yesman_recovery.tmux.records import PaneSnapshot
from yesman_recovery.tmux.shell_integration import (
    integrated_shell,
    integration_dir,
    is_dispatch,
    pane_command,
    parse_line,
    typed_line,
)
from yesman_recovery.tmux.shell_snippets import SNIPPETS
from yesman_recovery.tmux.snapshot import _status

NASTY = [
    "plain",
    "it's",
    'say "hi"',
    "$HOME",
    "`touch /tmp/yr-never`",
    "$(touch /tmp/yr-never)",
    "line one\nline two",
    "tab\there",
    "back\\slash",
    "\\'",
    "ünïcode ✓",
    "bad byte \udcff\udcfe",
    "",
    "; rm -rf ~",
    "a*b?[c]",
    "{a,b}",
    "~user",
    "%self",
]


def _shells() -> list[str]:
    return [s for s in ("bash", "zsh", "fish") if shutil.which(s)]


@pytest.mark.parametrize("shell", _shells())
def test_a_typed_line_runs_exactly_its_argv_in_each_shell(shell: str, tmp_path: Path) -> None:
    argv = ["printf", "%s\\0", *NASTY]
    line = typed_line(argv, shell)
    assert line.startswith(" ")  # out of the history
    assert "\n" not in line  # one line
    out = subprocess.run(
        [shutil.which(shell) or shell, "-c", line],
        capture_output=True,
        timeout=10,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        check=True,
    ).stdout
    got = [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0")[:-1]]
    assert got == NASTY
    assert not os.path.exists("/tmp/yr-never")


def test_plain_words_are_typed_as_a_user_would() -> None:
    argv = ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"]
    assert typed_line(argv, "bash") == " python3 -m http.server 8000 --bind 127.0.0.1"
    assert typed_line(argv, "fish") == " python3 -m http.server 8000 --bind 127.0.0.1"
    assert typed_line(["less", "my file"], "zsh") == " less 'my file'"


def test_the_files_are_private_and_written_once(tmp_path: Path) -> None:
    base = tmp_path / "shell"
    first = integration_dir(str(base))
    assert first is not None
    assert integration_dir(str(base)) == first
    mode = os.stat(first).st_mode & 0o777
    assert mode == 0o700
    assert {p.name for p in Path(first).iterdir()} == {"bash-init", "zsh", "init.fish"}
    os.chmod(base, 0o777)  # others may write here: its files would run in panes
    assert integration_dir(str(base)) is None


def test_the_pane_command_and_the_shells_are_recognised(tmp_path: Path) -> None:
    command = pane_command(str(tmp_path))
    assert is_dispatch(command)
    assert not is_dispatch(("sh", "-c", "echo"))
    assert integrated_shell(("/bin/bash", "--init-file", "/x/bash-init")) == "bash"
    assert integrated_shell(("-zsh",)) == "zsh"
    assert integrated_shell(("dash",)) is None
    assert program_name(("/bin/bash", "--init-file", "/x/bash-init")) == "bash"


@pytest.mark.parametrize(
    ("text", "status"),
    [("0", 0), ("137", 137), ("255", 255), ("256", None), ("-1", None), ("1e3", None),
     ("", None), (" 1", None), ("\u0661", None), ("0001", None)],
)  # fmt: skip
def test_a_reported_status_is_validated(text: str, status: int | None) -> None:
    assert _status(text) == status


def _at_shell(**fields: object) -> PaneSnapshot:
    base: dict[str, object] = {"index": 0, "pid": 10, "argv": ("bash",), "shell_reports": True}
    base.update(fields)
    return PaneSnapshot(**base)  # type: ignore[arg-type]


AGENT = ("claude", "--model", "opus")
POLICY = ProgramPolicy()


def test_a_reported_kill_of_the_pane_program_is_known() -> None:
    pane = _at_shell(cmd_line="claude --model opus", exit_status=137)
    assert ending_in(POLICY, pane, AGENT) is Ending.KILLED
    assert ending_in(POLICY, _at_shell(cmd_line="claude", exit_status=130), AGENT) is (
        Ending.INTERRUPTED
    )
    assert ending_in(POLICY, _at_shell(cmd_line="claude", exit_status=0), AGENT) is Ending.EXITED


def test_another_command_at_the_prompt_since_is_the_users_own() -> None:
    pane = _at_shell(cmd_line="false", exit_status=1)
    assert ending_in(POLICY, pane, AGENT) is Ending.EXITED
    odd = _at_shell(cmd_line="echo 'unbalanced", exit_status=1)
    assert ending_in(POLICY, odd, AGENT) is Ending.EXITED


def test_a_command_reported_running_has_not_ended() -> None:
    assert ending_in(POLICY, _at_shell(cmd_line="claude", exit_status=None), AGENT) is None
    assert at_prompt(_at_shell(cmd_line="claude", exit_status=None)) is None
    assert at_prompt(_at_shell()) == "bash"
    assert at_prompt(_at_shell(cmd_line="ls", exit_status=0)) == "bash"
    assert at_prompt(_at_shell(shell_reports=False)) is None
    assert at_prompt(_at_shell(argv=("dash",))) is None


def test_a_reported_line_splits_like_a_shell_or_not_at_all() -> None:
    assert parse_line("python3 -m http.server 8000") == ("python3", "-m", "http.server", "8000")
    assert parse_line("echo 'open") is None


def test_an_integrated_plan_types_nothing_yet_and_says_what_to_type() -> None:
    from yesman_recovery.tmux.plan import PaneInput, plan_restore
    from yesman_recovery.tmux.records import SessionSnapshot, WindowSnapshot

    panes = (
        PaneSnapshot(index=0, cwd="/", command=("htop", "--delay", "20")),
        PaneSnapshot(
            index=1,
            cwd="/",
            shell_commands=("cd /srv", "vim notes.txt"),
            command=("vim", "notes.txt"),
        ),
        PaneSnapshot(index=2, cwd="/", argv=("make", "deploy")),
        PaneSnapshot(index=3, cwd="/"),
    )
    session = SessionSnapshot("s", (WindowSnapshot(index=0, name="w", panes=panes),))
    plan = plan_restore(session, ProgramPolicy(), shell_dir="/x/shell")
    assert not [c for c in plan.commands if c[0] == "send-keys"]  # typed at the prompt, later
    creates = [c for c in plan.commands if c[0] in ("new-session", "split-window")]
    assert len(creates) == 4
    assert all(c[-5:] == pane_command("/x/shell") for c in creates)
    assert plan.inputs == (
        PaneInput(0, 0, argv=("htop", "--delay", "20")),
        PaneInput(0, 1, lines=("cd /srv",), argv=("vim", "notes.txt")),
        PaneInput(0, 2, argv=("make", "deploy"), enter=False),  # temporary: left at the prompt
    )
    assert [p.argv for p in plan.programs] == [("htop", "--delay", "20"), ("vim", "notes.txt")]


CHAINS = {
    "bash": (
        "trap 'echo user-debug >> {log}' DEBUG; PROMPT_COMMAND='echo user-prompt >> {log}'; "
        "source {snippet}; source {snippet}; "
        "printf '%s\\n' \"${{PROMPT_COMMAND[@]}}\" >> {log}; __yr_debug; true"
    ),
    "zsh": (
        "precmd_functions=(mine); source {snippet}; source {snippet}; "
        "print -l $precmd_functions $preexec_functions >> {log}"
    ),
    "fish": ("source {snippet}; source {snippet}; functions --handlers-type generic >> {log}"),
}


@pytest.mark.parametrize("shell", _shells())
def test_sourced_twice_the_snippet_installs_once_and_keeps_the_users_hooks(
    shell: str, tmp_path: Path
) -> None:
    snippet = tmp_path / "snippet"
    snippet.write_text(SNIPPETS[shell])
    log = tmp_path / "log"
    script = CHAINS[shell].format(log=log, snippet=snippet)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMUX_PANE": "%999999"}
    subprocess.run([shutil.which(shell) or shell, "-i", "-c", script], env=env,
                   capture_output=True, timeout=20, check=False)  # fmt: skip
    text = log.read_text()
    if shell == "bash":
        assert text.count("__yr_precmd") == 1
        assert "echo user-prompt" in text  # the user's PROMPT_COMMAND, after ours
        assert "user-debug" in text  # the user's own DEBUG trap still runs
    elif shell == "zsh":
        assert text.split() == ["__yr_precmd", "mine", "__yr_preexec"]
    else:
        assert text.count("__yr_preexec") == 1
        assert text.count("__yr_postexec") == 1
