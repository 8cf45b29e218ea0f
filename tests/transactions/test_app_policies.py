"""The daemon's ``[retry.<name>]`` policies are the retry policies that steps may name, and a
reload of ``[retry.*]`` applies to transactions begun after it (RecoveryApp from a TOML file)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.reload import reload_app
from yesman_recovery.transactions import Step, StepContext, TxState
from yesman_recovery.transactions import protocol as p

WAIT = 30.0


def write_config(path: Path, policies: str) -> None:
    path.write_text(
        "[metrics]\nenabled = false\n"
        f'[tmux]\nsocket_name = "yr-test-{secrets.token_hex(6)}"\nadopt = "none"\n'
        f'[storage]\npath = "{path.parent / "state"}"\n' + policies
    )


FLAKY = """
[retry.flaky-api]
attempts = 3
initial_delay = "10ms"
max_delay = "20ms"
multiplier = 1.5
jitter = "full"          # not used by steps: their delays are journaled decisions
deadline = "1m"          # not used by steps either
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "yesman-recovery.toml"
    write_config(path, FLAKY)
    return path


@pytest.fixture
def failures() -> dict[str, int]:
    """``left``: how many more calls of ``call_api`` fail."""
    return {"left": 0}


@pytest.fixture
def app(config_file: Path, failures: dict[str, int]) -> Iterator[RecoveryApp]:
    app = RecoveryApp(load_config(config_file))

    @app.actions.register("call_api", compensate="undo_call")
    def call_api(step: StepContext) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("the API is busy")
        return step.attempt

    @app.actions.register("undo_call", idempotent=True)
    def undo_call(step: StepContext) -> None:
        pass

    with app:
        yield app


def planned_retry(app: RecoveryApp, tx: str) -> dict[str, object]:
    assert app.transactions is not None
    begin = app.transactions.get(tx).records[0]
    assert begin.kind == p.BEGIN
    return dict(begin.data["steps"][0]["retry"])


def test_a_step_names_a_policy_of_the_configuration(
    app: RecoveryApp, failures: dict[str, int]
) -> None:
    transactions = app.transactions
    assert transactions is not None
    failures["left"] = 2
    handle = transactions.begin("call", [Step("call_api", retry="flaky-api")])
    outcome = handle.result(timeout=WAIT)
    assert outcome.state is TxState.COMMITTED
    assert outcome.results == (3,), "committed on its third attempt"
    assert planned_retry(app, handle.id) == {
        "attempts": 3, "initial": 0.01, "max": 0.02, "multiplier": 1.5,
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown retry policy 'flaky'; known: flaky-api"):
        transactions.begin("call", [Step("call_api", retry="flaky")])


def test_the_attempts_of_the_policy_bound_the_step(
    app: RecoveryApp, failures: dict[str, int]
) -> None:
    assert app.transactions is not None
    failures["left"] = 5
    handle = app.transactions.begin("call", [Step("call_api", retry="flaky-api")])
    outcome = handle.result(timeout=WAIT)
    assert outcome.state is TxState.COMPENSATED
    kinds = [r.kind for r in app.transactions.get(handle.id).records]
    assert kinds.count(p.INTENT) == 3


def test_a_reload_of_the_policies_applies_to_transactions_begun_after_it(
    app: RecoveryApp, config_file: Path
) -> None:
    transactions = app.transactions
    assert transactions is not None
    before = transactions.begin("call", [Step("call_api", retry="flaky-api")])
    before.result(timeout=WAIT)
    write_config(
        config_file,
        '[retry.flaky-api]\nattempts = 2\ninitial_delay = "5ms"\nmax_delay = "5ms"\n'
        "[retry.patient]\nattempts = 4\n",
    )
    answer = reload_app(app)
    assert answer["ok"], answer
    after = transactions.begin("call", [Step("call_api", retry="flaky-api")])
    assert after.result(timeout=WAIT).state is TxState.COMMITTED
    assert planned_retry(app, after.id) == {
        "attempts": 2, "initial": 0.005, "max": 0.005, "multiplier": 2.0,
    }  # fmt: skip
    # What a transaction planned stays as it was journaled.
    assert planned_retry(app, before.id)["attempts"] == 3
    patient = transactions.begin("call", [Step("call_api", retry="patient")])
    assert patient.result(timeout=WAIT).state is TxState.COMMITTED
    assert planned_retry(app, patient.id) == {
        "attempts": 4, "initial": 0.1, "max": 10.0, "multiplier": 2.0,
    }  # fmt: skip
