"""``yesman-recovery config check`` in process (the subprocess case is in test_run_cmd.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from yesman_recovery.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "yesman-recovery.toml"


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YESMAN_RECOVERY_CONFIG", raising=False)


def check(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["config", "check", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_good_file_is_ok_with_a_summary() -> None:
    code, out, _ = check(str(EXAMPLE))
    assert code == 0
    assert out.startswith(f"{EXAMPLE}: OK")
    assert "one_for_one, at most 3 restarts in 5s" in out
    assert "http://127.0.0.1:9464/metrics" in out
    assert "2 declared (agent-1, agent-2)" in out


def test_the_summary_shows_the_tmux_server_and_what_is_adopted(tmp_path: Path) -> None:
    cases = {
        '[tmux]\nsocket_name = "agents"\nadopt = ["a-*", "b"]\n': ("-L agents", "adopt a-* b"),
        '[tmux]\nsocket_path = "/tmp/s"\nadopt = "none"\n[metrics]\nenabled = false\n': (
            "server /tmp/s",
            "no undeclared sessions",
        ),
    }
    for text, expected in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(text)
        code, out, _ = check(str(path))
        assert code == 0
        for part in expected:
            assert part in out
    assert "metrics:    disabled" in out


def test_without_path_the_config_option_or_environment_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    assert CliRunner().invoke(main, ["--config", str(path), "config", "check"]).exit_code == 0
    code, out, _ = check(env={"YESMAN_RECOVERY_CONFIG": str(path)})
    assert code == 0
    assert f"{path}: OK" in out


def test_without_any_file_it_says_what_to_give() -> None:
    code, _, err = check()
    assert code == 2
    assert "give PATH, --config FILE or YESMAN_RECOVERY_CONFIG" in err


def test_several_problems_are_listed_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[supervisor]\nmax_restarts = -1\nmax_seconds = "soon"\n')
    code, out, err = check(str(path))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "yesman-recovery: error: invalid configuration (2 problems):"
    assert lines[1].startswith(f"  {path}: supervisor.max_restarts = -1:")
    assert lines[2].startswith(f'  {path}: supervisor.max_seconds = "soon": expected a duration')


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = check(str(tmp_path / "nope.toml"))
    assert code == 2
    assert "cannot read the configuration file" in err


def test_check_loads_the_specs_and_reports_their_errors(tmp_path: Path) -> None:
    (tmp_path / "inf.yaml").write_text(
        "session_name: a\nwindows: [{window_index: .inf, panes: [null]}]\n"
    )
    (tmp_path / "latin1.yaml").write_bytes(b"session_name: caf\xe9\nwindows: [{panes: [null]}]\n")
    (tmp_path / "layout.yaml").write_text("session_name: c\nwindows: [{layout: Tiled}]\n")
    (tmp_path / "good.yaml").write_text("session_name: d\nwindows: [{layout: tiled}]\n")
    config = tmp_path / "c.toml"
    config.write_text(
        "".join(
            f'[[sessions]]\nname = "{name}"\nspec = "{spec}"\n'
            for name, spec in [
                ("a", "inf.yaml"),
                ("b", "latin1.yaml"),
                ("c", "layout.yaml"),
                ("d", "good.yaml"),
            ]
        )
    )
    code, out, err = check(str(config))
    assert code == 2
    assert "inf.yaml: ERROR (session a)" in out  # each spec read is listed, errors on stderr
    assert "layout.yaml: OK, 1 warning (session c)" in out
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == "yesman-recovery: error: invalid configuration (3 problems):"
    assert (
        f"{config}: sessions[0].spec: {tmp_path / 'inf.yaml'}: key `windows[0].window_index`" in err
    )
    assert f"sessions[1].spec: {tmp_path / 'latin1.yaml'}: not UTF-8" in err
    assert f"sessions[2].spec: {tmp_path / 'layout.yaml'}: key `windows[0].layout`" in err
    assert "good.yaml" not in err
