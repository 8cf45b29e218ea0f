"""``NamedRetryPolicies``: the ``[retry.<name>]`` policies, as the retry settings of steps.

``Step(retry="api")`` names a policy; :meth:`Transactions.begin
<yesman_recovery.transactions.service.Transactions.begin>` looks the name up once, when the
transaction begins, and journals the settings it found with the step, so a restart retries the
step exactly as planned whatever the configuration says by then. The view reads the
:class:`~yesman_recovery.resilience.registry.Resilience` registry at each lookup: a reload of
``[retry.*]`` (which replaces the registry's policies) applies to transactions begun after it.
What of a policy a step uses: :meth:`RetrySettings.from_policy
<yesman_recovery.config.transactions.RetrySettings.from_policy>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from yesman_recovery.config.transactions import RetrySettings
from yesman_recovery.errors import UnknownNameError

if TYPE_CHECKING:
    from yesman_recovery.resilience.registry import Resilience


class NamedRetryPolicies(Mapping[str, RetrySettings]):
    """The named retry policies of ``resilience``, read live; safe from any thread."""

    def __init__(self, resilience: Resilience) -> None:
        self._resilience = resilience

    def __getitem__(self, name: str) -> RetrySettings:
        try:
            retry = self._resilience.policy(name)
        except UnknownNameError:
            raise KeyError(name) from None
        return RetrySettings.from_policy(retry.policy)

    def __iter__(self) -> Iterator[str]:
        return iter([retry.name for retry in self._resilience.policies()])

    def __len__(self) -> int:
        return len(self._resilience.policies())
