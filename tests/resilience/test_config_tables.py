"""``[retry.<name>]`` and ``[breakers.<name>]``: typed policies, and bad values named in full."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from yesman_recovery.cli import main
from yesman_recovery.config import load_config
from yesman_recovery.errors import ConfigError
from yesman_recovery.resilience import BreakerPolicy, Jitter, RetryPolicy, SlidingWindow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "yesman-recovery.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [line.removeprefix(f"{path}: ") for line in str(caught.value).splitlines()]


def test_the_tables_become_policies_with_durations_in_seconds(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        [retry.model-api]
        attempts = 5
        deadline = "2m"
        attempt_timeout = "20s"
        initial_delay = "250ms"
        max_delay = "30s"
        jitter = "decorrelated"
        budget_tokens = false
        [retry.git]
        [breakers.model-api]
        consecutive_failures = false
        failure_rate = 50
        sliding_window = "time"
        window_size = 60
        slow_call_duration = "10s"
        open_duration = "1m"
        open_max_duration = "10m"
    """))  # fmt: skip
    assert config.retry["model-api"] == RetryPolicy(
        attempts=5, deadline=120.0, attempt_timeout=20.0, initial_delay=0.25, max_delay=30.0,
        jitter=Jitter.DECORRELATED, budget_tokens=None,
    )  # fmt: skip
    assert config.retry["git"] == RetryPolicy()
    assert config.breakers["model-api"] == BreakerPolicy(
        consecutive_failures=None, failure_rate=50.0, sliding_window=SlidingWindow.TIME,
        window_size=60, slow_call_duration=10.0, open_duration=60.0, open_max_duration=600.0,
    )  # fmt: skip


def test_the_example_tables_hold_the_defaults() -> None:
    config = load_config(EXAMPLE)
    assert config.retry["model-api"] == RetryPolicy()
    assert config.breakers["model-api"] == BreakerPolicy(open_max_duration=300.0)


def test_each_bad_value_names_the_key_the_value_and_what_is_allowed(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        [retry.model-api]
        initial_delay = "2s"
        max_delay = "1s"
        multiplier = -2
        jitter = "ful"
        [breakers.git]
        failure_rate = 0
        minimum_calls = 0
        [breakers.tmux]
        failure_rate = 100.5
    """)  # fmt: skip
    assert found == [
        'retry.model-api.max_delay = "1s": must be >= initial_delay (2s)',
        "retry.model-api.multiplier = -2: must be a number >= 1",
        'retry.model-api.jitter = "ful": must be one of "full", "equal", "decorrelated", "none"',
        "breakers.git.failure_rate = 0: must be a percentage in (0, 100], e.g. 50, or false for "
        "none",
        "breakers.git.minimum_calls = 0: must be an integer >= 1",
        "breakers.tmux.failure_rate = 100.5: must be a percentage in (0, 100], e.g. 50, or false "
        "for none",
    ]


def test_the_python_api_says_the_same_words(tmp_path: Path) -> None:
    [line] = problems(tmp_path, '[retry.x]\njitter = "ful"\n')
    words = line.split(": ", 1)[1]
    with pytest.raises(ValueError, match=re.escape(words)):
        RetryPolicy(jitter="ful")  # type: ignore[arg-type]


def test_an_unknown_key_lists_the_keys_of_its_table(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "[breakers.git]\nthreshold = 3\n")
    assert line.startswith("breakers.git.threshold: unknown key; allowed keys in [breakers.git]: ")
    assert "consecutive_failures, failure_rate, half_open_calls" in line


def test_a_breaker_that_can_never_trip_is_refused(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "[breakers.git]\nconsecutive_failures = false\n")
    assert "consecutive_failures and failure_rate are both false" in line


def test_config_check_exits_2_naming_a_typo_d_jitter(tmp_path: Path) -> None:
    path = write(tmp_path, '[retry.model-api]\njitter = "decorelated"\n')
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f'yesman-recovery: error: {path}: retry.model-api.jitter = "decorelated": must be one '
        'of "full", "equal", "decorrelated", "none"'
    )
    assert "Traceback" not in result.output


def test_config_check_names_the_policies_and_breakers(tmp_path: Path) -> None:
    path = write(tmp_path, "[retry.model-api]\n[retry.git]\n[breakers.model-api]\n")
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0
    assert "  retry:      git, model-api" in result.stdout.splitlines()
    assert "  breakers:   model-api" in result.stdout.splitlines()
