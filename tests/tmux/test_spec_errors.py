"""A bad spec file is a SpecError naming the file (and the key where known), never another error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.spec import MAX_SPEC_NODES, check_spec, load_spec

CASES = {
    "inf-index": (
        "session_name: s\nwindows: [{window_index: .inf, panes: [null]}]\n",
        "windows[0].window_index",
    ),
    "nan-index": ("session_name: s\nwindows: [{window_index: .nan}]\n", "window_index"),
    "huge-index": ("session_name: s\nwindows: [{window_index: 1e300}]\n", "window_index"),
    "negative-index": ("session_name: s\nwindows: [{window_index: -1}]\n", "window_index"),
    "dict-command": (
        "session_name: s\nwindows: [{panes: [{shell_command: {a: b}}]}]\n",
        "windows[0].panes[0].shell_command",
    ),
    "dict-before": (
        "session_name: s\nshell_command_before: {a: 1}\nwindows: [{panes: [null]}]\n",
        "shell_command_before",
    ),
    "deep": ("session_name: s\nwindows: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "alias-bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + "session_name: s\nwindows: [{panes: *h}]\n",
        str(MAX_SPEC_NODES),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_spec_is_a_spec_error_naming_file_and_key(tmp_path: Path, name: str) -> None:
    text, key = CASES[name]
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert str(spec) in str(caught.value)
    assert key in str(caught.value)


def test_non_utf8_spec(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(b"session_name: caf\xe9\nwindows: [{panes: [null]}]\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(spec)


def test_oversized_spec(tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text("session_name: s\nwindows: [{panes: [null]}]\n" + "#" * 2_000_000)
    with pytest.raises(SpecError, match="larger than"):
        load_spec(spec)


def test_a_good_spec_still_loads(tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text(
        "session_name: s\nwindows:\n  - window_index: 3\n    layout: tiled\n"
        "    panes: [{shell_command: [tail -f x]}, null]\n"
    )
    session, warnings = check_spec(spec)
    assert warnings == []
    assert session.windows[0].index == 3
    assert session.panes()[0].command == ("tail", "-f", "x")


# Values a YAML file can hold, as a hypothesis strategy.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
pane = (
    st.none()
    | st.text(max_size=10)
    | st.dictionaries(
        st.sampled_from(["shell_command", "start_directory", "focus", "other"]), values, max_size=3
    )
)
window = st.dictionaries(
    st.sampled_from(
        ["window_name", "window_index", "layout", "focus", "start_directory", "panes",
         "shell_command_before", "options"]
    ),
    values | st.lists(pane, max_size=3),
    max_size=5,
)  # fmt: skip
document = st.dictionaries(
    st.sampled_from(["session_name", "windows", "start_directory", "environment",
                     "shell_command_before", "before_script"]),
    values | st.lists(window, min_size=1, max_size=3),
    max_size=5,
) | values  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=document)
def test_fuzzed_specs_fail_only_as_spec_errors(
    tmp_path_factory: pytest.TempPathFactory, doc: object
) -> None:
    spec = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    spec.write_text(yaml.safe_dump(doc, allow_unicode=True))
    message = str(spec)
    try:
        check_spec(spec)
    except SpecError as exc:
        message = str(exc)
    assert str(spec) in message


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzzed_bytes_fail_only_as_spec_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    spec = tmp_path_factory.mktemp("bytes") / "spec.yaml"
    spec.write_bytes(data)
    message = str(spec)
    try:
        check_spec(spec)
    except SpecError as exc:
        message = str(exc)
    assert str(spec) in message
