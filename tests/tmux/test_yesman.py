"""yesman-claude's session files: resolution as ``yesman setup`` does it, folders, and errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.yesman import LoadedSpec, load_session_file
from yesman_recovery.tmux.yesman_folder import (
    MAX_DEPTH,
    MAX_FILES,
    find_session_files,
    projects_entries,
)

TEMPLATE = """\
session_name: "{{ session_name }}"
start_directory: "{{ start_directory }}"
before_script: echo setup
environment:
  FROM: template
windows:
  - window_name: "{{ session_name }}-main"
    panes: [echo one, echo two]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "sessions").mkdir()
    (tmp_path / "work").mkdir()
    base = TEMPLATE.replace('"{{ session_name }}-main"', "main")
    (tmp_path / "templates" / "base.yaml").write_text(base)
    return tmp_path


def _load(home: Path, text: str, name: str = "app") -> LoadedSpec:
    path = home / "sessions" / f"{name}.yaml"
    path.write_text(text)
    return load_session_file(path, name=name, templates=[home / "templates"])


def test_template_and_override_as_yesman_setup_resolves_them(home: Path) -> None:
    work = home / "work"
    path = home / "sessions" / "app.yaml"
    path.write_text(
        f"template_name: base\noverride:\n  start_directory: {work}\n"
        "  environment:\n    MODE: dev\n"
    )
    loaded = load_session_file(path, name="app", templates=[home / "templates"])
    assert loaded.session.name == "app"  # the file's name: the override gives none
    assert loaded.session.environment == (("MODE", "dev"),)  # replaced whole, not merged
    assert loaded.before_script == ("echo setup",)  # kept from the template
    assert loaded.start_directory == str(work)
    assert loaded.files == (path, home / "templates" / "base.yaml")
    assert {p.cwd for p in loaded.session.panes()} == {str(work)}
    renamed = path.read_text() + "  session_name: other\n"
    path.write_text(renamed)
    assert load_session_file(path, name="app", templates=[home / "templates"]).session.name == (
        "other"
    )


def test_a_placeholder_below_the_top_level_is_an_error_naming_its_key(home: Path) -> None:
    (home / "templates" / "deep.yaml").write_text(TEMPLATE)
    path = home / "sessions" / "app.yaml"
    path.write_text("template_name: deep\n")
    with pytest.raises(SpecError) as info:
        load_session_file(path, name="app", templates=[home / "templates"])
    message = str(info.value)
    assert f"{path}: key `windows[0].window_name` holds the placeholder" in message
    assert "{{ session_name }}" in message
    assert "only {{ session_name }} and {{ start_directory }}, at the top level" in message


def test_inline_file_with_yesman_panes(home: Path) -> None:
    loaded = _load(
        home,
        "windows:\n  - panes:\n    - command: npm run dev\n      name: web\n    - claude\n"
        "before_script: [echo a, echo b]\n",
    )
    session = loaded.session
    assert session.name == "app"  # no session_name: the file's name
    web, claude = session.windows[0].panes
    assert (web.title, web.shell_commands) == ("web", ("npm run dev",))
    assert web.command == ("npm", "run", "dev")  # a simple command: the policy may restart it
    assert claude.command == ("claude",)
    assert loaded.before_script == ("echo a", "echo b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("template_name: nosuch\n", "key `template_name` = 'nosuch': no such template"),
        ("template_name: ../etc\n", "key `template_name` must be the name of a template"),
        ("template_name: base\noverride: [a]\n", "key `override` must be a mapping"),
        ("windows: [\n", "line 2, column 1: not valid YAML"),
        ("", "the file is empty"),
        ("- a\n", "must be a mapping (a tmuxp session, or template_name + override)"),
        ("before_script: {a: 1}\nwindows: [{}]\n", "key `before_script` must be a shell script"),
        ("windows:\n  - panes:\n    - command: [ls]\n", "key `windows[0].panes[0].command` must"),
        ("session_name: '{{ name }}'\nwindows: [{}]\n", "key `session_name` holds the placeholder"),
    ],
)
def test_bad_files_name_the_file_and_key(home: Path, text: str, message: str) -> None:
    path = home / "sessions" / "app.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_session_file(path, name="app", templates=[home / "templates"])
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "unicode string" not in str(info.value)


def test_a_file_that_is_not_utf8(home: Path) -> None:
    path = home / "sessions" / "app.yaml"
    path.write_bytes("session_name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8 text"):
        load_session_file(path, name="app")


def test_the_folder_is_found_as_yesman_finds_it(tmp_path: Path) -> None:
    (tmp_path / "development" / ".git").mkdir(parents=True)
    for name in ("backend.yaml", "development/frontend.yaml", "development/api.yml",
                 "_template.yaml", "development/_draft.yaml", "notes.md", "both.yaml",
                 "both.yml", "development/.swap.yaml", "development/.git/x.yaml"):  # fmt: skip
        (tmp_path / name).write_text("windows: [{}]\n")
    found, problems = find_session_files(tmp_path)
    assert [f.name for f in found] == ["backend", "both", "development-api", "development-frontend"]
    assert next(f for f in found if f.name == "both").path.suffix == ".yaml"
    assert problems == []


def test_a_symlink_loop_is_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "s.yaml").write_text("windows: [{}]\n")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    found, problems = find_session_files(tmp_path)
    assert [f.name for f in found] == ["a-s"]
    assert problems == [f"{tmp_path / 'a' / 'loop'}: a symlink loop (a folder already searched); "
                        "not followed"]  # fmt: skip


def test_a_huge_folder_stops_and_says_so(tmp_path: Path) -> None:
    for i in range(MAX_FILES + 5):
        (tmp_path / f"s{i:05}.yaml").touch()
    found, problems = find_session_files(tmp_path)
    assert len(found) == MAX_FILES
    assert len(problems) == 1
    assert f"more than {MAX_FILES} session files" in problems[0]


def test_names_that_collide_and_a_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a-b.yaml").touch()
    (tmp_path / "a" / "b.yaml").touch()
    found, problems = find_session_files(tmp_path)
    assert [f.name for f in found] == ["a-b"]
    assert "declares session 'a-b'" in problems[0]
    assert find_session_files(tmp_path / "nope")[1][0].startswith(f"{tmp_path / 'nope'}: cannot")


def test_legacy_projects_yaml(tmp_path: Path) -> None:
    projects = tmp_path / "projects.yaml"
    projects.write_text("sessions:\n  web:\n    template_name: base\n  api: {windows: [{}]}\n")
    found, problems = projects_entries(projects)
    assert [(f.name, f.entry) for f in found] == [("web", "web"), ("api", "api")]
    assert found[0].origin == f"{projects} (sessions.web)"
    assert problems == []
    loaded = load_session_file(projects, name="api", entry="api")
    assert loaded.session.name == "api"
    with pytest.raises(SpecError, match="template_name"):
        load_session_file(projects, name="web", entry="web", templates=[tmp_path])
    projects.write_text("sessions: [a]\n")
    assert projects_entries(projects) == ([], [f"{projects}: key `sessions` must be a mapping "
                                               "of session names to sessions"])  # fmt: skip


def test_a_folder_too_deep_and_a_spec_that_became_a_folder(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(MAX_DEPTH + 2)])
    deep.mkdir(parents=True)
    (deep / "lost.yaml").write_text("windows: [{}]\n")
    (tmp_path / "top.yaml").write_text("windows: [{}]\n")
    found, problems = find_session_files(tmp_path)
    assert [f.name for f in found] == ["top"]
    assert len(problems) == 1
    assert f"more than {MAX_DEPTH} folders deep; not searched" in problems[0]
    spec = tmp_path / "now-a-folder.yaml"
    spec.mkdir()
    with pytest.raises(SpecError, match="cannot read the spec: Is a directory"):
        load_session_file(spec, name="x")
