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
