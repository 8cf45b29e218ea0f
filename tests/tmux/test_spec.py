"""Loading tmuxp-format specs into expected sessions, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.spec import load_spec, simple_argv

SPEC = """
session_name: agents.one
start_directory: ./proj
environment:
  MODE: test
shell_command_before:
  - export A=1
windows:
  - window_name: code
    layout: main-vertical
    panes:
      - shell_command: claude --model opus
      - focus: true
        start_directory: sub
        shell_command:
          - cd . && ls
      - null
  - window_name: logs
    focus: true
    window_index: 5
    start_directory: /tmp
    panes:
      - tail -f app.log
  - panes: [vim]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_spec_becomes_the_expected_session(tmp_path: Path) -> None:
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    session = load_spec(_write(tmp_path, SPEC))
    proj = str((tmp_path / "proj").resolve())
    assert session.name == "agents_one"
    assert session.environment == (("MODE", "test"),)
    code, unnamed, logs = session.windows  # tmux's order: the unnamed window takes index 1
    assert (code.name, code.layout, code.active) == ("code", "main-vertical", False)
    assert [p.cwd for p in code.panes] == [proj, proj + "/sub", proj]
    assert [p.active for p in code.panes] == [False, True, False]
    assert code.panes[0].shell_commands == ("export A=1", "claude --model opus")
    assert code.panes[0].command == ("claude", "--model", "opus")
    assert code.panes[1].command is None  # shell syntax: typed, never restarted by policy
    assert code.panes[2].command is None  # `export` is a builtin
    assert (logs.index, logs.active, logs.panes[0].cwd) == (5, True, "/tmp")
    assert logs.panes[0].command == ("tail", "-f", "app.log")
    assert unnamed.automatic_rename
    assert unnamed.index is None
    assert unnamed.panes[0].active


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("windows: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("session_name: ''\nwindows: [{}]\n", "key `session_name`"),
        ("session_name: s\nwindows: []\n", "key `windows`"),
        ("session_name: s\nwindows: [3]\n", r"key `windows\[0\]`"),
        ("session_name: s\nstart_directory: 3\nwindows: [{}]\n", "key `start_directory`"),
        ("session_name: s\nenvironment: [1]\nwindows: [{}]\n", "key `environment`"),
        ("session_name: s\nwindows: [{panes: 3}]\n", r"windows\[0\]\.panes"),
        ("session_name: s\nwindows: [{panes: [3]}]\n", r"windows\[0\]\.panes\[0\]"),
        ("session_name: s\nwindows: [{start_directory: 3}]\n", r"windows\[0\]\.start_directory"),
        (
            "session_name: s\nwindows: [{panes: [{start_directory: 3}]}]\n",
            r"windows\[0\]\.panes\[0\]\.start_directory",
        ),
        ("session_name: s\nwindows: [{window_index: x}]\n", r"windows\[0\]\.window_index"),
        ("session_name: s\nstart_directory: /no/such/dir\nwindows: [{}]\n", "`start_directory`"),
        (
            "session_name: s\nwindows: [{panes: [{start_directory: /no/such}]}]\n",
            r"windows\[0\]\.panes\[0\]\.start_directory.*not a directory",
        ),
    ],
)
def test_bad_specs_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ("claude --resume", ("claude", "--resume")),
        ("vim 'a file.txt'", ("vim", "a file.txt")),
        ("a | b", None),
        ("FOO=1 prog", None),
        ("cd /tmp", None),
        ("echo 'unclosed", None),
        ("   ", None),
    ],
)
def test_simple_argv(line: str, argv: tuple[str, ...] | None) -> None:
    assert simple_argv(line) == argv
