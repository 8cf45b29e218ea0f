"""store.audit: append, query by time, kind and subject, export as JSON lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from yesman_recovery.storage import Store, envelope
from yesman_recovery.storage.keys import stamp_key
from yesman_recovery.supervisors.clock import ManualClock

from .conftest import flip_on_disk


@pytest.fixture
def events(store: Store, clock: ManualClock) -> list[str]:
    made = []
    for kind, subject in [
        ("recovery", "agent-1"),
        ("supervisor", "root"),
        ("recovery", "agent-2"),
        ("recovery", "agent-1"),
    ]:
        made.append(
            store.audit.append(
                kind,
                subject,
                detail=f"{kind} of {subject}",
                action="restore",
                outcome="ok",
                duration=0.25,
            )
        )
        clock.advance(10)
    return made


def test_query_is_newest_first_and_filters(
    store: Store, events: list[str], clock: ManualClock
) -> None:
    assert [e.id for e in store.audit.query()] == events[::-1]
    assert [e.id for e in store.audit.query(kind="recovery", subject="agent-1")] == [
        events[3],
        events[0],
    ]
    assert [e.id for e in store.audit.query(limit=2)] == [events[3], events[2]]
    start = clock.time() - 40  # the first event's time
    assert [e.id for e in store.audit.query(since=start + 10, until=start + 20)] == [
        events[2],
        events[1],
    ]
    assert store.audit.query(limit=0) == []
    first = store.audit.query(subject="root")[0]
    assert (first.kind, first.detail, first.action, first.outcome, first.duration) == (
        "supervisor",
        "supervisor of root",
        "restore",
        "ok",
        0.25,
    )
    assert first.time == pytest.approx(start + 10)


def test_events_of_the_same_instant_and_past_events_keep_their_order(store: Store) -> None:
    a = store.audit.append("k", "s", time=500.0)
    b = store.audit.append("k", "s", time=500.0)
    c = store.audit.append("k", "s", time=100.0)
    assert len({a, b, c}) == 3
    assert [e.id for e in store.audit.query()] == [b, a, c]


def test_export_jsonl_is_oldest_first(store: Store, events: list[str]) -> None:
    out = io.StringIO()
    assert store.audit.export_jsonl(out, kind="recovery") == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["id"] for line in lines] == [events[0], events[2], events[3]]
    assert set(lines[0]) == {
        "id",
        "time",
        "kind",
        "subject",
        "detail",
        "action",
        "outcome",
        "duration",
    }


def test_a_damaged_event_is_skipped_not_fatal(
    store: Store, state_dir: Path, events: list[str], clock: ManualClock
) -> None:
    victim = store.audit.query(subject="root")[0]
    key = stamp_key(int(victim.time * 1e9), 0)
    body = {
        "kind": "supervisor",
        "subject": "root",
        "detail": "supervisor of root",
        "action": "restore",
        "outcome": "ok",
        "duration": 0.25,
    }
    assert flip_on_disk(state_dir, envelope.seal(key, envelope.dump_json(body)), index=25) >= 1
    assert [e.id for e in store.audit.query()] == [events[3], events[2], events[0]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": ""}, "`kind`"),
        ({"subject": 3}, "`subject`"),
        ({"duration": "slow"}, "`duration`"),
        ({"time": -5.0}, "`time`"),
    ],
)
def test_bad_events_are_refused(store: Store, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"kind": "k", "subject": "s"} | kwargs
    with pytest.raises(ValueError, match=message):
        store.audit.append(args.pop("kind"), args.pop("subject"), **args)  # type: ignore[arg-type]
