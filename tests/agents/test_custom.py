"""``[agents.NAME]``: a CLI that is not built in, validated and resumed on its own conversation."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.agents.binding import Binding, Source
from yesman_recovery.config.build import program_policy
from yesman_recovery.config.schema import parse_config
from yesman_recovery.errors import ConfigError
from yesman_recovery.tmux.records import PaneSnapshot

TABLE = {
    "programs": ["crush"],
    "id_flags": ["--session", "-s"],
    "drop": ["--continue"],
    "resume": ["--session", "{id}"],
    "conversations": "{home}/.crush/{cwd_slug}/{id}.json",
}


def test_a_configured_agent_resumes_its_own_conversation_or_starts_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse_config({"agents": {"crush": TABLE}})
    policy = program_policy(config)
    folder = tmp_path / ".crush" / "-w"
    folder.mkdir(parents=True)
    (folder / "s1.json").write_text("{}")
    argv = ("crush", "--continue", "--yolo")
    bound = PaneSnapshot(0, cwd="/w", argv=argv, agent=Binding("crush", "s1", Source.COMMAND_LINE))
    assert policy.command_for(bound) == ["crush", "--yolo", "--session", "s1"]
    gone = PaneSnapshot(0, cwd="/w", argv=argv, agent=Binding("crush", "s2", Source.COMMAND_LINE))
    assert policy.command_for(gone) == ["crush", "--yolo"]
    agent = policy.agents.agent_for(["crush", "-s", "s9"])
    assert agent is not None
    assert agent.conversation_in(["crush", "-s", "s9"], "/w") == "s9"
    assert agent.conversation_in(["crush", "-s", "$(rm -rf ~)"], "/w") is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({**TABLE, "resume": ["--session", "{ids}"]}, "unknown placeholder {ids}"),
        ({**TABLE, "resume": ["--session"]}, "must hold {id}"),
        ({**TABLE, "conversations": "{home}/x/{sid}.json"}, "allowed: {home}, {cwd}"),
        ({k: v for k, v in TABLE.items() if k != "programs"}, "agents.crush.programs"),
        ({**TABLE, "resumes": ["{id}"]}, "did you mean resume"),
        ({**TABLE, "id_flags": ["session"]}, "must be an array of flags"),
    ],
)
def test_a_bad_agent_table_names_the_key_and_what_is_allowed(
    table: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"agents\.crush") as err:
        parse_config({"agents": {"crush": table}})
    assert message in str(err.value)


def test_a_built_in_agent_cannot_be_redefined() -> None:
    with pytest.raises(ConfigError, match="built-in agent"):
        parse_config({"agents": {"claude": TABLE}})
