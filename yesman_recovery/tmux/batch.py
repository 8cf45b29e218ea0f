"""``ChainBatcher``: the restores of many sessions at once in as few tmux calls as fit.

After a crash of the server every session actor restores its own session at the same moment. As
one tmux process each, N restores are N clients queued at a server that serves one at a time;
with 50 sessions the last ones waited past the client timeout (2 s) and failed. Here the plans
asked for at once (:class:`~yesman_recovery.group_commit.GroupCommit`: the first caller
runs what is queued) go in chains of as many whole plans as fit in one tmux message
(:data:`~yesman_recovery.tmux.plan.MESSAGE_LIMIT`), each plan followed by a marker
(``display-message -p``) that tmux prints once that plan's commands all ran. tmux stops at the
first command that fails: the plans whose marker was printed are done, the next one failed with
tmux's error (its caller gets it), and the plans after it had not run and go into the next chain.
A plan too big for one message runs alone, split by :func:`~.plan.chunk_commands`.
"""

from __future__ import annotations

from collections.abc import Sequence

from yesman_recovery.errors import TmuxError, TmuxServerGone, TmuxTimeout
from yesman_recovery.group_commit import GroupCommit
from yesman_recovery.tmux.plan import MESSAGE_LIMIT, Command, chain_size, chunk_commands
from yesman_recovery.tmux.protocol import ChainRunner

__all__ = ["ChainBatcher"]

MARKER = "yr-plan-done "


class ChainBatcher:
    """Runs command lists (restore plans) from many threads, packed into few tmux calls."""

    def __init__(self, client: ChainRunner, limit: int = MESSAGE_LIMIT) -> None:
        self.client = client
        self.limit = limit
        self._group: GroupCommit[Sequence[Command], None] = GroupCommit(self._run)
        self.calls = 0  # tmux processes started for batches (tests, benchmarks)

    def run(self, commands: Sequence[Command]) -> None:
        """Run ``commands`` (in order, with whatever else is queued); raises its own error."""
        self._group.submit(commands)

    def _run(self, plans: Sequence[Sequence[Command]]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(plans)
        todo = list(range(len(plans)))
        while todo:
            chain: list[Command] = []
            members: list[int] = []
            size = 0
            for i in todo:
                marked = [*plans[i], ("display-message", "-p", f"{MARKER}{i}")]
                need = sum(chain_size(c) for c in marked)
                if members and size + need > self.limit:
                    break
                chain += marked
                members.append(i)
                size += need
            todo = todo[len(members) :]
            if size > self.limit:  # one plan too big for a message: alone, in pieces
                results[members[0]] = self._alone(plans[members[0]])
                continue
            try:
                self.calls += 1
                out = self.client.run_chain(chain)
            except (TmuxTimeout, TmuxServerGone) as exc:
                for i in members:  # unknown how far it got: the callers look again
                    results[i] = exc
                continue
            except TmuxError as exc:
                out = exc.output
                done = _done(out)
                failed = next((i for i in members if i not in done), None)
                if failed is None:  # every marker printed: a marker itself failed
                    continue
                results[failed] = exc
                todo = [i for i in members if i not in done and i != failed] + todo
                continue
            missing = [i for i in members if i not in _done(out)]
            for i in missing:  # cannot happen with a tmux that ran the chain
                results[i] = TmuxError(f"tmux ran the chain but printed no marker for plan {i}")
        return results

    def _alone(self, plan: Sequence[Command]) -> BaseException | None:
        try:
            for chunk in chunk_commands(plan, self.limit):
                self.calls += 1
                self.client.run_chain(chunk)
        except TmuxError as exc:
            return exc
        return None


def _done(output: str) -> set[int]:
    return {
        int(line[len(MARKER) :])
        for line in output.splitlines()
        if line.startswith(MARKER) and line[len(MARKER) :].isdigit()
    }
