"""Hypothesis strategies shared by the storage tests."""

from __future__ import annotations

from typing import Literal

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
# tmux session names: anything but NUL (tmux itself also refuses ':' and '.', the store does not)
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # unencodable as UTF-8, so never a name
scopes = st.text(
    st.characters(exclude_characters="\0", exclude_categories=SURROGATES), min_size=1, max_size=40
)
