"""Which sessions a configuration declares once its specs and [yesman] files are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from yesman_recovery.cli import main
from yesman_recovery.config import load_config
from yesman_recovery.config.declared import resolve
from yesman_recovery.errors import ConfigError

GOOD = "windows:\n  - window_name: w\n    panes: [null]\n"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "yr.toml"
    path.write_text(text)
    return path


def test_folder_sessions_and_an_entry_that_claims_one(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    (folder / "dev").mkdir(parents=True)
    (folder / "dev" / "web.yaml").write_text(GOOD)
    (folder / "named.yaml").write_text("session_name: api\n" + GOOD)
    (folder / "dup.yaml").write_text("session_name: api\n" + GOOD)
    config = _config(
        tmp_path,
        '[yesman]\nsessions_dir = "sessions"\n'
        '[[sessions]]\nname = "dev-web"\nrestart = "transient"\n',
    )
    resolution = resolve(load_config(config))
    sessions = {s.name: s for s in resolution.config.sessions}
    assert set(sessions) == {"dev-web", "api"}  # session_name wins over the file's name
    web = sessions["dev-web"]
    assert web.restart.value == "transient"  # the entry's settings, the folder's file
    assert web.spec == folder / "dev" / "web.yaml"
    assert web.loaded is not None
    assert [w.name for w in web.loaded.session.windows] == ["w"]
    assert len(resolution.problems) == 1
    assert (
        "named.yaml: declares session 'api', which is already declared"
        in (
            resolution.problems[0]  # files are read in name order: dup.yaml came first
        )
    )
    assert resolution.errors == list(resolution.problems)


def test_without_the_table_no_yesman_file_is_read(tmp_path: Path) -> None:
    resolution = resolve(load_config(_config(tmp_path, "")))
    assert resolution.config.sessions == ()
    assert resolution.config.resolved


def test_a_sessions_dir_written_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"yesman.sessions_dir = \"nope\": no such folder"):
        load_config(_config(tmp_path, '[yesman]\nsessions_dir = "nope"\n'))
    with pytest.raises(ConfigError, match=r"unknown key \(did you mean templates_dir\?\)"):
        load_config(_config(tmp_path, '[yesman]\ntemplate_dir = "x"\n'))


def test_config_check_reports_each_file_and_exits_2_on_any_error(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "good.yaml").write_text(GOOD)
    (folder / "bad.yaml").write_text("template_name: base\noverride: 3\n")
    config = _config(tmp_path, '[yesman]\nsessions_dir = "sessions"\n')
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert f"{folder / 'good.yaml'}: OK (session good)" in result.stdout
    assert f"{folder / 'bad.yaml'}: ERROR (session bad)" in result.stdout
    assert f"{folder / 'bad.yaml'}: key `override` must be a mapping" in result.stderr
    (folder / "bad.yaml").unlink()
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    assert "specs:      1 read" in result.stdout


def test_a_sessions_spec_may_name_a_yesman_file_with_its_templates_beside(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "sessions").mkdir()
    (tmp_path / "templates" / "web.yaml").write_text(
        'session_name: "{{ session_name }}"\nwindows:\n  - window_name: serve\n    panes: [null]\n'
    )
    spec = tmp_path / "sessions" / "site.yaml"
    spec.write_text(f"template_name: web\noverride:\n  start_directory: {tmp_path}\n")
    config = _config(tmp_path, '[[sessions]]\nname = "site"\nspec = "sessions/site.yaml"\n')
    resolution = resolve(load_config(config))
    (session,) = resolution.config.sessions
    assert session.spec_error is None
    assert session.loaded is not None
    assert session.loaded.files == (spec, tmp_path / "templates" / "web.yaml")
    assert [w.name for w in session.loaded.session.windows] == ["serve"]
    assert session.origin == str(spec)
