"""Never two panes on one conversation, whatever agents run where (a property), and "own"
only once a resumed conversation is seen again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yesman_recovery.actors.agent_resumes import FAILED, FRESH, OWN, ResumeWatch, plan_resumes
from yesman_recovery.agents.binding import Binding, Source
from yesman_recovery.agents.claude import project_dir
from yesman_recovery.agents.registry import AgentPane, bind_panes
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

IDS = [f"0b9d7a8e-1111-2222-3333-44445555666{i}" for i in range(4)]

# A pane: (kind, id index, whether its hook value is its own process's)
panes_strategy = st.lists(
    st.tuples(
        st.sampled_from(["claude-hook", "claude-typed", "opencode", "aider", "codex-resume"]),
        st.integers(0, len(IDS) - 1),
        st.booleans(),
    ),
    max_size=8,
)


def _pane(i: int, kind: str, which: int, own_hook: bool) -> AgentPane:
    pid = 1000 + i
    conv = IDS[which]
    if kind == "claude-hook":
        return AgentPane(f"%{i}", ("claude",), "/w", (pid,), conv,
                         frozenset({pid if own_hook else 1}))  # fmt: skip
    if kind == "claude-typed":
        return AgentPane(f"%{i}", ("claude", "--resume", conv), "/w", (pid,))
    if kind == "opencode":
        return AgentPane(f"%{i}", ("opencode", "-s", f"ses_{which}"), "/w", (pid,))
    if kind == "codex-resume":
        return AgentPane(f"%{i}", ("codex", "resume", conv), "/w", (pid,))
    return AgentPane(f"%{i}", ("aider", "--chat-history-file", "h.md"), "/w", (pid,))


@settings(max_examples=150, deadline=None)
@given(panes_strategy)
def test_no_two_panes_are_ever_bound_to_one_conversation(
    spec: list[tuple[str, int, bool]],
) -> None:
    panes = [_pane(i, *p) for i, p in enumerate(spec)]
    bound = bind_panes(panes)
    keys = [(b.agent, b.conversation) for b in bound.values()]
    assert len(keys) == len(set(keys))
    for pane in panes:  # a pane's own hook is its binding unless another pane holds that id
        if pane.hook_conversation and pane.pids[0] in pane.hook_pids and pane.pane_id in bound:
            assert bound[pane.pane_id].conversation == pane.hook_conversation


def _session(*agents: Binding | None) -> SessionSnapshot:
    panes = tuple(
        PaneSnapshot(i, cwd="/w", argv=("claude",), pane_id=f"%{i}", agent=a)
        for i, a in enumerate(agents)
    )
    return SessionSnapshot("s", (WindowSnapshot(0, "w", panes),))


def test_a_resume_is_own_only_when_seen_again_by_its_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = project_dir("/w")
    folder.mkdir(parents=True)
    for conv in IDS[:2]:
        (folder / f"{conv}.jsonl").write_text("{}\n")
    before = _session(
        Binding("claude", IDS[0], Source.HOOK),
        Binding("claude", IDS[1], Source.HOOK),
        Binding("claude", IDS[3], Source.HOOK),  # its transcript is gone
        None,
    )
    resumes = plan_resumes(before, ProgramPolicy())
    assert [r.conversation for r in resumes] == [IDS[0], IDS[1], None, None]
    watch = ResumeWatch(within=10)
    fresh = watch.started(resumes, now=0)
    assert [(v.outcome, v.resume.key) for v in fresh] == [(FRESH, (0, 2)), (FRESH, (0, 3))]
    assert "conversation gone" in fresh[0].detail
    assert "conversation unknown" in fresh[1].detail
    # on the command line only: not yet seen again by the hook
    typed = _session(Binding("claude", IDS[0], Source.COMMAND_LINE), None, None, None)
    assert watch.check(typed, now=1) == []
    hooked = _session(Binding("claude", IDS[0], Source.HOOK), None, None, None)
    [own] = watch.check(hooked, now=2)
    assert own.outcome == OWN
    [failed] = watch.check(hooked, now=11)
    assert failed.outcome == FAILED
    assert failed.resume.conversation == IDS[1]
    assert len(watch) == 0
    assert os.path.isdir(folder)


def test_a_resume_that_exits_at_once_fails_and_is_not_resumed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yesman_recovery.actors.agent_resumes import without_binding

    monkeypatch.setenv("HOME", str(tmp_path))
    project_dir("/w").mkdir(parents=True)
    (project_dir("/w") / f"{IDS[0]}.jsonl").write_text("{}\n")
    before = _session(Binding("claude", IDS[0], Source.HOOK))
    policy = ProgramPolicy()
    watch = ResumeWatch()
    assert watch.started(plan_resumes(before, policy), now=0) == []
    exited = SessionSnapshot("s", (WindowSnapshot(0, "w", (
        PaneSnapshot(0, cwd="/w", argv=("sh",), pane_id="%0", exit_status=1),)),))  # fmt: skip
    [failed] = watch.check(exited, now=1)
    assert failed.outcome == FAILED
    assert "exited before" in failed.detail
    again = plan_resumes(without_binding(before, failed.resume.key), policy)
    assert [(r.conversation, r.why.value) for r in again] == [(None, "conversation unknown")]
