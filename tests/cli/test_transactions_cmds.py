"""``yesman-recovery transactions list/show/retry/abandon``, from the store and through a
running daemon (a RecoveryApp in this process, reached over its control socket)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.test_app import _config
from yesman_recovery.app import RecoveryApp
from yesman_recovery.cli import main
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import open_store
from yesman_recovery.transactions import (
    ActionRegistry,
    RetrySettings,
    Step,
    StepContext,
    Transactions,
    TransactionsConfig,
    TxState,
)

WAIT = 10.0
CONFIG = TransactionsConfig(compensation_retry=RetrySettings(attempts=1, initial=0.001, max=0.01))


class Remote:
    """Actions whose compensation fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = True
        self.undone: list[str] = []
        self.actions = ActionRegistry()

        @self.actions.register("create", compensate="delete")
        def create(step: StepContext) -> str:
            if step.args.get("fail"):
                raise RuntimeError("quota exceeded")
            return step.key

        @self.actions.register("delete")
        def delete(step: StepContext) -> None:
            if self.down:
                raise ConnectionError("remote side unreachable")
            self.undone.append(step.key)


def cli(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--state-dir", str(state_dir), *args], catch_exceptions=False)


def parked_and_committed(state_dir: Path, remote: Remote) -> tuple[str, str]:
    """Run two transactions in a service that then stops: one commits, one parks."""
    with (
        open_store(state_dir, metrics=RecoveryMetrics()) as store,
        Transactions(store, remote.actions, config=CONFIG, owner="cli-test") as service,
    ):
        ok = service.begin("good", [Step("create")]).result(WAIT)
        bad = service.begin("bad", [Step("create"), Step("create", {"fail": True})])
        assert bad.result(WAIT).state is TxState.PARKED
    return ok.transaction, bad.id


def test_list_and_show_read_the_journal(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ok, bad = parked_and_committed(state, Remote())
    listed = json.loads(cli(state, "transactions", "list", "--json").output)
    assert [(t["id"], t["state"]) for t in listed] == [(ok, "committed"), (bad, "parked")]
    parked = cli(state, "transactions", "list", "--state", "parked")
    assert parked.exit_code == 0
    assert bad in parked.output
    assert ok not in parked.output
    assert "compensation delete of step 0 failed 1 times" in parked.output
    shown = json.loads(cli(state, "transactions", "show", bad, "--json").output)
    kinds = [r["kind"] for r in shown["records"]]
    assert kinds == ["begin", "intent", "done", "intent", "failed", "aborted", "undo",
                     "undo_failed", "parked"]  # fmt: skip
    text = cli(state, "transactions", "show", bad)
    assert "state:    parked" in text.output
    assert "ConnectionError: remote side unreachable" in text.output
    missing = cli(state, "transactions", "show", "tx-nope")
    assert missing.exit_code == 1
    assert "no transaction 'tx-nope'" in missing.output


def test_a_missing_state_directory_is_named_and_not_created(tmp_path: Path) -> None:
    result = cli(tmp_path / "none", "transactions", "list")
    assert result.exit_code == 1
    assert f"the state directory {tmp_path / 'none'} does not exist" in result.output
    assert not (tmp_path / "none").exists()


def test_without_a_daemon_retry_reopens_in_the_store_and_the_owner_finishes_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    remote = Remote()
    _ok, bad = parked_and_committed(state, remote)
    result = cli(state, "transactions", "retry", bad)
    assert result.exit_code == 0, result.output
    assert "its owner finishes it when it next starts" in result.output
    remote.down = False
    with (
        open_store(state, metrics=RecoveryMetrics()) as store,
        Transactions(store, remote.actions, config=CONFIG, owner="cli-test") as service,
    ):
        _wait_for(service, bad, TxState.COMPENSATED)
    assert remote.undone == [f"{bad}:0"]
    again = cli(state, "transactions", "retry", bad)
    assert again.exit_code == 1
    assert "it is compensated, not parked" in again.output


def test_without_a_daemon_abandon_is_recorded_with_its_reason(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _ok, bad = parked_and_committed(state, Remote())
    assert cli(state, "transactions", "abandon", bad).exit_code == 2  # --reason is required
    result = cli(state, "transactions", "abandon", bad, "--reason", "deleted by hand")
    assert result.exit_code == 0
    shown = json.loads(cli(state, "transactions", "show", bad, "--json").output)
    assert shown["state"] == "abandoned"
    assert shown["reason"] == "deleted by hand"
    audit = json.loads(cli(state, "audit", "--kind", "transaction", "--json").output)
    assert audit[-1]["outcome"] == "abandoned"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[RecoveryApp, Remote]]:
    import dataclasses

    remote = Remote()
    config = dataclasses.replace(_config(tmp_path), transactions=CONFIG)
    app = RecoveryApp(config)
    for action in ("create", "delete"):
        app.actions.add(remote.actions.get(action))
    with app:
        yield app, remote


def test_through_the_daemon_retry_finishes_at_once_and_abandon_is_recorded(
    daemon: tuple[RecoveryApp, Remote],
) -> None:
    app, remote = daemon
    assert app.transactions is not None
    steps = [Step("create"), Step("create", {"fail": True})]
    first = app.transactions.begin("bad", steps)
    second = app.transactions.begin("worse", steps)
    assert first.result(WAIT).state is TxState.PARKED
    assert second.result(WAIT).state is TxState.PARKED
    remote.down = False
    result = cli(app.state_dir, "transactions", "retry", first.id)
    assert (result.exit_code, result.output.strip()) == (0, f"retrying {first.id}")
    _wait_for(app.transactions, first.id, TxState.COMPENSATED)
    assert remote.undone == [f"{first.id}:0"]
    abandoned = cli(app.state_dir, "transactions", "abandon", second.id, "--reason", "by hand")
    assert abandoned.exit_code == 0
    assert app.transactions.get(second.id).state is TxState.ABANDONED
    assert (
        app.metrics.registry.get_sample_value(
            "yesman_recovery_transactions_total", {"outcome": "abandoned"}
        )
        == 1
    )
    refused = cli(app.state_dir, "transactions", "retry", second.id)
    assert refused.exit_code == 1
    assert "it is abandoned, not parked" in refused.output


def _wait_for(service: Transactions, tx: str, state: TxState) -> Any:
    deadline = time.monotonic() + WAIT
    while (found := service.get(tx)).state is not state:
        assert time.monotonic() < deadline, found
        time.sleep(0.01)
    return found


def test_the_control_channel_lists_and_shows_and_refuses_with_a_message(
    daemon: tuple[RecoveryApp, Remote],
) -> None:
    from yesman_recovery.control import ControlError, call

    app, _remote = daemon
    assert app.transactions is not None
    handle = app.transactions.begin("bad", [Step("create"), Step("create", {"fail": True})])
    assert handle.result(WAIT).state is TxState.PARKED
    listed = call(app.state_dir, "transactions.list", {"state": "parked"})
    assert [t["id"] for t in listed] == [handle.id]
    shown = call(app.state_dir, "transactions.show", {"id": handle.id})
    assert shown["records"][-1]["kind"] == "parked"
    with pytest.raises(ControlError, match="unknown state 'lost'; use one of running, "):
        call(app.state_dir, "transactions.list", {"state": "lost"})
    with pytest.raises(ControlError, match="no transaction 'tx-0'"):
        call(app.state_dir, "transactions.show", {"id": "tx-0"})
    with pytest.raises(ControlError, match="`reason` must be a non-empty string"):
        call(app.state_dir, "transactions.abandon", {"id": handle.id})
