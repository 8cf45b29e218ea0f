"""The schema of ``[transactions]``: strict pydantic tables hooked into
:mod:`yesman_recovery.config.schema`, building :class:`TransactionsConfig`.

A module of its own so that the schema gains two lines, not a section.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, model_validator

from yesman_recovery.config import validators as v
from yesman_recovery.config.transactions import ON_RESTART, RetrySettings, TransactionsConfig


def _on_restart(value: object) -> str:
    if value in ON_RESTART:
        return str(value)
    raise ValueError(
        'must be "compensate" (undo the completed steps) or "resume" (run the remaining '
        "steps when the interrupted one is idempotent)"
    )


def _attempts(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError("must be an integer >= 1 (1 = no retry)")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class RetryTable(_Table):
    """``[transactions.compensation_retry]``."""

    attempts: Annotated[int, v.checked(_attempts)] = 5
    initial: Annotated[float, v.checked(v.nonneg_duration)] = 0.1
    max: Annotated[float, v.checked(v.nonneg_duration)] = 10.0
    multiplier: float = 2.0

    @model_validator(mode="after")
    def _check(self) -> RetryTable:
        RetrySettings(**self.given())  # max >= initial, multiplier >= 1
        return self


class TransactionsTable(_Table):
    """``[transactions]``."""

    keep_finished: Annotated[float, v.checked(v.nonneg_duration)] = 86400.0
    on_restart: Annotated[str, v.checked(_on_restart)] = "compensate"
    compact_interval: Annotated[float, v.checked(v.positive_duration)] = 3600.0
    compensation_retry: RetryTable | None = None

    def build(self) -> TransactionsConfig:
        given = self.given()
        if self.compensation_retry is not None:
            given["compensation_retry"] = RetrySettings(**self.compensation_retry.given())
        return TransactionsConfig(**given)


TABLES: dict[tuple[str, ...], type[BaseModel]] = {
    ("transactions",): TransactionsTable,
    ("transactions", "compensation_retry"): RetryTable,
}
