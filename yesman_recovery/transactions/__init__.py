"""Transactions: multi-step operations that finish or are undone, even after ``kill -9``.

::

    from yesman_recovery.transactions import ActionRegistry, Step, StepContext, Transactions

    actions = ActionRegistry()

    @actions.register("create_dir", compensate="remove_dir", idempotent=True)
    def create_dir(step: StepContext) -> str: ...

    with open_store(path) as store, Transactions(store, actions) as transactions:
        handle = transactions.begin("provision", [Step("create_dir", {"path": "/tmp/x"})])
        outcome = handle.result(timeout=30)        # or: outcome = await handle

See ``docs/transactions.md`` for the journal protocol, the guarantees and the figures.
"""

from __future__ import annotations

from yesman_recovery.config.transactions import RetrySettings, TransactionsConfig
from yesman_recovery.transactions.protocol import TxState
from yesman_recovery.transactions.records import TransactionInfo
from yesman_recovery.transactions.registry import Action, ActionRegistry, StepContext
from yesman_recovery.transactions.service import (
    Outcome,
    Step,
    TransactionHandle,
    Transactions,
)

__all__ = [
    "Action",
    "ActionRegistry",
    "Outcome",
    "RetrySettings",
    "Step",
    "StepContext",
    "TransactionHandle",
    "TransactionInfo",
    "Transactions",
    "TransactionsConfig",
    "TxState",
]
