"""store.checkpoints on a real LMDB store: round trips, ids, listing, dedup, corruption."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yesman_recovery.errors import CorruptRecordError, RecordNotFoundError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, envelope, open_store
from yesman_recovery.supervisors.clock import ManualClock

from .conftest import flip_on_disk, sample_value, stored_checkpoint
from .strategies import json_values, scopes

STATE = {
    "session": "agent-1",
    "windows": [{"index": 0, "panes": [{"cwd": "/home/u", "argv": ["claude"]}]}],
}


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with open_store(
        tmp_path_factory.mktemp("shared") / "state", durability="fast", metrics=RecoveryMetrics()
    ) as opened:
        yield opened


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    scope=scopes,
    state=json_values,
    metadata=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
)
def test_any_json_state_round_trips_through_the_store(
    shared_store: Store, scope: str, state: Any, metadata: dict[str, Any]
) -> None:
    checkpoint = shared_store.checkpoints.create(scope, state, metadata)
    restored = shared_store.checkpoints.restore(checkpoint)
    assert envelope.dump_json(restored) == envelope.dump_json(state)
    got = shared_store.checkpoints.get(checkpoint)
    assert got.scope == scope
    assert shared_store.checkpoints.latest(scope) == got


def test_create_returns_an_id_that_restores_and_describes_the_checkpoint(
    store: Store, clock: ManualClock
) -> None:
    checkpoint = store.checkpoints.create("agent-1", STATE, {"reason": "tick"})
    got = store.checkpoints.get(checkpoint)
    assert store.checkpoints.restore(checkpoint) == STATE
    assert (got.id, got.scope, got.state, got.metadata) == (
        checkpoint,
        "agent-1",
        STATE,
        {"reason": "tick"},
    )
    assert got.time == pytest.approx(clock.time(), abs=1e-6)
    assert got.size > 0
    assert checkpoint.startswith("agent-1@")


def test_scopes_with_spaces_quotes_and_non_ascii_get_plain_ascii_ids(store: Store) -> None:
    scope = "my 'agent' «ü» \"two\""
    checkpoint = store.checkpoints.create(scope, {"a": 1})
    assert checkpoint.isascii()
    assert " " not in checkpoint
    assert "'" not in checkpoint
    assert store.checkpoints.get(checkpoint).scope == scope
    assert [c.id for c in store.checkpoints.list(scope)] == [checkpoint]


def test_an_unchanged_state_is_not_stored_again(
    store: Store, clock: ManualClock, metrics: RecoveryMetrics
) -> None:
    first = store.checkpoints.create("s", {"n": 1})
    clock.advance(1)
    assert store.checkpoints.create("s", {"n": 1}, {"other": "metadata"}) == first
    clock.advance(1)
    changed = store.checkpoints.create("s", {"n": True})  # 1 == True in Python, not in JSON
    assert changed != first
    clock.advance(1)
    again = store.checkpoints.create("s", {"n": 1})  # equal to an older one, not the newest
    assert len({first, changed, again}) == 3
    assert len(store.checkpoints.list("s")) == 3
    assert (
        sample_value(
            metrics,
            "yesman_recovery_checkpoints_total",
            {"op": "create", "outcome": "deduplicated"},
        )
        == 1
    )


def test_list_is_newest_first_per_scope_and_across_scopes(store: Store, clock: ManualClock) -> None:
    made = []
    for i in range(6):
        made.append(store.checkpoints.create(f"s{i % 2}", {"i": i}))
        clock.advance(1)
    assert [c.id for c in store.checkpoints.list("s0")] == made[4::-2]
    assert [c.id for c in store.checkpoints.list()] == made[::-1]
    assert [c.id for c in store.checkpoints.list(limit=2)] == made[:3:-1]
    assert [c.id for c in store.checkpoints.list("s1", limit=1)] == [made[5]]
    assert store.checkpoints.list("nobody") == []
    assert store.checkpoints.latest("nobody") is None
    assert store.checkpoints.latest("s0").state == {"i": 4}  # type: ignore[union-attr]


def test_a_scope_that_is_a_prefix_of_another_is_kept_apart(store: Store) -> None:
    store.checkpoints.create("a", {"v": "a"})
    store.checkpoints.create("ab", {"v": "ab"})
    store.checkpoints.create("a b", {"v": "a b"})
    assert store.checkpoints.latest("a").state == {"v": "a"}  # type: ignore[union-attr]
    assert len(store.checkpoints.list("a")) == 1


def test_newest_is_the_last_created_even_if_the_clock_steps_back(
    store: Store, clock: ManualClock
) -> None:
    store.checkpoints.create("s", {"n": 1})
    clock._wall_offset -= 3600  # the wall clock is set back an hour
    store.checkpoints.create("s", {"n": 2})
    assert store.checkpoints.latest("s").state == {"n": 2}  # type: ignore[union-attr]


def test_delete_and_missing_ids(store: Store) -> None:
    checkpoint = store.checkpoints.create("s", {"n": 1})
    assert store.checkpoints.delete(checkpoint) is True
    assert store.checkpoints.delete(checkpoint) is False
    with pytest.raises(RecordNotFoundError, match="no checkpoint s@"):
        store.checkpoints.restore(checkpoint)
    with pytest.raises(ValueError, match="not a checkpoint id"):
        store.checkpoints.get("garbage")


def test_sizes_per_scope(store: Store) -> None:
    store.checkpoints.create("a", {"x": "1" * 100})
    store.checkpoints.create("a", {"x": "2" * 100})
    store.checkpoints.create("b", {"x": 3})
    sizes = store.checkpoints.sizes()
    assert sizes["a"].count == 2
    assert sizes["b"].count == 1
    assert sizes["a"].bytes == sum(c.size for c in store.checkpoints.list("a"))


def test_a_non_json_state_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(ValueError, match=r"at \$\.panes\[0\]\.cwd: a pathlib"):
        store.checkpoints.create("s", {"panes": [{"cwd": Path("/")}]})
    with pytest.raises(ValueError, match="metadata is not JSON"):
        store.checkpoints.create("s", {}, {"when": object()})
    assert store.checkpoints.list() == []


@pytest.fixture
def damaged(
    store: Store, state_dir: Path, clock: ManualClock
) -> tuple[list[str], list[dict[str, str]]]:
    """Three checkpoints of scope 's'; the newest damaged on disk."""
    states = [{"n": str(i), "token": secrets.token_hex(16)} for i in range(3)]
    ids = []
    for state in states:
        ids.append(store.checkpoints.create("s", state))
        clock.advance(1)
    assert flip_on_disk(state_dir, stored_checkpoint(ids[2], states[2]), index=30) >= 1
    return ids, states


def test_a_damaged_record_is_named_and_never_returned(
    store: Store, damaged: tuple[list[str], list[Any]], metrics: RecoveryMetrics
) -> None:
    ids, _states = damaged
    with pytest.raises(CorruptRecordError, match=ids[2]):
        store.checkpoints.restore(ids[2])
    with pytest.raises(CorruptRecordError, match=ids[2]):
        store.checkpoints.latest("s")
    report = store.checkpoints.verify()
    assert report.checked == 3
    assert [cid for cid, _reason in report.corrupt] == [ids[2]]
    assert not report.ok
    assert (
        sample_value(metrics, "yesman_recovery_checkpoint_corruptions_total") == 1
    )  # counted once


def test_latest_good_walks_back_and_audits_the_corruption(
    store: Store, damaged: tuple[list[str], list[Any]], metrics: RecoveryMetrics
) -> None:
    ids, states = damaged
    good = store.checkpoints.latest_good("s")
    assert good is not None
    assert good.id == ids[1]
    assert good.state == states[1]
    events = store.audit.query(kind="corruption")
    assert [(e.subject, e.action, e.outcome) for e in events] == [
        (ids[2], "skipped", f"fell back to {ids[1]}")
    ]
    assert "checksum" in events[0].detail
    assert store.checkpoints.latest_good("s") == good  # asking again: same answer, no new event
    assert len(store.audit.query(kind="corruption")) == 1
    assert sample_value(metrics, "yesman_recovery_checkpoint_corruptions_total") == 1
    # the next checkpoint is written even if it equals the damaged one
    fresh = store.checkpoints.create("s", states[2])
    assert store.checkpoints.latest("s").id == fresh  # type: ignore[union-attr]


def test_latest_good_with_every_record_damaged_is_none(store: Store, state_dir: Path) -> None:
    checkpoint = store.checkpoints.create("only", {"x": 1})
    flip_on_disk(state_dir, stored_checkpoint(checkpoint, {"x": 1}), index=0, xor=0xFF)
    assert store.checkpoints.latest_good("only") is None
    assert store.audit.query(subject=checkpoint)[0].outcome == "no intact checkpoint"


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25, deadline=None
)
@given(data=st.data())
def test_a_flipped_byte_anywhere_in_a_stored_record_is_detected(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    state_dir = tmp_path_factory.mktemp("flip") / "state"
    with open_store(state_dir, durability="fast", metrics=RecoveryMetrics()) as store:
        good_state = {"good": secrets.token_hex(8)}
        bad_state = data.draw(json_values, label="state")
        bad_state = {"v": bad_state, "token": secrets.token_hex(8)}
        good = store.checkpoints.create("s", good_state)
        bad = store.checkpoints.create("s", bad_state)
        stored = stored_checkpoint(bad, bad_state)
        index = data.draw(st.integers(0, len(stored) - 1), label="index")
        xor = data.draw(st.integers(1, 255), label="xor")
        assert flip_on_disk(state_dir, stored, index, xor) >= 1
        with pytest.raises(CorruptRecordError, match=bad):
            store.checkpoints.get(bad)
        assert [cid for cid, _ in store.checkpoints.verify().corrupt] == [bad]
        assert store.checkpoints.latest_good("s").id == good  # type: ignore[union-attr]


def test_an_unchanged_state_is_recognised_after_reopening(state_dir: Path) -> None:
    with open_store(state_dir, durability="fast", metrics=RecoveryMetrics()) as store:
        first = store.checkpoints.create("s", STATE)
    with open_store(state_dir, durability="fast", metrics=RecoveryMetrics()) as store:
        assert store.checkpoints.create("s", STATE) == first
        assert len(store.checkpoints.list("s")) == 1
