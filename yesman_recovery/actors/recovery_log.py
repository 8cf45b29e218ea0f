"""Recoveries in the audit trail: recorded when they begin, completed when they end, and closed
by the next daemon when a kill came in between.

A record written only after a restore was validated was lost whenever the daemon was killed
right after the restore (2 of 6 such kills under fault injection); the restarted daemon then saw
a healthy session and wrote nothing. Now :func:`begin` writes the record (outcome
``in_progress``) before anything is done, :func:`complete` gives it its outcome, and
:func:`close_interrupted`, run when a daemon starts, closes every record left open with what it
observes: outcome ``interrupted``, and whether the session is on the tmux server now.

None of these raise: an audit trail that cannot be written is logged, never a reason for a
recovery or a start to fail.
"""

from __future__ import annotations

import logging

from yesman_recovery.errors import RecoveryError, StoreError
from yesman_recovery.storage import Store
from yesman_recovery.tmux.client import (
    TmuxClient,
    format_of,
    parse_records,
    stored_session_name,
)

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


def begin(store: Store, session: str, kind: str, detail: str, action: str) -> str | None:
    """Record that the ``kind`` recovery of ``session`` starts; its id, None if not written."""
    try:
        return store.audit.begin("recovery", session, detail=f"{kind}: {detail}", action=action)
    except (StoreError, ValueError) as exc:
        logger.error("session %r: audit write failed: %s", session, exc)
        return None


def complete(
    store: Store,
    record: str | None,
    session: str,
    kind: str,
    *,
    detail: str,
    action: str,
    outcome: str,
    duration: float | None,
) -> None:
    """Give the record :func:`begin` returned its outcome (a new record if there was none)."""
    try:
        if record is not None:
            store.audit.complete(
                record, outcome=outcome, detail=f"{kind}: {detail}", action=action,
                duration=duration,
            )  # fmt: skip
            return
        store.audit.append(
            "recovery", session, detail=f"{kind}: {detail}", action=action, outcome=outcome,
            duration=duration,
        )  # fmt: skip
    except (StoreError, ValueError) as exc:
        logger.error("session %r: audit write failed: %s", session, exc)


def close_interrupted(store: Store, client: TmuxClient) -> int:
    """Close every record a killed daemon left open, saying what is on the server now.

    Run when the daemon starts, before it watches anything; the number of records closed.
    """
    try:
        events = store.audit.open_events()
    except StoreError as exc:
        logger.error("cannot read the open audit records: %s", exc)
        return 0
    if not events:
        return 0
    sessions, server = _observe(client)
    closed = 0
    for event in events:
        if sessions is None:
            seen = server
        elif event.subject in sessions or stored_session_name(event.subject) in sessions:
            seen = f"the session was on the tmux server ({server})"
        else:
            seen = f"the session was not on the tmux server ({server})"
        detail = f"{event.detail}; the daemon stopped before this {event.action or 'action'} ended"
        try:
            store.audit.complete(
                event.id, outcome=INTERRUPTED, detail=f"{detail}; at restart {seen}"
            )
        except (StoreError, ValueError) as exc:
            logger.error("cannot close audit record %s: %s", event.id, exc)
            continue
        logger.warning("audit record %s (%s of %r) closed as interrupted", event.id, event.action,
                       event.subject)  # fmt: skip
        closed += 1
    return closed


def _observe(client: TmuxClient) -> tuple[set[str] | None, str]:
    """The session names on the server and a description of it, or (None, why not)."""
    try:
        out = client.run("list-sessions", "-F", format_of("#{session_name}", "#{pid}"))
    except RecoveryError as exc:
        return None, f"no tmux server answered on {client.server_label} ({exc})"
    records = parse_records(out, 2)
    names = {fields[0] for fields in records}
    pid = records[0][1] if records else "?"
    return names, f"{client.server_label}, pid {pid}"
