"""``[transactions]``: defaults, the example file, and house-style errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.config import load_config, parse_config
from yesman_recovery.errors import ConfigError
from yesman_recovery.transactions import RetrySettings, TransactionsConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "yesman-recovery.toml"


def test_defaults_and_the_example_file_agree() -> None:
    assert parse_config({}).transactions == TransactionsConfig()
    assert load_config(EXAMPLE).transactions == TransactionsConfig()


def test_every_key_is_converted() -> None:
    config = parse_config(
        {
            "transactions": {
                "keep_finished": "2h",
                "on_restart": "resume",
                "compact_interval": 30,
                "compensation_retry": {"attempts": 2, "initial": "50ms", "max": "1s"},
            }
        }
    ).transactions
    assert config == TransactionsConfig(
        keep_finished=7200.0,
        on_restart="resume",
        compact_interval=30.0,
        compensation_retry=RetrySettings(attempts=2, initial=0.05, max=1.0),
    )


def test_bad_values_are_named_with_what_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "yr.toml"
    path.write_text(
        "[transactions]\non_restart = 'retry'\nkeep = '1d'\ncompact_interval = '0s'\n"
        "[transactions.compensation_retry]\nattempts = 0\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert f'{path}: transactions.on_restart = "retry": must be "compensate"' in lines[0]
    assert any(
        "transactions.keep: unknown key; allowed keys in [transactions]: compact_interval, "
        "compensation_retry, keep_finished, on_restart" in line
        for line in lines
    )
    assert any('transactions.compact_interval = "0s": must be > 0' in line for line in lines)
    assert any(
        "transactions.compensation_retry.attempts = 0: must be an integer >= 1" in line
        for line in lines
    )


def test_a_retry_whose_max_is_below_initial_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"compensation_retry.*`max` \(1.0\) must be at least"):
        parse_config({"transactions": {"compensation_retry": {"initial": "5s", "max": "1s"}}})


def test_retry_delays_grow_to_max() -> None:
    retry = RetrySettings(attempts=5, initial=0.1, max=0.5)
    assert [retry.delay(n) for n in range(5)] == [0.0, 0.1, 0.2, 0.4, 0.5]
    assert retry.delay(10_000) == 0.5
    with pytest.raises(ValueError, match="`attempts` must be an integer >= 1"):
        RetrySettings(attempts=0)


def test_retry_delays_reach_max_even_when_they_grow_slowly() -> None:
    retry = RetrySettings(attempts=200, initial=0.1, max=10.0, multiplier=1.05)
    assert retry.delay(99) == 10.0  # 0.1 * 1.05 ** 98 is past 10 s


def test_a_steep_multiplier_gives_max_not_an_overflow() -> None:
    retry = RetrySettings(attempts=100, initial=0.1, max=10.0, multiplier=1e10)
    assert retry.delay(80) == 10.0
