"""Retention decisions (pure): keep_last, max_age and max_bytes_per_scope, newest always kept."""

from __future__ import annotations

import pytest

from yesman_recovery.storage.retention import RecordStat, RetentionPolicy, records_to_drop

NOW = 10_000.0


def records(*ages_and_sizes: tuple[float, int]) -> list[RecordStat]:
    """Newest first, as records_to_drop expects."""
    return [RecordStat(bytes([i]), NOW - age, size) for i, (age, size) in enumerate(ages_and_sizes)]


def kept(recs: list[RecordStat], policy: RetentionPolicy) -> list[int]:
    dropped = {r.key for r in records_to_drop(recs, policy, NOW)}
    return [r.key[0] for r in recs if r.key not in dropped]


def test_defaults_are_a_thousand_a_week_and_100_mib() -> None:
    policy = RetentionPolicy()
    assert (policy.keep_last, policy.max_age, policy.max_bytes_per_scope) == (
        1000,
        7 * 86400,
        100 * 1024**2,
    )


def test_keep_last() -> None:
    recs = records(*[(i, 10) for i in range(5)])
    assert kept(recs, RetentionPolicy(keep_last=2, max_age=None, max_bytes_per_scope=None)) == [
        0,
        1,
    ]


def test_max_age_drops_old_records_but_never_the_newest() -> None:
    recs = records((5000, 10), (6000, 10), (20, 10))  # newest first by position
    assert kept(recs, RetentionPolicy(keep_last=None, max_age=100, max_bytes_per_scope=None)) == [
        0,
        2,
    ]


def test_max_bytes_counts_from_the_newest() -> None:
    recs = records((1, 40), (2, 40), (3, 40), (4, 5))
    # 40 + 40 fit in 100; the third would make 120; the fourth would make 125 even alone after it
    assert kept(recs, RetentionPolicy(keep_last=None, max_age=None, max_bytes_per_scope=100)) == [
        0,
        1,
    ]


def test_a_newest_record_bigger_than_the_cap_is_still_kept() -> None:
    recs = records((1, 500), (2, 10))
    assert kept(recs, RetentionPolicy(keep_last=None, max_age=None, max_bytes_per_scope=100)) == [0]


def test_no_limits_keep_everything() -> None:
    recs = records(*[(i * 1e6, 10**9) for i in range(4)])
    assert kept(recs, RetentionPolicy(None, None, None)) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"keep_last": 0}, "keep_last"),
        ({"max_age": -1.0}, "max_age"),
        ({"max_bytes_per_scope": 0}, "max_bytes_per_scope"),
    ],
)
def test_invalid_limits_are_refused(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]
